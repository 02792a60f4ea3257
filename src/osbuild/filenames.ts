import path from 'node:path';

/** Koji's rule (composer's splitExtension): everything from the first dot of the file name. */
export function splitExtension(filename: string): string {
  const base = path.posix.basename(filename);
  const dot = base.indexOf('.');
  return dot < 0 ? '' : base.slice(dot);
}

/** `<name>-<version>-<release>.<arch><ext>`, as the incumbent names Koji image files. */
export function kojiFilename(nvr: { name: string; version: string; release: string }, image: { arch: string; filename: string }): string {
  return `${nvr.name}-${nvr.version}-${nvr.release}.${image.arch}${splitExtension(image.filename)}`;
}
