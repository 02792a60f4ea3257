import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { KilnError } from '../src/errors.js';
import { generateManifest, packageRequests, resolveImage, type Manifest, type ProgressEvent } from '../src/osbuild/index.js';
import { startBuilder, type Builder, type BuilderLimits } from '../src/builder/agent.js';
import { runOnBuilder } from '../src/builder/manager.js';
import { spawnTs } from './helpers/process.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';
import { until } from './helpers/until.js';
import { canMountAndLoop, groupMembers, loopsUnder, mountsUnder, scrubHost } from './helpers/host.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const AGENT = fileURLToPath(new URL('../src/builder/agent.ts', import.meta.url));
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'kiln-builder-test-'));
test.after.always(() => rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const tmp = () => {
  const d = path.join(tmpRoot, String(dirCount++));
  mkdirSync(d, { recursive: true });
  return d;
};

const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
const manifest: Manifest = generateManifest({ image, seed: '1', packages: syntheticDepsolve(packageRequests({ image, seed: '1' }), 'x86_64') });
const IMAGE_SIZE = 2 * 1024 * 1024 + 5;

/** The bytes the stand-in writes for an image of `size` bytes (its writeImage pattern). */
function standinImageSha256(size: number): string {
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
  const h = createHash('sha256');
  for (let off = 0; off < size; off += block.length) h.update(block.subarray(0, Math.min(block.length, size - off)));
  return h.digest('hex');
}

/** Test cleanup: whatever of a group a failed test left behind. */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // gone, as it should be
  }
}

function pgidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/**
 * Each build starts node twice (the guard, the stand-in through tsx) and some tests start a
 * builder process; run at most three tests at once so a small CI machine keeps up.
 */
