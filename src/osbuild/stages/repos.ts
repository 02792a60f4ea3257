/**
 * The blueprint's custom repositories (`customizations.repositories`), written to the image as
 * osbuild/images writes them: one `org.osbuild.yum.repos` stage per file (sorted by file name,
 * after the image config's), inline armored keys as files under /etc/pki/rpm-gpg referenced by
 * file:// URLs; URL keys as they are. Those marked `install_from` are also repositories for the
 * blueprint's own packages (`payloadRepositories`).
 */
import type { BlueprintCustomizations } from '../../blueprint/index.js';
import type { FileNode } from '../../generated/image-definitions.schema.js';
import type { RepoInput } from '../from-depsolve.js';

type Repository = NonNullable<BlueprintCustomizations['repositories']>[number];

/** What Go's url.ParseRequestURI accepts as a key URL (an absolute URI); anything else is key text. */
const isKeyUrl = (key: string) => /^[a-z][a-z0-9+.-]*:\S*$/i.test(key) && !/\s/.test(key);

export function repoFilename(r: Repository): string {
  if (!r.filename) return `${r.id}.repo`;
  return r.filename.endsWith('.repo') ? r.filename : `${r.filename}.repo`;
}

export interface CustomRepositories {
  /** Options of each org.osbuild.yum.repos stage. */
  stages: Record<string, unknown>[];
  /** Inline keys as files (root-owned, default mode). */
  keyFiles: FileNode[];
}

export function customRepositories(repos: Repository[] | undefined): CustomRepositories {
  const byFile = new Map<string, Record<string, unknown>[]>();
  const keyFiles: FileNode[] = [];
  for (const r of repos ?? []) {
    const gpgkey = (r.gpgkeys ?? []).map((key, i) => {
      if (isKeyUrl(key)) return key;
      const path = `/etc/pki/rpm-gpg/RPM-GPG-KEY-${r.id}-${i}`;
      keyFiles.push({ path, data: key });
      return `file://${path}`;
    });
    const repo: Record<string, unknown> = {
      id: r.id,
      ...(r.baseurls?.length ? { baseurl: [...r.baseurls] } : {}),
      ...(r.enabled !== undefined ? { enabled: r.enabled } : {}),
      ...(r.priority !== undefined ? { priority: r.priority } : {}),
      ...(gpgkey.length ? { gpgkey } : {}),
      ...(r.metalink ? { metalink: r.metalink } : {}),
      ...(r.mirrorlist ? { mirrorlist: r.mirrorlist } : {}),
      ...(r.module_hotfixes !== undefined ? { module_hotfixes: r.module_hotfixes } : {}),
      ...(r.name ? { name: r.name } : {}),
      ...(r.gpgcheck !== undefined ? { gpgcheck: r.gpgcheck } : {}),
      ...(r.repo_gpgcheck !== undefined ? { repo_gpgcheck: r.repo_gpgcheck } : {}),
      ...(r.sslverify !== undefined ? { sslverify: r.sslverify } : {}),
    };
    const file = repoFilename(r);
    byFile.set(file, [...(byFile.get(file) ?? []), repo]);
  }
  const stages = [...byFile.keys()].sort().map((filename) => ({ filename, repos: byFile.get(filename)! }));
  return { stages, keyFiles };
}

/**
 * The `install_from` repositories as request repositories for the blueprint's packages only
 * (package set `blueprint`, as composer's payload repositories); the first of baseurls,
 * mirrorlist, metalink, with all keys joined as the solver takes them.
 */
export function payloadRepositories(repos: Repository[] | undefined): RepoInput[] {
  return (repos ?? [])
    .filter((r) => r.install_from)
    .map((r): RepoInput => ({
      ...(r.baseurls?.length ? { baseurl: r.baseurls[0] } : r.mirrorlist ? { mirrorlist: r.mirrorlist } : r.metalink ? { metalink: r.metalink } : {}),
      ...(r.gpgkeys?.length ? { gpgkey: r.gpgkeys.join('\n') } : {}),
      ...(r.gpgcheck !== undefined ? { check_gpg: r.gpgcheck } : {}),
      ...(r.repo_gpgcheck !== undefined ? { check_repo_gpg: r.repo_gpgcheck } : {}),
      ...(r.sslverify !== undefined ? { ignore_ssl: !r.sslverify } : {}),
      ...(r.module_hotfixes !== undefined ? { module_hotfixes: r.module_hotfixes } : {}),
      package_sets: ['blueprint'],
    }));
}
