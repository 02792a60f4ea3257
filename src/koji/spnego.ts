/**
 * HTTP Negotiate (SPNEGO, RFC 4559) for Koji's `/ssllogin`: the client side builds the
 * `Authorization: Negotiate <token>` header from a keytab, the server side (the test hub and
 * `kiln dev-hub`) checks one against a service keytab.
 *
 * Every GSS exchange runs in a short-lived child process with its own environment. MIT
 * Kerberos takes its configuration only from process-global variables (KRB5_CONFIG,
 * KRB5_CLIENT_KTNAME, KRB5_KTNAME, KRB5CCNAME, KRB5RCACHENAME) and the `kerberos` addon calls
 * it from libuv's thread pool, so changing `process.env` in-process would race with other
 * calls and could not give two callers two realms. A child costs about 100 ms (measured on a
 * 2-CPU VM against a loopback KDC: 99 ms to build a client token including the AS and TGS
 * exchanges, 90 ms to verify one, 1 ms for the mutual-auth step), paid once per Koji login
 * (sessions last hours), and it keeps a crash in the native code out of the service.
 * The `kerberos` package is optional (see KerberosUnavailableError): nothing here loads it
 * until a Negotiate token is made or checked.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError, KilnError } from '../errors.js';

export interface NegotiateClientOptions {
  /** GSS host-based service name of the hub's web server, e.g. `HTTP@koji.fedoraproject.org`. */
  service: string;
  /** Client keytab; credentials are acquired from it without kinit (MIT's KRB5_CLIENT_KTNAME). */
  keytab?: string;
  /** Client principal, e.g. `kiln/builder.example.test@KILN.TEST`; default: the keytab's first. */
  principal?: string;
  krb5Conf?: string;
  /**
   * Credential cache for the tickets. Default with a keytab: a MEMORY: cache private to the
   * child, so the user's default ccache is never touched (each login then costs one AS and one
   * TGS exchange). Pass a FILE: cache to reuse tickets across logins. Without a keytab the
   * inherited KRB5CCNAME (a kinit'd user's cache) is used.
   */
  ccache?: string;
  /** Require the server's reply token in `finish()` to prove the server's identity (default true). */
  mutual?: boolean;
  timeoutMs?: number;
}

export interface NegotiateServerOptions {
  /** Service keytab (e.g. holding `HTTP/hub.example.com@REALM`). */
  keytab: string;
  krb5Conf?: string;
  /** Host-based service name to accept, e.g. `HTTP@hub.example.com`; default: any key in the keytab. */
  service?: string;
  /** MIT replay cache (KRB5RCACHENAME), e.g. `file2:/var/lib/kiln/rcache`; default: MIT's. */
  replayCache?: string;
  timeoutMs?: number;
}

