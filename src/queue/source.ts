import type { Pool } from '../db/index.js';
import { isConnectionError } from '../db/index.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { dequeueJob, finishAndTakeJob, finishJob, heartbeatJob, reapLostJobs, releaseJob, saveJobCheckpoint, updateJobProgress } from './jobs.js';
import type { QueueListener } from './listener.js';
import type { JobFilter, JobOutcome, RunningJob } from './types.js';

/**
 * Where a worker gets jobs and reports on them. Local workers use the database directly
 * (PgJobSource); remote workers use the worker API over HTTP with the same contract.
 */
export interface JobSource {
  /** Waits up to timeoutMs for a job matching the filter; null on timeout or abort. */
  take(filter: JobFilter, options: { timeoutMs: number; signal?: AbortSignal }): Promise<RunningJob | null>;
  heartbeat(job: RunningJob): Promise<'running' | 'canceled'>;
  progress(job: RunningJob, progress: unknown): Promise<'running' | 'canceled'>;
  /** Durably saves what the next attempt needs if this one is lost. */
  checkpoint(job: RunningJob, data: unknown): Promise<'running' | 'canceled'>;
  /**
   * Reports the outcome. With `takeNext` (a filter for one type), the source may hand out the
   * next ready job in the same exchange; `next` is then that job or null.
   */
  finish(job: RunningJob, outcome: JobOutcome, takeNext?: JobFilter): Promise<{ stored: 'finished' | 'canceled'; next: RunningJob | null }>;
  /** Gives a job back at once (shutdown); false when it was no longer ours. */
  release(job: RunningJob): Promise<boolean>;
  /** Immediate cancel notices, where the source has them (heartbeats catch the rest). */
  onCancel?(fn: (jobId: string) => void): () => void;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface PgJobSourceOptions {
  pool: Pool;
  /** Without a listener the source polls every pollIntervalMs. */
  listener?: QueueListener;
  worker: string;
  /** Backstop poll for a missed notification. */
  pollIntervalMs?: number;
  log?: Logger;
}

export class PgJobSource implements JobSource {
  readonly #pool: Pool;
  readonly #listener?: QueueListener;
  readonly #worker: string;
  readonly #pollMs: number;
  readonly #log: Logger;

  constructor(options: PgJobSourceOptions) {
    this.#pool = options.pool;
    this.#listener = options.listener;
    this.#worker = options.worker;
    this.#pollMs = options.pollIntervalMs ?? 5_000;
    this.#log = options.log ?? silentLogger;
  }

  async take(filter: JobFilter, { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<RunningJob | null> {
    const deadline = Date.now() + timeoutMs;
    while (!signal?.aborted) {
      const registration = this.#listener?.register(filter);
      let job: RunningJob | null = null;
      try {
        job = await dequeueJob(this.#pool, filter, this.#worker);
      } catch (err) {
        registration?.cancel();
        if (!isConnectionError(err)) throw err;
        this.#log.warn({ err }, 'dequeue failed: database unreachable; retrying');
        await sleep(Math.min(1_000, Math.max(0, deadline - Date.now())), signal);
        if (Date.now() >= deadline) return null;
        continue;
      }
      if (job) {
        registration?.cancel();
        return job;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        registration?.cancel();
        return null;
      }
      const waitMs = Math.min(left, this.#pollMs);
      if (registration) await registration.wait(waitMs, signal);
      else await sleep(waitMs, signal);
    }
    return null;
  }

  heartbeat(job: RunningJob): Promise<'running' | 'canceled'> {
    return heartbeatJob(this.#pool, job.id, job.token);
  }

  progress(job: RunningJob, progress: unknown): Promise<'running' | 'canceled'> {
    return updateJobProgress(this.#pool, job.id, job.token, progress);
  }

  checkpoint(job: RunningJob, data: unknown): Promise<'running' | 'canceled'> {
    return saveJobCheckpoint(this.#pool, job.id, job.token, data);
  }

  async finish(job: RunningJob, outcome: JobOutcome, takeNext?: JobFilter): Promise<{ stored: 'finished' | 'canceled'; next: RunningJob | null }> {
    if (!takeNext || takeNext.types.length !== 1) {
      return { stored: await finishJob(this.#pool, job.id, job.token, outcome), next: null };
    }
    return finishAndTakeJob(this.#pool, job.id, job.token, outcome, {
      type: takeNext.types[0],
      channels: takeNext.channels,
      arches: takeNext.arches,
      worker: this.#worker,
    });
  }

  release(job: RunningJob): Promise<boolean> {
    return releaseJob(this.#pool, job.id, job.token);
  }

  onCancel(fn: (jobId: string) => void): () => void {
    return this.#listener ? this.#listener.onCancel(fn) : () => undefined;
  }
}

/**
 * Runs the lost-job reaper every intervalMs until the signal aborts. Every Kiln process may
 * run one: the reaper's statement skips rows another reaper holds.
 */
export function startReaper(pool: Pool, intervalMs: number, log: Logger = silentLogger): { stop(): void } {
  const timer = setInterval(async () => {
    try {
      for (const r of await reapLostJobs(pool)) {
        log.warn({ jobId: r.jobId, outcome: r.outcome }, r.outcome === 'requeued' ? 'job requeued: worker lost' : 'job failed: worker lost too often');
      }
    } catch (err) {
      log.warn({ err }, 'reaper failed');
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
