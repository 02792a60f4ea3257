import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KilnError, InvalidInputError } from '../src/errors.js';
import {
  generateManifest,
  imageTypesDir,
  kojiFilename,
  loadImageTypeFamilies,
  packageSetRequests,
  pipelineNames,
  resolveImage,
  serializeManifest,
  splitExtension,
  supportedImages,
  type Manifest,
} from '../src/osbuild/index.js';
import { validateManifest } from './osbuild-standin/validate.js';
import { syntheticDepsolve, syntheticPackage } from './osbuild-standin/synthetic.js';

function build(distro: string, arch: string, type: string, customizations = {}): Manifest {
  const image = resolveImage(distro, arch, type);
  const packages = syntheticDepsolve(packageSetRequests(image, customizations), arch);
  return generateManifest({ image, packages, customizations });
}

const stage = (m: Manifest, pipeline: string, type: string) =>
  m.pipelines.find((p) => p.name === pipeline)?.stages.find((s) => s.type === type);

test('the matrix covers the brief: 4 types × fedora 41-43, centos 9/10, rhel 9.x/10.x × x86_64, aarch64', (t) => {
  const all = supportedImages();
  const key = (d: string, a: string, i: string) => all.some((s) => s.distro === d && s.arch === a && s.imageType === i);
  for (const d of ['fedora-41', 'fedora-42', 'fedora-43', 'centos-9', 'centos-10', 'rhel-9.0', 'rhel-9.6', 'rhel-10.0', 'rhel-10.1']) {
    for (const a of ['x86_64', 'aarch64']) {
      for (const i of ['guest-image', 'minimal-raw', 'aws', 'container']) t.true(key(d, a, i), `${d} ${a} ${i}`);
    }
  }
  t.false(key('rhel-9', 'x86_64', 'guest-image'));
});

test('every supported (distro, arch, type) gives a manifest valid against osbuild2.json and every module schema_2', (t) => {
  const all = supportedImages();
  let count = 0;
  for (const s of all) {
    const m = build(s.distro, s.arch, s.imageType);
    const res = validateManifest(m);
    if (!res.success) t.fail(`${s.distro} ${s.arch} ${s.imageType}: ${JSON.stringify(res.errors.slice(0, 5))}`);
    count++;
  }
  t.true(count >= 4 * 2 * (3 + 2 + 22));
  t.log(`${count} manifests validated`);
});

test('the validator catches a bad stage option, an unknown stage and a bad source key', (t) => {
  const m = structuredClone(build('fedora-43', 'x86_64', 'guest-image')) as any;
  m.pipelines[1].stages.find((s: any) => s.type === 'org.osbuild.locale').options = {};
  m.pipelines[1].stages.push({ type: 'org.osbuild.no-such-stage' });
  m.sources['org.osbuild.curl'].items['md5:nothex'] = 'https://x';
  const res = validateManifest(m);
  t.false(res.success);
  t.true(res.errors.some((e) => e.message.includes("'language' is a required property")));
  t.true(res.errors.some((e) => e.message.includes("could not find schema information for 'org.osbuild.no-such-stage'")));
  t.true(res.errors.some((e) => e.path[0] === 'sources'));
});

test('same input gives a byte-identical manifest, whatever the order of the depsolve result', (t) => {
  const image = resolveImage('rhel-9.6', 'aarch64', 'guest-image');
  const packages = syntheticDepsolve(packageSetRequests(image), 'aarch64');
  const shuffled = { os: [...packages.os].reverse(), build: [...packages.build].reverse() };
  const a = serializeManifest(generateManifest({ image, packages }));
  const b = serializeManifest(generateManifest({ image: resolveImage('rhel-9.6', 'aarch64', 'qcow2'), packages: shuffled }));
  t.is(a, b);
  const sources = Object.keys(JSON.parse(a).sources['org.osbuild.curl'].items);
  t.deepEqual(sources, [...sources].sort());
  t.not(a, serializeManifest(generateManifest({ image: resolveImage('rhel-9.5', 'aarch64', 'guest-image'), packages })));
});

test('distro data: runner, releasever, module_platform_id, minor versions', (t) => {
  const r = resolveImage('rhel-9.6', 'x86_64', 'guest-image');
  t.is(r.distro.runner, 'org.osbuild.rhel96');
  t.is(r.distro.releasever, '9');
  t.is(r.distro.osVersion, '9.6');
  t.is(r.distro.modulePlatformId, 'platform:el9');
  t.is(resolveImage('rhel-10.0', 'x86_64', 'aws').distro.runner, 'org.osbuild.rhel100');
  t.is(resolveImage('centos-10', 'aarch64', 'container').distro.runner, 'org.osbuild.centos10');
  const f = resolveImage('fedora-43', 'x86_64', 'minimal-raw');
  t.is(f.distro.modulePlatformId, 'platform:f43');
  t.is(f.distro.releasever, '43');
  t.is(build('fedora-43', 'x86_64', 'minimal-raw').pipelines[0].runner, 'org.osbuild.fedora43');
});

