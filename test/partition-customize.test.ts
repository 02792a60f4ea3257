/**
 * The partitioning customizations (customizations.filesystem, partitioning_mode, disk) against
 * osbuild/images' rules at 1146ec23. Expected tables are worked out from upstream's algorithm
 * (pkg/disk/partition_table.go) by hand in the comments; where upstream's own unit tests give
 * numbers (pkg/disk/partition_table_test.go, partition_table_internal_test.go, disk_test.go),
 * the test title quotes the upstream case.
 *
 * Sizes: M = MiB, G = GiB; a GPT table has a 16 896-byte header (one 512-byte sector + 128
 * entries of 128 bytes) at the start and its copy at the end, so a GPT disk's last partition
 * ends FOOTER bytes before the disk does.
 */
import test from 'ava';
import { InvalidInputError } from '../src/errors.js';
import { resolveImage, supportedImages } from '../src/osbuild/index.js';
import { bootModeOf, customizePartitionTable, type PartitioningCustomization, type PartitioningOptions } from '../src/osbuild/partitions/customize.js';
import { ensureDirectorySizes, layout } from '../src/osbuild/partitions/layout.js';
import { mountables, PARTITION_GUIDS, type Btrfs, type Filesystem, type Partition, type PartitionTable, type Payload, type VolumeGroup } from '../src/osbuild/partitions/model.js';
import { assignIds, SeededRandom } from '../src/osbuild/partitions/uuids.js';
import { imagePipeline } from '../src/osbuild/kinds/disk.js';
import { fstabStage } from '../src/osbuild/stages/boot.js';
import { validateManifest } from './osbuild-standin/validate.js';

const K = 1024;
const M = 1024 * K;
const G = 1024 * M;
const FOOTER = 512 + 128 * 128;
const G_ = PARTITION_GUIDS;
const ESP_OPTS = 'defaults,uid=0,gid=0,umask=077,shortname=winnt';

// ---------------------------------------------------------------------------------------------
// building blocks

function fs(mountpoint: string, type: Filesystem['type'] = 'xfs', extra: Partial<Filesystem> = {}): Filesystem {
  return { kind: 'filesystem', type, mountpoint, fstabOptions: 'defaults', fstabFreq: 0, fstabPassno: 0, ...extra };
}

function part(size: number, payload?: Payload, extra: Partial<Partition> = {}): Partition {
  return { start: 0, size, bootable: false, ...(payload ? { payload } : {}), ...extra };
}

/**
 * upstream's internal/testdisk TestPartitionTables(): BIOS boot 1 MiB, ESP 200 MiB, /boot
 * 500 MiB xfs, and / in different containers (sizes 0 unless noted)
 */
function testdisk(name: 'plain' | 'plain-noboot' | 'plain-swap' | 'luks' | 'luks+lvm' | 'btrfs'): PartitionTable {
  const bios = part(M, undefined, { type: G_['bios-boot'], bootable: true, uuid: 'FAC7F1FB-3E8D-4137-A512-961DE09A5549' });
  const esp = part(200 * M, fs('/boot/efi', 'vfat', { label: 'ESP', uuid: '7B77-95E7', fstabOptions: ESP_OPTS, fstabPassno: 2 }), { type: G_.esp, uuid: '68B2905B-DF3E-4FB3-80FA-49D1E773AA33' });
  const boot = part(500 * M, fs('/boot', 'xfs', { label: 'boot' }), { type: G_.linux, uuid: 'CB07C243-BC44-4717-853E-28852021225B' });
  const rootExtra = { type: G_.linux, uuid: '6264D520-3FB9-423F-8AB8-7A0A8E3D3562' };
  const rootfs = fs('/', 'xfs', { label: 'root' });
  const partitions: Partition[] = [bios, esp];
  switch (name) {
    case 'plain':
      partitions.push(boot, part(0, rootfs, rootExtra));
      break;
    case 'plain-noboot':
      partitions.push(part(0, rootfs, rootExtra));
      break;
    case 'plain-swap':
      partitions.push(boot, part(512 * M, { kind: 'swap', label: 'swap', fstabOptions: 'defaults' }, { type: G_.swap }), part(0, rootfs, rootExtra));
      break;
    case 'luks':
      partitions.push(boot, part(0, { kind: 'luks', passphrase: 'osbuild', label: 'crypt_root', payload: rootfs }, rootExtra));
      break;
    case 'luks+lvm':
      partitions.push(
        boot,
        part(
          5 * G,
          {
            kind: 'luks',
            passphrase: 'osbuild',
            payload: {
              kind: 'lvm',
              name: 'vg',
              logicalVolumes: [
                { name: 'rootlv', size: 2 * G, payload: rootfs },
                { name: 'homelv', size: 2 * G, payload: fs('/home', 'xfs', { label: 'root' }) },
              ],
            },
          },
          rootExtra,
        ),
      );
      break;
    case 'btrfs':
      partitions.push(
        boot,
        part(
          10 * G,
          {
            kind: 'btrfs',
            subvolumes: [
              { name: 'root', mountpoint: '/', size: 0, fstabOptions: 'defaults' },
              { name: 'var', mountpoint: '/var', size: 5 * G, fstabOptions: 'defaults' },
            ],
          },
          rootExtra,
        ),
      );
      break;
  }
  return { type: 'gpt', uuid: 'D209C89E-EA5E-4FBD-B161-B461CCE297E0', size: 0, startOffset: 0, sectorSize: 512, partitions };
}

function opts(extra: Partial<PartitioningOptions> = {}): PartitioningOptions {
  return { arch: 'x86_64', bootMode: 'hybrid', defaultFsType: 'xfs', ...extra };
}

/** What a partition is, for comparisons: where, how big, its type, what it holds. */
function shape(pt: PartitionTable) {
  return pt.partitions.map((p) => ({ start: p.start, size: p.size, type: p.type, holds: describe(p.payload) }));
}

function describe(p: Payload | undefined): string {
  switch (p?.kind) {
    case undefined:
      return 'raw';
    case 'filesystem':
      return `${p.type} ${p.mountpoint}${p.label ? ` (${p.label})` : ''}`;
    case 'swap':
      return `swap${p.label ? ` (${p.label})` : ''}`;
    case 'lvm':
      return `vg ${p.name}: ${p.logicalVolumes.map((lv) => `${lv.name} ${lv.size / M}M ${describe(lv.payload)}`).join('; ')}`;
    case 'btrfs':
      return `btrfs${p.label ? ` (${p.label})` : ''}: ${p.subvolumes.map((s) => `${s.name} ${s.mountpoint} ${s.size / M}M`).join('; ')}`;
    case 'luks':
      return `luks: ${describe(p.payload)}`;
  }
}

function vgOf(pt: PartitionTable): VolumeGroup {
  for (const p of pt.partitions) {
    if (p.payload?.kind === 'lvm') return p.payload;
    if (p.payload?.kind === 'luks' && p.payload.payload.kind === 'lvm') return p.payload.payload;
  }
  throw new Error('no volume group');
}

function lvSize(pt: PartitionTable, mountpoint: string): number {
  return vgOf(pt).logicalVolumes.find((lv) => lv.payload.kind === 'filesystem' && lv.payload.mountpoint === mountpoint)!.size;
}

function holder(pt: PartitionTable, mountpoint: string): Partition {
  return pt.partitions[mountables(pt).find((m) => m.mountpoint === mountpoint)!.partition];
}

function refuses(t: import('ava').ExecutionContext, fn: () => unknown, field: string, message: string | RegExp): void {
  const err = t.throws(fn, { instanceOf: InvalidInputError }, `expected an error at ${field}`);
  if (!err) return;
  t.is((err as InvalidInputError).field, field);
  if (typeof message === 'string') t.is(err.message, `${field}: ${message}`);
  else t.regex(err.message, message);
}

/** osbuild's schemas accept the image pipeline and the fstab stage for the table (with identifiers). */
function checkManifest(t: import('ava').ExecutionContext, distro: string, arch: string, type: string, pt: PartitionTable): void {
  const image = resolveImage(distro, arch, type);
  assignIds(pt, new SeededRandom('partitions'));
  const manifest = {
    version: '2',
    pipelines: [
      { name: 'build', runner: image.distro.runner, stages: [] },
      { name: 'os', build: 'name:build', stages: [fstabStage(pt)] },
      imagePipeline({ image, pt, rng: new SeededRandom('1') }, 'disk.img'),
    ],
  };
  const res = validateManifest(manifest);
  if (res.skipped) t.log('osbuild schemas absent (shared/reference/osbuild-schemas): manifest not validated');
  if (!res.success) t.fail(JSON.stringify(res.errors.slice(0, 5)));
  else t.pass();
}

// ---------------------------------------------------------------------------------------------
// layout.ts against upstream's relayout and EnsureDirectorySizes

test('layout: upstream TestRelayout cases (simple-dos, simple-gpt, simple-gpt-root-first, lvm-*, btrfs, *-grow*)', (t) => {
  const table = (type: 'gpt' | 'dos', size: number, partitions: Partition[]): PartitionTable => ({ type, size, startOffset: 0, sectorSize: 512, partitions });
  const root = () => fs('/');
  const vg = (lvs: [number, boolean][]): VolumeGroup => ({
    kind: 'lvm',
    name: 'vg',
    logicalVolumes: lvs.map(([size, isRoot], i) => ({ name: `lv${i}`, size, payload: isRoot ? root() : { kind: 'swap', fstabOptions: 'defaults' } })),
  });
  const cases: [string, PartitionTable, number, number, [number, number][]][] = [
    ['simple-dos', table('dos', 100 * M, [part(10 * M), part(20 * M, root())]), 100 * M, 100 * M, [[M, 10 * M], [11 * M, 89 * M]]],
    ['simple-gpt', table('gpt', 100 * M, [part(10 * M), part(20 * M, root())]), 100 * M, 100 * M, [[M, 10 * M], [11 * M, 89 * M - FOOTER]]],
    ['simple-gpt-root-first', table('gpt', 100 * M, [part(10 * M, root()), part(20 * M), part(30 * M)]), 100 * M, 100 * M, [[M, 20 * M], [21 * M, 30 * M], [51 * M, 49 * M - FOOTER]]],
    ['lvm-dos', table('dos', 100 * M, [part(20 * M), part(30 * M, vg([[0, true]]))]), 100 * M, 100 * M, [[M, 20 * M], [21 * M, 79 * M]]],
    ['lvm-gpt', table('gpt', 100 * M, [part(20 * M), part(30 * M, vg([[10 * M, true]]))]), 100 * M, 100 * M, [[M, 20 * M], [21 * M, 79 * M - FOOTER]]],
    ['lvm-gpt-multilv', table('gpt', 100 * M, [part(20 * M), part(30 * M, vg([[20 * M, false], [10 * M, true]]))]), 100 * M, 100 * M, [[M, 20 * M], [21 * M, 79 * M - FOOTER]]],
    [
      'btrfs',
      table('gpt', 100 * M, [part(20 * M), part(30 * M, { kind: 'btrfs', subvolumes: [{ name: 'a', mountpoint: '/a', size: 20 * M, fstabOptions: 'defaults' }, { name: 'r', mountpoint: '/', size: 10 * M, fstabOptions: 'defaults' }] })]),
      100 * M,
      100 * M,
      [[M, 20 * M], [21 * M, 79 * M - FOOTER]],
    ],
    ['simple-dos-grow-pt', table('dos', 100 * M, [part(10 * M), part(200 * M, root())]), 100 * M, 211 * M, [[M, 10 * M], [11 * M, 200 * M]]],
    ['simple-gpt-growpt', table('gpt', 100 * M, [part(10 * M), part(500 * M, root())]), 42 * M, 512 * M, [[M, 10 * M], [11 * M, 501 * M - FOOTER]]],
    ['lvm-gpt-grow', table('gpt', 10 * M, [part(200 * M), part(500 * M, vg([[20 * M, false], [10 * M, true]]))]), 100 * M, 702 * M, [[M, 200 * M], [201 * M, 501 * M - FOOTER]]],
    // LVs 20 + 100 MiB + 1 MiB metadata = 121 MiB, rounded to the 4 MiB extent: 124 MiB
    ['lvm-dos-grow-rootvg', table('dos', 10 * M, [part(200 * M), part(10 * M, vg([[20 * M, false], [100 * M, true]]))]), 99 * M, 325 * M, [[M, 200 * M], [201 * M, 124 * M]]],
    ['lvm-gpt-grow-rootvg', table('gpt', 10 * M, [part(200 * M), part(10 * M, vg([[20 * M, false], [100 * M, true]]))]), 99 * M, 326 * M, [[M, 200 * M], [201 * M, 125 * M - FOOTER]]],
  ];
  for (const [name, pt, requested, size, parts] of cases) {
    layout(pt, requested);
    t.is(pt.size, size, name);
    t.deepEqual(pt.partitions.map((p) => [p.start, p.size]), parts, name);
  }
});

