/**
 * Checks of the partitioning customizations, field by field: what osbuild/images refuses
 * (DiskCustomization.Validate, ValidateLayoutConstraints, the mount point policy, the strict
 * per-type decoding, checkOptionsCommon), with its texts where they are clear, plus what it lets
 * through to crash or to fail later in osbuild (noted where it happens). The first problem found
 * is reported, with the field that has it.
 */
import { InvalidInputError } from '../../errors.js';
import type { DiskCustomization, FilesystemCustomization, PartitioningMode, PartitioningOptions } from './customize-types.js';
import { mountpointPolicyError, mountpointShapeError } from './mountpoints.js';

export type At = (path: string) => string;

export function fieldsUnder(prefix: string): At {
  return (path) => (prefix ? `${prefix}.${path}` : path);
}

function fail(field: string, message: string): never {
  throw new InvalidInputError(field, message);
}

const MODES: readonly PartitioningMode[] = ['raw', 'lvm', 'auto-lvm', 'btrfs', ''];

export function checkMode(value: unknown, options: PartitioningOptions, at: At): PartitioningMode {
  const field = at('partitioning_mode');
  const mode = value ?? '';
  if (typeof mode !== 'string' || !MODES.includes(mode as PartitioningMode)) fail(field, `invalid partitioning mode ${JSON.stringify(mode)} (valid: raw, lvm, auto-lvm)`);
  const supported = options.supportedPartitioningModes ?? [];
  // an absent mode is auto-lvm, as composer sends it
  const effective = mode || 'auto-lvm';
  if (supported.length > 0 && !supported.includes(mode) && !supported.includes(effective)) {
    const shown = mode ? mode : 'auto-lvm (the default)';
    fail(field, `partitioning mode ${shown} not supported for ${JSON.stringify(options.imageType ?? 'this image type')} (supported: ${supported.join(', ')})`);
  }
  return mode as PartitioningMode;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], at: (key: string) => string, what: string): void {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) fail(at(key), `unknown field ${JSON.stringify(key)} in ${what}`);
}

function checkSize(v: unknown, field: string, required: boolean): number {
  if (v === undefined && required) fail(field, 'minsize is required');
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(field, `must be a size in bytes (a non-negative integer), got ${JSON.stringify(v)}`);
  return v;
}

function checkString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(field, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Shape, then policy: the mount point as it can go into the table. */
function checkMountpoint(mountpoint: unknown, field: string, prefix = ''): string {
  if (mountpoint !== undefined && typeof mountpoint !== 'string') fail(field, `must be a string, got ${JSON.stringify(mountpoint)}`);
  const mp = mountpoint ?? '';
  const shape = mountpointShapeError(mp);
  if (shape) fail(field, prefix + shape);
  const policy = mountpointPolicyError(mp);
  if (policy) fail(field, policy);
  return mp;
}

/** `customizations.filesystem`: each entry a valid, allowed, distinct mount point with a size. */
export function checkFilesystems(list: unknown, at: At): FilesystemCustomization[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) fail(at('filesystem'), 'must be a list of {mountpoint, minsize}');
  const seen = new Map<string, number>();
  return list.map((entry: unknown, i) => {
    const f = (k: string) => at(`filesystem[${i}]${k ? `.${k}` : ''}`);
    if (!isObject(entry)) fail(f(''), 'must be an object {mountpoint, minsize}');
    checkKeys(entry, ['mountpoint', 'minsize'], f, 'a filesystem customization');
    const mountpoint = checkMountpoint(entry.mountpoint, f('mountpoint'));
    // upstream merges repeated mount points silently (the larger size wins); Kiln asks
    const first = seen.get(mountpoint);
    if (first !== undefined) fail(f('mountpoint'), `duplicate mountpoint ${JSON.stringify(mountpoint)} (also customizations.filesystem[${first}])`);
    seen.set(mountpoint, i);
    return { mountpoint, minsize: checkSize(entry.minsize, f('minsize'), true) };
  });
}

