/**
 * The worker API: remote `kiln worker --server` processes take and report jobs over HTTP with
 * the same contract as the queue functions they would otherwise call on the database
 * (src/queue/jobs.ts). Like osbuild-composer's worker API (reference/composer-koji.md §4) a
 * worker registers first and long-polls for jobs; unlike it, every report names the job and
 * carries its token in the body (tokens stay out of URLs and so out of access logs), and a
 * stale token is the queue's own 409 error body.
 *
 * Auth is the app's onRequest hook (src/api/auth.ts): a worker has a bearer token or an
 * allowed client certificate like any API caller. A worker id is bound to the principal that
 * registered it, so one credential cannot act under another's registration.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Pool } from '../db/index.js';
import type { Logger } from '../log.js';
import { InvalidInputError, KilnError, NotFoundError } from '../errors.js';
import { checkStorable } from '../compose/create.js';
import { endedComposes } from '../compose/status.js';
import {
  finishAndTakeJob,
  finishJob,
  heartbeatJob,
  PgJobSource,
  releaseJob,
  saveJobCheckpoint,
  updateJobProgress,
  type JobOutcome,
  type QueueListener,
  type RunningJob,
} from '../queue/index.js';
import type { WorkerRegistration } from '../generated/worker-api-register.schema.js';
import type { RegisteredWorker } from '../generated/worker-api-worker.schema.js';
import type { JobRequest } from '../generated/worker-api-job-request.schema.js';
import type { WorkerJob } from '../generated/worker-api-job.schema.js';
import type { JobReport } from '../generated/worker-api-report.schema.js';
import type { JobFinish } from '../generated/worker-api-finish.schema.js';
import type { JobFinished } from '../generated/worker-api-finished.schema.js';
import type { ComposesQuery } from '../generated/worker-api-composes.schema.js';
import type { ComposesEnded } from '../generated/worker-api-composes-ended.schema.js';

export const WORKER_API_BASE = '/api/kiln-worker/v1';

export interface WorkerApiOptions {
  pool: Pool;
  /** The process's listener: long-polls wait on it. Without one they poll every pollIntervalMs. */
  listener?: QueueListener;
  /** Longest long-poll granted (default 60 s, below the keep-alive and proxy timeouts usual in front of an API). */
  maxWaitSeconds?: number;
  /** Backstop poll while a long-poll waits, for a missed notification. */
  pollIntervalMs?: number;
}

interface Registration {
  id: string;
  name: string;
  principal: string | null;
  arches: string[];
  types: string[];
  channels: string[];
}

/** Registrations not seen for this long are pruned when a worker registers. */
const PRUNE_AFTER_DAYS = 30;
/**
 * last_seen_at is written at most this often per worker and process: a worker of many slots
 * heartbeats and finishes many times a second, and the status page needs seconds, not each call.
 */
const SEEN_WRITE_INTERVAL_MS = 2_000;

const workerParams = {
  type: 'object',
  required: ['worker'],
  properties: { worker: { type: 'string', format: 'uuid' } },
} as const;
const jobParams = {
  type: 'object',
  required: ['worker', 'job'],
  properties: { worker: { type: 'string', format: 'uuid' }, job: { type: 'string', format: 'uuid' } },
} as const;
const report = { $ref: 'worker-api-report.schema#' } as const;
const jobState = { 200: { $ref: 'worker-api-job-state.schema#' } } as const;

function subsetOrThrow(field: string, asked: readonly string[], allowed: readonly string[]): void {
  const extra = asked.filter((x) => !allowed.includes(x));
  if (extra.length) throw new InvalidInputError(field, `${extra.join(', ')} not in this worker's registration (${allowed.join(', ')})`);
}

