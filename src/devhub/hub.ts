/**
 * The dev hub: a Koji hub stand-in speaking XML-RPC over loopback HTTP (and HTTPS with client
 * certificates for sslLogin), with its data on disk. Used by the tests and shipped as
 * `kiln dev-hub`. The rules it enforces live in rules.ts; the methods in methods.ts.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, createReadStream } from 'node:fs';
import { lstat, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { silentLogger, type Logger } from '../log.js';
import { Adler32 } from '../koji/adler32.js';
import { decodeArgs, decodeCall, encodeFault, encodeResponse } from '../koji/xmlrpc.js';
import { FaultInjector, type FaultKind, type FaultOptions } from './faults.js';
import {
  FaultCode,
  HUB_VERSION,
  HubFault,
  LOGIN_METHODS,
  assertUploadLogin,
  bindArgs,
  checkCallnum,
  checkSession,
  checkUploadDestination,
  checkUploadLength,
  checkUploadOffset,
  checkUploadOwner,
  checkUploadVerify,
  genericError,
  lockError,
  parseUploadOwner,
  parseUploadQuery,
  uploadTarget,
  type VerifyType,
} from './rules.js';
import { loadTables, saveTables, type HubTables, type SessionRow, type UserRow } from './state.js';
import { methods, type CallContext, type MethodSpec } from './methods.js';
import { assertTaskUpload } from './host.js';

export type NegotiateResult = string | { principal: string; responseToken?: string };

export interface DevHubOptions {
  /** data directory (state.json, work/, packages/); created when missing */
  dir: string;
  /** 127.0.0.1 unless told otherwise */
  host?: string;
  port?: number;
  /** also serve HTTPS (sslUrl); client certificates signed by `ca` log in with sslLogin as their CN */
  tls?: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer; port?: number };
  /**
   * Kerberos hook: given an `Authorization: Negotiate ...` header sent to /ssllogin, returns the
   * client principal (and optionally a mutual-auth token for WWW-Authenticate), or throws.
   * When set, /ssllogin without a verified certificate or Negotiate header answers 401 Negotiate.
   */
  verifyNegotiate?: (authorization: string) => Promise<NegotiateResult>;
  /** SessionRenewalTimeout; default 1440 minutes */
  sessionLifetimeMs?: number;
  /** MaxRequestLength for XML-RPC bodies; default 4 MiB */
  maxRequestLength?: number;
  /** LoginCreatesUser; default true */
  loginCreatesUser?: boolean;
  /** run tagBuild tasks at once (no builder host here); default true */
  autoRunTagTasks?: boolean;
  /** hub plugins whose calls it answers: 'kiln' (koji-plugin/hub/kiln.py: host.kilnAttachImages) */
  plugins?: string[];
  faults?: FaultOptions;
  log?: Logger;
}

export interface UploadEvent {
  filepath: string;
  filename: string;
  offset: number;
  size: number;
  sessionId: number;
  callnum: number | null;
  fault?: FaultKind;
}

interface Identity {
  cn?: string;
  principal?: string;
}

const XML_HEADERS = { 'Content-Type': 'text/xml' };

function headerCallnum(req: IncomingMessage): number | null {
  const v = req.headers['koji-session-callnum'] ?? req.headers['koji-callnum'];
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : null;
}

export class DevHub {
  readonly dir: string;
  readonly workDir: string;
  readonly packagesDir: string;
  readonly options: DevHubOptions;
  /** recent upload chunks and calls (the last 50,000 to 100,000), for tests and debugging */
  readonly uploads: UploadEvent[] = [];
  readonly calls: Array<{ method: string; callnum: number | null; fault?: FaultKind }> = [];
  url = '';
  sslUrl?: string;
  offline = false;

  #tables: HubTables;
  #queue: Promise<unknown> = Promise.resolve();
  #faults?: FaultInjector;
  readonly #locks = new Map<string, number>(); // -1 exclusive, >0 shared holders
  /** upload dir → owner id, as recorded in its `.user` file (read once per dir, not per chunk) */
  readonly #dirOwners = new Map<string, number>();
  readonly #servers: http.Server[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #log: Logger;