let running = 0;
const waiting: Array<() => void> = [];
function limited(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  test(title, async (t) => {
    if (running >= 3) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      await fn(t);
    } finally {
      running--;
      waiting.shift()?.();
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The stand-in's "<own pid> <child pid>" once it hangs. */
async function hangingPids(pidfile: string): Promise<[number, number]> {
  return until('the stand-in to hang', () => {
    if (!existsSync(pidfile)) return undefined;
    const pids = readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
    return pids.length === 2 ? (pids as [number, number]) : undefined;
  });
}

interface TestBuilder extends Builder {
  workDir: string;
}

async function builder(t: ExecutionContext, opts: { limits?: Partial<BuilderLimits>; standin?: Record<string, string> } = {}): Promise<TestBuilder> {
  const workDir = tmp();
  const b = await startBuilder({
    workDir,
    osbuildPath: STANDIN,
    limits: { stopGraceMs: 2_000, ...opts.limits },
    env: { ...process.env, ...opts.standin },
  });
  t.teardown(() => b.close());
  return Object.assign(b, { workDir });
}

async function status(b: Builder): Promise<Record<string, any>> {
  const res = await fetch(`${b.url}/status`);
  return (await res.json()) as Record<string, any>;
}

/** The builder is free again and no jobsite is left in its work area. */
async function assertFreeAndClean(t: ExecutionContext, b: TestBuilder): Promise<Record<string, any>> {
  // a jobsite ends (osbuild's group waited for, work area removed) just after its last answer
  const s = await until('the builder to be free', async () => {
    const st = await status(b);
    return st.state === 'free' ? st : undefined;
  }).catch(() => status(b));
  t.is(s.state, 'free', JSON.stringify(s));
  t.deepEqual(
    readdirSync(b.workDir).filter((n) => n.startsWith('jobsite-')),
    [],
    'the work area is removed',
  );
  return s;
}

async function send(b: Builder, method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (Buffer.isBuffer(body)) init.body = body as unknown as BodyInit;
  else if (typeof body === 'string') {
    init.body = body;
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(`${b.url}${route}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a stream
  }
  return { status: res.status, body: parsed };
}

const buildArgs = { export_pipeline: 'qcow2', export_filename: 'disk.qcow2', image_name: 'kiln-test-1-1.x86_64.qcow2' };

async function sourcesTar(files: Record<string, string | Buffer>, extra?: (dir: string) => void): Promise<Buffer> {
  const dir = tmp();
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  extra?.(dir);
  const chunks: Buffer[] = [];
  for await (const c of tar.c({ cwd: dir, portable: true }, readdirSync(dir))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

// ---------- a full jobsite ----------

limited('a full jobsite through the manager: image, log and manifest arrive checked; progress streams', async (t) => {
  const b = await builder(t, { standin: { KILN_STANDIN_IMAGE_SIZE: String(IMAGE_SIZE), KILN_STANDIN_DELAY_MS: '5' } });
  const src = tmp();
  mkdirSync(path.join(src, 'org.osbuild.files'), { recursive: true });
  writeFileSync(path.join(src, 'org.osbuild.files', 'sha256:0123'), 'an rpm the builder cannot fetch');
  const outputDir = path.join(tmp(), 'outputs', 'compose-1', 'image-1');
  const events: ProgressEvent[] = [];
  const started = Date.now();
  const res = await runOnBuilder({
    url: b.url,
    manifest,
    exportPipeline: image.exportPipeline,
    exportFilename: image.filename,
    outputDir,
    imageName: 'kiln-test-1-1.x86_64.qcow2',
    sources: { dir: src },
    store: { cache_max_size: 'unlimited' },
    timeoutMs: 60_000,
    onProgress: (e) => events.push(e),
  });
  t.true(res.success, JSON.stringify(res.errors));
  t.is(res.imagePath, path.join(outputDir, 'kiln-test-1-1.x86_64.qcow2'));
  t.is(res.size, IMAGE_SIZE);
  t.deepEqual(readdirSync(outputDir).sort(), ['kiln-test-1-1.x86_64.qcow2', 'kiln-test-1-1.x86_64.qcow2.manifest.json', 'kiln-test-1-1.x86_64.qcow2.osbuild.log']);
  // checked independently of the manager: the stand-in's byte pattern
  t.is(createHash('sha256').update(readFileSync(res.imagePath!)).digest('hex'), standinImageSha256(IMAGE_SIZE));
  t.deepEqual(JSON.parse(readFileSync(res.manifestPath, 'utf8')), manifest);
  const logText = readFileSync(res.logPath, 'utf8');
  t.regex(logText, /\[os\] Starting module org\.osbuild\.rpm/);
  t.regex(logText, /--cache-max-size=unlimited/);
  t.true(res.rpms.length > 0);
  t.is(res.osbuildResult.success, true);
  t.deepEqual(res.errors, []);
  t.true(events.length > 5, `${events.length} progress events`);
  const last = events.at(-1)!;
  t.is(last.done, last.total);
  t.true(events.some((e) => e.pipeline === 'os' && e.stage === 'org.osbuild.rpm'));
  const s = await assertFreeAndClean(t, b);
  t.is(s.last_ended.reason, 'exported');
  t.log(`${events.length} events, ${Date.now() - started} ms`);
});

limited('the phases by hand: populate lands in the source store, progress is NDJSON, export is a tar with sha256s', async (t) => {
  const b = await builder(t, { standin: { KILN_STANDIN_IMAGE_SIZE: '4096' } });
  t.is((await send(b, 'POST', '/claim', { id: 'js-1' })).status, 201);
  t.is((await status(b)).phase, 'claim');
  t.is((await send(b, 'PUT', '/jobsite/js-1/manifest', manifest)).status, 200);
  const tarball = await sourcesTar({ 'org.osbuild.files/sha256:abcd': 'source bytes' });
  const pop = await send(b, 'PUT', '/jobsite/js-1/sources', tarball, { 'content-type': 'application/x-tar' });
  t.is(pop.status, 200, JSON.stringify(pop.body));
  t.is(pop.body.phase, 'populate');
  // unpacked in the jobsite, then moved into osbuild's store, which outlives jobsites
  t.is(readFileSync(path.join(b.workDir, 'store', 'sources', 'org.osbuild.files', 'sha256:abcd'), 'utf8'), 'source bytes');
  const built = await send(b, 'POST', '/jobsite/js-1/build', buildArgs);
  t.is(built.status, 202, JSON.stringify(built.body));

  const prog = await fetch(`${b.url}/jobsite/js-1/progress`);
  t.is(prog.headers.get('content-type'), 'application/x-ndjson');
  const lines = (await prog.text()).trim().split('\n').map((l) => JSON.parse(l));
  t.true(lines.slice(0, -1).every((l) => l.type === 'progress' || l.type === 'heartbeat'));
  t.true(lines.filter((l) => l.type === 'progress').length > 3);
  const final = lines.at(-1);
  t.is(final.type, 'result');
  t.is(final.success, true);
  t.is((await status(b)).phase, 'progress');

  const exp = await fetch(`${b.url}/jobsite/js-1/export`);
  t.is(exp.headers.get('content-type'), 'application/x-tar');
  const body = Buffer.from(await exp.arrayBuffer());
  const entries: Array<{ path: string; data: Buffer }> = [];
  await new Promise<void>((resolve, reject) => {
    const p = new tar.Parser({
      onReadEntry: (e) => {
        const chunks: Buffer[] = [];
        e.on('data', (c: Buffer) => chunks.push(c));
        e.on('end', () => entries.push({ path: e.path, data: Buffer.concat(chunks) }));
      },
    });
    p.on('end', resolve);
    p.on('error', reject);
    p.end(body);
  });
  t.is(entries[0].path, 'kiln-export.json');
  const header = JSON.parse(entries[0].data.toString('utf8'));
  t.is(header.jobsite, 'js-1');
  t.deepEqual(header.files.map((f: { kind: string }) => f.kind), ['image', 'log', 'manifest']);
  for (const f of header.files) {
    const e = entries.find((x) => x.path === f.name)!;
    t.truthy(e, f.name);
    t.is(e.data.length, f.size);
    t.is(createHash('sha256').update(e.data).digest('hex'), f.sha256);
  }
  t.is(header.files[0].sha256, standinImageSha256(4096));
  await until('the jobsite to end after export', async () => (await status(b)).state === 'free');
  await assertFreeAndClean(t, b);
  t.is(readFileSync(path.join(b.workDir, 'store', 'sources', 'org.osbuild.files', 'sha256:abcd'), 'utf8'), 'source bytes', 'the store is kept');
  // the ended jobsite's id is refused, not mistaken for a new one
  const again = await send(b, 'PUT', '/jobsite/js-1/manifest', manifest);
  t.is(again.status, 409);
  t.regex(again.body.message, /jobsite js-1 has ended: exported/);
});

limited('a failed build: success false naming the stage, log and manifest still fetched', async (t) => {
  const b = await builder(t, { standin: { KILN_STANDIN_FAIL_STAGE: 'os:org.osbuild.selinux' } });
  const outputDir = tmp();
  const res = await runOnBuilder({ url: b.url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir, timeoutMs: 60_000 });
  t.false(res.success);
  t.is(res.imagePath, undefined);
  t.is(res.exitCode, 1);
  t.is(res.errors[0].stage, 'org.osbuild.selinux');
  t.is(res.errors[0].pipeline, 'os');
  t.regex(readFileSync(res.logPath, 'utf8'), /Finished module org\.osbuild\.selinux \(FAILED/);
  t.deepEqual(readdirSync(outputDir).sort(), ['disk.qcow2.manifest.json', 'disk.qcow2.osbuild.log']);
  await assertFreeAndClean(t, b);
});

limited('osbuild dying without a result: KILN_OSBUILD from the builder, the log fetched', async (t) => {
  const b = await builder(t, { standin: { KILN_STANDIN_CRASH: '1' } });
  const outputDir = tmp();
  const err = await t.throwsAsync(runOnBuilder({ url: b.url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir, timeoutMs: 60_000 }));
  t.is((err as KilnError).code, 'KILN_OSBUILD');
  t.regex(err!.message, /stand-in crash/);
  t.regex(readFileSync(path.join(outputDir, 'disk.qcow2.osbuild.log'), 'utf8'), /stand-in crash/);
  await assertFreeAndClean(t, b);
});

// ---------- protocol violations ----------

interface Violation {
  name: string;
  limits?: Partial<BuilderLimits>;
  standin?: Record<string, string>;
  /** Steps that are in order; each must succeed. */
  before: Array<[string, string, unknown?, Record<string, string>?]>;
  /** The offending request. */
  bad: [string, string, unknown?, Record<string, string>?];
  status: number;
  phase: string;
  message: RegExp;
}

const big = { ...manifest, sources: { 'org.osbuild.curl': { items: { filler: { url: 'x'.repeat(80 * 1024) } } } } };

const violations: Violation[] = [
  { name: 'build before provision', before: [['POST', '/claim', { id: 'v' }]], bad: ['POST', '/jobsite/v/build', buildArgs], status: 409, phase: 'build', message: /build: out of order after claim \(expected provision\)/ },
  {
    name: 'provision twice',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['PUT', '/jobsite/v/manifest', manifest],
    status: 409,
    phase: 'provision',
    message: /provision: out of order after provision \(expected populate or build\)/,
  },
  {
    name: 'populate before provision',
    before: [['POST', '/claim', { id: 'v' }]],
    bad: ['PUT', '/jobsite/v/sources', Buffer.alloc(1024), { 'content-type': 'application/x-tar' }],
    status: 409,
    phase: 'populate',
    message: /populate: out of order after claim/,
  },
  {
    name: 'progress before build',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['GET', '/jobsite/v/progress'],
    status: 409,
    phase: 'progress',
    message: /progress: out of order after provision/,
  },
  {
    name: 'export before build',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['GET', '/jobsite/v/export'],
    status: 409,
    phase: 'export',
    message: /export: out of order after provision \(expected populate or build\)/,
  },
  {
    name: 'export during the build, before progress',
    standin: { KILN_STANDIN_DELAY_MS: '200' },
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest], ['POST', '/jobsite/v/build', buildArgs]],
    bad: ['GET', '/jobsite/v/export'],
    status: 409,
    phase: 'export',
    message: /export: out of order after build \(expected progress\)/,
  },
  {
    name: 'populate after build',
    standin: { KILN_STANDIN_DELAY_MS: '200' },
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest], ['POST', '/jobsite/v/build', buildArgs]],
    bad: ['PUT', '/jobsite/v/sources', Buffer.alloc(1024), { 'content-type': 'application/x-tar' }],
    status: 409,
    phase: 'populate',
    message: /populate: out of order after build/,
  },
  {
    name: 'oversized manifest',
    limits: { manifestBytes: 64 * 1024 },
    before: [['POST', '/claim', { id: 'v' }]],
    bad: ['PUT', '/jobsite/v/manifest', big],
    status: 413,
    phase: 'provision',
    message: /provision: .*too large/i,
  },
  {
    name: 'oversized sources',
    limits: { sourcesBytes: 4096 },
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['PUT', '/jobsite/v/sources', Buffer.alloc(64 * 1024), { 'content-type': 'application/x-tar' }],
    status: 413,
    phase: 'populate',
    message: /populate: 65536 bytes is more than the limit of 4096/,
  },
  {
    name: 'malformed manifest (not JSON)',
    before: [['POST', '/claim', { id: 'v' }]],
    bad: ['PUT', '/jobsite/v/manifest', '{"version": "2", "pipelines": [', { 'content-type': 'application/json' }],
    status: 400,
    phase: 'provision',
    message: /provision: /,
  },
  {
    name: 'manifest of the wrong shape',
    before: [['POST', '/claim', { id: 'v' }]],
    bad: ['PUT', '/jobsite/v/manifest', { version: '1', pipelines: [] }],
    status: 400,
    phase: 'provision',
    message: /provision: invalid/,
  },
  {
    name: 'malformed build arguments',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['POST', '/jobsite/v/build', { ...buildArgs, export_filename: '../../etc/passwd' }],
    status: 400,
    phase: 'build',
    message: /build: invalid .*export_filename/,
  },
  {
    name: 'build arguments with an unknown field',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['POST', '/jobsite/v/build', { ...buildArgs, shell: 'rm -rf /' }],
    status: 400,
    phase: 'build',
    message: /build: invalid/,
  },
  {
    name: 'sources that are not a tar',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['PUT', '/jobsite/v/sources', Buffer.from('this is not a tar archive at all'.repeat(40)), { 'content-type': 'application/x-tar' }],
    status: 400,
    phase: 'populate',
    message: /populate: /,
  },
  {
    name: 'sources as JSON instead of a tar',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['PUT', '/jobsite/v/sources', { files: [] }],
    status: 400,
    phase: 'populate',
    message: /populate: /,
  },
  {
    name: 'a second claim',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['POST', '/claim', { id: 'other' }],
    status: 409,
    phase: 'claim',
    message: /claim: a second claim \(other\) while jobsite v is active/,
  },
  {
    name: 'a wrong claim id',
    before: [['POST', '/claim', { id: 'v' }], ['PUT', '/jobsite/v/manifest', manifest]],
    bad: ['POST', '/jobsite/w/build', buildArgs],
    status: 409,
    phase: 'build',
    message: /build: wrong claim id w \(jobsite v is active, at provision\)/,
  },
  {
    name: 'a request that is no phase',
    before: [['POST', '/claim', { id: 'v' }]],
    bad: ['POST', '/jobsite/v/shell', { cmd: 'id' }],
    status: 404,
    phase: '',
    message: /no route POST \/jobsite\/v\/shell/,
  },
];

for (const v of violations) {
  limited(`violation ends the jobsite: ${v.name}`, async (t) => {
    const b = await builder(t, { limits: v.limits, standin: v.standin });
    for (const [method, route, body, headers] of v.before) {
      const r = await send(b, method, route, body, headers);
      t.true(r.status < 300, `${method} ${route}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    const building = v.before.some(([, route]) => route.endsWith('/build'));
    const pid = building ? await until('osbuild to start', async () => (await status(b)).osbuild_pid as number | undefined) : undefined;
    if (building) t.true(groupMembers(pid!).length > 0, 'osbuild is running');
    if (pid) t.teardown(() => killGroup(pid));
    const [method, route, body, headers] = v.bad;
    const r = await send(b, method, route, body, headers);
    t.is(r.status, v.status, JSON.stringify(r.body));
    t.regex(r.body.message, v.message);
    if (v.phase) t.is(r.body.phase, v.phase);
    t.true(r.body.ended, 'the answer says the jobsite ended');
    const s = await assertFreeAndClean(t, b);
    t.regex(s.last_ended.reason, v.message);
    if (pid) t.deepEqual(groupMembers(pid), [], 'osbuild was killed');
    // the builder takes the next claim
    t.is((await send(b, 'POST', '/claim', { id: 'next' })).status, 201);
  });
}

limited('violation: a symlink in the sources tar ends the jobsite, nothing written outside the store', async (t) => {
  const b = await builder(t);
  await send(b, 'POST', '/claim', { id: 'v' });
  await send(b, 'PUT', '/jobsite/v/manifest', manifest);
  const tarball = await sourcesTar({ 'org.osbuild.files/ok': 'fine' }, (dir) => symlinkSync('/etc/passwd', path.join(dir, 'org.osbuild.files', 'evil')));
  const r = await send(b, 'PUT', '/jobsite/v/sources', tarball, { 'content-type': 'application/x-tar' });
  t.is(r.status, 400, JSON.stringify(r.body));
  t.regex(r.body.message, /populate: .*SymbolicLink entries are not accepted/);
  t.is(r.body.phase, 'populate');
  await assertFreeAndClean(t, b);
});

limited('violation: sources streamed past the limit (no length given) end the jobsite; the manager names populate', async (t) => {
  const b = await builder(t, { limits: { sourcesBytes: 256 * 1024 } });
  const src = tmp();
  mkdirSync(path.join(src, 'org.osbuild.files'));
  writeFileSync(path.join(src, 'org.osbuild.files', 'sha256:big'), Buffer.alloc(2 * 1024 * 1024, 1));
  const err = await t.throwsAsync(runOnBuilder({ url: b.url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), sources: { dir: src } }));
  t.is((err as KilnError).code, 'KILN_BUILDER');
  t.regex(err!.message, /refused populate \(HTTP 413\)|failed in populate: .*the builder ended the jobsite: populate: more than the limit/);
  t.log(err!.message);
  const s = await assertFreeAndClean(t, b);
  t.regex(s.last_ended.reason, /populate: more than the limit of 262144 bytes/);
});

limited('violation: a stalled sources upload ends at the populate time limit', async (t) => {
  const b = await builder(t, { limits: { populateTimeoutMs: 1_000 } });
  await send(b, 'POST', '/claim', { id: 'v' });
  await send(b, 'PUT', '/jobsite/v/manifest', manifest);
  const { Readable } = await import('node:stream');
  const stalled = new Readable({ read() {} });
  stalled.push(Buffer.alloc(512));
  const req = fetch(`${b.url}/jobsite/v/sources`, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-tar' },
    body: Readable.toWeb(stalled) as unknown as BodyInit,
    duplex: 'half',
  } as RequestInit).then(
    (r) => r.status,
    () => 'closed',
  );
  await until('the populate timeout', async () => (await status(b)).state === 'free', 10_000);
  const s = await assertFreeAndClean(t, b);
  t.regex(s.last_ended.reason, /populate: the upload did not finish within 1000 ms/);
  t.not(await req, 200);
  stalled.destroy();
});

limited('violation: a silent manager ends the jobsite after the phase timeout', async (t) => {
  const b = await builder(t, { limits: { phaseTimeoutMs: 1_500 } });
  await send(b, 'POST', '/claim', { id: 'v' });
  await send(b, 'PUT', '/jobsite/v/manifest', manifest);
  const at = Date.now();
  await until('the phase timeout', async () => (await status(b)).state === 'free', 10_000);
  t.true(Date.now() - at > 500);
  const s = await assertFreeAndClean(t, b);
  t.regex(s.last_ended.reason, /populate or build: the manager sent nothing within 1500 ms after provision/);
  const late = await send(b, 'POST', '/jobsite/v/build', buildArgs);
  t.is(late.status, 409);
  t.regex(late.body.message, /jobsite v has ended: populate or build: the manager sent nothing/);
});

limited('violation: closing the progress stream mid-build kills osbuild and ends the jobsite', async (t) => {
  const pidfile = path.join(tmp(), 'pids');
  const b = await builder(t, { standin: { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile } });
  await send(b, 'POST', '/claim', { id: 'v' });
  await send(b, 'PUT', '/jobsite/v/manifest', manifest);
  await send(b, 'POST', '/jobsite/v/build', buildArgs);
  const ac = new AbortController();
  const res = await fetch(`${b.url}/jobsite/v/progress`, { signal: ac.signal });
  t.is(res.status, 200);
  const [standin, sleeper] = await hangingPids(pidfile);
  const pgid = pgidOf(standin);
  t.teardown(() => killGroup(pgid));
  t.is(pgid, (await status(b)).osbuild_pid);
  t.true(groupMembers(pgid).includes(sleeper));
  ac.abort();
  await until('the jobsite to end', async () => (await status(b)).state === 'free');
  const s = await assertFreeAndClean(t, b);
  t.regex(s.last_ended.reason, /progress: the manager closed the progress stream before the build ended/);
  t.deepEqual(groupMembers(pgid), []);
});

// ---------- cancel and a dying builder ----------

limited('cancel from the manager kills osbuild on the builder', async (t) => {
  const pidfile = path.join(tmp(), 'pids');
  const b = await builder(t, { standin: { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile } });
  const ac = new AbortController();
  const events: ProgressEvent[] = [];
  const run = runOnBuilder({ url: b.url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), signal: ac.signal, onProgress: (e) => events.push(e) });
  run.catch(() => undefined);
  const [standin, sleeper] = await hangingPids(pidfile);
  // progress streams while osbuild still runs (it hangs in its first stage)
  await until('progress events before the build ends', () => events.some((e) => e.stage !== undefined));
  const pgid = pgidOf(standin);
  t.teardown(() => killGroup(pgid));
  t.true(groupMembers(pgid).includes(sleeper), 'osbuild and its child run in one group');
  t.is((await status(b)).phase, 'progress');
  const at = Date.now();
  ac.abort();
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_OSBUILD_CANCELED');
  await until('the jobsite to end', async () => (await status(b)).state === 'free');
  t.deepEqual(groupMembers(pgid), [], 'nothing of the group survives');
  const s = await assertFreeAndClean(t, b);
  t.regex(s.last_ended.reason, /canceled by the manager|closed the progress stream/);
  t.log(`canceled in ${Date.now() - at} ms`);
});

