import os from 'node:os';
import { setMaxListeners } from 'node:events';
import { describeError, KilnError } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { JobCanceledError, StaleTokenError, JobNotRunningError, JobNotFoundError } from './errors.js';
import type { JobSource } from './source.js';
import type { JobError, JobFilter, RunningJob } from './types.js';

export interface JobContext {
  job: RunningJob;
  /** Aborted when the job is canceled, lost (token no longer current) or the worker stops hard. */
  signal: AbortSignal;
  log: Logger;
  /** Reports progress (throttled by the caller as it sees fit); also a heartbeat. */
  progress(progress: unknown): Promise<void>;
  /**
   * Durably saves what a later attempt needs if this one is lost (job.checkpoint on that
   * attempt). Unlike progress, a failure to save is thrown: the caller must not go on.
   */
  checkpoint(data: unknown): Promise<void>;
}

export type JobHandler = (ctx: JobContext) => Promise<unknown>;

export interface HandlerRegistration {
  handler: JobHandler;
  /** Jobs of this type run at once in this worker. */
  concurrency: number;
}

export interface WorkerOptions {
  source: JobSource;
  handlers: Record<string, HandlerRegistration>;
  channels: readonly string[];
  arches: readonly string[];
  name?: string;
  log?: Logger;
  heartbeatIntervalMs?: number;
  /** How long one take() waits before looping (lets the worker notice stop()). */
  takeTimeoutMs?: number;
  /** On stop(): how long running jobs may go on before they are aborted and handed back. */
  shutdownGraceMs?: number;
  /**
   * Called once per attempt this worker ran (metrics): `released` when handed back at
   * shutdown, `lost` when another worker owns it now. Must not throw; errors are logged.
   */
  onJobFinished?(job: RunningJob, outcome: JobFinishedOutcome, durationMs: number): void;
}

export interface JobFinishedOutcome {
  state: 'success' | 'failure' | 'canceled' | 'released' | 'lost';
  error?: JobError;
}

type WorkerState = 'idle' | 'running' | 'draining' | 'stopped';

class ShutdownError extends KilnError {
  constructor() {
    super('KILN_INTERNAL', 'worker is shutting down');
  }
}

/**
 * A small state machine: idle → running → draining → stopped. Each job type gets
 * `concurrency` slots; each slot takes one job at a time, heartbeats while its handler runs,
 * aborts the handler on cancel, and reports the outcome. On stop() no new jobs are taken;
 * running ones finish within the grace period or are aborted and handed back to the queue.
 */
export class Worker {
  readonly name: string;
  readonly #opts: Required<Omit<WorkerOptions, 'name' | 'log' | 'onJobFinished'>>;
  readonly #onJobFinished: WorkerOptions['onJobFinished'];
  readonly #log: Logger;
  #state: WorkerState = 'idle';
  readonly #stopTaking = new AbortController();
  readonly #running = new Map<string, { controller: AbortController; job: RunningJob }>();
  #slots: Promise<void>[] = [];
  #unsubscribeCancel: (() => void) | null = null;

