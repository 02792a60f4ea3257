/**
 * Disk images: the OS tree copied into a partitioned raw disk (the `image` pipeline), then the
 * platform's image format (qcow2, vhd, vmdk, ova, gce, vagrant boxes) and the type's
 * compression, each a pipeline of its own; the last one writes the type's file name.
 */
import { KilnError } from '../../errors.js';
import { escapePath } from '../stages/boot.js';
import { isBiosBootOrPrep, mountables, type LogicalVolume, type Luks, type Mountable, type Partition, type PartitionTable, type Payload, type VolumeGroup } from '../partitions/model.js';
import { checkoutInput } from '../stages/ostree.js';
import { packageEvra } from '../stages/rpm.js';
import { stage, type Pipeline, type Stage } from '../stages/stage.js';
import type { KindInput } from './index.js';
import { compressionPipeline, fileInput, treeInput } from './outputs.js';

const MKFS: Record<string, string> = { ext4: 'org.osbuild.mkfs.ext4', xfs: 'org.osbuild.mkfs.xfs', vfat: 'org.osbuild.mkfs.fat', btrfs: 'org.osbuild.mkfs.btrfs' };
const MOUNT: Record<string, string> = { ext4: 'org.osbuild.ext4', xfs: 'org.osbuild.xfs', vfat: 'org.osbuild.fat', btrfs: 'org.osbuild.btrfs' };

/** A device's name after what it carries (as osbuild/images names them). */
function payloadName(payload: Payload | LogicalVolume['payload']): string {
  switch (payload.kind) {
    case 'filesystem':
      return escapePath(payload.mountpoint);
    case 'lvm':
      return payload.name;
    case 'luks':
      return `luks-${payload.uuid!.slice(0, 4)}`;
    case 'btrfs':
      return `btrfs-${payload.uuid!.slice(0, 4)}`;
    case 'swap':
      return `swap-${payload.uuid!.slice(0, 4)}`;
  }
}

interface DeviceChain {
  devices: Record<string, Record<string, unknown>>;
  /** The name of the last device: the one a file system or volume lives on. */
  leaf: string;
}

function loopback(filename: string, pt: PartitionTable, p: Partition | undefined, lock: boolean): Record<string, unknown> {
  const sectors = (bytes: number) => bytes / pt.sectorSize;
  return {
    type: 'org.osbuild.loopback',
    options: {
      filename,
      ...(p ? { start: sectors(p.start), size: sectors(p.size) } : {}),
      ...(lock ? { lock: true } : {}),
      ...(pt.sectorSize !== 512 ? { 'sector-size': pt.sectorSize } : {}),
    },
  };
}

/** The devices from the partition down through LUKS and LVM to the entity `path` ends at. */
function chain(filename: string, pt: PartitionTable, index: number, path: (Luks | VolumeGroup | LogicalVolume)[], lock: boolean): DeviceChain {
  const p = pt.partitions[index];
  const devices: DeviceChain['devices'] = {};
  let leaf = payloadName(p.payload!);
  devices[leaf] = loopback(filename, pt, p, lock);
  for (const e of path) {
    if ('kind' in e && e.kind === 'luks') {
      const name = payloadName(e.payload);
      devices[name] = { type: 'org.osbuild.luks2', parent: leaf, options: { passphrase: e.passphrase } };
      leaf = name;
    } else if (!('kind' in e)) {
      const name = payloadName(e.payload);
      devices[name] = { type: 'org.osbuild.lvm2.lv', parent: leaf, options: { volume: e.name } };
      leaf = name;
    }
  }
  return { devices, leaf };
}

/** For mkfs, luks and lvm stages: the last device is called `device`. */
function asDevice(c: DeviceChain): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, dev] of Object.entries(c.devices)) {
    if (name === c.leaf) continue;
    out[name] = dev;
  }
  const leaf = { ...c.devices[c.leaf] } as Record<string, unknown>;
  out.device = leaf;
  // children referred to the leaf by its old name
  for (const dev of Object.values(out) as Record<string, unknown>[]) if (dev.parent === c.leaf) dev.parent = 'device';
  return out;
}