export interface NegotiateResult {
  /** The authenticated client principal, e.g. `kiln/builder.example.test@KILN.TEST`. */
  principal: string;
  /** Base64 token for the `WWW-Authenticate: Negotiate <token>` reply (mutual authentication). */
  responseToken?: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const SERVICE_RE = /^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+$/;
const TOKEN_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/** The GSS service name for a hub URL: `HTTP@<host>`. */
export function serviceForUrl(url: string | URL): string {
  return `HTTP@${new URL(url).hostname}`;
}

/**
 * The token of a `Negotiate` challenge or credential in a header value (`Authorization` or
 * `WWW-Authenticate`, which may list several schemes), or undefined when there is none.
 */
export function parseNegotiate(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /(?:^|,)\s*Negotiate\s+([A-Za-z0-9+/]+={0,2})\s*(?:,|$)/i.exec(header);
  return match?.[1];
}

// Runs in the child as CommonJS; argv[1] is the resolved path of the `kerberos` package.
// One JSON request per line on stdin, one JSON reply per line on stdout.
const CHILD_SCRIPT = `
'use strict';
const k = require(process.argv[1]);
let client;
async function handle(req) {
  if (req.op === 'init') {
    const flags = k.GSS_C_SEQUENCE_FLAG | (req.mutual ? k.GSS_C_MUTUAL_FLAG : 0);
    client = await k.initializeClient(req.service, { principal: req.principal || '', mechOID: k.GSS_MECH_OID_SPNEGO, flags });
    const token = await client.step('');
    return { token, complete: client.contextComplete };
  }
  if (req.op === 'step') {
    await client.step(req.token);
    return { complete: client.contextComplete, principal: client.username || undefined };
  }
  if (req.op === 'accept') {
    const server = await k.initializeServer(req.service || '');
    await server.step(req.token);
    return { complete: server.contextComplete, principal: server.username, token: server.response || undefined };
  }
  throw new Error('unknown op ' + req.op);
}
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  for (let i; (i = buf.indexOf('\\n')) >= 0; ) {
    const req = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    handle(req).then(
      (r) => process.stdout.write(JSON.stringify({ ok: true, ...r }) + '\\n'),
      (e) => process.stdout.write(JSON.stringify({ ok: false, message: String((e && e.message) || e) }) + '\\n'),
    );
  }
});
process.stdin.on('end', () => process.exit(0));
`;

/**
 * The `kerberos` package is an optional dependency: its native addon is built at install time
 * against the libkrb5 headers, and `npm ci` leaves the package out when that build fails.
 * Thrown when Kerberos is used on such a machine; the message says what to install.
 */
export class KerberosUnavailableError extends KilnError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('KILN_KOJI_AUTH', message, options);
  }
}

const KILN_DIR = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const INSTALL_HINT = 'install the Kerberos development files and a C++ toolchain (Debian/Ubuntu: apt-get install libkrb5-dev g++ make python3; Fedora/RHEL: dnf install krb5-devel gcc-c++ make python3)';

// argv[1]: the package's main file (lib/index.js). Its loader falls back to a Debug build and
// reports only that one's absence; loading the Release build directly says what is wrong.
const PROBE_SCRIPT = `
try {
  require(process.argv[1]);
} catch (err) {
  let why = err;
  try { require(require('path').join(process.argv[1], '..', '..', 'build', 'Release', 'kerberos.node')); } catch (e) { why = e; }
  process.stderr.write(String(why && why.message).split('\\n')[0]);
  process.exit(1);
}
`;

let addon: { path: string } | { error: KerberosUnavailableError } | undefined;

function probeKerberosAddon(): { path: string } | { error: KerberosUnavailableError } {
  let resolved: string;
  try {
    resolved = createRequire(import.meta.url).resolve('kerberos');
  } catch (err) {
    return {
      error: new KerberosUnavailableError(
        `Kerberos login needs the optional npm package "kerberos", which is not installed (npm leaves it out when its native addon cannot be built): ${INSTALL_HINT}, then run "npm ci" again in ${KILN_DIR}`,
        { cause: err, details: { package: 'kerberos', kilnDir: KILN_DIR } },
      ),
    };
  }
  // Loaded in a child, like every GSS call (see GssChild): the addon stays out of this process.
  const probe = spawnSync(process.execPath, ['-e', PROBE_SCRIPT, resolved], { env: childEnv({}), encoding: 'utf8', timeout: 15_000 });
  if (probe.status === 0) return { path: resolved };
  const reason = probe.stderr?.trim().split('\n')[0] || probe.error?.message || `exit ${probe.status ?? probe.signal}`;
  return {
    error: new KerberosUnavailableError(
      `Kerberos login needs the native addon of the npm package "kerberos", which does not load (${reason}): ${INSTALL_HINT}, then run "npm rebuild kerberos" in ${KILN_DIR}`,
      { details: { package: 'kerberos', kilnDir: KILN_DIR, reason } },
    ),
  };
}

/**
 * The resolved path of the `kerberos` package after checking, once per process, that its addon
 * loads; throws KerberosUnavailableError naming what to install when it does not.
 */
export function kerberosAddonPath(): string {
  addon ??= probeKerberosAddon();
  if ('error' in addon) throw addon.error;
  return addon.path;
}

