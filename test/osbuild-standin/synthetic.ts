/** A synthetic depsolve result: one package per requested spec, deterministic checksums and URLs. */
import { createHash } from 'node:crypto';
import { pullsCommit, usesOstree, type ManifestPackage, type PackageRequests, type PipelinePackages, type ResolvedImage, type ResolvedOstreeCommits } from '../../src/osbuild/index.js';
import { containerPlatform, type BootcInfo, type FlatpakSpec } from '../../src/containers/index.js';
import type { Blueprint } from '../../src/blueprint/index.js';
import { bootcInfo, bootcInstallerInfo } from '../helpers/bootc.js';

export function syntheticPackage(name: string, arch: string, release = '1.fc43'): ManifestPackage {
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
    remote_location: `https://repo.example.com/synthetic/${arch}/Packages/${clean[0]}/${file}`,
    checksum: `sha256:${createHash('sha256').update(file).digest('hex')}`,
    check_gpg: false,
  };
}

/** Each transaction gets one package per spec it asks for (the first also a few every system has). */
export function syntheticDepsolve(requests: PackageRequests, arch: string): PipelinePackages {
  const out: PipelinePackages = {};
  for (const [name, chain] of Object.entries(requests)) {
    const seen = new Set<string>();
    out[name] = chain.map((t, i) => {
      const specs: string[] = [];
      for (const s of [...(i === 0 ? ['filesystem', 'glibc', 'bash'] : []), ...t.include]) {
        if (seen.has(s)) continue;
        seen.add(s);
        specs.push(s);
      }
      return specs.map((s) => syntheticPackage(s, arch));
    });
  }
  return out;
}

/**
 * What the depsolve job would add for an image of a kind that needs more than packages: an
 * ostree type's repository and resolved commit, a bootc image's container information, the
 * blueprint customizations a type requires.
 */
export function syntheticImageInputs(image: ResolvedImage): { ostree?: { url: string }; ostreeCommits?: ResolvedOstreeCommits; bootc?: BootcInfo; blueprint?: Blueprint; flatpaks?: FlatpakSpec[] } {
  if (image.kind === 'bootable_container') return { bootc: bootcInfo({}, image.arch) };
  // bootc ISOs: a container with a kernel, and a payload (the generic ISO's is optional)
  if (image.kind === 'bootc_installer' || image.kind === 'bootc_generic_iso') return { bootc: bootcInstallerInfo({}, image.arch) };
  // what a type requires of the blueprint (the simplified installers' target disk)
  const blueprint: Blueprint | undefined = image.requiredCustomizations.includes('customizations.installation_device') ? { customizations: { installation_device: '/dev/vda' } } : undefined;
  if (!usesOstree(image)) return blueprint ? { blueprint } : {};
  const commit = { url: 'https://ostree.example.test/repo', ref: image.ostree!.ref!, checksum: 'a'.repeat(64) };
  const flatpaks = image.kind === 'ostree_installer' ? syntheticFlatpaks(image) : [];
  return { ostree: { url: commit.url }, ostreeCommits: pullsCommit(image.kind) ? { payload: commit } : { parent: commit }, ...(blueprint ? { blueprint } : {}), ...(flatpaks.length ? { flatpaks } : {}) };
}

/** Each of the type's flatpak references pinned to made-up digests (as osbuild/images' manifestmock does). */
export function syntheticFlatpaks(image: ResolvedImage): FlatpakSpec[] {
  const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
  return (image.installerConfig.flatpaks ?? []).flatMap((f) =>
    f.references.map((ref) => {
      const repo = `flatpaks/${ref.split('/')[1].toLowerCase()}`;
      return { ref, source: `registry.example.test/${repo}`, digest: digest(`${ref} digest`), image_id: digest(`${ref} image id`), local_name: repo, arch: containerPlatform(image.arch).architecture };
    }),
  );
}
