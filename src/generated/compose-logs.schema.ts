/* Generated from schemas/compose-logs.schema.json by `npm run gen:types`. Do not edit. */

/**
 * GET {API_BASE}/composes/{id}/logs: every job of the compose with its state, error and log; `image_builds` in image request order, `koji` the Koji reservation (init) and import (koji-finalize).
 */
export interface ComposeLogs {
  href: string;
  id: string;
  kind: 'ComposeLogs';
  image_builds: ImageBuildLogs[];
  koji: {
    init: JobLog;
    import: JobLog;
  };
}
export interface ImageBuildLogs {
  arch: string;
  image_type: string;
  depsolve: JobLog;
  osbuild: JobLog;
}
export interface JobLog {
  job_id: string;
  type: string;
  state: string;
  attempts: number;
  worker: string | null;
  queued_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  error?: {
    code: string;
    message: string;
    details?: {
      [k: string]: unknown;
    };
  };
  /**
   * The tail of the job's log (osbuild's output for an osbuild job).
   */
  log?: string;
}
