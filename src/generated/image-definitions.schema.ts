/* Generated from schemas/image-definitions.schema.json by `npm run gen:types`. Do not edit. */

export type StringList = string[];
/**
 * Image config keys (each maps to one or more osbuild stages; src/osbuild/stages/) with conditions. A fragment's conditions apply after its own keys: `merge` replaces each key it sets, `append` adds to list-valued keys.
 */
export type ImageConfigFragment = ImageConfig & {
  use?: BlockName | BlockName[];
  conditions?: {
    when: When;
    reason: Reason;
    merge?: ImageConfig;
    append?: ImageConfig;
  }[];
};
export type BlockName = string;
export type Arch = 'x86_64' | 'aarch64' | 'ppc64le' | 's390x' | 'riscv64';
export type Version = string;
/**
 * Why the condition exists, in a few words (as upstream writes them).
 */
export type Reason = string;
/**
 * Fragments applied in order, later keys replacing earlier ones.
 */
export type ImageConfigList = ImageConfigFragment[];
/**
 * Bytes, or a number with a unit: "5 GiB", "200 MiB", "1.5 GiB", "500 MB".
 */
export type Size = number | string;
/**
 * Anaconda D-Bus modules the org.osbuild.anaconda stage activates.
 */
export type StringList1 = string[];
/**
 * Added to the installer initrd's dracut modules.
 */
export type StringList2 = string[];
/**
 * Kernel options put first when the blueprint asks for an unattended installation.
 */
export type StringList3 = string[];
/**
 * Flatpaks an ostree installer embeds (osbuild/images' installer_config.flatpaks): each entry a registry and the references resolved in its index at depsolve time, then imported into /flatpak/repo of the installer tree, where anaconda installs them from. References are templates over {arch}, {major}, {distro}; the registry URL can be replaced per host (config flatpak.registries).
 */
export type FlatpakSources = {
  registry: {
    /**
     * The flatpak remote's name (upstream keeps it; anaconda does not read it).
     */
    remote_name?: string;
    /**
     * An OCI registry serving flatpak's registry index (/index/static).
     */
    url: string;
  };
  /**
   * @minItems 1
   */
  references: [string, ...string[]];
}[];
/**
 * Anaconda D-Bus modules the org.osbuild.anaconda stage activates.
 */
export type StringList4 = string[];
/**
 * Added to the installer initrd's dracut modules.
 */
export type StringList5 = string[];
/**
 * Kernel options put first when the blueprint asks for an unattended installation.
 */
export type StringList6 = string[];
export type OptionPath = string;
/**
 * Other names that resolve to this type (as upstream names them, plus what Koji users pass).
 */
export type StringList7 = string[];

/**
 * One YAML file of image definitions (image-types/<family>/*.yaml, or a drop-in in the configured image_types.dropin_dir). Every file of a family directory contributes named blocks; a drop-in names the family it adds to. Data says what goes into an image; src/osbuild/ turns it into osbuild stages. Modelled on osbuild/images' data/distrodefs: the same facts, in a format of Kiln's own (named blocks instead of YAML anchors, conditions with reasons, per-arch platforms).
 */
