//! A checkpointed follower of the global log that reacts to events with commands.
//!
//! Why not a projector: a projector writes only inside the runner's transaction, so a rolled
//! back batch leaves no trace; a reaction is a command, committed by the bus on its own. So the
//! runner here moves its checkpoint only after the reactions to the events before it returned,
//! and a crash in between makes it react again (at least once). Reactions are idempotent by
//! construction: they carry an idempotency key derived from the event they answer, and a
//! refusal by the domain (the state already moved on) counts as done.
//!
//! One replica reacts: the holder of the reactor's lease ([`crate::lease`]); the others skip
//! their rounds and take over when the lease expires (or is released at shutdown). Every
//! command of a batch is issued under the lease's fence, and the checkpoint moves only while
//! the fence holds, so a deposed leader can neither act nor move the checkpoint. Runners of
//! one process share the replica's lease; a transaction-scoped advisory lock
//! (`pg_try_advisory_xact_lock`) keeps their batches apart. The transaction writes only the
//! checkpoint, at its end, so it holds no transaction id while the reactions commit, and the
//! log readers' horizon is not held back by it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::log::{LogPosition, RecordedEvent};
use commands::{CommandBus, CommandError};
use projections::pace::Pace;
use projections::reader::{self, Interest};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::error::ReactorError;
use crate::lease::{self, Lease, LeaseStatus};

/// How long a quiet runner sleeps before looking at the log again, for commits of other
/// replicas (its own process's commits wake it at once).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The shortest pause between two rounds that found little to do.
pub const COALESCE: Duration = Duration::from_millis(50);

/// Something that answers events of the log with commands.
#[async_trait]
pub trait Reactor: Send + Sync + 'static {
    /// Stable name, the key of the checkpoint and of the worker's actor (`worker:<name>`).
    fn name(&self) -> &'static str;
    /// Which events the reactor reads; the others are skipped inside the database.
    fn interest(&self) -> Interest;
    /// Reacts to one event. `Ok` when the reaction is done or can never be done (the domain
    /// refused it: the state moved on); `Err` when it should be tried again.
    async fn react(&self, bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError>;
    /// Reacts to a whole batch at once, in log order (e.g. a relay publishing it
    /// concurrently); returns how many events, from the first, are done, and the failure that
    /// stopped the rest. `None` (the default): the runner hands the events one by one to
    /// [`Reactor::react`], checking the lease before each.
    async fn react_batch(&self, _bus: &CommandBus, _events: &[RecordedEvent]) -> Option<BatchOutcome> {
        None
    }
}

/// How far a batched reaction got.
#[derive(Debug)]
pub struct BatchOutcome {
    /// Events done, counted from the first of the batch.
    pub done: usize,
    /// What stopped the rest (`None`: all done).
    pub failure: Option<ReactorError>,
}

/// Drives one reactor over the log.
#[derive(Clone)]
pub struct ReactorRunner {
    pool: PgPool,
    bus: CommandBus,
    reactor: Arc<dyn Reactor>,
    batch_size: i64,
    /// This replica's name, recorded with the checkpoints it moves.
    replica: Arc<str>,
    /// Unix milliseconds of this replica's last round that held the reactor's lock (0: none).
    last_round: Arc<AtomicI64>,
    /// The reactor's lease, as this replica holds or seeks it.
    lease: Arc<Lease>,
    /// How far this replica scanned past unwanted events without writing the checkpoint.
    passed: Arc<projections::passed::PassedOver>,
}

/// Where one reactor stands, for GraphQL and operators.
#[derive(Debug, Clone)]
pub struct ReactorStatus {
    /// The reactor's name.
    pub name: String,
    /// Every wanted event up to here was reacted to.
    pub checkpoint: LogPosition,
    /// Events reacted to, all replicas together.
    pub events_handled: i64,
    /// Committed events past the checkpoint (of any type: the reactor may want none of them).
    pub lag_events: i64,
    /// Age of the oldest of them, in milliseconds.
    pub lag_ms: i64,
    /// Of `lag_events`, those held back by an open transaction elsewhere in the cluster (the
    /// xmin horizon, see `projections::horizon`), which the reactor may not read yet.
    pub held_events: i64,
    /// Failed rounds, all replicas together.
    pub errors: i64,
    /// The last failure's message and time.
    pub last_error: Option<(String, DateTime<Utc>)>,
    /// The replica that moved the checkpoint last, and when.
    pub last_moved_by: Option<(String, DateTime<Utc>)>,
    /// This replica's last round that held the lock.
    pub last_round_here: Option<DateTime<Utc>>,
    /// Who leads the reactor (holds its lease), with the epoch and expiry.
    pub leader: Option<LeaseStatus>,
}

