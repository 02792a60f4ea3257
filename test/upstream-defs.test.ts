/**
 * The upstream reader of the golden comparison (test/helpers/upstream-defs.ts), checked against
 * facts read by hand in osbuild/images' YAML (the reference copy at 1146ec23) and in its Go
 * code, and against small synthetic definitions for the rules the reference data never meets.
 * The reference tests skip with a notice when the reference copy is absent.
 */
import test from 'ava';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  KILN_DISTROS,
  loadUpstreamDefs,
  upstreamDefsDir,
  upstreamLayout,
  UpstreamDefsError,
  type ComparableDefinition,
  type ComparablePartitionTable,
  type ComparablePayload,
} from './helpers/upstream-defs.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** GPT header and footer with 512-byte sectors: 1 sector + 128 entries × 128 bytes. */
const GPT_FOOTER = 512 + 128 * 128;

const repoRoot = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const dir = upstreamDefsDir(repoRoot);

/** [start MiB, size] per partition in disk order, sizes in bytes. */
function layoutOf(def: ComparableDefinition): [number, number][] {
  if (!def.layout) throw new Error(`${def.name} has no layout`);
  return def.layout.partitions.map((p) => [p.start / MiB, p.size]);
}

function mountpointOf(p: ComparablePayload): string {
  return p.kind === 'filesystem' ? p.mountpoint : '';
}