test('layout: a volume group partition given more than its volumes is rounded up to the 4 MiB extent, as upstream\'s fitTo does', (t) => {
  // upstream: VG minSize(size) = align4MiB(max(size, Σ LV + 1 MiB)); a 10 MiB + 1 byte partition
  // with a 4 MiB LV becomes 12 MiB (then the 1 MiB grain does not change it)
  const pt: PartitionTable = {
    type: 'dos',
    size: 0,
    startOffset: 0,
    sectorSize: 512,
    partitions: [part(10 * M + 1, { kind: 'lvm', name: 'data', logicalVolumes: [{ name: 'datalv', size: 4 * M, payload: fs('/data') }] }), part(G, fs('/'))],
  };
  layout(pt, 0);
  t.deepEqual(shape(pt).map((p) => [p.start, p.size]), [[M, 12 * M], [13 * M, G]]);
});

test('ensureDirectorySizes: upstream TestEnsureDirectorySizes (plain, luks+lvm, btrfs)', (t) => {
  const varSizes = { '/var/lib': 3 * G, '/var/cache': 2 * G, '/var/log/journal': 2 * G };
  const plain = testdisk('plain');
  ensureDirectorySizes(plain, varSizes);
  t.is(plain.partitions[3].size, 7 * G);

  // / grows to 7 GiB, /home to 10 GiB; the partition holds both LVs + 1 MiB metadata + 16 MiB LUKS header
  const luks = testdisk('luks+lvm');
  ensureDirectorySizes(luks, { ...varSizes, '/home/user/data': 10 * G });
  t.is(luks.partitions[3].size, 17 * G + M + 16 * M);
  t.is(lvSize(luks, '/'), 7 * G);
  t.is(lvSize(luks, '/home'), 10 * G);

  const btrfs = testdisk('btrfs');
  ensureDirectorySizes(btrfs, varSizes);
  t.is((btrfs.partitions[3].payload as Btrfs).subvolumes[1].size, 7 * G);
});

test('layout: a LUKS partition holding LVM gets the header twice, as upstream lays it out (fitTo adds it to a size that has it)', (t) => {
  // after the directory sizes the partition is 17 GiB + 17 MiB (above); relayout's fitTo gives
  // LUKS 16 MiB + VG align4(max(17 GiB + 17 MiB, 17 GiB + 1 MiB)) = 16 MiB + 17 GiB + 20 MiB.
  // Root starts after BIOS 1, ESP 200, /boot 500 (at 702 MiB); the disk ends at
  // align(702 MiB + 17 GiB + 36 MiB + footer) = 18 147 MiB.
  const pt = testdisk('luks+lvm');
  ensureDirectorySizes(pt, { '/var/lib': 3 * G, '/var/cache': 2 * G, '/var/log/journal': 2 * G, '/home/user/data': 10 * G });
  layout(pt, 0);
  t.is(pt.size, 18147 * M);
  t.deepEqual(pt.partitions.map((p) => [p.start, p.size]), [[M, M], [2 * M, 200 * M], [202 * M, 500 * M], [702 * M, 18147 * M - 702 * M - FOOTER]]);
});

// ---------------------------------------------------------------------------------------------
// the base path: customizations.filesystem and partitioning_mode

test('no partitioning customizations: the same table as the directory sizes and the layout alone, for every offered image type', (t) => {
  let n = 0;
  for (const s of supportedImages()) {
    const image = resolveImage(s.distro, s.arch, s.imageType);
    if (!image.partitionTable) continue;
    const expected = structuredClone(image.partitionTable);
    ensureDirectorySizes(expected, image.requiredDirectorySizes);
    layout(expected, image.defaultSize ?? 0);
    const got = customizePartitionTable(image.partitionTable, {}, {
      arch: s.arch,
      bootMode: bootModeOf(image.platform),
      defaultFsType: image.distro.defaultFsType,
      requiredDirectorySizes: image.requiredDirectorySizes,
      defaultSize: image.defaultSize ?? 0,
    });
    t.deepEqual(got, expected, `${s.distro} ${s.arch} ${s.imageType}`);
    n++;
  }
  t.true(n > 100, `${n} tables`);
});

test('base path: the base table is not changed, its fixed identifiers are kept', (t) => {
  const base = testdisk('plain');
  const before = structuredClone(base);
  const pt = customizePartitionTable(base, { filesystem: [{ mountpoint: '/var', minsize: 2 * G }] }, opts());
  t.deepEqual(base, before);
  t.is(pt.uuid, 'D209C89E-EA5E-4FBD-B161-B461CCE297E0');
  t.is(pt.partitions[1].uuid, '68B2905B-DF3E-4FB3-80FA-49D1E773AA33');
  t.is((pt.partitions[1].payload as Filesystem).uuid, '7B77-95E7');
});

test('base path: upstream TestLVMExtentAlignment (auto-lvm on "plain": sizes of the logical volumes)', (t) => {
  // /var 1 GiB + 1 B: aligned to the 4 MiB extent, then the 1 MiB grain: 1 GiB + 4 MiB
  let pt = customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/var', minsize: G + 1 }] }, opts({ size: 3 * G }));
  t.is(lvSize(pt, '/var'), G + 4 * M);
  // / 32 000 000 000 B exists: 1 MiB grain → 30 518 MiB; the conversion puts it on rootlv, aligned to
  // the extent: 30 520 MiB = 32 002 539 520 B; /var and /var/log 4 096 000 000 B → 3908 MiB
  pt = customizePartitionTable(
    testdisk('plain'),
    {
      filesystem: [
        { mountpoint: '/', minsize: 32000000000 },
        { mountpoint: '/var', minsize: 4096000000 },
        { mountpoint: '/var/log', minsize: 4096000000 },
      ],
    },
    opts({ size: 3 * G }),
  );
  t.is(lvSize(pt, '/'), 32002539520);
  t.is(lvSize(pt, '/var'), 3908 * M);
  t.is(lvSize(pt, '/var/log'), 3908 * M);
  pt = customizePartitionTable(
    testdisk('plain'),
    { filesystem: [{ mountpoint: '/', minsize: 32 * G }, { mountpoint: '/var', minsize: 4 * G }, { mountpoint: '/var/log', minsize: 4 * G }] },
    opts({ size: 3 * G }),
  );
  t.deepEqual([lvSize(pt, '/'), lvSize(pt, '/var'), lvSize(pt, '/var/log')], [32 * G, 4 * G, 4 * G]);
});

test('base path, auto-lvm with a new mount point: rootvg/rootlv, the new LV after it, the whole layout', (t) => {
  // first pass: /var is new. auto-lvm with a new mount point converts: /boot exists; the root
  // partition (size 0) becomes VG rootvg with rootlv (0), partition type LVM. Second pass: varlv
  // (1 GiB + 4 MiB), the partition asks for 1 GiB + 5 MiB. Directory sizes: / 1 GiB + /usr 2 GiB
  // on rootlv → 3 GiB; the partition 4 GiB + 5 MiB; the layout rounds the VG to 4 GiB + 8 MiB.
  // Root after BIOS (1 MiB at 1), ESP (200 at 2), /boot (500 at 202): at 702 MiB; disk =
  // align(702 MiB + 4104 MiB + footer) = 4807 MiB (more than the 3 GiB asked).
  const pt = customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/var', minsize: G + 1 }] }, opts({ size: 3 * G }));
  t.is(pt.size, 4807 * M);
  t.deepEqual(shape(pt), [
    { start: M, size: M, type: G_['bios-boot'], holds: 'raw' },
    { start: 2 * M, size: 200 * M, type: G_.esp, holds: 'vfat /boot/efi (ESP)' },
    { start: 202 * M, size: 500 * M, type: G_.linux, holds: 'xfs /boot (boot)' },
    { start: 702 * M, size: 4105 * M - FOOTER, type: G_.lvm, holds: 'vg rootvg: rootlv 3072M xfs / (root); varlv 1028M xfs /var' },
  ]);
  t.is(vgOf(pt).description, 'created via lvm2 and osbuild');
  checkManifest(t, 'rhel-9.6', 'x86_64', 'qcow2', pt);
});

test('base path: upstream TestMinimumSizes (raw and auto-lvm on "plain")', (t) => {
  const cases: [PartitioningCustomization['filesystem'], Record<string, number>][] = [
    [[{ mountpoint: '/usr', minsize: M }], { '/usr': 2 * G, '/': G }],
    [[{ mountpoint: '/', minsize: M }, { mountpoint: '/usr', minsize: K }], { '/usr': 2 * G, '/': G }],
    [[{ mountpoint: '/usr', minsize: 10 * G }], { '/usr': 10 * G, '/': G }],
    [[{ mountpoint: '/', minsize: 10 * G }, { mountpoint: '/home', minsize: M }], { '/': 10 * G, '/home': G }],
    [[{ mountpoint: '/opt', minsize: 10 * G }], { '/opt': 10 * G, '/': 3 * G }],
  ];
  for (const [filesystem, minimums] of cases) {
    const raw = customizePartitionTable(testdisk('plain'), { filesystem, partitioning_mode: 'raw' }, opts({ size: 3 * G }));
    const lvm = customizePartitionTable(testdisk('plain'), { filesystem, partitioning_mode: 'auto-lvm' }, opts({ size: 3 * G }));
    for (const [mp, min] of Object.entries(minimums)) {
      t.true(holder(raw, mp).size >= min, `raw ${mp}`);
      t.is(holder(raw, mp).payload?.kind, 'filesystem', `raw ${mp} on a partition`);
      t.true(lvSize(lvm, mp) >= min, `auto-lvm ${mp}`);
    }
  }
  // the /opt case in full, raw: /opt is a new 10 GiB partition (Linux data), / needs 3 GiB, goes last:
  // 702 + 10 240 = 10 942 MiB; disk align(10 942 MiB + 3 GiB + footer) = 14 015 MiB
  const raw = customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/opt', minsize: 10 * G }], partitioning_mode: 'raw' }, opts({ size: 3 * G }));
  t.deepEqual(shape(raw).slice(3), [
    { start: 702 * M, size: 10 * G, type: G_.linux, holds: 'xfs /opt' },
    { start: 10942 * M, size: 3073 * M - FOOTER, type: G_.linux, holds: 'xfs / (root)' },
  ]);
  t.is(raw.size, 14015 * M);
});

