/**
 * Simplified installers (issue 17): iot-simplified-installer and edge-simplified-installer, the
 * ostree_simplified_installer kind — the commit deployed into the type's disk, compressed, and a
 * coreos-installer ISO that writes it to installation_device. Pipelines and stages against
 * osbuild/images' Go (coi_iso_tree.go, coreos_installer.go, ostree_simplified_installer.go) and
 * osbuild's own ostree image and bootiso test manifests; the FDO, Ignition and
 * installation_device customizations in the manifest; refusals naming the field.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { planCompose } from '../src/compose/create.js';
import { composeJobGraph, type DepsolveArgs, type OsbuildArgs } from '../src/compose/graph.js';
import { InvalidInputError } from '../src/errors.js';
import { generateManifest, packageRequests, resolveImage, supportedImages, type Manifest, type ManifestStage } from '../src/osbuild/index.js';
import type { Blueprint } from '../src/blueprint/index.js';
import { findReference } from './helpers/reference.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';
import { validateManifest } from './osbuild-standin/validate.js';
import { loadManifest } from './osbuild-standin/load.js';

const COMMIT = { url: 'https://ostree.example.test/repo', checksum: 'c'.repeat(64) };
const DEVICE = { customizations: { installation_device: '/dev/vda' } };

function build(distro: string, arch: string, type: string, blueprint: Blueprint = DEVICE): Manifest {
  const image = resolveImage(distro, arch, type);
  const input = { image, seed: '17', blueprint, ostree: { url: COMMIT.url } };
  return generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), arch), ostreeCommits: { payload: { ...COMMIT, ref: image.ostree!.ref! } } });
}

const pipeline = (m: Manifest, name: string) => m.pipelines.find((p) => p.name === name)!;
const types = (m: { pipelines: { name: string; stages: { type: string }[] }[] }, p: string) => m.pipelines.find((x) => x.name === p)!.stages.map((s) => s.type);
const find = (m: Manifest, p: string, type: string): ManifestStage | undefined => pipeline(m, p).stages.find((s) => s.type === type);
const opts = (m: Manifest, p: string, type: string) => find(m, p, type)?.options as Record<string, any>;
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

function refused(t: import('ava').ExecutionContext, fn: () => unknown, field: string, message: RegExp): void {
  const err = t.throws(fn, { instanceOf: InvalidInputError });
  t.is(err?.field, field);
  t.regex(err?.message ?? '', message);
}

test('pipelines and stages as osbuild/images makes them (ostree_simplified_installer, CoreOSInstaller, CoreOSISOTree)', (t) => {
  const m = build('fedora-43', 'x86_64', 'iot-simplified-installer');
  t.deepEqual(
    m.pipelines.map((p) => p.name),
    ['build', 'ostree-deployment', 'image', 'xz', 'coi-tree', 'efiboot-tree', 'bootiso-tree', 'bootiso'],
  );
  t.deepEqual(types(m, 'coi-tree'), ['org.osbuild.rpm', 'org.osbuild.buildstamp', 'org.osbuild.locale', 'org.osbuild.dracut']);
  // coi_iso_tree.go: payload, mkdir, efiboot.img (truncate, mkfs, copy), kernel and initrd, isolinux (x86_64), the EFI tree
  t.deepEqual(types(m, 'bootiso-tree'), [
    'org.osbuild.copy',
    'org.osbuild.mkdir',
    'org.osbuild.truncate',
    'org.osbuild.mkfs.fat',
    'org.osbuild.copy',
    'org.osbuild.copy',
    'org.osbuild.isolinux',
    'org.osbuild.copy',
  ]);
  const tree = pipeline(m, 'bootiso-tree').stages;
  t.deepEqual(tree[0].options, { paths: [{ from: 'input://file/image.raw.xz', to: 'tree:///image.raw.xz' }] });
  t.deepEqual(tree[0].inputs, { file: { type: 'org.osbuild.files', origin: 'org.osbuild.pipeline', references: { 'name:xz': { file: 'image.raw.xz' } } } });
  t.deepEqual(opts(m, 'xz', 'org.osbuild.xz'), { filename: 'image.raw.xz' });
  t.deepEqual(find(m, 'xz', 'org.osbuild.xz')!.inputs, { file: { type: 'org.osbuild.files', origin: 'org.osbuild.pipeline', references: { 'name:image': { file: 'disk.img' } } } });
  // the disk is raw whatever the platform's format: truncate of disk.img, sfdisk, the deployment copied in
  t.is(opts(m, 'image', 'org.osbuild.truncate').filename, 'disk.img');
  t.truthy(find(m, 'image', 'org.osbuild.sfdisk'));
  // Fedora's simplified table: / in LVM in LUKS bound to clevis' null pin, the build's passphrase removed
  t.deepEqual(types(m, 'image').filter((x) => /luks|lvm2|clevis/.test(x)), ['org.osbuild.luks2.format', 'org.osbuild.clevis.luks-bind', 'org.osbuild.lvm2.create', 'org.osbuild.lvm2.metadata', 'org.osbuild.luks2.remove-key']);

  const kernelOpts = ['rd.neednet=1', 'coreos.inst.crypt_root=1', 'coreos.inst.isoroot=Fedora-43-IoT-x86_64', 'coreos.inst.install_dev=/dev/vda', 'coreos.inst.image_file=/run/media/iso/image.raw.xz', 'coreos.inst.insecure'];
  t.deepEqual(opts(m, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel, { dir: '/images/pxeboot', opts: kernelOpts });
  t.deepEqual(opts(m, 'bootiso-tree', 'org.osbuild.isolinux'), { product: { name: 'Fedora', version: '43' }, kernel: { dir: '/images/pxeboot', opts: kernelOpts } });
  t.deepEqual(find(m, 'bootiso-tree', 'org.osbuild.isolinux')!.inputs, { data: { type: 'org.osbuild.tree', origin: 'org.osbuild.pipeline', references: ['name:coi-tree'] } });
  t.like(opts(m, 'bootiso', 'org.osbuild.xorrisofs'), { filename: 'simplified-installer.iso', volid: 'Fedora-43-IoT-x86_64', efi: 'images/efiboot.img', boot: { image: 'isolinux/isolinux.bin', catalog: 'isolinux/boot.cat' } });
  t.deepEqual(opts(m, 'coi-tree', 'org.osbuild.buildstamp'), { arch: 'x86_64', product: 'Fedora', version: '43', final: true, variant: 'IoT' });
  const dracut = opts(m, 'coi-tree', 'org.osbuild.dracut');
  t.deepEqual(dracut.install, ['/.buildstamp']);
  t.deepEqual(dracut.modules.slice(0, 2), ['net-lib', 'dbus-broker'], 'the installer config\'s modules first');
  t.true(dracut.modules.includes('coreos-installer') && dracut.modules.includes('fdo') && dracut.modules.at(-1) === 'biosdevname');
  t.is(dracut.add_modules, undefined, 'the exact module list, as upstream: modules, not add_modules');

  // the deployment: Fedora IoT's osname fedora, remote fedora-iot, Ignition on metal
  const deploy = opts(m, 'ostree-deployment', 'org.osbuild.ostree.deploy');
  t.like(deploy, { osname: 'fedora', remote: 'fedora-iot', ref: 'fedora/43/x86_64/iot' });
  t.deepEqual(deploy.kernel_opts.slice(-4), ['rw', 'coreos.no_persist_ip', 'ignition.platform.id=metal', '$ignition_firstboot']);
  t.true(deploy.kernel_opts[0].startsWith('luks.uuid='));

  // what is depsolved: the build root and coreos-installer's tree (the deployment is the commit's)
  const requests = packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'iot-simplified-installer'), seed: 1, blueprint: DEVICE, ostree: { url: COMMIT.url } });
  t.deepEqual(Object.keys(requests), ['build', 'coi-tree']);
  const coi = requests['coi-tree'][0];
  for (const p of ['coreos-installer', 'coreos-installer-dracut', 'fdo-init', 'syslinux', 'syslinux-nonlinux', 'biosdevname', 'microcode_ctl', 'grub2-efi-x64-cdboot']) t.true(coi.include.includes(p), p);
  t.true(coi.install_weak_deps);
  for (const p of ['lorax-templates-generic', 'rpm', 'xorriso', 'isomd5sum', 'rpm-ostree', 'cryptsetup', 'clevis', 'lvm2', 'syslinux', 'xz']) t.true(requests.build[0].include.includes(p), `build root: ${p}`);

  // aarch64: no isolinux, a UEFI-only ISO; RHEL 9: the edge table (XFS), use_ostree_remotes
  const arm = build('fedora-43', 'aarch64', 'iot-simplified-installer');
  t.false(types(arm, 'bootiso-tree').includes('org.osbuild.isolinux'));
  t.is(opts(arm, 'bootiso', 'org.osbuild.xorrisofs').boot, undefined);
  t.false(requestsHave(arm, 'biosdevname'));
  const edge = build('rhel-9.6', 'x86_64', 'edge-simplified-installer');
  t.deepEqual(opts(edge, 'ostree-deployment', 'org.osbuild.ostree.remotes'), { repo: '/ostree/repo', remotes: [{ name: 'rhel-edge', url: COMMIT.url }] });
  t.deepEqual(opts(edge, 'coi-tree', 'org.osbuild.dracut').modules.slice(0, 2), ['prefixdevname', 'prefixdevname-tools']);
  t.is(opts(edge, 'efiboot-tree', 'org.osbuild.grub2.iso').vendor, 'redhat');
  t.true(types(edge, 'image').includes('org.osbuild.mkfs.xfs'));
});

function requestsHave(m: Manifest, name: string): boolean {
  return JSON.stringify(pipeline(m, 'coi-tree').stages[0]).includes(`"name":"${name}"`);
}

/** osbuild's test manifests' pipelines → Kiln's (theirs are hand-written ostree image and bootiso builds). */
const COMPARED: [file: string, theirs: string, ours: string][] = [
  ['fedora-ostree-image.json', 'image-tree', 'ostree-deployment'],
  ['fedora-ostree-image.json', 'image', 'image'],
  ['fedora-ostree-bootiso.json', 'anaconda-tree', 'coi-tree'],
  ['fedora-ostree-bootiso.json', 'efiboot-tree', 'efiboot-tree'],
  ['fedora-ostree-bootiso.json', 'bootiso-tree', 'bootiso-tree'],
  ['fedora-ostree-bootiso.json', 'bootiso', 'bootiso'],
];

