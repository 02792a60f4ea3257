export * from './s3.js';
export { readCredentialsFile, parseIni } from './credentials.js';
export type { S3FailureReason } from './errors.js';
