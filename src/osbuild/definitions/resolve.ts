/**
 * From the catalog to one image: distro release × image type × architecture → a resolved
 * definition with every block looked up, inheritance flattened and every condition evaluated.
 * Merge rules (as osbuild/images applies them):
 * - image config: fragments in order (the distro's, then the type's); each key a fragment or a
 *   matching `merge` condition sets replaces the key as a whole; `append` adds to a list;
 * - package sets: entries and matching conditions append; the result is sorted;
 * - partition tables and platforms: a matching condition replaces the whole block;
 * - image types: `inherits` takes the parent's keys, every key given replaces the parent's.
 */
import { KilnError } from '../../errors.js';
import type {
  Distro,
  ImageConfig,
  ImageConfigFragment,
  ImageType,
  InstallerConfig,
  InstallerConfigFragment,
  IsoConfig,
  IsoConfigFragment,
  PackageSetEntry,
  PartitionTable as PartitionTableDef,
  Platform,
} from '../../generated/image-definitions.schema.js';
import { fromDefinition, TableDefinitionError, type FsType, type PartitionTable } from '../partitions/model.js';
import { describeWhen, matches, type ConditionContext } from './conditions.js';
import { ImageDefinitionError, imageConfigListKeys, loadCatalog, type Catalog, type Family, type LoadOptions } from './load.js';
import { GiB, parseSize } from './sizes.js';

export type Arch = 'x86_64' | 'aarch64' | 'ppc64le' | 's390x' | 'riscv64';

export interface ResolvedDistro {
  /** As Koji users pass it: fedora-43, centos-9, rhel-9.6. */
  name: string;
  family: string;
  /** The distro entry: fedora, rhel-9, centos-9. */
  id: string;
  /** Name without version: fedora, rhel, centos. */
  distroName: string;
  major: number;
  minor?: number;
  preview: boolean;
  product: string;
  vendor?: string;
  codename?: string;
  osVersion: string;
  releasever: string;
  modulePlatformId: string;
  runner: string;
  runnerBuildPackages: string[];
  defaultFsType: FsType;
  isoLabelTemplate?: string;
  oscapProfiles: string[];
  rpmkeysBinary?: string;
  ignoreBuildKeyImportFailures: boolean;
}

export interface ResolvedPlatform {
  arch: Arch;
  imageFormat?: NonNullable<Platform['image_format']>;
  qcow2Compat?: string;
  biosPlatform?: string;
  uefiVendor?: string;
  extraUefiArchitectures: string[];
  zipl: boolean;
  bootloader: NonNullable<Platform['bootloader']>;
  fipsMenu: boolean;
  packages: string[];
  buildPackages: string[];
  bootFiles: { src: string; dst: string; fromBuild: boolean }[];
}

export interface ResolvedPackageSet {
  include: string[];
  exclude: string[];
}

export interface ResolvedImage {
  distro: ResolvedDistro;
  arch: Arch;
  /** Canonical image type name (aliases resolve to it). */
  name: string;
  aliases: string[];
  kind: NonNullable<ImageType['kind']>;
  filename: string;
  mimeType: string;
  compression?: NonNullable<ImageType['compression']>;
  /** The pipeline osbuild exports (the image's file is in it). */
  exportPipeline: string;
  bootable: boolean;
  bootIso: boolean;
  isoLabel?: string;
  variant?: string;
  defaultSize?: number;
  requiredDirectorySizes: Record<string, number>;
  /** The base table for this architecture (sizes are minimums; laid out per build). */
  partitionTable?: PartitionTable;
  partitioningModes?: string[];
  vpcForceSize?: boolean;
  platform: ResolvedPlatform;
  packageSets: Record<string, ResolvedPackageSet>;
  environment: { packages: string[]; services: string[] };
  imageConfig: ImageConfig;
  installerConfig: InstallerConfig;
  isoConfig: IsoConfig;
  /** The ISO volume label: the distro's iso_label template with this type's iso_label and the arch. */
  isoVolumeLabel?: string;
  ostree?: { name?: string; remoteName?: string; ref?: string; url?: string };
  useOstreeRemotes: boolean;
  /** Blueprint customization paths the type takes; undefined: no restriction declared. */
  supportedCustomizations?: string[];
  requiredCustomizations: string[];
  /** Where the definition came from (for messages). */
  source: string;
}

