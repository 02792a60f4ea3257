/** The dev hub itself: HTTP surface, persistence, the `kiln dev-hub` command. */
import test from 'ava';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { hubFixture, CG, USER, PASSWORD } from './helpers/koji-hub.js';
import { startDevHub } from '../src/devhub/index.js';
import { KojiClient, cancelBuild, cgInitBuild, getBuild } from '../src/koji/index.js';

function post(url: string, body: string, method = 'POST'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { 'Content-Type': 'text/xml' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? body : undefined);
  });
}

test('HTTP surface: POST only, 400 on garbage, Koji-Version on every reply', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const get = await post(f.hub.url, '', 'GET');
  t.is(get.status, 405);
  t.is(get.headers.allow, 'POST');
  const garbage = await post(f.hub.url, 'not xml at all <');
  t.is(garbage.status, 400);
  const ok = await post(f.hub.url, '<?xml version="1.0"?><methodCall><methodName>getAPIVersion</methodName><params></params></methodCall>');
  t.is(ok.status, 200);
  t.is(ok.headers['koji-version'], '1.35.3');
  t.regex(ok.body, /<int>1<\/int>/);
});

test('a retried request re-sends the same callnum; the next call takes the next one', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  await client.login();
  f.hub.setFaults({ rate: 1, kinds: ['http503', 'reset', 'fault'], limit: 2, methods: ['getAPIVersion'] });
  await client.call('getAPIVersion');
  await client.call('getAPIVersion');
  const seen = f.hub.hub.calls.filter((c) => c.method === 'getAPIVersion').map((c) => c.callnum);
  t.deepEqual(seen, [0, 0, 0, 1]);
});

test('state survives a restart on the same directory', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const r = await cgInitBuild(client, CG, { name: 'kept', version: '1', release: '1' });
  await client.close();
  await f.hub.close();
  const again = await startDevHub({ dir: f.hub.dir });
  t.teardown(() => again.close());
  const c2 = new KojiClient({ url: again.url, auth: { type: 'password', user: USER, password: PASSWORD } });
  t.teardown(() => c2.close());
  t.is((await getBuild(c2, r.build_id))!.nvr, 'kept-1-1');
});

test('`kiln dev-hub` prints its URL, serves, and stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/devhub/cli.ts'), '--user', 'cli:secret', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('dev hub did not start in 20 s')), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.split('\n')[0]);
      }
    });
  });
  const { url } = JSON.parse(line);
  const client = new KojiClient({ url, auth: { type: 'password', user: 'cli', password: 'secret' }, retry: { attempts: 1 } });
  const r = await cgInitBuild(client, 'osbuild', { name: 'cli', version: '1', release: '1' });
  t.true(r.build_id > 0);
  await client.close();
  const code = await new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
  t.is(code, 0);
});

test('`kiln dev-hub` refuses bad arguments with a message naming them', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/devhub/cli.ts'), '--user', 'nopassword'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  t.is(code, 2);
  t.is(err, 'kiln dev-hub: --user: must be NAME:PASSWORD, got nopassword\n');
});

test('cancelBuild: only the owner (or an admin) cancels, only a BUILDING build, and the NVR can be reserved again', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const owner = f.client();
  const { build_id } = await cgInitBuild(owner, CG, { name: 'cancel-me', version: '1', release: '1' });
  await f.hub.createUser({ name: 'someone', password: 'else' });
  const other = new KojiClient({ url: f.hub.url, auth: { type: 'password', user: 'someone', password: 'else' }, retry: { attempts: 1 } });
  t.teardown(() => other.close());
  const err = await t.throwsAsync(other.call('cancelBuild', [build_id]));
  t.regex(err!.message, /Cannot cancel build, not owner/);
  t.true(await cancelBuild(owner, build_id));
  t.is((await getBuild(owner, build_id))!.state, 4);
  t.false(build_id in f.hub.tables().reservations, 'the reservation went with it');
  t.false(await cancelBuild(owner, build_id), 'no longer BUILDING');
  const again = await cgInitBuild(owner, CG, { name: 'cancel-me', version: '1', release: '1' });
  t.is(again.build_id, build_id, 'recycled');
});
