//! The gap-free read of the global log.
//!
//! Positions are taken at insert time, not at commit: transaction X may take positions 5 and
//! 8 while Y takes 7, and X may commit first. Reading "position > checkpoint" would then skip
//! 7 forever. So a reader (1) reads only rows of transactions older than the oldest one still
//! running, `pg_snapshot_xmin(pg_current_snapshot())`, which can no longer change, and (2) walks
//! `(transaction_id, global_position)` in order and checkpoints that pair. An aborted
//! transaction leaves no rows, so it leaves no hole to wait for either.

use commands::log::{LogPosition, RecordedEvent, RECORDED_EVENT_COLUMNS};
use sqlx::{FromRow, PgConnection, Row};

/// Which events a reader wants delivered; the others are skipped inside the database, so a
/// projector pays neither the transfer nor the JSON decoding of events it ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interest {
    /// Every event (the audit log).
    #[default]
    All,
    /// Events of these aggregate types.
    AggregateTypes(&'static [&'static str]),
    /// Events of these event types.
    EventTypes(&'static [&'static str]),
}

/// What one filtered read saw.
#[derive(Debug, Default)]
pub struct Batch {
    /// The wanted events, in log order.
    pub events: Vec<RecordedEvent>,
    /// How far the read looked: a checkpoint may move here even when it delivered nothing,
    /// because every final event before it was either delivered or not wanted. `None`: the
    /// log held nothing new.
    pub scanned_to: Option<LogPosition>,
}

/// At most `limit` final events after `after`, in log order.
pub async fn read_after(
    conn: &mut PgConnection,
    after: LogPosition,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    sqlx::query_as(&read_query())
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// At most `limit` wanted events after `after`, and how far the read looked.
///
/// When fewer than `limit` events are wanted, the read saw every final event after `after`,
/// so `scanned_to` is the newest final event, taken in the same statement (the same snapshot,
/// hence the same `xmin` horizon) as the events: a checkpoint moved there skips nothing.
pub async fn read_wanted(
    conn: &mut PgConnection,
    after: LogPosition,
    limit: i64,
    interest: Interest,
) -> Result<Batch, sqlx::Error> {
    let (aggregate_types, event_types) = match interest {
        Interest::All => {
            let events = read_after(conn, after, limit).await?;
            let scanned_to = events.last().map(RecordedEvent::position);
            return Ok(Batch { events, scanned_to });
        }
        Interest::AggregateTypes(types) => (Some(types), None),
        Interest::EventTypes(types) => (None, Some(types)),
    };
    let rows = sqlx::query(&wanted_query())
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .bind(limit)
        .bind(aggregate_types)
        .bind(event_types)
        .fetch_all(conn)
        .await?;
    let mut batch = Batch::default();
    for row in &rows {
        if let (Some(xid), Some(pos)) = (row.try_get::<Option<i64>, _>("head_xid")?, row.try_get("head_pos")?) {
            batch.scanned_to = Some(LogPosition { transaction_id: xid, global_position: pos });
        }
        if row.try_get::<Option<i64>, _>("global_position")?.is_some() {
            batch.events.push(RecordedEvent::from_row(row)?);
        }
    }
    // UNION ALL keeps each branch's order in practice; sorting makes it a guarantee.
    batch.events.sort_by_key(RecordedEvent::position);
    if batch.events.len() as i64 >= limit {
        // Full: more wanted events may follow; resume after the last one delivered.
        batch.scanned_to = batch.events.last().map(RecordedEvent::position);
    }
    Ok(batch)
}

/// The wanted events and, on one extra row, the newest final event (the head). The head row
/// comes even when no event is wanted, so the checkpoint can still move past ignored events.
fn wanted_query() -> String {
    format!(
        "WITH wanted AS ( \
           SELECT {RECORDED_EVENT_COLUMNS}, NULL::bigint AS head_xid, NULL::bigint AS head_pos FROM events \
            WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
              AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
              AND ($4::text[] IS NULL OR aggregate_type = ANY($4)) \
              AND ($5::text[] IS NULL OR event_type = ANY($5)) \
            ORDER BY events.transaction_id, events.global_position \
            LIMIT $3 \
         ), head AS ( \
           SELECT transaction_id::text::bigint AS head_xid, global_position AS head_pos FROM events \
            WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
              AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
            ORDER BY events.transaction_id DESC, events.global_position DESC LIMIT 1 \
         ) \
         SELECT * FROM wanted \
         UNION ALL \
         SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, head_xid, head_pos FROM head"
    )
}

/// How many events of the log `interest` wants (a rebuild's total, for progress bars).
pub async fn count_wanted(conn: &mut PgConnection, interest: Interest) -> Result<u64, sqlx::Error> {
    let (aggregate_types, event_types) = match interest {
        Interest::All => (None, None),
        Interest::AggregateTypes(types) => (Some(types), None),
        Interest::EventTypes(types) => (None, Some(types)),
    };
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE ($1::text[] IS NULL OR aggregate_type = ANY($1)) \
            AND ($2::text[] IS NULL OR event_type = ANY($2))",
    )
    .bind(aggregate_types)
    .bind(event_types)
    .fetch_one(conn)
    .await?;
    Ok(n as u64)
}

/// Ordered by the table's columns (`events.`): the selected `transaction_id` is cast to
/// bigint, and an unqualified ORDER BY would sort by that output column, bypassing the
/// `(transaction_id, global_position)` index for a sequential scan and a sort.
fn read_query() -> String {
    format!(
        "SELECT {RECORDED_EVENT_COLUMNS} FROM events \
          WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
          ORDER BY events.transaction_id, events.global_position \
          LIMIT $3"
    )
}

/// The position of the newest final event (the head a caught-up reader stands at).
pub async fn head(conn: &mut PgConnection) -> Result<LogPosition, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
          WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
          ORDER BY events.transaction_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or(LogPosition::START, |(t, p)| LogPosition { transaction_id: t, global_position: p }))
}

/// The position of the newest committed event, final or not: the target a caller waits for
/// to read its own writes.
pub async fn latest(conn: &mut PgConnection) -> Result<LogPosition, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
          ORDER BY events.transaction_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or(LogPosition::START, |(t, p)| LogPosition { transaction_id: t, global_position: p }))
}

/// How far behind a follower is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lag {
    /// Committed events after its position.
    pub events: i64,
    /// Age of the oldest of them in milliseconds (0 when none).
    pub ms: i64,
    /// How many of them no reader may apply yet, because an older transaction of the cluster
    /// is still open (see [`crate::horizon`]): when `held == events`, the follower is not
    /// slow, it is held.
    pub held: i64,
}

/// How far behind a follower at `position` is. Counts every event, wanted or not; read by
/// status queries only (it is linear in the lag).
pub async fn lag_after(conn: &mut PgConnection, position: LogPosition) -> Result<Lag, sqlx::Error> {
    let (events, ms, held): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE((extract(epoch FROM now() - min(recorded_at)) * 1000)::bigint, 0), \
                count(*) FILTER (WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())) \
           FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2)",
    )
    .bind(position.transaction_id.to_string())
    .bind(position.global_position)
    .fetch_one(conn)
    .await?;
    Ok(Lag { events, ms: ms.max(0), held })
}