test('file names, export pipelines, Koji extensions', (t) => {
  const cases: [string, string, string, string, string][] = [
    ['guest-image', 'disk.qcow2', 'qcow2', '.qcow2', 'application/x-qemu-disk'],
    ['minimal-raw', 'disk.raw.xz', 'xz', '.raw.xz', 'application/xz'],
    ['aws', 'image.raw', 'image', '.raw', 'application/octet-stream'],
    ['container', 'container.tar', 'container', '.tar', 'application/x-tar'],
  ];
  for (const [type, filename, exp, ext, mime] of cases) {
    const r = resolveImage('centos-9', 'x86_64', type);
    t.is(r.filename, filename);
    t.is(r.exportPipeline, exp);
    t.is(r.kojiExtension, ext);
    t.is(r.mimeType, mime);
    const m = build('centos-9', 'x86_64', type);
    t.deepEqual(m.metadata?.exports, [{ name: exp }]);
    const last = m.pipelines.find((p) => p.name === exp)!.stages.at(-1)!;
    t.is(last.options?.filename, filename, `${type} export pipeline writes ${filename}`);
  }
  t.is(kojiFilename({ name: 'fedora-cloud', version: '43', release: '1.2' }, resolveImage('fedora-43', 'aarch64', 'minimal-raw')), 'fedora-cloud-43-1.2.aarch64.raw.xz');
  t.is(splitExtension('image.raw.xz'), '.raw.xz');
  t.is(splitExtension('noext'), '');
});

test('aliases resolve to the canonical type', (t) => {
  t.is(resolveImage('fedora-42', 'x86_64', 'qcow2').name, 'guest-image');
  t.is(resolveImage('rhel-10.0', 'x86_64', 'ami').name, 'aws');
});

test('unsupported distro, arch or type: KILN_UNSUPPORTED_IMAGE listing what is supported', (t) => {
  const d = t.throws(() => resolveImage('fedora-39', 'x86_64', 'guest-image'), { instanceOf: KilnError })!;
  t.is((d as KilnError).code, 'KILN_UNSUPPORTED_IMAGE');
  t.regex(d.message, /fedora-39/);
  t.regex(d.message, /fedora-41, fedora-42, fedora-43/);
  t.regex(d.message, /rhel-9\.<0-10>/);
  t.regex(d.message, /centos-10/);
  const noMinor = t.throws(() => resolveImage('rhel-9', 'x86_64', 'guest-image'))! as KilnError;
  t.is(noMinor.code, 'KILN_UNSUPPORTED_IMAGE');
  const a = t.throws(() => resolveImage('fedora-43', 's390x', 'guest-image'))! as KilnError;
  t.is(a.code, 'KILN_UNSUPPORTED_IMAGE');
  t.regex(a.message, /supported: aarch64, x86_64/);
  const i = t.throws(() => resolveImage('centos-9', 'x86_64', 'vhd'))! as KilnError;
  t.is(i.code, 'KILN_UNSUPPORTED_IMAGE');
  t.regex(i.message, /supported: aws, container, guest-image, minimal-raw/);
});

test('package set requests: build root with platform packages, os with customization chain', (t) => {
  const image = resolveImage('centos-9', 'x86_64', 'guest-image');
  const plain = packageSetRequests(image);
  t.deepEqual(Object.keys(plain), ['build', 'os']);
  t.is(plain.os.length, 1);
  t.true(plain.build[0].include.includes('grub2-pc'));
  t.true(plain.os[0].include.includes('@core'));
  t.true(plain.os[0].include.includes('shim-x64'));
  t.true(plain.os[0].include.includes('centos-stream-release'));
  t.false(plain.os[0].include.includes('redhat-release'));
  t.true(plain.os[0].exclude.includes('dracut-config-rescue'));
  const rhel = packageSetRequests(resolveImage('rhel-9.6', 'aarch64', 'guest-image'));
  t.true(rhel.os[0].include.includes('redhat-release'));
  t.true(rhel.os[0].include.includes('grub2-efi-aa64'));
  t.false(rhel.build[0].include.includes('grub2-pc'));
  const withPkgs = packageSetRequests(image, { packages: ['vim-enhanced', 'tmux', 'tmux'] });
  t.is(withPkgs.os.length, 2);
  t.deepEqual(withPkgs.os[1].include, ['vim-enhanced', 'tmux']);
  t.deepEqual(withPkgs.os[0], plain.os[0]);
  // version conditions
  const f42 = packageSetRequests(resolveImage('fedora-42', 'x86_64', 'minimal-raw'));
  const f43 = packageSetRequests(resolveImage('fedora-43', 'x86_64', 'minimal-raw'));
  t.false(f42.os[0].exclude.includes('firewalld'));
  t.true(f43.os[0].exclude.includes('firewalld'));
});