/** Stages both have, placed differently (left out of the order comparison), each with why. */
const ORDER_DIFFERS: Record<string, string> = {
  'org.osbuild.systemd': 'osbuild/images enables units near the end of the deployment; the hand-written manifest right after rpm',
  'org.osbuild.ostree.config': 'osbuild/images configures the repository inside the deployment (after deploy and fillvar)',
  'org.osbuild.ostree.selinux': 'osbuild/images labels the deployment last, after grub2',
  'org.osbuild.mkfs.fat': 'osbuild/images makes the LUKS container and the volume group before any file system; the hand-written disk formats the ESP and /boot first (independent devices)',
  'org.osbuild.locale': 'osbuild/images\' CoreOSInstaller writes the locale before dracut; the anaconda tree of the hand-written ISO after',
  'org.osbuild.truncate': 'osbuild/images\' CoreOSISOTree makes efiboot.img before it copies the kernel and runs isolinux; its anaconda ISO tree (and the hand-written one) after',
  'org.osbuild.copy': 'the payload copy comes first in CoreOSISOTree (the compressed disk), the kernel copy first in the anaconda ISO tree',
};

/** Stages osbuild's manifests have and the simplified installer's do not, each with why. */
const NOT_HERE: Record<string, string> = {
  'org.osbuild.ostree.aleph': 'osbuild/images writes no aleph file (CoreOS\'s, from coreos-assembler)',
  'org.osbuild.sgdisk': 'osbuild/images partitions ostree disks with sfdisk',
  'org.osbuild.mkfs.ext4': 'the edge table formats /boot and / with XFS',
  'org.osbuild.grub2.inst': 'the simplified installers\' disks boot with UEFI only (their platforms have no BIOS)',
  'org.osbuild.users': 'the coreos-installer tree has no anaconda install user',
  'org.osbuild.anaconda': 'no anaconda: coreos-installer writes the disk',
  'org.osbuild.lorax-script': 'no lorax templates in CoreOSInstaller',
  'org.osbuild.squashfs': 'coreos-installer runs from the initrd: the ISO has no root file system image',
  'org.osbuild.ostree.init': 'the ISO carries the compressed disk, not an ostree repository',
  'org.osbuild.ostree.pull': 'the same',
  'org.osbuild.kickstart': 'no kickstart: the kernel command line tells coreos-installer what to do',
  'org.osbuild.discinfo': 'CoreOSISOTree writes no .discinfo',
};

