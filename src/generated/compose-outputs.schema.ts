/* Generated from schemas/compose-outputs.schema.json by `npm run gen:types`. Do not edit. */

/**
 * GET {API_BASE}/composes/{id}/outputs (Kiln's own): where each image's files went in the Koji hub's upload area (its work/ directory), in request order. A scratch build's files stay there for the Koji task to attach; a build's files were moved into the build by its import (Koji leaves symlinks behind). An image lists its files once it is built and uploaded.
 */
export interface ComposeOutputs {
  href: string;
  id: string;
  kind: 'ComposeOutputs';
  koji: {
    server: string;
    task_id: number;
    /**
     * The compose's upload directory, relative to the hub's work/.
     */
    directory: string;
    scratch: boolean;
    /**
     * The build, once imported.
     */
    build_id?: number;
  };
  images: ImageOutputs[];
}
export interface ImageOutputs {
  arch: string;
  image_type: string;
  /**
   * osbuild-composer's ImageStatusValue. Kiln reports pending (not started), building (depsolve and osbuild), uploading (the image going to Koji's upload area and to S3), success and failure; registering is not used.
   */
  status: 'pending' | 'building' | 'uploading' | 'registering' | 'success' | 'failure';
  failable: boolean;
  /**
   * The image's own upload directory, relative to the hub's work/.
   */
  directory?: string;
  files: OutputFile[];
}
export interface OutputFile {
  name: string;
  size: number;
  sha256: string;
  role: 'image' | 'manifest' | 'log';
}
