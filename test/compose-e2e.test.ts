/**
 * A Koji image task end to end: the compose API of a real Kiln service (in-process workers),
 * real Postgres, the Koji hub stand-in, real depsolve against RPM repositories built here,
 * and the osbuild stand-in as osbuild.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startService, type RunningService } from '../src/cli/serve.js';
import type { DevHubHandle } from '../src/devhub/index.js';
import { startKilnHub, type KilnHub } from './helpers/kiln-hub.js';
import { resolveImage } from '../src/osbuild/index.js';
import { API_BASE } from '../src/compose/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { distroRepo } from './helpers/distro-repo.js';
import { serveDirectory, type ServedDirectory } from './helpers/rpm-repos.js';
import { startS3rver, kilnS3Config, type S3Stub } from './helpers/s3.js';
import { canMountAndLoop, groupMembers, loopsUnder, mountsUnder, scrubHost } from './helpers/host.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const BUILD_STATE = { BUILDING: 0, COMPLETE: 1, FAILED: 3, CANCELED: 4 };

let db: TestDatabase;
let hub: DevHubHandle;
const repos: Record<string, ServedDirectory> = {};
let service: RunningService;
let dir: string;
/** Koji tasks made in the hub for the composes to belong to, taken in order */
const tasks: number[] = [];
let task = 0;
let s3: S3Stub;

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-'));
  db = await createTestDatabase();
  let hubConfig: KilnHub['config'];
  let newTask: KilnHub['task'];
  ({ hub, config: hubConfig, task: newTask } = await startKilnHub(dir));
  for (let i = 0; i < 16; i++) tasks.push(await newTask());
  for (const [arch, type] of [['x86_64', 'guest-image'], ['aarch64', 'minimal-raw']]) {
    repos[arch] = await serveDirectory((await distroRepo([resolveImage('fedora-43', arch, type)])).path);
  }
  s3 = await startS3rver(['fedora-images']);
  const config = loadConfig({
    env: {},
    overrides: {
      state_dir: path.join(dir, 'state'),
      database: { url: db.url },
      listen: { address: '127.0.0.1', port: 0 },
      queue: { heartbeat_interval_seconds: 0.5, heartbeat_timeout_seconds: 30, poll_interval_seconds: 1 },
      workers: { arches: ['x86_64', 'aarch64'], concurrency: { osbuild: 2 }, shutdown_grace_seconds: 5 },
      koji: { hubs: [hubConfig] },
      osbuild: { binary: STANDIN },
      s3: kilnS3Config(s3, dir),
    },
  });
  service = await startService(config, silentLogger);
});

test.after.always(async () => {
  await service?.stop();
  for (const r of Object.values(repos)) await r.close();
  await s3?.close();
  await hub?.close();
  await db?.drop();
  delete process.env.KILN_STANDIN_FAIL_STAGE;
  delete process.env.KILN_STANDIN_HANG;
  delete process.env.KILN_STANDIN_PIDFILE;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function composeBody(release: string) {
  return {
    distribution: 'fedora-43',
    koji: { server: hub.url, task_id: (task = tasks.shift()!), name: 'Fedora-Cloud-Base', version: '43', release },
    image_requests: [
      { architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: repos.x86_64.url, rhsm: false }] },
      { architecture: 'aarch64', image_type: 'minimal-raw', repositories: [{ baseurl: repos.aarch64.url, rhsm: false }] },
    ],
  };
}

