/**
 * Installer ISOs and PXE trees (issue 17): pipelines and stages as osbuild/images emits them,
 * checked against osbuild's own bootiso test manifest where both have the same pipelines, the
 * blueprint's installer options in the kickstart, and refusals naming the field for what a kind
 * does not apply. The ostree installers (iot-installer, edge-installer, the Atomic installers):
 * the commit pulled by checksum into the ISO or the installer's root, ostreesetup, and where
 * their commit comes from in a compose.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { planCompose } from '../src/compose/create.js';
import { InvalidInputError, KilnError } from '../src/errors.js';
import { generateManifest, ostreePlan, packageRequests, resolveImage, type Manifest, type ManifestStage } from '../src/osbuild/index.js';
import type { Blueprint } from '../src/blueprint/index.js';
import { findReference } from './helpers/reference.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';
import { validateManifest } from './osbuild-standin/validate.js';

/** The commit an ostree installer installs, as the depsolve job resolves it. */
const COMMIT = (ref: string) => ({ url: 'https://ostree.example.test/repo', ref, checksum: 'c'.repeat(64) });

function build(distro: string, arch: string, type: string, blueprint?: Blueprint): Manifest {
  const image = resolveImage(distro, arch, type);
  const ostree = image.kind === 'ostree_installer';
  const input = { image, seed: '17', ...(blueprint ? { blueprint } : {}), ...(ostree ? { ostree: { url: COMMIT('').url } } : {}) };
  return generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), arch), ...(ostree ? { ostreeCommits: { payload: COMMIT(image.ostree!.ref!) } } : {}) });
}

const names = (m: { pipelines: { name: string }[] }) => m.pipelines.map((p) => p.name);
const pipeline = (m: Manifest, name: string) => m.pipelines.find((p) => p.name === name)!;
const types = (m: { pipelines: { name: string; stages: { type: string }[] }[] }, p: string) => m.pipelines.find((x) => x.name === p)!.stages.map((s) => s.type);
const stage = (m: Manifest, p: string, type: string): ManifestStage | undefined => pipeline(m, p).stages.find((s) => s.type === type);
const opts = (m: Manifest, p: string, type: string) => stage(m, p, type)?.options as Record<string, any>;
const field = (err: unknown) => (err as InvalidInputError).field;

type TestManifest = { pipelines: { name: string; stages: { type: string; options?: any; inputs?: any }[] }[] };

/** osbuild's own bootiso test manifest (an ostree commit installed from the ISO), when the references are here. */
function bootisoReference(): TestManifest | undefined {
  const file = findReference('upstream/osbuild-test-manifests/fedora-ostree-bootiso.json');
  return file ? (JSON.parse(readFileSync(file, 'utf8')) as TestManifest) : undefined;
}

const PAYLOAD = new Set(['org.osbuild.tar', 'org.osbuild.ostree.init', 'org.osbuild.ostree.pull', 'org.osbuild.kickstart']);

test("the ISO pipelines in osbuild's bootiso test manifest's order, stage for stage (payload aside)", (t) => {
  const theirs = bootisoReference();
  if (!theirs) {
    t.log('skipped: shared/reference/upstream/osbuild-test-manifests/fedora-ostree-bootiso.json is not here');
    t.pass();
    return;
  }
  // RHEL 9 x86_64: isolinux for BIOS and an ext4 root in the squashfs, as that manifest has
  const ours = build('rhel-9.6', 'x86_64', 'image-installer');
  const iso = ['anaconda-tree', 'rootfs-image', 'efiboot-tree', 'bootiso-tree', 'bootiso'];
  t.deepEqual(names(ours).filter((n) => iso.includes(n)), names(theirs).filter((n) => iso.includes(n)));
  for (const p of ['rootfs-image', 'efiboot-tree', 'bootiso']) t.deepEqual(types(ours, p), types(theirs, p), p);
  const noPayload = (m: typeof theirs, p: string) => types(m, p).filter((x) => !PAYLOAD.has(x));
  t.deepEqual(noPayload(ours, 'bootiso-tree'), noPayload(theirs, 'bootiso-tree'));
  // the payload (a tarball here, an ostree repository there) ends with its kickstart, before .discinfo
  for (const m of [ours, theirs]) t.deepEqual(types(m, 'bootiso-tree').slice(-2), ['org.osbuild.kickstart', 'org.osbuild.discinfo']);
  // anaconda-tree: the same stages; Kiln keeps osbuild/images' order (dracut after the templates that shape the initrd)
  t.deepEqual([...new Set(types(ours, 'anaconda-tree'))].filter((x) => types(theirs, 'anaconda-tree').includes(x)).sort(), [...new Set(types(theirs, 'anaconda-tree'))].sort());

  const their = (p: string, type: string) => theirs.pipelines.find((x) => x.name === p)!.stages.find((s) => s.type === type)!;
  t.deepEqual(opts(ours, 'anaconda-tree', 'org.osbuild.users'), their('anaconda-tree', 'org.osbuild.users').options);
  t.is(opts(ours, 'rootfs-image', 'org.osbuild.mkfs.ext4').label, their('rootfs-image', 'org.osbuild.mkfs.ext4').options.label);
  t.deepEqual(stage(ours, 'bootiso-tree', 'org.osbuild.squashfs')!.inputs, their('bootiso-tree', 'org.osbuild.squashfs').inputs);
  t.is(opts(ours, 'bootiso-tree', 'org.osbuild.squashfs').filename, their('bootiso-tree', 'org.osbuild.squashfs').options.filename);
  t.deepEqual(stage(ours, 'bootiso-tree', 'org.osbuild.isolinux')!.inputs, their('bootiso-tree', 'org.osbuild.isolinux').inputs);
  const x = opts(ours, 'bootiso', 'org.osbuild.xorrisofs');
  const y = their('bootiso', 'org.osbuild.xorrisofs').options;
  for (const k of ['boot', 'efi', 'isohybridmbr']) t.deepEqual(x[k], y[k], `xorrisofs ${k}`);
  t.deepEqual(opts(ours, 'bootiso-tree', 'org.osbuild.copy').paths.map((p: any) => p.to), their('bootiso-tree', 'org.osbuild.copy').options.paths.map((p: any) => p.to));
  t.deepEqual(Object.keys(opts(ours, 'efiboot-tree', 'org.osbuild.grub2.iso')).filter((k) => k in their('efiboot-tree', 'org.osbuild.grub2.iso').options).sort(), Object.keys(their('efiboot-tree', 'org.osbuild.grub2.iso').options).sort());
});

