/**
 * Directories and files in the image (image config `directories`/`files`, blueprint
 * customizations): at most three stages each — create (mkdir, or copy from an inline
 * source), then chmod and chown for those that ask.
 */
import { createHash } from 'node:crypto';
import type { FileNode } from '../../generated/image-definitions.schema.js';
import type { Sources } from './rpm.js';
import { stage, type Stage } from './stage.js';

/** A mode as osbuild takes it: an octal string such as "0644". Numbers in definitions are written in octal digits (440 means 0440). */
export function octalMode(mode: string | number): string {
  const digits = typeof mode === 'number' ? String(mode) : mode;
  return digits.startsWith('0') ? digits : `0${digits}`;
}

function ownership(nodes: (FileNode | BinaryFileNode)[]): Stage[] {
  const out: Stage[] = [];
  const withMode = nodes.filter((n) => n.mode !== undefined);
  if (withMode.length) out.push(stage('org.osbuild.chmod', { items: Object.fromEntries(withMode.map((n) => [n.path, { mode: octalMode(n.mode!) }])) }));
  const owned = nodes.filter((n) => n.user !== undefined || n.group !== undefined);
  if (owned.length) {
    out.push(
      stage('org.osbuild.chown', {
        items: Object.fromEntries(owned.map((n) => [n.path, { ...(n.user !== undefined ? { user: n.user } : {}), ...(n.group !== undefined ? { group: n.group } : {}) }])),
      }),
    );
  }
  return out;
}

export function directoryStages(dirs: FileNode[]): Stage[] {
  if (!dirs.length) return [];
  const paths = dirs.map((d) => ({
    path: d.path,
    ...(d.ensure_parents ? { parents: true } : {}),
    // an existing directory is fine unless the request sets its mode or owner
    ...(d.mode === undefined && d.user === undefined && d.group === undefined ? { exist_ok: true } : {}),
  }));
  return [stage('org.osbuild.mkdir', { paths }), ...ownership(dirs)];
}

/** A file node whose content is bytes, not text (e.g. UTF-16 for the firmware). */
export type BinaryFileNode = Omit<FileNode, 'data'> & { bytes: Buffer };

export function fileStages(files: (FileNode | BinaryFileNode)[], sources: Sources): Stage[] {
  if (!files.length) return [];
  const inputs: Record<string, unknown> = {};
  const paths = files.map((f) => {
    const data = 'bytes' in f ? f.bytes : Buffer.from(f.data ?? '', 'utf8');
    const sha = createHash('sha256').update(data).digest('hex');
    sources.inline.set(`sha256:${sha}`, data.toString('base64'));
    inputs[`file-${sha}`] = { type: 'org.osbuild.files', origin: 'org.osbuild.source', references: [{ id: `sha256:${sha}` }] };
    return { from: `input://file-${sha}/sha256:${sha}`, to: `tree://${f.path}`, remove_destination: true };
  });
  return [stage('org.osbuild.copy', { paths }, { inputs }), ...ownership(files)];
}
