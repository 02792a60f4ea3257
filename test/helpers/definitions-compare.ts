/**
 * The golden comparison: Kiln's resolved definitions against osbuild/images' (resolved by
 * upstream-defs.ts), for every (distro, arch, type) either side offers among the kinds Kiln
 * builds. Upstream's image-config values are Go-struct shaped where Kiln's are osbuild's stage
 * options; `upstreamConfigAsKiln` translates the former, key by key, as images' Go code does.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Catalog } from '../../src/osbuild/definitions/load.js';
import { resolveImage, supportedImages, type ResolvedImage } from '../../src/osbuild/definitions/resolve.js';
import { ensureDirectorySizes, layout } from '../../src/osbuild/partitions/layout.js';
import type { PartitionTable, Payload } from '../../src/osbuild/partitions/model.js';
import type { ComparablePartitionTable, UpstreamDefs } from './upstream-defs.js';

export interface Difference {
  /** distro/arch/type */
  where: string;
  /** What differs: aliases, package_sets.os.include, image_config.kernel_options, layout, … */
  field: string;
  kiln: unknown;
  upstream: unknown;
}

const sortU = (l: string[]) => [...new Set(l)].sort();
const capitalize = (s: string) => s[0].toUpperCase() + s.slice(1);

/** An upstream image-config value as Kiln writes it (the stage's own option shape). */
export function upstreamConfigAsKiln(key: string, value: unknown): [string, unknown] {
  const c = structuredClone(value) as any;
  switch (key) {
    case 'maskedservices':
      return ['masked_services', c];
    case 'systemd_dropin':
      return [key, c.map((d: any) => ({ ...d, config: Object.fromEntries(Object.entries(d.config).map(([section, o]: [string, any]) => [capitalize(section), Object.fromEntries(Object.entries(o).map(([k, x]) => [capitalize(k), x]))])) }))];
    case 'systemd_logind':
      return [key, c.map((d: any) => ({ ...d, config: { Login: { NAutoVTs: d.config.login.nautovts } } }))];
    case 'rhsm_config': {
      const out: Record<string, unknown> = {};
      for (const [k, r] of Object.entries<any>(c)) {
        const o: Record<string, unknown> = {};
        if (r.dnf_plugin) o['dnf-plugins'] = Object.fromEntries(Object.entries(r.dnf_plugin).map(([p, x]) => [p.replace('_', '-'), x]));
        if (r.yum_plugin) o['yum-plugins'] = Object.fromEntries(Object.entries(r.yum_plugin).map(([p, x]) => [p.replace('_', '-'), x]));
        if (r.subscription_manager) o['subscription-manager'] = r.subscription_manager;
        out[k] = o;
      }
      return [key, out];
    }
    case 'wsl': {
      const o: Record<string, unknown> = {};
      if (c.config) o.config = { boot: { systemd: c.config.boot_systemd } };
      if (c.distribution_config) o.distribution_config = c.distribution_config;
      return [key, o];
    }
    case 'dnf_config':
      if (c.options?.config?.main?.ipresolve !== undefined) {
        c.options.config.main.ip_resolve = c.options.config.main.ipresolve;
        delete c.options.config.main.ipresolve;
      }
      return [key, c];
    case 'cloud_init':
      return [key, c.map((d: any) => (d.config?.datasource?.azure ? { ...d, config: { ...d.config, datasource: { Azure: d.config.datasource.azure } } } : d))];
    case 'dracut_conf':
      return [key, c.map((d: any) => (d.config?.install ? { ...d, config: Object.fromEntries(Object.entries(d.config).map(([k, v]) => [k === 'install' ? 'install_items' : k, v])) } : d))];
    case 'udev_rules':
      return [
        key,
        {
          ...c,
          rules: c.rules.map((r: any) => (r.rule ? r.rule.map((e: any) => ({ key: e.A !== undefined ? { name: e.K, arg: e.A } : e.K, op: e.O, val: e.V })) : r)),
        },
      ];
    case 'files':
      // upstream reads `mode: 440` as decimal; the octal digits are what such a file means
      return [key, c.map((f: any) => (typeof f.mode === 'number' ? { ...f, mode: `0${f.mode.toString(8)}` } : f))];
    case 'oci':
      return [key, c.archive ? { archive: Object.fromEntries(Object.entries(c.archive).map(([k, v]) => [k === 'working_dir' ? 'WorkingDir' : k === 'exposed_ports' ? 'ExposedPorts' : k === 'stop_signal' ? 'StopSignal' : capitalize(k), v])) } : c];
    default:
      return [key, c];
  }
}

