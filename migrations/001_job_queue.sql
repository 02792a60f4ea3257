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
-- Dequeue walks this in order and filters by type/channel/arch.
CREATE INDEX kiln_jobs_ready ON kiln_jobs (priority, seq) WHERE state = 'ready';
CREATE INDEX kiln_jobs_heartbeat ON kiln_jobs (heartbeat_at) WHERE token IS NOT NULL;
CREATE INDEX kiln_jobs_compose ON kiln_jobs (compose_id, seq) WHERE compose_id IS NOT NULL;
CREATE INDEX kiln_jobs_finished ON kiln_jobs (finished_at) WHERE finished_at IS NOT NULL;

-- NOTIFY kiln_job_ready '{"type":…,"channel":…,"arch":…,"n":…}' for jobs that became ready.
CREATE FUNCTION kiln_notify_ready_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kiln_job_ready', json_build_object('type', type, 'channel', channel, 'arch', arch, 'n', n)::text)
  FROM (SELECT type, channel, arch, count(*) AS n FROM new_rows WHERE state = 'ready' GROUP BY 1, 2, 3) AS s;
  RETURN NULL;
END $$;

CREATE FUNCTION kiln_notify_ready_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kiln_job_ready', json_build_object('type', type, 'channel', channel, 'arch', arch, 'n', n)::text)
  FROM (SELECT n.type, n.channel, n.arch, count(*) AS n
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.state = 'ready' AND o.state <> 'ready'
         GROUP BY 1, 2, 3) AS s;
  RETURN NULL;
END $$;

CREATE TRIGGER kiln_jobs_ready_insert AFTER INSERT ON kiln_jobs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kiln_notify_ready_insert();
CREATE TRIGGER kiln_jobs_ready_update AFTER UPDATE ON kiln_jobs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kiln_notify_ready_update();

