/**
 * The remote builder: an HTTP agent that runs inside a build VM and wraps osbuild. A manager
 * (src/builder/manager.ts, on a worker) drives one jobsite at a time through its phases, in
 * lockstep:
 *
 *   claim      POST   /claim                   {id}             → 201, the builder is now busy
 *   provision  PUT    /jobsite/:id/manifest    manifest (JSON)  → 200
 *   populate   PUT    /jobsite/:id/sources     tar stream       → 200 (optional; into the source store)
 *   build      POST   /jobsite/:id/build       build arguments  → 202, osbuild started
 *   progress   GET    /jobsite/:id/progress    NDJSON stream of builder-event.schema lines until the build ends
 *   export     GET    /jobsite/:id/export      tar stream: kiln-export.json (sizes, sha256) then the artifacts
 *   (cancel)   DELETE /jobsite/:id             ends the jobsite at any phase
 *              GET    /status                  free | busy | ending
 *
 * Each phase takes only its own data, only after the phase before, and only for the claimed
 * id. Anything else — a phase out of order, a malformed or oversized body, a second claim, a
 * wrong claim id, a manager that stays silent longer than a phase allows, a progress or export
 * stream closed early — ends the jobsite: osbuild is stopped (SIGINT to its process group,
 * SIGKILL after the stop grace period), what it left on the host is removed (runOsbuild), the
 * work area is removed and the builder is free again. The error answer names the phase.
 * osbuild's store lives beside the jobsites (<work dir>/store) and outlasts them.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { access, constants as fsConstants, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import * as tar from 'tar';
import { InvalidInputError, KilnError, toKilnError } from '../errors.js';
import { createLogger, silentLogger, type Logger } from '../log.js';
import { processGroupAlive, runOsbuild, type OsbuildRunResult } from '../osbuild/runner.js';
import { removeLeftovers } from '../osbuild/leftovers.js';
import { storeArgs } from '../osbuild/store.js';
import type { ProgressEvent } from '../osbuild/monitor.js';
import { ajv, schemaDir } from '../schemas.js';
import type { BuilderBuildArgs } from '../generated/builder-build.schema.js';
import type { BuilderClaim } from '../generated/builder-claim.schema.js';
import type { BuilderError } from '../generated/builder-error.schema.js';
import type { BuilderEvent } from '../generated/builder-event.schema.js';
import type { BuilderExportHeader } from '../generated/builder-export.schema.js';
import type { BuilderStatus } from '../generated/builder-status.schema.js';
import { guardEnv, writeGuard } from './guard.js';
import { EXPORT_HEADER, type Phase } from './protocol.js';

export { EXPORT_HEADER, type Phase };

const execFileAsync = promisify(execFile);


/** Which phases may follow a completed one. populate is optional. */
const NEXT: Record<Phase, Phase[]> = {
  claim: ['provision'],
  provision: ['populate', 'build'],
  populate: ['build'],
  build: ['progress'],
  progress: ['export'],
  export: [],
};

const CLAIM_BODY_LIMIT = 4 * 1024;
const BUILD_BODY_LIMIT = 64 * 1024;
/** Progress events kept for a progress request that arrives after osbuild started. */
const EVENT_BACKLOG = 10_000;
const RECENT_ENDED = 32;

export interface BuilderLimits {
  /** Largest manifest (provision body), bytes. */
  manifestBytes: number;
  /** Largest sources tar (populate body), bytes. */
  sourcesBytes: number;
  /** How long the builder waits for the manager's next phase request before it ends the jobsite. */
  phaseTimeoutMs: number;
  /** Longest populate upload. */
  populateTimeoutMs: number;
  /** Longest osbuild run (the build's own timeout_seconds applies when lower). */
  buildTimeoutMs: number;
  /** Longest export download. */
  exportTimeoutMs: number;
  /** How long osbuild may take to stop after SIGINT before its process group is killed. */
  stopGraceMs: number;
  /** A heartbeat line on the progress stream after this much silence. */
  heartbeatMs: number;
}

export const DEFAULT_LIMITS: Readonly<BuilderLimits> = Object.freeze({
  manifestBytes: 32 * 1024 * 1024,
  sourcesBytes: 16 * 1024 * 1024 * 1024,
  phaseTimeoutMs: 120_000,
  populateTimeoutMs: 3_600_000,
  buildTimeoutMs: 6 * 3_600_000,
  exportTimeoutMs: 3_600_000,
  stopGraceMs: 30_000,
  heartbeatMs: 10_000,
});

