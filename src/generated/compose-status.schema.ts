/* Generated from schemas/compose-status.schema.json by `npm run gen:types`. Do not edit. */

export type Status = 'pending' | 'building' | 'uploading' | 'success' | 'failure';

/**
 * GET /composes/{id}: the cloud API ComposeStatus that Koji builder plugins poll. Unlike osbuild-composer, `status` follows the images (pending → building → uploading → success | failure) instead of staying pending until the Koji import.
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
  image_status?: ImageStatus;
  image_statuses: ImageStatus[];
  koji_status: {
    build_id?: number;
    task_id?: number;
  };
  created_at?: string;
  finished_at?: string;
}
export interface ImageStatus {
  status: Status;
  progress?: ImageProgress;
  error?: ImageError;
  upload_status?: {
    type: string;
    status: 'success' | 'failure' | 'pending' | 'running';
    /**
     * Target details, e.g. bucket, key and url for aws.s3.
     */
    options?: {
      [k: string]: unknown;
    };
  };
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
 * As osbuild-composer's: a numeric id (its client error ids), a reason, details.
 */
export interface ImageError {
  id: number;
  reason: string;
  details?: unknown;
}
