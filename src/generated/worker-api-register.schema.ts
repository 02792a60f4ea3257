/* Generated from schemas/worker-api-register.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of POST /api/kiln-worker/v1/workers: what a remote worker may take.
 */
export interface WorkerRegistration {
  /**
   * Shown in job records (kiln_jobs.worker) and on the status page.
   */
  name: string;
  /**
   * @minItems 1
   * @maxItems 32
   */
  arches: [string, ...string[]];
  /**
   * @minItems 1
   * @maxItems 32
   */
  types: [string, ...string[]];
  /**
   * @minItems 1
   * @maxItems 32
   */
  channels?: [string, ...string[]];
}