/** Every container and file system of the table, depth first, with the chain that reaches it. */
function walk(pt: PartitionTable, visit: (payload: Payload | LogicalVolume['payload'], index: number, path: (Luks | VolumeGroup | LogicalVolume)[]) => void): void {
  const inner = (payload: Payload | LogicalVolume['payload'] | undefined, index: number, path: (Luks | VolumeGroup | LogicalVolume)[]) => {
    if (!payload) return;
    visit(payload, index, path);
    if (payload.kind === 'luks') inner(payload.payload, index, [...path, payload]);
    if (payload.kind === 'lvm') for (const lv of payload.logicalVolumes) inner(lv.payload, index, [...path, payload, lv]);
  };
  pt.partitions.forEach((p, i) => inner(p.payload, i, []));
}

function creationStages(filename: string, pt: PartitionTable): Stage[] {
  const stages: Stage[] = [];
  // containers first (LUKS, then the volume groups on them), then file systems
  walk(pt, (payload, index, path) => {
    if (payload.kind === 'luks') {
      stages.push(
        stage(
          'org.osbuild.luks2.format',
          {
            passphrase: payload.passphrase,
            uuid: payload.uuid,
            ...(payload.cipher ? { cipher: payload.cipher } : {}),
            ...(payload.label ? { label: payload.label } : {}),
            ...(payload.subsystem ? { subsystem: payload.subsystem } : {}),
            'sector-size': 0,
            pbkdf: { method: 'argon2id', iterations: payload.pbkdf?.iterations ?? 4, ...(payload.pbkdf?.memory ? { memory: payload.pbkdf.memory } : {}), ...(payload.pbkdf?.parallelism ? { parallelism: payload.pbkdf.parallelism } : {}) },
          },
          { devices: asDevice(chain(filename, pt, index, path, true)) },
        ),
      );
      if (payload.clevis) {
        stages.push(stage('org.osbuild.clevis.luks-bind', { passphrase: payload.passphrase, pin: payload.clevis.pin, policy: payload.clevis.policy }, { devices: asDevice(chain(filename, pt, index, path, true)) }));
      }
    }
    if (payload.kind === 'lvm') {
      stages.push(
        stage('org.osbuild.lvm2.create', { volumes: payload.logicalVolumes.map((lv) => ({ name: lv.name, size: `${lv.size}B` })) }, { devices: asDevice(chain(filename, pt, index, path, true)) }),
      );
    }
  });
  walk(pt, (payload, index, path) => {
    const devices = () => asDevice(chain(filename, pt, index, path, true));
    switch (payload.kind) {
      case 'filesystem': {
        const options: Record<string, unknown> =
          payload.type === 'vfat'
            ? { volid: payload.uuid!.replace('-', ''), ...(payload.label ? { label: payload.label } : {}), ...(payload.geometry ? { geometry: { heads: payload.geometry.heads, 'sectors-per-track': payload.geometry.sectorsPerTrack } } : {}) }
            : { uuid: payload.uuid, ...(payload.label ? { label: payload.label } : {}), ...(payload.verity ? { verity: true } : {}) };
        stages.push(stage(MKFS[payload.type], options, { devices: devices() }));
        break;
      }
      case 'btrfs':
        stages.push(stage('org.osbuild.mkfs.btrfs', { uuid: payload.uuid, ...(payload.label ? { label: payload.label } : {}) }, { devices: devices() }));
        stages.push(
          stage(
            'org.osbuild.btrfs.subvol',
            { subvolumes: payload.subvolumes.map((s) => ({ name: `/${s.name}` })) },
            { devices: devices(), mounts: [{ name: 'volume', type: 'org.osbuild.btrfs', source: 'device', target: '/', options: {} }] },
          ),
        );
        break;
      case 'swap':
        stages.push(stage('org.osbuild.mkswap', { uuid: payload.uuid, ...(payload.label ? { label: payload.label } : {}) }, { devices: devices() }));
        break;
      default:
        break;
    }
  });
  return stages;
}

/** After the tree is in: LVM metadata, LUKS passphrases a clevis binding replaces. */
export function finishStages(filename: string, pt: PartitionTable): Stage[] {
  const stages: Stage[] = [];
  walk(pt, (payload, index, path) => {
    if (payload.kind === 'lvm') stages.push(stage('org.osbuild.lvm2.metadata', { vg_name: payload.name }, { devices: asDevice(chain(filename, pt, index, path, true)) }));
  });
  walk(pt, (payload, index, path) => {
    if (payload.kind === 'luks' && payload.clevis?.removePassphrase) {
      stages.push(stage('org.osbuild.luks2.remove-key', { passphrase: payload.passphrase }, { devices: asDevice(chain(filename, pt, index, path, true)) }));
    }
  });
  return stages;
}

