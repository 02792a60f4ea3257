import type { Queryable } from '../db/index.js';
import { listComposeJobs, cancelComposeJobs, type JobRecord, type JobError } from '../queue/index.js';
import type { ComposeStatus, ImageStatus, ImageError, ImageProgress } from '../generated/compose-status.schema.js';
import type { ComposeLogs, JobLog } from '../generated/compose-logs.schema.js';
import type { ComposeManifests } from '../generated/compose-manifests.schema.js';
import type { ComposeMetadata, PackageMetadata } from '../generated/compose-metadata.schema.js';
import type { ComposeOutputs, OutputFile } from '../generated/compose-outputs.schema.js';
import type { ComposeRequest, ImageRequest } from '../generated/compose-request.schema.js';
import { ComposeNotFoundError } from './errors.js';
import { InvalidInputError } from '../errors.js';
import { JOB_TYPES } from './graph.js';

export const API_BASE = '/api/image-builder-composer/v2';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `id` has the form of a compose id (a UUID). */
export const isComposeId = (id: string): boolean => UUID.test(id);

export interface ComposeRow {
  id: string;
  created_at: Date;
  owner: string | null;
  distribution: string;
  request: unknown;
  koji_server: string;
  koji_task_id: number;
  koji_name: string;
  koji_version: string;
  koji_release: string;
  koji_directory: string;
  init_job_id: string;
  finalize_job_id: string;
  cancel_reason: string | null;
  canceled_at: Date | null;
}

export interface ImageBuildRow {
  id: string;
  position: number;
  arch: string;
  image_type: string;
  depsolve_job_id: string;
  osbuild_job_id: string;
}

/** A compose with its image builds and jobs: everything the read endpoints derive from. */
export interface ComposeView {
  compose: ComposeRow;
  images: (ImageBuildRow & { depsolve: JobRecord; osbuild: JobRecord })[];
  init: JobRecord;
  finalize: JobRecord;
}

export async function loadCompose(db: Queryable, id: string): Promise<ComposeView> {
  if (!isComposeId(id)) throw new InvalidInputError('id', `${JSON.stringify(id.slice(0, 100))} is not a compose id (a UUID)`);
  const { rows } = await db.query<ComposeRow>('SELECT * FROM kiln_composes WHERE id = $1', [id]);
  const compose = rows[0];
  if (!compose) throw new ComposeNotFoundError(id);
  const [builds, jobs] = await Promise.all([
    db.query<ImageBuildRow>('SELECT * FROM kiln_image_builds WHERE compose_id = $1 ORDER BY position', [id]),
    listComposeJobs(db, id),
  ]);
  const byId = new Map(jobs.map((j) => [j.id, j]));
  return {
    compose,
    init: byId.get(compose.init_job_id)!,
    finalize: byId.get(compose.finalize_job_id)!,
    images: builds.rows.map((b) => ({ ...b, depsolve: byId.get(b.depsolve_job_id)!, osbuild: byId.get(b.osbuild_job_id)! })),
  };
}

const FINISHED = new Set(['success', 'failure', 'canceled']);

/** osbuild-composer's client error ids (reference/composer-koji.md §2.5), so plugins read them as before. */
function errorId(code: string, jobType: string): number {
  if (code === 'KILN_JOB_LOST') return 27;
  if (code === 'KILN_JOB_CANCELED') return 26;
  if (code === 'KILN_JOB_DEPENDENCY_FAILED') return jobType === JOB_TYPES.finalize ? 13 : 26;
  if (jobType === JOB_TYPES.init) return 15;
  if (jobType === JOB_TYPES.finalize) return 16;
  // composer: 30 ErrorContainerResolution (its container-resolve job; a bootable container's information too), 28 ErrorOSTreeRefResolution
  if (jobType === JOB_TYPES.depsolve) return code === 'KILN_DEPSOLVE' ? 20 : code === 'KILN_CONTAINER_RESOLVE' || code === 'KILN_BOOTC_INFO' ? 30 : code === 'KILN_OSTREE_RESOLVE' ? 28 : 5;
  if (code === 'KILN_MANIFEST') return 8;
  if (code.startsWith('KILN_KOJI') || code === 'KILN_UPLOAD') return 11;
  return 10;
}

function toImageError(job: JobRecord, err: JobError): ImageError {
  return { id: errorId(err.code, job.type), reason: err.message, details: { code: err.code, job: job.type, ...(err.details ? { ...err.details } : {}) } };
}

