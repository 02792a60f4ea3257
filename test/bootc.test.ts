/**
 * bootc disk images: the image request's `bootc` options checked when a compose is created,
 * the bootable container resolved and read from a real registry on loopback (Debian's
 * docker-registry, real skopeo; the registry marked insecure in a registries.conf, as an admin
 * would for an internal one), the manifest for every bootc type as osbuild/images makes it and
 * valid against osbuild's schemas, and the depsolve job → manifest → osbuild stand-in path
 * (real skopeo sources and containers-storage copies; no bootc or podman here: emulated).
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { Blueprint } from '../src/blueprint/index.js';
import { ContainerResolveError, resolveBootc, type BootcInfo } from '../src/containers/index.js';
import { mergeInstallConfig, parseIsoYaml, parseOsRelease } from '../src/containers/bootc-info.js';
import { createCompose } from '../src/compose/index.js';
import { InvalidInputError, KilnError } from '../src/errors.js';
import { builtinDefinitionsDir, generateManifest, imageCatalog, kojiFilename, packageRequests, resolveImage, runOsbuild, type Manifest, type ManifestStage } from '../src/osbuild/index.js';
import { depsolveJob, type DepsolveJobResult } from '../src/jobs/depsolve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { ARCHIVE_TYPES } from '../src/koji/archive-types.js';
import { BOOTC_LAYERS, bootcInfo, bootcInstallerInfo, BUILD_CONTAINER, INSTALLER_LAYERS, insecureRegistrySkopeo, OS_RELEASE } from './helpers/bootc.js';
import { startRegistry, type PushedImage, type TestRegistry } from './helpers/registry.js';
import { validateManifest } from './osbuild-standin/validate.js';
import { findReference } from './helpers/reference.js';
import { loadManifest } from './osbuild-standin/load.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const ZERO_SOLVER = fileURLToPath(new URL('../bench/fixtures/zero-depsolve.mjs', import.meta.url));
const TYPES = ['raw', 'ami', 'qcow2', 'vmdk', 'vhd', 'gce', 'ova'];

const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-bootc-test-'));
let registry: TestRegistry;
let fedora: PushedImage;
let builder: PushedImage;
let anaconda: PushedImage;

test.before(async () => {
  registry = await startRegistry();
  process.env.PATH = `${insecureRegistrySkopeo(scratch, registry.host)}:${process.env.PATH}`;
  fedora = await registry.pushLayers('kiln/fedora-bootc', '42', BOOTC_LAYERS);
  builder = await registry.pushLayers('kiln/builder', '1', [[{ name: 'usr/lib/os-release', content: 'ID=centos\nVERSION_ID=10\nNAME="CentOS Stream"\n' }, { name: 'etc/selinux/config', content: 'SELINUXTYPE=mls\n' }]]);
  await registry.pushLayers('kiln/no-os-release', '1', [[{ name: 'usr/lib/bootc/install/00.toml', content: '[install.filesystem.root]\ntype = "xfs"\n' }]]);
  await registry.pushLayers('kiln/no-fs', '1', [[{ name: 'usr/lib/os-release', content: OS_RELEASE }]]);
  await registry.pushLayers('kiln/f2fs', '1', [[{ name: 'usr/lib/os-release', content: OS_RELEASE }, { name: 'usr/lib/bootc/install/00.toml', content: '[install.filesystem.root]\ntype = "f2fs"\n' }]]);
  await registry.pushLayers('kiln/arm', '1', BOOTC_LAYERS, { arch: 'arm64' });
  await registry.pushLayers('kiln/own-disk', '1', [...BOOTC_LAYERS, [{ name: 'usr/lib/bootc-image-builder/disk.yaml', content: 'partition_table: {}\n' }]]);
  anaconda = await registry.pushLayers('kiln/anaconda-bootc', '42', INSTALLER_LAYERS);
  await registry.pushLayers('kiln/live', '1', [
    ...INSTALLER_LAYERS,
    [
      { name: 'usr/lib/bootc-image-builder/iso.yaml', content: 'label: NOT-THIS-ONE\n' },
      { name: 'usr/lib/image-builder/bootc/iso.yaml', content: 'label: KILN-LIVE\nkernel_args: [rd.live.image, "root=live:CDLABEL=KILN-LIVE"]\ngrub2: {timeout: 3}\n' },
    ],
  ]);
  await registry.pushLayers('kiln/anaconda-own-disk', '1', [...INSTALLER_LAYERS, [{ name: 'usr/lib/bootc-image-builder/disk.yaml', content: 'partition_table: {}\n' }]]);
});

test.after.always(async () => {
  await registry?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const workDir = () => mkdtempSync(path.join(scratch, 'work-'));

test('os-release and install configurations are read as bootc and osinfo read them', (t) => {
  t.deepEqual(parseOsRelease('ID="rhel"\nVERSION_ID=\'10.0\'\n# x\nNAME="Red Hat \\"Enterprise\\" Linux"\n'), { ID: 'rhel', VERSION_ID: '10.0', NAME: 'Red Hat "Enterprise" Linux' });
  t.deepEqual(mergeInstallConfig([{ name: '10-b.toml', text: '[install]\nroot-fs-type = "ext4"\n' }, { name: '00-a.toml', text: '[install.filesystem.root]\ntype = "xfs"\n[install]\nbootloader = "grub"\n' }]), { root_fs: 'ext4', bootloader: 'grub' });
  const err = t.throws(() => mergeInstallConfig([{ name: 'bad.toml', text: '[install\n' }]));
  t.is((err as KilnError).code, 'KILN_BOOTC_INFO');
  t.regex(err!.message, /bad\.toml is not TOML/);
});

test('the bootable container is pinned and read from the registry: os-release, root file system, SELinux policy, UEFI vendor, size', async (t) => {
  const dir = workDir();
  const info = await resolveBootc({ ref: `${registry.host}/kiln/fedora-bootc:42` }, 'image_requests[0].bootc', { arch: 'x86_64', workDir: dir, timeoutMs: 30_000 });
  t.is(info.container.digest, fedora.digest);
  t.is(info.container.image_id, fedora.imageId);
  t.is(info.container.local_name, `${registry.host}/kiln/fedora-bootc:42`, 'the ref as given: bootc updates from it');
  t.deepEqual(info.os_release, { id: 'fedora', version_id: '42', name: 'Fedora Linux', variant_id: 'bootc', platform_id: 'platform:f42' });
  t.is(info.default_fs, 'xfs', '10-fs.toml after 00-base.toml; 20-old.toml whited out');
  t.is(info.selinux_policy, 'targeted');
  t.is(info.uefi_vendor, 'fedora', 'EFI/BOOT is not a vendor');
  t.true(info.size > 3 * 1024, `unpacked layer bytes: ${info.size}`);
  t.is(info.build_container, undefined);
  t.deepEqual(readdirSync(dir), [], 'the copied image is removed');

  const withBuild = await resolveBootc({ ref: `${registry.host}/kiln/fedora-bootc:42`, 'build-ref': `${registry.host}/kiln/builder:1`, 'default-fs': 'btrfs' }, 'bootc', { arch: 'x86_64', workDir: dir });
  t.is(withBuild.build_container!.digest, builder.digest);
  t.is(withBuild.build_selinux_policy, 'mls');
  t.is(withBuild.default_fs, 'btrfs', 'default-fs overrides the container');
});

test('a container that cannot be made into a disk: a clear error naming the field and what to give', async (t) => {
  const dir = workDir();
  const read = (ref: string, extra: Record<string, string> = {}, arch = 'x86_64') => resolveBootc({ ref: `${registry.host}/${ref}`, ...extra }, 'image_requests[0].bootc', { arch, workDir: dir, timeoutMs: 30_000 });
  let err = await t.throwsAsync(read('kiln/no-os-release:1'));
  t.is((err as KilnError).code, 'KILN_BOOTC_INFO');
  t.regex(err!.message, /^image_requests\[0\]\.bootc\.ref: .* has no os-release/);
  err = await t.throwsAsync(read('kiln/no-fs:1'));
  t.regex(err!.message, /names no root file system .*give image_requests\[0\]\.bootc\.default-fs/);
  t.is((await read('kiln/no-fs:1', { 'default-fs': 'ext4' })).default_fs, 'ext4');
  err = await t.throwsAsync(read('kiln/f2fs:1'));
  t.regex(err!.message, /root file system "f2fs", which Kiln cannot make/);
  err = await t.throwsAsync(read('kiln/arm:1'));
  t.true(err instanceof ContainerResolveError);
  t.is((err as ContainerResolveError).field, 'image_requests[0].bootc.ref');
  t.regex(err!.message, /the image is for arm64, the build for x86_64/);
  t.is((await read('kiln/arm:1', {}, 'aarch64')).container.arch, 'arm64');
  err = await t.throwsAsync(read('kiln/own-disk:1'));
  t.is((err as KilnError).code, 'KILN_BOOTC_INFO');
  t.regex(err!.message, /brings its own image builder configuration \(\/usr\/lib\/bootc-image-builder\/disk\.yaml/);
  err = await t.throwsAsync(read('kiln/fedora-bootc:43'));
  t.is((err as ContainerResolveError).reason, 'not-found');
  err = await t.throwsAsync(read('kiln/fedora-bootc:42', { 'build-ref': `${registry.host}/kiln/nope:1` }));
  t.is((err as ContainerResolveError).field, 'image_requests[0].bootc.build-ref');
  t.deepEqual(readdirSync(dir), []);
});

test("bootc-installer containers: the installer's kernel is read (whiteouts applied), the payload pinned; an installer without a kernel is refused", async (t) => {
  const dir = workDir();
  const read = (ref: string, payload: string) => resolveBootc({ ref: `${registry.host}/${ref}`, 'installer-payload-ref': `${registry.host}/${payload}` }, 'image_requests[0].bootc', { arch: 'x86_64', workDir: dir, timeoutMs: 30_000 });
  const info = await read('kiln/anaconda-bootc:42', 'kiln/fedora-bootc:42');
  t.is(info.container.digest, anaconda.digest);
  t.is(info.kernel, '6.14.0-63.fc42.x86_64', 'the older kernel is whited out; a modules directory without vmlinuz is no kernel');
  t.is(info.payload!.digest, fedora.digest);
  t.is(info.payload!.image_id, fedora.imageId);
  t.is(info.payload!.local_name, `${registry.host}/kiln/fedora-bootc:42`, 'the name the installed system follows (bootc switch)');
  t.is(info.default_fs, 'xfs');
  // a disk image of it: no payload
  t.is((await resolveBootc({ ref: `${registry.host}/kiln/anaconda-bootc:42` }, 'bootc', { arch: 'x86_64', workDir: dir })).payload, undefined);
  // an installer ISO does not read a disk layout: the container's own is not refused there
  t.is((await read('kiln/anaconda-own-disk:1', 'kiln/fedora-bootc:42')).kernel, '6.14.0-63.fc42.x86_64');
  let err = await t.throwsAsync(read('kiln/fedora-bootc:42', 'kiln/fedora-bootc:42'));
  t.is((err as KilnError).code, 'KILN_BOOTC_INFO');
  t.regex(err!.message, /^image_requests\[0\]\.bootc\.ref: .* has no kernel \(no usr\/lib\/modules\/<version>\/vmlinuz\)/);
  // a generic ISO: its iso.yaml (image-builder's path before bootc-image-builder's), no payload needed;
  // a disk of the same container reads no iso.yaml and is not refused for it
  const live = await resolveBootc({ ref: `${registry.host}/kiln/live:1` }, 'bootc', { arch: 'x86_64', workDir: dir, iso: true });
  t.deepEqual(live.iso, { label: 'KILN-LIVE', kernel_args: ['rd.live.image', 'root=live:CDLABEL=KILN-LIVE'], grub2: { timeout: 3 } });
  t.is(live.payload, undefined);
  const disk = await resolveBootc({ ref: `${registry.host}/kiln/live:1` }, 'bootc', { arch: 'x86_64', workDir: dir });
  t.is(disk.iso, undefined);
  t.is((await t.throwsAsync(resolveBootc({ ref: `${registry.host}/kiln/fedora-bootc:42` }, 'bootc', { arch: 'x86_64', workDir: dir, iso: true })) as KilnError).code, 'KILN_BOOTC_INFO', 'an ISO needs a kernel');
  err = await t.throwsAsync(read('kiln/anaconda-bootc:42', 'kiln/nope:1'));
  t.true(err instanceof ContainerResolveError);
  t.is((err as ContainerResolveError).field, 'image_requests[0].bootc.installer-payload-ref');
  t.deepEqual(readdirSync(dir), [], 'the copied images are removed');
});

function bootcManifest(type: string, extra: { arch?: string; blueprint?: Blueprint; bootc?: Partial<BootcInfo>; size?: number } = {}): Manifest {
  const info = bootcInfo(extra.bootc, extra.arch);
  const image = resolveImage('bootc-generic', extra.arch ?? 'x86_64', type, undefined, { defaultFsType: info.default_fs });
  return generateManifest({ image, packages: {}, seed: '3', bootc: info, ...(extra.blueprint ? { blueprint: extra.blueprint } : {}), ...(extra.size ? { size: extra.size } : {}) });
}
const types = (m: Manifest, p: string) => m.pipelines.find((x) => x.name === p)!.stages.map((s) => s.type);
const find = (m: Manifest, p: string, type: string): ManifestStage[] => m.pipelines.find((x) => x.name === p)!.stages.filter((s) => s.type === type);

test('every bootc type and architecture: pipelines as upstream names them, valid for osbuild, exporting the type\'s file', (t) => {
  const want: Record<string, string[]> = {
    raw: ['build', 'image'],
    ami: ['build', 'image'],
    qcow2: ['build', 'image', 'qcow2'],
    vmdk: ['build', 'image', 'vmdk'],
    vhd: ['build', 'image', 'vpc'],
    gce: ['build', 'image', 'gce'],
    ova: ['build', 'image', 'vmdk', 'ovf', 'archive'],
  };
  for (const arch of ['x86_64', 'aarch64', 'ppc64le', 's390x']) {
    for (const type of TYPES) {
      const image = resolveImage('bootc-generic', arch, type);
      const m = bootcManifest(type, { arch });
      t.deepEqual(m.pipelines.map((p) => p.name), want[type], `${arch} ${type}`);
      const res = validateManifest(m);
      t.true(res.success, `${arch} ${type}: ${JSON.stringify(res.errors.slice(0, 3))}`);
      t.notThrows(() => loadManifest(m as never));
      const exported = m.pipelines.find((p) => p.name === image.exportPipeline)!;
      // raw: truncate makes the file, later stages write into it in place
      t.true(exported.stages.some((st) => st.options?.filename === image.filename), `${arch} ${type}`);
      t.deepEqual(Object.keys(m.sources), ['org.osbuild.skopeo'], 'nothing but the container: no packages');
      // the format pipelines run on the host, as upstream's (the build root is the bootc container)
      for (const p of m.pipelines.filter((x) => ['qcow2', 'vmdk', 'vpc', 'ovf', 'archive'].includes(x.name))) t.is(p.build, undefined);
      // Koji gets the file under a name whose extension is an archive type
      const kojiName = kojiFilename({ name: 'fedora-bootc', version: '42', release: '1' }, image);
      t.true(ARCHIVE_TYPES.some((a) => a.extensions.some((e) => kojiName.endsWith(`.${e}`))), kojiName);
    }
  }
  t.deepEqual(packageRequests({ image: resolveImage('bootc-generic', 'x86_64', 'qcow2'), seed: '1' }), {}, 'nothing to depsolve');
});

test('the image pipeline: partitions, file systems, bootc install to-filesystem from the pinned container, mount units, as raw_bootc.go', (t) => {
  const m = bootcManifest('qcow2');
  t.is(m.pipelines[0].runner, 'org.osbuild.linux');
  t.deepEqual(types(m, 'build'), ['org.osbuild.container-deploy', 'org.osbuild.selinux']);
  const selinux = find(m, 'build', 'org.osbuild.selinux')[0].options!;
  t.deepEqual(selinux.exclude_paths, ['/sysroot']);
  t.is(selinux.file_contexts, 'etc/selinux/targeted/contexts/files/file_contexts');
  t.deepEqual(types(m, 'image'), [
    'org.osbuild.truncate', 'org.osbuild.sfdisk', 'org.osbuild.mkfs.fat', 'org.osbuild.mkfs.xfs', 'org.osbuild.mkfs.xfs',
    'org.osbuild.bootc.install-to-filesystem',
    'org.osbuild.systemd.unit.create', 'org.osbuild.systemd.unit.create', 'org.osbuild.systemd.unit.create', 'org.osbuild.systemd',
    'org.osbuild.selinux', 'org.osbuild.selinux',
  ]);
  const install = find(m, 'image', 'org.osbuild.bootc.install-to-filesystem')[0];
  t.deepEqual(install.options, { 'kernel-args': ['rw', 'console=tty0', 'console=ttyS0'], 'target-imgref': 'quay.io/fedora/fedora-bootc:42' });
  t.deepEqual(install.inputs, { images: { type: 'org.osbuild.containers', origin: 'org.osbuild.source', references: { [`sha256:${'b'.repeat(64)}`]: { name: 'quay.io/fedora/fedora-bootc:42' } } } });
  t.deepEqual(install.devices, { disk: { type: 'org.osbuild.loopback', options: { filename: 'disk.raw', partscan: true } } });
  t.deepEqual((install.mounts as { target: string; partition: number }[]).map((x) => [x.target, x.partition]), [['/', 4], ['/boot', 3], ['/boot/efi', 2]]);
  // the rest sees the deployment as its tree
  const unit = find(m, 'image', 'org.osbuild.systemd.unit.create')[0];
  t.deepEqual((unit.mounts as { type: string }[]).map((x) => x.type).slice(-2), ['org.osbuild.ostree.deployment', 'org.osbuild.bind']);
  t.deepEqual(find(m, 'image', 'org.osbuild.selinux').map((s) => s.options!.target), ['tree:///etc', 'tree:///var']);
  const sfdisk = find(m, 'image', 'org.osbuild.sfdisk')[0].options as { partitions: { size: number }[] };
  const total = Number(find(m, 'image', 'org.osbuild.truncate')[0].options!.size);
  t.is(total, 10 * 1024 ** 3, "the type's default size");
  t.true(sfdisk.partitions.at(-1)!.size * 512 >= 3 * 1024 ** 3, '/ holds twice the container');
  t.deepEqual(find(m, 'qcow2', 'org.osbuild.qemu')[0].options, { filename: 'disk.qcow2', format: { type: 'qcow2', compat: '1.1' } });
  t.is(find(bootcManifest('gce'), 'gce', 'org.osbuild.tar')[0].options!.transform, 's/image\\.raw/disk.raw/', 'GCE wants disk.raw in the tarball');

  // a bigger container: / grows to twice its size, the disk with it
  const big = bootcManifest('raw', { bootc: { size: 8 * 1024 ** 3 } });
  t.true(Number(find(big, 'image', 'org.osbuild.truncate')[0].options!.size) >= 16 * 1024 ** 3);
  // the container's boot loader setting reaches bootc
  t.is(find(bootcManifest('raw', { bootc: { bootloader: 'systemd' } }), 'image', 'org.osbuild.bootc.install-to-filesystem')[0].options!.bootloader, 'systemd');
  // ext4 root: fs-verity (composefs); btrfs: subvolumes mounted by partition
  t.true(find(bootcManifest('raw', { bootc: { default_fs: 'ext4' } }), 'image', 'org.osbuild.mkfs.ext4').some((s) => s.options!.verity === true));
  const btrfs = bootcManifest('raw', { bootc: { default_fs: 'btrfs' } });
  t.true(validateManifest(btrfs).success);
  const root = (find(btrfs, 'image', 'org.osbuild.bootc.install-to-filesystem')[0].mounts as { target: string; type: string; options?: { subvol: string } }[]).find((x) => x.target === '/')!;
  t.is(root.type, 'org.osbuild.btrfs');
  t.is(root.options!.subvol, 'root');
  // no UEFI vendor in the container: BIOS only, bootupd needs no ESP mount
  t.true(validateManifest(bootcManifest('raw', { bootc: { uefi_vendor: undefined as never } })).success);
});

test('a build container: a target pipeline lends its install configuration to the build root', (t) => {
  const m = bootcManifest('raw', { bootc: { build_container: BUILD_CONTAINER, build_selinux_policy: 'targeted' } });
  t.deepEqual(m.pipelines.map((p) => p.name), ['target', 'build', 'image']);
  t.deepEqual(types(m, 'target'), ['org.osbuild.container-deploy', 'org.osbuild.mkdir', 'org.osbuild.selinux']);
  t.deepEqual(types(m, 'build'), ['org.osbuild.container-deploy', 'org.osbuild.mkdir', 'org.osbuild.copy', 'org.osbuild.selinux']);
  t.deepEqual(find(m, 'build', 'org.osbuild.copy')[0].options, {
    paths: [
      { from: 'input://copy-tree/usr/lib/bootc/install/', to: 'tree:///usr/lib/bootc/install/' },
      { from: 'input://copy-tree/usr/lib/ostree/', to: 'tree:///usr/lib/ostree/' },
    ],
  });
  t.deepEqual(Object.keys((m.sources['org.osbuild.skopeo'] as { items: object }).items).sort(), [`sha256:${'b'.repeat(64)}`, `sha256:${'d'.repeat(64)}`]);
  const install = find(m, 'image', 'org.osbuild.bootc.install-to-filesystem')[0];
  t.deepEqual(Object.keys((install.inputs as any).images.references), [`sha256:${'b'.repeat(64)}`], 'bootc installs the bootable container, not the build one');
  t.true(validateManifest(m).success);
});

test('blueprint: users, groups, kernel append, files, directories and file systems go into the deployment; anything else is refused naming the field', (t) => {
  const m = bootcManifest('qcow2', {
    blueprint: {
      customizations: {
        user: [{ name: 'root', key: 'ssh-ed25519 AAAAroot' }, { name: 'alice', key: 'ssh-ed25519 AAAAalice', groups: ['wheel'] }],
        group: [{ name: 'ops', gid: 2001 }],
        kernel: { append: 'quiet' },
        directories: [{ path: '/etc/kiln' }],
        files: [{ path: '/etc/kiln/motd', data: 'hello' }],
        filesystem: [{ mountpoint: '/var/log', minsize: '2 GiB' }],
      },
    },
  });
  t.true(validateManifest(m).success, JSON.stringify(validateManifest(m).errors.slice(0, 3)));
  const install = find(m, 'image', 'org.osbuild.bootc.install-to-filesystem')[0];
  t.deepEqual((install.options as { 'kernel-args': string[] })['kernel-args'], ['rw', 'console=tty0', 'console=ttyS0', 'quiet']);
  t.false((install.mounts as { target: string }[]).some((x) => x.target === '/var/log'), 'bootc mounts /, /boot and /boot/efi only');
  t.true(find(m, 'image', 'org.osbuild.systemd.unit.create').some((s) => s.options!.filename === 'var-log.mount'));
  t.deepEqual(find(m, 'image', 'org.osbuild.groups')[0].options, { groups: { ops: { gid: 2001 } } });
  t.deepEqual(find(m, 'image', 'org.osbuild.mkdir')[0].options, { paths: [{ path: '/var/roothome', mode: 0o700, exist_ok: true }, { path: '/var/home', mode: 0o755, exist_ok: true }] });
  t.deepEqual(Object.keys(find(m, 'image', 'org.osbuild.users')[0].options!.users as object).sort(), ['alice', 'root']);
  t.true(find(m, 'image', 'org.osbuild.copy').some((s) => JSON.stringify(s.options).includes('tree:///etc/kiln/motd')));
  for (const s of m.pipelines.find((p) => p.name === 'image')!.stages.slice(find(m, 'image', 'org.osbuild.mkfs.xfs').length + 4)) {
    t.true((s.mounts as { type: string }[]).some((x) => x.type === 'org.osbuild.ostree.deployment'), `${s.type} works on the deployment`);
  }
  const refused = (bp: Blueprint, field: string) => {
    const err = t.throws(() => bootcManifest('qcow2', { blueprint: bp }), { instanceOf: InvalidInputError });
    t.is((err as InvalidInputError).field, field);
  };
  refused({ packages: [{ name: 'vim' }] }, 'blueprint.packages');
  refused({ customizations: { hostname: 'x' } }, 'blueprint.customizations.hostname');
  refused({ customizations: { sshd: { PasswordAuthentication: false } } } as Blueprint, 'blueprint.customizations.sshd.PasswordAuthentication');
  refused({ customizations: { kernel: { name: 'kernel-rt' } } }, 'blueprint.customizations.kernel.name');
  refused({ customizations: { filesystem: [{ mountpoint: '/opt', minsize: '1 GiB' }] } }, 'blueprint.customizations.filesystem[0].mountpoint');
  refused({ customizations: { filesystem: [{ mountpoint: '/var', minsize: '1 GiB' }] } }, 'blueprint.customizations.filesystem[0].mountpoint');
  refused({ customizations: { filesystem: [{ mountpoint: '/var/home', minsize: '1 GiB' }] } }, 'blueprint.customizations.filesystem[0].mountpoint');
});

function installerManifest(extra: { arch?: string; blueprint?: Blueprint; bootc?: Partial<BootcInfo> } = {}): Manifest {
  const info = bootcInstallerInfo(extra.bootc, extra.arch);
  const image = resolveImage('bootc-generic', extra.arch ?? 'x86_64', 'bootc-installer', undefined, { defaultFsType: info.default_fs });
  return generateManifest({ image, packages: {}, seed: '3', bootc: info, ...(extra.blueprint ? { blueprint: extra.blueprint } : {}) });
}
const inlineText = (m: Manifest, copy: ManifestStage): string => {
  const id = /(sha256:[0-9a-f]{64})$/.exec((copy.options as { paths: { from: string }[] }).paths[0].from)![1];
  return Buffer.from((m.sources['org.osbuild.inline'] as { items: Record<string, { data: string }> }).items[id].data, 'base64').toString('utf8');
};

test("bootc-installer: the installer container is build root and anaconda's tree, the payload an OCI layout in the ISO, as upstream's bootc_iso", (t) => {
  for (const arch of ['x86_64', 'aarch64']) {
    const m = installerManifest({ arch });
    t.deepEqual(m.pipelines.map((p) => p.name), ['build', 'anaconda-tree', 'efiboot-tree', 'bootiso-tree', 'bootiso'], arch);
    const res = validateManifest(m);
    t.true(res.success, `${arch}: ${JSON.stringify(res.errors.slice(0, 3))}`);
    t.notThrows(() => loadManifest(m as never));
    t.deepEqual(Object.keys(m.sources).sort(), ['org.osbuild.inline', 'org.osbuild.skopeo'], 'no packages: the two containers and the kickstart');
    const image = resolveImage('bootc-generic', arch, 'bootc-installer');
    t.is(image.exportPipeline, 'bootiso');
    t.is(kojiFilename({ name: 'fedora-bootc-installer', version: '42', release: '1' }, image), `fedora-bootc-installer-42-1.${arch}.iso`);
  }
  const m = installerManifest();
  // the build root: the installer container, labelled with the default policy; the runner its distribution's
  t.is(m.pipelines[0].runner, 'org.osbuild.fedora42');
  t.deepEqual(types(m, 'build'), ['org.osbuild.container-deploy', 'org.osbuild.selinux']);
  const installerImage = { type: 'org.osbuild.containers', origin: 'org.osbuild.source', references: { [`sha256:${'2'.repeat(64)}`]: { name: 'quay.io/kiln/anaconda-bootc:42' } } };
  t.deepEqual(find(m, 'build', 'org.osbuild.container-deploy')[0].inputs, { images: installerImage });
  // anaconda-tree: upstream's payload-installer stages on the deployed container (pkg/manifest/anaconda_installer.go)
  t.deepEqual(types(m, 'anaconda-tree'), [
    'org.osbuild.container-deploy', 'org.osbuild.buildstamp', 'org.osbuild.locale', 'org.osbuild.users', 'org.osbuild.anaconda',
    'org.osbuild.lorax-script', 'org.osbuild.dracut', 'org.osbuild.lorax-script', 'org.osbuild.selinux.config',
  ]);
  t.deepEqual(find(m, 'anaconda-tree', 'org.osbuild.container-deploy')[0].options, { 'remove-signatures': true });
  t.deepEqual(find(m, 'anaconda-tree', 'org.osbuild.buildstamp')[0].options, { arch: 'x86_64', product: 'Fedora Linux', version: '42', final: true });
  t.deepEqual(find(m, 'anaconda-tree', 'org.osbuild.locale')[0].options, { language: 'C.UTF-8' });
  t.is((find(m, 'anaconda-tree', 'org.osbuild.users')[0].options as any).users.install.home, '/var/roothome');
  t.deepEqual((find(m, 'anaconda-tree', 'org.osbuild.anaconda')[0].options as any)['activatable-modules'], [
    'org.fedoraproject.Anaconda.Modules.Network', 'org.fedoraproject.Anaconda.Modules.Payloads', 'org.fedoraproject.Anaconda.Modules.Runtime', 'org.fedoraproject.Anaconda.Modules.Security',
    'org.fedoraproject.Anaconda.Modules.Services', 'org.fedoraproject.Anaconda.Modules.Storage', 'org.fedoraproject.Anaconda.Modules.Users',
  ]);
  t.deepEqual(find(m, 'anaconda-tree', 'org.osbuild.lorax-script').map((s) => s.options!.path), ['99-generic/runtime-postinstall.tmpl', '99-generic/runtime-cleanup.tmpl']);
  t.deepEqual(find(m, 'anaconda-tree', 'org.osbuild.dracut')[0].options, {
    kernel: ['6.14.0-63.fc42.x86_64'],
    add_modules: ['pollcdrom', 'qemu', 'qemu-net', 'biosdevname', 'fips', 'anaconda', 'prefixdevname-tools'],
    install: ['./buildstamp'],
    extra: ['--xz', 'lib/modules/6.14.0-63.fc42.x86_64/initramfs.img', '--nomdadmconf', '--nolvmconf'],
  });
  // the ISO: the container's kernel and the initrd beside it, a zstd squashfs of the tree, grub2 for BIOS and UEFI
  const label = 'Fedora-S-dvd-x86_64-42';
  t.deepEqual(types(m, 'bootiso-tree'), [
    'org.osbuild.mkdir', 'org.osbuild.copy', 'org.osbuild.squashfs', 'org.osbuild.grub2.iso.legacy', 'org.osbuild.grub2.inst',
    'org.osbuild.truncate', 'org.osbuild.mkfs.fat', 'org.osbuild.copy', 'org.osbuild.copy',
    'org.osbuild.mkdir', 'org.osbuild.skopeo', 'org.osbuild.kickstart', 'org.osbuild.copy', 'org.osbuild.discinfo',
  ]);
  t.deepEqual((find(m, 'bootiso-tree', 'org.osbuild.copy')[0].options as any).paths.map((p: { from: string }) => p.from), [
    'input://tree/lib/modules/6.14.0-63.fc42.x86_64/vmlinuz',
    'input://tree/lib/modules/6.14.0-63.fc42.x86_64/initramfs.img',
  ]);
  t.deepEqual((find(m, 'bootiso-tree', 'org.osbuild.squashfs')[0].options as any).compression, { method: 'zstd' });
  const kernelOpts = [`inst.stage2=hd:LABEL=${label}`, `inst.ks=hd:LABEL=${label}:/osbuild.ks`, 'console=tty0', 'inst.text'];
  t.deepEqual((find(m, 'efiboot-tree', 'org.osbuild.grub2.iso')[0].options as any).kernel.opts, kernelOpts);
  t.is((find(m, 'efiboot-tree', 'org.osbuild.grub2.iso')[0].options as any).vendor, 'fedora');
  t.deepEqual((find(m, 'bootiso-tree', 'org.osbuild.grub2.iso.legacy')[0].options as any).product, { name: 'Fedora Linux', version: '42' });
  // the payload: copied as an OCI layout, installed by ostreecontainer, its name made the origin by bootc switch
  t.deepEqual(find(m, 'bootiso-tree', 'org.osbuild.mkdir')[1].options, { paths: [{ path: '/container' }] });
  const skopeo = find(m, 'bootiso-tree', 'org.osbuild.skopeo')[0];
  t.deepEqual(skopeo.options, { destination: { type: 'oci', path: '/container' }, 'remove-signatures': true });
  t.deepEqual(skopeo.inputs, { images: { type: 'org.osbuild.containers', origin: 'org.osbuild.source', references: { [`sha256:${'b'.repeat(64)}`]: { name: 'quay.io/fedora/fedora-bootc:42' } } } });
  const ks = find(m, 'bootiso-tree', 'org.osbuild.kickstart')[0].options as any;
  t.is(ks.path, '/osbuild-base.ks');
  t.deepEqual(ks.ostreecontainer, { stateroot: '', url: '/run/install/repo/container', transport: 'oci', remote: '', signatureverification: false });
  t.like(ks, { lang: 'en_US.UTF-8', keyboard: 'us', timezone: 'UTC', rootpw: { lock: true }, clearpart: { all: true }, network: [{ bootproto: 'dhcp', device: 'link', activate: true, onboot: 'on' }] });
  t.is(ks.bootloader, undefined);
  t.true(ks['%post'][0].erroronfail);
  t.true(ks['%post'][0].commands.includes('bootc switch --mutate-in-place --transport registry quay.io/fedora/fedora-bootc:42'));
  const include = find(m, 'bootiso-tree', 'org.osbuild.copy').at(-1)!;
  t.is((include.options as any).paths[0].to, 'tree:///osbuild.ks');
  t.is(inlineText(m, include), '%include /run/install/repo/osbuild-base.ks\n\nautopart --nohome --type=plain --fstype=xfs\n\nreboot --eject\n');
  t.deepEqual(find(m, 'bootiso-tree', 'org.osbuild.discinfo')[0].options, { basearch: 'x86_64', release: '' });
  t.like(find(m, 'bootiso', 'org.osbuild.xorrisofs')[0].options, { filename: 'install.iso', volid: label, efi: 'images/efiboot.img', boot: { image: 'images/eltorito.img', catalog: 'boot.cat' } });
  // aarch64: UEFI only
  const arm = installerManifest({ arch: 'aarch64', bootc: { kernel: '6.14.0-63.fc42.aarch64' } });
  t.false(types(arm, 'bootiso-tree').includes('org.osbuild.grub2.iso.legacy'));
  t.is(find(arm, 'bootiso', 'org.osbuild.xorrisofs')[0].options!.volid, 'Fedora-S-dvd-aarch64-42');
});

test('bootc-installer: what the container says (os-release, install file system) and the blueprint change the ISO; what it cannot do is refused', (t) => {
  // a RHEL-like container: rhel lorax templates, its label and runner; btrfs installs with btrfs autopart
  const centos = installerManifest({ bootc: { os_release: { id: 'centos', version_id: '10', name: 'CentOS Stream', id_like: ['rhel', 'fedora'] }, default_fs: 'btrfs' } });
  t.is(centos.pipelines[0].runner, 'org.osbuild.centos10');
  t.deepEqual(find(centos, 'anaconda-tree', 'org.osbuild.lorax-script').map((s) => s.options!.path), ['80-rhel/runtime-postinstall.tmpl', '80-rhel/runtime-cleanup.tmpl']);
  t.is(find(centos, 'bootiso', 'org.osbuild.xorrisofs')[0].options!.volid, 'CentOS-Stream-10-BaseOS-x86_64');
  t.regex(inlineText(centos, find(centos, 'bootiso-tree', 'org.osbuild.copy').at(-1)!), /\nautopart --nohome --type=btrfs\n/);
  const rhel = installerManifest({ bootc: { os_release: { id: 'rhel', version_id: '10.1', name: 'Red Hat Enterprise Linux' } } });
  t.is(rhel.pipelines[0].runner, 'org.osbuild.rhel101');
  t.is(find(rhel, 'bootiso', 'org.osbuild.xorrisofs')[0].options!.volid, 'RHEL-10-1-BaseOS-x86_64');
  const other = installerManifest({ bootc: { os_release: { id: 'kilnos', version_id: '1', name: 'Kiln OS' } } });
  t.is(other.pipelines[0].runner, 'org.osbuild.linux');
  t.is(find(other, 'bootiso', 'org.osbuild.xorrisofs')[0].options!.volid, 'Container-Installer-x86_64');
  t.true(validateManifest(centos).success && validateManifest(rhel).success && validateManifest(other).success);

  // the blueprint: kernel arguments on the ISO and in the installed system's boot loader, FIPS, users, modules, its own kickstart
  const bp: Blueprint = {
    customizations: {
      kernel: { append: 'quiet' },
      fips: true,
      user: [{ name: 'alice', password: 'secret', groups: ['wheel'] }],
      group: [{ name: 'ops', gid: 2001 }],
      installer: { modules: { enable: ['org.fedoraproject.Anaconda.Modules.Localization'], disable: ['org.fedoraproject.Anaconda.Modules.Network'] } },
    },
  };
  const custom = installerManifest({ blueprint: bp });
  t.true(validateManifest(custom).success, JSON.stringify(validateManifest(custom).errors.slice(0, 3)));
  const label = 'Fedora-S-dvd-x86_64-42';
  t.deepEqual((find(custom, 'efiboot-tree', 'org.osbuild.grub2.iso')[0].options as any).kernel.opts, [`inst.stage2=hd:LABEL=${label}`, `inst.ks=hd:LABEL=${label}:/osbuild.ks`, 'console=tty0', 'inst.text', 'fips=1', 'quiet']);
  const ks = find(custom, 'bootiso-tree', 'org.osbuild.kickstart')[0].options as any;
  t.deepEqual(ks.bootloader, { append: 'quiet' });
  t.deepEqual(Object.keys(ks.users), ['alice']);
  t.regex(ks.users.alice.password, /^\$6\$/, 'crypted');
  t.deepEqual(ks.groups, { ops: { gid: 2001 } });
  const modules = (find(custom, 'anaconda-tree', 'org.osbuild.anaconda')[0].options as any)['activatable-modules'] as string[];
  t.true(modules.includes('org.fedoraproject.Anaconda.Modules.Localization'));
  t.false(modules.includes('org.fedoraproject.Anaconda.Modules.Network'));
  // the blueprint's kickstart: Kiln's installs the payload, the blueprint's does the rest
  const own = installerManifest({ blueprint: { customizations: { installer: { kickstart: { contents: 'autopart --type=lvm\nreboot\n' } } } } });
  const ownKs = find(own, 'bootiso-tree', 'org.osbuild.kickstart')[0].options as any;
  t.deepEqual(Object.keys(ownKs).sort(), ['%post', 'ostreecontainer', 'path']);
  t.is(inlineText(own, find(own, 'bootiso-tree', 'org.osbuild.copy').at(-1)!), '%include /run/install/repo/osbuild-base.ks\nautopart --type=lvm\nreboot\n');

  const refused = (f: () => unknown, field: string, message: RegExp) => {
    const err = t.throws(f, { instanceOf: InvalidInputError });
    t.is((err as InvalidInputError).field, field);
    t.regex(err!.message, message);
  };
  refused(() => installerManifest({ blueprint: { customizations: { installer: { 'sudo-nopasswd': ['alice'] } } } }), 'blueprint.customizations.installer.sudo-nopasswd', /not applied by image type bootc-installer/);
  refused(() => installerManifest({ blueprint: { customizations: { user: [{ name: 'root', password: 'x' }] } } }), 'blueprint.customizations.user', /locks root/);
  refused(() => installerManifest({ blueprint: { customizations: { hostname: 'x' } } }), 'blueprint.customizations.hostname', /./);
  refused(() => installerManifest({ blueprint: { customizations: { user: [{ name: 'root', key: 'ssh-ed25519 AAAA', home: '/srv/root' }] } } }), 'blueprint.customizations.user', /cannot set home for user "root"/);
  refused(() => installerManifest({ blueprint: { packages: [{ name: 'vim' }] } }), 'blueprint.packages', /./);
  refused(() => installerManifest({ bootc: { build_container: BUILD_CONTAINER } }), 'bootc.build-ref', /the container bootc\.ref is the build root/);
  const noVendor = t.throws(() => installerManifest({ bootc: { uefi_vendor: undefined } }));
  t.is((noVendor as KilnError).code, 'KILN_BOOTC_INFO');
  t.regex(noVendor!.message, /no EFI vendor directory/);
  t.is((t.throws(() => installerManifest({ bootc: { payload: undefined } })) as KilnError).code, 'KILN_MANIFEST');
  t.throws(() => resolveImage('bootc-generic', 'ppc64le', 'bootc-installer'));
  t.deepEqual(packageRequests({ image: resolveImage('bootc-generic', 'x86_64', 'bootc-installer'), seed: '1' }), {}, 'nothing to depsolve');
});

function genericManifest(extra: { blueprint?: Blueprint; bootc?: Partial<BootcInfo> } = {}): Manifest {
  const info = bootcInstallerInfo({ payload: undefined, ...extra.bootc });
  const image = resolveImage('bootc-generic', 'x86_64', 'bootc-generic-iso', undefined, { defaultFsType: info.default_fs });
  return generateManifest({ image, packages: {}, seed: '3', bootc: info, ...(extra.blueprint ? { blueprint: extra.blueprint } : {}) });
}

test("bootc-generic-iso: the container's own tree as a live ISO booted by grub2, configured by its iso.yaml, as upstream's bootc_generic_iso", (t) => {
  const m = genericManifest();
  t.deepEqual(m.pipelines.map((p) => p.name), ['build', 'os-tree', 'efiboot-tree', 'bootiso-tree', 'bootiso']);
  t.true(validateManifest(m).success, JSON.stringify(validateManifest(m).errors.slice(0, 3)));
  t.notThrows(() => loadManifest(m as never));
  t.deepEqual(Object.keys(m.sources), ['org.osbuild.skopeo']);
  t.is(m.pipelines[0].runner, 'org.osbuild.fedora42');
  t.deepEqual(types(m, 'os-tree'), ['org.osbuild.container-deploy']);
  t.deepEqual(types(m, 'bootiso-tree'), [
    'org.osbuild.mkdir', 'org.osbuild.copy', 'org.osbuild.squashfs', 'org.osbuild.grub2.iso.legacy', 'org.osbuild.grub2.inst',
    'org.osbuild.truncate', 'org.osbuild.mkfs.fat', 'org.osbuild.copy', 'org.osbuild.copy', 'org.osbuild.discinfo',
  ]);
  t.deepEqual(find(m, 'bootiso-tree', 'org.osbuild.mkdir')[0].options, { paths: [{ path: '/images' }, { path: '/images/pxeboot' }, { path: '/LiveOS' }] });
  t.deepEqual((find(m, 'bootiso-tree', 'org.osbuild.copy')[0].options as any).paths.map((p: { from: string }) => p.from), ['input://tree/lib/modules/6.14.0-63.fc42.x86_64/vmlinuz', 'input://tree/lib/modules/6.14.0-63.fc42.x86_64/initramfs.img']);
  t.like(find(m, 'bootiso-tree', 'org.osbuild.squashfs')[0].options, { filename: 'LiveOS/squashfs.img', compression: { method: 'zstd' } });
  t.deepEqual(find(m, 'bootiso-tree', 'org.osbuild.squashfs')[0].inputs, { tree: { type: 'org.osbuild.tree', origin: 'org.osbuild.pipeline', references: ['name:os-tree'] } });
  // no iso.yaml: upstream's label and harmless live kernel options, the install entry only
  const label = 'Fedora-S-dvd-x86_64-42';
  const live = [`root=live:CDLABEL=${label}`, 'rd.live.image', 'quiet', 'rhgb', 'enforcing=0'];
  t.like(find(m, 'efiboot-tree', 'org.osbuild.grub2.iso')[0].options, { isolabel: label, kernel: { dir: '/images/pxeboot', opts: live }, install: true, test: false, troubleshooting: false, vendor: 'fedora' });
  t.like(find(m, 'bootiso-tree', 'org.osbuild.grub2.iso.legacy')[0].options, { isolabel: label, product: { name: 'Fedora Linux', version: '42' }, install: true, test: false, troubleshooting: false });
  t.is(find(m, 'bootiso-tree', 'org.osbuild.grub2.iso.legacy')[0].options!.config, undefined);
  t.deepEqual(find(m, 'bootiso-tree', 'org.osbuild.discinfo')[0].options, { basearch: 'x86_64', release: '42' });
  t.like(find(m, 'bootiso', 'org.osbuild.xorrisofs')[0].options, { volid: label, boot: { image: 'images/eltorito.img', catalog: 'boot.cat' }, efi: 'images/efiboot.img' });

  // the container's iso.yaml: label, kernel arguments, menu default, timeout and entries (replacing the standard ones)
  const entries = [{ name: 'Live', linux: '/images/pxeboot/vmlinuz rd.live.image', initrd: '/images/pxeboot/initrd.img' }];
  const own = genericManifest({ bootc: { iso: { label: 'MY-LIVE', kernel_args: ['rd.live.image', 'root=live:CDLABEL=MY-LIVE'], grub2: { default: 1, timeout: 5, entries } } } });
  t.true(validateManifest(own).success);
  for (const [p, type] of [['efiboot-tree', 'org.osbuild.grub2.iso'], ['bootiso-tree', 'org.osbuild.grub2.iso.legacy']]) {
    t.like(find(own, p, type)[0].options, { isolabel: 'MY-LIVE', kernel: { opts: ['rd.live.image', 'root=live:CDLABEL=MY-LIVE'] }, install: false, test: false, troubleshooting: false, custom: entries, config: { default: 1, timeout: 5 } });
  }
  t.is(find(own, 'bootiso', 'org.osbuild.xorrisofs')[0].options!.volid, 'MY-LIVE');
  // a payload: into the tree's containers-storage
  const withPayload = genericManifest({ bootc: { payload: bootcInstallerInfo().payload } });
  t.deepEqual(types(withPayload, 'os-tree'), ['org.osbuild.container-deploy', 'org.osbuild.skopeo']);
  const skopeo = find(withPayload, 'os-tree', 'org.osbuild.skopeo')[0];
  t.deepEqual(skopeo.options, { destination: { type: 'containers-storage' } });
  t.deepEqual(Object.values((skopeo.inputs as any).images.references), [{ name: 'quay.io/fedora/fedora-bootc:42' }]);

  // no blueprint: upstream reads none
  const err = t.throws(() => genericManifest({ blueprint: { customizations: { kernel: { append: 'quiet' } } } }), { instanceOf: InvalidInputError });
  t.is((err as InvalidInputError).field, 'blueprint.customizations.kernel.append');
  t.is((t.throws(() => genericManifest({ bootc: { build_container: BUILD_CONTAINER } }), { instanceOf: InvalidInputError }) as InvalidInputError).field, 'bootc.build-ref');
  t.is((t.throws(() => genericManifest({ bootc: { uefi_vendor: undefined } })) as KilnError).code, 'KILN_BOOTC_INFO');
  t.throws(() => resolveImage('bootc-generic', 'aarch64', 'bootc-generic-iso'));
});

test('iso.yaml is read as osinfo reads it (image-builder path first), checked, and is no disk configuration', (t) => {
  t.deepEqual(parseIsoYaml('label: X\nkernel_args: [a, "b=c"]\ngrub2:\n  default: 0\n  timeout: 10\n  entries:\n    - {name: N, linux: L, initrd: I}\n', 'f'), { label: 'X', kernel_args: ['a', 'b=c'], grub2: { default: 0, timeout: 10, entries: [{ name: 'N', linux: 'L', initrd: 'I' }] } });
  t.deepEqual(parseIsoYaml('', 'f'), {});
  for (const [text, message] of [['label: [1]', /label is not a string/], ['grub2: {timeout: -1}', /grub2\.timeout is not a whole number/], ['kernel_args: x', /kernel_args is not a list/], ['a: [', /is not YAML/]] as const) {
    const err = t.throws(() => parseIsoYaml(text, 'bootc.ref: /usr/lib/bootc-image-builder/iso.yaml'));
    t.is((err as KilnError).code, 'KILN_BOOTC_INFO');
    t.regex(err!.message, message);
  }
});

/** A pool that fails the test's compose at the database: reaching it means the request passed every check. */
const noDatabase = { connect: () => Promise.reject(new Error('reached the database')) } as never;
const koji = { server: 'http://127.0.0.1:9/kojihub', task_id: 1, name: 'fedora-bootc', version: '42', release: '1' };
const request = (ir: Record<string, unknown>, top: Record<string, unknown> = {}) => ({ koji, image_requests: [{ architecture: 'x86_64', image_type: 'qcow2', repositories: [{ baseurl: 'http://127.0.0.1:9/r' }], ...ir }], ...top });

