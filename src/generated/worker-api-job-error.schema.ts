/* Generated from schemas/worker-api-job-error.schema.json by `npm run gen:types`. Do not edit. */

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
