/* Generated from schemas/compose-manifests.schema.json by `npm run gen:types`. Do not edit. */

/**
 * GET {API_BASE}/composes/{id}/manifests: one osbuild manifest per image request, in request order (clients pair them by position). An image whose manifest does not exist (yet, or ever: its depsolve failed) has an empty object in its place, never null.
 */
export interface ComposeManifests {
  href: string;
  id: string;
  kind: 'ComposeManifests';
  manifests: {
    [k: string]: unknown;
  }[];
}
