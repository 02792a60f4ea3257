/**
 * The partitioning customizations, as osbuild/images applies them (pkg/disk at 1146ec23):
 *
 * - `filesystem` (+ `partitioning_mode`) changes the image type's base table
 *   (NewPartitionTable): sizes are clamped to 1 GiB (/boot 500 MiB); mount points the table has
 *   grow, through their volume group, LUKS container and partition; new ones are created as
 *   logical volumes after converting / to LVM (auto-lvm with new mount points, lvm always), as
 *   btrfs subvolumes (btrfs) or as partitions (raw).
 * - `disk` replaces the table (NewCustomPartitionTable): boot partitions by boot mode and
 *   architecture, /boot when / is on LVM or btrfs, the customized partitions, / when missing.
 *
 * Then the minimum directory sizes and the layout, as for any table. The result is laid out and
 * has the identifiers the definition or upstream fixes; assignIds() gives it the rest.
 */
import { InvalidInputError, KilnError } from '../../errors.js';
import { GiB, MiB } from '../definitions/sizes.js';
import type {
  BootMode,
  DiskCustomization,
  FilesystemCustomization,
  LogicalVolumeCustomization,
  PartitionCustomization,
  PartitioningCustomization,
  PartitioningMode,
  PartitioningOptions,
} from './customize-types.js';
import { checkDisk, checkFilesystems, checkMode, fieldsUnder, type At } from './customize-validate.js';
import { alignUp, ensureDirectorySizes, growMountable, layout, LVM_EXTENT } from './layout.js';
import {
  ESP_FSTAB_OPTIONS,
  mountables,
  partitionTypeId,
  type Btrfs,
  type BtrfsSubvolume,
  type Filesystem,
  type FsType,
  type Mountable,
  type Partition,
  type PartitionTable,
  type Swap,
  type VolumeGroup,
} from './model.js';

export type * from './customize-types.js';

/** Upstream's default required directory sizes, used by the base path when the type sets none. */
const DEFAULT_DIRECTORY_SIZES: Readonly<Record<string, number>> = { '/': GiB, '/usr': 2 * GiB };
const BOOT_SIZE = GiB;
const ESP_SIZE = 200 * MiB;
const VG_DESCRIPTION = 'created via lvm2 and osbuild';
const BTRFS_COMPRESSION = 'zstd:1';

/** upstream's fixed identifiers of the partitions a custom table gets automatically */
export const BIOS_BOOT_PARTITION_UUID = 'FAC7F1FB-3E8D-4137-A512-961DE09A5549';
export const ESP_PARTITION_UUID = '68B2905B-DF3E-4FB3-80FA-49D1E773AA33';
export const ESP_VOLUME_ID = '7B77-95E7';

/** How a platform boots (upstream's imageType.BootMode): UEFI and BIOS is hybrid; zipl is legacy. */
export function bootModeOf(platform: { uefiVendor?: string; biosPlatform?: string; zipl?: boolean }): BootMode {
  if (platform.uefiVendor && platform.biosPlatform) return 'hybrid';
  if (platform.uefiVendor) return 'uefi';
  if (platform.biosPlatform || platform.zipl) return 'legacy';
  return 'none';
}

/**
 * The image's partition table with the request's partitioning customizations applied, the
 * minimum directory sizes ensured and laid out for the requested size. Throws InvalidInputError
 * naming the field for anything upstream refuses (and for what it would crash on or drop).
 * Pure and cheap: call it when a request arrives to check it, and again to build.
 */
export function customizePartitionTable(base: PartitionTable, customization: PartitioningCustomization, options: PartitioningOptions): PartitionTable {
  const at = fieldsUnder(options.fieldPrefix ?? 'customizations');
  const mode = checkMode(customization.partitioning_mode, options, at);
  const filesystems = checkFilesystems(customization.filesystem, at);
  if (customization.disk !== undefined) {
    if (filesystems.length > 0) throw new InvalidInputError(at('disk'), `${at('disk')} cannot be used with ${at('filesystem')}`);
    // the disk customization is the whole table: upstream ignores the mode silently
    if (mode !== '' && mode !== 'auto-lvm') throw new InvalidInputError(at('partitioning_mode'), `partitioning mode ${mode} has no effect with ${at('disk')}, which defines the whole partition table`);
    return customTable(customization.disk, base, options, at);
  }
  return baseTable(base, filesystems, mode, options, at);
}