  constructor(options: DevHubOptions) {
    this.options = options;
    this.dir = path.resolve(options.dir);
    this.workDir = path.join(this.dir, 'work');
    this.packagesDir = path.join(this.dir, 'packages');
    this.#tables = loadTables(this.dir);
    this.#log = (options.log ?? silentLogger).child({ component: 'devhub' });
    if (options.faults) this.#faults = new FaultInjector(options.faults);
  }

  get sessionLifetimeMs(): number {
    return this.options.sessionLifetimeMs ?? 1440 * 60_000;
  }

  get faultStats(): { injected: number; byKind: Partial<Record<FaultKind, number>> } {
    return { injected: this.#faults?.injected ?? 0, byKind: { ...(this.#faults?.byKind ?? {}) } };
  }

  setFaults(options: FaultOptions | null): void {
    this.#faults = options ? new FaultInjector(options) : undefined;
  }

  async start(): Promise<void> {
    await mkdir(this.workDir, { recursive: true });
    await mkdir(this.packagesDir, { recursive: true });
    const host = this.options.host ?? '127.0.0.1';
    const plain = http.createServer((req, res) => void this.#handle(req, res, false));
    this.url = `http://${host}:${await this.#listen(plain, host, this.options.port ?? 0)}/kojihub`;
    if (this.options.tls) {
      const { key, cert, ca } = this.options.tls;
      // Certificates are optional on the connection; sslLogin is what insists on one.
      const secure = https.createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: false }, (req, res) => void this.#handle(req, res, true));
      this.sslUrl = `https://${host}:${await this.#listen(secure, host, this.options.tls.port ?? 0)}/kojihub`;
    }
    this.#log.info({ url: this.url, sslUrl: this.sslUrl, dir: this.dir }, 'dev hub listening');
  }

  #listen(server: http.Server, host: string, port: number): Promise<number> {
    this.#servers.push(server);
    server.keepAliveTimeout = 30_000;
    server.requestTimeout = 0;
    const track = (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    };
    server.on('connection', track);
    server.on('secureConnection', track);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all(this.#servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await this.#queue.catch(() => undefined);
  }

  // ------------------------------------------------------------------ state

  /** A copy of the tables, for tests and admin tools. */
  tables(): HubTables {
    return structuredClone(this.#tables);
  }

  /** Runs `fn` on a copy of the tables inside the hub's lock; the copy replaces the state when fn returns. */
  transaction<T>(fn: (t: HubTables) => Promise<T> | T): Promise<T> {
    const run = async () => {
      const draft = structuredClone(this.#tables);
      const result = await fn(draft);
      this.#tables = draft;
      await saveTables(this.dir, draft);
      return result;
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(fn, fn);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  // ------------------------------------------------------------------ files

  lock(file: string, mode: 'ex' | 'sh'): () => void {
    const held = this.#locks.get(file) ?? 0;
    if (held === -1 || (mode === 'ex' && held > 0)) throw lockError();
    this.#locks.set(file, mode === 'ex' ? -1 : held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = this.#locks.get(file) ?? 0;
      if (now === -1 || now <= 1) this.#locks.delete(file);
      else this.#locks.set(file, now - 1);
    };
  }

  async digestFile(file: string, type: VerifyType, length?: number): Promise<{ hexdigest: string; length: number }> {
    const hash = type === 'adler32' ? new Adler32() : createHash(type);
    let total = 0;
    const stream = createReadStream(file, { highWaterMark: 1 << 20, ...(length !== undefined ? { end: length - 1 } : {}) });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      total += chunk.length;
    }
    return { hexdigest: hash instanceof Adler32 ? hash.hexdigest() : hash.digest('hex'), length: total };
  }

  /** get_upload_path(create=True): makes the directory and records or checks its owner. */
  async uploadPath(reldir: string, name: string, userId: number | null, create: boolean, exclusive = false): Promise<string> {
    const target = uploadTarget(reldir, name, create);
    const dir = path.join(this.workDir, target.dir);
    if (target.taskId !== undefined) {
      // only the host running the task writes there; no .user file
      const t = this.#tables;
      assertTaskUpload({ t, user: userId === null ? null : t.users[userId], exclusive }, target.taskId);
      await mkdir(dir, { recursive: true });
    } else if (create && userId !== null) {
      let owner = this.#dirOwners.get(dir) ?? null;
      if (owner === null) {
        await mkdir(dir, { recursive: true });
        const userFile = path.join(dir, '.user');
        owner = await readFile(userFile, 'utf8').then(parseUploadOwner, () => null);
        if (owner === null) await writeFile(userFile, String(userId));
        this.#dirOwners.set(dir, owner ?? userId);
      }
      checkUploadOwner(reldir, owner, userId);
    }
    return path.join(dir, target.name);
  }

  // ------------------------------------------------------------------ HTTP

  async #handle(req: IncomingMessage, res: ServerResponse, secure: boolean): Promise<void> {
    res.setHeader('Koji-Version', HUB_VERSION);
    try {
      if (req.method !== 'POST') {
        req.resume();
        res.writeHead(405, { Allow: 'POST', 'Content-Type': 'text/plain' }).end('Method Not Allowed\n');
        return;
      }
      const url = new URL(req.url ?? '/', 'http://hub');
      const contentType = String(req.headers['content-type'] ?? '');
      if (contentType.startsWith('application/octet-stream')) {
        await this.#upload(req, res, url);
        return;
      }
      await this.#xmlrpc(req, res, url, secure);
    } catch (err) {
      this.#log.error({ err }, 'dev hub request failed');
      if (!res.headersSent && !res.destroyed) res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(err));
    }
  }

  async #readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-long'> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      return 'too-long';
    }
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        req.resume();
        return 'too-long';
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  #reply(res: ServerResponse, body: string): void {
    res.writeHead(200, XML_HEADERS).end(body);
  }

  #replyFault(res: ServerResponse, err: unknown): void {
    const fault = err instanceof HubFault ? err : new HubFault(FaultCode.Generic, `<class 'Exception'>: ${(err as Error)?.message ?? String(err)}`);
    this.#reply(res, encodeFault(fault.faultCode, fault.message));
  }

  /** Applies a before-processing fault; returns true when the request is finished. */
  async #applyEarlyFault(kind: FaultKind | undefined, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (kind === 'reset') {
      req.socket.destroy();
      return true;
    }
    if (kind === 'http503') {
      req.resume();
      await new Promise((r) => (req.complete ? r(undefined) : req.once('end', r)));
      res.writeHead(503, { 'Content-Type': 'text/plain', Connection: 'close' }).end('Service Unavailable\n');
      return true;
    }
    if (kind === 'fault') {
      req.resume();
      this.#reply(res, encodeFault(FaultCode.ServerOffline, 'database outage'));
      return true;
    }
    if (kind === 'slow') await new Promise((r) => setTimeout(r, this.#faults?.options.slowMs ?? 200));
    return false;
  }

  async #identity(req: IncomingMessage, res: ServerResponse, url: URL, secure: boolean): Promise<Identity | undefined> {
    const id: Identity = {};
    if (secure) {
      const socket = req.socket as TLSSocket;
      if (socket.authorized) {
        const cn = socket.getPeerCertificate()?.subject?.CN;
        if (cn) id.cn = Array.isArray(cn) ? cn[0] : cn;
      }
    }
    if (!url.pathname.endsWith('/ssllogin') || !this.options.verifyNegotiate) return id;
    const authorization = req.headers.authorization;
    if (authorization?.startsWith('Negotiate ')) {
      try {
        const result = await this.options.verifyNegotiate(authorization);
        const { principal, responseToken } = typeof result === 'string' ? { principal: result, responseToken: undefined } : result;
        if (responseToken) res.setHeader('WWW-Authenticate', `Negotiate ${responseToken}`);
        id.principal = principal;
        return id;
      } catch (err) {
        this.#log.info({ err }, 'negotiate failed');
      }
    } else if (id.cn) {
      return id;
    }
    req.resume();
    res.writeHead(401, { 'WWW-Authenticate': 'Negotiate', 'Content-Type': 'text/plain' }).end('Unauthorized\n');
    return undefined;
  }

  /** Session data from the Koji-Session-* headers, or (for old clients) the query string. */
  #sessionArgs(req: IncomingMessage, url: URL): { id: number; key: string; callnum: number | null } | null {
    const h = req.headers;
    let id = h['koji-session-id'] as string | undefined;
    let key = h['koji-session-key'] as string | undefined;
    let callnum = (h['koji-session-callnum'] ?? h['koji-callnum']) as string | undefined;
    if (id === undefined && url.search) {
      const q = url.searchParams;
      if (!q.has('session-id')) throw new HubFault(FaultCode.AuthError, "'session-id' not specified in session args");
      if (!q.has('session-key')) throw new HubFault(FaultCode.AuthError, "'session-key' not specified in session args");
      id = q.get('session-id')!;
      key = q.get('session-key')!;
      callnum = q.get('callnum') ?? undefined;
    }
    if (id === undefined) return null;
    if (!/^\d+$/.test(id) || key === undefined) throw new HubFault(FaultCode.AuthError, `Invalid session id: ${id}`);
    if (callnum !== undefined && !/^\d+$/.test(callnum)) throw new HubFault(FaultCode.AuthError, `Invalid callnum: ${callnum}`);
    return { id: Number(id), key, callnum: callnum === undefined ? null : Number(callnum) };
  }

  /** Session.__init__: the session must exist, match, be open and (except for logins) be fresh. */
  #session(t: HubTables, args: { id: number; key: string } | null, method: string | null): { session: SessionRow; user: UserRow; exclusive: boolean } | null {
    if (!args) return null;
    const session = t.sessions[args.id];
    const user = session ? t.users[session.user_id] : undefined;
    checkSession(session, args.key, user, Date.now(), this.sessionLifetimeMs, method);
    // the user's exclusive lock: this session's, its master's, or another session's (AuthLockError)
    let exclusive = session!.exclusive === true;
    if (!exclusive) {
      const holder = Object.values(t.sessions).find((s) => s.user_id === user!.id && s.exclusive === true && !s.closed);
      if (holder && holder.id === session!.master) exclusive = true;
      else if (holder && method && !['exclusiveSession', 'login', 'logout'].includes(method)) {
        throw new HubFault(FaultCode.AuthLockError, 'User locked by another session');
      }
    }
    return { session: session!, user: user!, exclusive };
  }

  async #xmlrpc(req: IncomingMessage, res: ServerResponse, url: URL, secure: boolean): Promise<void> {
    const body = await this.#readBody(req, this.options.maxRequestLength ?? 4 * 1024 * 1024);
    if (body === 'too-long') return this.#replyFault(res, genericError('Request too long'));
    let call: { method: string; params: unknown[] };
    try {
      if (body.length === 0) throw new Error('empty request');
      call = await decodeCall(body);
    } catch (err) {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`Error parsing request: ${(err as Error).message}\n`);
      return;
    }
    const fault = this.#faults?.pick(call.method);
    if (this.calls.length >= 100_000) this.calls.splice(0, 50_000);
    this.calls.push({ method: call.method, callnum: headerCallnum(req), ...(fault ? { fault } : {}) });
    if (await this.#applyEarlyFault(fault, req, res)) return;
    if (this.offline) return this.#replyFault(res, new HubFault(FaultCode.ServerOffline, 'server is offline'));
    const identity = LOGIN_METHODS.has(call.method) ? await this.#identity(req, res, url, secure) : {};
    if (!identity) return;

    let reply: string;
    try {
      const sessionArgs = this.#sessionArgs(req, url);
      reply = await this.#exclusive(async () => {
        const draft = structuredClone(this.#tables);
        const auth = this.#session(draft, sessionArgs, call.method);
        const ctx: CallContext = {
          hub: this,
          t: draft,
          session: auth?.session ?? null,
          user: auth?.user ?? null,
          exclusive: auth?.exclusive ?? false,
          changed: false,
          identity,
          now: Date.now(),
          method: call.method,
        };
        if (auth && sessionArgs?.callnum !== null && sessionArgs?.callnum !== undefined && !LOGIN_METHODS.has(call.method)) {
          checkCallnum(auth.session.id, call.method, auth.session.callnum, sessionArgs.callnum);
        }
        const result = await this.dispatch(ctx, call.method, call.params);
        if (ctx.changed) {
          // The callnum is stored with the call's own commit, so only a committed call can be a RetryError later.
          if (auth && sessionArgs?.callnum != null && !LOGIN_METHODS.has(call.method) && draft.sessions[auth.session.id]) draft.sessions[auth.session.id].callnum = sessionArgs.callnum;
          this.#tables = draft;
          await saveTables(this.dir, draft);
        }
        return encodeResponse(result ?? null);
      });
    } catch (err) {
      if (!(err instanceof HubFault)) this.#log.error({ err, method: call.method }, 'dev hub method failed');
      else this.#log.debug({ method: call.method, faultCode: err.faultCode, fault: err.message }, 'fault');
      return this.#replyFault(res, err);
    }
    if (fault === 'drop-reply') {
      req.socket.destroy();
      return;
    }
    this.#reply(res, reply);
  }

  /** Binds Koji-style params (positional + `__starstar` kwargs) to the method's parameters and runs it. */
  async dispatch(ctx: CallContext, method: string, params: unknown[]): Promise<unknown> {
    const spec: MethodSpec | undefined = Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (!spec) throw genericError(`Invalid method: ${method}`);
    const { args, kwargs } = decodeArgs(params);
    const bound = bindArgs(method, spec, args, kwargs);
    return spec.fn(ctx, bound);
  }

  // ------------------------------------------------------------------ uploads (handle_upload)

  async #upload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const fault = this.#faults?.pick('upload');
    if (this.calls.length >= 100_000) this.calls.splice(0, 50_000);
    this.calls.push({ method: 'upload', callnum: headerCallnum(req), ...(fault ? { fault } : {}) });
    if (await this.#applyEarlyFault(fault, req, res)) return;
    let result: Record<string, unknown>;
    try {
      if (this.offline) throw new HubFault(FaultCode.ServerOffline, 'server is offline');
      const sessionArgs = this.#sessionArgs(req, url);
      const auth = this.#session(this.#tables, sessionArgs, null);
      assertUploadLogin(auth !== null);
      if (!auth) return;
      if (sessionArgs?.callnum != null) checkCallnum(auth.session.id, 'None', auth.session.callnum, sessionArgs.callnum);
      const q = parseUploadQuery(url.searchParams);
      const file = await this.uploadPath(q.filepath, q.filename, auth.user.id, true, auth.exclusive);
      checkUploadDestination(await lstat(file).catch(() => undefined), q.offset, q.overwrite, file);
      const verify = checkUploadVerify(q.verify);
      checkUploadOffset(q.offset);
      const release = this.lock(file, 'ex');
      try {
        const fh = await open(file, fsc.O_RDWR | fsc.O_CREAT, 0o666);
        try {
          let offset = q.offset;
          if (offset === -1) offset = (await fh.stat()).size;
          else if (q.overwrite) await fh.truncate(offset);
          const hash = verify === 'adler32' ? new Adler32() : createHash(verify);
          let size = 0;
          let corrupt = fault === 'corrupt-chunk';
          // Socket reads arrive in 64 KiB pieces; writing them in batches of up to 1 MiB saves fs round trips.
          let pending: Buffer[] = [];
          let pendingBytes = 0;
          const flush = async () => {
            if (pendingBytes === 0) return;
            const { bytesWritten } = await fh.writev(pending, offset + size);
            if (bytesWritten !== pendingBytes) throw new Error(`short write: ${bytesWritten} of ${pendingBytes} bytes`);
            size += pendingBytes;
            pending = [];
            pendingBytes = 0;
          };
          for await (const chunk of req as AsyncIterable<Buffer>) {
            if (corrupt && chunk.length > 0) {
              chunk[0] ^= 0xff;
              corrupt = false;
            }
            hash.update(chunk);
            pending.push(chunk);
            pendingBytes += chunk.length;
            if (pendingBytes >= 1 << 20) await flush();
          }
          await flush();
          if (!q.overwrite) {
            const end = (await fh.stat()).size;
            checkUploadLength(end, offset, size, file);
          }
          const hexdigest = hash instanceof Adler32 ? hash.hexdigest() : hash.digest('hex');
          result = { size, fileverify: verify, offset, hexdigest };
          if (this.uploads.length >= 100_000) this.uploads.splice(0, 50_000);
          this.uploads.push({ filepath: q.filepath, filename: q.filename, offset, size, sessionId: auth.session.id, callnum: sessionArgs?.callnum ?? null, ...(fault ? { fault } : {}) });
        } finally {
          await fh.close();
        }
      } finally {
        release();
      }
    } catch (err) {
      // A client that went away mid-body gets no reply; one whose body was read in full does.
      if (!req.complete && (req.destroyed || req.socket.destroyed)) return;
      // Whatever is left of the body is not ours to store; read it so the reply reaches the client.
      req.resume();
      return this.#replyFault(res, err);
    }
    if (fault === 'drop-reply') {
      req.socket.destroy();
      return;
    }
    this.#reply(res, encodeResponse(result));
  }
}
