import { loadConfig } from '../config/index.js';
import { openDatabase } from '../db/open.js';
import { migrationStatus, DatabaseTooNewError } from '../db/migrate.js';
import { createLogger } from '../log.js';
import { InvalidInputError } from '../errors.js';
import { QueueListener, PgJobSource, Worker, startReaper, setPreparedStatements } from '../queue/index.js';
import { handlerRegistrations, createJobServices } from '../jobs/index.js';
import { commonOverrides, type Flags } from './main.js';
import { onShutdownSignal } from './signals.js';

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

/** `kiln worker`: takes jobs from the shared database (a remote, HTTP worker is `--server`, later). */
export async function workerCommand(flags: Flags): Promise<number> {
  const overrides: Record<string, unknown> = commonOverrides(flags);
  const workers: Record<string, unknown> = {};
  const arches = list(flags.arch as string[] | undefined);
  const channels = list(flags.channel as string[] | undefined);
  if (arches.length) workers.arches = arches;
  if (channels.length) workers.channels = channels;
  overrides.workers = workers;
  const config = loadConfig({ file: flags.config as string | undefined, overrides });
  const log = createLogger({ level: config.log.level, name: 'kiln-worker' });
  setPreparedStatements(config.database.prepared_statements);
  const services = createJobServices(config, log);
  const handlers = handlerRegistrations(services, list(flags.types ? [flags.types as string] : undefined), {
    ...config.workers.concurrency,
    ...parseConcurrency(flags.concurrency as string[] | undefined),
  });
  const concurrency = Object.values(handlers).reduce((n, h) => n + h.concurrency, 0);
  const db = await openDatabase(config, log, { startEmbedded: false, poolSize: Math.min(config.database.pool_size, concurrency + 2), applicationName: 'kiln-worker' });
  const status = await migrationStatus(db.pool);
  if (status.unknown.length) throw new DatabaseTooNewError(status.unknown);
  if (status.pending.length) log.warn({ pending: status.pending }, 'the database has pending migrations; run `kiln migrate`');
  const listener = new QueueListener(db.url, log);
  await listener.start();
  const reaper = startReaper(db.pool, Math.max(1_000, (config.queue.heartbeat_timeout_seconds * 1_000) / 4), log);
  const worker = new Worker({
    name: typeof flags.name === 'string' ? flags.name : undefined,
    source: new PgJobSource({ pool: db.pool, listener, worker: typeof flags.name === 'string' ? flags.name : `worker:${process.pid}`, pollIntervalMs: config.queue.poll_interval_seconds * 1_000, log }),
    handlers,
    channels: config.workers.channels,
    arches: [...config.workers.arches!, 'noarch'],
    heartbeatIntervalMs: config.queue.heartbeat_interval_seconds * 1_000,
    shutdownGraceMs: config.workers.shutdown_grace_seconds * 1_000,
    log,
  });
  worker.start();
  await onShutdownSignal(log);
  await worker.stop();
  reaper.stop();
  await listener.stop();
  await services.close();
  await db.close();
  return 0;
}
