import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startService, type RunningService } from '../src/cli/serve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { dequeueJob, finishJob, updateJobProgress } from '../src/queue/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { KILN_BIN } from './helpers/kiln.js';
import { makePki } from './helpers/koji-hub.js';
import { until } from './helpers/until.js';

const HUB = 'https://koji.example.test/kojihub';
const TOKEN = 'cli-test-token-0123456789abcdef';

let db: TestDatabase;
let tmp: string;
let service: RunningService;
let tlsService: RunningService;
let requestFile: string;
let tokenFile: string;
let pkiDir: string;
const children: ChildProcess[] = [];

function config(api: Record<string, unknown>) {
  return loadConfig({
    env: {},
    overrides: {
      state_dir: tmp,
      database: { url: db.url },
      listen: { address: '127.0.0.1', port: 0 },
      api,
      workers: { local: false },
      log: { level: 'silent' },
      koji: { hubs: [{ url: HUB, auth: 'password', user: 'kiln', password_file: '/dev/null' }] },
    },
  });
}

test.before(async () => {
  db = await createTestDatabase();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-cli-compose-'));
  pkiDir = path.join(tmp, 'pki');
  await mkdir(pkiDir);
  const pki = await makePki(pkiDir);
  const client = await pki.clientKey('cli.example.com');
  await Promise.all([writeFile(path.join(pkiDir, 'cli.crt'), client.cert), writeFile(path.join(pkiDir, 'cli.key'), client.key)]);
  tokenFile = path.join(tmp, 'tokens');
  await writeFile(tokenFile, `cli ${TOKEN}\n`);
  await writeFile(path.join(tmp, 'my-token'), `${TOKEN}\n`);
  requestFile = path.join(tmp, 'request.json');
  await writeFile(
    requestFile,
    JSON.stringify({
      distribution: 'fedora-43',
      koji: { server: HUB, task_id: 555, name: 'cli', version: '1', release: '1' },
      image_requests: [{ architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: 'https://r.example.test/' }] }],
    }),
  );
  service = await startService(config({ tokens_file: tokenFile }), silentLogger);
  tlsService = await startService(
    config({
      tls_cert: path.join(pkiDir, 'server.crt'),
      tls_key: path.join(pkiDir, 'server.key'),
      tls_ca: path.join(pkiDir, 'ca.crt'),
      allowed_client_names: ['cli.example.com'],
    }),
    silentLogger,
  );
});
test.after.always(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await service?.stop();
  await tlsService?.stop();
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** The real `kiln compose` (bin/kiln.js → dist/), output not a TTY. */
function kiln(args: string[]): Run {
  const child = spawn(process.execPath, [KILN_BIN, 'compose', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

const auth = () => ['--server', service.url, '--token-file', path.join(tmp, 'my-token')];

/** Plays a worker for one job of `type`: takes it and finishes it. */
async function runJob(type: string, outcome: Parameters<typeof finishJob>[3], progress?: unknown): Promise<void> {
  let job = null;
  await until(`a ${type} job`, async () => (job = await dequeueJob(db.pool, { types: [type], channels: ['default'], arches: ['noarch', 'x86_64'] }, 'test-worker')) !== null);
  const j = job as unknown as { id: string; token: string };
  if (progress) await updateJobProgress(db.pool, j.id, j.token, progress);
  if (progress) await new Promise((r) => setTimeout(r, 400));
  await finishJob(db.pool, j.id, j.token, outcome);
}

test.serial('start, status, logs, list and cancel, for people and with --json', async (t) => {
  const start = await kiln(['start', ...auth(), requestFile]).done;
  t.is(start.code, 0, start.stderr);
  const id = start.stdout.trim();
  t.regex(id, /^[0-9a-f-]{36}$/);
  t.is((await db.pool.query('SELECT owner FROM kiln_composes WHERE id = $1', [id])).rows[0].owner, 'cli');

  const status = await kiln(['status', ...auth(), id]).done;
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, new RegExp(`compose ${id}: pending  \\[koji task 555\\]`));
  t.regex(status.stdout, /\[0\]  x86_64  generic-qcow2  pending/);
  const statusJson = JSON.parse((await kiln(['status', ...auth(), '--json', id]).done).stdout);
  t.like(statusJson, { id, kind: 'ComposeStatus', status: 'pending' });

  const logs = await kiln(['logs', ...auth(), id]).done;
  t.regex(logs.stdout, /\[0\] x86_64 generic-qcow2\n {4}depsolve: ready/);
  t.regex(logs.stdout, /koji\n {4}init: ready/);
  t.is(JSON.parse((await kiln(['logs', ...auth(), '--json', id]).done).stdout).kind, 'ComposeLogs');

  const list = await kiln(['list', ...auth(), '--size', '5']).done;
  t.regex(list.stdout, /^ID +STATUS +KOJI TASK +CREATED\n/);
  t.regex(list.stdout, new RegExp(`${id}  pending +555`));
  t.regex(list.stdout, /\(1–1 of 1, page 0\)\n$/);
  t.regex((await kiln(['list', ...auth(), '--page', '1']).done).stdout, /\(none on page 1; 1 in all\)/);
  t.like(JSON.parse((await kiln(['list', ...auth(), '--json']).done).stdout), { kind: 'ComposeList', page: 0, size: 1, total: 1, items: [{ id }] });

  // the cancel prints the state the compose is in: pending until koji-finalize has refunded the build
  const cancel = await kiln(['cancel', ...auth(), id, '--reason', 'changed my mind']).done;
  t.is(cancel.code, 0, cancel.stderr);
  t.regex(cancel.stdout, new RegExp(`^compose ${id} is being canceled: it stays pending until its Koji reservation \\(if any\\) is refunded as CANCELED\n`));
  t.regex(cancel.stdout, new RegExp(`\\ncompose ${id}: refunding  \\[koji task 555\\]\\n`), 'the compose line says what is going on');
  t.regex(cancel.stdout, /\[0\]  x86_64  generic-qcow2  failure  error: canceled: changed my mind/);
  const after = JSON.parse((await kiln(['status', ...auth(), '--json', id]).done).stdout);
  t.is(after.status, 'pending');
  t.regex(after.image_statuses[0].error.reason, /canceled: changed my mind/);
  await runJob('koji-finalize', { state: 'failure', error: { code: 'KILN_JOB_CANCELED', message: 'canceled' } });
  const again = await kiln(['cancel', ...auth(), id]).done;
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, new RegExp(`^compose ${id} has ended: canceled: changed my mind\n`));
});

test.serial('a client certificate over HTTPS works too; errors exit 1 with the API reason, usage errors 2', async (t) => {
  const tls = ['--server', tlsService.url, '--ca', path.join(pkiDir, 'ca.crt')];
  const ok = await kiln(['list', ...tls, '--cert', path.join(pkiDir, 'cli.crt'), '--key', path.join(pkiDir, 'cli.key'), '--json']).done;
  t.is(ok.code, 0, ok.stderr);
  t.true(JSON.parse(ok.stdout).total >= 1);
  const denied = await kiln(['list', ...tls]).done;
  t.is(denied.code, 1);
  t.regex(denied.stderr, /kiln compose: HTTP 401: authentication required.*\(KILN_UNAUTHORIZED\)/);
  const missing = await kiln(['status', ...auth(), '00000000-0000-0000-0000-000000000000']).done;
  t.is(missing.code, 1);
  t.regex(missing.stderr, /HTTP 404: .*not found \(KILN_NOT_FOUND\)/);
  const usage = await kiln(['status', ...auth()]).done;
  t.is(usage.code, 2);
  t.regex(usage.stderr, /expected status ID/);
  const badToken = await kiln(['list', '--server', service.url, '--token', 'wrong-token-000000000000']).done;
  t.is(badToken.code, 1);
  t.regex(badToken.stderr, /bearer token not accepted/);
});

test.serial('start --wait follows progress and exits 1 with the reason when the compose is canceled', async (t) => {
  const run = kiln(['start', ...auth(), '--wait', '--interval', '0.1', requestFile]);
  await until('the compose to be created', () => /compose ([0-9a-f-]{36}) created/.test(run.stdout()));
  const id = /compose ([0-9a-f-]{36}) created/.exec(run.stdout())![1];
  await until('a pending line', () => /pending/.test(run.stdout()));
  const cancel = await kiln(['cancel', ...auth(), id, '--reason', 'stopped by the test']).done;
  t.is(cancel.code, 0, cancel.stderr);
  // no workers in this service: play koji-finalize refunding the canceled build
  await runJob('koji-finalize', { state: 'failure', error: { code: 'KILN_JOB_CANCELED', message: 'canceled' } });
  const { code, stdout, stderr } = await run.done;
  t.is(code, 1, stdout + stderr);
  t.regex(stderr, new RegExp(`compose ${id} failed: canceled: stopped by the test`));
  t.regex(stdout, /\d\d:\d\d:\d\d compose [0-9a-f-]+: pending/);
  t.regex(stdout, /\[0\]  x86_64  generic-qcow2  failure  error: canceled: stopped by the test/);
});

test.serial('start --wait exits 0 when the compose succeeds, showing each image\'s progress', async (t) => {
  const run = kiln(['start', ...auth(), '--wait', '--interval', '0.1', requestFile]);
  await until('the compose to be created', () => /created/.test(run.stdout()));
  await runJob('koji-init', { state: 'success', result: { build_id: 4711, token: 't' } });
  await runJob('depsolve', { state: 'success', result: {} });
  await runJob('osbuild', { state: 'success', result: {} }, { done: 3, total: 10, message: 'org.osbuild.rpm' });
  await runJob('koji-finalize', { state: 'success', result: {} });
  const { code, stdout, stderr } = await run.done;
  t.is(code, 0, stdout + stderr);
  t.regex(stdout, /compose [0-9a-f-]+: building/, 'the compose line shows what the images do while the API says pending');
  t.regex(stdout, /\[0\]  x86_64  generic-qcow2  building  3\/10  org\.osbuild\.rpm/);
  t.regex(stdout, /succeeded \(koji build 4711\)/);
  const id = /compose ([0-9a-f-]{36}) created/.exec(stdout)![1];
  const late = await kiln(['cancel', ...auth(), id]).done;
  t.is(late.code, 1, 'a compose that had succeeded is not canceled');
  t.regex(late.stdout, new RegExp(`^compose ${id} had already succeeded \\(koji build 4711\\): not canceled\n`));
});

test.serial('on a terminal, --wait redraws one live block per compose instead of printing lines', async (t) => {
  // util-linux `script` gives the CLI a pseudo-terminal; -e passes its exit code through
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, KILN_BIN, 'compose', 'start', ...auth(), '--wait', '--interval', '0.1', requestFile].map(quote).join(' ');
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await until('the compose to be created', () => /created/.test(output));
  await runJob('koji-init', { state: 'success', result: { build_id: 4712, token: 't' } });
  await runJob('depsolve', { state: 'success', result: {} });
  await runJob('osbuild', { state: 'success', result: {} }, { done: 7, total: 10, message: 'org.osbuild.qemu' });
  await runJob('koji-finalize', { state: 'success', result: {} });
  t.is(await exited, 0, output);
  t.regex(output, /\x1b\[2F\x1b\[Jcompose [0-9a-f-]+: building .*\d+m\d\ds/, 'the block moves up and redraws');
  t.regex(output, /7\/10  org\.osbuild\.qemu/);
  t.notRegex(output, /\d\d:\d\d:\d\d compose/, 'no timestamped plain lines on a terminal');
  t.regex(output, /succeeded \(koji build 4712\)/);
});
