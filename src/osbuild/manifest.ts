import { createHash } from 'node:crypto';
import { InvalidInputError, KilnError } from '../errors.js';
import { validate } from '../schemas.js';
import type { Customizations } from '../generated/customizations.schema.js';
import type { Partition, PartitionTable } from '../generated/image-type.schema.js';
import type { ResolvedImageType } from './image-types.js';

/**
 * One depsolved package, as osbuild-depsolve-dnf (API v1) reports it. `check_gpg` is Kiln's
 * addition: true when the package's repository has gpgcheck on (osbuild then verifies it).
 */
export interface DepsolvedPackage {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  repo_id: string;
  remote_location: string;
  checksum: string;
  check_gpg?: boolean;
}

/** Package set name (as in packageSetRequests: `build`, `os`) → the chain's final package list. */
export type DepsolvedPackageSets = Record<string, DepsolvedPackage[]>;

export interface ManifestInput {
  image: ResolvedImageType;
  packages: DepsolvedPackageSets;
  customizations?: Customizations;
  /** Disk size in bytes; defaults to the image type's default_size. */
  size?: number;
  /**
   * ASCII-armored keys of the repositories with gpgcheck; imported into the rpm database of
   * every tree so packages marked check_gpg are verified.
   */
  gpgkeys?: string[];
}

export interface ManifestStage {
  type: string;
  options?: Record<string, unknown>;
  inputs?: Record<string, unknown>;
  devices?: Record<string, unknown>;
  mounts?: Record<string, unknown>[];
}

export interface ManifestPipeline {
  name: string;
  build?: string;
  runner?: string;
  stages: ManifestStage[];
}

export interface Manifest {
  version: '2';
  pipelines: ManifestPipeline[];
  sources: Record<string, { items: Record<string, string> }>;
  metadata?: { exports?: { name: string }[]; generators?: { name: string; version?: string }[] };
}

const SECTOR = 512;
const MiB = 1024 * 1024;
const ALIGN = MiB / SECTOR;
const GPT_FOOTER_SECTORS = 33;
const FILE_CONTEXTS = 'etc/selinux/targeted/contexts/files/file_contexts';
const OCI_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', ppc64le: 'ppc64le', s390x: 's390x' };

/** Same seed → same UUID, so the same input always gives a byte-identical manifest. */
function derivedUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function derivedVolid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex').toUpperCase();
  return `${h.slice(0, 4)}-${h.slice(4, 8)}`;
}

interface LaidOutPartition {
  index: number;
  part: Partition;
  start: number;
  size: number;
  fsUuid?: string;
  /** Device and mount name in the image pipeline. */
  deviceName?: string;
}

function alignUp(sectors: number): number {
  return Math.ceil(sectors / ALIGN) * ALIGN;
}

