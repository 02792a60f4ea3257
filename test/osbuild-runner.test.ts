import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { until } from './helpers/until.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../src/errors.js';
import { loadConfig } from '../src/config/index.js';
import {
  generateManifest,
  JsonSeqParser,
  kojiFilename,
  MonitorState,
  osbuildFailure,
  osbuildVersion,
  packageRequests,
  parseCacheSize,
  storeArgs,
  storeOptions,
  resolveImage,
  runOsbuild,
  type Manifest,
  type MonitorRecord,
  type ProgressEvent,
  type RunOsbuildOptions,
} from '../src/osbuild/index.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';
import { canMountAndLoop, groupMembers, loopsUnder, mountsUnder, scrubHost } from './helpers/host.js';
import { listStore, removeLeftovers } from '../src/osbuild/leftovers.js';
import { silentLogger } from '../src/log.js';
import { coalescing } from '../src/jobs/throttle.js';
import { buildingProgress } from '../src/jobs/osbuild.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'kiln-osbuild-test-'));
test.after.always(() => rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const tmp = () => path.join(tmpRoot, String(dirCount++));

function manifestFor(distro: string, arch: string, type: string): { manifest: Manifest; image: ReturnType<typeof resolveImage>; packages: ReturnType<typeof syntheticDepsolve> } {
  const image = resolveImage(distro, arch, type);
  const packages = syntheticDepsolve(packageRequests({ image, seed: '1' }), arch);
  return { manifest: generateManifest({ image, seed: '1', packages }), image, packages };
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

/** osbuild 191's JSONSeqMonitor stream of a real build (tree → image with loop devices and mounts; build root noise trimmed). */
const REAL_STREAM = fileURLToPath(new URL('./fixtures/osbuild-monitor/osbuild-191-loop.jsonseq', import.meta.url));

/** The patterns of osbuild's stream that a consumer has to get right, found in a record sequence. */
function streamPatterns(records: MonitorRecord[]) {
  const contexts = new Map<string, any>();
  const full = records.map((r) => {
    if (r.context?.origin !== undefined) contexts.set(r.context.id, r.context);
    return { ...r, context: contexts.get(r.context?.id ?? '') ?? r.context };
  });
  const starts = full.filter((r) => r.context?.origin === 'osbuild.monitor' && r.message?.startsWith('Starting pipeline ') && !r.message.startsWith('Starting pipeline source '));
  return {
    // "Starting pipeline B" still names the previous pipeline's last stage
    carriedOver: starts.slice(1).every((r) => !!r.context?.pipeline?.stage?.name),
    firstPipelineWithoutStage: !starts[0]?.context?.pipeline?.stage?.name,
    // "Finished module A" then "Starting module B" in the same millisecond
    sameMillisecond: full.some(
      (r, i) => r.message?.startsWith('Finished module ') && full[i + 1]?.message?.startsWith('Starting module ') && Math.floor(full[i + 1].timestamp! * 1000) - Math.floor(r.timestamp! * 1000) <= 1,
    ),
    // sources: "Starting pipeline source T" … "Finished pipeline T"; the download service's lines
    sourcePipelines: full.filter((r) => /^(Starting|Finished) pipeline (source )?org\.osbuild\.curl$/.test(r.message ?? '')).map((r) => r.message),
    downloadLogs: full.some((r) => r.context?.origin === 'org.osbuild' && /^source\/org\.osbuild\.curl \(org\.osbuild\.curl\): /.test(r.message ?? '')),
    recordsWithoutMessage: full.some((r) => r.message === undefined && r.context?.origin?.startsWith('stages/')),
    endsWith: full.at(-1)?.message?.replace(/manifest \S+ /, 'manifest - '),
  };
}

test('monitor: a real osbuild stream; a new pipeline is shown without the previous pipeline\'s stage', (t) => {
  const { records, interpreted } = parseChunks([readFileSync(REAL_STREAM)]);
  const events = interpreted.map((i) => i.progress).filter((p): p is ProgressEvent => !!p);
  const at = events.findIndex((e) => e.message === 'Starting pipeline image');
  t.true(at > 0);
  t.like(events[at], { pipeline: 'image', done: 2, total: 3, subprogress: { done: 0, total: 4 } });
  t.is(events[at].stage, undefined, 'the context still names the tree pipeline\'s org.osbuild.copy');
  t.is(events.slice(at + 1).find((e) => e.stage)?.stage, 'org.osbuild.truncate');
  // the first stage of the first pipeline, and every stage after, is shown once started
  t.deepEqual(
    [...new Set(events.filter((e) => e.stage).map((e) => `${e.pipeline}:${e.stage}`))],
    ['tree:org.osbuild.mkdir', 'tree:org.osbuild.hostname', 'tree:org.osbuild.copy', 'image:org.osbuild.truncate', 'image:org.osbuild.sfdisk', 'image:org.osbuild.mkfs.ext4', 'image:org.osbuild.copy'],
  );
  t.like(events.at(-1), { done: 3, total: 3 });
  const logText = interpreted.map((i) => i.logText).join('');
  t.regex(logText, /\[image\] device\/device \(org\.osbuild\.loopback\): loop0 acquired/);
  t.regex(logText, /\[image\] Finished module org\.osbuild\.copy \(ok in 14\.07s\)/);
  t.like(streamPatterns(records), { carriedOver: true, firstPipelineWithoutStage: true, sameMillisecond: true, downloadLogs: true, recordsWithoutMessage: true });
});

test('progress reports of a real stream, at most one per interval: the latest state always arrives', async (t) => {
  const sent: Record<string, unknown>[] = [];
  const reporter = coalescing((p: Record<string, unknown>) => sent.push(p), 50);
  const { interpreted } = parseChunks([readFileSync(REAL_STREAM)]);
  const records = interpreted.filter((i) => i.progress);
  // replayed at once, except where osbuild was quiet for Kiln's interval (1 s) or longer: there
  // the latest state must have been sent ("Finished module A" and "Starting module B" come in
  // the same millisecond, so do "Finished pipeline tree" and "Starting pipeline image")
  let waits = 0;
  for (const [i, r] of records.entries()) {
    const p = buildingProgress(r.progress!);
    reporter.report(p);
    const next = records[i + 1]?.record.timestamp ?? Infinity;
    if (next - r.record.timestamp! >= 1) {
      waits++;
      await until(`"${p.message}" (${p.done}/${p.total}) to be sent`, () => (JSON.stringify(sent.at(-1)) === JSON.stringify(p) ? true : undefined), 10_000);
    }
  }
  reporter.stop();
  t.like(sent.at(-1), { done: 3, total: 3, message: 'image: org.osbuild.copy' });
  t.true(sent.length < records.length, `${sent.length} reports for ${records.length} events`);
  for (const stage of ['source org.osbuild.curl', 'tree: org.osbuild.mkdir', 'tree: org.osbuild.copy', 'image: org.osbuild.copy']) t.true(sent.some((p) => p.message === stage), stage);
  t.false(sent.some((p) => p.message === 'image: org.osbuild.copy' && p.done === 2 && (p.subprogress as any)?.done === 0), 'never the previous pipeline\'s stage');
  t.log(`${sent.length} reports for ${records.length} progress events, ${waits} quiet spells`);
});

test("the stand-in's monitor stream has the real one's patterns", async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const out = tmp();
  const child = spawn(STANDIN, ['--store', path.join(out, 'store'), '--output-directory', path.join(out, 'o'), '--export', 'qcow2', '--json', '--monitor=JSONSeqMonitor', '--monitor-fd=3', '-'], {
    stdio: ['pipe', 'ignore', 'inherit', 'pipe'],
  });
  const chunks: Buffer[] = [];
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => chunks.push(d));
  child.stdin!.end(JSON.stringify(manifest));
  await new Promise((resolve) => child.on('close', resolve));
  const standin = streamPatterns(parseChunks(chunks).records);
  const real = streamPatterns(parseChunks([readFileSync(REAL_STREAM)]).records);
  t.deepEqual(standin, real);
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
    t.deepEqual(res.rpms.map((r) => r.name).sort(), packages.os.flat().map((p) => p.name).sort());
    t.is(res.osbuildResult.success, true);
    t.deepEqual(res.errors, []);
    // progress: monotonic outer counter ending at done == total, stage-level sub-progress seen
    const last = events.at(-1)!;
    t.is(last.done, last.total);
    // osbuild counts its sources and the pipelines the export needs (main_cli.py)
    t.is(last.total, Object.keys(manifest.sources).length + manifest.pipelines.length);
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

test('module streams: the dnf.module-config stage runs; options its schema allows but its code cannot use fail it as in osbuild 191', async (t) => {
  const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const packages = syntheticDepsolve(packageRequests({ image, seed: '1' }), 'x86_64');
  const modules = [
    {
      'module-file': { path: '/etc/dnf/modules.d/kilnmod.conf', data: { name: 'kilnmod', stream: '2', profiles: ['full'], state: 'enabled' } },
      'failsafe-file': { path: '/var/lib/dnf/modulefailsafe/kilnmod:2', data: '---\ndocument: modulemd\n...\n' },
    },
  ];
  const manifest = generateManifest({ image, seed: '1', packages, modules });
  const ok = await runStandin(manifest);
  t.true(ok.success, JSON.stringify(ok.errors));
  t.regex(readFileSync(ok.logPath, 'utf8'), /org\.osbuild\.dnf\.module-config/);

  // what real osbuild answered (--inspect accepts it; the stage dies with KeyError, the stage's error is null)
  for (const [drop, key] of [[(c: any) => delete c.profiles, 'profiles'], [(c: any) => delete c.name, 'name']] as const) {
    const bad = structuredClone(manifest);
    const conf = bad.pipelines[1].stages.find((s) => s.type === 'org.osbuild.dnf.module-config')!.options!.conf;
    drop(conf);
    const res = await runStandin(bad);
    t.false(res.success);
    t.is(res.exitCode, 1);
    t.like(res.errors[0], { stage: 'org.osbuild.dnf.module-config', pipeline: 'os' });
    t.regex(res.errors[0].message, new RegExp(`KeyError: '${key}'\\n$`));
    const stage = (res.osbuildResult as any).error.details.stage;
    t.is(stage.error, null);
    t.deepEqual((res.osbuildResult as any).log.os.at(-1), { id: stage.id, type: 'org.osbuild.dnf.module-config', output: stage.output, success: false });
  }
  const noConf = structuredClone(manifest);
  noConf.pipelines[1].stages.find((s) => s.type === 'org.osbuild.dnf.module-config')!.options = {};
  t.regex((await runStandin(noConf)).errors[0].message, /KeyError: 'conf'/);
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

test('cancel: SIGINT to the process group; osbuild ends as on Ctrl-C (130) and nothing of the group survives', async (t) => {
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
  const logText = readFileSync((err as KilnError).details!.logPath as string, 'utf8');
  t.regex(logText, /osbuild exited with 130\n/, 'osbuild stopped itself (KeyboardInterrupt), it was not killed');
  t.log(`canceled in ${Date.now() - abortedAt} ms`);
});

test('cancel: an osbuild that does not stop on SIGINT is SIGKILLed after the grace period', async (t) => {
  const { manifest } = manifestFor('centos-10', 'x86_64', 'container');
  const ac = new AbortController();
  const pidfile = path.join(tmp(), 'pids');
  let pid = 0;
  const run = runStandin(manifest, {
    exportPipeline: 'container',
    exportFilename: 'container.tar',
    signal: ac.signal,
    stopGraceMs: 700,
    onSpawn: (p) => (pid = p),
    standinEnv: { KILN_STANDIN_HANG: '1', KILN_STANDIN_IGNORE_INT: '1', KILN_STANDIN_PIDFILE: pidfile },
  });
  const [, sleeper] = (await hanging(pidfile))!;
  t.true(groupMembers(pid).includes(sleeper));
  const abortedAt = Date.now();
  ac.abort();
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_OSBUILD_CANCELED');
  const took = Date.now() - abortedAt;
  t.true(took >= 600, `waited the grace period (${took} ms)`);
  t.deepEqual(groupMembers(pid), []);
  t.regex(readFileSync((err as KilnError).details!.logPath as string, 'utf8'), /osbuild exited with SIGKILL\n/);
});

test('timeout: KILN_OSBUILD_TIMEOUT and the group is gone', async (t) => {
  const { manifest } = manifestFor('rhel-9.6', 'aarch64', 'guest-image');
  const pidfile = path.join(tmp(), 'pids');
  let pid = 0;
  const started = Date.now();
  const run = runStandin(manifest, { timeoutMs: 10_000, onSpawn: (p) => (pid = p), standinEnv: { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile } });
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
  t.true(Date.now() - started >= 10_000);
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

test('osbuild refusing at load time (exit 1, a traceback, no JSON): the error names the cause', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const bad = structuredClone(manifest);
  const rpm = bad.pipelines.find((p) => p.name === 'os')!.stages.find((s) => s.type === 'org.osbuild.rpm')!;
  (rpm.inputs as any).packages.references = [{ id: `sha256:${'0'.repeat(64)}` }];
  const err = await t.throwsAsync(runStandin(bad));
  t.is((err as KilnError).code, 'KILN_OSBUILD');
  t.is(err!.message, `osbuild exited with 1 and no JSON result: ValueError: Unknown source reference(s) {'sha256:${'0'.repeat(64)}'}`);
  t.regex((err as KilnError).details!.stderr as string, /^Traceback \(most recent call last\):/);
});

test('osbuild refusing an export on stdout: the error says what it printed', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const err = await t.throwsAsync(runStandin(manifest, { exportPipeline: 'nope' }));
  t.is((err as KilnError).code, 'KILN_OSBUILD');
  t.is(err!.message, "osbuild exited with 1 and no JSON result: Export nope not found in ['build', 'os', 'image', 'qcow2']\nFailed");
});

// ---------- what osbuild leaves on the host (root: real mounts and loop devices) ----------

const hostTest = canMountAndLoop() ? test.serial : test.serial.skip;

/** Runs the stand-in directly (no Kiln), hanging in the image pipeline's copy stage with its devices and mounts up. */
async function standinOnHost(dir: string, extraEnv: Record<string, string> = {}) {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const pidfile = path.join(dir, 'pids');
  mkdirSync(dir, { recursive: true });
  const child = spawn(STANDIN, ['--store', path.join(dir, 'store'), '--rundir', path.join(dir, 'run'), '--output-directory', path.join(dir, 'out'), '--export', 'qcow2', '--json', '-'], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, KILN_STANDIN_HOST_EFFECTS: '1', KILN_STANDIN_HANG: 'image:org.osbuild.copy', KILN_STANDIN_PIDFILE: pidfile, ...extraEnv },
  });
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.resume();
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)));
  child.stdin!.end(JSON.stringify(manifest));
  await hanging(pidfile, exited);
  return { pgid: child.pid!, exited, stdout: () => stdout };
}

