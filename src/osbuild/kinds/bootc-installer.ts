/**
 * bootc ISOs: the installer (here) and the generic ISO (bootcGenericIsoPipelines, below).
 * The installer (upstream's bootc_iso image func: pkg/distro/generic bootc_imagetype.go
 * manifestForISO, pkg/image/anaconda_container_installer.go, the container paths of
 * pkg/manifest anaconda_installer.go and anaconda_installer_iso_tree.go). No packages: the
 * installer container bootc.ref is the build root and, deployed again, anaconda's root tree
 * (its own kernel, an initrd dracut makes in it beside the kernel); the bootable container
 * bootc.installer-payload-ref is copied into the ISO as an OCI layout (/container), and the
 * kickstart installs it with `ostreecontainer`, then points the system at the payload's name
 * with `bootc switch` (anaconda has no --target-imgref). What upstream reads from the container
 * (os-release: product, version, ISO label, runner, lorax templates; the kernel version; the
 * UEFI vendor) the depsolve job read (src/containers/bootc-info.ts).
 */
import { blueprintUsers, type Blueprint } from '../../blueprint/index.js';
import type { BootcInfo, OsRelease } from '../../containers/bootc.js';
import { InvalidInputError, KilnError } from '../../errors.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import { stageUser } from '../stages/os.js';
import type { Sources } from '../stages/rpm.js';
import { stage, type Pipeline } from '../stages/stage.js';
import type { SeededRandom } from '../partitions/uuids.js';
import { KICKSTART_PATH, ROOTFS_EXCLUDES, anacondaTreePipeline, bootStages, bootisoPipeline, bootisoTreePipeline, efibootTreePipeline, type AnacondaSpec, type BootMenu, type IsoSpec } from './anaconda.js';
import { containerStages } from '../stages/containers.js';
import { treeInput } from './outputs.js';
import { containerBuildroot } from './bootc.js';
import { containerSourceInput } from '../stages/containers.js';
import { checkInstallerOptions, checkKickstart, kickstartStages, type KickstartPlan } from './installer.js';

/** Where the payload is in the ISO (osbuild/images' Payload.Path for container installers). */
const PAYLOAD_PATH = '/container';

/** pkg/distro/bootc LabelForISO. */
export function bootcIsoLabel(os: OsRelease, arch: string): string {
  switch (os.id) {
    case 'fedora':
      return `Fedora-S-dvd-${arch}-${os.version_id}`;
    case 'centos':
      return os.version_id === '8' ? `CentOS-Stream-${os.version_id}-${arch}-dvd` : `CentOS-Stream-${os.version_id}-BaseOS-${arch}`;
    case 'rhel':
      return `RHEL-${os.version_id.replaceAll('.', '-')}-BaseOS-${arch}`;
    default:
      return `Container-Installer-${arch}`;
  }
}

const rhelLike = (os: OsRelease) => os.id === 'rhel' || (os.id_like ?? []).includes('rhel') || os.version_id === 'eln';

/** pkg/distro/bootc LoraxTemplates: the container's lorax-templates-rhel or -generic scripts. */
export function bootcLoraxTemplates(os: OsRelease): { path: string; after_dracut?: boolean }[] {
  const dir = rhelLike(os) ? '80-rhel' : '99-generic';
  return [{ path: `${dir}/runtime-postinstall.tmpl` }, { path: `${dir}/runtime-cleanup.tmpl`, after_dracut: true }];
}

/** pkg/distro/bootc GetDistroAndRunner: the runner the container's distribution has, org.osbuild.linux otherwise. */
export function bootcRunner(os: OsRelease): string {
  const field = 'bootc.ref';
  const num = (v: string, what: string) => {
    if (!/^\d+$/.test(v)) throw new KilnError('KILN_BOOTC_INFO', `${field}: cannot parse the ${what} version ${JSON.stringify(v)} of its os-release`, { details: { field } });
    return Number(v);
  };
  switch (os.id) {
    case 'fedora':
      return `org.osbuild.fedora${num(os.version_id, 'Fedora')}`;
    case 'centos':
      return `org.osbuild.centos${num(os.version_id, 'CentOS')}`;
    case 'rhel': {
      const parts = os.version_id.split('.');
      if (parts.length !== 2) throw new KilnError('KILN_BOOTC_INFO', `${field}: invalid RHEL version ${JSON.stringify(os.version_id)} in its os-release (major.minor)`, { details: { field } });
      return `org.osbuild.rhel${num(parts[0], 'RHEL major')}${num(parts[1], 'RHEL minor')}`;
    }
    default:
      return 'org.osbuild.linux';
  }
}

/** The kickstart's fixed part (upstream's "hardcoded kickstart bits"): automatic partitioning with the install's root file system, reboot. */
function partitioning(fs: string): string {
  const autopart = fs === 'btrfs' ? 'autopart --nohome --type=btrfs' : `autopart --nohome --type=plain --fstype=${fs}`;
  return `\n${autopart}\n\nreboot --eject\n`;
}

