import type { Pool } from '../db/index.js';
import { DatabaseUnavailableError, isConnectionError } from '../db/index.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { dequeueJob, finishAndTakeJob, finishJob, heartbeatJob, reapLostJobs, releaseJob, saveJobCheckpoint, updateJobProgress } from './jobs.js';
import type { QueueListener } from './listener.js';
import type { JobFilter, JobOutcome, RunningJob } from './types.js';
import { sleep } from './sleep.js';

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

export interface PgJobSourceOptions {
  pool: Pool;
  /**
   * How long a report (heartbeat, progress, checkpoint, finish, release) keeps retrying while
   * the database is unreachable before it fails.
   */
  retryForMs?: number;
  /** Without a listener the source polls every pollIntervalMs. */
  listener?: QueueListener;
  worker: string;
  /** Backstop poll for a missed notification. */
  pollIntervalMs?: number;
  log?: Logger;
}

/**
 * Jobs straight from the database. Reports are retried on connection errors (a restarting
 * Postgres) with backoff, 250 ms doubling to 5 s, for up to retryForMs, as HttpJobSource does
 * over HTTP: a job that ends while the database is away is reported once it is back, not lost.
 * Every statement a report runs is guarded by the job's token, so running it again is safe.
 */
export class PgJobSource implements JobSource {
  readonly #pool: Pool;
  readonly #listener?: QueueListener;
  readonly #worker: string;
  readonly #pollMs: number;
  readonly #retryForMs: number;
  readonly #log: Logger;
  #unreachableSince: number | null = null;
  /** Heartbeats in flight by job id: while the database is away one retries, the next ones join it. */
  readonly #heartbeats = new Map<string, Promise<'running' | 'canceled'>>();

  constructor(options: PgJobSourceOptions) {
    this.#pool = options.pool;
    this.#listener = options.listener;
    this.#worker = options.worker;
    this.#pollMs = options.pollIntervalMs ?? 5_000;
    this.#retryForMs = options.retryForMs ?? 60_000;
    this.#log = options.log ?? silentLogger;
  }

  #unreachable(what: string, err: unknown): void {
    if (this.#unreachableSince !== null) return;
    this.#unreachableSince = Date.now();
    this.#log.warn({ err, what }, 'database unreachable; retrying');
  }

  #reachable(): void {
    if (this.#unreachableSince === null) return;
    this.#log.info({ downForMs: Date.now() - this.#unreachableSince }, 'database reachable again');
    this.#unreachableSince = null;
  }

  /** Runs `fn`, again on connection errors until retryForMs has passed; other errors are thrown at once. */
  async #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const until = Date.now() + this.#retryForMs;
    let delay = 250;
    for (;;) {
      try {
        const result = await fn();
        this.#reachable();
        return result;
      } catch (err) {
        if (!isConnectionError(err)) {
          this.#reachable();
          throw err;
        }
        this.#unreachable(what, err);
        if (Date.now() + delay > until) throw new DatabaseUnavailableError(`${what}: database unreachable for ${this.#retryForMs} ms`, err);
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  async take(filter: JobFilter, { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<RunningJob | null> {
    const deadline = Date.now() + timeoutMs;
    while (!signal?.aborted) {
      const registration = this.#listener?.register(filter);
      let job: RunningJob | null = null;
      try {
        job = await dequeueJob(this.#pool, filter, this.#worker);
        this.#reachable();
      } catch (err) {
        registration?.cancel();
        if (!isConnectionError(err)) throw err;
        this.#unreachable('take', err);
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
    const inFlight = this.#heartbeats.get(job.id);
    if (inFlight) return inFlight;
    const beat = this.#retry('heartbeat', () => heartbeatJob(this.#pool, job.id, job.token)).finally(() => this.#heartbeats.delete(job.id));
    this.#heartbeats.set(job.id, beat);
    return beat;
  }

  progress(job: RunningJob, progress: unknown): Promise<'running' | 'canceled'> {
    return this.#retry('progress', () => updateJobProgress(this.#pool, job.id, job.token, progress));
  }

  checkpoint(job: RunningJob, data: unknown): Promise<'running' | 'canceled'> {
    return this.#retry('checkpoint', () => saveJobCheckpoint(this.#pool, job.id, job.token, data));
  }

  async finish(job: RunningJob, outcome: JobOutcome, takeNext?: JobFilter): Promise<{ stored: 'finished' | 'canceled'; next: RunningJob | null }> {
    if (!takeNext || takeNext.types.length !== 1) {
      return { stored: await this.#retry('finish', () => finishJob(this.#pool, job.id, job.token, outcome)), next: null };
    }
    return this.#retry('finish', () =>
      finishAndTakeJob(this.#pool, job.id, job.token, outcome, {
        type: takeNext.types[0],
        channels: takeNext.channels,
        arches: takeNext.arches,
        worker: this.#worker,
      }),
    );
  }

  release(job: RunningJob): Promise<boolean> {
    return this.#retry('release', () => releaseJob(this.#pool, job.id, job.token));
  }

  onCancel(fn: (jobId: string) => void): () => void {
    return this.#listener ? this.#listener.onCancel(fn) : () => undefined;
  }
}

/** Milliseconds since the database server started (its postmaster), by the server's clock. */
async function databaseUptimeMs(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ uptime_ms: number }>(`SELECT (extract(epoch FROM now() - pg_postmaster_start_time()) * 1000)::float8 AS uptime_ms`);
  return rows[0].uptime_ms;
}

/**
 * Runs the lost-job reaper every intervalMs until stopped. Every Kiln process may run one: the
 * reaper's statement skips rows another reaper holds.
 *
 * While the database was down no worker could record a heartbeat, so right after it (re)starts
 * every running job looks lost. For graceMs after the server's start the reaper waits, giving
 * workers (whose reports retry until the database is back) a heartbeat timeout to report in.
 */
export function startReaper(pool: Pool, intervalMs: number, log: Logger = silentLogger, options: { graceMs?: number } = {}): { stop(): void } {
  const graceMs = options.graceMs ?? 0;
  let waitedFor: number | null = null;
  const timer = setInterval(async () => {
    try {
      if (graceMs > 0) {
        const uptimeMs = await databaseUptimeMs(pool);
        if (uptimeMs < graceMs) {
          const startedAt = Math.round(Date.now() - uptimeMs);
          // one line per database start, not one per tick (the estimate may wobble by a few ms)
          if (waitedFor === null || Math.abs(waitedFor - startedAt) > 1_000) {
            waitedFor = startedAt;
            log.info({ databaseUptimeMs: Math.round(uptimeMs), graceMs }, 'database started recently: reaper waits for workers to report in');
          }
          return;
        }
      }
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
