-- Up Migration

-- Remote workers registered through the worker API (src/api/worker-api.ts). A registration is
-- what a worker may take (types, arches, channels) and who registered it (the certificate or
-- token name); last_seen_at moves with its requests and heartbeats, for the status page.
-- Each worker process registers anew when it starts; rows not seen for 30 days are pruned at
-- registration time, so the table stays small without a separate job.
CREATE TABLE kiln_workers (
  id            uuid PRIMARY KEY,
  name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.@:-]{1,128}$'),
  principal     text,
  arches        text[] NOT NULL,
  types         text[] NOT NULL,
  channels      text[] NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX kiln_workers_last_seen ON kiln_workers (last_seen_at);

-- Down Migration
DROP TABLE kiln_workers;
