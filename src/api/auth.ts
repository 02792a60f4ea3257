/**
 * Who may call the API (reference/composer-koji.md §1.5, koji-osbuild.md §3.3): a client
 * certificate verified by the configured CA whose name is on `api.allowed_client_names`, or an
 * `Authorization: Bearer <token>` matching a line of `api.tokens_file`. Health, readiness and
 * the OpenAPI document are public. With neither TLS nor tokens configured the API is open,
 * which `kiln serve` allows only on a loopback address (checkListenSecurity).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InvalidConfigError, KilnError } from '../errors.js';
import type { KilnConfig } from '../config/index.js';
import { API_BASE } from '../compose/index.js';

export interface AuthOptions {
  /** Bearer tokens by name; only their SHA-256 digests are kept. */
  tokens: ReadonlyMap<string, Buffer>;
  /** Client certificate names (CN or SAN DNS); `*.example.com` matches exactly one label. */
  allowedClientNames: readonly string[];
  /** Paths served without credentials (exact match, query string ignored). */
  publicPaths?: readonly string[];
}

export const PUBLIC_PATHS: readonly string[] = ['/health', '/ready', `${API_BASE}/openapi`, `${API_BASE}/openapi.json`, `${API_BASE}/errors`];
/** Paths under these are public too: the error catalogue every error body's href points into (as in osbuild-composer). */
export const PUBLIC_PREFIXES: readonly string[] = [`${API_BASE}/errors/`];

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

const TOKEN_NAME = /^[A-Za-z0-9_.@:-]{1,128}$/;
const MIN_TOKEN_LENGTH = 16;

/**
 * Parses a tokens file: one `name token` pair a line, `#` comments and blank lines ignored.
 * Errors name the file and line, never the token.
 */
export function parseTokens(text: string, file = 'api.tokens_file'): Map<string, Buffer> {
  const tokens = new Map<string, Buffer>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const parts = line.split(/\s+/);
    const where = `${file} line ${i + 1}`;
    if (parts.length !== 2) throw new InvalidConfigError('api.tokens_file', `${where}: expected "name token"`);
    const [name, token] = parts;
    if (!TOKEN_NAME.test(name)) throw new InvalidConfigError('api.tokens_file', `${where}: invalid token name ${JSON.stringify(name)}`);
    if (token.length < MIN_TOKEN_LENGTH) throw new InvalidConfigError('api.tokens_file', `${where}: token of ${name} is shorter than ${MIN_TOKEN_LENGTH} characters`);
    if (tokens.has(name)) throw new InvalidConfigError('api.tokens_file', `${where}: duplicate token name ${name}`);
    tokens.set(name, digest(token));
  });
  return tokens;
}

function readConfigFile(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidConfigError(key, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** TLS options for fastify's `https` (undefined: plain HTTP). Client certificates are asked for when api.tls_ca is set. */
export function tlsOptionsFromConfig(api: KilnConfig['api']): { key: string; cert: string; ca?: string; requestCert: boolean; rejectUnauthorized: false; minVersion: 'TLSv1.2' } | undefined {
  if (!api.tls_cert !== !api.tls_key) throw new InvalidConfigError(api.tls_cert ? 'api.tls_key' : 'api.tls_cert', 'api.tls_cert and api.tls_key go together');
  if (!api.tls_cert || !api.tls_key) {
    if (api.tls_ca) throw new InvalidConfigError('api.tls_ca', 'client certificates need HTTPS: set api.tls_cert and api.tls_key too');
    return undefined;
  }
  return {
    cert: readConfigFile('api.tls_cert', api.tls_cert),
    key: readConfigFile('api.tls_key', api.tls_key),
    ...(api.tls_ca ? { ca: readConfigFile('api.tls_ca', api.tls_ca) } : {}),
    requestCert: Boolean(api.tls_ca),
    // the handshake accepts any certificate so that a refused caller gets the cloud API's
    // error body (401/403) instead of a bare TLS alert; the hook checks `authorized`
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  };
}

/** The auth option of buildApp for this config; undefined when nothing is configured (open API). */
export function authFromConfig(api: KilnConfig['api']): AuthOptions | undefined {
  const tokens = api.tokens_file ? parseTokens(readConfigFile('api.tokens_file', api.tokens_file), api.tokens_file) : new Map<string, Buffer>();
  if (api.allowed_client_names.length && !api.tls_ca) {
    throw new InvalidConfigError('api.allowed_client_names', 'client certificate names need api.tls_ca (and api.tls_cert, api.tls_key)');
  }
  if (!api.tls_cert && !api.tokens_file) return undefined;
  if (!api.tls_ca && tokens.size === 0) {
    throw new InvalidConfigError('api', 'HTTPS without api.tls_ca and without tokens lets nobody in: set api.tls_ca with api.allowed_client_names, or api.tokens_file');
  }
  return { tokens, allowedClientNames: api.allowed_client_names };
}

export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (a === 'localhost') return true;
  if (isIP(a) === 4) return a.startsWith('127.');
  if (isIP(a) === 6) return a === '::1' || /^::ffff:127\./.test(a);
  return false;
}

/** Refuses an open API on anything but loopback; throws before anything is started. */
export function checkListenSecurity(config: Pick<KilnConfig, 'api' | 'listen'>): void {
  const { api, listen } = config;
  const configured = Boolean(api.tls_cert || api.tls_key || api.tls_ca || api.tokens_file);
  if (!configured && !isLoopback(listen.address)) {
    throw new InvalidConfigError(
      'listen.address',
      `refusing to serve the API on ${listen.address} without authentication: set api.tokens_file (bearer tokens) and/or api.tls_cert, api.tls_key, api.tls_ca with api.allowed_client_names (client certificates), or listen on a loopback address`,
    );
  }
}

/** `*.example.com` matches `a.example.com` (one label), otherwise names compare case-insensitively. */
export function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p.startsWith('*.')) {
    const rest = p.slice(1);
    return n.endsWith(rest) && n.length > rest.length && !n.slice(0, -rest.length).includes('.');
  }
  return p === n;
}

