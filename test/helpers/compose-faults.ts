/**
 * The bed the fault tests (and bench/faults.ts) run composes on: a test database, the Koji hub
 * stand-in, the environment for real `kiln serve` / `kiln worker` processes with the zero-time
 * osbuild and solver stand-ins and short heartbeats, and the check every fault test ends with:
 * each compose ended COMPLETE or correctly FAILED/CANCELED, with exactly one Koji build, and no
 * reservation is left BUILDING.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { DevHubHandle } from '../../src/devhub/index.js';
import { API_BASE } from '../../src/compose/index.js';
export { seededRandom } from '../../src/devhub/faults.js';
export { until } from './until.js';
import { startKilnHub, type KilnHub } from './kiln-hub.js';
import { runKiln, type KilnProcess } from './kiln.js';
import { freePort } from './net.js';
import { until } from './until.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const ZERO_OSBUILD = fileURLToPath(new URL('../../bench/fixtures/zero-osbuild.mjs', import.meta.url));
export const ZERO_SOLVER = fileURLToPath(new URL('../../bench/fixtures/zero-depsolve.mjs', import.meta.url));

const BUILD_STATE_NAMES = ['BUILDING', 'COMPLETE', 'DELETED', 'FAILED', 'CANCELED'];

export interface FaultBed {
  dir: string;
  db: { url: string; pool: pg.Pool };
  hub: DevHubHandle;
  hubConfig: KilnHub['config'];
  /** Environment for a `kiln` process of this bed; `name` picks its own state directory. */
  env(name: string, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Starts `kiln serve` on a free loopback port with this bed's environment; resolves once it is ready. */
  serve(name: string, extra?: NodeJS.ProcessEnv): Promise<{ process: KilnProcess; url: string }>;
  /** Submits `n` composes of 2 images (x86_64 guest-image, aarch64 minimal-raw); each has its own release. */
  submit(apiUrl: string, n: number): Promise<string[]>;
  /** Waits until every compose's koji-finalize job has ended. */
  waitForEnd(ids: string[], timeoutMs: number): Promise<void>;
  /** The invariants; `problems` is empty when they hold. */
  check(ids: string[]): Promise<ComposeCheck>;
  close(): Promise<void>;
}

export interface ComposeCheck {
  complete: number;
  failed: number;
  canceled: number;
  /** jobs that ran more than once (retried after a lost worker) */
  retriedJobs: number;
  problems: string[];
}

export interface FaultBedOptions {
  /** Use this database instead of a fresh test database (it must be migrated). */
  database?: { url: string; pool: pg.Pool };
}