export interface ImageChoice {
  distro: string;
  arch: Arch;
  imageType: string;
}

let defaultOptions: LoadOptions = {};
let cached: Catalog | undefined;

/** Which drop-in directory the process's catalog reads (serve and worker set it from the config at start). */
export function useImageDefinitions(options: LoadOptions): Catalog {
  defaultOptions = options;
  cached = loadCatalog(options);
  checkCatalog(cached);
  return cached;
}

export function imageCatalog(): Catalog {
  return (cached ??= loadCatalog(defaultOptions));
}

export function imageDefinitionOptions(): LoadOptions {
  return defaultOptions;
}

function unsupported(message: string, details: Record<string, unknown>): KilnError {
  return new KilnError('KILN_UNSUPPORTED_IMAGE', message, { details });
}

interface DistroMatch {
  family: Family;
  id: string;
  def: Distro;
  file: string;
  major: number;
  minor?: number;
}

function template(s: string, vars: Record<string, string | number | undefined>): string {
  return s.replace(/\{([a-z_]+)\}/g, (whole, key: string) => (vars[key] === undefined ? whole : String(vars[key])));
}

const distroMemo = new WeakMap<Catalog, DistroMatch[]>();

/** Every distro name a catalog covers (releases expanded), with the entry it comes from. */
export function distroNames(catalog: Catalog): DistroMatch[] {
  const known = distroMemo.get(catalog);
  if (known) return known;
  const out: DistroMatch[] = [];
  for (const family of catalog.families.values()) {
    for (const [id, { value: def, file }] of family.distros) {
      if (!def.name) continue;
      const releases = Object.keys(def.releases ?? {}).map(Number).sort((a, b) => a - b);
      if (def.name.includes('{minor}')) {
        for (const minor of releases) out.push({ family, id, def, file, major: def.major!, minor });
      } else if (def.name.includes('{major}')) {
        for (const major of releases) out.push({ family, id, def, file, major });
      } else {
        out.push({ family, id, def, file, major: def.major! });
      }
    }
  }
  distroMemo.set(catalog, out);
  return out;
}

function nameOf(m: DistroMatch): string {
  return template(m.def.name!, { major: m.major, minor: m.minor });
}

function findDistro(catalog: Catalog, name: string): DistroMatch | undefined {
  return distroNames(catalog).find((m) => nameOf(m) === name);
}

function resolveDistro(m: DistroMatch): ResolvedDistro {
  const d = m.def;
  const field = (key: string) => {
    throw new ImageDefinitionError(m.file, `distros.${m.id}.${key}`, 'is required');
  };
  const vars = { major: m.major, minor: m.minor };
  const distroName = d.name!.slice(0, d.name!.indexOf('-'));
  const ctx: ConditionContext = { distroName, major: m.major, minor: m.minor, arch: '' };
  const conditional = <T>(list: { when: Parameters<typeof matches>[0]; value?: T }[] | undefined) => list?.find((c) => matches(c.when, ctx));
  return {
    name: nameOf(m),
    family: m.family.name,
    id: m.id,
    distroName,
    major: m.major,
    ...(m.minor !== undefined ? { minor: m.minor } : {}),
    preview: d.releases?.[String(m.minor ?? m.major)]?.preview ?? false,
    product: d.product ?? field('product'),
    ...(d.vendor ? { vendor: d.vendor } : {}),
    ...(d.codename ? { codename: d.codename } : {}),
    osVersion: template(d.os_version ?? field('os_version'), vars),
    releasever: template(d.releasever ?? field('releasever'), vars),
    modulePlatformId: template(d.module_platform_id ?? field('module_platform_id'), vars),
    runner: template(d.runner?.name ?? field('runner'), vars),
    runnerBuildPackages: [...(d.runner?.build_packages ?? [])],
    defaultFsType: d.default_fs_type ?? field('default_fs_type'),
    ...(d.iso_label ? { isoLabelTemplate: d.iso_label } : {}),
    oscapProfiles: [...(d.oscap_profiles ?? [])],
    ...(conditional(d.rpmkeys_binary) ? { rpmkeysBinary: conditional(d.rpmkeys_binary)!.value } : {}),
    ignoreBuildKeyImportFailures: !!conditional(d.ignore_build_key_import_failures),
  };
}

