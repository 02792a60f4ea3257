import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../errors.js';
import { validate } from '../schemas.js';
import type {
  Arch,
  Distro,
  ImageConfigValues,
  ImageType,
  ImageTypeFamily,
  PackageSet,
  PartitionTable,
  Platform,
  When,
} from '../generated/image-type.schema.js';
import type { Customizations } from '../generated/customizations.schema.js';

/** Works from src/osbuild/ (tsx) and dist/osbuild/ (compiled) alike. */
export const imageTypesDir = fileURLToPath(new URL('../../image-types/', import.meta.url));

export interface DistroInfo {
  /** As Koji users pass it: fedora-43, centos-9, rhel-9.6. */
  name: string;
  family: string;
  product: string;
  osVersion: string;
  releasever: string;
  modulePlatformId: string;
  runner: string;
  uefiVendor: string;
}

/** One depsolve transaction; a package set is a chain of these, each on top of the previous. */
export interface PackageSetTransaction {
  include: string[];
  exclude: string[];
  install_weak_deps: boolean;
}

/** Package set name (`build`, `os`) → transactions in chain order. */
export type PackageSetRequests = Record<string, PackageSetTransaction[]>;

export interface ResolvedImageType {
  distro: DistroInfo;
  arch: Arch;
  /** Canonical image type name (aliases resolve to it). */
  name: string;
  kind: ImageType['kind'];
  filename: string;
  mimeType: string;
  exportPipeline: string;
  kojiExtension: string;
  defaultSize?: number;
  definition: ImageType;
  platform: Platform;
  imageConfig: ImageConfigValues;
}

export interface SupportedImage {
  distro: string;
  arch: Arch;
  imageType: string;
}

export interface LoadedFamily {
  family: ImageTypeFamily;
  file: string;
}

let families: LoadedFamily[] | undefined;

/** Loads and validates every image-types/*.json once. */
export function loadImageTypeFamilies(dir = imageTypesDir): LoadedFamily[] {
  if (families && dir === imageTypesDir) return families;
  const loaded: LoadedFamily[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const raw = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    const family = validate<ImageTypeFamily>('image-type.schema', raw, `image-types/${file}`);
    checkFamily(family, file);
    loaded.push({ family, file });
  }
  if (dir === imageTypesDir) families = loaded;
  return loaded;
}

/** Rules a JSON Schema cannot say. */
function checkFamily(family: ImageTypeFamily, file: string): void {
  const fail = (msg: string) => {
    throw new KilnError('KILN_INTERNAL', `image-types/${file}: ${msg}`);
  };
  for (const [name, it] of Object.entries(family.image_types)) {
    const roles = it.pipelines.map((p) => p.role);
    if (roles[0] !== 'build' || roles[1] !== 'os') fail(`${name}: pipelines must start with build, os`);
    if (!it.pipelines.some((p) => p.name === it.exports[0])) fail(`${name}: export ${it.exports[0]} is not a pipeline`);
    if (it.kind === 'disk') {
      if (!it.default_size) fail(`${name}: disk image types need default_size`);
      for (const [arch, platform] of Object.entries(it.platforms)) {
        const pt = platform.partition_table;
        if (!pt) fail(`${name}/${arch}: disk image types need a partition_table`);
        else if (!pt.partitions.some((p) => p.filesystem?.mountpoint === '/')) fail(`${name}/${arch}: no / partition`);
        else if (pt.partitions.some((p, i) => (p.grow === true) !== (i === pt.partitions.length - 1)))
          fail(`${name}/${arch}: exactly the last partition grows`);
      }
    }
  }
}

function expandDistro(d: Distro): { name: string; minor?: number }[] {
  if (!d.minor_versions) return [{ name: d.name }];
  const out: { name: string; minor: number }[] = [];
  for (let m = d.minor_versions.min; m <= d.minor_versions.max; m++) out.push({ name: d.name.replace('{minor}', String(m)), minor: m });
  return out;
}

function describeDistro(d: Distro): string {
  return d.minor_versions ? d.name.replace('{minor}', `<${d.minor_versions.min}-${d.minor_versions.max}>`) : d.name;
}