limited('progress sends heartbeats while osbuild is quiet; DELETE ends the stream with the reason and kills osbuild', async (t) => {
  const pidfile = path.join(tmp(), 'pids');
  const b = await builder(t, { limits: { heartbeatMs: 200 }, standin: { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile } });
  await send(b, 'POST', '/claim', { id: 'hb' });
  await send(b, 'PUT', '/jobsite/hb/manifest', manifest);
  await send(b, 'POST', '/jobsite/hb/build', buildArgs);
  const res = await fetch(`${b.url}/jobsite/hb/progress`);
  const [standin] = await hangingPids(pidfile);
  const pgid = pgidOf(standin);
  t.teardown(() => killGroup(pgid));
  const reader = res.body!.getReader();
  let text = '';
  const decoder = new TextDecoder();
  await until('a heartbeat line', async () => {
    const { value } = await reader.read();
    text += decoder.decode(value, { stream: true });
    return text.includes('"type":"heartbeat"');
  });
  const del = await send(b, 'DELETE', '/jobsite/hb');
  t.is(del.status, 200, JSON.stringify(del.body));
  t.is(del.body.state, 'free');
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const last = JSON.parse(text.trim().split('\n').at(-1)!);
  t.is(last.type, 'error');
  t.is(last.phase, 'progress');
  t.regex(last.message, /jobsite hb ended: canceled by the manager at progress/);
  t.deepEqual(groupMembers(pgid), []);
  await assertFreeAndClean(t, b);
  // a second DELETE of the ended jobsite is harmless
  t.is((await send(b, 'DELETE', '/jobsite/hb')).status, 200);
});

