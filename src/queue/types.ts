export type JobState = 'waiting' | 'ready' | 'running' | 'success' | 'failure' | 'canceled';
export const FINISHED_STATES: readonly JobState[] = ['success', 'failure', 'canceled'];

export interface JobError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** One job to enqueue. */
export interface JobSpec {
  /** Name within the batch, so later specs can depend on this one. */
  key?: string;
  type: string;
  args?: unknown;
  /**
   * Ordered: the dependent receives its dependencies' results in this order. Each entry is
   * the `key` of an earlier spec in the same batch or the id of an existing job.
   */
  dependencies?: string[];
  channel?: string;
  arch?: string;
  /** Lower runs first (Koji's convention). */
  priority?: number;
  composeId?: string;
  /** Runs even when dependencies failed or were canceled (cleanup jobs). */
  alwaysRun?: boolean;
  maxRetries?: number;
  heartbeatTimeoutSeconds?: number;
}

export interface DependencyResult {
  id: string;
  type: string;
  state: JobState;
  result: unknown;
  error: JobError | null;
}

/** A job handed to a worker. */
export interface RunningJob {
  id: string;
  type: string;
  args: unknown;
  token: string;
  channel: string;
  arch: string;
  composeId: string | null;
  attempts: number;
  retries: number;
  heartbeatTimeoutSeconds: number;
  /** What an earlier attempt saved with saveJobCheckpoint, or null. */
  checkpoint: unknown;
  dependencies: DependencyResult[];
}

export interface JobFilter {
  types: readonly string[];
  channels: readonly string[];
  arches: readonly string[];
}

export type JobOutcome = { state: 'success'; result?: unknown } | { state: 'failure'; error: JobError; result?: unknown };

/** A job's row as kept for history. */
export interface JobRecord {
  id: string;
  type: string;
  args: unknown;
  channel: string;
  arch: string;
  priority: number;
  composeId: string | null;
  alwaysRun: boolean;
  state: JobState;
  worker: string | null;
  progress: unknown;
  checkpoint: unknown;
  result: unknown;
  error: JobError | null;
  attempts: number;
  retries: number;
  maxRetries: number;
  queuedAt: Date;
  readyAt: Date | null;
  startedAt: Date | null;
  heartbeatAt: Date | null;
  finishedAt: Date | null;
  dependencies: string[];
}
