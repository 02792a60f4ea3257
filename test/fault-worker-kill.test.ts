/**
 * Fault: kill -9 of a `kiln worker` process at a random point, 20 times, while composes keep
 * arriving. Each kill lands wherever the victim happens to be (koji-init between CGInitBuild and
 * its checkpoint, an upload, CGImport …); a replacement starts at once. Every compose must end
 * COMPLETE or correctly FAILED with exactly one Koji build, and no reservation may stay BUILDING.
 *
 * KILN_FAULT_SEED replays a run's choices (the timing of the processes still varies).
 */
import test from 'ava';
import { API_BASE } from '../src/compose/index.js';
import { runKiln, type KilnProcess } from './helpers/kiln.js';
import { seededRandom, startFaultBed, type FaultBed } from './helpers/compose-faults.js';

const KILLS = 20;
const SEED = Number(process.env.KILN_FAULT_SEED ?? 20261123);

let bed: FaultBed;
let api: KilnProcess;
let apiUrl: string;
const processes: KilnProcess[] = [];

test.before(async () => {
  bed = await startFaultBed('kill');
  // the API runs no jobs: every job runs in the worker processes that get killed
  ({ process: api, url: apiUrl } = await bed.serve('api', { KILN_WORKERS_LOCAL: 'false', KILN_LOG_LEVEL: 'warn' }));
  processes.push(api);
});

test.after.always(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await bed?.close();
});

async function startWorker(name: string): Promise<KilnProcess> {
  const w = runKiln(['worker', '--name', name], bed.env(name));
  processes.push(w);
  await w.waitFor(/"msg":"worker started"/);
  return w;
}

test(`kill -9 of a worker at ${KILLS} random points: every compose ends COMPLETE or correctly FAILED, one Koji build each, no reservation left`, async (t) => {
  const random = seededRandom(SEED);
  const workers = new Map<string, KilnProcess>();
  for (const name of ['w0a', 'w0b']) workers.set(name, await startWorker(name));
  const ids = await bed.submit(apiUrl, 4);
  const landedIn: Record<string, number> = {};
  for (let kill = 1; kill <= KILLS; kill++) {
    const { rows: open } = await bed.db.pool.query(
      `SELECT count(*)::int AS n FROM kiln_composes c JOIN kiln_jobs f ON f.id = c.finalize_job_id WHERE c.id = ANY ($1::uuid[]) AND f.finished_at IS NULL`,
      [ids],
    );
    if (open[0].n < 3) ids.push(...(await bed.submit(apiUrl, 2)));
    await new Promise((r) => setTimeout(r, 200 + random() * 1300));
    const names = [...workers.keys()];
    const victim = names[Math.floor(random() * names.length)];
    const { rows: running } = await bed.db.pool.query(`SELECT type FROM kiln_jobs WHERE worker = $1 AND state = 'running'`, [victim]);
    for (const r of running) landedIn[r.type] = (landedIn[r.type] ?? 0) + 1;
    if (running.length === 0) landedIn.idle = (landedIn.idle ?? 0) + 1;
    const p = workers.get(victim)!;
    p.child.kill('SIGKILL');
    await p.exited;
    workers.delete(victim);
    workers.set(`w${kill}`, await startWorker(`w${kill}`));
  }
  await bed.waitForEnd(ids, 180_000);
  const check = await bed.check(ids);
  t.log(`${KILLS} kills (seed ${SEED}); jobs running in the victim at the kill: ${JSON.stringify(landedIn)}`);
  t.log(`${ids.length} composes: ${check.complete} COMPLETE, ${check.failed} FAILED, ${check.canceled} CANCELED; ${check.retriedJobs} jobs ran again after a kill`);
  t.deepEqual(check.problems, []);
  t.true(check.retriedJobs > 0, 'some kill hit a running job');
  // nothing was wrong with the requests: a lost worker costs a retry, not the compose
  t.is(check.complete, ids.length);
  const res = await fetch(`${apiUrl}${API_BASE}/composes/${ids[0]}`);
  t.is(((await res.json()) as { status: string }).status, 'success');
});
