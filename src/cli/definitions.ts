import type { KilnConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { useImageDefinitions } from '../osbuild/index.js';

/** Loads Kiln's image definitions and the host's drop-ins once at start; a bad file stops the start. */
export function loadImageDefinitions(config: Readonly<KilnConfig>, log: Logger): void {
  const started = Date.now();
  const catalog = useImageDefinitions({ dropinDir: config.image_types.dropin_dir });
  for (const line of catalog.overrides) log.info({ dropin: line }, 'image definitions drop-in applied');
  log.info({ fingerprint: catalog.fingerprint, dropinDir: config.image_types.dropin_dir, durationMs: Date.now() - started }, 'image definitions loaded');
}
