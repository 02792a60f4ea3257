import test from 'ava';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startService, type RunningService } from '../src/cli/serve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { API_BASE } from '../src/compose/index.js';
import { nameMatches, parseTokens } from '../src/api/auth.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { makePki, type TestPki } from './helpers/koji-hub.js';
import { runKiln } from './helpers/kiln.js';
import { freePort } from './helpers/net.js';

const HUB = 'https://koji.example.test/kojihub';
const TOKEN = 'kiln-test-token-0123456789abcdef';

let db: TestDatabase;
let tmp: string;
let pki: TestPki;
let otherPki: TestPki;
let tlsService: RunningService;
let tokenService: RunningService;
const certs: Record<string, { key: string; cert: string }> = {};

function config(api: Record<string, unknown>, listen: Record<string, unknown> = { address: '127.0.0.1', port: 0 }) {
  return loadConfig({
    env: {},
    overrides: {
      state_dir: tmp,
      database: { url: db.url },
      listen,
      api,
      workers: { local: false },
      log: { level: 'silent' },
      koji: { hubs: [{ url: HUB, auth: 'password', user: 'kiln', password_file: '/dev/null' }] },
    },
  });
}

test.before(async () => {
  db = await createTestDatabase();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-auth-test-'));
  const pkiDir = path.join(tmp, 'pki');
  const otherDir = path.join(tmp, 'other-pki');
  await Promise.all([import('node:fs/promises').then((fs) => fs.mkdir(pkiDir)), import('node:fs/promises').then((fs) => fs.mkdir(otherDir))]);
  [pki, otherPki] = await Promise.all([makePki(pkiDir), makePki(otherDir)]);
  [certs.allowed, certs.unlisted, certs.foreign] = await Promise.all([
    pki.clientKey('builder1.example.com'),
    pki.clientKey('intruder.example.org'),
    otherPki.clientKey('builder2.example.com'),
  ]);
  const tokens = path.join(tmp, 'tokens');
  await writeFile(tokens, `# name token\nkoji-builder ${TOKEN}\n\nother   another-token-0123456789\n`, { mode: 0o600 });
  tlsService = await startService(
    config({
      tls_cert: path.join(pkiDir, 'server.crt'),
      tls_key: path.join(pkiDir, 'server.key'),
      tls_ca: path.join(pkiDir, 'ca.crt'),
      allowed_client_names: ['*.example.com'],
      tokens_file: tokens,
    }),
    silentLogger,
  );
  tokenService = await startService(config({ tokens_file: tokens }), silentLogger);
});
test.after.always(async () => {
  await tlsService?.stop();
  await tokenService?.stop();
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

function call(base: string, method: string, url: string, opts: { cert?: { key: string; cert: string }; token?: string; body?: unknown } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const target = new URL(url, base);
    const headers: Record<string, string> = {};
    if (payload) headers['content-type'] = 'application/json';
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const options = { method, headers, ca: pki.ca, ...(opts.cert ?? {}), agent: false as const };
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, options, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const composeRequest = (taskId: number) => ({
  distribution: 'fedora-43',
  koji: { server: HUB, task_id: taskId, name: 'n', version: '1', release: '1' },
  image_requests: [{ architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: 'https://r.example.test/' }] }],
});

async function ownerOf(id: string): Promise<string | null> {
  return (await db.pool.query('SELECT owner FROM kiln_composes WHERE id = $1', [id])).rows[0].owner;
}

test('HTTPS: an allowed client certificate may create composes, which record it as owner', async (t) => {
  t.regex(tlsService.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const res = await call(tlsService.url, 'POST', `${API_BASE}/compose`, { cert: certs.allowed, body: composeRequest(1) });
  t.is(res.status, 201, JSON.stringify(res.body));
  t.is(await ownerOf(res.body.id), 'builder1.example.com');
  const status = await call(tlsService.url, 'GET', `${API_BASE}/composes/${res.body.id}`, { cert: certs.allowed });
  t.is(status.status, 200);
});

test('HTTPS: a verified certificate not on the allow-list gets 403, no credentials 401, a foreign CA 401', async (t) => {
  const unlisted = await call(tlsService.url, 'POST', `${API_BASE}/compose`, { cert: certs.unlisted, body: composeRequest(2) });
  t.is(unlisted.status, 403);
  t.like(unlisted.body, { kind: 'Error', code: 'KILN_FORBIDDEN', href: `${API_BASE}/errors/KILN_FORBIDDEN` });
  t.regex(unlisted.body.reason, /intruder\.example\.org is not allowed/);
  const none = await call(tlsService.url, 'GET', `${API_BASE}/composes/`);
  t.is(none.status, 401);
  t.like(none.body, { kind: 'Error', code: 'KILN_UNAUTHORIZED' });
  t.regex(none.headers['www-authenticate'] as string, /^Bearer/);
  const foreign = await call(tlsService.url, 'GET', `${API_BASE}/composes/`, { cert: certs.foreign });
  t.is(foreign.status, 401);
  t.regex(foreign.body.reason, /client certificate not accepted/);
  const wrong = await call(tlsService.url, 'GET', `${API_BASE}/composes/`, { token: 'not-the-token-at-all-000000' });
  t.is(wrong.status, 401);
  const token = await call(tlsService.url, 'GET', `${API_BASE}/composes/`, { token: TOKEN });
  t.is(token.status, 200, 'a bearer token works over HTTPS too');
  t.is((await db.pool.query("SELECT count(*)::int AS n FROM kiln_composes WHERE koji_task_id = 2")).rows[0].n, 0);
});

test('plain HTTP with tokens: a valid token creates, a wrong or malformed one gets 401', async (t) => {
  t.regex(tokenService.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const ok = await call(tokenService.url, 'POST', `${API_BASE}/compose`, { token: TOKEN, body: composeRequest(3) });
  t.is(ok.status, 201, JSON.stringify(ok.body));
  t.is(await ownerOf(ok.body.id), 'koji-builder');
  const wrong = await call(tokenService.url, 'POST', `${API_BASE}/compose`, { token: `${TOKEN}x`, body: composeRequest(4) });
  t.is(wrong.status, 401);
  t.like(wrong.body, { code: 'KILN_UNAUTHORIZED', reason: 'bearer token not accepted' });
  t.false(JSON.stringify(wrong.body).includes(TOKEN));
  const none = await call(tokenService.url, 'GET', `${API_BASE}/composes/${ok.body.id}`);
  t.is(none.status, 401);
  const basic = await new Promise<number>((resolve, reject) => {
    httpRequest(new URL(`${API_BASE}/composes/`, tokenService.url), { headers: { authorization: 'Basic a29qaTprb2pp' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject).end();
  });
  t.is(basic, 401);
});

test('health, readiness and the OpenAPI document are public', async (t) => {
  for (const base of [tlsService.url, tokenService.url]) {
    for (const p of ['/health', '/ready', `${API_BASE}/openapi`, `${API_BASE}/openapi.json`]) {
      t.is((await call(base, 'GET', p)).status, 200, `${base}${p}`);
    }
    t.is((await call(base, 'GET', '/health?x=1')).status, 200);
  }
});

test('XML-RPC over HTTPS: Python with an allowed certificate calls through, without one gets an AuthError fault', async (t) => {
  const dir = path.join(tmp, 'py');
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  await Promise.all([writeFile(path.join(dir, 'c.crt'), certs.allowed.cert), writeFile(path.join(dir, 'c.key'), certs.allowed.key), writeFile(path.join(dir, 'ca.crt'), pki.ca)]);
  const script = `
import json, ssl, sys, xmlrpc.client
url, d = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=d + "/ca.crt")
anon = xmlrpc.client.ServerProxy(url, context=ctx)
try:
    anon.compose.list()
    denied = None
except xmlrpc.client.Fault as f:
    denied = [f.faultCode, f.faultString]
ctx.load_cert_chain(d + "/c.crt", d + "/c.key")
s = xmlrpc.client.ServerProxy(url, context=ctx)
print(json.dumps({"denied": denied, "list": s.compose.list(1)}))
`;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', script, `${tlsService.url}/RPC2`, dir]);
    let o = '';
    let e = '';
    child.stdout.on('data', (d) => (o += d));
    child.stderr.on('data', (d) => (e += d));
    child.on('close', (code) => (code === 0 ? resolve(o) : reject(new Error(e))));
  });
  const { denied, list } = JSON.parse(out);
  t.is(denied[0], 1002);
  t.regex(denied[1], /authentication required/);
  t.is(list.limit, 1);
  t.true(list.total >= 1);
});

test('kiln serve refuses a non-loopback address without authentication', async (t) => {
  await t.throwsAsync(startService(config({}, { address: '0.0.0.0', port: 0 }), silentLogger), {
    message: /refusing to serve the API on 0\.0\.0\.0 without authentication: set api\.tokens_file .*api\.tls_cert, api\.tls_key, api\.tls_ca/,
  });
  const port = await freePort();
  const serve = runKiln(['serve', '--listen', '0.0.0.0', '--port', String(port), '--state-dir', tmp], { KILN_CONFIG: '', KILN_DATABASE_URL: db.url });
  const { code } = await serve.exited;
  t.is(code, 1);
  t.regex(serve.output(), /kiln serve: config listen\.address: refusing to serve the API on 0\.0\.0\.0 without authentication/);
});

test('token files, name patterns and inconsistent api settings', async (t) => {
  t.true(nameMatches('*.example.com', 'builder.EXAMPLE.com'));
  t.false(nameMatches('*.example.com', 'a.b.example.com'));
  t.false(nameMatches('*.example.com', 'example.com'));
  t.true(nameMatches('kojid.example.com', 'kojid.example.com'));
  t.is(parseTokens('a 0123456789abcdef0123\n').size, 1);
  const err = t.throws(() => parseTokens('a short-secret\n', 'tok'));
  t.regex(err!.message, /tok line 1: token of a is shorter than 16/);
  t.false(err!.message.includes('short-secret'));
  t.throws(() => parseTokens('a 0123456789abcdef0123\na 0123456789abcdef0124\n'), { message: /duplicate token name a/ });
  await t.throwsAsync(startService(config({ allowed_client_names: ['x.example.com'] }), silentLogger), {
    message: /api\.allowed_client_names: client certificate names need api\.tls_ca/,
  });
});