test("stage order against osbuild's ostree image and bootiso test manifests, every shared stage in the same order or listed with its reason", (t) => {
  const dir = findReference('upstream/osbuild-test-manifests');
  if (!dir) return t.log('skipped: shared/reference/upstream/osbuild-test-manifests is not here'), t.pass();
  // RHEL 9 x86_64: LUKS, LVM and XFS in the disk as in fedora-ostree-image.json, isolinux as in fedora-ostree-bootiso.json
  const ours = build('rhel-9.6', 'x86_64', 'edge-simplified-installer', { customizations: { installation_device: '/dev/vda', user: [{ name: 'core', key: 'ssh-ed25519 AAAA core' }] } });
  const used = new Set<string>();
  for (const [file, their, our] of COMPARED) {
    const theirs = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Manifest;
    const theirTypes = types(theirs, their);
    const mine = types(ours, our);
    for (const type of new Set(theirTypes)) {
      if (mine.includes(type)) continue;
      t.truthy(NOT_HERE[type], `${file} ${their}: ${type} is missing in Kiln's ${our} and not listed`);
      used.add(type);
    }
    const shared = (list: string[]) => [...new Set(list.filter((x) => theirTypes.includes(x) && mine.includes(x) && !ORDER_DIFFERS[x]))];
    t.true(shared(mine).length >= 1 || mine.length === 1, `${file} ${their}: something is compared`);
    t.deepEqual(shared(mine), shared(theirTypes), `${file} ${their} ↔ ${our}`);
  }
  for (const k of Object.keys(NOT_HERE)) t.true(used.has(k), `NOT_HERE ${k} is still needed`);
  // the pieces both ISOs share are stage for stage the same: the efiboot.img block and the boot loader options
  const theirs = JSON.parse(readFileSync(path.join(dir, 'fedora-ostree-bootiso.json'), 'utf8')) as Manifest;
  // efiboot.img: truncate, mkfs.fat and the copy into it on a loopback of the image (device names are the writers' own)
  const block = (m: Manifest) => {
    const s = pipeline(m, 'bootiso-tree').stages;
    const i = s.findIndex((x) => x.type === 'org.osbuild.truncate');
    return s.slice(i, i + 3).map((x) => ({
      type: x.type,
      filename: (x.options as any).filename,
      devices: Object.values(x.devices ?? {}).map((d: any) => [d.type, d.options.filename]),
      mounts: (x.mounts ?? []).map((mt: any) => [mt.type, mt.target]),
    }));
  };
  t.deepEqual(block(ours), block(theirs));
  t.deepEqual(types(ours, 'efiboot-tree'), types(theirs, 'efiboot-tree'));
  t.deepEqual(types(ours, 'bootiso'), types(theirs, 'bootiso'));
  for (const k of ['boot', 'efi', 'isohybridmbr']) t.deepEqual(opts(ours, 'bootiso', 'org.osbuild.xorrisofs')[k], opts(theirs, 'bootiso', 'org.osbuild.xorrisofs')[k], `xorrisofs ${k}`);
  t.deepEqual(find(ours, 'bootiso-tree', 'org.osbuild.isolinux')!.inputs, { data: { ...(find(theirs, 'bootiso-tree', 'org.osbuild.isolinux')!.inputs as any).data, references: ['name:coi-tree'] } });
  // every option of their grub2.iso is in ours (ours adds the install, test and troubleshooting entries and fips, as osbuild/images does)
  for (const k of Object.keys(opts(theirs, 'efiboot-tree', 'org.osbuild.grub2.iso'))) t.true(k in opts(ours, 'efiboot-tree', 'org.osbuild.grub2.iso'), `grub2.iso ${k}`);
});