if (!existsSync(dir)) {
  test('upstream definitions (reference copy absent)', (t) => {
    t.log(`skipped: no osbuild/images definitions at ${dir} (set KILN_UPSTREAM_DEFS to a copy of data/distrodefs)`);
    t.pass();
  });
} else {
  const defs = loadUpstreamDefs(dir);

  test('distro names resolve as upstream: first entry wins, match regexes normalise, templates fill in', (t) => {
    const rhel96 = defs.resolveDistro('rhel-96'); // rhel-9's match accepts the dotless form
    t.is(rhel96.name, 'rhel-9.6');
    t.deepEqual(rhel96.id, { name: 'rhel', major: 9, minor: 6 });
    t.is(rhel96.os_version, '9.6');
    t.is(rhel96.release_version, '9');
    t.is(rhel96.module_platform_id, 'platform:el9');
    t.is(rhel96.runner.name, 'org.osbuild.rhel96');
    t.deepEqual(rhel96.runner.build_packages, ['glibc', 'systemd', 'platform-python', 'python3']);
    t.is(rhel96.vendor, 'redhat');
    t.is(rhel96.default_fs_type, 'xfs');
    t.is(rhel96.image_config.timezone, 'America/New_York');
    t.is(rhel96.image_config.default_oscap_datastream, '/usr/share/xml/scap/ssg/content/ssg-rhel9-ds.xml');
    t.is(defs.resolveDistro('rhel-9.10').runner.name, 'org.osbuild.rhel910');

    // fedora-45 is spelled out first (rawhide, preview); other versions take the generic entry
    const f45 = defs.resolveDistro('fedora-45');
    t.true(f45.preview);
    t.is(f45.runner.name, 'org.osbuild.fedora45');
    const f44 = defs.resolveDistro('fedora-44');
    t.false(f44.preview);
    t.is(f44.module_platform_id, 'platform:f44');
    t.is(f44.bootstrap_containers.riscv64, 'ghcr.io/mvo5/fedora-buildroot:44');
    t.is(f44.vendor, '');
    t.is(f44.image_config.default_kernel, 'kernel-core');

    // centos-9: no minor, compares as 9.999; its own datastream through a distro condition
    const c9 = defs.resolveDistro('centos-9');
    t.deepEqual(c9.id, { name: 'centos', major: 9, minor: null });
    t.is(c9.compare_version, '9.999');
    t.is(c9.os_version, '9-stream');
    t.is(c9.vendor, 'centos');
    t.is(c9.image_config.default_oscap_datastream, '/usr/share/xml/scap/ssg/content/ssg-cs9-ds.xml');
    t.is(defs.resolveDistro('rhel-10.0').image_config.timezone, 'UTC');
    t.is(defs.resolveDistro('centos-10').image_config.default_oscap_datastream, '/usr/share/xml/scap/ssg/content/ssg-cs10-ds.xml');

    // rhel-10's match has no dotless form
    t.throws(() => defs.resolveDistro('rhel-100'), { instanceOf: UpstreamDefsError, message: /no upstream distro matches "rhel-100"/ });

    // tweaks: PQC rpmkeys for rhel ≥ 9.7 only; rhel-10 only ignores build key-import failures
    t.is(defs.resolveDistro('rhel-9.6').tweaks, null);
    t.deepEqual(defs.resolveDistro('rhel-9.7').tweaks, { rpmkeys: { binary_path: '/usr/lib/pqrpm/bin/rpmkeys', ignore_build_import_failures: true } });
    t.is(defs.resolveDistro('centos-9').tweaks, null);
    t.deepEqual(defs.resolveDistro('rhel-10.0').tweaks, { rpmkeys: { binary_path: '', ignore_build_import_failures: true } });

    t.deepEqual(defs.upstreamDistros().map((d) => d.name), [...KILN_DISTROS]);
  });

  test('aliases are per arch; rhel-10 vmdk carries the typo alias "vshpere" and no "vsphere"', (t) => {
    t.is(defs.resolveUpstream('rhel-10.0', 'vshpere', 'x86_64').name, 'vmdk');
    t.deepEqual(defs.resolveUpstream('rhel-10.0', 'vmdk', 'x86_64').aliases, ['vshpere']);
    t.throws(() => defs.resolveUpstream('rhel-10.0', 'vsphere', 'x86_64'), { message: /no image type "vsphere" on x86_64/ });
    t.is(defs.resolveUpstream('rhel-9.6', 'vsphere', 'x86_64').name, 'vmdk');
    t.is(defs.resolveUpstream('fedora-43', 'vsphere', 'x86_64').name, 'generic-vmdk');
    // generic-vmdk exists on x86_64 only, so its aliases exist there only
    t.throws(() => defs.resolveUpstream('fedora-43', 'vsphere', 'aarch64'), { instanceOf: UpstreamDefsError });
    const q = defs.resolveUpstream('fedora-43', 'qcow2', 'aarch64');
    t.is(q.name, 'generic-qcow2');
    t.deepEqual(q.aliases, ['guest-image', 'qcow2']);
    t.is(defs.resolveUpstream('centos-9', 'guest-image', 's390x').name, 'qcow2');
  });

  test('distro conditions drop image types: rhel-only, non-rhel-only, CVM from 9.6', (t) => {
    const has = (d: string, type: string, arch: string): boolean => defs.upstreamMatrix([d]).some((e) => e.name === type && e.arch === arch);
    t.false(has('rhel-9.5', 'azure-cvm', 'x86_64'));
    t.true(has('rhel-9.6', 'azure-cvm', 'x86_64'));
    t.true(has('rhel-9.6', 'ec2-cvm', 'x86_64'));
    t.false(has('centos-9', 'azure-cvm', 'x86_64')); // centos is 9.999 but the type is rhel-only
    t.false(has('centos-9', 'azure-rhui', 'x86_64'));
    t.true(has('centos-9', 'azure', 'aarch64'));
    t.false(has('rhel-9.6', 'azure', 'x86_64'));
    t.true(has('centos-10', 'container-minimal', 'ppc64le'));
    t.false(has('rhel-10.2', 'container', 'x86_64'));

    // the differences between versions follow from those three conditions alone
    const set = (d: string): Set<string> => new Set(defs.upstreamMatrix([d]).map((e) => `${e.name}/${e.arch}`));
    const minus = (a: Set<string>, b: Set<string>): string[] => [...a].filter((x) => !b.has(x)).sort();
    t.deepEqual(minus(set('rhel-9.6'), set('rhel-9.5')), ['azure-cvm/x86_64', 'ec2-cvm/x86_64']);
    t.deepEqual(minus(set('rhel-9.5'), set('rhel-9.6')), []);
    t.deepEqual(minus(set('centos-9'), set('rhel-9.0')), [
      'azure/aarch64', 'azure/x86_64',
      'container-minimal/aarch64', 'container-minimal/ppc64le', 'container-minimal/s390x', 'container-minimal/x86_64',
      'container/aarch64', 'container/ppc64le', 'container/s390x', 'container/x86_64',
    ]);
    t.deepEqual(minus(set('rhel-9.0'), set('centos-9')), ['azure-rhui/aarch64', 'azure-rhui/x86_64', 'azure-sap-rhui/x86_64', 'azure-sapapps-rhui/x86_64', 'ec2-ha/x86_64', 'ec2-sap/x86_64']);
  });

  test('rhel-9 minimal-raw: /boot grows with the minor version, centos-9 compares as 9.999; 8_388_608 offset', (t) => {
    const parts = (d: string): [string, number][] =>
      (defs.resolveUpstream(d, 'minimal-raw', 'x86_64').partition_table as ComparablePartitionTable).partitions.map((p) => [mountpointOf(p.payload), p.size]);
    t.deepEqual(parts('rhel-9.2'), [['/boot/efi', 200 * MiB], ['/boot', 500 * MiB], ['/', 2 * GiB]]);
    t.deepEqual(parts('rhel-9.3'), [['/boot/efi', 200 * MiB], ['/boot', 600 * MiB], ['/', 2 * GiB]]);
    t.deepEqual(parts('rhel-9.7'), [['/boot/efi', 200 * MiB], ['/boot', 600 * MiB], ['/', 2 * GiB]]);
    t.deepEqual(parts('rhel-9.8'), [['/boot/efi', 200 * MiB], ['/boot', 1 * GiB], ['/', 2 * GiB]]);
    t.deepEqual(parts('rhel-9.10'), [['/boot/efi', 200 * MiB], ['/boot', 1 * GiB], ['/', 2 * GiB]]);
    t.deepEqual(parts('centos-9'), [['/boot/efi', 200 * MiB], ['/boot', 1 * GiB], ['/', 2 * GiB]]);

    const def = defs.resolveUpstream('rhel-9.8', 'minimal-raw', 'aarch64');
    t.is(def.partition_table?.start_offset, 8 * MiB);
    // 8 MiB offset + GPT header, aligned to 1 MiB → ESP at 9 MiB; root (2 GiB) grows to 3 GiB; default 2 GiB is below that
    t.deepEqual(layoutOf(def), [[9, 200 * MiB], [209, 1 * GiB], [1233, 3 * GiB + MiB - GPT_FOOTER]]);
    t.is(def.layout?.size, 4306 * MiB);

    // another version-gated condition that centos-9 meets as 9.999 (package set of azure)
    const os = (d: string, type: string) => defs.resolveUpstream(d, type, 'x86_64').package_sets.os;
    t.true(os('centos-9', 'azure').include.includes('azure-vm-utils'));
    t.true(os('centos-9', 'azure').exclude.includes('initscripts-rename-device'));
    t.false(os('rhel-9.7', 'azure-rhui').include.includes('azure-vm-utils'));
    t.true(os('rhel-9.8', 'azure-rhui').include.includes('azure-vm-utils'));
  });

  test('worked layouts of images-model.md §4.9 (no customizations, no requested size)', (t) => {
    const fq = defs.resolveUpstream('fedora-43', 'generic-qcow2', 'x86_64');
    t.is(fq.default_size, 5 * GiB);
    t.deepEqual(fq.required_partition_sizes, { '/': 1 * GiB, '/usr': 2 * GiB });
    t.is(fq.layout?.size, 5323 * MiB);
    t.is(fq.layout?.size, 5_581_570_048);
    t.deepEqual(layoutOf(fq), [[1, 1 * MiB], [2, 200 * MiB], [202, 2048 * MiB], [2250, 3073 * MiB - 16896]]);
    t.deepEqual(fq.layout?.partitions.map((p) => p.mountpoints), [[], ['/boot/efi'], ['/boot'], ['/']]);
    t.is(fq.partition_table?.uuid, 'D209C89E-EA5E-4FBD-B161-B461CCE297E0');

    const r9 = defs.resolveUpstream('rhel-9.6', 'qcow2', 'x86_64');
    t.is(r9.layout?.size, 10240 * MiB);
    t.deepEqual(layoutOf(r9), [[1, 1 * MiB], [2, 200 * MiB], [202, 1024 * MiB], [1226, 9_451_847_168]]);

    const r10 = defs.resolveUpstream('rhel-10.0', 'qcow2', 'x86_64');
    t.is(r10.layout?.size, 10240 * MiB);
    t.deepEqual(layoutOf(r10), [[1, 1 * MiB], [2, 200 * MiB], [202, 10_525_588_992]]);
    t.is(r10.partition_table?.uuid, ''); // rhel-10 tables have no fixed uuid

    const mr = defs.resolveUpstream('fedora-43', 'minimal-raw-xz', 'x86_64');
    t.is(mr.layout?.size, 5322 * MiB);
    t.deepEqual(layoutOf(mr), [[1, 200 * MiB], [201, 2048 * MiB], [2249, 3073 * MiB - GPT_FOOTER]]);

    // dos: no footer, PReP first
    const ppc = defs.resolveUpstream('rhel-9.6', 'qcow2', 'ppc64le');
    t.is(ppc.partition_table?.type, 'dos');
    t.is(ppc.partition_table?.uuid, '0x14fc63d2');
    t.is(ppc.partition_table?.partitions[0].type, '41');
    t.is(ppc.layout?.size, 10240 * MiB);
    t.deepEqual(layoutOf(ppc), [[1, 4 * MiB], [5, 1024 * MiB], [1029, 9211 * MiB]]);
  });

  test('Fedora minimal-raw aarch64: dos table, 16 MiB start offset, first partition at 17 MiB', (t) => {
    const def = defs.resolveUpstream('fedora-43', 'minimal-raw-xz', 'aarch64');
    const pt = def.partition_table as ComparablePartitionTable;
    t.is(pt.type, 'dos');
    t.is(pt.uuid, ''); // none in the YAML: upstream draws a GUID-form id even for dos
    t.is(pt.start_offset, 16 * MiB);
    t.deepEqual(pt.partitions.map((p) => [p.type, p.bootable, mountpointOf(p.payload)]), [['06', true, '/boot/efi'], ['83', false, '/boot'], ['83', false, '/']]);
    t.is(def.layout?.size, 5337 * MiB);
    t.deepEqual(layoutOf(def), [[17, 200 * MiB], [217, 2048 * MiB], [2265, 3072 * MiB]]);
    t.deepEqual(def.platform.boot_files, [{ src: '/usr/share/uboot/rpi_arm64/u-boot.bin', dst: '/boot/efi/rpi-u-boot.bin', from_build: false }]);
    t.true(def.platform.packages.includes('bcm283x-firmware'));
  });

  test('azure: the table itself is 64 GiB and the root VG fills it', (t) => {
    const def = defs.resolveUpstream('rhel-9.6', 'azure-rhui', 'x86_64');
    const pt = def.partition_table as ComparablePartitionTable;
    t.is(pt.size, 64 * GiB);
    const vg = pt.partitions[3].payload;
    t.is(pt.partitions[3].type, 'E6D6D379-F507-44C2-A23C-238F2A3DF928');
    t.is(vg.kind, 'lvm');
    if (vg.kind !== 'lvm') return;
    t.is(vg.name, 'rootvg');
    t.deepEqual(vg.logical_volumes.map((lv) => [lv.name, lv.size, mountpointOf(lv.payload)]), [
      ['homelv', 1 * GiB, '/home'], ['rootlv', 2 * GiB, '/'], ['tmplv', 2 * GiB, '/tmp'], ['usrlv', 10 * GiB, '/usr'], ['varlv', 10 * GiB, '/var'],
    ]);
    t.is(def.layout?.size, 64 * GiB);
    // ESP, /boot, then the 2 MiB BIOS boot partition as listed, the VG last and grown
    t.deepEqual(layoutOf(def), [[1, 500 * MiB], [501, 1 * GiB], [1525, 2 * MiB], [1527, 64 * GiB - 1527 * MiB - GPT_FOOTER]]);
    // /usr has its own LV (10 GiB ≥ 2 GiB) and / is 2 GiB ≥ 1 GiB: no LV grows
    t.deepEqual(def.layout?.partitions[3].volumes.map((v) => v.size), [1 * GiB, 2 * GiB, 2 * GiB, 10 * GiB, 10 * GiB]);
    t.is(defs.resolveUpstream('centos-10', 'azure', 'aarch64').layout?.size, 64 * GiB);
  });

  test('iot-raw-xz: required_partition_sizes {"/": 0} switches the 1 GiB + 2 GiB minimum off', (t) => {
    const def = defs.resolveUpstream('fedora-43', 'iot-raw-image', 'x86_64');
    t.is(def.name, 'iot-raw-xz');
    t.deepEqual(def.required_partition_sizes, { '/': 0 });
    t.is(def.kind, 'ostree_disk');
    t.deepEqual(def.ostree?.ref, 'fedora/43/x86_64/iot');
    // ESP at 8 MiB offset + header → 9 MiB; / stays 2569 MiB: 2558 + 2569 MiB + footer → 5128 MiB
    const pt = def.partition_table as ComparablePartitionTable;
    t.is(upstreamLayout(pt, def.required_partition_sizes, 0).size, 5128 * MiB);
    // the default minimum would have grown / to 3 GiB: 2558 + 3072 MiB + footer → 5631 MiB
    t.is(upstreamLayout(pt, { '/': 1 * GiB, '/usr': 2 * GiB }, 0).size, 5631 * MiB);
    // with its default_size of 6 GiB both end at 6 GiB
    t.is(def.layout?.size, 6 * GiB);
    t.deepEqual(layoutOf(def), [[9, 501 * MiB], [510, 2048 * MiB], [2558, 6144 * MiB - 2558 * MiB - GPT_FOOTER]]);
    t.deepEqual(defs.resolveUpstream('fedora-43', 'iot-qcow2', 'x86_64').required_partition_sizes, { '/': 1 * GiB, '/usr': 2 * GiB });
  });

  test('image config layers type conditions > type > distro conditions > distro default, per top-level key', (t) => {
    const f42 = defs.resolveUpstream('fedora-42', 'minimal-raw', 'x86_64');
    const f43 = defs.resolveUpstream('fedora-43', 'minimal-raw', 'x86_64');
    // the type sets install_weak_deps false over the distro's true; the < 43 condition sets it back
    t.is(f43.image_config.install_weak_deps, false);
    t.is(f42.image_config.install_weak_deps, true);
    t.deepEqual(f43.kernel_options, ['rw']);
    t.deepEqual(f42.kernel_options, ['ro']);
    t.deepEqual(f43.enabled_services, ['NetworkManager.service', 'initial-setup.service', 'sshd.service']);
    t.deepEqual(f42.enabled_services, ['NetworkManager.service', 'initial-setup.service', 'sshd.service', 'firewalld.service']);
    t.is(f43.image_config.hostname, 'localhost.localdomain'); // distro default, untouched by the type
    t.is(f43.image_config.machine_id_uninitialized, false); // type over distro default
    t.deepEqual(f43.disk_config, { mount_configuration: 'units' });
    t.deepEqual(f42.disk_config, { mount_configuration: 'fstab' });
    t.true(f43.package_sets.os.exclude.includes('firewalld'));
    t.false(f42.package_sets.os.exclude.includes('firewalld'));

    // YAML 1.1 octal in a rhel ≥ 9.6 azure condition, decimal 440 in the vagrant sudoers file
    const files = (d: ComparableDefinition) => (d.image_config.files as { path: string; mode?: number }[] | undefined) ?? [];
    t.deepEqual(files(defs.resolveUpstream('rhel-9.6', 'azure-rhui', 'x86_64')).map((f) => [f.path, f.mode]), [['/usr/local/sbin/temp-disk-dataloss-warning', 0o755]]);
    t.deepEqual(files(defs.resolveUpstream('rhel-9.5', 'azure-rhui', 'x86_64')), []);
    t.deepEqual(files(defs.resolveUpstream('fedora-43', 'generic-vagrant-libvirt', 'x86_64')).map((f) => [f.path, f.mode]), [['/etc/sudoers.d/vagrant', 440]]);
  });

  test('platforms: vendor templated, groups flattened, Fedora < 45 installer platforms add zd1211-firmware', (t) => {
    t.is(defs.resolveUpstream('rhel-9.6', 'qcow2', 'x86_64').platform.uefi_vendor, 'redhat');
    t.is(defs.resolveUpstream('centos-9', 'qcow2', 'x86_64').platform.uefi_vendor, 'centos');
    const q = defs.resolveUpstream('fedora-43', 'generic-qcow2', 'x86_64');
    t.deepEqual(q.platform.packages, ['dracut-config-generic', 'efibootmgr', 'grub2-efi-x64', 'grub2-pc', 'shim-x64']); // uefi + bios groups, dracut-config-generic in both
    t.deepEqual(q.platform.build_packages, ['grub2-pc']);
    t.is(q.platform.bios_platform, 'i386-pc');
    t.is(q.boot_mode, 'hybrid');
    t.is(defs.resolveUpstream('fedora-43', 'generic-qcow2', 's390x').boot_mode, 'legacy');
    t.true(defs.resolveUpstream('fedora-44', 'minimal-installer', 'x86_64').platform.packages.includes('zd1211-firmware'));
    t.false(defs.resolveUpstream('fedora-45', 'minimal-installer', 'x86_64').platform.packages.includes('zd1211-firmware'));
    t.deepEqual(defs.resolveUpstream('fedora-45', 'minimal-installer', 'x86_64').platform.extra_uefi_architectures, ['ia32']);
  });

  test('package sets are sorted and deduplicated; upstream duplicates are flagged, not lost', (t) => {
    const inst = defs.resolveUpstream('fedora-43', 'netinst', 'x86_64');
    t.is(inst.name, 'everything-network-installer');
    const ps = inst.package_sets.installer;
    // the network installer list names audit and bind-utils twice
    t.deepEqual(ps.duplicated, { include: ['audit', 'bind-utils'], exclude: [] });
    t.is(ps.include.filter((p) => p === 'audit').length, 1);
    t.deepEqual(ps.include, [...ps.include].sort());
    // the x86_64-only condition appends dmidecode to it (once, so no duplicate there)
    t.true(ps.include.includes('dmidecode'));
    t.false(defs.resolveUpstream('fedora-43', 'netinst', 'ppc64le').package_sets.installer.include.includes('dmidecode'));
  });

  test('ISO labels, ostree refs and flatpak references are templated per distro and arch', (t) => {
    t.is(defs.resolveUpstream('fedora-43', 'everything-network-installer', 'x86_64').iso_volume_label, 'Fedora-43-Everything-x86_64');
    t.is(defs.resolveUpstream('rhel-9.6', 'image-installer', 'aarch64').iso_volume_label, 'RHEL-9-6-0-BaseOS-aarch64');
    t.is(defs.resolveUpstream('centos-9', 'image-installer', 'x86_64').iso_volume_label, 'CentOS-Stream-9-BaseOS-x86_64');
    t.is(defs.resolveUpstream('fedora-43', 'generic-qcow2', 'x86_64').iso_volume_label, null);
    t.is(defs.resolveUpstream('fedora-43', 'iot-commit', 'aarch64').ostree?.ref, 'fedora/43/aarch64/iot');
    t.is(defs.resolveUpstream('rhel-9.4', 'edge-commit', 'x86_64').ostree?.ref, 'rhel/9/x86_64/edge');
    const refs = (d: string) => ((defs.resolveUpstream(d, 'kinoite-installer', 'aarch64').installer_config?.flatpaks as { references: string[] }[])[0].references);
    t.is(refs('fedora-43')[0], 'runtime/org.fedoraproject.KDE6Platform/aarch64/f43');
    t.is(refs('fedora-45')[0], 'runtime/org.fedoraproject.KDE6Platform/aarch64/f44'); // "there are no 45 runtimes"
    t.is(defs.resolveUpstream('fedora-43', 'generic-qcow2', 'x86_64').installer_config, null);
  });

  test('the matrix: every entry resolves to itself, no ambiguous upstream data', (t) => {
    const entries = defs.upstreamMatrix();
    const keys = entries.map((e) => `${e.distro}/${e.name}/${e.arch}`);
    t.is(new Set(keys).size, keys.length);
    t.deepEqual([...new Set(entries.map((e) => e.distro))], [...KILN_DISTROS]);
    const warnings: string[] = [];
    for (const e of entries) {
      const def = defs.resolveUpstream(e.distro, e.name, e.arch);
      if (def.name !== e.name || def.arch !== e.arch || def.kind !== e.kind || def.aliases.join() !== e.aliases.join()) t.fail(`${keys.join()} resolves differently`);
      for (const a of e.aliases) if (defs.resolveUpstream(e.distro, a, e.arch).name !== e.name) t.fail(`alias ${a} of ${e.name}`);
      if ((def.layout === null) === ['disk', 'ostree_disk', 'ostree_simplified_installer'].includes(def.kind)) t.fail(`${e.name}: layout presence`);
      warnings.push(...def.warnings.map((w) => `${e.distro} ${e.name} ${e.arch}: ${w}`));
    }
    // the reference data avoids overlapping conditions; a new overlap must show up here
    t.deepEqual(warnings, []);
    const families = new Map<string, Set<string>>();
    for (const e of entries) families.set(e.family, (families.get(e.family) ?? new Set()).add(e.name));
    t.log(`${entries.length} (distro, type, arch); ${[...families].map(([f, s]) => `${f}: ${s.size} types`).join(', ')}`);
    t.deepEqual([...families.keys()], ['fedora', 'rhel-9', 'rhel-10']);
  });
}

