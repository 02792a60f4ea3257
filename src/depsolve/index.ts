/**
 * Depsolving: resolves package sets with a solver speaking the osbuild-depsolve-dnf JSON
 * protocol (osbuild's, or Kiln's own libexec/kiln-depsolve-dnf) into a DepsolveResult
 * (schemas/depsolve-result.schema.json), which the depsolve job stores and the manifest
 * generator reads.
 */
export { depsolve, cumulativePackages, defaultSolverCommand, KILN_SOLVER, OSBUILD_SOLVER, type DepsolveOptions } from './client.js';
export { DepsolveError, type ApiVersion } from './protocol.js';
export type {
  DepsolveRequest,
  DepsolveRepoConfig,
  DepsolveTransactionRequest,
} from '../generated/depsolve-request.schema.js';
export type {
  DepsolveResult,
  DepsolvedTransaction,
  DepsolvedPackage,
  DepsolvedRepo,
} from '../generated/depsolve-result.schema.js';
