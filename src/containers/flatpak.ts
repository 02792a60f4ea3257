/**
 * Flatpaks an installer embeds (installer_config.flatpaks), resolved as osbuild/images does it
 * (pkg/flatpak): a reference `app/org.gnome.Maps/x86_64/stable` is looked up in the OCI
 * registry's flatpak index (flatpak-oci-specs registry-index.md: GET <registry>/index/static
 * with flatpak's own query, label:org.flatpak.ref:exists=1, os=linux, tag=latest), whose
 * answer names the repository and the manifest digest of the image labelled with that ref; the
 * image is then resolved like any container (manifest digest, config digest as the image id),
 * so the manifest pulls it by digest with osbuild's skopeo source.
 *
 * A host without access to the type's registry (a mirror, a test) maps the definition's URL to
 * another with the config's depsolve.flatpak_registries; an `oci+http://` URL is accepted there
 * (a registry on loopback), and the images it indexes are then pulled without TLS.
 */
import type { Logger } from '../log.js';
import { ContainerResolveError, resolveContainer, type ContainerSpec, type ResolveOptions } from './resolve.js';

/** An installer_config.flatpaks entry, references templated. */
export interface FlatpakSource {
  registry: { remote_name?: string; url: string };
  references: string[];
}

/** A flatpak pinned to its image: the container spec plus the flatpak ref it carries. */
export interface FlatpakSpec extends ContainerSpec {
  /** The flatpak reference (`app/<id>/<arch>/<branch>`). */
  ref: string;
}

export interface FlatpakResolveOptions extends ResolveOptions {
  /** Definition URL → the URL to use instead (config depsolve.flatpak_registries). */
  registries?: Record<string, string>;
  /** How errors name the definition's list (default installer_config.flatpaks). */
  field?: string;
}

/** The parts of a flatpak reference, or why it is not one (upstream's NewReferenceFromString). */
export function parseFlatpakRef(ref: string): { kind: string; id: string; arch: string; branch: string } | string {
  const parts = ref.split('/');
  if (parts.length !== 4) return `a flatpak reference has 4 parts (type/id/arch/branch), this one ${parts.length}`;
  const empty = parts.findIndex((p) => p === '');
  if (empty >= 0) return `part ${empty + 1} of the reference is empty`;
  return { kind: parts[0], id: parts[1], arch: parts[2], branch: parts[3] };
}

/** The index's base URL for a registry URL (`oci+https://host` → `https://host`), or why it cannot be used. */
export function indexBase(url: string, allowHttp: boolean): { base: string } | { error: string } {
  const m = /^oci\+(https?):\/\/([^/?#]+)(\/[^?#]*)?$/.exec(url);
  if (!m) return { error: 'is not an OCI registry URL (oci+https://host[/path])' };
  if (m[1] === 'http' && !allowHttp) return { error: 'is plain HTTP: only oci+https registries are used (oci+http only as a replacement in depsolve.flatpak_registries)' };
  return { base: `${m[1]}://${m[2]}${(m[3] ?? '').replace(/\/+$/, '')}` };
}

interface IndexImage {
  Digest?: string;
  Labels?: Record<string, string>;
}
interface IndexRoot {
  Registry?: string;
  Results?: { Name?: string; Images?: (IndexImage | null)[] }[];
}

const STATIC = '/index/static';

async function fetchIndex(base: string, opts: FlatpakResolveOptions, fail: (reason: 'unreachable' | 'not-found' | 'unsupported' | 'timeout', said: string, cause?: unknown) => never): Promise<IndexRoot> {
  const url = new URL(`${base}${STATIC}`);
  // flatpak's own query (registry-index.md, "Usage by flatpak")
  url.searchParams.set('label:org.flatpak.ref:exists', '1');
  url.searchParams.set('os', 'linux');
  url.searchParams.set('tag', 'latest');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])]);
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { Accept: 'application/json' } });
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    if ((err as Error).name === 'TimeoutError') fail('timeout', `${url.origin}${STATIC}: no answer within ${Math.round(timeoutMs / 1000)} s`, err);
    fail('unreachable', `${url.origin}${STATIC}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`, err);
  }
  if (res!.status !== 200) fail(res!.status === 404 ? 'not-found' : 'unsupported', `the registry index ${url.origin}${STATIC} answered ${res!.status} ${res!.statusText}`);
  try {
    const root = (await res!.json()) as IndexRoot;
    if (typeof root !== 'object' || root === null || !Array.isArray(root.Results)) fail('unsupported', `the registry index ${url.origin}${STATIC} has no Results list`);
    return root;
  } catch (err) {
    if (err instanceof ContainerResolveError) throw err;
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    return fail('unsupported', `the registry index ${url.origin}${STATIC} is not JSON`, err);
  }
}

