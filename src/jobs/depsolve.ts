import { depsolve, type DepsolveResult } from '../depsolve/index.js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { resolveBootc, resolveContainers, resolveFlatpaks, type BootcInfo, type ContainerSpec, type FlatpakSpec } from '../containers/index.js';
import { depsolveRequestsFor, ostreePlan, packageRequests, payloadRepositories, resolveImage, type ResolvedImage, type ResolvedOstreeCommits } from '../osbuild/index.js';
import { resolveOstreeRef } from '../ostree/index.js';
import type { DependencyResult } from '../queue/index.js';
import type { Logger } from '../log.js';
import type { OsbuildJobResult } from './osbuild.js';
import { buildInputOf, seedOf, type DepsolveArgs } from '../compose/index.js';
import { checkDefinitions } from './definitions.js';
import type { JobType } from './types.js';
import { KilnError } from '../errors.js';
import { diskFullError, freeBytes, isDiskFullError, mentionsDiskFull } from '../osbuild/disk.js';

const NEARLY_FULL = 1024 * 1024;

export interface DepsolveJobResult {
  /** Per package set (e.g. build, os): the solver's result, transactions disjoint. */
  package_sets: Record<string, DepsolveResult>;
  /** The blueprint's containers pinned to their digests, in blueprint order (absent when it has none). */
  containers?: ContainerSpec[];
  /** ostree types: the commit a disk deploys, the parent of a new commit, resolved to checksums. */
  ostree?: ResolvedOstreeCommits;
  /** A bootc image's containers pinned and read (bootc images only). */
  bootc?: BootcInfo;
  /** The installer's flatpaks (installer_config.flatpaks) pinned in their registry, in definition order. */
  flatpaks?: FlatpakSpec[];
}

/** Where bootable containers are copied while they are read: the state directory (they are big). */
async function bootcWorkDir(stateDir: string): Promise<string> {
  const dir = path.join(stateDir, 'tmp');
  await mkdir(dir, { recursive: true });
  return dir;
}

/** composer's container resolver gives each container a minute. */
const CONTAINER_TIMEOUT_MS = 60_000;

/**
 * A solver run that died of a full disk (its metadata cache lives under the state directory) →
 * KILN_DISK_FULL naming the cache directory; anything else as is.
 */
async function asDiskFull(err: unknown, cacheDir: string): Promise<unknown> {
  if (err instanceof KilnError && err.code === 'KILN_DISK_FULL') return err;
  const stderr = (err as KilnError)?.details?.stderr;
  const said = err instanceof Error ? err.message : String(err);
  const text = `${said}\n${typeof stderr === 'string' ? stderr : ''}`;
  let free: number | undefined;
  if (!isDiskFullError(err) && !mentionsDiskFull(text)) {
    // librepo says only "Curl error (23): Failed writing received data to disk": a full disk
    // when the cache's file system is (nearly) full, anything else otherwise
    if (!/Failed writing (received data|body)/i.test(text)) return err;
    free = await freeBytes(cacheDir);
    if (free === undefined || free >= NEARLY_FULL) return err;
  }
  const mapped = await diskFullError(err, { dir: cacheDir, what: 'depsolve failed', message: said, ...(free === undefined ? {} : { freeBytes: free }) });
  return new KilnError('KILN_DISK_FULL', mapped.message, { cause: err, details: { ...(err as KilnError)?.details, ...mapped.details } });
}

/**
 * The request's ostree ref (a disk's or an installer's payload, a commit's parent) resolved to a checksum in its
 * repository, or the commit another image of the compose built (the job waits for it).
 */
async function resolveOstree(image: ResolvedImage, args: DepsolveArgs, dependencies: DependencyResult[], opts: { signal: AbortSignal; timeoutMs: number; log: Logger }): Promise<ResolvedOstreeCommits | undefined> {
  const fromCompose = args.ostree_commit_from !== undefined;
  const plan = ostreePlan(image, args.ostree, 'ostree', fromCompose);
  if (!plan) return undefined;
  if (plan.parent) return { parent: await resolveOstreeRef(plan.parent, { ...opts, field: args.ostree?.parent ? 'ostree.parent' : 'ostree.ref' }) };
  if (plan.payload) return { payload: await resolveOstreeRef(plan.payload, { ...opts, field: args.ostree?.url ? 'ostree.url' : 'ostree.ref' }) };
  if (fromCompose) {
    const built = (dependencies[0]?.result as OsbuildJobResult | undefined)?.ostree_commit;
    if (dependencies[0]?.state !== 'success' || !built) {
      throw new KilnError('KILN_JOB_DEPENDENCY_FAILED', `the commit image type ${image.name} is made from (image ${args.ostree_commit_from} of the compose) was not built`, {});
    }
    return { payload: { ...built, ref: plan.ref } };
  }
  return undefined;
}

