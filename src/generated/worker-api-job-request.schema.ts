/* Generated from schemas/worker-api-job-request.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of POST /api/kiln-worker/v1/workers/{id}/jobs (long-poll). Arches and channels come from the registration; types may narrow the registered ones.
 */
export interface JobRequest {
  /**
   * @minItems 1
   * @maxItems 32
   */
  types?: [string, ...string[]];
  /**
   * How long to wait for a job; the server caps it (max_wait_seconds) and answers 204 when none came.
   */
  wait_seconds?: number;
}