export interface BuilderOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Jobsites live in <workDir>/jobsite-<id>/ (store, outputs); removed when they end. */
  workDir: string;
  osbuildPath?: string;
  limits?: Partial<BuilderLimits>;
  log?: Logger;
  /** osbuild's environment (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface Builder {
  url: string;
  app: FastifyInstance;
  status(): BuilderStatus;
  /** Ends any active jobsite (osbuild killed, work area removed) and stops listening. */
  close(): Promise<void>;
}

/** A refused request: its HTTP status, the phase it was for, whether it ended the jobsite. */
function refusal(status: number, phase: string | undefined, message: string, ended: boolean, jobsite?: string): KilnError {
  return new KilnError('KILN_BUILDER', message, { details: { status, ended, ...(phase ? { phase } : {}), ...(jobsite ? { jobsite } : {}) } });
}

type Outcome = { kind: 'result'; run: OsbuildRunResult; files: BuilderExportHeader['files'] } | { kind: 'error'; err: KilnError; files: BuilderExportHeader['files'] };

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}


/** The commit objects of an ostree repository (objects/xx/<rest>.commit). */
async function ostreeCommits(repo: string): Promise<string[]> {
  const objects = path.join(repo, 'objects');
  const commits: string[] = [];
  for (const prefix of await readdir(objects).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(objects, prefix)).catch(() => [] as string[])) {
      if (name.endsWith('.commit')) commits.push(prefix + name.slice(0, -'.commit'.length));
    }
  }
  return commits;
}

/**
 * Moves populated sources (<type>/<checksum>) into the store's sources; one the store has
 * already stays behind (osbuild's sources are content-addressed) and goes with the jobsite.
 * ostree commits come as one repository (org.osbuild.ostree/repo, as osbuild keeps them): into
 * a store that has one already, they are pulled (ostree verifies every object on the way).
 */
async function adoptSources(from: string, store: string): Promise<void> {
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const type = entry.name;
    const target = path.join(store, type);
    await mkdir(target, { recursive: true });
    if (type === 'org.osbuild.ostree' && existsSync(path.join(target, 'repo'))) {
      const repo = path.join(from, type, 'repo');
      const commits = await ostreeCommits(repo);
      if (commits.length) await execFileAsync('ostree', ['pull-local', `--repo=${path.join(target, 'repo')}`, repo, ...commits], { maxBuffer: 16 * 1024 * 1024 });
      continue;
    }
    for (const name of await readdir(path.join(from, type))) {
      if (!existsSync(path.join(target, name))) await rename(path.join(from, type, name), path.join(target, name));
    }
  }
}

/** One jobsite: its work area, the phase it completed, the osbuild run, the streams open on it. */
class Jobsite {
  readonly id: string;
  readonly dir: string;
  /** osbuild's store, kept between jobsites (one at a time) so checkpoints are reused. */
  readonly storeDir: string;
  /** Where populate unpacks; moved into the store once complete. */
  readonly sourcesDir: string;
  readonly outDir: string;
  readonly log: Logger;
  completed: Phase = 'claim';
  busy: Phase | undefined;
  manifest = '';
  imageName = '';
  pid: number | undefined;
  controller = new AbortController();
  run: Promise<void> | undefined;
  outcome: Outcome | undefined;
  events: BuilderEvent[] = [];
  ending: string | undefined;
  endPromise: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #listeners = new Set<() => void>();

  constructor(id: string, workDir: string, log: Logger) {
    this.id = id;
    this.dir = path.join(workDir, `jobsite-${id}`);
    this.storeDir = path.join(workDir, 'store');
    this.sourcesDir = path.join(this.dir, 'sources');
    this.outDir = path.join(this.dir, 'out');
    this.log = log.child({ jobsite: id });
  }

  get phase(): Phase {
    return this.busy ?? this.completed;
  }

  /** Ends the jobsite unless the manager's next step comes within ms. */
  arm(ms: number, onExpire: () => void): void {
    this.disarm();
    this.#timer = setTimeout(onExpire, Math.min(ms, 2 ** 31 - 1));
    this.#timer.unref();
  }

  disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  emit(event: BuilderEvent): void {
    this.events.push(event);
    if (this.events.length > EVENT_BACKLOG) this.events.splice(0, this.events.length - EVENT_BACKLOG);
    this.notify();
  }

  notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  listen(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}

class BuilderAgent {
  readonly limits: BuilderLimits;
  readonly log: Logger;
  readonly workDir: string;
  readonly osbuildPath: string;
  readonly env: NodeJS.ProcessEnv;
  guardPath = '';
  #active: Jobsite | undefined;
  #recent = new Map<string, string>();
  #lastEnded: { jobsite: string; reason: string } | undefined;

  constructor(opts: BuilderOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.log = opts.log ?? silentLogger;
    this.workDir = path.resolve(opts.workDir);
    this.osbuildPath = opts.osbuildPath ?? 'osbuild';
    this.env = opts.env ?? process.env;
  }

  status(): BuilderStatus {
    const js = this.#active;
    const last = this.#lastEnded ? { last_ended: this.#lastEnded } : {};
    if (!js) return { state: 'free', ...last };
    return { state: js.ending ? 'ending' : 'busy', jobsite: js.id, phase: js.phase, ...(js.pid ? { osbuild_pid: js.pid } : {}), ...last };
  }

  /** Ends a jobsite (idempotent): kill osbuild's group, remove the work area, free the builder. */
  end(js: Jobsite, reason: string): Promise<void> {
    js.endPromise ??= (async () => {
      js.ending = reason;
      js.disarm();
      js.log.info({ reason, phase: js.phase }, 'jobsite ending');
      js.controller.abort();
      js.notify();
      if (js.run) await js.run;
      if (js.pid !== undefined) {
        // runOsbuild waited for the group already; this covers a run that never got that far
        const deadline = Date.now() + this.limits.stopGraceMs;
        while (processGroupAlive(js.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        if (processGroupAlive(js.pid)) {
          try {
            process.kill(-js.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      await rm(js.dir, { recursive: true, force: true, maxRetries: 3 }).catch((err) => js.log.error({ err }, 'could not remove the work area'));
      if (this.#active === js) this.#active = undefined;
      this.#recent.set(js.id, reason);
      if (this.#recent.size > RECENT_ENDED) this.#recent.delete(this.#recent.keys().next().value!);
      this.#lastEnded = { jobsite: js.id, reason };
      js.log.info({ reason }, 'jobsite ended; builder free');
    })();
    return js.endPromise;
  }

  /** Ends the active jobsite, if any, for a violation; true when one was ended. */
  async violation(reason: string): Promise<boolean> {
    const js = this.#active;
    if (!js || js.ending) return false;
    await this.end(js, reason);
    return true;
  }

  async claim(body: BuilderClaim): Promise<BuilderStatus> {
    const active = this.#active;
    if (active) {
      if (active.ending) throw refusal(409, 'claim', `builder busy: jobsite ${active.id} is ending (${active.ending})`, false, active.id);
      const reason = `claim: a second claim (${body.id}) while jobsite ${active.id} is active`;
      await this.end(active, reason);
      throw refusal(409, 'claim', reason, true, active.id);
    }
    const js = new Jobsite(body.id, this.workDir, this.log);
    this.#active = js;
    try {
      await rm(js.dir, { recursive: true, force: true });
      await mkdir(js.storeDir, { recursive: true });
      await mkdir(js.sourcesDir, { recursive: true });
      await mkdir(js.outDir, { recursive: true });
    } catch (err) {
      await this.end(js, `claim: could not create the work area: ${(err as Error).message}`);
      throw err;
    }
    this.#complete(js, 'claim');
    js.log.info('jobsite claimed');
    return this.status();
  }

  /**
   * The jobsite a phase request is for, marked busy with that phase; a request for another
   * id, an ended jobsite, or a phase out of order is refused (and ends the active jobsite).
   */
  async take(id: string, phase: Phase): Promise<Jobsite> {
    const js = this.#active;
    if (!js) {
      const ended = this.#recent.get(id);
      throw refusal(409, phase, ended ? `${phase}: jobsite ${id} has ended: ${ended}` : `${phase}: no active jobsite (claim ${id} first)`, false, id);
    }
    if (js.ending) throw refusal(409, phase, `${phase}: jobsite ${js.id} is ending (${js.ending})`, false, js.id);
    if (js.id !== id) {
      const reason = `${phase}: wrong claim id ${id} (jobsite ${js.id} is active, at ${js.phase})`;
      await this.end(js, reason);
      throw refusal(409, phase, reason, true, js.id);
    }
    if (js.busy || !NEXT[js.completed].includes(phase)) {
      const at = js.busy ? `while ${js.busy} is in progress` : `after ${js.completed}`;
      const expected = js.busy ? `the end of ${js.busy}` : NEXT[js.completed].join(' or ') || 'nothing';
      const reason = `${phase}: out of order ${at} (expected ${expected})`;
      await this.end(js, reason);
      throw refusal(409, phase, reason, true, js.id);
    }
    js.busy = phase;
    js.disarm();
    return js;
  }

  #complete(js: Jobsite, phase: Phase): void {
    js.completed = phase;
    js.busy = undefined;
    if (NEXT[phase].length === 0) return;
    const ms = this.limits.phaseTimeoutMs;
    js.arm(ms, () => void this.end(js, `${NEXT[phase].join(' or ')}: the manager sent nothing within ${ms} ms after ${phase}`));
  }

  async provision(id: string, manifest: Record<string, unknown>): Promise<BuilderStatus> {
    const js = await this.take(id, 'provision');
    js.manifest = JSON.stringify(manifest);
    this.#complete(js, 'provision');
    return this.status();
  }

  async populate(id: string, request: FastifyRequest): Promise<BuilderStatus> {
    const js = await this.take(id, 'populate');
    const limit = this.limits.sourcesBytes;
    const fail = async (status: number, message: string): Promise<never> => {
      const reason = `populate: ${message}`;
      await this.end(js, reason);
      throw refusal(status, 'populate', reason, true, js.id);
    };
    const type = String(request.headers['content-type'] ?? '').split(';')[0].trim();
    if (type !== 'application/x-tar') await fail(415, `expected application/x-tar, got ${type || 'no content type'}`);
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (declared > limit) await fail(413, `${declared} bytes is more than the limit of ${limit}`);
    const ms = this.limits.populateTimeoutMs;
    js.arm(ms, () => void this.end(js, `populate: the upload did not finish within ${ms} ms`));

    // the osbuild store keeps sources under <store>/sources/<source type>/<checksum>; they are
    // unpacked in the jobsite and moved into the shared store only once the upload is complete
    const sourcesDir = js.sourcesDir;
    let bad: string | undefined;
    const unpack = new tar.Unpack({
      cwd: sourcesDir,
      strict: true,
      preservePaths: false,
      filter: (p, entry) => {
        const t = 'type' in entry ? entry.type : entry.isDirectory() ? 'Directory' : 'File';
        if (t !== 'File' && t !== 'Directory' && t !== 'OldFile') {
          bad ??= `${p}: ${t} entries are not accepted`;
          return false;
        }
        return true;
      },
    });
    const unpacked = new Promise<void>((resolve, reject) => {
      unpack.on('close', () => resolve());
      unpack.on('error', reject);
    });
    unpacked.catch(() => undefined);
    let bytes = 0;
    const body = request.body as Readable;
    // a stalled upload must not outlive its jobsite (phase timeout, cancel, shutdown)
    const unlisten = js.listen(() => {
      if (js.ending) body.destroy(new Error(js.ending));
    });
    try {
      for await (const chunk of body) {
        if (js.ending) throw new Error(js.ending);
        bytes += (chunk as Buffer).length;
        if (bytes > limit) {
          body.destroy();
          await fail(413, `more than the limit of ${limit} bytes`);
        }
        if (!unpack.write(chunk as Buffer)) await new Promise<void>((resolve) => unpack.once('drain', resolve));
      }
      unpack.end();
      await unpacked;
    } catch (err) {
      if (err instanceof KilnError) throw err;
      if (js.ending) throw refusal(409, 'populate', `populate: jobsite ${js.id} ended: ${js.ending}`, true, js.id);
      await fail(400, `the sources tar could not be unpacked: ${(err as Error).message}`);
    } finally {
      unlisten();
    }
    if (js.ending) throw refusal(409, 'populate', `populate: jobsite ${js.id} ended: ${js.ending}`, true, js.id);
    if (bad) await fail(400, bad);
    await adoptSources(sourcesDir, path.join(js.storeDir, 'sources')).catch((err: Error) => fail(500, `the sources could not be moved into the store: ${err.message}`));
    this.#complete(js, 'populate');
    return { ...this.status(), bytes };
  }

  async build(id: string, args: BuilderBuildArgs): Promise<BuilderStatus> {
    const js = await this.take(id, 'build');
    js.imageName = args.image_name ?? args.export_filename;
    const extraArgs = storeArgs(args.store);
    // setTimeout takes at most 2^31-1 ms (24.8 days); beyond that it would fire at once
    const timeoutMs = Math.min(this.limits.buildTimeoutMs, args.timeout_seconds ? args.timeout_seconds * 1000 : Infinity, 2 ** 31 - 1);
    js.run = runOsbuild({
      manifest: js.manifest,
      exportPipeline: args.export_pipeline,
      exportFilename: args.export_filename,
      outputDir: js.outDir,
      storeDir: js.storeDir,
      imageName: js.imageName,
      ...(args.rpm_pipeline ? { rpmPipeline: args.rpm_pipeline } : {}),
      osbuildPath: this.guardPath,
      env: guardEnv(this.env, this.osbuildPath, this.limits.stopGraceMs),
      extraArgs,
      signal: js.controller.signal,
      timeoutMs,
      stopGraceMs: this.limits.stopGraceMs,
      logger: js.log,
      onSpawn: (pid) => (js.pid = pid),
      onProgress: (e: ProgressEvent) => js.emit({ type: 'progress', ...e }),
    }).then(
      async (run) => {
        if (js.ending) return;
        const files = await this.#artifacts(js, run.imagePath);
        js.outcome = { kind: 'result', run, files };
        js.log.info({ success: run.success }, 'osbuild finished');
      },
      async (err) => {
        if (js.ending) return;
        const files = await this.#artifacts(js, undefined).catch(() => []);
        js.outcome = { kind: 'error', err: toKilnError(err), files };
        js.log.warn({ err }, 'osbuild run failed');
      },
    )
      .catch((err) => {
        // hashing the artifacts failed: the manager hears it as the build's error
        js.outcome ??= { kind: 'error', err: toKilnError(err), files: [] };
      })
      .finally(() => js.notify());
    this.#complete(js, 'build');
    return this.status();
  }

  async #artifacts(js: Jobsite, imagePath: string | undefined): Promise<BuilderExportHeader['files']> {
    const candidates: Array<[BuilderExportHeader['files'][number]['kind'], string]> = [
      ['image', imagePath ? path.basename(imagePath) : ''],
      ['log', `${js.imageName}.osbuild.log`],
      ['manifest', `${js.imageName}.manifest.json`],
    ];
    const files: BuilderExportHeader['files'] = [];
    for (const [kind, name] of candidates) {
      if (!name) continue;
      const file = path.join(js.outDir, name);
      if (!existsSync(file)) continue;
      const { size } = await stat(file);
      files.push({ name, kind, size, sha256: await sha256File(file) });
    }
    return files;
  }

  /** Streams progress lines until the build ends; the final line is the result or the error. */
  async progress(id: string, reply: FastifyReply): Promise<void> {
    const js = await this.take(id, 'progress');
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    let finished = false;
    let lastWrite = Date.now();
    const write = (ev: BuilderEvent) => {
      raw.write(`${JSON.stringify(ev)}\n`);
      lastWrite = Date.now();
    };
    const cleanup = () => {
      unlisten();
      clearInterval(heartbeat);
    };
    const pump = () => {
      if (finished) return;
      // one progress stream per jobsite: what it wrote is dropped from the backlog
      for (const ev of js.events) write(ev);
      js.events.length = 0;
      if (js.ending) {
        finished = true;
        cleanup();
        write({ type: 'error', code: 'KILN_BUILDER', message: `jobsite ${js.id} ended: ${js.ending}`, phase: 'progress' });
        raw.end();
        return;
      }
      const o = js.outcome;
      if (!o) return;
      finished = true;
      cleanup();
      if (o.kind === 'result') {
        write({ type: 'result', success: o.run.success, exit_code: o.run.exitCode, errors: o.run.errors, rpms: o.run.rpms, osbuild_result: o.run.osbuildResult });
      } else {
        write({ type: 'error', code: o.err.code, message: o.err.message, phase: 'build' });
      }
      this.#complete(js, 'progress');
      raw.end();
    };
    const unlisten = js.listen(pump);
    const heartbeat = setInterval(() => {
      if (Date.now() - lastWrite >= this.limits.heartbeatMs) write({ type: 'heartbeat', at: Date.now() });
    }, Math.max(50, Math.floor(this.limits.heartbeatMs / 2)));
    raw.on('close', () => {
      if (finished) return;
      finished = true;
      cleanup();
      void this.end(js, 'progress: the manager closed the progress stream before the build ended');
    });
    pump();
  }

  /** Streams the artifacts as a tar; the jobsite ends when the stream does. */
  async export(id: string, reply: FastifyReply): Promise<void> {
    const js = await this.take(id, 'export');
    const o = js.outcome!;
    const header: BuilderExportHeader = { jobsite: js.id, files: o.files };
    await writeFile(path.join(js.outDir, EXPORT_HEADER), `${JSON.stringify(header)}\n`);
    const ms = this.limits.exportTimeoutMs;
    js.arm(ms, () => void this.end(js, `export: the download did not finish within ${ms} ms`));
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'application/x-tar', 'cache-control': 'no-store' });
    const pack = new tar.Pack({ cwd: js.outDir, portable: true, noDirRecurse: true });
    const source = Readable.from(pack);
    const unlisten = js.listen(() => {
      if (js.ending) source.destroy(new Error(js.ending));
    });
    for (const name of [EXPORT_HEADER, ...o.files.map((f) => f.name)]) pack.add(name);
    pack.end();
    try {
      await pipeline(source, raw);
      unlisten();
      js.busy = undefined;
      js.completed = 'export';
      await this.end(js, 'exported');
    } catch (err) {
      unlisten();
      await this.end(js, `export: the stream broke: ${(err as Error).message}`);
    }
  }

  async cancel(id: string): Promise<BuilderStatus> {
    const js = this.#active;
    if (js && js.id === id) {
      await this.end(js, `canceled by the manager at ${js.phase}`);
      return this.status();
    }
    if (this.#recent.has(id)) return this.status();
    if (js) {
      const reason = `cancel: wrong claim id ${id} (jobsite ${js.id} is active, at ${js.phase})`;
      if (!js.ending) await this.end(js, reason);
      throw refusal(409, 'cancel', reason, true, js.id);
    }
    throw refusal(409, 'cancel', `cancel: no active jobsite (${id})`, false, id);
  }

  async shutdown(): Promise<void> {
    const js = this.#active;
    if (js) await this.end(js, 'the builder is shutting down');
  }
}

const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' } },
} as const;
const errorResponses = { '4xx': { $ref: 'builder-error.schema#' }, '5xx': { $ref: 'builder-error.schema#' } };
const statusResponse = (code: number) => ({ [code]: { $ref: 'builder-status.schema#' }, ...errorResponses });
/** Documents the streamed answers (not serialised by fastify: the handlers write them). */
const streamResponse = (type: string, schema: Record<string, unknown>) => ({ 200: { description: `a stream of ${type}`, content: { [type]: { schema } } }, ...errorResponses });

function errorBody(err: KilnError | (Error & { statusCode?: number; code?: string }), phase: string | undefined, jobsite: string | undefined, ended: boolean): BuilderError {
  return {
    code: err instanceof KilnError ? err.code : 'KILN_BUILDER',
    message: err.message,
    ...(phase ? { phase } : {}),
    ...(jobsite ? { jobsite } : {}),
    ended,
  };
}

/** Builds the builder's HTTP app (not listening). */
async function buildBuilderApp(agent: BuilderAgent): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: agent.log.child({ component: 'builder' }) as FastifyBaseLogger,
    bodyLimit: BUILD_BODY_LIMIT,
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  for (const file of readdirSync(schemaDir).filter((f) => f.startsWith('builder-') && f.endsWith('.json')).sort()) {
    app.addSchema(JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8')));
  }
  // JSON bodies are taken as they are: no coercion, no stripping of unknown fields
  app.setValidatorCompiler(({ schema }) => ajv().compile(schema));
  // the sources tar reaches the handler as a stream; its size limit is the builder's own
  app.addContentTypeParser('application/x-tar', (_request, payload, done) => done(null, payload));

  app.setErrorHandler(async (error: Error & { statusCode?: number; validation?: unknown; code?: string }, request, reply) => {
    const phase = (request.routeOptions.config as { phase?: string } | undefined)?.phase;
    const params = request.params as { id?: string } | undefined;
    if (error instanceof KilnError && error.code === 'KILN_BUILDER' && error.details?.status) {
      const d = error.details as { status: number; phase?: string; jobsite?: string; ended: boolean };
      return reply.status(d.status).send(errorBody(error, d.phase ?? phase, d.jobsite, d.ended));
    }
    // a malformed, oversized or mistyped request: the jobsite it was meant for ends here
    const status = error.validation ? 400 : error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    const message = `${phase ?? 'request'}: ${error.validation ? `invalid ${error.message}` : error.message}`;
    const ended = phase ? await agent.violation(message) : false;
    if (status >= 500) request.log.error({ err: error }, 'builder request failed');
    return reply.status(status).send(errorBody(new KilnError('KILN_BUILDER', message), phase, params?.id, ended));
  });
  app.setNotFoundHandler(async (request, reply) => {
    const route = `${request.method} ${request.url.split('?')[0]}`;
    const ours = /^\/(claim|jobsite)(\/|$)/.test(request.url);
    const ended = ours ? await agent.violation(`no route ${route}`) : false;
    return reply.status(404).send({ code: 'KILN_NOT_FOUND', message: `no route ${route}`, ended } satisfies BuilderError);
  });

  app.get('/status', { schema: { response: statusResponse(200) } }, async () => agent.status());

  app.post<{ Body: BuilderClaim }>(
    '/claim',
    { config: { phase: 'claim' }, bodyLimit: CLAIM_BODY_LIMIT, schema: { body: { $ref: 'builder-claim.schema#' }, response: statusResponse(201) } },
    async (request, reply) => reply.status(201).send(await agent.claim(request.body)),
  );

  app.put<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/jobsite/:id/manifest',
    {
      config: { phase: 'provision' },
      bodyLimit: agent.limits.manifestBytes,
      schema: { params: idParams, body: { $ref: 'builder-manifest.schema#' }, response: statusResponse(200) },
    },
    async (request) => agent.provision(request.params.id, request.body),
  );

  app.put<{ Params: { id: string } }>(
    '/jobsite/:id/sources',
    {
      config: { phase: 'populate' },
      schema: {
        params: idParams,
        headers: { type: 'object', required: ['content-type'], properties: { 'content-type': { type: 'string', pattern: '^application/x-tar' } } },
        response: statusResponse(200),
      },
    },
    async (request) => agent.populate(request.params.id, request),
  );

  app.post<{ Params: { id: string }; Body: BuilderBuildArgs }>(
    '/jobsite/:id/build',
    { config: { phase: 'build' }, schema: { params: idParams, body: { $ref: 'builder-build.schema#' }, response: statusResponse(202) } },
    async (request, reply) => reply.status(202).send(await agent.build(request.params.id, request.body)),
  );

  app.get<{ Params: { id: string } }>(
    '/jobsite/:id/progress',
    { config: { phase: 'progress' }, schema: { params: idParams, response: streamResponse('application/x-ndjson', { $ref: 'builder-event.schema#' }) } },
    async (request, reply) => agent.progress(request.params.id, reply),
  );

  app.get<{ Params: { id: string } }>(
    '/jobsite/:id/export',
    { config: { phase: 'export' }, schema: { params: idParams, response: streamResponse('application/x-tar', { type: 'string', format: 'binary' }) } },
    async (request, reply) => agent.export(request.params.id, reply),
  );

  app.delete<{ Params: { id: string } }>(
    '/jobsite/:id',
    { config: { phase: 'cancel' }, schema: { params: idParams, response: statusResponse(200) } },
    async (request) => agent.cancel(request.params.id),
  );
  return app;
}

/** Starts a builder listening on host:port (default 127.0.0.1, a free port). */
export async function startBuilder(opts: BuilderOptions): Promise<Builder> {
  const agent = new BuilderAgent(opts);
  for (const [key, value] of Object.entries(agent.limits)) {
    if (typeof value !== 'number' || !(value > 0)) throw new InvalidInputError(`limits.${key}`, `must be a positive number, got ${value}`);
  }
  if (agent.osbuildPath.includes('/')) {
    try {
      await access(agent.osbuildPath, fsConstants.X_OK);
    } catch (err) {
      throw new KilnError('KILN_OSBUILD_MISSING', `osbuild not found or not executable at ${agent.osbuildPath}`, { cause: err, details: { path: agent.osbuildPath } });
    }
  }
  await mkdir(agent.workDir, { recursive: true });
  // jobsites left by a builder that died are not anyone's any more
  for (const name of readdirSync(agent.workDir)) {
    if (name.startsWith('jobsite-')) await rm(path.join(agent.workDir, name), { recursive: true, force: true });
  }
  // and what a killed osbuild of a builder that died left in the store and on the host
  await removeLeftovers({ storeDir: path.join(agent.workDir, 'store'), before: { tmp: new Set(), stage: new Set() } }, agent.log);
  agent.guardPath = await writeGuard(agent.workDir);
  const app = await buildBuilderApp(agent);
  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new KilnError('KILN_INTERNAL', 'the builder has no TCP address');
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${addr.port}`,
    app,
    status: () => agent.status(),
    close: () =>
      (closing ??= (async () => {
        await agent.shutdown();
        await app.close();
      })()),
  };
}

export const BUILDER_USAGE = `usage: kiln builder [--listen ADDR] [--port N] --work-dir DIR [--osbuild PATH]
                    [--phase-timeout SECONDS] [--build-timeout SECONDS] [--stop-grace SECONDS]
                    [--max-manifest-bytes N] [--max-sources-bytes N] [--log-level LEVEL]

The remote builder: an HTTP agent (meant for a build VM) that runs osbuild for one jobsite at
a time, driven by a Kiln worker through claim, provision, populate, build, progress and
export. osbuild's store (<work dir>/store) is kept between jobsites, so checkpoints are
reused. Ending a jobsite stops osbuild with SIGINT (SIGKILL after --stop-grace, default 30 s),
removes what it left on the host and the jobsite's work area. Prints one JSON line with its
URL once listening; stops on SIGINT/SIGTERM, ending any jobsite.
`;

function positiveNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidInputError(flag, `must be a positive number, got ${value}`);
  return n;
}

/** `kiln builder …`: runs the builder in the foreground until SIGINT/SIGTERM. */
export async function builderCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(BUILDER_USAGE);
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      'work-dir': { type: 'string' },
      osbuild: { type: 'string', default: 'osbuild' },
      'phase-timeout': { type: 'string' },
      'build-timeout': { type: 'string' },
      'stop-grace': { type: 'string' },
      'max-manifest-bytes': { type: 'string' },
      'max-sources-bytes': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidInputError('--port', `must be a port number, got ${values.port}`);
  if (!values['work-dir']) throw new InvalidInputError('--work-dir', 'is required');
  const limits: Partial<BuilderLimits> = {};
  const phase = positiveNumber('--phase-timeout', values['phase-timeout']);
  if (phase) limits.phaseTimeoutMs = phase * 1000;
  const build = positiveNumber('--build-timeout', values['build-timeout']);
  if (build) limits.buildTimeoutMs = build * 1000;
  const grace = positiveNumber('--stop-grace', values['stop-grace']);
  if (grace) limits.stopGraceMs = grace * 1000;
  const manifestBytes = positiveNumber('--max-manifest-bytes', values['max-manifest-bytes']);
  if (manifestBytes) limits.manifestBytes = manifestBytes;
  const sourcesBytes = positiveNumber('--max-sources-bytes', values['max-sources-bytes']);
  if (sourcesBytes) limits.sourcesBytes = sourcesBytes;
  const log = createLogger({ level: values['log-level'], name: 'kiln-builder' });
  const builder = await startBuilder({ host: values.listen, port, workDir: values['work-dir'], osbuildPath: values.osbuild, limits, log });
  process.stdout.write(`${JSON.stringify({ url: builder.url, workDir: path.resolve(values['work-dir']), pid: process.pid })}\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, 'builder stopping');
  await builder.close();
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await builderCommand(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`kiln builder: ${err.message}\n`);
    return 2;
  });
}
