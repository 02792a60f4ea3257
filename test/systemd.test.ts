/**
 * The systemd units, sysusers.d and tmpfiles.d files in systemd/ checked with systemd's own
 * tools: `systemd-analyze verify` (with ExecStart pointing at this checkout's bin/kiln.js, since
 * /usr/bin/kiln is not installed here), and sysusers/tmpfiles applied to a scratch root.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync, statSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const systemdDir = fileURLToPath(new URL('../systemd/', import.meta.url));
const kilnBin = fileURLToPath(new URL('../bin/kiln.js', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-systemd-'));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

const units = readdirSync(systemdDir).filter((f) => f.endsWith('.service'));

/** A copy of a unit that systemd-analyze can check here (template units get an instance). */
function localCopy(unit: string, mutate: (text: string) => string = (t) => t): string {
  const dir = mkdtempSync(path.join(scratch, 'unit-'));
  const file = path.join(dir, unit.replace('@.service', '@x86_64.service'));
  writeFileSync(file, mutate(readFileSync(path.join(systemdDir, unit), 'utf8').replaceAll('/usr/bin/kiln', kilnBin)));
  return file;
}

async function verify(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', file]);
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

test('the three units are there', (t) => {
  t.deepEqual(units.sort(), ['kiln-builder.service', 'kiln-worker@.service', 'kiln.service']);
});

for (const unit of units) {
  test(`${unit} passes systemd-analyze verify without a warning`, async (t) => {
    const { code, output } = await verify(localCopy(unit));
    t.is(code, 0, output);
    t.is(output.trim(), '', output);
  });
}

test('systemd-analyze verify does catch a broken unit (the check above can fail)', async (t) => {
  const { output } = await verify(localCopy('kiln.service', (text) => text.replace('ProtectSystem=strict', 'ProtectSystem=sometimes')));
  t.regex(output, /protect system value.*sometimes/i, 'a bad value shows up in the output the tests above require to be empty');
});

test('kiln.service and kiln-worker@.service run as kiln with the hardening the issue asks for', (t) => {
  for (const unit of ['kiln.service', 'kiln-worker@.service']) {
    const text = readFileSync(path.join(systemdDir, unit), 'utf8');
    for (const line of ['User=kiln', 'ProtectSystem=strict', 'PrivateTmp=yes', 'NoNewPrivileges=yes', 'Restart=on-failure', 'StateDirectory=', 'CacheDirectory=', 'LogsDirectory=']) {
      t.true(text.includes(line), `${unit} has ${line}`);
    }
    t.regex(text, /StartLimitBurst=\d+/, `${unit} limits restarts`);
  }
});

test('sysusers.d creates the kiln user and tmpfiles.d the state tree with the right owners and modes', async (t) => {
  const root = path.join(scratch, 'root');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  await run('systemd-sysusers', [`--root=${root}`, path.join(systemdDir, 'kiln.sysusers')]);
  const passwd = readFileSync(path.join(root, 'etc/passwd'), 'utf8');
  const uid = Number(/^kiln:x:(\d+):/m.exec(passwd)?.[1]);
  t.true(uid > 0, passwd);
  await run('systemd-tmpfiles', [`--root=${root}`, '--create', path.join(systemdDir, 'kiln.tmpfiles')]);
  const mode = (p: string) => statSync(path.join(root, p)).mode & 0o777;
  t.is(statSync(path.join(root, 'var/lib/kiln')).uid, uid);
  t.is(mode('var/lib/kiln'), 0o750);
  t.is(mode('var/lib/kiln/postgres'), 0o700);
  t.is(mode('var/lib/kiln/outputs'), 0o750);
  t.is(statSync(path.join(root, 'etc/kiln')).uid, 0, '/etc/kiln stays root-owned, readable by the kiln group');
});
