import { KilnError } from '../errors.js';
import { BuildState, buildCGMetadata, cgImport, cgRefundBuild, getBuild, type CGImageBuildFacts, type RpmFacts } from '../koji/index.js';
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

/** What went wrong upstream, for the refund's reason. */
function failures(deps: DependencyResult[]): string {
  return deps
    .filter((d) => d.state !== 'success')
    .map((d) => `${d.type} ${d.state}${d.error ? `: ${d.error.message}` : ''}`)
    .join('; ');
}

/**
 * Ends the compose on the hub. All images built: CGImport of the uploaded files with the CG
 * metadata. Anything failed or canceled: the reservation is refunded as FAILED or CANCELED and
 * the job fails, so the compose shows why. koji-init failed: nothing was reserved, nothing to
 * refund. Safe to retry: a build an earlier attempt already imported or refunded is left as is.
 */
export const kojiFinalize: JobType = {
  defaultConcurrency: 4,
  create: (services) => async ({ job, log }) => {
    const args = job.args as KojiFinalizeArgs;
    // commits served to later images of the compose (src/ostree/serve.ts) are not needed any more
    await removeComposeRepos(services.config.state_dir, args.compose_id).catch((err: unknown) => log.warn({ err }, 'could not remove the compose\'s ostree repositories'));
    const [init, ...builds] = job.dependencies;
    if (init?.state !== 'success') {
      if (init?.error?.code === 'KILN_JOB_LOST') {
        // its last attempt died, maybe after the hub reserved the NVR: clear what it left
        const nvr = { name: args.name, version: args.version, release: args.release };
        await services.withKoji(args.server, (client) => cancelLostReservation(client, services.config.koji.content_generator, nvr, args.start_time, log));
      }
      throw new KilnError(
        init?.state === 'canceled' ? 'KILN_JOB_CANCELED' : 'KILN_JOB_DEPENDENCY_FAILED',
        `koji-init ${init?.state ?? 'missing'}: no build was reserved, so there is nothing to import or refund${init?.error ? ` (${init.error.message})` : ''}`,
      );
    }
    const reservation = init.result as KojiInitResult;
    const cg = services.config.koji.content_generator;
    return services.withKoji(args.server, async (client) => {
      const existing = await getBuild(client, reservation.build_id);
      const canceled = builds.some((b) => b.state === 'canceled');
      const failed = builds.some((b) => b.state !== 'success');

      if (failed) {
        const state = canceled ? 'CANCELED' : 'FAILED';
        if (existing?.state === BuildState.BUILDING) {
          await cgRefundBuild(client, cg, reservation.build_id, reservation.token, state);
          log.info({ kojiBuildId: reservation.build_id, state }, 'koji build refunded');
        } else {
          log.info({ kojiBuildId: reservation.build_id, state: existing?.state }, 'koji build already ended; nothing to refund');
        }
        throw new KilnError(canceled ? 'KILN_JOB_CANCELED' : 'KILN_JOB_DEPENDENCY_FAILED', `koji build ${reservation.build_id} ${state.toLowerCase()}: ${failures(builds)}`, {
          details: { build_id: reservation.build_id, state },
        });
      }

      if (existing?.state === BuildState.COMPLETE) {
        log.info({ kojiBuildId: reservation.build_id }, 'koji build was imported by an earlier attempt');
        return { build_id: reservation.build_id, state: 'COMPLETE' } satisfies KojiFinalizeResult;
      }
      const metadata = buildCGMetadata({
        name: args.name,
        version: args.version,
        release: args.release,
        buildId: reservation.build_id,
        taskId: args.task_id,
        startTime: args.start_time,
        endTime: Math.floor(Date.now() / 1000),
        contentGenerator: cg,
        images: builds.map((b) => imageFacts(b.result as OsbuildJobResult)),
      });
      try {
        await cgImport(client, metadata, args.directory, reservation.token);
      } catch (err) {
        await cgRefundBuild(client, cg, reservation.build_id, reservation.token, 'FAILED').catch((refundErr) =>
          log.error({ err: refundErr, kojiBuildId: reservation.build_id }, 'refund after a failed import failed too'),
        );
        throw err;
      }
      log.info({ kojiBuildId: reservation.build_id, images: builds.length }, 'koji build imported');
      return { build_id: reservation.build_id, state: 'COMPLETE' } satisfies KojiFinalizeResult;
    });
  },
};