// ---------------------------------------------------------------------------------------------
// shared helpers

function find(pt: PartitionTable, mountpoint: string): Mountable | undefined {
  return mountables(pt).find((m) => m.mountpoint === mountpoint);
}

function rootOf(pt: PartitionTable): Mountable {
  const root = find(pt, '/');
  if (!root) throw new KilnError('KILN_MANIFEST', 'the partition table has no / file system', {});
  return root;
}

function filesystem(type: FsType, mountpoint: string, label?: string): Filesystem {
  return {
    kind: 'filesystem',
    type,
    mountpoint,
    ...(label ? { label } : {}),
    fstabOptions: 'defaults',
    fstabFreq: 0,
    fstabPassno: 0,
  };
}

function typeId(role: string, pt: PartitionTable, arch: string): string {
  const id = partitionTypeId(role, pt.type, arch);
  if (!id) throw new KilnError('KILN_MANIFEST', `no ${pt.type} partition type for ${role} on ${arch}`, {});
  return id;
}

/** `base`, else base00 … base99, whichever is not taken (upstream's genUniqueString, after blivet). */
function uniqueName(base: string, taken: Set<string>, field: string): string {
  if (!taken.has(base)) return base;
  for (let i = 0; i < 100; i++) {
    const name = `${base}${String(i).padStart(2, '0')}`;
    if (!taken.has(name)) return name;
  }
  throw new InvalidInputError(field, `no free name like ${JSON.stringify(base)} is left`);
}

/** A logical volume's name from its mount point: / → rootlv, /var/log → var_loglv, swap → swaplv. */
function lvNameFor(mountpoint: string): string {
  if (mountpoint === '/') return 'rootlv';
  // characters LVM does not allow in names become _ (upstream keeps them and lvm2 fails)
  return `${mountpoint.replace(/^\/+/, '').replace(/\//g, '_').replace(/[^A-Za-z0-9+_.-]/g, '_')}lv`;
}

/** Upstream's alignEntityBranch: a volume group rounds to its extent, the table to its grain. */
function alignFor(m: Mountable, size: number): number {
  const inVg = m.path.some((e) => 'kind' in e && e.kind === 'lvm');
  return alignUp(inVg ? alignUp(size, LVM_EXTENT) : size);
}

function isLvm(pt: PartitionTable): boolean {
  const has = (p: Partition['payload']): boolean => p?.kind === 'lvm' || (p?.kind === 'luks' && p.payload.kind === 'lvm');
  return pt.partitions.some((p) => has(p.payload));
}

function maxPartitions(pt: PartitionTable): number {
  return pt.type === 'dos' ? 4 : 128;
}

// ---------------------------------------------------------------------------------------------
// base path: customizations.filesystem on the image type's table

/** Upstream's clampFSSize: every mount point at least 1 GiB, /boot at least 500 MiB. */
function clampSize(mountpoint: string, size: number): number {
  return Math.max(size, mountpoint === '/boot' ? 500 * MiB : GiB);
}

interface Pending {
  index: number;
  fs: FilesystemCustomization;
}

