import type { FastifyInstance } from 'fastify';
import { loadConfig, type KilnConfig } from '../config/index.js';
import { openDatabase, type OpenDatabase } from '../db/open.js';
import { migrate, migrationStatus, DatabaseTooNewError } from '../db/migrate.js';
import { createLogger, type Logger } from '../log.js';
import { buildApp } from '../api/app.js';
import { authFromConfig, checkListenSecurity, tlsOptionsFromConfig } from '../api/auth.js';
import { QueueListener, PgJobSource, Worker, startReaper, setPreparedStatements, deleteFinishedJobs } from '../queue/index.js';
import { handlerRegistrations, checkKojiAuth, createJobServices } from '../jobs/index.js';
import { workerFromConfig, databaseSource } from './worker.js';
import { commonOverrides, type Flags } from './main.js';
import { onShutdownSignal } from './signals.js';
import { createMetrics } from '../metrics/index.js';
import { loadImageDefinitions } from './definitions.js';

export interface RunningService {
  url: string;
  app: FastifyInstance;
  db: OpenDatabase;
  stop(): Promise<void>;
}

/** Starts everything `kiln serve` runs; stop() shuts down in reverse order. */
export async function startService(config: Readonly<KilnConfig>, log: Logger): Promise<RunningService> {
  // refuse an open API on a non-loopback address, and read TLS files and tokens, before starting anything
  checkListenSecurity(config);
  loadImageDefinitions(config, log);
  const https = tlsOptionsFromConfig(config.api);
  const auth = authFromConfig(config.api);
  if (config.workers.local) checkKojiAuth(config); // e.g. Kerberos without its optional addon
  setPreparedStatements(config.database.prepared_statements);
  const db = await openDatabase(config, log, { startEmbedded: true, applicationName: 'kiln-serve' });
  const cleanups: (() => Promise<void> | void)[] = [() => db.close()];
  const stop = async () => {
    for (const fn of cleanups.reverse().splice(0)) await fn();
  };
  try {
    await migrate(db.url, log);
    const status = await migrationStatus(db.pool);
    if (status.unknown.length) throw new DatabaseTooNewError(status.unknown);

    const listener = new QueueListener(db.url, log);
    await listener.start();
    cleanups.push(() => listener.stop());

    const reaper = startReaper(db.pool, Math.max(1_000, (config.queue.heartbeat_timeout_seconds * 1_000) / 4), log, {
      graceMs: config.queue.heartbeat_timeout_seconds * 1_000,
    });
    cleanups.push(() => reaper.stop());
    const retention = setInterval(() => {
      deleteFinishedJobs(db.pool, config.queue.finished_retention_days).then(
        (n) => n && log.info({ deleted: n }, 'old finished jobs deleted'),
        (err) => log.warn({ err }, 'retention cleanup failed'),
      );
    }, 3_600_000);
    retention.unref();
    cleanups.push(() => clearInterval(retention));

    const metrics = createMetrics({ db: db.pool, defaultMetrics: true });
    cleanups.push(() => metrics.close());
    const localWorkers: Worker[] = [];
    const app = await buildApp({
      pool: db.pool,
      log,
      kojiServers: config.koji.hubs.map((h) => h.url),
      s3: config.s3,
      queueDefaults: { maxRetries: config.queue.max_retries, heartbeatTimeoutSeconds: config.queue.heartbeat_timeout_seconds },
      auth,
      https,
      listener,
      workerApi: { pollIntervalMs: config.queue.poll_interval_seconds * 1_000 },
      metrics,
      localWorkers: () => localWorkers,
    });
    cleanups.push(() => app.close());

    if (config.workers.local) {
      const services = createJobServices(config, log);
      cleanups.push(() => services.close());
      const handlers = handlerRegistrations(services, undefined, config.workers.concurrency);
      const name = `local:${process.pid}`;
      const worker = workerFromConfig(config, { name, source: databaseSource(config, db.pool, listener, name, log), handlers, log, onJobFinished: metrics.onJobFinished });
      localWorkers.push(worker);
      worker.start();
      // stop() runs cleanups last-first: workers stop (running jobs still report) before the
      // server closes and the database goes away
      cleanups.push(() => worker.stop());
    }

    const address = await app.listen({ host: config.listen.address, port: config.listen.port });
    log.info(
      { url: address, embeddedDatabase: db.embedded, localWorkers: config.workers.local, auth: auth ? { tokens: auth.tokens.size, clientNames: auth.allowedClientNames } : 'none (loopback only)' },
      'kiln is serving',
    );
    return { url: address, app, db, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

export async function serve(flags: Flags): Promise<number> {
  const overrides: Record<string, unknown> = commonOverrides(flags);
  const listen: Record<string, unknown> = {};
  if (typeof flags.listen === 'string') listen.address = flags.listen;
  if (typeof flags.port === 'string') listen.port = Number(flags.port);
  if (Object.keys(listen).length) overrides.listen = listen;
  if (flags['no-workers']) overrides.workers = { local: false };
  const config = loadConfig({ file: flags.config as string | undefined, overrides });
  const log = createLogger({ level: config.log.level, name: 'kiln' });
  const service = await startService(config, log);
  await onShutdownSignal(log);
  await service.stop();
  log.info('kiln stopped');
  return 0;
}
