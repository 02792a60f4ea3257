import test from 'ava';
import { randomUUID } from 'node:crypto';
import {
  enqueueJobs,
  dequeueJob,
  heartbeatJob,
  updateJobProgress,
  finishJob,
  finishAndTakeJob,
  cancelJobs,
  cancelComposeJobs,
  reapLostJobs,
  getJob,
  listComposeJobs,
  QueueListener,
  PgJobSource,
  Worker,
  StaleTokenError,
  JobNotRunningError,
  InvalidDependencyError,
  type JobFilter,
  type RunningJob,
} from '../src/queue/index.js';
import { InvalidInputError } from '../src/errors.js';
import { createPool } from '../src/db/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

const ALL: JobFilter = { types: ['a', 'b', 'c', 'd', 'noop'], channels: ['default'], arches: ['noarch'] };

let db: TestDatabase;
test.before(async () => {
  db = await createTestDatabase(20);
});
test.after.always(async () => {
  await db?.drop();
});

async function take(filter: JobFilter = ALL): Promise<RunningJob> {
  const job = await dequeueJob(db.pool, filter, 'test');
  if (!job) throw new Error('expected a ready job');
  return job;
}

test.serial('dependents receive results in declared order and run only after all dependencies', async (t) => {
  const composeId = randomUUID();
  const [first, second, last] = await enqueueJobs(db.pool, [
    { key: 'one', type: 'a', args: { n: 1 }, composeId },
    { key: 'two', type: 'b', args: { n: 2 }, composeId },
    // declared order two, one: results must arrive in this order
    { key: 'three', type: 'c', dependencies: ['two', 'one'], composeId },
  ]);
  t.is((await getJob(db.pool, last)).state, 'waiting');
  t.is((await getJob(db.pool, last)).dependencies.join(), [second, first].join());

  const j1 = await take();
  t.is(j1.id, first);
  const j2 = await take();
  t.is(j2.id, second);
  t.is(await dequeueJob(db.pool, ALL, 'test'), null, 'the dependent is not ready yet');
  await finishJob(db.pool, j1.id, j1.token, { state: 'success', result: { from: 1 } });
  t.is(await dequeueJob(db.pool, ALL, 'test'), null, 'one dependency still running');
  await finishJob(db.pool, j2.id, j2.token, { state: 'success', result: { from: 2 } });
  const j3 = await take();
  t.is(j3.id, last);
  t.deepEqual(
    j3.dependencies.map((d) => [d.id, d.state, d.result]),
    [
      [second, 'success', { from: 2 }],
      [first, 'success', { from: 1 }],
    ],
  );
  await finishJob(db.pool, j3.id, j3.token, { state: 'success' });
  const history = await listComposeJobs(db.pool, composeId);
  t.deepEqual(history.map((h) => h.state), ['success', 'success', 'success']);
  for (const h of history) {
    t.truthy(h.queuedAt && h.startedAt && h.finishedAt);
    t.true(h.finishedAt! >= h.startedAt!);
    t.is(h.attempts, 1);
  }
});

test.serial('a failed dependency fails its dependents down the graph, but an always-run job runs and sees it', async (t) => {
  const [root, mid, leaf, cleanup] = await enqueueJobs(db.pool, [
    { key: 'root', type: 'a' },
    { key: 'mid', type: 'b', dependencies: ['root'] },
    { key: 'leaf', type: 'c', dependencies: ['mid'] },
    { key: 'cleanup', type: 'd', dependencies: ['root', 'leaf'], alwaysRun: true },
  ]);
  const j = await take();
  t.is(j.id, root);
  await finishJob(db.pool, j.id, j.token, { state: 'failure', error: { code: 'X', message: 'boom' } });
  const midRec = await getJob(db.pool, mid);
  t.is(midRec.state, 'failure');
  t.is(midRec.error?.code, 'KILN_JOB_DEPENDENCY_FAILED');
  t.is((await getJob(db.pool, leaf)).state, 'failure');
  const c = await take();
  t.is(c.id, cleanup, 'the cleanup job is not blocked');
  t.deepEqual(c.dependencies.map((d) => d.state), ['failure', 'failure']);
  t.is(c.dependencies[0].error?.message, 'boom');
  await finishJob(db.pool, c.id, c.token, { state: 'success' });
});