function baseTable(base: PartitionTable, filesystems: FilesystemCustomization[], mode: PartitioningMode, options: PartitioningOptions, at: At): PartitionTable {
  const pt = structuredClone(base);
  const fsField = (i: number) => at(`filesystem[${i}].mountpoint`);
  if (isLvm(pt) && (mode === 'raw' || mode === 'btrfs')) {
    throw new InvalidInputError(at('partitioning_mode'), `${mode} partitioning mode set for a base partition table with LVM, this is unsupported`);
  }
  let defaultFs: FsType = options.defaultFsType || 'xfs';

  // first pass: grow what exists, keep the rest for after the conversion
  const pending: Pending[] = [];
  filesystems.forEach((fs, index) => {
    const m = find(pt, fs.mountpoint);
    if (m) growMountable(pt, m, alignFor(m, clampSize(fs.mountpoint, fs.minsize)));
    else pending.push({ index, fs });
  });
  // upstream creates an xfs (or the default file system) /boot/efi, an LV under auto-lvm: not an
  // EFI system partition the firmware could read
  const esp = pending.find((p) => p.fs.mountpoint === '/boot/efi');
  if (esp) throw new InvalidInputError(fsField(esp.index), `the partition table of ${JSON.stringify(options.imageType ?? 'this image type')} has no /boot/efi (EFI system partition) to grow, and customizations.filesystem cannot create one`);

  // who caused a conversion or creation failure: the first new mount point, else the mode
  const culprit = pending.length ? fsField(pending[0].index) : at('partitioning_mode');
  const toLvm = mode === 'lvm' || ((mode === '' || mode === 'auto-lvm') && pending.length > 0);
  if (toLvm) ensureLvm(pt, defaultFs, mode, culprit);
  else if (mode === 'btrfs') {
    // upstream switches the default to btrfs before converting, so a new /boot is btrfs too
    defaultFs = 'btrfs';
    ensureBtrfs(pt, options.arch, culprit);
  }

  // second pass: create the new mount points where / lives
  for (const { index, fs } of pending) {
    const size = clampSize(fs.mountpoint, fs.minsize);
    const m = find(pt, fs.mountpoint);
    if (m) growMountable(pt, m, alignFor(m, size));
    else createMountpoint(pt, fs.mountpoint, defaultFs, size, mode, fsField(index));
  }

  const dirs = options.requiredDirectorySizes ?? DEFAULT_DIRECTORY_SIZES;
  if (Object.keys(dirs).length > 0) ensureDirectorySizes(pt, dirs);
  layout(pt, options.size || options.defaultSize || 0);
  return pt;
}

/** A plain partition for `mountpoint` at the end of the table (upstream's PartitionTable.CreateMountpoint). */
function addPlainPartition(pt: PartitionTable, mountpoint: string, fsType: FsType, size: number, field: string, why: string): Partition {
  const max = maxPartitions(pt);
  if (pt.partitions.length >= max) {
    throw new InvalidInputError(field, `${why}: the ${pt.type} partition table already has the maximum of ${max} partitions`);
  }
  const partition: Partition = {
    start: 0,
    size,
    // DOS: no type, sfdisk's default (Linux), as upstream
    ...(pt.type === 'gpt' ? { type: typeId(mountpoint === '/boot' ? 'xbootldr' : 'linux', pt, '') } : {}),
    bootable: false,
    payload: filesystem(fsType, mountpoint),
  };
  pt.partitions.push(partition);
  return partition;
}

function rootContainer(root: Mountable): string {
  if (root.volume) return 'a btrfs subvolume';
  if (root.path.some((e) => 'kind' in e && e.kind === 'luks')) return 'in a LUKS container';
  return 'on a logical volume';
}

/** / on a logical volume: rootvg/rootlv replaces the root partition's file system; /boot (1 GiB) is added when missing. */
function ensureLvm(pt: PartitionTable, defaultFs: FsType, mode: PartitioningMode, field: string): void {
  rootOf(pt);
  if (!find(pt, '/boot')) addPlainPartition(pt, '/boot', defaultFs, BOOT_SIZE, field, 'converting / to LVM needs a separate /boot partition');
  const root = rootOf(pt);
  if (root.path.some((e) => !('kind' in e))) return;
  if (root.volume || root.path.length > 0) {
    const hint = root.volume ? '; new mount points there are created as btrfs subvolumes with partitioning mode btrfs' : '';
    throw new InvalidInputError(field, `cannot convert the partition table to LVM (partitioning mode ${mode || 'auto-lvm'}): its / is ${rootContainer(root)}${hint}`);
  }
  const partition = pt.partitions[root.partition];
  const vg: VolumeGroup = {
    kind: 'lvm',
    name: 'rootvg',
    description: VG_DESCRIPTION,
    logicalVolumes: [{ name: 'rootlv', size: alignUp(partition.size, LVM_EXTENT), payload: root.entity as Filesystem }],
  };
  partition.payload = vg;
  partition.size = 0; // the layout fits it around the volume group
  partition.type = typeId('lvm', pt, '');
}

