import http from 'node:http';
import https from 'node:https';
import { KilnError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { JobNotFoundError, JobNotRunningError, StaleTokenError } from './errors.js';
import type { JobSource } from './source.js';
import type { JobFilter, JobOutcome, RunningJob } from './types.js';
import type { WorkerJob } from '../generated/worker-api-job.schema.js';
import type { RegisteredWorker } from '../generated/worker-api-worker.schema.js';
import type { JobFinished } from '../generated/worker-api-finished.schema.js';
import { sleep } from './sleep.js';

/** Same as src/api/worker-api.ts WORKER_API_BASE (not imported: a worker host needs no API code). */
const WORKER_API_BASE = '/api/kiln-worker/v1';

export interface HttpJobSourceOptions {
  /** The Kiln API's base URL, e.g. https://kiln.example.com:8700 */
  server: string;
  /** Shown in job records and on the status page. */
  name: string;
  /** What this worker registers for: every take() is served within it. */
  types: readonly string[];
  arches: readonly string[];
  channels: readonly string[];
  /** Bearer token (`Authorization: Bearer`). */
  token?: string;
  /** Client certificate and key (PEM), and the CA bundle that verifies the server. */
  tls?: { cert?: string | Buffer; key?: string | Buffer; ca?: string | Buffer };
  /** How long a report keeps retrying while the server is unreachable before it fails. */
  retryForMs?: number;
  /** Timeout of one request that is not a long-poll. */
  requestTimeoutMs?: number;
  log?: Logger;
}

interface Answer {
  status: number;
  body: any;
}

/** Errors from the connection, not from the server: worth retrying. */
const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET']);

class TransportError extends KilnError {
  constructor(message: string, cause: unknown) {
    super('KILN_INTERNAL', message, { cause });
  }
}

/**
 * A JobSource over the worker API (src/api/worker-api.ts), for `kiln worker --server`. It
 * registers once (again if the server forgot the registration), long-polls for jobs, and maps
 * the API's error bodies back to the queue's typed errors, so the Worker behaves exactly as it
 * does against the database: a 409 stale token is a StaleTokenError that stops the job.
 *
 * Connection errors and 502/503/504 are retried with backoff (250 ms doubling to 5 s) for up to
 * retryForMs, so a restarting API or a load balancer flap costs a delay, not a job.
 */
export class HttpJobSource implements JobSource {
  readonly #base: URL;
  readonly #opts: HttpJobSourceOptions;
  readonly #agent: http.Agent;
  readonly #log: Logger;
  readonly #retryForMs: number;
  readonly #timeoutMs: number;
  #registration: Promise<RegisteredWorker> | null = null;
  #maxWaitSeconds = 30;
  #unreachableSince: number | null = null;

  constructor(options: HttpJobSourceOptions) {
    this.#base = new URL(options.server.replace(/\/+$/, '') + WORKER_API_BASE + '/');
    if (this.#base.protocol !== 'http:' && this.#base.protocol !== 'https:') throw new KilnError('KILN_INVALID_INPUT', `--server must be an http(s) URL, not ${options.server}`);
    this.#opts = options;
    this.#log = (options.log ?? silentLogger).child({ component: 'http-job-source' });
    this.#retryForMs = options.retryForMs ?? 60_000;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    if (this.#base.protocol === 'http:' && options.token && !/^(localhost|127\.[\d.]+|\[::1\])$/.test(this.#base.hostname)) {
      this.#log.warn({ server: options.server }, 'sending a bearer token over plain HTTP to a host that is not loopback; use https');
    }
    this.#agent =
      this.#base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ...options.tls, minVersion: 'TLSv1.2' })
        : new http.Agent({ keepAlive: true });
  }

  /** One request; throws TransportError for connection trouble, resolves with any HTTP answer. */
  #request(method: string, path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<Answer> {
    const url = new URL(path, this.#base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (this.#opts.token) headers.authorization = `Bearer ${this.#opts.token}`;
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { method, headers, agent: this.#agent, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new TransportError(`${method} ${url.pathname}: ${err.message}`, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = null;
          if (text) {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = { reason: text.slice(0, 500) };
            }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(new TransportError(`${method} ${url.pathname}: ${err.message}`, err)));
      req.end(payload);
    });
  }

  static #retryable(err: unknown): boolean {
    if (!(err instanceof TransportError)) return false;
    const cause = err.cause as { code?: string; name?: string } | undefined;
    if (cause?.name === 'AbortError') return false;
    return RETRYABLE.has(cause?.code ?? '') || /socket hang up/.test(String((cause as Error)?.message));
  }

  /** A request retried on connection errors and 502/503/504 until `until` (epoch ms). */
  async #call(method: string, path: string, body: unknown, options: { timeoutMs?: number; signal?: AbortSignal; until?: number } = {}): Promise<Answer> {
    const until = options.until ?? Date.now() + this.#retryForMs;
    let delay = 250;
    for (;;) {
      let answer: Answer | undefined;
      let failure: unknown;
      try {
        answer = await this.#request(method, path, body, options.timeoutMs ?? this.#timeoutMs, options.signal);
      } catch (err) {
        if (!HttpJobSource.#retryable(err)) throw err;
        failure = err;
      }
      if (answer && ![502, 503, 504].includes(answer.status)) {
        if (this.#unreachableSince !== null) {
          this.#log.info({ downForMs: Date.now() - this.#unreachableSince }, 'Kiln API reachable again');
          this.#unreachableSince = null;
        }
        return answer;
      }
      if (this.#unreachableSince === null) {
        this.#unreachableSince = Date.now();
        this.#log.warn({ server: this.#opts.server, err: failure, status: answer?.status }, 'Kiln API unreachable; retrying');
      }
      if (options.signal?.aborted || Date.now() + delay > until) {
        if (failure) throw failure;
        throw HttpJobSource.#error(answer!, method, path);
      }
      await sleep(delay, options.signal);
      delay = Math.min(delay * 2, 5_000);
    }
  }

  /** The API's error body as the queue's typed error where there is one. */
  static #error(answer: Answer, method: string, path: string, jobId?: string): KilnError {
    const code = (answer.body?.code ?? 'KILN_INTERNAL') as ErrorCode;
    const reason = String(answer.body?.reason ?? `HTTP ${answer.status}`);
    if (jobId) {
      if (code === 'KILN_JOB_STALE_TOKEN') return new StaleTokenError(jobId);
      if (code === 'KILN_JOB_NOT_RUNNING') return new JobNotRunningError(jobId);
      if (code === 'KILN_JOB_NOT_FOUND') return new JobNotFoundError(jobId);
    }
    return new KilnError(code, `${method} ${path}: ${answer.status} ${reason}`, { details: { status: answer.status, ...(answer.body?.details ?? {}) } });
  }

  /** Registers (once); later calls return the same registration. Fails on bad credentials. */
  register(): Promise<RegisteredWorker> {
    this.#registration ??= this.#call('POST', 'workers', {
      name: this.#opts.name,
      arches: [...this.#opts.arches],
      types: [...this.#opts.types],
      channels: [...this.#opts.channels],
    }).then(
      (answer) => {
        if (answer.status !== 201) throw HttpJobSource.#error(answer, 'POST', 'workers');
        const reg = answer.body as RegisteredWorker;
        this.#maxWaitSeconds = reg.max_wait_seconds ?? 30;
        this.#log.info({ workerId: reg.id, server: this.#opts.server }, 'registered with the Kiln API');
        return reg;
      },
    );
    // a failed registration is retried by the next call
    this.#registration.catch(() => {
      this.#registration = null;
    });
    return this.#registration;
  }

  /** A call on this worker's registration; registers again once if the server forgot it. */
  async #workerCall(path: string, body: unknown, options: { timeoutMs?: number; signal?: AbortSignal; until?: number } = {}): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      const registration = this.register();
      const reg = await registration;
      const answer = await this.#call('POST', `workers/${reg.id}/${path}`, body, options);
      if (answer.status === 404 && answer.body?.code === 'KILN_NOT_FOUND' && attempt === 0) {
        this.#log.warn({ workerId: reg.id }, 'the Kiln API does not know this worker; registering again');
        // several slots may hear this at once: only the first starts a new registration
        if (this.#registration === registration) this.#registration = null;
        continue;
      }
      return answer;
    }
  }

  async #jobCall(job: RunningJob, what: string, body: Record<string, unknown>): Promise<Answer> {
    const answer = await this.#workerCall(`jobs/${job.id}/${what}`, { token: job.token, ...body });
    if (answer.status !== 200) throw HttpJobSource.#error(answer, 'POST', `jobs/${job.id}/${what}`, job.id);
    return answer;
  }

  static #toJob(w: WorkerJob): RunningJob {
    return {
      id: w.id,
      type: w.type,
      args: w.args,
      token: w.token,
      channel: w.channel,
      arch: w.arch,
      composeId: w.compose_id,
      attempts: w.attempts,
      retries: w.retries,
      heartbeatTimeoutSeconds: w.heartbeat_timeout_seconds,
      checkpoint: w.checkpoint ?? null,
      dependencies: w.dependencies.map((d) => ({ id: d.id, type: d.type, state: d.state, result: d.result, error: d.error })),
    };
  }

  /**
   * Long-polls until timeoutMs (in waits of at most the server's max_wait_seconds). The
   * filter's types narrow the registration's; arches and channels are the registration's.
   * Connection trouble is retried until the deadline, then reported as "no job".
   */
  async take(filter: JobFilter, { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<RunningJob | null> {
    const deadline = Date.now() + timeoutMs;
    while (!signal?.aborted) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      const waitSeconds = Math.min(left / 1_000, this.#maxWaitSeconds);
      let answer: Answer;
      try {
        answer = await this.#workerCall(
          'jobs',
          { types: [...filter.types], wait_seconds: waitSeconds },
          // the answer may take the whole wait; give the server 15 s more before calling it lost
          { timeoutMs: waitSeconds * 1_000 + 15_000, signal, until: deadline },
        );
      } catch (err) {
        if (signal?.aborted) return null;
        if (HttpJobSource.#retryable(err)) return null;
        throw err;
      }
      if (answer.status === 200) return HttpJobSource.#toJob(answer.body as WorkerJob);
      if (answer.status !== 204) throw HttpJobSource.#error(answer, 'POST', 'jobs');
    }
    return null;
  }

  async heartbeat(job: RunningJob): Promise<'running' | 'canceled'> {
    return (await this.#jobCall(job, 'heartbeat', {})).body.state;
  }

  async progress(job: RunningJob, progress: unknown): Promise<'running' | 'canceled'> {
    return (await this.#jobCall(job, 'progress', { progress: progress ?? null })).body.state;
  }

  async checkpoint(job: RunningJob, data: unknown): Promise<'running' | 'canceled'> {
    return (await this.#jobCall(job, 'checkpoint', { checkpoint: data ?? null })).body.state;
  }

  async finish(job: RunningJob, outcome: JobOutcome, takeNext?: JobFilter): Promise<{ stored: 'finished' | 'canceled'; next: RunningJob | null }> {
    const body: Record<string, unknown> = { state: outcome.state };
    if (outcome.result !== undefined) body.result = outcome.result;
    if (outcome.state === 'failure') body.error = outcome.error;
    if (takeNext && takeNext.types.length === 1) body.take_next = takeNext.types[0];
    const answer = (await this.#jobCall(job, 'finish', body)).body as JobFinished;
    return { stored: answer.stored, next: answer.next ? HttpJobSource.#toJob(answer.next) : null };
  }

  async release(job: RunningJob): Promise<boolean> {
    return (await this.#jobCall(job, 'release', {})).body.released === true;
  }

  /** Which of these composes have ended (or are unknown to the API): what this worker kept for them may go. */
  async composesEnded(ids: string[]): Promise<string[]> {
    const ended: string[] = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const answer = await this.#workerCall('composes/ended', { ids: ids.slice(i, i + 1000) });
      if (answer.status !== 200) throw HttpJobSource.#error(answer, 'POST', 'composes/ended');
      ended.push(...(answer.body as { ended: string[] }).ended);
    }
    return ended;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#agent.destroy();
  }
}
