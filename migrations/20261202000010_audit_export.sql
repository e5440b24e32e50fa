-- The audit export (`GET /audit/export`) streams a time range in log order. It first finds the
-- transactions that range spans, min and max `transaction_id` over `recorded_at` in [from, to):
-- with this index that is an index-only scan of the range alone, never of the whole log. The
-- rows are then read in keyset batches along `audit_log_log_order`, bounded by those two
-- transactions (recorded_at is a transaction's start time, so it is not monotonic in log order
-- and cannot bound that scan by itself).
CREATE INDEX audit_log_time_log_order ON audit_log (recorded_at, transaction_id);
-- Its prefix was this index: every query that used it can use the new one, and each index is
-- one more write per event the audit projector applies.
DROP INDEX audit_log_time;
