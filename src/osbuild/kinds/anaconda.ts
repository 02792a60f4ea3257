/**
 * The anaconda installer pieces every installer ISO is made of, as osbuild/images builds them
 * (pkg/manifest anaconda_installer.go, anaconda_installer_iso_tree.go, iso_rootfs.go,
 * efi_boot_tree.go, iso_bootloaders.go, iso.go):
 *
 *   anaconda-tree   the installer's root: its packages, .buildstamp, locale, the install user,
 *                   the anaconda modules, lorax templates, the installer initrd (dracut)
 *   rootfs-image    (rootfs squashfs-ext4 only) the tree in an ext4 image
 *   efiboot-tree    grub2's EFI boot files and configuration (not for ppc64le/s390x boot)
 *   bootiso-tree    the ISO's content: kernel and initrd, the squashfs/erofs root, the boot
 *                   loaders, the payload (stages given by the kind), .discinfo
 *   bootiso         xorrisofs, then implantisomd5
 *
 * The payload is the kind's: a tarball of the os tree and a kickstart (image installer),
 * nothing (network installer), the tree itself (live installer); an ostree installer passes
 * ostree init/pull and an ostreesetup kickstart to the same functions. A bootc installer's tree
 * is a container deployed instead of packages (AnacondaSpec.fromContainer, bootc-installer.ts).
 */
import type { InstallerConfig, IsoConfig } from '../../generated/image-definitions.schema.js';
import { KilnError } from '../../errors.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import type { PackageTransaction } from '../stages/os.js';
import { fileStages } from '../stages/files.js';
import { packageEvra, rpmStages, type ManifestPackage, type Sources } from '../stages/rpm.js';
import { stage, type Pipeline, type Stage } from '../stages/stage.js';
import type { SeededRandom } from '../partitions/uuids.js';
import { treeInput } from './outputs.js';

/** What the installer boots into: a payload to install (image, ostree), the network, or a live system. */
export type AnacondaType = 'payload' | 'netinst' | 'live';
export type IsoBootType = NonNullable<IsoConfig['boot_type']>;
export type RootfsType = NonNullable<IsoConfig['rootfs_type']>;

/** The ISO as the definition and blueprint decide it. */
export interface IsoSpec {
  /** Volume id (the label the boot loaders find the ISO by). */
  label: string;
  bootType: IsoBootType;
  rootfsType: RootfsType;
  erofs?: NonNullable<IsoConfig['erofs_options']>;
  preparer?: string;
  publisher?: string;
  application?: string;
  excludePaths?: string[];
  /** The root file system's squashfs compression (xz when absent). */
  compression?: 'xz' | 'zstd';
}

/** The installer tree as the definition and blueprint decide it. */
export interface AnacondaSpec {
  type: AnacondaType;
  image: ResolvedImage;
  config: InstallerConfig;
  /** Modules to activate (the definition's, the blueprint's, Security with FIPS); live installers have none. */
  enabledModules: string[];
  disabledModules: string[];
  locale: string;
  /** SELinux policy labelled into the tree (live installers). */
  selinux?: 'targeted';
  /** bootc installers: the tree is a container's (no packages), its kernel known from the container. */
  fromContainer?: ContainerTree;
}

/** An installer root deployed from a container (osbuild/images' BootcLivefsContainer). */
export interface ContainerTree {
  /** The org.osbuild.container-deploy stage. */
  deploy: Stage;
  /** The kernel version: the tree's lib/modules/<version>/vmlinuz boots, dracut writes initramfs.img beside it. */
  kernel: string;
  /** The install user's home (a bootc tree's /root is not writable: /var/roothome). */
  home: string;
}

/** Where the installer tree's kernel and initrd are (the kernel's packages' /boot, or a container's modules directory). */
function bootFiles(spec: AnacondaSpec, kernel: string): { kernel: string; initrd: string } {
  if (spec.fromContainer) return { kernel: `lib/modules/${kernel}/vmlinuz`, initrd: `lib/modules/${kernel}/initramfs.img` };
  return { kernel: `boot/vmlinuz-${kernel}`, initrd: `boot/initramfs-${kernel}.img` };
}

export const ANACONDA_TREE = 'anaconda-tree';
/** Where the payload's kickstart goes when the blueprint names none (osbuild/images' KickstartPathOSBuild). */
export const KICKSTART_PATH = '/osbuild.ks';

