/**
 * bootc disk images (osbuild/images pkg/image/bootc_disk.go, pkg/manifest/raw_bootc.go,
 * BuildrootFromContainer in pkg/manifest/build.go): no packages are installed. The build root
 * is the build container deployed into a tree (org.osbuild.container-deploy); when the build
 * container is another image than the bootable one, the bootable one's install configuration
 * (/usr/lib/bootc/install, /usr/lib/ostree) is copied into it from a `target` pipeline. The
 * `image` pipeline partitions the disk, makes the file systems, runs `bootc install
 * to-filesystem` on them from the pinned container, then applies the blueprint to the
 * deployment (mount units, groups, users, directories, files) and relabels /etc and /var.
 * The format pipelines (qcow2, vmdk, vpc, ova) run on the host, as upstream's do.
 */
import { blueprintUsers, type Blueprint } from '../../blueprint/index.js';
import type { BootcInfo } from '../../containers/bootc.js';
import type { ContainerSpec } from '../../containers/index.js';
import { InvalidInputError, KilnError } from '../../errors.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import type { PartitionTable } from '../partitions/model.js';
import { escapePath, mountUnitStages } from '../stages/boot.js';
import { directoryStages, fileStages } from '../stages/files.js';
import { stageUser, usersStage } from '../stages/os.js';
import type { Sources } from '../stages/rpm.js';
import { stage, type Pipeline, type Stage } from '../stages/stage.js';
import { containerSourceInput } from '../stages/containers.js';
import { finishStages, prepareStages } from './disk.js';
import { fileInput, treeInput } from './outputs.js';

const MOUNT: Record<string, string> = { ext4: 'org.osbuild.ext4', xfs: 'org.osbuild.xfs', vfat: 'org.osbuild.fat', btrfs: 'org.osbuild.btrfs' };

/** Mount points a bootc image can have (upstream's mountpointPolicy): / and /boot to size them, and directories under /var but /var itself. */
const DENIED_UNDER_VAR = ['/var/home', '/var/lock', '/var/mail', '/var/mnt', '/var/roothome', '/var/run', '/var/srv', '/var/usrlocal'];

export function checkBootcMountpoints(bp: Blueprint, field = 'blueprint'): void {
  for (const [i, fs] of (bp.customizations?.filesystem ?? []).entries()) {
    const m = fs.mountpoint.replace(/\/+$/, '') || '/';
    const underVar = m.startsWith('/var/') && !DENIED_UNDER_VAR.some((d) => m === d || m.startsWith(`${d}/`));
    if (m !== '/' && m !== '/boot' && !underVar) {
      throw new InvalidInputError(`${field}.customizations.filesystem[${i}].mountpoint`, `${JSON.stringify(fs.mountpoint)} is not allowed in a bootc image: only /, /boot and directories under /var (not /var itself, ${DENIED_UNDER_VAR.join(', ')})`);
    }
  }
}

const fileContexts = (policy: string) => `etc/selinux/${policy}/contexts/files/file_contexts`;

/** A build root from a container (upstream's BuildrootFromContainer, containerBuildable). */
export function containerBuildroot(name: string, spec: ContainerSpec, policy: string | undefined, sources: Sources, extra: Stage[], runner = 'org.osbuild.linux'): Pipeline {
  const stages: Stage[] = [stage('org.osbuild.container-deploy', { 'remove-signatures': true }, { inputs: { images: containerSourceInput(spec, sources) } }), ...extra];
  if (policy) {
    stages.push(
      stage('org.osbuild.selinux', {
        file_contexts: fileContexts(policy),
        exclude_paths: ['/sysroot'],
        labels: { '/usr/bin/mount': 'system_u:object_r:install_exec_t:s0', '/usr/bin/ostree': 'system_u:object_r:install_exec_t:s0', '/usr/bin/umount': 'system_u:object_r:install_exec_t:s0' },
      }),
    );
  }
  return { name, runner, stages };
}

/** The install configuration the build root takes from the bootable container (directory contents: trailing slash). */
const COPIED = ['/usr/lib/bootc/install/', '/usr/lib/ostree/'];
const ensureDirs = () => stage('org.osbuild.mkdir', { paths: COPIED.map((p) => ({ path: p.slice(0, -1), exist_ok: true })) });