const flattened = new WeakMap<Family, Map<string, { def: ImageType; file: string }>>();

/** The type with its `inherits` chain flattened: each key from the nearest type that sets it. */
function flatten(family: Family, name: string): { def: ImageType; file: string } {
  let memo = flattened.get(family);
  if (!memo) flattened.set(family, (memo = new Map()));
  const known = memo.get(name);
  if (known) return known;
  const entry = family.imageTypes.get(name)!;
  let out: { def: ImageType; file: string };
  if (!entry.value.inherits) out = { def: entry.value, file: entry.file };
  else {
    const parent = flatten(family, entry.value.inherits);
    const { inherits: _, ...own } = entry.value;
    out = { def: { ...parent.def, ...own }, file: entry.file };
  }
  memo.set(name, out);
  return out;
}

function findType(family: Family, name: string): string | undefined {
  if (family.imageTypes.has(name)) return name;
  for (const [typeName] of family.imageTypes) if ((flatten(family, typeName).def.aliases ?? []).includes(name)) return typeName;
  return undefined;
}

function isImageType(family: Family, name: string): boolean {
  const { def } = flatten(family, name);
  return def.kind !== undefined && def.filename !== undefined;
}

function resolvePlatform(family: Family, p: Platform, arch: Arch, vars: Record<string, string | number | undefined>, seen = new Set<string>()): ResolvedPlatform {
  let base: ResolvedPlatform = {
    arch,
    extraUefiArchitectures: [],
    zipl: false,
    bootloader: 'none',
    fipsMenu: false,
    packages: [],
    buildPackages: [],
    bootFiles: [],
  };
  if (p.use !== undefined) {
    if (seen.has(p.use)) throw new ImageDefinitionError(family.blocks.platforms.get(p.use)!.file, `platforms.${p.use}.use`, `uses itself through ${[...seen].join(' → ')}`);
    base = resolvePlatform(family, family.blocks.platforms.get(p.use)!.value, arch, vars, new Set([...seen, p.use]));
  }
  const out: ResolvedPlatform = { ...base, packages: [...base.packages], buildPackages: [...base.buildPackages], bootFiles: [...base.bootFiles] };
  if (p.image_format !== undefined) out.imageFormat = p.image_format;
  if (p.qcow2_compat !== undefined) out.qcow2Compat = p.qcow2_compat;
  if (p.bios_platform !== undefined) out.biosPlatform = p.bios_platform;
  if (p.uefi_vendor !== undefined) out.uefiVendor = template(p.uefi_vendor, vars);
  if (p.extra_uefi_architectures !== undefined) out.extraUefiArchitectures = [...p.extra_uefi_architectures];
  if (p.zipl !== undefined) out.zipl = p.zipl;
  if (p.bootloader !== undefined) out.bootloader = p.bootloader;
  if (p.fips_menu !== undefined) out.fipsMenu = p.fips_menu;
  out.packages.push(...(p.packages ?? []));
  out.buildPackages.push(...(p.build_packages ?? []));
  out.bootFiles.push(...(p.boot_files ?? []).map((f) => ({ src: f.src, dst: f.dst, fromBuild: f.from_build ?? false })));
  if (out.bootloader === 'none' && (out.biosPlatform || out.uefiVendor)) out.bootloader = 'grub2';
  if (out.bootloader === 'none' && out.zipl) out.bootloader = 'zipl';
  return out;
}

function packageEntry(family: Family, e: PackageSetEntry, ctx: ConditionContext, into: ResolvedPackageSet): void {
  if (e.use !== undefined) return packageEntry(family, family.blocks.package_sets.get(e.use)!.value, ctx, into);
  into.include.push(...(e.include ?? []));
  into.exclude.push(...(e.exclude ?? []));
  for (const c of e.conditions ?? []) {
    if (!matches(c.when, ctx)) continue;
    into.include.push(...(c.append.include ?? []));
    into.exclude.push(...(c.append.exclude ?? []));
  }
}