test('every installer and PXE type: a manifest osbuild\'s schemas accept', (t) => {
  const cases: [string, string, string][] = [
    ['fedora-43', 'x86_64', 'minimal-installer'],
    ['fedora-45', 'aarch64', 'image-installer'],
    ['fedora-43', 'x86_64', 'workstation-live-installer'],
    ['fedora-44', 'x86_64', 'everything-network-installer'],
    ['fedora-42', 'aarch64', 'server-network-installer'],
    ['fedora-43', 'x86_64', 'pxe-tar-xz'],
    ['rhel-9.6', 'x86_64', 'image-installer'],
    ['rhel-9.8', 'aarch64', 'network-installer'],
    ['centos-10', 'x86_64', 'network-installer'],
    ['rhel-10.1', 'aarch64', 'pxe-tar-xz'],
    ['fedora-43', 'x86_64', 'iot-installer'],
    ['fedora-45', 'aarch64', 'iot-installer'],
    ['rhel-9.6', 'x86_64', 'edge-installer'],
    ['centos-9', 'aarch64', 'edge-installer'],
    ['fedora-44', 'x86_64', 'sway-atomic-installer'],
    ['fedora-45', 'aarch64', 'cosmic-atomic-installer'],
  ];
  for (const [d, a, ty] of cases) {
    const res = validateManifest(build(d, a, ty));
    t.true(res.success, `${d} ${a} ${ty}: ${JSON.stringify(res.errors.slice(0, 3))}`);
  }
});

test('image installer: the os tree as a tarball with a liveimg kickstart; boot menu and labels from the definition', (t) => {
  const m = build('fedora-43', 'x86_64', 'minimal-installer');
  t.deepEqual(names(m), ['build', 'anaconda-tree', 'efiboot-tree', 'os', 'bootiso-tree', 'bootiso']);
  const label = 'Fedora-43-Unknown-x86_64';
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.tar'), { filename: '/liveimg.tar.gz' });
  t.deepEqual(stage(m, 'bootiso-tree', 'org.osbuild.tar')!.inputs, { tree: { type: 'org.osbuild.tree', origin: 'org.osbuild.pipeline', references: ['name:os'] } });
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.kickstart'), { path: '/osbuild.ks', liveimg: { url: 'file:///run/install/repo/liveimg.tar.gz' } });
  const grub = opts(m, 'efiboot-tree', 'org.osbuild.grub2.iso');
  t.deepEqual(grub.kernel, { dir: '/images/pxeboot', opts: [`inst.stage2=hd:LABEL=${label}`, `inst.ks=hd:LABEL=${label}:/osbuild.ks`] });
  t.is(grub.isolabel, label);
  t.deepEqual(grub.architectures, ['X64', 'IA32']);
  t.deepEqual(grub.config, { default: 1 });
  // Fedora x86_64 boots BIOS machines through grub2's El Torito image
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.grub2.inst'), { filename: 'images/eltorito.img', platform: 'i386-pc', core: { type: 'mkimage', partlabel: 'gpt', filesystem: 'iso9660' }, prefix: { path: '/boot/grub2' } });
  const x = opts(m, 'bootiso', 'org.osbuild.xorrisofs');
  t.like(x, { filename: 'installer.iso', volid: label, sysid: 'LINUX', isolevel: 3, efi: 'images/efiboot.img', grub2mbr: '/usr/lib/grub/i386-pc/boot_hybrid.img', prep: 'image-builder - https://osbuild.org/', pub: 'Fedora Project' });
  t.deepEqual(x.boot, { image: 'images/eltorito.img', catalog: 'boot.cat' });
  t.deepEqual(opts(m, 'bootiso', 'org.osbuild.implantisomd5'), { filename: 'installer.iso' });
  t.like(opts(m, 'anaconda-tree', 'org.osbuild.buildstamp'), { arch: 'x86_64', product: 'Fedora', version: '43', final: true, variant: 'Unknown' });
  t.deepEqual(opts(m, 'anaconda-tree', 'org.osbuild.anaconda'), {
    'activatable-modules': ['org.fedoraproject.Anaconda.Modules.Network', 'org.fedoraproject.Anaconda.Modules.Payloads', 'org.fedoraproject.Anaconda.Modules.Runtime', 'org.fedoraproject.Anaconda.Modules.Storage', 'org.fedoraproject.Anaconda.Modules.Users'],
  });
  const lorax = pipeline(m, 'anaconda-tree').stages.filter((s) => s.type === 'org.osbuild.lorax-script').map((s) => (s.options as any).path);
  t.deepEqual(lorax, ['99-generic/runtime-postinstall.tmpl', '99-generic/runtime-cleanup.tmpl']);
  // the cleanup template runs after dracut made the initrd
  const at = types(m, 'anaconda-tree');
  t.true(at.indexOf('org.osbuild.dracut') < at.lastIndexOf('org.osbuild.lorax-script') && at.indexOf('org.osbuild.dracut') > at.indexOf('org.osbuild.lorax-script'));
  const dracut = opts(m, 'anaconda-tree', 'org.osbuild.dracut');
  t.deepEqual(dracut.kernel, ['1.0-1.fc43.x86_64']);
  t.deepEqual(dracut.add_modules, ['pollcdrom', 'qemu', 'qemu-net', 'net-lib', 'dbus-broker', 'biosdevname', 'fips', 'anaconda', 'prefixdevname-tools']);
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.copy').paths.slice(0, 2), [
    { from: 'input://tree/boot/vmlinuz-1.0-1.fc43.x86_64', to: 'tree:///images/pxeboot/vmlinuz' },
    { from: 'input://tree/boot/initramfs-1.0-1.fc43.x86_64.img', to: 'tree:///images/pxeboot/initrd.img' },
  ]);
  t.like(opts(m, 'bootiso-tree', 'org.osbuild.squashfs'), { filename: 'images/install.img', compression: { method: 'xz', options: { bcj: 'x86' } } });
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.discinfo'), { basearch: 'x86_64', release: 'Fedora 43' });
  // Fedora 45: the EFI image is left out of the ISO's file tree (upstream's exclude)
  t.deepEqual(opts(build('fedora-45', 'x86_64', 'minimal-installer'), 'bootiso', 'org.osbuild.xorrisofs').exclude, ['efiboot.img']);
  // aarch64: UEFI only, no BIOS boot stages
  const arm = build('fedora-43', 'aarch64', 'minimal-installer');
  t.false(types(arm, 'bootiso-tree').some((x) => x.startsWith('org.osbuild.grub2.')));
  t.is(opts(arm, 'bootiso', 'org.osbuild.xorrisofs').boot, undefined);
  t.deepEqual(opts(arm, 'efiboot-tree', 'org.osbuild.grub2.iso').architectures, ['AA64']);
});

