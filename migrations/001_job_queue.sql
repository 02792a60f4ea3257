-- Up Migration

-- Kiln's job queue. The rules live here, not in application code:
--  * a job is `waiting` while it has unfinished dependencies and `ready` when it has none;
--    the finishing statement keeps the counters, so dequeue never scans dependencies;
--  * only the holder of the current token may heartbeat, report progress or finish a job;
--  * a job whose dependencies failed or were canceled fails or is canceled with them,
--    unless it is an `always_run` job (cleanup such as koji-finalize), which then runs;
--  * every change that makes jobs ready sends one NOTIFY per (type, channel, arch) with the
--    number of new jobs, so listeners wake only that many waiters.

CREATE TABLE kiln_jobs (
  id                uuid PRIMARY KEY,
  seq               bigint GENERATED ALWAYS AS IDENTITY,
  type              text NOT NULL CHECK (type ~ '^[a-z][a-z0-9-]{0,62}$'),
  args              jsonb NOT NULL DEFAULT '{}'::jsonb,
  channel           text NOT NULL DEFAULT 'default' CHECK (channel ~ '^[A-Za-z0-9_.-]{1,64}$'),
  arch              text NOT NULL DEFAULT 'noarch' CHECK (arch ~ '^[A-Za-z0-9_.-]{1,64}$'),
  -- lower runs first, as with Koji task priorities
  priority          integer NOT NULL DEFAULT 0,
  compose_id        uuid,
  always_run        boolean NOT NULL DEFAULT false,
  state             text NOT NULL CHECK (state IN ('waiting', 'ready', 'running', 'success', 'failure', 'canceled')),
  deps_pending      integer NOT NULL DEFAULT 0 CHECK (deps_pending >= 0),
  deps_failed       integer NOT NULL DEFAULT 0 CHECK (deps_failed >= 0),
  deps_canceled     integer NOT NULL DEFAULT 0 CHECK (deps_canceled >= 0),
  token             uuid,
  worker            text,
  progress          jsonb,
  -- what an attempt saved for the next one (e.g. a Koji reservation): kept across requeues
  checkpoint        jsonb,
  result            jsonb,
  error             jsonb,
  attempts          integer NOT NULL DEFAULT 0,
  retries           integer NOT NULL DEFAULT 0,
  max_retries       integer NOT NULL DEFAULT 2 CHECK (max_retries >= 0),
  heartbeat_timeout interval NOT NULL DEFAULT '120 seconds' CHECK (heartbeat_timeout > '0'::interval),
  queued_at         timestamptz NOT NULL DEFAULT now(),
  ready_at          timestamptz,
  started_at        timestamptz,
  heartbeat_at      timestamptz,
  finished_at       timestamptz,
  CONSTRAINT waiting_has_pending CHECK (state <> 'waiting' OR deps_pending > 0),
  CONSTRAINT ready_has_none_pending CHECK (state NOT IN ('ready', 'running') OR deps_pending = 0),
  CONSTRAINT running_has_token CHECK (state <> 'running' OR (token IS NOT NULL AND heartbeat_at IS NOT NULL)),
  -- a canceled job keeps its token while its worker may still be running it, so the
  -- worker's heartbeat can be answered with "canceled"
  CONSTRAINT token_only_when_held CHECK (token IS NULL OR state IN ('running', 'canceled')),
  CONSTRAINT finished_has_time CHECK ((state IN ('success', 'failure', 'canceled')) = (finished_at IS NOT NULL))
);

CREATE TABLE kiln_job_dependencies (
  job_id        uuid NOT NULL REFERENCES kiln_jobs (id) ON DELETE CASCADE,
  position      smallint NOT NULL CHECK (position >= 0),
  dependency_id uuid NOT NULL REFERENCES kiln_jobs (id) ON DELETE CASCADE,
  PRIMARY KEY (job_id, position),
  UNIQUE (job_id, dependency_id),
  CHECK (job_id <> dependency_id)
);

