/**
 * Fault: the disk under Kiln's state directory is full. A real `kiln serve` (in-process
 * workers) runs with KILN_STATE_DIR on a 16 MiB tmpfs; its database lives elsewhere.
 *  (a) osbuild itself fills the disk while writing the image and fails: the compose ends
 *      FAILED with "no space left on device in <state dir>" and osbuild's own message, the
 *      Koji build is refunded, the job's output directory is gone and the space is back;
 *  (b) the disk is already full when the job starts: Kiln's own writes (the manifest) fail
 *      with a clear KILN_DISK_FULL error naming the path, never a crash of the process;
 *  (c) with the space freed, the same process builds the next compose: nothing was corrupted.
 * Needs root (mount); skipped otherwise.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_BASE } from '../src/compose/index.js';
import { runKiln, type KilnProcess } from './helpers/kiln.js';
import { freePort } from './helpers/net.js';
import { startFaultBed, until, type FaultBed } from './helpers/compose-faults.js';

const FILL_OSBUILD = fileURLToPath(new URL('./fixtures/osbuild-fill.mjs', import.meta.url));
const FILL_SOLVER = fileURLToPath(new URL('./fixtures/depsolve-fill.mjs', import.meta.url));
const TMPFS_BYTES = 16 * 1024 * 1024;
const ROOT = process.getuid?.() === 0;
const serial = ROOT ? test.serial : test.serial.skip;

let bed: FaultBed | undefined;
let stateDir: string;
let control: string;
let mounted = false;
let serve: KilnProcess | undefined;
let apiUrl: string;
const allIds: string[] = [];

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

function umount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' }); // something still holds it: detach
  }
}

test.before(async (t) => {
  t.timeout(200_000);
  if (!ROOT) {
    t.log(`not root (uid ${process.getuid?.()}): cannot mount a tmpfs; the disk-full tests are skipped`);
    return;
  }
  bed = await startFaultBed('disk-full');
  stateDir = path.join(bed.dir, 'state');
  control = path.join(bed.dir, 'osbuild-fill'); // outside the tmpfs: the stand-in's switch
  mkdirSync(stateDir);
  // as root a failing mount fails the test
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES},mode=0755`, 'tmpfs', stateDir], { stdio: 'pipe' });
  mounted = true;
  // should ava end the process without running the after hooks, the tmpfs still goes
  process.once('exit', () => {
    if (mounted) {
      try {
        execFileSync('umount', ['-l', stateDir], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
  });
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  serve = runKiln(
    ['serve'],
    bed.env('serve', {
      KILN_STATE_DIR: stateDir,
      KILN_LISTEN_ADDRESS: '127.0.0.1',
      KILN_LISTEN_PORT: String(port),
      KILN_OSBUILD_BINARY: FILL_OSBUILD,
      KILN_DEPSOLVE_SOLVER: FILL_SOLVER,
      KILN_FILL_OSBUILD_CONTROL: control,
    }),
  );
  await until('kiln serve to be ready', async () => {
    if (serve!.child.exitCode !== null) throw new Error(`kiln serve exited:\n${serve!.output()}`);
    return (await fetch(`${apiUrl}/ready`).then((r) => r.ok, () => false)) ? true : undefined;
  }, 90_000);
});

test.after.always(async () => {
  if (serve) {
    const kill = setTimeout(() => serve!.child.kill('SIGKILL'), 20_000);
    await serve.stop('SIGTERM');
    clearTimeout(kill);
  }
  try {
    if (mounted) umount(stateDir);
    mounted = false;
  } finally {
    await bed?.close();
  }
});

interface JobRow {
  type: string;
  state: string;
  error: { code: string; message: string; details?: Record<string, unknown> } | null;
  log: string | null;
}

/** Submits one compose, waits for its end, and returns it with its jobs. */
async function runCompose(): Promise<{ ids: string[]; c: { reason?: string; status: string; jobs: JobRow[] } }> {
  const ids = await bed!.submit(apiUrl, 1);
  allIds.push(...ids);
  const [c] = await composeEnd(ids);
  return { ids, c };
}

