import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { InvalidInputError } from '../errors.js';
import { withTransaction, type Queryable } from '../db/index.js';
import { InvalidDependencyError, JobNotFoundError, JobNotRunningError, StaleTokenError } from './errors.js';
import type { JobError, JobFilter, JobOutcome, JobRecord, JobSpec, JobState, RunningJob } from './types.js';

/**
 * The queue's state changes, one function each, with the SQL beside the call. Every change is
 * one guarded statement (or a database function holding the cascade); a row count of 0 is a
 * typed error, never a silent no-op.
 */

export interface QueueDefaults {
  maxRetries: number;
  heartbeatTimeoutSeconds: number;
}

const DEFAULTS: QueueDefaults = { maxRetries: 2, heartbeatTimeoutSeconds: 120 };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const TAG = /^[A-Za-z0-9_.-]{1,64}$/;

// Hot statements get stable names so pg prepares them once per connection. Behind a
// transaction-mode pooler (PgBouncer) they must be plain; `setPreparedStatements(false)`.
let prepared = true;
export function setPreparedStatements(on: boolean): void {
  prepared = on;
}
function q(name: string, text: string, values: unknown[]): pg.QueryConfig {
  return prepared ? { name, text, values } : { text, values };
}

function isPool(db: pg.Pool | pg.PoolClient): db is pg.Pool {
  return db instanceof pg.Pool;
}

interface PlannedJob {
  id: string;
  type: string;
  args: unknown;
  channel: string;
  arch: string;
  priority: number;
  compose_id: string | null;
  always_run: boolean;
  state: JobState;
  deps_pending: number;
  deps_failed: number;
  deps_canceled: number;
  max_retries: number;
  heartbeat_timeout_seconds: number;
  error: JobError | null;
}

function checkSpec(spec: JobSpec, i: number): void {
  const at = (f: string) => `jobs[${i}].${f}`;
  if (!NAME.test(spec.type ?? '')) throw new InvalidInputError(at('type'), 'must be lower-case letters, digits and dashes');
  if (spec.channel !== undefined && !TAG.test(spec.channel)) throw new InvalidInputError(at('channel'), 'must be 1-64 of [A-Za-z0-9_.-]');
  if (spec.arch !== undefined && !TAG.test(spec.arch)) throw new InvalidInputError(at('arch'), 'must be 1-64 of [A-Za-z0-9_.-]');
  if (spec.composeId !== undefined && !UUID.test(spec.composeId)) throw new InvalidInputError(at('composeId'), 'must be a UUID');
  if (spec.priority !== undefined && !Number.isInteger(spec.priority)) throw new InvalidInputError(at('priority'), 'must be an integer');
  if (spec.maxRetries !== undefined && !(Number.isInteger(spec.maxRetries) && spec.maxRetries >= 0)) {
    throw new InvalidInputError(at('maxRetries'), 'must be a non-negative integer');
  }
  if (spec.heartbeatTimeoutSeconds !== undefined && !(spec.heartbeatTimeoutSeconds > 0)) {
    throw new InvalidInputError(at('heartbeatTimeoutSeconds'), 'must be positive');
  }
}

/**
 * Enqueues jobs with their dependencies in one transaction and returns their ids in order.
 * A spec may depend only on earlier specs of the batch (by key) or on existing jobs (by id),
 * so a batch can never form a cycle. Existing dependencies are locked FOR SHARE while the
 * batch is planned, so one finishing concurrently is either counted as finished here or
 * counts this batch's jobs off when it finishes, never neither.
 */
