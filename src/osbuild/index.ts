export {
  imageTypesDir,
  loadImageTypeFamilies,
  kojiFilename,
  packageSetRequests,
  pipelineNames,
  resolveImageType,
  splitExtension,
  supportedImages,
  type DistroInfo,
  type PackageSetRequests,
  type PackageSetTransaction,
  type ResolvedImageType,
  type SupportedImage,
} from './image-types.js';
export {
  generateManifest,
  serializeManifest,
  type DepsolvedPackage,
  type DepsolvedPackageSets,
  type Manifest,
  type ManifestInput,
} from './manifest.js';
export { JsonSeqParser, MonitorState, type MonitorRecord, type ProgressEvent } from './monitor.js';
export { osbuildFailure, osbuildVersion, runOsbuild, type OsbuildRunResult, type OsbuildStageError, type RpmInfo, type RunOsbuildOptions } from './runner.js';
export { depsolveRequestsFor, packageSetsFromDepsolve, repoId, type ManifestPackages, type RepoInput } from './from-depsolve.js';
export { parseCacheSize, storeArgs, storeOptions, type StoreOptions } from './store.js';
