/**
 * bootc disk images: the image request's `bootc` options checked when a compose is created,
 * the bootable container resolved and read from a real registry on loopback (Debian's
 * docker-registry, real skopeo; the registry marked insecure in a registries.conf, as an admin
 * would for an internal one), the manifest for every bootc type as osbuild/images makes it and
 * valid against osbuild's schemas, and the depsolve job → manifest → osbuild stand-in path
 * (real skopeo sources and containers-storage copies; no bootc or podman here: emulated).
 */
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { Blueprint } from '../src/blueprint/index.js';
import { ContainerResolveError, resolveBootc, type BootcInfo } from '../src/containers/index.js';
import { mergeInstallConfig, parseOsRelease } from '../src/containers/bootc-info.js';
import { createCompose } from '../src/compose/index.js';
import { InvalidInputError, KilnError } from '../src/errors.js';
import { builtinDefinitionsDir, generateManifest, imageCatalog, kojiFilename, packageRequests, resolveImage, runOsbuild, type Manifest, type ManifestStage } from '../src/osbuild/index.js';
import { depsolveJob, type DepsolveJobResult } from '../src/jobs/depsolve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { ARCHIVE_TYPES } from '../src/koji/archive-types.js';
import { BOOTC_LAYERS, bootcInfo, BUILD_CONTAINER, insecureRegistrySkopeo, OS_RELEASE } from './helpers/bootc.js';
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
  await refused(request({ bootc: { ref: 'quay.io/x/y:1' }, image_type: 'minimal-raw' }), 'image_requests[0].image_type', /not a bootc image type; bootc images: ami, gce, ova, qcow2, raw, vhd, vmdk/);
  await refused(request({ bootc: { ref: 'Quay.io/UPPER/Case' } }), 'image_requests[0].bootc.ref', /must be lowercase/);
  await refused(request({ bootc: { ref: 'quay.io/x/y:1', 'build-ref': 'a b' } }), 'image_requests[0].bootc.build-ref');
  await refused(request({ bootc: { ref: 'quay.io/x/y:1', 'installer-payload-ref': 'quay.io/x/z:1' } }), 'image_requests[0].bootc.installer-payload-ref', /bootc installer image types/);
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
    if (u.image_func !== 'bootc_disk') {
      differences.push({ where: name, field: 'offered', kiln: image.kind, upstream: u.image_func });
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
  t.is(compared, 7);
  t.log(`${compared} bootc types compared; ${differences.length} differences, all listed`);
});