/** The ISO settings of a resolved installer type; upstream's defaults where the definition is silent. */
export function isoSpecOf(image: ResolvedImage): IsoSpec {
  const c = image.isoConfig;
  if (!image.isoVolumeLabel) throw new KilnError('KILN_MANIFEST', `image type ${image.name} has no ISO label (its distro has no iso_label template)`, {});
  return {
    label: c.label ?? image.isoVolumeLabel,
    bootType: c.boot_type ?? 'grub2-uefi',
    rootfsType: c.rootfs_type ?? 'squashfs-ext4',
    ...(c.erofs_options ? { erofs: c.erofs_options } : {}),
    ...(c.preparer ? { preparer: c.preparer } : {}),
    ...(c.publisher ? { publisher: c.publisher } : {}),
    ...(c.application ? { application: c.application } : {}),
    ...(c.exclude_paths?.length ? { excludePaths: [...c.exclude_paths] } : {}),
  };
}

/** Boot loader packages the installer tree and the build root get, per architecture and boot type. */
export function anacondaBootPackages(arch: string, bootType: IsoBootType): string[] {
  switch (arch) {
    case 'x86_64':
      return [
        'grub2-tools',
        'grub2-tools-extra',
        'grub2-tools-minimal',
        'efibootmgr',
        'grub2-efi-x64',
        'grub2-efi-x64-cdboot',
        'grub2-pc',
        'grub2-pc-modules',
        'shim-x64',
        ...(bootType === 'syslinux' ? ['syslinux', 'syslinux-nonlinux'] : []),
      ];
    case 'aarch64':
      return ['grub2-tools', 'grub2-tools-extra', 'grub2-tools-minimal', 'efibootmgr', 'grub2-efi-aa64-cdboot', 'grub2-efi-aa64', 'shim-aa64'];
    default:
      throw new KilnError('KILN_UNSUPPORTED_IMAGE', `installer ISOs for ${arch} are not supported`, { details: { arch } });
  }
}

/** The anaconda-tree package set: boot loaders, the platform's packages, the type's installer set. */
export function anacondaPackageChain(spec: AnacondaSpec, iso: IsoSpec): PackageTransaction[] {
  const { image } = spec;
  const set = image.packageSets.installer ?? { include: [], exclude: [] };
  const include = new Set([...anacondaBootPackages(image.arch, iso.bootType), ...image.platform.packages, ...set.include]);
  if (image.arch === 'x86_64') include.add('biosdevname');
  if (spec.selinux) include.add(`selinux-policy-${spec.selinux}`);
  return [{ include: [...include].sort(), exclude: [...set.exclude], install_weak_deps: spec.config.install_weak_deps ?? false }];
}

/** Build-root packages the installer pipelines need beyond their stages' own tools. */
export function anacondaBuildPackages(spec: AnacondaSpec, iso: IsoSpec): string[] {
  const out = [...anacondaBootPackages(spec.image.arch, iso.bootType), 'rpm', 'shadow-utils'];
  // lorax-script runs the templates this package ships (it pulls in lorax itself)
  if (spec.config.lorax_template_package) out.push(spec.config.lorax_template_package);
  if (spec.selinux) out.push('policycoreutils', `selinux-policy-${spec.selinux}`);
  if (spec.image.distro.rpmkeysBinary) out.push('pqrpm');
  // org.osbuild.flatpak.build-import-bundle.oci runs skopeo and flatpak in the build root (upstream lists flatpak only)
  if (spec.config.flatpaks?.length) out.push('flatpak', 'skopeo');
  return out;
}

/** Version of the installer's kernel (from its depsolved packages); a placeholder while planning. */
export function anacondaKernel(packages: ManifestPackage[][] | undefined): string {
  return packageEvra(packages, 'kernel') ?? 'KERNEL';
}

/** Modules on, then off, the result sorted (osbuild/images' moduleStates). */
function activatable(enable: string[], disable: string[]): string[] {
  const states = new Map<string, boolean>();
  for (const m of enable) states.set(m, true);
  for (const m of disable) states.set(m, false);
  return [...states].filter(([, on]) => on).map(([m]) => m).sort();
}

function loraxStage(spec: AnacondaSpec, path: string): Stage {
  const c = spec.config;
  return stage('org.osbuild.lorax-script', {
    path,
    basearch: spec.image.arch,
    ...(c.lorax_release_package || c.lorax_logos_package
      ? { branding: { ...(c.lorax_release_package ? { release: c.lorax_release_package } : {}), ...(c.lorax_logos_package ? { logos: c.lorax_logos_package } : {}) } }
      : {}),
  });
}

