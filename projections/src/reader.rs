//! The gap-free read of the global log.
//!
//! Positions are taken at insert time, not at commit: transaction X may take positions 5 and
//! 8 while Y takes 7, and X may commit first. Reading "position > checkpoint" would then skip
//! 7 forever. So a reader (1) reads only rows of transactions older than the oldest one still
//! running, `pg_snapshot_xmin(pg_current_snapshot())`, which can no longer change, and (2) walks
//! `(transaction_id, global_position)` in order and checkpoints that pair. An aborted
//! transaction leaves no rows, so it leaves no hole to wait for either.

use commands::log::{LogPosition, RecordedEvent, RECORDED_EVENT_COLUMNS};
use sqlx::PgConnection;

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
