/**
 * Container resolution, as composer's container-resolve job does it (osbuild/images
 * pkg/container): each blueprint container's reference is looked up in its registry with
 * `skopeo inspect --raw` and pinned to the digest of its manifest and the id of its image (the
 * digest of its config), choosing the image of the build's architecture from a manifest list
 * (whose digest is kept as well). The manifest names images by these digests only, so a tag
 * moved between the request and the build cannot change what is built.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { KilnError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseReference, referenceString, type ImageReference } from './reference.js';

/** A blueprint's container entry (blueprint.containers[]). */
export interface ContainerSource {
  source: string;
  name?: string;
  'tls-verify'?: boolean;
  'local-storage'?: boolean;
}

/** A container pinned to its digests (osbuild/images' container.Spec). */
export interface ContainerSpec {
  /** The normalised repository, without tag or digest (what osbuild's skopeo source pulls from). */
  source: string;
  /** Digest of the image's manifest in the registry. */
  digest: string;
  /** Digest of the image's config: the id `podman images` shows, and osbuild's key for it. */
  image_id: string;
  /** Digest of the manifest list the image was chosen from, when the reference named one. */
  list_digest?: string;
  /** The name the image gets in the image's container storage. */
  local_name: string;
  tls_verify?: boolean;
  /** The container architecture chosen (amd64, arm64, …). */
  arch: string;
}

/** Why a container could not be resolved, for people and for programs. */
export type ResolveFailure = 'invalid-reference' | 'not-found' | 'auth' | 'tls' | 'unreachable' | 'unsupported' | 'arch' | 'timeout' | 'other';

const WHY: Record<ResolveFailure, string> = {
  'invalid-reference': 'the reference is invalid',
  'not-found': 'the image or tag does not exist in the registry',
  auth: 'the registry refused access (authentication required or denied)',
  tls: 'the TLS connection to the registry failed (set tls-verify to false for a registry without a trusted certificate)',
  unreachable: 'the registry cannot be reached',
  unsupported: 'the registry served a manifest Kiln cannot use',
  arch: 'the manifest list has no image for the build architecture',
  timeout: 'the registry did not answer in time',
  other: 'skopeo failed',
};

export class ContainerResolveError extends KilnError {
  readonly field: string;
  readonly reason: ResolveFailure;
  constructor(field: string, source: string, reason: ResolveFailure, said: string, cause?: unknown) {
    super('KILN_CONTAINER_RESOLVE', `${field}: cannot resolve ${JSON.stringify(source)}: ${WHY[reason]}${said ? ` (${said})` : ''}`, {
      ...(cause !== undefined ? { cause } : {}),
      details: { field, source, reason },
    });
    this.field = field;
    this.reason = reason;
  }
}

const LIST_TYPES = new Set(['application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json']);
const IMAGE_TYPES = new Set(['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.manifest.v1+json']);

/** Kiln's (composer's) architecture names → the container platform's, as osbuild/images maps them. */
export function containerPlatform(arch: string): { architecture: string; variant?: string } {
  if (arch === 'x86_64') return { architecture: 'amd64' };
  if (arch === 'aarch64') return { architecture: 'arm64', variant: 'v8' };
  return { architecture: arch };
}