test('package sets: the installer tree gets boot loaders, platform and installer packages; the build root the ISO tools', (t) => {
  const image = resolveImage('rhel-9.6', 'x86_64', 'image-installer');
  const r = packageRequests({ image, seed: '1' });
  t.deepEqual(Object.keys(r).sort(), ['anaconda-tree', 'build', 'os']);
  const tree = r['anaconda-tree'][0];
  for (const p of ['anaconda', 'grub2-efi-x64-cdboot', 'syslinux', 'syslinux-nonlinux', 'biosdevname', 'shim-x64', 'iwl6050-firmware']) t.true(tree.include.includes(p), p);
  t.true(tree.install_weak_deps);
  const build = r.build[0].include;
  for (const p of ['lorax-templates-rhel', 'xorriso', 'isomd5sum', 'squashfs-tools', 'e2fsprogs', 'dosfstools', 'tar', 'shadow-utils', 'syslinux']) t.true(build.includes(p), p);
  // boot.iso and the live image install no os tree
  t.deepEqual(Object.keys(packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'everything-network-installer'), seed: '1' })).sort(), ['anaconda-tree', 'build']);
  const net = packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'everything-network-installer'), seed: '1' });
  t.false(net['anaconda-tree'][0].install_weak_deps);
  t.true(net.build[0].include.includes('erofs-utils'));
  t.false(net.build[0].include.includes('squashfs-tools'));
  t.true(net.build[0].include.includes('grub2-pc-modules'));
  const live = packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'workstation-live-installer'), seed: '1' });
  t.true(live['anaconda-tree'][0].include.includes('selinux-policy-targeted'));
  t.true(live['anaconda-tree'][0].include.includes('anaconda-webui'));
  t.true(live.build[0].include.includes('policycoreutils'));
});

test('network installer: no payload, no anaconda module stage, erofs root on Fedora; a kickstart only when asked', (t) => {
  const m = build('fedora-43', 'x86_64', 'everything-network-installer');
  t.deepEqual(names(m), ['build', 'anaconda-tree', 'efiboot-tree', 'bootiso-tree', 'bootiso']);
  t.is(stage(m, 'anaconda-tree', 'org.osbuild.anaconda'), undefined);
  t.is(stage(m, 'bootiso-tree', 'org.osbuild.kickstart'), undefined);
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.erofs'), {
    filename: 'images/install.img',
    compression: { method: 'lzma', level: 6 },
    options: ['fragments'],
    'cluster-size': 1048576,
    exclude_paths: opts(m, 'bootiso-tree', 'org.osbuild.erofs').exclude_paths,
  });
  // the legal files the type copies into the ISO
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.copy').paths.slice(2), [
    { from: 'input://tree/usr/share/licenses/fedora-release-common/Fedora-Legal-README.txt', to: 'tree:///Fedora-Legal-README.txt' },
    { from: 'input://tree/usr/share/licenses/fedora-release-common/LICENSE', to: 'tree:///LICENSE' },
  ]);
  t.deepEqual(opts(m, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel.opts, ['inst.stage2=hd:LABEL=Fedora-43-Everything-x86_64']);
  t.is(opts(m, 'anaconda-tree', 'org.osbuild.locale').language, 'C.UTF-8');
  const withUser = build('fedora-43', 'x86_64', 'everything-network-installer', { customizations: { user: [{ name: 'alice', key: 'ssh-ed25519 AAAA' }] } });
  t.deepEqual(opts(withUser, 'bootiso-tree', 'org.osbuild.kickstart'), { path: '/osbuild.ks', users: { alice: { key: 'ssh-ed25519 AAAA' } } });
  t.deepEqual(opts(withUser, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel.opts, ['inst.stage2=hd:LABEL=Fedora-43-Everything-x86_64', 'inst.ks=hd:LABEL=Fedora-43-Everything-x86_64:/osbuild.ks']);
  // RHEL 9: isolinux, ext4 root image; RHEL 10: grub2, plain squashfs; 9.7 and later a FIPS menu
  t.true(names(build('centos-9', 'x86_64', 'network-installer')).includes('rootfs-image'));
  t.true(types(build('centos-10', 'x86_64', 'network-installer'), 'bootiso-tree').includes('org.osbuild.grub2.iso.legacy'));
  t.true(opts(build('rhel-9.8', 'x86_64', 'network-installer'), 'bootiso-tree', 'org.osbuild.isolinux').fips);
  t.false(opts(build('rhel-9.6', 'x86_64', 'network-installer'), 'bootiso-tree', 'org.osbuild.isolinux').fips);
});

