import type { Queryable } from '../db/index.js';
import { listComposeJobs, cancelComposeJobs, type JobRecord, type JobError } from '../queue/index.js';
import type { ComposeStatus, ImageStatus, ImageError, ImageProgress } from '../generated/compose-status.schema.js';
import { ComposeNotFoundError } from './errors.js';
import { JOB_TYPES } from './graph.js';

export const API_BASE = '/api/image-builder-composer/v2';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  if (!UUID.test(id)) throw new ComposeNotFoundError(id);
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
  if (jobType === JOB_TYPES.depsolve) return code === 'KILN_DEPSOLVE' ? 20 : 5;
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
      return { id: cause.type === JOB_TYPES.init ? 26 : 5, reason: `${cause.type} failed: ${inner.reason}`, details: [inner] };
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
    const upload = (osbuild.result as { uploads?: { type: string; bucket: string; key: string; url: string }[] } | null)?.uploads?.[0];
    return upload
      ? { status: 'success', upload_status: { type: upload.type, status: 'success', options: { bucket: upload.bucket, key: upload.key, url: upload.url } } }
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

export function composeStatus(view: ComposeView): ComposeStatus {
  const { compose, finalize } = view;
  const images = view.images.map((i) => imageStatus(view, i));
  let status: ComposeStatus['status'];
  let reason: string | undefined;
  if (finalize.state === 'success') {
    status = 'success';
  } else if (finalize.state === 'failure' || finalize.state === 'canceled') {
    status = 'failure';
    reason = compose.cancel_reason
      ? `canceled: ${compose.cancel_reason}`
      : finalize.error?.message ?? images.find((i) => i.error)?.error?.reason ?? 'failed';
  } else if (view.images.every((i) => FINISHED.has(i.osbuild.state))) {
    status = 'uploading';
  } else if (images.some((i) => i.status !== 'pending') || view.init.startedAt) {
    status = 'building';
  } else {
    status = 'pending';
  }
  const id = buildId(view);
  return {
    href: `${API_BASE}/composes/${compose.id}`,
    id: compose.id,
    kind: 'ComposeStatus',
    status,
    ...(reason ? { reason } : {}),
    ...(images[0] ? { image_status: images[0] } : {}),
    image_statuses: images,
    koji_status: { ...(id ? { build_id: id } : {}), task_id: compose.koji_task_id },
    created_at: compose.created_at.toISOString(),
    ...(finalize.finishedAt ? { finished_at: finalize.finishedAt.toISOString() } : {}),
  };
}

export async function getComposeStatus(db: Queryable, id: string): Promise<ComposeStatus> {
  return composeStatus(await loadCompose(db, id));
}

function jobLog(job: JobRecord): Record<string, unknown> {
  const result = (job.result ?? {}) as { log?: string };
  return {
    job_id: job.id,
    type: job.type,
    state: job.state,
    attempts: job.attempts,
    worker: job.worker,
    queued_at: job.queuedAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    ...(job.error ? { error: job.error } : {}),
    ...(result.log ? { log: result.log } : {}),
  };
}

/** GET /composes/{id}/logs: every job's state, error and log, per image and for Koji. */
export async function getComposeLogs(db: Queryable, id: string): Promise<Record<string, unknown>> {
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

/** GET /composes/{id}/manifests: the osbuild manifest of each image build (null before it exists). */
export async function getComposeManifests(db: Queryable, id: string): Promise<Record<string, unknown>> {
  const view = await loadCompose(db, id);
  return {
    href: `${API_BASE}/composes/${id}/manifests`,
    id,
    kind: 'ComposeManifests',
    manifests: view.images.map((i) => (i.osbuild.result as { manifest?: unknown } | null)?.manifest ?? null),
  };
}

/** GET /composes/{id}/metadata: the RPMs in each image (supported for Koji composes too). */
export async function getComposeMetadata(db: Queryable, id: string): Promise<Record<string, unknown>> {
  const view = await loadCompose(db, id);
  return {
    href: `${API_BASE}/composes/${id}/metadata`,
    id,
    kind: 'ComposeMetadata',
    request: view.compose.request,
    images: view.images.map((i) => ({
      arch: i.arch,
      image_type: i.image_type,
      packages: ((i.osbuild.result as { rpms?: unknown[] } | null)?.rpms ?? []).map((p) => ({ type: 'rpm', ...(p as object) })),
    })),
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
