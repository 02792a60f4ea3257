/** Test helpers for the Koji client tests: a dev hub with a CG user, clients, files, certificates. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDevHub, type DevHubHandle, type DevHubOptions } from '../../src/devhub/index.js';
import { KojiClient, KojiFault, type KojiClientOptions } from '../../src/koji/index.js';

const run = promisify(execFile);

/** The fault a call ends with, as [faultCode, faultString]; a call that succeeds fails the test. */
export async function fault(p: Promise<unknown>): Promise<[number, string]> {
  try {
    const value = await p;
    throw new Error(`expected a fault, got ${JSON.stringify(value)}`);
  } catch (err) {
    if (!(err instanceof KojiFault)) throw err;
    return [err.faultCode, err.faultString];
  }
}

export const CG = 'osbuild';
export const USER = 'kiln';
export const PASSWORD = 'kiln-password';

export interface HubFixture {
  hub: DevHubHandle;
  tmp: string;
  client(options?: Partial<KojiClientOptions>): KojiClient;
  file(name: string, content: Buffer | string): Promise<string>;
  close(): Promise<void>;
}

/** A dev hub with user `kiln` (password login) allowed to use CG `osbuild`, plus a scratch dir. */
export async function hubFixture(options: Partial<DevHubOptions> = {}): Promise<HubFixture> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-koji-test-'));
  const hub = await startDevHub({ dir: path.join(tmp, 'hub'), ...options });
  await hub.createUser({ name: USER, password: PASSWORD });
  await hub.grantCGAccess(USER, CG);
  const clients: KojiClient[] = [];
  return {
    hub,
    tmp,
    client(o = {}) {
      const c = new KojiClient({
        url: hub.url,
        auth: { type: 'password', user: USER, password: PASSWORD },
        retry: { attempts: 6, baseDelayMs: 5, maxDelayMs: 50 },
        timeoutMs: 10_000,
        ...o,
      });
      clients.push(c);
      return c;
    },
    async file(name, content) {
      const p = path.join(tmp, name);
      await writeFile(p, content);
      return p;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await hub.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

export function randomContent(size: number): Buffer {
  return randomBytes(size);
}

export interface TestPki {
  ca: string;
  serverKey: string;
  serverCert: string;
  clientKey: (cn: string) => Promise<{ key: string; cert: string }>;
}

/** A CA, a server certificate for 127.0.0.1 and client certificates by CN, made with openssl. */
export async function makePki(dir: string): Promise<TestPki> {
  const p = (f: string) => path.join(dir, f);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '1', '-subj', '/CN=Kiln Test CA']);
  await writeFile(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const issue = async (name: string, cn: string, ext?: string) => {
    await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await run('openssl', ['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.crt`), '-days', '1', ...(ext ? ['-extfile', ext] : [])]);
    const { readFile } = await import('node:fs/promises');
    return { key: await readFile(p(`${name}.key`), 'utf8'), cert: await readFile(p(`${name}.crt`), 'utf8') };
  };
  const server = await issue('server', 'localhost', p('server.ext'));
  const { readFile } = await import('node:fs/promises');
  return {
    ca: await readFile(p('ca.crt'), 'utf8'),
    serverKey: server.key,
    serverCert: server.cert,
    clientKey: (cn) => issue(`client-${cn.replace(/[^a-z0-9]/gi, '_')}`, cn),
  };
}
