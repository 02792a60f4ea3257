/**
 * `kiln dev-hub`: runs the dev hub in the foreground until SIGINT/SIGTERM.
 *
 *   kiln dev-hub [--dir DIR] [--port N] [--user NAME:PASSWORD]... [--cg NAME]
 *                [--tls-key F --tls-cert F --tls-ca F [--tls-port N]] [--faults RATE[:SEED]]
 *
 * Each --user and --admin gets access to the CG (default "osbuild"). Prints one JSON line with the URLs
 * once listening, so scripts can wait for it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InvalidInputError } from '../errors.js';
import { createLogger } from '../log.js';
import { startDevHub } from './index.js';

export const DEV_HUB_USAGE = `usage: kiln dev-hub [--dir DIR] [--host ADDR] [--port N] [--user NAME:PASSWORD]... [--admin NAME:PASSWORD]...
                    [--cg NAME] [--tls-key F --tls-cert F --tls-ca F [--tls-port N]] [--faults RATE[:SEED]]

A Koji hub stand-in (XML-RPC, uploads, CG import with the real hub's rules) on loopback, its
data under --dir. Each --user and --admin may use the content generator --cg (default osbuild);
an --admin may also make tasks (makeTask), which a compose's task_id must name. Prints one
JSON line with its URLs once listening; stops on SIGINT/SIGTERM.
`;

export async function devHubCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(DEV_HUB_USAGE);
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      user: { type: 'string', multiple: true, default: [] },
      admin: { type: 'string', multiple: true, default: [] },
      cg: { type: 'string', default: 'osbuild' },
      'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-port': { type: 'string', default: '0' },
      faults: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidInputError('--port', `must be a port number, got ${values.port}`);
  let faults;
  if (values.faults) {
    const [rate, seed] = values.faults.split(':').map(Number);
    if (!(rate >= 0 && rate <= 1)) throw new InvalidInputError('--faults', `rate must be within 0..1, got ${values.faults}`);
    faults = { rate, seed: seed || 1 };
  }
  const tlsGiven = [values['tls-key'], values['tls-cert'], values['tls-ca']].filter(Boolean).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new InvalidInputError('--tls-key', '--tls-key, --tls-cert and --tls-ca go together');
  const users: Array<{ name: string; password: string; admin: boolean }> = [];
  for (const [list, admin] of [[values.user, false], [values.admin, true]] as const) {
    for (const spec of list) {
      const i = spec.indexOf(':');
      if (i <= 0 || i === spec.length - 1) throw new InvalidInputError(admin ? '--admin' : '--user', `must be NAME:PASSWORD, got ${spec}`);
      users.push({ name: spec.slice(0, i), password: spec.slice(i + 1), admin });
    }
  }
  const log = createLogger({ level: values['log-level'], name: 'kiln-dev-hub' });
  const hub = await startDevHub({
    ...(values.dir ? { dir: values.dir } : {}),
    host: values.host,
    port,
    ...(tlsGiven
      ? { tls: { key: readFileSync(values['tls-key']!), cert: readFileSync(values['tls-cert']!), ca: readFileSync(values['tls-ca']!), port: Number(values['tls-port']) } }
      : {}),
    ...(faults ? { faults } : {}),
    log,
  });
  for (const user of users) {
    await hub.createUser(user);
    await hub.grantCGAccess(user.name, values.cg);
  }
  process.stdout.write(JSON.stringify({ url: hub.url, sslUrl: hub.sslUrl ?? null, dir: hub.dir }) + '\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await hub.close();
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await devHubCommand(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`kiln dev-hub: ${err.message}\n`);
    return 2;
  });
}
