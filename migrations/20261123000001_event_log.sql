-- The event log: postgres-es's `events` and `snapshots` tables, extended.
--
-- Extensions over postgres-es (its repository still reads and writes these tables):
-- * payload/metadata are jsonb, so envelope fields can be generated columns and indexed;
-- * global_position: an identity taken at insert time (NOT commit order: see below);
-- * transaction_id: the writing transaction's xid8. Readers only read rows whose
--   transaction_id < pg_snapshot_xmin(pg_current_snapshot()) (those transactions have ended)
--   and walk (transaction_id, global_position) in order. That pair is the checkpoint: a
--   position alone would skip a lower position committed after a higher one.
-- * recorded_at and the envelope columns trace_id / tenant_id / event_id.
CREATE TABLE events (
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL CHECK (sequence >= 1),
    event_type      text        NOT NULL,
    event_version   text        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    global_position bigint      GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    event_id        uuid        GENERATED ALWAYS AS ((metadata ->> 'event_id')::uuid) STORED,
    trace_id        text        GENERATED ALWAYS AS (metadata ->> 'trace_id') STORED,
    tenant_id       text        GENERATED ALWAYS AS (metadata ->> 'tenant_id') STORED,
    actor           text        GENERATED ALWAYS AS (metadata ->> 'actor') STORED,
    CONSTRAINT events_pkey PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- The global read order, and the cursor every reader resumes from.
CREATE UNIQUE INDEX events_log_order ON events (transaction_id, global_position);
-- trace(traceId): the whole history of one trace, in log order.
CREATE INDEX events_by_trace ON events (trace_id, transaction_id, global_position);
-- Governance: one tenant's events, in log order.
CREATE INDEX events_by_tenant ON events (tenant_id, transaction_id, global_position)
    WHERE tenant_id IS NOT NULL;

-- One row per aggregate: the state after `last_sequence`, so loading a long stream reads the
-- snapshot and only the events after it. postgres-es keys this table by last_sequence too; we
-- keep one row per aggregate and overwrite it in the same statement that appends the events.
CREATE TABLE snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    CONSTRAINT snapshots_pkey PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Uniqueness that spans aggregates (e.g. environment names per product and stage). Events
-- take and release claims in the same statement that appends them, so the rule is strict.
CREATE TABLE unique_claims (
    scope          text        NOT NULL,
    key            text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    claimed_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT unique_claims_pkey PRIMARY KEY (scope, key)
);

-- Idempotency: one receipt per (tenant scope, idempotency key), written with the events.
-- A retried command finds its receipt and gets the original result back.
CREATE TABLE command_receipts (
    scope           text        NOT NULL,
    idempotency_key text        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    command_type    text        NOT NULL,
    first_sequence  bigint      NOT NULL,
    last_sequence   bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT command_receipts_pkey PRIMARY KEY (scope, idempotency_key)
);

-- Durable checkpoints of the projectors: the last (transaction id, position) applied.
CREATE TABLE projection_checkpoints (
    projection       text        PRIMARY KEY,
    version          integer     NOT NULL,
    transaction_id   xid8        NOT NULL DEFAULT '0',
    global_position  bigint      NOT NULL DEFAULT 0,
    events_applied   bigint      NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
