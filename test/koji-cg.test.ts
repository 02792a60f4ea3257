/** The hub's CG and upload rules, met by Kiln's client. */
import test from 'ava';
import { existsSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { hubFixture, CG, randomContent, type HubFixture } from './helpers/koji-hub.js';
import {
  BuildState,
  KojiAuthError,
  KojiFault,
  KojiGenericError,
  KojiLockError,
  KojiUploadError,
  buildCGMetadata,
  cgImport,
  cgInitBuild,
  cgRefundBuild,
  getBuild,
  getBuildTarget,
  getNextRelease,
  getTaskInfo,
  listArchives,
  tagBuild,
  uploadFile,
  validateCGMetadata,
  type CgMetadata,
  type KojiClient,
  type UploadResult,
} from '../src/koji/index.js';
import { InvalidInputError } from '../src/errors.js';

const NVR = { name: 'guest', version: '9', release: '1' };

async function prepared(f: HubFixture, client: KojiClient, dir = 'kiln/c1', nvr = NVR, chunkSize = 16_384) {
  const reservation = await cgInitBuild(client, CG, nvr);
  const base = `${nvr.name}-${nvr.version}-${nvr.release}.x86_64`;
  const image = await uploadFile(client, await f.file(`${base}.raw.xz`, randomContent(70_000)), { directory: dir, chunkSize });
  const manifest = await uploadFile(client, await f.file(`${base}.manifest.json`, '{}'), { directory: dir });
  const log = await uploadFile(client, await f.file(`${base}.osbuild.log`, 'log\n'), { directory: dir });
  const metadata = buildCGMetadata({
    ...nvr,
    buildId: reservation.build_id,
    startTime: new Date(1_700_000_000_000),
    endTime: new Date(1_700_000_060_000),
    images: [{ arch: 'x86_64', hostOs: 'fedora-41', osbuildVersion: '130', image, manifest, log }],
  });
  return { reservation, metadata, dir, files: { image, manifest, log } };
}

const raw = (client: KojiClient, metadata: unknown, dir: string, token: string) => client.call('CGImport', [JSON.stringify(metadata), dir, token]);

test('CG access is per user and per CG', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  await f.hub.createUser({ name: 'stranger', password: 'pw' });
  const stranger = f.client({ auth: { type: 'password', user: 'stranger', password: 'pw' } });
  const denied = await t.throwsAsync(cgInitBuild(stranger, CG, NVR));
  t.true(denied instanceof KojiAuthError);
  t.regex(denied!.message, /Content generator access required \(osbuild\)/);
  const nocg = await t.throwsAsync(cgInitBuild(f.client(), 'nope', NVR));
  t.regex(nocg!.message, /No such entry in table content_generator: nope/);
});

test('NVR rules: no "-" in version or release (client and hub), no duplicate NVR', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const local = await t.throwsAsync(cgInitBuild(client, CG, { name: 'a', version: '1-2', release: '1' }));
  t.true(local instanceof InvalidInputError);
  t.regex(local!.message, /^version: /);
  const hub = await t.throwsAsync(client.call('CGInitBuild', [CG, { name: 'a', version: '1', release: 'r-1' }]));
  t.true(hub instanceof KojiGenericError);
  t.regex(hub!.message, /"-" character not allowed in release/);
  await cgInitBuild(client, CG, { name: 'a', version: '1', release: '1' });
  const dup = await t.throwsAsync(cgInitBuild(client, CG, { name: 'a', version: '1', release: '1' }));
  t.regex(dup!.message, /Build is already reserved/);
});

