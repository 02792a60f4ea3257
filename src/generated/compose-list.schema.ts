/* Generated from schemas/compose-list.schema.json by `npm run gen:types`. Do not edit. */

/**
 * GET {API_BASE}/composes/: composes newest first, paged as the cloud API's List (`page` from 0; `size` the number of items in this page; `total` all composes).
 */
export interface ComposeList {
  href: string;
  kind: 'ComposeList';
  page: number;
  size: number;
  total: number;
  items: ComposeStatus[];
}
/**
 * GET /composes/{id}: the cloud API ComposeStatus that Koji builder plugins poll. As in osbuild-composer, `status` is pending until the Koji import (or refund) is over, then success or failure; each image's own state (pending → building → uploading → success | failure) is in `image_statuses[].status`.
 */
export interface ComposeStatus {
  href: string;
  id: string;
  kind: 'ComposeStatus';
  /**
   * osbuild-composer's ComposeStatusValue.
   */
  status: 'pending' | 'success' | 'failure';
  /**
   * Why the compose failed (e.g. canceled).
   */
  reason?: string;
  image_status: ImageStatus;
  image_statuses: ImageStatus[];
  koji_status: {
    build_id?: number;
    task_id?: number;
  };
  created_at?: string;
  finished_at?: string;
}
export interface ImageStatus {
  /**
   * osbuild-composer's ImageStatusValue. Kiln reports pending (not started), building (depsolve and osbuild), uploading (the image going to Koji's upload area and to S3), success and failure; registering is not used.
   */
  status: 'pending' | 'building' | 'uploading' | 'registering' | 'success' | 'failure';
  progress?: ImageProgress;
  error?: ImageError;
  upload_status?: UploadStatus;
}
export interface ImageProgress {
  done: number;
  total: number;
  message?: string;
  subprogress?: {
    done: number;
    total: number;
    message?: string;
  };
}
/**
 * As osbuild-composer's ComposeStatusError: a numeric id (its client error ids), a reason, details.
 */
export interface ImageError {
  id: number;
  reason: string;
  details?: unknown;
}
/**
 * Where an image went besides Koji (osbuild-composer's UploadStatus; Kiln uploads to aws.s3 only).
 */
export interface UploadStatus {
  type: 'aws.s3';
  status: 'success' | 'failure' | 'pending' | 'running';
  options: AWSS3UploadStatus;
}
export interface AWSS3UploadStatus {
  url: string;
  bucket?: string;
  key?: string;
}