test('compose requests: bootc images name no distribution; bootc options are checked when the compose is created', async (t) => {
  const accepted = async (body: unknown) => t.is((await t.throwsAsync(createCompose(noDatabase, body)))!.message, 'reached the database');
  await accepted(request({ bootc: { ref: 'quay.io/fedora/fedora-bootc:42' } }));
  await accepted(request({ image_type: 'guest-image', bootc: { ref: 'quay.io/fedora/fedora-bootc:42', 'build-ref': 'quay.io/centos-bootc/centos-bootc:stream10', 'default-fs': 'xfs' } }));
  await accepted(request({ image_type: 'vsphere-ova', bootc: { ref: 'quay.io/fedora/fedora-bootc:42' } }));
  const refused = async (body: unknown, field: string, message?: RegExp) => {
    const err = await t.throwsAsync(createCompose(noDatabase, body));
    t.true(err instanceof InvalidInputError, err!.message);
    t.is((err as InvalidInputError).field, field, err!.message);
    if (message) t.regex(err!.message, message);
  };
  await refused(request({ bootc: { ref: 'quay.io/fedora/fedora-bootc:42' } }, { distribution: 'fedora-43' }), 'distribution', /must not be given with bootc images/);
  await refused(request({}), 'distribution', /is required/);
  await refused(request({ bootc: { ref: 'quay.io/x/y:1' }, image_type: 'minimal-raw' }), 'image_requests[0].image_type', /not a bootc image type; bootc images: ami, bootc-generic-iso, bootc-installer, gce, ova, qcow2, raw, vhd, vmdk/);
  await refused(request({ bootc: { ref: 'Quay.io/UPPER/Case' } }), 'image_requests[0].bootc.ref', /must be lowercase/);
  await refused(request({ bootc: { ref: 'quay.io/x/y:1', 'build-ref': 'a b' } }), 'image_requests[0].bootc.build-ref');
  await refused(request({ bootc: { ref: 'quay.io/x/y:1', 'installer-payload-ref': 'quay.io/x/z:1' } }), 'image_requests[0].bootc.installer-payload-ref', /applies to bootc ISO image types/);
  // bootc-installer: the payload is required, a build container is not taken, every ref must parse
  const installer = (bootc: Record<string, string>) => request({ image_type: 'bootc-installer', bootc });
  await accepted(installer({ ref: 'quay.io/x/anaconda:1', 'installer-payload-ref': 'quay.io/fedora/fedora-bootc:42', 'default-fs': 'ext4' }));
  await refused(installer({ ref: 'quay.io/x/anaconda:1' }), 'image_requests[0].bootc.installer-payload-ref', /is required: bootc-installer installs this bootable container/);
  await refused(installer({ ref: 'quay.io/x/anaconda:1', 'installer-payload-ref': 'quay.io/x/z:1', 'build-ref': 'quay.io/x/b:1' }), 'image_requests[0].bootc.build-ref', /installer container bootc\.ref is its build root/);
  await refused(installer({ ref: 'quay.io/x/anaconda:1', 'installer-payload-ref': 'Quay.io/X' }), 'image_requests[0].bootc.installer-payload-ref', /must be lowercase/);
  await refused(installer({ 'installer-payload-ref': 'quay.io/x/z:1' }), 'image_requests[0].bootc.ref', /is required/);
  await refused({ ...installer({ ref: 'quay.io/x/anaconda:1', 'installer-payload-ref': 'quay.io/x/z:1' }), image_requests: [{ ...installer({}).image_requests[0], architecture: 'ppc64le', bootc: { ref: 'quay.io/x/anaconda:1', 'installer-payload-ref': 'quay.io/x/z:1' } }] }, 'image_requests[0].architecture', /supported: aarch64, x86_64/);
  // the blueprint is checked when the compose is created: what the installer would drop is refused
  const both = { ref: 'quay.io/x/anaconda:1', 'installer-payload-ref': 'quay.io/x/z:1' };
  await refused({ ...installer(both), blueprint: { name: 'b', customizations: { installer: { 'sudo-nopasswd': ['alice'] } } } }, 'blueprint.customizations.installer.sudo-nopasswd', /is not applied by image type bootc-installer/);
  await refused({ ...installer(both), blueprint: { name: 'b', customizations: { user: [{ name: 'root', password: 'x' }] } } }, 'blueprint.customizations.user', /its kickstart locks root/);
  await accepted({ ...installer(both), blueprint: { name: 'b', customizations: { installer: { unattended: true, modules: { enable: ['org.fedoraproject.Anaconda.Modules.Localization'] } }, fips: true } } });
  // bootc-generic-iso: a payload may be given, a build container not, nor any customization
  const generic = (bootc: Record<string, string>, top: Record<string, unknown> = {}) => request({ image_type: 'bootc-generic-iso', bootc }, top);
  await accepted(generic({ ref: 'quay.io/x/live:1' }));
  await accepted(generic(both));
  await refused(generic({ ref: 'quay.io/x/live:1', 'build-ref': 'quay.io/x/b:1' }), 'image_requests[0].bootc.build-ref', /bootc\.ref is its build root/);
  await refused(generic({ ref: 'quay.io/x/live:1' }, { blueprint: { name: 'b', customizations: { user: [{ name: 'alice' }] } } }), 'blueprint.customizations.user');
  await refused(request({ bootc: { ref: 'quay.io/x/y:1', 'default-fs': 'f2fs' } }), 'image_requests[0].bootc.default-fs');
  await refused(request({ bootc: {} }), 'image_requests[0].bootc.ref');
  await refused(request({ bootc: { ref: 'quay.io/x/y:1' }, ostree: { ref: 'x' } }), 'image_requests[0].ostree');
  await refused(request({ bootc: { ref: 'quay.io/x/y:1' } }, { customizations: { packages: ['vim'] } }), 'customizations.packages');
  // image-builder ignores a blueprint's distro for bootc refs; Kiln refuses it rather than drop it
  await refused(request({ bootc: { ref: 'quay.io/x/y:1' } }, { blueprint: { name: 'b', distro: 'fedora-42' } }), 'blueprint.distro', /these are bootc images, whose distribution is their container's/);
  // a mixed compose: one image without bootc and no distribution
  const mixed = { koji, image_requests: [request({ bootc: { ref: 'quay.io/x/y:1' } }).image_requests[0], { architecture: 'x86_64', image_type: 'qcow2', repositories: [{ baseurl: 'http://127.0.0.1:9/r' }] }] };
  await refused(mixed, 'image_requests[1].bootc', /builds bootc images only/);
  // and a bootc type with a distribution of bootc-generic's own name but no bootc options
  await refused(request({}, { distribution: 'bootc-generic' }), 'image_requests[0].bootc.ref', /is required/);
});

test('end to end: the depsolve job pins and reads the container, the manifest builds on the stand-in (container parts real, bootc emulated)', async (t) => {
  const dir = path.join(scratch, 'e2e');
  const config = loadConfig({ env: {}, overrides: { state_dir: dir, depsolve: { solver: ZERO_SOLVER, timeout_seconds: 60 } } });
  const services = { config, log: silentLogger, depsolveCacheDir: path.join(dir, 'cache'), outputsDir: path.join(dir, 'out'), osbuildStoreDir: path.join(dir, 'store'), withKoji: () => Promise.reject(new Error('no koji')), close: async () => undefined } as never;
  const bootc = { ref: `${registry.host}/kiln/fedora-bootc:42`, 'build-ref': `${registry.host}/kiln/builder:1` };
  const args = { compose_id: 'c', image_build_id: 'i', distribution: 'bootc-generic', arch: 'x86_64', image_type: 'qcow2', bootc, seed: '5', definitions: imageCatalog().fingerprint, repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] };
  const result = (await depsolveJob.create(services)({ job: { args } as never, signal: new AbortController().signal, log: silentLogger, progress: async () => undefined, checkpoint: async () => undefined })) as DepsolveJobResult;
  t.deepEqual(result.package_sets, {});
  t.is(result.bootc!.container.digest, fedora.digest);
  t.is(result.bootc!.build_container!.digest, builder.digest);
  t.deepEqual(readdirSync(path.join(dir, 'tmp')), [], 'nothing left of the copies');

  const image = resolveImage('bootc-generic', 'x86_64', 'qcow2', undefined, { defaultFsType: result.bootc!.default_fs });
  const manifest = generateManifest({ image, seed: '5', packages: {}, bootc: result.bootc! });
  const run = await runOsbuild({ manifest, exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, 'out'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 120_000 });
  t.true(run.success, JSON.stringify(run.errors));
  for (const id of [fedora.imageId, builder.imageId]) t.true(existsSync(path.join(dir, 'store', 'sources', 'org.osbuild.containers', id, 'image', 'manifest.json')), 'pulled by the skopeo source');
  const log = readFileSync(run.logPath, 'utf8');
  t.regex(log, /Writing manifest to image destination/, 'container-deploy copied the image into containers-storage');
  t.regex(log, new RegExp(`bootc install to-filesystem --source-imgref dir:\\S+ --skip-fetch-check --generic-image --karg rw --karg console=tty0 --karg console=ttyS0 --target-imgref ${registry.host}/kiln/fedora-bootc:42 /run/osbuild/mounts`));
  t.regex(log, /no bootc binary here: the deployment is emulated/);
  t.is(path.basename(run.imagePath!), 'disk.qcow2', "the export's file");

  // raw: the disk is the file truncate made; the mount units written into it afterwards are not the export
  const rawImage = resolveImage('bootc-generic', 'x86_64', 'raw', undefined, { defaultFsType: result.bootc!.default_fs });
  const raw = await runOsbuild({ manifest: generateManifest({ image: rawImage, seed: '5', packages: {}, bootc: result.bootc! }), exportPipeline: rawImage.exportPipeline, exportFilename: rawImage.filename, outputDir: path.join(dir, 'out-raw'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 120_000 });
  t.true(raw.success, JSON.stringify(raw.errors));
  t.is(path.basename(raw.imagePath!), 'disk.raw');

  // what osbuild refuses, the stand-in refuses: two images for bootc install
  const two = structuredClone(manifest) as any;
  const install = two.pipelines.find((p: any) => p.name === 'image').stages.find((s: any) => s.type === 'org.osbuild.bootc.install-to-filesystem');
  install.inputs.images.references[builder.imageId] = { name: 'other' };
  const failed = await runOsbuild({ manifest: two, exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, 'out2'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 120_000 });
  t.false(failed.success);
  t.regex(readFileSync(failed.logPath, 'utf8'), /AssertionError/);
});

test('end to end: a bootc-installer ISO from the depsolve job through the stand-in: the payload an OCI layout in the ISO, the kickstart installing it', async (t) => {
  const dir = path.join(scratch, 'e2e-installer');
  const config = loadConfig({ env: {}, overrides: { state_dir: dir, depsolve: { solver: ZERO_SOLVER, timeout_seconds: 60 } } });
  const services = { config, log: silentLogger, depsolveCacheDir: path.join(dir, 'cache'), outputsDir: path.join(dir, 'out'), osbuildStoreDir: path.join(dir, 'store'), withKoji: () => Promise.reject(new Error('no koji')), close: async () => undefined } as never;
  const bootc = { ref: `${registry.host}/kiln/anaconda-bootc:42`, 'installer-payload-ref': `${registry.host}/kiln/fedora-bootc:42` };
  const args = { compose_id: 'c', image_build_id: 'i', distribution: 'bootc-generic', arch: 'x86_64', image_type: 'bootc-installer', bootc, seed: '5', definitions: imageCatalog().fingerprint, repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] };
  const result = (await depsolveJob.create(services)({ job: { args } as never, signal: new AbortController().signal, log: silentLogger, progress: async () => undefined, checkpoint: async () => undefined })) as DepsolveJobResult;
  t.deepEqual(result.package_sets, {});
  t.is(result.bootc!.kernel, '6.14.0-63.fc42.x86_64');
  t.is(result.bootc!.payload!.digest, fedora.digest);

  const image = resolveImage('bootc-generic', 'x86_64', 'bootc-installer', undefined, { defaultFsType: result.bootc!.default_fs });
  const manifest = generateManifest({ image, seed: '5', packages: {}, bootc: result.bootc!, blueprint: { customizations: { user: [{ name: 'alice', password: 'secret' }] } } });
  const run = await runOsbuild({ manifest, exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, 'out'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 120_000 });
  t.true(run.success, JSON.stringify(run.errors));
  for (const id of [anaconda.imageId, fedora.imageId]) t.true(existsSync(path.join(dir, 'store', 'sources', 'org.osbuild.containers', id, 'image', 'manifest.json')), 'pulled by the skopeo source');
  const iso = run.imagePath!;
  t.is(path.basename(iso), 'install.iso');
  const xorriso = (...a: string[]) => execFileSync('xorriso', ['-indev', iso, ...a], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  t.regex(xorriso('-pvd_info'), /Volume Id\s+: Fedora-S-dvd-x86_64-42/);
  const files = xorriso('-find', '/', '-type', 'f');
  for (const f of ['/container/index.json', '/container/oci-layout', '/osbuild.ks', '/osbuild-base.ks', '/images/install.img', '/images/pxeboot/vmlinuz', '/images/efiboot.img', '/.discinfo']) t.true(files.includes(`'${f}'`), `${f} in the ISO`);
  const out = path.join(dir, 'iso');
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', out], { stdio: 'ignore' });
  t.is(readFileSync(path.join(out, 'osbuild.ks'), 'utf8'), '%include /run/install/repo/osbuild-base.ks\n\nautopart --nohome --type=plain --fstype=xfs\n\nreboot --eject\n');
  const ks = readFileSync(path.join(out, 'osbuild-base.ks'), 'utf8');
  t.regex(ks, /^ostreecontainer --url=\/run\/install\/repo\/container --transport=oci$/m);
  t.regex(ks, new RegExp(`^bootc switch --mutate-in-place --transport registry ${registry.host}/kiln/fedora-bootc:42$`, 'm'));
  t.regex(ks, /^user --name alice --password \$6\$/m);
  // the payload in the ISO is the pinned image: skopeo reads it back
  const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${path.join(out, 'container')}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
  t.is(inspected.Layers.length, BOOTC_LAYERS.length);
  t.is(spawnSync('checkisomd5', [iso]).status, 0, 'the checksum is implanted');
});

test("end to end: a bootc-generic-iso from the depsolve job through the stand-in: the container's tree squashed, its iso.yaml's label", async (t) => {
  const dir = path.join(scratch, 'e2e-generic');
  const config = loadConfig({ env: {}, overrides: { state_dir: dir, depsolve: { solver: ZERO_SOLVER, timeout_seconds: 60 } } });
  const services = { config, log: silentLogger, depsolveCacheDir: path.join(dir, 'cache'), outputsDir: path.join(dir, 'out'), osbuildStoreDir: path.join(dir, 'store'), withKoji: () => Promise.reject(new Error('no koji')), close: async () => undefined } as never;
  const bootc = { ref: `${registry.host}/kiln/live:1`, 'installer-payload-ref': `${registry.host}/kiln/fedora-bootc:42` };
  const args = { compose_id: 'c', image_build_id: 'i', distribution: 'bootc-generic', arch: 'x86_64', image_type: 'bootc-generic-iso', bootc, seed: '5', definitions: imageCatalog().fingerprint, repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] };
  const result = (await depsolveJob.create(services)({ job: { args } as never, signal: new AbortController().signal, log: silentLogger, progress: async () => undefined, checkpoint: async () => undefined })) as DepsolveJobResult;
  t.is(result.bootc!.iso!.label, 'KILN-LIVE');
  const image = resolveImage('bootc-generic', 'x86_64', 'bootc-generic-iso', undefined, { defaultFsType: result.bootc!.default_fs });
  const manifest = generateManifest({ image, seed: '5', packages: {}, bootc: result.bootc! });
  const run = await runOsbuild({ manifest, exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, 'out'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 120_000 });
  t.true(run.success, JSON.stringify(run.errors));
  const log = readFileSync(run.logPath, 'utf8');
  t.regex(log, /Writing manifest to image destination/, 'the payload copied into the tree\'s containers-storage');
  const iso = run.imagePath!;
  const xorriso = (...a: string[]) => execFileSync('xorriso', ['-indev', iso, ...a], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  t.regex(xorriso('-pvd_info'), /Volume Id\s+: KILN-LIVE/);
  const files = xorriso('-find', '/', '-type', 'f');
  for (const f of ['/LiveOS/squashfs.img', '/images/pxeboot/vmlinuz', '/images/pxeboot/initrd.img', '/images/efiboot.img', '/.discinfo']) t.true(files.includes(`'${f}'`), `${f} in the ISO`);
  t.false(files.includes("'/osbuild.ks'"), 'no kickstart: not an installer');
  t.is(spawnSync('checkisomd5', [iso]).status, 0);
});

/** "10 GiB" → bytes (upstream's datasizes). */
function bytesOf(s: string | number): number {
  if (typeof s === 'number') return s;
  const m = /^\s*(\d+)\s*(B|KiB|MiB|GiB|TiB)?\s*$/.exec(s)!;
  return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(m[2] ?? 'B');
}

test("golden: the bootc types equal osbuild/images' bootc-generic definitions but for the differences listed in DIFFERENCES.yaml (bootc)", (t) => {
  const dir = process.env.KILN_UPSTREAM_DEFS ?? findReference('upstream/images-distrodefs');
  const file = dir && path.join(dir, 'bootc-generic', 'imagetypes.yaml');
  if (!file || !existsSync(file)) {
    t.log('skipped: shared/reference/upstream/images-distrodefs/bootc-generic is not here');
    t.pass();
    return;
  }
  const upstream = YAML.parse(readFileSync(file, 'utf8'), { merge: true, maxAliasCount: -1 }) as { image_types: Record<string, any> };
  const listed = (YAML.parse(readFileSync(path.join(builtinDefinitionsDir, 'DIFFERENCES.yaml'), 'utf8')) as { bootc: { where: string; field: string; reason: string }[] }).bootc;
  const differences: { where: string; field: string; kiln: unknown; upstream: unknown }[] = [];
  const differ = (where: string, field: string, kiln: unknown, up: unknown) => {
    if (JSON.stringify(kiln) !== JSON.stringify(up)) differences.push({ where, field, kiln, upstream: up });
  };
  let compared = 0;
  for (const [name, u] of Object.entries(upstream.image_types)) {
    if (name.startsWith('.')) continue;
    let image;
    try {
      image = resolveImage('bootc-generic', 'x86_64', name);
    } catch {
      differences.push({ where: name, field: 'offered', kiln: false, upstream: u.image_func });
      continue;
    }
    const iso = (u.image_func === 'bootc_iso' && image.kind === 'bootc_installer') || (u.image_func === 'bootc_generic_iso' && image.kind === 'bootc_generic_iso');
    if (u.image_func !== 'bootc_disk' && !iso) {
      differences.push({ where: name, field: 'offered', kiln: image.kind, upstream: u.image_func });
      continue;
    }
    // upstream's bootc types are for whatever architecture the container is
    const arches = ['x86_64', 'aarch64', 'ppc64le', 's390x'].filter((a) => {
      try {
        return resolveImage('bootc-generic', a, name).name === name;
      } catch {
        return false;
      }
    });
    differ(name, 'arches', arches, ['x86_64', 'aarch64', 'ppc64le', 's390x']);
    if (iso) {
      differ(name, 'filename', image.filename, u.filename);
      differ(name, 'mime_type', image.mimeType, u.mime_type);
      differ(name, 'exports', [image.exportPipeline], u.exports);
      differ(name, 'boot_iso', image.bootIso, u.boot_iso);
      differ(name, 'supported_options', [...(image.supportedCustomizations ?? [])].sort(), [...u.blueprint.supported_options].sort());
      compared++;
      continue;
    }
    differ(name, 'filename', image.filename, u.filename);
    differ(name, 'mime_type', image.mimeType, u.mime_type);
    differ(name, 'exports', [image.exportPipeline], u.exports);
    differ(name, 'default_size', image.defaultSize, bytesOf(u.default_size));
    differ(name, 'aliases', [...image.aliases].sort(), [...(u.name_aliases ?? [])].sort());
    differ(name, 'required_directory_sizes', image.requiredDirectorySizes, Object.fromEntries(Object.entries(u.required_partition_sizes).map(([k, v]) => [k, bytesOf(v as string)])));
    differ(name, 'image_config.kernel_options', image.imageConfig.kernel_options, u.image_config.kernel_options);
    differ(name, 'supported_options', [...(image.supportedCustomizations ?? [])].sort(), [...u.blueprint.supported_options].sort());
    for (const [arch, table] of Object.entries(u.partition_table as Record<string, any>)) {
      const pt = resolveImage('bootc-generic', arch, name).partitionTable!;
      differ(`${name}/${arch}`, 'partition_table.type', pt.type, table.type);
      const mine = pt.partitions.map((p) => {
        const fs = p.payload?.kind === 'filesystem' ? p.payload : undefined;
        return { size: p.size, type: String(p.type).toUpperCase(), bootable: !!p.bootable, ...(fs ? { mountpoint: fs.mountpoint, label: fs.label, fstab: fs.fstabOptions, passno: fs.fstabPassno, ...(fs.mountpoint === '/boot/efi' ? { fs: fs.type } : {}) } : {}) };
      });
      const theirs = (table.partitions as any[]).map((p) => ({
        size: bytesOf(p.size),
        type: String(p.type).toUpperCase(),
        bootable: !!p.bootable,
        ...(p.payload ? { mountpoint: p.payload.mountpoint, label: p.payload.label, fstab: p.payload.fstab_options, passno: p.payload.fstab_passno ?? 0, ...(p.payload.mountpoint === '/boot/efi' ? { fs: p.payload.type } : {}) } : {}),
      }));
      differ(`${name}/${arch}`, 'partition_table.partitions', mine, theirs);
    }
    compared++;
  }
  const glob = (p: string) => new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const used = new Set<object>();
  for (const d of differences) {
    const entry = listed.find((l) => l.field === d.field && glob(l.where).test(d.where));
    if (entry) used.add(entry);
    else t.fail(`${d.where} ${d.field}: Kiln ${JSON.stringify(d.kiln)} — upstream ${JSON.stringify(d.upstream)}`);
  }
  for (const l of listed) {
    t.true(l.reason.length > 20, `${l.where} ${l.field}: a reason`);
    t.true(used.has(l), `DIFFERENCES.yaml bootc: ${l.where} ${l.field} matches no difference any more`);
  }
  t.is(compared, 9);
  t.log(`${compared} bootc types compared; ${differences.length} differences, all listed`);
});
