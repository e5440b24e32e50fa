-- What each reactor's loop reports (GraphQL `workers`, /metrics): failures counted across
-- replicas with the last one's message and time, and which replica moved the checkpoint last
-- (the one holding the reactor's lock for that batch).
ALTER TABLE reactor_checkpoints
    ADD COLUMN errors        bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_error    text,
    ADD COLUMN last_error_at timestamptz,
    ADD COLUMN last_replica  text;
