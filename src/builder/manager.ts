/**
 * The manager side of a jobsite: drives a remote builder (src/builder/agent.ts) through claim,
 * provision, populate, build, progress and export, and returns what runOsbuild returns, so the
 * osbuild job can run osbuild locally or on a builder with the same code after the call.
 *
 * Every exported file is hashed as it arrives and compared with the sha256 and size the
 * builder listed in kiln-export.json (the tar's first entry); a file that differs is removed
 * and the run fails. Cancel (the AbortSignal) or the timeout ends the jobsite on the builder
 * (DELETE), which kills osbuild's process group there.
 */
import { randomUUID, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { KilnError, type ErrorCode } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { serializeManifest, type Manifest } from '../osbuild/manifest.js';
import type { ProgressEvent } from '../osbuild/monitor.js';
import type { OsbuildRunResult, OsbuildStageError, RpmInfo } from '../osbuild/runner.js';
import { validator } from '../schemas.js';
import type { BuilderBuildArgs } from '../generated/builder-build.schema.js';
import type { BuilderEvent } from '../generated/builder-event.schema.js';
import type { BuilderExportHeader } from '../generated/builder-export.schema.js';
import { EXPORT_HEADER } from './protocol.js';

export interface RunOnBuilderOptions {
  /** The builder's base URL (what `kiln builder` prints). */
  url: string;
  manifest: Manifest | string;
  exportPipeline: string;
  exportFilename: string;
  /** Image, log and manifest end up here, named as runOsbuild names them. */
  outputDir: string;
  imageName?: string;
  rpmPipeline?: string;
  /**
   * Sources the builder may not fetch itself: files under `dir` laid out as osbuild's source
   * store (`<source type>/<checksum>`), sent as a tar in the populate phase. `paths` (relative
   * to dir) limits what is sent; default everything.
   */
  sources?: { dir: string; paths?: string[] };
  store?: BuilderBuildArgs['store'];
  signal?: AbortSignal;
  /** Wall-clock limit for the whole jobsite; also sent as the build's timeout. */
  timeoutMs?: number;
  /**
   * How long the builder may leave a request unanswered or a stream (progress, export) silent;
   * the builder sends progress heartbeats every 10 s. Default 60 s.
   */
  idleTimeoutMs?: number;
  /** Longest populate upload (default 1 h). */
  populateTimeoutMs?: number;
  /** The claim id (default a random UUID). */
  claimId?: string;
  onProgress?: (event: ProgressEvent) => void;
  log?: Logger;
  /** Same as log (runOsbuild's name for it), so one options object can serve both. */
  logger?: Logger;
}

interface Ctx {
  base: string;
  id: string;
  signal: AbortSignal;
  log: Logger;
  /** How long the builder may leave a request unanswered or a stream silent. */
  idleMs: number;
}

const ERROR_CODES = new Set<string>(['KILN_OSBUILD', 'KILN_OSBUILD_MISSING', 'KILN_OSBUILD_TIMEOUT', 'KILN_OSBUILD_CANCELED', 'KILN_BUILDER']);

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e?.cause;
  if (cause && (cause.code || cause.message)) return `${e.message} (${[cause.code, cause.message].filter(Boolean).join(': ')})`;
  return e?.message ?? String(err);
}

/**
 * After a broken connection: the builder's own account, when it ended our jobsite (a builder
 * answers a violation in a streamed upload by closing the connection, so the refusal itself
 * may never arrive).
 */
