/* Generated from schemas/worker-api-report.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of the heartbeat, progress, checkpoint and release requests on /api/kiln-worker/v1/workers/{id}/jobs/{job}/…: the job's token, and for progress and checkpoint the value to store.
 */
export interface JobReport {
  token: string;
  progress?: unknown;
  checkpoint?: unknown;
}