/** Devices and mounts that make the whole tree visible (unlocked loopbacks), mounts parents first. */
export function treeMounts(filename: string, pt: PartitionTable): { devices: Record<string, unknown>; mounts: Record<string, unknown>[] } {
  const devices: Record<string, unknown> = {};
  const mounts: Record<string, unknown>[] = [];
  const list: Mountable[] = mountables(pt).sort((a, b) => (a.mountpoint < b.mountpoint ? -1 : a.mountpoint > b.mountpoint ? 1 : 0));
  if (!list.some((m) => m.mountpoint === '/')) throw new KilnError('KILN_MANIFEST', 'the partition table has no / file system', {});
  for (const m of list) {
    const c = chain(filename, pt, m.partition, m.path, false);
    Object.assign(devices, c.devices);
    if (m.volume) {
      const sub = m.entity as { name: string; compress?: string };
      mounts.push({ name: escapePath(m.mountpoint), type: MOUNT.btrfs, source: c.leaf, target: m.mountpoint, options: { subvol: sub.name, ...(sub.compress ? { compress: sub.compress } : {}) } });
    } else {
      mounts.push({ name: escapePath(m.mountpoint), type: MOUNT[(m.entity as { type: string }).type], source: c.leaf, target: m.mountpoint });
    }
  }
  return { devices: Object.fromEntries(Object.entries(devices).sort(([a], [b]) => (a < b ? -1 : 1))), mounts };
}

/** The partition BIOS grub2 boots from: the one holding /boot, else the one holding /. */
function grubPrefix(pt: PartitionTable): { number: number; path: string; filesystem: string } {
  const list = mountables(pt);
  const boot = list.find((m) => m.mountpoint === '/boot') ?? list.find((m) => m.mountpoint === '/')!;
  const index = pt.partitions.findIndex((p) => p === pt.partitions[boot.partition]);
  const ownPartition = boot.mountpoint === '/boot' && boot.path.length === 0 && !boot.volume;
  const filesystem = boot.volume ? 'btrfs' : (boot.entity as { type: string }).type;
  return { number: index, path: ownPartition ? '/grub2' : '/boot/grub2', filesystem };
}

/** The empty image file, its partition table, then its LUKS containers, volume groups and file systems. */
export function prepareStages(filename: string, pt: PartitionTable, tool: 'sfdisk' | 'sgdisk'): Stage[] {
  const partitions = pt.partitions.map((p) => ({
    ...(p.bootable ? { bootable: true } : {}),
    ...(p.label ? { name: p.label } : {}),
    size: p.size / pt.sectorSize,
    start: p.start / pt.sectorSize,
    ...(p.type !== undefined ? { type: p.type } : {}),
    ...(pt.type === 'gpt' && p.uuid ? { uuid: p.uuid } : {}),
    ...(p.attrs?.length ? { attrs: p.attrs } : {}),
  }));
  return [
    stage('org.osbuild.truncate', { filename, size: String(pt.size) }),
    stage(
      tool === 'sgdisk' ? 'org.osbuild.sgdisk' : 'org.osbuild.sfdisk',
      tool === 'sgdisk' ? { uuid: pt.uuid!.toLowerCase(), partitions } : { label: pt.type, uuid: pt.uuid, partitions },
      { devices: { device: loopback(filename, pt, undefined, true) } },
    ),
    ...creationStages(filename, pt),
  ];
}

