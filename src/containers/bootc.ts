/**
 * What a bootc image build knows about its bootable container once the depsolve job resolved
 * it (osbuild/images pkg/bootc Info, pkg/bib/osinfo): the container pinned by digest, and what
 * upstream reads from inside it — os-release, the root file system `bootc install` defaults to
 * (its install configuration, /usr/lib/bootc/install/*.toml), the SELinux policy, the UEFI
 * vendor bootupd installs, the image's size.
 */
import type { ContainerSpec } from './resolve.js';

/** The image definitions' distro of bootc images (image-types/bootc): a compose of them names none. */
export const BOOTC_DISTRIBUTION = 'bootc-generic';

/** The image request's `bootc` options, as koji-image-builder's hub takes them. */
export interface BootcOptions {
  ref?: string;
  'build-ref'?: string;
  'installer-payload-ref'?: string;
  'default-fs'?: string;
}

export const BOOTC_ROOT_FS = ['ext4', 'xfs', 'btrfs'] as const;
export type BootcRootFs = (typeof BOOTC_ROOT_FS)[number];

export interface OsRelease {
  id: string;
  version_id: string;
  name: string;
  variant_id?: string;
  platform_id?: string;
  /** ID_LIKE, split (the installer's lorax templates follow it). */
  id_like?: string[];
}

/** A container's own ISO settings (its iso.yaml; upstream's osinfo ISOInfo), for its generic ISO. */
export interface BootcIsoInfo {
  label?: string;
  kernel_args?: string[];
  grub2?: { default?: number; timeout?: number; entries?: { name: string; linux: string; initrd: string }[] };
}

/** What one container says about itself. */
export interface BootcContainerInfo {
  /** Its config's architecture (amd64, arm64, …). */
  arch?: string;
  os_release?: OsRelease;
  /** [install.filesystem.root] type of the install configuration (absent: the container names none). */
  root_fs?: string;
  /** [install] bootloader of the install configuration. */
  bootloader?: string;
  /** SELINUXTYPE of etc/selinux/config. */
  selinux_policy?: string;
  /** The EFI directory bootupd installs (usr/lib/bootupd/updates/EFI/<vendor>). */
  uefi_vendor?: string;
  /** Image builder configuration it carries (usr/lib/bootc-image-builder/disk.yaml, config.toml, …). */
  embedded?: string[];
  /** Bytes of its layers unpacked (what `podman image inspect` calls Size). */
  size: number;
  /** The kernel version: the first usr/lib/modules/<version> holding a vmlinuz (upstream's readKernelInfo). */
  kernel?: string;
  /** usr/lib/image-builder/bootc/iso.yaml or usr/lib/bootc-image-builder/iso.yaml. */
  iso?: BootcIsoInfo;
}

export interface BootcInfo {
  /** The bootable container (the image's content and, without build-ref, its build root). */
  container: ContainerSpec;
  /** The build root's container, when build-ref names another one. */
  build_container?: ContainerSpec;
  os_release: OsRelease;
  /** The root file system: bootc.default-fs, else the container's install configuration. */
  default_fs: BootcRootFs;
  bootloader?: string;
  selinux_policy?: string;
  build_selinux_policy?: string;
  uefi_vendor?: string;
  size: number;
  /** The container's kernel version (usr/lib/modules/<version>/vmlinuz; bootc installers boot it). */
  kernel?: string;
  /** bootc installers: the container anaconda installs (installer-payload-ref), pinned. */
  payload?: ContainerSpec;
  /** The container's iso.yaml (generic ISOs). */
  iso?: BootcIsoInfo;
}
