/**
 * HTTP Negotiate against a real MIT KDC on 127.0.0.1 and a real HTTP server standing in for
 * the hub's `/ssllogin`: keytab login, mutual authentication, and the ways it must fail.
 */
import test, { type ExecutionContext } from 'ava';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { KilnError } from '../src/errors.js';
import {
  negotiateAuthorization,
  parseNegotiate,
  serviceForUrl,
  startNegotiate,
  verifyNegotiate,
  type NegotiateServerOptions,
} from '../src/koji/spnego.js';
import { startKdc, type TestKdc } from './helpers/kdc.js';

let kdc: TestKdc;
let server: Server;
let url: string;
let serverOpts: NegotiateServerOptions;

/** The `/ssllogin` stand-in: 401 + challenge without a header, 200 + principal after a good one. */
function startHub(opts: NegotiateServerOptions): Promise<Server> {
  const srv = createServer((req, res) => {
    const header = req.headers.authorization;
    if (!header) {
      res.writeHead(401, { 'WWW-Authenticate': 'Negotiate', 'Content-Type': 'text/plain' });
      res.end('authentication required');
      return;
    }
    verifyNegotiate(header, opts).then(
      ({ principal, responseToken }) => {
        res.writeHead(200, {
          'Content-Type': 'application/json',
          ...(responseToken ? { 'WWW-Authenticate': `Negotiate ${responseToken}` } : {}),
        });
        res.end(JSON.stringify({ principal }));
      },
      (err: KilnError) => {
        res.writeHead(401, { 'WWW-Authenticate': 'Negotiate', 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ code: err.code, message: err.message }));
      },
    );
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

test.before(async () => {
  kdc = await startKdc();
  // A private replay cache keeps the tests off /var/tmp/krb5_<uid>.rcache2.
  serverOpts = { keytab: kdc.serviceKeytab, krb5Conf: kdc.krb5Conf, replayCache: `file2:${path.join(kdc.dir, 'rcache2')}` };
  server = await startHub(serverOpts);
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/kojihub/ssllogin`;
});

test.after.always(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await kdc?.stop();
});

const client = () => ({ service: 'HTTP@localhost', keytab: kdc.clientKeytab, principal: kdc.clientPrincipal, krb5Conf: kdc.krb5Conf });

async function rejects(t: ExecutionContext, p: Promise<unknown>, pattern: RegExp): Promise<KilnError> {
  const err = await t.throwsAsync(p, { instanceOf: KilnError });
  t.log(err!.message);
  t.is(err!.code, 'KILN_KOJI_AUTH');
  t.regex(err!.message, pattern);
  return err as KilnError;
}

test('the hub stand-in answers 401 with a bare Negotiate challenge when no header is sent', async (t) => {
  const res = await fetch(url);
  t.is(res.status, 401);
  t.is(res.headers.get('www-authenticate'), 'Negotiate');
});

test('a client with a keytab gets 200 with its principal echoed and verifies the server (mutual auth)', async (t) => {
  const session = await startNegotiate(client());
  t.regex(session.authorization, /^Negotiate [A-Za-z0-9+/]+={0,2}$/);
  const res = await fetch(url, { headers: { Authorization: session.authorization } });
  t.is(res.status, 200);
  t.deepEqual(await res.json(), { principal: 'kiln/builder.example.test@KILN.TEST' });
  const wwwAuthenticate = res.headers.get('www-authenticate');
  t.truthy(parseNegotiate(wwwAuthenticate));
  const { principal } = await session.finish(wwwAuthenticate);
  t.is(principal, 'kiln/builder.example.test@KILN.TEST');
});

test('negotiateAuthorization without a principal uses the keytab principal', async (t) => {
  const header = await negotiateAuthorization({ service: serviceForUrl('https://localhost/kojihub'), keytab: kdc.clientKeytab, krb5Conf: kdc.krb5Conf });
  const res = await fetch(url, { headers: { Authorization: header } });
  t.is(res.status, 200);
  t.is(((await res.json()) as { principal: string }).principal, kdc.clientPrincipal);
});

test('verifyNegotiate pinned to the service name accepts and returns a reply token', async (t) => {
  const header = await negotiateAuthorization(client());
  const result = await verifyNegotiate(header, { ...serverOpts, service: 'HTTP@localhost' });
  t.is(result.principal, kdc.clientPrincipal);
  t.truthy(result.responseToken);
});

test('a FILE: ccache is filled from the keytab once and reused by the next login', async (t) => {
  // Its own principal, so the other tests' logins do not show up in the count.
  const { principal, keytab } = await kdc.addPrincipal('kiln/cache.example.test');
  const ccache = `FILE:${path.join(kdc.dir, 'reuse.ccache')}`;
  const asRequests = async () => ((await kdc.log()).match(/AS_REQ.* kiln\/cache\.example\.test@KILN\.TEST for krbtgt/g) ?? []).length;
  const opts = { ...client(), keytab, principal, ccache };
  const header1 = await negotiateAuthorization(opts);
  t.is(await asRequests(), 1);
  const header2 = await negotiateAuthorization(opts);
  t.is(await asRequests(), 1, 'second login used the cached TGT');
  t.not(header1, header2);
  t.is((await verifyNegotiate(header2, serverOpts)).principal, principal);
});

test('concurrent logins all succeed', async (t) => {
  const statuses = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const header = await negotiateAuthorization(client());
      return (await fetch(url, { headers: { Authorization: header } })).status;
    }),
  );
  t.deepEqual(statuses, Array(8).fill(200));
});

test('garbage and non-Negotiate headers are rejected with KILN_KOJI_AUTH', async (t) => {
  await rejects(t, verifyNegotiate('Negotiate not*base64!', serverOpts), /not base64/);
  await rejects(t, verifyNegotiate('Basic a2lsbjpwdw==', serverOpts), /not "Negotiate <token>"/);
  await rejects(t, verifyNegotiate(`Negotiate ${Buffer.from('definitely not a GSS token').toString('base64')}`, serverOpts), /token rejected/);
  const res = await fetch(url, { headers: { Authorization: `Negotiate ${Buffer.from('junk junk junk!').toString('base64')}` } });
  t.is(res.status, 401);
  t.is(((await res.json()) as { code: string }).code, 'KILN_KOJI_AUTH');
});

test('a replayed token is rejected', async (t) => {
  const header = await negotiateAuthorization(client());
  t.is((await verifyNegotiate(header, serverOpts)).principal, kdc.clientPrincipal);
  await rejects(t, verifyNegotiate(header, serverOpts), /token rejected.*replay/i);
});

test('a token older than the clock skew allowance (stale/expired) is rejected', async (t) => {
  // The acceptor reads clockskew from its krb5.conf; 1 s keeps this test short.
  const strictConf = path.join(kdc.dir, 'krb5-strict.conf');
  await writeFile(strictConf, (await readFile(kdc.krb5Conf, 'utf8')).replace('[libdefaults]', '[libdefaults]\n  clockskew = 1'));
  const header = await negotiateAuthorization(client());
  await new Promise((r) => setTimeout(r, 2200));
  await rejects(t, verifyNegotiate(header, { ...serverOpts, krb5Conf: strictConf }), /token rejected.*(skew|expired)/i);
});

test('a keytab for a principal the KDC does not know fails with a clear error', async (t) => {
  const ghost = await kdc.addPrincipal('ghost/builder.example.test');
  await kdc.deletePrincipal(ghost.principal);
  const err = await rejects(
    t,
    negotiateAuthorization({ ...client(), keytab: ghost.keytab, principal: ghost.principal }),
    /could not authenticate to HTTP@localhost as ghost\/builder\.example\.test@KILN\.TEST: .*not found in Kerberos database/,
  );
  t.is(err.details?.keytab, ghost.keytab);
});

test('a service keytab for another service, or with an old key, rejects the token', async (t) => {
  const stale = await kdc.addPrincipal('HTTP/stale.kiln.test');
  const freshKeytab = await kdc.rekey('HTTP/stale.kiln.test');
  const header = await negotiateAuthorization({ ...client(), service: 'HTTP@stale.kiln.test' });
  // HTTP/localhost's keytab has no key for HTTP/stale.kiln.test at all.
  await rejects(t, verifyNegotiate(header, serverOpts), /token rejected/);
  // The keytab exported before the rekey holds the previous kvno.
  await rejects(t, verifyNegotiate(header, { ...serverOpts, keytab: stale.keytab }), /token rejected/);
  t.is((await verifyNegotiate(header, { ...serverOpts, keytab: freshKeytab })).principal, kdc.clientPrincipal);
});

test('mutual authentication fails when the server reply is forged or missing', async (t) => {
  const forged = await startNegotiate(client());
  await rejects(t, forged.finish(`Negotiate ${Buffer.from('not the server').toString('base64')}`), /mutual authentication with HTTP@localhost failed/);
  const missing = await startNegotiate(client());
  await rejects(t, missing.finish(null), /sent no Negotiate reply token/);
  const optional = await startNegotiate({ ...client(), mutual: false });
  t.deepEqual(await optional.finish(null), {});
});

test('a missing keytab fails naming the path, on either side', async (t) => {
  const missing = path.join(kdc.dir, 'no-such.keytab');
  const err = await rejects(t, negotiateAuthorization({ ...client(), keytab: missing }), /client keytab .*no-such\.keytab does not exist/);
  t.is(err.details?.keytab, missing);
  t.true(err.message.includes(missing));
  const header = await negotiateAuthorization(client());
  await rejects(t, verifyNegotiate(header, { ...serverOpts, keytab: `FILE:${missing}` }), /service keytab .*no-such\.keytab does not exist/);
});

test('a file that is not a keytab, or a directory, fails naming the path', async (t) => {
  const bogus = path.join(kdc.dir, 'bogus.keytab');
  await writeFile(bogus, 'this is a password, not a keytab\n');
  await rejects(t, negotiateAuthorization({ ...client(), keytab: bogus }), new RegExp(`${bogus.replace(/[.]/g, '\\.')} is not a keytab file`));
  const dir = path.join(kdc.dir, 'a-directory');
  await mkdir(dir);
  await rejects(t, negotiateAuthorization({ ...client(), keytab: dir }), /a-directory cannot be read/);
});

test('an unreadable keytab fails naming the path (normal users only: root reads anything)', async (t) => {
  if (process.getuid?.() === 0) {
    t.pass('skipped as root');
    return;
  }
  const locked = path.join(kdc.dir, 'locked.keytab');
  await writeFile(locked, Buffer.from([5, 2, 0]));
  await chmod(locked, 0o000);
  await rejects(t, negotiateAuthorization({ ...client(), keytab: locked }), /locked\.keytab is not readable by uid/);
});

test('service names that are not host-based are refused before any Kerberos call', async (t) => {
  const err = await t.throwsAsync(negotiateAuthorization({ ...client(), service: 'HTTP/localhost@KILN.TEST' }), { instanceOf: KilnError });
  t.is(err!.code, 'KILN_INVALID_INPUT');
});

test('an unreachable KDC fails fast; a KDC that never answers hits the timeout', async (t) => {
  const conf = await readFile(kdc.krb5Conf, 'utf8');
  // Nothing listens on the port of a closed throw-away server.
  const closedPort = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
  const refusedConf = path.join(kdc.dir, 'krb5-refused.conf');
  await writeFile(refusedConf, conf.replace(`127.0.0.1:${kdc.port}`, `127.0.0.1:${closedPort}`));
  await rejects(t, negotiateAuthorization({ ...client(), krb5Conf: refusedConf }), /Cannot contact any KDC/);

  // A listener that accepts and stays silent, like a firewalled or wedged KDC.
  const silent = createNetServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
  try {
    const silentConf = path.join(kdc.dir, 'krb5-silent.conf');
    await writeFile(silentConf, conf.replace(`127.0.0.1:${kdc.port}`, `127.0.0.1:${(silent.address() as AddressInfo).port}`));
    const started = performance.now();
    await rejects(t, negotiateAuthorization({ ...client(), krb5Conf: silentConf, timeoutMs: 700 }), /no answer within 700 ms/);
    t.true(performance.now() - started < 3000);
  } finally {
    silent.close();
  }
});

test('a principal missing from the keytab, or a service the KDC does not know, fails clearly', async (t) => {
  await rejects(
    t,
    negotiateAuthorization({ ...client(), principal: 'kiln/other.example.test@KILN.TEST' }),
    /as kiln\/other\.example\.test@KILN\.TEST: .*kiln\/other\.example\.test@KILN\.TEST/,
  );
  await rejects(t, negotiateAuthorization({ ...client(), service: 'HTTP@nohost.example.test' }), /HTTP\/nohost\.example\.test@KILN\.TEST not found in Kerberos database/);
});
