import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KilnConfig } from '../config/index.js';
import { InvalidConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { KojiClient, type KojiAuth } from '../koji/index.js';
import { kerberosAuth } from '../koji/kerberos-auth.js';
import { kerberosAddonPath } from '../koji/spnego.js';
import { normaliseHubUrl } from '../compose/index.js';
import { closeCpuPool } from './cpu-pool.js';

type HubConfig = NonNullable<KilnConfig['koji']>['hubs'][number];

/** What job handlers use besides their arguments: configured clients and directories. */
export interface JobServices {
  config: Readonly<KilnConfig>;
  log: Logger;
  /**
   * Runs `fn` with a client of a configured hub that logs in on first call and out at the end.
   * One session per job: a Koji session is sequential (one callnum stream), so jobs sharing
   * one would queue behind each other's uploads.
   */
  withKoji<T>(server: string, fn: (client: KojiClient) => Promise<T>): Promise<T>;
  outputsDir: string;
  osbuildStoreDir: string;
  depsolveCacheDir: string;
  close(): Promise<void>;
}

function readSecret(file: string | undefined, key: string): string {
  if (!file) throw new InvalidConfigError(key, 'is required for this auth method');
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidConfigError(key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function authFor(hub: HubConfig, at: string): KojiAuth {
  switch (hub.auth) {
    case 'kerberos':
      if (!hub.keytab) throw new InvalidConfigError(`${at}.keytab`, 'is required for kerberos');
      return kerberosAuth({ keytab: hub.keytab, principal: hub.principal, krb5Conf: hub.krb5_conf });
    case 'certificate':
      return { type: 'ssl', cert: readSecret(hub.cert, `${at}.cert`), key: readSecret(hub.key, `${at}.key`) };
    case 'password':
      if (!hub.user) throw new InvalidConfigError(`${at}.user`, 'is required for password');
      return { type: 'password', user: hub.user, password: readSecret(hub.password_file, `${at}.password_file`).trim() };
  }
}

/**
 * Fails, naming the key, when a configured hub's login cannot work on this machine: Kerberos
 * needs the optional `kerberos` addon. Run at start, before anything else is started.
 */
export function checkKojiAuth(config: Readonly<KilnConfig>): void {
  config.koji.hubs.forEach((hub, index) => {
    if (hub.auth !== 'kerberos') return;
    try {
      kerberosAddonPath();
    } catch (err) {
      throw new InvalidConfigError(`koji.hubs[${index}].auth`, `is "kerberos", but ${(err as Error).message}`, { cause: err });
    }
  });
}

export function createJobServices(config: Readonly<KilnConfig>, log: Logger): JobServices {
  checkKojiAuth(config);
  return {
    config,
    log,
    outputsDir: path.join(config.state_dir, 'outputs'),
    osbuildStoreDir: config.osbuild.store_dir ?? path.join(config.state_dir, 'osbuild-store'),
    depsolveCacheDir: config.depsolve.cache_dir ?? path.join(config.state_dir, 'rpmmd'),
    async withKoji(server, fn) {
      const url = normaliseHubUrl(server);
      const index = config.koji.hubs.findIndex((h) => normaliseHubUrl(h.url) === url);
      if (index < 0) throw new InvalidConfigError('koji.hubs', `no hub ${url} is configured on this worker`);
      const hub = config.koji.hubs[index];
      const client = new KojiClient({
        url,
        auth: authFor(hub, `koji.hubs[${index}]`),
        ...(hub.ca ? { tls: { ca: readSecret(hub.ca, `koji.hubs[${index}].ca`) } } : {}),
        log: log.child({ kojiHub: url }),
        timeoutMs: config.koji.request_timeout_seconds * 1_000,
        retry: { attempts: config.koji.retry_attempts },
      });
      try {
        return await fn(client);
      } finally {
        await client.close().catch(() => undefined);
      }
    },
    async close() {
      await closeCpuPool();
    },
  };
}