hostTest('the stand-in, like osbuild: SIGTERM leaves its mounts and directories, SIGINT undoes everything and exits 130', async (t) => {
  const dir = tmp();
  const groups: number[] = [];
  t.teardown(() => scrubHost([dir], groups));
  const term = await standinOnHost(path.join(dir, 'term'));
  groups.push(term.pgid);
  const up = mountsUnder(dir);
  t.true(up.some((m) => /\/store\/tmp\/host[^/]+\/usr$/.test(m)), up.join('\n'));
  t.true(up.some((m) => /\/run\/osbuild-dev-[^/]+$/.test(m)));
  t.true(up.some((m) => /\/store\/tmp\/buildroot-tmp-[^/]+\/mounts$/.test(m)), 'the mount service mounted');
  t.true(loopsUnder(dir).length > 0, 'the loopback service attached the image');
  process.kill(-term.pgid, 'SIGTERM');
  t.is(await term.exited, 'SIGTERM');
  await until('the services to end', async () => (groupMembers(term.pgid).length === 0 ? true : undefined));
  // the services undid their loop devices when osbuild's end closed their pipe (their mounts, all
  // at once, may fail: / is busy while /boot is still mounted on it); osbuild's own stay
  t.deepEqual(loopsUnder(dir), []);
  const left = mountsUnder(dir);
  t.true(left.some((m) => /\/store\/tmp\/host[^/]+\/usr$/.test(m)) && left.some((m) => /\/run\/osbuild-dev-/.test(m)), left.join('\n'));
  scrubHost([dir]);

  const int = await standinOnHost(path.join(dir, 'int'));
  groups.push(int.pgid);
  process.kill(-int.pgid, 'SIGINT');
  t.is(await int.exited, 130);
  t.is(int.stdout(), '\nAborted\n');
  t.deepEqual(mountsUnder(path.join(dir, 'int')), []);
  t.deepEqual(loopsUnder(path.join(dir, 'int')), []);
  t.deepEqual(readdirSync(path.join(dir, 'int', 'store', 'tmp')), []);
  t.deepEqual(readdirSync(path.join(dir, 'int', 'store', 'stage')), []);
  t.deepEqual(readdirSync(path.join(dir, 'int', 'run')), []);
});

