import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { KilnError } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';

export const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));
const MIGRATIONS_TABLE = 'kiln_migrations';
// Our own lock id; node-pg-migrate's lock is a try-lock that fails a second process
// outright, so Kiln takes a blocking lock first and tells the runner not to lock.
const MIGRATION_LOCK_ID = 0x6b696c6e; // "kiln"

export function knownMigrations(): string[] {
  return readdirSync(migrationsDir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .map((f) => f.replace(/\.sql$/, ''))
    .sort();
}

/** Applies pending migrations; safe when several processes call it at once. */
export async function migrate(url: string, log: Logger = silentLogger): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'kiln-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    const applied = await runner({
      dbClient: client,
      dir: migrationsDir,
      direction: 'up',
      migrationsTable: MIGRATIONS_TABLE,
      noLock: true,
      singleTransaction: true,
      checkOrder: true,
      log: (msg: string) => log.debug({ migration: msg }, 'migrate'),
    } as Parameters<typeof runner>[0]);
    for (const m of applied) log.info({ migration: m.name }, 'migration applied');
    return applied.map((m) => m.name);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    await client.end();
  }
}

export class DatabaseTooNewError extends KilnError {
  constructor(unknown: string[]) {
    super(
      'KILN_DATABASE_TOO_NEW',
      `the database has migrations this Kiln does not know (${unknown.join(', ')}): it was upgraded by a newer Kiln; upgrade this host's Kiln before starting it`,
      { details: { unknown } },
    );
  }
}

/** Applied migrations, or [] when the database was never migrated. */
export async function appliedMigrations(db: Pick<pg.Pool, 'query'>): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY run_on, id`,
  ).catch((err: { code?: string }) => {
    if (err.code === '42P01') return { rows: [] as { name: string }[] }; // undefined_table
    throw err;
  });
  return rows.map((r: { name: string }) => r.name);
}

export interface MigrationStatus {
  pending: string[];
  unknown: string[];
}

export async function migrationStatus(db: Pick<pg.Pool, 'query'>): Promise<MigrationStatus> {
  const applied = new Set(await appliedMigrations(db));
  const known = knownMigrations();
  return {
    pending: known.filter((m) => !applied.has(m)),
    unknown: [...applied].filter((m) => !known.includes(m)),
  };
}