/** Devices and mounts for bootc and bootupd (upstream's GenBootupdDevicesMounts): one partition-scanned loop device, mounts by partition number. */
function bootupdMounts(filename: string, pt: PartitionTable, needEsp: boolean): { devices: Record<string, unknown>; mounts: Record<string, unknown>[] } {
  const devices: Record<string, unknown> = {
    disk: { type: 'org.osbuild.loopback', options: { filename, partscan: true, ...(pt.sectorSize !== 512 ? { 'sector-size': pt.sectorSize } : {}) } },
  };
  const mounts: Record<string, unknown>[] = [];
  pt.partitions.forEach((p, idx) => {
    const payload = p.payload;
    if (!payload) return;
    switch (payload.kind) {
      case 'filesystem':
        mounts.push({ name: escapePath(payload.mountpoint), type: MOUNT[payload.type], source: 'disk', target: payload.mountpoint, partition: idx + 1 });
        break;
      case 'btrfs':
        for (const s of payload.subvolumes) {
          mounts.push({ name: escapePath(s.mountpoint), type: MOUNT.btrfs, source: 'disk', target: s.mountpoint, partition: idx + 1, options: { subvol: s.name, ...(s.compress ? { compress: s.compress } : {}) } });
        }
        break;
      case 'lvm':
        for (const lv of payload.logicalVolumes) {
          devices[lv.name] = { type: 'org.osbuild.lvm2.lv', parent: 'disk', options: { volume: lv.name, vg_partnum: idx + 1 } };
          if (lv.payload.kind === 'filesystem') mounts.push({ name: escapePath(lv.payload.mountpoint), type: MOUNT[lv.payload.type], source: lv.name, target: lv.payload.mountpoint });
          // swap logical volumes are not mounted
        }
        break;
      case 'swap':
        break;
      default:
        throw new InvalidInputError('blueprint.customizations.disk', `bootc images cannot have ${payload.kind} partitions (bootc install needs the file systems on plain partitions, LVM or btrfs)`);
    }
  });
  mounts.sort((a, b) => ((a.target as string) < (b.target as string) ? -1 : (a.target as string) > (b.target as string) ? 1 : 0));
  const targets = new Set(mounts.map((m) => m.target));
  const missing = ['/', ...(needEsp ? ['/boot/efi'] : [])].filter((t) => !targets.has(t));
  if (missing.length) throw new KilnError('KILN_MANIFEST', `required mounts for bootupd stage [${missing.join(' ')}] missing`, {});
  return { devices, mounts };
}

export interface BootcPipelinesInput {
  image: ResolvedImage;
  pt: PartitionTable;
  bootc: BootcInfo;
  blueprint: Blueprint;
  seed: string | number | bigint;
  sources: Sources;
}