/**
 * Minor versions: `rhel-9.6` matches the `rhel-9.{minor}` entry when 6 lies in its
 * minor_versions range; `rhel-9` alone (no minor) is not accepted, because the runner and
 * os_version depend on the minor.
 */
function findDistro(name: string): { family: ImageTypeFamily; info: DistroInfo } | undefined {
  for (const { family } of loadImageTypeFamilies()) {
    for (const d of family.distros) {
      for (const concrete of expandDistro(d)) {
        if (concrete.name !== name) continue;
        const sub = (s: string) => (concrete.minor === undefined ? s : s.replace('{minor}', String(concrete.minor)));
        return {
          family,
          info: {
            name,
            family: family.family,
            product: d.product ?? family.family,
            osVersion: sub(d.os_version),
            releasever: sub(d.releasever),
            modulePlatformId: d.module_platform_id,
            runner: sub(d.runner),
            uefiVendor: d.uefi_vendor,
          },
        };
      }
    }
  }
  return undefined;
}

function findImageType(family: ImageTypeFamily, name: string): [string, ImageType] | undefined {
  const direct = family.image_types[name];
  if (direct) return [name, direct];
  return Object.entries(family.image_types).find(([, it]) => it.aliases?.includes(name));
}

/** Every supported (distro, arch, image type), distros with minor versions expanded. */
export function supportedImages(): SupportedImage[] {
  const out: SupportedImage[] = [];
  for (const { family } of loadImageTypeFamilies()) {
    for (const d of family.distros) {
      for (const { name } of expandDistro(d)) {
        for (const [typeName, it] of Object.entries(family.image_types)) {
          for (const arch of Object.keys(it.platforms) as Arch[]) out.push({ distro: name, arch, imageType: typeName });
        }
      }
    }
  }
  return out;
}

function unsupported(message: string, details: Record<string, unknown>): KilnError {
  return new KilnError('KILN_UNSUPPORTED_IMAGE', message, { details });
}

/**
 * Looks up distro × arch × image type (aliases accepted). Anything unknown throws
 * KILN_UNSUPPORTED_IMAGE whose message lists what is supported at that level.
 */
export function resolveImageType(distro: string, arch: string, imageType: string): ResolvedImageType {
  const found = findDistro(distro);
  if (!found) {
    const all = loadImageTypeFamilies().flatMap(({ family }) => family.distros.map(describeDistro));
    throw unsupported(`unsupported distro ${JSON.stringify(distro)}; supported: ${all.join(', ')}`, { distro, supported: all });
  }
  const { family, info } = found;
  const entry = findImageType(family, imageType);
  if (!entry) {
    const types = Object.keys(family.image_types).sort();
    throw unsupported(`unsupported image type ${JSON.stringify(imageType)} for ${distro}; supported: ${types.join(', ')}`, {
      distro,
      imageType,
      supported: types,
    });
  }
  const [name, def] = entry;
  const platform = def.platforms[arch];
  if (!platform) {
    const arches = Object.keys(def.platforms).sort();
    throw unsupported(`unsupported architecture ${JSON.stringify(arch)} for ${name} on ${distro}; supported: ${arches.join(', ')}`, {
      distro,
      imageType: name,
      arch,
      supported: arches,
    });
  }
  const ctx = { distro: info, arch: arch as Arch };
  let imageConfig: ImageConfigValues = { ...def.image_config };
  for (const c of def.image_config_conditions ?? []) if (matches(c.when, ctx)) imageConfig = { ...imageConfig, ...c.set };
  return {
    distro: info,
    arch: arch as Arch,
    name,
    kind: def.kind,
    filename: def.filename,
    mimeType: def.mime_type,
    exportPipeline: def.exports[0],
    kojiExtension: splitExtension(def.filename),
    ...(def.default_size ? { defaultSize: def.default_size } : {}),
    definition: def,
    platform,
    imageConfig,
  };
}