test('live installer: the tree is the live system: livesys, SELinux labels, LiveOS squashfs, root=live kernel options', (t) => {
  const m = build('fedora-43', 'x86_64', 'workstation-live-installer');
  t.deepEqual(names(m), ['build', 'anaconda-tree', 'efiboot-tree', 'bootiso-tree', 'bootiso']);
  t.deepEqual(opts(m, 'anaconda-tree', 'org.osbuild.users'), { users: { root: { password: '' } } });
  t.deepEqual(opts(m, 'anaconda-tree', 'org.osbuild.systemd'), { enabled_services: ['livesys.service', 'livesys-late.service'] });
  t.is(stage(m, 'anaconda-tree', 'org.osbuild.anaconda'), undefined);
  t.deepEqual(opts(m, 'anaconda-tree', 'org.osbuild.selinux'), { file_contexts: 'etc/selinux/targeted/contexts/files/file_contexts' });
  t.is(stage(m, 'anaconda-tree', 'org.osbuild.rpm')!.options!.exclude, undefined, 'documentation stays in a live system');
  const dracut = opts(m, 'anaconda-tree', 'org.osbuild.dracut');
  t.deepEqual(dracut.add_modules, ['pollcdrom', 'qemu', 'qemu-net', 'biosdevname', 'livenet', 'dmsquash-live', 'convertfs']);
  t.deepEqual(dracut.extra, ['--xz']);
  t.is(opts(m, 'bootiso-tree', 'org.osbuild.squashfs').filename, 'LiveOS/squashfs.img');
  t.deepEqual(opts(m, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel.opts, ['root=live:CDLABEL=Fedora-43-Workstation-x86_64', 'rd.live.image', 'quiet', 'rhgb']);
  t.is(opts(m, 'anaconda-tree', 'org.osbuild.locale').language, 'en_US.UTF-8');
  t.is(opts(m, 'bootiso', 'org.osbuild.xorrisofs').filename, 'live-installer.iso');
});

test('blueprint installer options: unattended, sudo-nopasswd, modules, users; kickstart text included after Kiln\'s', (t) => {
  const bp: Blueprint = {
    customizations: {
      user: [{ name: 'alice', password: 'secret', groups: ['wheel'] }],
      group: [{ name: 'ops', gid: 2000 }],
      installer: { unattended: true, 'sudo-nopasswd': ['alice', '%wheel', 'alice'], modules: { enable: ['org.fedoraproject.Anaconda.Modules.Timezone'], disable: ['org.fedoraproject.Anaconda.Modules.Network'] } },
      kernel: { append: 'console=ttyS0' },
      locale: { languages: ['de_DE.UTF-8'], keyboard: 'de' },
    },
  };
  const m = build('fedora-43', 'x86_64', 'minimal-installer', bp);
  const ks = opts(m, 'bootiso-tree', 'org.osbuild.kickstart');
  t.like(ks, { path: '/osbuild.ks', lang: 'de_DE.UTF-8', keyboard: 'de', timezone: 'UTC', display_mode: 'text', zerombr: true, rootpw: { lock: true }, reboot: { eject: true } });
  t.deepEqual(ks.autopart, { type: 'plain', fstype: 'xfs', nohome: true });
  t.deepEqual(Object.keys(ks.users), ['alice']);
  t.regex(ks.users.alice.password, /^\$6\$/);
  t.deepEqual(ks.groups, { ops: { gid: 2000 } });
  t.deepEqual(ks['%post'][0].commands, [
    'echo -e "%wheel\\tALL=(ALL)\\tNOPASSWD: ALL" > "/etc/sudoers.d/%wheel"',
    'chmod 0440 /etc/sudoers.d/%wheel',
    'echo -e "alice\\tALL=(ALL)\\tNOPASSWD: ALL" > "/etc/sudoers.d/alice"',
    'chmod 0440 /etc/sudoers.d/alice',
    'restorecon -rvF /etc/sudoers.d',
  ]);
  const mods = opts(m, 'anaconda-tree', 'org.osbuild.anaconda')['activatable-modules'] as string[];
  t.true(mods.includes('org.fedoraproject.Anaconda.Modules.Timezone'));
  t.false(mods.includes('org.fedoraproject.Anaconda.Modules.Network'));
  // unattended: the definition's text-mode options first, then the image's and the blueprint's
  t.deepEqual(opts(m, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel.opts.slice(2), ['inst.text', 'inst.noninteractive', 'console=ttyS0']);
  // users go into the kickstart, not into the payload
  t.is(stage(m, 'os', 'org.osbuild.users'), undefined);

  const own = build('fedora-43', 'x86_64', 'minimal-installer', { customizations: { installer: { kickstart: { contents: 'text --non-interactive\nreboot\n' } } } });
  t.is(opts(own, 'bootiso-tree', 'org.osbuild.kickstart').path, '/osbuild-base.ks');
  const copy = pipeline(own, 'bootiso-tree').stages.filter((s) => s.type === 'org.osbuild.copy').at(-1)!;
  t.deepEqual((copy.options as any).paths.map((p: any) => p.to), ['tree:///osbuild.ks']);
  const id = Object.values(copy.inputs as Record<string, any>)[0].references[0].id as string;
  t.is(Buffer.from((own.sources['org.osbuild.inline'] as any).items[id].data, 'base64').toString(), '%include /run/install/repo/osbuild-base.ks\ntext --non-interactive\nreboot\n');
  // FIPS: the installer boots with fips=1 and activates anaconda's Security module
  const fips = build('rhel-9.6', 'x86_64', 'image-installer', { customizations: { fips: true } });
  t.true(opts(fips, 'bootiso-tree', 'org.osbuild.isolinux').kernel.opts.includes('fips=1'));
  t.true(opts(fips, 'anaconda-tree', 'org.osbuild.anaconda')['activatable-modules'].includes('org.fedoraproject.Anaconda.Modules.Security'));
});

test('installer options a kind does not apply, and conflicting ones, are refused naming the field', (t) => {
  const refuse = (d: string, ty: string, bp: Blueprint, f: string) => {
    const err = t.throws(() => build(d, 'x86_64', ty, bp), { instanceOf: InvalidInputError });
    t.is(field(err), f, `${ty} ${JSON.stringify(bp)}`);
  };
  refuse('fedora-43', 'workstation-live-installer', { customizations: { installer: { unattended: true } } }, 'blueprint.customizations.installer.unattended');
  refuse('fedora-43', 'workstation-live-installer', { customizations: { installer: { modules: { enable: ['x'] } } } }, 'blueprint.customizations.installer.modules');
  refuse('fedora-43', 'everything-network-installer', { customizations: { installer: { modules: { disable: ['x'] } } } }, 'blueprint.customizations.installer.modules');
  refuse('fedora-43', 'minimal-installer', { customizations: { installer: { bootloader: { grub2: { 'menu-timeout': 5 } } } } }, 'blueprint.customizations.installer.bootloader');
  refuse('fedora-43', 'minimal-installer', { customizations: { installer: { unattended: true, kickstart: { contents: 'reboot' } } } }, 'blueprint.customizations.installer.unattended');
  refuse('fedora-43', 'minimal-installer', { customizations: { user: [{ name: 'bob' }], installer: { kickstart: { contents: 'reboot' } } } }, 'blueprint.customizations.installer.kickstart.contents');
  refuse('fedora-43', 'minimal-installer', { customizations: { user: [{ name: 'root', password: 'x' }], installer: { unattended: true } } }, 'blueprint.customizations.user');
  refuse('fedora-43', 'minimal-installer', { customizations: { user: [{ name: 'root', home: '/srv/root' }] } }, 'blueprint.customizations.user');
  // RHEL's boot.iso takes no users at all (its supported options)
  refuse('rhel-9.6', 'network-installer', { customizations: { user: [{ name: 'bob' }] } }, 'blueprint.customizations.user');
  // the root password goes to rootpw, encrypted; root itself is not a kickstart user
  const ks = opts(build('fedora-43', 'x86_64', 'minimal-installer', { customizations: { user: [{ name: 'root', password: 'pw' }] } }), 'bootiso-tree', 'org.osbuild.kickstart');
  t.is(ks.users, undefined);
  t.true(ks.rootpw.iscrypted);
  t.regex(ks.rootpw.password, /^\$6\$/);
});

test('PXE tarball: kernel, live initrd, squashfs root, EFI files, grub.cfg and README in a tar, xz-compressed', (t) => {
  const m = build('fedora-43', 'x86_64', 'pxe-tar-xz', { customizations: { kernel: { append: 'console=ttyS0' } } });
  t.deepEqual(names(m), ['build', 'os', 'pxe-tree', 'tar', 'xz']);
  t.deepEqual(opts(m, 'os', 'org.osbuild.dracut.conf'), { filename: '40-pxe.conf', config: { early_microcode: false, add_dracutmodules: ['qemu', 'qemu-net', 'livenet', 'dmsquash-live'], compress: 'xz' } });
  t.true(types(m, 'os').indexOf('org.osbuild.dracut.conf') < types(m, 'os').indexOf('org.osbuild.rpm'), 'in place before the kernel package runs dracut');
  t.deepEqual(opts(m, 'pxe-tree', 'org.osbuild.copy').paths, [
    { from: 'input://tree/boot/vmlinuz-1.0-1.fc43.x86_64', to: 'tree:///vmlinuz' },
    { from: 'input://tree/boot/initramfs-1.0-1.fc43.x86_64.img', to: 'tree:///initrd.img' },
    { from: 'input://tree/boot/efi/EFI', to: 'tree:///EFI' },
  ]);
  t.like(opts(m, 'pxe-tree', 'org.osbuild.squashfs'), { filename: 'rootfs.img', compression: { method: 'xz', options: { bcj: 'x86' } } });
  const inline = m.sources['org.osbuild.inline'] as { items: Record<string, { data: string }> };
  const texts = Object.values(inline.items).map((i) => Buffer.from(i.data, 'base64').toString());
  t.true(texts.some((x) => x.includes('root=live:http://HTTP-SERVER/rootfs.img rd.live.image console=ttyS0')));
  t.true(texts.some((x) => x.includes('cat initrd.img rootfs.cpio > combined.img')));
  t.deepEqual(opts(m, 'tar', 'org.osbuild.tar'), { filename: 'image.tar' });
  t.deepEqual(opts(m, 'xz', 'org.osbuild.xz'), { filename: 'pxe.tar.xz' });
  t.deepEqual(opts(m, 'pxe-tree', 'org.osbuild.chmod').items['/EFI'], { mode: 'ugo+Xr', recursive: true });
  t.deepEqual(opts(build('rhel-10.1', 'aarch64', 'pxe-tar-xz'), 'pxe-tree', 'org.osbuild.squashfs').compression, { method: 'xz', options: { bcj: 'arm' } });
});

// --- ostree installers -------------------------------------------------------------------------

test("ostree installer: osbuild's ostree bootiso test manifest stage for stage, its ostree payload and ostreesetup kickstart included", (t) => {
  const theirs = bootisoReference();
  if (!theirs) {
    t.log('skipped: shared/reference/upstream/osbuild-test-manifests/fedora-ostree-bootiso.json is not here');
    t.pass();
    return;
  }
  // RHEL 9 x86_64: isolinux and an ext4 root in the squashfs, as that manifest has; its commit comes from the request
  const ours = build('rhel-9.6', 'x86_64', 'edge-installer');
  const iso = ['anaconda-tree', 'rootfs-image', 'efiboot-tree', 'bootiso-tree', 'bootiso'];
  // theirs builds the commit in the same manifest first (ostree-tree, ostree-commit); ours pulls it from a source
  t.deepEqual(names(ours), ['build', ...iso]);
  t.deepEqual(names(theirs).filter((n) => iso.includes(n)), iso);
  for (const p of ['rootfs-image', 'efiboot-tree', 'bootiso-tree', 'bootiso']) t.deepEqual(types(ours, p), types(theirs, p), p);
  t.deepEqual([...new Set(types(ours, 'anaconda-tree'))].filter((x) => types(theirs, 'anaconda-tree').includes(x)).sort(), [...new Set(types(theirs, 'anaconda-tree'))].sort());
  const their = (p: string, type: string) => theirs.pipelines.find((x) => x.name === p)!.stages.find((s) => s.type === type)!;
  // the same payload: a repository on the ISO with the commit pulled into it, ostreesetup pointing at it under /run/install/repo
  const pull = stage(ours, 'bootiso-tree', 'org.osbuild.ostree.pull')!;
  t.deepEqual(Object.keys(pull.options!), Object.keys(their('bootiso-tree', 'org.osbuild.ostree.pull').options));
  t.is((pull.inputs as any).commits.type, their('bootiso-tree', 'org.osbuild.ostree.pull').inputs.commits.type);
  t.is(opts(ours, 'bootiso-tree', 'org.osbuild.ostree.pull').repo, opts(ours, 'bootiso-tree', 'org.osbuild.ostree.init').path);
  t.is(their('bootiso-tree', 'org.osbuild.ostree.pull').options.repo, their('bootiso-tree', 'org.osbuild.ostree.init').options.path);
  const ks = opts(ours, 'bootiso-tree', 'org.osbuild.kickstart');
  const theirKs = their('bootiso-tree', 'org.osbuild.kickstart').options;
  t.deepEqual(Object.keys(theirKs.ostree).filter((k) => !(k in ks.ostree)), []);
  t.is(ks.ostree.gpg, theirKs.ostree.gpg);
  t.is(ks.ostree.url, `file:///run/install/repo${opts(ours, 'bootiso-tree', 'org.osbuild.ostree.init').path}`);
  t.is(theirKs.ostree.url, `file:///run/install/repo${their('bootiso-tree', 'org.osbuild.ostree.init').options.path}`);
  for (const k of ['boot', 'efi', 'isohybridmbr']) t.deepEqual(opts(ours, 'bootiso', 'org.osbuild.xorrisofs')[k], their('bootiso', 'org.osbuild.xorrisofs').options[k], `xorrisofs ${k}`);
});

test('ostree installer: the commit pulled by checksum into the ISO, ostreesetup in /osbuild.ks, labels and modules from the definition', (t) => {
  const m = build('fedora-43', 'x86_64', 'iot-installer');
  t.deepEqual(names(m), ['build', 'anaconda-tree', 'efiboot-tree', 'bootiso-tree', 'bootiso']);
  const label = 'Fedora-43-IoT-x86_64';
  t.deepEqual(types(m, 'bootiso-tree').slice(-4), ['org.osbuild.ostree.init', 'org.osbuild.ostree.pull', 'org.osbuild.kickstart', 'org.osbuild.discinfo']);
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.ostree.init'), { path: '/ostree/repo' });
  t.deepEqual(stage(m, 'bootiso-tree', 'org.osbuild.ostree.pull'), {
    type: 'org.osbuild.ostree.pull',
    options: { repo: '/ostree/repo' },
    inputs: { commits: { type: 'org.osbuild.ostree', origin: 'org.osbuild.source', references: { ['c'.repeat(64)]: { ref: 'fedora/43/x86_64/iot' } } } },
  });
  t.deepEqual(m.sources['org.osbuild.ostree'], { items: { ['c'.repeat(64)]: { remote: { url: 'https://ostree.example.test/repo' } } } });
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.kickstart'), {
    path: '/osbuild.ks',
    ostree: { osname: 'fedora-iot', remote: 'fedora-iot', url: 'file:///run/install/repo/ostree/repo', ref: 'fedora/43/x86_64/iot', gpg: false },
  });
  // the IoT installer's menu starts on the first entry; no deployment kernel options on its command line
  const grub = opts(m, 'efiboot-tree', 'org.osbuild.grub2.iso');
  t.deepEqual(grub.kernel.opts, [`inst.stage2=hd:LABEL=${label}`, `inst.ks=hd:LABEL=${label}:/osbuild.ks`]);
  t.is(grub.config, undefined);
  t.is(opts(m, 'bootiso', 'org.osbuild.xorrisofs').volid, label);
  t.like(opts(m, 'anaconda-tree', 'org.osbuild.buildstamp'), { product: 'Fedora', version: '43', variant: 'IoT' });
  t.is(opts(m, 'anaconda-tree', 'org.osbuild.locale').language, 'en_US.UTF-8');
  // the installer tree has no payload of its own; the commit is not in it
  t.false(types(m, 'anaconda-tree').some((x) => x.startsWith('org.osbuild.ostree')));
  t.true(opts(m, 'anaconda-tree', 'org.osbuild.anaconda')['activatable-modules'].includes('org.fedoraproject.Anaconda.Modules.Users'), "Fedora's installer config enables Users");
  // ext4 root image of 4 GiB (RHEL 9), the edge commit with no remote kept
  const edge = build('rhel-9.6', 'x86_64', 'edge-installer');
  t.is(opts(edge, 'rootfs-image', 'org.osbuild.truncate').size, String(4 * 1024 ** 3));
  t.like(opts(edge, 'bootiso-tree', 'org.osbuild.kickstart').ostree, { osname: 'rhel-edge', remote: '', ref: 'rhel/9/x86_64/edge' });
  t.false(opts(edge, 'anaconda-tree', 'org.osbuild.anaconda')['activatable-modules'].includes('org.fedoraproject.Anaconda.Modules.Users'), 'no Users module without kickstart users');
  // Fedora 45: erofs root
  t.true(types(build('fedora-45', 'x86_64', 'iot-installer'), 'bootiso-tree').includes('org.osbuild.erofs'));
  // what to depsolve: the installer tree and the build root (rpm-ostree for the ostree stages); no os tree
  const r = packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'iot-installer'), seed: '1' });
  t.deepEqual(Object.keys(r).sort(), ['anaconda-tree', 'build']);
  for (const p of ['anaconda', 'fedora-release-iot', 'grub2-efi-x64-cdboot']) t.true(r['anaconda-tree'][0].include.includes(p), p);
  for (const p of ['rpm-ostree', 'xorriso', 'lorax-templates-generic']) t.true(r.build[0].include.includes(p), p);
  const rhel = packageRequests({ image: resolveImage('rhel-9.6', 'x86_64', 'edge-installer'), seed: '1', ostree: { url: 'https://x.test/repo' } })['anaconda-tree'][0].include;
  for (const p of ['anaconda', 'syslinux', 'prefixdevname', 'iwl7260-firmware']) t.true(rhel.includes(p), p);
});

