/**
 * Assembles src/koji/adler32.wat (wat2wasm, from Debian's wabt) into src/koji/adler32-wasm.ts.
 * `--check` exits 1 when that file is stale (the test suite runs the check).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const WAT = path.join(root, 'src/koji/adler32.wat');
export const OUT = path.join(root, 'src/koji/adler32-wasm.ts');

export function generate(): string {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-wat-'));
  try {
    const wasm = path.join(tmp, 'adler32.wasm');
    execFileSync('wat2wasm', [WAT, '-o', wasm], { stdio: ['ignore', 'ignore', 'inherit'] });
    const base64 = readFileSync(wasm).toString('base64');
    return `// Generated from adler32.wat by scripts/gen-adler32-wasm.ts; do not edit.\nexport const ADLER32_WASM = '${base64}';\n`;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const text = generate();
  if (process.argv.includes('--check')) {
    if (readFileSync(OUT, 'utf8') !== text) {
      console.error(`${OUT} is stale: run npx tsx scripts/gen-adler32-wasm.ts`);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(OUT, text);
  }
}
