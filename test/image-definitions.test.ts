import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KilnError } from '../src/errors.js';
import { builtinDefinitionsDir, checkCatalog, ImageDefinitionError, loadCatalog, resolveImage, supportedImages } from '../src/osbuild/index.js';
import { imageTypesTable, readmeWithTable } from '../scripts/image-types-table.js';

function tempDir(t: { teardown(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small family of its own, so the engine's rules are tested apart from Kiln's data. */
const TOY = `
distros:
  toy:
    name: "toy-{major}.{minor}"
    major: 3
    releases: { "0": {}, "5": {}, "10": {} }
    product: Toy Linux
    vendor: toyco
    os_version: "3.{minor}"
    releasever: "3"
    module_platform_id: "platform:toy3"
    default_fs_type: xfs
    runner: { name: "org.osbuild.toy3{minor}", build_packages: [python3] }
    image_config:
      - timezone: Antarctica/Troll
        locale: C.UTF-8
        conditions:
          - when: { version_at_least: "3.5" }
            reason: newer releases say so
            merge: { locale: en_US.UTF-8 }
  toystream:
    name: toystream-3
    major: 3
    product: Toy Stream
    os_version: 3-stream
    releasever: "3"
    module_platform_id: "platform:toy3"
    default_fs_type: xfs
    runner: { name: org.osbuild.toystream3 }
package_sets:
  base:
    include: [core, kernel]
    exclude: [rescue]
    conditions:
      - when: { arch: aarch64 }
        reason: arm firmware
        append: { include: [arm-firmware] }
      - when: { version_below: "3.5" }
        reason: old releases still need it
        append: { include: [legacy-tool] }
platforms:
  efi: { uefi_vendor: "{vendor}", bootloader: grub2, packages: [shim] }
  bios: { use: efi, bios_platform: i386-pc, packages: [grub2-pc], build_packages: [grub2-pc] }
partition_tables:
  plain:
    x86_64:
      type: gpt
      partitions:
        - { size: 1 MiB, type: bios-boot, bootable: true }
        - { size: 200 MiB, type: esp, filesystem: { type: vfat, mountpoint: /boot/efi } }
        - { size: 1 GiB, type: root, filesystem: { mountpoint: / } }
    aarch64:
      type: gpt
      partitions:
        - { size: 200 MiB, type: esp, filesystem: { type: vfat, mountpoint: /boot/efi } }
        - { size: 1 GiB, type: root, filesystem: { mountpoint: / } }
  big-esp:
    x86_64:
      type: gpt
      partitions:
        - { size: 1 MiB, type: bios-boot, bootable: true }
        - { size: 600 MiB, type: esp, filesystem: { type: vfat, mountpoint: /boot/efi } }
        - { size: 1 GiB, type: root, filesystem: { mountpoint: / } }
    aarch64:
      type: gpt
      partitions:
        - { size: 600 MiB, type: esp, filesystem: { type: vfat, mountpoint: /boot/efi } }
        - { size: 1 GiB, type: root, filesystem: { mountpoint: / } }
image_configs:
  cloudy: { enabled_services: [cloud-init.service], kernel_options: [console=ttyS0] }
image_types:
  base-disk:
    bootable: true
    default_size: 4 GiB
    image_config: [{ use: cloudy }]
    package_sets: { os: [{ use: base }] }
    partition_table:
      use: plain
      conditions:
        - when: { version_at_least: "3.10" }
          reason: bigger ESP from 3.10
          override: { use: big-esp }
    platforms:
      arches:
        x86_64: { use: bios, image_format: qcow2 }
        aarch64: { use: efi, image_format: qcow2 }
  qcow2:
    inherits: base-disk
    aliases: [guest-image]
    kind: disk
    filename: disk.qcow2
    exports: [qcow2]
    image_config:
      - use: cloudy
        conditions:
          - when: { distro: toystream }
            reason: the stream has one more unit
            append: { enabled_services: [stream.service] }
  raw:
    inherits: qcow2
    aliases: []
    filename: disk.raw
    exports: [image]
    unavailable:
      - when: { not_distro: toy }
        reason: toy only
    platforms:
      arches:
        x86_64: { use: bios, image_format: raw }
`;

function toyCatalog(t: { teardown(fn: () => void): void }, extra: Record<string, string> = {}, dropins?: Record<string, string>) {
  const builtin = tempDir(t, 'kiln-defs-');
  mkdirSync(path.join(builtin, 'toy'));
  writeFileSync(path.join(builtin, 'toy', 'all.yaml'), TOY);
  for (const [name, text] of Object.entries(extra)) writeFileSync(path.join(builtin, 'toy', name), text);
  let dropinDir: string | undefined;
  if (dropins) {
    dropinDir = tempDir(t, 'kiln-dropins-');
    for (const [name, text] of Object.entries(dropins)) writeFileSync(path.join(dropinDir, name), text);
  }
  return loadCatalog({ builtinDir: builtin, ...(dropinDir ? { dropinDir } : {}) });
}

test('distros expand their releases; names, runner and versions come from the templates', (t) => {
  const c = toyCatalog(t);
  const names = [...new Set(supportedImages(c).map((i) => i.distro))];
  t.deepEqual(names, ['toy-3.0', 'toy-3.5', 'toy-3.10', 'toystream-3']);
  const r = resolveImage('toy-3.10', 'x86_64', 'qcow2', c);
  t.is(r.distro.runner, 'org.osbuild.toy310');
  t.is(r.distro.osVersion, '3.10');
  t.is(r.distro.distroName, 'toy');
  t.is(r.platform.uefiVendor, 'toyco', '{vendor} in a platform');
  t.is(resolveImage('toystream-3', 'x86_64', 'qcow2', c).distro.runner, 'org.osbuild.toystream3');
});

test('inheritance, aliases, platforms with use and added packages', (t) => {
  const c = toyCatalog(t);
  const r = resolveImage('toy-3.0', 'x86_64', 'guest-image', c);
  t.is(r.name, 'qcow2');
  t.is(r.defaultSize, 4 * 1024 ** 3, 'inherited from base-disk, "4 GiB" parsed');
  t.deepEqual(r.platform.packages, ['shim', 'grub2-pc']);
  t.deepEqual(r.platform.buildPackages, ['grub2-pc']);
  t.is(r.platform.biosPlatform, 'i386-pc');
  t.is(r.platform.imageFormat, 'qcow2');
  const raw = resolveImage('toy-3.0', 'x86_64', 'raw', c);
  t.is(raw.exportPipeline, 'image');
  t.is(raw.filename, 'disk.raw');
  t.deepEqual(raw.aliases, [], 'an inheriting type can drop the aliases');
  t.is(resolveImage('toy-3.0', 'aarch64', 'qcow2', c).platform.biosPlatform, undefined);
  t.false(supportedImages(c).some((i) => i.imageType === 'base-disk'), 'a type without kind is a base, not offered');
});

test('conditions: arch, version bounds, distro name; merge replaces a key, append adds; each layer in order', (t) => {
  const c = toyCatalog(t);
  const old = resolveImage('toy-3.0', 'x86_64', 'qcow2', c);
  t.deepEqual(old.packageSets.os, { include: ['core', 'kernel', 'legacy-tool'], exclude: ['rescue'] });
  t.deepEqual(resolveImage('toy-3.5', 'aarch64', 'qcow2', c).packageSets.os.include, ['arm-firmware', 'core', 'kernel']);
  t.is(old.imageConfig.locale, 'C.UTF-8');
  t.is(resolveImage('toy-3.5', 'x86_64', 'qcow2', c).imageConfig.locale, 'en_US.UTF-8', 'version_at_least is inclusive');
  t.is(old.imageConfig.timezone, 'Antarctica/Troll', 'distro defaults under the type');
  t.deepEqual(old.imageConfig.enabled_services, ['cloud-init.service']);
  t.deepEqual(resolveImage('toystream-3', 'x86_64', 'qcow2', c).imageConfig.enabled_services, ['cloud-init.service', 'stream.service']);
  // a stream without a minor is newer than every minor: version_below 3.5 does not hold, at_least 3.10 does
  const stream = resolveImage('toystream-3', 'x86_64', 'qcow2', c);
  t.false(stream.packageSets.os.include.includes('legacy-tool'));
  t.is(stream.partitionTable!.partitions[1].size, 600 * 1024 ** 2);
  t.is(resolveImage('toy-3.5', 'x86_64', 'qcow2', c).partitionTable!.partitions[1].size, 200 * 1024 ** 2);
  const rootFs = old.partitionTable!.partitions[2].payload;
  t.is(rootFs?.kind === 'filesystem' ? rootFs.type : undefined, 'xfs', 'the distro default file system');
});

test('unavailable types and unknown names: KILN_UNSUPPORTED_IMAGE listing what is offered', (t) => {
  const c = toyCatalog(t);
  const type = t.throws(() => resolveImage('toystream-3', 'x86_64', 'raw', c))! as KilnError;
  t.is(type.code, 'KILN_UNSUPPORTED_IMAGE');
  t.regex(type.message, /supported: qcow2 \(guest-image\)$/);
  const arch = t.throws(() => resolveImage('toy-3.0', 'aarch64', 'raw', c))! as KilnError;
  t.regex(arch.message, /unsupported architecture "aarch64" for raw on toy-3.0; supported: x86_64/);
  const distro = t.throws(() => resolveImage('toy-3.1', 'x86_64', 'qcow2', c))! as KilnError;
  t.regex(distro.message, /supported: toy-3.0, toy-3.5, toy-3.10, toystream-3/);
  t.is(checkCatalog(c), 4 * 2 + 3, 'qcow2 on 4 distros × 2 arches, raw on toy × x86_64');
});

test('drop-ins add a release and replace a block, and the fingerprint changes', (t) => {
  const plain = toyCatalog(t);
  const c = toyCatalog(t, {}, {
    'toy-3.11.yaml': 'family: toy\ndistros:\n  toy:\n    releases: { "11": {} }\n',
    'base.yaml': 'family: toy\npackage_sets:\n  base: { include: [core, kernel, site-agent] }\n',
  });
  t.is(resolveImage('toy-3.11', 'x86_64', 'qcow2', c).distro.runner, 'org.osbuild.toy311');
  t.deepEqual(resolveImage('toy-3.0', 'x86_64', 'qcow2', c).packageSets.os.include, ['core', 'kernel', 'site-agent']);
  t.true(c.overrides.some((o) => /toy-3.11.yaml: distro toy\/toy gains releases 11/.test(o)));
  t.true(c.overrides.some((o) => /base.yaml: replaces package_sets toy\/base/.test(o)));
  t.not(c.fingerprint, plain.fingerprint);
});

test('bad files are refused at load, naming the file and the field', (t) => {
  const bad = (files: Record<string, string>, dropins?: Record<string, string>) => t.throws(() => toyCatalog(t, files, dropins), { instanceOf: ImageDefinitionError })!;
  t.regex(bad({ 'x.yaml': 'image_types:\n  q:\n    kind: disk\n    filname: x\n' }).message, /toy\/x\.yaml: image_types\.q\.filname: is not an allowed field/);
  t.regex(bad({ 'x.yaml': 'image_types:\n  q:\n    inherits: nope\n' }).message, /toy\/x\.yaml: image_types\.q\.inherits: no image type "nope"/);
  t.regex(bad({ 'x.yaml': 'image_types:\n  q:\n    package_sets: { os: [{ use: basee }] }\n' }).message, /image_types\.q\.package_sets\.os\[0\]\.use: no package set "basee" in family toy \(there are: base\)/);
  t.regex(bad({ 'x.yaml': 'image_configs:\n  c: { locales: C }\n' }).message, /image_configs\.c\.locales: is not an image config key/);
  t.regex(bad({ 'x.yaml': 'image_configs:\n  c:\n    conditions:\n      - { when: { arch: x86_64 }, reason: why not, append: { locale: C } }\n' }).message, /append\.locale: is not a list/);
  t.regex(bad({ 'x.yaml': 'package_sets:\n  base: { include: [x] }\n' }).message, /package_sets\.base: is already defined in image-types\/toy\/all\.yaml/);
  t.regex(bad({ 'x.yaml': 'image_types:\n  q: [\n' }).message, /x\.yaml: line \d+, column \d+: not valid YAML/);
  t.regex(bad({}, { 'd.yaml': 'distros: {}\n' }).message, /d\.yaml: family: is required in a drop-in/);
  t.regex(bad({ 'x.yaml': 'package_sets:\n  c:\n    include: [a]\n    conditions: [{ when: { arch: x86_64 }, append: { include: [b] } }]\n' }).message, /reason/);
  // a table override that leaves out an arch the type is offered on: at start, not at the first build
  const missingArch = t.throws(() =>
    checkCatalog(toyCatalog(t, { 'x.yaml': 'partition_tables:\n  only-arm:\n    aarch64: { type: gpt, partitions: [{ filesystem: { mountpoint: / } }] }\nimage_types:\n  arm-only:\n    inherits: qcow2\n    aliases: []\n    partition_table: { use: only-arm }\n' })),
  )! as KilnError;
  t.regex(missingArch.message, /partition_tables\.only-arm: has no table for x86_64, which image type arm-only is offered on/);
});

test("Kiln's own definitions load and every offered image resolves", (t) => {
  const c = loadCatalog({ builtinDir: builtinDefinitionsDir });
  const n = checkCatalog(c);
  t.true(n > 100);
  t.log(`${n} (distro, arch, image type) combinations from ${[...c.families.keys()].join(', ')}`);
});

test('image-types/README.md: the table of image types is the one the definitions make', (t) => {
  const readme = readFileSync(path.join(builtinDefinitionsDir, 'README.md'), 'utf8');
  t.is(readmeWithTable(readme, imageTypesTable()), readme, 'run `npx tsx scripts/image-types-table.ts`');
});
