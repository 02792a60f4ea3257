export { resolveOstreeRef, OstreeResolveError, type OstreeResolveFailure, type ResolveOptions } from './resolve.js';
export { composeReposDir, removeComposeRepos, serveCommitTarball } from './serve.js';
