/** Kiln's Koji client: sessions, XML-RPC calls, uploads, CG calls and CG metadata. */
export { KojiClient, isHubUnavailable, type KojiAuth, type KojiClientOptions, type KojiSession, type MultiCallResult, type RetryOptions } from './client.js';
export { uploadFile, DEFAULT_CHUNK_SIZE, type UploadOptions, type UploadResult } from './upload.js';
export {
  BuildState,
  cgImport,
  cancelBuild,
  cgInitBuild,
  cgRefundBuild,
  checkUpload,
  getBuild,
  getBuildTarget,
  getNextRelease,
  getTaskInfo,
  listArchives,
  tagBuild,
  type BuildStateName,
  type CGImportOptions,
  type KojiArchiveInfo,
  type KojiBuildInfo,
  type NVR,
  type Reservation,
} from './cg.js';
export { buildCGMetadata, validateCGMetadata, type CGComposeFacts, type CGFileFacts, type CGImageBuildFacts, type RpmFacts, type CgMetadata } from './metadata.js';
export * from './errors.js';
export { findArchiveType, type ArchiveType } from './archive-types.js';
export { kwargs } from './xmlrpc.js';
export { kerberosAuth, type KerberosAuthOptions } from './kerberos-auth.js';
export type { TlsOptions } from './transport.js';
