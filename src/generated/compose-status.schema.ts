/* Generated from schemas/compose-status.schema.json by `npm run gen:types`. Do not edit. */

/**
 * osbuild-composer's ComposeStatusValue.
 */
export type Status = 'pending' | 'success' | 'failure';
/**
 * osbuild-composer's ImageStatusValue. Kiln reports pending (not started), building (depsolve and osbuild), uploading (the image going to Koji's upload area and to S3), success and failure; registering is not used.
 */
export type ImageStatusValue = 'pending' | 'building' | 'uploading' | 'registering' | 'success' | 'failure';

/**
 * GET /composes/{id}: the cloud API ComposeStatus that Koji builder plugins poll. As in osbuild-composer, `status` is pending until the Koji import (or refund) is over, then success or failure; each image's own state (pending → building → uploading → success | failure) is in `image_statuses[].status`.
 */
export interface ComposeStatus {
  href: string;
  id: string;
  kind: 'ComposeStatus';
  status: Status;
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
  status: ImageStatusValue;
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
