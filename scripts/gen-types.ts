/**
 * Generates src/generated/<schema>.ts from every schemas/*.json with json-schema-to-typescript.
 * `--check` exits 1 when a generated file is stale (CI runs the check through the test suite).
 */
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const schemaDir = path.join(root, 'schemas');
const outDir = path.join(root, 'src', 'generated');

export async function generate(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const file of readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort()) {
    const schema = JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8'));
    const ts = await compile(schema, schema.title ?? file, {
      bannerComment: `/* Generated from schemas/${file} by \`npm run gen:types\`. Do not edit. */`,
      cwd: schemaDir,
      additionalProperties: false,
      style: { singleQuote: true },
      declareExternallyReferenced: true,
    });
    out.set(path.join(outDir, file.replace(/\.json$/, '.ts')), ts);
  }
  return out;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of await generate()) {
    const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (current === text) continue;
    if (check) {
      stale++;
      console.error(`stale: ${path.relative(root, file)}`);
    } else {
      writeFileSync(file, text);
      console.log(`wrote ${path.relative(root, file)}`);
    }
  }
  if (stale) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