limited('a frozen builder: the manager gives up after its idle timeout; once thawed the builder cleans up', async (t) => {
  const workDir = tmp();
  const pidfile = path.join(tmp(), 'pids');
  const child = spawnBuilder(t, workDir, { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile });
  t.teardown(() => child.kill('SIGCONT'));
  const [, url] = await child.waitFor(/"url":"(http:\/\/[^"]+)"/);
  const events: ProgressEvent[] = [];
  // long enough that a loaded CI machine does not trip it before the freeze
  const run = runOnBuilder({ url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), idleTimeoutMs: 8_000, onProgress: (e) => events.push(e) });
  let early: unknown;
  run.catch((e) => (early = e));
  const [standin] = await hangingPids(pidfile);
  await until('the progress stream to flow', () => {
    if (early) throw early;
    return events.some((e) => e.stage !== undefined);
  });
  const pgid = pgidOf(standin);
  t.teardown(() => killGroup(pgid));
  child.kill('SIGSTOP');
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_BUILDER');
  t.regex(err!.message, /lost the builder .* during progress .*no data from the builder for 8000 ms/);
  t.true(groupMembers(pgid).length > 0, 'osbuild still runs while the builder is frozen');
  child.kill('SIGCONT');
  await until('the builder to end the jobsite', () => groupMembers(pgid).length === 0 && readdirSync(workDir).every((n) => !n.startsWith('jobsite-')), 15_000);
  const s = (await (await fetch(`${url}/status`)).json()) as Record<string, any>;
  t.is(s.state, 'free');
  t.regex(s.last_ended.reason, /closed the progress stream|canceled by the manager/);
});

