-- Read models of the catalog, inventory, drift, health, deployments and audit projectors
-- (see projections/src/<name>.rs). Every table is owned by exactly one projector, which
-- empties it on rebuild; side tables (`*_deployments`, `*_health`, `*_services`) hold the
-- facts a projector needs to resolve later events that carry only an aggregate id.
-- tenant_id is '' for "no tenant" wherever it is part of a key.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- catalog ---------------------------------------------------------------------------------
CREATE TABLE catalog_services (
    service_id    text        PRIMARY KEY,
    product       text        NOT NULL,
    name          text        NOT NULL,
    kind          text        NOT NULL,
    status        text        NOT NULL,
    blueprint     text        NOT NULL,
    contract      jsonb       NOT NULL,
    dependencies  jsonb       NOT NULL DEFAULT '[]',
    compute_kind  text,
    version       bigint      NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX catalog_services_product ON catalog_services (product, name);

-- Per service and environment (and tenant): what runs, the latest deployment, the health.
CREATE TABLE catalog_service_environments (
    service_id         text        NOT NULL,
    environment_id     text        NOT NULL,
    tenant_id          text        NOT NULL DEFAULT '',
    deployed_version   text,
    deployed_digest    text,
    deployed_deployment_id text,
    deployment_id      text,
    deployment_version text,
    deployment_status  text,
    health_id          text,
    health_status      text,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (service_id, environment_id, tenant_id)
);
CREATE INDEX catalog_service_environments_env ON catalog_service_environments (environment_id, tenant_id);

CREATE TABLE catalog_deployments (
    deployment_id  text PRIMARY KEY,
    service_id     text NOT NULL,
    environment_id text NOT NULL,
    tenant_id      text NOT NULL,
    version        text NOT NULL,
    digest         text NOT NULL
);

CREATE TABLE catalog_health (
    health_id      text PRIMARY KEY,
    service_id     text NOT NULL,
    environment_id text NOT NULL,
    tenant_id      text NOT NULL
);

-- inventory -------------------------------------------------------------------------------
-- Temporal: one row per (service, environment, tenant) and period during which a version ran.
-- valid = [recorded_at of the event that made it true, recorded_at of the event that ended it).
CREATE TABLE runtime_inventory (
    -- global_position of the event that opened the row: stable across rebuilds.
    opened_position bigint      PRIMARY KEY,
    service_id      text        NOT NULL,
    environment_id  text        NOT NULL,
    tenant_id       text        NOT NULL DEFAULT '',
    deployment_id   text        NOT NULL,
    version         text        NOT NULL,
    digest          text        NOT NULL,
    compute_kind    text,
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz,
    closed_position bigint,
    valid           tstzrange   NOT NULL GENERATED ALWAYS AS (tstzrange(valid_from, valid_to, '[)')) STORED,
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    CONSTRAINT runtime_inventory_no_overlap
        EXCLUDE USING gist (service_id WITH =, environment_id WITH =, tenant_id WITH =, valid WITH &&)
);
-- "what ran for tenant X (in environment E) at instant T": WHERE tenant_id = $1 AND valid @> $2
CREATE INDEX runtime_inventory_tenant_at ON runtime_inventory USING gist (tenant_id, environment_id, valid);
CREATE INDEX runtime_inventory_env_at ON runtime_inventory USING gist (environment_id, valid);
CREATE INDEX runtime_inventory_open ON runtime_inventory (service_id, environment_id, tenant_id) WHERE valid_to IS NULL;

CREATE TABLE inventory_deployments (
    deployment_id  text PRIMARY KEY,
    service_id     text NOT NULL,
    environment_id text NOT NULL,
    tenant_id      text NOT NULL,
    version        text NOT NULL,
    digest         text NOT NULL
);

CREATE TABLE inventory_services (
    service_id   text PRIMARY KEY,
    compute_kind text NOT NULL
);

-- drift -----------------------------------------------------------------------------------
CREATE TABLE drift_view (
    finding_id     text        PRIMARY KEY,
    environment_id text        NOT NULL,
    service_id     text,
    resource       text,
    tenant_id      text        NOT NULL DEFAULT '',
    class          text        NOT NULL,
    status         text        NOT NULL,
    desired        text,
    observed       text,
    detected_at    timestamptz NOT NULL,
    closed_at      timestamptz,
    last_sequence  bigint      NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX drift_view_env_status_class ON drift_view (environment_id, status, class);

-- health ----------------------------------------------------------------------------------
CREATE TABLE health_view (
    health_id      text        PRIMARY KEY,
    service_id     text        NOT NULL,
    environment_id text        NOT NULL,
    tenant_id      text        NOT NULL DEFAULT '',
    status         text        NOT NULL,
    since          timestamptz NOT NULL,
    open_incident  integer,
    last_sequence  bigint      NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX health_view_target ON health_view (service_id, environment_id, tenant_id);

CREATE TABLE health_history (
    global_position bigint      PRIMARY KEY,
    health_id       text        NOT NULL,
    from_status     text        NOT NULL,
    to_status       text        NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX health_history_by_health ON health_history (health_id, at);

-- deployments -----------------------------------------------------------------------------
CREATE TABLE deployment_history (
    deployment_id   text        PRIMARY KEY,
    service_id      text        NOT NULL,
    environment_id  text        NOT NULL,
    tenant_id       text        NOT NULL DEFAULT '',
    version         text        NOT NULL,
    digest          text        NOT NULL,
    strategy        text        NOT NULL,
    status          text        NOT NULL,
    -- the deployment this one undoes (a rollback by re-deployment)
    rollback_of     text,
    -- the known-good deployment this one rolled back to
    rollback_target text,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    last_sequence   bigint      NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX deployment_history_service_env ON deployment_history (service_id, environment_id, started_at);

-- audit -----------------------------------------------------------------------------------
CREATE TABLE audit_log (
    global_position bigint      PRIMARY KEY,
    transaction_id  bigint      NOT NULL,
    event_id        uuid,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL,
    event_type      text        NOT NULL,
    tenant_id       text,
    actor           text,
    trace_id        text,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, recorded_at);
CREATE INDEX audit_log_actor ON audit_log (actor, recorded_at);
CREATE INDEX audit_log_type ON audit_log (event_type, recorded_at);
CREATE INDEX audit_log_time ON audit_log (recorded_at);
CREATE INDEX audit_log_trace ON audit_log (trace_id, global_position);