test('ostree installer: blueprint users, groups, keys, locale, timezone and installer options in the ostreesetup kickstart', (t) => {
  const bp: Blueprint = {
    customizations: {
      user: [{ name: 'core', password: 'edge', groups: ['wheel'], key: 'ssh-ed25519 AAAA' }],
      group: [{ name: 'ops', gid: 2000 }],
      installer: { unattended: true, 'sudo-nopasswd': ['core'], modules: { enable: ['org.fedoraproject.Anaconda.Modules.Timezone'] } },
      locale: { languages: ['de_DE.UTF-8'], keyboard: 'de' },
      timezone: { timezone: 'Europe/Berlin' },
      fips: true,
    },
  };
  const m = build('rhel-9.6', 'x86_64', 'edge-installer', bp);
  const ks = opts(m, 'bootiso-tree', 'org.osbuild.kickstart');
  t.deepEqual(Object.keys(ks).slice(0, 4), ['path', 'ostree', 'users', 'groups']);
  t.like(ks, { path: '/osbuild.ks', lang: 'de_DE.UTF-8', keyboard: 'de', timezone: 'Europe/Berlin', display_mode: 'text', rootpw: { lock: true }, zerombr: true });
  t.like(ks.ostree, { url: 'file:///run/install/repo/ostree/repo', ref: 'rhel/9/x86_64/edge' });
  t.deepEqual(ks.users.core.groups, ['wheel']);
  t.is(ks.users.core.key, 'ssh-ed25519 AAAA');
  t.regex(ks.users.core.password, /^\$6\$/);
  t.deepEqual(ks.groups, { ops: { gid: 2000 } });
  t.deepEqual(ks['%post'][0].commands.at(-1), 'restorecon -rvF /etc/sudoers.d');
  const mods = opts(m, 'anaconda-tree', 'org.osbuild.anaconda')['activatable-modules'] as string[];
  for (const x of ['Users', 'Timezone', 'Security']) t.true(mods.includes(`org.fedoraproject.Anaconda.Modules.${x}`), x);
  // FIPS: fips=1 on the installer's command line; the unattended extra options are only the image installer's
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.isolinux').kernel.opts.slice(2), ['fips=1']);
  // the installer tree keeps its type's locale (the blueprint's is the installed system's)
  t.is(opts(m, 'anaconda-tree', 'org.osbuild.locale').language, 'en_US.UTF-8');
  // unattended without locale settings: the kickstart's defaults
  t.like(opts(build('fedora-43', 'x86_64', 'iot-installer', { customizations: { installer: { unattended: true } } }), 'bootiso-tree', 'org.osbuild.kickstart'), { lang: 'en_US.UTF-8', keyboard: 'us', timezone: 'UTC' });
  // the blueprint's own kickstart text: Kiln's (with ostreesetup) becomes osbuild-base.ks, included first
  const own = build('fedora-43', 'x86_64', 'iot-installer', { customizations: { installer: { kickstart: { contents: 'reboot\n' } } } });
  const base = opts(own, 'bootiso-tree', 'org.osbuild.kickstart');
  t.is(base.path, '/osbuild-base.ks');
  t.like(base.ostree, { ref: 'fedora/43/x86_64/iot' });
  const copy = pipeline(own, 'bootiso-tree').stages.filter((x) => x.type === 'org.osbuild.copy').at(-1)!;
  const id = Object.values(copy.inputs as Record<string, any>)[0].references[0].id as string;
  t.is(Buffer.from((own.sources['org.osbuild.inline'] as any).items[id].data, 'base64').toString(), '%include /run/install/repo/osbuild-base.ks\nreboot\n');
  t.is(types(own, 'bootiso-tree').at(-1), 'org.osbuild.discinfo');
});

