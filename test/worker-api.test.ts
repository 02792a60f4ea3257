/**
 * The worker API (src/api/worker-api.ts) and remote `kiln worker --server` processes
 * (src/queue/http-source.ts): a real `kiln` API over HTTP on 127.0.0.1 with bearer tokens, a
 * real Postgres, real worker processes. Each test uses its own channel, so the tests run at once
 * without taking each other's jobs.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startService, type RunningService } from '../src/cli/serve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { cancelJobs, enqueueJobs, getJob } from '../src/queue/index.js';
import { WORKER_API_BASE } from '../src/api/worker-api.js';
import { startDevHub, type DevHubHandle } from '../src/devhub/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { runKiln, type KilnProcess } from './helpers/kiln.js';
import { freePort } from './helpers/net.js';
import { until } from './helpers/until.js';

const TOKEN = 'worker-api-token-0123456789abcdef';
const OTHER_TOKEN = 'other-worker-token-0123456789abc';

let db: TestDatabase;
let tmp: string;
let service: RunningService;
let hub: DevHubHandle;
let hangingHub: Server;
let hangingHubUrl: string;
const hangingSockets = new Set<Socket>();
const processes: KilnProcess[] = [];

test.before(async () => {
  db = await createTestDatabase();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-worker-api-'));
  await writeFile(path.join(tmp, 'tokens'), `worker-1 ${TOKEN}\nworker-2 ${OTHER_TOKEN}\n`, { mode: 0o600 });
  await writeFile(path.join(tmp, 'worker-token'), `# the token of worker-1\n${TOKEN}\n`, { mode: 0o600 });
  await writeFile(path.join(tmp, 'bad-token'), 'not-the-token-0123456789abcdef\n', { mode: 0o600 });
  await writeFile(path.join(tmp, 'koji-password'), 'kiln-secret\n');
  hub = await startDevHub({ dir: path.join(tmp, 'hub') });
  await hub.createUser({ name: 'kiln', password: 'kiln-secret' });
  await hub.grantCGAccess('kiln', 'kiln');
  // a "hub" that accepts connections and never answers: a koji-init job against it runs until killed
  hangingHub = createServer((s) => {
    hangingSockets.add(s);
    s.on('close', () => hangingSockets.delete(s));
  });
  await new Promise<void>((r) => hangingHub.listen(0, '127.0.0.1', r));
  hangingHubUrl = `http://127.0.0.1:${(hangingHub.address() as { port: number }).port}/kojihub`;
  service = await startService(
    loadConfig({
      env: {},
      overrides: {
        state_dir: path.join(tmp, 'api'),
        database: { url: db.url },
        listen: { address: '127.0.0.1', port: 0 },
        api: { tokens_file: path.join(tmp, 'tokens') },
        // long backstop poll: a long-poll answered within a second was woken by NOTIFY
        queue: { heartbeat_interval_seconds: 0.5, heartbeat_timeout_seconds: 2, max_retries: 2, poll_interval_seconds: 30 },
        workers: { local: false },
        log: { level: 'silent' },
        koji: { hubs: [{ url: hub.url, auth: 'password', user: 'kiln', password_file: path.join(tmp, 'koji-password') }] },
      },
    }),
    silentLogger,
  );
});

test.after.always(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await service?.stop();
  for (const s of hangingSockets) s.destroy();
  await new Promise((r) => (hangingHub ? hangingHub.close(r) : r(undefined)));
  await hub?.close();
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: any;
  ms: number;
}

async function api(method: string, route: string, body?: unknown, token: string | null = TOKEN): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(`${service.url}${WORKER_API_BASE}${route}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, ms: Date.now() - started };
}

async function register(channel: string, types = ['noop'], token = TOKEN): Promise<string> {
  const r = await api('POST', '/workers', { name: `direct-${channel}`, arches: ['x86_64', 'noarch'], types, channels: [channel] }, token);
  if (r.status !== 201) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

function remoteWorker(name: string, channel: string, extra: string[] = [], env: Record<string, string> = {}): KilnProcess {
  const p = runKiln(['worker', '--server', service.url, '--arch', 'x86_64', '--channel', channel, '--name', name, ...extra], {
    KILN_CONFIG: '',
    KILN_LOG_LEVEL: 'info',
    KILN_STATE_DIR: path.join(tmp, name),
    KILN_QUEUE_HEARTBEAT_INTERVAL_SECONDS: '0.5',
    ...env,
  });
  processes.push(p);
  return p;
}

const finished = (ids: string[]) => async () => {
  const recs = await Promise.all(ids.map((id) => getJob(db.pool, id)));
  return recs.every((r) => ['success', 'failure', 'canceled'].includes(r.state)) ? recs : undefined;
};

test('a remote `kiln worker --server` takes and finishes jobs enqueued in the database', async (t) => {
  const w = remoteWorker('remote-a', 'remote-a', ['--types', 'noop,koji-init', '--token-file', path.join(tmp, 'worker-token')], {
    KILN_KOJI_HUBS: JSON.stringify([{ url: hub.url, auth: 'password', user: 'kiln', password_file: path.join(tmp, 'koji-password') }]),
  });
  await w.waitFor(/"msg":"worker started"/);
  const specs = Array.from({ length: 20 }, (_, i) => ({ type: 'noop', args: { i }, channel: 'remote-a', arch: i % 2 ? 'x86_64' : 'noarch' }));
  const ids = await enqueueJobs(db.pool, [
    ...specs,
    // checkpoint over HTTP: koji-init saves its reservation before it returns
    { type: 'koji-init', args: { compose_id: randomUUID(), server: hub.url, name: 'remote', version: '1', release: '1' }, channel: 'remote-a', arch: 'noarch' },
  ]);
  // a job for another arch or channel is left alone
  const [foreign] = await enqueueJobs(db.pool, [{ type: 'noop', channel: 'remote-a', arch: 's390x' }]);
  const recs = await until('the jobs to finish', finished(ids));
  for (const [i, rec] of recs.slice(0, 20).entries()) {
    t.is(rec.state, 'success', JSON.stringify(rec.error));
    t.deepEqual(rec.result, { echo: { i } });
    t.is(rec.worker, 'remote-a');
  }
  const init = recs[20];
  t.is(init.state, 'success', `${JSON.stringify(init.error)}\n${w.output().slice(-2000)}`);
  t.true(Number.isInteger((init.result as { build_id: number }).build_id));
  t.deepEqual(init.checkpoint, init.result, 'the reservation was checkpointed through the worker API');
  t.is((await getJob(db.pool, foreign)).state, 'ready');
  const { rows } = await db.pool.query(`SELECT name, principal, arches, types, channels, now() - last_seen_at < interval '10 seconds' AS recent FROM kiln_workers WHERE name = 'remote-a'`);
  t.deepEqual(rows, [{ name: 'remote-a', principal: 'worker-1', arches: ['x86_64', 'noarch'], types: ['noop', 'koji-init'], channels: ['remote-a'], recent: true }]);
  t.deepEqual(await w.stop('SIGTERM'), { code: 0, signal: null });
});

test('without valid credentials a worker gets 401 and nothing else', async (t) => {
  const workerId = await register('auth');
  const [id] = await enqueueJobs(db.pool, [{ type: 'noop', channel: 'auth' }]);
  const calls: [string, string, unknown][] = [
    ['POST', '/workers', { name: 'intruder', arches: ['x86_64'], types: ['noop'], channels: ['auth'] }],
    ['POST', `/workers/${workerId}/jobs`, { wait_seconds: 0 }],
    ['POST', `/workers/${workerId}/jobs/${id}/heartbeat`, { token: randomUUID() }],
    ['POST', `/workers/${workerId}/jobs/${id}/finish`, { token: randomUUID(), state: 'success' }],
    ['POST', `/workers/${workerId}/jobs/${id}/release`, { token: randomUUID() }],
  ];
  for (const token of [null, 'wrong-token-0123456789abcdef']) {
    for (const [method, route, body] of calls) {
      const r = await api(method, route, body, token);
      t.is(r.status, 401, `${method} ${route}`);
      t.is(r.body.code, 'KILN_UNAUTHORIZED');
      t.deepEqual(Object.keys(r.body).sort(), ['code', 'href', 'id', 'kind', 'operation_id', 'reason']);
    }
  }
  t.is((await getJob(db.pool, id)).state, 'ready', 'the job was not handed out');
  t.is((await db.pool.query(`SELECT count(*)::int AS n FROM kiln_workers WHERE name = 'intruder'`)).rows[0].n, 0, 'no registration without credentials');
  // another principal cannot use this registration
  const r = await api('POST', `/workers/${workerId}/jobs`, { wait_seconds: 0 }, OTHER_TOKEN);
  t.is(r.status, 403);
  t.is(r.body.code, 'KILN_FORBIDDEN');
  // the real worker with a bad token stops at once with the reason
  const w = remoteWorker('remote-bad', 'auth', ['--types', 'noop', '--token-file', path.join(tmp, 'bad-token')]);
  const exit = await w.exited;
  t.is(exit.code, 1, w.output());
  t.regex(w.output(), /401 bearer token not accepted/);
  t.is((await db.pool.query(`SELECT count(*)::int AS n FROM kiln_workers WHERE name = 'remote-bad'`)).rows[0].n, 0);
  t.is((await getJob(db.pool, id)).state, 'ready');
  await cancelJobs(db.pool, [id]);
});

test('a long-poll answers 204 after its wait and wakes within a second when a job is enqueued', async (t) => {
  const workerId = await register('poll');
  const empty = await api('POST', `/workers/${workerId}/jobs`, { wait_seconds: 1 });
  t.is(empty.status, 204);
  t.true(empty.ms >= 950 && empty.ms < 3_000, `${empty.ms} ms`);

  const waiting = api('POST', `/workers/${workerId}/jobs`, { wait_seconds: 20 });
  await new Promise((r) => setTimeout(r, 500));
  const enqueuedAt = Date.now();
  const [id] = await enqueueJobs(db.pool, [{ type: 'noop', args: { hello: 'remote' }, channel: 'poll', heartbeatTimeoutSeconds: 30 }]);
  const got = await waiting;
  const latency = Date.now() - enqueuedAt;
  t.is(got.status, 200);
  t.true(latency < 1_000, `woke ${latency} ms after the enqueue (backstop poll is 30 s)`);
  t.like(got.body, { kind: 'Job', id, type: 'noop', args: { hello: 'remote' }, channel: 'poll', arch: 'noarch', attempts: 1, heartbeat_timeout_seconds: 30, checkpoint: null, dependencies: [] });
  t.is((await getJob(db.pool, id)).worker, 'direct-poll');

  // a worker that hangs up stops its long-poll: a job enqueued afterwards is not taken by the ghost
  const hangUp = new AbortController();
  const ghost = fetch(`${service.url}${WORKER_API_BASE}/workers/${workerId}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ wait_seconds: 20 }),
    signal: hangUp.signal,
  }).catch((err: Error) => err.name);
  await new Promise((r) => setTimeout(r, 300));
  hangUp.abort();
  t.is(await ghost, 'AbortError');
  await new Promise((r) => setTimeout(r, 300));
  const [unclaimed] = await enqueueJobs(db.pool, [{ type: 'noop', channel: 'poll' }]);
  await new Promise((r) => setTimeout(r, 500));
  t.is((await getJob(db.pool, unclaimed)).state, 'ready', 'nobody took the job for the worker that hung up');
  await cancelJobs(db.pool, [unclaimed]);

  // a type outside the registration is refused
  const outside = await api('POST', `/workers/${workerId}/jobs`, { types: ['osbuild'], wait_seconds: 0 });
  t.is(outside.status, 400);
  t.is(outside.body.code, 'KILN_INVALID_INPUT');
  // finish takes the next job in the same exchange
  const [second] = await enqueueJobs(db.pool, [{ type: 'noop', channel: 'poll' }]);
  const fin = await api('POST', `/workers/${workerId}/jobs/${id}/finish`, { token: got.body.token, state: 'success', result: { ok: 1 }, take_next: 'noop' });
  t.is(fin.status, 200);
  t.is(fin.body.stored, 'finished');
  t.is(fin.body.next?.id, second);
  t.deepEqual((await getJob(db.pool, id)).result, { ok: 1 });
  const rel = await api('POST', `/workers/${workerId}/jobs/${second}/release`, { token: fin.body.next.token });
  t.deepEqual(rel.body, { released: true });
  t.is((await getJob(db.pool, second)).state, 'ready');
  await cancelJobs(db.pool, [second]);
});

test('heartbeats answer canceled after a cancel; a wrong token gets 409 with the error body', async (t) => {
  const workerId = await register('cancel');
  const [id] = await enqueueJobs(db.pool, [{ type: 'noop', channel: 'cancel' }]);
  const job = (await api('POST', `/workers/${workerId}/jobs`, { wait_seconds: 5 })).body;
  t.is(job.id, id);
  const route = `/workers/${workerId}/jobs/${id}`;
  t.deepEqual((await api('POST', `${route}/heartbeat`, { token: job.token })).body, { state: 'running' });
  t.deepEqual((await api('POST', `${route}/progress`, { token: job.token, progress: { done: 1 } })).body, { state: 'running' });
  t.deepEqual((await getJob(db.pool, id)).progress, { done: 1 });

  const stale = await api('POST', `${route}/heartbeat`, { token: randomUUID() });
  t.is(stale.status, 409);
  t.like(stale.body, { kind: 'Error', code: 'KILN_JOB_STALE_TOKEN', details: { jobId: id } });
  t.regex(stale.body.reason, /token is not current/);

  await cancelJobs(db.pool, [id], 'test cancel');
  t.deepEqual((await api('POST', `${route}/heartbeat`, { token: job.token })).body, { state: 'canceled' });
  t.deepEqual((await api('POST', `${route}/checkpoint`, { token: job.token, checkpoint: { x: 1 } })).body, { state: 'canceled' });
  const fin = await api('POST', `${route}/finish`, { token: job.token, state: 'failure', error: { code: 'KILN_JOB_CANCELED', message: 'stopped' } });
  t.is(fin.status, 200);
  t.deepEqual(fin.body, { stored: 'canceled', next: null });
  t.is((await getJob(db.pool, id)).state, 'canceled');
  const late = await api('POST', `${route}/heartbeat`, { token: job.token });
  t.is(late.status, 409);
});

test('a remote worker killed with SIGKILL: its job is requeued after the heartbeat timeout and a late finish with the old token is refused', async (t) => {
  const w = remoteWorker('remote-kill', 'kill', ['--types', 'koji-init', '--token-file', path.join(tmp, 'worker-token')], {
    KILN_KOJI_HUBS: JSON.stringify([{ url: hangingHubUrl, auth: 'password', user: 'kiln', password_file: path.join(tmp, 'koji-password') }]),
  });
  await w.waitFor(/"msg":"worker started"/);
  const [id] = await enqueueJobs(db.pool, [
    { type: 'koji-init', args: { compose_id: randomUUID(), server: hangingHubUrl, name: 'kill', version: '1', release: '1' }, channel: 'kill', heartbeatTimeoutSeconds: 1.5 },
  ]);
  await w.waitFor(new RegExp(`"jobId":"${id}".*"msg":"job started"`));
  const { rows } = await db.pool.query<{ token: string }>('SELECT token FROM kiln_jobs WHERE id = $1', [id]);
  const oldToken = rows[0].token;
  // heartbeats keep the job while the worker lives
  await new Promise((r) => setTimeout(r, 2_000));
  t.is((await getJob(db.pool, id)).state, 'running', 'heartbeats over HTTP keep the job');
  w.child.kill('SIGKILL');
  t.is((await w.exited).signal, 'SIGKILL');
  const rec = await until('the reaper to requeue the job', async () => {
    const r = await getJob(db.pool, id);
    return r.state === 'ready' ? r : undefined;
  }, 15_000);
  t.is(rec.retries, 1);
  const workerId = await register('kill', ['koji-init']);
  const late = await api('POST', `/workers/${workerId}/jobs/${id}/finish`, { token: oldToken, state: 'success', result: { build_id: 1, token: 'x' } });
  t.is(late.status, 409);
  t.is(late.body.code, 'KILN_JOB_NOT_RUNNING');
  // taken again, the old token is stale against the new attempt
  const again = await api('POST', `/workers/${workerId}/jobs`, { wait_seconds: 5 });
  t.is(again.body.id, id);
  t.is(again.body.attempts, 2);
  const stale = await api('POST', `/workers/${workerId}/jobs/${id}/finish`, { token: oldToken, state: 'success' });
  t.is(stale.status, 409);
  t.is(stale.body.code, 'KILN_JOB_STALE_TOKEN');
  await cancelJobs(db.pool, [id]);
});

test('a remote worker started before its API waits for it, retrying with backoff', async (t) => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = path.join(tmp, 'late-api');
  await mkdir(dir, { recursive: true });
  const w = runKiln(['worker', '--server', url, '--arch', 'x86_64', '--channel', 'late', '--name', 'remote-late', '--types', 'noop', '--token', TOKEN], {
    KILN_CONFIG: '',
    KILN_LOG_LEVEL: 'info',
    KILN_STATE_DIR: path.join(dir, 'worker'),
  });
  processes.push(w);
  await w.waitFor(/Kiln API unreachable; retrying/);
  const late = await startService(
    loadConfig({
      env: {},
      overrides: {
        state_dir: dir,
        database: { url: db.url },
        listen: { address: '127.0.0.1', port },
        api: { tokens_file: path.join(tmp, 'tokens') },
        workers: { local: false },
        log: { level: 'silent' },
      },
    }),
    silentLogger,
  );
  try {
    await w.waitFor(/"msg":"worker started"/, 20_000);
    const [id] = await enqueueJobs(db.pool, [{ type: 'noop', args: { late: true }, channel: 'late' }]);
    const [rec] = await until('the job to finish', finished([id]));
    t.is(rec.state, 'success');
    t.is(rec.worker, 'remote-late');
    t.deepEqual(await w.stop('SIGTERM'), { code: 0, signal: null });
    // stopping the API answers a waiting long-poll at once instead of holding the shutdown
    const reg = await (
      await fetch(`${url}${WORKER_API_BASE}/workers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ name: 'direct-late', arches: ['noarch'], types: ['noop'], channels: ['late'] }),
      })
    ).json();
    const waiting = fetch(`${url}${WORKER_API_BASE}/workers/${reg.id}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ wait_seconds: 30 }),
    });
    await new Promise((r) => setTimeout(r, 300));
    const stopping = Date.now();
    await late.stop();
    t.is((await waiting).status, 204);
    t.true(Date.now() - stopping < 5_000, `stopped in ${Date.now() - stopping} ms`);
  } finally {
    await w.stop('SIGKILL');
    await late.stop();
  }
});