const sortedUnique = (list: string[]) => [...new Set(list)].sort();

/** Applies image-config fragments in order onto `into`; `file`/`field` name where a clash was written. */
function applyConfig(family: Family, fragments: ImageConfigFragment[], ctx: ConditionContext, into: Record<string, unknown>, listKeys: Set<string>): void {
  for (const fragment of fragments) {
    const { use, conditions, ...own } = fragment;
    for (const name of use === undefined ? [] : Array.isArray(use) ? use : [use]) applyConfig(family, [family.blocks.image_configs.get(name)!.value], ctx, into, listKeys);
    Object.assign(into, structuredClone(own));
    for (const c of conditions ?? []) {
      if (!matches(c.when, ctx)) continue;
      if (c.merge) Object.assign(into, structuredClone(c.merge));
      for (const [key, value] of Object.entries(c.append ?? {})) {
        if (!listKeys.has(key)) continue; // the loader refuses append to non-lists
        into[key] = [...((into[key] as unknown[] | undefined) ?? []), ...structuredClone(value as unknown[])];
      }
    }
  }
}

/** Installer and ISO config fragments in order: `use`d block, own keys, matching conditions; each key set replaces. */
function applyInstallerLike<F extends { use?: string; conditions?: { when: Parameters<typeof matches>[0]; merge: object }[] }>(
  fragments: F[] | undefined,
  blocks: Map<string, { value: F }>,
  ctx: ConditionContext,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const fragment of fragments ?? []) {
    const { use, conditions, ...own } = fragment;
    if (use !== undefined) Object.assign(out, applyInstallerLike([blocks.get(use)!.value], blocks, ctx));
    Object.assign(out, structuredClone(own));
    for (const c of conditions ?? []) if (matches(c.when, ctx)) Object.assign(out, structuredClone(c.merge));
  }
  return out;
}

/** Flatpak references are templates over the distro and arch (upstream's WithExpandTemplates). */
function withFlatpakRefs(config: InstallerConfig, vars: Record<string, string | number | undefined>): InstallerConfig {
  if (!config.flatpaks) return config;
  return { ...config, flatpaks: config.flatpaks.map((f) => ({ ...f, references: f.references.map((r) => template(r, vars)) as typeof f.references })) };
}

const DEFAULT_DIRECTORY_SIZES = { '/': 1 * GiB, '/usr': 2 * GiB };

/** What a build knows only once its inputs are resolved (a bootable container's root file system). */
export interface ResolveOverrides {
  defaultFsType?: FsType;
}

/**
 * Resolves distro × arch × image type (aliases accepted). Anything unknown throws
 * KILN_UNSUPPORTED_IMAGE whose message lists what is supported at that level.
 */
export function resolveImage(distro: string, arch: string, imageType: string, catalog: Catalog = imageCatalog(), overrides: ResolveOverrides = {}): ResolvedImage {
  const m = findDistro(catalog, distro);
  if (!m) {
    const all = distroNames(catalog).map(nameOf);
    throw unsupported(`unsupported distro ${JSON.stringify(distro)}; supported: ${all.join(', ')}`, { distro, supported: all });
  }
  const family = m.family;
  const dist = { ...resolveDistro(m), ...(overrides.defaultFsType ? { defaultFsType: overrides.defaultFsType } : {}) };
  const ctx: ConditionContext = { distroName: dist.distroName, major: dist.major, minor: dist.minor, arch };
  const offered = [...family.imageTypes.keys()].filter((t) => isImageType(family, t) && available(family, t, { ...ctx, arch: '' }, true)).sort();
  const name = findType(family, imageType);
  if (!name || !isImageType(family, name) || !available(family, name, { ...ctx, arch: '' }, true)) {
    const withAliases = offered.map((t) => {
      const aliases = flatten(family, t).def.aliases ?? [];
      return aliases.length ? `${t} (${aliases.join(', ')})` : t;
    });
    throw unsupported(`unsupported image type ${JSON.stringify(imageType)} for ${distro}; supported: ${withAliases.join(', ')}`, { distro, imageType, supported: offered });
  }
  const { def, file } = flatten(family, name);
  const arches = platformsFor(def, ctx);
  const platformDef = arches[arch as Arch];
  if (!platformDef || !available(family, name, ctx, false)) {
    const supportedArches = Object.keys(arches).filter((a) => available(family, name, { ...ctx, arch: a }, false)).sort();
    throw unsupported(`unsupported architecture ${JSON.stringify(arch)} for ${name} on ${distro}; supported: ${supportedArches.join(', ')}`, {
      distro,
      imageType: name,
      arch,
      supported: supportedArches,
    });
  }
  return resolveWith(family, m, dist, name, def, file, arch as Arch, ctx);
}