test.serial('canceling a dependency cancels dependents and never blocks an always-run job', async (t) => {
  const composeId = randomUUID();
  const [init, build, finalize] = await enqueueJobs(db.pool, [
    { key: 'init', type: 'a', composeId },
    { key: 'build', type: 'b', dependencies: ['init'], composeId },
    { key: 'finalize', type: 'd', dependencies: ['init', 'build'], alwaysRun: true, composeId },
  ]);
  const running = await take();
  t.is(running.id, init);
  const canceled = await cancelComposeJobs(db.pool, composeId, 'canceled by user');
  t.deepEqual(canceled.sort(), [init, build].sort(), 'the always-run job is not canceled');
  t.is(await heartbeatJob(db.pool, running.id, running.token), 'canceled', 'the running worker learns at its next heartbeat');
  t.is(await finishJob(db.pool, running.id, running.token, { state: 'success', result: { log: 'partial' } }), 'canceled');
  const rec = await getJob(db.pool, init);
  t.is(rec.state, 'canceled');
  t.deepEqual(rec.result, { log: 'partial' }, "the canceled worker's report is kept");
  t.is(rec.error?.message, 'canceled by user');
  const f = await take();
  t.is(f.id, finalize);
  t.deepEqual(f.dependencies.map((d) => d.state), ['canceled', 'canceled']);
  await finishJob(db.pool, f.id, f.token, { state: 'success' });
  t.is((await getJob(db.pool, build)).state, 'canceled');
});

test.serial('only the current token may heartbeat, report progress or finish; the first finish wins', async (t) => {
  await enqueueJobs(db.pool, [{ type: 'a' }]);
  const j = await take();
  const wrong = randomUUID();
  await t.throwsAsync(heartbeatJob(db.pool, j.id, wrong), { instanceOf: StaleTokenError });
  await t.throwsAsync(updateJobProgress(db.pool, j.id, wrong, { done: 1 }), { instanceOf: StaleTokenError });
  await t.throwsAsync(finishJob(db.pool, j.id, wrong, { state: 'success' }), { instanceOf: StaleTokenError });
  t.is(await updateJobProgress(db.pool, j.id, j.token, { done: 1, total: 2 }), 'running');
  t.deepEqual((await getJob(db.pool, j.id)).progress, { done: 1, total: 2 });
  const results = await Promise.allSettled([
    finishJob(db.pool, j.id, j.token, { state: 'success', result: 1 }),
    finishJob(db.pool, j.id, j.token, { state: 'success', result: 2 }),
    finishJob(db.pool, j.id, j.token, { state: 'failure', error: { code: 'E', message: 'x' } }),
  ]);
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one finish is accepted');
  for (const r of results) if (r.status === 'rejected') t.true(r.reason instanceof JobNotRunningError);
  await t.throwsAsync(heartbeatJob(db.pool, j.id, j.token), { instanceOf: JobNotRunningError });
});