/// This process's replica name: `$HOSTNAME` (a pod's name), the process id, and a random
/// suffix drawn once per process (a restarted container has the same host name and often
/// the same pid).
pub fn replica_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".to_owned());
        format!("{host}:{}:{:04x}", std::process::id(), rand::random::<u16>())
    })
    .clone()
}

impl ReactorRunner {
    /// A runner for `reactor`, reacting through `bus`, its checkpoint in `pool`.
    pub fn new(pool: PgPool, bus: CommandBus, reactor: Arc<dyn Reactor>) -> Self {
        Self::for_replica(pool, bus, reactor, &replica_name(), lease::DEFAULT_TTL)
    }

    /// A runner as replica `replica` with a lease lasting `ttl` (tests run several replicas
    /// in one process).
    pub fn for_replica(pool: PgPool, bus: CommandBus, reactor: Arc<dyn Reactor>, replica: &str, ttl: Duration) -> Self {
        let lease = Arc::new(Lease::new(pool.clone(), reactor.name(), replica, ttl));
        Self {
            pool,
            bus,
            reactor,
            batch_size: 100,
            replica: replica.into(),
            last_round: Arc::new(AtomicI64::new(0)),
            lease,
            passed: Arc::default(),
        }
    }

    /// This runner reading at most `events` events a round (default 100).
    pub fn with_batch_size(mut self, events: i64) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// The replica this runner acts as.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The lease this runner acts under.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Where the reactor stands: checkpoint, lag, failures, and who moved it last.
    pub async fn status(&self) -> Result<ReactorStatus, ReactorError> {
        type Row = (i64, i64, i64, i64, Option<String>, Option<DateTime<Utc>>, Option<String>, DateTime<Utc>);
        let mut conn = self.pool.acquire().await?;
        let (xid, pos, handled, errors, last_error, last_error_at, replica, updated_at): Row = sqlx::query_as(
            "SELECT transaction_id::text::bigint, global_position, events_handled, errors, last_error, last_error_at, \
                    last_replica, updated_at FROM reactor_checkpoints WHERE reactor = $1",
        )
        .bind(self.name())
        .fetch_one(&mut *conn)
        .await?;
        let stored = LogPosition { transaction_id: xid, global_position: pos };
        let checkpoint = self.passed.resume(stored);
        // A pass over unwanted events moves the checkpoint in memory: this replica moved it.
        let moved = match self.passed.moved_at(stored) {
            Some(at) => Some((self.replica.to_string(), at)),
            None => replica.map(|r| (r, updated_at)),
        };
        let lag = reader::lag_after(&mut conn, checkpoint).await?;
        let round = self.last_round.load(Ordering::Relaxed);
        let leader = lease::lease_of(&self.pool, self.name()).await?;
        Ok(ReactorStatus {
            leader,
            name: self.name().to_owned(),
            checkpoint,
            events_handled: handled,
            lag_events: lag.events,
            lag_ms: lag.ms,
            held_events: lag.held,
            errors,
            last_error: last_error.zip(last_error_at),
            last_moved_by: moved,
            last_round_here: (round > 0).then(|| DateTime::from_timestamp_millis(round)).flatten(),
        })
    }

