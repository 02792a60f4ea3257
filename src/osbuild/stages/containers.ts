/**
 * Containers embedded in the image (blueprint.containers), as osbuild/images'
 * GenContainerStorageStages: the resolved images (pinned by digest in the depsolve job) come
 * from osbuild's skopeo sources (manifest lists from skopeo-index) and one org.osbuild.skopeo
 * stage copies them into the tree's container storage, configured first when it is not the
 * default one.
 */
import type { ContainerSource, ContainerSpec } from '../../containers/index.js';
import { InvalidInputError } from '../../errors.js';
import type { Sources } from './rpm.js';
import { stage, type Stage } from './stage.js';

/** Where ostree trees keep containers: their /var is not part of the commit. */
const OSTREE_STORAGE = '/usr/share/containers/storage';

export interface ContainersPlan {
  sources: ContainerSource[];
  /** The storage path, when it is not /var/lib/containers/storage. */
  storagePath?: string;
}

/** The blueprint's containers and where they go (undefined when it has none). */
export function containersPlan(containers: ContainerSource[] | undefined, destinationPath: string | undefined, ostree: boolean): ContainersPlan | undefined {
  if (!containers?.length) return undefined;
  const storagePath = destinationPath || (ostree ? OSTREE_STORAGE : undefined);
  return { sources: containers, ...(storagePath ? { storagePath } : {}) };
}

/** One pinned container as a stage's org.osbuild.containers input (container-deploy, bootc, flatpak import), its skopeo source added. */
export function containerSourceInput(spec: ContainerSpec, sources: Sources): Record<string, unknown> {
  sources.skopeo.set(spec.image_id, { image: { name: spec.source, digest: spec.digest, ...(spec.tls_verify !== undefined ? { 'tls-verify': spec.tls_verify } : {}) } });
  return { type: 'org.osbuild.containers', origin: 'org.osbuild.source', references: { [spec.image_id]: { name: spec.local_name } } };
}

const byKey = <T>(entries: [string, T][]) => Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/**
 * The stages for the plan, sources added (`specs` undefined while planning: the stages without
 * references, for the build root's tools). Two containers that resolved to one image must
 * agree on its name: the image is stored once.
 */
export function containerStages(plan: ContainersPlan | undefined, specs: ContainerSpec[] | undefined, sources: Sources): Stage[] {
  if (!plan) return [];
  const out: Stage[] = [];
  if (plan.storagePath) {
    out.push(stage('org.osbuild.containers.storage.conf', { filename: '/etc/containers/storage.conf', config: { storage: { options: { additionalimagestores: [plan.storagePath] } } } }));
  }
  // resolved order as composer's resolver returns it: by manifest digest
  const sorted = [...(specs ?? [])].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const names = new Map<string, string>();
  for (const s of sorted) {
    const other = names.get(s.image_id);
    if (other !== undefined && other !== s.local_name) {
      throw new InvalidInputError('blueprint.containers', `${JSON.stringify(other)} and ${JSON.stringify(s.local_name)} are the same image (${s.image_id}); give it once`);
    }
    names.set(s.image_id, s.local_name);
    sources.skopeo.set(s.image_id, { image: { name: s.source, digest: s.digest, ...(s.tls_verify !== undefined ? { 'tls-verify': s.tls_verify } : {}) } });
    if (s.list_digest) sources.skopeoIndex.set(s.list_digest, { image: { name: s.source, ...(s.tls_verify !== undefined ? { 'tls-verify': s.tls_verify } : {}) } });
  }
  const lists = sorted.flatMap((s) => (s.list_digest ? [s.list_digest] : []));
  out.push(
    stage('org.osbuild.skopeo', { destination: { type: 'containers-storage', ...(plan.storagePath ? { 'storage-path': plan.storagePath } : {}) } }, {
      inputs: {
        images: { type: 'org.osbuild.containers', origin: 'org.osbuild.source', references: byKey([...names].map(([id, name]) => [id, { name }])) },
        ...(lists.length ? { 'manifest-lists': { type: 'org.osbuild.files', origin: 'org.osbuild.source', references: lists } } : {}),
      },
    }),
  );
  return out;
}
