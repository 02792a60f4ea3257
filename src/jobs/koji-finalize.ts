import { KilnError } from '../errors.js';
import { BuildState, buildCGMetadata, cgImport, cgRefundBuild, getBuild, isHubUnavailable, type CGImageBuildFacts, type KojiClient, type RpmFacts } from '../koji/index.js';
import { withKojiOutlastingOutages } from './hub-outage.js';
import type { KojiFinalizeArgs } from '../compose/index.js';
import type { DependencyResult } from '../queue/index.js';
import type { RpmInfo } from '../osbuild/index.js';
import { cancelLostReservation, type KojiInitResult } from './koji-init.js';
import type { OsbuildJobResult } from './osbuild.js';
import type { JobType } from './types.js';
import { removeComposeRepos } from '../ostree/index.js';

export interface KojiFinalizeResult {
  build_id: number;
  state: 'COMPLETE' | 'FAILED' | 'CANCELED';
  /** images left out of the build: failable ones that failed (positions) */
  failed_images?: number[];
}

/** koji-finalize of a scratch build: nothing imported, the images are in the upload directory. */
export interface KojiFinalizeScratchResult {
  scratch: true;
  directory: string;
  failed_images?: number[];
}

function rpmFacts(rpms: RpmInfo[]): RpmFacts[] {
  return rpms
    .filter((r) => r.sigmd5)
    .map((r) => ({ name: r.name, version: r.version, release: r.release, epoch: r.epoch, arch: r.arch, sigmd5: r.sigmd5!, sigpgp: (r.sigpgp as string) ?? null, siggpg: (r.siggpg as string) ?? null }));
}

function imageFacts(result: OsbuildJobResult): CGImageBuildFacts {
  return {
    arch: result.arch,
    hostOs: result.host_os,
    osbuildVersion: result.osbuild_version,
    imageRpms: rpmFacts(result.rpms),
    buildrootRpms: rpmFacts(result.buildroot_rpms),
    image: result.image,
    manifest: result.manifest_file,
    log: result.log_file,
    ...(result.koji_relpath ? { relpath: result.koji_relpath } : {}),
    imageType: result.image_type,
    osbuildArtifact: { export_filename: result.export_filename, export_name: result.export_name },
    ...(result.uploads?.length ? { uploads: result.uploads.map(({ type, bucket, key, url }) => ({ type, bucket, key, url })) } : {}),
  };
}

/**
 * Whether the build goes ahead and with which images: a canceled image cancels it; a failed
 * image fails it unless it is failable (Koji's failable arches), and so does every image failing.
 */
function outcome(builds: DependencyResult[], failable: readonly number[]): { state: 'COMPLETE' | 'FAILED' | 'CANCELED'; imported: number[]; left: number[] } {
  const imported = builds.flatMap((b, i) => (b.state === 'success' ? [i] : []));
  const left = builds.flatMap((b, i) => (b.state === 'success' ? [] : [i]));
  if (builds.some((b) => b.state === 'canceled')) return { state: 'CANCELED', imported, left };
  if (left.some((i) => !failable.includes(i)) || imported.length === 0) return { state: 'FAILED', imported, left };
  return { state: 'COMPLETE', imported, left };
}

/** What went wrong upstream, for the refund's reason. */
function failures(deps: DependencyResult[]): string {
  return deps
    .filter((d) => d.state !== 'success')
    .map((d) => `${d.type} ${d.state}${d.error ? `: ${d.error.message}` : ''}`)
    .join('; ');
}

/**
 * Ends the compose on the hub. All images built (or the ones that failed were failable, and one
 * was built): CGImport of the built images' files with the CG metadata. Anything else failed or
 * canceled: the reservation is refunded as FAILED or CANCELED and the job fails, so the compose
 * shows why. koji-init failed: nothing was reserved, nothing to refund. A scratch build has no
 * reservation: its images stay in the upload directory for the Koji task to attach. Safe to
 * retry: a build an earlier attempt already imported or refunded is left as is.
 */