// ---------------------------------------------------------------------------------------------
// Synthetic definitions: rules the reference data never exercises, and loud failures

const DISTROS_YAML = `
distros:
  - name: "testos-{{.MajorVersion}}"
    match: 'testos-[0-9]+'
    distro_like: fedora
    product: "TestOS"
    os_version: "{{.MajorVersion}}"
    release_version: 7
    module_platform_id: "platform:t{{.MajorVersion}}"
    vendor: "testvendor"
    default_fs_type: "btrfs"
    defs_path: fedora
    iso_label_tmpl: "{{.Product}}-{{.Distro.MajorVersion}}-{{.ISOLabel}}-{{.Arch}}"
    runner:
      name: "org.osbuild.testos{{.MajorVersion}}"
      build_packages: ["python3"]
    conditions:
      "no aarch64 raw before 3":
        when:
          arch: "aarch64"
          version_less_than: "3"
        ignore_image_types: ["raw"]
    image_config:
      default:
        timezone: "UTC"
        hostname: "h"
      conditions:
        "from 2 on":
          when:
            version_greater_or_equal: "2"
          shallow_merge:
            timezone: "Europe/Prague"
        "never: distro conditions see no arch":
          when:
            arch: "x86_64"
          shallow_merge:
            hostname: "never"
`;

