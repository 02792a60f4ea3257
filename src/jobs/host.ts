import { readFileSync } from 'node:fs';

/** This host's OS as Koji buildroots record it, e.g. "fedora-43" or "rhel-9.6"; "linux" if unknown. */
export function hostOs(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const field = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1];
    const id = field('ID');
    const version = field('VERSION_ID');
    return id ? (version ? `${id}-${version}` : id) : 'linux';
  } catch {
    return 'linux';
  }
}