  constructor(options: WorkerOptions) {
    this.name = options.name ?? `${os.hostname()}:${process.pid}`;
    this.#log = (options.log ?? silentLogger).child({ worker: this.name });
    this.#onJobFinished = options.onJobFinished;
    this.#opts = {
      source: options.source,
      handlers: options.handlers,
      channels: options.channels,
      arches: options.arches,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 10_000,
      takeTimeoutMs: options.takeTimeoutMs ?? 30_000,
      shutdownGraceMs: options.shutdownGraceMs ?? 30_000,
    };
  }

  get state(): WorkerState {
    return this.#state;
  }

  get runningJobs(): RunningJob[] {
    return [...this.#running.values()].map((r) => r.job);
  }

  start(): void {
    if (this.#state !== 'idle') throw new Error(`worker is ${this.#state}`);
    this.#state = 'running';
    // every idle slot waits on this one signal: one listener per slot, not a leak
    setMaxListeners(Object.values(this.#opts.handlers).reduce((n, h) => n + h.concurrency, 10), this.#stopTaking.signal);
    this.#unsubscribeCancel = this.#opts.source.onCancel?.((jobId) => this.#abortJob(jobId, new JobCanceledError(jobId))) ?? null;
    for (const [type, reg] of Object.entries(this.#opts.handlers)) {
      for (let i = 0; i < reg.concurrency; i++) this.#slots.push(this.#slot(type, reg.handler));
    }
    this.#log.info({ types: Object.keys(this.#opts.handlers), arches: this.#opts.arches, channels: this.#opts.channels }, 'worker started');
  }

  #abortJob(jobId: string, reason: Error): void {
    const running = this.#running.get(jobId);
    if (running && !running.controller.signal.aborted) running.controller.abort(reason);
  }

  async #slot(type: string, handler: JobHandler): Promise<void> {
    const filter: JobFilter = { types: [type], channels: this.#opts.channels, arches: this.#opts.arches };
    let job: RunningJob | null = null;
    while (this.#state === 'running') {
      if (!job) {
        try {
          job = await this.#opts.source.take(filter, { timeoutMs: this.#opts.takeTimeoutMs, signal: this.#stopTaking.signal });
        } catch (err) {
          this.#log.error({ err, type }, 'taking a job failed');
          await new Promise((r) => setTimeout(r, 1_000));
          continue;
        }
        if (!job) continue;
      }
      if (this.#state !== 'running') {
        await this.#opts.source.release(job).catch(() => undefined);
        break;
      }
      // while the worker runs, the report of one job also takes the next one
      job = await this.#run(job, handler, filter);
    }
  }

  #notifyFinished(job: RunningJob, outcome: JobFinishedOutcome, durationMs: number): void {
    if (!this.#onJobFinished) return;
    try {
      this.#onJobFinished(job, outcome, durationMs);
    } catch (err) {
      this.#log.warn({ err, jobId: job.id }, 'onJobFinished callback failed');
    }
  }

  /** Runs one job and reports it; returns the next job when the report brought one. */
  async #run(job: RunningJob, handler: JobHandler, filter: JobFilter): Promise<RunningJob | null> {
    const log = this.#log.child({ jobId: job.id, jobType: job.type, composeId: job.composeId ?? undefined, attempt: job.attempts });
    const controller = new AbortController();
    this.#running.set(job.id, { controller, job });
    const source = this.#opts.source;
    // a heartbeat or progress report still in flight when the handler is done is answered
    // after the finish; its "not running" says nothing about this attempt
    let handlerDone = false;
    const onReport = (state: 'running' | 'canceled') => {
      if (state === 'canceled') this.#abortJob(job.id, new JobCanceledError(job.id));
    };
    const onReportError = (err: unknown) => {
      if (handlerDone) return;
      if (err instanceof StaleTokenError || err instanceof JobNotRunningError || err instanceof JobNotFoundError) {
        log.warn({ err }, 'job no longer ours; stopping it');
        this.#abortJob(job.id, err as Error);
      } else {
        log.warn({ err }, 'heartbeat failed; will retry');
      }
    };
    const heartbeat = setInterval(() => {
      source.heartbeat(job).then(onReport, onReportError);
    }, this.#opts.heartbeatIntervalMs);
    const started = Date.now();
    log.info('job started');
    let result: unknown;
    let failure: unknown;
    try {
      result = await handler({
        job,
        signal: controller.signal,
        log,
        progress: async (p) => source.progress(job, p).then(onReport, onReportError),
        checkpoint: async (data) => onReport(await source.checkpoint(job, data)),
      });
    } catch (err) {
      failure = err;
    } finally {
      handlerDone = true;
      clearInterval(heartbeat);
      this.#running.delete(job.id);
    }
    const reason = controller.signal.aborted ? controller.signal.reason : undefined;
    try {
      if (reason instanceof ShutdownError) {
        const released = await source.release(job);
        log.info({ released, durationMs: Date.now() - started }, 'job handed back at shutdown');
        this.#notifyFinished(job, { state: 'released' }, Date.now() - started);
        return null;
      }
      if (reason instanceof StaleTokenError || reason instanceof JobNotRunningError || reason instanceof JobNotFoundError) {
        this.#notifyFinished(job, { state: 'lost' }, Date.now() - started);
        return null; // another worker owns it now, or it is gone; reporting would be rejected
      }
      const outcome =
        failure === undefined
          ? ({ state: 'success', result } as const)
          : ({ state: 'failure', error: describeError(failure), result: (failure as { result?: unknown })?.result } as const);
      const { stored, next } = await source.finish(job, outcome, this.#state === 'running' ? filter : undefined);
      const durationMs = Date.now() - started;
      this.#notifyFinished(
        job,
        stored === 'canceled' ? { state: 'canceled' } : outcome.state === 'failure' ? { state: 'failure', error: outcome.error } : { state: 'success' },
        durationMs,
      );
      log.info(
        { outcome: stored === 'canceled' ? 'canceled' : outcome.state, durationMs: Date.now() - started, ...(failure ? { err: describeError(failure) } : {}) },
        'job finished',
      );
      return next;
    } catch (err) {
      log.error({ err }, 'reporting the job outcome failed');
      return null;
    }
  }

  /** Stops taking jobs; waits up to the grace period for running ones, then aborts and hands them back. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'draining') return;
    this.#state = 'draining';
    this.#stopTaking.abort();
    this.#unsubscribeCancel?.();
    const all = Promise.all(this.#slots);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), this.#opts.shutdownGraceMs);
    });
    if ((await Promise.race([all.then(() => 'done' as const), graceOver])) === 'timeout') {
      this.#log.warn({ jobs: [...this.#running.keys()] }, 'grace period over: aborting running jobs');
      for (const id of [...this.#running.keys()]) this.#abortJob(id, new ShutdownError());
      await all;
    }
    clearTimeout(timer);
    this.#state = 'stopped';
    this.#log.info('worker stopped');
  }
}