/** What the blueprint asks that a bootc installer cannot do: refused, naming the field. */
export function checkBootcInstaller(image: ResolvedImage, blueprint: Blueprint): void {
  const c = blueprint.customizations ?? {};
  // its kickstart is always an automated installation; sudo rules are not written (upstream drops them)
  checkInstallerOptions(image, ['unattended', 'kickstart', 'modules'], c.installer);
  // the kickstart locks root whatever the blueprint says (upstream drops a root password silently)
  if (blueprintUsers(c).some((u) => u.name === 'root' && u.password !== undefined)) {
    throw new InvalidInputError('blueprint.customizations.user', 'a password for "root" cannot be set by a bootc installer (its kickstart locks root)');
  }
}

export interface BootcInstallerInput {
  image: ResolvedImage;
  bootc: BootcInfo;
  blueprint: Blueprint;
  seed: string | number | bigint;
  rng: SeededRandom;
  sources: Sources;
}

/**
 * The type as the container makes it: its product, version and EFI vendor (every bootc ISO boots
 * with UEFI: it needs the container's shim and grub), the container its build root, its kernel known.
 */
function containerImage(input: BootcInstallerInput): { image: ResolvedImage; kernel: string } {
  const { bootc } = input;
  if (bootc.build_container) throw new InvalidInputError('bootc.build-ref', 'cannot be used with bootc ISOs (the container bootc.ref is the build root)');
  if (!bootc.kernel) throw new KilnError('KILN_MANIFEST', `image type ${input.image.name} boots the container's kernel, which the build did not read`, {});
  if (!bootc.uefi_vendor) {
    throw new KilnError('KILN_BOOTC_INFO', `bootc.ref: ${bootc.container.local_name} has no EFI vendor directory (usr/lib/bootupd/updates/EFI/<vendor> or usr/lib/efi/shim/<version>/EFI/<vendor>): the ISO's UEFI boot needs its shim and grub`, {
      details: { field: 'bootc.ref' },
    });
  }
  const os = bootc.os_release;
  const image: ResolvedImage = {
    ...input.image,
    distro: { ...input.image.distro, product: os.name, osVersion: os.version_id, preview: false },
    platform: { ...input.image.platform, uefiVendor: bootc.uefi_vendor },
  };
  return { image, kernel: bootc.kernel };
}

/** build (the installer container), anaconda-tree, efiboot-tree, bootiso-tree (with the payload), bootiso. */
export function bootcInstallerPipelines(input: BootcInstallerInput): Pipeline[] {
  const { bootc, blueprint, sources } = input;
  const c = blueprint.customizations ?? {};
  const { image, kernel } = containerImage(input);
  if (!bootc.payload) throw new KilnError('KILN_MANIFEST', `image type ${input.image.name} installs bootc.installer-payload-ref, which the build has not resolved`, {});
  const os = bootc.os_release;
  const iso: IsoSpec = {
    label: bootcIsoLabel(os, image.arch),
    bootType: image.isoConfig.boot_type ?? 'grub2-uefi',
    rootfsType: image.isoConfig.rootfs_type ?? 'squashfs',
    compression: 'zstd',
  };

  checkBootcInstaller(image, blueprint);
  const inst = c.installer;
  const users = blueprintUsers(c).map((u) => stageUser(u, input.seed));
  const fips = c.fips === true;
  const config = image.installerConfig;
  const spec: AnacondaSpec = {
    type: 'payload',
    image,
    config: { ...config, lorax_templates: bootcLoraxTemplates(os) },
    enabledModules: [...(config.enabled_anaconda_modules ?? []), ...(inst?.modules?.enable ?? [])],
    disabledModules: [...(inst?.modules?.disable ?? [])],
    locale: 'C.UTF-8',
    fromContainer: {
      deploy: stage('org.osbuild.container-deploy', { 'remove-signatures': true }, { inputs: { images: containerSourceInput(bootc.container, sources) } }),
      kernel,
      home: '/var/roothome',
    },
  };
  const append = c.kernel?.append ? [c.kernel.append] : [];
  const kernelOpts = [`inst.stage2=hd:LABEL=${iso.label}`, `inst.ks=hd:LABEL=${iso.label}:${KICKSTART_PATH}`, 'console=tty0', 'inst.text', ...(fips ? ['fips=1'] : []), ...append];
  const menu = { kernelOpts, defaultMenu: 0 };

  // ostreecontainer installs the payload from the ISO; bootc switch makes its name the system's origin
  const ostreecontainer = { stateroot: '', url: `/run/install/repo${PAYLOAD_PATH}`, transport: 'oci', remote: '', signatureverification: false };
  const post = [
    {
      erroronfail: true,
      commands: [
        'set -e',
        `bootc switch --mutate-in-place --transport registry ${bootc.payload.local_name}`,
        '# used during automatic image testing as finished marker',
        'if [ -c /dev/ttyS0 ]; then',
        '  # continue on errors here, because we used to omit --erroronfail',
        '  echo "Install finished" > /dev/ttyS0 || true',
        'fi',
      ],
    },
  ];
  const own = inst?.kickstart?.contents;
  const kickstart: KickstartPlan = {
    path: KICKSTART_PATH,
    users,
    groups: (c.group ?? []).map((g) => ({ name: g.name, ...(g.gid !== undefined ? { gid: g.gid } : {}) })),
    // always an automated installation: the blueprint's unattended changes nothing
    unattended: false,
    sudoNopasswd: [],
    // the blueprint's kickstart does the rest of the installation; otherwise Kiln's partitioning and reboot
    contents: own ?? partitioning(bootc.default_fs),
  };
  checkKickstart(kickstart);
  const extra: Record<string, unknown> =
    own !== undefined
      ? { ostreecontainer, '%post': post }
      : {
          ostreecontainer,
          lang: 'en_US.UTF-8',
          keyboard: 'us',
          timezone: 'UTC',
          rootpw: { lock: true },
          clearpart: { all: true },
          network: [{ bootproto: 'dhcp', device: 'link', activate: true, onboot: 'on' }],
          ...(append.length ? { bootloader: { append: append.join(' ') } } : {}),
          '%post': post,
        };
  const payload = [
    stage('org.osbuild.mkdir', { paths: [{ path: PAYLOAD_PATH }] }),
    stage('org.osbuild.skopeo', { destination: { type: 'oci', path: PAYLOAD_PATH }, 'remove-signatures': true }, { inputs: { images: containerSourceInput(bootc.payload, sources) } }),
    ...kickstartStages(kickstart, extra, sources),
  ];

  const out: Pipeline[] = [containerBuildroot('build', bootc.container, 'targeted', sources, [], bootcRunner(os))];
  out.push(anacondaTreePipeline(spec, undefined, sources));
  out.push(efibootTreePipeline(image, iso, menu));
  out.push(bootisoTreePipeline({ spec, iso, menu, kernel, rng: input.rng, payloadStages: payload, release: '' }));
  out.push(bootisoPipeline(image.filename, iso));
  return out;
}

