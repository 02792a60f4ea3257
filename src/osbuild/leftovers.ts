/**
 * What an osbuild run leaves on the build host when it does not end on its own terms (SIGKILL,
 * a crash), and its removal. osbuild (191) sets up, while it builds:
 *   - <store>/tmp/{host*,osbuild-tmp-*,buildroot-tmp-*,store-server-*}: the host build root
 *     (with / and /usr bound read-only into it), a stage's /var and /proc, its inputs (bind
 *     mounts of trees) and mounts (file systems on loop devices), the store API's temp dirs;
 *   - <store>/stage/uuid-*: the trees being built, each with an object.lock held while osbuild
 *     lives (so a crashed build's entries are stale: unlocked);
 *   - <rundir>/{osbuild-dev-*,api-*}: a stage's /dev (a tmpfs with device nodes bound into it)
 *     and the API sockets; /run/osbuild/locks/udev/device-7:N while it holds loop device N
 *     (one of this build's when osbuild's monitor stream said it acquired it);
 *   - loop devices backed by image files in those trees.
 * On SIGINT osbuild undoes all of it; killed, it leaves it behind (its device and mount
 * services ignore SIGTERM and SIGINT by design, and clean up only what they set up themselves
 * when osbuild's end closes their socket).
 *
 * Which of it is this build's: other builds may run on the same host at once, and osbuild's
 * store is shared between them. Kiln runs osbuild (as root) in a private mount namespace with
 * a run directory of its own bound over /run/osbuild (runner.ts), so its mounts die with its
 * last process and its rundir entries are all this build's. The store's tmp/ and stage/ are
 * shared (they must stay on the store's mount: osbuild hard-links sources into tmp/ and renames
 * stage/ entries into objects/), so there an entry is this build's when
 *   - it appeared while this build ran (not in the listing taken before osbuild started), and
 *   - for stage/: it is stale (its object.lock is not locked: its osbuild is gone);
 *   - for tmp/: no other live osbuild uses this store (tmp/ entries belong to a live osbuild of
 *     that store or to none, and ours is gone); otherwise they are left and logged.
 * A mount is this build's when its mount point is in one of those entries, in its run
 * directory or in its output directory; a loop device when its backing file is. Nothing is
 * removed while a mount is still under it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';

const run = promisify(execFile);
const UDEV_LOCKS = '/run/osbuild/locks/udev';

export interface StoreListing {
  tmp: Set<string>;
  stage: Set<string>;
  /** The shared run directory's entries (when osbuild runs without a run directory of its own). */
  run?: Set<string>;
}

export interface RunFootprint {
  storeDir: string;
  /** The build's output directory (only mounts and loop devices in it are looked for). */
  outputDir?: string;
  /** A run directory used by this build alone (removed whole). */
  ownRunDir?: string;
  /** The shared run directory osbuild used (no namespace), e.g. /run/osbuild. */
  sharedRunDir?: string;
  /** The store as it was before osbuild started. */
  before: StoreListing;
  /** Loop devices osbuild said it acquired ("loop0"), and when it ended (ms since the epoch). */
  loopsAcquired?: Set<string>;
  endedAt?: number;
}

export interface CleanupReport {
  mounts: string[];
  loops: string[];
  dirs: string[];
  /** udev inhibitor locks (/run/osbuild/locks/udev/device-M:N) of loop devices this build held. */
  locks: string[];
  /** What looked like this build's but was kept, and why. */
  left: string[];
}

async function names(dir: string | undefined): Promise<Set<string>> {
  if (!dir) return new Set();
  try {
    return new Set(await readdir(dir));
  } catch {
    return new Set();
  }
}

/** The listing removeLeftovers compares against; take it before osbuild starts. */
export async function listStore(storeDir: string, sharedRunDir?: string): Promise<StoreListing> {
  return {
    tmp: await names(path.join(storeDir, 'tmp')),
    stage: await names(path.join(storeDir, 'stage')),
    ...(sharedRunDir ? { run: await names(sharedRunDir) } : {}),
  };
}

/** /proc/self/mountinfo's mount points (octal escapes decoded), innermost last. */
async function mountPoints(): Promise<string[]> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