test('reservation tokens: wrong token on import and refund, wrong refund state', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const { reservation, metadata, dir } = await prepared(f, client);
  const wrong = 'f'.repeat(64);
  await t.throwsAsync(cgImport(client, metadata, dir, wrong), { instanceOf: KojiGenericError, message: /Token doesn't match build ID 1/ });
  await t.throwsAsync(cgRefundBuild(client, CG, reservation.build_id, wrong), { message: /Token doesn't match build ID 1/ });
  await t.throwsAsync(cgRefundBuild(client, CG, reservation.build_id, reservation.token, 'COMPLETE' as never), { instanceOf: InvalidInputError });
  await t.throwsAsync(client.call('CGRefundBuild', [CG, reservation.build_id, reservation.token, 1]), { message: /Only FAILED\/CANCELED build states are allowed/ });
  const noBuildId = structuredClone(metadata) as Partial<CgMetadata> & { build: Record<string, unknown> };
  delete noBuildId.build.build_id;
  await t.throwsAsync(raw(client, noBuildId, dir, reservation.token), { message: /Reservation token given, but no build_id/ });
  // A refunded reservation cannot be imported into.
  await cgRefundBuild(client, CG, reservation.build_id, reservation.token, 'CANCELED');
  await t.throwsAsync(cgImport(client, metadata, dir, reservation.token), { message: /Token doesn't match/ });
  t.is((await getBuild(client, reservation.build_id))!.state, BuildState.CANCELED);
});

test('CGImport checks, each refused with nothing changed', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const { reservation, metadata, dir } = await prepared(f, client);
  const token = reservation.token;
  const odd = await uploadFile(client, await f.file('guest.xyz', 'odd'), { directory: dir });
  const variant = (edit: (m: any) => void) => {
    const m = structuredClone(metadata);
    edit(m);
    return m;
  };
  const cases: Array<[string, any, RegExp, number?]> = [
    ['metadata version', variant((m) => (m.metadata_version = 1)), /No such metadata version: 1/],
    ['size', variant((m) => (m.output[0].filesize += 1)), /doesn't match. Corrupted upload\?/],
    ['checksum', variant((m) => (m.output[2].checksum = '0'.repeat(64))), /File checksum mismatch for guest-9-1.x86_64.osbuild.log/],
    ['unused buildroot', variant((m) => m.buildroots.push({ ...m.buildroots[0], id: 7 })), /Buildroot id not used in output: 7/],
    ['duplicate buildroot', variant((m) => m.buildroots.push({ ...m.buildroots[0] })), /Duplicate buildroot id/],
    ['no typeinfo', variant((m) => delete m.output[0].extra), /No typeinfo for: guest-9-1.x86_64.raw.xz/],
    ['btype not in build', variant((m) => (m.output[1].extra = { typeinfo: { maven: {} } })), /No such entry in table btype|Output type maven not listed/],
    ['unknown buildroot', variant((m) => (m.output[0].buildroot_id = 3)), /Missing buildroot metadata for id 3/],
    ['missing file', variant((m) => (m.output[2].filename = 'absent.log')), /FileNotFoundError/, 1],
    ['extension', variant((m) => Object.assign(m.output[0], { filename: odd.name, filesize: odd.size, checksum: odd.sha256 })), /unsupported file extension: guest.xyz/],
    ['NVR differs', variant((m) => (m.build.release = '2')), /Build \(1\) NVR is different/],
    ['other CG', variant((m) => (m.buildroots[0].content_generator.name = 'other')), /No such entry in table content_generator: other/],
    ['image arch', variant((m) => delete m.output[0].extra.image.arch), /KeyError.*arch/, 1],
  ];
  await f.hub.grantCGAccess('kiln', 'other-cg');
  cases.push(['reserved by another CG', variant((m) => (m.buildroots[0].content_generator.name = 'other-cg')), /Build ID 1 is not reserved by this CG/]);
  for (const [what, doc, message, code] of cases) {
    const err = await t.throwsAsync(raw(client, doc, dir, token), { message }, what);
    t.is((err as KojiFault).faultCode, code ?? 1000, what);
  }
  // Kiln's own checks stop most of these before they reach the hub, naming the field.
  const local = await t.throwsAsync(cgImport(client, cases[5][1], dir, token));
  t.true(local instanceof InvalidInputError);
  t.regex(local!.message, /^metadata\.output\[0\]\.extra: is required/);
  await t.throwsAsync(cgImport(client, cases[0][1], dir, token), { instanceOf: InvalidInputError, message: /metadata\.metadata_version/ });
  // Nothing moved, nothing imported; the real import still works afterwards.
  t.is((await getBuild(client, reservation.build_id))!.state, BuildState.BUILDING);
  t.deepEqual(await listArchives(client, { buildID: reservation.build_id }), []);
  t.false(existsSync(path.join(f.hub.dir, 'packages', 'guest', '9', '1')), 'the build directory went with the failed imports');
  t.true((await lstat(path.join(f.hub.dir, 'work', dir, 'guest-9-1.x86_64.raw.xz'))).isFile());
  const info = await cgImport(client, metadata, dir, token);
  t.is(info.state, BuildState.COMPLETE);
  t.true((await lstat(path.join(f.hub.dir, 'work', dir, 'guest-9-1.x86_64.raw.xz'))).isSymbolicLink(), 'a symlink is left in the upload dir');
  t.is((await listArchives(client, { buildID: reservation.build_id })).length, 2);
});

test('"Corrupted upload" is retried a bounded number of times', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const { reservation, metadata, dir } = await prepared(f, client);
  const bad = structuredClone(metadata);
  bad.output[0].filesize += 1;
  const before = f.hub.hub.calls.filter((c) => c.method === 'CGImport').length;
  await t.throwsAsync(cgImport(client, bad, dir, reservation.token, { corruptedUploadRetries: 2, corruptedUploadDelayMs: 5 }), { message: /Corrupted upload/ });
  t.is(f.hub.hub.calls.filter((c) => c.method === 'CGImport').length - before, 3);
});

test('an import whose reply is lost is settled by reading the build back', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const { reservation, metadata, dir } = await prepared(f, client);
  f.hub.setFaults({ rate: 1, kinds: ['drop-reply'], methods: ['CGImport'], limit: 1 });
  const info = await cgImport(client, metadata, dir, reservation.token);
  t.is(info.state, BuildState.COMPLETE);
  t.is(f.hub.hub.calls.filter((c) => c.method === 'CGImport').length, 2);
});

test('metadata: task_id only when there is a task (the hub refuses null and 0 names no task); the schema refuses null', (t) => {
  const file = (name: string): UploadResult => ({ directory: 'd', name, size: 1, sha256: 'a'.repeat(64), resumedFrom: 0, bytesSent: 1, chunks: 1, chunkRetries: 0 });
  const facts = { ...NVR, buildId: 1, startTime: 1, endTime: 2, images: [{ arch: 'x86_64', hostOs: 'f', osbuildVersion: '1', image: file('a.qcow2'), log: file('a.log') }] };
  for (const taskId of [undefined, null, 0]) t.false('task_id' in buildCGMetadata({ ...facts, taskId }).build, `taskId ${taskId}`);
  t.is(buildCGMetadata({ ...facts, taskId: 42 }).build.task_id, 42);
  const withNull = buildCGMetadata(facts) as unknown as { build: Record<string, unknown> };
  withNull.build.task_id = null;
  t.throws(() => validateCGMetadata(withNull), { instanceOf: InvalidInputError, message: /^metadata\.build\.task_id/ });
});

test('metadata builder refuses file names Koji has no archive type for', (t) => {
  const file = (name: string): UploadResult => ({ directory: 'd', name, size: 1, sha256: 'a'.repeat(64), resumedFrom: 0, bytesSent: 1, chunks: 1, chunkRetries: 0 });
  const err = t.throws(() =>
    buildCGMetadata({ ...NVR, buildId: 1, startTime: 1, endTime: 2, images: [{ arch: 'x86_64', hostOs: 'f', osbuildVersion: '1', image: file('disk.img.zst'), log: file('x.log') }] }),
  );
  t.true(err instanceof InvalidInputError);
  t.regex(err!.message, /^images\[0\]\.image\.name: Koji has no archive type/);
  const dup = t.throws(() =>
    buildCGMetadata({ ...NVR, buildId: 1, startTime: 1, endTime: 2, images: [{ arch: 'x86_64', hostOs: 'f', osbuildVersion: '1', image: file('a.qcow2'), log: file('a.qcow2') }] }),
  );
  t.regex(dup!.message, /^images\[0\]\.log: file name a.qcow2 is also used/);
  t.throws(() => buildCGMetadata({ ...NVR, version: '1-1', buildId: 1, startTime: 1, endTime: 2, images: [{ arch: 'x86_64', hostOs: 'f', osbuildVersion: '1', image: file('a.qcow2'), log: file('a.log') }] }), {
    message: /^metadata\.build\.version/,
  });
});

test('upload path rules: no "..", no leading ".", directory owner, path exists without overwrite', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const file = await f.file('a.qcow2', 'abc');
  await t.throwsAsync(uploadFile(client, file, { directory: '../escape' }), { instanceOf: InvalidInputError, message: /^directory: / });
  await t.throwsAsync(uploadFile(client, file, { directory: 'd', name: '.hidden' }), { instanceOf: InvalidInputError, message: /^name: / });
  const q = { filename: 'a.qcow2', offset: '0', fileverify: 'adler32' };
  await t.throwsAsync(client.uploadChunk({ ...q, filepath: 'x/../../up' }, Buffer.from('a')), { instanceOf: KojiGenericError, message: /Invalid upload directory: x\/..\/..\/up/ });
  await t.throwsAsync(client.uploadChunk({ ...q, filepath: 'd', filename: '.x' }, Buffer.from('a')), { message: /Invalid upload filename: .x/ });
  await t.throwsAsync(client.uploadChunk({ ...q, filepath: 'd', fileverify: 'crc' }, Buffer.from('a')), { message: /Unsupported verify type: crc/ });

  await uploadFile(client, file, { directory: 'mine' });
  await f.hub.createUser({ name: 'other', password: 'pw' });
  const other = f.client({ auth: { type: 'password', user: 'other', password: 'pw' } });
  await t.throwsAsync(uploadFile(other, file, { directory: 'mine', name: 'b.qcow2' }), { instanceOf: KojiGenericError, message: /Invalid upload directory, not owner: mine/ });

  await t.throwsAsync(uploadFile(client, file, { directory: 'mine', overwrite: false, resume: false }), { message: /upload path exists/ });
  const again = await uploadFile(client, file, { directory: 'mine', resume: false });
  t.is(again.size, 3, 'with overwrite the file is replaced');
  // Without overwrite nothing is truncated, so a chunk that leaves bytes after it is refused.
  await t.throwsAsync(client.uploadChunk({ filename: 'a.qcow2', filepath: 'mine', offset: '1', fileverify: 'adler32' }, Buffer.from('b')), {
    instanceOf: KojiGenericError,
    message: /Incorrect upload length for \/.*\/work\/mine\/a\.qcow2 - Expected 2, actual 3/,
  });
  const anonymous = await t.throwsAsync(f.client({ auth: undefined }).uploadChunk({ ...q, filepath: 'd' }, Buffer.from('a')));
  t.regex(anonymous!.message, /'session-id' not specified in session args/);
});

test('chunk size and adler32 are checked against the hub reply; a bad chunk is re-sent, then refused', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const content = randomContent(100_000);
  const file = await f.file('disk.qcow2', content);
  f.hub.setFaults({ rate: 1, kinds: ['corrupt-chunk'], methods: ['upload'], limit: 2 });
  const r = await uploadFile(client, file, { directory: 'c', chunkSize: 16_384 });
  t.is(r.chunkRetries, 2);
  const stored = await import('node:fs/promises').then((m) => m.readFile(path.join(f.hub.dir, 'work', 'c', 'disk.qcow2')));
  t.true(stored.equals(content));
  f.hub.setFaults({ rate: 1, kinds: ['corrupt-chunk'], methods: ['upload'] });
  const err = await t.throwsAsync(uploadFile(client, file, { directory: 'c2', chunkSize: 16_384, chunkRetries: 2 }));
  t.true(err instanceof KojiUploadError);
  t.regex(err!.message, /chunk at offset 0: hub stored 16384 bytes at 0 with adler32 [0-9a-f]{8}, sent 16384 bytes with adler32 [0-9a-f]{8}/);
});

test('a file locked by a concurrent upload: LockError is retried, then reported', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client({ retry: { attempts: 5, baseDelayMs: 20, maxDelayMs: 40 } });
  const file = await f.file('l.qcow2', 'locked');
  await uploadFile(client, file, { directory: 'l' });
  let release = f.hub.lockUpload('l', 'l.qcow2');
  setTimeout(() => release(), 60);
  const r = await uploadFile(client, file, { directory: 'l', resume: false });
  t.is(r.size, 6);
  release = f.hub.lockUpload('l', 'l.qcow2');
  t.teardown(() => release());
  const err = await t.throwsAsync(uploadFile(client, file, { directory: 'l', resume: false }));
  t.true(err instanceof KojiLockError);
});