limited('the manager times out: KILN_OSBUILD_TIMEOUT and the builder ends the jobsite', async (t) => {
  const pidfile = path.join(tmp(), 'pids');
  const b = await builder(t, { standin: { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile } });
  const started = Date.now();
  const run = runOnBuilder({ url: b.url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), timeoutMs: 4_000 });
  let settled = false;
  run.then(
    () => (settled = true),
    () => (settled = true),
  );
  // on a loaded machine the stand-in may not reach its hang before the timeout
  const pids = await until('the stand-in to hang or the run to end', () => (existsSync(pidfile) ? 'hung' : settled ? 'settled' : undefined), 30_000);
  const pgid = pids === 'hung' ? pgidOf((await hangingPids(pidfile))[0]) : undefined;
  if (pgid) t.teardown(() => killGroup(pgid));
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_OSBUILD_TIMEOUT');
  t.true(Date.now() - started >= 4_000);
  await assertFreeAndClean(t, b);
  if (pgid) t.deepEqual(groupMembers(pgid), []);
});

function spawnBuilder(t: ExecutionContext, workDir: string, env: Record<string, string>) {
  const child = spawnTs(AGENT, env, ['--listen', '127.0.0.1', '--port', '0', '--work-dir', workDir, '--osbuild', STANDIN, '--log-level', 'warn']);
  t.teardown(() => child.kill('SIGKILL'));
  return child;
}

