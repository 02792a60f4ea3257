/* Generated from schemas/worker-api-composes.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Which of these composes have ended: a worker asks before it removes what it kept for a compose (the ostree repositories it serves to the compose's later images).
 */
export interface ComposesQuery {
  /**
   * @maxItems 1000
   */
  ids: string[];
}