test('tagBuild, getTaskInfo, getBuildTarget, getNextRelease', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  await f.hub.createTag('guest-build');
  await f.hub.createTag('guest-candidate', ['guest']);
  await f.hub.createBuildTarget('guest-target', 'guest-build', 'guest-candidate');
  const target = (await getBuildTarget(client, 'guest-target'))!;
  t.is(target.dest_tag_name, 'guest-candidate');
  t.is(await getBuildTarget(client, 'nope'), null);
  await t.throwsAsync(getBuildTarget(client, 'nope', true), { message: /No such build target: nope/ });
  t.is(await getNextRelease(client, NVR), '1');
  const { reservation, metadata, dir } = await prepared(f, client);
  await t.throwsAsync(tagBuild(client, 'guest-candidate', reservation.build_id), { message: /not complete: state BUILDING/ });
  await cgImport(client, metadata, dir, reservation.token);
  t.is(await getNextRelease(client, NVR), '2');
  await t.throwsAsync(tagBuild(client, 'guest-build', reservation.build_id), { message: /Package guest not in list for guest-build/ });
  const taskId = await tagBuild(client, 'guest-candidate', 'guest-9-1');
  const task = (await getTaskInfo(client, taskId, { request: true }))!;
  t.is(task.method, 'tagBuild');
  t.deepEqual(task.request, [2, reservation.build_id, false, null]);
  const tagged = await client.call<Array<{ nvr: string }>>('listTagged', ['guest-candidate']);
  t.deepEqual(tagged.map((b) => b.nvr), ['guest-9-1']);
  const koji = await f.hub.createTask({ method: 'image', owner: 'kiln', request: ['guest', '9'] });
  t.is((await getTaskInfo(client, koji))!.state, 0);
  t.is(await getTaskInfo(client, 999), null);
});

