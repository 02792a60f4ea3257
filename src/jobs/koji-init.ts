import { InvalidInputError, KilnError } from '../errors.js';
import { BuildState, cancelBuild, cgInitBuild, getBuild, getTaskInfo, KojiFault, KojiRetryError, type KojiClient, type NVR, type Reservation } from '../koji/index.js';
import { withKojiOutlastingOutages } from './hub-outage.js';
import type { Logger } from '../log.js';
import type { KojiInitArgs } from '../compose/index.js';
import type { JobType } from './types.js';

export interface KojiInitResult {
  build_id: number;
  token: string;
}

/** koji-init of a scratch build: the task was checked, nothing was reserved. */
export interface KojiInitScratchResult {
  scratch: true;
}

/** What koji-init saves before it asks for a reservation: a later attempt then knows one may exist. */
interface ReservingCheckpoint {
  reserving: true;
  /** Kiln's clock, seconds since the epoch */
  since: number;
}

/** A reservation made more than this before our first CGInitBuild was not made by it (hub and host clocks may differ). */
const CLOCK_SKEW_SECONDS = 300;

/**
 * Cancels the BUILDING build of `nvr` when it is a reservation an earlier call of this job made
 * and lost the token of: reserved by our content generator, owned by our user (the hub checks
 * that), made after the job first asked. Returns whether it cleared one.
 */
export async function cancelLostReservation(client: KojiClient, cg: string, nvr: NVR, since: number, log: Logger): Promise<boolean> {
  const build = await getBuild(client, nvr);
  if (!build || build.state !== BuildState.BUILDING || build.cg_name !== cg) return false;
  if (typeof build.creation_ts === 'number' && build.creation_ts < since - CLOCK_SKEW_SECONDS) return false;
  const canceled = await cancelBuild(client, build.id);
  log.warn({ kojiBuildId: build.id, canceled }, 'canceled a reservation whose token an earlier attempt lost');
  return canceled;
}

/** Reservations a single attempt makes and cancels again when each reply is lost. */
const RESERVE_ROUNDS = 4;

/**
 * A failed reservation: a refusal the hub answered (a fault other than RetryError) reserved
 * nothing. Anything else (a lost reply, a hub that stopped answering) may have left a BUILDING
 * build whose token nobody has; the error says so, and koji-finalize cancels it.
 */
function reservationUnknown(err: unknown): unknown {
  if (err instanceof KojiFault && !(err instanceof KojiRetryError)) return err;
  if (!(err instanceof KilnError)) return err;
  return new KilnError(err.code, `${err.message} (the hub may hold a reservation nobody has the token of; koji-finalize cancels it)`, {
    cause: err,
    details: { ...err.details, reservation_unknown: true },
  });
}

/**
 * The compose's Koji task must exist on the hub: CGImport stores the task id with the build and
 * the hub refuses one it does not have, which would otherwise show only after the whole build.
 */
async function checkTask(client: KojiClient, server: string, taskId: number, log: Logger): Promise<void> {
  const task = await getTaskInfo(client, taskId);
  if (!task) throw new InvalidInputError('koji.task_id', `task ${taskId} does not exist on the Koji hub ${server}; nothing was reserved or built`);
  log.info({ kojiTaskId: taskId, method: task.method, state: task.state }, 'koji task found');
}

/**
 * CGInitBuild: reserves the compose's NVR, once the compose's task (if any) is known to the hub. Safe to retry: the reservation is checkpointed the
 * moment the hub returns it, and a later attempt reuses it. Before asking, the job checkpoints
 * that it is about to: if the token is then lost (the worker died before saving it, or the hub
 * committed the call and the reply was lost), the build is BUILDING under our content generator
 * with a token nobody has. The next try cancels that build (the owner may, as in Koji's
 * cancelBuild) and reserves the NVR again, which recycles the same build id.
 */
export const kojiInit: JobType = {
  defaultConcurrency: 4,
  create: (services) => async ({ job, log, checkpoint, signal }) => {
    const args = job.args as KojiInitArgs;
    if (args.scratch) {
      if (args.task_id) await withKojiOutlastingOutages(services, args.server, signal, log, (client) => checkTask(client, args.server, args.task_id!, log));
      log.info({ nvr: `${args.name}-${args.version}-${args.release}` }, 'scratch build: nothing to reserve');
      return { scratch: true } satisfies KojiInitScratchResult;
    }
    const saved = job.checkpoint as (KojiInitResult & Partial<ReservingCheckpoint>) | null;
    if (saved?.build_id && saved.token) {
      log.info({ kojiBuildId: saved.build_id }, 'reusing the reservation of an earlier attempt');
      return { build_id: saved.build_id, token: saved.token } satisfies KojiInitResult;
    }
    const cg = services.config.koji.content_generator;
    const nvr = { name: args.name, version: args.version, release: args.release };
    const earlier = saved?.reserving === true ? saved.since : null;
    const since = earlier ?? Math.floor(Date.now() / 1000);
    // true once a CGInitBuild of this job may have reached the hub (an earlier attempt's, or an
    // earlier try of this one cut off by an outage)
    let asked = earlier !== null;
    const reserve = async (client: KojiClient): Promise<Reservation> => {
      if (!asked) {
        if (args.task_id) await checkTask(client, args.server, args.task_id, log);
        await checkpoint({ reserving: true, since } satisfies ReservingCheckpoint);
      }
      const mayHold = asked;
      asked = true;
      for (let round = 1; ; round++) {
        try {
          return await cgInitBuild(client, cg, nvr);
        } catch (err) {
          const replyLost = err instanceof KojiRetryError;
          const taken = err instanceof KojiFault && /Build already exists|already reserved/.test(err.faultString);
          if (!(replyLost || (taken && mayHold))) throw err;
          if (round >= RESERVE_ROUNDS || !(await cancelLostReservation(client, cg, nvr, since, log))) throw err;
        }
      }
    };
    const reservation = await withKojiOutlastingOutages(services, args.server, signal, log, reserve).catch((err: unknown) => {
      throw asked ? reservationUnknown(err) : err;
    });
    const result: KojiInitResult = { build_id: reservation.build_id, token: reservation.token };
    await checkpoint(result);
    log.info({ kojiBuildId: result.build_id, nvr: `${args.name}-${args.version}-${args.release}` }, 'koji build reserved');
    return result;
  },
};
