import { randomUUID } from 'node:crypto';
import type { Pool } from '../db/index.js';
import { withTransaction } from '../db/index.js';
import { InvalidInputError, KilnError } from '../errors.js';
import { validate } from '../schemas.js';
import { enqueueJobs, type QueueDefaults } from '../queue/index.js';
import { checkRepoInput, imageCatalog, pullsCommit, packageRequests, randomSeed, resolveImage, splitExtension, type BuildOptions, type RepoInput, type ResolvedImage } from '../osbuild/index.js';
import type { ComposeCheck } from '../generated/compose-check.schema.js';
import { API_BASE } from './status.js';
import { findArchiveType } from '../koji/archive-types.js';
import type { Blueprint } from '../blueprint/index.js';
import type { ComposeRequest, ImageRequest } from '../generated/compose-request.schema.js';
import type { KilnConfig } from '../generated/config.schema.js';
import { composeJobGraph, imageFileName, type PlannedImageBuild } from './graph.js';
import { checkUploadOptionFields, honouredOptions } from './options.js';
import { imagesNameFor } from './image-types.js';
import { checkCustomizationSources, fromRequest, requestField, withCryptedRequestPasswords } from './customizations.js';
import { BOOTC_DISTRIBUTION } from '../containers/index.js';

export interface CreateComposeOptions {
  /** Who asked (client certificate name or token name), kept with the compose. */
  owner?: string;
  /** Koji hub URLs this Kiln holds credentials for; others are refused up front. */
  kojiServers?: readonly string[];
  queueDefaults?: QueueDefaults;
  /** The config's [s3]: the default bucket of upload_options, and the rules an upload is checked by. */
  s3?: KilnConfig['s3'];
}

/** [s3] with the config schema's defaults, for callers that pass none (no default bucket). */
const defaultS3 = () => validate<KilnConfig['s3']>('config.schema#/properties/s3', {});

/** The image requests of a body, which gives either `image_request` or `image_requests`. */
export function imageRequestsOf(request: ComposeRequest): ImageRequest[] {
  if (request.image_request && request.image_requests) {
    throw new InvalidInputError('image_requests', 'give either image_request or image_requests, not both');
  }
  const list = request.image_requests ?? (request.image_request ? [request.image_request] : []);
  if (list.length === 0) throw new InvalidInputError('image_requests', 'is required (at least one image request)');
  return list;
}

/**
 * The distribution an image request builds: the request's, or for bootc images their own (a
 * container is its distribution; composer refuses both together, and so does Kiln).
 */
export function distributionOf(request: ComposeRequest, images: ImageRequest[], field: (i: number) => string): string {
  const bootc = images.findIndex((ir) => ir.bootc);
  if (bootc < 0) {
    if (!request.distribution) throw new InvalidInputError('distribution', 'is required (unless the image requests are bootc images)');
    return request.distribution;
  }
  if (request.distribution) throw new InvalidInputError('distribution', `must not be given with bootc images (${field(bootc)}.bootc): a bootc image's distribution is its container's`);
  const other = images.findIndex((ir) => !ir.bootc);
  if (other >= 0) throw new InvalidInputError(`${field(other)}.bootc`, `is required: a compose without a distribution builds bootc images only (${field(bootc)} is one)`);
  return BOOTC_DISTRIBUTION;
}

/** Each image request's resolved image type, checked against the supported distro × arch × image type matrix. */
function checkSupported(distribution: string, images: ImageRequest[], field: (i: number) => string): ResolvedImage[] {
  return images.map((ir, i) => {
    const name = imagesNameFor(ir.image_type);
    try {
      return resolveImage(distribution, ir.architecture, name);
    } catch (err) {
      if (!(err instanceof KilnError) || err.code !== 'KILN_UNSUPPORTED_IMAGE') throw err;
      const d = err.details ?? {};
      const where = 'arch' in d ? `${field(i)}.architecture` : 'imageType' in d ? `${field(i)}.image_type` : 'distribution';
      // bootc images: the types are bootc-generic's, whatever the distribution the container has
      if (distribution === BOOTC_DISTRIBUTION && where === `${field(i)}.image_type`) throw new InvalidInputError(where, `${JSON.stringify(ir.image_type)} is not a bootc image type; bootc images: ${(d.supported as string[]).join(', ')}`, { details: d });
      // say which name was asked for when composer's name maps to another
      const asked = name === ir.image_type ? err.message : err.message.replace(`image type ${JSON.stringify(name)}`, `image type ${JSON.stringify(ir.image_type)} (osbuild/images' ${name})`);
      throw new InvalidInputError(where, asked.replace(/^unsupported /, 'unsupported: '), { details: d });
    }
  });
}

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Deeper JSON values are refused: serialising them (JSON.stringify is recursive) overflows the stack. */
export const MAX_JSON_DEPTH = 128;