test.serial('a job whose heartbeat stops is requeued with a new token, then failed with a reason after the retry limit', async (t) => {
  const [id] = await enqueueJobs(db.pool, [{ type: 'a', heartbeatTimeoutSeconds: 0.2, maxRetries: 1 }]);
  const first = await take();
  await new Promise((r) => setTimeout(r, 400));
  t.deepEqual(await reapLostJobs(db.pool), [{ jobId: id, outcome: 'requeued' }]);
  const second = await take();
  t.is(second.id, id);
  t.not(second.token, first.token);
  t.is(second.attempts, 2);
  t.is(second.retries, 1);
  await t.throwsAsync(finishJob(db.pool, id, first.token, { state: 'success' }), { instanceOf: StaleTokenError }, 'the lost worker cannot finish it');
  await new Promise((r) => setTimeout(r, 400));
  t.deepEqual(await reapLostJobs(db.pool), [{ jobId: id, outcome: 'failed' }]);
  const rec = await getJob(db.pool, id);
  t.is(rec.state, 'failure');
  t.is(rec.error?.code, 'KILN_JOB_LOST');
  t.regex(rec.error!.message, /stopped sending heartbeats.*gave up after 2 attempts/);
});

test.serial('bad job specs are refused with the field named and nothing is enqueued', async (t) => {
  const before = (await db.pool.query('SELECT count(*)::int AS n FROM kiln_jobs')).rows[0].n;
  const e1 = await t.throwsAsync(enqueueJobs(db.pool, [{ type: 'a' }, { type: 'Bad Type' }]), { instanceOf: InvalidInputError });
  t.is(e1.field, 'jobs[1].type');
  const e2 = await t.throwsAsync(enqueueJobs(db.pool, [{ type: 'a' }, { type: 'b', dependencies: ['nope'] }]), { instanceOf: InvalidDependencyError });
  t.regex(e2.message, /jobs\[1\]\.dependencies\[0\]/);
  const e3 = await t.throwsAsync(enqueueJobs(db.pool, [{ type: 'a', dependencies: [randomUUID()] }]), { instanceOf: InvalidDependencyError });
  t.regex(e3.message, /no such job/);
  const e4 = await t.throwsAsync(enqueueJobs(db.pool, [{ key: 'x', type: 'a', dependencies: ['y'] }, { key: 'y', type: 'a' }]), {
    instanceOf: InvalidDependencyError,
  });
  t.regex(e4.message, /jobs\[0\]/);
  t.is((await db.pool.query('SELECT count(*)::int AS n FROM kiln_jobs')).rows[0].n, before);
});

test.serial('dequeue routes by type, channel and architecture', async (t) => {
  await enqueueJobs(db.pool, [
    { type: 'a', channel: 'image', arch: 'aarch64' },
    { type: 'a', channel: 'default', arch: 'x86_64' },
  ]);
  t.is(await dequeueJob(db.pool, { types: ['a'], channels: ['default'], arches: ['aarch64'] }, 'w'), null);
  const arm = await dequeueJob(db.pool, { types: ['a'], channels: ['image'], arches: ['aarch64', 'noarch'] }, 'w');
  t.is(arm?.arch, 'aarch64');
  const x86 = await dequeueJob(db.pool, { types: ['a'], channels: ['default'], arches: ['x86_64'] }, 'w');
  t.is(x86?.arch, 'x86_64');
  for (const j of [arm!, x86!]) await finishJob(db.pool, j.id, j.token, { state: 'success' });
});

test.serial('dependencies finishing at the same moment on separate connections release each dependent exactly once', async (t) => {
  const composeId = randomUUID();
  const specs = [];
  for (let i = 0; i < 50; i++) {
    specs.push(
      { key: `p${i}a`, type: 'a', composeId },
      { key: `p${i}b`, type: 'b', composeId },
      { key: `p${i}c`, type: 'c', dependencies: [`p${i}a`, `p${i}b`], composeId },
    );
  }
  await enqueueJobs(db.pool, specs);
  const taken: RunningJob[] = [];
  for (let i = 0; i < 100; i++) taken.push(await take({ types: ['a', 'b'], channels: ['default'], arches: ['noarch'] }));
  await Promise.all(taken.map((j) => finishJob(db.pool, j.id, j.token, { state: 'success' })));
  const { rows } = await db.pool.query(`SELECT state, deps_pending, count(*)::int AS n FROM kiln_jobs WHERE compose_id = $1 AND type = 'c' GROUP BY 1, 2`,
    [composeId],
  );
  t.deepEqual(rows, [{ state: 'ready', deps_pending: 0, n: 50 }]);
  for (let i = 0; i < 50; i++) {
    const j = await take({ types: ['c'], channels: ['default'], arches: ['noarch'] });
    await finishJob(db.pool, j.id, j.token, { state: 'success' });
  }
});

