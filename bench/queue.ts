/**
 * Queue benchmark: the same no-op workload through Kiln's queue, graphile-worker (default,
 * unbatched mode) and pg-boss, on one embedded Postgres, in one run. Prints jobs/s per
 * system and concurrency, the ratios Kiln/graphile-worker and Kiln/pg-boss, and Kiln's
 * enqueue-to-start latency for an idle worker (graphile-worker's beside it).
 *
 *   npm run bench -- queue            (BENCH_JOBS=20000 BENCH_CONCURRENCY=4,16 BENCH_LATENCY_SAMPLES=300)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { run as runGraphile, makeWorkerUtils, Logger as GraphileLogger } from 'graphile-worker';
import PgBoss from 'pg-boss';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/index.js';
import { enqueueJobs, QueueListener, PgJobSource, Worker } from '../src/queue/index.js';
import { freePort } from '../test/helpers/net.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '4,16').split(',').map(Number);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 300);
const SYSTEMS = (process.env.BENCH_SYSTEMS ?? 'kiln,graphile-worker,pg-boss,pg-boss-batched').split(',');
// Each throughput run stops after this long (pg-boss unbatched is far too slow to drain 20k).
const RUN_LIMIT_MS = Number(process.env.BENCH_RUN_LIMIT_MS ?? 60_000);

interface Result {
  system: string;
  concurrency: number;
  seconds: number;
  jobs: number;
  jobsPerSecond: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name}`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return adminUrl.replace(/\/postgres$/, `/${name}`);
}

/** Counts finished jobs; resolves when all are done or the run's time limit passes. */
function countdown(total: number): { tick(): void; finished(start: number): Promise<{ seconds: number; jobs: number }> } {
  let done = 0;
  let resolve: (() => void) | null = null;
  return {
    tick() {
      if (++done === total) resolve?.();
    },
    async finished(start) {
      if (done < total) {
        await new Promise<void>((r) => {
          resolve = r;
          setTimeout(r, RUN_LIMIT_MS);
        });
      }
      return { seconds: (performance.now() - start) / 1_000, jobs: done };
    },
  };
}

function result(system: string, concurrency: number, r: { seconds: number; jobs: number }): Result {
  return { system, concurrency, seconds: r.seconds, jobs: r.jobs, jobsPerSecond: r.jobs / r.seconds };
}

async function benchKiln(url: string, concurrency: number): Promise<Result> {
  const pool = createPool(url, { max: concurrency + 2 });
  await pool.query('TRUNCATE kiln_jobs CASCADE');
  for (let i = 0; i < JOBS; i += 1_000) {
    await enqueueJobs(pool, Array.from({ length: Math.min(1_000, JOBS - i) }, () => ({ type: 'noop' })));
  }
  const listener = new QueueListener(url);
  await listener.start();
  const counter = countdown(JOBS);
  const worker = new Worker({
    source: new PgJobSource({ pool, listener, worker: 'bench' }),
    channels: ['default'],
    arches: ['noarch'],
    handlers: { noop: { concurrency, handler: async () => counter.tick() } },
  });
  const start = performance.now();
  worker.start();
  const r = await counter.finished(start);
  await worker.stop();
  await listener.stop();
  await pool.end();
  return result('kiln', concurrency, r);
}

async function benchGraphile(url: string, concurrency: number): Promise<Result> {
  const utils = await makeWorkerUtils({ connectionString: url });
  await utils.migrate();
  await utils.withPgClient(async (c) => {
    await c.query('DELETE FROM graphile_worker._private_jobs');
    for (let i = 0; i < JOBS; i += 1_000) {
      await c.query(
        `SELECT graphile_worker.add_jobs(array(
           SELECT json_populate_recordset(null::graphile_worker.job_spec, $1::json)))`,
        [JSON.stringify(Array.from({ length: Math.min(1_000, JOBS - i) }, () => ({ identifier: 'noop', payload: {} })))],
      );
    }
  });
  await utils.release();
  const counter = countdown(JOBS);
  const start = performance.now();
  const runner = await runGraphile({
    connectionString: url,
    concurrency,
    noHandleSignals: true,
    pollInterval: 2_000,
    logger: quietGraphileLogger,
    taskList: { noop: async () => counter.tick() },
  });
  const r = await counter.finished(start);
  await runner.stop();
  return result('graphile-worker', concurrency, r);
}

/**
 * pg-boss 10 has no concurrency option: one work() loop per slot. Unbatched (batchSize 1) a
 * loop sleeps out its polling interval (0.5 s minimum) after every fetch unless notified, so
 * it is also measured batched (batchSize 50: one fetch and one completion per 50 jobs), which
 * is how pg-boss is meant to be driven for throughput.
 */
function benchPgBoss(batchSize: number) {
  return async (url: string, concurrency: number): Promise<Result> => {
    const boss = new PgBoss({ connectionString: url, max: concurrency + 2, supervise: false, schedule: false });
    boss.on('error', () => undefined);
    await boss.start();
    await boss.deleteQueue('noop').catch(() => undefined);
    await boss.createQueue('noop');
    for (let i = 0; i < JOBS; i += 1_000) {
      await boss.insert(Array.from({ length: Math.min(1_000, JOBS - i) }, () => ({ name: 'noop', data: {} })));
    }
    const counter = countdown(JOBS);
    const start = performance.now();
    for (let i = 0; i < concurrency; i++) {
      await boss.work('noop', { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        for (const _ of jobs) counter.tick();
      });
    }
    const r = await counter.finished(start);
    await boss.stop({ graceful: false, wait: true });
    return result(batchSize === 1 ? 'pg-boss' : `pg-boss-batched`, concurrency, r);
  };
}