export async function enqueueJobs(
  db: pg.Pool | pg.PoolClient,
  specs: readonly JobSpec[],
  defaults: QueueDefaults = DEFAULTS,
): Promise<string[]> {
  if (specs.length === 0) return [];
  if (isPool(db)) return withTransaction(db, (client) => enqueueJobs(client, specs, defaults));

  const byKey = new Map<string, number>();
  const existing = new Set<string>();
  specs.forEach((spec, i) => {
    checkSpec(spec, i);
    for (const [j, dep] of (spec.dependencies ?? []).entries()) {
      if (byKey.has(dep)) continue;
      if (!UUID.test(dep)) {
        throw new InvalidDependencyError(`jobs[${i}].dependencies[${j}]`, `${JSON.stringify(dep)} is neither the key of an earlier job in this batch nor a job id`);
      }
      existing.add(dep);
    }
    if (spec.key !== undefined) {
      if (byKey.has(spec.key)) throw new InvalidInputError(`jobs[${i}].key`, `duplicate key ${JSON.stringify(spec.key)}`);
      byKey.set(spec.key, i);
    }
  });

  const existingState = new Map<string, JobState>();
  if (existing.size) {
    const { rows } = await db.query<{ id: string; state: JobState }>(
      'SELECT id, state FROM kiln_jobs WHERE id = ANY ($1::uuid[]) ORDER BY id FOR SHARE',
      [[...existing]],
    );
    for (const r of rows) existingState.set(r.id, r.state);
    const missing = [...existing].filter((id) => !existingState.has(id));
    if (missing.length) throw new InvalidDependencyError('dependencies', `no such job: ${missing.join(', ')}`);
  }

  const planned: PlannedJob[] = [];
  const links: { job_id: string; position: number; dependency_id: string }[] = [];
  specs.forEach((spec, i) => {
    const id = randomUUID();
    let pending = 0;
    let failed = 0;
    let canceled = 0;
    const seen = new Set<string>();
    (spec.dependencies ?? []).forEach((dep, position) => {
      const batchIndex = byKey.get(dep);
      const depId = batchIndex !== undefined ? planned[batchIndex]?.id : dep;
      if (!depId) throw new InvalidDependencyError(`jobs[${i}].dependencies[${position}]`, `${JSON.stringify(dep)} names a later job; list dependencies first`);
      if (seen.has(depId)) throw new InvalidDependencyError(`jobs[${i}].dependencies[${position}]`, `${JSON.stringify(dep)} is listed twice`);
      seen.add(depId);
      links.push({ job_id: id, position, dependency_id: depId });
      const state = batchIndex !== undefined ? planned[batchIndex].state : existingState.get(depId)!;
      if (state === 'failure') failed++;
      else if (state === 'canceled') canceled++;
      else if (state !== 'success') pending++;
    });
    const alwaysRun = spec.alwaysRun ?? false;
    let state: JobState = 'ready';
    let error: JobError | null = null;
    if (pending > 0) state = 'waiting';
    else if (!alwaysRun && canceled > 0) {
      state = 'canceled';
      error = { code: 'KILN_JOB_CANCELED', message: 'canceled because a dependency was canceled' };
    } else if (!alwaysRun && failed > 0) {
      state = 'failure';
      error = { code: 'KILN_JOB_DEPENDENCY_FAILED', message: `not run: ${failed} of its dependencies failed` };
    }
    planned.push({
      id,
      type: spec.type,
      args: spec.args ?? {},
      channel: spec.channel ?? 'default',
      arch: spec.arch ?? 'noarch',
      priority: spec.priority ?? 0,
      compose_id: spec.composeId ?? null,
      always_run: alwaysRun,
      state,
      deps_pending: pending,
      deps_failed: failed,
      deps_canceled: canceled,
      max_retries: spec.maxRetries ?? defaults.maxRetries,
      heartbeat_timeout_seconds: spec.heartbeatTimeoutSeconds ?? defaults.heartbeatTimeoutSeconds,
      error,
    });
  });

  await db.query(
    `WITH inserted AS (
     INSERT INTO kiln_jobs (id, type, args, channel, arch, priority, compose_id, always_run, state,
                            deps_pending, deps_failed, deps_canceled, max_retries, heartbeat_timeout,
                            ready_at, finished_at, error)
     SELECT x.id, x.type, x.args, x.channel, x.arch, x.priority, x.compose_id, x.always_run, x.state,
            x.deps_pending, x.deps_failed, x.deps_canceled, x.max_retries,
            make_interval(secs => x.heartbeat_timeout_seconds),
            CASE WHEN x.state = 'ready' THEN now() END,
            CASE WHEN x.state IN ('failure', 'canceled') THEN now() END,
            x.error
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(j, n),
            jsonb_to_record(e.j) AS x(id uuid, type text, args jsonb, channel text, arch text, priority int,
                                      compose_id uuid, always_run boolean, state text, deps_pending int,
                                      deps_failed int, deps_canceled int, max_retries int,
                                      heartbeat_timeout_seconds float8, error jsonb)
      ORDER BY e.n
     RETURNING type, channel, arch, state)
     SELECT kiln_notify_ready(type, channel, arch, count(*)) FROM inserted WHERE state = 'ready' GROUP BY type, channel, arch`,
    [JSON.stringify(planned)],
  );
  if (links.length) {
    await db.query(
      `INSERT INTO kiln_job_dependencies (job_id, position, dependency_id)
       SELECT job_id, position, dependency_id
         FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, position smallint, dependency_id uuid)`,
      [JSON.stringify(links)],
    );
  }
  return planned.map((p) => p.id);
}