/** osbuild's mkfs/mkswap stages refuse longer labels (their schemas' maxLength). */
const LABEL_MAX: Record<string, number> = { xfs: 12, ext4: 16, vfat: 11, swap: 12 };

function checkLabel(label: string | undefined, fsType: string, field: string): void {
  if (label === undefined) return;
  const max = LABEL_MAX[fsType];
  if (max !== undefined && [...label].length > max) fail(field, `label ${JSON.stringify(label)} is too long for ${fsType} (at most ${max} characters)`);
}

const PLAIN_FS = ['ext4', 'vfat', 'xfs'];
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const DOS_ID_RE = /^[0-9a-fA-F]{2}$/;

/**
 * LVM's rules for VG and LV names (lvm(8) "VALID NAMES"); upstream does not check them and
 * lvm2 fails in the middle of the build.
 */
export function lvmNameError(name: string, what: 'volume group' | 'logical volume'): string | undefined {
  if (name.length === 0) return `${what} name is empty`;
  if (name.length > 127) return `${what} name ${JSON.stringify(name)} is longer than 127 characters`;
  if (!/^[A-Za-z0-9+_.-]+$/.test(name) || name.startsWith('-') || name === '.' || name === '..') {
    return `invalid ${what} name ${JSON.stringify(name)}: LVM allows only A-Z a-z 0-9 + _ . -, not starting with "-", and not "." or ".."`;
  }
  if (what === 'logical volume') {
    if (/^(snapshot|pvmove)/.test(name)) return `invalid logical volume name ${JSON.stringify(name)}: LVM reserves names starting with "snapshot" and "pvmove"`;
    const reserved = ['_cdata', '_cmeta', '_corig', '_iorig', '_mimage', '_mlog', '_pmspare', '_rimage', '_rmeta', '_tdata', '_tmeta', '_vdata', '_vorigin', '_wcorig'].find((s) => name.includes(s));
    if (reserved) return `invalid logical volume name ${JSON.stringify(name)}: LVM reserves names containing "${reserved}"`;
  }
  return undefined;
}

/** A subvolume name goes into fstab as subvol=<name> and is created under the volume's top. */
function subvolumeNameError(name: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\s,"'\\\u0000-\u001f\u007f]/.test(name)) return `btrfs subvolume name ${JSON.stringify(name)} contains white space, a comma, a quote or a backslash, which the fstab options cannot hold`;
  const parts = name.replace(/^\/+/, '').split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return `btrfs subvolume name ${JSON.stringify(name)} must be a relative path without empty, "." or ".." components`;
  return undefined;
}

interface DiskChecks {
  at: At;
  tableType: 'gpt' | 'dos';
  mountpoints: Map<string, string>;
}

function claimMountpoint(c: DiskChecks, mountpoint: string, field: string): void {
  const first = c.mountpoints.get(mountpoint);
  if (first !== undefined) fail(field, `duplicate mountpoint ${JSON.stringify(mountpoint)} in partitioning customizations (also ${first})`);
  c.mountpoints.set(mountpoint, field);
}

const COMMON_KEYS = ['type', 'minsize', 'part_type', 'part_label', 'part_uuid'];
const TYPE_KEYS: Record<string, string[]> = {
  plain: ['mountpoint', 'label', 'fs_type'],
  lvm: ['name', 'logical_volumes'],
  btrfs: ['subvolumes'],
};