limited('killing the builder process mid-build: the manager fails clearly and no osbuild is left', async (t) => {
  const workDir = tmp();
  const pidfile = path.join(tmp(), 'pids');
  const child = spawnBuilder(t, workDir, { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile });
  const [, url] = await child.waitFor(/"url":"(http:\/\/[^"]+)"/);
  const run = runOnBuilder({ url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), timeoutMs: 60_000 });
  run.catch(() => undefined);
  const [standin, sleeper] = await hangingPids(pidfile);
  const pgid = pgidOf(standin);
  t.teardown(() => killGroup(pgid));
  t.not(pgid, child.child.pid, 'osbuild runs in its own process group');
  t.true(groupMembers(pgid).includes(sleeper));
  child.kill('SIGKILL');
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_BUILDER');
  // killed while the stream flows, or (on a loaded machine) before the progress request was answered
  t.regex(err!.message, /lost the builder .* during progress|connection to the builder .* failed in progress/);
  t.log(err!.message);
  await until('the orphaned osbuild group to be gone', () => groupMembers(pgid).length === 0, 5_000);
  t.deepEqual(groupMembers(pgid), []);
});

limited('the builder process on SIGTERM ends its jobsite: osbuild killed, work area removed', async (t) => {
  const workDir = tmp();
  const pidfile = path.join(tmp(), 'pids');
  const child = spawnBuilder(t, workDir, { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: pidfile });
  const [, url] = await child.waitFor(/"url":"(http:\/\/[^"]+)"/);
  const run = runOnBuilder({ url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), timeoutMs: 60_000 });
  run.catch(() => undefined);
  const [standin] = await hangingPids(pidfile);
  const pgid = pgidOf(standin);
  t.teardown(() => killGroup(pgid));
  t.true(existsSync(path.join(workDir, readdirSync(workDir).find((n) => n.startsWith('jobsite-'))!)));
  child.kill('SIGTERM');
  const exited = await child.exited;
  t.is(exited.code, 0, child.output());
  const err = await t.throwsAsync(run);
  t.is((err as KilnError).code, 'KILN_BUILDER');
  t.regex(err!.message, /ended the jobsite during progress: .*the builder is shutting down|lost the builder/);
  t.deepEqual(groupMembers(pgid), []);
  t.deepEqual(readdirSync(workDir).filter((n) => n.startsWith('jobsite-')), []);
});