/** Where the type is not offered (its `unavailable` conditions); `ignoreArch` skips arch-bound ones. */
function available(family: Family, name: string, ctx: ConditionContext, ignoreArch: boolean): boolean {
  const { def } = flatten(family, name);
  return !(def.unavailable ?? []).some((u) => (ignoreArch && (u.when.arch || u.when.not_arch) ? false : matches(u.when, ctx)));
}

function platformsFor(def: ImageType, ctx: ConditionContext): Partial<Record<Arch, Platform>> {
  const hits = (def.platforms?.conditions ?? []).filter((c) => matches(c.when, { ...ctx, arch: '' }));
  return (hits.length ? hits[hits.length - 1].override : def.platforms?.arches) ?? {};
}

function resolveWith(family: Family, m: DistroMatch, dist: ResolvedDistro, name: string, def: ImageType, file: string, arch: Arch, ctx: ConditionContext): ResolvedImage {
  const vars = { major: dist.major, minor: dist.minor, vendor: dist.vendor, arch, product: dist.product, distro: dist.distroName };
  const platform = resolvePlatform(family, platformsFor(def, ctx)[arch]!, arch, vars);

  const packageSets: Record<string, ResolvedPackageSet> = {};
  for (const [set, entries] of Object.entries(def.package_sets ?? {})) {
    const into: ResolvedPackageSet = { include: [], exclude: [] };
    for (const e of entries) packageEntry(family, e, ctx, into);
    packageSets[set] = { include: sortedUnique(into.include), exclude: sortedUnique(into.exclude) };
  }

  const listKeys = imageConfigListKeys();
  const distroConfig: Record<string, unknown> = {};
  applyConfig(family, m.def.image_config ?? [], ctx, distroConfig, listKeys);
  const typeConfig: Record<string, unknown> = {};
  applyConfig(family, def.image_config ?? [], ctx, typeConfig, listKeys);
  const imageConfig = { ...distroConfig, ...typeConfig } as ImageConfig;

  let partitionTable: PartitionTable | undefined;
  if (def.partition_table) {
    const pt = def.partition_table;
    let tables = pt.use !== undefined ? family.blocks.partition_tables.get(pt.use)!.value : pt.tables!;
    let where = pt.use !== undefined ? `partition_tables.${pt.use}` : `image_types.${name}.partition_table.tables`;
    const hits = (pt.conditions ?? []).filter((c) => matches(c.when, ctx));
    if (hits.length > 1) {
      throw new ImageDefinitionError(file, `image_types.${name}.partition_table.conditions`, `more than one override matches ${dist.name} ${arch}: ${hits.map((h) => `${describeWhen(h.when)} (${h.reason})`).join('; ')}`);
    }
    if (hits.length) {
      const o = hits[0].override;
      tables = o.use !== undefined ? family.blocks.partition_tables.get(o.use)!.value : o.tables!;
      where = o.use !== undefined ? `partition_tables.${o.use}` : `image_types.${name}.partition_table.conditions`;
    }
    const table = tables[arch] as PartitionTableDef | undefined;
    if (!table) throw new ImageDefinitionError(file, where, `has no table for ${arch}, which image type ${name} is offered on`);
    try {
      partitionTable = fromDefinition(table, arch, dist.defaultFsType);
    } catch (err) {
      if (err instanceof TableDefinitionError) throw new ImageDefinitionError(file, `${where}.${arch}.${err.field}`, err.message);
      throw err;
    }
  }

  const env = typeof def.environment === 'string' ? family.blocks.environments.get(def.environment)!.value : def.environment;
  const dirSizes = typeof def.required_directory_sizes === 'string' ? family.blocks.directory_sizes.get(def.required_directory_sizes)!.value : def.required_directory_sizes;
  const supported = def.customizations?.supported?.flatMap((s) => (typeof s === 'string' ? [s] : family.blocks.option_lists.get(s.use)!.value));

  return {
    distro: dist,
    arch,
    name,
    aliases: [...(def.aliases ?? [])],
    kind: def.kind!,
    filename: def.filename!,
    mimeType: def.mime_type ?? 'application/octet-stream',
    ...(def.compression ? { compression: def.compression } : {}),
    exportPipeline: def.exports?.[0] ?? exportOf(def),
    bootable: def.bootable ?? false,
    bootIso: def.boot_iso ?? false,
    ...(def.iso_label ? { isoLabel: def.iso_label } : {}),
    ...(def.variant ? { variant: def.variant } : {}),
    ...(def.default_size !== undefined ? { defaultSize: parseSize(def.default_size)! } : {}),
    requiredDirectorySizes: dirSizes ? Object.fromEntries(Object.entries(dirSizes).map(([d, s]) => [d, parseSize(s)!])) : partitionTable ? { ...DEFAULT_DIRECTORY_SIZES } : {},
    ...(partitionTable ? { partitionTable } : {}),
    ...(def.partitioning_modes ? { partitioningModes: [...def.partitioning_modes] } : {}),
    ...(def.vpc_force_size !== undefined ? { vpcForceSize: def.vpc_force_size } : {}),
    platform,
    packageSets,
    environment: { packages: [...(env?.packages ?? [])], services: [...(env?.services ?? [])] },
    imageConfig,
    installerConfig: withFlatpakRefs(applyInstallerLike<InstallerConfigFragment>(def.installer_config, family.blocks.installer_configs, ctx) as InstallerConfig, vars),
    isoConfig: applyInstallerLike<IsoConfigFragment>(def.iso_config, family.blocks.iso_configs, ctx) as IsoConfig,
    ...(def.boot_iso && dist.isoLabelTemplate ? { isoVolumeLabel: template(dist.isoLabelTemplate, { ...vars, iso_label: def.iso_label ?? '' }) } : {}),
    ...(def.ostree ? { ostree: { name: def.ostree.name, remoteName: def.ostree.remote_name, ...(def.ostree.ref ? { ref: template(def.ostree.ref, vars) } : {}), url: def.ostree.url } } : {}),
    useOstreeRemotes: def.use_ostree_remotes ?? false,
    ...(supported ? { supportedCustomizations: sortedUnique(supported) } : {}),
    requiredCustomizations: [...(def.customizations?.required ?? [])],
    source: file,
  };
}