CREATE INDEX kiln_job_dependencies_dependency ON kiln_job_dependencies (dependency_id);
-- Dequeue: one type at a time, in priority then arrival order, straight off this index.
CREATE INDEX kiln_jobs_ready ON kiln_jobs (type, priority, seq) WHERE state = 'ready';
-- Jobs whose token is held (running, or canceled while running): the reaper's set. Keyed by
-- id, not heartbeat_at, so heartbeats and progress touch no indexed column and stay HOT
-- updates (with the fillfactor below leaving room on the page).
CREATE INDEX kiln_jobs_held ON kiln_jobs (id) WHERE token IS NOT NULL;
CREATE INDEX kiln_jobs_compose ON kiln_jobs (compose_id) WHERE compose_id IS NOT NULL;
CREATE INDEX kiln_jobs_finished ON kiln_jobs (finished_at) WHERE finished_at IS NOT NULL;
ALTER TABLE kiln_jobs SET (fillfactor = 70);

-- NOTIFY kiln_job_ready '{"type":…,"channel":…,"arch":…,"n":…}' for jobs that became ready.
-- Called by every statement that makes jobs ready (enqueue, release of dependents, requeue),
-- not by a trigger: a statement trigger with transition tables on every UPDATE cost about 10%
-- of queue throughput (bench/queue), and only these few statements ever make a job ready.
CREATE FUNCTION kiln_notify_ready(p_type text, p_channel text, p_arch text, p_n bigint) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_notify('kiln_job_ready', json_build_object('type', p_type, 'channel', p_channel, 'arch', p_arch, 'n', p_n)::text)
$$;

