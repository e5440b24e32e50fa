//! Control loops that run by the clock rather than by the log: each round compares what should
//! be with what is observed (deployments verifying against their probe samples, declared
//! probes against the workloads' answers, desired state against reported state) and acts
//! through the bus.
//!
//! Like the reactors, one replica leads each loop (its [`Lease`]) and every command of a round
//! goes through the bus fenced by that lease, so a deposed leader's late command is refused.
//! A loop's decisions are derived from stored observations and aggregates only, never from
//! memory of earlier rounds, so a new leader picks up exactly where the old one stood. Runs,
//! actions and failures are counted in `worker_runs` for every replica to see.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::{CommandBus, CommandError, Fence};
use sqlx::PgPool;
use tokio::sync::{watch, Notify};

use crate::error::ReactorError;
use crate::lease::{self, Lease, LeaseStatus};

/// What a loop's round may use: the bus fenced by the loop's lease, and a way to learn, before
/// a slow step, whether this replica still leads.
pub struct Round<'a> {
    /// The bus, fenced by the lease this round runs under.
    pub bus: CommandBus,
    lease: &'a Lease,
    fence: Fence,
    actions: AtomicI64,
}

impl Round<'_> {
    /// Whether this replica still leads (renews the lease when a third of it passed). A round
    /// that does slow work (probing endpoints) asks between steps.
    pub async fn still_leading(&self) -> Result<bool, ReactorError> {
        Ok(self.lease.hold().await?.as_ref() == Some(&self.fence))
    }

    /// Counts one command the round issued (for `worker_runs.actions`).
    pub fn acted(&self) {
        self.actions.fetch_add(1, Ordering::Relaxed);
    }
}