async function endedBecause(ctx: Ctx): Promise<string> {
  const deadline = Date.now() + 5_000;
  try {
    for (;;) {
      const res = await fetch(`${ctx.base}/status`, { signal: AbortSignal.timeout(2_000) });
      const s = (await res.json()) as { state: string; jobsite?: string; last_ended?: { jobsite: string; reason: string } };
      if (s.last_ended?.jobsite === ctx.id) return `; the builder ended the jobsite: ${s.last_ended.reason}`;
      // the connection can break before the builder has finished ending the jobsite
      if (s.jobsite !== ctx.id || Date.now() > deadline) return '';
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch {
    return '';
  }
}

/** One phase request; a refusal or a transport failure becomes KILN_BUILDER naming the phase. */
async function call(
  ctx: Ctx,
  phase: string,
  method: string,
  route: string,
  init: { json?: unknown; body?: Readable; type?: string; answerWithinMs?: number } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  let body: BodyInit | undefined;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.body) {
    headers['content-type'] = init.type ?? 'application/octet-stream';
    body = Readable.toWeb(init.body) as unknown as BodyInit;
  }
  // a builder that freezes (a stopped VM sends no RST) must not hold the manager forever: the
  // answer's headers must come within the limit; streamed bodies are watched by readIdle
  const ac = new AbortController();
  const forward = () => ac.abort(ctx.signal.reason);
  if (ctx.signal.aborted) forward();
  ctx.signal.addEventListener('abort', forward, { once: true });
  const limit = init.answerWithinMs ?? ctx.idleMs;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new Error(`no answer within ${limit} ms`));
  }, limit);
  let res: Response;
  try {
    res = await fetch(`${ctx.base}${route}`, { method, headers, body, signal: ac.signal, ...(init.body ? { duplex: 'half' } : {}) } as RequestInit);
  } catch (err) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (timedOut) {
      throw new KilnError('KILN_BUILDER', `builder ${ctx.base} did not answer ${phase} within ${limit} ms`, { cause: err, details: { phase, url: ctx.base } });
    }
    const why = phase === 'claim' ? '' : await endedBecause(ctx);
    throw new KilnError('KILN_BUILDER', `connection to the builder ${ctx.base} failed in ${phase}: ${describe(err)}${why}`, {
      cause: err,
      details: { phase, url: ctx.base, ...(why ? { ended: true } : {}) },
    });
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok) {
    const text = await Promise.race([res.text(), new Promise<string>((resolve) => setTimeout(() => resolve(''), ctx.idleMs).unref())]).catch(() => '');
    let detail: { code?: string; message?: string; ended?: boolean } = {};
    try {
      detail = JSON.parse(text);
    } catch {
      detail = { message: text.slice(0, 500) };
    }
    throw new KilnError('KILN_BUILDER', `builder refused ${phase} (HTTP ${res.status}): ${detail.message ?? res.statusText}`, {
      details: { phase, status: res.status, url: ctx.base, jobsite: ctx.id, ended: detail.ended ?? null },
    });
  }
  return res;
}

