import { cgInitBuild } from '../koji/index.js';
import type { KojiInitArgs } from '../compose/index.js';
import type { JobType } from './types.js';

export interface KojiInitResult {
  build_id: number;
  token: string;
}

/**
 * CGInitBuild: reserves the compose's NVR. Safe to retry: the reservation is checkpointed the
 * moment the hub returns it, and a later attempt (after a lost worker) reuses it instead of
 * asking for a second one, which the hub would refuse as a duplicate NVR anyway.
 */
export const kojiInit: JobType = {
  defaultConcurrency: 4,
  create: (services) => async ({ job, log, checkpoint }) => {
    const args = job.args as KojiInitArgs;
    const saved = job.checkpoint as KojiInitResult | null;
    if (saved?.build_id && saved.token) {
      log.info({ kojiBuildId: saved.build_id }, 'reusing the reservation of an earlier attempt');
      return saved;
    }
    const reservation = await services.withKoji(args.server, (client) =>
      cgInitBuild(client, services.config.koji.content_generator, { name: args.name, version: args.version, release: args.release }),
    );
    const result: KojiInitResult = { build_id: reservation.build_id, token: reservation.token };
    await checkpoint(result);
    log.info({ kojiBuildId: result.build_id, nvr: `${args.name}-${args.version}-${args.release}` }, 'koji build reserved');
    return result;
  },
};