-- Called once a job has reached a final state: counts it off its dependents. A dependent
-- whose last dependency just finished becomes ready, or, when a dependency failed or was
-- canceled and it is not always_run, fails or is canceled itself, and so on down the graph.
-- The decision reads only the dependent's own counters, which row locking keeps exact when
-- several dependencies finish at once.
CREATE FUNCTION kiln_release_dependents(p_job uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_done record;
  v_next record;
BEGIN
  SELECT id, type, state INTO v_done FROM kiln_jobs WHERE id = p_job;
  FOR v_next IN
    UPDATE kiln_jobs j SET
      deps_pending  = j.deps_pending - 1,
      deps_failed   = j.deps_failed + (v_done.state = 'failure')::int,
      deps_canceled = j.deps_canceled + (v_done.state = 'canceled')::int,
      state = CASE
        WHEN j.deps_pending > 1 THEN 'waiting'
        WHEN j.always_run THEN 'ready'
        WHEN j.deps_canceled + (v_done.state = 'canceled')::int > 0 THEN 'canceled'
        WHEN j.deps_failed + (v_done.state = 'failure')::int > 0 THEN 'failure'
        ELSE 'ready' END,
      ready_at = CASE WHEN j.deps_pending = 1 THEN now() END,
      finished_at = CASE
        WHEN j.deps_pending = 1 AND NOT j.always_run
             AND j.deps_canceled + j.deps_failed + (v_done.state <> 'success')::int > 0 THEN now() END,
      error = CASE
        WHEN j.deps_pending = 1 AND NOT j.always_run
             AND j.deps_canceled + j.deps_failed + (v_done.state <> 'success')::int > 0
        THEN jsonb_build_object(
          'code', CASE WHEN j.deps_canceled + (v_done.state = 'canceled')::int > 0
                       THEN 'KILN_JOB_CANCELED' ELSE 'KILN_JOB_DEPENDENCY_FAILED' END,
          'message', CASE WHEN j.deps_canceled + (v_done.state = 'canceled')::int > 0
                       THEN 'canceled because a dependency was canceled'
                       ELSE format('not run: %s of its dependencies failed',
                                   j.deps_failed + (v_done.state = 'failure')::int) END,
          'details', jsonb_build_object('dependency', v_done.id, 'dependency_type', v_done.type))
        ELSE j.error END
    FROM kiln_job_dependencies d
    WHERE d.dependency_id = p_job AND j.id = d.job_id AND j.state = 'waiting'
    RETURNING j.id, j.state
  LOOP
    IF v_next.state IN ('failure', 'canceled') THEN
      PERFORM kiln_release_dependents(v_next.id);
    END IF;
  END LOOP;
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
  UPDATE kiln_jobs SET state = p_state, result = p_result, error = p_error, finished_at = now(), token = NULL
   WHERE id = p_id AND token = p_token AND state = 'running';
  IF FOUND THEN
    PERFORM kiln_release_dependents(p_id);
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

-- Cancels jobs that have not finished. Running ones keep their token until their worker
-- notices (heartbeat, or the kiln_job_canceled notification). Returns the canceled ids.
CREATE FUNCTION kiln_cancel_jobs(p_ids uuid[], p_reason text) RETURNS SETOF uuid LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_canceled uuid[] := '{}';
BEGIN
  FOR v_job IN
    UPDATE kiln_jobs SET state = 'canceled', finished_at = now(),
      error = jsonb_build_object('code', 'KILN_JOB_CANCELED', 'message', p_reason)
    WHERE id = ANY (p_ids) AND state IN ('waiting', 'ready', 'running')
    RETURNING id, token
  LOOP
    IF v_job.token IS NOT NULL THEN
      PERFORM pg_notify('kiln_job_canceled', v_job.id::text);
    END IF;
    v_canceled := v_canceled || v_job.id;
    RETURN NEXT v_job.id;
  END LOOP;
  -- released only after all are canceled, so a dependent canceled here is not counted off
  PERFORM kiln_release_dependents(c.job) FROM unnest(v_canceled) AS c(job);
END $$;

-- Jobs whose worker stopped sending heartbeats: requeued with a new attempt while retries
-- remain, then failed with a reason. A canceled job's orphaned token is dropped.
-- Returns (id, outcome) for each job it touched.
CREATE FUNCTION kiln_reap_lost_jobs() RETURNS TABLE (job_id uuid, outcome text) LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
BEGIN
  FOR v_job IN
    SELECT id, retries, max_retries, worker, attempts, heartbeat_timeout FROM kiln_jobs
     WHERE state = 'running' AND heartbeat_at < now() - heartbeat_timeout
     ORDER BY heartbeat_at
     FOR UPDATE SKIP LOCKED
  LOOP
    IF v_job.retries < v_job.max_retries THEN
      UPDATE kiln_jobs SET state = 'ready', token = NULL, worker = NULL, heartbeat_at = NULL,
        progress = NULL, retries = retries + 1, ready_at = now()
       WHERE id = v_job.id;
      job_id := v_job.id; outcome := 'requeued';
    ELSE
      UPDATE kiln_jobs SET state = 'failure', token = NULL, finished_at = now(),
        error = jsonb_build_object(
          'code', 'KILN_JOB_LOST',
          'message', format('worker %s stopped sending heartbeats for over %s; gave up after %s attempts',
                            coalesce(v_job.worker, '(unknown)'), v_job.heartbeat_timeout, v_job.attempts),
          'details', jsonb_build_object('worker', v_job.worker, 'attempts', v_job.attempts))
       WHERE id = v_job.id;
      PERFORM kiln_release_dependents(v_job.id);
      job_id := v_job.id; outcome := 'failed';
    END IF;
    RETURN NEXT;
  END LOOP;
  UPDATE kiln_jobs SET token = NULL
   WHERE state = 'canceled' AND token IS NOT NULL AND heartbeat_at < now() - heartbeat_timeout;
END $$;

-- Down Migration
DROP TABLE kiln_job_dependencies;
DROP TABLE kiln_jobs;
DROP FUNCTION kiln_reap_lost_jobs();
DROP FUNCTION kiln_cancel_jobs(uuid[], text);
DROP FUNCTION kiln_finish_job(uuid, uuid, text, jsonb, jsonb);
DROP FUNCTION kiln_release_dependents(uuid);
DROP FUNCTION kiln_notify_ready_update();
DROP FUNCTION kiln_notify_ready_insert();
