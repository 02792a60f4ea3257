/**
 * A distro-shaped RPM repository for end-to-end image tests: tiny real RPMs (rpmbuild +
 * createrepo_c, through rpm-repos.ts) for every package name the given image types' package
 * sets include or exclude, read from `packageSetRequests` so the fixture follows the image
 * type data, plus comps groups (`@core`, `@Fedora Cloud Server`, …) in a comps.xml given to
 * createrepo_c with `-g`.
 *
 * What a real distro adds on top of the names is kept small and explicit below:
 * - DEPENDENCIES: a few requires chains (dnf → python3-dnf → python3 → glibc → glibc-common),
 *   a virtual provide (langpacks-en needs `langpacks-core-font-en`, provided by a font package)
 *   and weak dependencies (cloud-init recommends cloud-utils-growpart, kernel-core recommends
 *   linux-firmware). Targets that no package set names become dependency-only packages.
 * - GROUPS: members of the groups the image types use. The default members are exactly
 *   packages some image types exclude (dracut-config-rescue, firewalld, plymouth, …), so an
 *   exclude that did not reach the solver shows up in the result.
 * None of the dependencies leads to a package that an image type including its source
 * excludes (e.g. nothing the container types install requires systemd or kernel).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { packageRequests, type ResolvedImage } from '../../src/osbuild/index.js';
import type { Blueprint } from '../../src/blueprint/index.js';
import { cachedRepo, withFixtureLock, type BuiltPackage, type BuiltRepo, type RpmPackage } from './rpm-repos.js';

const run = promisify(execFile);

interface Deps {
  requires?: string[];
  recommends?: string[];
  provides?: string[];
}

export const DEPENDENCIES: Record<string, Deps> = {
  dnf: { requires: ['python3-dnf', 'rpm'] },
  'python3-dnf': { requires: ['python3', 'libdnf'] },
  libdnf: { requires: ['glibc'] },
  python3: { requires: ['glibc'] },
  glibc: { requires: ['glibc-common'] },
  'glibc-minimal-langpack': { requires: ['glibc-common'] },
  rpm: { requires: ['rpm-libs'] },
  'rpm-libs': { requires: ['glibc'] },
  bash: { requires: ['glibc', 'filesystem'] },
  filesystem: { requires: ['setup'] },
  coreutils: { requires: ['coreutils-common', 'glibc'] },
  dnf5: { requires: ['libdnf5'] },
  libdnf5: { requires: ['glibc'] },
  sudo: { requires: ['pam'] },
  'vim-minimal': { requires: ['vim-data'] },
  kernel: { requires: ['kernel-core', 'kernel-modules'] },
  'kernel-core': { requires: ['dracut'], recommends: ['linux-firmware'] },
  'dracut-config-generic': { requires: ['dracut'] },
  'dracut-config-rescue': { requires: ['dracut'] },
  dracut: { requires: ['systemd', 'kmod'] },
  'grub2-efi-x64': { requires: ['grub2-common'] },
  'grub2-efi-aa64': { requires: ['grub2-common'] },
  'grub2-pc': { requires: ['grub2-common', 'grub2-pc-modules'] },
  'grub2-tools': { requires: ['grub2-common'] },
  grub2: { requires: ['grub2-common'] },
  efibootmgr: { requires: ['efivar-libs'] },
  'cloud-init': { requires: ['python3'], recommends: ['cloud-utils-growpart'] },
  'langpacks-en': { requires: ['langpacks-core-font-en'] },
  'google-noto-sans-vf-fonts': { provides: ['langpacks-core-font-en'] },
  'NetworkManager-wifi': { requires: ['NetworkManager', 'wpa_supplicant'] },
  'NetworkManager-cloud-setup': { requires: ['NetworkManager'] },
  'selinux-policy-targeted': { requires: ['selinux-policy'] },
  policycoreutils: { requires: ['libselinux-utils'] },
  'cockpit-ws': { requires: ['cockpit-bridge'] },
  'cockpit-system': { requires: ['cockpit-bridge'] },
};

/** Virtual names → the package that provides them. */
const PROVIDERS: Record<string, string> = Object.fromEntries(
  Object.entries(DEPENDENCIES).flatMap(([name, d]) => (d.provides ?? []).map((v) => [v, name])),
);

