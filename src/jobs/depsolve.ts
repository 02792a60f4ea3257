import { depsolve, type DepsolveResult } from '../depsolve/index.js';
import { resolveImageType, depsolveRequestsFor } from '../osbuild/index.js';
import type { DepsolveArgs } from '../compose/index.js';
import type { JobType } from './types.js';

export interface DepsolveJobResult {
  /** Per package set (e.g. build, os): the solver's result, transactions disjoint. */
  package_sets: Record<string, DepsolveResult>;
}

/** Resolves the image type's package sets against the request's repositories. */
export const depsolveJob: JobType = {
  defaultConcurrency: 2,
  create: (services) => async ({ job, signal, log }) => {
    const args = job.args as DepsolveArgs;
    const image = resolveImageType(args.distribution, args.arch, args.image_type);
    const requests = depsolveRequestsFor(image, args.repositories, args.customizations);
    const package_sets: Record<string, DepsolveResult> = {};
    for (const [name, request] of Object.entries(requests)) {
      const started = Date.now();
      package_sets[name] = await depsolve(request, {
        cacheDir: services.depsolveCacheDir,
        ...(services.config.depsolve.solver ? { solver: services.config.depsolve.solver.split(/\s+/) } : {}),
        timeoutMs: services.config.depsolve.timeout_seconds * 1000,
        signal,
        logger: log,
      });
      const count = package_sets[name].transactions.reduce((n, t) => n + t.packages.length, 0);
      log.info({ packageSet: name, packages: count, durationMs: Date.now() - started }, 'package set resolved');
    }
    return { package_sets } satisfies DepsolveJobResult;
  },
};
