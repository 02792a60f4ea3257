import { loadConfig } from '../config/index.js';
import { loadImageDefinitions } from './definitions.js';
import { openDatabase } from '../db/open.js';
import { migrationStatus, DatabaseTooNewError } from '../db/migrate.js';
import { createLogger } from '../log.js';
import { InvalidInputError } from '../errors.js';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { KilnConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { QueueListener, PgJobSource, HttpJobSource, Worker, startReaper, setPreparedStatements, type HandlerRegistration, type WorkerOptions } from '../queue/index.js';
import type { Pool } from '../db/index.js';
import { handlerRegistrations, createJobServices } from '../jobs/index.js';
import { commonOverrides, type Flags } from './main.js';
import { onShutdownSignal } from './signals.js';
import { endedComposes } from '../compose/index.js';
import { sweepServedRepos } from '../ostree/index.js';

const SWEEP_INTERVAL_MS = 10 * 60_000;

/**
 * A worker on another host than koji-finalize keeps the ostree repositories it served to a
 * compose's later images after the compose ends: they are removed at start and every 10 minutes.
 */
function startRepoSweeper(stateDir: string, ended: (ids: string[]) => Promise<string[]>, log: Logger): () => void {
  const sweep = () =>
    void sweepServedRepos(stateDir, ended).then(
      (removed) => removed.length && log.info({ composes: removed }, 'served ostree repositories of ended composes removed'),
      (err: unknown) => log.warn({ err }, 'could not sweep the served ostree repositories'),
    );
  sweep();
  const timer = setInterval(sweep, SWEEP_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** A Worker with the configuration's channels, arches (plus noarch) and timings. */
export function workerFromConfig(
  config: Readonly<KilnConfig>,
  options: Pick<WorkerOptions, 'source' | 'handlers' | 'name' | 'onJobFinished'> & { log: Logger },
): Worker {
  return new Worker({
    ...options,
    channels: config.workers.channels,
    arches: [...config.workers.arches!, 'noarch'],
    heartbeatIntervalMs: config.queue.heartbeat_interval_seconds * 1_000,
    shutdownGraceMs: config.workers.shutdown_grace_seconds * 1_000,
  });
}

/** Jobs straight from the database, woken by the process's listener. */
export function databaseSource(config: Readonly<KilnConfig>, pool: Pool, listener: QueueListener, worker: string, log: Logger): PgJobSource {
  return new PgJobSource({ pool, listener, worker, pollIntervalMs: config.queue.poll_interval_seconds * 1_000, log });
}

function parseConcurrency(values: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values ?? []) {
    const m = /^([a-z][a-z0-9-]*)=(\d+)$/.exec(v);
    if (!m) throw new InvalidInputError('--concurrency', `${JSON.stringify(v)} is not TYPE=N`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

const list = (v: string[] | undefined) => (v ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

function readFlagFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(flag, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * A token file holds the token alone, or one `name token` line as in the API's tokens file
 * (so one file can serve both); `#` comments and blank lines are ignored.
 */
function tokenFromFile(file: string): string {
  const line = readFlagFile('--token-file', file)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l && !l.startsWith('#'));
  if (!line) throw new InvalidInputError('--token-file', `${file} holds no token`);
  const parts = line.split(/\s+/);
  if (parts.length > 2) throw new InvalidInputError('--token-file', `${file}: expected "token" or "name token"`);
  return parts[parts.length - 1];
}

/** `kiln worker --server URL`: the same Worker and handlers, with jobs from the worker API instead of the database. */
async function remoteWorker(flags: Flags, config: Readonly<KilnConfig>, log: Logger, handlers: Record<string, HandlerRegistration>, close: () => Promise<void>): Promise<number> {
  const server = flags.server as string;
  if (flags.token !== undefined && flags['token-file'] !== undefined) throw new InvalidInputError('--token', 'give --token or --token-file, not both');
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new InvalidInputError(flags.cert === undefined ? '--cert' : '--key', '--cert and --key go together');
  const token = typeof flags['token-file'] === 'string' ? tokenFromFile(flags['token-file']) : (flags.token as string | undefined);
  const tls = {
    ...(typeof flags.cert === 'string' ? { cert: readFlagFile('--cert', flags.cert), key: readFlagFile('--key', flags.key as string) } : {}),
    ...(typeof flags.ca === 'string' ? { ca: readFlagFile('--ca', flags.ca) } : {}),
  };
  const name = typeof flags.name === 'string' ? flags.name : `${os.hostname()}:${process.pid}`;
  const channels = config.workers.channels;
  const arches = [...config.workers.arches!, 'noarch'];
  const source = new HttpJobSource({ server, name, types: Object.keys(handlers), arches, channels, token, tls, log });
  // bad credentials or a wrong URL end the process here, with the API's reason
  try {
    await source.register();
  } catch (err) {
    source.close();
    await close();
    throw err;
  }
  const worker = workerFromConfig(config, { name, source, handlers, log });
  worker.start();
  const stopSweeper = startRepoSweeper(config.state_dir, (ids) => source.composesEnded(ids), log);
  await onShutdownSignal(log);
  stopSweeper();
  await worker.stop();
  source.close();
  await close();
  return 0;
}

/** `kiln worker`: takes jobs from the shared database, or with `--server` from a Kiln API over HTTP. */
export async function workerCommand(flags: Flags): Promise<number> {
  if (typeof flags.server !== 'string') {
    for (const f of ['token', 'token-file', 'cert', 'key', 'ca']) {
      if (flags[f] !== undefined) throw new InvalidInputError(`--${f}`, 'is for a remote worker: give --server too');
    }
  }
  const overrides: Record<string, unknown> = commonOverrides(flags);
  const workers: Record<string, unknown> = {};
  const arches = list(flags.arch as string[] | undefined);
  const channels = list(flags.channel as string[] | undefined);
  if (arches.length) workers.arches = arches;
  if (channels.length) workers.channels = channels;
  overrides.workers = workers;
  const config = loadConfig({ file: flags.config as string | undefined, overrides });
  const log = createLogger({ level: config.log.level, name: 'kiln-worker' });
  loadImageDefinitions(config, log);
  setPreparedStatements(config.database.prepared_statements);
  const services = createJobServices(config, log);
  const handlers = handlerRegistrations(services, list(flags.types ? [flags.types as string] : undefined), {
    ...config.workers.concurrency,
    ...parseConcurrency(flags.concurrency as string[] | undefined),
  });
  if (typeof flags.server === 'string') return remoteWorker(flags, config, log, handlers, () => services.close());
  const concurrency = Object.values(handlers).reduce((n, h) => n + h.concurrency, 0);
  const db = await openDatabase(config, log, { startEmbedded: false, poolSize: Math.min(config.database.pool_size, concurrency + 2), applicationName: 'kiln-worker' });
  const status = await migrationStatus(db.pool);
  if (status.unknown.length) throw new DatabaseTooNewError(status.unknown);
  if (status.pending.length) log.warn({ pending: status.pending }, 'the database has pending migrations; run `kiln migrate`');
  const listener = new QueueListener(db.url, log);
  await listener.start();
  const reaper = startReaper(db.pool, Math.max(1_000, (config.queue.heartbeat_timeout_seconds * 1_000) / 4), log, {
    graceMs: config.queue.heartbeat_timeout_seconds * 1_000,
  });
  const name = typeof flags.name === 'string' ? flags.name : `worker:${process.pid}`;
  const worker = workerFromConfig(config, { name, source: databaseSource(config, db.pool, listener, name, log), handlers, log });
  worker.start();
  const stopSweeper = startRepoSweeper(config.state_dir, (ids) => endedComposes(db.pool, ids), log);
  await onShutdownSignal(log);
  stopSweeper();
  await worker.stop();
  reaper.stop();
  await listener.stop();
  await services.close();
  await db.close();
  return 0;
}
