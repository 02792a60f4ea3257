/**
 * The `kerberos` addon is an optional dependency: `npm ci` leaves it out when its native build
 * fails (no libkrb5 headers). Each case runs the real `kiln` from a copy of this checkout whose
 * node_modules holds every package but that one, so Node's own resolution fails, as on such a
 * machine.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkKojiAuth } from '../src/jobs/index.js';
import { loadConfig } from '../src/config/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** A copy of the built Kiln whose node_modules lacks `kerberos`, or holds it unbuilt. */
async function installWithout(t: { teardown: (fn: () => Promise<void>) => void }, kerberos: 'absent' | 'unbuilt'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-nokrb-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const part of ['bin', 'dist', 'schemas', 'migrations', 'image-types', 'libexec', 'package.json']) {
    await cp(path.join(root, part), path.join(dir, part), { recursive: true });
  }
  await mkdir(path.join(dir, 'node_modules'));
  for (const name of await readdir(path.join(root, 'node_modules'))) {
    if (name === 'kerberos') continue;
    await symlink(path.join(root, 'node_modules', name), path.join(dir, 'node_modules', name));
  }
  if (kerberos === 'unbuilt') {
    // what `npm ci --ignore-scripts` (or an install script npm did not allow) leaves behind
    const pkg = path.join(root, 'node_modules/kerberos');
    await cp(pkg, path.join(dir, 'node_modules/kerberos'), { recursive: true, filter: (src) => !path.relative(pkg, src).startsWith('build') });
  }
  return dir;
}

const kerberosHub = JSON.stringify([{ url: 'https://koji.example.test/kojihub', auth: 'kerberos', keytab: '/etc/kiln/kiln.keytab' }]);

async function serveFails(dir: string, command = 'serve'): Promise<string> {
  const err = await run(process.execPath, [path.join(dir, 'bin/kiln.js'), command], {
    env: {
      ...process.env,
      KILN_KOJI_HUBS: kerberosHub,
      KILN_STATE_DIR: path.join(dir, 'state'),
      // Never reached when the check works; if it were, the start would fail differently.
      KILN_DATABASE_URL: 'postgres://kiln@127.0.0.1:9/kiln',
      KILN_LISTEN_PORT: '0',
    },
    timeout: 30_000,
  }).then(
    () => undefined,
    (e: { code?: number; stderr?: string }) => e,
  );
  if (!err) throw new Error(`kiln ${command} started without the kerberos addon`);
  return `exit ${err.code}: ${err.stderr ?? ''}`;
}

test('kiln serve and kiln worker with a Kerberos hub refuse to start without the kerberos package, naming what to install', async (t) => {
  const dir = await installWithout(t, 'absent');
  const out = await serveFails(dir);
  t.regex(out, /^exit 1: kiln serve: config koji\.hubs\[0\]\.auth: is "kerberos", but Kerberos login needs the optional npm package "kerberos", which is not installed/, out);
  t.regex(out, /apt-get install libkrb5-dev/);
  t.regex(out, /dnf install krb5-devel/);
  t.true(out.includes(`then run "npm ci" again in ${dir}`), out);
  t.notRegex(out, /ECONNREFUSED|database/i, 'failed before starting anything');
  const worker = await serveFails(dir, 'worker');
  t.regex(worker, /^exit 1: kiln worker: config koji\.hubs\[0\]\.auth: is "kerberos", but Kerberos login needs the optional npm package "kerberos"/, worker);
});

test('kiln serve without a Kerberos hub starts where the kerberos package is missing', async (t) => {
  const dir = await installWithout(t, 'absent');
  // The database URL points nowhere: getting as far as connecting means the check passed.
  const err = await run(process.execPath, [path.join(dir, 'bin/kiln.js'), 'serve'], {
    env: {
      ...process.env,
      KILN_KOJI_HUBS: JSON.stringify([{ url: 'https://koji.example.test/kojihub', auth: 'password', user: 'kiln', password_file: '/dev/null' }]),
      KILN_STATE_DIR: path.join(dir, 'state'),
      KILN_DATABASE_URL: 'postgres://kiln@127.0.0.1:9/kiln',
      KILN_LISTEN_PORT: '0',
    },
    timeout: 60_000,
  }).then(
    () => undefined,
    (e: { stderr?: string }) => e,
  );
  t.truthy(err);
  t.notRegex(err!.stderr ?? '', /kerberos/i);
  t.regex(err!.stderr ?? '', /ECONNREFUSED|connect/i);
});

test('an installed but unbuilt kerberos package: the error says why it does not load and to rebuild it', async (t) => {
  const dir = await installWithout(t, 'unbuilt');
  const out = await serveFails(dir);
  t.regex(out, /the native addon of the npm package "kerberos", which does not load \(Cannot find module '.*build\/Release\/kerberos\.node'/, out);
  t.regex(out, /apt-get install libkrb5-dev/);
  t.true(out.includes(`then run "npm rebuild kerberos" in ${dir}`), out);
});

test('a Kerberos login without the kerberos package fails with a typed error, not a crash', async (t) => {
  const dir = await installWithout(t, 'absent');
  const keytab = path.join(dir, 'client.keytab');
  await writeFile(keytab, Buffer.from([0x05, 0x02, 0x00, 0x00]));
  const script = `
    const { KojiClient, kerberosAuth } = await import(${JSON.stringify(path.join(dir, 'dist/koji/index.js'))});
    const client = new KojiClient({ url: 'https://127.0.0.1:9/kojihub', auth: kerberosAuth({ keytab: ${JSON.stringify(keytab)} }), retry: { attempts: 1 } });
    try {
      await client.call('getLoggedInUser');
      console.log(JSON.stringify({ ok: true }));
    } catch (err) {
      console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message }));
    }`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
  const result = JSON.parse(stdout) as { name: string; code: string; message: string };
  t.is(result.name, 'KerberosUnavailableError');
  t.is(result.code, 'KILN_KOJI_AUTH');
  t.regex(result.message, /optional npm package "kerberos", which is not installed.*apt-get install libkrb5-dev/);
});

test('with the kerberos addon built (this checkout), a Kerberos hub passes the start check', (t) => {
  const config = loadConfig({ env: { KILN_KOJI_HUBS: kerberosHub }, file: '/dev/null' });
  t.notThrows(() => checkKojiAuth(config));
});