/** / on a btrfs subvolume "root" (zstd:1) of a volume labelled root; /boot (1 GiB, btrfs) added when missing. */
function ensureBtrfs(pt: PartitionTable, arch: string, field: string): void {
  rootOf(pt);
  if (!find(pt, '/boot')) addPlainPartition(pt, '/boot', 'btrfs', BOOT_SIZE, field, 'converting / to btrfs needs a separate /boot partition');
  const root = rootOf(pt);
  if (root.volume) return;
  if (root.path.length > 0) throw new InvalidInputError(field, `cannot convert the partition table to btrfs (partitioning mode btrfs): its / is ${rootContainer(root)}`);
  const partition = pt.partitions[root.partition];
  const options = (root.entity as Filesystem).fstabOptions.split(',');
  const volume: Btrfs = {
    kind: 'btrfs',
    label: 'root',
    subvolumes: [
      {
        name: 'root',
        mountpoint: '/',
        size: partition.size,
        compress: BTRFS_COMPRESSION,
        ...(options.includes('ro') && !options.includes('rw') ? { readOnly: true } : {}),
        fstabOptions: 'defaults',
      },
    ],
  };
  partition.payload = volume;
  partition.size = 0;
  partition.type = typeId('root', pt, arch);
}

/**
 * A new mount point in the first container that can hold one, walking up from /: its volume
 * group (a logical volume), its btrfs volume (a subvolume) or the table (a partition).
 */
function createMountpoint(pt: PartitionTable, mountpoint: string, fsType: FsType, size: number, mode: PartitioningMode, field: string): void {
  const root = rootOf(pt);
  const vg = root.path.find((e): e is VolumeGroup => 'kind' in e && e.kind === 'lvm');
  if (root.volume) {
    if (fsType !== 'btrfs') {
      throw new InvalidInputError(field, `cannot create ${JSON.stringify(mountpoint)}: / is a btrfs subvolume, so new mount points are btrfs subvolumes, which need partitioning mode btrfs (not ${mode || 'auto-lvm'})`);
    }
    const subvolume: BtrfsSubvolume = { name: mountpoint === '/' ? 'root' : mountpoint, mountpoint, size: 0, compress: BTRFS_COMPRESSION, fstabOptions: 'defaults' };
    root.volume.subvolumes.push(subvolume);
  } else if (vg) {
    if (fsType === 'btrfs') throw new InvalidInputError(field, `cannot create ${JSON.stringify(mountpoint)}: btrfs under LVM is not supported`);
    const taken = new Set(vg.logicalVolumes.map((lv) => lv.name));
    vg.logicalVolumes.push({ name: uniqueName(lvNameFor(mountpoint), taken, field), size: 0, payload: filesystem(fsType, mountpoint) });
  } else {
    addPlainPartition(pt, mountpoint, fsType, 0, field, `cannot create a partition for ${JSON.stringify(mountpoint)} (partitioning mode ${mode || 'auto-lvm'})`);
  }
  const m = find(pt, mountpoint)!;
  growMountable(pt, m, alignFor(m, size));
}

// ---------------------------------------------------------------------------------------------
// custom path: customizations.disk is the table

function customTable(input: unknown, base: PartitionTable, options: PartitioningOptions, at: At): PartitionTable {
  const wanted = (input as { type?: unknown } | null)?.type;
  const tableType = wanted === 'gpt' || wanted === 'dos' ? wanted : (options.tableType ?? base.type ?? 'gpt');
  const disk: DiskCustomization = checkDisk(input, tableType, at);
  const partitions = disk.partitions ?? [];
  const pt: PartitionTable = { type: tableType, size: 0, startOffset: disk.start_offset ?? 0, sectorSize: disk.sector_size || 512, partitions: [] };
  const auto = addBootModePartitions(pt, partitions, options);
  if (needsBoot(partitions)) {
    addBootPartition(pt, options.defaultFsType);
    auto.push('/boot');
  }
  const vgNames = new Set(partitions.filter((p) => p.type === 'lvm' && p.name).map((p) => p.name!));
  // where each partition and logical volume came from, for messages
  const fieldOf = new Map<object, string>();
  partitions.forEach((p, i) => {
    const field = at(`disk.partitions[${i}]`);
    const partition = p.type === 'lvm' ? lvmPartition(pt, p, options, vgNames, field, fieldOf) : p.type === 'btrfs' ? btrfsPartition(pt, p) : plainPartition(pt, p, options);
    pt.partitions.push(partition);
    fieldOf.set(partition, field);
  });
  if (ensureRoot(pt, options)) auto.push('/');

  if (pt.type === 'dos' && pt.partitions.length > 4) {
    throw new InvalidInputError(
      at('disk.partitions'),
      `"dos" partition table type only supports up to 4 partitions: got ${pt.partitions.length} after creating the partition table with all necessary partitions (added for the image type: ${auto.join(', ')})`,
    );
  }
  checkPartitionUuids(pt, fieldOf);

  const dirs = options.requiredDirectorySizes ?? {};
  if (Object.keys(dirs).length > 0) ensureDirectorySizes(pt, dirs);
  // the request's size replaces disk.minsize; the type's default size does not apply
  layout(pt, options.size || disk.minsize || 0);
  checkNothingEmpty(pt, fieldOf, at);
  return pt;
}