function checkPartitionIds(p: Record<string, unknown>, c: DiskChecks, f: (k: string) => string): void {
  const partType = checkString(p.part_type, f('part_type'));
  if (partType !== undefined && partType !== '') {
    if (c.tableType === 'gpt' && !UUID_RE.test(partType)) fail(f('part_type'), `invalid partition part_type ${JSON.stringify(partType)} for partition table type "gpt" (must be a valid UUID)`);
    if (c.tableType === 'dos' && !DOS_ID_RE.test(partType)) fail(f('part_type'), `invalid partition part_type ${JSON.stringify(partType)} for partition table type "dos" (must be a 2-digit hex number)`);
  }
  // upstream checks part_uuid and part_label against the final table type only when part_type is
  // set too; otherwise a dos table silently drops them. Kiln always checks them.
  const partUuid = checkString(p.part_uuid, f('part_uuid'));
  if (partUuid !== undefined && partUuid !== '') {
    // upstream's text says "part_type" here (a slip)
    if (c.tableType === 'dos') fail(f('part_uuid'), 'part_uuid is not supported for dos partition tables');
    if (!UUID_RE.test(partUuid)) fail(f('part_uuid'), `invalid partition part_uuid ${JSON.stringify(partUuid)} (must be a valid UUID)`);
  }
  const partLabel = checkString(p.part_label, f('part_label'));
  if (partLabel !== undefined && partLabel !== '') {
    if (c.tableType === 'dos') fail(f('part_label'), 'part_label is not supported for dos partition tables');
    // GPT partition names are 36 UTF-16 code units; JavaScript strings count the same units
    if (partLabel.length > 36) fail(f('part_label'), 'part_label is not a valid GPT label, it is too long (at most 36 UTF-16 code units)');
  }
}

function checkPlain(p: Record<string, unknown>, c: DiskChecks, f: (k: string) => string): void {
  const fsType = checkString(p.fs_type, f('fs_type')) ?? '';
  const label = checkString(p.label, f('label'));
  if (fsType === 'none' || fsType === 'swap') {
    if (p.mountpoint !== undefined && p.mountpoint !== '') fail(f('mountpoint'), `mountpoint for ${fsType} partition must be empty (got ${JSON.stringify(p.mountpoint)})`);
    // upstream drops the label of a partition without a file system silently
    if (fsType === 'none' && label) fail(f('label'), 'a partition with fs_type "none" has no file system to label');
    checkLabel(label, fsType, f('label'));
    return;
  }
  const mountpoint = checkMountpoint(p.mountpoint, f('mountpoint'));
  claimMountpoint(c, mountpoint, f('mountpoint'));
  // upstream has no default file system for partitions yet (its TODO): an empty fs_type is refused
  if (!PLAIN_FS.includes(fsType)) fail(f('fs_type'), `unknown or invalid filesystem type (fs_type) for mountpoint ${JSON.stringify(mountpoint)}: ${JSON.stringify(fsType)} (valid: ext4, xfs, vfat, swap, none)`);
  if (mountpoint === '/boot' && fsType !== 'xfs' && fsType !== 'ext4') fail(f('fs_type'), `unsupported filesystem type for "/boot": ${fsType} (valid: xfs, ext4)`);
  if (mountpoint === '/boot/efi' && fsType !== 'vfat') fail(f('fs_type'), `unsupported filesystem type for "/boot/efi": ${fsType} (valid: vfat)`);
  checkLabel(label, fsType, f('label'));
}

function checkLogicalVolume(lv: unknown, vgName: string, names: Set<string>, c: DiskChecks, f: (k: string) => string): void {
  if (!isObject(lv)) fail(f(''), 'must be an object');
  // upstream decodes logical volumes leniently: unknown fields were silently dropped
  checkKeys(lv, ['name', 'minsize', 'mountpoint', 'label', 'fs_type'], f, 'a logical volume');
  checkSize(lv.minsize, f('minsize'), true);
  const name = checkString(lv.name, f('name'));
  if (name) {
    if (names.has(name)) fail(f('name'), `duplicate LVM logical volume name ${JSON.stringify(name)} in volume group ${JSON.stringify(vgName)} in partitioning customizations`);
    names.add(name);
    const bad = lvmNameError(name, 'logical volume');
    if (bad) fail(f('name'), bad);
  }
  const fsType = checkString(lv.fs_type, f('fs_type')) ?? '';
  const label = checkString(lv.label, f('label'));
  if (fsType === 'swap') {
    if (lv.mountpoint !== undefined && lv.mountpoint !== '') fail(f('mountpoint'), `mountpoint for swap logical volume${name ? ` with name ${JSON.stringify(name)}` : ''} in volume group ${JSON.stringify(vgName)} must be empty`);
    checkLabel(label, 'swap', f('label'));
    // upstream stops checking the volume group's remaining logical volumes after a swap volume
    // (a `return nil` in its loop); Kiln checks every one
    return;
  }
  const mountpoint = checkMountpoint(lv.mountpoint, f('mountpoint'));
  claimMountpoint(c, mountpoint, f('mountpoint'));
  if (mountpoint === '/boot' || mountpoint === '/boot/efi') fail(f('mountpoint'), `invalid mountpoint ${JSON.stringify(mountpoint)} for logical volume: it must be on a plain partition`);
  if (!PLAIN_FS.includes(fsType)) fail(f('fs_type'), `unknown or invalid filesystem type (fs_type) for logical volume with mountpoint ${JSON.stringify(mountpoint)}: ${JSON.stringify(fsType)} (valid: ext4, xfs, vfat, swap)`);
  checkLabel(label, fsType, f('label'));
}

