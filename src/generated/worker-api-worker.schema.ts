/* Generated from schemas/worker-api-worker.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Answer of POST /api/kiln-worker/v1/workers: the worker id to use in every later request.
 */
export interface RegisteredWorker {
  href: string;
  kind: 'Worker';
  id: string;
  name: string;
  arches: string[];
  types: string[];
  channels: string[];
  /**
   * Longest long-poll the server grants.
   */
  max_wait_seconds?: number;
}
