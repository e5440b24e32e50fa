//! One leader per worker across replicas: a lease in `worker_leases` with an expiry by the
//! database's clock and an epoch that every change of holder increments.
//!
//! Why a lease row and not an advisory lock: a session lock lives on one pooled connection,
//! and is lost (or leaked) when the pool recycles it, silently; a holder whose session the
//! server ended may go on believing it leads; poolers in transaction mode break session locks.
//! A lease is a row: it expires on its own when its holder stops renewing (crashed, paused,
//! partitioned), whatever happened to its connections, and every command the holder issues is
//! fenced by it ([`commands::fence`]): a holder that lost the lease cannot write, whatever it
//! believes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use commands::Fence;
use sqlx::PgPool;

/// How long a lease lasts without renewal: the longest a dead leader's loop stays idle
/// before another replica takes it over.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// The lease of one worker as this replica holds (or seeks) it.
pub struct Lease {
    pool: PgPool,
    worker: String,
    holder: String,
    ttl: Duration,
    /// The epoch held and when it was last confirmed by the database (local clock, only to
    /// skip renewals that are not due yet: the fence decides by the database's clock).
    held: Mutex<Option<(i64, Instant)>>,
}

/// Who holds a worker's lease, as the database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseStatus {
    /// The holding replica.
    pub holder: String,
    /// Its epoch.
    pub epoch: i64,
    /// Since when it holds it.
    pub acquired_at: DateTime<Utc>,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// The lease of `worker`, sought by replica `holder`, lasting `ttl` per renewal.
    pub fn new(pool: PgPool, worker: &str, holder: &str, ttl: Duration) -> Self {
        Self { pool, worker: worker.to_owned(), holder: holder.to_owned(), ttl, held: Mutex::new(None) }
    }

    /// The fence to issue commands under while this replica leads; `None` while another
    /// replica holds an unexpired lease. Renews the lease when a third of its time passed
    /// since the last confirmation, and takes it over when it is free or expired (a new
    /// epoch). A replica that finds the lease under its own name (another runner of this
    /// process) shares it, epoch unchanged.
    pub async fn hold(&self) -> Result<Option<Fence>, sqlx::Error> {
        let held = *self.held.lock().expect("lease state");
        if let Some((epoch, confirmed)) = held {
            if confirmed.elapsed() < self.ttl / 3 {
                return Ok(Some(self.fence(epoch)));
            }
            let asked = Instant::now();
            let renewed: Option<i64> = sqlx::query_scalar(
                "UPDATE worker_leases SET expires_at = clock_timestamp() + $4 \
                  WHERE worker = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp() \
                 RETURNING epoch",
            )
            .bind(&self.worker)
            .bind(&self.holder)
            .bind(epoch)
            .bind(self.ttl)
            .fetch_optional(&self.pool)
            .await?;
            if renewed.is_some() {
                *self.held.lock().expect("lease state") = Some((epoch, asked));
                return Ok(Some(self.fence(epoch)));
            }
            tracing::warn!(worker = %self.worker, epoch, "lost the lease");
            metrics::gauge!("worker_leader", "worker" => self.worker.clone()).set(0.0);
        }
        // A read first: a follower asks every round, and a write would take a transaction id
        // and the row's lock each time.
        let busy: Option<bool> = sqlx::query_scalar(
            "SELECT holder <> $2 AND expires_at > clock_timestamp() FROM worker_leases WHERE worker = $1",
        )
        .bind(&self.worker)
        .bind(&self.holder)
        .fetch_optional(&self.pool)
        .await?;
        if busy == Some(true) {
            *self.held.lock().expect("lease state") = None;
            return Ok(None);
        }
        let asked = Instant::now();
        let taken: Option<i64> = sqlx::query_scalar(
            "INSERT INTO worker_leases AS l (worker, holder, epoch, acquired_at, expires_at) \
             VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp() + $3) \
             ON CONFLICT (worker) DO UPDATE \
                SET holder = EXCLUDED.holder, \
                    epoch = CASE WHEN l.holder = EXCLUDED.holder THEN l.epoch ELSE l.epoch + 1 END, \
                    acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE EXCLUDED.acquired_at END, \
                    expires_at = EXCLUDED.expires_at \
              WHERE l.expires_at <= clock_timestamp() OR l.holder = EXCLUDED.holder \
             RETURNING epoch",
        )
        .bind(&self.worker)
        .bind(&self.holder)
        .bind(self.ttl)
        .fetch_optional(&self.pool)
        .await?;
        *self.held.lock().expect("lease state") = taken.map(|epoch| (epoch, asked));
        if let Some(epoch) = taken {
            if held.map(|(e, _)| e) != Some(epoch) {
                tracing::info!(worker = %self.worker, holder = %self.holder, epoch, "leading");
            }
            metrics::gauge!("worker_leader", "worker" => self.worker.clone()).set(1.0);
            metrics::gauge!("worker_lease_epoch", "worker" => self.worker.clone()).set(epoch as f64);
        }
        Ok(taken.map(|epoch| self.fence(epoch)))
    }

    /// Forgets the lease locally: the next [`Lease::hold`] asks the database again (after a
    /// command was refused as fenced).
    pub fn forget(&self) {
        *self.held.lock().expect("lease state") = None;
        metrics::gauge!("worker_leader", "worker" => self.worker.clone()).set(0.0);
    }

    /// Gives the lease up (at shutdown), so that another replica takes over at once instead of
    /// after the expiry.
    pub async fn release(&self) -> Result<(), sqlx::Error> {
        let held = self.held.lock().expect("lease state").take();
        if let Some((epoch, _)) = held {
            sqlx::query(
                "UPDATE worker_leases SET expires_at = clock_timestamp() WHERE worker = $1 AND holder = $2 AND epoch = $3",
            )
            .bind(&self.worker)
            .bind(&self.holder)
            .bind(epoch)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    fn fence(&self, epoch: i64) -> Fence {
        Fence { worker: self.worker.clone(), holder: self.holder.clone(), epoch }
    }
}

/// Who holds `worker`'s lease (`None`: nobody ever did).
pub async fn lease_of(pool: &PgPool, worker: &str) -> Result<Option<LeaseStatus>, sqlx::Error> {
    let row: Option<(String, i64, DateTime<Utc>, DateTime<Utc>)> =
        sqlx::query_as("SELECT holder, epoch, acquired_at, expires_at FROM worker_leases WHERE worker = $1")
            .bind(worker)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(holder, epoch, acquired_at, expires_at)| LeaseStatus { holder, epoch, acquired_at, expires_at }))
}
