/**
 * A worker process killed with SIGKILL while osbuild runs: after the heartbeat timeout its job
 * is requeued and another `kiln worker` process builds the image; the compose completes with
 * exactly one Koji build.
 */
import test from 'ava';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
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
import { until } from './helpers/until.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));

let db: TestDatabase;
let hub: DevHubHandle;
let hubConfig: KilnHub['config'];
let newTask: KilnHub['task'];
let repo: ServedDirectory;
let service: RunningService;
let dir: string;
const workers: KilnProcess[] = [];

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-kill-'));
  db = await createTestDatabase();
  ({ hub, config: hubConfig, task: newTask } = await startKilnHub(dir));
  repo = await serveDirectory((await distroRepo([resolveImage('fedora-43', 'x86_64', 'guest-image')])).path);
  // the API process runs every job type but osbuild; osbuild only runs in `kiln worker` processes
  service = await startService(
    loadConfig({
      env: {},
      overrides: {
        state_dir: path.join(dir, 'api'),
        database: { url: db.url },
        listen: { address: '127.0.0.1', port: 0 },
        queue: { heartbeat_interval_seconds: 0.5, heartbeat_timeout_seconds: 2, max_retries: 2, poll_interval_seconds: 1 },
        workers: { arches: ['x86_64'], concurrency: { osbuild: 0 } },
        koji: { hubs: [hubConfig] },
        osbuild: { binary: STANDIN },
      },
    }),
    silentLogger,
  );
});

test.after.always(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  await service?.stop();
  await repo?.close();
  await hub?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A worker whose osbuild hangs (writing its pid to `hangPidfile`), or builds normally. */
function startWorker(name: string, hangPidfile?: string): KilnProcess {
  const w = runKiln(['worker', '--types', 'osbuild', '--name', name], {
    KILN_CONFIG: '',
    KILN_LOG_LEVEL: 'info',
    KILN_STATE_DIR: path.join(dir, name),
    KILN_DATABASE_URL: db.url,
    KILN_WORKERS_ARCHES: 'x86_64',
    KILN_QUEUE_HEARTBEAT_INTERVAL_SECONDS: '0.5',
    KILN_KOJI_HUBS: JSON.stringify([hubConfig]),
    KILN_OSBUILD_BINARY: STANDIN,
    ...(hangPidfile ? { KILN_STANDIN_HANG: '1', KILN_STANDIN_PIDFILE: hangPidfile } : {}),
  });
  workers.push(w);
  return w;
}

test('kill -9 of the worker during osbuild: the job is retried on another worker and the compose completes with one Koji build', async (t) => {
  const pidA = path.join(dir, 'a.pid');
  const a = startWorker('worker-a', pidA);
  await a.waitFor(/"msg":"worker started"/);
  const res = await fetch(`${service.url}${API_BASE}/compose`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      distribution: 'fedora-43',
      koji: { server: hub.url, task_id: await newTask(), name: 'Fedora-Cloud-Base', version: '43', release: 'kill1' },
      image_requests: [{ architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: repo.url }] }],
    }),
  });
  t.is(res.status, 201);
  const { id } = (await res.json()) as { id: string };
  await until('osbuild to run on worker-a', () => (existsSync(pidA) ? true : undefined)).catch(async (err) => {
    const jobs = await db.pool.query(`SELECT type, state, worker, error FROM kiln_jobs WHERE compose_id = $1 ORDER BY seq`, [id]);
    throw new Error(`${err.message}\njobs: ${JSON.stringify(jobs.rows)}\nworker-a: ${a.output().slice(-3000)}`);
  });
  const orphan = Number(readFileSync(pidA, 'utf8').split(' ')[0]);
  t.notThrows(() => process.kill(-orphan, 0), 'osbuild runs under worker-a');
  a.child.kill('SIGKILL');
  await a.exited;
  try {
    process.kill(-orphan, 'SIGKILL'); // the dead worker's osbuild would otherwise run on
  } catch {
    /* already gone */
  }
  const b = startWorker('worker-b');
  const status = await until('the compose to end', async () => {
    const s = (await (await fetch(`${service.url}${API_BASE}/composes/${id}`)).json()) as { status: string; koji_status: { build_id?: number } };
    return s.status === 'success' || s.status === 'failure' ? s : undefined;
  }, 90_000);
  t.is(status.status, 'success', JSON.stringify(status));
  const { rows } = await db.pool.query(`SELECT worker, attempts, retries, state FROM kiln_jobs WHERE compose_id = $1 AND type = 'osbuild'`, [id]);
  t.deepEqual(rows, [{ worker: 'worker-b', attempts: 2, retries: 1, state: 'success' }]);
  const builds = Object.values(hub.tables().builds).filter((x) => x.release === 'kill1');
  t.is(builds.length, 1, 'exactly one Koji build');
  t.is(builds[0].state, 1);
  t.is(builds[0].id, status.koji_status.build_id ?? -1);
  await b.stop();
});
