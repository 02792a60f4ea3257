/**
 * Development tool: writes the manifest of every offered (distro, arch, image type) — or those
 * matching the filters — made with synthetic packages, and checks each against osbuild's schemas
 * and load-time rules (the osbuild stand-in's checks).
 *
 *   npx tsx scripts/gen-manifests.ts [--out DIR] [--distro fedora-43] [--arch x86_64] [--type qcow2] [--seed N]
 *
 * The real osbuild's loader then checks them: `for f in DIR/*.json; do osbuild --inspect $f; done`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateManifest, packageRequests, resolveImage, serializeManifest, supportedImages } from '../src/osbuild/index.js';
import { syntheticDepsolve, syntheticImageInputs } from '../test/osbuild-standin/synthetic.js';
import { validateManifest } from '../test/osbuild-standin/validate.js';
import { loadManifest } from '../test/osbuild-standin/load.js';

const { values } = parseArgs({
  options: { out: { type: 'string', default: '/tmp/kiln-manifests' }, distro: { type: 'string' }, arch: { type: 'string' }, type: { type: 'string' }, seed: { type: 'string', default: '0' } },
});
mkdirSync(values.out!, { recursive: true });
let written = 0;
let failed = 0;
const started = Date.now();
for (const choice of supportedImages()) {
  if (values.distro && choice.distro !== values.distro) continue;
  if (values.arch && choice.arch !== values.arch) continue;
  const image = resolveImage(choice.distro, choice.arch, choice.imageType);
  if (values.type && image.name !== values.type && !image.aliases.includes(values.type)) continue;
  const name = `${choice.distro}_${choice.arch}_${image.name}`;
  try {
    const { ostreeCommits, ...extra } = syntheticImageInputs(image);
    const input = { image, seed: values.seed!, ...extra };
    const manifest = generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), choice.arch), ...(ostreeCommits ? { ostreeCommits } : {}) });
    writeFileSync(path.join(values.out!, `${name}.json`), serializeManifest(manifest, true));
    const result = validateManifest(manifest);
    if (!result.success) throw new Error(`osbuild schema: ${JSON.stringify(result.errors.slice(0, 3))}`);
    loadManifest(manifest as never);
    written++;
  } catch (err) {
    failed++;
    console.error(`${name}: ${(err as Error).message}`);
  }
}
console.log(`${written} manifests in ${values.out} (${Date.now() - started} ms), ${failed} failed`);
process.exitCode = failed ? 1 : 0;