export interface CompsGroup {
  id: string;
  name: string;
  mandatory: string[];
  default: string[];
  optional: string[];
}

/** Group members by the name or id the image types use after `@`. */
export const GROUPS: Record<string, Omit<CompsGroup, 'name'>> = {
  core: {
    id: 'core',
    mandatory: ['basesystem', 'bash', 'coreutils', 'dnf', 'NetworkManager', 'systemd'],
    default: ['dracut-config-rescue', 'firewalld', 'plymouth', 'iwl7260-firmware'],
    optional: ['core-optional-tool'],
  },
  'Fedora Cloud Server': {
    id: 'cloud-server',
    mandatory: ['basesystem', 'bash', 'cloud-init', 'NetworkManager', 'sudo'],
    default: ['dracut-config-rescue', 'firewalld', 'plymouth', 'geolite2-city', 'geolite2-country'],
    optional: ['core-optional-tool'],
  },
};

function groupFor(spec: string): CompsGroup {
  const key = spec.slice(1);
  const known = GROUPS[key];
  if (known) return { name: key, ...known };
  // A group the table does not know yet: one mandatory member, so it resolves.
  const id = key.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return { id, name: key, mandatory: [`${id}-base`], default: [], optional: [] };
}

const NOARCH = /(-firmware|-fonts|-release|-release-eula|-release-container|-data|-common)$|^(langpacks-|dracut-config-|python3-|geolite2-)|^(basesystem|setup|rootfiles|tzdata|cloud-init|cloud-utils-growpart|selinux-policy|selinux-policy-targeted|core-optional-tool)$/;

/** `fc43`, `el10`: the dist tag of the image's distro, for realistic release strings. */
export function distTag(image: ResolvedImage): string {
  return image.distro.family === 'fedora' ? `fc${image.distro.releasever}` : `el${image.distro.releasever}`;
}

export interface DistroFixture {
  packages: RpmPackage[];
  groups: CompsGroup[];
}

/**
 * The packages and groups a repository needs so that every image in `images` (one distro and
 * arch) depsolves: every included and excluded name, every group member, every dependency.
 */
