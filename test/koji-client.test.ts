/** Kiln's Koji client against the dev hub: XML-RPC encoding, sessions, retries, faults. */
import test from 'ava';
import { request } from 'node:http';
import { hubFixture, CG, USER, makePki } from './helpers/koji-hub.js';
import {
  KojiAuthError,
  KojiClient,
  KojiFault,
  KojiGenericError,
  KojiLoginError,
  KojiParameterError,
  KojiRetryError,
  KojiSequenceError,
  KojiServerOfflineError,
  KojiTransportError,
  cgInitBuild,
  getBuild,
} from '../src/koji/index.js';
import { startDevHub } from '../src/devhub/index.js';

test('nil and i8 travel both ways; keyword args use __starstar', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  t.deepEqual(await client.call('echo', [2 ** 40, null, -(2 ** 33), 7, 'x']), [2 ** 40, null, -(2 ** 33), 7, 'x']);
  t.deepEqual(await client.call('echo', [2n ** 62n]), [2n ** 62n]);
  t.is(await client.call('getBuild', ['no-such-1-1']), null);
  const strict = await t.throwsAsync(client.call('getBuild', ['no-such-1-1'], { strict: true }));
  t.true(strict instanceof KojiGenericError);
  t.regex(strict!.message, /No such build/);
});

test('faults map to typed errors by code; code 1 stays a plain fault', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const arity = await t.throwsAsync(client.call('getBuild', [1, false, 'extra']));
  t.true(arity instanceof KojiParameterError);
  t.is((arity as KojiFault).faultCode, 1019);
  const kw = await t.throwsAsync(client.call('getBuild', [1], { nonsense: 1 }));
  t.true(kw instanceof KojiParameterError);
  t.regex(kw!.message, /unexpected keyword argument 'nonsense'/);
  const unknown = await t.throwsAsync(client.call('noSuchMethod'));
  t.true(unknown instanceof KojiGenericError);
  t.regex(unknown!.message, /Invalid method: noSuchMethod/);
  const generic = await t.throwsAsync(client.call('CGImport', [JSON.stringify({ build: {} }), 'dir', null]));
  t.true(generic instanceof KojiFault);
  t.is((generic as KojiFault).faultCode, 1);
  t.is((generic as KojiFault).faultName, 'Fault');
  t.regex(generic!.message, /KeyError.*metadata_version/);
});

test('multiCall returns results and faults per call', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const results = await client.multiCall([
    { method: 'getAPIVersion' },
    { method: 'getBuild', params: ['none-1-1'], kwargs: { strict: true } },
    { method: 'echo', params: [null, 2 ** 35] },
  ]);
  t.deepEqual(results[0], { ok: true, value: 1 });
  t.false(results[1].ok);
  t.true(!results[1].ok && results[1].error instanceof KojiGenericError);
  t.deepEqual(results[2], { ok: true, value: [null, 2 ** 35] });

  // One transaction with a savepoint per call: a failing call leaves the others' writes in place.
  const writes = await client.multiCall([
    { method: 'CGInitBuild', params: [CG, { name: 'm', version: '1', release: '1' }] },
    { method: 'CGInitBuild', params: [CG, { name: 'm', version: '1', release: 'bad-1' }] },
    { method: 'CGInitBuild', params: [CG, { name: 'm', version: '1', release: '2' }] },
  ]);
  t.deepEqual(writes.map((w) => w.ok), [true, false, true]);
  t.deepEqual(f.hub.builds().map((b) => b.release), ['1', '2']);
});

test('password login: bad password is an auth error; session headers carry an increasing callnum', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const bad = f.client({ auth: { type: 'password', user: USER, password: 'wrong' } });
  const err = await t.throwsAsync(bad.call('getLoggedInUser'));
  t.true(err instanceof KojiAuthError);
  t.is((err as KojiAuthError).code, 'KILN_KOJI_AUTH');
  const client = f.client();
  const me = await client.call<{ name: string }>('getLoggedInUser');
  t.is(me.name, USER);
  t.is(client.session!.callnum, 1);
  await client.call('getAPIVersion');
  t.is(client.session!.callnum, 2);
  const anon = await client.callAnonymous('getLoggedInUser');
  t.is(anon, null);
});

test('logout closes the session on the hub', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const session = await client.login();
  await client.logout();
  t.true(f.hub.tables().sessions[session.id].closed);
  t.is(client.session, null);
});