/** The error an image build ended with, following a dependency failure to its cause. */
function imageError(view: ComposeView, image: ComposeView['images'][number]): ImageError | undefined {
  const { osbuild, depsolve } = image;
  if (osbuild.state === 'success' || !osbuild.error) return undefined;
  if (osbuild.error.code === 'KILN_JOB_DEPENDENCY_FAILED') {
    const cause = [view.init, depsolve].find((j) => j.state === 'failure' && j.error);
    if (cause) {
      const inner = toImageError(cause, cause.error!);
      // composer: 31 ErrorContainerDependency, 32 ErrorOSTreeDependency, 5 ErrorDepsolveDependency
      const code = cause.error!.code;
      const id = cause.type === JOB_TYPES.init ? 26 : code === 'KILN_CONTAINER_RESOLVE' || code === 'KILN_BOOTC_INFO' ? 31 : code === 'KILN_OSTREE_RESOLVE' ? 32 : 5;
      return { id, reason: `${cause.type} failed: ${inner.reason}`, details: [inner] };
    }
  }
  if (osbuild.state === 'canceled') {
    return { id: 26, reason: view.compose.cancel_reason ? `canceled: ${view.compose.cancel_reason}` : osbuild.error.message, details: { code: 'KILN_JOB_CANCELED' } };
  }
  return toImageError(osbuild, osbuild.error);
}

function progressOf(job: JobRecord): { progress?: ImageProgress; phase?: string } {
  const p = job.progress as (ImageProgress & { phase?: string }) | null;
  if (!p || typeof p.done !== 'number' || typeof p.total !== 'number') return {};
  const { phase, ...progress } = p;
  return { progress, phase };
}

function imageStatus(view: ComposeView, image: ComposeView['images'][number]): ImageStatus {
  const { osbuild, depsolve } = image;
  if (osbuild.state === 'success') {
    const upload = (osbuild.result as { uploads?: { type: 'aws.s3'; bucket: string; key: string; url: string }[] } | null)?.uploads?.[0];
    return upload
      ? { status: 'success', upload_status: { type: upload.type, status: 'success', options: { url: upload.url, bucket: upload.bucket, key: upload.key } } }
      : { status: 'success' };
  }
  if (osbuild.state === 'failure' || osbuild.state === 'canceled') {
    const error = imageError(view, image);
    return error ? { status: 'failure', error } : { status: 'failure' };
  }
  if (osbuild.state === 'running') {
    const { progress, phase } = progressOf(osbuild);
    return { status: phase === 'uploading' ? 'uploading' : 'building', ...(progress ? { progress } : {}) };
  }
  if (depsolve.startedAt || FINISHED.has(depsolve.state)) return { status: 'building' };
  return { status: 'pending' };
}

function buildId(view: ComposeView): number | undefined {
  const r = view.init.result as { build_id?: number } | null;
  return typeof r?.build_id === 'number' && r.build_id > 0 ? r.build_id : undefined;
}

/**
 * The cloud API ComposeStatus, by osbuild-composer's rules: the compose is pending until
 * koji-finalize has imported (success) or refunded (failure) the Koji build; what each image is
 * doing meanwhile is in its own status.
 */
export function composeStatus(view: ComposeView): ComposeStatus {
  const { compose, finalize } = view;
  const images = view.images.map((i) => imageStatus(view, i));
  let status: ComposeStatus['status'] = 'pending';
  let reason: string | undefined;
  if (finalize.state === 'success') {
    status = 'success';
  } else if (finalize.state === 'failure' || finalize.state === 'canceled') {
    status = 'failure';
    reason = compose.cancel_reason
      ? `canceled: ${compose.cancel_reason}`
      : finalize.error?.message ?? images.find((i) => i.error)?.error?.reason ?? 'failed';
  }
  const id = buildId(view);
  return {
    href: `${API_BASE}/composes/${compose.id}`,
    id: compose.id,
    kind: 'ComposeStatus',
    status,
    ...(reason ? { reason } : {}),
    image_status: images[0],
    image_statuses: images,
    koji_status: { ...(id ? { build_id: id } : {}), task_id: compose.koji_task_id },
    created_at: compose.created_at.toISOString(),
    ...(finalize.finishedAt ? { finished_at: finalize.finishedAt.toISOString() } : {}),
  };
}