test('base path: upstream TestCreatePartitionTableDefaultFs (raw: the new partition gets the distro default, / keeps its own)', (t) => {
  const pt = customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/var/stuff', minsize: 10 * G }], partitioning_mode: 'raw' }, opts({ defaultFsType: 'ext4' }));
  const n = pt.partitions.length;
  t.is(describe(pt.partitions[n - 1].payload), 'xfs / (root)');
  t.is(describe(pt.partitions[n - 2].payload), 'ext4 /var/stuff');
});

test('base path: upstream TestNewBootWithSizeLVMify (a new /boot before the LVM conversion becomes the 1 GiB partition it creates)', (t) => {
  // /boot is new in "plain-noboot"; ensureLVM creates /boot (1 GiB, XBOOTLDR) at the end, the
  // second pass finds it and asks for 700 MiB: it stays 1 GiB
  const pt = customizePartitionTable(testdisk('plain-noboot'), { filesystem: [{ mountpoint: '/boot', minsize: 700 * M }] }, opts({ arch: 'aarch64', size: 3 * G }));
  const boot = holder(pt, '/boot');
  t.is(boot.size, G);
  t.is(boot.type, G_.xbootldr);
  t.is(boot.payload?.kind, 'filesystem');
  t.is(holder(pt, '/').payload?.kind, 'lvm');
});

test('base path: /boot is clamped to 500 MiB, other mount points to 1 GiB', (t) => {
  // RHEL 10 qcow2 has no /boot: raw creates one, 100 MiB asked → 500 MiB (XBOOTLDR);
  // /srv 1 B → 1 GiB
  const image = resolveImage('rhel-10.0', 'x86_64', 'qcow2');
  const pt = customizePartitionTable(
    image.partitionTable!,
    { partitioning_mode: 'raw', filesystem: [{ mountpoint: '/boot', minsize: 100 * M }, { mountpoint: '/srv', minsize: 1 }] },
    opts({ requiredDirectorySizes: image.requiredDirectorySizes, defaultSize: image.defaultSize }),
  );
  t.deepEqual(shape(pt).slice(2), [
    { start: 202 * M, size: 500 * M, type: G_.xbootldr, holds: 'xfs /boot' },
    { start: 702 * M, size: G, type: G_.linux, holds: 'xfs /srv' },
    // the default 10 GiB disk: / fills it
    { start: 1726 * M, size: 10 * G - 1726 * M - FOOTER, type: G_.linux, holds: 'xfs / (root)' },
  ]);
  checkManifest(t, 'rhel-10.0', 'x86_64', 'qcow2', pt);
});

test('base path: an existing mount point grows to the aligned size (the ESP to 1 GiB), the rest stays', (t) => {
  const pt = customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/boot/efi', minsize: 300 * M + 1 }, { mountpoint: '/boot', minsize: 600 * M + 1 }] }, opts());
  t.is(holder(pt, '/boot/efi').size, G);
  t.is(holder(pt, '/boot').size, 601 * M);
  t.is(holder(pt, '/').payload?.kind, 'filesystem', 'no new mount point: auto-lvm does not convert');
});

test('base path: upstream TestCreatePartitionTableLVMOnly (lvm mode converts without customizations; /boot created when missing)', (t) => {
  // "plain": rootlv gets / 1 GiB + /usr 2 GiB = 3 GiB, the VG 3 GiB + 1 MiB → 3 GiB + 4 MiB
  let pt = customizePartitionTable(testdisk('plain'), { partitioning_mode: 'lvm' }, opts({ arch: 's390x' }));
  t.is(describe(holder(pt, '/').payload), 'vg rootvg: rootlv 3072M xfs / (root)');
  t.is(holder(pt, '/').size, 3 * G + 4 * M + M - FOOTER);
  // "plain-noboot": /boot (1 GiB, default file system ext4) added before /
  pt = customizePartitionTable(testdisk('plain-noboot'), { partitioning_mode: 'lvm' }, opts({ arch: 's390x', defaultFsType: 'ext4' }));
  t.deepEqual(shape(pt).slice(2).map((p) => [p.start, p.size, p.type, p.holds]), [
    [202 * M, G, G_.xbootldr, 'ext4 /boot'],
    [1226 * M, 3 * G + 5 * M - FOOTER, G_.lvm, 'vg rootvg: rootlv 3072M xfs / (root)'],
  ]);
  // on a DOS table the LVM partition is 8e and the new /boot has no type (sfdisk's Linux)
  const image = resolveImage('rhel-10.0', 's390x', 'qcow2');
  pt = customizePartitionTable(image.partitionTable!, { partitioning_mode: 'lvm' }, opts({ arch: 's390x', requiredDirectorySizes: image.requiredDirectorySizes }));
  t.deepEqual(pt.partitions.map((p) => [p.type, describe(p.payload)]), [
    [undefined, 'xfs /boot'],
    ['8e', 'vg rootvg: rootlv 3072M xfs /'],
  ]);
  checkManifest(t, 'rhel-10.0', 's390x', 'qcow2', pt);
});

test('base path: upstream TestCreatePartitionTableLVMify refusals (auto-lvm with new mount points on btrfs and LUKS roots)', (t) => {
  refuses(
    t,
    () => customizePartitionTable(testdisk('btrfs'), { filesystem: [{ mountpoint: '/home', minsize: G }] }, opts()),
    'customizations.filesystem[0].mountpoint',
    'cannot convert the partition table to LVM (partitioning mode auto-lvm): its / is a btrfs subvolume; new mount points there are created as btrfs subvolumes with partitioning mode btrfs',
  );
  refuses(
    t,
    () => customizePartitionTable(testdisk('luks'), { filesystem: [{ mountpoint: '/home', minsize: G }] }, opts()),
    'customizations.filesystem[0].mountpoint',
    'cannot convert the partition table to LVM (partitioning mode auto-lvm): its / is in a LUKS container',
  );
  refuses(t, () => customizePartitionTable(testdisk('luks'), { partitioning_mode: 'lvm' }, opts()), 'customizations.partitioning_mode', /its \/ is in a LUKS container/);
});

test('base path: LVM inside LUKS ("luks+lvm"): a new LV grows the VG, the LUKS header and the partition', (t) => {
  // /var 1 GiB → varlv; the partition asks for Σ LV (2 + 2 + 1 GiB) + 1 MiB + 16 MiB; the
  // directory sizes grow rootlv to 3 GiB: 6 GiB + 17 MiB; the layout adds the header again
  // (fitTo): 16 MiB + align4(6 GiB + 17 MiB) = 6 GiB + 36 MiB, placed at 702 MiB
  const pt = customizePartitionTable(testdisk('luks+lvm'), { filesystem: [{ mountpoint: '/var', minsize: G }] }, opts());
  t.is(describe(holder(pt, '/').payload), 'luks: vg vg: rootlv 3072M xfs / (root); homelv 2048M xfs /home (root); varlv 1024M xfs /var');
  t.is(pt.size, 702 * M + 6 * G + 36 * M + M);
});

test('base path: upstream TestCreatePartitionTableBtrfsify (btrfs mode: / on a subvolume, new mount points as subvolumes)', (t) => {
  // "plain" + /home 20 GiB: root partition → btrfs "root" with subvolume root (zstd:1), type
  // root GUID; /home a subvolume named after its mount point; / 3 GiB; partition 23 GiB at 702 MiB
  const pt = customizePartitionTable(testdisk('plain'), { partitioning_mode: 'btrfs', filesystem: [{ mountpoint: '/home', minsize: 20 * G }] }, opts());
  const root = holder(pt, '/');
  t.is(root.type, G_.root.x86_64);
  t.is(describe(root.payload), 'btrfs (root): root / 3072M; /home /home 20480M');
  t.deepEqual((root.payload as Btrfs).subvolumes.map((s) => s.compress), ['zstd:1', 'zstd:1']);
  t.is(pt.size, 702 * M + 23 * G + M);
  // "plain-noboot": /boot created, with the file system btrfs (upstream switches the default first)
  const noboot = customizePartitionTable(testdisk('plain-noboot'), { partitioning_mode: 'btrfs' }, opts());
  t.is(describe(holder(noboot, '/boot').payload), 'btrfs /boot');
  // LVM and LUKS bases refuse
  refuses(t, () => customizePartitionTable(testdisk('luks+lvm'), { partitioning_mode: 'btrfs' }, opts()), 'customizations.partitioning_mode', 'btrfs partitioning mode set for a base partition table with LVM, this is unsupported');
  refuses(t, () => customizePartitionTable(testdisk('luks'), { partitioning_mode: 'btrfs' }, opts()), 'customizations.partitioning_mode', /cannot convert the partition table to btrfs .*LUKS/);
  checkManifest(t, 'rhel-9.6', 'x86_64', 'qcow2', pt);
});

test('base path: a read-only / becomes a read-only root subvolume', (t) => {
  const base = testdisk('plain');
  (base.partitions[3].payload as Filesystem).fstabOptions = 'defaults,ro';
  const pt = customizePartitionTable(base, { partitioning_mode: 'btrfs' }, opts());
  t.true((holder(pt, '/').payload as Btrfs).subvolumes[0].readOnly);
});

test('base path: raw and btrfs modes refuse a base table with LVM (azure)', (t) => {
  const image = resolveImage('rhel-9.6', 'x86_64', 'azure-rhui');
  for (const mode of ['raw', 'btrfs'] as const) {
    refuses(t, () => customizePartitionTable(image.partitionTable!, { partitioning_mode: mode }, opts()), 'customizations.partitioning_mode', `${mode} partitioning mode set for a base partition table with LVM, this is unsupported`);
  }
  // auto-lvm puts new mount points into its rootvg
  const pt = customizePartitionTable(image.partitionTable!, { filesystem: [{ mountpoint: '/srv', minsize: 5 * G }] }, opts({ requiredDirectorySizes: image.requiredDirectorySizes, defaultSize: image.defaultSize }));
  t.is(lvSize(pt, '/srv'), 5 * G);
  t.is(vgOf(pt).name, 'rootvg');
  t.is(pt.size, 64 * G, 'the table\'s own 64 GiB stays the floor');
  checkManifest(t, 'rhel-9.6', 'x86_64', 'azure-rhui', pt);
});

