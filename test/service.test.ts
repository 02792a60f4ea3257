import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { enqueueJobs, getJob } from '../src/queue/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort } from './helpers/net.js';
import { runKiln, type KilnProcess } from './helpers/kiln.js';

const started: KilnProcess[] = [];
const dirs: string[] = [];
let db: TestDatabase;

test.before(async () => {
  db = await createTestDatabase();
});
test.after.always(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await db?.drop();
});

function stateDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'kiln-state-'));
  dirs.push(d);
  return d;
}

function kiln(args: string[], env: NodeJS.ProcessEnv = {}): KilnProcess {
  const p = runKiln(args, { KILN_CONFIG: '', KILN_LOG_LEVEL: 'info', ...env });
  started.push(p);
  return p;
}

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

test('`kiln serve` on embedded defaults: starts its own Postgres, migrates, answers /health and /ready, stops cleanly', async (t) => {
  const state = stateDir();
  const port = await freePort();
  const pgPort = await freePort();
  const serve = kiln(['serve', '--state-dir', state, '--port', String(port)], { KILN_DATABASE_EMBEDDED_PORT: String(pgPort) });
  await serve.waitFor(/"msg":"kiln is serving"/, 90_000);
  t.true(existsSync(path.join(state, 'postgres', 'PG_VERSION')), 'embedded Postgres data lives under the state directory');
  t.deepEqual(await getJson(`http://127.0.0.1:${port}/health`), { status: 200, body: { status: 'ok', version: '0.1.0' } });
  t.deepEqual(await getJson(`http://127.0.0.1:${port}/ready`), { status: 200, body: { status: 'ready', database: 'ok', migrations: 'current' } });
  const missing = await getJson(`http://127.0.0.1:${port}/nope`);
  t.is(missing.status, 404);
  t.like(missing.body, { kind: 'Error', code: 'KILN_NOT_FOUND' });
  const { code } = await serve.stop('SIGTERM');
  t.is(code, 0, serve.output());
  t.regex(serve.output(), /embedded Postgres stopped/);
  // the cluster is really gone: connecting fails
  const client = new pg.Client({ connectionString: `postgres://kiln:kiln-embedded@127.0.0.1:${pgPort}/kiln`, connectionTimeoutMillis: 2_000 });
  await t.throwsAsync(client.connect());
});

test('as root, a state directory the postgres user cannot reach stops start-up with an error naming the directory', async (t) => {
  if (process.getuid?.() !== 0) {
    t.pass('only root runs the embedded Postgres as another user');
    return;
  }
  // Like a checkout under /root (mode 0700): the state directory is below a private one.
  const home = stateDir();
  chmodSync(home, 0o700);
  const state = path.join(home, 'kiln', '.kiln');
  const serve = kiln(['serve', '--state-dir', state, '--port', String(await freePort())], { KILN_DATABASE_EMBEDDED_PORT: String(await freePort()) });
  const { code } = await serve.exited;
  t.is(code, 1, serve.output());
  t.true(serve.output().includes(`kiln serve: embedded Postgres cannot start from ${path.join(state, 'postgres')}: Postgres refuses to run as root, so Kiln runs it as the "postgres" user, which cannot enter ${home} (mode 0700)`), serve.output());
  t.false(existsSync(path.join(state, 'postgres')), 'nothing was initialised');
});

test('with a database URL, `kiln serve` uses it, starts no embedded Postgres, and its local workers run jobs', async (t) => {
  // its own database: its local workers would otherwise take the other tests' jobs
  const own = await createTestDatabase(2);
  t.teardown(() => own.drop());
  const state = stateDir();
  const port = await freePort();
  const serve = kiln(['serve', '--state-dir', state, '--port', String(port)], { KILN_DATABASE_URL: own.url });
  await serve.waitFor(/"msg":"kiln is serving"/);
  t.false(existsSync(path.join(state, 'postgres')));
  t.is((await getJson(`http://127.0.0.1:${port}/ready`)).status, 200);
  const [id] = await enqueueJobs(own.pool, [{ type: 'noop', args: { hello: 'world' } }]);
  const deadline = Date.now() + 10_000;
  let rec = await getJob(own.pool, id);
  while (rec.state !== 'success' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    rec = await getJob(own.pool, id);
  }
  t.is(rec.state, 'success');
  t.deepEqual(rec.result, { echo: { hello: 'world' } });
  t.is((await serve.stop()).code, 0);
});

test('`kiln worker` as a separate process takes jobs from the shared database', async (t) => {
  const worker = kiln(['worker', '--types', 'noop', '--name', 'w-test', '--concurrency', 'noop=2'], { KILN_DATABASE_URL: db.url });
  await worker.waitFor(/"msg":"worker started"/);
  const ids = await enqueueJobs(db.pool, Array.from({ length: 20 }, (_, i) => ({ type: 'noop', args: { i } })));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM kiln_jobs WHERE id = ANY ($1::uuid[]) AND state = 'success'`, [ids]);
    if (rows[0].n === 20 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const { rows } = await db.pool.query(`SELECT state, worker, count(*)::int AS n FROM kiln_jobs WHERE id = ANY ($1::uuid[]) GROUP BY 1, 2`, [ids]);
  t.deepEqual(rows, [{ state: 'success', worker: 'w-test', n: 20 }]);
  t.is((await worker.stop()).code, 0);
});

test('`kiln serve` refuses a database migrated by a newer Kiln, with a clear message', async (t) => {
  const other = await createTestDatabase(1);
  t.teardown(() => other.drop());
  await other.pool.query(`INSERT INTO kiln_migrations (name, run_on) VALUES ('900_future_feature', now())`);
  const serve = kiln(['serve', '--state-dir', stateDir(), '--port', String(await freePort())], { KILN_DATABASE_URL: other.url });
  const { code } = await serve.exited;
  t.is(code, 1);
  t.regex(serve.output(), /900_future_feature.*upgraded by a newer Kiln/);
});

test('a bad configuration value stops start-up with an error naming the key', async (t) => {
  const serve = kiln(['serve', '--state-dir', stateDir()], { KILN_LISTEN_PORT: 'eighty' });
  const { code } = await serve.exited;
  t.is(code, 1);
  t.regex(serve.output(), /config listen\.port: "eighty" is not a number/);
  const unknown = kiln(['frobnicate']);
  t.is((await unknown.exited).code, 2);
  t.regex(unknown.output(), /unknown command "frobnicate"/);
});