export interface ImageDefinitionsFile {
  /**
   * The family this file belongs to. Required in drop-ins; in image-types/<family>/ it must match the directory name when given.
   */
  family?: string;
  description?: string;
  /**
   * Distributions by id (`fedora`, `rhel-9`, `centos-9`). A drop-in entry with an existing id adds releases to it and replaces the other keys it sets.
   */
  distros?: {
    [k: string]: Distro;
  };
  /**
   * Named package-set entries, used in image types as {use: <name>}.
   */
  package_sets?: {
    [k: string]: PackageSetEntry;
  };
  /**
   * Named partition tables, one per architecture.
   */
  partition_tables?: {
    [k: string]: PartitionTablesByArch;
  };
  /**
   * Named platform blocks (bootloader, firmware, packages per architecture).
   */
  platforms?: {
    [k: string]: Platform;
  };
  /**
   * Named image-config fragments, used in an image_config list as {use: <name>}.
   */
  image_configs?: {
    [k: string]: ImageConfigFragment;
  };
  installer_configs?: {
    [k: string]: InstallerConfigFragment;
  };
  iso_configs?: {
    [k: string]: IsoConfigFragment;
  };
  /**
   * Named cloud environments: packages added to the OS and services enabled.
   */
  environments?: {
    [k: string]: Environment;
  };
  /**
   * Named lists of blueprint customization paths an image type supports (customizations.kernel.append, packages, …).
   */
  option_lists?: {
    [k: string]: OptionPath[];
  };
  /**
   * Named minimum directory sizes (the file system holding each directory grows to the sum of those it holds).
   */
  directory_sizes?: {
    [k: string]: DirectorySizes;
  };
  image_types?: {
    [k: string]: ImageType;
  };
}
export interface Distro {
  /**
   * Template of the names Koji users pass: `fedora-{major}`, `rhel-9.{minor}`, `centos-9`.
   */
  name?: string;
  /**
   * The versions this distro covers, each with what differs for it. Keys are `{major}` for Fedora, minor numbers for `rhel-9.{minor}`; a drop-in adds a release here (fedora-46 on branch day).
   */
  releases?: {
    [k: string]: {
      /**
       * Not released yet (Rawhide, a branched release): installer ISOs say so.
       */
      preview?: boolean;
    };
  };
  /**
   * Fixed major version when the name has no `{major}`.
   */
  major?: number;
  product?: string;
  /**
   * EFI vendor directory name (`{vendor}` in platform uefi_vendor).
   */
  vendor?: string;
  codename?: string;
  /**
   * Template: `{major}`, `9.{minor}`, `9-stream`.
   */
  os_version?: string;
  releasever?: string;
  module_platform_id?: string;
  default_fs_type?: 'ext4' | 'xfs' | 'btrfs';
  /**
   * Template of installer ISO labels: {product}, {major}, {minor}, {iso_label}, {arch}.
   */
  iso_label?: string;
  runner?: {
    name: string;
    build_packages?: StringList;
  };
  image_config?: ImageConfigList;
  oscap_profiles?: StringList;
  /**
   * rpmkeys to verify signatures with (a post-quantum capable one on RHEL ≥ 9.7).
   */
  rpmkeys_binary?: ConditionalString[];
  ignore_build_key_import_failures?: ConditionalFlag[];
}
export interface ImageConfig {
  hostname?: string;
  timezone?: string;
  time_synchronization?: StageOptions;
  locale?: string;
  keyboard?: {
    keymap?: string;
    'x11-keymap'?: {
      layouts: StringList;
    };
  };
  enabled_services?: StringList;
  disabled_services?: StringList;
  masked_services?: StringList;
  default_target?: string;
  sysconfig?: {
    networking?: boolean;
    no_zero_conf?: boolean;
    create_default_network_scripts?: boolean;
  };
  default_kernel?: string;
  update_default_kernel?: boolean;
  kernel_options?: StringList;
  kernel_options_bootloader?: boolean;
  default_kernel_name?: string;
  gpgkey_files?: StringList;
  no_selinux?: boolean;
  selinux_force_relabel?: boolean;
  exclude_docs?: boolean;
  install_weak_deps?: boolean;
  install_langs?: StringList;
  machine_id_uninitialized?: boolean;
  lock_root_user?: boolean;
  no_bls?: boolean;
  permissive_rhc?: boolean;
  default_oscap_datastream?: string;
  versionlock_packages?: StringList;
  shell_init?: StageOptions[];
  rhsm_config?: {
    'no-subscription'?: StageOptions;
    'with-subscription'?: StageOptions;
  };
  systemd_logind?: StageOptions[];
  cloud_init?: StageOptions[];
  modprobe?: StageOptions[];
  dracut_conf?: StageOptions[];
  systemd_dropin?: StageOptions[];
  systemd_unit?: StageOptions[];
  authselect?: StageOptions;
  selinux_config?: StageOptions;
  tuned?: StageOptions;
  tmpfilesd?: StageOptions[];
  pam_limits_conf?: StageOptions[];
  sysctld?: StageOptions[];
  dnf_config?: {
    options?: StageOptions;
    set_releasever_var?: boolean;
  };
  dnf_automatic_config?: StageOptions;
  yum_config?: StageOptions;
  yum_repos?: StageOptions[];
  sshd_config?: StageOptions;
  authconfig?: StageOptions;
  pwquality?: StageOptions;
  waagent_config?: StageOptions;
  grub2_config?: StageOptions;
  firewall?: StageOptions;
  udev_rules?: StageOptions;
  gcp_guest_agent_config?: StageOptions;
  network_manager?: StageOptions;
  presets?: {
    name: string;
    state: 'enable' | 'disable';
  }[];
  wsl?: {
    config?: StageOptions;
    distribution_config?: StageOptions;
  };
  oci?: StageOptions;
  ostree_server?: StageOptions;
  users?: User[];
  files?: FileNode[];
  directories?: FileNode[];
  ostree_conf_sysroot_readonly?: boolean;
  ignition_platform?: string;
  bootupd_gen_metadata?: boolean;
  /**
   * Mount file systems with systemd .mount units instead of /etc/fstab.
   */
  mount_units?: boolean;
  partitioning_tool?: 'sfdisk' | 'sgdisk';
}
/**
 * Options handed to an osbuild stage as they are (checked against the stage's schema when the manifest is made and by osbuild).
 */