/**
 * The field (as `a.b[0].c`) of the first string or key that Postgres cannot store in jsonb
 * (U+0000 or an unpaired surrogate, both valid in JSON), or of a value nested deeper than
 * MAX_JSON_DEPTH; undefined when there is none.
 */
export function unstorableField(value: unknown, path = '', depth = 0): { field: string; problem: string } | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? { field: path, problem: 'must not contain U+0000 or unpaired UTF-16 surrogates' } : undefined;
  if (!value || typeof value !== 'object') return undefined;
  if (depth >= MAX_JSON_DEPTH) return { field: path, problem: `is nested deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorableField(value[i], `${path}[${i}]`, depth + 1);
      if (found !== undefined) return found;
    }
  } else {
    for (const [k, v] of Object.entries(value)) {
      const p = path ? `${path}.${k}` : k;
      if (UNSTORABLE.test(k)) return { field: p, problem: 'must not contain U+0000 or unpaired UTF-16 surrogates' };
      const found = unstorableField(v, p, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Throws InvalidInputError naming the field when `value` holds what Postgres or JSON.stringify cannot take. */
export function checkStorable(value: unknown, field = ''): void {
  const found = unstorableField(value, field);
  if (found !== undefined) throw new InvalidInputError(found.field || '(body)', found.problem);
}

/** Normalises a hub URL for comparison with the configured ones (no trailing slash). */
export function normaliseHubUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The request's seed as Kiln carries seeds (a decimal int64 string, so "007" and 7 are the same seed), or a random one. */
export function composeSeed(seed: ComposeRequest['seed']): string {
  if (seed === undefined) return randomSeed();
  const value = BigInt(seed);
  if (value < INT64_MIN || value > INT64_MAX) throw new InvalidInputError('seed', `must be a 64-bit signed integer, got ${String(seed)}`);
  return value.toString();
}

/** A checked request: the images resolved, the options Kiln honours, what the images get beyond their type. */
export interface PlannedCompose {
  request: ComposeRequest;
  images: ImageRequest[];
  resolved: ResolvedImage[];
  honoured: ReturnType<typeof honouredOptions>[];
  server: string;
  seed: string;
  blueprint: Blueprint;
  options: BuildOptions;
  /** customizations.payload_repositories, added to every image's repositories for the blueprint's packages. */
  payloadRepositories: RepoInput[];
  /** Disks and installers of a commit the same compose builds: their position → the commit's position. */
  commitFrom: Map<number, number>;
  /** The request's distribution, or bootc's for bootc images (distributionOf). */
  distribution: string;
}

/**
 * Every check of a compose request, without creating anything: the schema, the images Kiln
 * can build, the options it honours, the blueprint, the Koji hub, the file names.
 */
export function planCompose(body: unknown, options: CreateComposeOptions = {}): PlannedCompose {
  checkUploadOptionFields(body);
  checkCustomizationSources(body);
  // plain-text passwords are crypted before anything keeps the request (the stored request, the jobs' blueprint)
  const request = withCryptedRequestPasswords(validate<ComposeRequest>('compose-request.schema', body));
  checkStorable(request);
  const images = imageRequestsOf(request);
  const field = (i: number) => (request.image_requests ? `image_requests[${i}]` : 'image_request');
  const build = fromRequest(request);
  const distribution = distributionOf(request, images, field);
  if (build.blueprint.distro && build.blueprint.distro !== distribution) {
    if (distribution === BOOTC_DISTRIBUTION) throw new InvalidInputError('blueprint.distro', `is ${JSON.stringify(build.blueprint.distro)}, but these are bootc images, whose distribution is their container's (bootc.ref): leave it out`);
    throw new InvalidInputError('blueprint.distro', `is ${JSON.stringify(build.blueprint.distro)}, but the request's distribution is ${JSON.stringify(distribution)}`);
  }
  const resolved = checkSupported(distribution, images, field);
  if (request.preview !== undefined) {
    const other = resolved.find((r) => r.distro.preview !== request.preview);
    if (other) {
      throw new InvalidInputError('preview', `${other.distro.name} is ${other.distro.preview ? '' : 'not '}a preview release, and Kiln cannot build it as ${request.preview ? '' : 'not '}one`);
    }
  }
  checkFileNames(images, resolved, field);
  const s3 = options.s3 ?? defaultS3();
  const commitFrom = ostreeCommitSuppliers(images, resolved);
  const honoured = images.map((ir, i) => honouredOptions(ir, resolved[i], field(i), s3, commitFrom.has(i)));
  // what the depsolve job would refuse, refused now
  images.forEach((ir, i) => ir.repositories.forEach((repo, j) => checkRepoInput(repo as RepoInput, `${field(i)}.repositories[${j}]`)));
  const server = normaliseHubUrl(request.koji.server);
  if (options.kojiServers && !options.kojiServers.map(normaliseHubUrl).includes(server)) {
    throw new InvalidInputError('koji.server', `${JSON.stringify(request.koji.server)} is not a Koji hub this Kiln is configured for (configured: ${options.kojiServers.join(', ') || 'none'})`);
  }
  const seed = composeSeed(request.seed);
  // what each image adds to its type, checked against the type now: nothing is found wrong
  // after a Koji build has been reserved
  images.forEach((ir, i) => {
    try {
      packageRequests({
        image: resolved[i],
        blueprint: build.blueprint,
        options: build.options,
        seed,
        ...(ir.size ? { size: ir.size } : {}),
        ...(ir.ostree ? { ostree: ir.ostree } : {}),
        ...(commitFrom.has(i) ? { ostreeFromCompose: true } : {}),
      });
    } catch (err) {
      throw requestField(err, build.source);
    }
  });
  return { request, images, resolved, honoured, server, seed, blueprint: build.blueprint, options: build.options, payloadRepositories: build.payloadRepositories, commitFrom, distribution };
}

