import path from 'node:path';
import type { KilnConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { createPool, type Pool } from './index.js';
import { startEmbeddedPostgres, embeddedUrl } from './embedded.js';

export interface OpenDatabase {
  url: string;
  pool: Pool;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * The database the configuration names, or else the embedded cluster under
 * `<state_dir>/postgres`: started by `kiln serve` and `kiln migrate` (startEmbedded), only
 * connected to by `kiln worker`, which runs beside a `kiln serve` on the same host.
 */
export async function openDatabase(
  config: Readonly<KilnConfig>,
  log: Logger,
  options: { startEmbedded: boolean; poolSize?: number; applicationName?: string },
): Promise<OpenDatabase> {
  const poolOpts = { max: options.poolSize ?? config.database.pool_size, applicationName: options.applicationName };
  if (config.database.url) {
    const pool = createPool(config.database.url, poolOpts);
    return { url: config.database.url, pool, embedded: false, close: () => pool.end() };
  }
  const port = config.database.embedded_port;
  if (!options.startEmbedded) {
    const url = embeddedUrl(port);
    const pool = createPool(url, poolOpts);
    return { url, pool, embedded: true, close: () => pool.end() };
  }
  const dataDir = path.join(config.state_dir, 'postgres');
  log.info({ dataDir, port }, 'starting embedded Postgres');
  const pg = await startEmbeddedPostgres({ dataDir, port, log });
  const pool = createPool(pg.url, poolOpts);
  return {
    url: pg.url,
    pool,
    embedded: true,
    async close() {
      await pool.end().catch(() => undefined);
      await pg.stop();
      log.info('embedded Postgres stopped');
    },
  };
}
