/**
 * Compose benchmark: composes of 2 images each (x86_64 guest-image + aarch64 minimal-raw)
 * through a real `kiln serve` (API, queue, in-process workers, Postgres) against the Koji hub
 * stand-in, with zero-time stand-ins for osbuild and the depsolver (bench/fixtures/), so the
 * figures are Kiln's own orchestration.
 *
 * Prints: the mean orchestration overhead per compose (end-to-end latency minus the time the
 * jobs spent in their handlers on the critical path; target under 100 ms), mean end-to-end
 * latency, composes/s with many composes in flight, and the API process's peak RSS.
 *
 *   npm run bench -- compose     (BENCH_COMPOSES=200 BENCH_SEQUENTIAL=20)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { startDevHub } from '../src/devhub/index.js';
import { API_BASE } from '../src/compose/index.js';
import { freePort } from '../test/helpers/net.js';

const COMPOSES = Number(process.env.BENCH_COMPOSES ?? 200);
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 20);
const root = fileURLToPath(new URL('..', import.meta.url));

/** user+system CPU seconds of a live process and of its waited-for children (the spawned stand-ins) */
function cpuSeconds(pid: number): { own: number; children: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  const tick = 100; // USER_HZ on Linux
  return { own: (Number(fields[11]) + Number(fields[12])) / tick, children: (Number(fields[13]) + Number(fields[14])) / tick };
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

export async function main(): Promise<void> {
  // `kiln serve` runs from dist/; tsc emits even with type errors, which `npm run typecheck` reports
  spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'ignore' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-compose-'));
  const pgServer = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), persistent: false });
  const hub = await startDevHub({ dir: path.join(dir, 'hub') });
  await hub.createUser({ name: 'kiln', password: 'bench' });
  await hub.grantCGAccess('kiln', 'kiln');
  await hub.createUser({ name: 'releng', password: 'bench' });
  writeFileSync(path.join(dir, 'password'), 'bench\n');
  const port = await freePort();
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of kiln serve, written when it stops
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
  const serve = spawn(process.execPath, [...profile, path.join(root, 'bin/kiln.js'), 'serve'], {
    env: {
      ...process.env,
      KILN_CONFIG: '',
      KILN_STATE_DIR: path.join(dir, 'state'),
      KILN_DATABASE_URL: pgServer.url,
      KILN_LISTEN_PORT: String(port),
      KILN_LOG_LEVEL: 'warn',
      KILN_WORKERS_ARCHES: 'x86_64,aarch64',
      KILN_WORKERS_CONCURRENCY: JSON.stringify({ 'koji-init': 4, depsolve: 4, osbuild: 4, 'koji-finalize': 4 }),
      KILN_KOJI_HUBS: JSON.stringify([{ url: hub.url, auth: 'password', user: 'kiln', password_file: path.join(dir, 'password') }]),
      KILN_OSBUILD_BINARY: path.join(root, 'bench/fixtures/zero-osbuild.mjs'),
      KILN_DEPSOLVE_SOLVER: path.join(root, 'bench/fixtures/zero-depsolve.mjs'),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const db = new pg.Client({ connectionString: pgServer.url });
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/ready`).then((r) => r.ok, () => false);
      if (ok) break;
      if (i > 600) throw new Error('kiln serve did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    await db.connect();
    let release = 0;
    // each compose belongs to its own Koji task, made before the compose as the hub's make_task does
    const body = async () => ({
      distribution: 'fedora-43',
      koji: { server: hub.url, task_id: await hub.createTask({ method: 'osbuildImage', owner: 'releng', channel: 'image' }), name: 'bench', version: '1', release: String(++release) },
      image_requests: [
        { architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] },
        { architecture: 'aarch64', image_type: 'minimal-raw', repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] },
      ],
    });
    const submit = async (): Promise<string> => {
      const res = await fetch(`${base}${API_BASE}/compose`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(await body()) });
      if (res.status !== 201) throw new Error(`POST /compose: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { id: string }).id;
    };
    const untilDone = async (ids: string[]): Promise<void> => {
      for (;;) {
        const { rows } = await db.query(
          `SELECT count(*)::int AS n FROM kiln_composes c JOIN kiln_jobs f ON f.id = c.finalize_job_id WHERE c.id = ANY ($1::uuid[]) AND f.finished_at IS NOT NULL`,
          [ids],
        );
        if (rows[0].n === ids.length) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    // 1. one compose at a time: latency and the orchestration overhead within it
    const sequential: string[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const id = await submit();
      await untilDone([id]);
      sequential.push(id);
    }
    const { rows: timing } = await db.query(
      `SELECT c.id,
              extract(epoch FROM f.finished_at - c.created_at) * 1000 AS total_ms,
              (SELECT max(extract(epoch FROM (i.finished_at - i.started_at)) * 1000) FROM kiln_jobs i WHERE i.id = c.init_job_id) AS init_ms,
              (SELECT max(greatest(extract(epoch FROM (d.finished_at - d.started_at)), extract(epoch FROM (i.finished_at - i.started_at))) * 1000
                          + extract(epoch FROM (o.finished_at - o.started_at)) * 1000)
                 FROM kiln_image_builds b JOIN kiln_jobs d ON d.id = b.depsolve_job_id JOIN kiln_jobs o ON o.id = b.osbuild_job_id,
                      kiln_jobs i WHERE b.compose_id = c.id AND i.id = c.init_job_id) AS images_ms,
              extract(epoch FROM (f.finished_at - f.started_at)) * 1000 AS finalize_ms,
              (SELECT bool_and(state = 'success') FROM kiln_jobs WHERE compose_id = c.id) AS ok
         FROM kiln_composes c JOIN kiln_jobs f ON f.id = c.finalize_job_id
        WHERE c.id = ANY ($1::uuid[])`,
      [sequential],
    );
    if (!timing.every((r) => r.ok)) throw new Error('a sequential compose did not succeed');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const totals = timing.map((r) => Number(r.total_ms));
    const overheads = timing.map((r) => Number(r.total_ms) - Number(r.images_ms) - Number(r.finalize_ms));
    const handlers = timing.map((r) => Number(r.images_ms) + Number(r.finalize_ms));

    // 2. many in flight: throughput
    const t0 = performance.now();
    const cpu0 = cpuSeconds(serve.pid!);
    const hubCpu0 = process.cpuUsage();
    const ids: string[] = [];
    for (let i = 0; i < COMPOSES; i += 20) ids.push(...(await Promise.all(Array.from({ length: Math.min(20, COMPOSES - i) }, submit))));
    await untilDone(ids);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuSeconds(serve.pid!);
    const hubCpu = process.cpuUsage(hubCpu0);
    const { rows: states } = await db.query(
      `SELECT f.state, count(*)::int AS n FROM kiln_composes c JOIN kiln_jobs f ON f.id = c.finalize_job_id WHERE c.id = ANY ($1::uuid[]) GROUP BY 1`,
      [ids],
    );
    const { rows: twice } = await db.query(`SELECT count(*)::int AS n FROM kiln_jobs WHERE attempts > 1`);
    const complete = Object.values(hub.tables().builds).filter((b) => b.state === 1).length;

    console.log(`compose benchmark: 2 images per compose, zero-time osbuild and depsolver stand-ins, ${os.cpus().length} cores`);
    console.log(`  one at a time (${SEQUENTIAL}): mean latency ${mean(totals).toFixed(0)} ms, of which job handlers ${mean(handlers).toFixed(0)} ms`);
    console.log(`  mean orchestration overhead per compose: ${mean(overheads).toFixed(1)} ms   (target < 100 ms)`);
    console.log(`  ${COMPOSES} in flight: ${(COMPOSES / seconds).toFixed(2)} composes/s (${seconds.toFixed(1)} s); finalize states ${states.map((s) => `${s.state}=${s.n}`).join(' ')}; jobs run more than once: ${twice[0].n}`);
    console.log(`  CPU per compose: kiln serve ${(((cpu1.own - cpu0.own) / COMPOSES) * 1000).toFixed(0)} ms, its osbuild/solver stand-in processes ${(((cpu1.children - cpu0.children) / COMPOSES) * 1000).toFixed(0)} ms, this process (the Koji hub stand-in, which copies and saves its whole state on every call) ${((hubCpu.user + hubCpu.system) / 1000 / COMPOSES).toFixed(0)} ms`);
    console.log(`  Koji builds COMPLETE in the hub: ${complete} of ${SEQUENTIAL + COMPOSES}`);
    const rss = peakRssMiB(serve.pid!);
    console.log(`  API process (kiln serve with in-process workers) peak RSS: ${rss.toFixed(0)} MiB   (seed capacity note: 512 MiB)`);
    const wrong = [
      ...(complete !== SEQUENTIAL + COMPOSES ? [`${SEQUENTIAL + COMPOSES - complete} Koji builds not COMPLETE`] : []),
      ...(twice[0].n > 0 ? [`${twice[0].n} jobs ran more than once`] : []),
      ...(rss >= 512 ? ['peak RSS over 512 MiB'] : []),
    ];
    if (wrong.length) {
      console.log(`  NOT MET: ${wrong.join('; ')}`);
      process.exitCode = 1;
    }
  } finally {
    await db.end().catch(() => undefined);
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
    await hub.close();
    await pgServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