/** Each image's Koji file name (N-V-R.<arch><extension>) must have a Koji archive type and be the compose's only one of its name. */
function checkFileNames(images: ImageRequest[], resolved: ResolvedImage[], field: (i: number) => string): void {
  const seen = new Map<string, number>();
  images.forEach((ir, i) => {
    const suffix = ir.filename_suffix ?? splitExtension(resolved[i].filename);
    if (ir.filename_suffix !== undefined && !findArchiveType(`image${suffix}`)) {
      throw new InvalidInputError(`${field(i)}.filename_suffix`, `Koji has no archive type for ${suffix} (CGImport would refuse the file)`);
    }
    const name = `${ir.architecture}${suffix}`;
    const other = seen.get(name);
    if (other !== undefined) {
      throw new InvalidInputError(`${field(i)}`, `its Koji file name (<name>-<version>-<release>.${name}) is that of ${field(other)} too; give one of them a filename_suffix`);
    }
    seen.set(name, i);
  });
}

/** POST /compose/check: every check of POST /compose, and what would be built; nothing is created. */
export function checkCompose(body: unknown, options: CreateComposeOptions = {}): ComposeCheck {
  const { request, images, resolved, blueprint } = planCompose(body, options);
  return {
    href: `${API_BASE}/compose/check`,
    kind: 'ComposeCheck',
    ...(Object.keys(blueprint).length ? { blueprint } : {}),
    images: images.map((ir, i) => {
      const image = resolved[i];
      const filename = imageFileName(request.koji, image, ir.filename_suffix);
      return { arch: ir.architecture, image_type: image.name, filename };
    }),
  };
}