export const kojiFinalize: JobType = {
  defaultConcurrency: 4,
  create: (services) => async ({ job, log, signal }) => {
    const args = job.args as KojiFinalizeArgs;
    const withHub = <T>(work: (client: KojiClient) => Promise<T>) => withKojiOutlastingOutages(services, args.server, signal, log, work);
    // commits served to later images of the compose (src/ostree/serve.ts) are not needed any more
    await removeComposeRepos(services.config.state_dir, args.compose_id).catch((err: unknown) => log.warn({ err }, 'could not remove the compose\'s ostree repositories'));
    const [init, ...builds] = job.dependencies;
    if (init?.state !== 'success') {
      if (init?.error?.code === 'KILN_JOB_LOST' || init?.error?.details?.reservation_unknown === true) {
        // its last attempt died or lost the hub's reply, maybe after the hub reserved the NVR: clear what it left
        const nvr = { name: args.name, version: args.version, release: args.release };
        await withHub((client) => cancelLostReservation(client, services.config.koji.content_generator, nvr, args.start_time, log));
      }
      throw new KilnError(
        init?.state === 'canceled' ? 'KILN_JOB_CANCELED' : 'KILN_JOB_DEPENDENCY_FAILED',
        `koji-init ${init?.state ?? 'missing'}: no build was reserved, so there is nothing to import or refund${init?.error ? ` (${init.error.message})` : ''}`,
      );
    }
    const { state: verdict, imported, left } = outcome(builds, args.failable ?? []);
    const leftOut = left.length ? { failed_images: left } : {};
    if (verdict === 'COMPLETE' && left.length) log.warn({ failedImages: left, reason: failures(builds) }, 'failable images failed; the others go ahead');
    if (args.scratch) {
      if (verdict !== 'COMPLETE') {
        throw new KilnError(verdict === 'CANCELED' ? 'KILN_JOB_CANCELED' : 'KILN_JOB_DEPENDENCY_FAILED', `scratch build ${verdict.toLowerCase()}: ${failures(builds)}`);
      }
      log.info({ images: imported.length, directory: args.directory }, 'scratch build: the images stay in the upload directory for the task');
      return { scratch: true, directory: args.directory, ...leftOut } satisfies KojiFinalizeScratchResult;
    }
    const reservation = init.result as KojiInitResult;
    const cg = services.config.koji.content_generator;
    return withHub(async (client) => {
      const existing = await getBuild(client, reservation.build_id);

      if (verdict !== 'COMPLETE') {
        const state = verdict;
        if (existing?.state === BuildState.BUILDING) {
          await cgRefundBuild(client, cg, reservation.build_id, reservation.token, state);
          log.info({ kojiBuildId: reservation.build_id, state }, 'koji build refunded');
        } else {
          log.info({ kojiBuildId: reservation.build_id, state: existing?.state }, 'koji build already ended; nothing to refund');
        }
        throw new KilnError(state === 'CANCELED' ? 'KILN_JOB_CANCELED' : 'KILN_JOB_DEPENDENCY_FAILED', `koji build ${reservation.build_id} ${state.toLowerCase()}: ${failures(builds)}`, {
          details: { build_id: reservation.build_id, state },
        });
      }

      if (existing?.state === BuildState.COMPLETE) {
        log.info({ kojiBuildId: reservation.build_id }, 'koji build was imported by an earlier attempt');
        return { build_id: reservation.build_id, state: 'COMPLETE', ...leftOut } satisfies KojiFinalizeResult;
      }
      const metadata = buildCGMetadata({
        name: args.name,
        version: args.version,
        release: args.release,
        buildId: reservation.build_id,
        taskId: args.task_id,
        ...(args.owner ? { owner: args.owner } : {}),
        startTime: args.start_time,
        endTime: Math.floor(Date.now() / 1000),
        contentGenerator: cg,
        images: imported.map((i) => imageFacts(builds[i].result as OsbuildJobResult)),
      });
      try {
        await cgImport(client, metadata, args.directory, reservation.token);
      } catch (err) {
        // a hub that did not answer refused nothing: the import is tried again when it is back
        if (!isHubUnavailable(err)) {
          await cgRefundBuild(client, cg, reservation.build_id, reservation.token, 'FAILED').catch((refundErr) =>
            log.error({ err: refundErr, kojiBuildId: reservation.build_id }, 'refund after a failed import failed too'),
          );
        }
        throw err;
      }
      log.info({ kojiBuildId: reservation.build_id, images: imported.length }, 'koji build imported');
      return { build_id: reservation.build_id, state: 'COMPLETE', ...leftOut } satisfies KojiFinalizeResult;
    });
  },
};