/** Family build root set, needed by resolved image types; kept out of ResolvedImageType's surface. */
function familyOf(image: ResolvedImageType): ImageTypeFamily {
  const fam = loadImageTypeFamilies().find(({ family }) => family.family === image.distro.family);
  if (!fam) throw new KilnError('KILN_INTERNAL', `no image type family ${image.distro.family}`);
  return fam.family;
}

function versionTuple(v: string): [number, number] {
  const [maj, min] = v.split('.');
  return [Number(maj), Number(min ?? 0)];
}

function compareVersions(a: string, b: string): number {
  const [a1, a2] = versionTuple(a);
  const [b1, b2] = versionTuple(b);
  return a1 - b1 || a2 - b2;
}

function matches(when: When, ctx: { distro: DistroInfo; arch: Arch }): boolean {
  if (when.arch && !when.arch.includes(ctx.arch)) return false;
  if (when.distro && !when.distro.some((d) => (d.endsWith('-') ? ctx.distro.name.startsWith(d) : ctx.distro.name === d))) return false;
  if (when.version_at_least && compareVersions(ctx.distro.osVersion, when.version_at_least) < 0) return false;
  if (when.version_below && compareVersions(ctx.distro.osVersion, when.version_below) >= 0) return false;
  return true;
}

function uniq(list: string[]): string[] {
  return [...new Set(list)];
}

function evalPackageSet(set: PackageSet | undefined, ctx: { distro: DistroInfo; arch: Arch }): PackageSetTransaction {
  const include = [...(set?.include ?? [])];
  const exclude = [...(set?.exclude ?? [])];
  for (const c of set?.conditions ?? []) {
    if (!matches(c.when, ctx)) continue;
    include.push(...(c.include ?? []));
    exclude.push(...(c.exclude ?? []));
  }
  return { include: uniq(include), exclude: uniq(exclude), install_weak_deps: set?.install_weak_deps ?? false };
}

/**
 * What the depsolve job must resolve: package set name → chain of transactions. The OS set's
 * customization packages form a second transaction on top of the image type's own (as
 * osbuild/images chains blueprint packages), so they cannot undo the type's excludes.
 * The depsolve result is expected per name: the final transaction's full package list.
 */
export function packageSetRequests(image: ResolvedImageType, customizations: Customizations = {}): PackageSetRequests {
  const ctx = { distro: image.distro, arch: image.arch };
  const build = evalPackageSet(familyOf(image).build_package_set, ctx);
  const typeBuild = evalPackageSet(image.definition.package_sets.build, ctx);
  build.include = uniq([...build.include, ...typeBuild.include, ...(image.platform.build_packages ?? [])]);
  build.exclude = uniq([...build.exclude, ...typeBuild.exclude]);
  const os = evalPackageSet(image.definition.package_sets.os, ctx);
  os.include = uniq([...os.include, ...(image.platform.packages ?? [])]);
  const osChain = [os];
  const extra = uniq(customizations.packages ?? []);
  if (extra.length > 0) osChain.push({ include: extra, exclude: [], install_weak_deps: os.install_weak_deps });
  return { build: [build], os: osChain };
}

/**
 * Pipeline names by role, as composer reports them (`pipeline_names`): build pipelines make
 * buildroots in the CG metadata, payload pipelines make the image.
 */
export function pipelineNames(image: ResolvedImageType): { build: string[]; payload: string[] } {
  const build = image.definition.pipelines.filter((p) => p.role === 'build').map((p) => p.name);
  const payload = image.definition.pipelines.filter((p) => p.role !== 'build').map((p) => p.name);
  return { build, payload };
}

/** Koji's rule (composer splitExtension): everything from the first dot of the file name. */
export function splitExtension(filename: string): string {
  const base = path.posix.basename(filename);
  const dot = base.indexOf('.');
  return dot < 0 ? '' : base.slice(dot);
}

/** `<name>-<version>-<release>.<arch><ext>` as the incumbent names Koji image files. */
export function kojiFilename(nvr: { name: string; version: string; release: string }, image: Pick<ResolvedImageType, 'arch' | 'filename'>): string {
  return `${nvr.name}-${nvr.version}-${nvr.release}.${image.arch}${splitExtension(image.filename)}`;
}

export type { Arch, PartitionTable };
