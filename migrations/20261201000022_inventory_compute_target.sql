-- runtimeInventory says where a workload runs in the environment's own terms: the name of the
-- environment's compute target of the service's compute kind when the period began. The
-- inventory projector's version changed, so it is rebuilt at start and fills both.
ALTER TABLE runtime_inventory ADD COLUMN compute_target text;

-- The compute targets each environment offers (name -> kind), kept by the inventory projector.
CREATE TABLE inventory_compute_targets (
    environment_id text NOT NULL,
    name           text NOT NULL,
    kind           text NOT NULL,
    PRIMARY KEY (environment_id, name)
);
