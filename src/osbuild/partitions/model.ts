/**
 * A disk's partition table as Kiln builds it: sizes in bytes, partition types resolved to GUIDs
 * (GPT) or ids (DOS), payloads (file system, LVM volume group, btrfs volume, LUKS container,
 * swap) as a tree. Made from an image definition's table (`fromDefinition`), then laid out for
 * an image (layout.ts) and given identifiers (uuids.ts).
 */
import type {
  BtrfsVolume,
  Filesystem as FilesystemDef,
  Luks as LuksDef,
  PartitionTable as PartitionTableDef,
  Swap as SwapDef,
  VolumeGroup as VolumeGroupDef,
} from '../../generated/image-definitions.schema.js';
import { parseSize } from '../definitions/sizes.js';

export type FsType = 'ext4' | 'xfs' | 'vfat' | 'btrfs';

export interface Filesystem {
  kind: 'filesystem';
  type: FsType;
  mountpoint: string;
  label?: string;
  uuid?: string;
  fstabOptions: string;
  fstabFreq: number;
  fstabPassno: number;
  verity?: boolean;
  geometry?: { heads: number; sectorsPerTrack: number };
}

export interface Swap {
  kind: 'swap';
  label?: string;
  uuid?: string;
  fstabOptions: string;
}

export interface LogicalVolume {
  name: string;
  size: number;
  payload: Filesystem | Swap;
}

export interface VolumeGroup {
  kind: 'lvm';
  name: string;
  description?: string;
  logicalVolumes: LogicalVolume[];
}

export interface BtrfsSubvolume {
  name: string;
  mountpoint: string;
  size: number;
  compress?: string;
  readOnly?: boolean;
  fstabOptions: string;
}

export interface Btrfs {
  kind: 'btrfs';
  label?: string;
  uuid?: string;
  subvolumes: BtrfsSubvolume[];
}

export interface Luks {
  kind: 'luks';
  passphrase: string;
  uuid?: string;
  label?: string;
  cipher?: string;
  subsystem?: string;
  pbkdf?: { iterations?: number; memory?: number; parallelism?: number };
  clevis?: { pin: string; policy: string; removePassphrase: boolean };
  payload: Filesystem | VolumeGroup;
}

export type Payload = Filesystem | Swap | VolumeGroup | Btrfs | Luks;

export interface Partition {
  /** Bytes from the start of the disk (set by the layout). */
  start: number;
  size: number;
  /** GPT type GUID (upper case) or DOS id (two hex digits); unset: sfdisk's default (Linux data). */
  type?: string;
  bootable: boolean;
  uuid?: string;
  label?: string;
  attrs?: number[];
  payload?: Payload;
}

export interface PartitionTable {
  type: 'gpt' | 'dos';
  uuid?: string;
  /** Disk size in bytes (a floor before the layout, the image size after it). */
  size: number;
  startOffset: number;
  sectorSize: number;
  partitions: Partition[];
}

const GUID = {
  'bios-boot': '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  xbootldr: 'BC13C2FF-59E6-4262-A352-B275FD6F7172',
  lvm: 'E6D6D379-F507-44C2-A23C-238F2A3DF928',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  prep: '9E1A2D38-C612-4316-AA26-8B49521E5A8B',
} as const;

/** Discoverable Partitions Specification: root and /usr types per architecture. */
const ROOT_GUID: Record<string, string> = {
  x86_64: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  aarch64: 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
  ppc64le: 'C31C45E6-3F39-412E-80FB-4809C4980599',
  s390x: '5EEAD9A9-FE09-4A1E-A1D7-520D00531306',
  riscv64: '72EC70A6-CF74-40E6-BD49-4BDA08E8F224',
};
const USR_GUID: Record<string, string> = {
  x86_64: '8484680C-9521-48C6-9C11-B0720656F69E',
  aarch64: 'B0E01050-EE5F-4390-949A-9101B17104E9',
  ppc64le: '15BB03AF-77E7-4D4A-B12B-C0D084F7491C',
  s390x: '8A4F5770-50AA-4ED3-874A-99B710DB6FEA',
  riscv64: 'BEAEC34B-8442-439B-A40B-984381ED097D',
};

const DOS_ID: Record<string, string> = {
  'bios-boot': '00',
  esp: 'ef',
  'esp-fat16': '06',
  linux: '83',
  xbootldr: '83',
  lvm: '8e',
  swap: '82',
  prep: '41',
  root: '83',
  usr: '83',
};

export const ESP_FSTAB_OPTIONS = 'defaults,uid=0,gid=0,umask=077,shortname=winnt';

