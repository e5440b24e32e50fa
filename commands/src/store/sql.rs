//! The statements of the hot path. Kept as constants so sqlx prepares each once per
//! connection and every later command is a single Bind/Execute round trip.
//!
//! Each is prepared once and run with a generic plan for the connection's life, so none may
//! depend on a table being small: every read of a growing table is an equality on its whole
//! primary key (or a primary-key prefix plus a range), never a join whose order the planner
//! picks from the table's size. See ARCHITECTURE.md, "How a command flows", step 6.

/// Snapshot (kind 0) and the events after it (kind 1), in one consistent read.
pub const LOAD: &str = "
WITH snap AS (
    SELECT last_sequence, current_snapshot, payload
      FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2
)
SELECT 0 AS kind, last_sequence AS sequence, current_snapshot, ''::text AS event_type,
       ''::text AS event_version, payload
  FROM snap
UNION ALL
SELECT 1, e.sequence, 0::bigint, e.event_type, e.event_version, e.payload
  FROM events e
 WHERE e.aggregate_type = $1 AND e.aggregate_id = $2
   AND e.sequence > COALESCE((SELECT last_sequence FROM snap), 0)
ORDER BY kind, sequence";

/// The stream up to a sequence, when a snapshot no longer deserializes.
pub const LOAD_EVENTS_ONLY: &str = "
SELECT sequence, event_type, event_version, payload FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence <= $3 ORDER BY sequence";

/// Like [`LOAD`], bounded by a version ($3) or an instant ($4): the snapshot only when it is
/// not past the bound.
pub const LOAD_AS_OF: &str = "
WITH bound AS (
    SELECT CASE WHEN $4::timestamptz IS NULL THEN $3::bigint
           ELSE (SELECT COALESCE(max(sequence), 0) FROM events
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND recorded_at <= $4::timestamptz)
           END AS v
), snap AS (
    SELECT last_sequence, current_snapshot, payload
      FROM snapshots, bound WHERE aggregate_type = $1 AND aggregate_id = $2 AND last_sequence <= bound.v
)
SELECT 0 AS kind, last_sequence AS sequence, current_snapshot, ''::text AS event_type,
       ''::text AS event_version, payload
  FROM snap
UNION ALL
SELECT 1, e.sequence, 0::bigint, e.event_type, e.event_version, e.payload
  FROM events e, bound
 WHERE e.aggregate_type = $1 AND e.aggregate_id = $2
   AND e.sequence > COALESCE((SELECT last_sequence FROM snap), 0) AND e.sequence <= bound.v
ORDER BY kind, sequence";

/// Events only: the common command (no snapshot due, no claim, no idempotency key). The
/// same columns and order as [`APPEND`], without the CTE machinery the server would
/// otherwise execute for nothing.
pub const APPEND_EVENTS: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
  FROM unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
       AS e(sequence, event_type, event_version, payload, metadata)
RETURNING sequence, global_position, transaction_id::text::bigint AS transaction_id, recorded_at";

/// Events, snapshot, claims and receipt in one statement (one implicit transaction). Any
/// unique violation aborts all of it; the constraint name says which rule was hit.
pub const APPEND: &str = "
WITH appended AS (
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
      FROM unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
           AS e(sequence, event_type, event_version, payload, metadata)
    RETURNING sequence, global_position, transaction_id::text::bigint AS transaction_id, recorded_at
), snapshot AS (
    INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
    SELECT $1, $2, $8, $9, $10::jsonb WHERE $10::jsonb IS NOT NULL
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
       SET last_sequence = EXCLUDED.last_sequence,
           current_snapshot = EXCLUDED.current_snapshot,
           payload = EXCLUDED.payload
), taken AS (
    INSERT INTO unique_claims (scope, key, aggregate_type, aggregate_id)
    SELECT c.scope, c.key, $1, $2 FROM unnest($11::text[], $12::text[]) AS c(scope, key)
), released AS (
    -- Runs on every append (a data-modifying CTE always does): the `cardinality` test is a
    -- one-time filter, so a command that releases nothing never opens the table. A release
    -- finds the owner's claims by `unique_claims_by_owner` (two equalities: the generic plan is
    -- an index scan from a few hundred claims on) and matches the pairs exactly in the filter.
    -- A join with the unnest let a generic plan made on an empty table scan the whole claims
    -- table for every command, forever.
    DELETE FROM unique_claims u
     WHERE cardinality($13::text[]) > 0
       AND u.aggregate_type = $1 AND u.aggregate_id = $2
       AND u.scope = ANY($13::text[]) AND u.key = ANY($14::text[])
       AND ROW(u.scope, u.key) = ANY (ARRAY(SELECT ROW(r.scope, r.key) FROM unnest($13::text[], $14::text[]) AS r(scope, key)))
), pointed AS (
    INSERT INTO unique_claims (scope, key, aggregate_type, aggregate_id)
    SELECT p.scope, p.key, $1, $2 FROM unnest($19::text[], $20::text[]) AS p(scope, key)
    ON CONFLICT (scope, key) DO UPDATE
       SET aggregate_type = EXCLUDED.aggregate_type, aggregate_id = EXCLUDED.aggregate_id, claimed_at = now()
), receipt AS (
    INSERT INTO command_receipts (scope, idempotency_key, aggregate_type, aggregate_id, command_type, first_sequence, last_sequence, input_hash)
    SELECT $15::text, $16::text, $1, $2, $17::text, $18, $8, $21::text WHERE $16::text IS NOT NULL
)
SELECT sequence, global_position, transaction_id, recorded_at FROM appended ORDER BY sequence";

/// The receipt of an idempotency key: what it was used for, and the fingerprint of the input.
pub const RECEIPT: &str = "
SELECT aggregate_type, aggregate_id, command_type, first_sequence, last_sequence, input_hash
  FROM command_receipts WHERE scope = $1 AND idempotency_key = $2";

/// Of the tables the command path reads, those whose statistics the bus refreshes (see
/// `CommandBus`): those whose statistics count fewer rows than `$1`
/// (never analyzed: -1), as quoted identifiers ready for an `ANALYZE` list.
pub const YOUNG_TABLES: &str = "SELECT quote_ident(relname) FROM pg_class \
     WHERE oid = ANY (ARRAY['unique_claims', 'command_receipts', 'snapshots', 'events']::regclass[]) \
       AND reltuples < $1 ORDER BY relname";
