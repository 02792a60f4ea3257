import test from 'ava';
import pg from 'pg';
import { migrate, migrationStatus, knownMigrations } from '../src/db/migrate.js';
import { createEmptyDatabase } from './helpers/db.js';

test('migrations run twice concurrently without error and apply once', async (t) => {
  const db = await createEmptyDatabase();
  t.teardown(() => db.drop());
  const results = await Promise.all([migrate(db.url), migrate(db.url), migrate(db.url)]);
  const applied = results.flat();
  t.deepEqual(applied.sort(), knownMigrations().sort(), 'each migration applied exactly once across the three runs');
  const again = await migrate(db.url);
  t.deepEqual(again, []);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  t.teardown(() => client.end());
  t.deepEqual(await migrationStatus(client), { pending: [], unknown: [] });
});

test('a database migrated by a newer Kiln is reported as such', async (t) => {
  const db = await createEmptyDatabase();
  t.teardown(() => db.drop());
  await migrate(db.url);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  t.teardown(() => client.end());
  await client.query(`INSERT INTO kiln_migrations (name, run_on) VALUES ('999_from_the_future', now())`);
  t.deepEqual(await migrationStatus(client), { pending: [], unknown: ['999_from_the_future'] });
});