interface ChildReply {
  ok: boolean;
  message?: string;
  token?: string;
  complete?: boolean;
  principal?: string;
}

/** One child process holding one GSS context; requests are strictly sequential. */
class GssChild {
  #child: ChildProcess;
  #stdout = '';
  #stderr = '';
  #waiter?: { resolve: (r: ChildReply) => void; reject: (e: Error) => void };
  #exitError?: Error;

  constructor(env: NodeJS.ProcessEnv, kerberosPath: string) {
    this.#child = spawn(process.execPath, ['-e', CHILD_SCRIPT, kerberosPath], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stdout!.setEncoding('utf8');
    this.#child.stdout!.on('data', (d: string) => {
      this.#stdout += d;
      const i = this.#stdout.indexOf('\n');
      if (i < 0) return;
      const line = this.#stdout.slice(0, i);
      this.#stdout = this.#stdout.slice(i + 1);
      const waiter = this.#waiter;
      this.#waiter = undefined;
      try {
        waiter?.resolve(JSON.parse(line) as ChildReply);
      } catch (err) {
        waiter?.reject(new Error(`bad reply from the GSS helper: ${line}`, { cause: err }));
      }
    });
    this.#child.stderr!.setEncoding('utf8');
    this.#child.stderr!.on('data', (d: string) => {
      if (this.#stderr.length < 4096) this.#stderr += d;
    });
    // EPIPE on stdin when the child died is reported through 'exit' instead.
    this.#child.stdin!.on('error', () => undefined);
    const fail = (err: Error): void => {
      this.#exitError ??= err;
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.reject(this.#exitError);
    };
    this.#child.on('error', fail);
    this.#child.on('exit', (code, signal) =>
      fail(new Error(`GSS helper exited (${signal ?? code})${this.#stderr ? `: ${this.#stderr.trim()}` : ''}`)),
    );
  }

  request(req: Record<string, unknown>, timeoutMs: number): Promise<ChildReply> {
    if (this.#exitError) return Promise.reject(this.#exitError);
    if (this.#waiter) return Promise.reject(new Error('GSS helper is busy'));
    return new Promise<ChildReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        this.#child.kill('SIGKILL');
        reject(new Error(`no answer within ${timeoutMs} ms (KDC unreachable?)`));
      }, timeoutMs);
      this.#waiter = {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.#child.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  }

  close(): void {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.stdin!.end();
    // The child exits on EOF; a wedged one (stuck in a KDC call) is killed.
    setTimeout(() => this.#child.kill('SIGKILL'), 2000).unref();
  }
}

function childEnv(vars: Record<string, string | undefined>): NodeJS.ProcessEnv {
  // Inherited so KRB5_TRACE and friends still work for debugging; NODE_OPTIONS is dropped
  // because the child is plain CommonJS and needs no loaders.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  for (const [key, value] of Object.entries(vars)) if (value !== undefined) env[key] = value;
  return env;
}

/** Fails with a KILN_KOJI_AUTH error naming the path when `keytab` cannot serve as a keytab. */
export async function checkKeytab(keytab: string, role: 'client' | 'service' = 'client'): Promise<void> {
  const typed = /^([A-Za-z0-9]+):(.*)$/.exec(keytab);
  if (typed && !['FILE', 'WRFILE'].includes(typed[1].toUpperCase())) return;
  const file = typed ? typed[2] : keytab;
  const fail = (why: string, cause?: unknown): never => {
    throw new KilnError('KILN_KOJI_AUTH', `Kerberos ${role} keytab ${file} ${why}`, {
      cause,
      details: { keytab: file },
    });
  };
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') fail('does not exist', err);
    if (code === 'EACCES') fail(`is not readable by uid ${process.getuid?.() ?? '?'}`, err);
    fail(`cannot be opened: ${(err as Error).message}`, err);
  }
  try {
    const buf = Buffer.alloc(3);
    const { bytesRead } = await handle!.read(buf, 0, 3, 0).catch((err: Error) => fail(`cannot be read: ${err.message}`, err));
    // MIT keytab files start with 0x05 then version 0x01 or 0x02; a bare header has no keys.
    if (bytesRead < 2 || buf[0] !== 0x05 || (buf[1] !== 0x01 && buf[1] !== 0x02)) fail('is not a keytab file');
    if (bytesRead < 3) fail('holds no keys');
  } finally {
    await handle!.close();
  }
}

// The addon joins GSS's major and minor texts; the major one is mostly boilerplate.
function gssMessage(message: string): string {
  return message
    .replace(/Unspecified GSS failure\.\s+Minor code may provide more information:?\s*/, '')
    .replace(/No credentials were supplied, or the credentials were unavailable or inaccessible:\s*/, '')
    .replace(/:\s*Unknown error$/, '');
}

function authError(message: string, cause: unknown, details: Record<string, unknown>): KilnError {
  return new KilnError('KILN_KOJI_AUTH', gssMessage(message), { cause, details });
}

/** A client-side Negotiate exchange in progress: send `authorization`, then `finish()` with the reply. */
export class NegotiateSession {
  readonly authorization: string;
  readonly service: string;
  #child: GssChild;
  #mutual: boolean;
  #timeoutMs: number;
  #details: Record<string, unknown>;

  private constructor(child: GssChild, token: string, opts: { service: string; mutual: boolean; timeoutMs: number; details: Record<string, unknown> }) {
    this.#child = child;
    this.authorization = `Negotiate ${token}`;
    this.service = opts.service;
    this.#mutual = opts.mutual;
    this.#timeoutMs = opts.timeoutMs;
    this.#details = opts.details;
  }

  /** Acquires credentials and builds the first token; see startNegotiate(). */
  static async start(opts: NegotiateClientOptions): Promise<NegotiateSession> {
    if (!SERVICE_RE.test(opts.service)) {
      throw new InvalidInputError('service', `${JSON.stringify(opts.service)} is not a GSS host-based service name like HTTP@hub.example.com`);
    }
    const kerberosPath = kerberosAddonPath();
    if (opts.keytab !== undefined) await checkKeytab(opts.keytab, 'client');
    const mutual = opts.mutual ?? true;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const details = { service: opts.service, principal: opts.principal, keytab: opts.keytab };
    const child = new GssChild(
      childEnv({
        KRB5_CONFIG: opts.krb5Conf,
        KRB5_CLIENT_KTNAME: opts.keytab,
        KRB5CCNAME: opts.ccache ?? (opts.keytab !== undefined ? 'MEMORY:kiln-spnego' : undefined),
      }),
      kerberosPath,
    );
    const who = opts.principal ?? (opts.keytab ? `the first principal of ${opts.keytab}` : 'the default credentials');
    let reply: ChildReply;
    try {
      reply = await child.request({ op: 'init', service: opts.service, principal: opts.principal, mutual }, timeoutMs);
    } catch (err) {
      child.close();
      throw authError(`Kerberos: could not authenticate to ${opts.service} as ${who}: ${(err as Error).message}`, err, details);
    }
    if (!reply.ok || !reply.token) {
      child.close();
      throw authError(
        `Kerberos: could not authenticate to ${opts.service} as ${who}: ${reply.message ?? 'no token produced'}`,
        undefined,
        details,
      );
    }
    return new NegotiateSession(child, reply.token, { service: opts.service, mutual, timeoutMs, details });
  }

  /**
   * Checks the server's `WWW-Authenticate: Negotiate <token>` reply (mutual authentication)
   * and closes the session. Returns the client principal the context was made for, when known.
   */
  async finish(wwwAuthenticate: string | null | undefined): Promise<{ principal?: string }> {
    try {
      const token = parseNegotiate(wwwAuthenticate);
      if (!token) {
        if (!this.#mutual) return {};
        throw authError(
          `Kerberos: ${this.service} sent no Negotiate reply token, so its identity cannot be verified`,
          undefined,
          this.#details,
        );
      }
      let reply: ChildReply;
      try {
        reply = await this.#child.request({ op: 'step', token }, this.#timeoutMs);
      } catch (err) {
        throw authError(`Kerberos: mutual authentication with ${this.service} failed: ${(err as Error).message}`, err, this.#details);
      }
      if (!reply.ok || !reply.complete) {
        throw authError(
          `Kerberos: mutual authentication with ${this.service} failed: ${reply.message ?? 'the context did not complete'}`,
          undefined,
          this.#details,
        );
      }
      return { principal: reply.principal };
    } finally {
      this.close();
    }
  }

  close(): void {
    this.#child.close();
  }
}

/** Starts a client-side exchange: acquires credentials and builds the first token. */
export function startNegotiate(opts: NegotiateClientOptions): Promise<NegotiateSession> {
  return NegotiateSession.start(opts);
}

/**
 * The value for an `Authorization` header (`Negotiate <base64>`), without checking the server's
 * reply. Use startNegotiate() + finish() to also verify the server.
 */
export async function negotiateAuthorization(opts: NegotiateClientOptions): Promise<string> {
  const session = await startNegotiate({ ...opts, mutual: false });
  session.close();
  return session.authorization;
}

/**
 * Checks an `Authorization: Negotiate <token>` header against the service keytab and returns
 * the client principal plus the reply token for `WWW-Authenticate`. Every failure is a
 * KILN_KOJI_AUTH KilnError.
 */
export async function verifyNegotiate(authorizationHeader: string, opts: NegotiateServerOptions): Promise<NegotiateResult> {
  const trimmed = authorizationHeader.trim();
  const scheme = /^Negotiate\s+(\S+)$/i.exec(trimmed);
  if (!scheme) {
    // Only a plausible scheme name goes into details; anything else may be a credential.
    const word = trimmed.split(/\s/)[0];
    throw authError('Kerberos: the Authorization header is not "Negotiate <token>"', undefined, /^[A-Za-z-]{1,20}$/.test(word) ? { scheme: word } : {});
  }
  const token = scheme[1];
  if (!TOKEN_RE.test(token) || token.length % 4 !== 0) {
    throw authError('Kerberos: the Negotiate token is not base64', undefined, {});
  }
  if (opts.service !== undefined && !SERVICE_RE.test(opts.service)) {
    throw new InvalidInputError('service', `${JSON.stringify(opts.service)} is not a GSS host-based service name like HTTP@hub.example.com`);
  }
  const kerberosPath = kerberosAddonPath();
  await checkKeytab(opts.keytab, 'service');
  const details = { keytab: opts.keytab, service: opts.service };
  const child = new GssChild(
    childEnv({
      KRB5_CONFIG: opts.krb5Conf,
      KRB5_KTNAME: opts.keytab,
      KRB5RCACHENAME: opts.replayCache,
      // The acceptor needs no ccache; this keeps it off the user's default one regardless.
      KRB5CCNAME: 'MEMORY:kiln-spnego-acceptor',
    }),
    kerberosPath,
  );
  try {
    let reply: ChildReply;
    try {
      reply = await child.request({ op: 'accept', service: opts.service, token }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    } catch (err) {
      throw authError(`Kerberos: could not check the Negotiate token: ${(err as Error).message}`, err, details);
    }
    if (!reply.ok || !reply.principal) {
      throw authError(`Kerberos: Negotiate token rejected: ${reply.message ?? 'no client principal'}`, undefined, details);
    }
    if (!reply.complete) {
      // SPNEGO with a Kerberos optimistic token completes in one round; anything else (e.g.
      // a mechanism renegotiation) is not something Koji clients do.
      throw authError('Kerberos: Negotiate token needs another round trip, which is not supported', undefined, details);
    }
    return reply.token ? { principal: reply.principal, responseToken: reply.token } : { principal: reply.principal };
  } finally {
    child.close();
  }
}