function checkLvm(p: Record<string, unknown>, c: DiskChecks, f: (k: string) => string, vgNames: Set<string>): void {
  if (p.label !== undefined) fail(f('label'), `label ${JSON.stringify(p.label)} defined for LVM volume group (partition type "lvm")`);
  if (p.subvolumes !== undefined) fail(f('subvolumes'), 'subvolumes defined for LVM volume group (partition type "lvm")');
  const name = checkString(p.name, f('name'));
  if (name) {
    if (vgNames.has(name)) fail(f('name'), `duplicate LVM volume group name ${JSON.stringify(name)} in partitioning customizations`);
    vgNames.add(name);
    const bad = lvmNameError(name, 'volume group');
    if (bad) fail(f('name'), bad);
  }
  const lvs = p.logical_volumes ?? [];
  if (!Array.isArray(lvs)) fail(f('logical_volumes'), 'must be a list');
  const names = new Set<string>();
  lvs.forEach((lv: unknown, j) => checkLogicalVolume(lv, name ?? '', names, c, (k) => f(`logical_volumes[${j}]${k ? `.${k}` : ''}`)));
}

function checkBtrfs(p: Record<string, unknown>, c: DiskChecks, f: (k: string) => string): void {
  if (p.mountpoint !== undefined) fail(f('mountpoint'), '"mountpoint" is not supported for btrfs volumes (only subvolumes can have mountpoints)');
  if (p.logical_volumes !== undefined) fail(f('logical_volumes'), 'LVM logical volumes defined for btrfs volume (partition type "btrfs")');
  const subvolumes = p.subvolumes;
  if (subvolumes !== undefined && !Array.isArray(subvolumes)) fail(f('subvolumes'), 'must be a list');
  if (!subvolumes || subvolumes.length === 0) fail(f('subvolumes'), 'btrfs volume requires subvolumes');
  const names = new Set<string>();
  subvolumes.forEach((sv: unknown, j) => {
    const g = (k: string) => f(`subvolumes[${j}]${k ? `.${k}` : ''}`);
    if (!isObject(sv)) fail(g(''), 'must be an object {name, mountpoint}');
    checkKeys(sv, ['name', 'mountpoint'], g, 'a btrfs subvolume');
    const name = checkString(sv.name, g('name')) ?? '';
    if (name === '') fail(g('name'), 'btrfs subvolume with empty name in partitioning customizations');
    if (names.has(name)) fail(g('name'), `duplicate btrfs subvolume name ${JSON.stringify(name)} in partitioning customizations`);
    names.add(name);
    const bad = subvolumeNameError(name);
    if (bad) fail(g('name'), bad);
    const mountpoint = checkMountpoint(sv.mountpoint, g('mountpoint'));
    claimMountpoint(c, mountpoint, g('mountpoint'));
    if (mountpoint === '/boot/efi') fail(g('mountpoint'), 'invalid mountpoint "/boot/efi" for btrfs subvolume: it must be a vfat plain partition');
  });
}

/**
 * `customizations.disk`, checked against the table type it will have (`tableType`: the
 * customization's, else the image type's). Returns it typed.
 */
