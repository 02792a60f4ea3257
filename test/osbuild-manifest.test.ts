import test from 'ava';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { KilnError, InvalidInputError } from '../src/errors.js';
import {
  generateManifest,
  isBootcKind,
  kojiFilename,
  packageRequests,
  pipelineNames,
  resolveImage,
  serializeManifest,
  splitExtension,
  supportedImages,
  type Manifest,
  type ManifestStage,
  type ResolvedImage,
} from '../src/osbuild/index.js';
import { STAGE_TOOLS } from '../src/osbuild/stages/stage.js';
import type { Blueprint } from '../src/blueprint/index.js';
import { osbuildSchemaDir, validateManifest } from './osbuild-standin/validate.js';
import { loadManifest } from './osbuild-standin/load.js';
import { syntheticDepsolve, syntheticImageInputs, syntheticPackage } from './osbuild-standin/synthetic.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

function build(distro: string, arch: string, type: string, extra: { blueprint?: Blueprint; seed?: string; size?: number } = {}): Manifest {
  const image = resolveImage(distro, arch, type);
  // ostree and bootc images: what their depsolve job would have resolved, synthetic here
  const { ostreeCommits, ...o } = syntheticImageInputs(image);
  const input = { image, seed: extra.seed ?? '7', ...o, ...(extra.blueprint ? { blueprint: extra.blueprint } : {}), ...(extra.size ? { size: extra.size } : {}) };
  return generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), arch), ...(ostreeCommits ? { ostreeCommits } : {}) });
}

const pipeline = (m: Manifest, name: string) => m.pipelines.find((p) => p.name === name)!;
const stages = (m: Manifest, p: string, type: string): ManifestStage[] => pipeline(m, p).stages.filter((s) => s.type === type);
const stage = (m: Manifest, p: string, type: string): ManifestStage | undefined => stages(m, p, type)[0];
const opts = (m: Manifest, p: string, type: string) => stage(m, p, type)?.options as Record<string, any>;

test('every offered (distro, arch, type): a manifest osbuild accepts, exporting the type\'s file from the named pipeline', (t) => {
  let count = 0;
  for (const s of supportedImages()) {
    const image = resolveImage(s.distro, s.arch, s.imageType);
    const m = build(s.distro, s.arch, s.imageType);
    const res = validateManifest(m);
    if (res.skipped && count === 0) t.log('osbuild schemas absent (shared/reference/osbuild-schemas): not validated against them');
    if (!res.success) t.fail(`${s.distro} ${s.arch} ${s.imageType}: ${JSON.stringify(res.errors.slice(0, 3))}`);
    t.notThrows(() => loadManifest(m as never), `${s.distro} ${s.arch} ${s.imageType} loads`);
    const exported = m.pipelines.find((p) => p.name === image.exportPipeline);
    if (!exported) t.fail(`${s.distro} ${s.arch} ${s.imageType}: no pipeline ${image.exportPipeline}`);
    else t.true(exported.stages.some((st) => (st.options as { filename?: string } | undefined)?.filename === image.filename), `${s.distro} ${s.arch} ${s.imageType}: ${image.exportPipeline} writes ${image.filename}`);
    count++;
  }
  t.log(`${count} manifests`);
});

test('the build root is derived from the stages: each stage type names its tools, and they are in the build package set', (t) => {
  for (const s of supportedImages()) {
    const image = resolveImage(s.distro, s.arch, s.imageType);
    // a bootc image's build root is a container, not packages (test/bootc.test.ts)
    if (isBootcKind(image.kind)) continue;
    const { ostreeCommits, ...o } = syntheticImageInputs(image);
    const input = { image, seed: '1', ...o };
    const requests = packageRequests(input);
    const m = generateManifest({ ...input, packages: syntheticDepsolve(requests, s.arch), ...(ostreeCommits ? { ostreeCommits } : {}) });
    const build = new Set(requests.build.flatMap((tr) => tr.include));
    for (const p of m.pipelines.slice(1)) {
      for (const st of p.stages) {
        const tools = STAGE_TOOLS[st.type];
        if (tools === undefined) {
          t.fail(`${st.type} has no build-root entry`);
          continue;
        }
        for (const tool of typeof tools === 'function' ? tools(image.distro) : tools) t.true(build.has(tool), `${s.distro} ${s.arch} ${s.imageType}: ${st.type} needs ${tool}`);
      }
    }
  }
  // the defect the issue names: cloud-init's stage imports yaml
  const fedora = packageRequests({ image: resolveImage('fedora-41', 'x86_64', 'generic-wsl'), seed: '1' });
  t.true(fedora.build[0].include.includes('python3-pyyaml'));
  t.false(packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'generic-wsl'), seed: '1' }).build[0].include.includes('python3-pyyaml'));
  t.true(packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'qcow2'), seed: '1' }).build[0].include.includes('qemu-img'));
  t.false(packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'ami'), seed: '1' }).build[0].include.includes('qemu-img'));
});

