import pg from 'pg';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { JobFilter } from './types.js';

interface Waiter {
  filter: JobFilter;
  wake: () => void;
}

export interface Registration {
  /** Resolves when a matching job may be ready, the timeout passed, or the signal aborted. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  cancel(): void;
}

function matches(filter: JobFilter, type: string, channel: string, arch: string): boolean {
  return filter.types.includes(type) && filter.channels.includes(channel) && filter.arches.includes(arch);
}

/**
 * One LISTEN connection per process. `kiln_job_ready` carries (type, channel, arch, n); the
 * listener wakes at most n matching waiters, oldest first, so a burst of one job does not
 * stampede every idle worker. `kiln_job_canceled` carries a job id for running workers.
 * After a lost connection it reconnects with backoff and wakes every waiter, since
 * notifications sent meanwhile are gone.
 */
export class QueueListener {
  readonly #url: string;
  readonly #log: Logger;
  readonly #waiters: Waiter[] = [];
  readonly #cancelHandlers = new Set<(jobId: string) => void>();
  #client: pg.Client | null = null;
  #stopped = false;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #backoffMs = 100;

  constructor(url: string, log: Logger = silentLogger) {
    this.#url = url;
    this.#log = log.child({ component: 'queue-listener' });
  }

  async start(): Promise<void> {
    await this.#connect();
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url, application_name: 'kiln-listener' });
    client.on('notification', (msg) => this.#onNotification(msg));
    client.on('error', (err) => {
      if (this.#stopped || this.#client !== client) return;
      this.#log.warn({ err }, 'listener connection lost');
      this.#lost(client);
    });
    client.on('end', () => this.#lost(client));
    await client.connect();
    await client.query('LISTEN kiln_job_ready');
    await client.query('LISTEN kiln_job_canceled');
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#backoffMs = 100;
  }

  #lost(client: pg.Client): void {
    if (this.#stopped || this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => undefined);
    this.#retryLater();
  }

  #retryLater(): void {
    if (this.#stopped || this.#reconnectTimer) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, 5_000);
    this.#reconnectTimer = setTimeout(async () => {
      this.#reconnectTimer = null;
      try {
        await this.#connect();
        this.#log.info('listener reconnected');
        this.wakeAll();
      } catch (err) {
        this.#log.warn({ err, retryInMs: this.#backoffMs }, 'listener reconnect failed');
        this.#retryLater();
      }
    }, delay);
    this.#reconnectTimer.unref();
  }

  #onNotification(msg: pg.Notification): void {
    if (msg.channel === 'kiln_job_canceled') {
      for (const fn of this.#cancelHandlers) fn(msg.payload ?? '');
      return;
    }
    let payload: { type: string; channel: string; arch: string; n: number };
    try {
      payload = JSON.parse(msg.payload ?? '');
    } catch {
      this.wakeAll();
      return;
    }
    let left = payload.n;
    for (let i = 0; i < this.#waiters.length && left > 0; ) {
      const w = this.#waiters[i];
      if (matches(w.filter, payload.type, payload.channel, payload.arch)) {
        this.#waiters.splice(i, 1);
        w.wake();
        left--;
      } else {
        i++;
      }
    }
  }

  wakeAll(): void {
    for (const w of this.#waiters.splice(0)) w.wake();
  }

  /**
   * Registers interest before the caller tries to dequeue, so a job that becomes ready
   * between an empty dequeue and the wait is not missed.
   */
  register(filter: JobFilter): Registration {
    let woken = false;
    let resolveWait: (() => void) | null = null;
    const waiter: Waiter = {
      filter,
      wake: () => {
        woken = true;
        resolveWait?.();
      },
    };
    this.#waiters.push(waiter);
    const remove = () => {
      const i = this.#waiters.indexOf(waiter);
      if (i >= 0) this.#waiters.splice(i, 1);
    };
    return {
      cancel: remove,
      wait: (timeoutMs, signal) =>
        new Promise<void>((resolve) => {
          if (woken || signal?.aborted) {
            remove();
            return resolve();
          }
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            remove();
            resolve();
          };
          const timer = setTimeout(done, timeoutMs);
          signal?.addEventListener('abort', done, { once: true });
          resolveWait = done;
        }),
    };
  }

  onCancel(fn: (jobId: string) => void): () => void {
    this.#cancelHandlers.add(fn);
    return () => this.#cancelHandlers.delete(fn);
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.wakeAll();
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }
}