const TYPES_YAML = `
image_types:
  raw:
    filename: "disk.raw"
    image_func: "disk"
    exports: ["image"]
    default_size: "1 GiB"
    name_aliases: ["plain"]
    platforms:
      - arch: "x86_64"
        uefi_vendor: "{{.DistroVendor}}"
        packages:
          a: ["shim", "grub2"]
          b: ["grub2"]
      - arch: "aarch64"
        uefi_vendor: "{{.DistroVendor}}"
    platforms_override:
      conditions:
        "never: platform overrides see no arch":
          when:
            arch: "x86_64"
          override:
            - arch: "s390x"
    partition_table:
      x86_64: &t
        type: "gpt"
        partitions:
          - size: "1 GiB"
            type: "bc13c2ff-59e6-4262-a352-b275fd6f7172"
            payload_type: "filesystem"
            payload:
              mountpoint: "/boot"
          - size: "2 GiB"
            payload_type: "filesystem"
            payload:
              mountpoint: "/"
      aarch64: *t
    image_config:
      kernel_options: ["base"]
      locale: "C"
      conditions:
        "first":
          when:
            arch: "x86_64"
          shallow_merge:
            kernel_options: ["one"]
            hostname: "a"
        "second":
          when:
            version_less_than: "5"
          shallow_merge:
            kernel_options: ["two"]
    package_sets:
      os:
        - include: ["b", "a", "b"]
          exclude: ["z"]
          conditions:
            "x86":
              when:
                arch: "x86_64"
              append:
                include: ["c", "a"]
  helper:
    package_sets:
      os:
        - include: ["x"]
`;

