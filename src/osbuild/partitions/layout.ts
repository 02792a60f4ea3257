/**
 * Sizes and positions: the minimum directory sizes grow the file systems that hold them, then
 * the table is laid out for the requested image size: partitions in table order on a 1 MiB
 * grain, the partition holding / placed last and grown to fill the disk, the disk grown to fit
 * everything (osbuild/images' relayout, so Kiln's disks are the size upstream's are).
 */
import { KilnError } from '../../errors.js';
import { formatSize, MiB } from '../definitions/sizes.js';
import { mountables, type Btrfs, type BtrfsSubvolume, type Mountable, type Partition, type PartitionTable, type Payload, type VolumeGroup } from './model.js';

const GRAIN = MiB;
export const LVM_EXTENT = 4 * MiB;
const LVM_METADATA = MiB;
const LUKS_HEADER = 16 * MiB;

export function alignUp(n: number, grain = GRAIN): number {
  return n % grain === 0 ? n : (Math.floor(n / grain) + 1) * grain;
}

/** The mountable holding `dir`: the one with the longest mount point that is `dir` or a parent of it. */
export function mountableFor(list: Mountable[], dir: string): Mountable | undefined {
  let best: Mountable | undefined;
  for (const m of list) {
    const inside = m.mountpoint === '/' || dir === m.mountpoint || dir.startsWith(`${m.mountpoint}/`);
    if (inside && (!best || m.mountpoint.length > best.mountpoint.length)) best = m;
  }
  return best;
}

/**
 * Grows the entity providing each directory's mount point to at least the sum of the sizes of
 * the directories it holds (with /usr on the root file system, / needs {/: 1 GiB} + {/usr: 2 GiB}).
 * Never shrinks.
 */
export function ensureDirectorySizes(pt: PartitionTable, sizes: Record<string, number>): void {
  const list = mountables(pt);
  const need = new Map<Mountable, number>();
  for (const [dir, size] of Object.entries(sizes).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (size <= 0) continue;
    const m = mountableFor(list, dir);
    if (!m) throw new KilnError('KILN_MANIFEST', `no file system holds ${dir}, which needs ${formatSize(size)}`, { details: { directory: dir } });
    need.set(m, (need.get(m) ?? 0) + size);
  }
  for (const [m, size] of need) growMountable(pt, m, size);
}

/**
 * Makes the mountable at least `size` bytes, growing what contains it as upstream's
 * resizeEntityBranch does: a logical volume or subvolume that is already large enough stops the
 * walk; a volume group asks for the sum of its volumes plus its metadata; a LUKS container adds
 * its header to what the entity below asks for; the partition ends up at least that. Never shrinks.
 */
export function growMountable(pt: PartitionTable, m: Mountable, size: number): void {
  const partition = pt.partitions[m.partition];
  let need = size;
  if (m.volume) {
    const subvolume = m.entity as BtrfsSubvolume;
    if (need <= subvolume.size) return;
    subvolume.size = need;
    need = Math.max(need, btrfsSize(m.volume));
  } else {
    for (const e of [...m.path].reverse()) {
      if (!('kind' in e)) {
        if (need <= e.size) return;
        e.size = alignUp(need, LVM_EXTENT);
      } else if (e.kind === 'lvm') {
        need = Math.max(need, e.logicalVolumes.reduce((n, lv) => n + lv.size, 0) + LVM_METADATA);
      } else {
        // the container's payload has no size of its own: the header goes on top of what it needs
        need += LUKS_HEADER;
      }
    }
  }
  partition.size = Math.max(partition.size, need);
}

function volumeGroupSize(vg: VolumeGroup, size: number): number {
  const lvs = vg.logicalVolumes.reduce((n, lv) => n + alignUp(lv.size, LVM_EXTENT), 0);
  return alignUp(Math.max(size, lvs + LVM_METADATA), LVM_EXTENT);
}

function btrfsSize(b: Btrfs): number {
  return b.subvolumes.reduce((n, s) => n + s.size, 0);
}

/**
 * The size a partition of `size` bytes takes for its payload (upstream's fitTo): a volume group
 * is at least its volumes plus metadata, rounded to the extent; a btrfs volume the sum of its
 * subvolumes; a LUKS container its header plus its payload's size. Upstream computes the inner
 * volume group from the partition's own size and then adds the header, so a LUKS partition
 * holding LVM grows by 16 MiB beyond what it was given; Kiln does the same so the disks match.
 */
function fitPayload(payload: Payload | undefined, size: number): number {
  switch (payload?.kind) {
    case 'lvm':
      return volumeGroupSize(payload, size);
    case 'btrfs':
      return Math.max(size, btrfsSize(payload));
    case 'luks':
      return Math.max(size, LUKS_HEADER + (payload.payload.kind === 'lvm' ? volumeGroupSize(payload.payload, size) : 0));
    default:
      return size;
  }
}

function holdsRoot(p: Partition): boolean {
  const visit = (payload: Payload | undefined): boolean => {
    switch (payload?.kind) {
      case 'filesystem':
        return payload.mountpoint === '/';
      case 'btrfs':
        return payload.subvolumes.some((s) => s.mountpoint === '/');
      case 'lvm':
        return payload.logicalVolumes.some((lv) => lv.payload.kind === 'filesystem' && lv.payload.mountpoint === '/');
      case 'luks':
        return visit(payload.payload);
      default:
        return false;
    }
  };
  return visit(p.payload);
}

/** Bytes of the partition table at the start of the disk (GPT: also its backup at the end). */
export function headerBytes(pt: PartitionTable): number {
  return pt.type === 'dos' ? pt.sectorSize : pt.sectorSize + 128 * Math.max(128, pt.partitions.length);
}

/**
 * Places the partitions for a disk of at least `requested` bytes: each partition in table order
 * from the first aligned offset after the header (and start_offset), sized to fit its payload
 * and aligned; the partition holding / goes last and takes the rest of the disk; the disk is
 * the largest of the requested size, the table's own minimum and what the partitions need.
 */
export function layout(pt: PartitionTable, requested: number): void {
  const header = headerBytes(pt);
  const footer = pt.type === 'gpt' ? header : 0;
  const rootIndex = pt.partitions.findIndex(holdsRoot);
  if (rootIndex < 0) throw new KilnError('KILN_MANIFEST', 'the partition table has no / file system', {});
  let start = alignUp(header + pt.startOffset);
  for (const [i, p] of pt.partitions.entries()) {
    if (i === rootIndex) continue;
    p.start = start;
    p.size = alignUp(fitPayload(p.payload, p.size));
    start += p.size;
  }
  const root = pt.partitions[rootIndex];
  root.start = start;
  root.size = fitPayload(root.payload, root.size);
  const end = alignUp(root.start + footer + root.size);
  pt.size = Math.max(alignUp(requested), end, pt.size);
  root.size = pt.size - root.start - footer;
  pt.partitions.sort((a, b) => a.start - b.start);
  if (pt.type === 'dos' && pt.partitions.length > 4) {
    throw new KilnError('KILN_MANIFEST', `a DOS partition table holds at most 4 partitions, this one has ${pt.partitions.length}`, {});
  }
}