/** One read that fails when the builder sends nothing for idleMs. */
async function readIdle(reader: ReadableStreamDefaultReader<Uint8Array>, idleMs: number): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no data from the builder for ${idleMs} ms`)), idleMs);
  });
  try {
    return await Promise.race([reader.read(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

/** Splits a byte stream into lines, failing when the stream goes silent for idleMs. */
async function* lines(stream: ReadableStream<Uint8Array>, idleMs: number): AsyncGenerator<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const chunk = await readIdle(reader, idleMs);
      if (chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield line;
      }
    }
    buf += decoder.decode();
    if (buf.trim()) yield buf.trim();
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

type Final = Extract<BuilderEvent, { type: 'result' }> | Extract<BuilderEvent, { type: 'error' }>;

async function followProgress(ctx: Ctx, onProgress: RunOnBuilderOptions['onProgress']): Promise<Final> {
  const res = await call(ctx, 'progress', 'GET', `/jobsite/${ctx.id}/progress`);
  const check = validator('builder-event.schema');
  let events = 0;
  try {
    for await (const line of lines(res.body!, ctx.idleMs)) {
      let ev: unknown;
      try {
        ev = JSON.parse(line);
      } catch {
        throw new KilnError('KILN_BUILDER', `builder sent a progress line that is not JSON: ${line.slice(0, 200)}`, { details: { phase: 'progress' } });
      }
      if (!check(ev)) throw new KilnError('KILN_BUILDER', `builder sent an invalid progress line: ${line.slice(0, 200)}`, { details: { phase: 'progress' } });
      const e = ev as BuilderEvent;
      if (e.type === 'error' && e.phase !== 'build') {
        // not osbuild's failure: the builder ended the jobsite (shutdown, cancel, a timeout)
        throw new KilnError('KILN_BUILDER', `builder ${ctx.base} ended the jobsite during progress: ${e.message}`, {
          details: { phase: 'progress', url: ctx.base, ended: true },
        });
      }
      if (e.type === 'result' || e.type === 'error') return e;
      if (e.type === 'progress') {
        events++;
        const { type: _type, ...progress } = e;
        try {
          onProgress?.(progress);
        } catch (err) {
          ctx.log.warn({ err }, 'progress callback failed');
        }
      }
    }
  } catch (err) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (err instanceof KilnError) throw err;
    const why = await endedBecause(ctx);
    throw new KilnError('KILN_BUILDER', `lost the builder ${ctx.base} during progress (after ${events} events): ${describe(err)}${why}`, {
      cause: err,
      details: { phase: 'progress', url: ctx.base },
    });
  }
  if (ctx.signal.aborted) throw ctx.signal.reason;
  throw new KilnError('KILN_BUILDER', `lost the builder ${ctx.base} during progress: the stream ended before the build did (after ${events} events)`, {
    details: { phase: 'progress', url: ctx.base },
  });
}

/** Receives the export tar into outputDir, checking each file against the header. */
async function receiveExport(ctx: Ctx, outputDir: string, expected: Set<string>): Promise<BuilderExportHeader['files']> {
  const res = await call(ctx, 'export', 'GET', `/jobsite/${ctx.id}/export`);
  const checkHeader = validator('builder-export.schema');
  let header: BuilderExportHeader | undefined;
  const received = new Map<string, { sha256: string; size: number }>();
  const pending: Promise<void>[] = [];
  const partials: string[] = [];
  const seen = new Set<string>();
  const tracks: Array<{ name: string; ended: boolean; stop: () => void }> = [];
  let failure: KilnError | undefined;
  const fail = (message: string) => {
    failure ??= new KilnError('KILN_BUILDER', `export: ${message}`, { details: { phase: 'export', url: ctx.base } });
  };
  let headerSeen = false;
  const parser = new tar.Parser({
    strict: true,
    onReadEntry: (entry) => {
      const name = entry.path;
      if (failure) return entry.resume();
      if (!headerSeen) {
        headerSeen = true;
        if (name !== EXPORT_HEADER) {
          fail(`the first entry is ${JSON.stringify(name)}, not ${EXPORT_HEADER}`);
          return entry.resume();
        }
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        pending.push(
          new Promise<void>((resolve) => {
            const track = { name, ended: false, stop: () => resolve() };
            tracks.push(track);
            entry.on('end', () => {
              track.ended = true;
              try {
                const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as BuilderExportHeader;
                if (!checkHeader(doc)) throw new Error('does not match builder-export.schema');
                if (doc.jobsite !== ctx.id) throw new Error(`is for jobsite ${doc.jobsite}`);
                for (const f of doc.files) {
                  if (!expected.has(f.name)) throw new Error(`names an unexpected file ${JSON.stringify(f.name)}`);
                }
                header = doc;
              } catch (err) {
                fail(`${EXPORT_HEADER} ${(err as Error).message}`);
              }
              resolve();
            });
          }),
        );
        return;
      }
      // checked against the header once the stream is in: only the expected names are written
      if (!expected.has(name) || entry.type !== 'File' || seen.has(name)) {
        fail(`unexpected entry ${JSON.stringify(name)} (${entry.type})`);
        return entry.resume();
      }
      seen.add(name);
      const partial = path.join(outputDir, `.${name}.partial`);
      partials.push(partial);
      const hash = createHash('sha256');
      let size = 0;
      const out = createWriteStream(partial);
      const track = { name, ended: false, stop: () => out.destroy() };
      tracks.push(track);
      entry.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      entry.on('end', () => (track.ended = true));
      entry.pipe(out);
      pending.push(
        new Promise<void>((resolve) => {
          out.on('error', (err) => {
            fail(`could not write ${name}: ${err.message}`);
            resolve();
          });
          out.on('close', () => {
            if (track.ended) received.set(name, { sha256: hash.digest('hex'), size });
            resolve();
          });
        }),
      );
    },
  });
  parser.on('warn', (code: string, message: string) => fail(`bad tar stream: ${code} ${message}`));
  parser.on('error', (err: Error) => fail(`bad tar stream: ${err.message}`));
  const parsed = new Promise<void>((resolve) => {
    for (const ev of ['end', 'close', 'error', 'abort']) parser.once(ev, () => resolve());
  });
  /** Entries the stream broke off in the middle of: never complete, so stop waiting for them. */
  const abandonUnfinished = () => {
    for (const tr of tracks) {
      if (tr.ended) continue;
      fail(`the stream broke off inside ${tr.name}`);
      tr.stop();
    }
  };
  try {
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await readIdle(reader, ctx.idleMs);
      if (done) break;
      if (!parser.write(Buffer.from(value))) await Promise.race([new Promise<void>((resolve) => parser.once('drain', resolve)), parsed]);
    }
    parser.end();
    await parsed;
    abandonUnfinished();
    await Promise.all(pending);
  } catch (err) {
    abandonUnfinished();
    await Promise.allSettled(pending);
    await Promise.all(partials.map((p) => rm(p, { force: true })));
    if (ctx.signal.aborted) throw ctx.signal.reason;
    throw new KilnError('KILN_BUILDER', `lost the builder ${ctx.base} during export: ${describe(err)}`, { cause: err, details: { phase: 'export', url: ctx.base } });
  }
  if (!failure && !header) fail(`the stream had no ${EXPORT_HEADER}`);
  for (const name of received.keys()) {
    if (!header?.files.some((f) => f.name === name)) fail(`${name} sent but not listed in ${EXPORT_HEADER}`);
  }
  for (const f of header?.files ?? []) {
    if (failure) break;
    const got = received.get(f.name);
    if (!got) fail(`${f.name} listed but not sent`);
    else if (got.size !== f.size || got.sha256 !== f.sha256) {
      fail(`checksum mismatch for ${f.name}: builder listed ${f.size} bytes sha256 ${f.sha256}, received ${got.size} bytes sha256 ${got.sha256}`);
    }
  }
  if (failure) {
    await Promise.all(partials.map((p) => rm(p, { force: true })));
    throw failure;
  }
  for (const f of header!.files) await rename(path.join(outputDir, `.${f.name}.partial`), path.join(outputDir, f.name));
  return header!.files;
}

/**
 * Runs one build on a remote builder. Resolves like runOsbuild (success false when osbuild
 * reported a failed build, with the log and manifest fetched); throws KilnError:
 * KILN_BUILDER (the builder refused a phase, went away, or sent a bad export),
 * KILN_OSBUILD_CANCELED, KILN_OSBUILD_TIMEOUT, or what osbuild's run on the builder threw
 * (KILN_OSBUILD, KILN_OSBUILD_MISSING) with its log fetched into outputDir.
 */
export async function runOnBuilder(opts: RunOnBuilderOptions): Promise<OsbuildRunResult> {
  const log = (opts.log ?? opts.logger ?? silentLogger).child({ builder: opts.url });
  const imageName = opts.imageName ?? opts.exportFilename;
  if (path.basename(imageName) !== imageName || imageName === '..' || imageName === '.') {
    throw new KilnError('KILN_INTERNAL', `image name ${JSON.stringify(imageName)} must be a plain file name`);
  }
  if (opts.signal?.aborted) throw new KilnError('KILN_OSBUILD_CANCELED', 'osbuild build canceled before it started');
  const outputDir = path.resolve(opts.outputDir);
  const logPath = path.join(outputDir, `${imageName}.osbuild.log`);
  const manifestPath = path.join(outputDir, `${imageName}.manifest.json`);
  const manifestText = typeof opts.manifest === 'string' ? opts.manifest : serializeManifest(opts.manifest);
  const id = opts.claimId ?? randomUUID();

  const controller = new AbortController();
  const canceled = new KilnError('KILN_OSBUILD_CANCELED', 'osbuild build canceled', { details: { url: opts.url, jobsite: id } });
  const onAbort = () => controller.abort(canceled);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = opts.timeoutMs
    ? setTimeout(
        () => controller.abort(new KilnError('KILN_OSBUILD_TIMEOUT', `osbuild did not finish within ${opts.timeoutMs} ms on the builder`, { details: { url: opts.url, jobsite: id } })),
        opts.timeoutMs,
      )
    : undefined;
  const ctx: Ctx = { base: opts.url.replace(/\/+$/, ''), id, signal: controller.signal, log: log.child({ jobsite: id }), idleMs: opts.idleTimeoutMs ?? 60_000 };
  let claimed = false;
  let builderEnded = false;
  try {
    await mkdir(outputDir, { recursive: true });
    await call(ctx, 'claim', 'POST', '/claim', { json: { id } });
    claimed = true;
    ctx.log.info('jobsite claimed');
    await call(ctx, 'provision', 'PUT', `/jobsite/${id}/manifest`, { json: JSON.parse(manifestText) });
    if (opts.sources) {
      const pack = new tar.Pack({ cwd: opts.sources.dir, portable: true });
      for (const p of opts.sources.paths ?? ['.']) pack.add(p);
      pack.end();
      await call(ctx, 'populate', 'PUT', `/jobsite/${id}/sources`, {
        body: Readable.from(pack),
        type: 'application/x-tar',
        answerWithinMs: opts.populateTimeoutMs ?? 3_600_000,
      });
    }
    const args: BuilderBuildArgs = {
      export_pipeline: opts.exportPipeline,
      export_filename: opts.exportFilename,
      image_name: imageName,
      ...(opts.rpmPipeline ? { rpm_pipeline: opts.rpmPipeline } : {}),
      ...(opts.timeoutMs ? { timeout_seconds: Math.max(1, Math.ceil(opts.timeoutMs / 1000)) } : {}),
      ...(opts.store ? { store: opts.store } : {}),
    };
    await call(ctx, 'build', 'POST', `/jobsite/${id}/build`, { json: args });
    const final = await followProgress(ctx, opts.onProgress);
    const expected = new Set([imageName, path.basename(logPath), path.basename(manifestPath)]);
    const files = await receiveExport(ctx, outputDir, expected);
    builderEnded = true;
    ctx.log.info({ files: files.map((f) => f.name) }, 'jobsite exported');
    if (final.type === 'error') {
      const code = (ERROR_CODES.has(final.code) ? final.code : 'KILN_BUILDER') as ErrorCode;
      throw new KilnError(code, `on builder ${ctx.base}: ${final.message}`, { details: { url: ctx.base, jobsite: id, logPath, manifestPath } });
    }
    const image = files.find((f) => f.kind === 'image');
    if (final.success && !image) throw new KilnError('KILN_BUILDER', `export: the build succeeded but the builder sent no image`, { details: { phase: 'export' } });
    const result: OsbuildRunResult = {
      success: final.success,
      logPath,
      manifestPath,
      rpms: final.rpms as RpmInfo[],
      osbuildResult: final.osbuild_result as Record<string, any>,
      errors: final.errors as OsbuildStageError[],
      exitCode: final.exit_code,
    };
    if (final.success && image) {
      result.imagePath = path.join(outputDir, image.name);
      result.size = image.size;
    }
    return result;
  } catch (err) {
    const refusedEnded = err instanceof KilnError && err.details?.ended === true;
    if (claimed && !builderEnded && !refusedEnded) {
      // the builder ends the jobsite itself on a violation or a dropped stream; say so anyway,
      // so osbuild stops now and not at the builder's next phase timeout
      // the builder acts on the DELETE once it has it, whether or not we wait for its answer
      // (which comes after osbuild's group is gone); a frozen builder must not hold us long
      await fetch(`${ctx.base}/jobsite/${id}`, { method: 'DELETE', signal: AbortSignal.timeout(3_000) })
        .then((r) => r.body?.cancel())
        .catch((e) => ctx.log.warn({ err: e }, 'could not end the jobsite on the builder'));
    }
    if (controller.signal.aborted && controller.signal.reason instanceof KilnError) throw controller.signal.reason;
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
