-- The claims an aggregate holds, by owner. Releasing a claim (a deployment that finished, a
-- decommissioned environment, an offboarded tenant) matches the owner with two equalities, an
-- estimate the planner gets right at any size; matched by `= ANY` on the primary key only, a
-- generic plan kept a sequential scan until the table held several thousand claims.
CREATE INDEX unique_claims_by_owner ON unique_claims (aggregate_id, aggregate_type);