function layout(pt: PartitionTable, totalBytes: number, seed: string): { totalBytes: number; parts: LaidOutPartition[] } {
  const total = Math.ceil(totalBytes / MiB) * MiB;
  const totalSectors = total / SECTOR;
  const end = totalSectors - (pt.type === 'gpt' ? GPT_FOOTER_SECTORS : 0);
  let next = alignUp((pt.start_offset ?? MiB) / SECTOR);
  const parts: LaidOutPartition[] = [];
  pt.partitions.forEach((part, index) => {
    const start = alignUp(next);
    const size = part.grow ? end - start : Math.ceil((part.size ?? 0) / SECTOR);
    if (size <= 0 || start + size > end) {
      throw new KilnError('KILN_MANIFEST', `image size ${total} bytes is too small for the partition table`, { details: { size: total } });
    }
    const fs = part.filesystem;
    let fsUuid: string | undefined;
    let deviceName: string | undefined;
    if (fs) {
      fsUuid = fs.uuid ?? (fs.type === 'vfat' ? derivedVolid(`${seed}:${fs.mountpoint}`) : derivedUuid(`${seed}:${fs.mountpoint}`));
      deviceName = fs.mountpoint === '/' ? 'root' : fs.mountpoint.slice(1).replace(/\//g, '-');
    }
    parts.push({ index, part, start, size, ...(fsUuid ? { fsUuid } : {}), ...(deviceName ? { deviceName } : {}) });
    next = start + size;
  });
  return { totalBytes: total, parts };
}

function checkPackages(set: string, packages: DepsolvedPackage[] | undefined): DepsolvedPackage[] {
  if (!packages || packages.length === 0) {
    throw new KilnError('KILN_MANIFEST', `depsolve result has no packages for package set ${JSON.stringify(set)}`, { details: { packageSet: set } });
  }
  for (const p of packages) {
    if (!/^sha256:[0-9a-f]{64}$/.test(p.checksum ?? '')) {
      throw new KilnError('KILN_MANIFEST', `package ${p.name} in set ${set} has no sha256 checksum`, { details: { packageSet: set, package: p.name } });
    }
    if (!p.remote_location) {
      throw new KilnError('KILN_MANIFEST', `package ${p.name} in set ${set} has no remote_location`, { details: { packageSet: set, package: p.name } });
    }
  }
  return packages;
}

function nevraCompare(a: DepsolvedPackage, b: DepsolvedPackage): number {
  const ka = `${a.name}\0${a.epoch}\0${a.version}\0${a.release}\0${a.arch}\0${a.checksum}`;
  const kb = `${b.name}\0${b.epoch}\0${b.version}\0${b.release}\0${b.arch}\0${b.checksum}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function rpmStage(packages: DepsolvedPackage[], options: Record<string, unknown> = {}): ManifestStage {
  const seen = new Set<string>();
  const references: { id: string; options?: { metadata: { 'rpm.check_gpg': boolean } } }[] = [];
  for (const p of [...packages].sort(nevraCompare)) {
    if (seen.has(p.checksum)) continue;
    seen.add(p.checksum);
    references.push(p.check_gpg ? { id: p.checksum, options: { metadata: { 'rpm.check_gpg': true } } } : { id: p.checksum });
  }
  return {
    type: 'org.osbuild.rpm',
    inputs: { packages: { type: 'org.osbuild.files', origin: 'org.osbuild.source', references } },
    options,
  };
}

function checkCustomizations(image: ResolvedImageType, customizations: Customizations): void {
  for (const key of image.definition.unsupported_customizations ?? []) {
    if (customizations[key] !== undefined) {
      throw new InvalidInputError(`customizations.${key}`, `is not supported by image type ${image.name}`);
    }
  }
}

function loopback(filename: string, p?: LaidOutPartition): Record<string, unknown> {
  return {
    type: 'org.osbuild.loopback',
    options: p ? { filename, start: p.start, size: p.size, lock: true } : { filename, lock: true },
  };
}

const MKFS: Record<string, string> = { ext4: 'org.osbuild.mkfs.ext4', xfs: 'org.osbuild.mkfs.xfs', vfat: 'org.osbuild.mkfs.fat' };
const MOUNT: Record<string, string> = { ext4: 'org.osbuild.ext4', xfs: 'org.osbuild.xfs', vfat: 'org.osbuild.fat' };

/**
 * Builds the osbuild v2 manifest for one image. Objects are built in one fixed key order and
 * every collection is sorted, so the same input gives a byte-identical serialization.
 */
export function generateManifest(input: ManifestInput): Manifest {
  const { image } = input;
  const customizations = validate<Customizations>('customizations.schema', structuredClone(input.customizations ?? {}), 'customizations');
  checkCustomizations(image, customizations);
  const cfg = image.imageConfig;
  const buildPackages = checkPackages('build', input.packages.build);
  const osPackages = checkPackages('os', input.packages.os);
  const seed = `${image.distro.name}:${image.arch}:${image.name}`;
  const diskFile = image.definition.disk_filename ?? 'disk.raw';
  const pipelineName = (role: string) => image.definition.pipelines.find((p) => p.role === role)?.name;
  const osName = pipelineName('os')!;
  const buildName = pipelineName('build')!;
  const buildRef = `name:${buildName}`;

  const pt = image.platform.partition_table;
  const disk = image.kind === 'disk' && pt ? layout(pt, input.size ?? image.defaultSize ?? 0, seed) : undefined;
  const rootPart = disk?.parts.find((p) => p.part.filesystem?.mountpoint === '/');
  const bootPart = disk?.parts.find((p) => p.part.filesystem?.mountpoint === '/boot');

  // build root
  const gpgkeys = [...new Set(input.gpgkeys ?? [])].sort();
  const keyOptions = gpgkeys.length ? { gpgkeys } : {};
  const buildStages: ManifestStage[] = [
    rpmStage(buildPackages, { ...keyOptions }),
    {
      type: 'org.osbuild.selinux',
      options: {
        file_contexts: FILE_CONTEXTS,
        labels: {
          '/usr/bin/cp': 'system_u:object_r:install_exec_t:s0',
          '/usr/bin/tar': 'system_u:object_r:install_exec_t:s0',
        },
      },
    },
  ];

  // os tree
  const kernelOpts = [...(cfg.kernel_options ?? [])];
  if (customizations.kernel?.append) kernelOpts.push(customizations.kernel.append);
  const osStages: ManifestStage[] = [];
  if (disk && rootPart) {
    osStages.push({ type: 'org.osbuild.kernel-cmdline', options: { root_fs_uuid: rootPart.fsUuid, kernel_opts: kernelOpts.join(' ') } });
  }
  const rpmOptions: Record<string, unknown> = { ...keyOptions };
  if (cfg.rpm_exclude_docs) rpmOptions.exclude = { docs: true };
  if (cfg.rpm_install_langs?.length) rpmOptions.install_langs = cfg.rpm_install_langs;
  osStages.push(rpmStage(osPackages, rpmOptions));
  if (disk) osStages.push({ type: 'org.osbuild.fix-bls', options: { prefix: bootPart ? '' : '/boot' } });
  osStages.push({ type: 'org.osbuild.locale', options: { language: cfg.locale ?? 'C.UTF-8' } });
  if (cfg.keymap) osStages.push({ type: 'org.osbuild.keymap', options: { keymap: cfg.keymap } });
  const hostname = customizations.hostname ?? cfg.hostname;
  if (hostname) osStages.push({ type: 'org.osbuild.hostname', options: { hostname } });
  osStages.push({ type: 'org.osbuild.timezone', options: { zone: customizations.timezone?.timezone ?? cfg.timezone ?? 'UTC' } });
  if (customizations.users?.length) {
    const users: Record<string, Record<string, unknown>> = {};
    for (const u of [...customizations.users].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const entry: Record<string, unknown> = {};
      if (u.groups?.length) entry.groups = [...u.groups];
      if (u.password) entry.password = u.password;
      if (u.key) entry.key = u.key;
      users[u.name] = entry;
    }
    osStages.push({ type: 'org.osbuild.users', options: { users } });
  }
  if (disk) {
    const filesystems = disk.parts
      .filter((p) => p.part.filesystem)
      .sort((a, b) => a.part.filesystem!.mountpoint.length - b.part.filesystem!.mountpoint.length)
      .map((p) => {
        const fs = p.part.filesystem!;
        return {
          uuid: p.fsUuid,
          vfs_type: fs.type,
          path: fs.mountpoint,
          options: fs.fstab_options ?? 'defaults',
          freq: fs.fstab_freq ?? 0,
          passno: fs.fstab_passno ?? 0,
        };
      });
    osStages.push({ type: 'org.osbuild.fstab', options: { filesystems } });
    const grub: Record<string, unknown> = { root_fs_uuid: rootPart!.fsUuid };
    if (bootPart) grub.boot_fs_uuid = bootPart.fsUuid;
    grub.kernel_opts = kernelOpts.join(' ');
    if (image.platform.bios_platform) grub.legacy = image.platform.bios_platform;
    if (image.platform.uefi) grub.uefi = { vendor: image.distro.uefiVendor, unified: true };
    grub.config = { default: 'saved' };
    osStages.push({ type: 'org.osbuild.grub2', options: grub });
  }
  const enabled = [...(cfg.enabled_services ?? []), ...(customizations.services?.enabled ?? [])];
  const disabled = [...(cfg.disabled_services ?? []), ...(customizations.services?.disabled ?? [])];
  if (enabled.length || disabled.length || cfg.default_target) {
    const systemd: Record<string, unknown> = {};
    if (enabled.length) systemd.enabled_services = [...new Set(enabled)];
    if (disabled.length) systemd.disabled_services = [...new Set(disabled)];
    if (cfg.default_target) systemd.default_target = cfg.default_target;
    osStages.push({ type: 'org.osbuild.systemd', options: systemd });
  }
  if (cfg.sysconfig) {
    osStages.push({
      type: 'org.osbuild.sysconfig',
      options: { kernel: { update_default: true, default_kernel: 'kernel' }, network: { networking: true, no_zero_conf: true } },
    });
  }
  if (cfg.cloud_init_default_user) {
    osStages.push({
      type: 'org.osbuild.cloud-init',
      options: { filename: '00-default-user.cfg', config: { system_info: { default_user: { name: cfg.cloud_init_default_user } } } },
    });
  }
  if (cfg.machine_id_uninitialized) osStages.push({ type: 'org.osbuild.machine-id', options: { 'first-boot': 'yes' } });
  if (cfg.selinux === 'targeted') {
    osStages.push({ type: 'org.osbuild.selinux.config', options: { state: 'enforcing', type: 'targeted' } });
    osStages.push({ type: 'org.osbuild.selinux', options: { file_contexts: FILE_CONTEXTS } });
  }

  const pipelines: ManifestPipeline[] = [];
  for (const p of image.definition.pipelines) {
    switch (p.role) {
      case 'build':
        pipelines.push({ name: p.name, runner: image.distro.runner, stages: buildStages });
        break;
      case 'os':
        pipelines.push({ name: p.name, build: buildRef, stages: osStages });
        break;
      case 'disk':
        pipelines.push({ name: p.name, build: buildRef, stages: diskStages(image, disk!, pt!, diskFile, osName) });
        break;
      case 'qcow2':
        pipelines.push({
          name: p.name,
          build: buildRef,
          stages: [
            {
              type: 'org.osbuild.qemu',
              inputs: { image: fileInput(pipelineName('disk')!, diskFile) },
              options: { filename: image.filename, format: { type: 'qcow2', ...(p.qcow2_compat ? { compat: p.qcow2_compat } : {}) } },
            },
          ],
        });
        break;
      case 'xz':
        pipelines.push({
          name: p.name,
          build: buildRef,
          stages: [{ type: 'org.osbuild.xz', inputs: { file: fileInput(pipelineName('disk')!, diskFile) }, options: { filename: image.filename } }],
        });
        break;
      case 'oci-archive': {
        const cc = image.definition.container_config ?? {};
        const config: Record<string, unknown> = {};
        if (cc.cmd) config.Cmd = [...cc.cmd];
        if (cc.labels) config.Labels = Object.fromEntries(Object.entries(cc.labels).sort(([a], [b]) => (a < b ? -1 : 1)));
        pipelines.push({
          name: p.name,
          build: buildRef,
          stages: [
            {
              type: 'org.osbuild.oci-archive',
              inputs: { base: { type: 'org.osbuild.tree', origin: 'org.osbuild.pipeline', references: [`name:${osName}`] } },
              options: { architecture: OCI_ARCH[image.arch], filename: image.filename, ...(Object.keys(config).length ? { config } : {}) },
            },
          ],
        });
        break;
      }
    }
  }

  const items: Record<string, string> = {};
  const all = [...buildPackages, ...osPackages].sort((a, b) => (a.checksum < b.checksum ? -1 : a.checksum > b.checksum ? 1 : 0));
  for (const p of all) items[p.checksum] ??= p.remote_location;

  return {
    version: '2',
    pipelines,
    sources: { 'org.osbuild.curl': { items } },
    metadata: { exports: [{ name: image.exportPipeline }], generators: [{ name: 'kiln' }] },
  };
}

function fileInput(pipeline: string, file: string): Record<string, unknown> {
  return { type: 'org.osbuild.files', origin: 'org.osbuild.pipeline', references: { [`name:${pipeline}`]: { file } } };
}

function diskStages(
  image: ResolvedImageType,
  disk: { totalBytes: number; parts: LaidOutPartition[] },
  pt: PartitionTable,
  diskFile: string,
  osName: string,
): ManifestStage[] {
  const stages: ManifestStage[] = [{ type: 'org.osbuild.truncate', options: { filename: diskFile, size: String(disk.totalBytes) } }];
  stages.push({
    type: 'org.osbuild.sfdisk',
    devices: { device: loopback(diskFile) },
    options: {
      label: pt.type,
      uuid: pt.uuid,
      partitions: disk.parts.map((p) => ({
        ...(p.part.bootable ? { bootable: true } : {}),
        start: p.start,
        size: p.size,
        type: p.part.type,
        ...(p.part.uuid ? { uuid: p.part.uuid } : {}),
      })),
    },
  });
  const fsParts = disk.parts.filter((p) => p.part.filesystem);
  for (const p of fsParts) {
    const fs = p.part.filesystem!;
    const options: Record<string, unknown> =
      fs.type === 'vfat' ? { volid: p.fsUuid!.replace('-', ''), ...(fs.label ? { label: fs.label } : {}) } : { uuid: p.fsUuid, ...(fs.label ? { label: fs.label } : {}) };
    stages.push({ type: MKFS[fs.type], devices: { device: loopback(diskFile, p) }, options });
  }
  // Parents before children: / then /boot then /boot/efi.
  const byDepth = [...fsParts].sort((a, b) => a.part.filesystem!.mountpoint.length - b.part.filesystem!.mountpoint.length);
  const devices: Record<string, unknown> = {};
  for (const p of byDepth) devices[p.deviceName!] = loopback(diskFile, p);
  stages.push({
    type: 'org.osbuild.copy',
    inputs: { 'root-tree': { type: 'org.osbuild.tree', origin: 'org.osbuild.pipeline', references: [`name:${osName}`] } },
    options: { paths: [{ from: 'input://root-tree/', to: 'mount://root/' }] },
    devices,
    mounts: byDepth.map((p) => ({
      name: p.deviceName!,
      type: MOUNT[p.part.filesystem!.type],
      source: p.deviceName!,
      target: p.part.filesystem!.mountpoint,
    })),
  });
  const biosPart = disk.parts.find((p) => p.part.bios_boot);
  if (image.platform.bios_platform && biosPart) {
    const bootPart = disk.parts.find((p) => p.part.filesystem?.mountpoint === '/boot') ?? disk.parts.find((p) => p.part.filesystem?.mountpoint === '/')!;
    stages.push({
      type: 'org.osbuild.grub2.inst',
      options: {
        filename: diskFile,
        platform: image.platform.bios_platform,
        location: biosPart.start,
        core: { type: 'mkimage', partlabel: pt.type, filesystem: bootPart.part.filesystem!.type },
        prefix: {
          type: 'partition',
          partlabel: pt.type,
          number: bootPart.index,
          path: bootPart.part.filesystem!.mountpoint === '/boot' ? '/grub2' : '/boot/grub2',
        },
      },
    });
  }
  return stages;
}

/** The manifest as osbuild reads it (compact, key order as built). */
export function serializeManifest(manifest: Manifest, pretty = false): string {
  return pretty ? `${JSON.stringify(manifest, null, 2)}\n` : JSON.stringify(manifest);
}