test('FDO, Ignition, installation_device, kernel append and users: each where upstream puts it', (t) => {
  const certs = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const ignition = '{"ignition":{"version":"3.4.0"}}';
  const bp: Blueprint = {
    customizations: {
      installation_device: '/dev/nvme0n1',
      fdo: { manufacturing_server_url: 'http://fdo.example.test:8080', diun_pub_key_root_certs: certs, di_mfg_string_type_mac_iface: 'enp1s0' },
      ignition: { embedded: { config: Buffer.from(ignition).toString('base64') } },
      kernel: { append: 'console=ttyS0' },
      user: [{ name: 'core', key: 'ssh-ed25519 AAAA core' }],
      fips: true,
    },
  };
  const m = build('fedora-43', 'x86_64', 'iot-simplified-installer', bp);
  const installer = ['coreos.inst.install_dev=/dev/nvme0n1', 'fdo.manufacturing_server_url=http://fdo.example.test:8080', 'fdo.diun_pub_key_root_certs=/fdo_diun_pub_key_root_certs.pem', 'fdo.di_mfg_string_type_mac_iface=enp1s0'];
  const grub = opts(m, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel.opts as string[];
  const isolinux = opts(m, 'bootiso-tree', 'org.osbuild.isolinux').kernel.opts as string[];
  for (const o of installer) {
    t.true(grub.includes(o), `grub2: ${o}`);
    t.true(isolinux.includes(o), `isolinux: ${o}`);
  }
  t.deepEqual(grub.slice(-3), installer.slice(1), 'FDO after coreos-installer\'s options');
  t.false(grub.includes('console=ttyS0'), 'the blueprint\'s kernel options are the deployment\'s, not the installer\'s');
  // the root certificates: an org.osbuild.fdo stage from an inline source, and the initrd takes them instead of .buildstamp
  const fdo = find(m, 'coi-tree', 'org.osbuild.fdo')!;
  t.deepEqual(fdo.inputs, { rootcerts: { type: 'org.osbuild.files', origin: 'org.osbuild.source', references: [sha(certs)] } });
  t.is(fdo.options, undefined);
  t.deepEqual(types(m, 'coi-tree').slice(-2), ['org.osbuild.fdo', 'org.osbuild.dracut']);
  t.deepEqual(opts(m, 'coi-tree', 'org.osbuild.dracut').install, ['/fdo_diun_pub_key_root_certs.pem']);
  const inline = (m.sources['org.osbuild.inline'] as { items: Record<string, { encoding: string; data: string }> }).items;
  t.is(Buffer.from(inline[sha(certs)].data, 'base64').toString(), certs);
  // the embedded Ignition config, decoded, at /ignition_config of the ISO (where coreos-installer's dracut module reads it)
  const copy = pipeline(m, 'bootiso-tree').stages[1];
  t.deepEqual(copy, { type: 'org.osbuild.copy', inputs: { inlinefile: { type: 'org.osbuild.files', origin: 'org.osbuild.source', references: [sha(ignition)] } }, options: { paths: [{ from: `input://inlinefile/${sha(ignition)}`, to: 'tree:///ignition_config' }] } });
  t.is(Buffer.from(inline[sha(ignition)].data, 'base64').toString(), ignition);
  // the deployment: kernel append and fips on its command line, the user in it
  const deployOpts = opts(m, 'ostree-deployment', 'org.osbuild.ostree.deploy').kernel_opts as string[];
  t.true(deployOpts.includes('console=ttyS0') && deployOpts.includes('fips=1'));
  t.true(pipeline(m, 'ostree-deployment').stages.some((s) => s.type === 'org.osbuild.users' && 'core' in ((s.options as any).users ?? {})));

  // a first-boot URL: on the deployment's command line, before Ignition's platform
  const fb = build('rhel-9.6', 'aarch64', 'edge-simplified-installer', { customizations: { installation_device: '/dev/sda', ignition: { firstboot: { url: 'http://ign.example.test/config.ign' } }, fdo: { manufacturing_server_url: 'http://fdo.example.test', diun_pub_key_hash: 'sha256:abc' } } });
  const fbOpts = opts(fb, 'ostree-deployment', 'org.osbuild.ostree.deploy').kernel_opts as string[];
  t.deepEqual(fbOpts.slice(-3), ['ignition.config.url=http://ign.example.test/config.ign', 'ignition.platform.id=metal', '$ignition_firstboot']);
  t.true((opts(fb, 'efiboot-tree', 'org.osbuild.grub2.iso').kernel.opts as string[]).includes('fdo.diun_pub_key_hash=sha256:abc'));
  t.falsy(find(fb, 'coi-tree', 'org.osbuild.fdo'));
  t.false(pipeline(fb, 'bootiso-tree').stages.some((s) => JSON.stringify(s).includes('ignition_config')));
});

test('refusals name the field: a missing or unsplittable installation_device, options the type does not take, a first-boot URL nothing reads', (t) => {
  const iot = () => resolveImage('fedora-43', 'x86_64', 'iot-simplified-installer');
  const input = (bp: Blueprint, image = iot()) => ({ image, seed: 1, blueprint: bp, ostree: { url: COMMIT.url } });
  refused(t, () => packageRequests(input({})), 'blueprint.customizations.installation_device', /is required by image type iot-simplified-installer/);
  refused(t, () => packageRequests(input({ customizations: { installation_device: '/dev/disk/by-id/my disk' } })), 'blueprint.customizations.installation_device', /kernel command line: it may not hold whitespace/);
  refused(t, () => packageRequests(input({ customizations: { installation_device: '/dev/vda', fdo: { manufacturing_server_url: 'http://x y', diun_pub_key_hash: 'h' } } })), 'blueprint.customizations.fdo.manufacturing_server_url', /whitespace/);
  refused(t, () => packageRequests(input({ customizations: { installation_device: '/dev/vda', kernel: { name: 'kernel-rt' } } })), 'blueprint.customizations.kernel.name', /is not supported by image type iot-simplified-installer/);
  refused(t, () => packageRequests(input({ customizations: { installation_device: '/dev/vda', services: { enabled: ['x'] } } })), 'blueprint.customizations.services.enabled', /is not supported/);
  refused(t, () => packageRequests(input({ customizations: { installation_device: '/dev/vda', filesystem: [{ mountpoint: '/var', minsize: '1 GiB' }] } })), 'blueprint.customizations.filesystem', /is not supported by image type iot-simplified-installer/);
  // RHEL 9.0 and 9.1 deployments run no Ignition: a first-boot URL would be dropped
  const old = resolveImage('rhel-9.1', 'x86_64', 'edge-simplified-installer');
  refused(t, () => packageRequests(input({ customizations: { installation_device: '/dev/vda', ignition: { firstboot: { url: 'http://x/c.ign' } } } }, old)), 'blueprint.customizations.ignition.firstboot', /does not run Ignition/);
  t.notThrows(() => packageRequests(input({ customizations: { installation_device: '/dev/vda', ignition: { embedded: { config: 'e30=' } } } }, old)));
  // the types that do not take them refuse them, naming the field
  for (const [type, c, f] of [
    ['iot-raw-xz', { installation_device: '/dev/vda' }, 'installation_device'],
    ['iot-qcow2', { fdo: { manufacturing_server_url: 'http://x', diun_pub_key_hash: 'h' } }, 'fdo.manufacturing_server_url'],
    ['iot-raw-xz', { ignition: { embedded: { config: 'e30=' } } }, 'ignition.embedded.config'],
  ] as const) {
    refused(t, () => packageRequests(input({ customizations: c as never }, resolveImage('fedora-43', 'x86_64', type))), `blueprint.customizations.${f}`, new RegExp(`is not supported by image type ${type}`));
  }
});

test('a compose: the request\'s customizations reach the blueprint; the graph orders an installer after the commit it deploys', (t) => {
  const koji = { server: 'https://koji.example.test/kojihub', task_id: 1, name: 'iot', version: '43', release: '1' };
  const repositories = [{ baseurl: 'https://repo.example.test/' }];
  const plan = planCompose({
    distribution: 'fedora-43',
    koji,
    customizations: { installation_device: '/dev/sda', fdo: { manufacturing_server_url: 'http://fdo.example.test', diun_pub_key_insecure: 'true' } },
    image_requests: [{ architecture: 'x86_64', image_type: 'iot-simplified-installer', repositories, ostree: { url: COMMIT.url } }],
  });
  t.is(plan.blueprint.customizations?.installation_device, '/dev/sda');
  t.is(plan.blueprint.customizations?.fdo?.diun_pub_key_insecure, 'true');
  // without installation_device the request is refused, naming the request's field
  const missing = t.throws(() => planCompose({ distribution: 'fedora-43', koji, image_requests: [{ architecture: 'x86_64', image_type: 'iot-simplified-installer', repositories, ostree: { url: COMMIT.url } }] }), { instanceOf: InvalidInputError });
  t.regex(missing!.field, /^(blueprint\.)?customizations\.installation_device$/);
  // an edge installer needs a commit URL (RHEL has no default repository)
  const edge = t.throws(() => planCompose({ distribution: 'rhel-9.6', koji, customizations: { installation_device: '/dev/sda' }, image_requests: [{ architecture: 'x86_64', image_type: 'edge-simplified-installer', repositories }] }), { instanceOf: InvalidInputError });
  t.is(edge?.field, 'image_requests[0].ostree.url');
  // a compose has one blueprint: the commit refuses installation_device, so commit and installer are two composes (as Pungi builds them)
  const both = t.throws(() => planCompose({ distribution: 'fedora-43', koji, customizations: { installation_device: '/dev/sda' }, image_requests: [{ architecture: 'x86_64', image_type: 'iot-commit', repositories }, { architecture: 'x86_64', image_type: 'iot-simplified-installer', repositories }] }), { instanceOf: InvalidInputError });
  t.regex(both!.message, /customizations\.installation_device: is not supported by image type iot-commit/);
  // the graph itself orders an installer that deploys the compose's commit after that commit's build
  const specs = composeJobGraph('compose', { distribution: 'fedora-43', koji, image_requests: [] } as never, [
    { id: 'a', position: 0, request: { architecture: 'x86_64', image_type: 'iot-commit', repositories: [] } },
    { id: 'b', position: 1, request: { architecture: 'x86_64', image_type: 'iot-simplified-installer', repositories: [] }, ostreeCommitFrom: 0 },
  ] as never, 'kiln-cg/x', 0, { seed: '1', definitions: 'x' });
  const byKey = new Map(specs.map((s) => [s.key, s]));
  t.deepEqual(byKey.get('depsolve-1')!.dependencies, ['osbuild-0']);
  t.is((byKey.get('depsolve-1')!.args as DepsolveArgs).ostree_commit_from, 0);
  t.true((byKey.get('osbuild-0')!.args as OsbuildArgs).ostree_serve);
});

test('every simplified installer of every distro and architecture: a manifest osbuild\'s schemas and loader accept, with every customization it takes', (t) => {
  let n = 0;
  for (const c of supportedImages()) {
    const image = resolveImage(c.distro, c.arch, c.imageType);
    if (image.kind !== 'ostree_simplified_installer') continue;
    const m = build(c.distro, c.arch, c.imageType, {
      customizations: {
        installation_device: '/dev/vda',
        fdo: { manufacturing_server_url: 'http://fdo.example.test', diun_pub_key_root_certs: 'PEM' },
        ignition: { embedded: { config: 'e30=' } },
        kernel: { append: 'quiet' },
        user: [{ name: 'core', key: 'ssh-ed25519 AAAA', groups: ['wheel'] }],
        group: [{ name: 'g' }],
        fips: true,
      },
    });
    const r = validateManifest(m);
    if (r.skipped) return t.log('osbuild schemas absent: not validated'), t.pass();
    t.true(r.success, `${c.distro} ${c.arch} ${c.imageType}: ${JSON.stringify(r.errors?.slice(0, 3))}`);
    t.notThrows(() => loadManifest(m as never));
    n++;
  }
  // Fedora 41–45 and RHEL 9.0–9.10 and CentOS Stream 9, x86_64 and aarch64
  t.is(n, 2 * 5 + 2 * 12);
});