test('base path: Fedora Cloud (/ on btrfs): new mount points need btrfs mode, where they are subvolumes', (t) => {
  const image = resolveImage('fedora-41', 'x86_64', 'cloud-qcow2');
  const o = opts({ defaultFsType: image.distro.defaultFsType, requiredDirectorySizes: image.requiredDirectorySizes, defaultSize: image.defaultSize });
  refuses(t, () => customizePartitionTable(image.partitionTable!, { filesystem: [{ mountpoint: '/data', minsize: G }] }, o), 'customizations.filesystem[0].mountpoint', /its \/ is a btrfs subvolume/);
  refuses(
    t,
    () => customizePartitionTable(image.partitionTable!, { partitioning_mode: 'raw', filesystem: [{ mountpoint: '/data', minsize: G }] }, o),
    'customizations.filesystem[0].mountpoint',
    'cannot create "/data": / is a btrfs subvolume, so new mount points are btrfs subvolumes, which need partitioning mode btrfs (not raw)',
  );
  const pt = customizePartitionTable(image.partitionTable!, { partitioning_mode: 'btrfs', filesystem: [{ mountpoint: '/data', minsize: G }, { mountpoint: '/home', minsize: 2 * G }] }, o);
  const volume = holder(pt, '/').payload as Btrfs;
  t.deepEqual(volume.subvolumes.slice(-1).map((s) => [s.name, s.mountpoint, s.size]), [['/data', '/data', G]]);
  t.is(volume.subvolumes.find((s) => s.mountpoint === '/home')!.size, 2 * G, 'the existing /home subvolume grows');
  checkManifest(t, 'fedora-41', 'x86_64', 'cloud-qcow2', pt);
});

test('base path: a DOS table holds at most 4 partitions (raw mode on ppc64le)', (t) => {
  // RHEL 9 ppc64le: PReP, /boot, / → /var is the 4th partition; /home has no room
  const image = resolveImage('rhel-9.6', 'ppc64le', 'qcow2');
  const o = opts({ arch: 'ppc64le', bootMode: 'legacy', requiredDirectorySizes: image.requiredDirectorySizes });
  const pt = customizePartitionTable(image.partitionTable!, { partitioning_mode: 'raw', filesystem: [{ mountpoint: '/var', minsize: 2 * G }] }, o);
  t.deepEqual(pt.partitions.map((p) => [p.type, describe(p.payload)]), [['41', 'raw'], [undefined, 'xfs /boot (boot)'], [undefined, 'xfs /var'], [undefined, 'xfs /']]);
  checkManifest(t, 'rhel-9.6', 'ppc64le', 'qcow2', pt);
  refuses(
    t,
    () => customizePartitionTable(image.partitionTable!, { partitioning_mode: 'raw', filesystem: [{ mountpoint: '/var', minsize: 2 * G }, { mountpoint: '/home', minsize: G }] }, o),
    'customizations.filesystem[1].mountpoint',
    'cannot create a partition for "/home" (partitioning mode raw): the dos partition table already has the maximum of 4 partitions',
  );
});

test('base path: /boot/efi cannot be created where the table has no ESP (upstream makes an xfs one)', (t) => {
  const image = resolveImage('rhel-9.6', 'ppc64le', 'qcow2');
  refuses(
    t,
    () => customizePartitionTable(image.partitionTable!, { filesystem: [{ mountpoint: '/boot/efi', minsize: G }] }, opts({ arch: 'ppc64le', imageType: 'qcow2' })),
    'customizations.filesystem[0].mountpoint',
    'the partition table of "qcow2" has no /boot/efi (EFI system partition) to grow, and customizations.filesystem cannot create one',
  );
});

test('base path: LV names from mount points, made unique like blivet (var_loglv, srvlv00)', (t) => {
  const base = testdisk('plain');
  base.partitions[3].payload = { kind: 'lvm', name: 'rootvg', logicalVolumes: [{ name: 'rootlv', size: 0, payload: fs('/') }, { name: 'srvlv', size: G, payload: { kind: 'swap', fstabOptions: 'defaults' } }] };
  const pt = customizePartitionTable(base, { filesystem: [{ mountpoint: '/var/log', minsize: G }, { mountpoint: '/srv', minsize: G }, { mountpoint: '/a:b', minsize: G }] }, opts());
  t.deepEqual(vgOf(pt).logicalVolumes.map((lv) => lv.name), ['rootlv', 'srvlv', 'var_loglv', 'srvlv00', 'a_blv']);
});

test('base path: required directory sizes: undefined is upstream\'s default, {} none, others add up per mount point', (t) => {
  t.is(holder(customizePartitionTable(testdisk('plain'), {}, opts()), '/').size, 3 * G + M - FOOTER);
  t.is(customizePartitionTable(testdisk('plain'), {}, opts({ requiredDirectorySizes: {} })).size, 703 * M);
  // /usr on its own mount point takes its 3 GiB, / keeps 1 GiB (upstream TestMinimumSizesWithRequiredSizes)
  const pt = customizePartitionTable(testdisk('plain'), { partitioning_mode: 'raw', filesystem: [{ mountpoint: '/usr', minsize: M }] }, opts({ requiredDirectorySizes: { '/': G, '/usr': 3 * G } }));
  t.is(holder(pt, '/usr').size, 3 * G);
  t.is(holder(pt, '/').size, G + M - FOOTER);
});

test('base path: the request\'s size, else the type\'s default size, is the disk\'s floor', (t) => {
  t.is(customizePartitionTable(testdisk('plain'), {}, opts({ size: 20 * G, defaultSize: 10 * G })).size, 20 * G);
  t.is(customizePartitionTable(testdisk('plain'), {}, opts({ defaultSize: 10 * G })).size, 10 * G);
  t.is(customizePartitionTable(testdisk('plain'), {}, opts({ size: 10 * G + 1 })).size, 10 * G + M);
});

// ---------------------------------------------------------------------------------------------
// partitioning_mode and customizations.filesystem checks

test('partitioning_mode: values, the image type\'s supported modes, no mode with customizations.disk', (t) => {
  refuses(t, () => customizePartitionTable(testdisk('plain'), { partitioning_mode: 'thin' as never }, opts()), 'customizations.partitioning_mode', 'invalid partitioning mode "thin" (valid: raw, lvm, auto-lvm)');
  const o = opts({ supportedPartitioningModes: ['auto-lvm', 'lvm'], imageType: 'iot-raw-xz' });
  refuses(t, () => customizePartitionTable(testdisk('plain'), { partitioning_mode: 'raw' }, o), 'customizations.partitioning_mode', 'partitioning mode raw not supported for "iot-raw-xz" (supported: auto-lvm, lvm)');
  t.notThrows(() => customizePartitionTable(testdisk('plain'), {}, o), 'no mode is auto-lvm');
  refuses(t, () => customizePartitionTable(testdisk('plain'), {}, opts({ supportedPartitioningModes: ['raw'], imageType: 'x' })), 'customizations.partitioning_mode', 'partitioning mode auto-lvm (the default) not supported for "x" (supported: raw)');
  refuses(
    t,
    () => customizePartitionTable(testdisk('plain'), { partitioning_mode: 'lvm', disk: { partitions: [] } }, opts()),
    'customizations.partitioning_mode',
    'partitioning mode lvm has no effect with customizations.disk, which defines the whole partition table',
  );
  refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/a', minsize: G }], disk: {} }, opts()), 'customizations.disk', 'customizations.disk cannot be used with customizations.filesystem');
  const err = t.throws(() => customizePartitionTable(testdisk('plain'), { partitioning_mode: 'x' as never }, opts({ fieldPrefix: 'blueprint.customizations' })));
  t.is((err as InvalidInputError).field, 'blueprint.customizations.partitioning_mode');
});

test('customizations.filesystem: the mount point policy (upstream MountpointPolicies) and shape', (t) => {
  const allowed = ['/', '/usr', '/var', '/var/log', '/home', '/opt', '/srv', '/boot', '/boot/efi', '/tmp', '/var/lib/containers', '/etcetera', '/usrx', '/runner', '/var/runx'];
  for (const mp of allowed) t.notThrows(() => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: mp, minsize: G }] }, opts()), mp);
  const denied: [string, RegExp][] = [
    ['/etc', /\/etc must be on the root file system/],
    ['/etc/x', /\/etc must be on the root file system/],
    ['/usr/local', /only \/usr itself/],
    ['/sys', /API file system/],
    ['/proc', /API file system/],
    ['/dev', /API file system/],
    ['/run', /API file system/],
    ['/run/foo', /API file system/],
    ['/bin', /merged \/usr/],
    ['/sbin', /merged \/usr/],
    ['/lib', /merged \/usr/],
    ['/lib64', /merged \/usr/],
    ['/lost+found', /lost\+found/],
    ['/sysroot', /ostree/],
    ['/var/run', /symlink to \/run/],
    ['/var/run/x', /symlink to \/run/],
    ['/var/lock', /symlink to \/run\/lock/],
  ];
  for (const [mp, why] of denied) {
    refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/data', minsize: G }, { mountpoint: mp, minsize: G }] }, opts()), 'customizations.filesystem[1].mountpoint', new RegExp(`mountpoint ${JSON.stringify(mp).replace(/[+/]/g, '\\$&')} is not allowed: .*${why.source}`));
  }
  const shapes: [string, string][] = [
    ['', 'mountpoint is empty'],
    ['var', 'mountpoint "var" is not an absolute path'],
    ['/var/', 'mountpoint "/var/" is not a canonical path (did you mean "/var"?)'],
    ['/var//log', 'mountpoint "/var//log" is not a canonical path (did you mean "/var/log"?)'],
    ['/var/./log', 'mountpoint "/var/./log" is not a canonical path (did you mean "/var/log"?)'],
    ['/a/../etc', 'mountpoint "/a/../etc" is not a canonical path (did you mean "/etc"?)'],
    ['/my data', 'mountpoint "/my data" contains white space or control characters, which /etc/fstab cannot hold'],
  ];
  for (const [mp, message] of shapes) refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: mp, minsize: G }] }, opts()), 'customizations.filesystem[0].mountpoint', message);
});

test('customizations.filesystem: duplicates, sizes and unknown fields are refused', (t) => {
  refuses(
    t,
    () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/var', minsize: G }, { mountpoint: '/home', minsize: G }, { mountpoint: '/var', minsize: 2 * G }] }, opts()),
    'customizations.filesystem[2].mountpoint',
    'duplicate mountpoint "/var" (also customizations.filesystem[0])',
  );
  refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/var' } as never] }, opts()), 'customizations.filesystem[0].minsize', 'minsize is required');
  refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/var', minsize: -1 }] }, opts()), 'customizations.filesystem[0].minsize', 'must be a size in bytes (a non-negative integer), got -1');
  refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/var', minsize: 1.5 }] }, opts()), 'customizations.filesystem[0].minsize', /non-negative integer/);
  refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: 7, minsize: G } as never] }, opts()), 'customizations.filesystem[0].mountpoint', 'must be a string, got 7');
  refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: [{ mountpoint: '/var', minsize: G, size: G } as never] }, opts()), 'customizations.filesystem[0].size', 'unknown field "size" in a filesystem customization');
  refuses(t, () => customizePartitionTable(testdisk('plain'), { filesystem: {} as never }, opts()), 'customizations.filesystem', 'must be a list of {mountpoint, minsize}');
});

// ---------------------------------------------------------------------------------------------
// the custom path: customizations.disk

const gptBase = (): PartitionTable => ({ type: 'gpt', size: 0, startOffset: 0, sectorSize: 512, partitions: [part(0, fs('/'))] });
const dosBase = (): PartitionTable => ({ type: 'dos', size: 0, startOffset: 0, sectorSize: 512, partitions: [part(0, fs('/'))] });