test('the build root has the commands the output stages run: ovf and vagrant read the disk with qemu-img, oci-archive gzips the layer', (t) => {
  // osbuild 191: org.osbuild.ovf and org.osbuild.vagrant (libvirt) call `qemu-img info`;
  // org.osbuild.oci-archive runs `tar`, then `gzip -S .compressed layer.tar`
  for (const type of ['org.osbuild.ovf', 'org.osbuild.vagrant']) t.deepEqual(STAGE_TOOLS[type], ['qemu-img'], type);
  t.deepEqual(STAGE_TOOLS['org.osbuild.oci-archive'], ['gzip', 'tar']);
  // a container's build root has no other stage that would bring gzip
  for (const [distro, type] of [['fedora-43', 'container'], ['centos-9', 'container'], ['centos-10', 'container-minimal']]) {
    const build = packageRequests({ image: resolveImage(distro, 'x86_64', type), seed: '1' }).build[0].include;
    t.true(build.includes('gzip') && build.includes('tar'), `${distro} ${type}: ${build.join(' ')}`);
  }
});

test('Fedora generic-qcow2 x86_64: stage for stage as osbuild/images makes it', (t) => {
  const m = build('fedora-43', 'x86_64', 'qcow2');
  t.deepEqual(m.pipelines.map((p) => p.name), ['build', 'os', 'image', 'qcow2']);
  t.is(pipeline(m, 'build').runner, 'org.osbuild.fedora43');
  t.deepEqual(pipeline(m, 'build').stages.map((s) => s.type), ['org.osbuild.rpm', 'org.osbuild.selinux']);
  t.deepEqual(pipeline(m, 'os').stages.map((s) => s.type), [
    'org.osbuild.kernel-cmdline',
    'org.osbuild.rpm',
    'org.osbuild.rpm',
    'org.osbuild.fix-bls',
    'org.osbuild.locale',
    'org.osbuild.hostname',
    'org.osbuild.timezone',
    'org.osbuild.sysconfig',
    'org.osbuild.fstab',
    'org.osbuild.grub2',
    'org.osbuild.systemd',
    'org.osbuild.machine-id',
    'org.osbuild.selinux',
  ]);
  t.is(opts(m, 'os', 'org.osbuild.kernel-cmdline').kernel_opts, 'console=tty1 console=ttyS0,115200n8 earlyprintk=ttyS0 systemd.firstboot=off');
  t.deepEqual(opts(m, 'os', 'org.osbuild.sysconfig'), { kernel: { update_default: true, default_kernel: 'kernel-core' } });
  const grub = opts(m, 'os', 'org.osbuild.grub2');
  t.like(grub, { compat_version: 2, legacy: 'i386-pc', uefi: { vendor: 'fedora', unified: true }, write_cmdline: false, config: { default: 'saved' } });
  t.regex(grub.saved_entry, /^f{32}-1\.0-1\.fc43\.x86_64$/, 'the installed kernel, as grub2-set-default writes it');
  t.deepEqual(pipeline(m, 'image').stages.map((s) => s.type), [
    'org.osbuild.truncate',
    'org.osbuild.sfdisk',
    'org.osbuild.mkfs.fat',
    'org.osbuild.mkfs.ext4',
    'org.osbuild.mkfs.ext4',
    'org.osbuild.copy',
    'org.osbuild.grub2.inst',
  ]);
  // upstream's layout: /boot 2 GiB, root at least 1 + 2 GiB for / and /usr, so the 5 GiB default grows to 5323 MiB
  t.is(opts(m, 'image', 'org.osbuild.truncate').size, String(5323 * MiB));
  const parts = opts(m, 'image', 'org.osbuild.sfdisk').partitions as { start: number; size: number; type: string }[];
  t.deepEqual(parts.map((p) => [p.start * 512, p.size * 512]), [
    [1 * MiB, 1 * MiB],
    [2 * MiB, 200 * MiB],
    [202 * MiB, 2048 * MiB],
    [2250 * MiB, 3073 * MiB - 16896],
  ]);
  t.is(opts(m, 'image', 'org.osbuild.sfdisk').uuid, 'D209C89E-EA5E-4FBD-B161-B461CCE297E0', 'a UUID the definition fixes is kept');
  const copy = stage(m, 'image', 'org.osbuild.copy')!;
  t.deepEqual(Object.keys(copy.devices!), ['-', 'boot', 'boot-efi']);
  t.deepEqual(copy.mounts!.map((x) => [x.name, x.target]), [['-', '/'], ['boot', '/boot'], ['boot-efi', '/boot/efi']]);
  t.like(opts(m, 'image', 'org.osbuild.grub2.inst'), { location: 2048, prefix: { number: 2, path: '/grub2' }, core: { filesystem: 'ext4' } });
  t.deepEqual(opts(m, 'qcow2', 'org.osbuild.qemu').format, { type: 'qcow2', compat: '1.1' });
});