const within = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/** Loop devices and their backing files (/sys/block/loopN/loop/backing_file). */
async function loopDevices(): Promise<{ name: string; dev: string; file: string }[]> {
  const out: { name: string; dev: string; file: string }[] = [];
  for (const name of await names('/sys/block')) {
    if (!/^loop\d+$/.test(name)) continue;
    try {
      const file = (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).trim().replace(/ \(deleted\)$/, '');
      const dev = (await readFile(`/sys/block/${name}/dev`, 'utf8')).trim();
      out.push({ name, dev, file });
    } catch {
      // not attached
    }
  }
  return out;
}

/** Inodes with a lock on them (/proc/locks: POSIX, FLOCK and OFD locks alike). */
async function lockedInodes(): Promise<Set<bigint>> {
  const out = new Set<bigint>();
  try {
    for (const m of (await readFile('/proc/locks', 'utf8')).matchAll(/ [0-9a-f]+:[0-9a-f]+:(\d+) /g)) out.add(BigInt(m[1]));
  } catch {
    // no /proc/locks: nothing is known to be unlocked, see isStale
  }
  return out;
}

/** Inode numbers only: on btrfs stat's device differs from the one /proc/locks prints. */
async function isStale(entry: string, locked: Set<bigint>): Promise<boolean> {
  try {
    const st = await stat(path.join(entry, 'object.lock'), { bigint: true });
    return existsSync('/proc/locks') && !locked.has(st.ino);
  } catch {
    return false; // no lock file yet: an entry being created
  }
}

/** Live processes that run osbuild with this store (--store/--cache DIR). */
async function otherStoreUsers(storeDir: string): Promise<number[]> {
  const store = await realpath(storeDir).catch(() => path.resolve(storeDir));
  const users: number[] = [];
  for (const pid of await names('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let argv: string[];
    try {
      argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    } catch {
      continue;
    }
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      const value = a === '--store' || a === '--cache' ? argv[i + 1] : /^--(store|cache)=/.test(a) ? a.slice(a.indexOf('=') + 1) : undefined;
      if (!value) continue;
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '/');
      const resolved = path.resolve(cwd, value);
      if (resolved === store || (await realpath(resolved).catch(() => resolved)) === store) users.push(Number(pid));
      break;
    }
  }
  return users;
}