/** host[:port][/path] of the index's Registry URL, and whether it is plain HTTP. */
function registryHost(registry: string): { host: string; http: boolean } {
  const http = registry.startsWith('http://');
  return { host: registry.replace(/^https?:\/\//, '').replace(/\/+$/, ''), http };
}

/**
 * Resolves every reference of every entry, in order (entry by entry, reference by reference).
 * `opts.arch` is the build's: a reference for another architecture is refused.
 */
export async function resolveFlatpaks(sources: readonly FlatpakSource[] | undefined, opts: FlatpakResolveOptions): Promise<FlatpakSpec[]> {
  const out: FlatpakSpec[] = [];
  const field = opts.field ?? 'installer_config.flatpaks';
  const indexes = new Map<string, Promise<IndexRoot>>();
  const log: Logger | undefined = opts.log;
  for (const [i, src] of (sources ?? []).entries()) {
    const replaced = opts.registries?.[src.registry.url];
    const url = replaced ?? src.registry.url;
    const checked = indexBase(url, replaced !== undefined);
    if ('error' in checked) {
      throw new ContainerResolveError(replaced !== undefined ? `depsolve.flatpak_registries[${JSON.stringify(src.registry.url)}]` : `${field}[${i}].registry.url`, url, 'invalid-reference', checked.error);
    }
    const base = checked.base;
    for (const [j, ref] of src.references.entries()) {
      const refField = `${field}[${i}].references[${j}]`;
      const fail = (reason: ConstructorParameters<typeof ContainerResolveError>[2], said: string, cause?: unknown): never => {
        throw new ContainerResolveError(refField, ref, reason, said, cause);
      };
      const parsed = parseFlatpakRef(ref);
      if (typeof parsed === 'string') fail('invalid-reference', parsed);
      const { arch } = parsed as Exclude<typeof parsed, string>;
      if (arch !== opts.arch) fail('arch', `the reference is for ${arch}, the build for ${opts.arch}`);
      let index = indexes.get(base);
      if (!index) {
        index = fetchIndex(base, opts, fail);
        indexes.set(base, index);
      }
      const root = await index;
      const found = findInIndex(root, ref);
      if (!found) fail('not-found', `no image labelled org.flatpak.ref=${ref} in the index of ${url}`);
      if (!root.Registry) fail('unsupported', `the index of ${url} lists ${ref} but names no Registry`);
      const { host, http } = registryHost(root.Registry!);
      // the digest pins the image: the index is read once per build
      const spec = await resolveContainer(
        { source: `${host}/${found!.repo.replace(/^\/+/, '')}@${found!.digest}`, name: found!.repo, ...(http ? { 'tls-verify': false } : {}) },
        refField,
        { ...opts, arch },
        refField,
      );
      log?.info({ field: refField, ref, registry: url, digest: spec.digest }, 'flatpak resolved');
      out.push({ ...spec, ref });
    }
  }
  return out;
}

function findInIndex(root: IndexRoot, ref: string): { repo: string; digest: string } | undefined {
  for (const result of root.Results ?? []) {
    for (const img of result.Images ?? []) {
      if (img?.Labels?.['org.flatpak.ref'] === ref && typeof img.Digest === 'string' && typeof result.Name === 'string') return { repo: result.Name, digest: img.Digest };
    }
  }
  return undefined;
}

/** How many flatpak specs the sources resolve to. */
export function flatpakCount(sources: readonly FlatpakSource[] | undefined): number {
  return (sources ?? []).reduce((n, s) => n + s.references.length, 0);
}