/// A loop run by the clock.
#[async_trait]
pub trait Periodic: Send + Sync + 'static {
    /// Stable name, the key of its lease and of its actor (`worker:<name>`).
    fn name(&self) -> &'static str;
    /// The pause between two rounds.
    fn interval(&self) -> Duration;
    /// One round, as the leader. An error counts as a failed round; the next one retries.
    async fn round(&self, round: &Round<'_>) -> Result<(), ReactorError>;
    /// What else starts a round before the interval is over (e.g. a report arrived).
    fn wake(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// Drives one [`Periodic`] loop.
#[derive(Clone)]
pub struct LoopRunner {
    pool: PgPool,
    bus: CommandBus,
    job: Arc<dyn Periodic>,
    replica: Arc<str>,
    lease: Arc<Lease>,
    last_round: Arc<AtomicI64>,
    wake: Arc<Notify>,
}

/// Where one loop stands.
#[derive(Debug, Clone)]
pub struct LoopStatus {
    /// The loop's name.
    pub name: String,
    /// Rounds run, all replicas together.
    pub runs: i64,
    /// Commands issued, all replicas together.
    pub actions: i64,
    /// Failed rounds.
    pub errors: i64,
    /// The last failure's message and time.
    pub last_error: Option<(String, DateTime<Utc>)>,
    /// The last round (of any replica) and the replica that ran it.
    pub last_run: Option<(String, DateTime<Utc>)>,
    /// Who leads the loop.
    pub leader: Option<LeaseStatus>,
    /// This replica's last round as leader.
    pub last_round_here: Option<DateTime<Utc>>,
}

impl LoopRunner {
    /// A runner of `job` as this process's replica.
    pub fn new(pool: PgPool, bus: CommandBus, job: Arc<dyn Periodic>) -> Self {
        Self::for_replica(pool, bus, job, &crate::reactor::replica_name(), lease::DEFAULT_TTL)
    }

    /// A runner of `job` as replica `replica` with a lease of `ttl`.
    pub fn for_replica(pool: PgPool, bus: CommandBus, job: Arc<dyn Periodic>, replica: &str, ttl: Duration) -> Self {
        let lease = Arc::new(Lease::new(pool.clone(), job.name(), replica, ttl));
        Self {
            pool,
            bus,
            job,
            replica: replica.into(),
            lease,
            last_round: Arc::new(AtomicI64::new(0)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The loop's name.
    pub fn name(&self) -> &'static str {
        self.job.name()
    }

    /// The replica this runner acts as.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The lease this runner acts under.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Wakes the loop for a round now (e.g. when a report arrived).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Registers the loop's row in `worker_runs`.
    pub async fn prepare(&self) -> Result<(), ReactorError> {
        sqlx::query("INSERT INTO worker_runs (worker) VALUES ($1) ON CONFLICT (worker) DO NOTHING")
            .bind(self.name())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Runs one round if this replica leads; returns the commands it issued (`None`: another
    /// replica leads, or this one was deposed during the round).
    pub async fn run_once(&self) -> Result<Option<i64>, ReactorError> {
        let Some(fence) = self.lease.hold().await? else {
            return Ok(None);
        };
        let round = Round { bus: self.bus.fenced(fence.clone()), lease: &self.lease, fence: fence.clone(), actions: 0.into() };
        let now = Utc::now();
        self.last_round.store(now.timestamp_millis(), Ordering::Relaxed);
        metrics::gauge!("worker_last_round_timestamp_seconds", "worker" => self.name())
            .set(now.timestamp_millis() as f64 / 1000.0);
        let result = self.job.round(&round).await;
        let actions = round.actions.load(Ordering::Relaxed);
        metrics::counter!("worker_actions_total", "worker" => self.name()).increment(actions as u64);
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE worker_runs SET runs = runs + 1, actions = actions + $2, last_run_at = now(), \
                        last_replica = $3 WHERE worker = $1",
                )
                .bind(self.name())
                .bind(actions)
                .bind(&*self.replica)
                .execute(&self.pool)
                .await?;
                Ok(Some(actions))
            }
            Err(ReactorError::Command(CommandError::Fenced(_))) => {
                self.lease.forget();
                tracing::info!(worker = self.name(), %fence, "deposed during a round; leaving it to the leader");
                Ok(None)
            }
            Err(err) => {
                metrics::counter!("worker_errors_total", "worker" => self.name()).increment(1);
                sqlx::query(
                    "UPDATE worker_runs SET runs = runs + 1, actions = actions + $2, errors = errors + 1, \
                        last_error = $3, last_error_at = now(), last_run_at = now(), last_replica = $4 \
                      WHERE worker = $1",
                )
                .bind(self.name())
                .bind(actions)
                .bind(err.to_string())
                .bind(&*self.replica)
                .execute(&self.pool)
                .await?;
                Err(err)
            }
        }
    }

    /// Where the loop stands.
    pub async fn status(&self) -> Result<LoopStatus, ReactorError> {
        type Row = (i64, i64, i64, Option<String>, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>);
        let (runs, actions, errors, last_error, last_error_at, last_run_at, last_replica): Row = sqlx::query_as(
            "SELECT runs, actions, errors, last_error, last_error_at, last_run_at, last_replica \
               FROM worker_runs WHERE worker = $1",
        )
        .bind(self.name())
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or((0, 0, 0, None, None, None, None));
        let round = self.last_round.load(Ordering::Relaxed);
        Ok(LoopStatus {
            name: self.name().to_owned(),
            runs,
            actions,
            errors,
            last_error: last_error.zip(last_error_at),
            last_run: last_replica.zip(last_run_at),
            leader: lease::lease_of(&self.pool, self.name()).await?,
            last_round_here: (round > 0).then(|| DateTime::from_timestamp_millis(round)).flatten(),
        })
    }

    /// Runs rounds until `shutdown` turns true: one per interval (or sooner when woken);
    /// a failed round is logged and the next one retries, after a doubling pause (at most
    /// 10 s). Releases the lease at the end.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::ZERO;
        let external = self.job.wake();
        while !*shutdown.borrow() {
            let pause = match self.run_once().await {
                Ok(_) => {
                    backoff = Duration::ZERO;
                    self.job.interval()
                }
                Err(err) => {
                    tracing::warn!(worker = self.name(), error = %err, "round failed; retrying");
                    backoff = (backoff * 2).clamp(self.job.interval(), Duration::from_secs(10));
                    backoff
                }
            };
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = self.wake.notified() => {}
                _ = async {
                    match &external {
                        Some(notify) => notify.notified().await,
                        None => std::future::pending().await,
                    }
                } => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        if let Err(err) = self.lease.release().await {
            tracing::warn!(worker = self.name(), error = %err, "could not release the lease");
        }
    }
}