// ---------- what osbuild leaves on the build VM (root: real mounts and loop devices) ----------

const HOST_EFFECTS = { KILN_STANDIN_HOST_EFFECTS: '1', KILN_STANDIN_HANG: 'image:org.osbuild.copy' };
const hostLimited = canMountAndLoop() ? limited : (title: string) => test.skip(title, () => undefined);

/** Nothing of osbuild is left on the host: processes, mounts, loop devices, store temp dirs. */
function assertHostClean(t: ExecutionContext, workDir: string, pgid: number): void {
  t.deepEqual(groupMembers(pgid), [], 'no process');
  t.deepEqual(mountsUnder(workDir), [], 'no mount');
  t.deepEqual(loopsUnder(workDir), [], 'no loop device');
  const store = path.join(workDir, 'store');
  t.deepEqual([...readdirSync(path.join(store, 'tmp')), ...readdirSync(path.join(store, 'stage'))], [], 'nothing in the store but its cache');
}

hostLimited('cancel from the manager (root): osbuild undoes its mounts and loop devices on the builder', async (t) => {
  const pidfile = path.join(tmp(), 'pids');
  const b = await builder(t, { standin: { ...HOST_EFFECTS, KILN_STANDIN_PIDFILE: pidfile } });
  const ac = new AbortController();
  const run = runOnBuilder({ url: b.url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), signal: ac.signal });
  run.catch(() => undefined);
  const [standin] = await hangingPids(pidfile);
  const pgid = pgidOf(standin);
  t.teardown(() => scrubHost([b.workDir], [pgid]));
  t.true(loopsUnder(b.workDir).length > 0, 'mid-build: loop devices attached');
  ac.abort();
  t.is(((await t.throwsAsync(run)) as KilnError).code, 'KILN_OSBUILD_CANCELED');
  await assertFreeAndClean(t, b);
  assertHostClean(t, b.workDir, pgid);
});

hostLimited('killing the builder mid-build (root): its guard stops osbuild with SIGINT; nothing is left on the host', async (t) => {
  const workDir = tmp();
  const pidfile = path.join(tmp(), 'pids');
  const child = spawnBuilder(t, workDir, { ...HOST_EFFECTS, KILN_STANDIN_PIDFILE: pidfile });
  const [, url] = await child.waitFor(/"url":"(http:\/\/[^"]+)"/);
  const run = runOnBuilder({ url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), timeoutMs: 60_000 });
  run.catch(() => undefined);
  const [standin] = await hangingPids(pidfile);
  const pgid = pgidOf(standin);
  t.teardown(() => scrubHost([workDir], [pgid]));
  t.true(loopsUnder(workDir).length > 0);
  child.kill('SIGKILL');
  t.is(((await t.throwsAsync(run)) as KilnError).code, 'KILN_BUILDER');
  await until('the orphaned osbuild to end', () => groupMembers(pgid).length === 0, 30_000);
  assertHostClean(t, workDir, pgid);
});

limited('kiln builder refuses a missing osbuild and a missing --work-dir', async (t) => {
  const a = spawnTs(AGENT, {}, ['--work-dir', tmp(), '--osbuild', path.join(tmpRoot, 'no', 'osbuild')]);
  t.teardown(() => a.kill());
  t.is((await a.exited).code, 2);
  t.regex(a.output(), /osbuild not found or not executable/);
  const b = spawnTs(AGENT, {}, ['--osbuild', STANDIN]);
  t.teardown(() => b.kill());
  t.is((await b.exited).code, 2);
  t.regex(b.output(), /--work-dir: is required/);
});

