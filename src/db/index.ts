import pg from 'pg';
import { KilnError } from '../errors.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that runs a query: a pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient | pg.Client;

// bigint (int8) columns come back as JS numbers: Kiln's counters and ids stay far below 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

export function createPool(url: string, options: { max?: number; applicationName?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'kiln',
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its server (Postgres restart) must not crash the process;
  // the pool drops it and the next query opens a new connection.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` in a transaction on its own client; rolls back on any error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * node-postgres's own errors for a connection that broke or never came up carry no code; these
 * are its exact messages (pg 8: client.js, pg-pool).
 */
const PG_CONNECTION_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
]);

/**
 * SQLSTATE classes Kiln reacts to, by code, never by message text; errors without a code only
 * when node-postgres raised them for a broken connection (PG_CONNECTION_MESSAGES, exact match).
 */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const code = (err as { code?: string })?.code;
  if (code === undefined && err instanceof Error && PG_CONNECTION_MESSAGES.has(err.message)) return true;
  if (typeof code !== 'string') return false;
  return (
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin_shutdown
    code === '57P02' || // crash_shutdown
    code === '57P03' || // cannot_connect_now
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND'].includes(code)
  );
}

export class DatabaseUnavailableError extends KilnError {
  constructor(message: string, cause?: unknown) {
    super('KILN_DATABASE_UNAVAILABLE', message, { cause });
  }
}
