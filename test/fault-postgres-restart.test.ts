/**
 * Fault: Postgres restarted (fast shutdown, ~3 s down, started again on the same data directory
 * and port) while a `kiln serve` with in-process workers runs composes. The process must not
 * crash, its API must answer 503 (not 500) while the database is away and /ready 200 again
 * after, the listener and the pools must reconnect, and a job that ends while the database is
 * down must still be reported: every compose ends COMPLETE with exactly one Koji build.
 *
 * The test runs its own embedded Postgres (not the run's shared one) so it can stop it.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPool, type Pool } from '../src/db/index.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { API_BASE } from '../src/compose/index.js';
import { PgJobSource, enqueueJobs, getJob } from '../src/queue/index.js';
import type { KilnProcess } from './helpers/kiln.js';
import { freePort } from './helpers/net.js';
import { startFaultBed, until, type FaultBed } from './helpers/compose-faults.js';

const DOWN_MS = 3_000;

let dir: string;
let pgPort: number;
let postgres: EmbeddedPostgresHandle | undefined;
let pool: Pool | undefined;
let bed: FaultBed | undefined;
let api: KilnProcess | undefined;
let apiUrl: string;

const startPostgres = () => startEmbeddedPostgres({ dataDir: path.join(dir, 'pgdata'), port: pgPort, persistent: true });

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-pg-restart-'));
  pgPort = await freePort();
  postgres = await startPostgres();
  await migrate(postgres.url);
  // createPool drops clients whose server went away (pool 'error' handler) instead of crashing
  pool = createPool(postgres.url, { max: 5, applicationName: 'kiln-test' });
  bed = await startFaultBed('pgrestart', { database: { url: postgres.url, pool } });
  ({ process: api, url: apiUrl } = await bed.serve('api'));
});

test.after.always(async () => {
  await api?.stop('SIGTERM');
  await bed?.close();
  await pool?.end().catch(() => undefined);
  await postgres?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function statusOf(url: string): Promise<number | string> {
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    return `unreachable: ${(err as Error).message}`;
  }
}

test.serial('Postgres restarted mid-run: connections recover, no job is lost, every compose completes', async (t) => {
  const output = () => api!.output().slice(-6000);
  const ids = await bed!.submit(apiUrl, 8);
  // let some jobs run first: the first compose ends, or 1 s passes
  const started = Date.now();
  await until('jobs to run', async () => {
    if (Date.now() - started > 1_000) return true;
    const { rows } = await pool!.query(`SELECT count(*)::int AS n FROM kiln_jobs WHERE compose_id = ANY ($1::uuid[]) AND state = 'success'`, [ids]);
    return rows[0].n > 0 ? true : undefined;
  });
  const { rows: before } = await pool!.query(
    `SELECT state, count(*)::int AS n FROM kiln_jobs WHERE compose_id = ANY ($1::uuid[]) GROUP BY state ORDER BY state`,
    [ids],
  );

  const stopAt = Date.now();
  await postgres!.stop();
  postgres = undefined;
  const stoppedMs = Date.now() - stopAt;
  // while the database is away the process stays up: /ready says 503, API routes answer 503
  await new Promise((r) => setTimeout(r, 500));
  const readyWhileDown = await statusOf(`${apiUrl}/ready`);
  const composeWhileDown = await statusOf(`${apiUrl}${API_BASE}/composes/${ids[0]}`);
  await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (Date.now() - stopAt))));
  postgres = await startPostgres();
  const upAt = Date.now();
  const downMs = upAt - stopAt;

  await until('/ready to answer 200 after the restart', async () => ((await statusOf(`${apiUrl}/ready`)) === 200 ? true : undefined), 60_000);
  const readyAfterMs = Date.now() - upAt;
  // a job finishing after the restart shows the workers took up their work again
  await until('a job to finish after the restart', async () => {
    const { rows } = await pool!.query(
      `SELECT count(*) FILTER (WHERE finished_at > to_timestamp($2 / 1000.0))::int AS n, count(*) FILTER (WHERE finished_at IS NULL)::int AS open
         FROM kiln_jobs WHERE compose_id = ANY ($1::uuid[])`,
      [ids, upAt],
    );
    return rows[0].n > 0 || rows[0].open === 0 ? true : undefined;
  }, 60_000);
  const jobsAfterMs = Date.now() - upAt;

  await bed!.waitForEnd(ids, 120_000).catch((err) => {
    throw new Error(`${err.message}\nkiln serve:\n${output()}`);
  });
  const more = await bed!.submit(apiUrl, 2);
  await bed!.waitForEnd(more, 120_000).catch((err) => {
    throw new Error(`${err.message}\nkiln serve:\n${output()}`);
  });
  const all = [...ids, ...more];
  const check = await bed!.check(all);

  const log = api!.output();
  const count = (re: RegExp) => (log.match(re) ?? []).length;
  t.log(`jobs before the stop: ${JSON.stringify(before)}`);
  t.log(`Postgres down for ${downMs} ms (fast shutdown took ${stoppedMs} ms); while down: /ready ${readyWhileDown}, GET compose ${composeWhileDown}`);
  t.log(`after the restart: /ready 200 within ${readyAfterMs} ms, first job finished within ${jobsAfterMs} ms`);
  t.log(`${all.length} composes: ${check.complete} COMPLETE, ${check.failed} FAILED, ${check.canceled} CANCELED; ${check.retriedJobs} jobs ran more than once`);
  t.log(
    `kiln serve log: ${count(/database unreachable/g)} "database unreachable" warnings, ${count(/"msg":"database reachable again"/g)} "reachable again", ` +
      `${count(/"msg":"listener reconnected"/g)} listener reconnects, ${count(/"msg":"reporting the job outcome failed"/g)} lost reports`,
  );

  t.deepEqual(check.problems, [], output());
  t.is(check.complete, all.length, 'a restarted database costs a delay, not a compose');
  t.is(readyWhileDown, 503);
  t.is(composeWhileDown, 503);
  t.is(count(/"msg":"reporting the job outcome failed"/g), 0, 'no job report was given up');
  t.is(count(/uncaught|unhandled/gi), 0, 'nothing went unhandled');
  t.is(api!.child.exitCode, null, 'kiln serve is still running');
  t.is(api!.child.signalCode, null, 'kiln serve is still running');
  t.is(await statusOf(`${apiUrl}/ready`), 200);
  const res = await fetch(`${apiUrl}${API_BASE}/composes/${more[1]}`);
  t.is(((await res.json()) as { status: string }).status, 'success');
});

test.serial('PgJobSource: a finish while the database is down is stored once it is back', async (t) => {
  const [id] = await enqueueJobs(pool!, [{ type: 'pg-restart-unit', arch: 'noarch' }]);
  const source = new PgJobSource({ pool: pool!, worker: 'unit', pollIntervalMs: 100 });
  const job = await source.take({ types: ['pg-restart-unit'], channels: ['default'], arches: ['noarch'] }, { timeoutMs: 10_000 });
  t.truthy(job);
  await postgres!.stop();
  postgres = undefined;
  const finishing = source.finish(job!, { state: 'success', result: { ok: true } });
  const beat = source.heartbeat(job!);
  // nothing is stored while the database is down; the reports wait for it
  await new Promise((r) => setTimeout(r, 1_500));
  postgres = await startPostgres();
  t.deepEqual(await finishing, { stored: 'finished', next: null });
  // the heartbeat waited too: it lands before the finish, or after it and hears the job ended
  t.true(['running', 'KILN_JOB_NOT_RUNNING'].includes(await beat.then((s) => s, (err: { code?: string }) => String(err.code))));
  const stored = await getJob(pool!, id);
  t.is(stored.state, 'success');
  t.deepEqual(stored.result, { ok: true });
  t.is(stored.attempts, 1);
});
