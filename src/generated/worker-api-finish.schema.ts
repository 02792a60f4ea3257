/* Generated from schemas/worker-api-finish.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Why a job failed (null when it did not).
 */
export type WorkerJobError = {
  code: string;
  message: string;
  details?: {
    [k: string]: unknown;
  };
} | null;

/**
 * Body of POST …/jobs/{job}/finish: the outcome, and optionally a job type to take the next job of in the same exchange.
 */
export interface JobFinish {
  token: string;
  state: 'success' | 'failure';
  result?: unknown;
  error?: WorkerJobError;
  take_next?: string;
}