export interface StageOptions {
  [k: string]: unknown;
}
export interface User {
  name: string;
  description?: string;
  password?: string;
  key?: string;
  home?: string;
  shell?: string;
  groups?: StringList;
  uid?: number;
  gid?: number;
  expiredate?: number;
  force_password_reset?: boolean;
}
export interface FileNode {
  path: string;
  /**
   * Octal, as a string ("0440") or a number written in octal digits.
   */
  mode?: string | number;
  user?: string | number;
  group?: string | number;
  data?: string;
  ensure_parents?: boolean;
}
/**
 * All given keys must hold. `distro` is the distro name without version (fedora, rhel, centos). Versions compare as major.minor; a distro without a minor (centos-9, fedora-43) compares as major.999, i.e. newer than every minor.
 */
export interface When {
  arch?: Arch | [Arch, ...Arch[]];
  not_arch?: Arch | [Arch, ...Arch[]];
  distro?: string | [string, ...string[]];
  not_distro?: string | [string, ...string[]];
  version_at_least?: Version;
  version_below?: Version;
  version?: Version;
}
export interface ConditionalString {
  when: When;
  reason: Reason;
  value: string;
}
export interface ConditionalFlag {
  when: When;
  reason: Reason;
}
/**
 * A package-set entry: {use: <named entry>} or packages to include/exclude, with conditions that append more.
 */
export interface PackageSetEntry {
  use?: BlockName;
  include?: StringList;
  exclude?: StringList;
  conditions?: {
    when: When;
    reason: Reason;
    append: {
      include?: StringList;
      exclude?: StringList;
    };
  }[];
}
export interface PartitionTablesByArch {
  [k: string]: PartitionTable;
}
export interface PartitionTable {
  type: 'gpt' | 'dos';
  /**
   * GPT disk GUID or DOS disk id (0x…); random per build when absent.
   */
  uuid?: string;
  /**
   * Minimum disk size.
   */
  size?: number | string;
  /**
   * Space before the first partition, on top of the table header (U-Boot lives there on some boards).
   */
  start_offset?: number | string;
  sector_size?: 512 | 4096;
  /**
   * @minItems 1
   */
  partitions: [Partition, ...Partition[]];
}
/**
 * A partition; its payload is at most one of filesystem, lvm, btrfs, luks, swap (none: a raw partition such as BIOS boot or PReP).
 */
export interface Partition {
  /**
   * The minimum size (default 0: just what its payload needs); the partition holding / grows to fill the disk.
   */
  size?: number | string;
  /**
   * Default: none written, which sfdisk makes Linux data (83 on DOS tables).
   */
  type?: string;
  bootable?: boolean;
  /**
   * Fixed GPT partition UUID; random per build (or from the seed) when absent.
   */
  uuid?: string;
  /**
   * GPT partition name.
   */
  label?: string;
  attrs?: number[];
  filesystem?: Filesystem;
  lvm?: VolumeGroup;
  btrfs?: BtrfsVolume;
  luks?: Luks;
  swap?: Swap;
}
export interface Filesystem {
  /**
   * Default: the distro's default_fs_type (ext4 for /boot when that is btrfs).
   */
  type?: 'ext4' | 'xfs' | 'vfat' | 'btrfs';
  mountpoint: string;
  label?: string;
  /**
   * Fixed file system UUID (vfat: XXXX-XXXX); random per build (or from the request's seed) when absent.
   */
  uuid?: string;
  fstab_options?: string;
  fstab_freq?: number;
  fstab_passno?: number;
  mkfs_options?: {
    verity?: boolean;
    geometry?: {
      heads: number;
      sectors_per_track: number;
    };
  };
}
export interface VolumeGroup {
  name: string;
  description?: string;
  /**
   * @minItems 1
   */
  logical_volumes: [LogicalVolume, ...LogicalVolume[]];
}
export interface LogicalVolume {
  name: string;
  size: Size;
  filesystem?: Filesystem;
  swap?: Swap;
}
export interface Swap {
  label?: string;
  uuid?: string;
  fstab_options?: string;
}
export interface BtrfsVolume {
  label?: string;
  uuid?: string;
  /**
   * @minItems 1
   */
  subvolumes: [
    {
      name: string;
      mountpoint: string;
      size?: Size;
      compress?: string;
      read_only?: boolean;
      fstab_options?: string;
    },
    ...{
      name: string;
      mountpoint: string;
      size?: Size;
      compress?: string;
      read_only?: boolean;
      fstab_options?: string;
    }[]
  ];
}
export interface Luks {
  passphrase: string;
  uuid?: string;
  label?: string;
  cipher?: string;
  subsystem?: string;
  pbkdf?: {
    iterations?: number;
    memory?: number;
    parallelism?: number;
  };
  clevis?: {
    pin: string;
    policy: string;
    remove_passphrase?: boolean;
  };
  filesystem?: Filesystem;
  lvm?: VolumeGroup;
}
/**
 * How an architecture boots and what that needs. `use` starts from a named platform; keys given here replace its keys, except packages and build_packages, which add to it.
 */
