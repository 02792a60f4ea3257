import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidInputError, KilnError, toKilnError, type ErrorCode } from '../errors.js';
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
  KILN_DATABASE_UNAVAILABLE: { http: 503, fault: 1014 },
};

export function httpStatusOf(err: KilnError): number {
  return STATUS[err.code]?.http ?? 500;
}

export function faultCodeOf(err: KilnError): number {
  return STATUS[err.code]?.fault ?? 1000;
}

/** Normalises fastify's own errors (schema validation, body limits, bad JSON) into KilnErrors. */
export function fromFastifyError(err: FastifyError): KilnError {
  if (err instanceof KilnError) return err;
  if (err.validation && err.validation.length) {
    const first = err.validation[0] as Parameters<typeof errorField>[0];
    const where = err.validationContext && err.validationContext !== 'body' ? err.validationContext : '';
    return new InvalidInputError(errorField(first, where) || where || '(body)', describeSchemaError(first), { cause: err });
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KilnError('KILN_PAYLOAD_TOO_LARGE', 'request body is too large', { cause: err });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new InvalidInputError('content-type', 'unsupported media type', { cause: err });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidInputError('(body)', 'is empty', { cause: err });
  }
  if (err.statusCode === 400 || err instanceof SyntaxError) return new InvalidInputError('(body)', `is not valid JSON: ${err.message}`, { cause: err });
  if (err.statusCode === 404) return new KilnError('KILN_NOT_FOUND', err.message, { cause: err });
  // Postgres restarting or unreachable: 503, so clients (and load balancers) retry
  if (isConnectionError(err)) return new DatabaseUnavailableError('the database is unavailable; try again', err);
  return toKilnError(err);
}

/** The error body shape osbuild-composer's cloud API uses, which Koji plugins parse. */
export function errorBody(err: KilnError, request: FastifyRequest): Record<string, unknown> {
  const status = httpStatusOf(err);
  return {
    href: `/api/image-builder-composer/v2/errors/${err.code}`,
    id: err.code,
    kind: 'Error',
    code: err.code,
    reason: status >= 500 && err.code === 'KILN_INTERNAL' ? 'internal error' : err.message,
    operation_id: request.id,
    ...(err.details ? { details: err.details } : {}),
  };
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const err = fromFastifyError(error);
  const status = httpStatusOf(err);
  if (err.code === 'KILN_DATABASE_UNAVAILABLE') request.log.warn({ code: err.code, reason: err.message, err: error }, 'request refused: database unavailable');
  else if (status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: err.code, reason: err.message }, 'request refused');
  void reply.status(status).send(errorBody(err, request));
}