function dracutStage(spec: AnacondaSpec, kernel: string): Stage {
  const live = spec.type === 'live';
  // a container's kernel has no /boot: the initrd goes where the ISO copies it from
  const output = spec.fromContainer ? [bootFiles(spec, kernel).initrd] : [];
  const modules = ['pollcdrom', 'qemu', 'qemu-net', ...(spec.config.additional_dracut_modules ?? [])];
  if (spec.image.arch === 'x86_64') modules.push('biosdevname');
  modules.push(...(live ? ['livenet', 'dmsquash-live', 'convertfs'] : ['fips', 'anaconda', 'prefixdevname-tools']));
  return stage('org.osbuild.dracut', {
    kernel: [kernel],
    add_modules: modules,
    ...(spec.config.additional_drivers?.length ? { add_drivers: [...spec.config.additional_drivers] } : {}),
    ...(live ? {} : { install: ['./buildstamp'] }),
    extra: live ? ['--xz', ...output] : ['--xz', ...output, '--nomdadmconf', '--nolvmconf'],
  });
}

/** The installer's root tree. `extraStages` (an ostree payload in the rootfs) go right after the packages. */
export function anacondaTreePipeline(spec: AnacondaSpec, packages: ManifestPackage[][] | undefined, sources: Sources, extraStages: Stage[] = []): Pipeline {
  const { image } = spec;
  const c = spec.config;
  const kernel = spec.fromContainer?.kernel ?? anacondaKernel(packages);
  const rpmOptions: Record<string, unknown> = {};
  if (spec.type !== 'live') rpmOptions.exclude = { docs: true };
  if (image.distro.rpmkeysBinary) rpmOptions.rpmkeys = { bin_path: image.distro.rpmkeysBinary };
  const stages: Stage[] = [
    ...(spec.fromContainer ? [spec.fromContainer.deploy] : rpmStages(packages, rpmOptions, sources)),
    ...extraStages,
    stage('org.osbuild.buildstamp', { arch: image.arch, product: image.distro.product, version: image.distro.osVersion, final: !image.distro.preview, ...(image.variant ? { variant: image.variant } : {}) }),
    stage('org.osbuild.locale', { language: spec.locale }),
  ];
  if (spec.type === 'live') {
    stages.push(stage('org.osbuild.users', { users: { root: { password: '' } } }));
    stages.push(stage('org.osbuild.systemd', { enabled_services: ['livesys.service', 'livesys-late.service'] }));
    // livesys-scripts set the live session up for this desktop
    stages.push(...fileStages([{ path: '/etc/sysconfig/livesys', mode: '0644', user: 'root', group: 'root', data: 'livesys_session="gnome"' }], sources));
    stages.push(dracutStage(spec, kernel));
    if (spec.selinux) stages.push(stage('org.osbuild.selinux', { file_contexts: `etc/selinux/${spec.selinux}/contexts/files/file_contexts` }));
    return { name: ANACONDA_TREE, build: 'name:build', stages };
  }
  stages.push(
    stage('org.osbuild.users', {
      users: { install: { uid: 0, gid: 0, home: spec.fromContainer?.home ?? '/root', shell: '/usr/libexec/anaconda/run-anaconda', password: '' }, root: { password: '' } },
    }),
  );
  if (spec.type !== 'netinst') {
    const modules = activatable(spec.enabledModules, spec.disabledModules);
    if (modules.length) stages.push(stage('org.osbuild.anaconda', { 'activatable-modules': modules }));
  }
  const templates = c.lorax_templates ?? [];
  for (const t of templates.filter((x) => !x.after_dracut)) stages.push(loraxStage(spec, t.path));
  stages.push(dracutStage(spec, kernel));
  for (const t of templates.filter((x) => x.after_dracut)) stages.push(loraxStage(spec, t.path));
  stages.push(stage('org.osbuild.selinux.config', { state: 'permissive' }));
  return { name: ANACONDA_TREE, build: 'name:build', stages };
}

