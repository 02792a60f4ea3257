/**
 * Mounts, loop devices and processes a test (or the osbuild stand-in it runs) left on the host
 * under a directory, and their removal: tests that mount or attach loop devices call scrubHost
 * in their teardown, so nothing stays behind even when they fail.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const within = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/** Whether this process may mount and attach loop devices (root, with the tools at hand). */
export function canMountAndLoop(): boolean {
  if (process.getuid?.() !== 0 || !existsSync('/dev/loop-control')) return false;
  try {
    for (const tool of ['mount', 'losetup', 'flock', 'unshare']) execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    execFileSync('unshare', ['--mount', 'mount', '-t', 'tmpfs', 'none', '/mnt'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Mount points at or under one of dirs, innermost last. */
export function mountsUnder(...dirs: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => dirs.some((d) => within(m, d)));
}

/** Attached loop devices whose backing file is under one of dirs: "loopN file". */
export function loopsUnder(...dirs: string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/sys/block').filter((n) => /^loop\d+$/.test(n))) {
    try {
      const file = readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim().replace(/ \(deleted\)$/, '');
      if (dirs.some((d) => within(file, d))) out.push(`${name} ${file}`);
    } catch {
      // not attached
    }
  }
  return out;
}

/** Live processes (not zombies) of a process group. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Kills the groups, unmounts what is under dirs and detaches the loop devices backed there. */
export function scrubHost(dirs: string[], groups: number[] = []): void {
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const m of mountsUnder(...dirs).reverse()) {
    try {
      execFileSync('umount', ['--lazy', m], { stdio: 'ignore' });
    } catch {
      // already gone with its parent
    }
  }
  for (const l of loopsUnder(...dirs)) {
    try {
      execFileSync('losetup', ['--detach', `/dev/${l.split(' ')[0]}`], { stdio: 'ignore' });
    } catch {
      // autocleared meanwhile
    }
  }
}
