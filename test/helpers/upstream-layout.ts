/**
 * osbuild/images' sizing of a base partition table when a build has no customizations
 * (pkg/disk/partition_table.go at 1146ec23: NewPartitionTable's base path, EnsureDirectorySizes,
 * resizeEntityBranch, relayout, fitTo/minSize of the volume containers). Test code: it computes
 * the upstream side of the golden comparison; Kiln's own implementation lives in src/.
 *
 * The entity rules, as upstream's Go interfaces give them:
 *   container (has children): table, partition, LVM VG, LV, btrfs volume, LUKS
 *   sizeable (EnsureSize grows, never shrinks): table, partition, LV (aligned to 4 MiB), subvolume
 *   mountable (has a mountpoint): filesystem, btrfs subvolume
 *   volume container (metadata + minSize): VG (1 MiB, aligned to 4 MiB), btrfs (0), LUKS (16 MiB)
 */
import type { ComparablePartitionTable, ComparablePartition, ComparablePayload, ComparableLayout } from './upstream-defs.js';

const MiB = 1024 * 1024;
const GRAIN = MiB;
const LVM_EXTENT = 4 * MiB;

type LV = Extract<ComparablePayload, { kind: 'lvm' }>['logical_volumes'][number];
type Subvolume = Extract<ComparablePayload, { kind: 'btrfs' }>['subvolumes'][number];

type Ent =
  | { t: 'pt'; v: ComparablePartitionTable }
  | { t: 'part'; v: ComparablePartition }
  | { t: 'lv'; v: LV }
  | { t: 'subvol'; v: Subvolume }
  | { t: 'payload'; v: ComparablePayload };

/** Upstream's `AlignUp` of the partition table: next multiple of the 1 MiB grain. */
export function alignUp(size: number, grain = GRAIN): number {
  return size % grain === 0 ? size : (Math.floor(size / grain) + 1) * grain;
}

function children(e: Ent): Ent[] | null {
  switch (e.t) {
    case 'pt': return e.v.partitions.map((v) => ({ t: 'part', v }));
    case 'part': return e.v.payload.kind === 'none' ? [] : [{ t: 'payload', v: e.v.payload }];
    case 'lv': return [{ t: 'payload', v: e.v.payload }];
    case 'subvol': return null;
    case 'payload':
      switch (e.v.kind) {
        case 'lvm': return e.v.logical_volumes.map((v) => ({ t: 'lv', v }));
        case 'btrfs': return e.v.subvolumes.map((v) => ({ t: 'subvol', v }));
        case 'luks': return e.v.payload.kind === 'none' ? [] : [{ t: 'payload', v: e.v.payload }];
        default: return null;
      }
  }
}

function mountpointOf(e: Ent): string | null {
  if (e.t === 'subvol') return e.v.mountpoint;
  if (e.t === 'payload' && e.v.kind === 'filesystem') return e.v.mountpoint;
  return null;
}

function sizeOf(e: Ent): number | null {
  if (e.t === 'pt' || e.t === 'part' || e.t === 'lv' || e.t === 'subvol') return e.v.size;
  return null;
}

/** EnsureSize: grow to at least `s`; LVs round up to the 4 MiB extent. Returns whether it grew. */
function ensureSize(e: Ent, s: number): boolean {
  if (e.t !== 'pt' && e.t !== 'part' && e.t !== 'lv' && e.t !== 'subvol') return false;
  if (s <= e.v.size) return false;
  e.v.size = e.t === 'lv' ? alignUp(s, LVM_EXTENT) : s;
  return true;
}

function metadataSize(p: ComparablePayload): number | null {
  if (p.kind === 'lvm') return MiB;
  if (p.kind === 'btrfs') return 0;
  if (p.kind === 'luks') return 16 * MiB;
  return null;
}

/** The volume container's minimum size for a desired size (upstream's unexported `minSize`). */
function minSize(p: ComparablePayload, size: number): number {
  switch (p.kind) {
    case 'lvm': {
      const need = p.logical_volumes.reduce((s, lv) => s + lv.size, 0) + MiB;
      return alignUp(Math.max(need, size), LVM_EXTENT);
    }
    case 'btrfs':
      return Math.max(p.subvolumes.reduce((s, sv) => s + sv.size, 0), size);
    case 'luks': {
      const inner = p.payload;
      if (metadataSize(inner) !== null) return 16 * MiB + minSize(inner, size);
      return 16 * MiB; // a filesystem payload has no size of its own
    }
    default:
      throw new Error(`minSize of a ${p.kind} payload`);
  }
}

/** entityPath: the mountable with `target` and every entity up to `e`, innermost first. */
function entityPath(e: Ent, target: string): Ent[] | null {
  const mp = mountpointOf(e);
  if (mp !== null) return mp === target ? [e] : null;
  const kids = children(e);
  if (!kids) return null;
  for (const kid of kids) {
    const path = entityPath(kid, target);
    if (path) return [...path, e];
  }
  return null;
}

function findDirectoryEntityPath(pt: Ent, dir: string): Ent[] | null {
  const path = entityPath(pt, dir);
  if (path) return path;
  const parent = dir === '/' ? '/' : dir.replace(/\/[^/]*\/?$/, '') || '/';
  if (parent === dir) return null;
  return findDirectoryEntityPath(pt, parent);
}

