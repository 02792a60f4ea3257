/* Generated from schemas/builder-export.schema.json by `npm run gen:types`. Do not edit. */

/**
 * kiln-export.json, the first entry of the tar stream of GET /jobsite/{id}/export: each artifact that follows, with the size and sha256 the builder computed on its disk. The manager hashes what it receives and rejects any difference.
 */
export interface BuilderExportHeader {
  jobsite: string;
  /**
   * @maxItems 16
   */
  files: {
    name: string;
    kind: 'image' | 'log' | 'manifest';
    size: number;
    sha256: string;
  }[];
}
