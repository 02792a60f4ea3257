/**
 * Manifest generation: every (distro, arch, image type) Kiln offers, resolved from the image
 * definitions and made into an osbuild manifest with a depsolve result of realistic size (the
 * synthetic packages of each request padded to ~550 for the OS tree and ~250 for the build root),
 * twice with the same seed to check the result is byte-identical.
 *
 * No peer runs here: osbuild/images (the Go library image-builder and composer use) needs Go ≥
 * 1.24, which this machine cannot install, so the figures are Kiln's alone.
 *
 *   npx tsx bench/manifests.ts        (or npm run bench -- manifests)
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { checkCatalog, generateManifest, loadCatalog, packageRequests, resolveImage, serializeManifest, supportedImages, type PipelinePackages } from '../src/osbuild/index.js';
import { syntheticDepsolve, syntheticPackage } from '../test/osbuild-standin/synthetic.js';

function padded(packages: PipelinePackages, arch: string): PipelinePackages {
  const target: Record<string, number> = { os: 550, build: 250 };
  const out: PipelinePackages = {};
  for (const [name, transactions] of Object.entries(packages)) {
    const have = transactions.flat().length;
    const extra = Array.from({ length: Math.max(0, (target[name] ?? 0) - have) }, (_, i) => syntheticPackage(`${name}-dependency-${i}`, arch));
    out[name] = [[...transactions[0], ...extra], ...transactions.slice(1)];
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function main(): Promise<void> {
  let t0 = performance.now();
  const catalog = loadCatalog();
  const loadMs = performance.now() - t0;
  t0 = performance.now();
  const images = checkCatalog(catalog);
  const checkMs = performance.now() - t0;
  const choices = supportedImages(catalog);

  const inputs = choices.map((c) => {
    const image = resolveImage(c.distro, c.arch, c.imageType, catalog);
    const input = { image, seed: '20261203' };
    return { c, input, packages: padded(syntheticDepsolve(packageRequests(input), c.arch), c.arch) };
  });

  const times: number[] = [];
  const digests: string[] = [];
  let bytes = 0;
  let sources = 0;
  const start = performance.now();
  for (const { input, packages } of inputs) {
    const t = performance.now();
    const manifest = serializeManifest(generateManifest({ ...input, packages }));
    times.push(performance.now() - t);
    digests.push(createHash('sha256').update(manifest).digest('hex'));
    bytes += manifest.length;
    sources += Object.keys((JSON.parse(manifest).sources['org.osbuild.curl'] as { items: object }).items).length;
  }
  const totalMs = performance.now() - start;
  let same = 0;
  for (const [i, { input, packages }] of inputs.entries()) {
    if (createHash('sha256').update(serializeManifest(generateManifest({ ...input, packages }))).digest('hex') === digests[i]) same++;
  }
  const sorted = [...times].sort((a, b) => a - b);
  const families = [...catalog.families.keys()].join(', ');
  console.log(`image definitions: ${families}; loaded in ${loadMs.toFixed(0)} ms, ${images} (distro, arch, type) resolved and checked in ${checkMs.toFixed(0)} ms`);
  console.log(`manifests: ${inputs.length} generated in ${(totalMs / 1000).toFixed(2)} s (${(inputs.length / (totalMs / 1000)).toFixed(0)} per s)`);
  console.log(`  per manifest: median ${percentile(sorted, 50).toFixed(1)} ms, p95 ${percentile(sorted, 95).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms; ${(bytes / inputs.length / 1024).toFixed(0)} KiB and ${(sources / inputs.length).toFixed(0)} packages each on average`);
  console.log(`  byte-identical on a second run with the same seed: ${same} of ${inputs.length}`);
  console.log(`  peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  console.log('  peer: none runs here (osbuild/images needs Go ≥ 1.24)');
  if (same !== inputs.length) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\//, ''))) await main();