/** What a compose is doing, for people (CLI, status page): while the API status is pending, what its images and koji-finalize are doing. */
export type ComposeActivity = 'pending' | 'building' | 'uploading' | 'importing' | 'refunding' | 'success' | 'failure';

/**
 * A pending compose is building while any image builds, uploading while an image uploads;
 * once every image has ended, koji-finalize is importing the Koji build (all succeeded) or
 * refunding it (an image failed or the compose was canceled).
 */
export function composeActivity(status: Pick<ComposeStatus, 'status' | 'image_statuses'>): ComposeActivity {
  if (status.status !== 'pending') return status.status;
  const states = new Set(status.image_statuses.map((i) => i.status));
  if (states.has('building')) return 'building';
  if (states.has('uploading') || states.has('registering')) return 'uploading';
  const ended = status.image_statuses.length > 0 && status.image_statuses.every((i) => i.status === 'success' || i.status === 'failure');
  if (ended) return states.has('failure') ? 'refunding' : 'importing';
  return states.size === 1 && states.has('pending') ? 'pending' : 'building';
}

export async function getComposeStatus(db: Queryable, id: string): Promise<ComposeStatus> {
  return composeStatus(await loadCompose(db, id));
}

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

function jobLog(job: JobRecord): JobLog {
  const result = (job.result ?? {}) as { log?: string };
  return {
    job_id: job.id,
    type: job.type,
    state: job.state,
    attempts: job.attempts,
    worker: job.worker ?? null,
    queued_at: iso(job.queuedAt),
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    ...(job.error ? { error: job.error } : {}),
    ...(typeof result.log === 'string' && result.log ? { log: result.log } : {}),
  };
}

/** GET /composes/{id}/logs: every job's state, error and log, per image and for Koji. */
export async function getComposeLogs(db: Queryable, id: string): Promise<ComposeLogs> {
  const view = await loadCompose(db, id);
  return {
    href: `${API_BASE}/composes/${id}/logs`,
    id,
    kind: 'ComposeLogs',
    image_builds: view.images.map((i) => ({
      arch: i.arch,
      image_type: i.image_type,
      depsolve: jobLog(i.depsolve),
      osbuild: jobLog(i.osbuild),
    })),
    koji: { init: jobLog(view.init), import: jobLog(view.finalize) },
  };
}

/**
 * GET /composes/{id}/manifests: the osbuild manifest of each image build, in request order;
 * an image without one (not generated yet, or never: its depsolve failed) has `{}`, so clients
 * that pair manifests with image requests by position stay aligned.
 */
export async function getComposeManifests(db: Queryable, id: string): Promise<ComposeManifests> {
  const view = await loadCompose(db, id);
  return {
    href: `${API_BASE}/composes/${id}/manifests`,
    id,
    kind: 'ComposeManifests',
    manifests: view.images.map((i) => {
      const manifest = (i.osbuild.result as { manifest?: unknown } | null)?.manifest;
      return manifest && typeof manifest === 'object' && !Array.isArray(manifest) ? (manifest as Record<string, unknown>) : {};
    }),
  };
}

/** An RPM of osbuild's org.osbuild.rpm metadata as the cloud API's PackageMetadata. */
function packageMetadata(rpm: Record<string, unknown>): PackageMetadata {
  const text = (v: unknown) => (typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined);
  const epoch = text(rpm.epoch);
  const sigmd5 = text(rpm.sigmd5);
  const signature = text(rpm.sigpgp) ?? text(rpm.siggpg);
  return {
    type: 'rpm',
    name: String(rpm.name),
    version: String(rpm.version),
    release: String(rpm.release),
    ...(epoch ? { epoch } : {}),
    arch: String(rpm.arch),
    ...(sigmd5 ? { sigmd5 } : {}),
    ...(signature ? { signature } : {}),
  };
}

/** GET /composes/{id}/metadata: the request and the RPMs in each image (for Koji composes too). */
export async function getComposeMetadata(db: Queryable, id: string): Promise<ComposeMetadata> {
  const view = await loadCompose(db, id);
  return {
    href: `${API_BASE}/composes/${id}/metadata`,
    id,
    kind: 'ComposeMetadata',
    request: view.compose.request as Record<string, unknown>,
    images: view.images.map((i) => ({
      arch: i.arch,
      image_type: i.image_type,
      packages: ((i.osbuild.result as { rpms?: Record<string, unknown>[] } | null)?.rpms ?? []).map(packageMetadata),
    })),
  };
}