/** CN and SAN DNS names of a peer certificate, CN first. */
export function certificateNames(cert: PeerCertificate): string[] {
  const names: string[] = [];
  const cn = cert.subject?.CN as string | string[] | undefined;
  for (const c of Array.isArray(cn) ? cn : cn ? [cn] : []) names.push(c);
  for (const part of (cert.subjectaltname ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) names.push(part.slice(4));
  }
  return [...new Set(names)];
}

function bearerToken(request: FastifyRequest): string | undefined | null {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return m ? m[1] : null;
}

function tokenName(tokens: ReadonlyMap<string, Buffer>, token: string): string | undefined {
  const d = digest(token);
  let found: string | undefined;
  // compare against every token, in constant time each, so timing tells nothing about which matched
  for (const [name, expected] of tokens) if (timingSafeEqual(d, expected) && found === undefined) found = name;
  return found;
}

function unauthorized(reply: FastifyReply, message: string): KilnError {
  void reply.header('www-authenticate', 'Bearer realm="kiln"');
  return new KilnError('KILN_UNAUTHORIZED', message);
}

/**
 * The onRequest hook: sets request.kilnPrincipal or throws KILN_UNAUTHORIZED (401) /
 * KILN_FORBIDDEN (403). Errors go through the route's error handler, so the compose API answers
 * with its error body and /RPC2 with a fault.
 */
export function authHook(options: AuthOptions) {
  const publicPaths = new Set(options.publicPaths ?? PUBLIC_PATHS);
  return async function kilnAuth(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const path = request.url.split('?')[0];
    if (publicPaths.has(path) || (!options.publicPaths && PUBLIC_PREFIXES.some((p) => path.startsWith(p)))) return;
    const socket = request.raw.socket as Partial<TLSSocket>;
    let certName: string | undefined;
    let certNames: string[] = [];
    let certProblem: string | undefined;
    if (typeof socket.getPeerCertificate === 'function') {
      const peer = socket.getPeerCertificate();
      if (peer && Object.keys(peer).length) {
        if (socket.authorized) {
          certNames = certificateNames(peer);
          certName = certNames.find((n) => options.allowedClientNames.some((p) => nameMatches(p, n)));
        } else {
          certProblem = `client certificate not accepted: ${String(socket.authorizationError ?? 'not verified')}`;
        }
      }
    }
    if (certName) {
      request.kilnPrincipal = certName;
      return;
    }
    const token = bearerToken(request);
    if (token === null) throw unauthorized(reply, 'Authorization header is not "Bearer <token>"');
    if (token !== undefined) {
      const name = tokenName(options.tokens, token);
      if (!name) throw unauthorized(reply, 'bearer token not accepted');
      request.kilnPrincipal = name;
      return;
    }
    if (certNames.length) {
      throw new KilnError('KILN_FORBIDDEN', `client certificate ${certNames.join(', ')} is not allowed to use this API (api.allowed_client_names)`, {
        details: { names: certNames },
      });
    }
    throw unauthorized(reply, certProblem ?? 'authentication required: present an allowed client certificate or Authorization: Bearer <token>');
  };
}
