export * from './definitions/index.js';
export { kojiFilename, splitExtension } from './filenames.js';
export {
  generateManifest,
  packageRequests,
  pipelineNames,
  serializeManifest,
  checkBuildOptions,
  type BuildOptions,
  type ImageBuildInput,
  type Manifest,
  type ManifestInput,
  type ManifestPipeline,
  type ManifestStage,
  type PackageRequests,
  type PackageTransaction,
  type ResolvedOstreeCommits,
} from './manifest.js';
export { commitsTree, deploysCommit, pullsCommit } from './kinds/index.js';
export { ostreePlan, usesOstree, type OstreeOptions, type OstreePlan, type OstreeSource } from './ostree.js';
export type { OstreeCommit } from './stages/ostree.js';
export type { ManifestPackage, PipelinePackages } from './stages/rpm.js';
export { checkBlueprintFor, unsupportedPaths } from './customizations.js';
export { payloadRepositories } from './stages/repos.js';
export { randomSeed } from './partitions/uuids.js';
export { contentPipeline, isBootcKind } from './kinds/index.js';
export { JsonSeqParser, MonitorState, type MonitorRecord, type ProgressEvent } from './monitor.js';
export { osbuildFailure, osbuildVersion, runOsbuild, type OsbuildRunResult, type OsbuildStageError, type RpmInfo, type RunOsbuildOptions } from './runner.js';
export { checkRepoInput, depsolveRequestsFor, modulesFromDepsolve, packagesFromDepsolve, repoId, type RepoInput } from './from-depsolve.js';
export { parseCacheSize, storeArgs, storeOptions, type StoreOptions } from './store.js';
