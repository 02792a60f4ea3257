-- Up Migration

-- A job that is not run because a dependency failed now says which one and why, so the reason
-- travels down the graph (depsolve's "no space left on device" reaches the compose's reason
-- through osbuild and koji-finalize). Only the error's message and details change; the
-- subqueries sit in the failure branches, so releasing jobs that succeed costs nothing more.
CREATE OR REPLACE FUNCTION kiln_release_dependents(p_job uuid, p_type text, p_state text) RETURNS void LANGUAGE plpgsql AS $$
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
                       ELSE format('not run: %s of its dependencies failed: %s',
                                   j.deps_failed + (p_state = 'failure')::int,
                                   (SELECT format('%s: %s', f.type, coalesce(f.error->>'message', 'failed')) FROM kiln_job_dependencies fd JOIN kiln_jobs f ON f.id = fd.dependency_id
                                    WHERE fd.job_id = j.id AND f.state = 'failure' ORDER BY fd.position LIMIT 1)) END,
          'details', coalesce(
                       CASE WHEN j.deps_canceled + (p_state = 'canceled')::int = 0
                            THEN (SELECT jsonb_build_object('dependency', f.id, 'dependency_type', f.type) FROM kiln_job_dependencies fd JOIN kiln_jobs f ON f.id = fd.dependency_id
                                    WHERE fd.job_id = j.id AND f.state = 'failure' ORDER BY fd.position LIMIT 1) END,
                       jsonb_build_object('dependency', p_job, 'dependency_type', p_type)))
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

-- Down Migration
CREATE OR REPLACE FUNCTION kiln_release_dependents(p_job uuid, p_type text, p_state text) RETURNS void LANGUAGE plpgsql AS $$
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
