/**
 * Kiln past one host: the API process runs every job type but osbuild; a remote `kiln worker
 * --server` process per architecture (x86_64, aarch64) takes the osbuild jobs through the worker
 * API and runs each on its own `kiln builder` process through the jobsite phases (the osbuild
 * stand-in as osbuild); the compose ends with one COMPLETE Koji build holding both images.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
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
import { runKiln, type KilnProcess } from './helpers/kiln.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const TOKEN = 'compose-worker-token-0123456789ab';
const CLIENT_TOKEN = 'compose-client-token-0123456789a';

let db: TestDatabase;
let hub: DevHubHandle;
let hubConfig: KilnHub['config'];
let newTask: KilnHub['task'];
const repos: Record<string, ServedDirectory> = {};
let service: RunningService;
let dir: string;
const processes: KilnProcess[] = [];

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-remote-compose-'));
  db = await createTestDatabase();
  ({ hub, config: hubConfig, task: newTask } = await startKilnHub(dir));
  for (const [arch, type] of [['x86_64', 'guest-image'], ['aarch64', 'minimal-raw']]) {
    repos[arch] = await serveDirectory((await distroRepo([resolveImage('fedora-43', arch, type)])).path);
  }
  writeFileSync(path.join(dir, 'tokens'), `remote-builder ${TOKEN}\nkoji ${CLIENT_TOKEN}\n`, { mode: 0o600 });
  writeFileSync(path.join(dir, 'worker-token'), `${TOKEN}\n`, { mode: 0o600 });
  service = await startService(
    loadConfig({
      env: {},
      overrides: {
        state_dir: path.join(dir, 'api'),
        database: { url: db.url },
        listen: { address: '127.0.0.1', port: 0 },
        api: { tokens_file: path.join(dir, 'tokens') },
        queue: { heartbeat_interval_seconds: 0.5, heartbeat_timeout_seconds: 5, poll_interval_seconds: 1 },
        workers: { arches: ['x86_64'], concurrency: { osbuild: 0 } },
        koji: { hubs: [hubConfig] },
        osbuild: { binary: STANDIN },
      },
    }),
    silentLogger,
  );
});

test.after.always(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await service?.stop();
  for (const r of Object.values(repos)) await r.close();
  await hub?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): KilnProcess {
  const p = runKiln(args, { KILN_CONFIG: '', KILN_LOG_LEVEL: 'info', ...env });
  processes.push(p);
  return p;
}

test.serial('remote workers for x86_64 and aarch64, each building through its own builder: one COMPLETE Koji build', async (t) => {
  const workers: Record<string, KilnProcess> = {};
  const builders: Record<string, KilnProcess> = {};
  for (const arch of ['x86_64', 'aarch64']) {
    const builder = start(['builder', '--listen', '127.0.0.1', '--port', '0', '--work-dir', path.join(dir, `builder-${arch}`), '--osbuild', STANDIN]);
    builders[arch] = builder;
    const builderUrl = JSON.parse((await builder.waitFor(/^\{"url".*$/m))[0]).url as string;
    workers[arch] = start(['worker', '--server', service.url, '--token-file', path.join(dir, 'worker-token'), '--arch', arch, '--types', 'osbuild', '--name', `remote-${arch}`], {
      KILN_STATE_DIR: path.join(dir, `remote-${arch}`),
      KILN_QUEUE_HEARTBEAT_INTERVAL_SECONDS: '0.5',
      KILN_KOJI_HUBS: JSON.stringify([hubConfig]),
      KILN_OSBUILD_BUILDER_URL: builderUrl,
    });
  }
  for (const w of Object.values(workers)) await w.waitFor(/"msg":"worker started"/);
  const res = await fetch(`${service.url}${API_BASE}/compose`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_TOKEN}` },
    body: JSON.stringify({
      distribution: 'fedora-43',
      koji: { server: hub.url, task_id: await newTask(), name: 'Fedora-Cloud-Base', version: '43', release: 'remote1' },
      image_requests: [
        { architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: repos.x86_64.url }] },
        { architecture: 'aarch64', image_type: 'minimal-raw', repositories: [{ baseurl: repos.aarch64.url }] },
      ],
    }),
  });
  t.is(res.status, 201);
  const { id } = (await res.json()) as { id: string };
  const output = () => Object.values(workers).map((w) => w.output().slice(-2000)).join('\n');
  const deadline = Date.now() + 90_000;
  let status: { status: string; koji_status: { build_id?: number } };
  for (;;) {
    status = (await (await fetch(`${service.url}${API_BASE}/composes/${id}`, { headers: { authorization: `Bearer ${CLIENT_TOKEN}` } })).json()) as typeof status;
    if (status.status === 'success' || status.status === 'failure') break;
    if (Date.now() > deadline) throw new Error(`compose still ${status.status}\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const { rows } = await db.pool.query(`SELECT type, arch, worker, state FROM kiln_jobs WHERE compose_id = $1 ORDER BY seq`, [id]);
  t.is(status.status, 'success', `${JSON.stringify(status)}\n${JSON.stringify(rows)}\n${output()}`);
  t.deepEqual(
    rows.filter((r) => r.type === 'osbuild').map((r) => [r.arch, r.worker, r.state]),
    [
      ['x86_64', 'remote-x86_64', 'success'],
      ['aarch64', 'remote-aarch64', 'success'],
    ],
    'each image was built by the worker of its architecture',
  );
  t.true(rows.filter((r) => r.type !== 'osbuild').every((r) => !String(r.worker).startsWith('remote-')), 'only osbuild ran remotely');
  for (const [arch, b] of Object.entries(builders)) {
    t.regex(b.output(), /"msg":"jobsite claimed"/, `the ${arch} image went through its builder`);
    t.regex(b.output(), /"success":true,"msg":"osbuild finished"/);
  }
  const builds = Object.values(hub.tables().builds).filter((x) => x.release === 'remote1');
  t.is(builds.length, 1);
  t.is(builds[0].state, 1);
  t.is(builds[0].id, status.koji_status.build_id ?? -1);
  const archives = Object.values(hub.tables().archives).filter((a) => a.build_id === builds[0].id && !a.filename.endsWith('.json'));
  t.deepEqual(archives.map((a) => a.filename).sort(), ['Fedora-Cloud-Base-43-remote1.aarch64.raw.xz', 'Fedora-Cloud-Base-43-remote1.x86_64.qcow2']);
  for (const w of Object.values(workers)) t.deepEqual(await w.stop('SIGTERM'), { code: 0, signal: null });
});

test.serial("a commit and two images of it in one compose, osbuild on a builder: the worker sends the commit it serves to the builder's source store", async (t) => {
  const iotRepo = await serveDirectory((await distroRepo(['iot-commit', 'iot-raw-xz', 'iot-installer'].map((name) => resolveImage('fedora-43', 'x86_64', name)))).path);
  t.teardown(() => iotRepo.close());
  const builderDir = path.join(dir, 'builder-iot');
  const builder = start(['builder', '--listen', '127.0.0.1', '--port', '0', '--work-dir', builderDir, '--osbuild', STANDIN]);
  const builderUrl = JSON.parse((await builder.waitFor(/^\{"url".*$/m))[0]).url as string;
  const stateDir = path.join(dir, 'remote-iot');
  const worker = start(['worker', '--server', service.url, '--token-file', path.join(dir, 'worker-token'), '--arch', 'x86_64', '--types', 'osbuild', '--name', 'remote-iot'], {
    KILN_STATE_DIR: stateDir,
    KILN_QUEUE_HEARTBEAT_INTERVAL_SECONDS: '0.5',
    KILN_KOJI_HUBS: JSON.stringify([hubConfig]),
    KILN_OSBUILD_BUILDER_URL: builderUrl,
  });
  await worker.waitFor(/"msg":"worker started"/);
  const repositories = [{ baseurl: iotRepo.url, rhsm: false }];
  const res = await fetch(`${service.url}${API_BASE}/compose`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_TOKEN}` },
    body: JSON.stringify({
      distribution: 'fedora-43',
      koji: { server: hub.url, task_id: await newTask(), name: 'Fedora-IoT', version: '43', release: 'remote2' },
      image_requests: ['iot-commit', 'iot-raw-image', 'iot-installer'].map((image_type) => ({ architecture: 'x86_64', image_type, repositories })),
    }),
  });
  t.is(res.status, 201);
  const { id } = (await res.json()) as { id: string };
  const deadline = Date.now() + 120_000;
  let status: { status: string; koji_status: { build_id?: number } };
  for (;;) {
    status = (await (await fetch(`${service.url}${API_BASE}/composes/${id}`, { headers: { authorization: `Bearer ${CLIENT_TOKEN}` } })).json()) as typeof status;
    if (status.status === 'success' || status.status === 'failure') break;
    if (Date.now() > deadline) throw new Error(`compose still ${status.status}\n${worker.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  t.is(status.status, 'success', `${JSON.stringify(status)}\n${worker.output().slice(-3000)}\n${builder.output().slice(-3000)}`);
  const { rows } = await db.pool.query(`SELECT worker FROM kiln_jobs WHERE compose_id = $1 AND type = 'osbuild'`, [id]);
  t.deepEqual(rows.map((r) => r.worker), ['remote-iot', 'remote-iot', 'remote-iot']);
  // the commit the compose built is in the builder's store: sent twice (the disk, then the installer: pulled into the store's repository)
  const manifests = (await (await fetch(`${service.url}${API_BASE}/composes/${id}/manifests`, { headers: { authorization: `Bearer ${CLIENT_TOKEN}` } })).json()) as { manifests: { sources: Record<string, { items: Record<string, unknown> }> }[] };
  const [checksum] = Object.keys(manifests.manifests[1].sources['org.osbuild.ostree'].items);
  const storeRepo = path.join(builderDir, 'store', 'sources', 'org.osbuild.ostree', 'repo');
  t.is(spawnSync('ostree', ['show', `--repo=${storeRepo}`, checksum]).status, 0, 'the commit is in the builder store');
  t.is((builder.output().match(/jobsite claimed/g) ?? []).length, 3);
  const archives = Object.values(hub.tables().archives).filter((a) => a.build_id === status.koji_status.build_id && !a.filename.endsWith('.json'));
  t.deepEqual(archives.map((a) => a.filename).sort(), ['Fedora-IoT-43-remote2.x86_64.iso', 'Fedora-IoT-43-remote2.x86_64.raw.xz', 'Fedora-IoT-43-remote2.x86_64.tar']);
  // the images' outputs are gone from the worker host; the served repository stays until the compose
  // has ended (koji-finalize, which removes a compose's repositories, ran on the API host), then the
  // worker's sweep removes it: at its next start here (and every 10 minutes while it runs)
  t.deepEqual(readdirSync(path.join(stateDir, 'outputs')).filter((d) => d === id), []);
  t.true(existsSync(path.join(stateDir, 'ostree-repos', id)));
  writeFileSync(path.join(stateDir, 'ostree-repos', 'not-a-compose'), '');
  t.deepEqual(await worker.stop('SIGTERM'), { code: 0, signal: null });
  const again = start(['worker', '--server', service.url, '--token-file', path.join(dir, 'worker-token'), '--arch', 'x86_64', '--types', 'osbuild', '--name', 'remote-iot'], {
    KILN_STATE_DIR: stateDir,
    KILN_KOJI_HUBS: JSON.stringify([hubConfig]),
  });
  await again.waitFor(/served ostree repositories of ended composes removed/);
  t.deepEqual(readdirSync(path.join(stateDir, 'ostree-repos')), ['not-a-compose'], 'only what is not a compose of Kiln stays');
  t.deepEqual(await again.stop('SIGTERM'), { code: 0, signal: null });
});