test('a stale callnum gets SequenceError', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const s = await client.login();
  // Another user of the same session commits a write with a higher callnum.
  await new Promise<void>((resolve, reject) => {
    const body = '<?xml version="1.0"?><methodCall><methodName>CGInitBuild</methodName><params><param><value><string>osbuild</string></value></param><param><value><struct><member><name>name</name><value><string>other</string></value></member><member><name>version</name><value><string>1</string></value></member><member><name>release</name><value><string>1</string></value></member></struct></value></param></params></methodCall>';
    const req = request(f.hub.url, { method: 'POST', headers: { 'Content-Type': 'text/xml', 'Koji-Session-Id': String(s.id), 'Koji-Session-Key': s.key, 'Koji-Session-Callnum': '100' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(body);
  });
  const err = await t.throwsAsync(cgInitBuild(client, CG, { name: 'mine', version: '1', release: '1' }));
  t.true(err instanceof KojiSequenceError);
  t.regex(err!.message, /100 > 0/);
});

test('a committed write whose reply was lost: RetryError on the retry; CGInitBuild says so, reads just retry', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  await client.login();
  f.hub.setFaults({ rate: 1, kinds: ['drop-reply'], methods: ['getBuild'], limit: 1 });
  t.is(await getBuild(client, 'x-1-1'), null, 'a read is retried with the same callnum and succeeds');
  f.hub.setFaults({ rate: 1, kinds: ['drop-reply'], methods: ['CGInitBuild'], limit: 1 });
  const err = await t.throwsAsync(cgInitBuild(client, CG, { name: 'lost', version: '1', release: '1' }));
  t.true(err instanceof KojiRetryError);
  t.regex(err!.message, /committed but its reply was lost/);
  t.is(f.hub.builds().length, 1, 'the first try did reserve the build');
});

test('ServerOffline and connection faults are retried with backoff, bounded', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client({ retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } });
  await client.login();
  for (const kind of ['fault', 'http503', 'reset'] as const) {
    f.hub.setFaults({ rate: 1, kinds: [kind], limit: 3 });
    t.is(await client.call('getAPIVersion'), 1, `${kind} x3 then success`);
  }
  f.hub.setFaults(null);
  f.hub.setOffline(true);
  const before = client.stats.requests;
  const err = await t.throwsAsync(client.call('getAPIVersion'));
  t.true(err instanceof KojiServerOfflineError);
  t.is(client.stats.requests - before, 4, 'exactly `attempts` tries');
  f.hub.setOffline(false);
  const slow = f.client({ timeoutMs: 700, retry: { attempts: 4, baseDelayMs: 5 } });
  await slow.login();
  f.hub.setFaults({ rate: 1, kinds: ['slow'], slowMs: 2000, limit: 1 });
  const before2 = slow.stats.requests;
  t.is(await slow.call('getAPIVersion'), 1, 'a timeout is retried');
  t.is(slow.stats.requests - before2, 2);
});

test('an unreachable hub is a transport error after the tries', async (t) => {
  const hub = await startDevHub();
  const url = hub.url;
  await hub.close();
  const client = new KojiClient({ url, retry: { attempts: 3, baseDelayMs: 5 } });
  const err = await t.throwsAsync(client.callAnonymous('getAPIVersion'));
  t.true(err instanceof KojiTransportError);
  t.is((err as KojiTransportError).code, 'KILN_KOJI_TRANSPORT');
  t.regex(err!.message, /ECONNREFUSED/);
  t.is(client.stats.requests, 3);
});

test('AuthExpired renews the session once and the call goes through', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const first = await client.login();
  await f.hub.expireSessions();
  const me = await client.call<{ name: string }>('getLoggedInUser');
  t.is(me.name, USER);
  t.is(client.stats.renewals, 1);
  t.is(client.session!.id, first.id, 'renewal keeps the session id');
  t.not(client.session!.key, first.key);
});

test('sslLogin with a client certificate logs in as the CN; without one it is refused', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const pki = await makePki(f.tmp);
  const hub = await startDevHub({ dir: `${f.tmp}/tlshub`, tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca } });
  t.teardown(() => hub.close());
  const { key, cert } = await pki.clientKey('kiln-builder');
  const client = new KojiClient({ url: hub.sslUrl!, auth: { type: 'ssl', key, cert }, tls: { ca: pki.ca }, retry: { attempts: 1 } });
  t.teardown(() => client.close());
  const me = await client.call<{ name: string; authtype: number }>('getLoggedInUser');
  t.is(me.name, 'kiln-builder');
  t.is(me.authtype, 3);
  const nocert = new KojiClient({ url: hub.sslUrl!, auth: { type: 'negotiate', authorization: async () => 'Negotiate abc' }, tls: { ca: pki.ca }, retry: { attempts: 1 } });
  const err = await t.throwsAsync(nocert.login());
  t.true(err instanceof KojiAuthError);
  t.regex(err!.message, /could not verify client/);
  const plain = new KojiClient({ url: hub.url, auth: { type: 'ssl', key, cert } });
  await t.throwsAsync(plain.login(), { instanceOf: KojiLoginError, message: /needs an https hub URL/ });
});

test('/ssllogin with a Negotiate hook: the verified principal becomes the user', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const pki = await makePki(f.tmp);
  const hub = await startDevHub({
    dir: `${f.tmp}/krbhub`,
    tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca },
    verifyNegotiate: async (header) => {
      if (header !== 'Negotiate good-token') throw new Error('bad token');
      return { principal: 'osbuild-krb@LOCAL', responseToken: 'server-token' };
    },
  });
  t.teardown(() => hub.close());
  let seen: string | undefined;
  const client = new KojiClient({
    url: hub.sslUrl!,
    tls: { ca: pki.ca },
    auth: { type: 'negotiate', authorization: async (u) => (u.pathname.endsWith('/ssllogin') ? 'Negotiate good-token' : 'wrong'), verify: async (w) => void (seen = w) },
  });
  t.teardown(() => client.close());
  const me = await client.call<{ name: string; krb_principal: string }>('getLoggedInUser');
  t.is(me.name, 'osbuild-krb');
  t.is(me.krb_principal, 'osbuild-krb@LOCAL');
  t.is(seen, 'Negotiate server-token');
  const bad = new KojiClient({ url: hub.sslUrl!, tls: { ca: pki.ca }, auth: { type: 'negotiate', authorization: async () => 'Negotiate bad' }, retry: { attempts: 1 } });
  const err = await t.throwsAsync(bad.login());
  t.true(err instanceof KojiLoginError);
  t.regex(err!.message, /refused the Negotiate \(Kerberos\) credentials \(HTTP 401\)/);
});
