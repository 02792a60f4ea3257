/**
 * The stand-in's ISO export: a real ISO 9660 image made the way the manifest's ISO stages say,
 * with the real tools where this host has them (mksquashfs, mkfs.erofs, mkfs.fat, tar,
 * xorrisofs, implantisomd5) and emulated content where it cannot run what osbuild would
 * (no RPMs, anaconda, lorax or dracut here: the kernel, initrd and installer root are small
 * placeholder files, and boot loader images that would come from packages are left out, so
 * xorrisofs gets only the EFI El Torito entry). What a consumer checks on a real ISO holds:
 * volume id, system id, publisher, preparer, the .discinfo, the kickstart, the squashfs or
 * erofs root, the implanted checksum. ostree repositories (ostree.init, ostree.pull of a commit
 * from the org.osbuild.ostree source) are real, in the ISO's tree and in the installer root, and
 * so are the flatpaks imported into the installer root's /flatpak/repo (containers.ts) and a
 * container payload (org.osbuild.skopeo into an OCI layout in the ISO's tree).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { flatpakImportStage, skopeoStage } from './containers.js';

type Json = Record<string, any>;

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** The pipeline a stage input refers to (`name:<pipeline>`). */
function referenced(input: Json | undefined): string | undefined {
  const refs = input?.references;
  const first = Array.isArray(refs) ? refs[0] : refs && typeof refs === 'object' ? Object.keys(refs)[0] : undefined;
  return typeof first === 'string' && first.startsWith('name:') ? first.slice(5) : undefined;
}

/**
 * osbuild's ostree.init (`ostree init --mode`, archive by default) and ostree.pull (the input
 * exports the commit with its ref from the source repository, the stage pulls the ref locally)
 * on `dir`. Pulls from a pipeline are not emulated here (Kiln's ISOs pull from the source).
 */