/** The tree in an ext4 image of `gib` GiB, squashed later (rootfs type squashfs-ext4). */
export function rootfsImagePipeline(gib: number): Pipeline {
  const size = gib * 1024 ** 3;
  const device = { device: { type: 'org.osbuild.loopback', options: { filename: 'LiveOS/rootfs.img' } } };
  return {
    name: 'rootfs-image',
    build: 'name:build',
    stages: [
      stage('org.osbuild.mkdir', { paths: [{ path: '/LiveOS' }] }),
      stage('org.osbuild.truncate', { filename: '/LiveOS/rootfs.img', size: String(size) }),
      // fixed, as upstream has them: anaconda's dracut module finds the root by them
      stage('org.osbuild.mkfs.ext4', { uuid: '2fe99653-f7ff-44fd-bea8-fa70107524fb', label: 'Anaconda' }, { devices: device }),
      stage(
        'org.osbuild.copy',
        { paths: [{ from: 'input://tree/', to: 'mount://device/' }] },
        { inputs: { tree: treeInput(ANACONDA_TREE) }, devices: device, mounts: [{ name: 'device', type: 'org.osbuild.ext4', source: 'device', target: '/' }] },
      ),
    ],
  };
}

/** Whether the boot type puts a UEFI boot tree (efiboot.img) into the ISO. */
export function hasEfiBoot(bootType: IsoBootType): boolean {
  return bootType === 'grub2-uefi' || bootType === 'syslinux' || bootType === 'grub2';
}

export interface BootMenu {
  kernelOpts: string[];
  /** The entry selected by default; 0 leaves grub's default (the first). */
  defaultMenu: number;
  /** The menu's timeout in seconds; absent or 0 leaves the stage's. */
  timeout?: number;
  /** Entries replacing the standard ones (install, test, troubleshooting). */
  entries?: { name: string; linux: string; initrd: string }[];
  /** Only the install entry (no media test, no troubleshooting menu). */
  installOnly?: boolean;
}

function grubConfig(menu: BootMenu): Record<string, unknown> {
  const config = { ...(menu.defaultMenu > 0 ? { default: menu.defaultMenu } : {}), ...(menu.timeout ? { timeout: menu.timeout } : {}) };
  return Object.keys(config).length ? { config } : {};
}

/** The grub2 ISO stages' menu options: the standard entries, or the custom ones instead of them. */
function grubEntries(menu: BootMenu): Record<string, unknown> {
  if (menu.entries?.length) return { install: false, test: false, troubleshooting: false, custom: menu.entries.map((e) => ({ ...e })) };
  return { install: true, test: !menu.installOnly, troubleshooting: !menu.installOnly };
}

const product = (image: ResolvedImage) => ({ name: image.distro.product, version: image.distro.osVersion });

/** grub2's EFI tree (BOOT*.EFI, grub.cfg) that bootiso-tree puts into efiboot.img and the ISO's /EFI. */
export function efibootTreePipeline(image: ResolvedImage, iso: IsoSpec, menu: BootMenu): Pipeline {
  const main = image.arch === 'x86_64' ? 'X64' : image.arch === 'aarch64' ? 'AA64' : undefined;
  if (!main) throw new KilnError('KILN_UNSUPPORTED_IMAGE', `an EFI boot tree for ${image.arch} is not supported`, { details: { arch: image.arch } });
  if (!image.platform.uefiVendor) throw new KilnError('KILN_MANIFEST', `image type ${image.name} boots with UEFI on ${image.arch} but its platform names no EFI vendor`, {});
  return {
    name: 'efiboot-tree',
    build: 'name:build',
    stages: [
      stage('org.osbuild.grub2.iso', {
        product: product(image),
        kernel: { dir: '/images/pxeboot', opts: [...menu.kernelOpts] },
        isolabel: iso.label,
        // the stage tests for "IA32" to write the ia32 config: upstream passes the platform's "ia32" (DIFFERENCES.yaml)
        architectures: [main, ...image.platform.extraUefiArchitectures.map((a) => a.toUpperCase())],
        vendor: image.platform.uefiVendor,
        fips: image.platform.fipsMenu,
        ...grubEntries(menu),
        ...grubConfig(menu),
      }),
    ],
  };
}

/** What the ISO's root file system leaves out of the tree (most of /boot, the package databases). */
export const ROOTFS_EXCLUDES = [
  'boot/efi/.*',
  'boot/grub2/.*',
  'boot/config-.*',
  'boot/initramfs-.*',
  'boot/loader/.*',
  'boot/symvers-.*',
  'boot/System.map-.*',
  'usr/lib/sysimage/rpm/.*',
  'var/lib/rpm/.*',
  'var/lib/yum/.*',
  'var/lib/dnf/.*',
];