/** A partition type by role, GUID or DOS id → what goes into the table; undefined when it does not fit the table type. */
export function partitionTypeId(type: string, table: 'gpt' | 'dos', arch: string): string | undefined {
  if (/^[0-9A-Fa-f]{2}$/.test(type)) return table === 'dos' ? type.toLowerCase() : undefined;
  if (type.includes('-') && type.length === 36) return table === 'gpt' ? type.toUpperCase() : undefined;
  if (table === 'dos') return DOS_ID[type];
  if (type === 'root') return ROOT_GUID[arch];
  if (type === 'usr') return USR_GUID[arch];
  return GUID[type as keyof typeof GUID];
}

export function isBiosBootOrPrep(p: Partition, table: 'gpt' | 'dos'): boolean {
  return table === 'gpt' ? p.type === GUID['bios-boot'] || p.type === GUID.prep : p.type === '41' || p.type === '00';
}

export const PARTITION_GUIDS = { ...GUID, root: ROOT_GUID, usr: USR_GUID };

function filesystem(def: FilesystemDef, defaultFs: FsType): Filesystem {
  // /boot stays ext4 when the distro's default is btrfs (grub reads it; upstream does the same)
  const type = def.type ?? (defaultFs === 'btrfs' && def.mountpoint === '/boot' ? 'ext4' : defaultFs);
  return {
    kind: 'filesystem',
    type,
    mountpoint: def.mountpoint,
    ...(def.label !== undefined ? { label: def.label } : {}),
    ...(def.uuid !== undefined ? { uuid: def.uuid } : {}),
    fstabOptions: def.fstab_options ?? (def.mountpoint === '/boot/efi' && type === 'vfat' ? ESP_FSTAB_OPTIONS : 'defaults'),
    fstabFreq: def.fstab_freq ?? 0,
    fstabPassno: def.fstab_passno ?? 0,
    ...(def.mkfs_options?.verity ? { verity: true } : {}),
    ...(def.mkfs_options?.geometry ? { geometry: { heads: def.mkfs_options.geometry.heads, sectorsPerTrack: def.mkfs_options.geometry.sectors_per_track } } : {}),
  };
}

function swap(def: SwapDef): Swap {
  return { kind: 'swap', ...(def.label ? { label: def.label } : {}), ...(def.uuid ? { uuid: def.uuid } : {}), fstabOptions: def.fstab_options ?? 'defaults' };
}

function volumeGroup(def: VolumeGroupDef, defaultFs: FsType): VolumeGroup {
  return {
    kind: 'lvm',
    name: def.name,
    ...(def.description ? { description: def.description } : {}),
    logicalVolumes: def.logical_volumes.map((lv) => ({
      name: lv.name,
      size: parseSize(lv.size)!,
      payload: lv.swap ? swap(lv.swap) : filesystem(lv.filesystem!, defaultFs),
    })),
  };
}

function btrfs(def: BtrfsVolume): Btrfs {
  return {
    kind: 'btrfs',
    ...(def.label ? { label: def.label } : {}),
    ...(def.uuid ? { uuid: def.uuid } : {}),
    subvolumes: def.subvolumes.map((s) => ({
      name: s.name,
      mountpoint: s.mountpoint,
      size: s.size === undefined ? 0 : parseSize(s.size)!,
      ...(s.compress ? { compress: s.compress } : {}),
      ...(s.read_only ? { readOnly: true } : {}),
      fstabOptions: s.fstab_options ?? 'defaults',
    })),
  };
}

function luks(def: LuksDef, defaultFs: FsType): Luks {
  return {
    kind: 'luks',
    passphrase: def.passphrase,
    ...(def.uuid ? { uuid: def.uuid } : {}),
    ...(def.label ? { label: def.label } : {}),
    ...(def.cipher ? { cipher: def.cipher } : {}),
    ...(def.subsystem ? { subsystem: def.subsystem } : {}),
    ...(def.pbkdf ? { pbkdf: { ...def.pbkdf } } : {}),
    ...(def.clevis ? { clevis: { pin: def.clevis.pin, policy: def.clevis.policy, removePassphrase: def.clevis.remove_passphrase ?? false } } : {}),
    payload: def.lvm ? volumeGroup(def.lvm, defaultFs) : filesystem(def.filesystem!, defaultFs),
  };
}