export const workerApiRoutes: FastifyPluginAsync<WorkerApiOptions> = async (app, options) => {
  const { pool, listener } = options;
  const maxWaitSeconds = options.maxWaitSeconds ?? 60;
  const pollIntervalMs = options.pollIntervalMs ?? 5_000;
  const cache = new Map<string, { reg: Registration; seenWrittenAt: number }>();
  // aborted when the server closes, so waiting long-polls answer at once instead of holding
  // app.close() for up to maxWaitSeconds
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  const jobHref = (workerId: string, jobId: string) => `${WORKER_API_BASE}/workers/${workerId}/jobs/${jobId}`;

  function toWire(workerId: string, job: RunningJob): WorkerJob {
    return {
      href: jobHref(workerId, job.id),
      kind: 'Job',
      id: job.id,
      type: job.type,
      args: job.args,
      token: job.token,
      channel: job.channel,
      arch: job.arch,
      compose_id: job.composeId,
      attempts: job.attempts,
      retries: job.retries,
      heartbeat_timeout_seconds: job.heartbeatTimeoutSeconds,
      checkpoint: job.checkpoint,
      dependencies: job.dependencies.map((d) => ({ id: d.id, type: d.type, state: d.state, result: d.result ?? null, error: d.error ?? null })),
    };
  }

  /** The caller's registration; records it as seen. 404 for an unknown id, 403 for another principal's. */
  async function registration(request: FastifyRequest): Promise<Registration> {
    const id = (request.params as { worker: string }).worker;
    const cached = cache.get(id);
    let reg = cached?.reg;
    if (!cached || Date.now() - cached.seenWrittenAt > SEEN_WRITE_INTERVAL_MS) {
      const { rows } = await pool.query<Registration>(
        `UPDATE kiln_workers SET last_seen_at = now() WHERE id = $1
         RETURNING id, name, principal, arches, types, channels`,
        [id],
      );
      if (!rows[0]) {
        cache.delete(id);
        throw new NotFoundError('worker', id);
      }
      reg = rows[0];
      if (cache.size > 10_000) cache.clear(); // workers re-register on every start; keep the cache bounded
      cache.set(id, { reg, seenWrittenAt: Date.now() });
    }
    if (reg!.principal !== (request.kilnPrincipal ?? null)) {
      throw new KilnError('KILN_FORBIDDEN', `worker ${id} was registered by another principal`, { details: { workerId: id } });
    }
    return reg!;
  }

  app.post(
    '/workers',
    { schema: { body: { $ref: 'worker-api-register.schema#' }, response: { 201: { $ref: 'worker-api-worker.schema#' } } } },
    async (request, reply) => {
      const body = request.body as WorkerRegistration;
      const channels = body.channels ?? ['default'];
      const id = randomUUID();
      await pool.query(`DELETE FROM kiln_workers WHERE last_seen_at < now() - make_interval(days => $1)`, [PRUNE_AFTER_DAYS]);
      await pool.query(
        `INSERT INTO kiln_workers (id, name, principal, arches, types, channels) VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, body.name, request.kilnPrincipal ?? null, body.arches, body.types, channels],
      );
      request.log.info({ workerId: id, worker: body.name, principal: request.kilnPrincipal, arches: body.arches, types: body.types, channels }, 'worker registered');
      const answer: RegisteredWorker = {
        href: `${WORKER_API_BASE}/workers/${id}`,
        kind: 'Worker',
        id,
        name: body.name,
        arches: body.arches,
        types: body.types,
        channels,
        max_wait_seconds: maxWaitSeconds,
      };
      return reply.code(201).send(answer);
    },
  );

  app.post(
    '/workers/:worker/jobs',
    {
      schema: {
        params: workerParams,
        body: { $ref: 'worker-api-job-request.schema#' },
        response: { 200: { $ref: 'worker-api-job.schema#' }, 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      const reg = await registration(request);
      const body = (request.body ?? {}) as JobRequest;
      const types = body.types ?? reg.types;
      subsetOrThrow('types', types, reg.types);
      const waitMs = Math.min(body.wait_seconds ?? 30, maxWaitSeconds) * 1_000;
      // a client that goes away stops the wait; `close` on the response before it was sent
      // means the connection is gone
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) gone.abort();
      };
      reply.raw.on('close', onClose);
      const signal = AbortSignal.any([gone.signal, closing.signal]);
      let job: RunningJob | null;
      try {
        const source = new PgJobSource({ pool, listener, worker: reg.name, pollIntervalMs, log: request.log as unknown as Logger });
        job = await source.take({ types, arches: reg.arches, channels: reg.channels }, { timeoutMs: waitMs, signal });
      } finally {
        reply.raw.off('close', onClose);
      }
      if (job && gone.signal.aborted) {
        // taken just as the worker hung up: hand it back now rather than after its heartbeat timeout
        const released = await releaseJob(pool, job.id, job.token).catch(() => false);
        request.log.info({ workerId: reg.id, jobId: job.id, released }, 'worker went away during the long-poll; job handed back');
        job = null;
      }
      if (!job) return reply.code(204).send();
      request.log.info({ workerId: reg.id, worker: reg.name, jobId: job.id, jobType: job.type, attempt: job.attempts }, 'job handed to worker');
      return toWire(reg.id, job);
    },
  );

  app.post(
    '/workers/:worker/jobs/:job/heartbeat',
    { schema: { params: jobParams, body: report, response: jobState } },
    async (request) => {
      await registration(request);
      const { token } = request.body as JobReport;
      return { state: await heartbeatJob(pool, (request.params as { job: string }).job, token) };
    },
  );

  app.post(
    '/workers/:worker/jobs/:job/progress',
    { schema: { params: jobParams, body: report, response: jobState } },
    async (request) => {
      await registration(request);
      const { token, progress } = request.body as JobReport;
      checkStorable(progress, 'progress');
      return { state: await updateJobProgress(pool, (request.params as { job: string }).job, token, progress) };
    },
  );

  app.post(
    '/workers/:worker/jobs/:job/checkpoint',
    { schema: { params: jobParams, body: report, response: jobState } },
    async (request) => {
      await registration(request);
      const { token, checkpoint } = request.body as JobReport;
      if (checkpoint === undefined) throw new InvalidInputError('checkpoint', 'is required');
      checkStorable(checkpoint, 'checkpoint');
      return { state: await saveJobCheckpoint(pool, (request.params as { job: string }).job, token, checkpoint) };
    },
  );

  app.post(
    '/workers/:worker/jobs/:job/finish',
    { schema: { params: jobParams, body: { $ref: 'worker-api-finish.schema#' }, response: { 200: { $ref: 'worker-api-finished.schema#' } } } },
    async (request): Promise<JobFinished> => {
      const reg = await registration(request);
      const jobId = (request.params as { job: string }).job;
      const body = request.body as JobFinish;
      checkStorable(body.result, 'result');
      checkStorable(body.error, 'error');
      let outcome: JobOutcome;
      if (body.state === 'success') {
        if (body.error) throw new InvalidInputError('error', 'must not be given with state success');
        outcome = { state: 'success', ...(body.result === undefined ? {} : { result: body.result }) };
      } else {
        if (!body.error) throw new InvalidInputError('error', 'is required with state failure');
        outcome = { state: 'failure', error: body.error, ...(body.result === undefined ? {} : { result: body.result }) };
      }
      if (body.take_next === undefined) {
        const stored = await finishJob(pool, jobId, body.token, outcome);
        request.log.info({ workerId: reg.id, jobId, outcome: stored === 'canceled' ? 'canceled' : outcome.state }, 'job finished by worker');
        return { stored, next: null };
      }
      subsetOrThrow('take_next', [body.take_next], reg.types);
      const { stored, next } = await finishAndTakeJob(pool, jobId, body.token, outcome, {
        type: body.take_next,
        channels: reg.channels,
        arches: reg.arches,
        worker: reg.name,
      });
      request.log.info({ workerId: reg.id, jobId, outcome: stored === 'canceled' ? 'canceled' : outcome.state, nextJobId: next?.id }, 'job finished by worker');
      return { stored, next: next ? toWire(reg.id, next) : null };
    },
  );

  app.post(
    '/workers/:worker/jobs/:job/release',
    { schema: { params: jobParams, body: report, response: { 200: { $ref: 'worker-api-released.schema#' } } } },
    async (request) => {
      const reg = await registration(request);
      const jobId = (request.params as { job: string }).job;
      const released = await releaseJob(pool, jobId, (request.body as JobReport).token).catch((err: { code?: string }) => {
        // a malformed id or token is simply not a job this worker holds
        if (err.code === '22P02') return false;
        throw err;
      });
      request.log.info({ workerId: reg.id, jobId, released }, 'job released by worker');
      return { released };
    },
  );

  app.post(
    '/workers/:worker/composes/ended',
    { schema: { params: workerParams, body: { $ref: 'worker-api-composes.schema#' }, response: { 200: { $ref: 'worker-api-composes-ended.schema#' } } } },
    async (request): Promise<ComposesEnded> => {
      await registration(request);
      return { ended: await endedComposes(pool, (request.body as ComposesQuery).ids) };
    },
  );
};
