/**
 * Which paths may be mount points of their own, as osbuild/images decides for the filesystem and
 * disk customizations (its `policies.MountpointPolicies` through `pathpolicy`): the most specific
 * listed prefix of a path wins; a denied prefix refuses the path and everything below it, an
 * exact one allows only itself. Paths must be absolute and canonical.
 */
import { posix } from 'node:path';

interface PathRule {
  deny?: boolean;
  exact?: boolean;
  /** Why, for the message. */
  reason?: string;
}

const MERGED_USR = 'it is a symlink into /usr (merged /usr)';
const API_FS = 'it is an API file system the kernel or systemd mounts';

export const MOUNTPOINT_RULES: Readonly<Record<string, PathRule>> = {
  '/': {},
  '/etc': { deny: true, reason: '/etc must be on the root file system' },
  '/usr': { exact: true, reason: 'systemd cannot mount file systems below /usr in the initrd, only /usr itself' },
  '/sys': { deny: true, reason: API_FS },
  '/proc': { deny: true, reason: API_FS },
  '/dev': { deny: true, reason: API_FS },
  '/run': { deny: true, reason: API_FS },
  '/bin': { deny: true, reason: MERGED_USR },
  '/sbin': { deny: true, reason: MERGED_USR },
  '/lib': { deny: true, reason: MERGED_USR },
  '/lib64': { deny: true, reason: MERGED_USR },
  '/lost+found': { deny: true, reason: 'ext file systems keep their lost+found there' },
  '/sysroot': { deny: true, reason: 'systemd and ostree use it' },
  '/var/run': { deny: true, reason: 'it is a symlink to /run, a tmpfs' },
  '/var/lock': { deny: true, reason: 'it is a symlink to /run/lock, a tmpfs' },
};

/** Go's path.Clean: no repeated or trailing slashes, no `.`, `..` resolved. */
export function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Why `mountpoint` cannot be a mount point (absolute, canonical, printable), or undefined. */
export function mountpointShapeError(mountpoint: string): string | undefined {
  if (mountpoint === '') return 'mountpoint is empty';
  if (!mountpoint.startsWith('/')) return `mountpoint ${JSON.stringify(mountpoint)} is not an absolute path`;
  const clean = cleanPath(mountpoint);
  if (clean !== mountpoint) return `mountpoint ${JSON.stringify(mountpoint)} is not a canonical path (did you mean ${JSON.stringify(clean)}?)`;
  // fstab separates its fields with white space and osbuild's fstab stage does not escape them
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(mountpoint)) return `mountpoint ${JSON.stringify(mountpoint)} contains white space or control characters, which /etc/fstab cannot hold`;
  return undefined;
}

/** Why the policy refuses `mountpoint` (already absolute and canonical), or undefined. */
export function mountpointPolicyError(mountpoint: string, rules: Readonly<Record<string, PathRule>> = MOUNTPOINT_RULES): string | undefined {
  let best = '/';
  for (const prefix of Object.keys(rules)) {
    const covers = prefix === '/' || mountpoint === prefix || mountpoint.startsWith(`${prefix}/`);
    if (covers && prefix.length > best.length) best = prefix;
  }
  const rule = rules[best] ?? {};
  if (rule.deny || (rule.exact && mountpoint !== best)) {
    return `mountpoint ${JSON.stringify(mountpoint)} is not allowed${rule.reason ? `: ${rule.reason}` : ''}`;
  }
  return undefined;
}
