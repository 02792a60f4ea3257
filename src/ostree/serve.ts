/**
 * A commit built by one image of a compose, served to a later image of the same compose that
 * deploys it (iot-commit + iot-raw-xz without an ostree URL): the commit's osbuild job unpacks
 * its commit tarball into <state>/ostree-repos/<compose>/<image build>/ and reports the
 * checksum; the disk's depsolve (which waits for that job) hands osbuild a file:// URL to the
 * repository; koji-finalize removes the compose's repositories. The jobs of one compose must
 * then share the state directory (one worker host). When osbuild runs on a builder, which
 * cannot read the worker's files, `builderSources` puts the commits into the builder's source
 * store instead (the populate phase): osbuild finds them there and never fetches the URL.
 * koji-finalize removes a compose's repositories from its own host's state directory; a worker
 * on another host removes the ones of ended composes itself (`sweepServedRepos`).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { KilnError } from '../errors.js';
import { isComposeId } from '../compose/status.js';
import { OSTREE_CHECKSUM_RE, type OstreeCommit } from '../osbuild/stages/ostree.js';

const run = promisify(execFile);

export function composeReposDir(stateDir: string, composeId: string): string {
  return path.join(stateDir, 'ostree-repos', composeId);
}

/** Unpacks the commit tarball (a tar of /repo) and returns the commit `ref` points at, with its file URL. */
export async function serveCommitTarball(tarball: string, ref: string, dest: string, signal?: AbortSignal): Promise<OstreeCommit> {
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  try {
    await run('tar', ['-xf', tarball, '-C', dest], { signal, maxBuffer: 1024 * 1024 });
  } catch (err) {
    throw new KilnError('KILN_OSTREE_RESOLVE', `cannot unpack the commit tarball ${tarball}: ${(err as Error).message}`, { cause: err });
  }
  const repo = path.join(dest, 'repo');
  let checksum: string;
  try {
    checksum = (await readFile(path.join(repo, 'refs', 'heads', ref), 'utf8')).trim();
  } catch (err) {
    throw new KilnError('KILN_OSTREE_RESOLVE', `the commit tarball ${tarball} has no ref ${ref}`, { cause: err });
  }
  if (!OSTREE_CHECKSUM_RE.test(checksum)) throw new KilnError('KILN_OSTREE_RESOLVE', `ref ${ref} of the commit tarball names ${JSON.stringify(checksum.slice(0, 80))}, not a commit`);
  return { url: pathToFileURL(repo).toString(), ref, checksum };
}

/**
 * Removes the served repositories of composes that have ended, as `ended` says (the database,
 * or the worker API for a remote worker). Entries not named by a compose id are not Kiln's
 * and stay. Returns the compose ids removed.
 */
export async function sweepServedRepos(stateDir: string, ended: (ids: string[]) => Promise<string[]>): Promise<string[]> {
  const root = path.join(stateDir, 'ostree-repos');
  const held = (await readdir(root).catch(() => [] as string[])).filter(isComposeId);
  if (held.length === 0) return [];
  const gone = new Set(await ended(held));
  const removed = held.filter((id) => gone.has(id));
  for (const id of removed) await rm(path.join(root, id), { recursive: true, force: true });
  return removed;
}

export async function removeComposeRepos(stateDir: string, composeId: string): Promise<void> {
  await rm(composeReposDir(stateDir, composeId), { recursive: true, force: true });
}

/**
 * The commits a manifest pulls from this host's served repositories, as osbuild's source store
 * holds them: `<dest>/org.osbuild.ostree/repo`, an archive repository with each commit pulled
 * from the local one. Returns the paths to send (relative to dest), none when the manifest pulls
 * nothing from this host.
 */
export async function builderSources(manifest: unknown, stateDir: string, dest: string, signal?: AbortSignal): Promise<string[]> {
  const items = ((manifest as { sources?: Record<string, { items?: Record<string, { remote?: { url?: string } }> }> }).sources?.['org.osbuild.ostree']?.items) ?? {};
  const served = path.join(stateDir, 'ostree-repos') + path.sep;
  const local = Object.entries(items).flatMap(([checksum, item]) => {
    const url = item.remote?.url;
    if (!url?.startsWith('file:')) return [];
    const repo = fileURLToPath(url);
    return repo.startsWith(served) ? [{ checksum, repo }] : [];
  });
  if (local.length === 0) return [];
  const repo = path.join(dest, 'org.osbuild.ostree', 'repo');
  await rm(repo, { recursive: true, force: true });
  await mkdir(repo, { recursive: true });
  try {
    await run('ostree', ['init', '--mode=archive', `--repo=${repo}`], { signal });
    for (const c of local) await run('ostree', ['pull-local', `--repo=${repo}`, c.repo, c.checksum], { signal, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    throw new KilnError('KILN_OSTREE_RESOLVE', `cannot copy the compose's commits ${local.map((c) => c.checksum).join(', ')} for the builder: ${(err as Error).message}`, { cause: err });
  }
  return ['org.osbuild.ostree'];
}
