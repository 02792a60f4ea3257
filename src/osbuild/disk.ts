/**
 * A full disk (or an exhausted quota) under Kiln's state directory: ENOSPC/EDQUOT from Kiln's
 * own file operations, or an osbuild / solver run that died of it, become one KilnError
 * (KILN_DISK_FULL) that names the directory, the path and the bytes still free.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { KilnError } from '../errors.js';

const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);
/** What osbuild (Python), dnf and coreutils print when a write hit a full disk or quota. */
const DISK_FULL_TEXT = /No space left on device|Disk quota exceeded|\[Errno (?:28|122)\]|\bENOSPC\b|\bEDQUOT\b/i;

/** Whether `err` (or an error in its `cause` chain) is ENOSPC/EDQUOT. */
export function isDiskFullError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as KilnError).code === 'KILN_DISK_FULL') return true;
    if (DISK_FULL_CODES.has(String((e as NodeJS.ErrnoException).code))) return true;
  }
  return false;
}

/** Whether a program's output says it ran out of disk space. */
export function mentionsDiskFull(text: string | undefined | null): boolean {
  return !!text && DISK_FULL_TEXT.test(text);
}

/** Bytes available to unprivileged writers on the file system holding `p` (its nearest existing ancestor); undefined when unknown. */
export async function freeBytes(p: string): Promise<number | undefined> {
  for (let dir = path.resolve(p); ; dir = path.dirname(dir)) {
    try {
      const s = await statfs(dir);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      if (path.dirname(dir) === dir) return undefined;
    }
  }
}

export interface DiskFullContext {
  /** The directory the message names (the state directory, or the cache/output directory). */
  dir: string;
  /** The file or directory that could not be written, when known. */
  path?: string;
  /** What was being done, e.g. "write the manifest", "osbuild failed in stage org.osbuild.qemu". */
  what?: string;
  /** Extra explanation appended after the path (e.g. osbuild's own message). */
  message?: string;
  /** Bytes free, when already measured (e.g. before a cleanup freed space). */
  freeBytes?: number;
}

/**
 * KILN_DISK_FULL: "no space left on device in <dir>: <what> <path> (<n> bytes free)[: message]".
 * Free space is measured now unless given.
 */
export async function diskFullError(cause: unknown, ctx: DiskFullContext): Promise<KilnError> {
  return makeDiskFullError(cause, { ...ctx, freeBytes: ctx.freeBytes ?? (await freeBytes(ctx.path ?? ctx.dir)) });
}

/** diskFullError with the free space already measured (or unknown). */
export function makeDiskFullError(cause: unknown, ctx: DiskFullContext): KilnError {
  const free = ctx.freeBytes;
  const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  const kind = errno === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
  const what = ctx.what ? `: ${ctx.what}${ctx.path ? ` ${ctx.path}` : ''}` : ctx.path ? `: cannot write ${ctx.path}` : '';
  const freeText = free === undefined ? '' : ` (${free} bytes free)`;
  return new KilnError('KILN_DISK_FULL', `${kind} in ${ctx.dir}${what}${freeText}${ctx.message ? `: ${ctx.message}` : ''}`, {
    ...(cause === undefined ? {} : { cause }),
    details: {
      dir: ctx.dir,
      ...(ctx.path ? { path: ctx.path } : {}),
      ...(free === undefined ? {} : { free_bytes: free }),
      ...(typeof errno === 'string' && errno.startsWith('E') ? { errno } : {}),
    },
  });
}

/**
 * Runs a file operation of Kiln's; ENOSPC/EDQUOT becomes KILN_DISK_FULL naming `dir` and `file`,
 * anything else is rethrown as is.
 */
export async function diskStep<T>(dir: string, what: string, file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isDiskFullError(err) && !(err instanceof KilnError)) throw await diskFullError(err, { dir, what: `cannot ${what}`, path: file });
    throw err;
  }
}
