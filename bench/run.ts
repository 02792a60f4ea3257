/**
 * `npm run bench [-- NAME…]`: runs the benchmarks in bench/ (each a module with main()), one
 * after the other. Benchmarks print their figures and the ratios against their named peers.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
for (const name of wanted.length ? wanted : all) {
  console.log(`\n=== bench/${name}`);
  const mod = (await import(`./${name}.ts`)) as { main(): Promise<void> };
  await mod.main();
}