export function distroFixture(images: ResolvedImage[], blueprint?: Blueprint): DistroFixture {
  if (images.length === 0) throw new Error('distro fixture: no image types');
  const { distro, arch } = images[0];
  for (const im of images) {
    if (im.distro.name !== distro.name || im.arch !== arch) throw new Error('distro fixture: images of one distro and arch only');
  }
  const names = new Set<string>();
  const groups = new Map<string, CompsGroup>();
  for (const image of images) {
    for (const chain of Object.values(packageRequests({ image, ...(blueprint ? { blueprint } : {}), seed: 0 }))) {
      for (const t of chain) {
        for (const spec of [...t.include, ...t.exclude]) {
          if (spec.startsWith('@')) {
            const g = groupFor(spec);
            groups.set(g.id, g);
            for (const m of [...g.mandatory, ...g.default, ...g.optional]) names.add(m);
          } else if (!/[*?[]/.test(spec)) {
            // A glob (upstream excludes `langpacks-*`) matches what the other names bring.
            names.add(spec);
          }
        }
      }
    }
  }
  // Close over dependencies (a required virtual name adds its provider).
  const queue = [...names];
  while (queue.length) {
    const name = queue.pop()!;
    const d = DEPENDENCIES[name];
    for (const dep of [...(d?.requires ?? []), ...(d?.recommends ?? [])]) {
      const pkg = PROVIDERS[dep] ?? dep;
      if (!names.has(pkg)) {
        names.add(pkg);
        queue.push(pkg);
      }
    }
  }
  const release = `1.${distTag(images[0])}`;
  const packages = [...names].sort().map((name): RpmPackage => {
    const d = DEPENDENCIES[name] ?? {};
    return {
      name,
      version: '1.0',
      release,
      arch: NOARCH.test(name) ? 'noarch' : arch,
      ...(d.requires ? { requires: d.requires } : {}),
      ...(d.recommends ? { recommends: d.recommends } : {}),
      ...(d.provides ? { provides: d.provides } : {}),
    };
  });
  return { packages, groups: [...groups.values()].sort((a, b) => (a.id < b.id ? -1 : 1)) };
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function compsXml(groups: CompsGroup[]): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">', '<comps>'];
  for (const g of groups) {
    lines.push('  <group>', `    <id>${xmlEscape(g.id)}</id>`, `    <name>${xmlEscape(g.name)}</name>`, `    <description>${xmlEscape(g.name)} (Kiln test group)</description>`);
    lines.push('    <default>false</default>', '    <uservisible>true</uservisible>', '    <packagelist>');
    for (const [type, members] of [['mandatory', g.mandatory], ['default', g.default], ['optional', g.optional]] as const) {
      for (const m of members) lines.push(`      <packagereq type="${type}">${xmlEscape(m)}</packagereq>`);
    }
    lines.push('    </packagelist>', '  </group>');
  }
  lines.push('</comps>', '');
  return lines.join('\n');
}

export interface DistroRepo extends BuiltRepo {
  groups: CompsGroup[];
  /** Absolute path of a package file from its repository-relative location. */
  file(location: string): string;
}

function withFile(repo: BuiltRepo, groups: CompsGroup[]): DistroRepo {
  return { ...repo, groups, file: (location: string) => path.join(repo.path, location) };
}

async function addComps(dir: string, groups: CompsGroup[]): Promise<void> {
  const comps = path.join(dir, 'comps.xml');
  const xml = compsXml(groups);
  const repomd = path.join(dir, 'repodata', 'repomd.xml');
  // Cached repos are shared by the run's ava processes: add the group metadata once, under a lock.
  const present = () => existsSync(comps) && readFileSync(comps, 'utf8') === xml && readFileSync(repomd, 'utf8').includes('type="group"');
  if (present()) return;
  await withFixtureLock(`${path.basename(dir)}-comps`, async () => {
    if (present()) return;
    writeFileSync(comps, xml);
    await run('createrepo_c', ['--quiet', '-g', comps, dir]);
  });
}

const memo = new Map<string, Promise<DistroRepo>>();

/**
 * The repository for `images` (built once per test run through `cachedRepo`), with its comps
 * groups. `extra` packages are added as given (e.g. what a test's customization asks for).
 */
export function distroRepo(images: ResolvedImage[], options: { blueprint?: Blueprint; extra?: RpmPackage[] } = {}): Promise<DistroRepo> {
  const fixture = distroFixture(images, options.blueprint);
  const packages = [...fixture.packages, ...(options.extra ?? [])];
  const name = `distro-${images[0].distro.name}-${images[0].arch}`;
  const key = JSON.stringify([name, packages, fixture.groups]);
  let p = memo.get(key);
  if (!p) {
    p = (async () => {
      const repo = await cachedRepo(name, packages);
      await addComps(repo.path, fixture.groups);
      return withFile(repo, fixture.groups);
    })();
    memo.set(key, p);
  }
  return p;
}

/**
 * A copy of `repo` in `dir` without the packages named in `without` (hard links, new
 * metadata, same groups): for "the repository lacks a package" cases without rebuilding RPMs.
 */
export async function repoWithout(repo: DistroRepo, without: string[], dir: string): Promise<DistroRepo> {
  const drop = new Set(without);
  for (const n of without) if (!repo.packages.some((p) => p.name === n)) throw new Error(`repoWithout: ${n} is not in the repository`);
  rmSync(dir, { recursive: true, force: true });
  const kept: BuiltPackage[] = [];
  for (const p of repo.packages) {
    if (drop.has(p.name)) continue;
    const target = path.join(dir, p.location);
    mkdirSync(path.dirname(target), { recursive: true });
    try {
      linkSync(repo.file(p.location), target);
    } catch {
      copyFileSync(repo.file(p.location), target);
    }
    kept.push(p);
  }
  const comps = path.join(dir, 'comps.xml');
  writeFileSync(comps, compsXml(repo.groups));
  await run('createrepo_c', ['--quiet', '-g', comps, dir]);
  return withFile({ path: dir, baseurl: pathToFileURL(dir).href, packages: kept }, repo.groups);
}

/** Every RPM file under a repository directory (repository-relative), for cross-checks. */
export function rpmFiles(dir: string): string[] {
  const out: string[] = [];
  for (const sub of readdirSync(dir, { withFileTypes: true })) {
    if (!sub.isDirectory() || sub.name === 'repodata') continue;
    for (const f of readdirSync(path.join(dir, sub.name))) if (f.endsWith('.rpm')) out.push(`${sub.name}/${f}`);
  }
  return out.sort();
}
