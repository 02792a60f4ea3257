/** Kerberos login end to end: a real KDC, the dev hub's /ssllogin verifying Negotiate with spnego.ts, Kiln's client with kerberosAuth. */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startDevHub } from '../src/devhub/index.js';
import { KojiClient, cgInitBuild, kerberosAuth } from '../src/koji/index.js';
import { verifyNegotiate } from '../src/koji/spnego.js';
import { startKdc } from './helpers/kdc.js';
import { makePki } from './helpers/koji-hub.js';

test('sslLogin with Kerberos: the principal becomes the hub user, mutual auth checked', async (t) => {
  t.timeout(60_000);
  const kdc = await startKdc();
  t.teardown(() => kdc.stop());
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-krb-login-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const pki = await makePki(tmp);
  const hub = await startDevHub({
    dir: path.join(tmp, 'hub'),
    tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca },
    verifyNegotiate: (header) => verifyNegotiate(header, { keytab: kdc.serviceKeytab, krb5Conf: kdc.krb5Conf, service: 'HTTP@localhost' }),
  });
  t.teardown(() => hub.close());
  const name = kdc.clientPrincipal.split('@')[0];
  await hub.createUser({ name, krbPrincipal: kdc.clientPrincipal });
  await hub.grantCGAccess(name, 'osbuild');

  const client = new KojiClient({
    url: hub.sslUrl!,
    tls: { ca: pki.ca },
    auth: kerberosAuth({ keytab: kdc.clientKeytab, krb5Conf: kdc.krb5Conf, service: 'HTTP@localhost' }),
    retry: { attempts: 1 },
  });
  t.teardown(() => client.close());
  const me = await client.call<{ name: string; krb_principal: string; authtype: number }>('getLoggedInUser');
  t.is(me.name, name);
  t.is(me.krb_principal, kdc.clientPrincipal);
  t.is(me.authtype, 2);
  t.true((await cgInitBuild(client, 'osbuild', { name: 'krb', version: '1', release: '1' })).build_id > 0);

  // A login whose reply is lost is retried with a new token: the hub would refuse the old one as a replay.
  hub.setFaults({ rate: 1, kinds: ['drop-reply'], methods: ['sslLogin'], limit: 1 });
  const again = new KojiClient({
    url: hub.sslUrl!,
    tls: { ca: pki.ca },
    auth: kerberosAuth({ keytab: kdc.clientKeytab, krb5Conf: kdc.krb5Conf, service: 'HTTP@localhost' }),
    retry: { attempts: 3, baseDelayMs: 5 },
  });
  t.teardown(() => again.close());
  await again.login();
  t.is(hub.hub.calls.filter((c) => c.method === 'sslLogin').length, 3);
  hub.setFaults(null);

  const stranger = await kdc.addPrincipal('stranger/builder.example.test');
  const wrongService = new KojiClient({
    url: hub.sslUrl!,
    tls: { ca: pki.ca },
    auth: kerberosAuth({ keytab: stranger.keytab, krb5Conf: kdc.krb5Conf, service: 'HTTP@nohost.example.test' }),
    retry: { attempts: 1 },
  });
  const err = await t.throwsAsync(wrongService.login());
  t.is((err as { code?: string }).code, 'KILN_KOJI_AUTH', err!.message);
});
