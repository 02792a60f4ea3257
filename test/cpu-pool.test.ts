import test from 'ava';
import { generateManifestOffThread, closeCpuPool } from '../src/jobs/cpu-pool.js';
import { packageRequests, resolveImage } from '../src/osbuild/index.js';
import type { DepsolveResult } from '../src/depsolve/index.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';

test.after.always(() => closeCpuPool());

/** The synthetic package sets in the shape the depsolve job stores. */
function depsolveResults(): Record<string, DepsolveResult> {
  const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const sets = syntheticDepsolve(packageRequests({ image, seed: '1' }), 'x86_64');
  const out: Record<string, DepsolveResult> = {};
  for (const [name, transactions] of Object.entries(sets)) {
    out[name] = {
      solver: 'dnf',
      api_version: 1,
      transactions: transactions.map((packages) => ({ packages: packages.map(({ check_gpg: _, ...p }) => ({ ...p, repo_id: 'synthetic', location: `Packages/${p.name}.rpm` })) })),
      repos: [{ id: 'synthetic', gpgcheck: false, repo_gpgcheck: false, gpgkeys: [], sslverify: true }],
    } as unknown as DepsolveResult;
  }
  return out;
}

test('manifests are generated on a worker thread, byte-identical for the same input; errors keep their code', async (t) => {
  const input = { distribution: 'fedora-43', arch: 'x86_64', imageType: 'guest-image', packageSets: depsolveResults(), seed: '1' };
  const [a, b] = await Promise.all([generateManifestOffThread(input), generateManifestOffThread(input)]);
  t.is(a, b);
  const manifest = JSON.parse(a);
  t.is(manifest.version, '2');
  t.true(Object.keys(manifest.sources['org.osbuild.curl'].items).length > 10);
  const err = await t.throwsAsync(generateManifestOffThread({ ...input, imageType: 'no-such-type' }));
  t.is((err as { code?: string }).code, 'KILN_UNSUPPORTED_IMAGE');
  t.regex(err!.message, /supported: /);
});