function custom(disk: PartitioningCustomization['disk'], o: Partial<PartitioningOptions> = {}, base = gptBase()): PartitionTable {
  return customizePartitionTable(base, { disk }, opts(o));
}

const AUTO_BIOS = { start: M, size: M, type: G_['bios-boot'], holds: 'raw' };
const autoEsp = (start: number, type: string = G_.esp) => ({ start, size: 200 * M, type, holds: 'vfat /boot/efi (ESP)' });

// Upstream's DOS cases without required directory sizes end with a / of 0 bytes (no footer on
// DOS, nothing asks for room). osbuild would leave the size out of sfdisk's script and give / the
// rest of the disk; Kiln refuses that table, and checks the same layouts with / given 1 GiB.
const ROOT_1G = { requiredDirectorySizes: { '/': G } };

test('disk: upstream "dos-hybrid" (the customization\'s dos overrides the type\'s gpt; aarch64 gets only the ESP)', (t) => {
  // ESP at 1 MiB; / created at the end with the default file system, label root
  refuses(t, () => custom({ type: 'dos', partitions: [] }, { arch: 'aarch64' }), 'customizations.disk.minsize', /the \/ partition added for the image would be 0 bytes/);
  const pt = custom({ type: 'dos', partitions: [] }, { arch: 'aarch64', ...ROOT_1G });
  t.is(pt.type, 'dos');
  t.is(pt.size, 201 * M + G);
  t.deepEqual(shape(pt), [autoEsp(M, 'ef'), { start: 201 * M, size: G, type: '83', holds: 'xfs / (root)' }]);
  const esp = pt.partitions[0];
  t.is(esp.uuid, undefined, 'no partition UUIDs on DOS');
  t.like(esp.payload, { uuid: '7B77-95E7', label: 'ESP', fstabOptions: ESP_OPTS, fstabPassno: 2 });
  // a disk.minsize gives / the room instead
  t.is(holder(custom({ type: 'dos', minsize: 2 * G, partitions: [] }, { arch: 'aarch64' }), '/').size, 2 * G - 201 * M);
});

test('disk: upstream "plain-dos" and "plain-gpt" (BIOS boot and ESP first, part_type/part_label/part_uuid kept, / last)', (t) => {
  const data = { minsize: 20 * M, part_type: '42', mountpoint: '/data', label: 'data', fs_type: 'ext4' as const };
  refuses(t, () => custom({ partitions: [data] }, {}, dosBase()), 'customizations.disk.minsize', /0 bytes/);
  let pt = custom({ partitions: [data] }, ROOT_1G, dosBase());
  t.is(pt.size, 222 * M + G);
  t.deepEqual(shape(pt), [{ ...AUTO_BIOS, type: '00' }, autoEsp(2 * M, 'ef'), { start: 202 * M, size: 20 * M, type: '42', holds: 'ext4 /data (data)' }, { start: 222 * M, size: G, type: '83', holds: 'xfs / (root)' }]);

  pt = custom({
    partitions: [
      { minsize: 20 * M, part_type: '01234567-89ab-cdef-0123-456789abcdef', part_label: 'TheLabel', part_uuid: '76543210-89ab-cdef-0123-456789abcdef', mountpoint: '/data', label: 'data', fs_type: 'ext4' },
    ],
  });
  // GPT: / ends a footer before the 223 MiB disk (upstream's exact numbers)
  t.is(pt.size, 223 * M);
  t.deepEqual(shape(pt), [
    AUTO_BIOS,
    autoEsp(2 * M),
    // Kiln writes type GUIDs upper case (sfdisk does not mind); upstream keeps the case given
    { start: 202 * M, size: 20 * M, type: '01234567-89AB-CDEF-0123-456789ABCDEF', holds: 'ext4 /data (data)' },
    { start: 222 * M, size: M - FOOTER, type: G_.root.x86_64, holds: 'xfs / (root)' },
  ]);
  t.like(pt.partitions[2], { uuid: '76543210-89ab-cdef-0123-456789abcdef', label: 'TheLabel' });
  t.like(pt.partitions[0], { uuid: 'FAC7F1FB-3E8D-4137-A512-961DE09A5549', bootable: true });
  t.is(pt.partitions[1].uuid, '68B2905B-DF3E-4FB3-80FA-49D1E773AA33');
  checkManifest(t, 'rhel-9.6', 'x86_64', 'qcow2', pt);
});

test('disk: upstream "plain-none" and "plain+swap" (fs_type none: a raw data partition; swap: the swap type)', (t) => {
  let pt = custom({ partitions: [{ minsize: 20 * M, mountpoint: '/data', label: 'data', fs_type: 'ext4' }, { minsize: 5 * M, fs_type: 'none' }] }, { arch: 'aarch64' });
  t.is(pt.size, 227 * M);
  t.deepEqual(shape(pt), [
    autoEsp(M),
    { start: 201 * M, size: 20 * M, type: G_.linux, holds: 'ext4 /data (data)' },
    { start: 221 * M, size: 5 * M, type: G_.linux, holds: 'raw' },
    { start: 226 * M, size: M - FOOTER, type: G_.root.aarch64, holds: 'xfs / (root)' },
  ]);
  pt = custom({ partitions: [{ minsize: 20 * M, mountpoint: '/data', label: 'data', fs_type: 'ext4' }, { minsize: 5 * M, label: 'swap', fs_type: 'swap' }] }, { arch: 'aarch64' });
  t.is(pt.size, 227 * M);
  t.deepEqual(shape(pt)[2], { start: 221 * M, size: 5 * M, type: G_.swap, holds: 'swap (swap)' });
  checkManifest(t, 'rhel-9.6', 'aarch64', 'qcow2', pt);
});

test('disk: upstream "plain-legacy" and "plain-uefi" (boot mode chooses BIOS boot or ESP on x86_64)', (t) => {
  // (upstream: / of 0 bytes, disks of 22 and 221 MiB; here / has 1 GiB)
  const data = { partitions: [{ minsize: 20 * M, mountpoint: '/data', label: 'data', fs_type: 'ext4' as const }] };
  let pt = custom(data, { bootMode: 'legacy', ...ROOT_1G }, dosBase());
  t.is(pt.size, 22 * M + G);
  t.deepEqual(shape(pt), [{ ...AUTO_BIOS, type: '00' }, { start: 2 * M, size: 20 * M, type: '83', holds: 'ext4 /data (data)' }, { start: 22 * M, size: G, type: '83', holds: 'xfs / (root)' }]);
  pt = custom(data, { bootMode: 'uefi', ...ROOT_1G }, dosBase());
  t.is(pt.size, 221 * M + G);
  t.deepEqual(shape(pt).map((p) => p.holds), ['vfat /boot/efi (ESP)', 'ext4 /data (data)', 'xfs / (root)']);
  pt = custom(data, { bootMode: 'none' });
  t.deepEqual(shape(pt).map((p) => p.holds), ['ext4 /data (data)', 'xfs / (root)']);
});

test('disk: upstream "plain-reqsizes" (start_offset after the header, / takes the required 1 + 2 GiB)', (t) => {
  // DOS header 512 B + 3 MiB → first partition at 4 MiB
  const pt = custom({ start_offset: 3 * M, partitions: [{ minsize: 20 * M, mountpoint: '/data', label: 'data', fs_type: 'ext4' }] }, { requiredDirectorySizes: { '/': G, '/usr': 2 * G } }, dosBase());
  t.is(pt.startOffset, 3 * M);
  t.is(pt.size, 225 * M + 3 * G);
  t.deepEqual(shape(pt).map((p) => [p.start, p.size]), [[4 * M, M], [5 * M, 200 * M], [205 * M, 20 * M], [225 * M, 3 * G]]);
});

test('disk: upstream "plain+s390x", "plain+ppc64le+dos", "plain+ppc64le+gpt" (architecture boot partitions and root types)', (t) => {
  // s390x: nothing added; /home (data), swap, then / (given first, placed last) with 3 GiB
  let pt = custom(
    {
      type: 'gpt',
      partitions: [
        { minsize: 50 * M, mountpoint: '/', label: 'root', fs_type: 'xfs' },
        { minsize: 20 * M, mountpoint: '/home', label: 'home', fs_type: 'ext4' },
        { minsize: 12 * M, label: 'swappyswaps', fs_type: 'swap' },
      ],
    },
    { arch: 's390x', defaultFsType: 'ext4', requiredDirectorySizes: { '/': 3 * G } },
    dosBase(),
  );
  t.is(pt.size, 33 * M + 3 * G + M);
  t.deepEqual(shape(pt), [
    { start: M, size: 20 * M, type: G_.linux, holds: 'ext4 /home (home)' },
    { start: 21 * M, size: 12 * M, type: G_.swap, holds: 'swap (swappyswaps)' },
    { start: 33 * M, size: 3 * G + M - FOOTER, type: G_.root.s390x, holds: 'xfs / (root)' },
  ]);
  checkManifest(t, 'rhel-9.6', 's390x', 'qcow2', pt);
  // ppc64le: a 4 MiB PReP partition, bootable, no UUID
  pt = custom({ type: 'dos', partitions: [{ minsize: 50 * M, mountpoint: '/', label: 'root', fs_type: 'xfs' }] }, { arch: 'ppc64le', requiredDirectorySizes: { '/': 3 * G } }, dosBase());
  t.is(pt.size, 5 * M + 3 * G);
  t.deepEqual(shape(pt), [{ start: M, size: 4 * M, type: '41', holds: 'raw' }, { start: 5 * M, size: 3 * G, type: '83', holds: 'xfs / (root)' }]);
  t.true(pt.partitions[0].bootable);
  checkManifest(t, 'rhel-9.6', 'ppc64le', 'qcow2', pt);
  pt = custom({ type: 'gpt', partitions: [{ minsize: 50 * M, mountpoint: '/', label: 'root', fs_type: 'xfs' }] }, { arch: 'ppc64le', requiredDirectorySizes: { '/': 3 * G } }, dosBase());
  t.is(pt.size, 5 * M + 3 * G + M);
  t.deepEqual(shape(pt), [{ start: M, size: 4 * M, type: G_.prep, holds: 'raw' }, { start: 5 * M, size: 3 * G + M - FOOTER, type: G_.root.ppc64le, holds: 'xfs / (root)' }]);
});

const lvmCase = () => ({
  type: 'lvm' as const,
  minsize: 100 * M,
  name: 'testvg',
  logical_volumes: [
    { name: 'varloglv', minsize: 10 * M, mountpoint: '/var/log', label: 'var-log', fs_type: 'xfs' as const },
    { name: 'rootlv', minsize: 50 * M, mountpoint: '/', label: 'root', fs_type: 'xfs' as const },
    { minsize: 100 * M, mountpoint: '/data', label: 'data', fs_type: 'ext4' as const },
    { name: 'swaplv', minsize: 30 * M, label: 'swap-on-lv', fs_type: 'swap' as const },
  ],
});