function fixture(t: { teardown(fn: () => void): void }, distros: string, types: string): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-upstream-defs-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(path.join(root, 'test.yaml'), distros);
  mkdirSync(path.join(root, 'fedora'));
  writeFileSync(path.join(root, 'fedora', 'imagetypes.yaml'), types);
  return root;
}

test('synthetic: default_fs_type fills untyped filesystems (/boot never btrfs), vendor template, conflicts warn', (t) => {
  const defs = loadUpstreamDefs(fixture(t, DISTROS_YAML, TYPES_YAML));
  const d3 = defs.resolveDistro('testos-3');
  t.is(d3.release_version, '7'); // an int in a string field keeps its text
  t.is(d3.runner.name, 'org.osbuild.testos3');
  t.is(d3.image_config.timezone, 'Europe/Prague');
  t.is(d3.image_config.hostname, 'h');
  t.is(defs.resolveDistro('testos-1').image_config.timezone, 'UTC');

  const def = defs.resolveUpstream('testos-3', 'plain', 'x86_64');
  t.is(def.name, 'raw');
  const fs = def.partition_table?.partitions.map((p) => (p.payload.kind === 'filesystem' ? [p.payload.mountpoint, p.payload.type] : [])) ?? [];
  t.deepEqual(fs, [['/boot', 'ext4'], ['/', 'btrfs']]);
  t.is(def.partition_table?.partitions[0].type, 'BC13C2FF-59E6-4262-A352-B275FD6F7172');
  t.is(def.platform.uefi_vendor, 'testvendor');
  t.deepEqual(def.platform.packages, ['grub2', 'shim']);
  t.deepEqual(def.package_sets.os, { include: ['a', 'b', 'c'], exclude: ['z'], duplicated: { include: ['a', 'b'], exclude: [] } });
  // both type conditions match and set kernel_options: applied in sorted order, and said so
  t.deepEqual(def.kernel_options, ['two']);
  t.is(def.image_config.hostname, 'a');
  t.is(def.image_config.locale, 'C');
  t.is(def.image_config.timezone, 'Europe/Prague');
  t.is(def.warnings.length, 1);
  t.regex(def.warnings[0], /^image_config: conditions "first" and "second" both match and set "kernel_options"/);
  t.deepEqual(defs.resolveUpstream('testos-3', 'raw', 'aarch64').warnings, []); // "first" is x86_64-only
  // root 2 GiB → 3 GiB; 1 GiB requested: 1 MiB + 1 GiB /boot, then / 3 GiB + footer
  t.is(def.layout?.size, 4098 * MiB);
  // no platform override matched (arch is not seen there); helper has no filename, so it is no image type
  t.deepEqual(defs.upstreamMatrix(['testos-3']).map((e) => `${e.name}/${e.arch}`), ['raw/x86_64', 'raw/aarch64']);
  // ignore_image_types sees the arch
  t.deepEqual(defs.upstreamMatrix(['testos-2']).map((e) => `${e.name}/${e.arch}`), ['raw/x86_64']);
  t.throws(() => defs.resolveUpstream('testos-2', 'raw', 'aarch64'), { message: /no image type "raw" on aarch64/ });
});

