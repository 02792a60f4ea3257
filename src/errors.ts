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
  | 'KILN_UNSUPPORTED_MEDIA_TYPE'
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
  | 'KILN_CONTAINER_RESOLVE'
  | 'KILN_OSTREE_RESOLVE'
  | 'KILN_BOOTC_INFO'
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

/**
 * What each code means, for people: served at {API_BASE}/errors/{code}, where every error
 * body's `href` points (the cloud API's error catalogue).
 */
export const ERROR_DESCRIPTIONS: Readonly<Record<ErrorCode, string>> = {
  KILN_INVALID_INPUT: 'The request is invalid; the reason names the offending field.',
  KILN_INVALID_CONFIG: "Kiln's configuration is invalid; the reason names the key.",
  KILN_NOT_FOUND: 'The compose, route or other resource asked for does not exist.',
  KILN_CONFLICT: 'The request conflicts with the current state of the resource.',
  KILN_UNAUTHORIZED: 'Authentication is required: a bearer token or an allowed client certificate.',
  KILN_FORBIDDEN: 'The caller is authenticated but not allowed to do this.',
  KILN_PAYLOAD_TOO_LARGE: 'The request body is larger than the server accepts.',
  KILN_UNSUPPORTED_MEDIA_TYPE: "Only 'application/json' request bodies are accepted.",
  KILN_DATABASE_TOO_NEW: 'The database was migrated by a newer Kiln than this one.',
  KILN_DATABASE_UNAVAILABLE: 'The database is unreachable; the request may be retried.',
  KILN_JOB_NOT_FOUND: 'The job does not exist.',
  KILN_JOB_STALE_TOKEN: "The job's token is no longer valid: the job was handed to another worker.",
  KILN_JOB_NOT_RUNNING: 'The job is not running.',
  KILN_JOB_CANCELED: 'The job was canceled.',
  KILN_JOB_INVALID_DEPENDENCY: "A job's dependency is invalid.",
  KILN_JOB_DEPENDENCY_FAILED: 'The job did not run because a job it depends on failed.',
  KILN_JOB_LOST: 'The worker running the job stopped sending heartbeats too often.',
  KILN_KOJI_FAULT: 'The Koji hub answered with a fault.',
  KILN_KOJI_TRANSPORT: 'The Koji hub could not be reached or did not answer.',
  KILN_KOJI_UPLOAD: 'An upload to the Koji hub failed.',
  KILN_KOJI_AUTH: 'Logging in to the Koji hub failed.',
  KILN_DEPSOLVE: "The image's packages could not be resolved against its repositories.",
  KILN_CONTAINER_RESOLVE: "A container of the blueprint, or a flatpak of the installer (installer_config.flatpaks), could not be resolved in its registry; the reason names the container or flatpak reference and says why.",
  KILN_OSTREE_RESOLVE: "The request's ostree ref (or parent) could not be resolved to a commit in its repository; the message names the field, the URL and why.",
  KILN_BOOTC_INFO: "A bootable container (bootc.ref) does not say what a disk image of it needs (os-release, its root file system); the reason names the file and says what to give.",
  KILN_UNSUPPORTED_IMAGE: 'The distribution, architecture or image type is not supported.',
  KILN_IMAGE_DEFINITION: 'An image definition (Kiln\'s or a drop-in in image_types.dropin_dir) is invalid, or differs between the hosts of one installation.',
  KILN_MANIFEST: 'The osbuild manifest could not be generated.',
  KILN_OSBUILD: 'osbuild failed to build the image.',
  KILN_OSBUILD_MISSING: 'The osbuild program is not installed or not executable.',
  KILN_OSBUILD_TIMEOUT: 'osbuild did not finish within its time limit.',
  KILN_OSBUILD_CANCELED: 'The osbuild run was canceled.',
  KILN_BUILDER: 'The remote builder failed or broke its protocol.',
  KILN_UPLOAD: 'An upload of the image (e.g. to S3) failed.',
  KILN_DISK_FULL: "Kiln's state directory ran out of space.",
  KILN_INTERNAL: 'An unexpected internal error; the server log has the details.',
};

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