hostTest('removeLeftovers after SIGKILL: this build\'s mounts, loop device, staging entries and temp dirs go; another build\'s stay', async (t) => {
  const dir = tmp();
  const store = path.join(dir, 'store');
  const groups: number[] = [];
  t.teardown(() => scrubHost([dir], groups));
  // another build's: a temp dir in the store, and a staging entry whose lock is held
  mkdirSync(path.join(store, 'tmp', 'host-other'), { recursive: true });
  mkdirSync(path.join(store, 'stage', 'uuid-other'), { recursive: true });
  const lockFile = path.join(store, 'stage', 'uuid-other', 'object.lock');
  writeFileSync(lockFile, '');
  const holder = spawn('flock', ['--exclusive', lockFile, 'sleep', '120'], { detached: true, stdio: 'ignore' });
  groups.push(holder.pid!);
  await until('the other build\'s lock', async () => (readFileSync('/proc/locks', 'utf8').includes(`:${statSync(lockFile).ino} `) ? true : undefined));
  const before = await listStore(store);

  const killed = await standinOnHost(dir);
  groups.push(killed.pgid);
  process.kill(-killed.pgid, 'SIGKILL');
  await until('the group to go', async () => (groupMembers(killed.pgid).length === 0 ? true : undefined));
  t.true(mountsUnder(dir).length >= 4, 'SIGKILL left the mounts of osbuild and of its services');
  t.true(loopsUnder(dir).length > 0, 'and the loop devices');
  const udevLocks = loopsUnder(dir).map((l) => `/run/osbuild/locks/udev/device-${readFileSync(`/sys/block/${l.split(' ')[0]}/dev`, 'utf8').trim()}`);
  t.true(udevLocks.every((f) => existsSync(f)), 'and their udev inhibitors');

  // while another osbuild uses the store, the temp dirs cannot be told apart and stay
  const other = spawn('sh', ['-c', 'sleep 120; :', 'osbuild', '--store', store], { detached: true, stdio: 'ignore' });
  groups.push(other.pid!);
  await until('the other osbuild', async () => (readFileSync(`/proc/${other.pid}/cmdline`, 'utf8').includes('--store') ? true : undefined));
  const shared = await removeLeftovers({ storeDir: store, outputDir: path.join(dir, 'out'), ownRunDir: path.join(dir, 'run'), before }, silentLogger);
  t.true(shared.left.length > 0 && shared.left.every((l) => l.includes(`osbuild pid ${other.pid} uses this store too`)), shared.left.join('\n'));
  t.deepEqual(mountsUnder(path.join(dir, 'run')), [], 'the run directory is this build\'s alone');
  t.deepEqual(loopsUnder(dir), [], 'the loop devices were backed by a stale staging entry: this build\'s');
  t.deepEqual(shared.locks.sort(), udevLocks.sort());
  t.false(udevLocks.some((f) => existsSync(f)));
  t.deepEqual(readdirSync(path.join(store, 'stage')), ['uuid-other']);
  process.kill(-other.pid!, 'SIGKILL');
  await until('the other osbuild to go', async () => (groupMembers(other.pid!).length === 0 ? true : undefined));

  const report = await removeLeftovers({ storeDir: store, outputDir: path.join(dir, 'out'), before }, silentLogger);
  t.true(report.mounts.some((m) => /\/store\/tmp\/host[^/]+\/usr$/.test(m)), report.mounts.join('\n'));
  t.deepEqual(report.left, []);
  t.deepEqual(mountsUnder(dir), []);
  t.deepEqual(readdirSync(path.join(store, 'tmp')), ['host-other']);
  t.deepEqual(readdirSync(path.join(store, 'stage')), ['uuid-other']);
  t.true(existsSync(lockFile));
});

