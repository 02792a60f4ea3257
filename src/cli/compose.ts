/**
 * `kiln compose`: a client of a Kiln API (the cloud API subset under API_BASE), for people and
 * scripts. Credentials as the API takes them: a bearer token (--token, or --token-file to keep
 * it out of the process list) or a client certificate (--cert/--key, with --ca for the
 * server's CA). Every subcommand has --json for scripts; `start --wait` follows the compose
 * until it ends and exits 0 on success, 1 on failure.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { InvalidInputError, KilnError, type ErrorCode } from '../errors.js';
import { parseBlueprint } from '../blueprint/index.js';
import { API_BASE, composeActivity } from '../compose/index.js';
import type { ComposeStatus, ImageStatus } from '../generated/compose-status.schema.js';
import type { ComposeList } from '../generated/compose-list.schema.js';
import type { Flags } from './main.js';

export const COMPOSE_USAGE = `usage: kiln compose <subcommand> [options]

subcommands:
  start FILE.json [--wait] [--blueprint BP]
                             submit a compose request (FILE "-" reads stdin); prints its id
  status ID                  the compose's status and each image's progress
  logs ID                    every job's state, error and log
  cancel ID [--reason R]     cancel a compose; prints the state it is in afterwards
  list [--page N] [--size N] composes newest first, N per page (default 20), pages from 0

options:
  --server URL         the Kiln API (default http://127.0.0.1:8700)
  --token T            bearer token (or --token-file FILE, which keeps it out of ps)
  --cert F --key F     client certificate and key (PEM)
  --ca F               CA bundle for the server's certificate
  --json               print the API's JSON, for scripts
  --wait               (start) follow the compose until it ends: exit 0 on success, 1 on failure
  --blueprint BP       (start) an image-builder blueprint file (TOML, or JSON) for every image: it
                       becomes the request's blueprint (its name defaults to the file's)
  --interval SECONDS   (start --wait) poll interval, default 2
`;

export const COMPOSE_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  json: { type: 'boolean' },
  wait: { type: 'boolean' },
  interval: { type: 'string' },
  blueprint: { type: 'string' },
  reason: { type: 'string' },
  page: { type: 'string' },
  size: { type: 'string' },
} as const;

class UsageError extends Error {}

/** An error answer of the API, with the cloud API error body's code and reason. */
export class ApiError extends KilnError {
  constructor(
    readonly status: number,
    body: { code?: string; reason?: string } | undefined,
    text: string,
  ) {
    const code = (typeof body?.code === 'string' && body.code.startsWith('KILN_') ? body.code : 'KILN_INTERNAL') as ErrorCode;
    super(code, `HTTP ${status}: ${body?.reason ?? (text.slice(0, 200) || 'no body')}${body?.code ? ` (${body.code})` : ''}`);
  }
}

interface Credentials {
  token?: string;
  cert?: string;
  key?: string;
  ca?: string;
}

function readFlagFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${file}: ${(err as Error).message}`);
  }
}

export class ApiClient {
  readonly #base: URL;
  readonly #creds: Credentials;

  constructor(server: string, creds: Credentials) {
    let base: URL;
    try {
      base = new URL(server);
    } catch {
      throw new UsageError(`--server: ${JSON.stringify(server)} is not a URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new UsageError('--server: must be an http:// or https:// URL');
    if ((creds.cert || creds.key || creds.ca) && base.protocol !== 'https:') throw new UsageError('--cert/--key/--ca need an https:// server');
    this.#base = base;
    this.#creds = creds;
  }

  request<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(`${this.#base.pathname.replace(/\/+$/, '')}${API_BASE}${path}`, this.#base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (this.#creds.token) headers.authorization = `Bearer ${this.#creds.token}`;
    const options: RequestOptions & { ca?: string; cert?: string; key?: string } = { method, headers, timeout: 60_000 };
    if (this.#creds.ca) options.ca = this.#creds.ca;
    if (this.#creds.cert) options.cert = this.#creds.cert;
    if (this.#creds.key) options.key = this.#creds.key;
    return new Promise<T>((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return reject(new ApiError(status, parsed, text));
          if (parsed === undefined) return reject(new KilnError('KILN_INTERNAL', `${method} ${url.pathname}: the answer is not JSON`));
          resolve(parsed as T);
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => reject(new KilnError('KILN_INTERNAL', `cannot reach ${this.#base.origin}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }
}

function clientFrom(flags: Flags): ApiClient {
  const str = (k: string) => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
  if (str('token') && str('token-file')) throw new UsageError('give --token or --token-file, not both');
  if (!str('cert') !== !str('key')) throw new UsageError('--cert and --key go together');
  const token = str('token') ?? (str('token-file') ? readFlagFile('token-file', str('token-file')!).trim() : undefined);
  return new ApiClient(str('server') ?? 'http://127.0.0.1:8700', {
    token,
    cert: str('cert') && readFlagFile('cert', str('cert')!),
    key: str('key') && readFlagFile('key', str('key')!),
    ca: str('ca') && readFlagFile('ca', str('ca')!),
  });
}

function intFlag(flags: Flags, name: string, min: number, max: number): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`--${name}: must be an integer from ${min} to ${max}`);
  return n;
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const printJson = (v: unknown) => out(JSON.stringify(v, null, 2));

interface ImageLabel {
  arch?: string;
  image_type?: string;
}

/** One image's line: `[0] x86_64 guest-image  building  3/10  stage message`. */
export function imageLine(i: number, image: ImageStatus, label: ImageLabel = {}): string {
  const parts = [`[${i}]`];
  if (label.arch) parts.push(label.arch);
  if (label.image_type) parts.push(label.image_type);
  parts.push(image.status);
  const p = image.progress;
  if (p) {
    parts.push(`${p.done}/${p.total}`);
    const msg = p.subprogress?.message ?? p.message;
    if (msg) parts.push(msg);
    if (p.subprogress && !p.subprogress.message) parts.push(`(${p.subprogress.done}/${p.subprogress.total})`);
  }
  if (image.error) parts.push(`error: ${image.error.reason}`);
  return parts.join('  ');
}

/** The compose line says what it is doing (its images' activity while the API status is pending), then one line per image. */
function statusLines(s: ComposeStatus, labels: ImageLabel[]): string[] {
  const koji = [s.koji_status.task_id !== undefined ? `task ${s.koji_status.task_id}` : '', s.koji_status.build_id ? `build ${s.koji_status.build_id}` : ''].filter(Boolean).join(', ');
  return [
    `compose ${s.id}: ${composeActivity(s)}${s.reason ? ` (${s.reason})` : ''}${koji ? `  [koji ${koji}]` : ''}`,
    ...s.image_statuses.map((img, i) => `  ${imageLine(i, img, labels[i])}`),
  ];
}

async function labelsOf(client: ApiClient, id: string): Promise<ImageLabel[]> {
  try {
    const logs = await client.request<{ image_builds?: ImageLabel[] }>('GET', `/composes/${encodeURIComponent(id)}/logs`);
    return (logs.image_builds ?? []).map((b) => ({ arch: b.arch, image_type: b.image_type }));
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FINAL = new Set(['success', 'failure']);

/** Polls until the compose ends; a live block of lines on a TTY, plain lines on change otherwise. */
async function waitFor(client: ApiClient, id: string, intervalMs: number, json: boolean): Promise<number> {
  const labels = await labelsOf(client, id);
  const tty = Boolean(process.stdout.isTTY) && !json;
  const started = Date.now();
  let drawn = 0;
  let last: string[] = [];
  let lastPrint = 0;
  for (;;) {
    const status = await client.request<ComposeStatus>('GET', `/composes/${encodeURIComponent(id)}`);
    const done = FINAL.has(status.status);
    if (!json) {
      const lines = statusLines(status, labels);
      if (tty) {
        const elapsed = Math.round((Date.now() - started) / 1000);
        const block = [`${lines[0]}  ${Math.floor(elapsed / 60)}m${String(elapsed % 60).padStart(2, '0')}s`, ...lines.slice(1)];
        // move up over the previous block and redraw it in place
        process.stdout.write(`${drawn ? `\x1b[${drawn}F` : ''}\x1b[J${block.map((l) => l.slice(0, (process.stdout.columns || 200) - 1)).join('\n')}\n`);
        drawn = block.length;
      } else if (lines.join('\n') !== last.join('\n') || Date.now() - lastPrint >= 30_000) {
        const stamp = new Date().toISOString().slice(11, 19);
        // plain lines: the compose line, then only the images whose line changed (all of them every 30 s)
        const changed = lines.filter((l, i) => i === 0 || l !== last[i] || Date.now() - lastPrint >= 30_000);
        for (const l of changed) out(`${stamp} ${l.trimStart()}`);
        last = lines;
        lastPrint = Date.now();
      }
    }
    if (done) {
      if (json) printJson(status);
      if (status.status === 'success') {
        if (!json) out(`compose ${id} succeeded${status.koji_status.build_id ? ` (koji build ${status.koji_status.build_id})` : ''}`);
        return 0;
      }
      process.stderr.write(`kiln compose: compose ${id} failed: ${status.reason ?? 'failed'}\n`);
      return 1;
    }
    await sleep(intervalMs);
  }
}

/**
 * What a cancel did, from the status it answers: a compose that had ended is as it was; one
 * still pending has had its unfinished jobs canceled and ends once koji-finalize has refunded
 * the Koji build as CANCELED.
 */
export function cancelSummary(s: ComposeStatus): string {
  if (s.status === 'success') return `compose ${s.id} had already succeeded${s.koji_status.build_id ? ` (koji build ${s.koji_status.build_id})` : ''}: not canceled`;
  if (s.status === 'failure') return `compose ${s.id} has ended: ${s.reason ?? 'failed'}`;
  const build = s.koji_status.build_id ? `koji build ${s.koji_status.build_id}` : 'its Koji reservation (if any)';
  return `compose ${s.id} is being canceled: it stays pending until ${build} is refunded as CANCELED`;
}

function jobText(name: string, job: Record<string, any> | undefined): string[] {
  if (!job) return [];
  const lines = [`    ${name}: ${job.state}${job.attempts ? ` (attempt ${job.attempts}${job.worker ? ` on ${job.worker}` : ''})` : ''}`];
  if (job.error) lines.push(`      error: ${job.error.code}: ${job.error.message}`);
  if (typeof job.log === 'string' && job.log) lines.push(...job.log.replace(/\n$/, '').split('\n').map((l: string) => `      | ${l}`));
  return lines;
}

function readRequest(file: string): unknown {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFlagFile('FILE', file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The request with `--blueprint FILE` as its blueprint: TOML or JSON (by the file's extension,
 * else its first character), checked as the API checks a blueprint; errors name the file and field.
 */
export function withBlueprintFile(body: unknown, file: string): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new UsageError('--blueprint: the request is not a JSON object');
  const request = body as Record<string, unknown>;
  for (const other of ['blueprint', 'customizations']) {
    if (request[other] !== undefined) throw new UsageError(`--blueprint: the request already has ${other}; give one of them`);
  }
  const text = readFlagFile('blueprint', file);
  const ext = path.extname(file).toLowerCase();
  let blueprint;
  try {
    blueprint = parseBlueprint(text, ext === '.toml' ? 'toml' : ext === '.json' ? 'json' : undefined, 'blueprint');
  } catch (err) {
    if (err instanceof InvalidInputError) throw new KilnError('KILN_INVALID_INPUT', `--blueprint ${file}: ${err.message}`, { cause: err, details: err.details });
    throw err;
  }
  // composer's Blueprint needs a name; image-builder's files often have none
  return { ...request, blueprint: { ...blueprint, name: blueprint.name || path.basename(file, ext) || 'blueprint' } };
}

function positionals(flags: Flags): string[] {
  return Array.isArray(flags._) ? (flags._ as string[]) : [];
}

function expectArgs(args: string[], n: number, what: string): void {
  if (args.length !== n) throw new UsageError(`expected ${what}`);
}

/** `kiln compose …`; flags._ holds the positionals (subcommand first). */
export async function composeCommand(flags: Flags): Promise<number> {
  const [sub, ...args] = positionals(flags);
  const json = Boolean(flags.json);
  try {
    if (!sub) throw new UsageError('a subcommand is required');
    if (flags.wait && sub !== 'start') throw new UsageError('--wait goes with start');
    if (flags.reason !== undefined && sub !== 'cancel') throw new UsageError('--reason goes with cancel');
    if (flags.blueprint !== undefined && sub !== 'start') throw new UsageError('--blueprint goes with start');
    switch (sub) {
      case 'start': {
        expectArgs(args, 1, 'start FILE.json');
        const intervalSec = flags.interval === undefined ? 2 : Number(flags.interval);
        if (!(intervalSec >= 0.05 && intervalSec <= 3600)) throw new UsageError('--interval: must be a number of seconds from 0.05 to 3600');
        const request = readRequest(args[0]);
        const body = typeof flags.blueprint === 'string' ? withBlueprintFile(request, flags.blueprint) : request;
        const client = clientFrom(flags);
        const created = await client.request<{ id: string }>('POST', '/compose', body);
        if (!flags.wait) {
          if (json) printJson(created);
          else out(created.id);
          return 0;
        }
        if (!json) out(`compose ${created.id} created`);
        return await waitFor(client, created.id, intervalSec * 1000, json);
      }
      case 'status': {
        expectArgs(args, 1, 'status ID');
        const client = clientFrom(flags);
        const status = await client.request<ComposeStatus>('GET', `/composes/${encodeURIComponent(args[0])}`);
        if (json) printJson(status);
        else out(statusLines(status, await labelsOf(client, args[0])).join('\n'));
        return 0;
      }
      case 'logs': {
        expectArgs(args, 1, 'logs ID');
        const logs = await clientFrom(flags).request<Record<string, any>>('GET', `/composes/${encodeURIComponent(args[0])}/logs`);
        if (json) printJson(logs);
        else {
          const lines: string[] = [`compose ${args[0]}`];
          (logs.image_builds ?? []).forEach((b: Record<string, any>, i: number) => {
            lines.push(`  [${i}] ${b.arch ?? ''} ${b.image_type ?? ''}`.trimEnd(), ...jobText('depsolve', b.depsolve), ...jobText('osbuild', b.osbuild));
          });
          lines.push('  koji', ...jobText('init', logs.koji?.init), ...jobText('import', logs.koji?.import));
          out(lines.join('\n'));
        }
        return 0;
      }
      case 'cancel': {
        expectArgs(args, 1, 'cancel ID');
        if (flags.reason !== undefined && (typeof flags.reason !== 'string' || !flags.reason)) throw new UsageError('--reason: must not be empty');
        const client = clientFrom(flags);
        const status = await client.request<ComposeStatus>('POST', `/composes/${encodeURIComponent(args[0])}/cancel`, flags.reason ? { reason: flags.reason } : {});
        if (json) printJson(status);
        else out([cancelSummary(status), ...statusLines(status, await labelsOf(client, status.id))].join('\n'));
        // a compose that had already succeeded was not canceled: say so in the exit code too
        return status.status === 'success' ? 1 : 0;
      }
      case 'list': {
        expectArgs(args, 0, 'list takes no arguments');
        const size = intFlag(flags, 'size', 1, 100) ?? 20;
        const pageNo = intFlag(flags, 'page', 0, 1_000_000) ?? 0;
        const page = await clientFrom(flags).request<ComposeList>('GET', `/composes/?page=${pageNo}&size=${size}`);
        if (json) printJson(page);
        else {
          const rows = [['ID', 'STATUS', 'KOJI TASK', 'CREATED'], ...page.items.map((c) => [c.id, composeActivity(c), String(c.koji_status.task_id ?? ''), c.created_at ?? ''])];
          const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
          out(rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n'));
          const first = pageNo * size;
          out(page.items.length ? `(${first + 1}–${first + page.items.length} of ${page.total}, page ${pageNo})` : `(none on page ${pageNo}; ${page.total} in all)`);
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`kiln compose: ${err.message}\n\n${COMPOSE_USAGE}`);
      return 2;
    }
    throw err;
  }
}