/** The root file system image of the ISO: squashfs (xz with the arch's BCJ filter, or zstd) or erofs. */
function rootfsStage(spec: AnacondaSpec, iso: IsoSpec): Stage {
  const filename = spec.type === 'live' ? 'LiveOS/squashfs.img' : 'images/install.img';
  const excludePaths = [...ROOTFS_EXCLUDES];
  if (iso.rootfsType === 'erofs') {
    const e = iso.erofs ?? {};
    return stage(
      'org.osbuild.erofs',
      { filename, ...(e.compression ? { compression: { ...e.compression } } : {}), ...(e.options?.length ? { options: [...e.options] } : {}), ...(e['cluster-size'] ? { 'cluster-size': e['cluster-size'] } : {}), exclude_paths: excludePaths },
      { inputs: { tree: treeInput(ANACONDA_TREE) } },
    );
  }
  const method = iso.compression ?? 'xz';
  const bcj = method === 'xz' ? BCJ[spec.image.arch] : undefined;
  return stage(
    'org.osbuild.squashfs',
    { filename, compression: { method, ...(bcj ? { options: { bcj } } : {}) }, exclude_paths: excludePaths },
    { inputs: { tree: treeInput(iso.rootfsType === 'squashfs-ext4' ? 'rootfs-image' : ANACONDA_TREE) } },
  );
}

/** xz's branch/call/jump filter per architecture (what squashfs compresses executables with). */
export const BCJ: Record<string, string> = { x86_64: 'x86', aarch64: 'arm', ppc64le: 'powerpc' };

/** isolinux (BIOS boot of the ISO) from the syslinux files of the `data` pipeline's tree; `fips` only where the ISO has a FIPS menu option to give. */
export function isolinuxStage(image: ResolvedImage, kernelOpts: string[], data: string, fips?: boolean): Stage {
  return stage(
    'org.osbuild.isolinux',
    { product: product(image), kernel: { dir: '/images/pxeboot', opts: [...kernelOpts] }, ...(fips !== undefined ? { fips } : {}) },
    { inputs: { data: treeInput(data) } },
  );
}

/** images/efiboot.img: a 20 MiB FAT image holding efiboot-tree, what UEFI firmware boots an El Torito ISO from. */
export function efibootImageStages(rng: SeededRandom): Stage[] {
  const filename = 'images/efiboot.img';
  const sectors = (20 * 1024 ** 2) / 512;
  const loop = (lock: boolean) => ({ type: 'org.osbuild.loopback', options: { filename, start: 0, size: sectors, ...(lock ? { lock: true } : {}) } });
  return [
    stage('org.osbuild.truncate', { filename, size: String(20 * 1024 ** 2) }),
    stage('org.osbuild.mkfs.fat', { volid: rng.volumeId().replace('-', '') }, { devices: { device: loop(true) } }),
    stage(
      'org.osbuild.copy',
      { paths: [{ from: 'input://root-tree/', to: 'mount://-/' }] },
      { inputs: { 'root-tree': treeInput('efiboot-tree') }, devices: { '-': loop(false) }, mounts: [{ name: '-', type: 'org.osbuild.fat', source: '-', target: '/' }] },
    ),
  ];
}

/** The EFI boot tree also as the ISO's /EFI. */
export function efiTreeStage(inputName = 'root-tree'): Stage {
  return stage('org.osbuild.copy', { paths: [{ from: `input://${inputName}/EFI`, to: 'tree:///' }] }, { inputs: { [inputName]: treeInput('efiboot-tree') } });
}

/** The ISO's boot loader stages (BIOS isolinux or grub2, and efiboot.img from efiboot-tree). */
export function bootStages(image: ResolvedImage, iso: IsoSpec, menu: BootMenu, rng: SeededRandom): Stage[] {
  const out: Stage[] = [];
  switch (iso.bootType) {
    case 'syslinux':
      out.push(isolinuxStage(image, menu.kernelOpts, ANACONDA_TREE, image.platform.fipsMenu));
      break;
    case 'grub2':
      out.push(
        stage('org.osbuild.grub2.iso.legacy', {
          product: product(image),
          kernel: { dir: '/images/pxeboot', opts: [...menu.kernelOpts] },
          isolabel: iso.label,
          fips: image.platform.fipsMenu,
          ...grubEntries(menu),
          ...grubConfig(menu),
        }),
        stage('org.osbuild.grub2.inst', {
          filename: 'images/eltorito.img',
          platform: 'i386-pc',
          core: { type: 'mkimage', partlabel: 'gpt', filesystem: 'iso9660' },
          prefix: { path: '/boot/grub2' },
        }),
      );
      break;
    case 'grub2-uefi':
      break;
    default:
      throw new KilnError('KILN_UNSUPPORTED_IMAGE', `ISO boot type ${iso.bootType} is not supported`, { details: { bootType: iso.bootType } });
  }
  if (hasEfiBoot(iso.bootType)) out.push(...efibootImageStages(rng), efiTreeStage());
  return out;
}