    /// The reactor's name.
    pub fn name(&self) -> &'static str {
        self.reactor.name()
    }

    /// Registers the checkpoint if it is new. A new reactor starts at the beginning of the
    /// log: events written before it existed may still call for it.
    pub async fn prepare(&self) -> Result<(), ReactorError> {
        sqlx::query("INSERT INTO reactor_checkpoints (reactor) VALUES ($1) ON CONFLICT (reactor) DO NOTHING")
            .bind(self.name())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Where the reactor stands: every wanted event up to here was reacted to (past the stored
    /// checkpoint, the unwanted events this replica scanned).
    pub async fn checkpoint(&self) -> Result<LogPosition, ReactorError> {
        let (xid, pos): (i64, i64) = sqlx::query_as(
            "SELECT transaction_id::text::bigint, global_position FROM reactor_checkpoints WHERE reactor = $1",
        )
        .bind(self.name())
        .fetch_one(&self.pool)
        .await?;
        Ok(self.passed.resume(LogPosition { transaction_id: xid, global_position: pos }))
    }

    /// Reacts to the next batch; returns how many events it reacted to (0: caught up, or
    /// another replica leads the reactor, or this one was deposed during the batch). A failed
    /// reaction leaves the checkpoint just before it, after the ones that succeeded.
    pub async fn step(&self) -> Result<usize, ReactorError> {
        self.step_locked(false).await
    }

    /// [`ReactorRunner::step`]; with `wait`, waits for another runner of this replica to end
    /// its batch instead of skipping the round.
    async fn step_locked(&self, wait: bool) -> Result<usize, ReactorError> {
        let Some(fence) = self.lease.hold().await? else {
            return Ok(0);
        };
        let bus = self.bus.fenced(fence.clone());
        let mut tx = self.pool.begin().await?;
        let lock = if wait {
            "SELECT true FROM (SELECT pg_advisory_xact_lock(hashtextextended('reactor:' || $1, 0))) AS l"
        } else {
            "SELECT pg_try_advisory_xact_lock(hashtextextended('reactor:' || $1, 0))"
        };
        let held: bool = sqlx::query_scalar(lock).bind(self.name()).fetch_one(&mut *tx).await?;
        if !held {
            return Ok(0);
        }
        let now = Utc::now();
        self.last_round.store(now.timestamp_millis(), Ordering::Relaxed);
        metrics::gauge!("reactor_last_round_timestamp_seconds", "reactor" => self.name())
            .set(now.timestamp_millis() as f64 / 1000.0);
        let (xid, pos): (i64, i64) = sqlx::query_as(
            "SELECT transaction_id::text::bigint, global_position FROM reactor_checkpoints WHERE reactor = $1",
        )
        .bind(self.name())
        .fetch_one(&mut *tx)
        .await?;
        let stored = LogPosition { transaction_id: xid, global_position: pos };
        let after = self.passed.resume(stored);
        let batch = reader::read_wanted(&mut tx, after, self.batch_size, self.reactor.interest()).await?;
        let Some(scanned_to) = batch.scanned_to.filter(|p| *p > after) else {
            return Ok(0);
        };
        if batch.events.is_empty() && !self.passed.pass(stored, scanned_to) {
            // Nothing wanted: remembered, not written (see `projections::passed`).
            return Ok(0);
        }
        let mut reached = after;
        let mut failure = None;
        if let Some(outcome) = self.reactor.react_batch(&bus, &batch.events).await {
            if let Some(last) = outcome.done.checked_sub(1).and_then(|i| batch.events.get(i)) {
                reached = last.position();
            }
            failure = outcome.failure;
            if matches!(failure, Some(ReactorError::Command(CommandError::Fenced(_)))) {
                return Ok(self.step_down(&fence, "deposed during a batch"));
            }
        } else {
            for event in &batch.events {
                // A long batch keeps its lease: renewed here when a third of it passed (no
                // round trip before that). A lease lost meanwhile ends the batch as a refused
                // command would.
                if self.lease.hold().await?.as_ref() != Some(&fence) {
                    return Ok(self.step_down(&fence, "lost the lease during a batch"));
                }
                match self.reactor.react(&bus, event).await {
                    Ok(()) => reached = event.position(),
                    Err(ReactorError::Command(CommandError::Fenced(_))) => {
                        // Deposed mid-batch: the new leader reacts from the checkpoint, which
                        // this replica can no longer move either.
                        return Ok(self.step_down(&fence, "deposed during a batch"));
                    }
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
        }
        let handled = batch.events.iter().filter(|e| e.position() <= reached).count();
        if failure.is_none() {
            reached = scanned_to;
        }
        if reached > after {
            // Only under the lease: a deposed leader's checkpoint would skip or repeat the
            // new leader's work. The share lock keeps a takeover out until this commits.
            if !fence.holds(&mut tx).await? {
                return Ok(self.step_down(&fence, "deposed before moving the checkpoint"));
            }
            sqlx::query(
                "UPDATE reactor_checkpoints SET transaction_id = $2::text::xid8, global_position = $3, \
                    events_handled = events_handled + $4, updated_at = now(), last_replica = $5 WHERE reactor = $1",
            )
            .bind(self.name())
            .bind(reached.transaction_id.to_string())
            .bind(reached.global_position)
            .bind(handled as i64)
            .bind(&*self.replica)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        metrics::counter!("reactor_events_total", "reactor" => self.name()).increment(handled as u64);
        match failure {
            Some(err) => {
                metrics::counter!("reactor_errors_total", "reactor" => self.name()).increment(1);
                // Counted for every replica to see; the retry does not wait for it.
                let recorded = sqlx::query(
                    "UPDATE reactor_checkpoints SET errors = errors + 1, last_error = $2, last_error_at = now() \
                      WHERE reactor = $1",
                )
                .bind(self.name())
                .bind(err.to_string())
                .execute(&self.pool)
                .await;
                if let Err(e) = recorded {
                    tracing::warn!(reactor = self.name(), error = %e, "could not record a reaction's failure");
                }
                Err(err)
            }
            None => Ok(handled),
        }
    }

    /// Ends a batch this replica may no longer finish (its transaction rolls back, the
    /// checkpoint stays): the lease is asked again next round. Nothing was reacted to here.
    fn step_down(&self, fence: &commands::Fence, why: &str) -> usize {
        self.lease.forget();
        tracing::info!(reactor = self.name(), %fence, why, "leaving the batch to the leader");
        0
    }

    /// Reacts until no final event is left (waiting out another replica's batch, so that
    /// everything final when it returns was reacted to); returns how many events it reacted to.
    pub async fn catch_up(&self) -> Result<u64, ReactorError> {
        let mut total = 0;
        loop {
            match self.step_locked(true).await? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    }

    /// Reacts until the checkpoint reaches `target` (e.g. the newest committed event), or
    /// `timeout` passes; returns how many events it reacted to and whether it got there.
    /// Events of transactions still running anywhere in the cluster are not final yet, so this
    /// may take more than one round.
    pub async fn catch_up_to(&self, target: LogPosition, timeout: Duration) -> Result<(u64, bool), ReactorError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut total = 0;
        loop {
            total += self.catch_up().await?;
            if self.checkpoint().await? >= target {
                return Ok((total, true));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok((total, false));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs until `shutdown` turns true: reacts to what is new, then sleeps until this
    /// process commits (`wake`) or [`POLL_INTERVAL`] passes; rounds start at most once per
    /// [`COALESCE`] unless the last one was full. Failures are logged and retried with a
    /// doubling pause (at most 10 s).
    pub async fn run(self, mut wake: watch::Receiver<LogPosition>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        // Under load every commit wakes the runner: a round per COALESCE at most, as the
        // projection runners do, so a reactor costs a transaction per interval, not per commit.
        let mut pace = Pace::new(COALESCE);
        while !*shutdown.borrow() {
            if !pace.ready(&mut shutdown).await {
                continue;
            }
            match self.step().await {
                Ok(n) if n as i64 >= self.batch_size => {
                    backoff = Duration::from_millis(100);
                    pace.hurry();
                }
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        _ = wake.changed() => {}
                        _ = shutdown.changed() => {}
                        _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
                Err(err) => {
                    tracing::warn!(reactor = self.name(), error = %err, "reaction failed; retrying");
                    tokio::select! {
                        _ = shutdown.changed() => {}
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        // Hand over at once instead of after the expiry.
        if let Err(err) = self.lease.release().await {
            tracing::warn!(reactor = self.name(), error = %err, "could not release the lease");
        }
    }
}