hostTest('runOsbuild: an osbuild that ignores SIGINT is killed, and what it left on the host is removed', async (t) => {
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const dir = tmp();
  const pidfile = path.join(dir, 'pids');
  const ac = new AbortController();
  let pid = 0;
  t.teardown(() => scrubHost([dir], pid ? [pid] : []));
  const runDirs = () => (existsSync('/run/osbuild') ? readdirSync('/run/osbuild').filter((n) => n.startsWith('kiln-')) : []);
  const runs = new Set(runDirs());
  const run = runOsbuild({
    manifest,
    exportPipeline: 'qcow2',
    exportFilename: 'disk.qcow2',
    outputDir: path.join(dir, 'outputs', 'c', 'i'),
    storeDir: path.join(dir, 'store'),
    osbuildPath: STANDIN,
    signal: ac.signal,
    stopGraceMs: 1_000,
    onSpawn: (p) => (pid = p),
    env: { ...process.env, KILN_STANDIN_HOST_EFFECTS: '1', KILN_STANDIN_HANG: 'image:org.osbuild.copy', KILN_STANDIN_IGNORE_INT: '1', KILN_STANDIN_PIDFILE: pidfile },
  });
  await hanging(pidfile, run.catch(() => undefined));
  t.true(loopsUnder(dir).length > 0);
  t.deepEqual(mountsUnder(dir), [], 'osbuild mounts in a namespace of its own: none of it is seen here');
  // other builds on this host (other test files) make run directories of their own at the same time
  const ownRun = runDirs().filter((n) => !runs.has(n) && n.startsWith(`kiln-${process.pid}-`));
  t.is(ownRun.length, 1, 'a run directory of its own');
  t.true(readdirSync(path.join('/run/osbuild', ownRun[0])).some((n) => n.startsWith('osbuild-dev-')));
  ac.abort();
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_OSBUILD_CANCELED');
  const logText = readFileSync((err as KilnError).details!.logPath as string, 'utf8');
  t.regex(logText, /osbuild exited with SIGKILL\n/);
  t.regex(logText, /kiln removed what osbuild left: .*loop device \/dev\/loop\d+ \(.*\/store\/stage\/uuid-[0-9a-f]+\/data\/tree\/disk\.img\)/);
  t.deepEqual(groupMembers(pid), []);
  t.deepEqual(mountsUnder(dir), []);
  t.deepEqual(loopsUnder(dir), []);
  t.deepEqual(readdirSync(path.join(dir, 'store', 'tmp')), []);
  t.deepEqual(readdirSync(path.join(dir, 'store', 'stage')), []);
  t.false(existsSync(path.join('/run/osbuild', ownRun[0])));
});

