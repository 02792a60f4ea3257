import { KilnError, type KilnErrorOptions } from '../errors.js';

/** Why an S3 upload failed, for callers that branch on it (the message is for people). */
export type S3FailureReason =
  | 'no-such-bucket'
  | 'access-denied'
  | 'credentials'
  | 'acl-not-supported'
  | 'file'
  | 'transient'
  | 'other';

/** Any failure of the S3 target (code KILN_UPLOAD); `details` never carries credentials. */
export class S3UploadError extends KilnError {
  readonly reason: S3FailureReason;
  constructor(reason: S3FailureReason, message: string, options: KilnErrorOptions = {}) {
    super('KILN_UPLOAD', message, { ...options, details: { target: 's3', reason, ...options.details } });
    this.reason = reason;
  }
}