test("osbuild's own boot-tested manifest: the stages both have come in the same order", (t) => {
  const file = path.resolve('../shared/reference/upstream/osbuild-test-manifests/fedora-boot.json');
  if (!existsSync(file)) {
    t.log(`skipped: ${file} is not here`);
    t.pass();
    return;
  }
  const reference = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  const ours = build('fedora-43', 'x86_64', 'qcow2');
  for (const name of ['build', 'os', 'image']) {
    const theirs = pipeline(reference, name).stages.map((s) => s.type).filter((s, i, all) => all.indexOf(s) === i);
    const mine = pipeline(ours, name).stages.map((s) => s.type).filter((s, i, all) => all.indexOf(s) === i);
    const common = theirs.filter((s) => mine.includes(s));
    t.deepEqual(mine.filter((s) => common.includes(s)), common, `${name}: order of the stages both manifests have`);
    t.true(common.length >= Math.min(theirs.length, mine.length) - 3, `${name}: most stages in common (${common.join(', ')})`);
  }
});

test('seed: the same seed gives a byte-identical manifest; another seed other UUIDs; fixed UUIDs stay', (t) => {
  const a = serializeManifest(build('fedora-42', 'aarch64', 'minimal-raw', { seed: '123' }));
  t.is(a, serializeManifest(build('fedora-42', 'aarch64', 'minimal-raw', { seed: '123' })));
  const b = build('fedora-42', 'aarch64', 'minimal-raw', { seed: '124' });
  t.not(a, serializeManifest(b));
  const uuids = (m: Manifest) => (opts(m, 'os', 'org.osbuild.fstab').filesystems as { uuid: string }[]).map((f) => f.uuid);
  const ua = uuids(JSON.parse(a));
  const ub = uuids(b);
  t.is(ua.length, 3);
  for (let i = 0; i < ua.length; i++) t.not(ua[i], ub[i]);
  t.regex(opts(b, 'image', 'org.osbuild.sfdisk').uuid, /^0x[0-9a-f]{8}$/, 'a DOS disk id, not a GUID, on a DOS table');
  t.is(opts(build('fedora-43', 'x86_64', 'qcow2', { seed: '1' }), 'image', 'org.osbuild.sfdisk').uuid, opts(build('fedora-43', 'x86_64', 'qcow2', { seed: '2' }), 'image', 'org.osbuild.sfdisk').uuid);
  // the same input in another order of depsolve results gives the same manifest
  const image = resolveImage('fedora-42', 'x86_64', 'container');
  const input = { image, seed: '9' };
  const packages = syntheticDepsolve(packageRequests(input), 'x86_64');
  const shuffled = { build: packages.build.map((tr) => [...tr].reverse()), os: packages.os.map((tr) => [...tr].reverse()) };
  t.is(serializeManifest(generateManifest({ ...input, packages })), serializeManifest(generateManifest({ ...input, packages: shuffled })));
});