test('disk: upstream "lvm-dos" and "lvm-gpt" (a /boot for the LVM root; LVs rounded to 4 MiB; the VG partition fits them)', (t) => {
  // LVs 12 + 52 + 100 + 32 = 196 MiB + 1 MiB metadata → 200 MiB (4 MiB extent); /boot 1 GiB
  // with the default ext4, label boot; DOS: 1226 + 200 MiB
  let pt = custom({ type: 'dos', partitions: [lvmCase()] }, { defaultFsType: 'ext4' });
  t.is(pt.size, 1426 * M);
  t.deepEqual(shape(pt), [
    { ...AUTO_BIOS, type: '00' },
    autoEsp(2 * M, 'ef'),
    { start: 202 * M, size: G, type: '83', holds: 'ext4 /boot (boot)' },
    { start: 1226 * M, size: 200 * M, type: '8e', holds: 'vg testvg: varloglv 12M xfs /var/log (var-log); rootlv 52M xfs / (root); datalv 100M ext4 /data (data); swaplv 32M swap (swap-on-lv)' },
  ]);
  t.is(vgOf(pt).description, 'created via lvm2 and osbuild');
  pt = custom({ partitions: [lvmCase()] }, { defaultFsType: 'ext4' });
  t.is(pt.size, 1427 * M);
  t.deepEqual(shape(pt).slice(2), [
    { start: 202 * M, size: G, type: G_.xbootldr, holds: 'ext4 /boot (boot)' },
    { start: 1226 * M, size: 201 * M - FOOTER, type: G_.lvm, holds: shape(pt)[3].holds },
  ]);
  checkManifest(t, 'rhel-9.6', 'x86_64', 'qcow2', pt);
});

test('disk: upstream "lvm-multivg" is refused: one volume group only (ValidateLayoutConstraints, which checkOptions runs)', (t) => {
  refuses(
    t,
    () => custom({ partitions: [{ type: 'lvm', minsize: 100 * M, logical_volumes: [{ minsize: 10 * M, mountpoint: '/var/log', fs_type: 'xfs' }] }, { type: 'lvm', minsize: 0, logical_volumes: [{ minsize: 100 * M, mountpoint: '/data', fs_type: 'ext4' }] }] }),
    'customizations.disk.partitions[1].type',
    'multiple LVM volume groups are not yet supported (customizations.disk.partitions[0] is one already)',
  );
});

test('disk: a VG without / gets rootlv (vg00 when unnamed, label root), sized by the required directories', (t) => {
  // upstream "lvm-multivg"'s first VG, alone: rootlv 3 GiB + varloglv 12 MiB + 1 MiB → 3 GiB + 16 MiB
  const pt = custom({ partitions: [{ type: 'lvm', minsize: 100 * M, logical_volumes: [{ name: 'varloglv', minsize: 10 * M, mountpoint: '/var/log', label: 'var-log', fs_type: 'xfs' }] }] }, { defaultFsType: 'ext4', requiredDirectorySizes: { '/': 3 * G } });
  t.is(describe(holder(pt, '/').payload), 'vg vg00: varloglv 12M xfs /var/log (var-log); rootlv 3072M ext4 / (root)');
  t.is(holder(pt, '/boot').size, G, 'no / given but a VG: /boot is added');
  t.is(holder(pt, '/').size, 3 * G + 16 * M + M - FOOTER);
});

test('disk: upstream "btrfs-dos", "btrfs-gpt", "btrfs-gpt-with-/boot", "autorootbtrfs"', (t) => {
  const subvols = [
    { name: 'subvol/root', mountpoint: '/' },
    { name: 'subvol/home', mountpoint: '/home' },
    { name: 'subvol/varlog', mountpoint: '/var/log' },
  ];
  // btrfs root without a /boot subvolume: /boot (1 GiB, ext4 default) is added; the volume's
  // partition is Linux data (83), 230 MiB at 1226 MiB
  let pt = custom({ type: 'dos', partitions: [{ type: 'btrfs', minsize: 230 * M, subvolumes: subvols }] }, { defaultFsType: 'ext4' });
  t.is(pt.size, 1456 * M);
  t.deepEqual(shape(pt).slice(2), [
    { start: 202 * M, size: G, type: '83', holds: 'ext4 /boot (boot)' },
    { start: 1226 * M, size: 230 * M, type: '83', holds: 'btrfs: subvol/root / 0M; subvol/home /home 0M; subvol/varlog /var/log 0M' },
  ]);
  // gpt with a swap partition after the volume: swap is placed first, the volume (holding /) last
  pt = custom({ partitions: [{ type: 'btrfs', minsize: 230 * M, subvolumes: subvols }, { minsize: 120 * M, label: 'butterswap', fs_type: 'swap' }] }, { defaultFsType: 'ext4' });
  t.is(pt.size, 1577 * M);
  t.deepEqual(shape(pt).slice(2), [
    { start: 202 * M, size: G, type: G_.xbootldr, holds: 'ext4 /boot (boot)' },
    { start: 1226 * M, size: 120 * M, type: G_.swap, holds: 'swap (butterswap)' },
    { start: 1346 * M, size: 231 * M - FOOTER, type: G_.linux, holds: shape(pt)[4].holds },
  ]);
  checkManifest(t, 'fedora-41', 'x86_64', 'generic-qcow2', pt);
  // a /boot subvolume beside /: no /boot partition
  pt = custom({ partitions: [{ type: 'btrfs', minsize: 230 * M, subvolumes: [subvols[0], { name: 'subvol/boot', mountpoint: '/boot' }] }, { minsize: 120 * M, label: 'butterswap', fs_type: 'swap' }] }, { defaultFsType: 'ext4' });
  t.is(pt.size, 553 * M);
  t.deepEqual(shape(pt).map((p) => [p.start, p.size]), [[M, M], [2 * M, 200 * M], [202 * M, 120 * M], [322 * M, 231 * M - FOOTER]]);
  // no / at all: a subvolume "root" is appended, /boot (xfs when the default is not ext4/xfs)
  pt = custom({ partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: 'data', mountpoint: '/data' }] }] }, { bootMode: 'none', defaultFsType: 'btrfs' });
  t.is(pt.size, 1026 * M);
  t.deepEqual(shape(pt), [
    { start: M, size: G, type: G_.xbootldr, holds: 'xfs /boot (boot)' },
    { start: 1025 * M, size: M - FOOTER, type: G_.linux, holds: 'btrfs: data /data 0M; root / 0M' },
  ]);
});

test('disk: upstream "ukiboot" (raw partitions with their own types and names)', (t) => {
  const pt = custom(
    {
      type: 'gpt',
      partitions: [
        { minsize: 64 * M, part_type: 'DF331E4D-BE00-463F-B4A7-8B43E18FB53A', part_label: 'ukiboot_a', fs_type: 'none' },
        { minsize: 64 * M, part_type: 'DF331E4D-BE00-463F-B4A7-8B43E18FB53A', part_label: 'ukiboot_b', fs_type: 'none' },
        { minsize: M, part_type: 'FEFD9070-346F-4C9A-85E6-17F07F922773', part_label: 'ukibootctl', fs_type: 'none' },
      ],
    },
    { bootMode: 'uefi' },
  );
  t.is(pt.size, 331 * M);
  t.deepEqual(shape(pt), [
    autoEsp(M),
    { start: 201 * M, size: 64 * M, type: 'DF331E4D-BE00-463F-B4A7-8B43E18FB53A', holds: 'raw' },
    { start: 265 * M, size: 64 * M, type: 'DF331E4D-BE00-463F-B4A7-8B43E18FB53A', holds: 'raw' },
    { start: 329 * M, size: M, type: 'FEFD9070-346F-4C9A-85E6-17F07F922773', holds: 'raw' },
    { start: 330 * M, size: M - FOOTER, type: G_.root.x86_64, holds: 'xfs / (root)' },
  ]);
  t.deepEqual(pt.partitions.slice(1, 4).map((p) => p.label), ['ukiboot_a', 'ukiboot_b', 'ukibootctl']);
  checkManifest(t, 'rhel-10.0', 'x86_64', 'ec2-cvm', pt);
});

test('disk: upstream "gpt-blueprint-efi" and "dos-blueprint-efi-type" (a customized /boot/efi replaces the automatic ESP)', (t) => {
  let pt = custom({ partitions: [{ minsize: 500 * M, mountpoint: '/boot/efi', fs_type: 'vfat' }] }, { bootMode: 'uefi' });
  t.is(pt.size, 502 * M);
  t.deepEqual(shape(pt), [{ start: M, size: 500 * M, type: G_.esp, holds: 'vfat /boot/efi' }, { start: 501 * M, size: M - FOOTER, type: G_.root.x86_64, holds: 'xfs / (root)' }]);
  // no fixed identifiers on a customized ESP; its fstab options are the ESP's
  t.is(pt.partitions[0].uuid, undefined);
  t.like(pt.partitions[0].payload, { uuid: undefined, fstabOptions: ESP_OPTS });
  pt = custom({ partitions: [{ minsize: 500 * M, mountpoint: '/boot/efi', fs_type: 'vfat' }] }, { bootMode: 'uefi', ...ROOT_1G }, dosBase());
  t.deepEqual(shape(pt), [{ start: M, size: 500 * M, type: 'ef', holds: 'vfat /boot/efi' }, { start: 501 * M, size: G, type: '83', holds: 'xfs / (root)' }]);
});

test('disk: upstream TestNewCustomPartitionTableSectorSize (512 default, 4096 kept; sizes stay whole sectors)', (t) => {
  const root = [{ minsize: G, mountpoint: '/', fs_type: 'xfs' as const }];
  t.is(custom({ partitions: root }, { bootMode: 'none' }).sectorSize, 512);
  t.is(custom({ sector_size: 512, partitions: root }, { bootMode: 'none' }).sectorSize, 512);
  // a 4096-byte sector GPT: header 4096 + 16 384 = 20 480 B; / at 1 MiB, disk align(1 MiB + 1 GiB + 20 480) = 1026 MiB
  const pt = custom({ sector_size: 4096, partitions: root }, { bootMode: 'none' });
  t.is(pt.sectorSize, 4096);
  t.is(pt.size, 1026 * M);
  t.deepEqual(shape(pt).map((p) => [p.start, p.size]), [[M, 1025 * M - 20480]]);
  t.true(pt.partitions.every((p) => p.size % 4096 === 0 && p.start % 4096 === 0));
  checkManifest(t, 'rhel-10.0', 'aarch64', 'qcow2', pt);
});

test('disk: the request\'s size replaces disk.minsize; the type\'s default size does not apply; required sizes only when the type sets them', (t) => {
  const disk = { minsize: 10 * G, partitions: [{ minsize: G, mountpoint: '/', fs_type: 'xfs' as const }] };
  t.is(custom(disk, { bootMode: 'none' }).size, 10 * G);
  t.is(custom(disk, { bootMode: 'none', size: 5 * G, defaultSize: 20 * G }).size, 5 * G);
  t.is(custom({ partitions: disk.partitions }, { bootMode: 'none', defaultSize: 20 * G }).size, G + 2 * M);
  t.is(custom({ partitions: [] }, { bootMode: 'none', requiredDirectorySizes: undefined }).size, 2 * M, 'undefined: none (unlike the base path)');
  t.is(holder(custom({ partitions: [] }, { bootMode: 'none', requiredDirectorySizes: { '/': G, '/usr': 2 * G } }), '/').size, 3 * G + M - FOOTER);
});

