/**
 * `npm test`: starts one embedded Postgres for the whole run, migrates a template database,
 * runs every ava test file (each clones the template into its own database), then the
 * Python tests of koji-plugin/ when present. Extra arguments go to ava.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { freePort } from './helpers/net.js';

const TEMPLATE = 'kiln_template';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  // Tests start the real `kiln` binary, which runs the compiled dist/: build it first.
  // Type errors are reported by `npm run typecheck`; tsc still emits, and the tests judge the result.
  await run(process.execPath, [path.resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], process.env);
  if (!existsSync('dist/cli/main.js')) return 1;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-test-pg-'));
  const pgHandle = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port: await freePort(), persistent: false });
  let code = 1;
  try {
    const admin = new pg.Client({ connectionString: pgHandle.adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE}`);
    await admin.query(`CREATE DATABASE ${TEMPLATE}`);
    await admin.end();
    const templateUrl = pgHandle.adminUrl.replace(/\/postgres$/, `/${TEMPLATE}`);
    await migrate(templateUrl);
    const env = {
      ...process.env,
      KILN_TEST_PG_ADMIN_URL: pgHandle.adminUrl,
      KILN_TEST_PG_TEMPLATE: TEMPLATE,
    };
    const extra = process.argv.slice(2);
    code = await run(process.execPath, [path.resolve('node_modules/ava/entrypoints/cli.mjs'), ...extra], env);
    if (extra.length === 0 && existsSync('koji-plugin')) {
      const pyCode = await run('/usr/bin/python3', ['-m', 'unittest', 'discover', '-s', 'koji-plugin', '-p', 'test_*.py', '-t', '.'], env);
      code = code || pyCode;
    }
  } finally {
    await pgHandle.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  return code;
}

process.exitCode = await main();
