//! Fencing: a worker's command is written only while the worker's lease is the one it was
//! issued under.
//!
//! A loop runs on one replica at a time, the holder of its lease (`worker_leases`, kept by
//! `workers::lease`). A holder can be deposed without knowing it: paused by the scheduler or
//! a long garbage collection, cut off from the database, its lease expired and taken over. So
//! every command a loop issues carries the [`Fence`] it holds, and the append checks it in its
//! own transaction: the lease row must still name this holder and epoch and not have expired
//! (by the database's clock, the only clock every replica shares). The check locks the row
//! `FOR SHARE`, so a takeover (an `UPDATE` of the row) waits until the append has committed:
//! a command is either written while its lease held, or refused.

use sqlx::PgConnection;

/// The lease a worker's command is issued under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The worker (loop) the lease is for, e.g. `drift-remediation`.
    pub worker: String,
    /// The replica holding it.
    pub holder: String,
    /// Incremented by every change of holder: an older epoch is a deposed holder's.
    pub epoch: i64,
}

impl Fence {
    /// True while the lease is still this one and unexpired; locks the lease row `FOR SHARE`
    /// until the end of `conn`'s transaction, so that a takeover waits for it.
    pub async fn holds(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT epoch FROM worker_leases \
              WHERE worker = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp() \
                FOR SHARE",
        )
        .bind(&self.worker)
        .bind(&self.holder)
        .bind(self.epoch)
        .fetch_optional(conn)
        .await?;
        Ok(held.is_some())
    }
}

impl std::fmt::Display for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} lease epoch {} of {}", self.worker, self.epoch, self.holder)
    }
}