interface DequeuedRow {
  id: string;
  type: string;
  args: unknown;
  token: string;
  channel: string;
  arch: string;
  compose_id: string | null;
  attempts: number;
  retries: number;
  heartbeat_timeout_seconds: number;
  checkpoint: unknown;
  dependencies: RunningJob['dependencies'];
}

function toRunningJob(r: DequeuedRow): RunningJob {
  return {
    id: r.id,
    type: r.type,
    args: r.args,
    token: r.token,
    channel: r.channel,
    arch: r.arch,
    composeId: r.compose_id,
    attempts: r.attempts,
    retries: r.retries,
    heartbeatTimeoutSeconds: r.heartbeat_timeout_seconds,
    checkpoint: r.checkpoint ?? null,
    dependencies: r.dependencies,
  };
}

/**
 * Takes the next ready job matching the filter, or null (kiln_take_job: SKIP LOCKED, never
 * blocks on other workers' rows). Types are tried in the filter's order, each straight off
 * the (type, priority, seq) index.
 */
export async function dequeueJob(db: Queryable, filter: JobFilter, worker: string): Promise<RunningJob | null> {
  for (const type of filter.types) {
    const { rows } = await db.query<DequeuedRow>(
      q('kiln_dequeue', 'SELECT * FROM kiln_take_job($1, $2, $3, $4)', [type, filter.channels, filter.arches, worker]),
    );
    if (rows[0]) return toRunningJob(rows[0]);
  }
  return null;
}

/** Why a guarded statement touched no row. */
async function explainMiss(db: Queryable, id: string): Promise<never> {
  const { rows } = await db.query<{ state: JobState }>('SELECT state FROM kiln_jobs WHERE id = $1', [id]);
  if (!rows[0]) throw new JobNotFoundError(id);
  if (rows[0].state === 'running') throw new StaleTokenError(id);
  throw new JobNotRunningError(id);
}

/** Records a heartbeat. Returns 'canceled' when the job was canceled and its worker should stop. */
export async function heartbeatJob(db: Queryable, id: string, token: string): Promise<'running' | 'canceled'> {
  if (!UUID.test(id) || !UUID.test(token)) throw new StaleTokenError(id);
  const { rows } = await db.query<{ state: 'running' | 'canceled' }>(
    q(
      'kiln_heartbeat',
      `UPDATE kiln_jobs SET heartbeat_at = now()
        WHERE id = $1 AND token = $2 AND state IN ('running', 'canceled')
       RETURNING state`,
      [id, token],
    ),
  );
  if (!rows[0]) return explainMiss(db, id);
  return rows[0].state;
}

/** Stores the job's progress (also counts as a heartbeat). */
export async function updateJobProgress(
  db: Queryable,
  id: string,
  token: string,
  progress: unknown,
): Promise<'running' | 'canceled'> {
  if (!UUID.test(id) || !UUID.test(token)) throw new StaleTokenError(id);
  const { rows } = await db.query<{ state: 'running' | 'canceled' }>(
    q(
      'kiln_progress',
      `UPDATE kiln_jobs SET progress = CASE WHEN state = 'running' THEN $3::jsonb ELSE progress END,
                            heartbeat_at = now()
        WHERE id = $1 AND token = $2 AND state IN ('running', 'canceled')
       RETURNING state`,
      [id, token, JSON.stringify(progress ?? null)],
    ),
  );
  if (!rows[0]) return explainMiss(db, id);
  return rows[0].state;
}

function outcomeParams(outcome: JobOutcome): unknown[] {
  return [
    outcome.state,
    outcome.result === undefined ? null : JSON.stringify(outcome.result),
    outcome.state === 'failure' ? JSON.stringify(outcome.error) : null,
  ];
}