/** Every pipeline of a bootc disk image: [target], build, image, then the export's format. */
export function bootcPipelines(input: BootcPipelinesInput): Pipeline[] {
  const { image, pt, bootc, blueprint, sources } = input;
  const c = blueprint.customizations ?? {};
  const out: Pipeline[] = [];
  const build = bootc.build_container && bootc.build_container.image_id !== bootc.container.image_id ? bootc.build_container : undefined;
  if (build) {
    out.push(containerBuildroot('target', bootc.container, bootc.selinux_policy, sources, [ensureDirs()]));
    const copy = stage('org.osbuild.copy', { paths: COPIED.map((p) => ({ from: `input://copy-tree${p}`, to: `tree://${p}` })) }, { inputs: { 'copy-tree': treeInput('target') } });
    out.push(containerBuildroot('build', build, bootc.build_selinux_policy ?? bootc.selinux_policy, sources, [ensureDirs(), copy]));
  } else {
    out.push(containerBuildroot('build', bootc.container, bootc.selinux_policy, sources, []));
  }

  const raw = `${image.filename.split('.')[0]}.raw`;
  const stages = prepareStages(raw, pt, 'sfdisk');
  const needEsp = !!image.platform.uefiVendor;
  const bootupd = () => bootupdMounts(raw, pt, needEsp);
  const install = bootupd();
  const kargs = [...(image.imageConfig.kernel_options ?? []), ...(c.kernel?.append ? [c.kernel.append] : [])];
  stages.push(
    stage(
      'org.osbuild.bootc.install-to-filesystem',
      { ...(kargs.length ? { 'kernel-args': kargs } : {}), 'target-imgref': bootc.container.local_name, ...(bootc.bootloader ? { bootloader: bootc.bootloader } : {}) },
      { inputs: { images: containerSourceInput(bootc.container, sources) }, devices: install.devices, mounts: install.mounts.filter((m) => ['/', '/boot', '/boot/efi'].includes(m.target as string)) },
    ),
  );
  stages.push(...finishStages(raw, pt));

  // the blueprint goes into the deployment: every stage sees it as its tree
  const { devices, mounts } = bootupd();
  const deployment = [
    ...mounts,
    { name: 'ostree.deployment', type: 'org.osbuild.ostree.deployment', options: { source: 'mount', deployment: { default: true } } },
    { name: 'bind-ostree-deployment-to-tree', type: 'org.osbuild.bind', target: 'tree://', options: { source: 'mount://' } },
  ];
  const onDeployment = (s: Stage): Stage => ({ ...s, devices, mounts: deployment });
  const post: Stage[] = mountUnitStages(pt).map(onDeployment);
  if (c.group?.length) post.push(onDeployment(stage('org.osbuild.groups', { groups: Object.fromEntries(c.group.map((g) => [g.name, g.gid !== undefined ? { gid: g.gid } : {}])) })));
  const users = blueprintUsers(c).map((u) => stageUser(u, input.seed));
  if (users.length) {
    const root = users.some((u) => u.name === 'root');
    const others = users.some((u) => u.name !== 'root');
    const homes = [...(root ? [{ path: '/var/roothome', mode: 0o700, exist_ok: true }] : []), ...(others ? [{ path: '/var/home', mode: 0o755, exist_ok: true }] : [])];
    post.push(onDeployment(stage('org.osbuild.mkdir', { paths: homes })));
    post.push(onDeployment(usersStage(users)));
  }
  post.push(...directoryStages(c.directories ?? []).map(onDeployment));
  post.push(...fileStages(c.files ?? [], sources).map(onDeployment));
  stages.push(...post);
  if (bootc.selinux_policy && post.length) {
    for (const dir of ['/etc', '/var']) stages.push(onDeployment(stage('org.osbuild.selinux', { target: `tree://${dir}`, file_contexts: fileContexts(bootc.selinux_policy), exclude_paths: ['/sysroot'] })));
  }
  out.push({ name: 'image', build: 'name:build', stages });

  const base = image.filename.split('.')[0];
  const from = { pipeline: 'image', file: raw };
  const qemu = (name: string, file: string, format: Record<string, unknown>): Pipeline => ({ name, stages: [stage('org.osbuild.qemu', { filename: file, format }, { inputs: { image: fileInput(from.pipeline, from.file) } })] });
  switch (image.platform.imageFormat ?? 'raw') {
    case 'raw':
      break;
    case 'qcow2':
      out.push(qemu('qcow2', `${base}.qcow2`, { type: 'qcow2', compat: image.platform.qcow2Compat ?? '' }));
      break;
    case 'vmdk':
      out.push(qemu('vmdk', `${base}.vmdk`, { type: 'vmdk', subformat: 'streamOptimized' }));
      break;
    case 'vhd':
      out.push(qemu('vpc', `${base}.vhd`, { type: 'vpc' }));
      break;
    case 'ova':
      out.push(qemu('vmdk', `${base}.vmdk`, { type: 'vmdk', subformat: 'streamOptimized' }));
      out.push({
        name: 'ovf',
        stages: [
          stage('org.osbuild.copy', { paths: [{ from: `input://vmdk-tree/${base}.vmdk`, to: 'tree:///' }] }, { inputs: { 'vmdk-tree': fileInput('vmdk', `${base}.vmdk`) } }),
          stage('org.osbuild.ovf', { vmdk: `${base}.vmdk` }),
        ],
      });
      out.push({ name: 'archive', stages: [stage('org.osbuild.tar', { filename: `${base}.ova`, format: 'ustar', paths: [`${base}.ovf`, `${base}.mf`, `${base}.vmdk`] }, { inputs: { tree: treeInput('ovf') } })] });
      break;
    case 'gce':
      out.push({
        name: 'gce',
        build: 'name:build',
        stages: [
          stage(
            'org.osbuild.tar',
            { filename: image.filename, format: 'oldgnu', 'root-node': 'omit', acls: false, selinux: false, xattrs: false, transform: `s/${base}\\.raw/disk.raw/` },
            { inputs: { tree: treeInput('image') } },
          ),
        ],
      });
      break;
    default:
      throw new KilnError('KILN_MANIFEST', `image format ${image.platform.imageFormat} is not a bootc disk format`, {});
  }
  return out;
}