export interface Platform {
  use?: BlockName;
  image_format?: 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'gce' | 'ova' | 'vagrant_libvirt' | 'vagrant_virtualbox' | 'iso';
  /**
   * qcow2 compatibility level; empty for qemu-img's default.
   */
  qcow2_compat?: string;
  bios_platform?: 'i386-pc' | 'powerpc-ieee1275';
  /**
   * EFI vendor directory; may use {vendor}.
   */
  uefi_vendor?: string;
  extra_uefi_architectures?: StringList;
  zipl?: boolean;
  bootloader?: 'grub2' | 'zipl' | 'uki' | 'systemd' | 'none';
  fips_menu?: boolean;
  packages?: StringList;
  build_packages?: StringList;
  boot_files?: BootFile[];
}
export interface BootFile {
  src: string;
  dst: string;
  /**
   * Take the file from the build root instead of the image's tree.
   */
  from_build?: boolean;
}
export interface InstallerConfigFragment {
  use?: BlockName;
  enabled_anaconda_modules?: StringList1;
  disabled_anaconda_modules?: StringList;
  additional_dracut_modules?: StringList2;
  additional_drivers?: StringList;
  kickstart_unattended_extra_kernel_opts?: StringList3;
  /**
   * Boot menu entry selected by default (0: the first).
   */
  default_menu?: number;
  install_weak_deps?: boolean;
  /**
   * Package holding the lorax templates (installed in the build root).
   */
  lorax_template_package?: string;
  lorax_templates?: {
    path: string;
    after_dracut?: boolean;
  }[];
  lorax_logos_package?: string;
  lorax_release_package?: string;
  /**
   * [source in the installer tree, destination in the ISO] pairs.
   */
  iso_files?: [string, string, ...string[]][];
  payload?: InstallerPayload;
  flatpaks?: FlatpakSources;
  conditions?: {
    when: When;
    reason: Reason;
    merge: InstallerConfig;
  }[];
}
/**
 * Where an ostree installer's payload goes: location iso (a repository in the ISO's root, the default) or rootfs (a bare-user repository inside the installer's root file system); kickstart root (the ISO's /osbuild.ks carries ostreesetup, the default) or interactive-defaults (anaconda's interactive-defaults.ks in the installer tree does).
 */
export interface InstallerPayload {
  location?: 'iso' | 'rootfs';
  kickstart?: 'root' | 'interactive-defaults';
}
/**
 * How the anaconda installer tree is made (osbuild/images' installer_config keys).
 */
export interface InstallerConfig {
  enabled_anaconda_modules?: StringList4;
  disabled_anaconda_modules?: StringList;
  additional_dracut_modules?: StringList5;
  additional_drivers?: StringList;
  kickstart_unattended_extra_kernel_opts?: StringList6;
  /**
   * Boot menu entry selected by default (0: the first).
   */
  default_menu?: number;
  install_weak_deps?: boolean;
  /**
   * Package holding the lorax templates (installed in the build root).
   */
  lorax_template_package?: string;
  lorax_templates?: {
    path: string;
    after_dracut?: boolean;
  }[];
  lorax_logos_package?: string;
  lorax_release_package?: string;
  /**
   * [source in the installer tree, destination in the ISO] pairs.
   */
  iso_files?: [string, string, ...string[]][];
  payload?: InstallerPayload;
  flatpaks?: FlatpakSources;
}
export interface IsoConfigFragment {
  use?: BlockName;
  /**
   * grub2-uefi (UEFI only), syslinux (isolinux for BIOS), grub2 (grub2 El Torito for BIOS), grub2-ppc64le, s390-iso.
   */
  boot_type?: 'grub2-uefi' | 'syslinux' | 'grub2' | 'grub2-ppc64le' | 's390-iso';
  /**
   * squashfs-ext4 (an ext4 image inside squashfs), squashfs or erofs.
   */
  rootfs_type?: 'squashfs-ext4' | 'squashfs' | 'erofs';
  /**
   * org.osbuild.erofs options (compression, options, cluster-size).
   */
  erofs_options?: {
    compression?: {
      method: 'lz4' | 'lz4hc' | 'lzma' | 'zstd';
      level?: number;
    };
    options?: StringList;
    'cluster-size'?: number;
  };
  label?: string;
  preparer?: string;
  publisher?: string;
  application?: string;
  exclude_paths?: StringList;
  conditions?: {
    when: When;
    reason: Reason;
    merge: IsoConfig;
  }[];
}
/**
 * How the ISO is assembled (osbuild/images' iso_config keys).
 */
