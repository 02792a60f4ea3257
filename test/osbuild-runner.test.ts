import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../src/errors.js';
import {
  generateManifest,
  JsonSeqParser,
  kojiFilename,
  MonitorState,
  osbuildFailure,
  osbuildVersion,
  packageSetRequests,
  resolveImageType,
  runOsbuild,
  type Manifest,
  type MonitorRecord,
  type ProgressEvent,
  type RunOsbuildOptions,
} from '../src/osbuild/index.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'kiln-osbuild-test-'));
test.after.always(() => rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const tmp = () => path.join(tmpRoot, String(dirCount++));

function manifestFor(distro: string, arch: string, type: string): { manifest: Manifest; image: ReturnType<typeof resolveImageType>; packages: ReturnType<typeof syntheticDepsolve> } {
  const image = resolveImageType(distro, arch, type);
  const packages = syntheticDepsolve(packageSetRequests(image), arch);
  return { manifest: generateManifest({ image, packages }), image, packages };
}

function runStandin(manifest: Manifest | string, extra: Partial<RunOsbuildOptions> & { standinEnv?: Record<string, string> } = {}) {
  const dir = tmp();
  const { standinEnv, ...rest } = extra;
  return runOsbuild({
    manifest,
    exportPipeline: 'qcow2',
    exportFilename: 'disk.qcow2',
    outputDir: path.join(dir, 'outputs', 'compose-1', 'image-1'),
    storeDir: path.join(dir, 'store'),
    osbuildPath: STANDIN,
    env: { ...process.env, ...standinEnv },
    ...rest,
  });
}

/** Live (non-zombie) processes whose process group is pgid. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

// ---------- monitor stream parsing ----------

function sampleStream(): Buffer {
  const ctxBuild = { origin: 'osbuild.monitor', pipeline: { name: 'build', id: 'p1', stage: {} }, id: 'c1' };
  const ctxStage = { origin: 'stages/org.osbuild.rpm', pipeline: { name: 'build', id: 'p1', stage: { name: 'org.osbuild.rpm', id: 's1' } }, id: 'c2' };
  const ctxDone = { origin: 'osbuild.monitor', pipeline: { name: 'build', id: 'p1', stage: { name: 'org.osbuild.rpm', id: 's1' } }, id: 'c3' };
  const records: object[] = [
    { message: 'starting -', context: { origin: 'osbuild.main_cli', pipeline: { stage: {} }, id: 'c0' }, progress: { name: 'pipelines/sources', total: 3, done: 0 }, timestamp: 1 },
    { message: 'Starting pipeline build', context: ctxBuild, progress: { name: 'pipelines/sources', total: 3, done: 1, progress: { name: 'pipeline: build', total: 2, done: 0 } }, timestamp: 2 },
    { message: 'Starting module org.osbuild.rpm', context: ctxDone, progress: { name: 'pipelines/sources', total: 3, done: 1, progress: { name: 'pipeline: build', total: 2, done: 0 } }, timestamp: 3 },
    { message: 'installing bash ✓ — ünïcödé\n', context: ctxStage, progress: { name: 'pipelines/sources', total: 3, done: 1, progress: { name: 'pipeline: build', total: 2, done: 0 } }, timestamp: 4 },
    { message: 'installing glibc 🙂\n', context: { id: 'c2' }, progress: { name: 'pipelines/sources', total: 3, done: 1, progress: { name: 'pipeline: build', total: 2, done: 0 } }, timestamp: 5 },
    { message: 'Finished module org.osbuild.rpm', context: { id: 'c3' }, result: { name: 'org.osbuild.rpm', id: 's1', success: false, output: 'boom' }, progress: { name: 'pipelines/sources', total: 3, done: 1, progress: { name: 'pipeline: build', total: 2, done: 1 } }, duration: 1.5, timestamp: 6 },
    { message: 'Finished pipeline build', context: { id: 'c1' }, progress: { name: 'pipelines/sources', total: 3, done: 2 }, timestamp: 7 },
  ];
  return Buffer.concat([...records.map((r) => Buffer.from(`\x1e${JSON.stringify(r)}\n`, 'utf8')), Buffer.from('\x1enot json\n', 'utf8')]);
}

function parseChunks(chunks: Buffer[]) {
  const parser = new JsonSeqParser();
  const state = new MonitorState();
  const records: MonitorRecord[] = [];
  for (const c of chunks) records.push(...parser.push(c));
  records.push(...parser.end());
  const interpreted = records.map((r) => state.interpret(r));
  return { records, interpreted, invalid: parser.invalid };
}

test('monitor: records, contexts cached by id, nested progress', (t) => {
  const { records, interpreted, invalid } = parseChunks([sampleStream()]);
  t.is(records.length, 7);
  t.is(invalid, 1);
  t.is(interpreted[4].pipeline, 'build', 'id-only context resolved from the cache');
  t.is(interpreted[4].stage, 'org.osbuild.rpm');
  t.is(interpreted[4].origin, 'stages/org.osbuild.rpm');
  t.is(interpreted[4].logText, 'installing glibc 🙂\n');
  t.is(interpreted[6].pipeline, 'build');
  const events = interpreted.map((i) => i.progress).filter((p): p is ProgressEvent => !!p);
  t.deepEqual(events[0], { done: 0, total: 3 });
  t.deepEqual(events[1], { done: 1, total: 3, subprogress: { done: 0, total: 2, name: 'pipeline: build' }, pipeline: 'build', message: 'Starting pipeline build' });
  t.deepEqual(events.at(-1), { done: 2, total: 3, pipeline: 'build', message: 'Finished pipeline build' });
  t.true(events.some((e) => e.stage === 'org.osbuild.rpm' && e.subprogress?.done === 1));
  t.regex(interpreted[5].logText, /\[build\] Finished module org.osbuild.rpm \(FAILED in 1.50s\)/);
});

test('monitor: a record split at every byte offset (and byte by byte) parses the same', (t) => {
  const buf = sampleStream();
  const whole = JSON.stringify(parseChunks([buf]));
  for (let i = 0; i <= buf.length; i++) {
    const got = JSON.stringify(parseChunks([buf.subarray(0, i), buf.subarray(i)]));
    if (got !== whole) {
      t.fail(`differs when split at byte ${i}`);
      return;
    }
  }
  for (let i = 0; i + 7 <= buf.length; i += 3) {
    t.is(JSON.stringify(parseChunks([buf.subarray(0, i), buf.subarray(i, i + 7), buf.subarray(i + 7)])), whole);
  }
  const bytes = [...buf].map((b) => Buffer.from([b]));
  t.is(JSON.stringify(parseChunks(bytes)), whole);
  t.log(`${buf.length} split points checked`);
});

test('monitor: a final record without its newline is delivered at end of stream', (t) => {
  const p = new JsonSeqParser();
  t.deepEqual(p.push(Buffer.from('\x1e{"message":"a"}\n\x1e{"message":"b"}')), [{ message: 'a' }]);
  t.deepEqual(p.end(), [{ message: 'b' }]);
});

// ---------- runs with the stand-in ----------

for (const [distro, arch, type] of [
  ['fedora-43', 'x86_64', 'guest-image'],
  ['centos-9', 'aarch64', 'minimal-raw'],
  ['rhel-10.0', 'x86_64', 'aws'],
  ['fedora-42', 'aarch64', 'container'],
] as const) {
  test(`manifest → run: ${distro} ${arch} ${type}`, async (t) => {
    const { manifest, image, packages } = manifestFor(distro, arch, type);
    const name = kojiFilename({ name: 'kiln-test', version: '1', release: '2' }, image);
    const events: ProgressEvent[] = [];
    const started = Date.now();
    const res = await runStandin(manifest, {
      exportPipeline: image.exportPipeline,
      exportFilename: image.filename,
      imageName: name,
      onProgress: (e) => events.push(e),
      standinEnv: { KILN_STANDIN_IMAGE_SIZE: String(3 * 1024 * 1024 + 17) },
    });
    t.true(res.success, JSON.stringify(res.errors));
    t.is(path.basename(res.imagePath!), name);
    t.true(existsSync(res.imagePath!));
    t.is(res.size, 3 * 1024 * 1024 + 17);
    const dir = path.dirname(res.imagePath!);
    t.deepEqual(readdirSync(dir).sort(), [name, `${name}.manifest.json`, `${name}.osbuild.log`].sort());
    t.deepEqual(JSON.parse(readFileSync(res.manifestPath, 'utf8')), manifest);
    const logText = readFileSync(res.logPath, 'utf8');
    t.regex(logText, /\[os\] Starting module org\.osbuild\.rpm/);
    t.regex(logText, /installing .* ✓/);
    t.deepEqual(res.rpms.map((r) => r.name), packages.os.map((p) => p.name).sort());
    t.is(res.osbuildResult.success, true);
    t.deepEqual(res.errors, []);
    // progress: monotonic outer counter ending at done == total, stage-level sub-progress seen
    const last = events.at(-1)!;
    t.is(last.done, last.total);
    t.is(last.total, 1 + manifest.pipelines.length);
    for (let i = 1; i < events.length; i++) t.true(events[i].done >= events[i - 1].done);
    t.true(events.some((e) => e.pipeline === 'os' && e.stage === 'org.osbuild.rpm' && e.subprogress !== undefined));
    t.log(`${events.length} progress events, ${Date.now() - started} ms`);
  });
}

test('a failing stage: success false, the error names the stage and pipeline, no image', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const res = await runStandin(manifest, { standinEnv: { KILN_STANDIN_FAIL_STAGE: 'os:org.osbuild.selinux' } });
  t.false(res.success);
  t.is(res.imagePath, undefined);
  t.is(res.exitCode, 1);
  t.is(res.errors.length, 1);
  t.is(res.errors[0].stage, 'org.osbuild.selinux');
  t.is(res.errors[0].pipeline, 'os');
  t.regex(res.errors[0].message, /stand-in failure injected/);
  const err = osbuildFailure(res);
  t.is(err.code, 'KILN_OSBUILD');
  t.regex(err.message, /stage org\.osbuild\.selinux of pipeline os/);
  t.regex(readFileSync(res.logPath, 'utf8'), /Finished module org\.osbuild\.selinux \(FAILED/);
  t.false(existsSync(path.join(path.dirname(res.logPath), 'disk.qcow2')));
});

test('an invalid manifest: osbuild exits 2 and the validation errors come back', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const bad = structuredClone(manifest);
  delete bad.pipelines[1].stages.find((s) => s.type === 'org.osbuild.locale')!.options!.language;
  const res = await runStandin(bad);
  t.false(res.success);
  t.is(res.exitCode, 2);
  t.is(res.osbuildResult.type, 'https://osbuild.org/validation-error');
  t.true(res.errors.some((e) => /\.pipelines\[1\]\.stages\[\d+\]\.options: 'language' is a required property/.test(e.message)));
});

/** Resolves with the stand-in's pids once it hangs with its child running. */
async function hanging(pidfile: string, settled?: Promise<unknown>): Promise<number[] | undefined> {
  mkdirSync(path.dirname(pidfile), { recursive: true });
  let done = false;
  void settled?.then(() => (done = true));
  while (!done) {
    if (existsSync(pidfile)) {
      const pids = readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
      if (pids.length === 2) return pids;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

test('cancel: SIGTERM to the process group, nothing of the group survives', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const ac = new AbortController();
  const pidfile = path.join(tmp(), 'pids');
  let pid = 0;
  const run = runStandin(manifest, {
    signal: ac.signal,
    onSpawn: (p) => (pid = p),
    standinEnv: { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile },
  });
  const [leader, sleeper] = (await hanging(pidfile))!;
  t.is(leader, pid);
  t.true(groupMembers(pid).includes(sleeper), 'the stand-in child is in the group before cancel');
  const abortedAt = Date.now();
  ac.abort();
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_OSBUILD_CANCELED');
  t.deepEqual(groupMembers(pid), []);
  t.true(Date.now() - abortedAt < 5_000);
  t.log(`canceled in ${Date.now() - abortedAt} ms`);
});

test('cancel: a process ignoring SIGTERM is SIGKILLed after the grace period', async (t) => {
  const { manifest } = manifestFor('centos-10', 'x86_64', 'container');
  const ac = new AbortController();
  const pidfile = path.join(tmp(), 'pids');
  let pid = 0;
  const run = runStandin(manifest, {
    exportPipeline: 'container',
    exportFilename: 'container.tar',
    signal: ac.signal,
    killGraceMs: 700,
    onSpawn: (p) => (pid = p),
    standinEnv: { KILN_STANDIN_HANG: '1', KILN_STANDIN_IGNORE_TERM: '1', KILN_STANDIN_PIDFILE: pidfile },
  });
  const [, sleeper] = (await hanging(pidfile))!;
  t.true(groupMembers(pid).includes(sleeper));
  const abortedAt = Date.now();
  ac.abort();
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_OSBUILD_CANCELED');
  const took = Date.now() - abortedAt;
  t.true(took >= 600, `waited the grace period (${took} ms)`);
  t.true(took < 5000);
  t.deepEqual(groupMembers(pid), []);
});

test('timeout: KILN_OSBUILD_TIMEOUT and the group is gone', async (t) => {
  const { manifest } = manifestFor('rhel-9.6', 'aarch64', 'guest-image');
  const pidfile = path.join(tmp(), 'pids');
  let pid = 0;
  const started = Date.now();
  const run = runStandin(manifest, { timeoutMs: 6000, onSpawn: (p) => (pid = p), standinEnv: { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile } });
  // On a loaded machine the stand-in may not reach its hang before the timeout; then there is
  // no child to look for, but the timeout and the empty group are still checked.
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  const pids = await Promise.race([hanging(pidfile, settled), settled]);
  if (pids) t.true(groupMembers(pid).includes(pids[1]));
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_OSBUILD_TIMEOUT');
  t.true(Date.now() - started >= 6000);
  t.deepEqual(groupMembers(pid), []);
});

test('an already aborted signal never starts osbuild', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  let spawned = false;
  const err = await t.throwsAsync(runStandin(manifest, { signal: AbortSignal.abort(), onSpawn: () => (spawned = true) }));
  t.is((err as KilnError).code, 'KILN_OSBUILD_CANCELED');
  t.false(spawned);
});

test('a missing osbuild binary: KILN_OSBUILD_MISSING naming the path', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const missing = path.join(tmpRoot, 'no', 'osbuild');
  const err = await t.throwsAsync(runStandin(manifest, { osbuildPath: missing }));
  t.is((err as KilnError).code, 'KILN_OSBUILD_MISSING');
  t.true(err!.message.includes(missing));
});

test('osbuild dying without a JSON result: KILN_OSBUILD with its stderr', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const err = await t.throwsAsync(runStandin(manifest, { standinEnv: { KILN_STANDIN_CRASH: '1' } }));
  t.is((err as KilnError).code, 'KILN_OSBUILD');
  t.regex(err!.message, /stand-in crash/);
});

test('the run passes osbuild the documented command line', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const res = await runStandin(manifest, { extraArgs: ['--cache-max-size=unlimited'] });
  const first = readFileSync(res.logPath, 'utf8').split('\n')[0];
  t.regex(first, /--export qcow2 --output-directory \S+ --store \S+ --json --monitor=JSONSeqMonitor --monitor-fd=3 --cache-max-size=unlimited -$/);
});

test('osbuildVersion: reads `osbuild --version`, KILN_OSBUILD_MISSING when absent', async (t) => {
  t.is(await osbuildVersion(STANDIN), '191');
  const missing = path.join(tmpRoot, 'nowhere', 'osbuild');
  const err = await t.throwsAsync(osbuildVersion(missing));
  t.is((err as KilnError).code, 'KILN_OSBUILD_MISSING');
  t.true(err!.message.includes(missing));
});

test('a child left holding the monitor pipe after osbuild exits is killed; the result still counts', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  let pid = 0;
  const res = await runStandin(manifest, { onSpawn: (p) => (pid = p), standinEnv: { KILN_STANDIN_LEAK_CHILD: '1' } });
  t.true(res.success);
  t.deepEqual(groupMembers(pid), []);
});
