/**
 * The partitioning vocabulary of a blueprint (osbuild/blueprint's FilesystemCustomization,
 * DiskCustomization, PartitionCustomization, LVCustomization, BtrfsSubvolumeCustomization) with
 * every size already in bytes.
 */
import type { FsType } from './model.js';

/** How `filesystem` customizations change the base table; "" behaves as auto-lvm. btrfs is upstream's internal mode. */
export type PartitioningMode = 'raw' | 'lvm' | 'auto-lvm' | 'btrfs' | '';

/** How the image boots: which boot partitions a custom table gets (upstream's platform.BootMode). */
export type BootMode = 'uefi' | 'legacy' | 'hybrid' | 'none';

/** `customizations.filesystem[]`: a mount point and its minimum size. */
export interface FilesystemCustomization {
  mountpoint: string;
  minsize: number;
}

/** `customizations.disk.partitions[].logical_volumes[]`. */
export interface LogicalVolumeCustomization {
  /** Generated from the mount point when absent (/var/log → var_loglv, swap → swaplv). */
  name?: string;
  minsize: number;
  /** Required unless fs_type is swap (then it must be absent). */
  mountpoint?: string;
  label?: string;
  fs_type?: 'ext4' | 'xfs' | 'vfat' | 'swap';
}

/** `customizations.disk.partitions[].subvolumes[]`. */
export interface BtrfsSubvolumeCustomization {
  name: string;
  mountpoint: string;
}

/**
 * `customizations.disk.partitions[]`. `type` chooses the payload: plain (a file system, swap
 * or nothing), lvm (a volume group) or btrfs (a volume with subvolumes); the fields of the other
 * types are refused.
 */
export interface PartitionCustomization {
  type?: 'plain' | 'lvm' | 'btrfs';
  minsize: number;
  /** GPT type GUID or DOS id (two hex digits); inferred from the mount point or payload when absent. */
  part_type?: string;
  /** GPT partition name. */
  part_label?: string;
  /** GPT partition GUID. */
  part_uuid?: string;
  // plain
  mountpoint?: string;
  label?: string;
  fs_type?: 'ext4' | 'xfs' | 'vfat' | 'swap' | 'none';
  // lvm
  name?: string;
  logical_volumes?: LogicalVolumeCustomization[];
  // btrfs
  subvolumes?: BtrfsSubvolumeCustomization[];
}

/** `customizations.disk`: the whole partition table. */
export interface DiskCustomization {
  /** Default: the image type's table type. */
  type?: 'gpt' | 'dos';
  /** Minimum disk size; the image request's size replaces it. */
  minsize?: number;
  /** Bytes before the first partition (on top of the table's header). */
  start_offset?: number;
  /** Logical sector size: 512 (default), 1024, 2048 or 4096. */
  sector_size?: number;
  partitions?: PartitionCustomization[];
}

export interface PartitioningCustomization {
  filesystem?: FilesystemCustomization[];
  partitioning_mode?: PartitioningMode;
  disk?: DiskCustomization;
}

export interface PartitioningOptions {
  arch: string;
  bootMode: BootMode;
  /** The distro's default file system (for new mount points and the automatic / and /boot). */
  defaultFsType: FsType;
  /**
   * The image type's minimum directory sizes. Undefined means the type sets none: the base path
   * then uses upstream's default (/ 1 GiB, /usr 2 GiB), the disk customization none; {} means none.
   */
  requiredDirectorySizes?: Record<string, number>;
  /** The image type's partitioning modes; undefined or empty: any. */
  supportedPartitioningModes?: string[];
  /** The base table's type (default: the base table's own). */
  tableType?: 'gpt' | 'dos';
  /** The image request's size in bytes (0 or undefined: none). */
  size?: number;
  /** The image type's default size: the base path's size when the request has none. */
  defaultSize?: number;
  /** For messages: the image type's name. */
  imageType?: string;
  /** Where the fields are in the request (default "customizations"). */
  fieldPrefix?: string;
}