/** The pipeline a kind exports when the definition names none. */
function exportOf(def: ImageType): string {
  if (def.compression) return def.compression;
  return 'image';
}

/** Every (distro, arch, image type) the catalog offers, distros with releases expanded. */
export function supportedImages(catalog: Catalog = imageCatalog()): ImageChoice[] {
  const out: ImageChoice[] = [];
  for (const m of distroNames(catalog)) {
    const dist = resolveDistro(m);
    const ctx: ConditionContext = { distroName: dist.distroName, major: dist.major, minor: dist.minor, arch: '' };
    for (const name of [...m.family.imageTypes.keys()].sort()) {
      if (!isImageType(m.family, name)) continue;
      const { def } = flatten(m.family, name);
      for (const arch of Object.keys(platformsFor(def, ctx)).sort() as Arch[]) {
        if (available(m.family, name, { ...ctx, arch }, false)) out.push({ distro: dist.name, arch, imageType: name });
      }
    }
  }
  return out;
}

/**
 * Resolves every image the catalog offers, so a broken block (a missing table for an arch, two
 * overrides that match at once) stops Kiln at start with the file and field, not a build later.
 */
export function checkCatalog(catalog: Catalog): number {
  const images = supportedImages(catalog);
  for (const i of images) resolveImage(i.distro, i.arch, i.imageType, catalog);
  return images.length;
}