test('disk: upstream TestNewCustomPartitionTableErrors', (t) => {
  refuses(
    t,
    () => custom({ partitions: [{ minsize: 20 * M, mountpoint: '/data', label: 'data', fs_type: 'ext4' }, { minsize: 5 * M, label: 'swap', fs_type: 'swap' }] }, {}, dosBase()),
    'customizations.disk.partitions',
    '"dos" partition table type only supports up to 4 partitions: got 5 after creating the partition table with all necessary partitions (added for the image type: BIOS boot, /boot/efi, /)',
  );
  const data = { minsize: 20 * M, mountpoint: '/data', label: 'data', fs_type: 'ext4' as const };
  refuses(t, () => custom({ type: 'dos', partitions: [{ ...data, part_type: '01234567-89ab-cdef-0123-456789abcdef' }] }), 'customizations.disk.partitions[0].part_type', 'invalid partition part_type "01234567-89ab-cdef-0123-456789abcdef" for partition table type "dos" (must be a 2-digit hex number)');
  refuses(t, () => custom({ type: 'gpt', partitions: [{ ...data, part_type: 'EF' }] }), 'customizations.disk.partitions[0].part_type', 'invalid partition part_type "EF" for partition table type "gpt" (must be a valid UUID)');
  // "-fallback": the table type comes from the image type
  refuses(t, () => custom({ partitions: [{ ...data, part_type: '01234567-89ab-cdef-0123-456789abcdef' }] }, {}, dosBase()), 'customizations.disk.partitions[0].part_type', /for partition table type "dos"/);
  refuses(t, () => custom({ partitions: [{ ...data, part_type: 'AA' }] }), 'customizations.disk.partitions[0].part_type', /for partition table type "gpt" \(must be a valid UUID\)/);
  refuses(t, () => custom({ partitions: [{ ...data, part_type: 'AA' }] }, { tableType: 'gpt' }, dosBase()), 'customizations.disk.partitions[0].part_type', /for partition table type "gpt"/);
  refuses(t, () => custom({ type: 'toucan' as never }), 'customizations.disk.type', 'unknown partition table type: "toucan" (valid: gpt, dos)');
  refuses(t, () => custom({ partitions: [{ minsize: 0, mountpoint: '/' }] }), 'customizations.disk.partitions[0].fs_type', 'unknown or invalid filesystem type (fs_type) for mountpoint "/": "" (valid: ext4, xfs, vfat, swap, none)');
  refuses(
    t,
    () => custom({ partitions: [{ type: 'lvm', minsize: 0, name: 'rootvg', logical_volumes: [{ name: 'rootlv', minsize: 0, mountpoint: '/' }] }] }),
    'customizations.disk.partitions[0].logical_volumes[0].fs_type',
    'unknown or invalid filesystem type (fs_type) for logical volume with mountpoint "/": "" (valid: ext4, xfs, vfat, swap)',
  );
});

test('disk: DiskCustomization.Validate rules, one by one, with the field', (t) => {
  const P = 'customizations.disk';
  const plain = (extra: object = {}) => ({ minsize: G, mountpoint: '/data', fs_type: 'xfs', ...extra });
  const cases: [string, unknown, string, string | RegExp][] = [
    ['dos with 5 partitions', { type: 'dos', partitions: [1, 2, 3, 4, 5].map((i) => plain({ mountpoint: `/d${i}` })) }, `${P}.partitions`, '"dos" partition table type only supports up to 4 partitions: got 5'],
    ['sector size not a power of 2', { sector_size: 1000 }, `${P}.sector_size`, 'sector_size must be a power of 2, got 1000'],
    ['sector size beyond loop devices', { sector_size: 8192 }, `${P}.sector_size`, 'sector_size must be 512, 1024, 2048 or 4096 (a loop device\'s logical block size), got 8192'],
    ['negative start_offset', { start_offset: -1 }, `${P}.start_offset`, /non-negative integer/],
    ['unknown disk field', { size: 1 }, `${P}.size`, 'unknown field "size" in customizations.disk'],
    ['unknown partition type', { partitions: [{ type: 'zfs', minsize: 0 }] }, `${P}.partitions[0].type`, 'unknown partition type: "zfs" (valid: plain, lvm, btrfs)'],
    ['minsize required', { partitions: [{ mountpoint: '/data', fs_type: 'xfs' }] }, `${P}.partitions[0].minsize`, 'minsize is required'],
    ['LV minsize required', { partitions: [{ type: 'lvm', minsize: 0, logical_volumes: [{ mountpoint: '/', fs_type: 'xfs' }] }] }, `${P}.partitions[0].logical_volumes[0].minsize`, 'minsize is required'],
    ['part_uuid on dos', { type: 'dos', partitions: [plain({ part_uuid: '76543210-89ab-cdef-0123-456789abcdef' })] }, `${P}.partitions[0].part_uuid`, 'part_uuid is not supported for dos partition tables'],
    ['part_uuid on a dos table by default', { partitions: [plain({ part_uuid: '76543210-89ab-cdef-0123-456789abcdef' })] }, `${P}.partitions[0].part_uuid`, 'part_uuid is not supported for dos partition tables'],
    ['part_uuid not a UUID', { type: 'gpt', partitions: [plain({ part_uuid: '7654321089abcdef0123456789abcdef' })] }, `${P}.partitions[0].part_uuid`, 'invalid partition part_uuid "7654321089abcdef0123456789abcdef" (must be a valid UUID)'],
    ['part_label on dos', { type: 'dos', partitions: [plain({ part_label: 'x' })] }, `${P}.partitions[0].part_label`, 'part_label is not supported for dos partition tables'],
    ['part_label too long', { type: 'gpt', partitions: [plain({ part_label: 'x'.repeat(37) })] }, `${P}.partitions[0].part_label`, 'part_label is not a valid GPT label, it is too long (at most 36 UTF-16 code units)'],
    ['mountpoint on swap', { partitions: [{ minsize: G, fs_type: 'swap', mountpoint: '/swap' }] }, `${P}.partitions[0].mountpoint`, 'mountpoint for swap partition must be empty (got "/swap")'],
    ['mountpoint on none', { partitions: [{ minsize: G, fs_type: 'none', mountpoint: '/raw' }] }, `${P}.partitions[0].mountpoint`, 'mountpoint for none partition must be empty (got "/raw")'],
    ['label on none', { partitions: [{ minsize: G, fs_type: 'none', label: 'x' }] }, `${P}.partitions[0].label`, 'a partition with fs_type "none" has no file system to label'],
    ['no mountpoint', { partitions: [{ minsize: G, fs_type: 'xfs' }] }, `${P}.partitions[0].mountpoint`, 'mountpoint is empty'],
    ['relative mountpoint', { partitions: [plain({ mountpoint: 'data' })] }, `${P}.partitions[0].mountpoint`, 'mountpoint "data" is not an absolute path'],
    ['non-canonical mountpoint', { partitions: [plain({ mountpoint: '/data/' })] }, `${P}.partitions[0].mountpoint`, 'mountpoint "/data/" is not a canonical path (did you mean "/data"?)'],
    ['policy', { partitions: [plain({ mountpoint: '/usr/local' })] }, `${P}.partitions[0].mountpoint`, /mountpoint "\/usr\/local" is not allowed/],
    ['duplicate mountpoint', { partitions: [plain(), plain()] }, `${P}.partitions[1].mountpoint`, `duplicate mountpoint "/data" in partitioning customizations (also ${P}.partitions[0].mountpoint)`],
    ['fs_type btrfs on plain', { partitions: [plain({ fs_type: 'btrfs' })] }, `${P}.partitions[0].fs_type`, /unknown or invalid filesystem type \(fs_type\) for mountpoint "\/data": "btrfs"/],
    ['/boot vfat', { partitions: [plain({ mountpoint: '/boot', fs_type: 'vfat' })] }, `${P}.partitions[0].fs_type`, 'unsupported filesystem type for "/boot": vfat (valid: xfs, ext4)'],
    ['/boot/efi xfs', { partitions: [plain({ mountpoint: '/boot/efi', fs_type: 'xfs' })] }, `${P}.partitions[0].fs_type`, 'unsupported filesystem type for "/boot/efi": xfs (valid: vfat)'],
    ['xfs label too long', { partitions: [plain({ label: 'thirteen-char' })] }, `${P}.partitions[0].label`, 'label "thirteen-char" is too long for xfs (at most 12 characters)'],
    ['vfat label too long', { partitions: [plain({ mountpoint: '/boot/efi', fs_type: 'vfat', label: 'TWELVECHARSX' })] }, `${P}.partitions[0].label`, /too long for vfat \(at most 11/],
    ['plain with logical volumes', { partitions: [plain({ logical_volumes: [] })] }, `${P}.partitions[0].logical_volumes`, '"logical_volumes" belongs to partitions of type "lvm", not "plain"'],
    ['plain with subvolumes', { partitions: [plain({ subvolumes: [] })] }, `${P}.partitions[0].subvolumes`, '"subvolumes" belongs to partitions of type "btrfs", not "plain"'],
    ['lvm with mountpoint', { partitions: [{ type: 'lvm', minsize: 0, mountpoint: '/x' }] }, `${P}.partitions[0].mountpoint`, '"mountpoint" belongs to partitions of type "plain", not "lvm"'],
    ['lvm with label', { partitions: [{ type: 'lvm', minsize: 0, label: 'x' }] }, `${P}.partitions[0].label`, 'label "x" defined for LVM volume group (partition type "lvm")'],
    ['lvm with subvolumes', { partitions: [{ type: 'lvm', minsize: 0, subvolumes: [] }] }, `${P}.partitions[0].subvolumes`, 'subvolumes defined for LVM volume group (partition type "lvm")'],
    ['bad VG name', { partitions: [{ type: 'lvm', minsize: 0, name: 'my vg' }] }, `${P}.partitions[0].name`, /invalid volume group name "my vg": LVM allows only/],
    ['bad LV name', { partitions: [{ type: 'lvm', minsize: 0, logical_volumes: [{ name: 'snapshot1', minsize: 0, mountpoint: '/', fs_type: 'xfs' }] }] }, `${P}.partitions[0].logical_volumes[0].name`, /LVM reserves names starting with "snapshot"/],
    [
      'duplicate LV name',
      { partitions: [{ type: 'lvm', minsize: 0, name: 'vg', logical_volumes: [{ name: 'a', minsize: 0, mountpoint: '/', fs_type: 'xfs' }, { name: 'a', minsize: 0, mountpoint: '/b', fs_type: 'xfs' }] }] },
      `${P}.partitions[0].logical_volumes[1].name`,
      'duplicate LVM logical volume name "a" in volume group "vg" in partitioning customizations',
    ],
    ['swap LV with mountpoint', { partitions: [{ type: 'lvm', minsize: 0, name: 'vg', logical_volumes: [{ name: 's', minsize: 0, fs_type: 'swap', mountpoint: '/s' }] }] }, `${P}.partitions[0].logical_volumes[0].mountpoint`, 'mountpoint for swap logical volume with name "s" in volume group "vg" must be empty'],
    ['/boot on LV', { partitions: [{ type: 'lvm', minsize: 0, logical_volumes: [{ minsize: 0, mountpoint: '/boot', fs_type: 'xfs' }] }] }, `${P}.partitions[0].logical_volumes[0].mountpoint`, 'invalid mountpoint "/boot" for logical volume: it must be on a plain partition'],
    ['LV fs_type none', { partitions: [{ type: 'lvm', minsize: 0, logical_volumes: [{ minsize: 0, mountpoint: '/x', fs_type: 'none' }] }] }, `${P}.partitions[0].logical_volumes[0].fs_type`, /for logical volume with mountpoint "\/x": "none"/],
    ['unknown LV field', { partitions: [{ type: 'lvm', minsize: 0, logical_volumes: [{ minsize: 0, mountpoint: '/x', fs_type: 'xfs', size: 1 }] }] }, `${P}.partitions[0].logical_volumes[0].size`, 'unknown field "size" in a logical volume'],
    ['btrfs with mountpoint', { partitions: [{ type: 'btrfs', minsize: 0, mountpoint: '/x' }] }, `${P}.partitions[0].mountpoint`, '"mountpoint" is not supported for btrfs volumes (only subvolumes can have mountpoints)'],
    ['btrfs with LVs', { partitions: [{ type: 'btrfs', minsize: 0, logical_volumes: [] }] }, `${P}.partitions[0].logical_volumes`, 'LVM logical volumes defined for btrfs volume (partition type "btrfs")'],
    ['btrfs with fs_type', { partitions: [{ type: 'btrfs', minsize: 0, fs_type: 'xfs' }] }, `${P}.partitions[0].fs_type`, '"fs_type" belongs to partitions of type "plain", not "btrfs"'],
    ['btrfs without subvolumes', { partitions: [{ type: 'btrfs', minsize: 0 }] }, `${P}.partitions[0].subvolumes`, 'btrfs volume requires subvolumes'],
    ['subvolume without name', { partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: '', mountpoint: '/' }] }] }, `${P}.partitions[0].subvolumes[0].name`, 'btrfs subvolume with empty name in partitioning customizations'],
    ['duplicate subvolume', { partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: 'a', mountpoint: '/' }, { name: 'a', mountpoint: '/b' }] }] }, `${P}.partitions[0].subvolumes[1].name`, 'duplicate btrfs subvolume name "a" in partitioning customizations'],
    ['subvolume name with a comma', { partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: 'a,b', mountpoint: '/' }] }] }, `${P}.partitions[0].subvolumes[0].name`, /contains white space, a comma/],
    ['subvolume name escaping', { partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: '../x', mountpoint: '/' }] }] }, `${P}.partitions[0].subvolumes[0].name`, /without empty, "." or ".." components/],
    ['subvolume without mountpoint', { partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: 'a' }] }] }, `${P}.partitions[0].subvolumes[0].mountpoint`, 'mountpoint is empty'],
    ['/boot/efi subvolume', { partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: 'efi', mountpoint: '/boot/efi' }] }] }, `${P}.partitions[0].subvolumes[0].mountpoint`, 'invalid mountpoint "/boot/efi" for btrfs subvolume: it must be a vfat plain partition'],
    [
      'duplicate mountpoint across a subvolume and a partition',
      { partitions: [plain({ mountpoint: '/home' }), { type: 'btrfs', minsize: 0, subvolumes: [{ name: 'home', mountpoint: '/home' }] }] },
      `${P}.partitions[1].subvolumes[0].mountpoint`,
      /duplicate mountpoint "\/home"/,
    ],
    [
      'lvm and btrfs',
      { partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: 'r', mountpoint: '/' }] }, { type: 'lvm', minsize: 0, logical_volumes: [{ minsize: 0, mountpoint: '/x', fs_type: 'xfs' }] }] },
      `${P}.partitions[1].type`,
      `btrfs and lvm partitioning cannot be combined (${P}.partitions[0] is btrfs)`,
    ],
    [
      'two btrfs volumes',
      { partitions: [{ type: 'btrfs', minsize: 0, subvolumes: [{ name: 'r', mountpoint: '/' }] }, { type: 'btrfs', minsize: 0, subvolumes: [{ name: 'x', mountpoint: '/x' }] }] },
      `${P}.partitions[1].type`,
      `multiple btrfs volumes are not yet supported (${P}.partitions[0] is one already)`,
    ],
  ];
  for (const [name, disk, field, message] of cases) {
    const base = name.includes('dos table by default') ? dosBase() : gptBase();
    refuses(t, () => customizePartitionTable(base, { disk: disk as never }, opts()), field, message);
  }
});

