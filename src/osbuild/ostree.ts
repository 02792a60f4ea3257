/**
 * A request's `ostree` options ({url, ref, parent, contenturl, rhsm}, composer's names) for an
 * ostree image type: checked when the compose is created (errors name the field), and turned
 * into what the depsolve job resolves (the commit a disk deploys, the parent of a new commit)
 * and the ref a new commit gets. Defaults as osbuild/images: the type's ref
 * (`fedora/43/x86_64/iot`, `rhel/9/x86_64/edge`), the type's URL for disks that have one.
 */
import { InvalidInputError } from '../errors.js';
import type { ResolvedImage } from './definitions/resolve.js';
import { commitsTree, pullsCommit } from './kinds/index.js';
import { OSTREE_CHECKSUM_RE, OSTREE_REF_RE } from './stages/ostree.js';

export interface OstreeOptions {
  url?: string;
  ref?: string;
  parent?: string;
  contenturl?: string;
  rhsm?: boolean;
}

/** Where a commit is and which ref (or checksum) names it: what the depsolve job resolves. */
export interface OstreeSource {
  url: string;
  ref: string;
}

export interface OstreePlan {
  /** The ref a new commit gets, or the ref a disk deploys. */
  ref: string;
  /** A new commit's parent (commit kinds, when the request gives a URL). */
  parent?: OstreeSource;
  /** The commit a disk deploys; absent when the compose itself builds it (`fromCompose`). */
  payload?: OstreeSource;
  /** The remote a deployment keeps (types with use_ostree_remotes, when the request gives a URL). */
  remote?: { url: string; contenturl?: string };
  contenturl?: string;
}

/** Whether the image type is built from or into an ostree commit (the request's ostree options apply). */
export function usesOstree(image: ResolvedImage): boolean {
  return commitsTree(image.kind) || pullsCommit(image.kind);
}

/** osbuild/images' ParseRequestURI, for the schemes ostree pulls from; mirrorlist= as the type's defaults have it. */
function checkUrl(url: string, field: string): void {
  const bare = url.startsWith('mirrorlist=') ? url.slice('mirrorlist='.length) : url;
  let parsed: URL;
  try {
    parsed = new URL(bare);
  } catch {
    throw new InvalidInputError(field, `${JSON.stringify(url)} is not a URL`);
  }
  if (!['http:', 'https:', 'file:'].includes(parsed.protocol)) throw new InvalidInputError(field, `${JSON.stringify(url)}: ostree repositories are pulled over http, https or file URLs`);
}

/**
 * The build's ostree settings. `fromCompose`: the compose builds the commit a disk deploys (the
 * disk then needs no URL). Throws InvalidInputError naming `${field}.<option>`.
 */
export function ostreePlan(image: ResolvedImage, options: OstreeOptions | undefined, field = 'ostree', fromCompose = false): OstreePlan | undefined {
  if (!usesOstree(image)) return undefined;
  const o = options ?? {};
  if (o.ref) {
    if (OSTREE_CHECKSUM_RE.test(o.ref)) throw new InvalidInputError(`${field}.ref`, `${JSON.stringify(o.ref)} looks like a commit checksum; give a ref (a commit is chosen with parent)`);
    if (!OSTREE_REF_RE.test(o.ref)) throw new InvalidInputError(`${field}.ref`, `${JSON.stringify(o.ref)} is not a valid ostree ref`);
  }
  if (o.parent) {
    if (!OSTREE_CHECKSUM_RE.test(o.parent) && !OSTREE_REF_RE.test(o.parent)) throw new InvalidInputError(`${field}.parent`, `${JSON.stringify(o.parent)} is neither an ostree ref nor a commit checksum`);
    if (!o.url) throw new InvalidInputError(`${field}.url`, 'is required with parent: the parent commit is resolved in the repository at this URL');
  }
  if (o.url) checkUrl(o.url, `${field}.url`);
  if (o.contenturl) checkUrl(o.contenturl, `${field}.contenturl`);
  if (o.rhsm) throw new InvalidInputError(`${field}.rhsm`, 'ostree repositories behind RHSM entitlements are not supported; give a repository Kiln can reach with its URL');
  const ref = o.ref || image.ostree?.ref || '';
  if (!ref) throw new InvalidInputError(`${field}.ref`, `is required: image type ${image.name} has no default ref`);

  if (commitsTree(image.kind)) {
    return {
      ref,
      ...(o.url ? { parent: { url: o.url, ref: o.parent || ref } } : {}),
      ...(o.contenturl ? { contenturl: o.contenturl } : {}),
    };
  }
  if (o.parent) throw new InvalidInputError(`${field}.parent`, `applies to commits; image type ${image.name} deploys the commit ref names`);
  const url = o.url || image.ostree?.url || '';
  if (!url && !fromCompose) {
    const verb = image.kind === 'ostree_installer' ? 'installs' : 'deploys';
    throw new InvalidInputError(`${field}.url`, `is required: image type ${image.name} ${verb} a commit from an ostree repository, and the compose builds no commit of ${ref} for it`);
  }
  return {
    ref,
    ...(url && !(fromCompose && !o.url) ? { payload: { url, ref } } : {}),
    ...(image.useOstreeRemotes && o.url ? { remote: { url: o.url, ...(o.contenturl ? { contenturl: o.contenturl } : {}) } } : {}),
    ...(o.contenturl ? { contenturl: o.contenturl } : {}),
  };
}
