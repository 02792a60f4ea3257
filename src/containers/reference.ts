/**
 * Container image references as skopeo and osbuild/images read them (the distribution
 * reference grammar, normalised as ParseNormalizedNamed does): `fedora` is
 * `docker.io/library/fedora:latest`, `quay.io/x/y` is `quay.io/x/y:latest`.
 */

export interface ImageReference {
  /** Registry and repository, normalised: `docker.io/library/fedora`. */
  name: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const MAX_NAME = 255;

/** Why `text` is not a reference, or its normalised parts (a reference without tag or digest gets `latest`). */
export function parseReference(text: string): ImageReference | string {
  if (!text) return 'is empty';
  if (/^[a-f0-9]{64}$/.test(text)) return 'cannot be a 64-byte hexadecimal string (an image id), it must name a repository';
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return `has an invalid digest ${JSON.stringify(digest)}`;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return `has an invalid tag ${JSON.stringify(tag)}`;
  }
  const slash = rest.indexOf('/');
  let domain = 'docker.io';
  let path = rest;
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (!DOMAIN.test(domain)) return `has an invalid registry ${JSON.stringify(domain)}`;
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  const components = path.split('/');
  if (components.some((c) => c.toLowerCase() === c && !COMPONENT.test(c))) return `has an invalid repository name ${JSON.stringify(path)}`;
  if (components.some((c) => !COMPONENT.test(c))) return `has an invalid repository name ${JSON.stringify(path)} (repository names must be lowercase)`;
  const name = `${domain}/${path}`;
  if (name.length > MAX_NAME) return `repository name must not be longer than ${MAX_NAME} characters`;
  return { name, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}), ...(tag === undefined && digest === undefined ? { tag: 'latest' } : {}) };
}

/** The reference written out: `name[:tag][@digest]`. */
export function referenceString(ref: ImageReference): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}