export interface IsoTreeInput {
  spec: AnacondaSpec;
  iso: IsoSpec;
  menu: BootMenu;
  /** The installer's kernel version (the anaconda tree's boot/vmlinuz-<version>). */
  kernel: string;
  rng: SeededRandom;
  /** The payload's stages (tarball and kickstart, ostree repository, …); none for network and live installers. */
  payloadStages: Stage[];
  /** .discinfo's release (default: the distro's product and version). */
  release?: string;
}

/** The ISO's file tree. */
export function bootisoTreePipeline(input: IsoTreeInput): Pipeline {
  const { spec, iso, menu, kernel } = input;
  const stages: Stage[] = [stage('org.osbuild.mkdir', { paths: [{ path: '/images' }, { path: '/images/pxeboot' }] })];
  if (spec.type === 'live') stages.push(stage('org.osbuild.mkdir', { paths: [{ path: '/LiveOS' }] }));
  const boot = bootFiles(spec, kernel);
  const copies = [
    { from: `input://tree/${boot.kernel}`, to: 'tree:///images/pxeboot/vmlinuz' },
    { from: `input://tree/${boot.initrd}`, to: 'tree:///images/pxeboot/initrd.img' },
    ...(spec.config.iso_files ?? []).map(([from, to]) => ({ from: `input://tree${from}`, to: `tree://${to}` })),
  ];
  stages.push(stage('org.osbuild.copy', { paths: copies }, { inputs: { tree: treeInput(ANACONDA_TREE) } }));
  stages.push(rootfsStage(spec, iso));
  stages.push(...bootStages(spec.image, iso, menu, input.rng));
  stages.push(...input.payloadStages);
  stages.push(stage('org.osbuild.discinfo', { basearch: spec.image.arch, release: input.release ?? `${spec.image.distro.product} ${spec.image.distro.osVersion}` }));
  return { name: 'bootiso-tree', build: 'name:build', stages };
}

/** The ISO file: xorrisofs with the boot type's El Torito and hybrid MBR options, then its checksum implanted. */
export function bootisoPipeline(filename: string, iso: IsoSpec): Pipeline {
  const options: Record<string, unknown> = {
    filename,
    volid: iso.label,
    sysid: 'LINUX',
    isolevel: 3,
    ...(iso.preparer ? { prep: iso.preparer } : {}),
    ...(iso.publisher ? { pub: iso.publisher } : {}),
    ...(iso.application ? { appid: iso.application } : {}),
    ...(iso.excludePaths?.length ? { exclude: [...iso.excludePaths] } : {}),
  };
  switch (iso.bootType) {
    case 'grub2-uefi':
      options.efi = 'images/efiboot.img';
      break;
    case 'syslinux':
      Object.assign(options, { efi: 'images/efiboot.img', boot: { image: 'isolinux/isolinux.bin', catalog: 'isolinux/boot.cat' }, isohybridmbr: '/usr/share/syslinux/isohdpfx.bin' });
      break;
    case 'grub2':
      Object.assign(options, { efi: 'images/efiboot.img', boot: { image: 'images/eltorito.img', catalog: 'boot.cat' }, grub2mbr: '/usr/lib/grub/i386-pc/boot_hybrid.img' });
      break;
    default:
      throw new KilnError('KILN_UNSUPPORTED_IMAGE', `ISO boot type ${iso.bootType} is not supported`, { details: { bootType: iso.bootType } });
  }
  return {
    name: 'bootiso',
    build: 'name:build',
    stages: [stage('org.osbuild.xorrisofs', options, { inputs: { tree: treeInput('bootiso-tree') } }), stage('org.osbuild.implantisomd5', { filename })],
  };
}
