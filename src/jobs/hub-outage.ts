import { isHubUnavailable, type KojiClient } from '../koji/index.js';
import type { Logger } from '../log.js';
import { sleep } from '../queue/sleep.js';
import type { JobServices } from './services.js';

const OUTAGE_FIRST_WAIT_MS = 5_000;
const OUTAGE_LONGEST_WAIT_MS = 300_000;

/**
 * Runs `work` again while the hub is unavailable, for up to `waitSeconds` (koji.outage_wait_seconds):
 * once images are built (uploads, import, refund) an outage must cost a delay, not the build.
 * `work` is safe to repeat. A cancel of the job ends the wait.
 */
export async function outlastingOutages<T>(waitSeconds: number, signal: AbortSignal, log: Logger, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (let wait = OUTAGE_FIRST_WAIT_MS; ; wait = Math.min(wait * 2, OUTAGE_LONGEST_WAIT_MS)) {
    try {
      return await work();
    } catch (err) {
      const left = deadline - Date.now();
      if (!isHubUnavailable(err) || signal.aborted || left <= 0) throw err;
      log.warn({ err, retryInSeconds: Math.round(Math.min(wait, left) / 1000) }, 'koji hub unavailable; waiting for it');
      await sleep(Math.min(wait, left), signal);
      if (signal.aborted) throw err;
    }
  }
}

/** `services.withKoji(server, work)`, outlasting outages for up to koji.outage_wait_seconds. */
export function withKojiOutlastingOutages<T>(services: JobServices, server: string, signal: AbortSignal, log: Logger, work: (client: KojiClient) => Promise<T>): Promise<T> {
  return outlastingOutages(services.config.koji.outage_wait_seconds, signal, log, () => services.withKoji(server, work));
}
