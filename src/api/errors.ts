import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_DESCRIPTIONS, InvalidInputError, KilnError, NotFoundError, toKilnError, type ErrorCode } from '../errors.js';
import type { Error as ApiError } from '../generated/api-error.schema.js';
import type { ErrorList } from '../generated/api-error-list.schema.js';
import { API_BASE } from '../compose/index.js';
import { errorField, describeSchemaError } from '../schemas.js';
import { DatabaseUnavailableError, isConnectionError } from '../db/index.js';

/**
 * The one place where error codes become HTTP statuses and XML-RPC fault codes. Fault codes
 * reuse Koji's numbering where one fits (1000 GenericError, 1002 AuthError, 1019
 * ParameterError, 1014 ServerOffline), so Koji-side Python maps them naturally.
 */
const STATUS: Partial<Record<ErrorCode, { http: number; fault: number }>> = {
  KILN_INVALID_INPUT: { http: 400, fault: 1019 },
  KILN_JOB_INVALID_DEPENDENCY: { http: 400, fault: 1019 },
  KILN_UNSUPPORTED_IMAGE: { http: 400, fault: 1019 },
  KILN_UNAUTHORIZED: { http: 401, fault: 1002 },
  KILN_FORBIDDEN: { http: 403, fault: 1004 },
  KILN_NOT_FOUND: { http: 404, fault: 1000 },
  KILN_JOB_NOT_FOUND: { http: 404, fault: 1000 },
  KILN_CONFLICT: { http: 409, fault: 1000 },
  KILN_JOB_STALE_TOKEN: { http: 409, fault: 1000 },
  KILN_JOB_NOT_RUNNING: { http: 409, fault: 1000 },
  KILN_JOB_CANCELED: { http: 409, fault: 1000 },
  KILN_PAYLOAD_TOO_LARGE: { http: 413, fault: 1019 },
  KILN_UNSUPPORTED_MEDIA_TYPE: { http: 415, fault: 1019 },
  KILN_DATABASE_UNAVAILABLE: { http: 503, fault: 1014 },
};

export function httpStatusOf(err: KilnError): number {
  return STATUS[err.code]?.http ?? 500;
}

export function faultCodeOf(err: KilnError): number {
  return STATUS[err.code]?.fault ?? 1000;
}

/** Normalises fastify's own errors (schema validation, body limits, bad JSON) into KilnErrors. */
export function fromFastifyError(err: FastifyError, request?: FastifyRequest): KilnError {
  if (err instanceof KilnError) return err;
  if (err.validation && err.validation.length) {
    const first = err.validation[0] as Parameters<typeof errorField>[0];
    const where = err.validationContext && err.validationContext !== 'body' ? err.validationContext : '';
    return new InvalidInputError(errorField(first, where) || where || '(body)', describeSchemaError(first), { cause: err });
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KilnError('KILN_PAYLOAD_TOO_LARGE', 'request body is too large', { cause: err });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = request?.headers['content-type'];
      return new KilnError('KILN_UNSUPPORTED_MEDIA_TYPE', `content-type: ${type ? JSON.stringify(type.slice(0, 100)) : 'none given'} is not supported; send application/json`, {
        cause: err,
        details: { field: 'content-type' },
      });
    }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidInputError('(body)', 'is empty', { cause: err });
  }
  if (err.statusCode === 400 || err instanceof SyntaxError) return new InvalidInputError('(body)', `is not valid JSON: ${err.message}`, { cause: err });
  if (err.statusCode === 404) return new KilnError('KILN_NOT_FOUND', err.message, { cause: err });
  // Postgres restarting or unreachable: 503, so clients (and load balancers) retry
  if (isConnectionError(err)) return new DatabaseUnavailableError('the database is unavailable; try again', err);
  return toKilnError(err);
}

/** Where the catalogue entry of an error code is served. */
export const ERRORS_PATH = `${API_BASE}/errors`;

/** The error body shape osbuild-composer's cloud API uses, which Koji plugins parse. */
export function errorBody(err: KilnError, request: FastifyRequest): ApiError {
  const status = httpStatusOf(err);
  return {
    href: `${ERRORS_PATH}/${err.code}`,
    id: err.code,
    kind: 'Error',
    code: err.code,
    reason: status >= 500 && err.code === 'KILN_INTERNAL' ? 'internal error' : err.message,
    operation_id: request.id,
    ...(err.details ? { details: err.details } : {}),
  };
}

/** Unknown routes answer the error body too (osbuild-composer: its "resource not found"). */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const err = new KilnError('KILN_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
  request.log.info({ code: err.code, reason: err.message }, 'request refused');
  void reply.status(404).send(errorBody(err, request));
}

const CODES = Object.keys(ERROR_DESCRIPTIONS).sort() as ErrorCode[];

/** A catalogue entry: the code's description as the reason, its HTTP status in details. */
function catalogueEntry(code: ErrorCode, request: FastifyRequest): ApiError {
  return {
    href: `${ERRORS_PATH}/${code}`,
    id: code,
    kind: 'Error',
    code,
    reason: ERROR_DESCRIPTIONS[code],
    operation_id: request.id,
    details: { http_status: STATUS[code]?.http ?? 500 },
  };
}

/** GET {API_BASE}/errors and /errors/{id}: the catalogue every error's `href` points into (public, as in osbuild-composer). */
export const errorCatalogueRoutes: FastifyPluginAsync = async (app) => {
  app.get(
    ERRORS_PATH,
    {
      schema: {
        description: 'Every error code, paged as the cloud API List (`page` from 0).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            page: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
            size: { type: 'integer', minimum: 1, maximum: 100, default: 100 },
          },
        },
        response: { 200: { $ref: 'api-error-list.schema#' } },
      },
    },
    async (request): Promise<ErrorList> => {
      const { page, size } = request.query as { page: number; size: number };
      const items = CODES.slice(page * size, (page + 1) * size).map((code) => catalogueEntry(code, request));
      return { href: ERRORS_PATH, kind: 'ErrorList', page, size: items.length, total: CODES.length, items };
    },
  );
  app.get(
    `${ERRORS_PATH}/:id`,
    {
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64, description: 'An error code, e.g. KILN_NOT_FOUND.' } } },
        response: { 200: { $ref: 'api-error.schema#' } },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      if (!Object.prototype.hasOwnProperty.call(ERROR_DESCRIPTIONS, id)) throw new NotFoundError('error code', id);
      return catalogueEntry(id as ErrorCode, request);
    },
  );
};

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const err = fromFastifyError(error, request);
  const status = httpStatusOf(err);
  if (err.code === 'KILN_DATABASE_UNAVAILABLE') request.log.warn({ code: err.code, reason: err.message, err: error }, 'request refused: database unavailable');
  else if (status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: err.code, reason: err.message }, 'request refused');
  void reply.status(status).send(errorBody(err, request));
}