test('Atomic installers: the commit in a bare-user repository of the installer root, ostreesetup in the interactive defaults', (t) => {
  const m = build('fedora-43', 'x86_64', 'sway-atomic-installer');
  const tree = types(m, 'anaconda-tree').filter((x) => x !== 'org.osbuild.rpm');
  t.deepEqual(tree.slice(0, 4), ['org.osbuild.ostree.init', 'org.osbuild.ostree.pull', 'org.osbuild.kickstart', 'org.osbuild.buildstamp']);
  t.deepEqual(opts(m, 'anaconda-tree', 'org.osbuild.ostree.init'), { path: '/ostree/repo', mode: 'bare-user' });
  t.deepEqual(opts(m, 'anaconda-tree', 'org.osbuild.kickstart'), {
    path: '/usr/share/anaconda/interactive-defaults.ks',
    ostree: { osname: 'fedora', remote: 'fedora', url: 'file:///ostree/repo', ref: 'fedora/43/x86_64/sericea', gpg: false },
  });
  // nothing of it in the ISO's own tree, and no kickstart for the boot loader to name
  t.false(types(m, 'bootiso-tree').some((x) => x.startsWith('org.osbuild.ostree') || x === 'org.osbuild.kickstart'));
  t.deepEqual(opts(m, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel.opts, ['inst.stage2=hd:LABEL=Fedora-43-Sway-Atomic-x86_64']);
  t.true(types(m, 'bootiso-tree').includes('org.osbuild.erofs'));
  // a blueprint user: a kickstart on the ISO with the user (ostreesetup stays in the interactive defaults)
  const u = build('fedora-43', 'x86_64', 'budgie-atomic-installer', { customizations: { user: [{ name: 'alice', key: 'ssh-ed25519 AAAA' }] } });
  t.deepEqual(opts(u, 'bootiso-tree', 'org.osbuild.kickstart'), { path: '/osbuild.ks', users: { alice: { key: 'ssh-ed25519 AAAA' } } });
  t.deepEqual(opts(u, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel.opts, ['inst.stage2=hd:LABEL=Fedora-43-Budgie-Atomic-x86_64', 'inst.ks=hd:LABEL=Fedora-43-Budgie-Atomic-x86_64:/osbuild.ks']);
  t.like(opts(u, 'anaconda-tree', 'org.osbuild.kickstart').ostree, { ref: 'fedora/43/x86_64/onyx' });
});

test('ostree installer: where its commit comes from, and what it refuses (errors name the field)', (t) => {
  // the request's URL, else the type's default (Fedora's mirror list); RHEL Edge has none
  t.deepEqual(ostreePlan(resolveImage('fedora-43', 'x86_64', 'iot-installer'), undefined)!.payload, { url: 'mirrorlist=https://ostree.fedoraproject.org/iot/mirrorlist', ref: 'fedora/43/x86_64/iot' });
  t.deepEqual(ostreePlan(resolveImage('rhel-9.6', 'x86_64', 'edge-installer'), { url: 'https://x.test/repo', ref: 'rhel/9/x86_64/edge-custom' })!.payload, { url: 'https://x.test/repo', ref: 'rhel/9/x86_64/edge-custom' });
  const edge = resolveImage('rhel-9.6', 'x86_64', 'edge-installer');
  t.is((t.throws(() => ostreePlan(edge, undefined), { instanceOf: InvalidInputError }) as InvalidInputError).field, 'ostree.url');
  t.is((t.throws(() => ostreePlan(edge, { url: 'https://x.test/repo', parent: 'rhel/9/x86_64/edge' }), { instanceOf: InvalidInputError }) as InvalidInputError).field, 'ostree.parent');
  // a commit the compose builds: no URL needed
  t.is(ostreePlan(edge, undefined, 'ostree', true)!.payload, undefined);
  // the manifest needs the resolved commit
  const input = { image: edge, seed: '1', ostree: { url: 'https://x.test/repo' } };
  const err = t.throws(() => generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), 'x86_64') }), { instanceOf: KilnError });
  t.is(err!.code, 'KILN_MANIFEST');
  // what the types do not take
  const refuse = (bp: Blueprint, f: string) => t.is(field(t.throws(() => build('fedora-43', 'x86_64', 'iot-installer', bp), { instanceOf: InvalidInputError })), f);
  refuse({ packages: [{ name: 'vim' }] }, 'blueprint.packages');
  refuse({ customizations: { kernel: { append: 'quiet' } } }, 'blueprint.customizations.kernel.append');
  refuse({ customizations: { installer: { bootloader: { grub2: { 'menu-timeout': 5 } } } } }, 'blueprint.customizations.installer.bootloader');
});