test('customizations land in the right stages', (t) => {
  const customizations = {
    packages: ['tmux'],
    users: [
      { name: 'zed', key: 'ssh-ed25519 AAAAzed zed@example' },
      { name: 'alice', key: 'ssh-ed25519 AAAA alice@example', groups: ['wheel'], password: '$6$salt$hash' },
    ],
    hostname: 'builder.example.com',
    timezone: { timezone: 'Europe/Prague' },
    kernel: { append: 'console=ttyS1 quiet' },
    services: { enabled: ['cockpit.socket'], disabled: ['kdump.service'] },
  };
  const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const reqs = packageSetRequests(image, customizations);
  const packages = syntheticDepsolve(reqs, 'x86_64');
  const m = generateManifest({ image, packages, customizations });
  t.true(validateManifest(m).success);
  const users = stage(m, 'os', 'org.osbuild.users')!.options!.users as Record<string, any>;
  t.deepEqual(Object.keys(users), ['alice', 'zed']);
  t.deepEqual(users.alice, { groups: ['wheel'], password: '$6$salt$hash', key: 'ssh-ed25519 AAAA alice@example' });
  t.deepEqual(stage(m, 'os', 'org.osbuild.hostname')!.options, { hostname: 'builder.example.com' });
  t.deepEqual(stage(m, 'os', 'org.osbuild.timezone')!.options, { zone: 'Europe/Prague' });
  t.regex(stage(m, 'os', 'org.osbuild.grub2')!.options!.kernel_opts as string, /net\.ifnames=0 console=ttyS1 quiet$/);
  t.regex(stage(m, 'os', 'org.osbuild.kernel-cmdline')!.options!.kernel_opts as string, /console=ttyS1 quiet$/);
  const systemd = stage(m, 'os', 'org.osbuild.systemd')!.options!;
  t.true((systemd.enabled_services as string[]).includes('cockpit.socket'));
  t.true((systemd.enabled_services as string[]).includes('cloud-init-network.service'), 'fedora 43 cloud-init service names');
  t.deepEqual(systemd.disabled_services, ['kdump.service']);
  // the extra package reaches the os rpm stage and the curl sources
  const tmux = syntheticPackage('tmux', 'x86_64');
  const refs = (stage(m, 'os', 'org.osbuild.rpm')!.inputs!.packages as any).references as { id: string }[];
  t.true(refs.some((r) => r.id === tmux.checksum));
  t.is(m.sources['org.osbuild.curl'].items[tmux.checksum], tmux.remote_location);
  t.false(((stage(m, 'build', 'org.osbuild.rpm')!.inputs!.packages as any).references as { id: string }[]).some((r) => r.id === tmux.checksum));
  // defaults without customizations
  const plain = build('fedora-43', 'x86_64', 'guest-image');
  t.deepEqual(stage(plain, 'os', 'org.osbuild.hostname')!.options, { hostname: 'localhost.localdomain' });
  t.is(stage(plain, 'os', 'org.osbuild.users'), undefined);
  t.deepEqual(stage(build('fedora-41', 'x86_64', 'guest-image'), 'os', 'org.osbuild.systemd')!.options!.enabled_services, [
    'cloud-init.service',
    'cloud-config.service',
    'cloud-final.service',
    'cloud-init-local.service',
  ]);
});

test('rpm stage references the curl sources by checksum, with gpg check metadata when asked', (t) => {
  const image = resolveImage('centos-10', 'x86_64', 'container');
  const packages = syntheticDepsolve(packageSetRequests(image), 'x86_64');
  packages.os[0] = { ...packages.os[0], check_gpg: true };
  const key = '-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n';
  const m = generateManifest({ image, packages, gpgkeys: [key, key] });
  t.deepEqual(stage(m, 'build', 'org.osbuild.rpm')!.options, { gpgkeys: [key] });
  const input = stage(m, 'os', 'org.osbuild.rpm')!.inputs!.packages as any;
  t.is(input.type, 'org.osbuild.files');
  t.is(input.origin, 'org.osbuild.source');
  t.is(input.references.length, packages.os.length);
  for (const r of input.references) t.truthy(m.sources['org.osbuild.curl'].items[r.id]);
  t.deepEqual(input.references.find((r: any) => r.id === packages.os[0].checksum).options, { metadata: { 'rpm.check_gpg': true } });
  t.deepEqual(stage(m, 'os', 'org.osbuild.rpm')!.options, { gpgkeys: [key], exclude: { docs: true }, install_langs: ['en_US'] });
  t.is(stage(m, 'container', 'org.osbuild.oci-archive')!.options!.architecture, 'amd64');
  t.true(validateManifest(m).success);
});