// ---------- the store: build root checkpoint, bounded cache ----------

test('store options: the build pipeline as checkpoint, the cache bounded; osbuild takes the arguments', async (t) => {
  t.is(parseCacheSize('20GiB'), 20 * 1024 ** 3);
  t.is(parseCacheSize('500 MB'), 500e6);
  t.is(parseCacheSize(1234), 1234);
  t.is(parseCacheSize('0'), 0);
  t.is(parseCacheSize('unlimited'), 'unlimited');
  const bad = t.throws(() => parseCacheSize('20 gigs'));
  t.regex(bad!.message, /osbuild\.cache_max_size/);
  const { manifest } = manifestFor('fedora-43', 'x86_64', 'guest-image');
  const store = storeOptions(manifest, '20GiB');
  t.deepEqual(store, { cache_max_size: 21474836480, checkpoints: ['build'] });
  t.deepEqual(storeArgs(store), ['--cache-max-size=21474836480', '--checkpoint', 'build']);
  t.deepEqual(storeOptions(manifest, 0), { cache_max_size: 0 }, 'nothing is kept: no checkpoint');
  const noBuild = { ...manifest, pipelines: manifest.pipelines.filter((p) => p.name !== 'build') };
  t.deepEqual(storeOptions(noBuild, 'unlimited'), { cache_max_size: 'unlimited' }, 'a checkpoint matching nothing would make osbuild refuse the manifest');
  const res = await runStandin(manifest, { extraArgs: storeArgs(store) });
  t.true(res.success);
  t.regex(readFileSync(res.logPath, 'utf8').split('\n')[0], / --cache-max-size=21474836480 --checkpoint build -$/);
  const err = await t.throwsAsync(runStandin(manifest, { extraArgs: ['--checkpoint', 'nothing-matches'] }));
  t.regex(err!.message, /No checkpoints matched provided patterns!/);
});