-- Called once a job has reached a final state: counts it off its dependents. A dependent
-- whose last dependency just finished becomes ready, or, when a dependency failed or was
-- canceled and it is not always_run, fails or is canceled itself, and so on down the graph.
-- The decision reads only the dependent's own counters, which row locking keeps exact when
-- several dependencies finish at once.
CREATE FUNCTION kiln_release_dependents(p_job uuid, p_type text, p_state text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_next record;
  -- ready jobs are announced once per (type, channel, arch) with their count: Postgres folds
  -- identical notifications within a transaction, so one per job could undercount
  v_ready jsonb := '[]';
BEGIN
  FOR v_next IN
    UPDATE kiln_jobs j SET
      deps_pending  = j.deps_pending - 1,
      deps_failed   = j.deps_failed + (p_state = 'failure')::int,
      deps_canceled = j.deps_canceled + (p_state = 'canceled')::int,
      state = CASE
        WHEN j.deps_pending > 1 THEN 'waiting'
        WHEN j.always_run THEN 'ready'
        WHEN j.deps_canceled + (p_state = 'canceled')::int > 0 THEN 'canceled'
        WHEN j.deps_failed + (p_state = 'failure')::int > 0 THEN 'failure'
        ELSE 'ready' END,
      ready_at = CASE WHEN j.deps_pending = 1 THEN now() END,
      finished_at = CASE
        WHEN j.deps_pending = 1 AND NOT j.always_run
             AND j.deps_canceled + j.deps_failed + (p_state <> 'success')::int > 0 THEN now() END,
      error = CASE
        WHEN j.deps_pending = 1 AND NOT j.always_run
             AND j.deps_canceled + j.deps_failed + (p_state <> 'success')::int > 0
        THEN jsonb_build_object(
          'code', CASE WHEN j.deps_canceled + (p_state = 'canceled')::int > 0
                       THEN 'KILN_JOB_CANCELED' ELSE 'KILN_JOB_DEPENDENCY_FAILED' END,
          'message', CASE WHEN j.deps_canceled + (p_state = 'canceled')::int > 0
                       THEN 'canceled because a dependency was canceled'
                       ELSE format('not run: %s of its dependencies failed',
                                   j.deps_failed + (p_state = 'failure')::int) END,
          'details', jsonb_build_object('dependency', p_job, 'dependency_type', p_type))
        ELSE j.error END
    FROM kiln_job_dependencies d
    WHERE d.dependency_id = p_job AND j.id = d.job_id AND j.state = 'waiting'
    RETURNING j.id, j.type, j.channel, j.arch, j.state
  LOOP
    IF v_next.state IN ('failure', 'canceled') THEN
      PERFORM kiln_release_dependents(v_next.id, v_next.type, v_next.state);
    ELSIF v_next.state = 'ready' THEN
      v_ready := v_ready || jsonb_build_object('type', v_next.type, 'channel', v_next.channel, 'arch', v_next.arch);
    END IF;
  END LOOP;
  IF v_ready <> '[]' THEN
    PERFORM kiln_notify_ready(r.type, r.channel, r.arch, count(*))
       FROM jsonb_to_recordset(v_ready) AS r(type text, channel text, arch text)
      GROUP BY r.type, r.channel, r.arch;
  END IF;
END $$;

-- Finishes a running job. Returns 'finished', or why not: 'canceled' (the job was canceled
-- while this worker ran it; its report is kept), 'stale_token', 'not_running', 'not_found'.
CREATE FUNCTION kiln_finish_job(p_id uuid, p_token uuid, p_state text, p_result jsonb, p_error jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_row record;
BEGIN
  IF p_state NOT IN ('success', 'failure') THEN
    RAISE EXCEPTION 'a job can only be finished as success or failure, not %', p_state USING ERRCODE = '22023';
  END IF;
  UPDATE kiln_jobs j SET state = p_state, result = p_result, error = p_error, finished_at = now(), token = NULL
   WHERE j.id = p_id AND j.token = p_token AND j.state = 'running'
  RETURNING j.type, EXISTS (SELECT 1 FROM kiln_job_dependencies d WHERE d.dependency_id = p_id) AS has_dependents
  INTO v_row;
  IF FOUND THEN
    IF v_row.has_dependents THEN
      PERFORM kiln_release_dependents(p_id, v_row.type, p_state);
    END IF;
    RETURN 'finished';
  END IF;
  SELECT state, token INTO v_row FROM kiln_jobs WHERE id = p_id;
  IF NOT FOUND THEN RETURN 'not_found'; END IF;
  IF v_row.state = 'canceled' AND v_row.token = p_token THEN
    UPDATE kiln_jobs SET token = NULL, result = coalesce(p_result, result) WHERE id = p_id;
    RETURN 'canceled';
  END IF;
  IF v_row.state = 'running' THEN RETURN 'stale_token'; END IF;
  RETURN 'not_running';
END $$;

-- Hands out the next ready job of one type for the given channels and arches, with a fresh
-- token and its dependencies' results in declared order. SKIP LOCKED: never waits on rows
-- another worker is taking.
CREATE FUNCTION kiln_take_job(p_type text, p_channels text[], p_arches text[], p_worker text)
RETURNS TABLE (id uuid, type text, args jsonb, token uuid, channel text, arch text, compose_id uuid,
               attempts int, retries int, heartbeat_timeout_seconds float8, checkpoint jsonb, dependencies jsonb)
LANGUAGE sql AS $$
  WITH next AS (
    SELECT j.id FROM kiln_jobs j
     WHERE j.state = 'ready' AND j.type = p_type AND j.channel = ANY (p_channels) AND j.arch = ANY (p_arches)
     ORDER BY j.priority, j.seq
     LIMIT 1
     FOR UPDATE SKIP LOCKED
  )
  UPDATE kiln_jobs j
     SET state = 'running', token = gen_random_uuid(), worker = p_worker, started_at = now(),
         heartbeat_at = now(), attempts = j.attempts + 1
    FROM next
   WHERE j.id = next.id
  RETURNING j.id, j.type, j.args, j.token, j.channel, j.arch, j.compose_id, j.attempts, j.retries,
            extract(epoch FROM j.heartbeat_timeout)::float8, j.checkpoint,
            (SELECT coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'type', d.type, 'state', d.state,
                                                          'result', d.result, 'error', d.error)
                                       ORDER BY jd.position), '[]'::jsonb)
               FROM kiln_job_dependencies jd JOIN kiln_jobs d ON d.id = jd.dependency_id
              WHERE jd.job_id = j.id)
$$;