async function composeEnd(ids: string[]): Promise<{ reason?: string; status: string; jobs: JobRow[] }[]> {
  // a crash of kiln serve fails at once instead of waiting out the timeout
  await Promise.race([
    bed!.waitForEnd(ids, 100_000) /* below ava's 120 s: a slow run fails here and the hooks still unmount */,
    serve!.exited.then(({ code, signal }) => {
      throw new Error(`kiln serve exited (${code ?? signal}) before the compose ended:\n${serve!.output().slice(-4000)}`);
    }),
  ]);
  const out = [];
  for (const id of ids) {
    const status = (await (await fetch(`${apiUrl}${API_BASE}/composes/${id}`)).json()) as { status: string; reason?: string };
    const { rows } = await bed!.db.pool.query<JobRow>(
      `SELECT type, state, error, result->>'log' AS log FROM kiln_jobs WHERE compose_id = $1 ORDER BY seq`,
      [id],
    );
    out.push({ ...status, jobs: rows });
  }
  return out;
}

/** Fills the tmpfs, then gives back one page: too little for a manifest. Returns the filler's path. */
function fillDisk(t: import('ava').ExecutionContext): string {
  const filler = path.join(stateDir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(1024 * 1024, 1);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, chunk);
  } catch (err) {
    t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  ftruncateSync(fd, Math.max(0, size - 4096));
  closeSync(fd);
  t.log(`filler ${size - 4096} bytes; ${freeBytes(stateDir)} bytes free`);
  t.true(freeBytes(stateDir) <= 8192);
  return filler;
}

/** The serve process is alive and never saw an unhandled rejection or uncaught exception. */
function assertServeHealthy(t: import('ava').ExecutionContext): void {
  t.is(serve!.child.exitCode, null, `kiln serve exited:\n${serve!.output().slice(-4000)}`);
  t.is(serve!.child.signalCode, null);
  t.notRegex(serve!.output(), /unhandled|uncaught|"level":60/i, 'no unhandled rejection, uncaught exception or fatal log');
}

