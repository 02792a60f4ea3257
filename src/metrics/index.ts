/**
 * Prometheus metrics: one prom-client Registry per service (not the global one, so several
 * services in one process — the tests — keep their series apart).
 *
 * Queue depth and remote worker heartbeats are read from the database at scrape time: the
 * queue is shared by every Kiln process, so any process answers for all of it and no process
 * has to keep counters in step with rows other processes change. Job durations and failures
 * come from this process's own workers (Worker's onJobFinished), Koji latency, faults and
 * upload bytes from every KojiClient of this process (observeKojiCalls).
 */
import client, { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Queryable } from '../db/index.js';
import { queueDepth, type JobFinishedOutcome, type RunningJob } from '../queue/index.js';
import { observeKojiCalls, type KojiCallEvent } from '../koji/client.js';

export interface MetricsOptions {
  db: Queryable;
  /** Process metrics (CPU, memory, event loop, GC): on for a service, off where many apps share a process. */
  defaultMetrics?: boolean;
  /** Subscribe to every KojiClient of this process; default true. */
  observeKoji?: boolean;
}

// Jobs run from milliseconds (noop, koji-init) to hours (osbuild of a large image).
const JOB_BUCKETS = [0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400];
// A Koji call is a small XML-RPC request, except CGImport (checksums every file on the hub).
const KOJI_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class KilnMetrics {
  readonly registry = new Registry();
  readonly #jobDuration: Histogram<'type' | 'outcome'>;
  readonly #jobFailures: Counter<'type' | 'code'>;
  readonly #kojiDuration: Histogram<'method' | 'outcome'>;
  readonly #kojiFaults: Counter<'method' | 'fault_code'>;
  readonly #kojiUploadBytes: Counter<'hub'>;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(options: MetricsOptions) {
    const { db } = options;
    const registers = [this.registry];
    if (options.defaultMetrics) client.collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'kiln_queue_jobs',
      help: 'Unfinished jobs in the queue (all Kiln processes) by type, channel, arch and state.',
      labelNames: ['type', 'channel', 'arch', 'state'] as const,
      registers,
      async collect() {
        const rows = await queueDepth(db);
        // reset first: a combination that emptied since the last scrape must not linger
        this.reset();
        for (const r of rows) this.set({ type: r.type, channel: r.channel, arch: r.arch, state: r.state }, r.count);
      },
    });
    new Gauge({
      name: 'kiln_jobs_running',
      help: 'Jobs running now (all workers of the queue) by type.',
      labelNames: ['type'] as const,
      registers,
      async collect() {
        const { rows } = await db.query<{ type: string; n: number }>(
          `SELECT type, count(*)::int AS n FROM kiln_jobs WHERE state = 'running' GROUP BY type ORDER BY type`,
        );
        this.reset();
        for (const r of rows) this.set({ type: r.type }, r.n);
      },
    });
    new Gauge({
      name: 'kiln_remote_worker_last_seen_seconds',
      help: 'Seconds since a remote worker (by name, its newest registration) last called the worker API.',
      labelNames: ['worker'] as const,
      registers,
      async collect() {
        // every process start registers anew under the same name: one series per name
        const { rows } = await db.query<{ name: string; age: number }>(
          `SELECT name, extract(epoch FROM now() - max(last_seen_at))::float8 AS age FROM kiln_workers GROUP BY name ORDER BY name`,
        );
        this.reset();
        for (const r of rows) this.set({ worker: r.name }, Math.max(0, r.age));
      },
    });

    this.#jobDuration = new Histogram({
      name: 'kiln_job_duration_seconds',
      help: "Run time of jobs this process's workers ran, by type and outcome (success, failure, canceled, released, lost).",
      labelNames: ['type', 'outcome'] as const,
      buckets: JOB_BUCKETS,
      registers,
    });
    this.#jobFailures = new Counter({
      name: 'kiln_job_failures_total',
      help: "Failed jobs of this process's workers by type and error code.",
      labelNames: ['type', 'code'] as const,
      registers,
    });
    this.#kojiDuration = new Histogram({
      name: 'kiln_koji_call_duration_seconds',
      help: 'Koji hub requests (each try) by method and outcome (ok, fault, error).',
      labelNames: ['method', 'outcome'] as const,
      buckets: KOJI_BUCKETS,
      registers,
    });
    this.#kojiFaults = new Counter({
      name: 'kiln_koji_faults_total',
      help: 'XML-RPC faults from Koji hubs by method and fault code.',
      labelNames: ['method', 'fault_code'] as const,
      registers,
    });
    this.#kojiUploadBytes = new Counter({
      name: 'kiln_koji_upload_bytes_total',
      help: "Bytes uploaded into Koji hubs' work areas (accepted chunks).",
      labelNames: ['hub'] as const,
      registers,
    });
    this.#unsubscribe = options.observeKoji === false ? undefined : observeKojiCalls((e) => this.observeKojiCall(e));
  }

  /** For WorkerOptions.onJobFinished. */
  readonly onJobFinished = (job: RunningJob, outcome: JobFinishedOutcome, durationMs: number): void => {
    this.#jobDuration.observe({ type: job.type, outcome: outcome.state }, durationMs / 1000);
    if (outcome.state === 'failure') this.#jobFailures.inc({ type: job.type, code: outcome.error?.code ?? 'unknown' });
  };

  observeKojiCall(e: KojiCallEvent): void {
    this.#kojiDuration.observe({ method: e.method, outcome: e.outcome }, e.durationMs / 1000);
    if (e.outcome === 'fault') this.#kojiFaults.inc({ method: e.method, fault_code: String(e.faultCode ?? '') });
    if (e.uploadBytes) this.#kojiUploadBytes.inc({ hub: e.hub }, e.uploadBytes);
  }

  /** The exposition text of every metric (collects from the database first). */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops observing Koji clients. */
  close(): void {
    this.#unsubscribe?.();
  }
}

export function createMetrics(options: MetricsOptions): KilnMetrics {
  return new KilnMetrics(options);
}
