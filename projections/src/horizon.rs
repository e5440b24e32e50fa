//! What holds the log's readers back when nothing is wrong with them: the xmin horizon.
//!
//! Readers apply only events of transactions older than the oldest one still open in the
//! cluster (see [`crate::reader`]); that is what keeps them gap-free. The price: one
//! transaction left open anywhere in the cluster (another database included, e.g. a `psql`
//! session that ran `BEGIN; UPDATE ...` and went to lunch) stops every projection and reactor
//! at the events committed after it started. Their lag then grows though they are healthy.
//! This module says so, and names the transaction, so that `/metrics` and GraphQL report a
//! stall with its cause instead of a projector that merely looks slow.

use std::time::Duration;

use sqlx::PgConnection;

/// How long events may be held before readers count as stalled: a write transaction of the
/// platform's own lasts milliseconds, so seconds mean a transaction of something else.
pub const STALL_AFTER: Duration = Duration::from_secs(5);

/// An open transaction that holds the horizon back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HorizonHolder {
    /// Its server process id (`pg_terminate_backend` takes it); `None` for a prepared
    /// (two-phase) transaction, which belongs to no session.
    pub pid: Option<i32>,
    /// The database it runs in (any database of the cluster holds the horizon).
    pub database: Option<String>,
    /// Its `application_name`, or the global id of a prepared transaction.
    pub application: Option<String>,
    /// Its session state (`idle in transaction`, `active`, ...), when it has a session.
    pub state: Option<String>,
    /// How long the transaction has been open, in milliseconds.
    pub open_ms: i64,
}

/// Committed events that no reader may apply yet, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HorizonHold {
    /// Committed events newer than the horizon.
    pub held_events: i64,
    /// Age of the oldest of them, in milliseconds (0 when none): how long readers have been held.
    pub held_ms: i64,
    /// The oldest transaction with a transaction id still open, when events are held and the
    /// database role may see it (naming another role's session needs `pg_read_all_stats`,
    /// e.g. through `pg_monitor`; without it the count and the age are still exact).
    pub holder: Option<HorizonHolder>,
}

impl HorizonHold {
    /// Whether readers are stalled: events held for at least [`STALL_AFTER`].
    pub fn stalled(&self) -> bool {
        self.held_ms >= STALL_AFTER.as_millis() as i64
    }
}

/// Reads the hold: the events committed past the horizon (an index range on
/// `(transaction_id, global_position)`, as the readers use), and, only when there are some,
/// the oldest open transaction of the cluster, from `pg_stat_activity` or `pg_prepared_xacts`.
pub async fn hold(conn: &mut PgConnection) -> Result<HorizonHold, sqlx::Error> {
    let (held_events, held_ms): (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE((extract(epoch FROM now() - min(recorded_at)) * 1000)::bigint, 0) \
           FROM events WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())",
    )
    .fetch_one(&mut *conn)
    .await?;
    if held_events == 0 {
        return Ok(HorizonHold::default());
    }
    // Oldest first by transaction id age: that is the one the horizon stands on. This
    // session's own read has no transaction id, so it never names itself.
    let holder: Option<(Option<i32>, Option<String>, Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT pid, database, application, state, open_ms FROM ( \
           SELECT pid, datname::text AS database, application_name AS application, state, \
                  (extract(epoch FROM now() - xact_start) * 1000)::bigint AS open_ms, age(backend_xid) AS age \
             FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() \
           UNION ALL \
           SELECT NULL, database::text, gid, NULL, (extract(epoch FROM now() - prepared) * 1000)::bigint, age(transaction) \
             FROM pg_prepared_xacts \
         ) open ORDER BY age DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let holder = holder.map(|(pid, database, application, state, open_ms)| HorizonHolder {
        pid,
        database,
        application,
        state,
        open_ms: open_ms.max(0),
    });
    Ok(HorizonHold { held_events, held_ms: held_ms.max(0), holder })
}