test('synthetic: what upstream refuses to load is an error naming the place', (t) => {
  const bad = (types: string, distros = DISTROS_YAML) => {
    const defs = loadUpstreamDefs(fixture(t, distros, types));
    return t.throws(() => defs.resolveUpstream('testos-3', 'raw', 'x86_64'), { instanceOf: UpstreamDefsError });
  };
  t.regex(bad(TYPES_YAML.replace('default_size:', 'defualt_size:'))?.message ?? '', /image type raw: unknown key "defualt_size"/);
  t.regex(bad(TYPES_YAML.replace('version_less_than: "5"', 'version_greater: "5"'))?.message ?? '', /conditions\["second"\]\.when: unknown key "version_greater"/);
  t.regex(bad(TYPES_YAML.replace('default_size: "1 GiB"', 'default_size: "1 GB2"'))?.message ?? '', /default_size: unknown data size units/);
  const twoOverrides = TYPES_YAML.replace(
    '    platforms_override:\n      conditions:\n',
    '    platforms_override:\n      conditions:\n        "a": {when: {distro_name: "testos"}, override: [{arch: "x86_64"}]}\n        "b": {when: {version_equal: "3"}, override: [{arch: "x86_64"}]}\n',
  );
  t.regex(bad(twoOverrides)?.message ?? '', /should match only once but matched 2 times \(a, b\)/);
  const missingArch = TYPES_YAML.replace(
    '    image_config:\n      kernel_options',
    '    partition_tables_override:\n      conditions:\n        "only aarch64":\n          when: {distro_name: "testos"}\n          override:\n            aarch64: *t\n    image_config:\n      kernel_options',
  );
  t.regex(bad(missingArch)?.message ?? '', /override has no table for x86_64/);
  t.regex(bad(TYPES_YAML.replace('name_aliases: ["plain"]', 'name_aliases: ["helper2", "helper2"]'))?.message ?? '', /alias 'helper2' for 'raw' is already defined/);
  t.regex(bad(TYPES_YAML, DISTROS_YAML.replace('    vendor: "testvendor"\n', ''))?.message ?? '', /uefi_vendor: template "\{\{\.DistroVendor\}\}": no value/);
  t.regex(bad(TYPES_YAML.replace('payload:\n              mountpoint: "/boot"', 'payload:\n              mountpoint: "/boot"\n              fstab_option: "x"'))?.message ?? '', /unknown key "fstab_option"/);
});

