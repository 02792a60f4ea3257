import { parseArgs, type ParseArgsConfig } from 'node:util';
import { KilnError } from '../errors.js';
import { serve } from './serve.js';
import { migrateCommand } from './migrate.js';
import { workerCommand } from './worker.js';
import { composeCommand, COMPOSE_OPTIONS, COMPOSE_USAGE } from './compose.js';
import { devHubCommand } from '../devhub/cli.js';
import { builderCommand } from '../builder/agent.js';

const USAGE = `usage: kiln <command> [options]

commands:
  serve     API server and in-process workers (migrates the database first)
  migrate   apply database migrations
  worker    a worker process taking jobs from the shared database, or with
            --server URL from a Kiln API (--token-file F | --cert F --key F [--ca F])
  compose   start|status|logs|cancel|list composes on a Kiln API (kiln compose --help)
  builder   the builder agent that runs osbuild for workers (kiln builder --help)
  dev-hub   a Koji hub stand-in on loopback, for trying Kiln without a Koji (kiln dev-hub --help)

common options:
  --config FILE        config file (default /etc/kiln/kiln.toml, or $KILN_CONFIG)
  --state-dir DIR      state directory (default ./.kiln)
  --log-level LEVEL    fatal|error|warn|info|debug|trace|silent
`;

export type Flags = Record<string, string | boolean | string[] | undefined>;

const COMMON: ParseArgsConfig['options'] = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

/** A command's flags; with `positionals`, its positional arguments arrive as flags._ (string[]). */
const COMMANDS: Record<string, { options: ParseArgsConfig['options']; positionals?: boolean; usage?: string; run: (flags: Flags) => Promise<number> }> = {
  serve: {
    options: { listen: { type: 'string' }, port: { type: 'string' }, 'no-workers': { type: 'boolean' } },
    run: serve,
  },
  migrate: { options: {}, run: migrateCommand },
  worker: {
    options: {
      types: { type: 'string' },
      arch: { type: 'string', multiple: true },
      channel: { type: 'string', multiple: true },
      concurrency: { type: 'string', multiple: true },
      name: { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
    },
    run: workerCommand,
  },
  compose: { options: COMPOSE_OPTIONS, positionals: true, usage: COMPOSE_USAGE, run: composeCommand },
};

/** Config overrides from the flags every command shares. */
export function commonOverrides(flags: Flags): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (typeof flags['state-dir'] === 'string') o.state_dir = flags['state-dir'];
  if (typeof flags['log-level'] === 'string') o.log = { level: flags['log-level'] };
  return o;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  // the dev hub parses its own arguments (it also runs on its own, see src/devhub/cli.ts)
  if (command === 'dev-hub') return devHubCommand(rest);
  if (command === 'builder') return builderCommand(rest);
  const spec = COMMANDS[command];
  if (!spec) {
    process.stderr.write(`kiln: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  let flags: Flags;
  try {
    const parsed = parseArgs({ args: rest, options: { ...COMMON, ...spec.options }, strict: true, allowPositionals: Boolean(spec.positionals) });
    flags = parsed.values as Flags;
    if (spec.positionals) flags._ = parsed.positionals;
  } catch (err) {
    process.stderr.write(`kiln ${command}: ${(err as Error).message}\n`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(spec.usage ?? USAGE);
    return 0;
  }
  try {
    return await spec.run(flags);
  } catch (err) {
    if (err instanceof KilnError) {
      process.stderr.write(`kiln ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
