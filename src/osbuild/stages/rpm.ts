/**
 * Installing packages: one org.osbuild.rpm stage per depsolve transaction of a pipeline (each
 * transaction installs on top of the ones before it), with the signing keys of the repositories
 * whose packages are checked, and the sources osbuild downloads them from.
 */
import { KilnError } from '../../errors.js';
import { stage, type Stage } from './stage.js';

/** One package of a depsolve transaction, as the manifest needs it. */
export interface ManifestPackage {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  checksum: string;
  remote_location: string;
  /** Its repository has gpgcheck: osbuild verifies the signature with `gpgkeys`. */
  check_gpg: boolean;
  /** ASCII-armored keys of its repository (when check_gpg). */
  gpgkeys?: string[];
}

/** Pipeline name → its depsolve transactions, in order, each listing only what it adds. */
export type PipelinePackages = Record<string, ManifestPackage[][]>;

/** What osbuild fetches before it builds: packages by URL, small files inline, container images and manifest lists by digest, ostree commits by checksum. */
export class Sources {
  readonly curl = new Map<string, string>();
  readonly inline = new Map<string, string>();
  /** image id → org.osbuild.skopeo item */
  readonly skopeo = new Map<string, Record<string, unknown>>();
  /** manifest list digest → org.osbuild.skopeo-index item */
  readonly skopeoIndex = new Map<string, Record<string, unknown>>();
  /** commit checksum → org.osbuild.ostree item */
  readonly ostree = new Map<string, Record<string, unknown>>();

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const sorted = <T>(m: Map<string, T>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (this.curl.size) out['org.osbuild.curl'] = { items: Object.fromEntries(Object.entries(sorted(this.curl)).map(([id, url]) => [id, { url }])) };
    if (this.inline.size) out['org.osbuild.inline'] = { items: Object.fromEntries(Object.entries(sorted(this.inline)).map(([id, data]) => [id, { encoding: 'base64', data }])) };
    if (this.skopeo.size) out['org.osbuild.skopeo'] = { items: sorted(this.skopeo) };
    if (this.skopeoIndex.size) out['org.osbuild.skopeo-index'] = { items: sorted(this.skopeoIndex) };
    if (this.ostree.size) out['org.osbuild.ostree'] = { items: sorted(this.ostree) };
    return out;
  }
}

export function checkTransactions(pipeline: string, transactions: ManifestPackage[][] | undefined): ManifestPackage[][] {
  if (!transactions || transactions.every((t) => t.length === 0)) {
    throw new KilnError('KILN_MANIFEST', `the depsolve result has no packages for pipeline ${JSON.stringify(pipeline)}`, { details: { pipeline } });
  }
  for (const p of transactions.flat()) {
    if (!/^sha256:[0-9a-f]{64}$/.test(p.checksum ?? '')) {
      throw new KilnError('KILN_MANIFEST', `package ${p.name} of pipeline ${pipeline} has no sha256 checksum`, { details: { pipeline, package: p.name } });
    }
    if (!p.remote_location) throw new KilnError('KILN_MANIFEST', `package ${p.name} of pipeline ${pipeline} has no remote_location`, { details: { pipeline, package: p.name } });
  }
  return transactions;
}

function nevraKey(p: ManifestPackage): string {
  return `${p.name}\0${p.epoch}\0${p.version}\0${p.release}\0${p.arch}\0${p.checksum}`;
}

/**
 * rpm stages for a pipeline's transactions (in plan mode, without packages, one stage with
 * no references stands for them). Keys: those of the checked repositories of the transaction's
 * packages, sorted.
 */
export function rpmStages(transactions: ManifestPackage[][] | undefined, options: Record<string, unknown>, sources: Sources): Stage[] {
  if (!transactions) return [rpmStage([], [], options)];
  return transactions
    .filter((t) => t.length > 0)
    .map((t) => {
      const packages = [...t].sort((a, b) => (nevraKey(a) < nevraKey(b) ? -1 : 1));
      const keys = new Set<string>();
      for (const p of packages) {
        sources.curl.set(p.checksum, p.remote_location);
        if (p.check_gpg) for (const k of p.gpgkeys ?? []) keys.add(k);
      }
      return rpmStage(packages, [...keys].sort(), options);
    });
}

function rpmStage(packages: ManifestPackage[], gpgkeys: string[], options: Record<string, unknown>): Stage {
  const seen = new Set<string>();
  const references: Record<string, unknown>[] = [];
  for (const p of packages) {
    if (seen.has(p.checksum)) continue;
    seen.add(p.checksum);
    references.push(p.check_gpg ? { id: p.checksum, options: { metadata: { 'rpm.check_gpg': true } } } : { id: p.checksum });
  }
  return stage('org.osbuild.rpm', { ...(gpgkeys.length ? { gpgkeys } : {}), ...options }, {
    inputs: { packages: { type: 'org.osbuild.files', origin: 'org.osbuild.source', references } },
  });
}

/** `<version>-<release>.<arch>` (with `<epoch>:` when not 0) of the first package named `name`. */
export function packageEvra(transactions: ManifestPackage[][] | undefined, name: string): string | undefined {
  const p = transactions?.flat().find((x) => x.name === name);
  if (!p) return undefined;
  return `${p.epoch ? `${p.epoch}:` : ''}${p.version}-${p.release}.${p.arch}`;
}

export function hasPackage(transactions: ManifestPackage[][] | undefined, name: string): boolean {
  return !!transactions?.some((t) => t.some((p) => p.name === name));
}
