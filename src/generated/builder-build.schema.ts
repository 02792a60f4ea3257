/* Generated from schemas/builder-build.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of POST /jobsite/{id}/build: what osbuild exports and how it uses its store.
 */
export interface BuilderBuildArgs {
  export_pipeline: string;
  export_filename: string;
  /**
   * The image is renamed to this; the log and manifest are named after it.
   */
  image_name?: string;
  rpm_pipeline?: string;
  /**
   * Wall-clock limit for osbuild; the builder's own limit applies when lower.
   */
  timeout_seconds?: number;
  store?: {
    /**
     * osbuild --cache-max-size: bytes, or "unlimited".
     */
    cache_max_size?: number | 'unlimited';
    /**
     * osbuild --checkpoint, per pipeline or stage id.
     *
     * @maxItems 64
     */
    checkpoints?: string[];
  };
}
