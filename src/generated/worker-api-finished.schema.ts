/* Generated from schemas/worker-api-finished.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Answer of finish: whether the outcome was stored as finished or the job had been canceled meanwhile, and the next job when take_next found one.
 */
export interface JobFinished {
  stored: 'finished' | 'canceled';
  next: null | WorkerJob;
}
/**
 * A job handed to a remote worker: what its handler needs, the token that guards every report on it, and the heartbeat timeout to beat.
 */
export interface WorkerJob {
  href: string;
  kind: 'Job';
  id: string;
  type: string;
  args: unknown;
  token: string;
  channel: string;
  arch: string;
  compose_id: string | null;
  attempts: number;
  retries: number;
  heartbeat_timeout_seconds: number;
  checkpoint: unknown;
  dependencies: {
    id: string;
    type: string;
    state: 'waiting' | 'ready' | 'running' | 'success' | 'failure' | 'canceled';
    result: unknown;
    /**
     * Why a job failed (null when it did not).
     */
    error: {
      code: string;
      message: string;
      details?: {
        [k: string]: unknown;
      };
    } | null;
  }[];
}
