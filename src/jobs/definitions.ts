import { KilnError } from '../errors.js';
import type { ImageBuildArgs } from '../compose/index.js';
import { imageCatalog } from '../osbuild/index.js';

/**
 * A job plans its image from this host's image definitions; they must be the ones the compose
 * was checked against, or the depsolve and osbuild jobs of one image could disagree (another
 * Kiln version, other drop-ins). Jobs queued before Kiln recorded the fingerprint are not checked.
 */
export function checkDefinitions(args: ImageBuildArgs): void {
  const here = imageCatalog().fingerprint;
  if (args.definitions !== undefined && args.definitions !== here) {
    throw new KilnError(
      'KILN_IMAGE_DEFINITION',
      `this host's image definitions (fingerprint ${here}) differ from the ones compose ${args.compose_id} was accepted with (${args.definitions}): run the same Kiln version with the same image_types.dropin_dir files on every host`,
      { details: { here, compose: args.definitions } },
    );
  }
}