function finishResult(id: string, outcome: string): 'finished' | 'canceled' {
  switch (outcome) {
    case 'finished':
      return 'finished';
    case 'canceled':
      return 'canceled';
    case 'not_found':
      throw new JobNotFoundError(id);
    case 'stale_token':
      throw new StaleTokenError(id);
    default:
      throw new JobNotRunningError(id);
  }
}

/**
 * Saves what this attempt must not lose if its worker dies (a Koji reservation, an upload
 * that is done): the next attempt receives it as `checkpoint`. Also counts as a heartbeat.
 */
export async function saveJobCheckpoint(db: Queryable, id: string, token: string, checkpoint: unknown): Promise<'running' | 'canceled'> {
  if (!UUID.test(id) || !UUID.test(token)) throw new StaleTokenError(id);
  const { rows } = await db.query<{ state: 'running' | 'canceled' }>(
    `UPDATE kiln_jobs SET checkpoint = $3::jsonb, heartbeat_at = now()
      WHERE id = $1 AND token = $2 AND state IN ('running', 'canceled')
     RETURNING state`,
    [id, token, JSON.stringify(checkpoint ?? null)],
  );
  if (!rows[0]) return explainMiss(db, id);
  return rows[0].state;
}

/**
 * Finishes a running job; the first finish with the current token wins. Returns 'canceled'
 * when the job had been canceled meanwhile (the report is kept, the state stays canceled).
 */
export async function finishJob(db: Queryable, id: string, token: string, outcome: JobOutcome): Promise<'finished' | 'canceled'> {
  if (!UUID.test(id) || !UUID.test(token)) throw new StaleTokenError(id);
  const { rows } = await db.query<{ outcome: string }>(
    q('kiln_finish', 'SELECT kiln_finish_job($1, $2, $3, $4, $5) AS outcome', [id, token, ...outcomeParams(outcome)]),
  );
  return finishResult(id, rows[0].outcome);
}

/**
 * Finishes a job and takes the next ready one of `type` in the same statement: one round trip
 * and one commit per job instead of two, for a worker that goes straight on to its next job.
 * The finish is judged as by finishJob (a rejected finish throws, and then nothing is taken).
 */
export async function finishAndTakeJob(
  db: Queryable,
  id: string,
  token: string,
  outcome: JobOutcome,
  next: { type: string; channels: readonly string[]; arches: readonly string[]; worker: string },
): Promise<{ stored: 'finished' | 'canceled'; next: RunningJob | null }> {
  if (!UUID.test(id) || !UUID.test(token)) throw new StaleTokenError(id);
  const { rows } = await db.query<DequeuedRow & { outcome: string }>(
    q(
      'kiln_finish_take',
      // the lateral reference to f makes the take run after the finish, and not at all when
      // the finish was refused
      `SELECT f.outcome, t.* FROM kiln_finish_job($1, $2, $3, $4, $5) AS f(outcome)
         LEFT JOIN LATERAL kiln_take_job(CASE WHEN f.outcome IN ('finished', 'canceled') THEN $6 END, $7, $8, $9) AS t ON true`,
      [id, token, ...outcomeParams(outcome), next.type, next.channels, next.arches, next.worker],
    ),
  );
  const stored = finishResult(id, rows[0].outcome);
  return { stored, next: rows[0].id ? toRunningJob(rows[0]) : null };
}

/**
 * Hands a running job back to the queue at once (graceful shutdown), without counting a
 * retry. Returns false when the token was no longer current.
 */
export async function releaseJob(db: Queryable, id: string, token: string): Promise<boolean> {
  const { rows } = await db.query(
    `WITH released AS (
       UPDATE kiln_jobs SET state = 'ready', token = NULL, worker = NULL, heartbeat_at = NULL, progress = NULL, ready_at = now()
        WHERE id = $1 AND token = $2 AND state = 'running'
       RETURNING type, channel, arch)
     SELECT kiln_notify_ready(type, channel, arch, 1) FROM released`,
    [id, token],
  );
  return rows.length === 1;
}

/** Cancels the jobs that have not finished; returns the ids it canceled. */
export async function cancelJobs(db: Queryable, ids: readonly string[], reason = 'canceled'): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT kiln_cancel_jobs($1::uuid[], $2) AS id', [ids, reason]);
  return rows.map((r) => r.id);
}