export function imagePipeline(input: Pick<KindInput, 'image' | 'pt' | 'packages' | 'kernelName' | 'rng' | 'tree' | 'bootFilesCommit'>, filename: string): Pipeline {
  const { image, pt, packages } = input;
  if (!pt) throw new KilnError('KILN_MANIFEST', `image type ${image.name} has no partition table for ${image.arch}`, {});
  const platform = image.platform;
  const stages = prepareStages(filename, pt, image.imageConfig.partitioning_tool ?? 'sfdisk');
  const tree = treeMounts(filename, pt);
  const source = input.tree ?? 'os';
  stages.push(stage('org.osbuild.copy', { paths: [{ from: 'input://root-tree/', to: 'mount://-/' }] }, { inputs: { 'root-tree': treeInput(source) }, devices: tree.devices, mounts: tree.mounts }));
  const fromTree = platform.bootFiles.filter((f) => !f.fromBuild);
  const fromBuild = platform.bootFiles.filter((f) => f.fromBuild);
  if (fromTree.length && input.bootFilesCommit) {
    // a deployment's boot files are in its commit's /usr (an ostree checkout of it)
    const sum = input.bootFilesCommit.checksum;
    stages.push(
      stage('org.osbuild.copy', { paths: fromTree.map((f) => ({ from: `input://ostree-tree/${sum}${f.src}`, to: `mount://-${f.dst}` })) }, { inputs: { 'ostree-tree': checkoutInput(sum) }, devices: tree.devices, mounts: tree.mounts }),
    );
  } else if (fromTree.length) {
    stages.push(stage('org.osbuild.copy', { paths: fromTree.map((f) => ({ from: `input://root-tree${f.src}`, to: `mount://-${f.dst}` })) }, { inputs: { 'root-tree': treeInput(source) }, devices: tree.devices, mounts: tree.mounts }));
  }
  if (fromBuild.length) {
    stages.push(stage('org.osbuild.copy', { paths: fromBuild.map((f) => ({ from: `input://build-tree${f.src}`, to: `mount://-${f.dst}` })) }, { inputs: { 'build-tree': treeInput('build') }, devices: tree.devices, mounts: tree.mounts }));
  }
  stages.push(...finishStages(filename, pt));
  if (image.arch === 's390x') {
    const bootOrRoot = mountables(pt).find((m) => m.mountpoint === '/boot' && m.path.length === 0) ?? mountables(pt).find((m) => m.mountpoint === '/')!;
    const kernel = packageEvra(packages?.os, input.kernelName ?? 'kernel') ?? 'unknown';
    stages.push(
      stage(
        'org.osbuild.zipl.inst',
        { kernel, location: pt.partitions[bootOrRoot.partition].start / pt.sectorSize, ...(pt.sectorSize !== 512 ? { blocksize: pt.sectorSize } : {}) },
        { devices: { ...tree.devices, disk: loopback(filename, pt, undefined, false) }, mounts: tree.mounts },
      ),
    );
  } else if (platform.biosPlatform) {
    const bios = pt.partitions.find((p) => isBiosBootOrPrep(p, pt.type));
    if (!bios) throw new KilnError('KILN_MANIFEST', `image type ${image.name} boots with BIOS on ${image.arch} but its partition table has no BIOS boot or PReP partition`, {});
    const prefix = grubPrefix(pt);
    stages.push(
      stage('org.osbuild.grub2.inst', {
        filename,
        platform: platform.biosPlatform,
        location: bios.start / pt.sectorSize,
        core: { type: 'mkimage', partlabel: pt.type, filesystem: prefix.filesystem },
        prefix: { type: 'partition', partlabel: pt.type, number: prefix.number, path: prefix.path },
        ...(pt.sectorSize !== 512 ? { 'sector-size': pt.sectorSize } : {}),
      }),
    );
  }
  return { name: 'image', build: 'name:build', stages };
}

function qemu(name: string, from: { pipeline: string; file: string }, filename: string, format: Record<string, unknown>): Pipeline {
  return { name, build: 'name:build', stages: [stage('org.osbuild.qemu', { filename, format }, { inputs: { image: fileInput(from.pipeline, from.file) } })] };
}

function tarOf(name: string, pipeline: string, options: Record<string, unknown>): Pipeline {
  return { name, build: 'name:build', stages: [stage('org.osbuild.tar', options, { inputs: { tree: treeInput(pipeline) } })] };
}

/**
 * The pipelines after `os` for a disk image: image, then the format's, then compression. The
 * last writes `image.filename`; the others keep upstream's intermediate names.
 */
