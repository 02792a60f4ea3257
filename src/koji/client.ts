/**
 * Koji hub client: XML-RPC calls on a session (Koji-Session-* headers, increasing callnum),
 * bounded retries with backoff, session renewal, multicall, and raw upload POSTs.
 *
 * A Koji session is sequential: the hub rejects a callnum lower than one it has committed
 * (SequenceError), so this client sends one request at a time. Use one client per concurrent
 * stream of work.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, type Logger } from '../log.js';
import { KojiFault, KojiFaultCode, KojiLoginError, KojiRetryError, KojiTransportError, faultToError } from './errors.js';
import { isStreamedBody, Transport, type StreamedBody, type TlsOptions } from './transport.js';
import { XmlRpcFault, decodeResponse, encodeCall, kwargs as kw } from './xmlrpc.js';

export type KojiAuth =
  /** `login(user, password)` on the hub URL */
  | { type: 'password'; user: string; password: string }
  /** `sslLogin` at `<hub>/ssllogin` with a client certificate (mutual TLS) */
  | { type: 'ssl'; cert: string | Buffer; key: string | Buffer; passphrase?: string }
  /**
   * `sslLogin` at `<hub>/ssllogin` with `Authorization: Negotiate <token>` (Kerberos/SPNEGO).
   * `authorization` returns the header value for the hub's URL; `verify` checks the hub's
   * WWW-Authenticate reply (mutual authentication) when given.
   */
  | {
      type: 'negotiate';
      authorization: (hubUrl: URL) => Promise<string>;
      verify?: (wwwAuthenticate: string | undefined) => Promise<void>;
      /** called after each login attempt, whatever its outcome */
      release?: () => void;
    };

export interface RetryOptions {
  /** tries per request, including the first; default 5 */
  attempts?: number;
  /** first backoff delay; doubles per try, with jitter; default 1000 ms */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface KojiClientOptions {
  /** the hub's XML-RPC URL, e.g. https://koji.example.com/kojihub */
  url: string;
  auth?: KojiAuth;
  /** CA and other TLS settings for https hubs */
  tls?: Omit<TlsOptions, 'cert' | 'key' | 'passphrase'>;
  retry?: RetryOptions;
  /** per request; default 10 minutes (CGImport checksums every file on the hub) */
  timeoutMs?: number;
  log?: Logger;
}

export interface KojiSession {
  id: number;
  key: string;
  callnum: number;
}

export type MultiCallResult = { ok: true; value: unknown } | { ok: false; error: KojiFault };

interface SendOptions {
  url?: URL;
  headers?: Record<string, string>;
  contentType?: string;
  /** attach the session headers; default true */
  session?: boolean;
  /** retry LockError too (uploads, checkUpload) */
  retryLock?: boolean;
  /** tries for this request; default retry.attempts */
  attempts?: number;
  onReplyHeaders?: (headers: Record<string, string | string[] | undefined>) => Promise<void>;
}

/** One HTTP request to a hub (each try of a retried call counts), for metrics. */
export interface KojiCallEvent {
  /** the hub's XML-RPC URL */
  hub: string;
  /** XML-RPC method, or `upload` for a raw upload POST */
  method: string;
  durationMs: number;
  /** ok: a reply; fault: an XML-RPC fault; error: transport failure or HTTP error status */
  outcome: 'ok' | 'fault' | 'error';
  faultCode?: number;
  /** body bytes of an upload POST the hub accepted */
  uploadBytes?: number;
}

// Process-wide, not a client option: job handlers make a client per job (src/jobs/services.ts),
// and a metrics registry subscribes once here instead of being threaded through every caller.
const callObservers = new Set<(event: KojiCallEvent) => void>();

/** Calls `observer` after every request any KojiClient of this process makes; returns the unsubscribe. */
export function observeKojiCalls(observer: (event: KojiCallEvent) => void): () => void {
  callObservers.add(observer);
  return () => callObservers.delete(observer);
}

function emitCall(event: KojiCallEvent): void {
  for (const observer of callObservers) {
    try {
      observer(event);
    } catch {
      // an observer's failure must never fail a Koji call
    }
  }
}

const RETRY_STATUS = (s: number) => s === 408 || s === 429 || (s >= 500 && s !== 501);

/**
 * The hub could not be reached or was not serving (connection errors, timeouts, 408/429/5xx,
 * ServerOffline): what a call throws once its retries are used up during an outage, as
 * opposed to an answer (a fault, a refusal).
 */
export function isHubUnavailable(err: unknown): boolean {
  if (err instanceof KojiTransportError) return err.status === undefined || RETRY_STATUS(err.status);
  return err instanceof KojiFault && err.faultCode === KojiFaultCode.ServerOffline;
}

export class KojiClient {
  readonly url: URL;
  readonly #options: KojiClientOptions;
  readonly #transport: Transport;
  readonly #log: Logger;
  #session: KojiSession | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  #loggingIn: Promise<KojiSession> | null = null;
  #stats = { requests: 0, retries: 0, renewals: 0 };