test('disk: every logical volume is checked, also after a swap volume (upstream stops at the first swap LV)', (t) => {
  refuses(
    t,
    () =>
      custom({
        partitions: [
          { type: 'lvm', minsize: 0, name: 'vg', logical_volumes: [{ name: 'swaplv', minsize: G, fs_type: 'swap' }, { name: 'bootlv', minsize: G, mountpoint: '/boot', fs_type: 'xfs' }] },
        ],
      }),
    'customizations.disk.partitions[0].logical_volumes[1].mountpoint',
    'invalid mountpoint "/boot" for logical volume: it must be on a plain partition',
  );
});

test('disk: generated names avoid the names given (an unnamed /data LV beside a "datalv")', (t) => {
  // upstream names the first LV datalv too, and lvm2 fails on the second
  const pt = custom({ partitions: [{ type: 'lvm', minsize: 0, logical_volumes: [{ minsize: G, mountpoint: '/data', fs_type: 'xfs' }, { name: 'datalv', minsize: G, mountpoint: '/', fs_type: 'xfs' }, { minsize: G, fs_type: 'swap' }] }] });
  t.deepEqual(vgOf(pt).logicalVolumes.map((lv) => lv.name), ['datalv00', 'datalv', 'swaplv']);
  t.is(vgOf(pt).name, 'vg00');
});

test('disk: nothing may end up 0 bytes (osbuild would give the partition the rest of the disk; lvcreate refuses 0B)', (t) => {
  refuses(t, () => custom({ partitions: [{ minsize: 0, mountpoint: '/data', fs_type: 'xfs' }] }, ROOT_1G), 'customizations.disk.partitions[0].minsize', 'the partition would be 0 bytes: give it a minsize');
  refuses(t, () => custom({ partitions: [{ minsize: 0, fs_type: 'none' }] }, ROOT_1G), 'customizations.disk.partitions[0].minsize', /0 bytes/);
  refuses(
    t,
    () => custom({ partitions: [{ type: 'lvm', minsize: 0, logical_volumes: [{ minsize: G, mountpoint: '/', fs_type: 'xfs' }, { minsize: 0, fs_type: 'swap' }] }] }),
    'customizations.disk.partitions[0].logical_volumes[1].minsize',
    'the logical volume would be 0 bytes: give it a minsize',
  );
  refuses(
    t,
    () => custom({ partitions: [{ type: 'lvm', minsize: 0, logical_volumes: [{ minsize: G, mountpoint: '/var', fs_type: 'xfs' }] }] }),
    'customizations.disk.partitions[0].logical_volumes',
    /the \/ logical volume added for the image would be 0 bytes/,
  );
  // / itself may be given 0: it takes the rest of the disk
  t.is(holder(custom({ minsize: 4 * G, partitions: [{ minsize: 0, mountpoint: '/', fs_type: 'xfs' }] }, { bootMode: 'none' }), '/').size, 4 * G - M - FOOTER);
});

test('disk: partition UUIDs must differ, also from the fixed ones of the automatic boot partitions', (t) => {
  const uuid = '76543210-89ab-cdef-0123-456789abcdef';
  refuses(
    t,
    () => custom({ partitions: [{ minsize: G, mountpoint: '/a', fs_type: 'xfs', part_uuid: uuid }, { minsize: G, mountpoint: '/b', fs_type: 'xfs', part_uuid: uuid.toUpperCase() }] }),
    'customizations.disk.partitions[1].part_uuid',
    `partition UUID ${uuid.toUpperCase()} is used twice (also by customizations.disk.partitions[0])`,
  );
  refuses(
    t,
    () => custom({ partitions: [{ minsize: G, mountpoint: '/a', fs_type: 'xfs', part_uuid: '68b2905b-df3e-4fb3-80fa-49d1e773aa33' }] }),
    'customizations.disk.partitions[0].part_uuid',
    'partition UUID 68b2905b-df3e-4fb3-80fa-49d1e773aa33 is used twice (also by an automatic boot partition)',
  );
});

test('disk: a /boot given after an LVM root is not doubled (upstream 1146ec23 adds a second one; fixed upstream later)', (t) => {
  const pt = custom({
    partitions: [
      { type: 'lvm', minsize: 0, logical_volumes: [{ minsize: G, mountpoint: '/', fs_type: 'xfs' }] },
      { minsize: G, mountpoint: '/boot', fs_type: 'xfs' },
    ],
  });
  t.is(mountables(pt).filter((m) => m.mountpoint === '/boot').length, 1);
});

test('bootModeOf: UEFI and BIOS is hybrid, zipl legacy, nothing none', (t) => {
  t.is(bootModeOf({ uefiVendor: 'redhat', biosPlatform: 'i386-pc' }), 'hybrid');
  t.is(bootModeOf({ uefiVendor: 'redhat' }), 'uefi');
  t.is(bootModeOf({ biosPlatform: 'powerpc-ieee1275' }), 'legacy');
  t.is(bootModeOf({ zipl: true }), 'legacy');
  t.is(bootModeOf({}), 'none');
});

test('disk: partition types by role (/usr, /boot, /boot/efi, data) and the riscv64 root type; label "root" taken → root00', (t) => {
  // upstream has no riscv64 root GUID and fails; Kiln uses the Discoverable Partitions one
  const pt = custom(
    {
      partitions: [
        { minsize: G, mountpoint: '/boot', fs_type: 'ext4' },
        { minsize: 2 * G, mountpoint: '/usr', fs_type: 'xfs' },
        { minsize: G, mountpoint: '/data', fs_type: 'xfs', label: 'root' },
      ],
    },
    { arch: 'riscv64', bootMode: 'uefi' },
  );
  t.deepEqual(pt.partitions.map((p) => [p.type, describe(p.payload)]), [
    [G_.esp, 'vfat /boot/efi (ESP)'],
    [G_.xbootldr, 'ext4 /boot'],
    [G_.usr.riscv64, 'xfs /usr'],
    [G_.linux, 'xfs /data (root)'],
    [G_.root.riscv64, 'xfs / (root00)'],
  ]);
});

test('base path: / in a LUKS container ("luks") grows with the 16 MiB header', (t) => {
  // / 5 GiB exists: the partition asks for 5 GiB + 16 MiB; no new mount point, no conversion;
  // the layout keeps it (LUKS with a file system needs only its header): disk 702 + 5136 + 1 MiB
  const pt = customizePartitionTable(testdisk('luks'), { filesystem: [{ mountpoint: '/', minsize: 5 * G }] }, opts());
  t.deepEqual(shape(pt)[3], { start: 702 * M, size: 5 * G + 16 * M + M - FOOTER, type: G_.linux, holds: 'luks: xfs / (root)' });
});

test('base path: the /boot a btrfs conversion creates (btrfs on a plain partition) makes a valid image pipeline', (t) => {
  const pt = customizePartitionTable(testdisk('plain-noboot'), { partitioning_mode: 'btrfs', filesystem: [{ mountpoint: '/var', minsize: G }] }, opts());
  t.deepEqual(pt.partitions.map((p) => describe(p.payload)), ['raw', 'vfat /boot/efi (ESP)', 'btrfs /boot', 'btrfs (root): root / 3072M; /var /var 1024M']);
  checkManifest(t, 'rhel-9.6', 'x86_64', 'qcow2', pt);
});
