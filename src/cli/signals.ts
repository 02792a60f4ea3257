import type { Logger } from '../log.js';

/** Resolves on the first SIGINT/SIGTERM; a second signal exits at once. */
export function onShutdownSignal(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const handler = (signal: NodeJS.Signals) => {
      if (seen) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      seen = true;
      log.info({ signal }, 'shutting down');
      resolve(signal);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
