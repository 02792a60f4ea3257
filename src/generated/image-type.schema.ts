/* Generated from schemas/image-type.schema.json by `npm run gen:types`. Do not edit. */

export type Arch = 'x86_64' | 'aarch64' | 'ppc64le' | 's390x';

/**
 * One distro family's image types (image-types/<family>.json): the distros it covers and, per image type, package sets, pipelines, partition tables, image config and exports. Modelled on osbuild/images' distrodefs. `build_package_set` is the build root (the build pipeline) shared by every image type; an image type's package_sets.build adds to it.
 */
export interface ImageTypeFamily {
  family: string;
  description?: string;
  /**
   * @minItems 1
   */
  distros: [Distro, ...Distro[]];
  build_package_set: PackageSet;
  image_types: {
    [k: string]: ImageType;
  };
}
export interface Distro {
  /**
   * Name as Koji users pass it. `{minor}` stands for the minor version when `minor_versions` is set (rhel-9.{minor} matches rhel-9.0 … rhel-9.10).
   */
  name: string;
  minor_versions?: {
    min: number;
    max: number;
  };
  product?: string;
  /**
   * May contain {minor}.
   */
  os_version: string;
  releasever: string;
  module_platform_id: string;
  /**
   * May contain {minor}.
   */
  runner: string;
  uefi_vendor: string;
}
export interface PackageSet {
  include: string[];
  exclude?: string[];
  install_weak_deps?: boolean;
  conditions?: {
    when: When;
    include?: string[];
    exclude?: string[];
  }[];
}
/**
 * All given keys must match. `distro` entries ending in `-` match as prefixes.
 */
export interface When {
  arch?: Arch[];
  distro?: string[];
  version_at_least?: string;
  version_below?: string;
}
export interface ImageType {
  description?: string;
  aliases?: string[];
  kind: 'disk' | 'container';
  /**
   * File the export pipeline writes; the Koji extension is everything from its first dot.
   */
  filename: string;
  mime_type: string;
  /**
   * @minItems 1
   */
  exports: [string, ...string[]];
  default_size?: number;
  /**
   * Raw disk file of the disk pipeline (default disk.raw).
   */
  disk_filename?: string;
  /**
   * @minItems 2
   */
  pipelines: [Pipeline, Pipeline, ...Pipeline[]];
  package_sets: {
    os: PackageSet;
    build?: PackageSet;
  };
  /**
   * Supported architectures and their boot setup.
   */
  platforms: {
    [k: string]: Platform;
  };
  image_config?: ImageConfigValues;
  /**
   * Applied in order on top of image_config; later wins.
   */
  image_config_conditions?: {
    when: When;
    set: ImageConfigValues;
  }[];
  container_config?: {
    cmd?: string[];
    labels?: {
      [k: string]: string;
    };
  };
  unsupported_customizations?: ('kernel' | 'services' | 'users' | 'hostname' | 'timezone')[];
}
export interface Pipeline {
  name: string;
  role: 'build' | 'os' | 'disk' | 'qcow2' | 'xz' | 'oci-archive';
  qcow2_compat?: string;
}
export interface Platform {
  /**
   * grub2 legacy platform, e.g. i386-pc.
   */
  bios_platform?: string;
  uefi?: boolean;
  /**
   * Added to the os package set.
   */
  packages?: string[];
  /**
   * Added to the build package set.
   */
  build_packages?: string[];
  partition_table?: PartitionTable;
}
export interface PartitionTable {
  type: 'gpt' | 'dos';
  uuid: string;
  /**
   * Bytes before the first partition (default 1 MiB).
   */
  start_offset?: number;
  /**
   * @minItems 1
   */
  partitions: [Partition, ...Partition[]];
}
export interface Partition {
  /**
   * Bytes; omitted on the last (growing) partition.
   */
  size?: number;
  /**
   * Takes the rest of the disk; only the last partition.
   */
  grow?: boolean;
  /**
   * GPT type GUID or DOS id.
   */
  type: string;
  uuid?: string;
  bootable?: boolean;
  /**
   * The BIOS boot partition grub2.inst writes its core image after.
   */
  bios_boot?: boolean;
  filesystem?: Filesystem;
}
export interface Filesystem {
  type: 'ext4' | 'xfs' | 'vfat';
  mountpoint: string;
  label?: string;
  /**
   * Fixed filesystem UUID (vfat: XXXX-XXXX); derived deterministically when absent.
   */
  uuid?: string;
  fstab_options?: string;
  fstab_freq?: number;
  fstab_passno?: number;
}
export interface ImageConfigValues {
  locale?: string;
  keymap?: string;
  timezone?: string;
  hostname?: string;
  kernel_options?: string[];
  enabled_services?: string[];
  disabled_services?: string[];
  default_target?: string;
  machine_id_uninitialized?: boolean;
  selinux?: 'targeted' | 'none';
  /**
   * Writes /etc/cloud/cloud.cfg.d/00-default-user.cfg via org.osbuild.cloud-init.
   */
  cloud_init_default_user?: string;
  /**
   * Adds org.osbuild.sysconfig (kernel update_default, networking).
   */
  sysconfig?: boolean;
  rpm_install_langs?: string[];
  rpm_exclude_docs?: boolean;
}