test('synthetic: yes/no stay strings, merge keys and octal as yaml.v3 reads them', (t) => {
  const types = TYPES_YAML.replace('      locale: "C"', '      locale: no\n      timezone: on\n      files:\n        - {path: "/x", mode: 0640}');
  const def = loadUpstreamDefs(fixture(t, DISTROS_YAML, types)).resolveUpstream('testos-3', 'raw', 'aarch64');
  t.is(def.image_config.locale, 'no');
  t.is(def.image_config.timezone, 'on');
  t.deepEqual(def.image_config.files, [{ path: '/x', mode: 0o640 }]);
  t.deepEqual(def.partition_table?.partitions.map((p) => p.size), [1 * GiB, 2 * GiB]); // the aarch64 table came through *t
});

// upstream's own unit-test vectors for relayout / NewCustomPartitionTable sizing (pkg/disk tests)
function fsPart(size: number, mountpoint: string): ComparablePartitionTable['partitions'][number] {
  return {
    size, type: '', bootable: false, uuid: '', label: '', attrs: [],
    payload: { kind: 'filesystem', type: 'xfs', uuid: '', label: '', mountpoint, fstab_options: '', fstab_freq: 0, fstab_passno: 0, mkfs_options: { verity: false, geometry: null } },
  };
}
function rawPart(size: number): ComparablePartitionTable['partitions'][number] {
  return { size, type: '', bootable: false, uuid: '', label: '', attrs: [], payload: { kind: 'none' } };
}
function table(type: string, size: number, partitions: ComparablePartitionTable['partitions'], start_offset = 0): ComparablePartitionTable {
  return { type, uuid: '', size, start_offset, sector_size: 512, extra_padding: 0, ensure_xbootldr: true, partitions };
}