/** skopeo's fatal message without its logrus frame (time="…" level=fatal msg="…"). */
function skopeoMessage(stderr: string): string {
  const m = /level=fatal msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
  // skopeo prefixes every inspect failure with "Error parsing image name …:", network errors too
  const text = (m ? m[1].replace(/\\(.)/g, '$1') : stderr.trim().split('\n').slice(-3).join(' ')).replace(/^Error parsing image name "[^"]*": /, '');
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

export function classifySkopeo(message: string): ResolveFailure {
  if (/manifest unknown|name unknown|not found/i.test(message)) return 'not-found';
  if (/unauthorized|authentication required|access denied|requested access to the resource is denied|invalid username\/password/i.test(message)) return 'auth';
  if (/x509|certificate|tls:|https client|HTTP response to HTTPS/i.test(message)) return 'tls';
  if (/connection refused|no such host|network is unreachable|dial tcp|i\/o timeout|no route to host|EOF/i.test(message)) return 'unreachable';
  return 'other';
}

export interface ResolveOptions {
  /** The build's architecture (x86_64, aarch64, …). */
  arch: string;
  signal?: AbortSignal;
  /** Per container (composer: 60 s). */
  timeoutMs?: number;
  /** The skopeo binary (default: skopeo from PATH). */
  skopeo?: string;
  log?: Logger;
}

interface Inspect {
  raw: Buffer;
  doc: Record<string, any>;
  mediaType: string;
  digest: string;
}

function inspect(target: string, tlsVerify: boolean | undefined, opts: ResolveOptions, fail: (reason: ResolveFailure, said: string, cause?: unknown) => never): Promise<Inspect> {
  const args = ['inspect', '--raw', ...(tlsVerify !== undefined ? [`--tls-verify=${tlsVerify}`] : []), `docker://${target}`];
  return new Promise((resolve, reject) => {
    execFile(
      opts.skopeo ?? 'skopeo',
      args,
      { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024, timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', ...(opts.signal ? { signal: opts.signal } : {}) },
      (err, stdout, stderr) => {
        try {
          if (err) {
            const e = err as NodeJS.ErrnoException & { killed?: boolean };
            if (opts.signal?.aborted) throw opts.signal.reason ?? err;
            if (e.code === 'ENOENT') throw new KilnError('KILN_CONTAINER_RESOLVE', 'skopeo is not installed on this worker (it resolves blueprint containers)', { cause: err });
            if (e.killed) fail('timeout', `no answer within ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`, err);
            const said = skopeoMessage(stderr.toString('utf8'));
            fail(classifySkopeo(said), said, err);
          }
          let doc: Record<string, any>;
          try {
            doc = JSON.parse(stdout.toString('utf8'));
          } catch {
            fail('unsupported', 'the manifest is not JSON');
          }
          if (doc.schemaVersion !== 2) fail('unsupported', `unknown schema version: ${doc.schemaVersion}`);
          // mediaType is optional in OCI documents: guess from the content as containers/image does
          const mediaType: string = doc.mediaType ?? (Array.isArray(doc.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json');
          resolve({ raw: stdout, doc, mediaType, digest: `sha256:${createHash('sha256').update(stdout).digest('hex')}` });
        } catch (thrown) {
          reject(thrown);
        }
      },
    );
  });
}

/** The instance of a manifest list for the platform: exact variant first, then one without a variant. */
function chooseInstance(list: Record<string, any>, platform: { architecture: string; variant?: string }): string | undefined {
  const entries: Record<string, any>[] = Array.isArray(list.manifests) ? list.manifests : [];
  const fits = entries.filter((m) => m.platform?.os === 'linux' && m.platform?.architecture === platform.architecture);
  const exact = fits.find((m) => (m.platform?.variant ?? '') === (platform.variant ?? ''));
  return (exact ?? fits.find((m) => !m.platform?.variant))?.digest;
}

/** Resolves one blueprint container (`field` names it in errors: blueprint.containers[i]). */
export async function resolveContainer(c: ContainerSource, field: string, opts: ResolveOptions, sourceField = `${field}.source`): Promise<ContainerSpec> {
  const fail = (reason: ResolveFailure, said: string, cause?: unknown): never => {
    throw new ContainerResolveError(sourceField, c.source, reason, said, cause);
  };
  if (c['local-storage']) fail('unsupported', 'local-storage is not supported');
  const parsed = parseReference(c.source);
  if (typeof parsed === 'string') fail('invalid-reference', parsed);
  const ref = parsed as ImageReference;
  const tlsVerify = c['tls-verify'];
  const platform = containerPlatform(opts.arch);
  let top = await inspect(referenceString(ref), tlsVerify, opts, fail);
  let listDigest: string | undefined;
  if (LIST_TYPES.has(top.mediaType)) {
    listDigest = top.digest;
    const instance = chooseInstance(top.doc, platform);
    if (!instance) {
      const kind = top.mediaType.includes('oci') ? 'image index' : 'manifest list';
      fail('arch', `no image found in ${kind} for architecture "${platform.architecture}", variant "${platform.variant ?? ''}", OS "linux"`);
    }
    top = await inspect(`${ref.name}@${instance}`, tlsVerify, opts, fail);
  }
  if (!IMAGE_TYPES.has(top.mediaType)) fail('unsupported', `unsupported manifest format '${top.mediaType}'`);
  const imageId = top.doc.config?.digest;
  if (typeof imageId !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(imageId)) fail('unsupported', 'the manifest has no sha256 config digest');
  const spec: ContainerSpec = {
    source: ref.name,
    digest: top.digest,
    image_id: imageId,
    ...(listDigest ? { list_digest: listDigest } : {}),
    local_name: c.name || referenceString(ref),
    ...(tlsVerify !== undefined ? { tls_verify: tlsVerify } : {}),
    arch: platform.architecture,
  };
  opts.log?.info({ field, source: c.source, digest: spec.digest, imageId: spec.image_id, ...(listDigest ? { listDigest } : {}) }, 'container resolved');
  return spec;
}

/** Resolves every container of a blueprint, in order. */
export async function resolveContainers(containers: readonly ContainerSource[] | undefined, opts: ResolveOptions, field = 'blueprint.containers'): Promise<ContainerSpec[]> {
  const out: ContainerSpec[] = [];
  for (const [i, c] of (containers ?? []).entries()) out.push(await resolveContainer(c, `${field}[${i}]`, opts));
  return out;
}