/**
 * Upstream lays out what it is given, 0 bytes included; osbuild then leaves the size out of
 * sfdisk's script (the partition takes the rest of the disk) and lvcreate refuses "0B". Kiln
 * refuses the customization instead.
 */
function checkNothingEmpty(pt: PartitionTable, fieldOf: Map<object, string>, at: At): void {
  for (const p of pt.partitions) {
    const field = fieldOf.get(p);
    if (p.size === 0) {
      if (field) throw new InvalidInputError(`${field}.minsize`, 'the partition would be 0 bytes: give it a minsize');
      throw new InvalidInputError(at('disk.minsize'), 'the / partition added for the image would be 0 bytes: the image type sets no minimum size for /; give customizations.disk a minsize or a / with a minsize');
    }
    if (p.payload?.kind !== 'lvm') continue;
    for (const lv of p.payload.logicalVolumes) {
      if (lv.size > 0) continue;
      const lvField = fieldOf.get(lv);
      if (lvField) throw new InvalidInputError(`${lvField}.minsize`, 'the logical volume would be 0 bytes: give it a minsize');
      throw new InvalidInputError(`${field}.logical_volumes`, 'the / logical volume added for the image would be 0 bytes: the image type sets no minimum size for /; give / a logical volume with a minsize');
    }
  }
}

/** Boot partitions, first in the table: PReP on ppc64le, BIOS boot and/or ESP on x86_64, ESP on aarch64 and riscv64. Returns what it added. */
function addBootModePartitions(pt: PartitionTable, partitions: PartitionCustomization[], options: PartitioningOptions): string[] {
  if (options.bootMode === 'none') return [];
  const hasEsp = partitions.some((p) => (p.type ?? 'plain') === 'plain' && p.mountpoint === '/boot/efi');
  const bios = (): Partition => ({
    start: 0,
    size: MiB,
    type: typeId('bios-boot', pt, ''),
    bootable: true,
    ...(pt.type === 'gpt' ? { uuid: BIOS_BOOT_PARTITION_UUID } : {}),
  });
  const esp = (): Partition => ({
    start: 0,
    size: ESP_SIZE,
    type: typeId('esp', pt, ''),
    bootable: false,
    ...(pt.type === 'gpt' ? { uuid: ESP_PARTITION_UUID } : {}),
    payload: { kind: 'filesystem', type: 'vfat', uuid: ESP_VOLUME_ID, mountpoint: '/boot/efi', label: 'ESP', fstabOptions: ESP_FSTAB_OPTIONS, fstabFreq: 0, fstabPassno: 2 },
  });
  const added: Partition[] = [];
  const names: string[] = [];
  switch (options.arch) {
    case 'ppc64le':
      added.push({ start: 0, size: 4 * MiB, type: typeId('prep', pt, ''), bootable: true });
      names.push('PReP boot');
      break;
    case 's390x':
      break;
    case 'aarch64':
    case 'riscv64':
      if (!hasEsp) {
        added.push(esp());
        names.push('/boot/efi');
      }
      break;
    case 'x86_64':
      if (options.bootMode === 'legacy' || options.bootMode === 'hybrid') {
        added.push(bios());
        names.push('BIOS boot');
      }
      if ((options.bootMode === 'uefi' || options.bootMode === 'hybrid') && !hasEsp) {
        added.push(esp());
        names.push('/boot/efi');
      }
      break;
    default:
      throw new KilnError('KILN_MANIFEST', `no boot partitions known for architecture ${options.arch}`, {});
  }
  pt.partitions.push(...added);
  return names;
}