test('sizes: a larger request grows the disk and /; a smaller one still fits the partitions', (t) => {
  const big = build('fedora-43', 'x86_64', 'qcow2', { size: 20 * GiB });
  t.is(opts(big, 'image', 'org.osbuild.truncate').size, String(20 * GiB));
  const root = (opts(big, 'image', 'org.osbuild.sfdisk').partitions as { start: number; size: number }[]).at(-1)!;
  t.is((root.start + root.size) * 512, 20 * GiB - 16896, 'root fills the disk up to the backup GPT');
  const small = build('fedora-43', 'x86_64', 'qcow2', { size: 1 * GiB });
  t.is(opts(small, 'image', 'org.osbuild.truncate').size, String(5323 * MiB));
  // minimal-raw: root at least 3 GiB; aarch64 is DOS with U-Boot's 16 MiB first
  const arm = build('fedora-43', 'aarch64', 'minimal-raw');
  const parts = opts(arm, 'image', 'org.osbuild.sfdisk').partitions as { start: number; size: number; type: string; bootable?: boolean }[];
  t.is(parts[0].start * 512, 17 * MiB);
  t.deepEqual(parts.map((p) => p.type), ['06', '83', '83']);
  t.true(parts[0].bootable);
  t.is(parts[2].size * 512, 3072 * MiB);
  t.is(opts(arm, 'image', 'org.osbuild.truncate').size, String(5337 * MiB));
});

test('Fedora minimal-raw: Raspberry Pi boot files, mount units from 43, initial-setup kickstart, grub timeout', (t) => {
  const m = build('fedora-43', 'aarch64', 'minimal-raw');
  const copies = stages(m, 'image', 'org.osbuild.copy');
  t.is(copies.length, 2);
  t.deepEqual((copies[1].options as any).paths, [{ from: 'input://root-tree/usr/share/uboot/rpi_arm64/u-boot.bin', to: 'mount://-/boot/efi/rpi-u-boot.bin' }]);
  const units = stages(m, 'os', 'org.osbuild.systemd.unit.create').map((s) => (s.options as any).filename);
  t.deepEqual(units, ['-.mount', 'boot-efi.mount', 'boot.mount']);
  t.is(stage(m, 'os', 'org.osbuild.fstab'), undefined);
  t.like(opts(m, 'os', 'org.osbuild.grub2'), { config: { timeout: 5, default: 'saved' }, kernel_opts: 'rw' });
  t.true(stages(m, 'os', 'org.osbuild.systemd').some((s) => ((s.options as any).enabled_services ?? []).includes('initial-setup.service')));
  const requests = packageRequests({ image: resolveImage('fedora-43', 'aarch64', 'minimal-raw'), seed: '1' });
  for (const p of ['linux-firmware', 'bcm283x-firmware', 'uboot-images-armv8', 'initial-setup']) t.true(requests.os[0].include.includes(p), p);
  t.false(requests.os[0].install_weak_deps);
  const f42 = build('fedora-42', 'x86_64', 'minimal-raw');
  t.truthy(stage(f42, 'os', 'org.osbuild.fstab'));
  t.is(opts(f42, 'os', 'org.osbuild.grub2').kernel_opts, 'ro');
  t.true(packageRequests({ image: resolveImage('fedora-42', 'x86_64', 'minimal-raw'), seed: '1' }).os[0].install_weak_deps);
  const ks = opts(m, 'os', 'org.osbuild.copy');
  t.deepEqual(ks.paths.map((p: { to: string }) => p.to), ['tree:///root/anaconda-ks.cfg']);
  t.is(pipeline(m, 'xz').stages[0].type, 'org.osbuild.xz');
});

