import { loadConfig } from '../config/index.js';
import { openDatabase } from '../db/open.js';
import { migrate } from '../db/migrate.js';
import { createLogger } from '../log.js';
import { commonOverrides, type Flags } from './main.js';

export async function migrateCommand(flags: Flags): Promise<number> {
  const config = loadConfig({ file: flags.config as string | undefined, overrides: commonOverrides(flags) });
  const log = createLogger({ level: config.log.level, name: 'kiln-migrate' });
  const db = await openDatabase(config, log, { startEmbedded: true, poolSize: 1 });
  try {
    const applied = await migrate(db.url, log);
    log.info({ applied: applied.length }, applied.length ? 'migrations applied' : 'database is up to date');
  } finally {
    await db.close();
  }
  return 0;
}