/**
 * Whether the firmware needs a /boot it can read: / is on LVM or btrfs (without a /boot
 * subvolume beside it) and no plain /boot exists, or there is no / and LVM or btrfs will get it.
 * (At 1146ec23 upstream stopped at the first partition that decided; its later version, followed
 * here, looks at all of them, so a /boot given after an LVM root is not doubled.)
 */
function needsBoot(partitions: PartitionCustomization[]): boolean {
  let volumes = false;
  let plainRoot = false;
  let plainBoot = false;
  let rootNeedsBoot = false;
  let btrfsRootWithBoot = false;
  for (const p of partitions) {
    if (p.type === 'lvm') {
      volumes = true;
      if ((p.logical_volumes ?? []).some((lv) => lv.mountpoint === '/')) rootNeedsBoot = true;
    } else if (p.type === 'btrfs') {
      volumes = true;
      const subs = p.subvolumes ?? [];
      const hasRoot = subs.some((s) => s.mountpoint === '/');
      if (hasRoot && subs.some((s) => s.mountpoint === '/boot')) btrfsRootWithBoot = true;
      else if (hasRoot) rootNeedsBoot = true;
    } else {
      if (p.mountpoint === '/') plainRoot = true;
      if (p.mountpoint === '/boot') plainBoot = true;
    }
  }
  if (plainRoot || plainBoot || btrfsRootWithBoot) return false;
  return rootNeedsBoot || volumes;
}

function labelsOf(pt: PartitionTable): Set<string> {
  // a subvolume's name counts as its label, as upstream's GetFSSpec gives it
  return new Set(mountables(pt).map((m) => (m.volume ? (m.entity as BtrfsSubvolume).name : ((m.entity as Filesystem).label ?? ''))));
}

/** /boot of 1 GiB: the default file system if it is ext4 or xfs, else xfs; label boot. */
function addBootPartition(pt: PartitionTable, defaultFs: FsType): void {
  const fsType: FsType = defaultFs === 'ext4' || defaultFs === 'xfs' ? defaultFs : 'xfs';
  const label = uniqueName('boot', labelsOf(pt), '');
  pt.partitions.push({ start: 0, size: BOOT_SIZE, type: typeId('xbootldr', pt, ''), bootable: false, payload: filesystem(fsType, '/boot', label) });
}

function partitionIds(pt: PartitionTable, p: PartitionCustomization, role: string, arch: string): Pick<Partition, 'type' | 'uuid' | 'label'> {
  const type = p.part_type ? (pt.type === 'gpt' ? p.part_type.toUpperCase() : p.part_type.toLowerCase()) : typeId(role, pt, arch);
  return { type, ...(p.part_uuid ? { uuid: p.part_uuid } : {}), ...(p.part_label ? { label: p.part_label } : {}) };
}

function plainPartition(pt: PartitionTable, p: PartitionCustomization, options: PartitioningOptions): Partition {
  // always set: the checks refuse a mount point without fs_type (upstream has no default yet)
  const fsType = p.fs_type ?? options.defaultFsType;
  const mountpoint = p.mountpoint ?? '';
  const role =
    mountpoint === '/' ? 'root' : mountpoint === '/usr' ? 'usr' : mountpoint === '/boot' ? 'xbootldr' : mountpoint === '/boot/efi' ? 'esp' : fsType === 'swap' ? 'swap' : 'linux';
  let payload: Partition['payload'];
  if (fsType === 'swap') payload = { kind: 'swap', ...(p.label ? { label: p.label } : {}), fstabOptions: 'defaults' } satisfies Swap;
  else if (fsType !== 'none') {
    payload = { ...filesystem(fsType, mountpoint, p.label), ...(mountpoint === '/boot/efi' ? { fstabOptions: ESP_FSTAB_OPTIONS } : {}) };
  }
  return { start: 0, size: p.minsize, ...partitionIds(pt, p, role, options.arch), bootable: false, ...(payload ? { payload } : {}) };
}

