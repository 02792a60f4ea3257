/**
 * Remote workers authenticated by client certificate: a real HTTPS `kiln` API that asks for
 * client certificates (api.tls_ca, api.allowed_client_names) and real `kiln worker --server
 * https://… --cert --key --ca` processes.
 */
import test from 'ava';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startService, type RunningService } from '../src/cli/serve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { enqueueJobs, getJob } from '../src/queue/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { makePki } from './helpers/koji-hub.js';
import { runKiln, type KilnProcess } from './helpers/kiln.js';

let db: TestDatabase;
let tmp: string;
let service: RunningService;
const files: Record<string, { cert: string; key: string }> = {};
const processes: KilnProcess[] = [];

test.before(async () => {
  db = await createTestDatabase();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-worker-tls-'));
  const pkiDir = path.join(tmp, 'pki');
  await mkdir(pkiDir);
  const pki = await makePki(pkiDir);
  for (const [name, cn] of [
    ['allowed', 'builder1.example.com'],
    ['unlisted', 'intruder.example.org'],
  ]) {
    const c = await pki.clientKey(cn);
    files[name] = { cert: path.join(tmp, `${name}.crt`), key: path.join(tmp, `${name}.key`) };
    await writeFile(files[name].cert, c.cert);
    await writeFile(files[name].key, c.key, { mode: 0o600 });
  }
  service = await startService(
    loadConfig({
      env: {},
      overrides: {
        state_dir: path.join(tmp, 'api'),
        database: { url: db.url },
        listen: { address: '127.0.0.1', port: 0 },
        api: {
          tls_cert: path.join(pkiDir, 'server.crt'),
          tls_key: path.join(pkiDir, 'server.key'),
          tls_ca: path.join(pkiDir, 'ca.crt'),
          allowed_client_names: ['*.example.com'],
        },
        workers: { local: false },
        log: { level: 'silent' },
      },
    }),
    silentLogger,
  );
});

test.after.always(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await service?.stop();
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function remoteWorker(name: string, cert: { cert: string; key: string }): KilnProcess {
  const p = runKiln(
    ['worker', '--server', service.url, '--arch', 'x86_64', '--channel', 'tls', '--name', name, '--types', 'noop', '--cert', cert.cert, '--key', cert.key, '--ca', path.join(tmp, 'pki', 'ca.crt')],
    { KILN_CONFIG: '', KILN_LOG_LEVEL: 'info', KILN_STATE_DIR: path.join(tmp, name) },
  );
  processes.push(p);
  return p;
}

test.serial('a worker with an allowed client certificate takes and finishes jobs over HTTPS', async (t) => {
  t.regex(service.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const w = remoteWorker('tls-worker', files.allowed);
  await w.waitFor(/"msg":"worker started"/);
  const ids = await enqueueJobs(db.pool, Array.from({ length: 5 }, (_, i) => ({ type: 'noop', args: { i }, channel: 'tls' })));
  const deadline = Date.now() + 20_000;
  for (const [i, id] of ids.entries()) {
    for (;;) {
      const rec = await getJob(db.pool, id);
      if (rec.state === 'success') {
        t.deepEqual(rec.result, { echo: { i } });
        t.is(rec.worker, 'tls-worker');
        break;
      }
      if (Date.now() > deadline) throw new Error(`job ${id} still ${rec.state}\n${w.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const { rows } = await db.pool.query(`SELECT principal FROM kiln_workers WHERE name = 'tls-worker'`);
  t.deepEqual(rows, [{ principal: 'builder1.example.com' }]);
  t.deepEqual(await w.stop('SIGTERM'), { code: 0, signal: null });
});

test.serial('a worker whose certificate is not on the allow-list is refused and registers nothing', async (t) => {
  const w = remoteWorker('tls-intruder', files.unlisted);
  const exit = await w.exited;
  t.is(exit.code, 1, w.output());
  t.regex(w.output(), /403 client certificate intruder\.example\.org is not allowed/);
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM kiln_workers WHERE name = 'tls-intruder'`);
  t.is(rows[0].n, 0);
});