test('layout port matches upstream unit-test vectors (TestRelayout, "plain-reqsizes")', (t) => {
  // simple-gpt-root-first: root moves last and fills 100 MiB minus the footer
  const rf = upstreamLayout(table('gpt', 100 * MiB, [fsPart(10 * MiB, '/'), rawPart(20 * MiB), rawPart(30 * MiB)]), {}, 100 * MiB);
  t.deepEqual(rf.partitions.map((p) => [p.index, p.start, p.size]), [[1, 1 * MiB, 20 * MiB], [2, 21 * MiB, 30 * MiB], [0, 51 * MiB, 49 * MiB - GPT_FOOTER]]);
  t.is(rf.size, 100 * MiB);

  // simple-gpt-growpt: 500 MiB root in a 42 MiB request grows the table to 512 MiB
  const gp = upstreamLayout(table('gpt', 100 * MiB, [rawPart(10 * MiB), fsPart(500 * MiB, '/')]), {}, 42 * MiB);
  t.is(gp.size, 512 * MiB);
  t.deepEqual(gp.partitions.map((p) => [p.start, p.size]), [[1 * MiB, 10 * MiB], [11 * MiB, 501 * MiB - GPT_FOOTER]]);

  // lvm-gpt: the VG partition fills the disk; the root LV is not grown
  const vg: ComparablePayload = { kind: 'lvm', name: 'vg', description: '', logical_volumes: [{ name: 'rootlv', size: 10 * MiB, payload: fsPart(0, '/').payload }] };
  const lvm = upstreamLayout(table('gpt', 100 * MiB, [rawPart(20 * MiB), { ...rawPart(30 * MiB), payload: vg }]), {}, 100 * MiB);
  t.deepEqual(lvm.partitions.map((p) => [p.start, p.size, p.volumes.map((v) => v.size)]), [[1 * MiB, 20 * MiB, []], [21 * MiB, 79 * MiB - GPT_FOOTER, [10 * MiB]]]);

  // plain-reqsizes: dos + 3 MiB offset → first partition at 4 MiB; / grows to 3 GiB (1 GiB + 2 GiB for /usr)
  const rq = upstreamLayout(
    table('dos', 0, [rawPart(1 * MiB), fsPart(200 * MiB, '/boot/efi'), fsPart(20 * MiB, '/data'), fsPart(0, '/')], 3 * MiB),
    { '/': 1 * GiB, '/usr': 2 * GiB },
    0,
  );
  t.is(rq.size, 225 * MiB + 3 * GiB);
  t.deepEqual(rq.partitions.map((p) => [p.start, p.size]), [[4 * MiB, 1 * MiB], [5 * MiB, 200 * MiB], [205 * MiB, 20 * MiB], [225 * MiB, 3 * GiB]]);

  // EnsureDirectorySizes through LUKS and LVM (TestEnsureDirectorySizes "luks+lvm"): the LVs grow, aligned to 4 MiB
  const luks: ComparablePayload = {
    kind: 'luks', passphrase: '', uuid: '', cipher: '', label: '', subsystem: '', sector_size: 0, pbkdf: { iterations: 0, memory: 0, parallelism: 0 }, clevis: null,
    payload: { kind: 'lvm', name: 'vg', description: '', logical_volumes: [{ name: 'rootlv', size: 2 * GiB, payload: fsPart(0, '/').payload }, { name: 'homelv', size: 2 * GiB, payload: fsPart(0, '/home').payload }] },
  };
  const ll = upstreamLayout(table('gpt', 0, [{ ...rawPart(5 * GiB), payload: luks }]), { '/var/lib': 3 * GiB, '/var/cache': 2 * GiB, '/var/log/journal': 2 * GiB, '/home/user/data': 10 * GiB }, 0);
  t.deepEqual(ll.partitions[0].volumes, [{ name: 'rootlv', mountpoint: '/', size: 7 * GiB }, { name: 'homelv', mountpoint: '/home', size: 10 * GiB }]);
  // (not an upstream vector, computed from the code) the partition became 17 GiB + 1 MiB VG metadata + 16 MiB LUKS
  // header; relayout's fitTo then asks the VG for its minimum at that partition size (17 GiB + 20 MiB after 4 MiB
  // alignment) and adds the LUKS header again: 17 GiB + 36 MiB from 1 MiB, plus the footer → 17 GiB + 38 MiB
  t.is(ll.size, 17 * GiB + 38 * MiB);
  t.deepEqual(ll.partitions.map((p) => [p.start, p.size]), [[1 * MiB, 17 * GiB + 37 * MiB - GPT_FOOTER]]);
  // (not an upstream vector) an LV grows in whole 4 MiB extents: 2 GiB + 1 MiB → 2 GiB + 4 MiB
  const odd = upstreamLayout(table('gpt', 0, [{ ...rawPart(5 * GiB), payload: luks }]), { '/home': 2 * GiB + 1 * MiB }, 0);
  t.deepEqual(odd.partitions[0].volumes.map((v) => v.size), [2 * GiB, 2 * GiB + 4 * MiB]);
  t.throws(() => upstreamLayout(table('gpt', 0, [fsPart(0, '/')]), { invalid: 300 }, 0), { message: /no filesystem holds "invalid"/ });
  // (computed from the code) the start offset is added to the header before aligning: 16896 B + 512 KiB → 1 MiB
  t.is(upstreamLayout(table('gpt', 0, [fsPart(10 * MiB, '/')], 512 * 1024), {}, 0).partitions[0].start, 1 * MiB);
});
