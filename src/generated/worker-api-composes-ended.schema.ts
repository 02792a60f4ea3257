/* Generated from schemas/worker-api-composes-ended.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Answer of composes/ended: the ids asked about whose compose has ended (its koji-finalize job is done) or that Kiln does not know.
 */
export interface ComposesEnded {
  ended: string[];
}
