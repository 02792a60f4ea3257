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

/** Kiln schemas refer to each other by $id ("customizations.schema"); the generator wants paths. */
function refsToPaths(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(refsToPaths);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    const m = k === '$ref' && typeof v === 'string' ? /^([a-z0-9-]+\.schema)(#.*)?$/.exec(v) : null;
    out[k] = m ? `${path.join(schemaDir, `${m[1]}.json`)}${m[2] ?? ''}` : refsToPaths(v);
  }
  return out;
}

export async function generate(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const file of readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort()) {
    const schema = refsToPaths(JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8'))) as Parameters<typeof compile>[0];
    const ts = await compile(schema, schema.title ?? file, {
      bannerComment: `/* Generated from schemas/${file} by \`npm run gen:types\`. Do not edit. */`,
      cwd: schemaDir,
      additionalProperties: false,
      style: { singleQuote: true },
      declareExternallyReferenced: true,
      maxItems: -1,
      // a schema read through another's $ref keeps its own $id references ("other.schema#…")
      $refOptions: { resolve: { kilnSchemas: { order: 1, canRead: /\.schema$/, read: (file: { url: string }) => readFileSync(`${file.url}.json`, 'utf8') } } },
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