/**
 * The generic ISO of a bootable container (upstream's bootc_generic_iso: pkg/image
 * container_based_iso.go, pkg/manifest os_from_container.go and iso_tree.go): the container's
 * tree (os-tree: container-deploy, the optional payload into its containers-storage) squashed
 * as LiveOS/squashfs.img and booted by grub2 with the container's kernel and initrd, as the
 * container's iso.yaml configures it. No anaconda, no kickstart, no blueprint.
 */
export function bootcGenericIsoPipelines(input: BootcInstallerInput): Pipeline[] {
  const { bootc, sources } = input;
  const { image, kernel } = containerImage(input);
  const os = bootc.os_release;
  const own = bootc.iso ?? {};
  const iso: IsoSpec = { label: own.label || bootcIsoLabel(os, image.arch), bootType: image.isoConfig.boot_type ?? 'grub2', rootfsType: 'squashfs', compression: 'zstd' };
  // grub2.iso.legacy fails with no kernel options: upstream's harmless live defaults
  const kernelOpts = own.kernel_args?.length ? [...own.kernel_args] : [`root=live:CDLABEL=${iso.label}`, 'rd.live.image', 'quiet', 'rhgb', 'enforcing=0'];
  const menu: BootMenu = {
    kernelOpts,
    defaultMenu: own.grub2?.default ?? 0,
    ...(own.grub2?.timeout !== undefined ? { timeout: own.grub2.timeout } : {}),
    ...(own.grub2?.entries?.length ? { entries: own.grub2.entries } : {}),
    installOnly: true,
  };
  const tree = 'os-tree';
  const osTree: Pipeline = {
    name: tree,
    build: 'name:build',
    stages: [
      stage('org.osbuild.container-deploy', { 'remove-signatures': true }, { inputs: { images: containerSourceInput(bootc.container, sources) } }),
      ...(bootc.payload ? containerStages({ sources: [] }, [bootc.payload], sources) : []),
    ],
  };
  const boot = { kernel: `lib/modules/${kernel}/vmlinuz`, initrd: `lib/modules/${kernel}/initramfs.img` };
  const isoTree: Pipeline = {
    name: 'bootiso-tree',
    build: 'name:build',
    stages: [
      stage('org.osbuild.mkdir', { paths: [{ path: '/images' }, { path: '/images/pxeboot' }, { path: '/LiveOS' }] }),
      stage(
        'org.osbuild.copy',
        { paths: [{ from: `input://tree/${boot.kernel}`, to: 'tree:///images/pxeboot/vmlinuz' }, { from: `input://tree/${boot.initrd}`, to: 'tree:///images/pxeboot/initrd.img' }] },
        { inputs: { tree: treeInput(tree) } },
      ),
      stage('org.osbuild.squashfs', { filename: 'LiveOS/squashfs.img', compression: { method: 'zstd' }, exclude_paths: [...ROOTFS_EXCLUDES] }, { inputs: { tree: treeInput(tree) } }),
      ...bootStages(image, iso, menu, input.rng),
      stage('org.osbuild.discinfo', { basearch: image.arch, release: os.version_id }),
    ],
  };
  return [containerBuildroot('build', bootc.container, 'targeted', sources, [], bootcRunner(os)), osTree, efibootTreePipeline(image, iso, menu), isoTree, bootisoPipeline(image.filename, iso)];
}