serial('(a) osbuild fills the disk: compose FAILED with "no space left on device", Koji build refunded, output removed', async (t) => {
  const before = freeBytes(stateDir);
  writeFileSync(control, 'fill');
  const { ids, c } = await runCompose();
  rmSync(control, { force: true });
  t.log(`compose reason: ${c.reason}`);
  t.is(c.status, 'failure');
  t.regex(c.reason ?? '', new RegExp(`no space left on device in ${stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const builds = c.jobs.filter((j) => j.type === 'osbuild');
  t.is(builds.length, 2);
  for (const j of builds) {
    t.is(j.state, 'failure');
    t.is(j.error?.code, 'KILN_DISK_FULL', JSON.stringify(j.error));
    t.log(`osbuild job error: ${j.error?.message}`);
    t.regex(j.error?.message ?? '', /^no space left on device in .*: osbuild build failed in stage \S+.*\(\d+ bytes free\).*No space left on device/s, 'names the state dir, the stage, free bytes and osbuild\'s message');
    t.regex(j.log ?? '', /No space left on device/, 'osbuild\'s error is in the log');
  }
  const check = await bed!.check(ids);
  t.deepEqual(check.problems, []);
  t.is(check.failed, 1);
  t.false(existsSync(path.join(stateDir, 'outputs', ids[0])), 'the failed jobs\' output directories were removed');
  // the space is back (tmpfs accounts in pages; allow a little for directories and the store)
  t.true(freeBytes(stateDir) >= before - 256 * 1024, `free ${freeBytes(stateDir)} of ${before} before`);
  assertServeHealthy(t);
});

serial('(a2) osbuild fills the disk and its output cannot be logged either: still a clear KILN_DISK_FULL, no crash', async (t) => {
  writeFileSync(control, 'fill noisy');
  const { ids, c } = await runCompose();
  rmSync(control, { force: true });
  t.is(c.status, 'failure');
  t.true((c.reason ?? '').includes(`no space left on device in ${stateDir}`), c.reason);
  for (const j of c.jobs.filter((x) => x.type === 'osbuild')) {
    t.is(j.error?.code, 'KILN_DISK_FULL', JSON.stringify(j.error));
    t.regex(j.error?.message ?? '', /osbuild build failed in stage .*No space left on device/s, 'osbuild\'s message, from its JSON result');
  }
  const check = await bed!.check(ids);
  t.deepEqual(check.problems, []);
  t.false(existsSync(path.join(stateDir, 'outputs', ids[0])));
  t.regex(serve!.output(), /writing the osbuild log failed/, 'the log write did hit the full disk');
  assertServeHealthy(t);
});

serial('(b) the disk is already full: Kiln\'s own writes fail with a clear KILN_DISK_FULL, compose FAILED, build refunded, no crash', async (t) => {
  const filler = fillDisk(t);

  const { ids, c } = await runCompose();
  t.log(`compose reason: ${c.reason}`);
  t.is(c.status, 'failure');
  t.regex(c.reason ?? '', /no space left on device in /);
  t.true((c.reason ?? '').includes(stateDir), 'the reason names the state directory');
  const builds = c.jobs.filter((j) => j.type === 'osbuild');
  t.is(builds.length, 2);
  for (const j of builds) {
    t.is(j.state, 'failure');
    t.is(j.error?.code, 'KILN_DISK_FULL', JSON.stringify(j.error));
    t.log(`osbuild job error: ${j.error?.message}`);
    t.true((j.error?.message ?? '').startsWith(`no space left on device in ${stateDir}: cannot `), j.error?.message);
    t.regex(j.error?.message ?? '', /\(\d+ bytes free\)/);
    t.true(String(j.error?.details?.path ?? '').startsWith(path.join(stateDir, 'outputs', ids[0])), 'names the path it could not write');
  }
  const check = await bed!.check(ids);
  t.deepEqual(check.problems, []);
  t.is(check.failed, 1);
  t.false(existsSync(path.join(stateDir, 'outputs', ids[0])), 'no half-written output left behind');
  assertServeHealthy(t);
  rmSync(filler);
});

serial('(b2) the disk is full when the solver writes its metadata cache: depsolve fails with KILN_DISK_FULL naming the cache directory', async (t) => {
  const filler = fillDisk(t);
  writeFileSync(control, 'solver-cache');
  const { ids, c } = await runCompose();
  rmSync(control, { force: true });
  rmSync(filler);
  t.log(`compose reason: ${c.reason}`);
  t.is(c.status, 'failure');
  t.regex(c.reason ?? '', /not run: 1 of its dependencies failed: depsolve: no space left on device in /, 'the cause travels down the graph to the compose');
  const solves = c.jobs.filter((j) => j.type === 'depsolve');
  t.is(solves.length, 2);
  for (const j of solves) {
    t.is(j.state, 'failure');
    t.is(j.error?.code, 'KILN_DISK_FULL', JSON.stringify(j.error));
    t.log(`depsolve job error: ${j.error?.message}`);
    t.true((j.error?.message ?? '').startsWith(`no space left on device in ${path.join(stateDir, 'rpmmd')}: depsolve failed (`), j.error?.message);
    t.regex(j.error?.message ?? '', /\[Errno 28\] No space left on device/);
  }
  const status = (await (await fetch(`${apiUrl}${API_BASE}/composes/${ids[0]}`)).json()) as { image_statuses: { error?: { reason: string } }[] };
  for (const i of status.image_statuses) t.regex(i.error?.reason ?? '', /^depsolve failed: no space left on device in /, JSON.stringify(i));
  const check = await bed!.check(ids);
  t.deepEqual(check.problems, []);
  t.is(check.failed, 1);
  assertServeHealthy(t);
});

serial('(c) with space again, the same kiln serve builds a compose; no job is left running', async (t) => {
  t.true(freeBytes(stateDir) > TMPFS_BYTES / 2);
  const { ids, c } = await runCompose();
  t.is(c.status, 'success', JSON.stringify(c));
  const check = await bed!.check(allIds);
  t.deepEqual(check.problems, []);
  t.is(check.complete, 1);
  t.is(check.failed, allIds.length - 1);
  const { rows } = await bed!.db.pool.query(`SELECT count(*)::int AS n FROM kiln_jobs WHERE state NOT IN ('success', 'failure', 'canceled')`);
  t.is(rows[0].n, 0, 'no job left queued or running');
  t.deepEqual(readdirSync(stateDir).filter((n) => n === 'filler'), []);
  t.false(existsSync(path.join(stateDir, 'outputs', ids[0])), 'uploaded images do not stay in the state directory');
  assertServeHealthy(t);
});
