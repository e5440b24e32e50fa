-- Bounded reads: every list a query returns is paged in SQL along an index, so a page costs
-- the same on an empty read model and on millions of rows.

-- runtimeInventory pages by (environment, service, tenant) in byte order: an ordered index
-- scan that stops after the page, whatever the size of the inventory.
CREATE INDEX runtime_inventory_page
    ON runtime_inventory (environment_id COLLATE "C", service_id COLLATE "C", tenant_id COLLATE "C", valid_from);

-- healthStatus { history } pages each record's changes newest first by log position.
CREATE INDEX health_history_by_health_position ON health_history (health_id, global_position);
