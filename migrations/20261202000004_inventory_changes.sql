-- Who changed what ran, and what else changed: every inventory period knows the event that
-- opened and the one that closed it, and, per attribute, the event that set the value it shows
-- (so `runtimeDiff` names the event of each change without replaying the log). Periods now
-- also carry the active configuration version and the replicas of the autoscaler's last
-- decision; a change of either ends the period and opens the next one. The inventory
-- projector's version changed, so it is rebuilt at start and fills every column.
ALTER TABLE runtime_inventory
    ADD COLUMN configuration_version  integer,
    ADD COLUMN replicas               integer,
    ADD COLUMN opened_event_id        uuid,
    ADD COLUMN closed_event_id        uuid,
    ADD COLUMN started_event_id       uuid,
    ADD COLUMN version_event_id       uuid,
    ADD COLUMN configuration_event_id uuid,
    ADD COLUMN replicas_event_id      uuid;

-- The workload (service, environment, tenant; '' = every tenant) a configuration or scaling
-- policy is for, by aggregate id: their later events name only the aggregate.
CREATE TABLE inventory_workload_targets (
    aggregate_id   text PRIMARY KEY,
    service_id     text NOT NULL,
    environment_id text NOT NULL,
    tenant_id      text NOT NULL
);

-- The latest configuration version and replicas of each workload, also while nothing of it
-- runs, so that the period a deployment opens starts with them.
CREATE TABLE inventory_workload_settings (
    service_id             text NOT NULL,
    environment_id         text NOT NULL,
    tenant_id              text NOT NULL,
    configuration_version  integer,
    configuration_event_id uuid,
    replicas               integer,
    replicas_event_id      uuid,
    PRIMARY KEY (service_id, environment_id, tenant_id)
);