test('LVM (Fedora Server) and btrfs (Fedora Cloud): volumes made, devices chained, mounted where they belong', (t) => {
  const server = build('fedora-43', 'x86_64', 'server-qcow2');
  t.deepEqual(opts(server, 'image', 'org.osbuild.lvm2.create').volumes, [{ name: 'LVroot', size: `${3 * GiB}B` }]);
  const xfs = stages(server, 'image', 'org.osbuild.mkfs.xfs').map((s) => s.devices as Record<string, any>);
  const onLv = xfs.find((d) => d.device.type === 'org.osbuild.lvm2.lv')!;
  t.like(onLv, { device: { options: { volume: 'LVroot' }, parent: 'systemVG' }, systemVG: { type: 'org.osbuild.loopback' } });
  t.like(opts(server, 'image', 'org.osbuild.lvm2.metadata'), { vg_name: 'systemVG' });
  const copy = stage(server, 'image', 'org.osbuild.copy')!;
  t.is((copy.mounts!.find((x) => x.target === '/') as any).source, '-');
  t.like(opts(server, 'image', 'org.osbuild.grub2.inst'), { prefix: { path: '/grub2' }, core: { filesystem: 'xfs' } });
  t.deepEqual(opts(server, 'os', 'org.osbuild.users'), { users: { root: { password: '!locked' } } });

  const cloud = build('fedora-44', 'x86_64', 'cloud-qcow2');
  t.deepEqual(opts(cloud, 'image', 'org.osbuild.btrfs.subvol').subvolumes, [{ name: '/root' }, { name: '/boot' }, { name: '/home' }, { name: '/var' }]);
  const fstab = opts(cloud, 'os', 'org.osbuild.fstab').filesystems as { path: string; options: string; vfs_type: string }[];
  t.deepEqual(fstab.find((f) => f.path === '/home'), { ...fstab.find((f) => f.path === '/home')!, vfs_type: 'btrfs', options: 'subvol=home' });
  t.like(opts(cloud, 'image', 'org.osbuild.grub2.inst'), { prefix: { path: '/boot/grub2' }, core: { filesystem: 'btrfs' } });
  const f43 = build('fedora-43', 'x86_64', 'cloud-qcow2');
  t.truthy((opts(f43, 'os', 'org.osbuild.fstab').filesystems as { path: string; vfs_type: string }[]).find((f) => f.path === '/boot' && f.vfs_type === 'ext4'), 'before 44 /boot is ext4');
});

test('output formats: vhd, vmdk, ova, gce, vagrant, zstd, containers, WSL', (t) => {
  t.deepEqual(opts(build('fedora-43', 'x86_64', 'vhd'), 'vpc', 'org.osbuild.qemu').format, { type: 'vpc' });
  t.deepEqual(opts(build('fedora-43', 'x86_64', 'vmdk'), 'vmdk', 'org.osbuild.qemu').format, { type: 'vmdk', subformat: 'streamOptimized' });
  const ova = build('fedora-43', 'x86_64', 'ova');
  t.deepEqual(ova.pipelines.map((p) => p.name), ['build', 'os', 'image', 'vmdk', 'ovf', 'archive']);
  t.deepEqual(opts(ova, 'archive', 'org.osbuild.tar'), { filename: 'image.ova', format: 'ustar', paths: ['image.ovf', 'image.mf', 'image.vmdk'] });
  const gce = build('fedora-43', 'x86_64', 'cloud-gce');
  t.is(opts(gce, 'image', 'org.osbuild.truncate').filename, 'disk.raw');
  t.like(opts(gce, 'archive', 'org.osbuild.tar'), { filename: 'image.tar.gz', format: 'oldgnu', 'root-node': 'omit' });
  const vb = build('fedora-43', 'x86_64', 'generic-vagrant-virtualbox', { seed: '5' });
  t.regex(opts(vb, 'vagrant', 'org.osbuild.vagrant').virtualbox.mac_address, /^080027[0-9a-f]{6}$/);
  t.deepEqual(opts(vb, 'os', 'org.osbuild.chmod').items, { '/etc/sudoers.d/vagrant': { mode: '0440' } });
  t.deepEqual(opts(build('fedora-43', 'x86_64', 'generic-vagrant-libvirt'), 'vagrant', 'org.osbuild.vagrant'), { provider: 'libvirt' });
  const zst = build('fedora-43', 'x86_64', 'minimal-raw-zst');
  t.deepEqual(zst.pipelines.map((p) => p.name), ['build', 'os', 'image', 'zstd']);
  t.is(opts(zst, 'image', 'org.osbuild.truncate').filename, 'disk.img');
  const container = build('fedora-43', 'aarch64', 'container');
  t.like(opts(container, 'container', 'org.osbuild.oci-archive'), { architecture: 'arm64', filename: 'container.tar', config: { Cmd: ['/bin/bash'], Labels: { name: 'fedora' } } });
  t.is(stage(container, 'os', 'org.osbuild.selinux'), undefined, 'containers have no SELinux labels');
  t.deepEqual(opts(container, 'os', 'org.osbuild.rpm').exclude, { docs: true });
  const wsl = build('fedora-41', 'x86_64', 'wsl');
  t.deepEqual(opts(wsl, 'os', 'org.osbuild.wsl.conf'), { boot: { systemd: true } });
  t.is(opts(wsl, 'os', 'org.osbuild.cloud-init').filename, '99_wsl.cfg');
  t.deepEqual(wsl.pipelines.map((p) => p.name), ['build', 'os', 'archive', 'xz']);
  t.is(opts(wsl, 'xz', 'org.osbuild.xz').filename, 'image.wsl');
});

