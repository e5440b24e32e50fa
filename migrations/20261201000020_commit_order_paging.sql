-- Lists that a client tails page in the order their projector applied the rows, which is the
-- log's read order `(transaction_id, global_position)`: a projector only applies events of
-- ended transactions, in that order, so a row that appears later always sorts after every row
-- a client has already paged past. A bare position does not: it is taken at insert, and a
-- lower one may commit (and be applied) after a higher one.

-- auditLog: one row per event, already carrying the pair.
CREATE UNIQUE INDEX audit_log_log_order ON audit_log (transaction_id, global_position);

-- environments: the pair of the event that created the row. Filled here from the log; the
-- environments projector's version changed too, so it is rebuilt at start anyway.
ALTER TABLE environment_view ADD COLUMN created_transaction_id bigint NOT NULL DEFAULT 0;
UPDATE environment_view v SET created_transaction_id = e.transaction_id::text::bigint
  FROM events e
 WHERE e.aggregate_type = 'RuntimeEnvironment' AND e.aggregate_id = v.environment_id AND e.sequence = 1;
DROP INDEX environment_view_page;
DROP INDEX environment_view_stage_page;
CREATE UNIQUE INDEX environment_view_log_order ON environment_view (created_transaction_id, created_position);
CREATE INDEX environment_view_stage_log_order ON environment_view (stage, created_transaction_id, created_position);
