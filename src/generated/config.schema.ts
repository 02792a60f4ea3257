/* Generated from schemas/config.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Kiln's configuration: /etc/kiln/kiln.toml (or --config / KILN_CONFIG), every key also settable as KILN_<SECTION>_<KEY>.
 */
export interface KilnConfig {
  /**
   * Where Kiln keeps its state: embedded Postgres data, outputs, caches.
   */
  state_dir: string;
  database: {
    /**
     * When set, Kiln uses this server and starts no embedded Postgres.
     */
    url?: string;
    pool_size: number;
    embedded_port: number;
    /**
     * Turn off behind PgBouncer in transaction mode.
     */
    prepared_statements: boolean;
  };
  listen: {
    address: string;
    port: number;
  };
  log: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  };
  queue: {
    heartbeat_timeout_seconds: number;
    heartbeat_interval_seconds: number;
    max_retries: number;
    /**
     * Backstop poll for a missed NOTIFY.
     */
    poll_interval_seconds: number;
    finished_retention_days: number;
  };
  workers: {
    /**
     * Run in-process workers in `kiln serve`.
     */
    local: boolean;
    /**
     * Architectures this host builds for; defaults to the host's.
     */
    arches?: string[];
    channels: string[];
    /**
     * Concurrent jobs per job type, e.g. { osbuild = 1, depsolve = 2 }.
     */
    concurrency: {
      [k: string]: number;
    };
    shutdown_grace_seconds: number;
  };
}