/** Disk config keys live in Kiln's image config. */
function upstreamDiskConfigAsKiln(disk: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (disk.mount_configuration !== undefined) out.mount_units = disk.mount_configuration === 'units';
  if (disk.partitioning_tool !== undefined) out.partitioning_tool = disk.partitioning_tool;
  return out;
}

function kilnTable(pt: PartitionTable | undefined): unknown {
  if (!pt) return null;
  const payload = (p: Payload | undefined): unknown => {
    if (!p) return { kind: 'none' };
    switch (p.kind) {
      case 'filesystem':
        return { kind: 'filesystem', type: p.type, uuid: p.uuid ?? '', label: p.label ?? '', mountpoint: p.mountpoint, fstab_options: p.fstabOptions, fstab_freq: p.fstabFreq, fstab_passno: p.fstabPassno };
      case 'lvm':
        return { kind: 'lvm', name: p.name, description: p.description ?? '', logical_volumes: p.logicalVolumes.map((lv) => ({ name: lv.name, size: lv.size, payload: payload(lv.payload as Payload) })) };
      case 'btrfs':
        return { kind: 'btrfs', uuid: p.uuid ?? '', label: p.label ?? '', subvolumes: p.subvolumes.map((s) => ({ name: s.name, size: s.size, mountpoint: s.mountpoint, compress: s.compress ?? '', read_only: s.readOnly ?? false })) };
      case 'luks':
        return { kind: 'luks', passphrase: p.passphrase, uuid: p.uuid ?? '', label: p.label ?? '', cipher: p.cipher ?? '', payload: payload(p.payload) };
      case 'swap':
        return { kind: 'swap', uuid: p.uuid ?? '', label: p.label ?? '', fstab_options: p.fstabOptions };
    }
  };
  return {
    type: pt.type,
    uuid: pt.uuid ?? '',
    size: pt.size,
    start_offset: pt.startOffset,
    sector_size: pt.sectorSize,
    partitions: pt.partitions.map((p) => ({ size: p.size, type: p.type ?? '', bootable: p.bootable, uuid: p.uuid ?? '', label: p.label ?? '', attrs: p.attrs ?? [], payload: payload(p.payload) })),
  };
}

function upstreamTable(pt: ComparablePartitionTable | null): unknown {
  if (!pt) return null;
  const payload = (p: any): unknown => {
    switch (p.kind) {
      case 'filesystem': {
        const { mkfs_options: _, ...rest } = p;
        return rest;
      }
      case 'lvm':
        return { kind: 'lvm', name: p.name, description: p.description ?? '', logical_volumes: p.logical_volumes.map((lv: any) => ({ name: lv.name, size: lv.size, payload: payload(lv.payload) })) };
      case 'btrfs':
        return { kind: 'btrfs', uuid: p.uuid ?? '', label: p.label ?? '', subvolumes: p.subvolumes.map((s: any) => ({ name: s.name, size: s.size ?? 0, mountpoint: s.mountpoint, compress: s.compress ?? '', read_only: s.read_only ?? false })) };
      case 'luks':
        return { kind: 'luks', passphrase: p.passphrase, uuid: p.uuid ?? '', label: p.label ?? '', cipher: p.cipher ?? '', payload: payload(p.payload) };
      case 'swap':
        return { kind: 'swap', uuid: p.uuid ?? '', label: p.label ?? '', fstab_options: p.fstab_options ?? 'defaults' };
      default:
        return p;
    }
  };
  return {
    type: pt.type,
    uuid: pt.uuid,
    size: pt.size,
    start_offset: pt.start_offset,
    sector_size: pt.sector_size,
    partitions: pt.partitions.map((p: any) => ({ size: p.size, type: p.type, bootable: p.bootable, uuid: p.uuid, label: p.label, attrs: p.attrs, payload: payload(p.payload) })),
  };
}