function resizeEntityBranch(path: Ent[], size: number): void {
  for (const element of path) {
    const kids = children(element);
    if (kids) {
      let containerSize = 0;
      for (const kid of kids) {
        const s = sizeOf(kid);
        if (s === null) break;
        containerSize += s;
      }
      if (containerSize === 0) containerSize = size;
      if (element.t === 'payload') containerSize += metadataSize(element.v) ?? 0;
      if (containerSize > size) size = containerSize;
    }
    if (sizeOf(element) !== null && !ensureSize(element, size)) return;
  }
}

/**
 * EnsureDirectorySizes: the sizes of directories that share a mountpoint are summed, and the
 * entity holding that mountpoint (and everything up to the table) grows to the sum.
 */
function ensureDirectorySizes(pt: ComparablePartitionTable, sizes: Record<string, number>): void {
  const root: Ent = { t: 'pt', v: pt };
  const byMount = new Map<string, { path: Ent[]; size: number }>();
  for (const dir of Object.keys(sizes).sort()) {
    const path = findDirectoryEntityPath(root, dir);
    if (!path) throw new Error(`required_partition_sizes: no filesystem holds ${JSON.stringify(dir)} (upstream panics)`);
    const mp = mountpointOf(path[0]) as string;
    const entry = byMount.get(mp) ?? { path, size: 0 };
    entry.size += sizes[dir];
    byMount.set(mp, entry);
  }
  for (const { path, size } of byMount.values()) resizeEntityBranch(path, size);
}

function headerSize(pt: ComparablePartitionTable): number {
  const sector = pt.sector_size || 512;
  if (pt.type === 'dos') return sector;
  return sector + Math.max(128, pt.partitions.length) * 128;
}

function fitTo(part: ComparablePartition, size: number): void {
  if (metadataSize(part.payload) !== null) {
    const m = minSize(part.payload, size);
    if (m > size) size = m;
  }
  part.size = size;
}

/** relayout: places every partition but root in order, root last, grows root to fill the disk. */
function relayout(pt: ComparablePartitionTable, requested: number): Map<ComparablePartition, number> {
  const header = headerSize(pt);
  let footer = pt.type === 'gpt' ? header : 0;
  let start = alignUp(header + pt.start_offset);
  let size = alignUp(requested);
  let rootIdx = -1;
  const starts = new Map<ComparablePartition, number>();
  pt.partitions.forEach((part, idx) => {
    if (entityPath({ t: 'part', v: part }, '/')) {
      rootIdx = idx;
      return;
    }
    starts.set(part, start);
    fitTo(part, part.size);
    part.size = alignUp(part.size);
    start += part.size;
  });
  if (rootIdx < 0) throw new Error('partition table has no root filesystem (upstream panics)');
  const root = pt.partitions[rootIdx];
  starts.set(root, start);
  fitTo(root, root.size);
  footer += pt.extra_padding; // upstream adds extra_padding as bytes although its comment says sectors
  const end = alignUp(start + footer + root.size);
  if (end > size) size = end;
  if (size > pt.size) pt.size = size;
  root.size = pt.size - start - footer;
  return starts;
}

function volumesOf(p: ComparablePayload): ComparableLayout['partitions'][number]['volumes'] {
  if (p.kind === 'lvm') {
    return p.logical_volumes.map((lv) => ({ name: lv.name, mountpoint: lv.payload.kind === 'filesystem' ? lv.payload.mountpoint : '', size: lv.size }));
  }
  if (p.kind === 'btrfs') return p.subvolumes.map((sv) => ({ name: sv.name, mountpoint: sv.mountpoint, size: sv.size }));
  if (p.kind === 'luks') return volumesOf(p.payload);
  return [];
}

function mountpointsOf(e: Ent): string[] {
  const mp = mountpointOf(e);
  if (mp !== null) return mp ? [mp] : [];
  return (children(e) ?? []).flatMap(mountpointsOf);
}

/**
 * The layout upstream gives a base table for a build without customizations:
 * NewPartitionTable(base, no mountpoints, imageSize, default mode) up to and without the UUIDs.
 * `requiredSizes` is the image type's required_partition_sizes with the default already applied
 * (an empty map skips EnsureDirectorySizes, as upstream does); `imageSize` is the type's
 * default_size (image-builder passes no size). The input table is not changed.
 */
export function upstreamLayout(table: ComparablePartitionTable, requiredSizes: Record<string, number>, imageSize: number): ComparableLayout {
  const pt: ComparablePartitionTable = structuredClone(table);
  const index = new Map(pt.partitions.map((p, i) => [p, i]));
  if (Object.keys(requiredSizes).length > 0) ensureDirectorySizes(pt, requiredSizes);
  const starts = relayout(pt, imageSize);
  const partitions = pt.partitions
    .map((part) => ({
      index: index.get(part) as number,
      start: starts.get(part) as number,
      size: part.size,
      mountpoints: mountpointsOf({ t: 'part', v: part }),
      volumes: volumesOf(part.payload),
    }))
    .sort((a, b) => a.start - b.start);
  return { size: pt.size, partitions };
}