test('bad inputs: unsupported customization, invalid customization, incomplete depsolve result, disk too small', (t) => {
  const image = resolveImage('fedora-43', 'x86_64', 'container');
  const packages = syntheticDepsolve(packageSetRequests(image), 'x86_64');
  const k = t.throws(() => generateManifest({ image, packages, customizations: { kernel: { append: 'quiet' } } }), { instanceOf: InvalidInputError })!;
  t.regex(k.message, /customizations\.kernel/);
  const pw = t.throws(() => generateManifest({ image, packages, customizations: { users: [{ name: 'a', password: 'plaintext' }] } }), {
    instanceOf: InvalidInputError,
  })! as InvalidInputError;
  t.is(pw.field, 'customizations.users[0].password');
  const missing = t.throws(() => generateManifest({ image, packages: { build: packages.build } }))! as KilnError;
  t.is(missing.code, 'KILN_MANIFEST');
  const bad = t.throws(() => generateManifest({ image, packages: { ...packages, os: [{ ...packages.os[0], checksum: 'md5:abc' }] } }))! as KilnError;
  t.is(bad.code, 'KILN_MANIFEST');
  const disk = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const small = t.throws(() =>
    generateManifest({ image: disk, packages: syntheticDepsolve(packageSetRequests(disk), 'x86_64'), size: 1024 * 1024 * 1024 }),
  )! as KilnError;
  t.is(small.code, 'KILN_MANIFEST');
});

test('disk layout: partitions aligned, inside the disk, filesystems mounted parents first', (t) => {
  const m = build('rhel-9.6', 'x86_64', 'guest-image');
  const image = m.pipelines.find((p) => p.name === 'image')!;
  const size = Number(image.stages[0].options!.size);
  t.is(size, 10 * 1024 ** 3);
  const parts = (image.stages[1].options!.partitions as { start: number; size: number }[]);
  let prev = 0;
  for (const p of parts) {
    t.is(p.start % 2048, 0);
    t.true(p.start >= prev);
    prev = p.start + p.size;
  }
  t.true(prev * 512 <= size - 33 * 512);
  const copy = image.stages.find((s) => s.type === 'org.osbuild.copy')!;
  t.deepEqual(copy.mounts!.map((x) => x.target), ['/', '/boot', '/boot/efi']);
  t.deepEqual(copy.mounts!.map((x) => x.type), ['org.osbuild.xfs', 'org.osbuild.xfs', 'org.osbuild.fat']);
  const inst = image.stages.find((s) => s.type === 'org.osbuild.grub2.inst')!;
  t.is(inst.options!.location, 2048);
  t.is(build('rhel-9.6', 'aarch64', 'guest-image').pipelines.find((p) => p.name === 'image')!.stages.some((s) => s.type === 'org.osbuild.grub2.inst'), false);
  const fstab = stage(m, 'os', 'org.osbuild.fstab')!.options!.filesystems as { uuid: string; path: string }[];
  const grub = stage(m, 'os', 'org.osbuild.grub2')!.options!;
  t.is(fstab.find((f) => f.path === '/')!.uuid, grub.root_fs_uuid as string);
  t.is(fstab.find((f) => f.path === '/boot/efi')!.uuid, '7B77-95E7');
});

test('pipeline names by role', (t) => {
  t.deepEqual(pipelineNames(resolveImage('fedora-43', 'x86_64', 'guest-image')), { build: ['build'], payload: ['os', 'image', 'qcow2'] });
  t.deepEqual(pipelineNames(resolveImage('centos-9', 'x86_64', 'container')), { build: ['build'], payload: ['os', 'container'] });
});

test('image type files are validated: a broken one is refused naming the file and field', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-image-types-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = JSON.parse(readFileSync(path.join(imageTypesDir, 'fedora.json'), 'utf8'));
  t.is(loadImageTypeFamilies(dir).length, 0);
  const bad = structuredClone(good);
  delete bad.image_types['guest-image'].filename;
  writeFileSync(path.join(dir, 'fedora.json'), JSON.stringify(bad));
  const err = t.throws(() => loadImageTypeFamilies(dir), { instanceOf: InvalidInputError })! as InvalidInputError;
  t.is(err.field, 'image-types/fedora.json.image_types.guest-image.filename');
  const badExport = structuredClone(good);
  badExport.image_types.aws.exports = ['nope'];
  writeFileSync(path.join(dir, 'fedora.json'), JSON.stringify(badExport));
  t.throws(() => loadImageTypeFamilies(dir), { message: /aws: export nope is not a pipeline/ });
  writeFileSync(path.join(dir, 'fedora.json'), JSON.stringify(good));
  t.is(loadImageTypeFamilies(dir)[0].family.family, 'fedora');
});