/** Every difference between Kiln's and upstream's definitions for these distros and kinds. */
export function compareWithUpstream(up: UpstreamDefs, catalog: Catalog, distros: readonly string[], kinds: ReadonlySet<string>): { compared: number; differences: Difference[] } {
  const differences: Difference[] = [];
  const seen = new Set<string>();
  let compared = 0;
  for (const e of up.upstreamMatrix(distros)) {
    if (!kinds.has(e.kind)) continue;
    const where = `${e.distro}/${e.arch}/${e.name}`;
    seen.add(where);
    let k: ResolvedImage;
    try {
      k = resolveImage(e.distro, e.arch, e.name, catalog);
    } catch (err) {
      differences.push({ where, field: 'offered', kiln: (err as Error).message, upstream: true });
      continue;
    }
    const u = up.resolveUpstream(e.distro, e.name, e.arch);
    compared++;
    const cmp = (field: string, kv: unknown, uv: unknown) => {
      if (!isDeepStrictEqual(kv, uv)) differences.push({ where, field, kiln: kv, upstream: uv });
    };
    cmp('name', k.name, u.name);
    cmp('aliases', sortU(k.aliases), u.aliases);
    cmp('kind', k.kind, u.kind === 'network-installer' ? 'network_installer' : u.kind);
    cmp('filename', k.filename, u.filename);
    cmp('mime_type', k.mimeType, u.mime_type);
    cmp('exports', [k.exportPipeline], u.exports);
    cmp('compression', k.compression ?? '', u.compression);
    cmp('bootable', k.bootable, u.bootable);
    cmp('default_size', k.defaultSize ?? 0, u.default_size);
    cmp('boot_iso', k.bootIso, u.boot_iso);
    if (u.boot_iso || k.bootIso) {
      cmp('iso_label', k.isoLabel ?? '', u.iso_label);
      cmp('variant', k.variant ?? '', u.variant);
      cmp('iso_volume_label', k.isoVolumeLabel ?? null, u.iso_volume_label);
      const sorted = (o: Record<string, unknown> | null) => Object.fromEntries(Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
      for (const [field, kv, uv] of [['installer_config', k.installerConfig, u.installer_config], ['iso_config', k.isoConfig, u.iso_config]] as const) {
        const ko = sorted(kv as Record<string, unknown>);
        const uo = sorted(uv);
        for (const key of sortU([...Object.keys(ko), ...Object.keys(uo)])) cmp(`${field}.${key}`, ko[key], uo[key]);
      }
    }
    if (k.partitionTable || u.partition_table) cmp('required_partition_sizes', k.requiredDirectorySizes, u.required_partition_sizes);
    // upstream lists "" (no mode given, the default) where it lists any: Kiln always takes no mode
    cmp('partitioning_modes', k.partitioningModes ?? [], u.supported_partitioning_modes.filter((m) => m !== ''));
    cmp('vpc_force_size', k.vpcForceSize ?? null, u.disk_image_vpc_force_size);
    cmp('ostree', k.ostree ? { name: k.ostree.name ?? '', remote_name: k.ostree.remoteName ?? '', ref: k.ostree.ref ?? '', url: k.ostree.url ?? '' } : null, u.ostree);
    cmp('use_ostree_remotes', k.useOstreeRemotes, u.use_ostree_remotes);
    cmp('environment', { packages: sortU(k.environment.packages), services: k.environment.services }, { packages: sortU(u.environment.packages), services: u.environment.services });
    cmp('supported_options', k.supportedCustomizations ?? [], u.blueprint.supported_options);
    cmp('required_options', k.requiredCustomizations, u.blueprint.required_options);
    const p = k.platform;
    const q = u.platform;
    cmp('platform.image_format', p.imageFormat ?? '', q.image_format);
    cmp('platform.qcow2_compat', p.qcow2Compat ?? '', q.qcow2_compat);
    cmp('platform.bios_platform', p.biosPlatform ?? '', q.bios_platform);
    cmp('platform.uefi_vendor', p.uefiVendor ?? '', q.uefi_vendor);
    cmp('platform.zipl', p.zipl, q.zipl_support);
    cmp('platform.bootloader', p.bootloader, q.bootloader || 'none');
    cmp('platform.packages', sortU(p.packages), q.packages);
    cmp('platform.build_packages', sortU(p.buildPackages), q.build_packages);
    cmp('platform.fips_menu', p.fipsMenu, q.fips_menu);
    cmp('platform.boot_files', p.bootFiles.map((b) => ({ src: b.src, dst: b.dst, from_build: b.fromBuild })), q.boot_files);
    // the commit server's tree installs nginx: Go code (OSTreeCommitServer), data in Kiln
    const upstreamSets: Record<string, { include: string[]; exclude: string[] }> = u.kind === 'ostree_container' ? { ...u.package_sets, container: { include: ['nginx'], exclude: [] } } : u.package_sets;
    for (const set of sortU([...Object.keys(k.packageSets), ...Object.keys(upstreamSets)])) {
      const ks = k.packageSets[set] ?? { include: [], exclude: [] };
      const us = upstreamSets[set] ?? { include: [], exclude: [] };
      for (const what of ['include', 'exclude'] as const) {
        const extra = ks[what].filter((x) => !us[what].includes(x));
        const missing = us[what].filter((x) => !ks[what].includes(x));
        if (extra.length || missing.length) differences.push({ where, field: `package_sets.${set}.${what}`, kiln: extra, upstream: missing });
      }
    }
    const upstreamConfig: Record<string, unknown> = { ...upstreamDiskConfigAsKiln(u.disk_config) };
    for (const [key, v] of Object.entries(u.image_config)) {
      const [kk, vv] = upstreamConfigAsKiln(key, v);
      upstreamConfig[kk] = vv;
    }
    const kilnConfig = JSON.parse(JSON.stringify(k.imageConfig)) as Record<string, unknown>;
    if (kilnConfig.mount_units === false && upstreamConfig.mount_units === undefined) delete kilnConfig.mount_units;
    for (const key of sortU([...Object.keys(kilnConfig), ...Object.keys(upstreamConfig)])) cmp(`image_config.${key}`, kilnConfig[key], upstreamConfig[key]);
    cmp('partition_table', kilnTable(k.partitionTable), upstreamTable(u.partition_table));
    if (k.partitionTable && u.layout) {
      const pt = structuredClone(k.partitionTable);
      ensureDirectorySizes(pt, k.requiredDirectorySizes);
      layout(pt, k.defaultSize ?? 0);
      cmp('layout', { size: pt.size, partitions: pt.partitions.map((x) => ({ start: x.start, size: x.size })) }, { size: u.layout.size, partitions: u.layout.partitions.map((x) => ({ start: x.start, size: x.size })) });
      const volumesOf = (p: Payload | undefined): { name: string; size: number }[] =>
        p?.kind === 'lvm' ? p.logicalVolumes.map((lv) => ({ name: lv.name, size: lv.size })) : p?.kind === 'btrfs' ? p.subvolumes.map((sv) => ({ name: sv.name, size: sv.size })) : p?.kind === 'luks' ? volumesOf(p.payload) : [];
      const volumes = pt.partitions.flatMap((x) => volumesOf(x.payload));
      cmp('layout.volumes', volumes, u.layout.partitions.flatMap((x) => x.volumes.map((v) => ({ name: v.name, size: v.size }))));
    }
  }
  for (const c of supportedImages(catalog)) {
    if (!distros.includes(c.distro)) continue;
    const where = `${c.distro}/${c.arch}/${c.imageType}`;
    if (!seen.has(where)) differences.push({ where, field: 'offered', kiln: true, upstream: false });
  }
  return { compared, differences };
}