async function api(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${service.url}${API_BASE}${url}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function finalStatus(id: string, seen?: Set<string>): Promise<any> {
  return waitFor(`compose ${id} to end`, async () => {
    const { json } = await api('GET', `/composes/${id}`);
    seen?.add(json.status);
    for (const image of json.image_statuses ?? []) seen?.add(`image:${image.status}`);
    return json.status === 'success' || json.status === 'failure' ? json : undefined;
  });
}

test.serial('two images (x86_64 + aarch64) become one COMPLETE Koji build with images, manifests and RPM components', async (t) => {
  const created = await api('POST', '/compose', composeBody('1'));
  t.is(created.status, 201, JSON.stringify(created.json));
  const seen = new Set<string>();
  const status = await finalStatus(created.json.id, seen);
  t.is(status.status, 'success', JSON.stringify(status));
  t.true(seen.has('image:building') || seen.has('image:uploading'), `the images were not stuck at pending (${[...seen].join(', ')})`);
  t.deepEqual([...seen].filter((s) => !s.startsWith('image:')).sort(), ['pending', 'success'], 'the compose status keeps to osbuild-composer\'s values');
  t.deepEqual(status.image_statuses.map((i: any) => i.status), ['success', 'success']);
  const buildId = status.koji_status.build_id;
  t.true(buildId > 0);

  const tables = hub.tables();
  const build = tables.builds[buildId];
  t.is(build.state, BUILD_STATE.COMPLETE);
  t.is(`${build.name}-${build.version}-${build.release}`, 'Fedora-Cloud-Base-43-1');
  t.is(build.task_id, task);
  const archives = Object.values(tables.archives).filter((a) => a.build_id === buildId);
  const names = archives.map((a) => a.filename).sort();
  t.deepEqual(names, [
    'Fedora-Cloud-Base-43-1.aarch64.raw.xz',
    'Fedora-Cloud-Base-43-1.aarch64.raw.xz.manifest.json',
    'Fedora-Cloud-Base-43-1.x86_64.qcow2',
    'Fedora-Cloud-Base-43-1.x86_64.qcow2.manifest.json',
  ]);
  const images = archives.filter((a) => !a.filename.endsWith('.json'));
  t.deepEqual(images.map((a) => a.arch).sort(), ['aarch64', 'x86_64'], 'Pungi needs an arch on each image archive');
  const buildroots = Object.values(tables.buildroots).filter((b) => b.build_id === buildId);
  t.is(buildroots.length, 2);
  // Kiln sends each buildroot's and image's RPMs; a hub that does not have those RPMs (this one has
  // none) keeps them only in the build's metadata.json and notes each in cg_import.log.
  const buildDir = path.join(dir, 'hub', 'packages', 'Fedora-Cloud-Base', '43', '1');
  const sent = JSON.parse(readFileSync(path.join(buildDir, 'metadata.json'), 'utf8'));
  for (const br of sent.buildroots) t.true(br.components.length > 0, 'buildroot lists the RPMs of its build root');
  t.is(sent.build.task_id, task);
  const importLog = readFileSync(path.join(buildDir, 'data', 'logs', 'cg_import.log'), 'utf8');
  const ignored = importLog.split('\n').filter((l) => l.startsWith('IGNORING unmatched rpm component: '));
  const components = [...sent.buildroots, ...sent.output].reduce((n: number, x: { components?: unknown[] }) => n + (x.components?.length ?? 0), 0);
  t.is(ignored.length, components, 'every RPM component was dropped, each with a line');
  for (const br of buildroots) t.deepEqual(br.components, []);

  const logs = (await api('GET', `/composes/${created.json.id}/logs`)).json;
  t.is(logs.image_builds.length, 2);
  t.regex(logs.image_builds[0].osbuild.log, /org\.osbuild\./);
  t.is(logs.koji.import.state, 'success');
  const manifests = (await api('GET', `/composes/${created.json.id}/manifests`)).json;
  t.is(manifests.manifests.length, 2);
  t.is(manifests.manifests[0].version, '2');
  const metadata = (await api('GET', `/composes/${created.json.id}/metadata`)).json;
  t.true(metadata.images[1].packages.length > 0);
  t.is(metadata.images[1].packages[0].type, 'rpm');

  // Each image's manifest and log went up beside it, on a second session, once the image's
  // first chunk had made its directory's owner record.
  for (const image of images) {
    const events = hub.hub.uploads.map((u, i) => ({ ...u, i })).filter((u) => u.filename.startsWith(image.filename));
    const ofImage = events.filter((u) => u.filename === image.filename);
    const beside = events.filter((u) => u.filename !== image.filename);
    t.deepEqual([...new Set(beside.map((u) => u.filename))].sort(), [`${image.filename}.manifest.json`, `${image.filename}.osbuild.log`]);
    t.is(new Set(beside.map((u) => u.sessionId)).size, 1);
    t.not(beside[0].sessionId, ofImage[0].sessionId, 'manifest and log on their own session');
    t.true(ofImage[0].i < beside[0].i, "after the image's first chunk");
  }
});

test.serial('one image fails: the compose fails, the Koji build is refunded as FAILED, both images keep their logs', async (t) => {
  process.env.KILN_STANDIN_FAIL_STAGE = 'org.osbuild.qemu'; // only guest-image has it
  t.teardown(() => delete process.env.KILN_STANDIN_FAIL_STAGE);
  const created = await api('POST', '/compose', composeBody('2'));
  t.is(created.status, 201);
  const status = await finalStatus(created.json.id);
  t.is(status.status, 'failure');
  t.is(status.image_statuses[0].status, 'failure');
  t.regex(status.image_statuses[0].error.reason, /org\.osbuild\.qemu/);
  t.is(status.image_statuses[0].error.id, 10);
  t.is(status.image_statuses[1].status, 'success');
  const buildId = status.koji_status.build_id;
  t.is(hub.tables().builds[buildId].state, BUILD_STATE.FAILED);
  t.regex(status.reason, /koji build \d+ failed: osbuild failure/);
  const logs = (await api('GET', `/composes/${created.json.id}/logs`)).json;
  t.regex(logs.image_builds[0].osbuild.log, /qemu/, 'the failed build keeps its osbuild log');
  t.regex(logs.image_builds[1].osbuild.log, /org\.osbuild\./);
  t.is(logs.koji.import.state, 'failure');
});

test.serial('a failable image fails: the others are imported as the build (Koji\'s failable arches), the failed one is left out', async (t) => {
  process.env.KILN_STANDIN_FAIL_STAGE = 'org.osbuild.qemu'; // only guest-image has it
  t.teardown(() => delete process.env.KILN_STANDIN_FAIL_STAGE);
  const body = composeBody('11');
  (body.image_requests[0] as Record<string, unknown>).failable = true;
  const created = await api('POST', '/compose', body);
  t.is(created.status, 201, JSON.stringify(created.json));
  const status = await finalStatus(created.json.id);
  t.is(status.status, 'success', JSON.stringify(status));
  t.deepEqual(status.image_statuses.map((i: any) => i.status), ['failure', 'success']);
  const build = hub.tables().builds[status.koji_status.build_id];
  t.is(build.state, BUILD_STATE.COMPLETE);
  const names = Object.values(hub.tables().archives).filter((a) => a.build_id === build.id).map((a) => a.filename).sort();
  t.deepEqual(names, ['Fedora-Cloud-Base-43-11.aarch64.raw.xz', 'Fedora-Cloud-Base-43-11.aarch64.raw.xz.manifest.json']);
  const outputs = (await api('GET', `/composes/${created.json.id}/outputs`)).json;
  t.is(outputs.koji.build_id, build.id);
  t.deepEqual(outputs.images.map((i: any) => [i.status, i.failable, i.files.length]), [['failure', true, 0], ['success', false, 3]]);

  // every image failing fails the build, failable or not
  const all = composeBody('12');
  for (const ir of all.image_requests) (ir as Record<string, unknown>).failable = true;
  all.image_requests = [all.image_requests[0]];
  const failed = await finalStatus((await api('POST', '/compose', all)).json.id);
  t.is(failed.status, 'failure');
  t.is(hub.tables().builds[failed.koji_status.build_id].state, BUILD_STATE.FAILED);
});

test.serial('a scratch build: no Koji build, the files stay in the upload directory the outputs name, for the task to attach', async (t) => {
  const builds = Object.keys(hub.tables().builds).length;
  const body = { ...composeBody('13'), seed: 20261123 };
  (body.koji as Record<string, unknown>).scratch = true;
  const created = await api('POST', '/compose', body);
  t.is(created.status, 201, JSON.stringify(created.json));
  const status = await finalStatus(created.json.id);
  t.is(status.status, 'success', JSON.stringify(status));
  t.is(status.koji_status.build_id, undefined);
  t.is(Object.keys(hub.tables().builds).length, builds, 'nothing reserved or imported');
  const outputs = (await api('GET', `/composes/${created.json.id}/outputs`)).json;
  t.like(outputs.koji, { scratch: true, task_id: task, directory: `kiln-cg/${created.json.id}` });
  t.deepEqual(outputs.images[0].files.map((f: any) => [f.role, f.name]), [
    ['image', 'Fedora-Cloud-Base-43-13.x86_64.qcow2'],
    ['manifest', 'Fedora-Cloud-Base-43-13.x86_64.qcow2.manifest.json'],
    ['log', 'Fedora-Cloud-Base-43-13.x86_64.qcow2.osbuild.log'],
  ]);
  for (const image of outputs.images) {
    for (const f of image.files) {
      const file = path.join(hub.hub.workDir, image.directory, f.name);
      t.true(existsSync(file), file);
      t.is(readFileSync(file).length, f.size);
    }
  }

  // the same seed gives the same manifests (UUIDs and all); another seed other ones
  const again = { ...composeBody('14'), seed: '20261123' };
  (again.koji as Record<string, unknown>).scratch = true;
  const second = await api('POST', '/compose', again);
  t.is((await finalStatus(second.json.id)).status, 'success');
  const m1 = (await api('GET', `/composes/${created.json.id}/manifests`)).json.manifests;
  const m2 = (await api('GET', `/composes/${second.json.id}/manifests`)).json.manifests;
  t.deepEqual(m1, m2);
  const other = { ...composeBody('15'), seed: 7 };
  (other.koji as Record<string, unknown>).scratch = true;
  const third = await api('POST', '/compose', other);
  t.is((await finalStatus(third.json.id)).status, 'success');
  t.notDeepEqual((await api('GET', `/composes/${third.json.id}/manifests`)).json.manifests[0], m1[0]);
});

test.serial('cancel while osbuild runs: its process group is gone within seconds, the build is CANCELED, the compose fails as canceled', async (t) => {
  const pidfile = path.join(dir, 'standin.pid');
  process.env.KILN_STANDIN_HANG = '1';
  process.env.KILN_STANDIN_PIDFILE = pidfile;
  t.teardown(() => {
    delete process.env.KILN_STANDIN_HANG;
    delete process.env.KILN_STANDIN_PIDFILE;
  });
  const created = await api('POST', '/compose', composeBody('3'));
  t.is(created.status, 201);
  // the stand-in writes "<its pid> <its child's pid>" once it hangs in its first stage
  const pid = await waitFor('osbuild to start', async () => (existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8').split(' ')[0]) : undefined));
  t.true(Number.isInteger(pid) && pid > 1, `osbuild pid ${pid}`);
  t.notThrows(() => process.kill(-pid, 0), 'osbuild process group is running before the cancel');
  const building = (await api('GET', `/composes/${created.json.id}`)).json;
  t.is(building.status, 'pending');
  t.true(building.image_statuses.some((i: any) => i.status === 'building'), JSON.stringify(building.image_statuses));
  const canceledAt = Date.now();
  const res = await api('POST', `/composes/${created.json.id}/cancel`, { reason: 'release engineer canceled the task' });
  t.is(res.status, 200);
  await waitFor('osbuild process group to go', async () => {
    try {
      process.kill(-pid, 0);
      return undefined;
    } catch {
      return true;
    }
  }, 15_000);
  t.true(Date.now() - canceledAt < 15_000);
  const status = await finalStatus(created.json.id);
  t.is(status.status, 'failure');
  t.regex(status.reason, /^canceled: release engineer canceled the task/);
  t.is(hub.tables().builds[status.koji_status.build_id].state, BUILD_STATE.CANCELED);
});

(canMountAndLoop() ? test.serial : test.serial.skip)('cancel mid-build (root): osbuild undoes its mounts and loop devices; no mount, loop device or process remains', async (t) => {
  const pidfile = path.join(dir, 'standin-host.pid');
  const env = { KILN_STANDIN_HOST_EFFECTS: '1', KILN_STANDIN_HANG: 'image:org.osbuild.copy', KILN_STANDIN_PIDFILE: pidfile };
  Object.assign(process.env, env);
  let pid = 0;
  const ownRuns = () => (existsSync('/run/osbuild') ? readdirSync('/run/osbuild').filter((n) => n.startsWith(`kiln-${process.pid}-`)).map((n) => `/run/osbuild/${n}`) : []);
  t.teardown(() => {
    for (const k of Object.keys(env)) delete process.env[k];
    scrubHost([dir, ...ownRuns()], pid ? [pid] : []);
  });
  const body = composeBody('7');
  body.image_requests = [body.image_requests[0]];
  const created = await api('POST', '/compose', body);
  t.is(created.status, 201, JSON.stringify(created.json));
  pid = await waitFor('osbuild to hang in the image copy stage', async () => (existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8').split(' ')[0]) : undefined));
  // mid-build: the image's partitions on loop devices, a file system mounted for the copy
  t.true(loopsUnder(dir).length > 0, 'loop devices attached');
  t.true(groupMembers(pid).length >= 4, 'osbuild, its services and the stage run');
  t.is(ownRuns().length, 1, 'osbuild runs with a run directory of its own');
  const runDir = ownRuns()[0];
  const res = await api('POST', `/composes/${created.json.id}/cancel`, { reason: 'release engineer canceled the task' });
  t.is(res.status, 200);
  const status = await finalStatus(created.json.id);
  t.regex(status.reason, /^canceled: release engineer canceled the task/);
  // the compose is canceled at once; the worker sees it at its next heartbeat and stops osbuild
  await waitFor('osbuild to end', async () => (groupMembers(pid).length === 0 ? true : undefined), 60_000);
  await waitFor('the osbuild job to end', async () => {
    const logs = (await api('GET', `/composes/${created.json.id}/logs`)).json;
    return /osbuild exited with/.test(logs.image_builds[0]?.osbuild?.log ?? '') ? true : undefined;
  });
  // other test files run osbuild at the same time: only this build's store and run directory are its own
  t.deepEqual(mountsUnder(dir, runDir), [], 'no mount remains');
  t.deepEqual(loopsUnder(dir), [], 'no loop device remains');
  t.deepEqual(ownRuns(), [], 'its run directory is gone');
  const store = path.join(dir, 'state', 'osbuild-store');
  t.deepEqual([...readdirSync(path.join(store, 'tmp')), ...readdirSync(path.join(store, 'stage'))], []);
  const logs = (await api('GET', `/composes/${created.json.id}/logs`)).json;
  t.regex(logs.image_builds[0].osbuild.log, /osbuild exited with 130\n/, 'osbuild stopped itself on SIGINT');
});

test.serial('upload_options: the image also goes to S3; the image status and the Koji metadata say where', async (t) => {
  const body = composeBody('5');
  body.image_requests = [{ ...body.image_requests[1], upload_options: { region: 'us-east-1', bucket: 'fedora-images', key_prefix: 'nightly/' } } as never];
  const created = await api('POST', '/compose', body);
  t.is(created.status, 201, JSON.stringify(created.json));
  const status = await finalStatus(created.json.id);
  t.is(status.status, 'success', JSON.stringify(status));
  const key = 'nightly/Fedora-Cloud-Base-43-5.aarch64.raw.xz';
  t.like(status.image_statuses[0].upload_status, { type: 'aws.s3', status: 'success', options: { bucket: 'fedora-images', key } });
  const object = await fetch(`${s3.endpoint}/fedora-images/${key}`);
  t.is(object.status, 200, 'the object is in the bucket');
  const image = Object.values(hub.tables().archives).find((a) => a.build_id === status.koji_status.build_id && a.filename.endsWith('.raw.xz'));
  t.is(Number(object.headers.get('content-length')), image!.size, 'same size as the image imported into Koji');
  t.like((image!.extra as any).image.uploads[0], { type: 'aws.s3', bucket: 'fedora-images', key });
  t.like((hub.tables().builds[image!.build_id].extra as any).typeinfo.image[image!.filename].uploads[0], { type: 'aws.s3', bucket: 'fedora-images', key });
});

test.serial('a Koji task the hub does not have: the compose fails at once naming the task, nothing is reserved or built', async (t) => {
  const builds = Object.keys(hub.tables().builds).length;
  const body = composeBody('6');
  body.koji.task_id = 987654;
  const created = await api('POST', '/compose', body);
  t.is(created.status, 201, JSON.stringify(created.json));
  const status = await finalStatus(created.json.id);
  t.is(status.status, 'failure');
  t.regex(status.reason, /koji\.task_id: task 987654 does not exist on the Koji hub/);
  t.is(Object.keys(hub.tables().builds).length, builds, 'no build reserved');
  const { rows } = await db.pool.query(`SELECT type, state, started_at FROM kiln_jobs WHERE compose_id = $1 AND type = 'osbuild'`, [created.json.id]);
  t.true(rows.length > 0 && rows.every((r) => r.started_at === null), `osbuild never ran: ${JSON.stringify(rows)}`);
});

test.serial('ostree: a commit, a disk and an installer of that commit in one compose (no ostree URL): they wait for the commit, pull it by checksum, all go to Koji', async (t) => {
  const iot = await serveDirectory((await distroRepo(['iot-commit', 'iot-raw-xz', 'iot-installer'].map((name) => resolveImage('fedora-43', 'x86_64', name)))).path);
  try {
    const repositories = [{ baseurl: iot.url, rhsm: false }];
    const body = {
      distribution: 'fedora-43',
      koji: { server: hub.url, task_id: (task = tasks.shift()!), name: 'Fedora-IoT', version: '43', release: '1' },
      image_requests: [
        { architecture: 'x86_64', image_type: 'iot-commit', repositories },
        { architecture: 'x86_64', image_type: 'iot-raw-image', repositories },
        { architecture: 'x86_64', image_type: 'iot-installer', repositories },
      ],
    };
    const created = await api('POST', '/compose', body);
    t.is(created.status, 201, JSON.stringify(created.json));
    const status = await finalStatus(created.json.id);
    t.is(status.status, 'success', JSON.stringify(status));
    const tables = hub.tables();
    const buildId = status.koji_status.build_id;
    t.is(tables.builds[buildId].state, BUILD_STATE.COMPLETE);
    const archives = Object.values(tables.archives).filter((a) => a.build_id === buildId);
    t.deepEqual(archives.map((a) => a.filename).sort(), [
      'Fedora-IoT-43-1.x86_64.iso',
      'Fedora-IoT-43-1.x86_64.iso.manifest.json',
      'Fedora-IoT-43-1.x86_64.raw.xz',
      'Fedora-IoT-43-1.x86_64.raw.xz.manifest.json',
      'Fedora-IoT-43-1.x86_64.tar',
      'Fedora-IoT-43-1.x86_64.tar.manifest.json',
    ]);
    t.is(archives.find((a) => a.filename.endsWith('.iso'))!.type_name, 'iso');
    for (const a of archives.filter((x) => !x.filename.endsWith('.json'))) t.is(a.arch, 'x86_64', 'Pungi needs an arch on each image archive');

    // the disk deploys the commit the compose built: the one in the commit's tarball
    const manifests = (await api('GET', `/composes/${created.json.id}/manifests`)).json.manifests;
    const items = manifests[1].sources['org.osbuild.ostree'].items as Record<string, { remote: { url: string } }>;
    const [checksum] = Object.keys(items);
    t.regex(items[checksum].remote.url, /^file:\/\/.*\/ostree-repos\//);
    const commitTar = path.join(dir, 'hub', 'packages', 'Fedora-IoT', '43', '1', 'images', 'Fedora-IoT-43-1.x86_64.tar');
    const listed = spawnSync('tar', ['-xOf', commitTar, './repo/refs/heads/fedora/43/x86_64/iot'], { encoding: 'utf8' });
    t.is(listed.stdout.trim(), checksum);
    t.deepEqual(manifests[1].pipelines.map((p: { name: string }) => p.name), ['build', 'ostree-deployment', 'image', 'xz']);
    // the installer pulls the same commit into its ISO's /ostree/repo, and its kickstart installs it from there
    t.deepEqual(Object.keys(manifests[2].sources['org.osbuild.ostree'].items), [checksum]);
    const iso = path.join(dir, 'hub', 'packages', 'Fedora-IoT', '43', '1', 'images', 'Fedora-IoT-43-1.x86_64.iso');
    const out = mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-iso-'));
    try {
      const x = spawnSync('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/ostree', path.join(out, 'ostree'), '-extract', '/osbuild.ks', path.join(out, 'osbuild.ks')], { encoding: 'utf8' });
      t.is(x.status, 0, x.stderr);
      t.is(spawnSync('ostree', ['rev-parse', `--repo=${path.join(out, 'ostree', 'repo')}`, 'fedora/43/x86_64/iot'], { encoding: 'utf8' }).stdout.trim(), checksum);
      t.regex(readFileSync(path.join(out, 'osbuild.ks'), 'utf8'), /^ostreesetup --osname=fedora-iot --url=file:\/\/\/run\/install\/repo\/ostree\/repo --ref=fedora\/43\/x86_64\/iot --nogpg$/m);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    // served only for the compose's jobs: gone once the compose ended
    t.false(existsSync(path.join(dir, 'state', 'ostree-repos', created.json.id)));
  } finally {
    await iot.close();
  }
});