function ostreeStage(dir: string, st: Json, store: string): void {
  const o = st.options ?? {};
  if (st.type === 'org.osbuild.ostree.init') {
    const repo = path.join(dir, String(o.path ?? 'repo').replace(/^\//, ''));
    mkdirSync(repo, { recursive: true });
    run('ostree', ['init', `--mode=${o.mode ?? 'archive'}`, `--repo=${repo}`]);
    return;
  }
  const commits = st.inputs?.commits;
  if (commits?.origin !== 'org.osbuild.source') throw new Error(`the stand-in's ISO pulls commits from the org.osbuild.ostree source only (got ${commits?.origin})`);
  const source = path.join(store, 'sources', 'org.osbuild.ostree', 'repo');
  const target = path.join(dir, String(o.repo).replace(/^\//, ''));
  for (const [checksum, data] of Object.entries<Json>(commits.references)) {
    const ref = data.ref ?? checksum;
    run('ostree', ['pull-local', `--repo=${target}`, ...(o.remote ? [`--remote=${o.remote}`] : []), source, checksum]);
    run('ostree', ['refs', `--repo=${target}`, `--create=${o.remote ? `${o.remote}:` : ''}${ref}`, checksum]);
  }
}

/** A small stand-in for a pipeline's tree: what its buildstamp, locale, kickstart and ostree stages write. */
function emulatedTree(dir: string, pipeline: Json | undefined, store: string): void {
  mkdirSync(path.join(dir, 'etc'), { recursive: true });
  for (const st of pipeline?.stages ?? []) {
    const o = st.options ?? {};
    if (st.type === 'org.osbuild.buildstamp') {
      writeFileSync(path.join(dir, '.buildstamp'), `[Main]\nProduct=${o.product}\nVersion=${o.version}\nIsFinal=${o.final ? 'True' : 'False'}\n${o.variant ? `Variant=${o.variant}\n` : ''}`);
    }
    if (st.type === 'org.osbuild.locale') writeFileSync(path.join(dir, 'etc', 'locale.conf'), `LANG=${o.language}\n`);
    if (st.type === 'org.osbuild.kickstart') writeKickstart(dir, o);
    if (st.type === 'org.osbuild.ostree.init' || st.type === 'org.osbuild.ostree.pull') ostreeStage(dir, st, store);
    if (st.type === 'org.osbuild.flatpak.build-import-bundle.oci') flatpakImportStage(st, store, dir);
  }
  writeFileSync(path.join(dir, 'etc', 'os-release'), 'NAME="osbuild stand-in tree"\n');
}

function writeKickstart(dir: string, o: Json): void {
  const file = path.join(dir, String(o.path).replace(/^\//, ''));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, kickstartText(o));
}

/** The kickstart stage's options as kickstart lines (the parts a reader of the ISO looks for). */
function kickstartText(o: Json): string {
  const lines = ['# written by the osbuild stand-in from the org.osbuild.kickstart options'];
  if (o.liveimg) lines.push(`liveimg --url ${o.liveimg.url}`);
  if (o.ostree) lines.push(`ostreesetup --osname=${o.ostree.osname} --url=${o.ostree.url} --ref=${o.ostree.ref}${o.ostree.gpg ? '' : ' --nogpg'}`);
  if (o.ostreecontainer) lines.push(`ostreecontainer --url=${o.ostreecontainer.url}${['stateroot', 'transport', 'remote'].map((k) => (o.ostreecontainer[k] ? ` --${k}=${o.ostreecontainer[k]}` : '')).join('')}`);
  for (const [name, u] of Object.entries<Json>(o.users ?? {})) lines.push(`user --name ${name}${u.password ? ` --password ${u.password} --iscrypted` : ''}${u.groups ? ` --groups ${u.groups.join(',')}` : ''}`);
  for (const [name, g] of Object.entries<Json>(o.groups ?? {})) lines.push(`group --name ${name}${g.gid !== undefined ? ` --gid ${g.gid}` : ''}`);
  if (o.rootpw?.lock) lines.push('rootpw --lock');
  if (o.clearpart?.all) lines.push(`clearpart --all${o.clearpart.initlabel ? ' --initlabel' : ''}`);
  if (o.bootloader) lines.push(`bootloader --append="${o.bootloader.append}"`);
  if (o.lang) lines.push(`lang ${o.lang}`);
  if (o.keyboard) lines.push(`keyboard ${o.keyboard}`);
  if (o.timezone) lines.push(`timezone ${o.timezone}`);
  if (o.display_mode) lines.push(o.display_mode);
  if (o.reboot) lines.push(`reboot${o.reboot.eject ? ' --eject' : ''}`);
  for (const post of o['%post'] ?? []) lines.push(`%post${post.erroronfail ? ' --erroronfail' : ''}${post.nochroot ? ' --nochroot' : ''}`, ...post.commands, '%end');
  return `${lines.join('\n')}\n`;
}

/** xorrisofs arguments as osbuild's stage builds them, for the options whose files exist. */
function xorrisofsArgs(o: Json, tree: string, out: string): string[] {
  const args = ['-verbose', '-iso-level', String(o.isolevel ?? 3), '-V', o.volid];
  if (o.sysid) args.push('-sysid', o.sysid);
  if (o.pub) args.push('-publisher', o.pub);
  if (o.appid) args.push('-appid', o.appid);
  if (o.prep) args.push('-preparer', o.prep);
  args.push('-rock', '-joliet');
  for (const e of o.exclude ?? []) args.push('-exclude', e);
  if (o.efi) args.push('-eltorito-alt-boot', '-e', o.efi, '-no-emul-boot');
  args.push('-o', out, tree);
  return args;
}

/**
 * Writes `file` for the export pipeline `exported` (one with org.osbuild.xorrisofs), from the
 * bootiso-tree pipeline it reads. Throws (the stand-in then fails the build) when a tool fails.
 */
export function writeIso(file: string, exported: Json, pipelines: Map<string, Json>, store: string, inline: Json = {}): void {
  const xorriso = (exported.stages as Json[]).find((s) => s.type === 'org.osbuild.xorrisofs')!;
  const treePipeline = pipelines.get(referenced(xorriso.inputs?.tree) ?? '');
  const work = mkdtempSync(path.join(os.tmpdir(), 'standin-iso-'));
  try {
    const tree = path.join(work, 'tree');
    mkdirSync(tree, { recursive: true });
    for (const st of treePipeline?.stages ?? []) {
      const o = st.options ?? {};
      const at = (p: string) => path.join(tree, p.replace(/^\//, ''));
      switch (st.type) {
        case 'org.osbuild.mkdir':
          for (const p of o.paths) mkdirSync(at(p.path), { recursive: true });
          break;
        case 'org.osbuild.copy':
          for (const p of o.paths) {
            if (!String(p.to).startsWith('tree://')) continue;
            const target = String(p.to).slice('tree://'.length);
            const to = at(target);
            // a directory copy (the EFI tree into /): its content comes from packages this host lacks
            if (target.endsWith('/')) mkdirSync(to, { recursive: true });
            else {
              mkdirSync(path.dirname(to), { recursive: true });
              // a file of the manifest's own (org.osbuild.inline) is real, one from a tree a placeholder
              const item = inline[/^input:\/\/[^/]+\/(sha256:[0-9a-f]{64})$/.exec(String(p.from))?.[1] ?? ''];
              writeFileSync(to, item ? Buffer.from(item.data, item.encoding === 'base64' ? 'base64' : 'utf8') : `placeholder for ${p.from}\n`);
            }
          }
          break;
        case 'org.osbuild.squashfs':
        case 'org.osbuild.erofs': {
          const src = path.join(work, `src-${st.type}`);
          // squashfs-ext4: the installer tree is the one rootfs-image copied into its ext4 image
          const from = pipelines.get(referenced(st.inputs?.tree) ?? '');
          const copied = (from?.stages ?? []).map((x: Json) => referenced(x.inputs?.tree)).find(Boolean);
          emulatedTree(src, from?.name === 'rootfs-image' && copied ? pipelines.get(copied) : from, store);
          mkdirSync(path.dirname(at(o.filename)), { recursive: true });
          if (st.type === 'org.osbuild.squashfs') run('mksquashfs', [src, at(o.filename), '-quiet', '-comp', o.compression?.method ?? 'xz', '-noappend']);
          // lz4hc: the erofs-utils here lack lzma (Fedora's have it)
          else run('mkfs.erofs', ['-zlz4hc', at(o.filename), src]);
          break;
        }
        case 'org.osbuild.truncate':
          mkdirSync(path.dirname(at(o.filename)), { recursive: true });
          writeFileSync(at(o.filename), '');
          truncateSync(at(o.filename), Number(o.size));
          break;
        case 'org.osbuild.mkfs.fat': {
          const dev = st.devices?.device?.options?.filename;
          if (dev) run('mkfs.fat', ['-i', o.volid, at(dev)]);
          break;
        }
        case 'org.osbuild.tar': {
          const src = path.join(work, 'payload');
          emulatedTree(src, pipelines.get(referenced(st.inputs?.tree) ?? ''), store);
          run('tar', ['-C', src, '-czf', at(o.filename), '.']);
          break;
        }
        case 'org.osbuild.kickstart':
          writeKickstart(tree, o);
          break;
        case 'org.osbuild.ostree.init':
        case 'org.osbuild.ostree.pull':
          ostreeStage(tree, st, store);
          break;
        case 'org.osbuild.skopeo':
          skopeoStage(st, store, tree);
          break;
        case 'org.osbuild.discinfo':
          writeFileSync(at('.discinfo'), `${Date.now() / 1000}\n${o.release}\n${o.basearch}\n`);
          break;
        default:
          break;
      }
    }
    mkdirSync(path.dirname(file), { recursive: true });
    run('xorrisofs', xorrisofsArgs(xorriso.options, tree, file));
    if ((exported.stages as Json[]).some((s) => s.type === 'org.osbuild.implantisomd5')) run('implantisomd5', [file]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
