export { resolveOstreeRef, OstreeResolveError, type OstreeResolveFailure, type ResolveOptions } from './resolve.js';
export { builderSources, composeReposDir, removeComposeRepos, serveCommitTarball } from './serve.js';
