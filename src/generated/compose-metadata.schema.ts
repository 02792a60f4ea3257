/* Generated from schemas/compose-metadata.schema.json by `npm run gen:types`. Do not edit. */

/**
 * GET {API_BASE}/composes/{id}/metadata: the request the compose was created with and, per image request (in order), the RPMs installed in the image, as the cloud API's PackageMetadata. osbuild-composer answers this only for non-Koji composes (one image, top-level `packages`); Kiln answers it for every compose, per image.
 */
export interface ComposeMetadata {
  href: string;
  id: string;
  kind: 'ComposeMetadata';
  /**
   * The ComposeRequest as it was posted.
   */
  request: {
    [k: string]: unknown;
  };
  images: ImageMetadata[];
}
export interface ImageMetadata {
  arch: string;
  image_type: string;
  packages: PackageMetadata[];
}
export interface PackageMetadata {
  type: 'rpm';
  name: string;
  version: string;
  release: string;
  epoch?: string;
  arch: string;
  sigmd5?: string;
  signature?: string;
}
