/**
 * The stand-in's ostree parts, done with the real `ostree` binary as osbuild 191 does them:
 * sources/org.osbuild.ostree pulls each commit by checksum from its remote (a temporary remote
 * with --no-gpg-verify, and --contenturl when given) into <store>/sources/org.osbuild.ostree/repo
 * (an archive repo); a commit already there is cached; a failed pull is the item's error, as
 * the CalledProcessError text osbuild reports. Exporting a tar of an ostree-commit pipeline
 * (commit-archive) writes a real repository with the pipeline's ref committed (the stand-in
 * builds no OS tree, so the commit holds a small marker tree) as osbuild's tar stage lays it out.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ItemResult } from './containers.js';

type Json = Record<string, any>;

function ostree(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('ostree', args, { encoding: 'utf8' });
  if (r.error) return { code: 127, stdout: '', stderr: String(r.error.message) };
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Python's str(CalledProcessError) for an ostree command. */
const calledProcessError = (args: string[], code: number) => `Command ${JSON.stringify(['ostree', ...args]).replace(/"/g, "'").replace(/','/g, "', '")} returned non-zero exit status ${code}.`;

export function fetchOstree(items: Json, store: string): ItemResult[] {
  const repo = path.join(store, 'sources', 'org.osbuild.ostree', 'repo');
  if (!existsSync(path.join(repo, 'config'))) {
    mkdirSync(repo, { recursive: true });
    ostree(['init', '--mode=archive', `--repo=${repo}`]);
    ostree(['config', 'set', 'repo.locking', 'true', `--repo=${repo}`]);
  }
  return Object.entries(items).map(([checksum, desc]) => {
    const result: ItemResult = { success: true, metadata: { checksum, cached: false }, error: '' };
    if (ostree(['show', checksum, `--repo=${repo}`]).code === 0) return { ...result, metadata: { checksum, cached: true } };
    const remote = desc.remote ?? {};
    const name = randomUUID();
    const add = ['remote', 'add', name, remote.url, ...(remote.gpgkeys?.length ? [] : ['--no-gpg-verify']), ...(remote.contenturl ? [`--contenturl=${remote.contenturl}`] : []), `--repo=${repo}`];
    let r = ostree(add);
    if (r.code !== 0) return { ...result, success: false, error: calledProcessError(add, r.code) };
    const pull = ['pull', name, checksum, `--repo=${repo}`];
    r = ostree(pull);
    ostree(['remote', 'delete', name, `--repo=${repo}`]);
    if (r.code !== 0) return { ...result, success: false, error: calledProcessError(pull, r.code) };
    return result;
  });
}

/** The ref and the ostree-commit pipeline a commit-archive tar exports, if `pipeline` is one. */
export function commitArchiveOf(pipeline: Json, byName: Map<string, Json>): { ref: string; parent?: string; filename: string } | undefined {
  const tar = (pipeline.stages ?? []).find((s: Json) => s.type === 'org.osbuild.tar');
  const ref = tar?.inputs?.tree?.references?.[0];
  if (typeof ref !== 'string') return undefined;
  const commit = (byName.get(ref.slice(5))?.stages ?? []).find((s: Json) => s.type === 'org.osbuild.ostree.commit');
  if (!commit) return undefined;
  return { ref: commit.options.ref, ...(commit.options.parent ? { parent: commit.options.parent } : {}), filename: tar.options.filename };
}

/** Writes `dest`: a tar of a tree holding /repo, an archive repo with `ref` committed. */
export function writeCommitArchive(dest: string, ref: string, subject: string): void {
  mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = mkdtempSync(path.join(path.dirname(dest), '.commit-'));
  try {
    const tree = path.join(tmp, 'tree');
    const content = path.join(tmp, 'content');
    mkdirSync(path.join(content, 'usr', 'lib'), { recursive: true });
    writeFileSync(path.join(content, 'usr', 'lib', 'os-release'), `NAME=stand-in\nVARIANT=${subject}\n`);
    const repo = path.join(tree, 'repo');
    mkdirSync(repo, { recursive: true });
    for (const args of [
      ['init', '--mode=archive', `--repo=${repo}`],
      ['commit', `--repo=${repo}`, `--branch=${ref}`, `--subject=${subject}`, `--tree=dir=${content}`],
    ]) {
      const r = ostree(args);
      if (r.code !== 0) throw new Error(`${calledProcessError(args, r.code)}\n${r.stderr}`);
    }
    mkdirSync(path.dirname(dest), { recursive: true });
    const t = spawnSync('tar', ['--create', `--file=${dest}`, '--directory', tree, '.'], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`tar failed: ${t.stderr}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
