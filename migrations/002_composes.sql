-- Up Migration

-- A compose is one Koji image task: one NVR, one or more image builds, run as a job graph
-- (koji-init → depsolve → osbuild → koji-finalize) whose jobs carry the compose id.
CREATE TABLE kiln_composes (
  id              uuid PRIMARY KEY,
  seq             bigint GENERATED ALWAYS AS IDENTITY,
  created_at      timestamptz NOT NULL DEFAULT now(),
  owner           text,
  distribution    text NOT NULL,
  request         jsonb NOT NULL,
  koji_server     text NOT NULL,
  koji_task_id    bigint NOT NULL CHECK (koji_task_id >= 0),
  koji_name       text NOT NULL,
  koji_version    text NOT NULL CHECK (koji_version !~ '-'),
  koji_release    text NOT NULL CHECK (koji_release !~ '-'),
  -- the compose's own directory in the hub's upload area: every retry of an upload lands here
  koji_directory  text NOT NULL UNIQUE,
  init_job_id     uuid NOT NULL REFERENCES kiln_jobs (id),
  finalize_job_id uuid NOT NULL REFERENCES kiln_jobs (id),
  cancel_reason   text,
  canceled_at     timestamptz,
  CHECK ((cancel_reason IS NULL) = (canceled_at IS NULL))
);
CREATE UNIQUE INDEX kiln_composes_seq ON kiln_composes (seq);
CREATE INDEX kiln_composes_koji_task ON kiln_composes (koji_server, koji_task_id);

CREATE TABLE kiln_image_builds (
  id              uuid PRIMARY KEY,
  compose_id      uuid NOT NULL REFERENCES kiln_composes (id) ON DELETE CASCADE,
  position        smallint NOT NULL CHECK (position >= 0),
  arch            text NOT NULL,
  image_type      text NOT NULL,
  depsolve_job_id uuid NOT NULL REFERENCES kiln_jobs (id),
  osbuild_job_id  uuid NOT NULL REFERENCES kiln_jobs (id),
  UNIQUE (compose_id, position)
);

-- Down Migration
DROP TABLE kiln_image_builds;
DROP TABLE kiln_composes;