export function diskPipelines(input: KindInput): Pipeline[] {
  const { image } = input;
  const format = image.platform.imageFormat ?? 'raw';
  const final = image.filename;
  const compress = image.compression;
  const last = (name: string) => (compress ? name : final);
  const out: Pipeline[] = [];
  let produced: { pipeline: string; file: string };
  switch (format) {
    case 'raw': {
      const file = compress ? 'disk.img' : final;
      out.push(imagePipeline(input, file));
      produced = { pipeline: 'image', file };
      break;
    }
    case 'qcow2': {
      out.push(imagePipeline(input, 'disk.img'));
      const file = last('image.qcow2');
      out.push(qemu('qcow2', { pipeline: 'image', file: 'disk.img' }, file, { type: 'qcow2', compat: image.platform.qcow2Compat ?? '' }));
      produced = { pipeline: 'qcow2', file };
      break;
    }
    case 'vhd': {
      out.push(imagePipeline(input, 'disk.img'));
      const file = last('image.vhd');
      out.push(qemu('vpc', { pipeline: 'image', file: 'disk.img' }, file, { type: 'vpc', ...(image.vpcForceSize !== undefined ? { force_size: image.vpcForceSize } : {}) }));
      produced = { pipeline: 'vpc', file };
      break;
    }
    case 'vmdk': {
      out.push(imagePipeline(input, 'disk.img'));
      const file = last('image.vmdk');
      out.push(qemu('vmdk', { pipeline: 'image', file: 'disk.img' }, file, { type: 'vmdk', subformat: 'streamOptimized' }));
      produced = { pipeline: 'vmdk', file };
      break;
    }
    case 'ova': {
      out.push(imagePipeline(input, 'disk.img'));
      out.push(qemu('vmdk', { pipeline: 'image', file: 'disk.img' }, 'image.vmdk', { type: 'vmdk', subformat: 'streamOptimized' }));
      out.push({
        name: 'ovf',
        build: 'name:build',
        stages: [
          stage('org.osbuild.copy', { paths: [{ from: 'input://vmdk-tree/image.vmdk', to: 'tree:///' }] }, { inputs: { 'vmdk-tree': fileInput('vmdk', 'image.vmdk') } }),
          stage('org.osbuild.ovf', { vmdk: 'image.vmdk' }),
        ],
      });
      out.push(tarOf('archive', 'ovf', { filename: last(final), format: 'ustar', paths: ['image.ovf', 'image.mf', 'image.vmdk'] }));
      produced = { pipeline: 'archive', file: last(final) };
      break;
    }
    case 'gce': {
      out.push(imagePipeline(input, 'disk.raw'));
      out.push(tarOf('archive', 'image', { filename: last(final), format: 'oldgnu', 'root-node': 'omit', acls: false, selinux: false, xattrs: false }));
      produced = { pipeline: 'archive', file: last(final) };
      break;
    }
    case 'vagrant_libvirt':
    case 'vagrant_virtualbox': {
      out.push(imagePipeline(input, 'disk.img'));
      const virtualbox = format === 'vagrant_virtualbox';
      // the MAC is drawn for both providers, so the same seed gives the same disk ids either way
      const mac = `080027${input.rng.bytes(3).toString('hex')}`;
      if (virtualbox) {
        out.push(qemu('vmdk', { pipeline: 'image', file: 'disk.img' }, 'box.vmdk', { type: 'vmdk', subformat: 'streamOptimized' }));
        out.push({
          name: 'vagrant',
          build: 'name:build',
          stages: [
            stage('org.osbuild.copy', { paths: [{ from: 'input://vmdk-tree/box.vmdk', to: 'tree:///' }] }, { inputs: { 'vmdk-tree': fileInput('vmdk', 'box.vmdk') } }),
            stage('org.osbuild.ovf', { vmdk: 'box.vmdk', virtualbox: { mac_address: mac } }),
            stage('org.osbuild.vagrant', { provider: 'virtualbox', virtualbox: { mac_address: mac }, synced_folders: { '/vagrant': { type: 'rsync' } } }, { inputs: { image: fileInput('vmdk', 'box.vmdk') } }),
          ],
        });
      } else {
        out.push(qemu('qcow2', { pipeline: 'image', file: 'disk.img' }, 'image.qcow2', { type: 'qcow2', compat: image.platform.qcow2Compat ?? '' }));
        out.push({ name: 'vagrant', build: 'name:build', stages: [stage('org.osbuild.vagrant', { provider: 'libvirt' }, { inputs: { image: fileInput('qcow2', 'image.qcow2') } })] });
      }
      out.push(tarOf('archive', 'vagrant', { filename: last(final), format: 'ustar' }));
      produced = { pipeline: 'archive', file: last(final) };
      break;
    }
    default:
      throw new KilnError('KILN_MANIFEST', `image format ${format} is not a disk format`, {});
  }
  if (compress) out.push(compressionPipeline(compress, produced, final));
  return out;
}
