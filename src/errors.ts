/**
 * Kiln's catalogue of coded errors. Every error Kiln raises on purpose is a KilnError with a
 * stable `code`; the API maps codes to HTTP statuses and XML-RPC faults in one place
 * (src/api/errors.ts). Modules add their own subclasses next to their code, but the codes are
 * listed here so the catalogue stays in one file.
 */
export type ErrorCode =
  | 'KILN_INVALID_INPUT'
  | 'KILN_INVALID_CONFIG'
  | 'KILN_NOT_FOUND'
  | 'KILN_CONFLICT'
  | 'KILN_UNAUTHORIZED'
  | 'KILN_FORBIDDEN'
  | 'KILN_PAYLOAD_TOO_LARGE'
  | 'KILN_DATABASE_TOO_NEW'
  | 'KILN_DATABASE_UNAVAILABLE'
  | 'KILN_JOB_NOT_FOUND'
  | 'KILN_JOB_STALE_TOKEN'
  | 'KILN_JOB_NOT_RUNNING'
  | 'KILN_JOB_CANCELED'
  | 'KILN_JOB_INVALID_DEPENDENCY'
  | 'KILN_JOB_DEPENDENCY_FAILED'
  | 'KILN_JOB_LOST'
  | 'KILN_KOJI_FAULT'
  | 'KILN_KOJI_TRANSPORT'
  | 'KILN_KOJI_UPLOAD'
  | 'KILN_KOJI_AUTH'
  | 'KILN_DEPSOLVE'
  | 'KILN_UNSUPPORTED_IMAGE'
  | 'KILN_IMAGE_DEFINITION'
  | 'KILN_MANIFEST'
  | 'KILN_OSBUILD'
  | 'KILN_OSBUILD_MISSING'
  | 'KILN_OSBUILD_TIMEOUT'
  | 'KILN_OSBUILD_CANCELED'
  | 'KILN_BUILDER'
  | 'KILN_UPLOAD'
  | 'KILN_DISK_FULL'
  | 'KILN_INTERNAL';

export interface KilnErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.details) this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Bad input from a caller; `field` names the offending field as a dotted path. */
export class InvalidInputError extends KilnError {
  readonly field: string;
  constructor(field: string, message: string, options: KilnErrorOptions = {}) {
    super('KILN_INVALID_INPUT', field ? `${field}: ${message}` : message, {
      ...options,
      details: { field, ...options.details },
    });
    this.field = field;
  }
}

export class InvalidConfigError extends KilnError {
  readonly key: string;
  constructor(key: string, message: string, options: KilnErrorOptions = {}) {
    super('KILN_INVALID_CONFIG', `config ${key}: ${message}`, { ...options, details: { key } });
    this.key = key;
  }
}

export class NotFoundError extends KilnError {
  constructor(what: string, id: string) {
    super('KILN_NOT_FOUND', `${what} ${id} not found`, { details: { what, id } });
  }
}

/** Turns anything thrown into a KilnError, keeping the original as `cause`. */
export function toKilnError(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new KilnError('KILN_INTERNAL', message, { cause: err });
}

/** A short, serialisable description of an error for job records and logs. */
export function describeError(err: unknown): { code: string; message: string; details?: Record<string, unknown> } {
  return toKilnError(err).toJSON();
}
