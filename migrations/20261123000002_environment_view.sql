-- Read model of the `environments` projector: one row per RuntimeEnvironment.
-- `state` is the aggregate's own serialized state, so the view can never disagree with
-- the domain's apply(); the other columns exist to filter, sort and page.
CREATE TABLE environment_view (
    environment_id  text        PRIMARY KEY,
    product         text        NOT NULL,
    name            text        NOT NULL,
    stage           text        NOT NULL,
    status          text        NOT NULL,
    version         bigint      NOT NULL,
    state           jsonb       NOT NULL,
    tenant_id       text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- page order: the log position of the creating event, stable and unique.
    created_position bigint     NOT NULL
);
CREATE UNIQUE INDEX environment_view_page ON environment_view (created_position);
CREATE INDEX environment_view_stage_page ON environment_view (stage, created_position);