test('with 20% injected faults a full CG round trip completes with exactly one build', async (t) => {
  const f = await hubFixture({ faults: { rate: 0.2, seed: 20, kinds: ['fault', 'http503', 'reset', 'slow'], slowMs: 30 } });
  t.teardown(() => f.close());
  const client = f.client({ retry: { attempts: 10, baseDelayMs: 5, maxDelayMs: 40 } });
  const { reservation, metadata, dir } = await prepared(f, client, 'kiln/faulty', NVR, 4096);
  const info = await cgImport(client, metadata, dir, reservation.token);
  t.is(info.state, BuildState.COMPLETE);
  t.is(f.hub.builds().length, 1);
  t.is(f.hub.builds()[0].state, BuildState.COMPLETE);
  t.is((await listArchives(client, { buildID: reservation.build_id })).length, 2);
  const stats = f.hub.hub.faultStats;
  t.log(`injected ${stats.injected} faults: ${JSON.stringify(stats.byKind)}; client retries ${client.stats.retries}`);
  t.true(stats.injected >= 3, `only ${stats.injected} faults injected`);
});

test('metadata over the request size limit goes up as metadata.json', async (t) => {
  const f = await hubFixture({ maxRequestLength: 16 * 1024 });
  t.teardown(() => f.close());
  const client = f.client();
  const { reservation, metadata, dir } = await prepared(f, client);
  const rpms = Array.from({ length: 300 }, (_, i) => ({ type: 'rpm' as const, name: `pkg${i}`, version: '1', release: '1', epoch: null, arch: 'x86_64', sigmd5: 'ab', signature: null }));
  metadata.buildroots[0].components = rpms;
  await t.throwsAsync(cgImport(client, metadata, dir, reservation.token, { inlineLimit: 1e9 }), { instanceOf: KojiGenericError, message: /Request too long/ });
  const info = await cgImport(client, metadata, dir, reservation.token, { inlineLimit: 8 * 1024 });
  t.is(info.state, BuildState.COMPLETE);
  const stored = JSON.parse(await import('node:fs/promises').then((m) => m.readFile(path.join(f.hub.dir, 'packages/guest/9/1/metadata.json'), 'utf8')));
  t.is(stored.buildroots[0].components.length, 300);
});
