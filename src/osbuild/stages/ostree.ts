/**
 * ostree pieces shared by the ostree kinds (commit, container, deployment disk; later the ostree
 * installers): commits as the manifest's org.osbuild.ostree source has them, the inputs that
 * take a commit from that source or from a pipeline, and the mount that runs a stage inside a
 * deployment.
 */
import type { Sources } from './rpm.js';
import { stage, type Stage } from './stage.js';

/** A commit resolved to its checksum (the depsolve job resolves the request's ref). */
export interface OstreeCommit {
  /** The repository (http, https or file URL). */
  url: string;
  ref: string;
  checksum: string;
  contenturl?: string;
  /** osbuild's secrets provider for the source (org.osbuild.rhsm.consumer, org.osbuild.mtls). */
  secrets?: string;
}

/** Registers the commit in the manifest's org.osbuild.ostree source. */
export function addOstreeSource(sources: Sources, c: OstreeCommit): void {
  sources.ostree.set(c.checksum, { remote: { url: c.url, ...(c.contenturl ? { contenturl: c.contenturl } : {}), ...(c.secrets ? { secrets: { name: c.secrets } } : {}) } });
}

/** org.osbuild.ostree input of ostree.pull: one commit, from the source (by checksum) or from a pipeline. */
export function pullInputs(from: { source: string } | { pipeline: string }, ref: string): Record<string, unknown> {
  const [origin, key] = 'source' in from ? ['org.osbuild.source', from.source] : ['org.osbuild.pipeline', `name:${from.pipeline}`];
  return { commits: { type: 'org.osbuild.ostree', origin, references: { [key]: { ref } } } };
}

/** org.osbuild.ostree.checkout input: the commit's tree, from the source. */
export function checkoutInput(checksum: string): Record<string, unknown> {
  return { type: 'org.osbuild.ostree.checkout', origin: 'org.osbuild.source', references: [checksum] };
}

/** The commit's /etc/passwd and /etc/group, so a new commit keeps its parent's user and group ids. */
export function passwdStage(checksum: string): Stage {
  return stage('org.osbuild.ostree.passwd', undefined, { inputs: { commits: checkoutInput(checksum) } });
}

/** Runs a stage inside the deployment of `ref` (as osbuild/images' MountOSTree, serial 0). */
export function inDeployment(s: Stage, osname: string, ref: string): Stage {
  return { ...s, mounts: [...(s.mounts ?? []), { name: `ostree-${ref}`, type: 'org.osbuild.ostree.deployment', options: { deployment: { osname, ref, serial: 0 } } }] };
}

/**
 * ostree refs as ostree accepts them (osbuild/images' ostreeRefRE) and commit checksums (64 hex
 * digits): the request's ref and parent are checked against these before anything is resolved.
 */
export const OSTREE_REF_RE = /^(?:[\w\d][-._\w\d]*\/)*[\w\d][-._\w\d]*$/;
export const OSTREE_CHECKSUM_RE = /^[0-9a-f]{64}$/;