test('compose: an installer of a commit the same compose builds (no ostree URL) is made from that commit', (t) => {
  const body = (images: Record<string, unknown>[]) => ({
    distribution: 'fedora-43',
    koji: { server: 'https://koji.example.test/kojihub', task_id: 1, name: 'Fedora-IoT', version: '43', release: '1' },
    image_requests: images.map((i) => ({ repositories: [{ baseurl: 'https://repos.example.test/f43/' }], ...i })),
  });
  const opts = { kojiServers: ['https://koji.example.test/kojihub'] } as never;
  const planned = planCompose(body([{ architecture: 'x86_64', image_type: 'iot-commit' }, { architecture: 'x86_64', image_type: 'iot-installer' }, { architecture: 'aarch64', image_type: 'iot-installer' }]), opts);
  t.deepEqual([...planned.commitFrom], [[1, 0]], 'the x86_64 installer takes the x86_64 commit; the aarch64 one pulls from the mirror list');
  // with a URL the request's repository is used, not the compose's commit
  const withUrl = planCompose(body([{ architecture: 'x86_64', image_type: 'iot-commit' }, { architecture: 'x86_64', image_type: 'iot-installer', ostree: { url: 'https://x.test/repo' } }]), opts);
  t.is(withUrl.commitFrom.size, 0);
  // an Edge installer of the compose's edge commit needs no URL; alone it does
  const rhel = (images: Record<string, unknown>[]) => ({ ...body(images), distribution: 'rhel-9.6' });
  t.deepEqual([...planCompose(rhel([{ architecture: 'x86_64', image_type: 'edge-commit' }, { architecture: 'x86_64', image_type: 'edge-installer' }]), opts).commitFrom], [[1, 0]]);
  const err = t.throws(() => planCompose(rhel([{ architecture: 'x86_64', image_type: 'edge-installer' }]), opts), { instanceOf: InvalidInputError });
  t.regex(field(err), /ostree\.url$/);
});
