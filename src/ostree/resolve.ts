/**
 * ostree ref resolution, as composer's ostree-resolve job does it (osbuild/images pkg/ostree):
 * GET <url>/refs/heads/<ref> answers the commit checksum the ref points at; a `mirrorlist=` URL
 * is first replaced by the first URL its mirror list names; a ref that is already a checksum
 * is taken as it is. The manifest then names the commit by checksum only, so a ref moved
 * between the request and the build cannot change what is built.
 */
import { KilnError } from '../errors.js';
import type { Logger } from '../log.js';
import { OSTREE_CHECKSUM_RE } from '../osbuild/stages/ostree.js';
import type { OstreeCommit } from '../osbuild/stages/ostree.js';

export type OstreeResolveFailure = 'not-found' | 'unreachable' | 'invalid-answer' | 'mirrorlist' | 'timeout' | 'status';

export class OstreeResolveError extends KilnError {
  readonly field: string;
  readonly reason: OstreeResolveFailure;
  constructor(field: string, what: string, reason: OstreeResolveFailure, said: string, cause?: unknown) {
    super('KILN_OSTREE_RESOLVE', `${field}: cannot resolve ${what}: ${said}`, { ...(cause !== undefined ? { cause } : {}), details: { field, reason } });
    this.field = field;
    this.reason = reason;
  }
}

export interface ResolveOptions {
  /** The request field the source came from (errors name it): ostree, ostree.parent. */
  field: string;
  signal?: AbortSignal;
  timeoutMs: number;
  log?: Logger;
}

/** A bounded GET: the body as text, or a typed error naming the field. */
async function get(url: string, opts: ResolveOptions, what: string): Promise<string> {
  if (url.startsWith('file:')) {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(new URL(url), 'utf8');
    } catch (err) {
      throw new OstreeResolveError(opts.field, what, 'not-found', `${url}: ${(err as Error).message}`, err);
    }
  }
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    if (timeout.aborted) throw new OstreeResolveError(opts.field, what, 'timeout', `${url} did not answer within ${opts.timeoutMs} ms`, err);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new OstreeResolveError(opts.field, what, 'unreachable', `${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, err);
  }
  if (res.status === 404) throw new OstreeResolveError(opts.field, what, 'not-found', `${url} answered 404 Not Found (no such ref in the repository)`);
  if (!res.ok) throw new OstreeResolveError(opts.field, what, 'status', `${url} answered ${res.status} ${res.statusText}`);
  // a ref file is 65 bytes, a mirror list a few lines: anything much bigger is not one
  const body = await res.text();
  if (body.length > 64 * 1024) throw new OstreeResolveError(opts.field, what, 'invalid-answer', `${url} answered ${body.length} bytes, not a ref`);
  return body;
}

/** The first http(s) URL a mirror list names. */
async function fromMirrorlist(list: string, opts: ResolveOptions, what: string): Promise<string> {
  const body = await get(list, opts, what);
  const first = body
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l && !l.startsWith('#'));
  if (!first) throw new OstreeResolveError(opts.field, what, 'mirrorlist', `mirror list ${list} names no URL`);
  let parsed: URL;
  try {
    parsed = new URL(first);
  } catch {
    throw new OstreeResolveError(opts.field, what, 'mirrorlist', `mirror list ${list} names ${JSON.stringify(first)}, not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new OstreeResolveError(opts.field, what, 'mirrorlist', `mirror list ${list} names ${first}, which is not http or https`);
  return first;
}

/** The commit `ref` points at in the repository at `url` (a checksum ref is returned as it is). */
export async function resolveOstreeRef(source: { url: string; ref: string }, opts: ResolveOptions): Promise<OstreeCommit> {
  const what = `ref ${JSON.stringify(source.ref)} of ${source.url}`;
  let url = source.url;
  if (url.startsWith('mirrorlist=')) url = await fromMirrorlist(url.slice('mirrorlist='.length), opts, what);
  if (OSTREE_CHECKSUM_RE.test(source.ref)) return { url, ref: source.ref, checksum: source.ref };
  const base = new URL(url);
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/refs/heads/${source.ref}`;
  const started = Date.now();
  const checksum = (await get(base.toString(), opts, what)).trim();
  if (!OSTREE_CHECKSUM_RE.test(checksum)) throw new OstreeResolveError(opts.field, what, 'invalid-answer', `${base} answered ${JSON.stringify(checksum.slice(0, 80))}, not a commit checksum`);
  opts.log?.info({ url, ref: source.ref, checksum, durationMs: Date.now() - started }, 'ostree ref resolved');
  return { url, ref: source.ref, checksum };
}