/** Thrown by fromDefinition with the field (relative to the table) that is wrong. */
export class TableDefinitionError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The definition's table for one architecture, sizes parsed, types resolved, default file system applied. */
export function fromDefinition(def: PartitionTableDef, arch: string, defaultFs: FsType): PartitionTable {
  return {
    type: def.type,
    ...(def.uuid !== undefined ? { uuid: def.uuid } : {}),
    size: def.size === undefined ? 0 : parseSize(def.size)!,
    startOffset: def.start_offset === undefined ? 0 : parseSize(def.start_offset)!,
    sectorSize: def.sector_size ?? 512,
    partitions: def.partitions.map((p, i) => {
      const type = p.type === undefined ? undefined : partitionTypeId(p.type, def.type, arch);
      if (p.type !== undefined && !type) throw new TableDefinitionError(`partitions[${i}].type`, `${JSON.stringify(p.type)} is not a ${def.type} partition type${def.type === 'gpt' ? ` on ${arch}` : ''}`);
      const payloads = (['filesystem', 'lvm', 'btrfs', 'luks', 'swap'] as const).filter((k) => p[k] !== undefined);
      if (payloads.length > 1) throw new TableDefinitionError(`partitions[${i}]`, `has more than one payload (${payloads.join(', ')})`);
      let payload: Payload | undefined;
      if (p.filesystem) payload = filesystem(p.filesystem, defaultFs);
      else if (p.lvm) payload = volumeGroup(p.lvm, defaultFs);
      else if (p.btrfs) payload = btrfs(p.btrfs);
      else if (p.luks) {
        if ((p.luks.filesystem === undefined) === (p.luks.lvm === undefined)) throw new TableDefinitionError(`partitions[${i}].luks`, 'needs exactly one of filesystem and lvm');
        payload = luks(p.luks, defaultFs);
      } else if (p.swap) payload = swap(p.swap);
      return {
        start: 0,
        size: p.size === undefined ? 0 : parseSize(p.size)!,
        ...(type !== undefined ? { type } : {}),
        bootable: p.bootable ?? false,
        ...(p.uuid !== undefined ? { uuid: p.uuid } : {}),
        ...(p.label !== undefined ? { label: p.label } : {}),
        ...(p.attrs?.length ? { attrs: [...p.attrs] } : {}),
        ...(payload ? { payload } : {}),
      };
    }),
  };
}

/** A mount point and the entity that provides it, in table order (depth first). */
export interface Mountable {
  mountpoint: string;
  entity: Filesystem | BtrfsSubvolume;
  /** The btrfs volume of a subvolume. */
  volume?: Btrfs;
  /** Index of the partition it lives on. */
  partition: number;
  /** The chain from the partition down to the file system (LUKS container, volume group, logical volume). */
  path: (Luks | VolumeGroup | LogicalVolume)[];
}

export function mountables(pt: PartitionTable): Mountable[] {
  const out: Mountable[] = [];
  const visit = (payload: Payload | undefined, partition: number, pathSoFar: Mountable['path']) => {
    if (!payload) return;
    switch (payload.kind) {
      case 'filesystem':
        out.push({ mountpoint: payload.mountpoint, entity: payload, partition, path: pathSoFar });
        break;
      case 'btrfs':
        for (const s of payload.subvolumes) out.push({ mountpoint: s.mountpoint, entity: s, volume: payload, partition, path: pathSoFar });
        break;
      case 'lvm':
        for (const lv of payload.logicalVolumes) if (lv.payload.kind === 'filesystem') visit(lv.payload, partition, [...pathSoFar, payload, lv]);
        break;
      case 'luks':
        visit(payload.payload, partition, [...pathSoFar, payload]);
        break;
      case 'swap':
        break;
    }
  };
  pt.partitions.forEach((p, i) => visit(p.payload, i, []));
  return out;
}

/** Build-root packages the table's file systems and volumes need (mkfs, lvm, cryptsetup). */
export function tableTools(pt: PartitionTable): string[] {
  const tools = new Set<string>();
  const visit = (payload: Payload | undefined) => {
    if (!payload) return;
    switch (payload.kind) {
      case 'filesystem':
        tools.add({ ext4: 'e2fsprogs', xfs: 'xfsprogs', vfat: 'dosfstools', btrfs: 'btrfs-progs' }[payload.type]);
        break;
      case 'btrfs':
        tools.add('btrfs-progs');
        break;
      case 'lvm':
        tools.add('lvm2');
        for (const lv of payload.logicalVolumes) visit(lv.payload);
        break;
      case 'luks':
        for (const t of ['clevis', 'clevis-luks', 'cryptsetup']) tools.add(t);
        visit(payload.payload);
        break;
      case 'swap':
        break;
    }
  };
  for (const p of pt.partitions) visit(p.payload);
  return [...tools].sort();
}