test('config: osbuild.cache_max_size and osbuild.stop_grace_seconds, with defaults; a bad value names its key', (t) => {
  const defaults = loadConfig({ env: {}, overrides: { state_dir: tmp() } });
  t.is(defaults.osbuild.cache_max_size, '20GiB');
  t.is(defaults.osbuild.stop_grace_seconds, 30);
  const set = loadConfig({ env: { KILN_OSBUILD_CACHE_MAX_SIZE: '512MiB', KILN_OSBUILD_STOP_GRACE_SECONDS: '5' }, overrides: { state_dir: tmp() } });
  t.is(parseCacheSize(set.osbuild.cache_max_size), 512 * 1024 ** 2);
  t.is(set.osbuild.stop_grace_seconds, 5);
  t.is(loadConfig({ env: {}, overrides: { state_dir: tmp(), osbuild: { cache_max_size: 0 } } }).osbuild.cache_max_size, 0);
  for (const [env, key] of [
    [{ KILN_OSBUILD_CACHE_MAX_SIZE: '2 bananas' }, 'osbuild.cache_max_size'],
    [{ KILN_OSBUILD_STOP_GRACE_SECONDS: '0' }, 'osbuild.stop_grace_seconds'],
  ] as const) {
    const err = t.throws(() => loadConfig({ env, overrides: { state_dir: tmp() } }));
    t.regex(err!.message, new RegExp(key.replace('.', '\\.')), err!.message);
  }
});
