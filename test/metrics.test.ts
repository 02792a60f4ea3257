import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startService } from '../src/cli/serve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { KilnError } from '../src/errors.js';
import { dequeueJob, enqueueJobs, getJob, PgJobSource, Worker } from '../src/queue/index.js';
import { buildApp } from '../src/api/app.js';
import { createMetrics } from '../src/metrics/index.js';
import { parseTokens } from '../src/api/auth.js';
import { KojiClient, KojiFault, uploadFile } from '../src/koji/index.js';
import { startDevHub } from '../src/devhub/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

/** The value of the sample `name{labels}` (labels exactly as given), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[l[1]] = l[2];
    const keys = Object.keys(labels);
    if (Object.keys(got).length === keys.length && keys.every((k) => got[k] === labels[k])) return Number(m[3]);
  }
  return undefined;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let tmp: string;
test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-metrics-'));
});
test.after.always(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test.serial('kiln serve: /metrics over real HTTP shows queue depth, running jobs, job durations, remote heartbeats and process metrics', async (t) => {
  const db: TestDatabase = await createTestDatabase(4);
  t.teardown(() => db.drop());
  const service = await startService(
    loadConfig({
      env: {},
      overrides: {
        state_dir: path.join(tmp, 'serve'),
        database: { url: db.url },
        listen: { address: '127.0.0.1', port: 0 },
        queue: { heartbeat_interval_seconds: 0.5, poll_interval_seconds: 1 },
        workers: { local: true, channels: ['default'] },
        log: { level: 'silent' },
      },
    }),
    silentLogger,
  );
  t.teardown(() => service.stop());

  const done = await enqueueJobs(db.pool, [1, 2, 3].map((n) => ({ type: 'noop', args: { n } })));
  // on a channel no worker serves: one ready, one waiting behind it, one taken by hand (running)
  await enqueueJobs(db.pool, [
    { key: 'a', type: 'noop', channel: 'elsewhere', arch: 'x86_64' },
    { type: 'noop', channel: 'elsewhere', arch: 'x86_64', dependencies: ['a'] },
    { type: 'depsolve', channel: 'manual', arch: 'aarch64' },
  ]);
  const taken = await dequeueJob(db.pool, { types: ['depsolve'], channels: ['manual'], arches: ['aarch64'] }, 'by-hand');
  t.truthy(taken);
  await waitFor('the noop jobs', async () => (await Promise.all(done.map((id) => getJob(db.pool, id)))).every((j) => j.state === 'success'));
  await db.pool.query(
    `INSERT INTO kiln_workers (id, name, arches, types, channels, last_seen_at) VALUES
       ($1, 'builder-1', '{x86_64}', '{osbuild}', '{image}', now() - interval '90 seconds'),
       ($2, 'builder-1', '{x86_64}', '{osbuild}', '{image}', now() - interval '3 days')`,
    [randomUUID(), randomUUID()],
  );

  // the worker reports its metrics after finishing the job in the database
  let text = '';
  await waitFor('three job durations', async () => {
    const res = await fetch(`${service.url}/metrics`);
    t.is(res.status, 200);
    t.regex(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    text = await res.text();
    return sample(text, 'kiln_job_duration_seconds_count', { type: 'noop', outcome: 'success' }) === 3;
  });

  t.is(sample(text, 'kiln_queue_jobs', { type: 'noop', channel: 'elsewhere', arch: 'x86_64', state: 'ready' }), 1);
  t.is(sample(text, 'kiln_queue_jobs', { type: 'noop', channel: 'elsewhere', arch: 'x86_64', state: 'waiting' }), 1);
  t.is(sample(text, 'kiln_queue_jobs', { type: 'depsolve', channel: 'manual', arch: 'aarch64', state: 'running' }), 1);
  t.is(sample(text, 'kiln_queue_jobs', { type: 'noop', channel: 'default', arch: 'noarch', state: 'ready' }), undefined, 'finished jobs are not queued');
  t.is(sample(text, 'kiln_jobs_running', { type: 'depsolve' }), 1);
  t.is(sample(text, 'kiln_jobs_running', { type: 'noop' }), undefined);
  t.is(sample(text, 'kiln_job_duration_seconds_bucket', { type: 'noop', outcome: 'success', le: '+Inf' }), 3);
  t.true(sample(text, 'kiln_job_duration_seconds_sum', { type: 'noop', outcome: 'success' })! < 10);
  const age = sample(text, 'kiln_remote_worker_last_seen_seconds', { worker: 'builder-1' })!;
  t.true(age >= 89 && age < 150, `the newest registration counts: ${age}`);
  t.true(sample(text, 'process_cpu_user_seconds_total')! > 0, 'process default metrics');
  t.truthy(sample(text, 'nodejs_eventloop_lag_seconds') !== undefined);

  // a combination that emptied since the last scrape is gone, not stale
  await db.pool.query(`UPDATE kiln_jobs SET state = 'canceled', finished_at = now() WHERE channel = 'elsewhere' AND state = 'waiting'`);
  const again = await (await fetch(`${service.url}/metrics`)).text();
  t.is(sample(again, 'kiln_queue_jobs', { type: 'noop', channel: 'elsewhere', arch: 'x86_64', state: 'waiting' }), undefined);
  t.is(sample(again, 'kiln_queue_jobs', { type: 'noop', channel: 'elsewhere', arch: 'x86_64', state: 'ready' }), 1);
});

test.serial('failures are counted by job type and error code, durations by outcome', async (t) => {
  const db = await createTestDatabase(4);
  t.teardown(() => db.drop());
  const metrics = createMetrics({ db: db.pool, observeKoji: false });
  const app = await buildApp({ pool: db.pool, log: silentLogger, metrics });
  t.teardown(() => app.close());
  const worker = new Worker({
    source: new PgJobSource({ pool: db.pool, worker: 'w-fail', pollIntervalMs: 50 }),
    channels: ['default'],
    arches: ['noarch'],
    takeTimeoutMs: 200,
    onJobFinished: metrics.onJobFinished,
    handlers: {
      flaky: {
        concurrency: 2,
        handler: async ({ job }) => {
          const { fail } = job.args as { fail: string | null };
          if (fail === 'koji') throw new KilnError('KILN_KOJI_FAULT', 'hub said no');
          if (fail === 'plain') throw new Error('not a coded error');
          return { ok: true };
        },
      },
    },
  });
  worker.start();
  t.teardown(() => worker.stop());
  const ids = await enqueueJobs(db.pool, ['koji', 'koji', 'plain', null].map((fail) => ({ type: 'flaky', args: { fail }, maxRetries: 0 })));
  await waitFor('the flaky jobs', async () => (await Promise.all(ids.map((id) => getJob(db.pool, id)))).every((j) => j.state === 'success' || j.state === 'failure'));
  let text = '';
  await waitFor('four outcomes', async () => {
    text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    return (sample(text, 'kiln_job_duration_seconds_count', { type: 'flaky', outcome: 'failure' }) ?? 0) + (sample(text, 'kiln_job_duration_seconds_count', { type: 'flaky', outcome: 'success' }) ?? 0) === 4;
  });
  t.is(sample(text, 'kiln_job_failures_total', { type: 'flaky', code: 'KILN_KOJI_FAULT' }), 2);
  t.is(sample(text, 'kiln_job_failures_total', { type: 'flaky', code: 'KILN_INTERNAL' }), 1);
  t.is(sample(text, 'kiln_job_duration_seconds_count', { type: 'flaky', outcome: 'failure' }), 3);
  t.is(sample(text, 'kiln_job_duration_seconds_count', { type: 'flaky', outcome: 'success' }), 1);
  t.is(sample(text, 'process_cpu_user_seconds_total'), undefined, 'no process metrics unless asked');
});

test.serial('Koji calls: latency by method and outcome, faults by code, uploaded bytes by hub', async (t) => {
  const db = await createTestDatabase(2);
  t.teardown(() => db.drop());
  const hub = await startDevHub({ dir: path.join(tmp, 'hub') });
  t.teardown(() => hub.close());
  await hub.createUser({ name: 'kiln', password: 'kiln-secret' });
  const metrics = createMetrics({ db: db.pool });
  t.teardown(() => metrics.close());
  const client = new KojiClient({ url: hub.url, auth: { type: 'password', user: 'kiln', password: 'kiln-secret' }, retry: { attempts: 1 } });
  t.teardown(() => client.close());

  t.is(typeof (await client.callAnonymous('getAPIVersion')), 'number');
  await client.callAnonymous('getAPIVersion');
  const fault = await t.throwsAsync(client.call('noSuchMethodAnywhere'));
  t.true(fault instanceof KojiFault, String(fault));
  const file = path.join(tmp, 'image.raw');
  await writeFile(file, Buffer.alloc(3000, 7));
  const up = await uploadFile(client, file, { directory: `kiln-cg/${randomUUID()}`, chunkSize: 1024, resume: false });
  t.is(up.bytesSent, 3000);

  const text = await metrics.text();
  t.is(sample(text, 'kiln_koji_call_duration_seconds_count', { method: 'getAPIVersion', outcome: 'ok' }), 2);
  t.is(sample(text, 'kiln_koji_call_duration_seconds_count', { method: 'login', outcome: 'ok' }), 1);
  t.is(sample(text, 'kiln_koji_call_duration_seconds_count', { method: 'noSuchMethodAnywhere', outcome: 'fault' }), 1);
  t.is(sample(text, 'kiln_koji_faults_total', { method: 'noSuchMethodAnywhere', fault_code: String((fault as KojiFault).faultCode) }), 1);
  t.is(sample(text, 'kiln_koji_call_duration_seconds_count', { method: 'upload', outcome: 'ok' }), 3);
  t.is(sample(text, 'kiln_koji_upload_bytes_total', { hub: hub.url }), 3000);

  // after close() the registry no longer observes clients
  metrics.close();
  await client.callAnonymous('getAPIVersion');
  t.is(sample(await metrics.text(), 'kiln_koji_call_duration_seconds_count', { method: 'getAPIVersion', outcome: 'ok' }), 2);
});

test('with auth configured, /metrics and /status need credentials like the compose API', async (t) => {
  const db = await createTestDatabase(2);
  t.teardown(() => db.drop());
  const token = 'prometheus-scrape-token-0123456789';
  const app = await buildApp({ pool: db.pool, log: silentLogger, auth: { tokens: parseTokens(`prometheus ${token}\n`), allowedClientNames: [] } });
  t.teardown(() => app.close());
  for (const url of ['/metrics', '/status']) {
    t.is((await app.inject({ method: 'GET', url })).statusCode, 401, url);
    t.is((await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })).statusCode, 200, url);
  }
  t.is((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
});
