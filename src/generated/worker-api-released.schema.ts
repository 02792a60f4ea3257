/* Generated from schemas/worker-api-released.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Answer of release: false when the job was no longer the caller's.
 */
export interface JobReleased {
  released: boolean;
}