test('customizations land in the right stages', (t) => {
  const blueprint: Blueprint = {
    packages: [{ name: 'tmux' }],
    customizations: {
      user: [
        { name: 'zed', key: 'ssh-ed25519 AAAAzed zed@example' },
        { name: 'alice', key: 'ssh-ed25519 AAAA alice@example', groups: ['wheel'], password: '$6$salt$hash' },
      ],
      hostname: 'builder.example.com',
      timezone: { timezone: 'Europe/Prague' },
      kernel: { append: 'console=ttyS1 quiet' },
      services: { enabled: ['cockpit.socket'], disabled: ['kdump.service'] },
    },
  };
  const m = build('fedora-43', 'x86_64', 'qcow2', { blueprint });
  t.true(validateManifest(m).success);
  t.deepEqual(Object.keys(opts(m, 'os', 'org.osbuild.users').users), ['alice', 'zed']);
  t.deepEqual(opts(m, 'os', 'org.osbuild.users').users.alice, { password: '$6$salt$hash', key: 'ssh-ed25519 AAAA alice@example', groups: ['wheel'] });
  t.deepEqual(opts(m, 'os', 'org.osbuild.hostname'), { hostname: 'builder.example.com' });
  t.deepEqual(opts(m, 'os', 'org.osbuild.timezone'), { zone: 'Europe/Prague' });
  t.regex(opts(m, 'os', 'org.osbuild.grub2').kernel_opts, /systemd\.firstboot=off console=ttyS1 quiet$/);
  t.regex(opts(m, 'os', 'org.osbuild.kernel-cmdline').kernel_opts, /console=ttyS1 quiet$/);
  const systemd = opts(m, 'os', 'org.osbuild.systemd');
  t.true(systemd.enabled_services.includes('cockpit.socket'));
  t.deepEqual(systemd.disabled_services, ['kdump.service']);
  // the request's packages are a transaction of their own, last: they cannot undo the type's excludes
  const rpms = stages(m, 'os', 'org.osbuild.rpm');
  t.is(rpms.length, 3);
  const tmux = syntheticPackage('tmux', 'x86_64');
  t.deepEqual((rpms[2].inputs!.packages as any).references, [{ id: tmux.checksum }]);
  t.deepEqual((m.sources['org.osbuild.curl'] as any).items[tmux.checksum], { url: tmux.remote_location });
  // users need shadow-utils in the image, on top of the type's packages
  t.true(packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'qcow2'), seed: '1', blueprint }).os[1].include.includes('shadow-utils'));
});

test('rpm stages: one per transaction, keys of the checked repositories of that transaction', (t) => {
  const image = resolveImage('fedora-43', 'x86_64', 'container');
  const input = { image, seed: '3' };
  const packages = syntheticDepsolve(packageRequests(input), 'x86_64');
  const key = '-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n';
  packages.os[0][0] = { ...packages.os[0][0], check_gpg: true, gpgkeys: [key, key] };
  const m = generateManifest({ ...input, packages });
  const [first, ...rest] = stages(m, 'os', 'org.osbuild.rpm');
  t.deepEqual(first.options, { gpgkeys: [key], exclude: { docs: true } });
  for (const r of rest) t.false('gpgkeys' in r.options!);
  t.deepEqual((first.inputs!.packages as any).references.find((r: any) => r.id === packages.os[0][0].checksum).options, { metadata: { 'rpm.check_gpg': true } });
  t.false('gpgkeys' in stage(m, 'build', 'org.osbuild.rpm')!.options!);
});