/**
 * Disks and installers made from a commit the same compose builds: one whose request gives no
 * ostree URL, and an ostree_commit image of the same architecture and ref (the request's, else
 * the types' defaults). Their position → the commit's position.
 */
function ostreeCommitSuppliers(images: ImageRequest[], resolved: ResolvedImage[]): Map<number, number> {
  const out = new Map<number, number>();
  const refOf = (i: number) => images[i].ostree?.ref || resolved[i].ostree?.ref;
  images.forEach((ir, i) => {
    if (!pullsCommit(resolved[i].kind) || ir.ostree?.url) return;
    const j = resolved.findIndex((c, k) => c.kind === 'ostree_commit' && images[k].architecture === ir.architecture && refOf(k) === refOf(i));
    if (j >= 0) out.set(i, j);
  });
  return out;
}

/**
 * Validates a compose request and enqueues its whole job graph, with the compose and its
 * image builds, in one transaction: either all of it exists afterwards or none of it.
 */
export async function createCompose(pool: Pool, body: unknown, options: CreateComposeOptions = {}): Promise<{ id: string }> {
  const { request, images, resolved, honoured, server, seed, blueprint, options: buildOptions, payloadRepositories, commitFrom, distribution } = planCompose(body, options);
  const id = randomUUID();
  const directory = `kiln-cg/${id}`;
  // jobs build the type the name resolved to (composer's names mapped as composer maps them)
  const planned: PlannedImageBuild[] = images.map((ir, position) => ({
    id: randomUUID(),
    position,
    request: {
      ...ir,
      image_type: resolved[position].name,
      // composer's payload repositories: every image's, for the blueprint's packages only
      repositories: [...ir.repositories, ...payloadRepositories] as ImageRequest['repositories'],
      ...(honoured[position].uploadOptions ? { upload_options: honoured[position].uploadOptions } : {}),
    },
    ...(commitFrom.has(position) ? { ostreeCommitFrom: commitFrom.get(position)! } : {}),
    blueprint,
    options: buildOptions,
  }));
  const startTime = Math.floor(Date.now() / 1000);
  // one seed for every image of the compose (as composer draws one, and image-builder uses the
  // same --seed on every arch): reproducible when a retried job makes its manifest again
  const graph = composeJobGraph(id, { ...request, distribution, koji: { ...request.koji, server } }, planned, directory, startTime, {
    seed,
    definitions: imageCatalog().fingerprint,
  });
  // a blueprint is stored as it is built: its passwords crypted
  const stored: ComposeRequest = request.blueprint ? { ...request, blueprint } : request;

  await withTransaction(pool, async (client) => {
    const jobIds = await enqueueJobs(client, graph, options.queueDefaults);
    const byKey = new Map(graph.map((spec, i) => [spec.key!, jobIds[i]]));
    await client.query(
      `INSERT INTO kiln_composes (id, owner, distribution, request, koji_server, koji_task_id, koji_name, koji_version,
                                  koji_release, koji_directory, init_job_id, finalize_job_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [id, options.owner ?? null, distribution, JSON.stringify(stored), server, request.koji.task_id, request.koji.name,
        request.koji.version, request.koji.release, directory, byKey.get('init'), byKey.get('finalize')],
    );
    await client.query(
      `INSERT INTO kiln_image_builds (id, compose_id, position, arch, image_type, depsolve_job_id, osbuild_job_id)
       SELECT x.id, $1, x.position, x.arch, x.image_type, x.depsolve_job_id, x.osbuild_job_id
         FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, position smallint, arch text, image_type text,
                                                  depsolve_job_id uuid, osbuild_job_id uuid)`,
      [
        id,
        JSON.stringify(
          planned.map((p) => ({
            id: p.id,
            position: p.position,
            arch: p.request.architecture,
            image_type: p.request.image_type,
            depsolve_job_id: byKey.get(`depsolve-${p.position}`),
            osbuild_job_id: byKey.get(`osbuild-${p.position}`),
          })),
        ),
      ],
    );
  });
  return { id };
}
