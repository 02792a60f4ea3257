export { resolveOstreeRef, OstreeResolveError, type OstreeResolveFailure, type ResolveOptions } from './resolve.js';
export { builderSources, composeReposDir, removeComposeRepos, serveCommitTarball, sweepServedRepos } from './serve.js';
