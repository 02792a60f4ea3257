/** A synthetic depsolve result: one package per requested spec, deterministic checksums and URLs. */
import { createHash } from 'node:crypto';
import type { DepsolvedPackage, DepsolvedPackageSets, PackageSetRequests } from '../../src/osbuild/index.js';

export function syntheticPackage(name: string, arch: string, release = '1.fc43'): DepsolvedPackage {
  const clean = name.replace(/^@/, 'group-').replace(/[^A-Za-z0-9._+-]/g, '-');
  const version = '1.0';
  const pkgArch = clean.endsWith('-firmware') ? 'noarch' : arch;
  const file = `${clean}-${version}-${release}.${pkgArch}.rpm`;
  return {
    name: clean,
    epoch: 0,
    version,
    release,
    arch: pkgArch,
    repo_id: 'synthetic',
    remote_location: `https://repo.example.com/synthetic/${arch}/Packages/${clean[0]}/${file}`,
    checksum: `sha256:${createHash('sha256').update(file).digest('hex')}`,
  };
}

export function syntheticDepsolve(requests: PackageSetRequests, arch: string): DepsolvedPackageSets {
  const out: DepsolvedPackageSets = {};
  for (const [name, chain] of Object.entries(requests)) {
    const specs = new Set(['filesystem', 'glibc', 'bash', ...chain.flatMap((t) => t.include)]);
    out[name] = [...specs].map((s) => syntheticPackage(s, arch));
  }
  return out;
}
