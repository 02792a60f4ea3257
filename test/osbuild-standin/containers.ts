/**
 * The stand-in's container sources and stage, done as osbuild 191 does them with the same
 * skopeo commands: org.osbuild.skopeo copies `docker://name@digest` into
 * <store>/sources/org.osbuild.containers/<image id>/image (dir: format) and refuses an image
 * whose config digest is not the id it is filed under; org.osbuild.skopeo-index copies the
 * manifest list (index only) into <store>/sources/org.osbuild.files/<digest> and refuses one
 * that is not a list or has another digest. The org.osbuild.skopeo stage copies each input
 * image (its manifest list merged in, as osbuild does) into a containers-storage under a
 * scratch tree, with the vfs driver (osbuild uses overlay inside its build root; the stand-in
 * has no build root and mounts nothing), or to an oci, oci-archive or dir path in the tree (an
 * installer ISO's payload), and refuses manifest lists no image belongs to.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

type Json = Record<string, any>;

export interface ItemResult {
  success: boolean;
  metadata: { checksum: string; cached: boolean };
  error: string;
}

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  if (r.error) return { code: 127, stdout: '', stderr: String(r.error.message) };
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

const source = (name: string, ref: string) => `docker://${name}@${ref}`;

function isManifestList(doc: Json): boolean {
  const t = doc.mediaType;
  if (t === 'application/vnd.docker.distribution.manifest.list.v2+json' || t === 'application/vnd.oci.image.index.v1+json') return true;
  return t === undefined && doc.manifests !== undefined;
}

/** sources/org.osbuild.skopeo: fetch_one for each item, in manifest order. */
export function fetchSkopeo(items: Json, store: string): ItemResult[] {
  const cache = path.join(store, 'sources', 'org.osbuild.containers');
  mkdirSync(cache, { recursive: true });
  return Object.entries(items).map(([imageId, desc]) => {
    const result: ItemResult = { success: true, metadata: { checksum: imageId, cached: false }, error: '' };
    if (existsSync(path.join(cache, imageId, 'image'))) return { ...result, metadata: { checksum: imageId, cached: true } };
    const { name, digest } = desc.image;
    const tls = desc.image['tls-verify'] ?? true;
    const tmp = mkdtempSync(path.join(cache, 'tmp-download-'));
    try {
      const dest = `dir:${tmp}/container-archive/image`;
      mkdirSync(path.join(tmp, 'container-archive'), { mode: 0o755 });
      const copy = run(['copy', ...(tls ? [] : ['--src-tls-verify=false']), source(name, digest), dest]);
      if (copy.code !== 0) return { ...result, success: false, error: `unable to copy image: ${copy.stderr}` };
      const config = run(['inspect', '--raw', '--config', dest]);
      if (config.code !== 0) return { ...result, success: false, error: `unable to inspect image: ${config.stderr}` };
      const got = `sha256:${createHash('sha256').update(config.stdout, 'utf8').digest('hex')}`;
      if (got !== imageId) return { ...result, success: false, error: `Downloaded image ${name}@${digest} has an id of ${got}, but expected ${imageId}` };
      mkdirSync(path.join(cache, imageId), { recursive: true });
      renameSync(path.join(tmp, 'container-archive', 'image'), path.join(cache, imageId, 'image'));
      return result;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

/** sources/org.osbuild.skopeo-index. */
export function fetchSkopeoIndex(items: Json, store: string): ItemResult[] {
  const cache = path.join(store, 'sources', 'org.osbuild.files');
  mkdirSync(cache, { recursive: true });
  return Object.entries(items).map(([digest, desc]) => {
    const result: ItemResult = { success: true, metadata: { checksum: digest, cached: false }, error: '' };
    if (existsSync(path.join(cache, digest))) return { ...result, metadata: { checksum: digest, cached: true } };
    const { name } = desc.image;
    const tls = desc.image['tls-verify'] ?? true;
    const tmp = mkdtempSync(path.join(cache, 'tmp-download-'));
    try {
      const dir = path.join(tmp, 'index');
      mkdirSync(dir, { mode: 0o755 });
      const copy = run(['copy', '--multi-arch=index-only', ...(tls ? [] : ['--src-tls-verify=false']), source(name, digest), `dir:${dir}`]);
      if (copy.code !== 0) return { ...result, success: false, error: `unable to copy image: ${copy.stderr}` };
      const raw = run(['inspect', '--raw', `dir:${dir}`]);
      if (raw.code !== 0) return { ...result, success: false, error: `unable to inspect image: ${raw.stderr}` };
      if (!isManifestList(JSON.parse(raw.stdout))) return { ...result, success: false, error: `${name}@${digest} is not a manifest-list` };
      const md = run(['manifest-digest', path.join(dir, 'manifest.json')]);
      if (md.code !== 0) return { ...result, success: false, error: `unable to get manifest digest: ${md.stderr}` };
      if (md.stdout.trim() !== digest) return { ...result, success: false, error: `Downloaded manifest-list ${name}@${digest} has a checksum of ${md.stdout.trim()}, but expected ${digest}` };
      renameSync(path.join(dir, 'manifest.json'), path.join(cache, digest));
      return result;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

/** An error the stage raises: its output and the traceback line osbuild shows. */
export class StageError extends Error {}

/**
 * stages/org.osbuild.skopeo with inputs from sources (inputs/org.osbuild.containers and
 * org.osbuild.files, osbuild/util/containers.py parse_containers_input and merge_manifest).
 * Returns the stage's output lines.
 */
export function skopeoStage(stage: Json, store: string, into?: string): string[] {
  const images: Json = stage.inputs?.images?.references ?? {};
  const lists: string[] = stage.inputs?.['manifest-lists']?.references ?? [];
  const refs = Array.isArray(images) ? Object.fromEntries(images.map((r: Json) => [r.id, r.options ?? {}])) : images;
  const dest = stage.options?.destination ?? {};
  if (!['containers-storage', 'oci', 'oci-archive', 'dir'].includes(dest.type)) throw new StageError(`ValueError: Unknown destination type '${dest.type}'`);
  const containers = path.join(store, 'sources', 'org.osbuild.containers');
  const files = path.join(store, 'sources', 'org.osbuild.files');
  // the manifest lists each image belongs to: digest of a listed manifest → list file
  const owner = new Map<string, string>();
  const unused = new Set(lists);
  for (const l of lists) {
    const file = path.join(files, l);
    if (!existsSync(file)) throw new StageError(`FileNotFoundError: [Errno 2] No such file or directory: '${file}'`);
    for (const m of JSON.parse(readFileSync(file, 'utf8')).manifests ?? []) owner.set(m.digest, l);
  }
  const out: string[] = [];
  const tree = into ?? mkdtempSync(path.join(store, 'tmp-standin-tree-'));
  try {
    const storage = `${tree}${dest['storage-path'] ?? '/var/lib/containers/storage'}`;
    // the stage's `dest`: a containers-storage under the tree, or a path in it (its parent made)
    const target = (name: string) => {
      if (dest.type === 'containers-storage') return `containers-storage:[vfs@${storage}+${tree}/run]${name}`;
      mkdirSync(path.dirname(`${tree}${dest.path}`), { recursive: true });
      return `${dest.type}:${tree}${dest.path}`;
    };
    const pending: (() => void)[] = [];
    for (const [id, opts] of Object.entries(refs)) {
      const dir = path.join(containers, id, 'image');
      // osbuild's input bind-mounts the stored image: a missing one fails the mount
      if (!existsSync(dir)) throw new StageError(`mount: ${dir}: special device does not exist`);
      const digest = execFileSync('skopeo', ['manifest-digest', path.join(dir, 'manifest.json')], { encoding: 'utf8' }).trim();
      const list = owner.get(digest);
      if (list) unused.delete(list);
      pending.push(() => {
        let from = dir;
        if (list) {
          // merge_manifest: the image's manifest renamed to its digest, the list as manifest.json
          from = path.join(tree, 'merge', id.replace(':', '-'));
          mkdirSync(path.dirname(from), { recursive: true });
          cpSync(dir, from, { recursive: true });
          renameSync(path.join(from, 'manifest.json'), path.join(from, `${digest.split(':')[1]}.manifest.json`));
          cpSync(path.join(files, list), path.join(from, 'manifest.json'));
        }
        const copy = spawnSync('skopeo', ['copy', ...(stage.options?.['remove-signatures'] ? ['--remove-signatures'] : []), `dir:${from}`, target((opts as Json).name)], { encoding: 'utf8' });
        out.push(copy.stdout ?? '', copy.stderr ?? '');
        if (copy.status !== 0) throw new StageError(`subprocess.CalledProcessError: Command '['skopeo', 'copy', ...]' returned non-zero exit status ${copy.status}.`);
      });
    }
    if (unused.size) throw new StageError(`RuntimeError: The following manifest lists specified in the input did not match any of the container images: ${[...unused].join(', ')}`);
    for (const p of pending) p();
    return out.filter(Boolean);
  } finally {
    if (!into) rmSync(tree, { recursive: true, force: true });
    else rmSync(path.join(tree, 'merge'), { recursive: true, force: true });
  }
}

/**
 * stages/org.osbuild.container-deploy and org.osbuild.bootc.install-to-filesystem, as far as
 * this host can run them: both take exactly one image (`assert len(images) == 1`), which
 * osbuild bind-mounts from its store (missing: the mount fails). container-deploy copies it
 * into a containers-storage with skopeo — real, as osbuild's container_mount does — and would
 * then `podman image mount` it and `cp -a` its tree; bootc.install-to-filesystem would run
 * `bootc install to-filesystem` on the mounted disk. There is no podman and no bootc binary
 * here, so those steps are emulated: the stage says so in its output and writes nothing.
 */
export function containerImageStage(stage: Json, store: string): string[] {
  const refs = stage.inputs?.images?.references ?? {};
  const ids: string[] = Array.isArray(refs) ? refs.map((r: Json) => r.id) : Object.keys(refs);
  if (ids.length !== 1) throw new StageError('    assert len(images) == 1\nAssertionError');
  const id = ids[0];
  const dir = path.join(store, 'sources', 'org.osbuild.containers', id, 'image');
  if (!existsSync(dir)) throw new StageError(`mount: ${dir}: special device does not exist`);
  const name = Array.isArray(refs) ? refs[0].options?.name : refs[id]?.name;
  const out: string[] = [];
  if (stage.type === 'org.osbuild.container-deploy') {
    const tree = mkdtempSync(path.join(store, 'tmp-standin-tree-'));
    try {
      const copy = spawnSync('skopeo', ['copy', `dir:${dir}`, `containers-storage:[vfs@${tree}/storage+${tree}/run]${name ?? id}`], { encoding: 'utf8' });
      out.push(copy.stdout ?? '', copy.stderr ?? '');
      if (copy.status !== 0) throw new StageError(`subprocess.CalledProcessError: Command '['skopeo', 'copy', ...]' returned non-zero exit status ${copy.status}.`);
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
    out.push('stand-in: no podman here: `podman image mount` and `cp -a` of the image into the tree are emulated (the tree stays empty)\n');
    return out;
  }
  const o = stage.options ?? {};
  const argv = ['bootc', 'install', 'to-filesystem', '--source-imgref', `dir:${dir}`, '--skip-fetch-check', '--generic-image'];
  for (const karg of o['kernel-args'] ?? []) argv.push('--karg', karg);
  if (o['target-imgref']) argv.push('--target-imgref', o['target-imgref']);
  if (o.stateroot) argv.push('--stateroot', o.stateroot);
  if (o.bootloader) argv.push('--bootloader', o.bootloader);
  if (o.composefs) argv.push('--composefs-backend');
  argv.push('/run/osbuild/mounts');
  // the image it would install must be readable: a real inspect of the stored copy
  const inspect = spawnSync('skopeo', ['inspect', `dir:${dir}`], { encoding: 'utf8' });
  if (inspect.status !== 0) throw new StageError(`subprocess.CalledProcessError: Command '['skopeo', 'inspect', ...]' returned non-zero exit status ${inspect.status}.`);
  out.push(`${argv.join(' ')}\n`, 'stand-in: there is no bootc binary here: the deployment is emulated (nothing is written to the disk)\n');
  return out;
}

/**
 * stages/org.osbuild.flatpak.build-import-bundle.oci: exactly one image from the skopeo source
 * (`assert len(archives) == 1`), copied with `skopeo copy dir:<stored> oci:<tmp>`, then
 * `flatpak build-import-bundle --oci <repository> <tmp>` imports it as a commit of its ref into
 * the tree's repository (made by ostree.init before). Both real here. One deviation: osbuild
 * copies to `oci:<tmp>` without a name, which the flatpak of a current Fedora build root imports
 * (the only manifest of a layout, flatpak/flatpak#6081, fixed on main and in 1.16.x) but
 * Debian's flatpak 1.14 refuses ("Multiple images in registry, specify a ref with --ref": real
 * osbuild 191 fails so on this host); the stand-in names the layout's entry with the image's own
 * org.flatpak.ref label, so the 1.14 import finds it as the fixed one does. `treeDir` is the pipeline's tree;
 * without one the import goes into a scratch copy of an empty repository (the stage's checks
 * and commands run, nothing is kept).
 */
export function flatpakImportStage(stage: Json, store: string, treeDir?: string): string[] {
  const refs = stage.inputs?.containers?.references ?? {};
  const ids: string[] = Array.isArray(refs) ? refs.map((r: Json) => r.id) : Object.keys(refs);
  if (ids.length !== 1) throw new StageError('    assert len(archives) == 1, "need exactly one container archive"\nAssertionError: need exactly one container archive');
  const src = path.join(store, 'sources', 'org.osbuild.containers', ids[0], 'image');
  if (!existsSync(src)) throw new StageError(`mount: ${src}: special device does not exist`);
  const location = String(stage.options?.repository ?? '');
  if (!location.startsWith('tree:///')) throw new StageError(`ValueError: unsupported location ${location}`);
  const scratch = mkdtempSync(path.join(store, 'tmp-standin-flatpak-'));
  const out: string[] = [];
  try {
    const repo = treeDir ? path.join(treeDir, location.slice('tree:///'.length)) : path.join(scratch, 'repo');
    if (!treeDir) execFileSync('ostree', ['init', '--mode=bare-user', `--repo=${repo}`]);
    const config = spawnSync('skopeo', ['inspect', '--config', `dir:${src}`], { encoding: 'utf8' });
    if (config.status !== 0) throw new StageError(`subprocess.CalledProcessError: Command '['skopeo', 'inspect', ...]' returned non-zero exit status ${config.status}.`);
    const ref: string | undefined = JSON.parse(config.stdout).config?.Labels?.['org.flatpak.ref'];
    const layout = path.join(scratch, 'oci');
    const copy = spawnSync('skopeo', ['copy', `dir:${src}`, `oci:${layout}${ref ? `:${ref}` : ''}`], { encoding: 'utf8' });
    out.push(copy.stdout ?? '', copy.stderr ?? '');
    if (copy.status !== 0) throw new StageError(`subprocess.CalledProcessError: Command '['skopeo', 'copy', 'dir:${src}', 'oci:${layout}']' returned non-zero exit status ${copy.status}.`);
    const imp = spawnSync('flatpak', ['build-import-bundle', '--oci', repo, layout], { encoding: 'utf8' });
    if (imp.error) throw new StageError(`FileNotFoundError: [Errno 2] No such file or directory: 'flatpak'`);
    out.push(imp.stdout ?? '', imp.stderr ?? '');
    if (imp.status !== 0) throw new StageError(`${imp.stderr}subprocess.CalledProcessError: Command '['flatpak', 'build-import-bundle', '--oci', '${repo}', '${layout}']' returned non-zero exit status ${imp.status}.`);
    return out.filter(Boolean);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
