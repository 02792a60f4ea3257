/**
 * A whole compose whose osbuild job runs on a remote `kiln worker --server` (the osbuild
 * stand-in, a dev hub, a served distro repo): the API process runs every other job type, the
 * remote worker reaches the queue only through the worker API, and the compose ends with one
 * Koji build.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startService, type RunningService } from '../src/cli/serve.js';
import { startDevHub, type DevHubHandle } from '../src/devhub/index.js';
import { resolveImageType } from '../src/osbuild/index.js';
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
let repo: ServedDirectory;
let service: RunningService;
let dir: string;
let worker: KilnProcess | undefined;

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-remote-compose-'));
  db = await createTestDatabase();
  hub = await startDevHub({ dir: path.join(dir, 'hub') });
  await hub.createUser({ name: 'kiln', password: 'kiln-secret' });
  await hub.grantCGAccess('kiln', 'kiln');
  repo = await serveDirectory((await distroRepo([resolveImageType('fedora-43', 'x86_64', 'guest-image')])).path);
  writeFileSync(path.join(dir, 'koji-password'), 'kiln-secret\n');
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
        koji: { hubs: [{ url: hub.url, auth: 'password', user: 'kiln', password_file: path.join(dir, 'koji-password') }] },
        osbuild: { binary: STANDIN },
      },
    }),
    silentLogger,
  );
});

test.after.always(async () => {
  await worker?.stop('SIGKILL');
  await service?.stop();
  await repo?.close();
  await hub?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a compose whose image is built by a remote worker over the worker API completes with one Koji build', async (t) => {
  worker = runKiln(['worker', '--server', service.url, '--token-file', path.join(dir, 'worker-token'), '--arch', 'x86_64', '--types', 'osbuild', '--name', 'remote-builder-1'], {
    KILN_CONFIG: '',
    KILN_LOG_LEVEL: 'info',
    KILN_STATE_DIR: path.join(dir, 'remote'),
    KILN_QUEUE_HEARTBEAT_INTERVAL_SECONDS: '0.5',
    KILN_KOJI_HUBS: JSON.stringify([{ url: hub.url, auth: 'password', user: 'kiln', password_file: path.join(dir, 'koji-password') }]),
    KILN_OSBUILD_BINARY: STANDIN,
  });
  await worker.waitFor(/"msg":"worker started"/);
  const res = await fetch(`${service.url}${API_BASE}/compose`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_TOKEN}` },
    body: JSON.stringify({
      distribution: 'fedora-43',
      koji: { server: hub.url, task_id: 78, name: 'Fedora-Cloud-Base', version: '43', release: 'remote1' },
      image_requests: [{ architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: repo.url }] }],
    }),
  });
  t.is(res.status, 201);
  const { id } = (await res.json()) as { id: string };
  const deadline = Date.now() + 90_000;
  let status: { status: string; koji_status: { build_id?: number } };
  for (;;) {
    status = (await (await fetch(`${service.url}${API_BASE}/composes/${id}`, { headers: { authorization: `Bearer ${CLIENT_TOKEN}` } })).json()) as typeof status;
    if (status.status === 'success' || status.status === 'failure') break;
    if (Date.now() > deadline) throw new Error(`compose still ${status.status}\n${worker.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const { rows } = await db.pool.query(`SELECT type, worker, state FROM kiln_jobs WHERE compose_id = $1 ORDER BY seq`, [id]);
  t.is(status.status, 'success', `${JSON.stringify(status)}\n${JSON.stringify(rows)}\n${worker.output().slice(-3000)}`);
  t.deepEqual(
    rows.filter((r) => r.type === 'osbuild'),
    [{ type: 'osbuild', worker: 'remote-builder-1', state: 'success' }],
  );
  t.true(rows.filter((r) => r.type !== 'osbuild').every((r) => r.worker !== 'remote-builder-1'), 'only osbuild ran remotely');
  const builds = Object.values(hub.tables().builds).filter((x) => x.release === 'remote1');
  t.is(builds.length, 1);
  t.is(builds[0].state, 1);
  t.is(builds[0].id, status.koji_status.build_id ?? -1);
  t.deepEqual(await worker.stop('SIGTERM'), { code: 0, signal: null });
});
