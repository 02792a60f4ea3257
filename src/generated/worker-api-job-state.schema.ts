/* Generated from schemas/worker-api-job-state.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Answer of heartbeat, progress and checkpoint: `canceled` tells the worker to stop the job.
 */
export interface JobStateAnswer {
  state: 'running' | 'canceled';
}
