/**
 * How a build uses osbuild's store. osbuild caches nothing unless told a size: without
 * --cache-max-size its cache limit is 0 (osbuild/util/fscache.py), and it commits a tree only
 * for a --checkpoint. Kiln checkpoints the build pipeline (the build root: the longest part of
 * most builds, the same for every image of a distribution and architecture until its packages
 * change) and bounds the cache, whose least recently used objects osbuild drops to stay within it.
 */
import { InvalidConfigError } from '../errors.js';
import type { Manifest } from './manifest.js';

export interface StoreOptions {
  /** Bytes, or "unlimited". */
  cache_max_size?: number | 'unlimited';
  checkpoints?: string[];
}

const UNITS: Record<string, number> = { kB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3, TB: 1e12, TiB: 1024 ** 4 };

/** osbuild's parse_size: bytes, "<n><unit>" or "unlimited" (config key osbuild.cache_max_size). */
export function parseCacheSize(value: number | string, key = 'osbuild.cache_max_size'): number | 'unlimited' {
  if (typeof value === 'number') return value;
  if (value === 'unlimited') return value;
  const m = /^([0-9]+) *(kB|KiB|MB|MiB|GB|GiB|TB|TiB)?$/.exec(value);
  if (!m) throw new InvalidConfigError(key, `${JSON.stringify(value)} is not a size (bytes, a number with kB, KiB, MB, MiB, GB, GiB, TB or TiB, or "unlimited")`);
  return Number(m[1]) * (m[2] ? UNITS[m[2]] : 1);
}

/** The store options for a manifest: its build pipeline as checkpoint (when it has one). */
export function storeOptions(manifest: Manifest | string, cacheMaxSize: number | string): StoreOptions {
  const m = (typeof manifest === 'string' ? JSON.parse(manifest) : manifest) as Manifest;
  const hasBuild = m.pipelines.some((p) => p.name === 'build' && p.stages.length > 0);
  const size = parseCacheSize(cacheMaxSize);
  // a checkpoint that matches no pipeline makes osbuild refuse the build
  return { cache_max_size: size, ...(hasBuild && size !== 0 ? { checkpoints: ['build'] } : {}) };
}

/** osbuild's arguments for the options. */
export function storeArgs(store: StoreOptions | undefined): string[] {
  if (!store) return [];
  return [
    ...(store.cache_max_size !== undefined ? [`--cache-max-size=${store.cache_max_size}`] : []),
    ...(store.checkpoints ?? []).flatMap((c) => ['--checkpoint', c]),
  ];
}
