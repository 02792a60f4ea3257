/**
 * Upstream reference data (osbuild's schemas, osbuild/images' definitions, composer's OpenAPI,
 * osbuild's test manifests) is not part of the project: it lives in shared/reference/ beside the
 * checkout (a worktree sits deeper, so parents are searched too). KILN_REFERENCE_DIR names the
 * reference directory itself. Tests that need it say so and skip where it is absent.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function findReference(relative: string): string | undefined {
  if (process.env.KILN_REFERENCE_DIR) {
    const file = path.join(process.env.KILN_REFERENCE_DIR, relative);
    return existsSync(file) ? file : undefined;
  }
  let dir = fileURLToPath(new URL('../..', import.meta.url));
  for (;;) {
    const file = path.join(dir, 'shared', 'reference', relative);
    if (existsSync(file)) return file;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