  constructor(options: KojiClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new KojiTransportError(`invalid hub URL: ${options.url}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KojiTransportError(`hub URL must be http(s): ${options.url}`);
    this.url = url;
    this.#options = options;
    const auth = options.auth;
    this.#transport = new Transport({ ...options.tls, ...(auth?.type === 'ssl' ? { cert: auth.cert, key: auth.key, passphrase: auth.passphrase } : {}) });
    this.#log = (options.log ?? silentLogger).child({ component: 'koji', hub: url.host });
  }

  get session(): Readonly<KojiSession> | null {
    return this.#session;
  }

  get stats(): Readonly<{ requests: number; retries: number; renewals: number }> {
    return { ...this.#stats };
  }

  get retryOptions(): Required<RetryOptions> {
    return { attempts: 5, baseDelayMs: 1000, maxDelayMs: 30_000, ...this.#options.retry };
  }

  /** Logs in with the configured auth; `renew` keeps the session id and gets a new key (after AuthExpired). */
  async login(options: { renew?: boolean } = {}): Promise<KojiSession> {
    const auth = this.#options.auth;
    if (!auth) throw new KojiLoginError('no Koji credentials configured');
    const renew = options.renew === true && this.#session !== null;
    const extra = renew ? [kw({ renew: true })] : [];
    let reply: unknown;
    if (auth.type === 'password') {
      reply = await this.#send('login', [auth.user, auth.password, ...(renew ? [null, true] : [])], { session: renew });
    } else {
      if (this.url.protocol !== 'https:') throw new KojiLoginError(`sslLogin needs an https hub URL, got ${this.url.href}`);
      const sslUrl = new URL(this.url.href.replace(/\/+$/, '') + '/ssllogin');
      // A Negotiate token is good for one request (the hub's replay cache refuses it twice), so
      // each try builds a new one instead of the transport re-sending the same request.
      const tries = auth.type === 'negotiate' ? this.retryOptions.attempts : 1;
      for (let attempt = 1; ; attempt++) {
        const headers: Record<string, string> = {};
        try {
          if (auth.type === 'negotiate') headers.Authorization = await auth.authorization(sslUrl);
          reply = await this.#send('sslLogin', extra, {
            url: sslUrl,
            headers,
            session: renew,
            attempts: auth.type === 'negotiate' ? 1 : undefined,
            onReplyHeaders: auth.type === 'negotiate' && auth.verify ? (h) => auth.verify!(h['www-authenticate'] as string | undefined) : undefined,
          });
          break;
        } catch (err) {
          if (err instanceof KojiTransportError && err.status === 401) {
            throw new KojiLoginError(`${sslUrl.href} refused the ${auth.type === 'negotiate' ? 'Negotiate (Kerberos) credentials' : 'client certificate'} (HTTP 401)`, { cause: err });
          }
          const retryable = err instanceof KojiTransportError || (err instanceof KojiFault && err.faultCode === KojiFaultCode.ServerOffline);
          if (!retryable || attempt >= tries) throw err;
          this.#stats.retries++;
          await sleep(this.#backoff(attempt));
        } finally {
          if (auth.type === 'negotiate') auth.release?.();
        }
      }
    }
    const r = reply as Record<string, unknown> | null;
    if (!r || typeof r['session-id'] !== 'number' || typeof r['session-key'] !== 'string') {
      throw new KojiLoginError(`login reply has no session: ${JSON.stringify(reply)}`);
    }
    this.#session = { id: r['session-id'], key: r['session-key'], callnum: 0 };
    if (renew) this.#stats.renewals++;
    this.#log.info({ sessionId: this.#session.id, authtype: auth.type, renew }, 'koji login');
    return this.#session;
  }

  /** Closes the session on the hub; the client can log in again afterwards. */
  async logout(): Promise<void> {
    if (!this.#session) return;
    try {
      await this.#send('logout', []);
      this.#log.info({ sessionId: this.#session?.id }, 'koji logout');
    } finally {
      this.#session = null;
    }
  }

  /** Logs out (errors are logged, not thrown) and closes idle connections. */
  async close(): Promise<void> {
    await this.logout().catch((err) => this.#log.warn({ err }, 'koji logout failed'));
    this.#transport.close();
  }

  /**
   * Calls `method`; `named` become Koji keyword arguments. Logs in first when auth is configured
   * and there is no session; on AuthExpired renews the session and retries once.
   */
  async call<T = unknown>(method: string, params: unknown[] = [], named?: Record<string, unknown>): Promise<T> {
    const args = named && Object.keys(named).length ? [...params, kw(named)] : params;
    await this.#ensureSession();
    try {
      return (await this.#send(method, args)) as T;
    } catch (err) {
      if (!(err instanceof KojiFault) || err.faultCode !== KojiFaultCode.AuthExpired || !this.#options.auth) throw err;
      this.#log.info({ method, sessionId: this.#session?.id }, 'koji session expired; renewing');
      await this.login({ renew: true });
      return (await this.#send(method, args)) as T;
    }
  }

  /** Anonymous call, without session headers (e.g. getAPIVersion before login). */
  async callAnonymous<T = unknown>(method: string, params: unknown[] = []): Promise<T> {
    return (await this.#send(method, params, { session: false })) as T;
  }

  /** Koji's multiCall: one request, one hub transaction with a savepoint per call. */
  async multiCall(calls: Array<{ method: string; params?: unknown[]; kwargs?: Record<string, unknown> }>): Promise<MultiCallResult[]> {
    const payload = calls.map((c) => ({
      methodName: c.method,
      params: c.kwargs && Object.keys(c.kwargs).length ? [...(c.params ?? []), kw(c.kwargs)] : (c.params ?? []),
    }));
    const reply = await this.call<unknown[]>('multiCall', [payload]);
    if (!Array.isArray(reply) || reply.length !== calls.length) throw new KojiTransportError(`multiCall reply has ${Array.isArray(reply) ? reply.length : 'no'} results for ${calls.length} calls`);
    return reply.map((item, i) => {
      if (Array.isArray(item)) return { ok: true as const, value: item[0] };
      const f = item as { faultCode?: number; faultString?: string };
      return { ok: false as const, error: faultToError(Number(f.faultCode ?? 1), String(f.faultString ?? ''), calls[i].method) };
    });
  }

  /**
   * Raw upload POST (handle_upload): `body` goes to the hub's work area at `query`. Returns the
   * hub's reply struct. Retried like any call (same callnum), LockError included.
   */
  /** One raw upload request; a streamed body is asked for its pieces again on each try. */
  async uploadChunk(query: Record<string, string>, body: Buffer | StreamedBody): Promise<Record<string, unknown>> {
    await this.#ensureSession();
    const url = new URL(this.url.href);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const send = () => this.#send('upload', body, { url, contentType: 'application/octet-stream', retryLock: true });
    try {
      return (await send()) as Record<string, unknown>;
    } catch (err) {
      if (!(err instanceof KojiFault) || err.faultCode !== KojiFaultCode.AuthExpired || !this.#options.auth) throw err;
      await this.login({ renew: true });
      return (await send()) as Record<string, unknown>;
    }
  }

  async #ensureSession(): Promise<void> {
    if (this.#session || !this.#options.auth) return;
    this.#loggingIn ??= this.login().finally(() => {
      this.#loggingIn = null;
    });
    await this.#loggingIn;
  }

  #backoff(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.retryOptions;
    const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    return delay / 2 + Math.random() * (delay / 2);
  }

  /** One request, serialised with the others on this session; retried with the same callnum. */
  #send(method: string, params: unknown[] | Buffer | StreamedBody, options: SendOptions = {}): Promise<unknown> {
    const run = () => this.#sendNow(method, params, options);
    const p = this.#chain.then(run, run);
    this.#chain = p.catch(() => undefined);
    return p;
  }

  async #sendNow(method: string, params: unknown[] | Buffer | StreamedBody, options: SendOptions): Promise<unknown> {
    const url = options.url ?? this.url;
    const body = Buffer.isBuffer(params) || isStreamedBody(params) ? params : Buffer.from(encodeCall(method, params));
    const headers: Record<string, string> = { 'Content-Type': options.contentType ?? 'text/xml', ...options.headers };
    const session = options.session === false ? null : this.#session;
    let callnum: number | null = null;
    if (session) {
      callnum = session.callnum++;
      headers['Koji-Session-Id'] = String(session.id);
      headers['Koji-Session-Key'] = session.key;
      headers['Koji-Session-Callnum'] = String(callnum);
    }
    const attempts = options.attempts ?? this.retryOptions.attempts;
    const timeoutMs = this.#options.timeoutMs ?? 600_000;
    const log = this.#log.child({ method, callnum });
    for (let attempt = 1; ; attempt++) {
      this.#stats.requests++;
      let retryable: Error;
      const sentAt = performance.now();
      let observed = false;
      const observe = (outcome: KojiCallEvent['outcome'], faultCode?: number) => {
        if (observed || !callObservers.size) return;
        observed = true;
        emitCall({
          hub: `${this.url.origin}${this.url.pathname}`, // never credentials from the URL
          method,
          durationMs: performance.now() - sentAt,
          outcome,
          ...(faultCode !== undefined ? { faultCode } : {}),
          ...(outcome === 'ok' && method === 'upload' ? { uploadBytes: body.length } : {}),
        });
      };
      try {
        const reply = await this.#transport.post(url, headers, body, timeoutMs);
        if (reply.status !== 200) {
          const text = reply.body.toString('utf8', 0, Math.min(reply.body.length, 500)).trim();
          const err = new KojiTransportError(`koji ${method}: HTTP ${reply.status}${text ? `: ${text}` : ''}`, { status: reply.status, method });
          observe('error');
          if (!RETRY_STATUS(reply.status)) throw err;
          retryable = err;
        } else {
          if (options.onReplyHeaders) await options.onReplyHeaders(reply.headers);
          try {
            const decoded = await decodeResponse(reply.body);
            observe('ok');
            return decoded;
          } catch (err) {
            if (!(err instanceof XmlRpcFault)) {
              observe('error');
              throw new KojiTransportError(`koji ${method}: unreadable reply: ${(err as Error).message}`, { cause: err, method });
            }
            observe('fault', err.faultCode);
            const fault = faultToError(err.faultCode, err.faultString, method);
            if (fault.faultCode === KojiFaultCode.RetryError && attempt > 1) {
              // An earlier try of this very request committed; only its reply was lost.
              throw new KojiRetryError(err.faultString, { method, details: { committed: true, callnum } });
            }
            const again = fault.faultCode === KojiFaultCode.ServerOffline || (options.retryLock && fault.faultCode === KojiFaultCode.LockError);
            if (!again) throw fault;
            retryable = fault;
          }
        }
      } catch (err) {
        observe('error'); // no-op when this request was already counted (a fault, an HTTP status)
        if (!isHubUnavailable(err)) throw err;
        retryable = err as KojiTransportError;
      }
      if (attempt >= attempts) {
        log.warn({ attempt, err: retryable }, 'koji request failed; no tries left');
        throw retryable;
      }
      const delay = this.#backoff(attempt);
      this.#stats.retries++;
      log.warn({ attempt, delayMs: Math.round(delay), error: retryable.message }, 'koji request failed; retrying');
      await sleep(delay);
    }
  }
}
