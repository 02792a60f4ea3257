import test from 'ava';
import { enqueueJobs, getJob } from '../src/queue/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { spawnTs, type Spawned } from './helpers/process.js';

const WORKER = new URL('./fixtures/queue-worker.ts', import.meta.url).pathname;

let db: TestDatabase;
const children: Spawned[] = [];
test.before(async () => {
  db = await createTestDatabase();
});
test.after.always(async () => {
  for (const c of children) c.kill();
  await db?.drop();
});

function startWorker(name: string): Spawned {
  const w = spawnTs(WORKER, { KILN_TEST_DB_URL: db.url, KILN_TEST_WORKER: name });
  children.push(w);
  return w;
}

async function waitForState(id: string, states: string[], timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rec = await getJob(db.pool, id);
    if (states.includes(rec.state)) return rec;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${rec.state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.serial('a worker killed with SIGKILL mid-job: the job is requeued and finished by another worker', async (t) => {
  const [id] = await enqueueJobs(db.pool, [{ type: 'sleepy', args: { ms: 1_500 }, heartbeatTimeoutSeconds: 1, maxRetries: 2 }]);
  const a = startWorker('worker-a');
  await a.waitFor(new RegExp(`running ${id}`));
  a.kill('SIGKILL');
  t.is((await a.exited).signal, 'SIGKILL');
  t.is((await getJob(db.pool, id)).worker, 'worker-a');
  const b = startWorker('worker-b');
  await b.waitFor(new RegExp(`running ${id}`), 30_000);
  const rec = await waitForState(id, ['success', 'failure']);
  t.is(rec.state, 'success');
  t.deepEqual(rec.result, { pid: b.child.pid, worker: 'worker-b' });
  t.is(rec.attempts, 2);
  t.is(rec.retries, 1);
  b.kill('SIGTERM');
  await b.exited;
});

test.serial('after the retry limit a job whose workers keep dying fails with a clear reason', async (t) => {
  const [id] = await enqueueJobs(db.pool, [{ type: 'sleepy', args: { ms: 60_000 }, heartbeatTimeoutSeconds: 0.8, maxRetries: 1 }]);
  for (const name of ['worker-c', 'worker-d']) {
    const w = startWorker(name);
    await w.waitFor(new RegExp(`running ${id}`), 30_000);
    w.kill('SIGKILL');
    await w.exited;
  }
  // a third process only reaps (its own sleepy slot would otherwise take a requeued job)
  const reaperOnly = startWorker('worker-e');
  const rec = await waitForState(id, ['failure', 'success'], 30_000);
  t.is(rec.state, 'failure');
  t.is(rec.error?.code, 'KILN_JOB_LOST');
  t.regex(rec.error!.message, /worker-d stopped sending heartbeats/);
  t.is(rec.attempts, 2);
  t.false(reaperOnly.output().includes(`running ${id}`));
  reaperOnly.kill('SIGTERM');
  await reaperOnly.exited;
});

test.serial('a worker stopped with SIGTERM hands its running job back at once', async (t) => {
  const [id] = await enqueueJobs(db.pool, [{ type: 'sleepy', args: { ms: 30_000 }, heartbeatTimeoutSeconds: 60 }]);
  const w = startWorker('worker-f');
  await w.waitFor(new RegExp(`running ${id}`));
  w.kill('SIGTERM');
  await w.exited;
  const rec = await getJob(db.pool, id);
  t.is(rec.state, 'ready', 'handed back without waiting for the heartbeat timeout');
  t.is(rec.retries, 0);
});
