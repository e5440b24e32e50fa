-- Events belong to the tenant of their aggregate, never to the caller's.
--
-- Until now the bus stamped `metadata.tenant_id` with the tenant of whoever sent the command:
-- an operator acting with no tenant wrote contoso's events with no tenant (so every tenant
-- saw them as platform events), and a caller with a tenant header stamped platform-wide
-- environments with its own tenant. From now on the bus stamps the owning aggregate's tenant
-- and records the caller's as `acting_tenant_id`; this migration corrects the rows already
-- written the old way.
--
-- An aggregate's tenant is fixed by the event that created it (sequence 1): the `tenant`
-- field of its payload, at whatever depth (`DeploymentStarted.tenant`,
-- `HealthTracked.target.tenant`, ...). Environments and services are platform-wide and have
-- none. `tests/integration/ownership.rs` checks this rule against the domain's own
-- `owner_tenant()` for all nine aggregate types, re-running this file on rows it writes the
-- old way (so this file holds this one idempotent statement and nothing else).
WITH owners AS (
    SELECT aggregate_type, aggregate_id,
           CASE WHEN aggregate_type IN ('RuntimeEnvironment', 'RuntimeService') THEN NULL
                ELSE jsonb_path_query_first(payload, 'strict $.**.tenant') #>> '{}'
           END AS owner
      FROM events
     WHERE sequence = 1
)
UPDATE events e
   SET metadata = CASE WHEN o.owner IS NULL THEN e.metadata - 'tenant_id'
                       ELSE jsonb_set(e.metadata, '{tenant_id}', to_jsonb(o.owner)) END
                  || CASE WHEN e.metadata ? 'tenant_id' AND NOT e.metadata ? 'acting_tenant_id'
                          THEN jsonb_build_object('acting_tenant_id', e.metadata -> 'tenant_id')
                          ELSE '{}'::jsonb END
  FROM owners o
 WHERE e.aggregate_type = o.aggregate_type AND e.aggregate_id = o.aggregate_id
   AND (e.metadata ->> 'tenant_id') IS DISTINCT FROM o.owner;
