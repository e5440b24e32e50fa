-- runtimeDiff reads only the workloads with a period boundary inside its window, in key order
-- (projections/src/inventory/diff.rs), in one of two ways:
-- * a narrow window: the boundaries inside it, from an index on each end of the periods
--   (index-only: the key is included);
-- * a wide window: a walk along the key-ordered index, testing each period's ends in the
--   index itself (so `valid_to` is included), by environment first or, for one tenant, by
--   tenant first.
DROP INDEX runtime_inventory_page;
CREATE INDEX runtime_inventory_page
    ON runtime_inventory (environment_id COLLATE "C", service_id COLLATE "C", tenant_id COLLATE "C", valid_from)
    INCLUDE (valid_to);
CREATE INDEX runtime_inventory_tenant_page
    ON runtime_inventory (tenant_id COLLATE "C", environment_id COLLATE "C", service_id COLLATE "C", valid_from)
    INCLUDE (valid_to);
CREATE INDEX runtime_inventory_started ON runtime_inventory (valid_from) INCLUDE (environment_id, service_id, tenant_id);
CREATE INDEX runtime_inventory_ended ON runtime_inventory (valid_to) INCLUDE (environment_id, service_id, tenant_id);