export function checkDisk(disk: unknown, tableType: 'gpt' | 'dos', at: At): DiskCustomization {
  const d = (k: string) => at(`disk${k ? `.${k}` : ''}`);
  if (!isObject(disk)) fail(d(''), 'must be an object');
  checkKeys(disk, ['type', 'minsize', 'start_offset', 'sector_size', 'partitions'], d, 'customizations.disk');
  const type = disk.type ?? '';
  if (type !== '' && type !== 'gpt' && type !== 'dos') fail(d('type'), `unknown partition table type: ${JSON.stringify(type)} (valid: gpt, dos)`);
  const partitions = disk.partitions ?? [];
  if (!Array.isArray(partitions)) fail(d('partitions'), 'must be a list');
  if (tableType === 'dos' && partitions.length > 4) fail(d('partitions'), `"dos" partition table type only supports up to 4 partitions: got ${partitions.length}`);
  checkSize(disk.minsize, d('minsize'), false);
  checkSize(disk.start_offset, d('start_offset'), false);
  const sectorSize = checkSize(disk.sector_size, d('sector_size'), false);
  if (sectorSize !== 0 && (sectorSize & (sectorSize - 1)) !== 0) fail(d('sector_size'), `sector_size must be a power of 2, got ${sectorSize}`);
  // upstream takes any power of two; loop devices, which osbuild partitions the image through,
  // take logical block sizes from 512 to 4096 bytes
  if (sectorSize !== 0 && (sectorSize < 512 || sectorSize > 4096)) fail(d('sector_size'), `sector_size must be 512, 1024, 2048 or 4096 (a loop device's logical block size), got ${sectorSize}`);

  const c: DiskChecks = { at, tableType, mountpoints: new Map() };
  const vgNames = new Set<string>();
  let lvm: string | undefined;
  let btrfs: string | undefined;
  partitions.forEach((p: unknown, i) => {
    const f = (k: string) => d(`partitions[${i}]${k ? `.${k}` : ''}`);
    if (!isObject(p)) fail(f(''), 'must be an object');
    const kind = p.type ?? 'plain';
    if (kind !== 'plain' && kind !== 'lvm' && kind !== 'btrfs') fail(f('type'), `unknown partition type: ${JSON.stringify(kind)} (valid: plain, lvm, btrfs)`);
    // upstream decodes each type strictly: a field of another type is an error
    for (const key of Object.keys(p)) {
      if (COMMON_KEYS.includes(key) || TYPE_KEYS[kind].includes(key)) continue;
      if (kind === 'btrfs' && key === 'mountpoint') continue; // its own message below
      if (kind === 'lvm' && (key === 'label' || key === 'subvolumes')) continue;
      if (kind === 'btrfs' && key === 'logical_volumes') continue;
      const owner = Object.keys(TYPE_KEYS).find((t) => TYPE_KEYS[t].includes(key));
      fail(f(key), owner ? `${JSON.stringify(key)} belongs to partitions of type ${JSON.stringify(owner)}, not ${JSON.stringify(kind)}` : `unknown field ${JSON.stringify(key)} in a partition`);
    }
    checkSize(p.minsize, f('minsize'), true);
    checkPartitionIds(p, c, f);
    if (kind === 'plain') checkPlain(p, c, f);
    else if (kind === 'lvm') checkLvm(p, c, f, vgNames);
    else checkBtrfs(p, c, f);
    // ValidateLayoutConstraints
    if (kind === 'lvm') {
      if (btrfs) fail(f('type'), `btrfs and lvm partitioning cannot be combined (${btrfs} is btrfs)`);
      if (lvm) fail(f('type'), `multiple LVM volume groups are not yet supported (${lvm} is one already)`);
      lvm = d(`partitions[${i}]`);
    }
    if (kind === 'btrfs') {
      if (lvm) fail(f('type'), `btrfs and lvm partitioning cannot be combined (${lvm} is lvm)`);
      if (btrfs) fail(f('type'), `multiple btrfs volumes are not yet supported (${btrfs} is one already)`);
      btrfs = d(`partitions[${i}]`);
    }
  });
  return disk as DiskCustomization;
}

