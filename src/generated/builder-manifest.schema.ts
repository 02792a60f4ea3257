/* Generated from schemas/builder-manifest.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of PUT /jobsite/{id}/manifest (provision): an osbuild manifest, version 2. osbuild validates the stages itself.
 */
export interface BuilderManifest {
  version: '2';
  /**
   * @minItems 1
   */
  pipelines: [{}, ...{}[]];
  sources?: {};
}