/** Enqueue-to-start for an idle worker: enqueue one job, wait for its start, repeat. */
async function latencyKiln(url: string): Promise<number[]> {
  const pool = createPool(url, { max: 4 });
  const listener = new QueueListener(url);
  await listener.start();
  let onStart: (() => void) | null = null;
  const worker = new Worker({
    source: new PgJobSource({ pool, listener, worker: 'latency' }),
    channels: ['default'],
    arches: ['noarch'],
    handlers: { ping: { concurrency: 1, handler: async () => onStart?.() } },
  });
  worker.start();
  await new Promise((r) => setTimeout(r, 200));
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES + 20; i++) {
    const started = new Promise<number>((r) => (onStart = () => r(performance.now())));
    const t0 = performance.now();
    await enqueueJobs(pool, [{ type: 'ping' }]);
    const t1 = await started;
    if (i >= 20) samples.push(t1 - t0); // first ones warm up prepared statements
    await new Promise((r) => setTimeout(r, 5));
  }
  await worker.stop();
  await listener.stop();
  await pool.end();
  return samples.sort((a, b) => a - b);
}

async function latencyGraphile(url: string): Promise<number[]> {
  let onStart: (() => void) | null = null;
  const runner = await runGraphile({
    connectionString: url,
    concurrency: 1,
    noHandleSignals: true,
    pollInterval: 2_000,
    logger: quietGraphileLogger,
    taskList: { ping: async () => onStart?.() },
  });
  const utils = await makeWorkerUtils({ connectionString: url });
  await new Promise((r) => setTimeout(r, 200));
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES + 20; i++) {
    const started = new Promise<number>((r) => (onStart = () => r(performance.now())));
    const t0 = performance.now();
    await utils.addJob('ping', {});
    const t1 = await started;
    if (i >= 20) samples.push(t1 - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  await utils.release();
  await runner.stop();
  return samples.sort((a, b) => a - b);
}

const quietGraphileLogger = new GraphileLogger(() => () => undefined);

export async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-pg-'));
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port: await freePort(), persistent: false });
  try {
    const kilnUrl = await createDatabase(server.adminUrl, 'bench_kiln');
    await migrate(kilnUrl);
    const gwUrl = await createDatabase(server.adminUrl, 'bench_graphile');
    const bossUrl = await createDatabase(server.adminUrl, 'bench_pgboss');
    const probe = new pg.Client({ connectionString: kilnUrl });
    await probe.connect();
    const version = (await probe.query('SHOW server_version')).rows[0].server_version;
    await probe.end();
    console.log(`queue benchmark: ${JOBS} no-op jobs per run, ${os.cpus().length} cores, Postgres ${version} (embedded, same server for all)`);
    const results: Result[] = [];
    const systems: Record<string, [(url: string, c: number) => Promise<Result>, string]> = {
      kiln: [benchKiln, kilnUrl],
      'graphile-worker': [benchGraphile, gwUrl],
      'pg-boss': [benchPgBoss(1), bossUrl],
      'pg-boss-batched': [benchPgBoss(50), bossUrl],
    };
    for (const c of CONCURRENCIES) {
      for (const name of SYSTEMS) {
        const [fn, url] = systems[name];
        const r = await fn(url, c);
        results.push(r);
        const partial = r.jobs < JOBS ? ` (time limit: ${r.jobs} of ${JOBS} done)` : '';
        console.log(`  ${r.system.padEnd(16)} concurrency ${String(c).padStart(2)}: ${r.jobsPerSecond.toFixed(0).padStart(6)} jobs/s in ${r.seconds.toFixed(2)} s${partial}`);
      }
    }
    console.log('\nthroughput ratios (same machine, same Postgres, same run):');
    for (const c of CONCURRENCIES) {
      const get = (s: string) => results.find((r) => r.system === s && r.concurrency === c)?.jobsPerSecond;
      const kiln = get('kiln');
      if (!kiln) continue;
      const parts = ['graphile-worker', 'pg-boss', 'pg-boss-batched']
        .filter((p) => get(p))
        .map((p) => `kiln/${p} = ${(kiln / get(p)!).toFixed(2)}x`);
      console.log(`  concurrency ${String(c).padStart(2)}: ${parts.join('   ')}`);
    }
    if (!SYSTEMS.includes('kiln')) return;
    const kl = await latencyKiln(kilnUrl);
    const gl = await latencyGraphile(gwUrl);
    console.log(`\nenqueue-to-start latency, idle worker, ${LATENCY_SAMPLES} samples:`);
    console.log(`  kiln:            p50 ${percentile(kl, 50).toFixed(2)} ms   p99 ${percentile(kl, 99).toFixed(2)} ms   (targets: p50 < 5 ms, p99 < 50 ms)`);
    console.log(`  graphile-worker: p50 ${percentile(gl, 50).toFixed(2)} ms   p99 ${percentile(gl, 99).toFixed(2)} ms`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
