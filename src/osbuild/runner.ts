import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, createWriteStream, existsSync, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { access, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { KilnError } from '../errors.js';
import { diskStep, freeBytes, isDiskFullError, makeDiskFullError, mentionsDiskFull } from './disk.js';
import { silentLogger, type Logger } from '../log.js';
import { serializeManifest, type Manifest } from './manifest.js';
import { JsonSeqParser, MonitorState, type ProgressEvent } from './monitor.js';
import { listStore, removeLeftovers, removeStaleRunDirs } from './leftovers.js';

export interface RunOsbuildOptions {
  manifest: Manifest | string;
  /** Pipeline to export (the image type's exports[0]). */
  exportPipeline: string;
  /** File the export pipeline writes (the image type's filename). */
  exportFilename: string;
  /** `<outputsRoot>/<compose-id>/<image-build-id>/`; image, log and manifest end up here. */
  outputDir: string;
  /** osbuild's object store (sources cache). */
  storeDir: string;
  /** The image is renamed to this (the Koji file name); log and manifest are named after it. */
  imageName?: string;
  /** Pipeline whose org.osbuild.rpm metadata is the image's RPM list (default `os`). */
  rpmPipeline?: string;
  osbuildPath?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Wall-clock limit for the whole build. */
  timeoutMs?: number;
  /** How long osbuild may take to stop after SIGINT before its process group is killed (default 30 s). */
  stopGraceMs?: number;
  onProgress?: (event: ProgressEvent) => void;
  /** Called once the process is running; its pid is also its process group id. */
  onSpawn?: (pid: number) => void;
  logger?: Logger;
  /** The directory a disk-full error names (Kiln's state directory); default the output directory. */
  stateDir?: string;
}

export interface RpmInfo {
  name: string;
  epoch: string | null;
  version: string;
  release: string;
  arch: string;
  sigmd5?: string | null;
  [key: string]: unknown;
}

export interface OsbuildStageError {
  pipeline?: string;
  stage?: string;
  id?: string;
  message: string;
}

export interface OsbuildRunResult {
  success: boolean;
  /** Absent when the build failed. */
  imagePath?: string;
  size?: number;
  logPath: string;
  manifestPath: string;
  rpms: RpmInfo[];
  /** osbuild's `--json` result, as printed. */
  osbuildResult: Record<string, any>;
  errors: OsbuildStageError[];
  exitCode: number | null;
  /** Set when the build failed for lack of disk space (osbuild said so, or its log could not be written). */
  diskFull?: { dir: string; freeBytes?: number; path?: string };
}

const STDERR_TAIL = 64 * 1024;
const STREAM_DRAIN_MS = 5_000;

function tail(s: string, n: number): string {
  return s.length <= n ? s : s.slice(s.length - n);
}

/**
 * Whether any live process is left in the group. kill(-pgid, 0) also counts zombies (children
 * reparented to an init that does not reap), so on Linux /proc decides.
 */
export function processGroupAlive(pgid: number): boolean {
  if (existsSync('/proc/self/stat')) {
    for (const name of readdirSync('/proc')) {
      if (name.charCodeAt(0) > 57) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
      } catch {
        // exited meanwhile
      }
    }
    return false;
  }
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

async function groupGone(pgid: number, deadline: number): Promise<void> {
  while (processGroupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** osbuild's run directory as root (main_cli.py _default_rundir). */
const OSBUILD_RUNDIR = '/run/osbuild';

/**
 * `unshare … sh -c SCRIPT kiln-osbuild <rundir> <own rundir> osbuild …`: osbuild in a mount
 * namespace of its own, so that every mount it makes goes when its last process does, however
 * it ends; and a run directory of its own bound over /run/osbuild, with the host's
 * /run/osbuild/locks bound back into it (the host's udev rules read osbuild's inhibitor locks
 * there). osbuild's pid is unshare's: both exec.
 */
const NAMESPACE_ARGS = [
  '--mount',
  '--propagation',
  'private',
  '--',
  '/bin/sh',
  '-c',
  'set -e; run=$1; own=$2; shift 2; mkdir -p "$run/locks" "$own/locks"; mount --bind "$run/locks" "$own/locks"; mount --rbind "$own" "$run"; exec "$@"',
  'kiln-osbuild',
];

let namespaceProbe: Promise<boolean> | undefined;
/** Whether osbuild can run in a mount namespace here: root, and allowed to make one (tried once). */
function mountNamespaceWorks(log: Logger): Promise<boolean> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return Promise.resolve(false);
  namespaceProbe ??= (async () => {
    const own = path.join(OSBUILD_RUNDIR, `kiln-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await new Promise<void>((resolve, reject) =>
        execFile('unshare', [...NAMESPACE_ARGS, OSBUILD_RUNDIR, own, 'true'], { timeout: 10_000 }, (err) => (err ? reject(err) : resolve())),
      );
      await removeStaleRunDirs(OSBUILD_RUNDIR, log).catch(() => undefined);
      return true;
    } catch (err) {
      log.warn({ err }, 'cannot run osbuild in a mount namespace of its own; a killed osbuild may leave mounts that Kiln must find');
      return false;
    } finally {
      await rm(own, { recursive: true, force: true }).catch(() => undefined);
    }
  })();
  return namespaceProbe;
}

/** Whether binary names an executable file (a bare name is looked up in PATH). */
async function executable(binary: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const candidates = binary.includes('/') ? [binary] : (env.PATH ?? '').split(':').filter(Boolean).map((d) => path.join(d, binary));
  for (const c of candidates) {
    try {
      await access(c, fsConstants.X_OK);
      if ((await stat(c)).isFile()) return true;
    } catch {
      // next
    }
  }
  return false;
}

function writeLog(stream: WriteStream, text: string): void {
  // after a write error (a full disk) the stream is destroyed; what osbuild says still reaches
  // the error through its stderr tail
  if (text && !stream.destroyed && !stream.errored) stream.write(text);
}

/**
 * Runs `osbuild --export <pipeline> --output-directory <dir> --store <store> --json
 * --monitor=JSONSeqMonitor --monitor-fd=3 -` with the manifest on stdin, in its own process
 * group (as root, in a mount namespace and with a run directory of its own). Cancel and the
 * timeout stop it with SIGINT (SIGKILL after stopGraceMs); whatever ended it, what it left on
 * the host is then removed (leftovers.ts). Resolves with `success: false` when osbuild ran and reported a failed build (exit
 * 1/2 with a JSON result); throws KilnError for everything else: KILN_OSBUILD_MISSING,
 * KILN_OSBUILD_TIMEOUT, KILN_OSBUILD_CANCELED, KILN_OSBUILD (no parsable result, no image).
 */
export async function runOsbuild(opts: RunOsbuildOptions): Promise<OsbuildRunResult> {
  const log = opts.logger ?? silentLogger;
  const binary = opts.osbuildPath ?? 'osbuild';
  const imageName = opts.imageName ?? opts.exportFilename;
  const outputDir = path.resolve(opts.outputDir);
  const exportRoot = path.join(outputDir, 'osbuild-export');
  const logPath = path.join(outputDir, `${imageName}.osbuild.log`);
  const manifestPath = path.join(outputDir, `${imageName}.manifest.json`);
  const manifestText = typeof opts.manifest === 'string' ? opts.manifest : serializeManifest(opts.manifest);
  const graceMs = opts.stopGraceMs ?? 30_000;

  if (path.basename(imageName) !== imageName || imageName === '..' || imageName === '.') {
    throw new KilnError('KILN_INTERNAL', `image name ${JSON.stringify(imageName)} must be a plain file name`);
  }
  if (opts.signal?.aborted) throw new KilnError('KILN_OSBUILD_CANCELED', 'osbuild build canceled before it started');
  const stateDir = opts.stateDir ?? outputDir;
  await diskStep(stateDir, 'create the output directory', outputDir, () => mkdir(outputDir, { recursive: true }));
  await diskStep(stateDir, 'create the osbuild store', opts.storeDir, () => mkdir(opts.storeDir, { recursive: true }));
  await rm(exportRoot, { recursive: true, force: true });
  await diskStep(stateDir, 'write the manifest', manifestPath, () => writeFile(manifestPath, `${JSON.stringify(JSON.parse(manifestText), null, 2)}\n`));

  const args = [
    '--export', opts.exportPipeline,
    '--output-directory', exportRoot,
    '--store', path.resolve(opts.storeDir),
    '--json',
    '--monitor=JSONSeqMonitor',
    '--monitor-fd=3',
    ...(opts.extraArgs ?? []),
    '-',
  ];
  const logStream = createWriteStream(logPath);
  const logClosed = new Promise<void>((resolve) => logStream.on('close', () => resolve()));
  // a write error (ENOSPC) must not become an uncaught 'error' event: it fails the build below
  let logError: NodeJS.ErrnoException | undefined;
  logStream.on('error', (err: NodeJS.ErrnoException) => {
    logError ??= err;
    log.warn({ err, logPath }, 'writing the osbuild log failed');
  });
  writeLog(logStream, `$ ${binary} ${args.join(' ')}\n`);

  const env = opts.env ?? process.env;
  const isolated = (opts.extraArgs ?? []).some((a) => a === '--rundir' || a.startsWith('--rundir=')) ? false : await mountNamespaceWorks(log);
  // in a namespace of its own, osbuild gets a run directory of its own too (see leftovers.ts)
  const ownRunDir = isolated ? path.join(OSBUILD_RUNDIR, `kiln-${process.pid}-${randomBytes(4).toString('hex')}`) : undefined;
  const sharedRunDir = !isolated && process.getuid?.() === 0 ? OSBUILD_RUNDIR : undefined;
  if (isolated && !(await executable(binary, env))) {
    logStream.end();
    await logClosed;
    throw new KilnError('KILN_OSBUILD_MISSING', `osbuild not found or not executable at ${binary} (ENOENT)`, { details: { path: binary } });
  }
  const before = await listStore(opts.storeDir, sharedRunDir);
  const [command, commandArgs] = isolated ? ['unshare', [...NAMESPACE_ARGS, OSBUILD_RUNDIR, ownRunDir!, binary, ...args]] : [binary, args];
  const child = spawn(command, commandArgs, {
    cwd: outputDir,
    env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });

  let stdout = '';
  let stderrTail = '';
  const parser = new JsonSeqParser();
  const state = new MonitorState();
  let lastStageFailure: OsbuildStageError | undefined;
  const loopsAcquired = new Set<string>();
  const onRecords = (records: ReturnType<JsonSeqParser['push']>) => {
    for (const rec of records) {
      const r = state.interpret(rec);
      writeLog(logStream, r.logText);
      // osbuild's loopback service says which loop devices this build holds (see leftovers.ts)
      const acquired = /\(org\.osbuild\.loopback\): (loop\d+) acquired/.exec(rec.message ?? '');
      if (acquired) loopsAcquired.add(acquired[1]);
      if (rec.result && rec.result.success === false) {
        lastStageFailure = {
          ...(r.pipeline ? { pipeline: r.pipeline } : {}),
          ...(rec.result.name ? { stage: rec.result.name } : {}),
          ...(rec.result.id ? { id: rec.result.id } : {}),
          message: tail(rec.result.output ?? '', 4096),
        };
      }
      if (r.progress && opts.onProgress) {
        try {
          opts.onProgress(r.progress);
        } catch (err) {
          log.warn({ err }, 'osbuild progress callback failed');
        }
      }
    }
  };

  type Ending = { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null } | { kind: 'spawn-error'; err: NodeJS.ErrnoException };
  let abortReason: 'canceled' | 'timeout' | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  let stopDeadline = 0;
  let killed = false;
  // SIGINT, to the group as a terminal's Ctrl-C: osbuild's KeyboardInterrupt undoes its mounts,
  // loop devices and directories (its services ignore SIGINT so that it stops them in order;
  // bwrap and the stage die at once). SIGTERM would kill osbuild on the spot and leave them.
  const stop = (reason: 'canceled' | 'timeout') => {
    if (abortReason || child.pid === undefined) return;
    abortReason = reason;
    stopDeadline = Date.now() + graceMs;
    log.info({ pid: child.pid, reason, graceMs }, 'stopping osbuild (SIGINT)');
    killGroup(child.pid, 'SIGINT');
    killTimer = setTimeout(() => {
      killed = true;
      log.warn({ pid: child.pid, graceMs }, 'osbuild did not stop within the grace period after SIGINT; killing its process group');
      killGroup(child.pid!, 'SIGKILL');
    }, graceMs);
  };
  const onAbort = () => stop('canceled');

  const monitorStream = child.stdio[3] as Readable | null;
  const streamsDone = Promise.all(
    [child.stdout, child.stderr, monitorStream].map(
      (s) => new Promise<void>((resolve) => (s ? (s.on('close', () => resolve()), s.on('error', () => resolve())) : resolve())),
    ),
  );
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderrTail = tail(stderrTail + d, STDERR_TAIL);
    writeLog(logStream, d);
  });
  monitorStream?.on('data', (d: Buffer) => onRecords(parser.push(d)));
  monitorStream?.on('end', () => onRecords(parser.end()));

  const ending = await new Promise<Ending>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => resolve({ kind: 'spawn-error', err }));
    child.once('spawn', () => {
      opts.onSpawn?.(child.pid!);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.signal?.aborted) onAbort();
      if (opts.timeoutMs) timeoutTimer = setTimeout(() => stop('timeout'), opts.timeoutMs);
      child.stdin!.on('error', () => undefined); // EPIPE when osbuild exits before reading it all
      child.stdin!.end(manifestText);
    });
    child.once('exit', (code, signal) => resolve({ kind: 'exit', code, signal }));
  });
  opts.signal?.removeEventListener('abort', onAbort);
  if (timeoutTimer) clearTimeout(timeoutTimer);

  if (ending.kind === 'spawn-error') {
    logStream.end();
    await logClosed;
    const code = ending.err.code;
    if (code === 'ENOENT' || code === 'EACCES') {
      throw new KilnError('KILN_OSBUILD_MISSING', `osbuild not found or not executable at ${binary} (${code})`, {
        cause: ending.err,
        details: { path: binary },
      });
    }
    throw new KilnError('KILN_OSBUILD', `could not start osbuild at ${binary}: ${ending.err.message}`, { cause: ending.err, details: { path: binary } });
  }

  const pgid = child.pid!;
  if (abortReason) {
    // osbuild may be gone while its services still tear down: wait for the whole group within
    // the grace period, then kill what is left
    await groupGone(pgid, stopDeadline);
    if (processGroupAlive(pgid)) {
      if (!killed) log.warn({ pid: pgid, graceMs }, 'osbuild exited but its process group did not within the grace period; killing it');
      killed = true;
      killGroup(pgid, 'SIGKILL');
    }
  }
  if (killTimer) clearTimeout(killTimer);
  // A leftover process of the group can hold stdout or fd 3 open after osbuild itself exited;
  // give the pipes a moment, then kill the group and stop reading.
  let drainTimer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    streamsDone.then(() => true),
    new Promise<boolean>((resolve) => (drainTimer = setTimeout(() => resolve(false), STREAM_DRAIN_MS))),
  ]);
  clearTimeout(drainTimer);
  if (!drained) {
    log.warn({ pid: pgid }, 'osbuild exited but its output pipes stayed open; killing its process group');
    killGroup(pgid, 'SIGKILL');
    for (const s of [child.stdout, child.stderr, monitorStream]) s?.destroy();
  }
  // a crashed osbuild's services end once they see it gone; what outlives the grace period is killed
  await groupGone(pgid, Date.now() + (killed ? 5_000 : graceMs));
  if (processGroupAlive(pgid)) {
    log.warn({ pid: pgid, graceMs }, 'processes of osbuild outlived it by the grace period; killing its process group');
    killGroup(pgid, 'SIGKILL');
    await groupGone(pgid, Date.now() + 5_000);
  }
  writeLog(logStream, `osbuild exited with ${ending.code ?? ending.signal}\n`);
  try {
    const cleaned = await removeLeftovers({ storeDir: opts.storeDir, outputDir, ownRunDir, sharedRunDir, before, loopsAcquired, endedAt: Date.now() }, log);
    if (cleaned.mounts.length || cleaned.loops.length || cleaned.dirs.length || cleaned.locks.length) {
      writeLog(
        logStream,
        `kiln removed what osbuild left: ${[...cleaned.mounts.map((m) => `mount ${m}`), ...cleaned.loops.map((l) => `loop device ${l}`), ...cleaned.dirs, ...cleaned.locks].join(', ')}\n`,
      );
    }
    if (cleaned.left.length) writeLog(logStream, `kiln left: ${cleaned.left.join(', ')}\n`);
  } catch (err) {
    log.error({ err, storeDir: opts.storeDir }, 'could not check for what osbuild left on the host');
  }

  if (abortReason) {
    logStream.end();
    await logClosed;
    const details = { logPath, manifestPath, pid: child.pid };
    if (abortReason === 'timeout') throw new KilnError('KILN_OSBUILD_TIMEOUT', `osbuild did not finish within ${opts.timeoutMs} ms`, { details });
    throw new KilnError('KILN_OSBUILD_CANCELED', 'osbuild build canceled', { details });
  }

  let result: Record<string, any> | undefined;
  try {
    const parsed = JSON.parse(stdout);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) result = parsed;
  } catch {
    // handled below
  }
  if (!result) {
    logStream.end();
    await logClosed;
    if (mentionsDiskFull(stderrTail) || isDiskFullError(logError)) {
      const osbuildSaid = lastLines(stderrTail, 5);
      throw makeDiskFullError(logError, {
        dir: stateDir,
        what: `osbuild exited with ${ending.code ?? ending.signal} and no JSON result`,
        freeBytes: await freeBytes(outputDir),
        ...(osbuildSaid ? { message: osbuildSaid } : logError ? { message: `cannot write ${logPath}` } : {}),
      });
    }
    if (logError) throw logWriteError(logError, logPath);
    // osbuild prints its own refusals (an unknown export, a checkpoint that matches nothing) on
    // stdout, and an exception's traceback on stderr: its last lines name the cause
    // stderr: a traceback's last line is the exception; otherwise the last few lines
    const said = [tail(stdout, 2000).trim(), lastLines(stderrTail, /^Traceback \(most recent call last\):/m.test(stderrTail) ? 1 : 5)].filter(Boolean).join('\n');
    throw new KilnError('KILN_OSBUILD', `osbuild exited with ${ending.code ?? ending.signal} and no JSON result: ${said || '(it printed nothing)'}`, {
      details: { exitCode: ending.code, signal: ending.signal, logPath, stdout: tail(stdout, 8192), stderr: tail(stderrTail, 8192) },
    });
  }

  const errors = resultErrors(result, lastStageFailure);
  const rpms = rpmList(result, opts.rpmPipeline ?? 'os');
  const base: OsbuildRunResult = { success: false, logPath, manifestPath, rpms, osbuildResult: result, errors, exitCode: ending.code };
  if (result.success !== true) {
    writeLog(logStream, errors.map((e) => `error${e.stage ? ` in ${e.stage}` : ''}${e.pipeline ? ` (pipeline ${e.pipeline})` : ''}: ${e.message}\n`).join(''));
    logStream.end();
    await logClosed;
    if (isDiskFullError(logError) || mentionsDiskFull(stderrTail) || errors.some((e) => mentionsDiskFull(e.message))) {
      // measured before the caller cleans up: what osbuild found
      base.diskFull = { dir: stateDir, freeBytes: await freeBytes(outputDir), ...(logError ? { path: logPath } : {}) };
    }
    return base;
  }
  logStream.end();
  await logClosed;
  if (logError) {
    // the image may be fine, but its build log (uploaded to Koji with it) is cut short
    throw isDiskFullError(logError)
      ? makeDiskFullError(logError, { dir: stateDir, what: 'cannot write the osbuild log', path: logPath, freeBytes: await freeBytes(outputDir) })
      : logWriteError(logError, logPath);
  }

  const produced = path.join(exportRoot, opts.exportPipeline, opts.exportFilename);
  const imagePath = path.join(outputDir, imageName);
  try {
    await rename(produced, imagePath);
  } catch (err) {
    throw new KilnError('KILN_OSBUILD', `osbuild succeeded but ${opts.exportPipeline}/${opts.exportFilename} was not exported`, {
      cause: err,
      details: { expected: produced, logPath },
    });
  }
  await rm(exportRoot, { recursive: true, force: true });
  const { size } = await stat(imagePath);
  return { ...base, success: true, imagePath, size };
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n').trim();
}

function logWriteError(err: NodeJS.ErrnoException, logPath: string): KilnError {
  return new KilnError('KILN_OSBUILD', `cannot write the osbuild log ${logPath}: ${err.message}`, { cause: err, details: { logPath } });
}

function resultErrors(result: Record<string, any>, fromMonitor: OsbuildStageError | undefined): OsbuildStageError[] {
  if (result.success === true) return [];
  const errors: OsbuildStageError[] = [];
  if (Array.isArray(result.errors)) {
    // validation failure: {type: ".../validation-error", errors: [{message, path}]}
    for (const e of result.errors) {
      const p = Array.isArray(e?.path) ? e.path.map((x: unknown) => (typeof x === 'number' ? `[${x}]` : `.${x}`)).join('') : '';
      errors.push({ message: `${p ? `${p}: ` : ''}${e?.message ?? 'invalid'}` });
    }
    return errors;
  }
  const err = result.error;
  const stage = err?.details?.stage;
  if (stage) {
    const pipeline = Object.entries((result.log ?? {}) as Record<string, { id?: string }[]>).find(([, stages]) =>
      Array.isArray(stages) && stages.some((s) => s?.id === stage.id),
    )?.[0];
    errors.push({
      ...((pipeline ?? fromMonitor?.pipeline) ? { pipeline: pipeline ?? fromMonitor!.pipeline } : {}),
      stage: stage.type,
      ...(stage.id ? { id: stage.id } : {}),
      message: tail(String(stage.output ?? ''), 4096),
    });
  } else if (err?.details?.source) {
    errors.push({ stage: err.details.source.type, message: String(err.details.source.output ?? 'source failed') });
  } else if (fromMonitor) {
    errors.push(fromMonitor);
  } else {
    errors.push({ message: err ? JSON.stringify(err).slice(0, 4096) : 'osbuild reported failure' });
  }
  return errors;
}

function rpmList(result: Record<string, any>, pipeline: string): RpmInfo[] {
  const packages = result.metadata?.[pipeline]?.['org.osbuild.rpm']?.packages;
  return Array.isArray(packages) ? (packages as RpmInfo[]) : [];
}

/**
 * A KilnError describing a failed run, naming the failing stage: KILN_OSBUILD, or KILN_DISK_FULL
 * ("no space left on device in <state dir>: osbuild build failed in stage …") when the build
 * ran out of disk space.
 */
export function osbuildFailure(result: OsbuildRunResult): KilnError {
  const first = result.errors[0];
  const where = first?.stage ? ` in stage ${first.stage}${first.pipeline ? ` of pipeline ${first.pipeline}` : ''}` : '';
  const said = lastLines(first?.message ?? '', 5);
  const details = { errors: result.errors, logPath: result.logPath, manifestPath: result.manifestPath, exitCode: result.exitCode };
  if (result.diskFull) {
    const err = makeDiskFullError(undefined, {
      dir: result.diskFull.dir,
      what: `osbuild build failed${where}`,
      freeBytes: result.diskFull.freeBytes,
      message: said || (result.diskFull.path ? `cannot write ${result.diskFull.path}` : 'osbuild ran out of space'),
    });
    return new KilnError('KILN_DISK_FULL', err.message, { details: { ...err.details, ...details } });
  }
  return new KilnError('KILN_OSBUILD', `osbuild build failed${where}: ${said}`, { details });
}

/** `osbuild --version` → "191"; KILN_OSBUILD_MISSING when the binary is not there. */
export async function osbuildVersion(osbuildPath = 'osbuild', env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const child = spawn(osbuildPath, ['--version'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT' || err.code === 'EACCES'
          ? new KilnError('KILN_OSBUILD_MISSING', `osbuild not found or not executable at ${osbuildPath} (${err.code})`, { cause: err, details: { path: osbuildPath } })
          : new KilnError('KILN_OSBUILD', `could not run ${osbuildPath} --version: ${err.message}`, { cause: err }),
      ),
    );
    child.once('close', (code) => {
      const m = /^osbuild\s+(\S+)/m.exec(out);
      if (code === 0 && m) resolve(m[1]);
      else reject(new KilnError('KILN_OSBUILD', `${osbuildPath} --version exited ${code}: ${out.trim()}`, { details: { path: osbuildPath } }));
    });
  });
}