test('bad inputs: unsupported or invalid customization, incomplete depsolve result', (t) => {
  const image = resolveImage('fedora-43', 'x86_64', 'container');
  const input = { image, seed: '1' };
  const packages = syntheticDepsolve(packageRequests(input), 'x86_64');
  const k = t.throws(() => generateManifest({ ...input, packages, blueprint: { customizations: { kernel: { append: 'quiet' } } } }), { instanceOf: InvalidInputError })!;
  t.regex(k.message, /blueprint\.customizations\.kernel\.append: is not supported by image type generic-container/);
  const user = t.throws(() => generateManifest({ ...input, packages, blueprint: { customizations: { user: [{ name: 'a b' }] } } }), { instanceOf: InvalidInputError })! as InvalidInputError;
  t.is(user.field, 'blueprint.customizations.user[0].name');
  const missing = t.throws(() => generateManifest({ ...input, packages: { build: packages.build } }))! as KilnError;
  t.is(missing.code, 'KILN_MANIFEST');
  t.regex(missing.message, /pipeline "os"/);
  const bad = t.throws(() => generateManifest({ ...input, packages: { ...packages, os: [[{ ...packages.os[0][0], checksum: 'md5:abc' }]] } }))! as KilnError;
  t.is(bad.code, 'KILN_MANIFEST');
});

test('names: aliases resolve to the canonical type; file names and Koji extensions', (t) => {
  t.is(resolveImage('fedora-42', 'x86_64', 'qcow2').name, 'generic-qcow2');
  t.is(resolveImage('fedora-42', 'x86_64', 'guest-image').name, 'generic-qcow2');
  t.is(resolveImage('fedora-42', 'x86_64', 'aws').name, 'generic-ami');
  t.is(resolveImage('fedora-43', 'aarch64', 'minimal-raw').name, 'minimal-raw-xz');
  t.is(resolveImage('fedora-43', 'x86_64', 'vsphere-ova').name, 'generic-ova');
  t.throws(() => resolveImage('fedora-43', 'x86_64', 'server-ami'), { message: /unsupported image type "server-ami"/ });
  t.is(kojiFilename({ name: 'fedora-cloud', version: '43', release: '1.2' }, resolveImage('fedora-43', 'aarch64', 'minimal-raw')), 'fedora-cloud-43-1.2.aarch64.raw.xz');
  t.is(splitExtension('image.raw.xz'), '.raw.xz');
  t.is(splitExtension('noext'), '');
  t.deepEqual(pipelineNames(build('fedora-43', 'x86_64', 'qcow2')), { build: ['build'], payload: ['os', 'image', 'qcow2'] });
});

test('UKI images (RHEL confidential VMs): kernel-install into the ESP, shim CSV in UTF-16, hmac while uki-direct is old, no grub2', (t) => {
  const image = resolveImage('rhel-10.0', 'x86_64', 'ec2-cvm');
  const input = { image, seed: '1' };
  const packages = syntheticDepsolve(packageRequests(input), 'x86_64');
  const withUki = (version: string) => generateManifest({ ...input, packages: { ...packages, os: packages.os.map((tr) => tr.map((p) => (p.name === 'uki-direct' ? { ...p, version } : p))) } });
  const old = withUki('24.11');
  for (const r of stages(old, 'os', 'org.osbuild.rpm')) t.deepEqual((r.options as any).kernel_install_env, { boot_root: '/boot/efi' });
  t.is(stage(old, 'os', 'org.osbuild.grub2'), undefined);
  t.is(stage(old, 'os', 'org.osbuild.kernel-cmdline'), undefined);
  const copy = opts(old, 'os', 'org.osbuild.copy');
  t.is(copy.paths[0].to, 'tree:///boot/efi/EFI/redhat/BOOTX64.CSV');
  const id = copy.paths[0].from.split('/').at(-1);
  const csv = Buffer.from((old.sources['org.osbuild.inline'] as any).items[id].data, 'base64').toString('utf16le');
  t.regex(csv, /^shimx64\.efi,redhat,\\EFI\\Linux\\f{32}-1\.0-1\.fc43\.x86_64\.efi ,UKI bootentry\n$/);
  t.deepEqual(opts(old, 'os', 'org.osbuild.hmac'), { paths: ['/boot/efi/EFI/Linux/ffffffffffffffffffffffffffffffff-1.0-1.fc43.x86_64.efi'], algorithm: 'sha512' });
  t.is(stage(withUki('25.3'), 'os', 'org.osbuild.hmac'), undefined, 'uki-direct 25.3 writes the hmac itself');
  t.true(packageRequests(input).build[0].include.includes('libkcapi-hmaccalc'), 'planned before the version is known');
});