test.serial('a notification wakes only as many waiting workers as there are new jobs', async (t) => {
  const listener = new QueueListener(db.url);
  await listener.start();
  t.teardown(() => listener.stop());
  const filter: JobFilter = { types: ['noop'], channels: ['default'], arches: ['noarch'] };
  const woken: number[] = [];
  const waits = Array.from({ length: 5 }, (_, i) => listener.register(filter).wait(3_000).then(() => woken.push(i)));
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await enqueueJobs(db.pool, [{ type: 'noop' }, { type: 'noop' }]);
  await new Promise((r) => setTimeout(r, 500));
  t.deepEqual(woken.sort(), [0, 1], 'the two oldest waiters were woken, and only they');
  t.true(Date.now() - started < 2_000);
  await Promise.all(waits);
  for (let i = 0; i < 2; i++) {
    const j = await take(filter);
    await finishJob(db.pool, j.id, j.token, { state: 'success' });
  }
});

test.serial('eight workers on separate connections drain 2,000 jobs, each run exactly once', async (t) => {
  const composeId = randomUUID();
  const runs = new Map<string, number>();
  const workers: Worker[] = [];
  const resources: { stop(): Promise<void> }[] = [];
  for (let w = 0; w < 8; w++) {
    const pool = createPool(db.url, { max: 2 });
    const listener = new QueueListener(db.url);
    await listener.start();
    resources.push({ stop: async () => { await listener.stop(); await pool.end(); } });
    const worker = new Worker({
      name: `w${w}`,
      source: new PgJobSource({ pool, listener, worker: `w${w}`, pollIntervalMs: 1_000 }),
      channels: ['default'],
      arches: ['noarch'],
      takeTimeoutMs: 1_000,
      handlers: {
        noop: {
          concurrency: 1,
          handler: async ({ job }) => {
            runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
            return { by: w };
          },
        },
      },
    });
    worker.start();
    workers.push(worker);
  }
  const specs = Array.from({ length: 2_000 }, (_, i) => ({ type: 'noop', args: { i }, composeId }));
  for (let i = 0; i < specs.length; i += 250) await enqueueJobs(db.pool, specs.slice(i, i + 250));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM kiln_jobs WHERE compose_id = $1 AND state = 'success'`, [composeId]);
    if (rows[0].n === 2_000 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all(resources.map((r) => r.stop()));
  const { rows } = await db.pool.query(
    `SELECT state, attempts, count(*)::int AS n, count(DISTINCT worker)::int AS workers FROM kiln_jobs WHERE compose_id = $1 GROUP BY 1, 2`,
    [composeId],
  );
  t.is(rows.length, 1);
  t.like(rows[0], { state: 'success', attempts: 1, n: 2_000 });
  t.true(rows[0].workers >= 4, `jobs spread over workers (${rows[0].workers})`);
  t.is(runs.size, 2_000);
  t.true([...runs.values()].every((n) => n === 1), 'no job ran twice');
});

test.serial('a running job aborts promptly when canceled (notification) and its outcome is recorded as canceled', async (t) => {
  const listener = new QueueListener(db.url);
  await listener.start();
  t.teardown(() => listener.stop());
  let abortedAfterMs = -1;
  let startedAt = 0;
  const worker = new Worker({
    source: new PgJobSource({ pool: db.pool, listener, worker: 'canceler' }),
    channels: ['default'],
    arches: ['noarch'],
    heartbeatIntervalMs: 60_000, // so only the notification can deliver the cancel quickly
    takeTimeoutMs: 500,
    handlers: {
      a: {
        concurrency: 1,
        handler: ({ signal }) =>
          new Promise((_, reject) => {
            startedAt = Date.now();
            signal.addEventListener('abort', () => {
              abortedAfterMs = Date.now() - startedAt;
              reject(signal.reason);
            });
          }),
      },
    },
  });
  worker.start();
  const [id] = await enqueueJobs(db.pool, [{ type: 'a' }]);
  while ((await getJob(db.pool, id)).state !== 'running') await new Promise((r) => setTimeout(r, 20));
  const canceledAt = Date.now();
  await cancelJobs(db.pool, [id], 'user asked');
  while (abortedAfterMs < 0 && Date.now() - canceledAt < 5_000) await new Promise((r) => setTimeout(r, 20));
  await worker.stop();
  t.true(abortedAfterMs >= 0, 'the handler was aborted');
  t.true(Date.now() - canceledAt < 5_000);
  const rec = await getJob(db.pool, id);
  t.is(rec.state, 'canceled');
  t.is(rec.error?.message, 'user asked');
});

test.serial('finish-and-take reports a job and hands out the next one in one statement; a refused finish takes nothing', async (t) => {
  const [first, second] = await enqueueJobs(db.pool, [{ type: 'noop', args: { n: 1 } }, { type: 'noop', args: { n: 2 } }]);
  const filter: JobFilter = { types: ['noop'], channels: ['default'], arches: ['noarch'] };
  const j1 = await take(filter);
  t.is(j1.id, first);
  await t.throwsAsync(
    finishAndTakeJob(db.pool, j1.id, randomUUID(), { state: 'success' }, { type: 'noop', channels: ['default'], arches: ['noarch'], worker: 'w' }),
    { instanceOf: StaleTokenError },
  );
  t.is((await getJob(db.pool, second)).state, 'ready', 'nothing was taken by the refused finish');
  const { stored, next } = await finishAndTakeJob(db.pool, j1.id, j1.token, { state: 'success', result: 7 }, { type: 'noop', channels: ['default'], arches: ['noarch'], worker: 'w' });
  t.is(stored, 'finished');
  t.is(next?.id, second);
  t.deepEqual(next?.args, { n: 2 });
  t.deepEqual((await getJob(db.pool, first)).result, 7);
  const last = await finishAndTakeJob(db.pool, next!.id, next!.token, { state: 'success' }, { type: 'noop', channels: ['default'], arches: ['noarch'], worker: 'w' });
  t.is(last.next, null);
});

test.serial('jobs released together by one finish wake as many waiters (notifications are counted, not folded)', async (t) => {
  const listener = new QueueListener(db.url);
  await listener.start();
  t.teardown(() => listener.stop());
  const [root] = await enqueueJobs(db.pool, [
    { key: 'root', type: 'a' },
    { type: 'b', dependencies: ['root'] },
    { type: 'b', dependencies: ['root'] },
    { type: 'b', dependencies: ['root'] },
  ]);
  const j = await take({ types: ['a'], channels: ['default'], arches: ['noarch'] });
  t.is(j.id, root);
  const filter: JobFilter = { types: ['b'], channels: ['default'], arches: ['noarch'] };
  const regs = Array.from({ length: 4 }, () => listener.register(filter));
  const woken: number[] = [];
  const waits = regs.map((r, i) => r.wait(2_000).then(() => woken.push(i)));
  await finishJob(db.pool, j.id, j.token, { state: 'success' });
  await new Promise((r) => setTimeout(r, 400));
  t.deepEqual(woken.sort(), [0, 1, 2], 'three jobs became ready: three waiters woken, the fourth still waits');
  regs[3].cancel();
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 2_500))]);
  for (let i = 0; i < 3; i++) {
    const b = await take(filter);
    await finishJob(db.pool, b.id, b.token, { state: 'success' });
  }
});