-- Cancels jobs that have not finished. Running ones keep their token until their worker
-- notices (heartbeat, or the kiln_job_canceled notification). Returns the canceled ids.
CREATE FUNCTION kiln_cancel_jobs(p_ids uuid[], p_reason text) RETURNS SETOF uuid LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_canceled uuid[] := '{}';
  v_types text[] := '{}';
BEGIN
  FOR v_job IN
    UPDATE kiln_jobs SET state = 'canceled', finished_at = now(),
      error = jsonb_build_object('code', 'KILN_JOB_CANCELED', 'message', p_reason)
    WHERE id = ANY (p_ids) AND state IN ('waiting', 'ready', 'running')
    RETURNING id, type, token
  LOOP
    IF v_job.token IS NOT NULL THEN
      PERFORM pg_notify('kiln_job_canceled', v_job.id::text);
    END IF;
    v_canceled := v_canceled || v_job.id;
    v_types := v_types || v_job.type;
    RETURN NEXT v_job.id;
  END LOOP;
  -- released only after all are canceled, so a dependent canceled here is not counted off
  PERFORM kiln_release_dependents(c.job, c.type, 'canceled') FROM unnest(v_canceled, v_types) AS c(job, type);
END $$;

-- Jobs whose worker stopped sending heartbeats: requeued with a new attempt while retries
-- remain, then failed with a reason. A canceled job's orphaned token is dropped.
-- Returns (id, outcome) for each job it touched.
CREATE FUNCTION kiln_reap_lost_jobs() RETURNS TABLE (job_id uuid, outcome text) LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_ready jsonb := '[]';
BEGIN
  FOR v_job IN
    SELECT id, type, channel, arch, retries, max_retries, worker, attempts, heartbeat_timeout FROM kiln_jobs
     WHERE token IS NOT NULL AND state = 'running' AND heartbeat_at < now() - heartbeat_timeout
     ORDER BY heartbeat_at
     FOR UPDATE SKIP LOCKED
  LOOP
    IF v_job.retries < v_job.max_retries THEN
      UPDATE kiln_jobs SET state = 'ready', token = NULL, worker = NULL, heartbeat_at = NULL,
        progress = NULL, retries = retries + 1, ready_at = now()
       WHERE id = v_job.id;
      v_ready := v_ready || jsonb_build_object('type', v_job.type, 'channel', v_job.channel, 'arch', v_job.arch);
      job_id := v_job.id; outcome := 'requeued';
    ELSE
      UPDATE kiln_jobs SET state = 'failure', token = NULL, finished_at = now(),
        error = jsonb_build_object(
          'code', 'KILN_JOB_LOST',
          'message', format('worker %s stopped sending heartbeats for over %s; gave up after %s attempts',
                            coalesce(v_job.worker, '(unknown)'), v_job.heartbeat_timeout, v_job.attempts),
          'details', jsonb_build_object('worker', v_job.worker, 'attempts', v_job.attempts))
       WHERE id = v_job.id;
      PERFORM kiln_release_dependents(v_job.id, v_job.type, 'failure');
      job_id := v_job.id; outcome := 'failed';
    END IF;
    RETURN NEXT;
  END LOOP;
  PERFORM kiln_notify_ready(r.type, r.channel, r.arch, count(*))
     FROM jsonb_to_recordset(v_ready) AS r(type text, channel text, arch text)
    GROUP BY r.type, r.channel, r.arch;
  UPDATE kiln_jobs SET token = NULL
   WHERE token IS NOT NULL AND state = 'canceled' AND heartbeat_at < now() - heartbeat_timeout;
END $$;

-- Down Migration
DROP TABLE kiln_job_dependencies;
DROP TABLE kiln_jobs;
DROP FUNCTION kiln_reap_lost_jobs();
DROP FUNCTION kiln_take_job(text, text[], text[], text);
DROP FUNCTION kiln_cancel_jobs(uuid[], text);
DROP FUNCTION kiln_finish_job(uuid, uuid, text, jsonb, jsonb);
DROP FUNCTION kiln_release_dependents(uuid, text, text);
DROP FUNCTION kiln_notify_ready(text, text, text, bigint);
