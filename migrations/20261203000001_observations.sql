-- What the running systems report: samples, not facts. They live beside the log, not in it:
-- the latest per target answers the control loops, a bounded history answers the deployment
-- gate's analysis and people, and only the changes that matter become events (through commands
-- of the health, drift and deployment aggregates, caused by the observation's id).
--
-- One table for the three kinds, keyed by what was observed: an environment's state report
-- (`state`, service '' and tenant ''), one probe's sample (`probe`, subject = the probe's
-- name) and one workload's metrics (`metrics`). Each insert trims its target's history to the
-- newest rows (observations::HISTORY), along `observations_target`: the cost of a report does
-- not grow with the history.
CREATE TABLE observations (
    seq            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    observation_id uuid        NOT NULL UNIQUE,
    kind           text        NOT NULL CHECK (kind IN ('state', 'probe', 'metrics')),
    environment_id text        NOT NULL,
    service_id     text        NOT NULL DEFAULT '',
    tenant_id      text        NOT NULL DEFAULT '',
    subject        text        NOT NULL DEFAULT '',
    body           jsonb       NOT NULL,
    trace_id       text        NOT NULL,
    reported_by    text        NOT NULL,
    observed_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX observations_target ON observations (kind, environment_id, service_id, tenant_id, subject, seq DESC);

-- The newest observation per target: what the loops read each round, one row per target
-- however long the history.
CREATE TABLE observation_latest (
    kind           text   NOT NULL,
    environment_id text   NOT NULL,
    service_id     text   NOT NULL,
    tenant_id      text   NOT NULL,
    subject        text   NOT NULL,
    seq            bigint NOT NULL,
    PRIMARY KEY (kind, environment_id, service_id, tenant_id, subject)
);

-- The periodic control loops' runs (the reactors keep theirs in reactor_checkpoints): when each
-- last ran and by which replica, what it did, and its failures, all replicas together.
CREATE TABLE worker_runs (
    worker        text        PRIMARY KEY,
    runs          bigint      NOT NULL DEFAULT 0,
    actions       bigint      NOT NULL DEFAULT 0,
    errors        bigint      NOT NULL DEFAULT 0,
    last_error    text,
    last_error_at timestamptz,
    last_run_at   timestamptz,
    last_replica  text
);

-- The deployment gate's round reads the deployments in flight; a partial index keeps that read
-- to them however long the history grows.
CREATE INDEX deployment_history_in_flight ON deployment_history (deployment_id)
    WHERE status IN ('verifying', 'rolling_back');
