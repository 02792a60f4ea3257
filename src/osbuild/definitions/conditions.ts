import type { When } from '../../generated/image-definitions.schema.js';

/** What a condition is evaluated against: one distro release on one architecture. */
export interface ConditionContext {
  /** Distro name without version: fedora, rhel, centos. */
  distroName: string;
  major: number;
  /** Undefined for distros without minor versions (fedora-43, centos-9). */
  minor?: number;
  arch: string;
}

/**
 * A distro without a minor version compares as major.999 (as osbuild/images does): centos-9
 * is newer than every rhel-9.N, so a bound such as `version_below: "9.6"` never holds for it.
 */
function versionOf(ctx: ConditionContext): [number, number] {
  return [ctx.major, ctx.minor ?? 999];
}

function parseVersion(v: string): [number, number] {
  const [major, minor] = v.split('.');
  return [Number(major), Number(minor ?? 0)];
}

export function compareVersion(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

const list = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

/** Whether every key of `when` holds. */
export function matches(when: When, ctx: ConditionContext): boolean {
  const arch = list(when.arch);
  if (arch && !arch.includes(ctx.arch)) return false;
  const notArch = list(when.not_arch);
  if (notArch && notArch.includes(ctx.arch)) return false;
  const distro = list(when.distro);
  if (distro && !distro.includes(ctx.distroName)) return false;
  const notDistro = list(when.not_distro);
  if (notDistro && notDistro.includes(ctx.distroName)) return false;
  const version = versionOf(ctx);
  if (when.version_at_least !== undefined && compareVersion(version, parseVersion(when.version_at_least)) < 0) return false;
  if (when.version_below !== undefined && compareVersion(version, parseVersion(when.version_below)) >= 0) return false;
  if (when.version !== undefined) {
    const [major, minor] = parseVersion(when.version);
    if (ctx.major !== major) return false;
    if (when.version.includes('.') && ctx.minor !== minor) return false;
  }
  return true;
}

/** "arch x86_64, version below 43" — for messages that say why a block applied. */
export function describeWhen(when: When): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(when)) parts.push(`${key.replace(/_/g, ' ')} ${Array.isArray(value) ? value.join('|') : value}`);
  return parts.join(', ');
}
