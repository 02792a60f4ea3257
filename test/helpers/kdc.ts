/**
 * A throw-away MIT Kerberos realm for tests: its own krb5.conf, kdc.conf, database and keytabs
 * in a temp dir, and a real `krb5kdc` listening on 127.0.0.1 only. Works as root and as a
 * normal user (the KDC binds an unprivileged port and every file lives in the temp dir).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, createConnection } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface KdcOptions {
  realm?: string;
  /** Client principal without realm; default `kiln/builder.example.test`. */
  client?: string;
  /** Service principal without realm; default `HTTP/localhost`. */
  service?: string;
  startTimeoutMs?: number;
}

export interface TestKdc {
  realm: string;
  dir: string;
  port: number;
  /** Path of the realm's krb5.conf (what KRB5_CONFIG should point at). */
  krb5Conf: string;
  clientPrincipal: string;
  clientKeytab: string;
  servicePrincipal: string;
  serviceKeytab: string;
  /** Creates `name` (realm optional) with a random key and exports it to a new keytab. */
  addPrincipal(name: string): Promise<{ principal: string; keytab: string }>;
  /** Exports `name` again into a new keytab; this re-keys it, so older keytabs go stale. */
  rekey(name: string): Promise<string>;
  deletePrincipal(name: string): Promise<void>;
  /** The KDC log so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

// Debian puts the KDC tools in /usr/sbin, which is not on a normal user's PATH.
function tool(name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin']) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  throw new Error(`${name} not found: install krb5-kdc and krb5-admin-server`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env, timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout + stderr);
    });
    child.stdin?.end(input ?? '');
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function krb5Conf(realm: string, port: number): string {
  return `[libdefaults]
  default_realm = ${realm}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  kdc_timesync = 0
  forwardable = false

[realms]
  ${realm} = {
    kdc = 127.0.0.1:${port}
  }

[domain_realm]
  localhost = ${realm}
  .kiln.test = ${realm}
  .example.test = ${realm}
`;
}

function kdcConf(realm: string, port: number, dir: string): string {
  return `[kdcdefaults]
  kdc_listen = 127.0.0.1:${port}
  kdc_tcp_listen = 127.0.0.1:${port}

[realms]
  ${realm} = {
    database_name = ${dir}/principal
    key_stash_file = ${dir}/stash
    acl_file = ${dir}/kadm5.acl
    max_life = 1h
    max_renewable_life = 0
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }

[plugins]
  kdcpreauth = {
    disable = spake
  }

[logging]
  kdc = FILE:${dir}/kdc.log
  admin_server = FILE:${dir}/kadmin.log
  default = FILE:${dir}/krb5.log
`;
}

export async function startKdc(options: KdcOptions = {}): Promise<TestKdc> {
  const realm = options.realm ?? 'KILN.TEST';
  const qualify = (name: string): string => (name.includes('@') ? name : `${name}@${realm}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-kdc-'));
  const confPath = path.join(dir, 'krb5.conf');
  const kdcConfPath = path.join(dir, 'kdc.conf');
  // Only these two variables point the tools at the temp realm; nothing of the host's
  // /etc/krb5.conf or /etc/krb5kdc is read or written.
  const env = { ...process.env, KRB5_CONFIG: confPath, KRB5_KDC_PROFILE: kdcConfPath, KRB5CCNAME: `FILE:${dir}/admin.ccache` };
  const kadmin = (commands: string[]): Promise<string> =>
    run(tool('kadmin.local'), ['-r', realm], env, commands.map((c) => `${c}\n`).join(''));

  let child: ChildProcess | undefined;
  let port = 0;
  const stopChild = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };

  let keytabCount = 0;
  const exportKeytab = async (principal: string): Promise<string> => {
    const keytab = path.join(dir, `${principal.replace(/[^A-Za-z0-9.-]/g, '_')}-${++keytabCount}.keytab`);
    const out = await kadmin([`ktadd -k ${keytab} ${principal}`]);
    if (!existsSync(keytab)) throw new Error(`ktadd ${principal} wrote no keytab: ${out}`);
    return keytab;
  };
  const addPrincipal = async (name: string): Promise<{ principal: string; keytab: string }> => {
    const principal = qualify(name);
    const out = await kadmin([`addprinc -randkey ${principal}`]);
    if (!out.includes('created')) throw new Error(`addprinc ${principal} failed: ${out}`);
    return { principal, keytab: await exportKeytab(principal) };
  };

  const writeConfs = async (): Promise<void> => {
    port = await freePort();
    await writeFile(confPath, krb5Conf(realm, port));
    await writeFile(kdcConfPath, kdcConf(realm, port, dir));
  };

  try {
    await writeConfs();
    await run(tool('kdb5_util'), ['create', '-s', '-r', realm, '-P', 'kiln-test-master-key', '-W'], env);
    await writeFile(path.join(dir, 'kadm5.acl'), '');
    const client = await addPrincipal(options.client ?? 'kiln/builder.example.test');
    const service = await addPrincipal(options.service ?? 'HTTP/localhost');

    // The free-port probe and the KDC's bind race with other processes; retry on a new port.
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    for (let attempt = 0; !child; attempt++) {
      if (attempt > 0) await writeConfs();
      const c = spawn(tool('krb5kdc'), ['-n', '-r', realm], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      let up = false;
      while (Date.now() < deadline && c.exitCode === null && c.signalCode === null) {
        if (await canConnect(port)) {
          // A connect could also reach some other process that took the port; the KDC's
          // log line proves it was ours.
          const log = await readFile(path.join(dir, 'kdc.log'), 'utf8').catch(() => '');
          if (log.includes('commencing operation')) {
            up = true;
            break;
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      if (up) {
        child = c;
        // If the test process dies without calling stop(), the KDC must not outlive it.
        const onExit = (): void => void c.kill('SIGKILL');
        process.once('exit', onExit);
        c.once('exit', () => process.removeListener('exit', onExit));
        break;
      }
      child = c;
      await stopChild();
      if (attempt >= 2 || Date.now() >= deadline) {
        const log = await readFile(path.join(dir, 'kdc.log'), 'utf8').catch(() => '');
        throw new Error(`krb5kdc did not start on 127.0.0.1:${port}: ${stderr}${log.split('\n').slice(-5).join('\n')}`);
      }
    }

    return {
      realm,
      dir,
      port,
      krb5Conf: confPath,
      clientPrincipal: client.principal,
      clientKeytab: client.keytab,
      servicePrincipal: service.principal,
      serviceKeytab: service.keytab,
      addPrincipal,
      rekey: (name) => exportKeytab(qualify(name)),
      async deletePrincipal(name) {
        const out = await kadmin([`delprinc -force ${qualify(name)}`]);
        if (!out.includes('deleted')) throw new Error(`delprinc ${name} failed: ${out}`);
      },
      async log() {
        return readFile(path.join(dir, 'kdc.log'), 'utf8').catch(() => '');
      },
      async stop() {
        await stopChild();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopChild();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