export async function startFaultBed(label: string, options: FaultBedOptions = {}): Promise<FaultBed> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `kiln-${label}-`));
  let testDb: TestDatabase | undefined;
  const db = options.database ?? (testDb = await createTestDatabase());
  const { hub, config: hubConfig, task } = await startKilnHub(dir);
  let release = 0;

  const env = (name: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    KILN_CONFIG: '',
    KILN_LOG_LEVEL: 'info',
    KILN_STATE_DIR: path.join(dir, name),
    KILN_DATABASE_URL: db.url,
    KILN_WORKERS_ARCHES: 'x86_64,aarch64',
    KILN_QUEUE_HEARTBEAT_INTERVAL_SECONDS: '0.5',
    KILN_QUEUE_HEARTBEAT_TIMEOUT_SECONDS: '2',
    KILN_QUEUE_POLL_INTERVAL_SECONDS: '1',
    KILN_QUEUE_MAX_RETRIES: '5',
    KILN_KOJI_HUBS: JSON.stringify([hubConfig]),
    KILN_OSBUILD_BINARY: ZERO_OSBUILD,
    KILN_DEPSOLVE_SOLVER: ZERO_SOLVER,
    ...extra,
  });

  const submitOne = async (apiUrl: string): Promise<string> => {
    const body = {
      distribution: 'fedora-43',
      koji: { server: hub.url, task_id: await task(), name: `Fault-${label}`, version: '43', release: `r${++release}` },
      image_requests: [
        { architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] },
        { architecture: 'aarch64', image_type: 'minimal-raw', repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] },
      ],
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(`${apiUrl}${API_BASE}/compose`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (res.status === 201) return ((await res.json()) as { id: string }).id;
        throw new Error(`POST /compose: ${res.status} ${await res.text()}`);
      } catch (err) {
        if (attempt >= 3) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  return {
    dir,
    db,
    hub,
    hubConfig,
    env,
    async serve(name, extra = {}) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const proc = runKiln(['serve'], env(name, { KILN_LISTEN_ADDRESS: '127.0.0.1', KILN_LISTEN_PORT: String(port), ...extra }));
      await until('kiln serve to be ready', async () => ((await fetch(`${url}/ready`).then((r) => r.ok, () => false)) ? true : undefined), 120_000).catch(async (err: Error) => {
        await proc.stop('SIGKILL');
        throw new Error(`${err.message}\n${proc.output().slice(-3000)}`);
      });
      return { process: proc, url };
    },
    async submit(apiUrl, n) {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push(await submitOne(apiUrl));
      return ids;
    },
    async waitForEnd(ids, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await db.pool.query(
          `SELECT count(*)::int AS n FROM kiln_composes c JOIN kiln_jobs f ON f.id = c.finalize_job_id
            WHERE c.id = ANY ($1::uuid[]) AND f.state IN ('success', 'failure', 'canceled')`,
          [ids],
        );
        if (rows[0].n === ids.length) return;
        if (Date.now() > deadline) {
          const { rows: open } = await db.pool.query(
            `SELECT j.compose_id, j.type, j.state, j.worker, j.attempts, j.error FROM kiln_jobs j
              WHERE j.compose_id = ANY ($1::uuid[]) AND j.state NOT IN ('success', 'failure', 'canceled') ORDER BY j.seq LIMIT 20`,
            [ids],
          );
          throw new Error(`${ids.length - rows[0].n} of ${ids.length} composes did not end within ${timeoutMs} ms; open jobs: ${JSON.stringify(open)}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async check(ids) {
      const problems: string[] = [];
      const { rows } = await db.pool.query(
        `SELECT c.id, c.koji_name, c.koji_version, c.koji_release, c.cancel_reason,
                i.state AS init_state, f.state AS finalize_state, f.result AS finalize_result, f.error AS finalize_error,
                (SELECT count(*)::int FROM kiln_jobs j WHERE j.compose_id = c.id AND j.state NOT IN ('success', 'failure', 'canceled')) AS open_jobs
           FROM kiln_composes c JOIN kiln_jobs i ON i.id = c.init_job_id JOIN kiln_jobs f ON f.id = c.finalize_job_id
          WHERE c.id = ANY ($1::uuid[])`,
        [ids],
      );
      if (rows.length !== ids.length) problems.push(`${ids.length - rows.length} composes are missing from the database`);
      const builds = Object.values(hub.tables().builds);
      let complete = 0;
      let failed = 0;
      let canceled = 0;
      for (const r of rows) {
        const nvr = `${r.koji_name}-${r.koji_version}-${r.koji_release}`;
        const mine = builds.filter((b) => b.name === r.koji_name && b.version === r.koji_version && b.release === r.koji_release);
        if (r.open_jobs > 0) problems.push(`${r.id} (${nvr}): ${r.open_jobs} jobs have not ended`);
        if (mine.length !== 1) {
          // no build at all is right only when koji-init never reserved one
          if (!(mine.length === 0 && r.init_state !== 'success')) problems.push(`${r.id} (${nvr}): ${mine.length} Koji builds, expected exactly one`);
        }
        const build = mine[0];
        const state = build ? BUILD_STATE_NAMES[build.state] : 'none';
        if (r.finalize_state === 'success') {
          complete++;
          if (state !== 'COMPLETE') problems.push(`${r.id} (${nvr}): compose succeeded but its Koji build is ${state}`);
          else if (r.finalize_result?.build_id !== build.id) problems.push(`${r.id} (${nvr}): compose names build ${r.finalize_result?.build_id}, the hub has ${build.id}`);
        } else if (r.cancel_reason !== null || r.finalize_state === 'canceled' || r.finalize_error?.code === 'KILN_JOB_CANCELED') {
          canceled++;
          if (build && state !== 'CANCELED') problems.push(`${r.id} (${nvr}): compose canceled but its Koji build is ${state}`);
        } else {
          failed++;
          if (build && state !== 'FAILED' && state !== 'CANCELED') problems.push(`${r.id} (${nvr}): compose failed but its Koji build is ${state} (${r.finalize_error?.message ?? 'no reason'})`);
          if (!r.finalize_error?.message) problems.push(`${r.id} (${nvr}): compose failed without a reason`);
        }
      }
      for (const b of builds) if (b.state === 0) problems.push(`Koji build ${b.id} (${b.name}-${b.version}-${b.release}) is still BUILDING`);
      const reservations = Object.keys(hub.tables().reservations);
      if (reservations.length) problems.push(`reservations left in the hub: ${reservations.join(', ')}`);
      const { rows: retried } = await db.pool.query(`SELECT count(*)::int AS n FROM kiln_jobs WHERE compose_id = ANY ($1::uuid[]) AND attempts > 1`, [ids]);
      return { complete, failed, canceled, retriedJobs: retried[0].n, problems };
    },
    async close() {
      await hub.close();
      await testDb?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