// ---------- the manager's checks against a builder that lies ----------

/** A builder that follows the protocol but sends an export whose header does not match. */
async function lyingBuilder(t: ExecutionContext, tamper: 'checksum' | 'extra-file' | 'truncated' | 'short'): Promise<string> {
  const dir = tmp();
  const image = Buffer.alloc(10_000, 7);
  writeFileSync(path.join(dir, 'disk.qcow2'), image);
  writeFileSync(path.join(dir, 'disk.qcow2.osbuild.log'), 'log\n');
  writeFileSync(path.join(dir, 'disk.qcow2.manifest.json'), '{}\n');
  writeFileSync(path.join(dir, 'evil'), 'x');
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const files = [
    { name: 'disk.qcow2', kind: 'image', size: image.length, sha256: tamper === 'checksum' ? sha('something else') : sha(image) },
    { name: 'disk.qcow2.osbuild.log', kind: 'log', size: 4, sha256: sha('log\n') },
    { name: 'disk.qcow2.manifest.json', kind: 'manifest', size: 3, sha256: sha('{}\n') },
  ];
  let id = '';
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      if (req.url === '/claim') {
        id = JSON.parse(Buffer.concat(chunks).toString()).id;
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ state: 'busy', jobsite: id, phase: 'claim' }));
      } else if (req.url?.endsWith('/progress')) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write(`${JSON.stringify({ type: 'progress', done: 1, total: 2 })}\n`);
        res.end(`${JSON.stringify({ type: 'result', success: true, exit_code: 0, errors: [], rpms: [], osbuild_result: { success: true } })}\n`);
      } else if (req.url?.endsWith('/export')) {
        writeFileSync(path.join(dir, 'kiln-export.json'), JSON.stringify({ jobsite: id, files }));
        const names = ['kiln-export.json', ...files.map((f) => f.name), ...(tamper === 'extra-file' ? ['evil'] : [])];
        const chunks2: Buffer[] = [];
        for await (const c of tar.c({ cwd: dir, portable: true }, names)) chunks2.push(c as Buffer);
        const body = Buffer.concat(chunks2);
        res.writeHead(200, { 'content-type': 'application/x-tar' });
        if (tamper === 'truncated') {
          // the connection drops inside the image entry
          res.write(body.subarray(0, 6000));
          setTimeout(() => res.destroy(), 200);
        } else if (tamper === 'short') {
          // a clean end of the response, inside the image entry
          res.end(body.subarray(0, 6000));
        } else res.end(body);
      } else if (req.method === 'DELETE') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"state":"free"}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"state":"busy"}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.closeAllConnections?.();
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

limited('a builder frozen before it answers: the manager gives up naming the phase', async (t) => {
  const child = spawnBuilder(t, tmp(), {});
  t.teardown(() => child.kill('SIGCONT'));
  const [, url] = await child.waitFor(/"url":"(http:\/\/[^"]+)"/);
  child.kill('SIGSTOP');
  const started = Date.now();
  const err = await t.throwsAsync(runOnBuilder({ url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), idleTimeoutMs: 1_000 }));
  t.is((err as KilnError).code, 'KILN_BUILDER');
  t.regex(err!.message, /did not answer claim within 1000 ms/);
  t.true(Date.now() - started < 10_000);
});

for (const [tamper, message] of [
  ['checksum', /export: checksum mismatch for disk\.qcow2/],
  ['extra-file', /export: unexpected entry "evil"/],
  ['truncated', /lost the builder .* during export: terminated/],
  ['short', /export: (the stream broke off inside disk\.qcow2|bad tar stream)/],
] as const) {
  limited(`the manager rejects a bad export (${tamper}) and keeps no partial file`, async (t) => {
    const url = await lyingBuilder(t, tamper);
    const outputDir = tmp();
    const err = await t.throwsAsync(runOnBuilder({ url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir, timeoutMs: 20_000 }));
    t.is((err as KilnError).code, 'KILN_BUILDER');
    t.regex(err!.message, message);
    t.deepEqual(readdirSync(outputDir), []);
  });
}

limited('the manager against a busy builder: the refusal names the claim phase', async (t) => {
  const b = await builder(t);
  t.is((await send(b, 'POST', '/claim', { id: 'first' })).status, 201);
  const err = await t.throwsAsync(runOnBuilder({ url: b.url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp(), claimId: 'second' }));
  t.is((err as KilnError).code, 'KILN_BUILDER');
  t.regex(err!.message, /builder refused claim \(HTTP 409\): claim: a second claim \(second\) while jobsite first is active/);
  await assertFreeAndClean(t, b);
});

limited('the manager against no builder: KILN_BUILDER naming the claim phase', async (t) => {
  const b = await builder(t);
  const url = b.url;
  await b.close();
  const err = await t.throwsAsync(runOnBuilder({ url, manifest, exportPipeline: 'qcow2', exportFilename: 'disk.qcow2', outputDir: tmp() }));
  t.is((err as KilnError).code, 'KILN_BUILDER');
  t.regex(err!.message, /connection to the builder .* failed in claim: .*ECONNREFUSED/);
});