/** The uploaded files of an image build, from its osbuild job's result. */
function outputFiles(result: unknown): { directory?: string; files: OutputFile[] } {
  const r = result as { koji_relpath?: string; image?: OutputFile; manifest_file?: OutputFile; log_file?: OutputFile } | null;
  if (!r?.image) return { files: [] };
  const files: OutputFile[] = [];
  for (const [role, f] of [['image', r.image], ['manifest', r.manifest_file], ['log', r.log_file]] as const) {
    if (f) files.push({ name: f.name, size: f.size, sha256: f.sha256, role });
  }
  return { ...(r.koji_relpath !== undefined ? { directory: r.koji_relpath } : {}), files };
}

/**
 * GET /composes/{id}/outputs: where each image's files went in the hub's upload area. A scratch
 * build's Koji task attaches them from there (Kiln's builder plugin).
 */
export async function getComposeOutputs(db: Queryable, id: string): Promise<ComposeOutputs> {
  const view = await loadCompose(db, id);
  const { compose, finalize } = view;
  const request = compose.request as ComposeRequest;
  const requests: ImageRequest[] = request.image_requests ?? (request.image_request ? [request.image_request] : []);
  const scratch = request.koji?.scratch === true;
  const built = finalize.state === 'success' && !scratch ? buildId(view) : undefined;
  return {
    href: `${API_BASE}/composes/${id}/outputs`,
    id,
    kind: 'ComposeOutputs',
    koji: { server: compose.koji_server, task_id: compose.koji_task_id, directory: compose.koji_directory, scratch, ...(built ? { build_id: built } : {}) },
    images: view.images.map((i) => {
      const { directory, files } = outputFiles(i.osbuild.state === 'success' ? i.osbuild.result : null);
      return {
        arch: i.arch,
        image_type: i.image_type,
        status: imageStatus(view, i).status,
        failable: requests[i.position]?.failable === true,
        ...(directory !== undefined ? { directory: `${compose.koji_directory}/${directory}` } : {}),
        files,
      };
    }),
  };
}

/**
 * Cancels a compose: its unfinished jobs are canceled (running ones stop at once through the
 * cancel notification, or at their next heartbeat); koji-finalize still runs and refunds the
 * reservation as CANCELED. Canceling a finished compose changes nothing.
 */
export async function cancelCompose(db: Queryable, id: string, reason = 'canceled by request'): Promise<ComposeStatus> {
  await loadCompose(db, id);
  await db.query(
    `UPDATE kiln_composes SET cancel_reason = $2, canceled_at = now()
      WHERE id = $1 AND canceled_at IS NULL
        AND EXISTS (SELECT 1 FROM kiln_jobs f WHERE f.id = finalize_job_id AND f.finished_at IS NULL)`,
    [id, reason],
  );
  await cancelComposeJobs(db, id, reason);
  return getComposeStatus(db, id);
}

/** Newest first, for history pages and `kiln compose list`. */
export async function listComposes(db: Queryable, options: { limit: number; offset: number }): Promise<{ items: ComposeStatus[]; total: number }> {
  const [page, count] = await Promise.all([
    db.query<{ id: string }>('SELECT id FROM kiln_composes ORDER BY seq DESC LIMIT $1 OFFSET $2', [options.limit, options.offset]),
    db.query<{ n: number }>('SELECT count(*)::int AS n FROM kiln_composes'),
  ]);
  const items = await Promise.all(page.rows.map((r) => getComposeStatus(db, r.id)));
  return { items, total: count.rows[0].n };
}

/**
 * Which of `ids` have ended (their koji-finalize job is done for good) or are unknown: what a
 * worker kept for them (served ostree repositories) may go. Malformed ids count as unknown.
 */
export async function endedComposes(db: Queryable, ids: string[]): Promise<string[]> {
  const wellFormed = ids.filter(isComposeId);
  const malformed = ids.filter((id) => !isComposeId(id));
  if (wellFormed.length === 0) return malformed;
  const { rows } = await db.query<{ id: string }>(
    `SELECT x.id::text AS id
       FROM unnest($1::uuid[]) AS x(id)
       LEFT JOIN kiln_composes c ON c.id = x.id
       LEFT JOIN kiln_jobs f ON f.id = c.finalize_job_id
      WHERE c.id IS NULL OR f.state IN ('success', 'failure', 'canceled')`,
    [wellFormed],
  );
  return [...malformed, ...rows.map((r) => r.id)];
}