function lvmPartition(pt: PartitionTable, p: PartitionCustomization, options: PartitioningOptions, vgNames: Set<string>, field: string, fieldOf: Map<object, string>): Partition {
  let name = p.name;
  if (!name) {
    // the first generated name is vg00: "vg" itself counts as taken; names given elsewhere too
    const taken = new Set([...vgNames, 'vg', ...pt.partitions.flatMap((x) => (x.payload?.kind === 'lvm' ? [x.payload.name] : []))]);
    name = uniqueName('vg', taken, `${field}.name`);
    vgNames.add(name);
  }
  const lvs: LogicalVolumeCustomization[] = p.logical_volumes ?? [];
  // generated names also avoid the names given later in the list (upstream can produce two alike)
  const taken = new Set(lvs.filter((lv) => lv.name).map((lv) => lv.name!));
  const vg: VolumeGroup = { kind: 'lvm', name, description: VG_DESCRIPTION, logicalVolumes: [] };
  lvs.forEach((lv, j) => {
    const fsType = lv.fs_type || options.defaultFsType;
    const lvName = lv.name || uniqueName(lvNameFor(fsType === 'swap' ? 'swap' : lv.mountpoint!), taken, `${field}.logical_volumes`);
    taken.add(lvName);
    const payload: Filesystem | Swap = fsType === 'swap' ? { kind: 'swap', ...(lv.label ? { label: lv.label } : {}), fstabOptions: 'defaults' } : filesystem(fsType, lv.mountpoint!, lv.label);
    const volume = { name: lvName, size: alignUp(lv.minsize, LVM_EXTENT), payload };
    vg.logicalVolumes.push(volume);
    fieldOf.set(volume, `${field}.logical_volumes[${j}]`);
  });
  return { start: 0, size: p.minsize, ...partitionIds(pt, p, 'lvm', options.arch), bootable: false, payload: vg };
}

function btrfsPartition(pt: PartitionTable, p: PartitionCustomization): Partition {
  const volume: Btrfs = {
    kind: 'btrfs',
    subvolumes: (p.subvolumes ?? []).map((s) => ({ name: s.name, mountpoint: s.mountpoint, size: 0, fstabOptions: 'defaults' })),
  };
  // upstream types the partition as Linux data even when it holds /
  return { start: 0, size: p.minsize, ...partitionIds(pt, p, 'linux', ''), bootable: false, payload: volume };
}

/** Adds / when the customization has none: a logical volume in the first volume group, a subvolume of the first btrfs volume, or a partition at the end. */
function ensureRoot(pt: PartitionTable, options: PartitioningOptions): boolean {
  if (find(pt, '/')) return false;
  const labels = labelsOf(pt);
  for (const p of pt.partitions) {
    if (p.payload?.kind === 'lvm') {
      const taken = new Set(p.payload.logicalVolumes.map((lv) => lv.name));
      p.payload.logicalVolumes.push({ name: uniqueName('rootlv', taken, ''), size: 0, payload: filesystem(options.defaultFsType, '/', uniqueName('root', labels, '')) });
      return true;
    }
    if (p.payload?.kind === 'btrfs') {
      const names = new Set(p.payload.subvolumes.map((s) => s.name));
      p.payload.subvolumes.push({ name: uniqueName('root', names, ''), mountpoint: '/', size: 0, fstabOptions: 'defaults' });
      return true;
    }
  }
  pt.partitions.push({ start: 0, size: 0, type: typeId('root', pt, options.arch), bootable: false, payload: filesystem(options.defaultFsType, '/', uniqueName('root', labels, '')) });
  return true;
}

/** GPT partition GUIDs must differ; a part_uuid may also meet the fixed one of a boot partition. */
function checkPartitionUuids(pt: PartitionTable, fieldOf: Map<object, string>): void {
  const seen = new Map<string, Partition>();
  for (const p of pt.partitions) {
    if (!p.uuid) continue;
    const key = p.uuid.toUpperCase();
    const other = seen.get(key);
    if (other) {
      const field = fieldOf.get(p) ?? fieldOf.get(other)!;
      const what = fieldOf.has(other) ? fieldOf.get(other)! : 'an automatic boot partition';
      throw new InvalidInputError(`${field}.part_uuid`, `partition UUID ${p.uuid} is used twice (also by ${what === field ? 'another partition' : what})`);
    }
    seen.set(key, p);
  }
}
