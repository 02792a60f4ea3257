/**
 * Fault: the API process (`kiln serve` with its in-process workers) is killed with SIGKILL
 * mid-run and started again, then stopped with SIGTERM mid-run and started again, while a remote
 * `kiln worker --server` keeps working through both restarts. Every compose must end COMPLETE or
 * correctly FAILED with exactly one Koji build, and no reservation may stay BUILDING.
 */
import test from 'ava';
import { runKiln, type KilnProcess } from './helpers/kiln.js';
import { freePort } from './helpers/net.js';
import { startFaultBed, until, type FaultBed } from './helpers/compose-faults.js';

let bed: FaultBed;
const processes: KilnProcess[] = [];

test.after.always(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await bed?.close();
});

test('restarting the API process mid-run (SIGKILL, then SIGTERM): every compose ends, one Koji build each, remote worker carries on', async (t) => {
  bed = await startFaultBed('api-restart');
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const startApi = async (name: string): Promise<KilnProcess> => {
    const p = runKiln(['serve'], bed.env(name, { KILN_LISTEN_ADDRESS: '127.0.0.1', KILN_LISTEN_PORT: String(port), KILN_WORKERS_SHUTDOWN_GRACE_SECONDS: '2' }));
    processes.push(p);
    await until(`${name} to be ready`, async () => ((await fetch(`${apiUrl}/ready`).then((r) => r.ok, () => false)) ? true : undefined));
    return p;
  };
  const finishedSince = async (since: Date) =>
    (await bed.db.pool.query(`SELECT count(*)::int AS n FROM kiln_jobs WHERE finished_at > $1 AND state = 'success'`, [since])).rows[0].n as number;

  let api = await startApi('api-1');
  const { KILN_DATABASE_URL: _db, ...remoteEnv } = bed.env('remote'); // a remote worker knows only the API
  const remote = runKiln(['worker', '--server', apiUrl, '--name', 'remote'], remoteEnv);
  processes.push(remote);
  await remote.waitFor(/"msg":"worker started"/);

  const ids = await bed.submit(apiUrl, 10);
  let since = new Date();
  await until('some jobs to finish', async () => ((await finishedSince(since)) >= 5 ? true : undefined));
  api.child.kill('SIGKILL');
  await api.exited;
  const killedAt = new Date();
  const { rows: orphaned } = await bed.db.pool.query(`SELECT count(*)::int AS n FROM kiln_jobs WHERE state = 'running' AND worker LIKE 'local:%'`);
  t.log(`SIGKILL of api-1 left ${orphaned[0].n} of its jobs running`);
  await new Promise((r) => setTimeout(r, 1_000));
  api = await startApi('api-2');
  ids.push(...(await bed.submit(apiUrl, 4)));
  since = new Date();
  await until('jobs to finish after the restart', async () => ((await finishedSince(since)) >= 5 ? true : undefined));
  api.child.kill('SIGTERM');
  t.deepEqual(await api.exited, { code: 0, signal: null }, 'a SIGTERM stops kiln serve cleanly');
  const restartedAt = new Date();
  api = await startApi('api-3');

  await bed.waitForEnd(ids, 180_000);
  const check = await bed.check(ids);
  const { rows: byRemote } = await bed.db.pool.query(
    `SELECT count(*) FILTER (WHERE finished_at > $1)::int AS after_kill, count(*) FILTER (WHERE finished_at > $2)::int AS after_term FROM kiln_jobs WHERE worker = 'remote'`,
    [killedAt, restartedAt],
  );
  t.log(`${ids.length} composes: ${check.complete} COMPLETE, ${check.failed} FAILED; ${check.retriedJobs} jobs ran again; the remote worker finished ${byRemote[0].after_kill} jobs after the SIGKILL, ${byRemote[0].after_term} after the SIGTERM restart`);
  t.deepEqual(check.problems, []);
  t.is(check.complete, ids.length);
  t.is(remote.child.exitCode, null, 'the remote worker rode out both restarts');
  t.true(byRemote[0].after_kill > 0, 'the remote worker took jobs from the restarted API');
});
