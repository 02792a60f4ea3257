/**
 * PXE tree tarballs (pxe_tar, osbuild/images' PXETar): the os tree's kernel, its initrd (built
 * with dracut's live modules so it can fetch and mount a root image), the tree itself as a
 * squashfs root image, the EFI boot files, a grub.cfg template and a README — in a tar, then
 * compressed.
 */
import { KilnError } from '../../errors.js';
import type { ImageConfig } from '../../generated/image-definitions.schema.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import { fileStages } from '../stages/files.js';
import { packageEvra } from '../stages/rpm.js';
import { stage, type Pipeline } from '../stages/stage.js';
import { BCJ } from './anaconda.js';
import type { KindInput, KindPlan } from './index.js';
import { compressionPipeline, treeInput } from './outputs.js';

/** The initrd must find its root over the network (livenet) or in itself (dmsquash-live). */
const PXE_DRACUT_CONF = {
  filename: '40-pxe.conf',
  config: { early_microcode: false, add_dracutmodules: ['qemu', 'qemu-net', 'livenet', 'dmsquash-live'], compress: 'xz' },
};

export function pxePlan(): KindPlan {
  return {
    os: 'first',
    packageChains: {},
    buildPackages: [],
    osConfig: (config: ImageConfig) => ({ ...config, dracut_conf: [...(config.dracut_conf ?? []), structuredClone(PXE_DRACUT_CONF)] }) as ImageConfig,
  };
}

/** The grub2 menu: root image over HTTP, or appended to the initrd (`@CMDLINE@`: the image's kernel options). */
function grubConfig(cmdline: string): string {
  const extra = cmdline ? ` ${cmdline}` : '';
  return [
    'set timeout=60',
    "menuentry 'http-rootfs' {",
    `    linux /vmlinuz root=live:http://HTTP-SERVER/rootfs.img rd.live.image${extra}`,
    '    initrd /initrd.img',
    '}',
    "menuentry 'combined-rootfs' {",
    `    linux /vmlinuz root=live:/rootfs.img rd.live.image${extra}`,
    '    initrd /combined.img',
    '}',
    '',
  ].join('\n');
}

function readme(image: ResolvedImage): string {
  return `${image.distro.product} ${image.distro.osVersion} PXE boot files (${image.arch})

  EFI/         shim and grub2 EFI binaries, for UEFI PXE or HTTP boot
  vmlinuz      the kernel
  initrd.img   the initial ramdisk (dracut with livenet and dmsquash-live)
  rootfs.img   the root file system, squashfs
  grub.cfg     a grub2 menu to adapt

The machine keeps kernel, initrd and root image in memory: give it RAM for all three
(about 2 GiB for a small image, more for a larger rootfs.img).

Root image over HTTP: serve rootfs.img, replace HTTP-SERVER in grub.cfg with that server's
address, and put vmlinuz, initrd.img and grub.cfg where the TFTP or HTTP boot server serves
them.

Root image inside the initrd (no HTTP server needed):

    echo rootfs.img | cpio -H newc --quiet -L -o > rootfs.cpio
    cat initrd.img rootfs.cpio > combined.img

and boot the 'combined-rootfs' entry.
`;
}

export function pxeTarPipelines(input: KindInput): Pipeline[] {
  const { image, packages, sources, settings } = input;
  if (!sources || !settings) throw new KilnError('KILN_INTERNAL', 'the pxe_tar kind needs the OS settings and the sources', {});
  const kernel = packageEvra(packages?.os, input.kernelName ?? 'kernel') ?? 'KERNEL';
  const bcj = BCJ[image.arch];
  const tree: Pipeline = {
    name: 'pxe-tree',
    build: 'name:build',
    stages: [
      stage(
        'org.osbuild.copy',
        {
          paths: [
            { from: `input://tree/boot/vmlinuz-${kernel}`, to: 'tree:///vmlinuz' },
            { from: `input://tree/boot/initramfs-${kernel}.img`, to: 'tree:///initrd.img' },
            { from: 'input://tree/boot/efi/EFI', to: 'tree:///EFI' },
          ],
        },
        { inputs: { tree: treeInput('os') } },
      ),
      stage(
        'org.osbuild.squashfs',
        {
          filename: 'rootfs.img',
          compression: { method: 'xz', ...(bcj ? { options: { bcj } } : {}) },
          exclude_paths: ['boot/efi/.*', 'boot/grub2/.*', 'boot/config-.*', 'boot/initramfs-.*', 'boot/loader/.*', 'boot/symvers-.*', 'boot/System.map-.*', 'usr/lib/sysimage/rpm/.*', 'var/lib/rpm/.*', 'var/lib/yum/.*', 'var/lib/dnf/.*'],
        },
        { inputs: { tree: treeInput('os') } },
      ),
      ...fileStages([{ path: '/grub.cfg', data: grubConfig(settings.kernelOptions.join(' ')) }], sources),
      ...fileStages([{ path: '/README', data: readme(image) }], sources),
      stage('org.osbuild.chmod', {
        items: {
          '/EFI': { mode: 'ugo+Xr', recursive: true },
          '/vmlinuz': { mode: '0755' },
          '/initrd.img': { mode: '0644' },
          '/rootfs.img': { mode: '0644' },
          '/grub.cfg': { mode: '0644' },
          '/README': { mode: '0644' },
        },
      }),
    ],
  };
  const file = image.compression ? 'image.tar' : image.filename;
  const out: Pipeline[] = [tree, { name: 'tar', build: 'name:build', stages: [stage('org.osbuild.tar', { filename: file }, { inputs: { tree: treeInput('pxe-tree') } })] }];
  if (image.compression) out.push(compressionPipeline(image.compression, { pipeline: 'tar', file }, image.filename));
  return out;
}
