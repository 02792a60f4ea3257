/* Generated from schemas/builder-status.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of the builder's JSON answers: GET /status and each phase's acknowledgement. phase is the last phase the jobsite completed, or the one in progress.
 */
export interface BuilderStatus {
  state: 'free' | 'busy' | 'ending';
  jobsite?: string;
  phase?: 'claim' | 'provision' | 'populate' | 'build' | 'progress' | 'export';
  osbuild_pid?: number;
  bytes?: number;
  last_ended?: {
    jobsite: string;
    reason: string;
  };
}