/** Resolves the image type's package sets against the request's repositories, and the blueprint's containers in their registries. */
export const depsolveJob: JobType = {
  defaultConcurrency: 2,
  create: (services) => async ({ job, signal, log }) => {
    const args = job.args as DepsolveArgs;
    checkDefinitions(args);
    const image = resolveImage(args.distribution, args.arch, args.image_type);
    const input = buildInputOf(args);
    const planned = packageRequests({
      image,
      ...input,
      seed: seedOf(args),
      ...(args.size !== undefined ? { size: args.size } : {}),
      ...(args.ostree ? { ostree: args.ostree } : {}),
      ...(args.ostree_commit_from !== undefined ? { ostreeFromCompose: true } : {}),
    });
    // the blueprint's install_from repositories serve its own packages, as composer's payload repositories
    const requests = depsolveRequestsFor(image, planned, [...args.repositories, ...payloadRepositories(input.blueprint?.customizations?.repositories)]);
    // first: a registry answers in seconds, a depsolve may take minutes
    const containers = await resolveContainers(input.blueprint?.containers, {
      arch: args.arch,
      signal,
      timeoutMs: Math.min(CONTAINER_TIMEOUT_MS, services.config.depsolve.timeout_seconds * 1000),
      log,
    });
    // an ostree installer's flatpaks: looked up in their registry's index, pinned like containers
    const flatpaks = image.kind === 'ostree_installer' && image.installerConfig.flatpaks?.length
      ? await resolveFlatpaks(image.installerConfig.flatpaks, {
          arch: args.arch,
          signal,
          timeoutMs: Math.min(CONTAINER_TIMEOUT_MS, services.config.depsolve.timeout_seconds * 1000),
          log,
          registries: services.config.depsolve.flatpak_registries ?? {},
        })
      : [];
    // a bootc image's distribution is its container: pinned and read before anything else
    const bootc = args.bootc
      ? await resolveBootc(args.bootc, 'bootc', {
          arch: args.arch,
          signal,
          timeoutMs: Math.min(CONTAINER_TIMEOUT_MS, services.config.depsolve.timeout_seconds * 1000),
          log,
          workDir: await bootcWorkDir(services.config.state_dir),
          // ISOs boot the container's kernel and read its iso.yaml, not its disk configuration
          iso: image.bootIso,
        })
      : undefined;
    const ostree = await resolveOstree(image, args, job.dependencies, {
      signal,
      timeoutMs: Math.min(CONTAINER_TIMEOUT_MS, services.config.depsolve.timeout_seconds * 1000),
      log,
    });
    const package_sets: Record<string, DepsolveResult> = {};
    for (const [name, request] of Object.entries(requests)) {
      const started = Date.now();
      try {
        package_sets[name] = await depsolve(request, {
          cacheDir: services.depsolveCacheDir,
          ...(services.config.depsolve.solver ? { solver: services.config.depsolve.solver.split(/\s+/) } : {}),
          timeoutMs: services.config.depsolve.timeout_seconds * 1000,
          signal,
          logger: log,
        });
      } catch (err) {
        throw await asDiskFull(err, services.depsolveCacheDir);
      }
      const count = package_sets[name].transactions.reduce((n, t) => n + t.packages.length, 0);
      log.info({ packageSet: name, packages: count, durationMs: Date.now() - started }, 'package set resolved');
    }
    return { package_sets, ...(containers.length ? { containers } : {}), ...(flatpaks.length ? { flatpaks } : {}), ...(ostree ? { ostree } : {}), ...(bootc ? { bootc } : {}) } satisfies DepsolveJobResult;
  },
};