/** Live processes that look like osbuild (an argument --store/--cache, or osbuild's own name). */
async function otherOsbuilds(): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await names('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      if (argv.some((a) => /^--(store|cache)(=|$)/.test(a) || path.basename(a) === 'osbuild') || argv.join(' ').includes('-m osbuild')) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Removes what this build's osbuild left (see the comment at the top), once its process group
 * is gone. Logs one line when it removed or kept anything.
 */
export async function removeLeftovers(fp: RunFootprint, log: Logger): Promise<CleanupReport> {
  const report: CleanupReport = { mounts: [], loops: [], dirs: [], locks: [], left: [] };
  const storeDir = path.resolve(fp.storeDir);
  const ours: string[] = [];

  const tmpDir = path.join(storeDir, 'tmp');
  const tmpNew = [...(await names(tmpDir))].filter((n) => !fp.before.tmp.has(n)).map((n) => path.join(tmpDir, n));
  if (tmpNew.length) {
    const users = await otherStoreUsers(storeDir);
    if (users.length) report.left.push(...tmpNew.map((d) => `${d} (osbuild pid ${users.join(', ')} uses this store too)`));
    else ours.push(...tmpNew);
  }
  const stageDir = path.join(storeDir, 'stage');
  const stageNew = [...(await names(stageDir))].filter((n) => !fp.before.stage.has(n)).map((n) => path.join(stageDir, n));
  if (stageNew.length) {
    const locked = await lockedInodes();
    for (const entry of stageNew) if (await isStale(entry, locked)) ours.push(entry);
  }
  if (fp.ownRunDir && existsSync(fp.ownRunDir)) ours.push(fp.ownRunDir);
  if (fp.sharedRunDir && fp.before.run) {
    const runNew = [...(await names(fp.sharedRunDir))]
      .filter((n) => !fp.before.run!.has(n) && /^(api|osbuild-dev)-/.test(n))
      .map((n) => path.join(fp.sharedRunDir!, n));
    if (runNew.length) {
      const others = await otherOsbuilds();
      if (others.length) report.left.push(...runNew.map((d) => `${d} (osbuild pid ${others.join(', ')} runs too)`));
      else ours.push(...runNew);
    }
  }
  const scope = [...ours, ...(fp.outputDir ? [path.resolve(fp.outputDir)] : [])];

  // mounts first, innermost first: a lazy unmount detaches each at once
  const mounted = (await mountPoints()).filter((m) => scope.some((d) => within(m, d))).reverse();
  for (const m of mounted) {
    try {
      await run('umount', ['--lazy', m]);
      report.mounts.push(m);
    } catch (err) {
      report.left.push(`${m} (umount: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message})`);
    }
  }

  // loop devices osbuild attached with autoclear go when their last user does; others are detached
  let loops = (await loopDevices()).filter((l) => scope.some((d) => within(l.file, d)));
  const freed: typeof loops = [];
  for (let i = 0; loops.length && i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const still = new Set((await loopDevices()).map((l) => l.name));
    freed.push(...loops.filter((l) => !still.has(l.name)));
    loops = loops.filter((l) => still.has(l.name));
  }
  for (const l of loops) {
    try {
      await run('losetup', ['--detach', `/dev/${l.name}`]);
      freed.push(l);
    } catch (err) {
      report.left.push(`/dev/${l.name} backed by ${l.file} (losetup: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message})`);
    }
  }
  for (const l of freed) report.loops.push(`/dev/${l.name} (${l.file})`);
  // osbuild's loop service inhibits udev rules for a device while it holds it (a lock file per
  // device); a killed service leaves it. This build's: a device it held (freed above, or named
  // in its monitor stream), unattached now, the file no newer than the build's end (a later
  // build may have taken the device since).
  const attached = new Set((await loopDevices()).map((l) => l.name));
  const held = new Set([...freed.map((l) => l.name), ...(fp.loopsAcquired ?? [])]);
  for (const name of held) {
    if (attached.has(name)) continue;
    const dev = await readFile(`/sys/block/${name}/dev`, 'utf8').then((d) => d.trim(), () => undefined);
    if (!dev) continue;
    const lock = path.join(UDEV_LOCKS, `device-${dev}`);
    const st = await stat(lock).catch(() => undefined);
    if (!st || st.mtimeMs > (fp.endedAt ?? Date.now())) continue;
    await rm(lock, { force: true });
    report.locks.push(lock);
  }

  const stillMounted = await mountPoints();
  // the own run directory always exists; what osbuild left in it is what counts
  const ownLeft = fp.ownRunDir ? [...(await names(fp.ownRunDir))].filter((n) => n !== 'locks').map((n) => path.join(fp.ownRunDir!, n)) : [];
  for (const dir of ours) {
    const blocking = stillMounted.find((m) => within(m, dir));
    if (blocking) {
      report.left.push(`${dir} (still mounted: ${blocking})`);
      continue;
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 2 });
    if (dir === fp.ownRunDir) report.dirs.push(...ownLeft);
    else report.dirs.push(dir);
  }

  if (report.mounts.length || report.loops.length || report.dirs.length || report.locks.length || report.left.length) {
    log.warn({ mounts: report.mounts, loopDevices: report.loops, dirs: report.dirs, udevLocks: report.locks, left: report.left }, 'removed what osbuild left on the host');
  }
  return report;
}

/**
 * Run directories of Kiln processes that died before they could remove them
 * (<rundir>/kiln-<pid>-<random>, see runner.ts): removed when that process is gone and the
 * directory holds nothing but the empty mount point of its locks (a killed Kiln's osbuild may
 * still run and use it otherwise).
 */
export async function removeStaleRunDirs(runDir: string, log: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await names(runDir)) {
    const m = /^kiln-(\d+)-[0-9a-f]+$/.exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    const dir = path.join(runDir, name);
    const inside = await names(dir);
    if ([...inside].some((n) => n !== 'locks') || (await names(path.join(dir, 'locks'))).size > 0) continue;
    if ((await mountPoints()).some((mp) => within(mp, dir))) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  if (removed.length) log.info({ dirs: removed }, 'removed run directories of Kiln processes that are gone');
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