export interface IsoConfig {
  /**
   * grub2-uefi (UEFI only), syslinux (isolinux for BIOS), grub2 (grub2 El Torito for BIOS), grub2-ppc64le, s390-iso.
   */
  boot_type?: 'grub2-uefi' | 'syslinux' | 'grub2' | 'grub2-ppc64le' | 's390-iso';
  /**
   * squashfs-ext4 (an ext4 image inside squashfs), squashfs or erofs.
   */
  rootfs_type?: 'squashfs-ext4' | 'squashfs' | 'erofs';
  /**
   * org.osbuild.erofs options (compression, options, cluster-size).
   */
  erofs_options?: {
    compression?: {
      method: 'lz4' | 'lz4hc' | 'lzma' | 'zstd';
      level?: number;
    };
    options?: StringList;
    'cluster-size'?: number;
  };
  label?: string;
  preparer?: string;
  publisher?: string;
  application?: string;
  exclude_paths?: StringList;
}
export interface Environment {
  packages?: StringList;
  services?: StringList;
}
export interface DirectorySizes {
  [k: string]: Size;
}
export interface ImageType {
  /**
   * Start from this image type of the family; every key given here replaces the inherited one.
   */
  inherits?: string;
  description?: string;
  aliases?: StringList7;
  kind?:
    | 'disk'
    | 'tar'
    | 'container'
    | 'pxe_tar'
    | 'image_installer'
    | 'live_installer'
    | 'network_installer'
    | 'ostree_commit'
    | 'ostree_container'
    | 'ostree_installer'
    | 'ostree_disk'
    | 'ostree_simplified_installer'
    | 'bootable_container'
    | 'bootc_installer'
    | 'bootc_generic_iso';
  filename?: string;
  mime_type?: string;
  compression?: 'xz' | 'zstd' | 'gzip';
  /**
   * @minItems 1
   * @maxItems 1
   */
  exports?: [string, ...string[]];
  bootable?: boolean;
  boot_iso?: boolean;
  iso_label?: string;
  variant?: string;
  default_size?: Size;
  required_directory_sizes?: BlockName | DirectorySizes;
  partition_table?: PartitionTableRef;
  partitioning_modes?: ('raw' | 'lvm' | 'auto-lvm' | 'btrfs')[];
  vpc_force_size?: boolean;
  platforms?: PlatformsRef;
  package_sets?: PackageSets;
  environment?: BlockName | Environment;
  image_config?: ImageConfigList;
  installer_config?: InstallerConfigFragment[];
  iso_config?: IsoConfigFragment[];
  ostree?: {
    name?: string;
    remote_name?: string;
    ref?: string;
    url?: string;
  };
  use_ostree_remotes?: boolean;
  /**
   * Blueprint customization paths this type takes (a named list or paths); `required` ones must be given.
   */
  customizations?: {
    supported?: (
      | OptionPath
      | {
          use: BlockName;
        }
    )[];
    required?: OptionPath[];
  };
  /**
   * Where this type is not offered.
   */
  unavailable?: ConditionalFlag[];
}
/**
 * A named table ({use: name}) or tables inline, with conditions that override the whole table.
 */
export interface PartitionTableRef {
  use?: BlockName;
  tables?: PartitionTablesByArch;
  conditions?: {
    when: When;
    reason: Reason;
    override: {
      use?: BlockName;
      tables?: PartitionTablesByArch;
    };
  }[];
}
export interface PlatformsRef {
  arches: PlatformsByArch;
  /**
   * Replace the whole set of architectures (e.g. a newer release adds one).
   */
  conditions?: {
    when: When;
    reason: Reason;
    override: PlatformsByArch;
  }[];
}
export interface PlatformsByArch {
  [k: string]: Platform;
}
/**
 * Package set name (os, installer) → entries, resolved in order.
 */
export interface PackageSets {
  [k: string]: PackageSetEntry[];
}
