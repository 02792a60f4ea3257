import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDevHub, type DevHubHandle } from '../../src/devhub/index.js';

export interface KilnHub {
  hub: DevHubHandle;
  /** The `koji.hubs` config entry (or KILN_KOJI_HUBS element) that logs Kiln in to this hub. */
  config: { url: string; auth: 'password'; user: string; password_file: string };
  /**
   * A new Koji task for a compose to belong to (the hub refuses a build naming a task it does
   * not have), made as the hub's make_task makes tasks, owned by the release engineer `releng`.
   */
  task(method?: string): Promise<number>;
}

/**
 * A dev hub under `dir` where Kiln's user may use Kiln's content generator ("kiln"), and the
 * hub entry of Kiln's configuration for it (the password goes through a file, as in production).
 */
export async function startKilnHub(dir: string): Promise<KilnHub> {
  const hub = await startDevHub({ dir: path.join(dir, 'hub') });
  await hub.createUser({ name: 'kiln', password: 'kiln-secret' });
  await hub.grantCGAccess('kiln', 'kiln');
  await hub.createUser({ name: 'releng', password: 'releng-secret' });
  const passwordFile = path.join(dir, 'koji-password');
  writeFileSync(passwordFile, 'kiln-secret\n');
  return {
    hub,
    config: { url: hub.url, auth: 'password', user: 'kiln', password_file: passwordFile },
    task: (method = 'osbuildImage') => hub.createTask({ method, owner: 'releng', channel: 'image' }),
  };
}