/**
 * Cancels a compose's unfinished jobs. Its always_run jobs (cleanup such as koji-finalize)
 * are left to run, and see their canceled dependencies.
 */
export async function cancelComposeJobs(db: Queryable, composeId: string, reason = 'canceled'): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT kiln_cancel_jobs(ARRAY(
        SELECT id FROM kiln_jobs
         WHERE compose_id = $1 AND NOT always_run AND state IN ('waiting', 'ready', 'running')), $2) AS id`,
    [composeId, reason],
  );
  return rows.map((r) => r.id);
}

/** Requeues (or, past the retry limit, fails) running jobs whose heartbeat timed out. */
export async function reapLostJobs(db: Queryable): Promise<{ jobId: string; outcome: 'requeued' | 'failed' }[]> {
  const { rows } = await db.query<{ job_id: string; outcome: 'requeued' | 'failed' }>(
    q('kiln_reap', 'SELECT job_id, outcome FROM kiln_reap_lost_jobs()', []),
  );
  return rows.map((r) => ({ jobId: r.job_id, outcome: r.outcome }));
}

const RECORD_COLUMNS = `
  j.id, j.type, j.args, j.channel, j.arch, j.priority, j.compose_id, j.always_run, j.state, j.worker,
  j.progress, j.checkpoint, j.result, j.error, j.attempts, j.retries, j.max_retries, j.queued_at, j.ready_at,
  j.started_at, j.heartbeat_at, j.finished_at,
  ARRAY(SELECT dependency_id FROM kiln_job_dependencies WHERE job_id = j.id ORDER BY position) AS dependencies`;

function toRecord(r: Record<string, any>): JobRecord {
  return {
    id: r.id,
    type: r.type,
    args: r.args,
    channel: r.channel,
    arch: r.arch,
    priority: r.priority,
    composeId: r.compose_id,
    alwaysRun: r.always_run,
    state: r.state,
    worker: r.worker,
    progress: r.progress,
    checkpoint: r.checkpoint,
    result: r.result,
    error: r.error,
    attempts: r.attempts,
    retries: r.retries,
    maxRetries: r.max_retries,
    queuedAt: r.queued_at,
    readyAt: r.ready_at,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    finishedAt: r.finished_at,
    dependencies: r.dependencies,
  };
}

export async function getJob(db: Queryable, id: string): Promise<JobRecord> {
  if (!UUID.test(id)) throw new JobNotFoundError(id);
  const { rows } = await db.query(`SELECT ${RECORD_COLUMNS} FROM kiln_jobs j WHERE j.id = $1`, [id]);
  if (!rows[0]) throw new JobNotFoundError(id);
  return toRecord(rows[0]);
}

/** A compose's jobs in the order they were enqueued: its history. */
export async function listComposeJobs(db: Queryable, composeId: string): Promise<JobRecord[]> {
  const { rows } = await db.query(`SELECT ${RECORD_COLUMNS} FROM kiln_jobs j WHERE j.compose_id = $1 ORDER BY j.seq`, [composeId]);
  return rows.map(toRecord);
}

/** Ready and running jobs per (type, channel, arch, state), for metrics and the status page. */
export async function queueDepth(db: Queryable): Promise<{ type: string; channel: string; arch: string; state: JobState; count: number }[]> {
  const { rows } = await db.query(
    `SELECT type, channel, arch, state, count(*)::int AS count FROM kiln_jobs
      WHERE state IN ('waiting', 'ready', 'running') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
  );
  return rows;
}

/**
 * Retention: deletes finished jobs older than `days` whose dependents have all finished too
 * (a finished job's result may still be needed by a dependent that has not run). Jobs of a
 * compose are its history and go with the compose, not here.
 */
export async function deleteFinishedJobs(db: Queryable, days: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM kiln_jobs j
      WHERE j.finished_at < now() - make_interval(days => $1)
        AND j.compose_id IS NULL
        AND NOT EXISTS (SELECT 1 FROM kiln_job_dependencies d JOIN kiln_jobs dep ON dep.id = d.job_id
                         WHERE d.dependency_id = j.id AND dep.finished_at IS NULL)`,
    [days],
  );
  return rowCount ?? 0;
}
