//! Runs one projector over the global log.
//!
//! Each batch is one transaction: take the projector's advisory lock (so replicas never apply
//! the same batch twice), read the checkpoint, read the next final events after it, apply
//! them, and move the checkpoint. A crash or an error anywhere rolls the whole batch back, so
//! an event is applied exactly once. The advisory lock is used instead of `FOR UPDATE` on the
//! checkpoint row because a row lock would give the batch a transaction id before it reads,
//! and the batch's own id would then hold back the `xmin` horizon it reads up to.

use std::sync::Arc;
use std::time::Duration;

use commands::log::LogPosition;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

use crate::error::ProjectionError;
use crate::projector::Projector;
use crate::reader;

/// Events per batch (and per transaction), by default.
pub const DEFAULT_BATCH_SIZE: i64 = 500;
/// Events per batch while rebuilding into fresh tables (nobody waits on those batches).
pub const REBUILD_BATCH_SIZE: i64 = 5_000;
/// How often an idle runner looks for events written by other processes.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Least time between the starts of two batches (unless the first was full): under load, one
/// transaction per projector every 50 ms instead of one per commit (with seven projectors,
/// per-commit batches took half the write throughput on 2 cores, also for projectors that
/// wanted none of the events). A first event after a quiet spell is still applied at once.
pub const DEFAULT_COALESCE: Duration = Duration::from_millis(50);

/// Where a projection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    /// Projector name.
    pub name: String,
    /// Projector version the read model was built with.
    pub version: i32,
    /// Last event applied.
    pub checkpoint: LogPosition,
    /// Events applied since the last rebuild.
    pub events_applied: i64,
    /// Final events not applied yet.
    pub lag_events: i64,
    /// Age of the oldest event not applied yet, in milliseconds (0 when caught up).
    pub lag_ms: i64,
    /// Of `lag_events`, those held back by an open transaction elsewhere in the cluster (the
    /// xmin horizon, see [`crate::horizon`]), which no reader may apply yet.
    pub held_events: i64,
}

/// Drives one projector.
#[derive(Clone)]
pub struct ProjectionRunner {
    pool: PgPool,
    projector: Arc<dyn Projector>,
    batch_size: i64,
    /// The checkpoint as this process last saw it commit (its own batches, or another
    /// replica's seen at the start of a step): read-your-writes waiters watch it instead of
    /// polling the database. Shared by the clones of a runner.
    progress: Arc<watch::Sender<LogPosition>>,
    /// How far this process scanned past unwanted events without writing the checkpoint.
    passed: Arc<crate::passed::PassedOver>,
}

impl ProjectionRunner {
    /// A runner of `projector` over the log in `pool`.
    pub fn new(pool: PgPool, projector: Arc<dyn Projector>) -> Self {
        Self {
            pool,
            projector,
            batch_size: DEFAULT_BATCH_SIZE,
            progress: Arc::new(watch::channel(LogPosition::START).0),
            passed: Arc::default(),
        }
    }

    /// The checkpoint as last committed through this runner (or seen by it), updated after
    /// every batch commits: wait on it (e.g. `wait_for`) to read your writes without polling.
    /// It may lag the database's checkpoint by one poll interval when another replica applies
    /// the batches; read [`ProjectionRunner::checkpoint`] once before waiting.
    pub fn progress(&self) -> watch::Receiver<LogPosition> {
        self.progress.subscribe()
    }

    /// Publishes `checkpoint` (a committed one) to the waiters, waking them only on a change.
    fn publish(&self, checkpoint: LogPosition) {
        self.progress.send_if_modified(|seen| {
            let changed = *seen != checkpoint;
            *seen = checkpoint;
            changed
        });
    }

    /// Events per batch (at least 1).
    pub fn with_batch_size(mut self, batch_size: i64) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The projector's name.
    pub fn name(&self) -> &'static str {
        self.projector.name()
    }

    /// Takes the projector's lock for the transaction, and makes its commit asynchronous: a
    /// read model and its checkpoint commit together, so a commit lost to a database crash
    /// loses both and the batch is applied again from the log (which is committed
    /// synchronously). Waiting for the WAL flush bought nothing but latency and a share of the
    /// disk the commands need.
    async fn lock(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('projection:' || $1, 0)), \
                    set_config('synchronous_commit', 'off', true)",
        )
        .bind(self.projector.name())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Registers the checkpoint; when the projector's version changed since the read model was
    /// built, empties it and starts again from the beginning of the log.
    pub async fn prepare(&self) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx).await?;
        let stored: Option<(i32,)> = sqlx::query_as("SELECT version FROM projection_checkpoints WHERE projection = $1")
            .bind(self.projector.name())
            .fetch_optional(&mut *tx)
            .await?;
        match stored {
            Some((v,)) if v == self.projector.version() => {}
            Some((v,)) => {
                tracing::info!(
                    projection = self.name(),
                    from = v,
                    to = self.projector.version(),
                    "projector version changed: rebuilding"
                );
                self.reset_in(&mut tx).await?;
            }
            None => self.reset_in(&mut tx).await?,
        }
        tx.commit().await?;
        self.publish(self.checkpoint().await?);
        Ok(())
    }

    async fn reset_in(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        self.projector.reset(conn).await?;
        sqlx::query(
            "INSERT INTO projection_checkpoints (projection, version) VALUES ($1, $2) \
             ON CONFLICT (projection) DO UPDATE SET version = $2, transaction_id = '0', \
                global_position = 0, events_applied = 0, updated_at = now()",
        )
        .bind(self.projector.name())
        .bind(self.projector.version())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Applies the next batch; returns how many events it applied (0: caught up).
    pub async fn step(&self) -> Result<usize, ProjectionError> {
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx).await?;
        let (applied, checkpoint) = self.step_in(&mut tx, Some(&self.passed)).await?;
        tx.commit().await?;
        self.publish(checkpoint);
        Ok(applied)
    }

    /// One batch inside the caller's transaction: how many events it applied, and the
    /// checkpoint it leaves (to publish once the transaction commits). With `passes` (the
    /// live runner's, never a rebuild's), a batch with no wanted event moves the checkpoint in
    /// memory only, until [`crate::passed::WRITE_PASSES_EVERY`].
    async fn step_in(
        &self,
        conn: &mut PgConnection,
        passes: Option<&crate::passed::PassedOver>,
    ) -> Result<(usize, LogPosition), ProjectionError> {
        let (xid, pos): (i64, i64) = sqlx::query_as(
            "SELECT transaction_id::text::bigint, global_position FROM projection_checkpoints WHERE projection = $1",
        )
        .bind(self.projector.name())
        .fetch_one(&mut *conn)
        .await?;
        let stored = LogPosition { transaction_id: xid, global_position: pos };
        let after = passes.map_or(stored, |p| p.resume(stored));
        let batch = reader::read_wanted(conn, after, self.batch_size, self.projector.interest()).await?;
        let Some(last) = batch.scanned_to.filter(|p| *p > after) else {
            return Ok((0, after));
        };
        let events = batch.events;
        if !events.is_empty() {
            self.projector.apply_batch(conn, &events).await?;
        } else if passes.is_some_and(|p| !p.pass(stored, last)) {
            return Ok((0, last));
        }
        sqlx::query(
            "UPDATE projection_checkpoints SET transaction_id = $2::text::xid8, global_position = $3, \
                events_applied = events_applied + $4, updated_at = now() WHERE projection = $1",
        )
        .bind(self.projector.name())
        .bind(last.transaction_id.to_string())
        .bind(last.global_position)
        .bind(events.len() as i64)
        .execute(&mut *conn)
        .await?;
        Ok((events.len(), last))
    }

    /// Applies batches until no final event is left; returns how many it applied.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let mut total = 0;
        loop {
            let n = self.step().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }

    /// Applies batches until the checkpoint reaches `target` (read-your-writes), or `timeout`
    /// passes; returns whether it was reached. Events of transactions still running anywhere
    /// in the cluster are not final yet, so this may take more than one round.
    pub async fn catch_up_to(&self, target: LogPosition, timeout: Duration) -> Result<bool, ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.catch_up().await?;
            if self.checkpoint().await? >= target {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The last event applied (past it, the unwanted events this process scanned).
    pub async fn checkpoint(&self) -> Result<LogPosition, ProjectionError> {
        let (xid, pos): (i64, i64) = sqlx::query_as(
            "SELECT transaction_id::text::bigint, global_position FROM projection_checkpoints WHERE projection = $1",
        )
        .bind(self.projector.name())
        .fetch_one(&self.pool)
        .await?;
        Ok(self.passed.resume(LogPosition { transaction_id: xid, global_position: pos }))
    }

    /// Empties the read model and replays the whole log into it, in one transaction: readers
    /// keep seeing the old rows until the new ones commit.
    pub async fn rebuild(&self) -> Result<u64, ProjectionError> {
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx).await?;
        self.reset_in(&mut tx).await?;
        let mut total = 0;
        let mut checkpoint;
        loop {
            let (n, at) = self.step_in(&mut tx, None).await?;
            checkpoint = at;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        tx.commit().await?;
        self.publish(checkpoint);
        Ok(total)
    }

    /// Replays the whole log into fresh copies of the projector's tables and swaps them in,
    /// without downtime for readers: the copies are built in schema `rebuild_<name>` in short
    /// batch transactions while the live read model keeps serving and advancing; the swap then
    /// takes the projector's lock, applies the tail, and moves the copies into `public` in one
    /// short transaction. `progress` is called with the events applied so far. Projectors
    /// that name no tables are rebuilt in place ([`ProjectionRunner::rebuild`]).
    pub fn rebuild_swapping<'a>(
        &'a self,
        progress: &'a (dyn Fn(u64) + Send + Sync),
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, ProjectionError>> + Send + 'a>> {
        // Boxed so callers can spawn it: a Send future whose type does not leak the borrows.
        Box::pin(async move {
            let tables = self.projector.tables();
            if tables.is_empty() {
                let n = self.rebuild().await?;
                progress(n);
                return Ok(n);
            }
            let schema = format!("rebuild_{}", self.projector.name());
            let options = (*self.pool.connect_options()).clone().options([("search_path", format!("{schema},public"))]);
            let mut conn = PgConnection::connect_with(&options).await?;
            let mut setup = vec![format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), format!("CREATE SCHEMA {schema}")];
            for table in tables.iter().chain(["projection_checkpoints"].iter()) {
                setup.push(format!("CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"));
            }
            for statement in &setup {
                sqlx::query(statement).execute(&mut conn).await?;
            }
            sqlx::query("INSERT INTO projection_checkpoints (projection, version) VALUES ($1, $2)")
                .bind(self.projector.name())
                .bind(self.projector.version())
                .execute(&mut conn)
                .await?;
            let mut total = 0u64;
            let bulk = Self { batch_size: self.batch_size.max(REBUILD_BATCH_SIZE), ..self.clone() };
            // The copies start empty, and the plans this connection caches for them (generic
            // plans, see `infra::database`) would stay sequential scans as they grow: each
            // batch's lookups linear in what was built, the rebuild quadratic. ANALYZE after
            // batches 1, 2, 4, 8... invalidates those plans at a cost that stays logarithmic.
            let analyze =
                format!("ANALYZE {}", tables.iter().map(|t| format!("{schema}.{t}")).collect::<Vec<_>>().join(", "));
            let mut batches = 0u64;
            loop {
                let mut tx = conn.begin().await?;
                let (n, _) = bulk.step_in(&mut tx, None).await?;
                tx.commit().await?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                batches += 1;
                if batches.is_power_of_two() {
                    sqlx::query(&analyze).execute(&mut conn).await?;
                }
                progress(total);
            }
            // Readers get the swapped-in tables with statistics.
            sqlx::query(&analyze).execute(&mut conn).await?;
            let mut tx = conn.begin().await?;
            self.lock(&mut tx).await?;
            let mut checkpoint;
            loop {
                let (n, at) = self.step_in(&mut tx, None).await?;
                checkpoint = at;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            let mut swap = Vec::new();
            for table in tables {
                swap.push(format!("DROP TABLE public.{table}"));
                swap.push(format!("ALTER TABLE {schema}.{table} SET SCHEMA public"));
            }
            for statement in &swap {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            sqlx::query(&format!(
            "INSERT INTO public.projection_checkpoints (projection, version, transaction_id, global_position, events_applied) \
             SELECT projection, version, transaction_id, global_position, events_applied \
               FROM {schema}.projection_checkpoints WHERE projection = $1 \
             ON CONFLICT (projection) DO UPDATE SET version = EXCLUDED.version, \
                transaction_id = EXCLUDED.transaction_id, global_position = EXCLUDED.global_position, \
                events_applied = EXCLUDED.events_applied, updated_at = now()"
        ))
        .bind(self.projector.name())
        .execute(&mut *tx)
        .await?;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&mut *tx).await?;
            tx.commit().await?;
            self.publish(checkpoint);
            progress(total);
            Ok(total)
        })
    }

    /// Refreshes the statistics of the projector's tables while a backlog fills them: the
    /// pool's connections cache generic plans, and one made while a table was nearly empty (a
    /// sequential scan) would otherwise make every later batch's lookups linear in the table,
    /// until autovacuum happens to analyze it. Called after full batches 1, 2, 4, 8...
    async fn analyze_while_growing(&self) {
        let tables = self.projector.tables();
        if tables.is_empty() {
            return;
        }
        if let Err(err) = sqlx::query(&format!("ANALYZE {}", tables.join(", "))).execute(&self.pool).await {
            tracing::warn!(projection = self.name(), error = %err, "could not refresh read-model statistics");
        }
    }

    /// How many events of the log this projector reads (a rebuild's total, for progress bars).
    pub async fn log_size(&self) -> Result<u64, ProjectionError> {
        let mut conn = self.pool.acquire().await?;
        Ok(reader::count_wanted(&mut conn, self.projector.interest()).await?)
    }

    /// The checkpoint and the lag.
    pub async fn status(&self) -> Result<ProjectionStatus, ProjectionError> {
        let mut conn = self.pool.acquire().await?;
        let (version, xid, pos, applied): (i32, i64, i64, i64) = sqlx::query_as(
            "SELECT version, transaction_id::text::bigint, global_position, events_applied \
               FROM projection_checkpoints WHERE projection = $1",
        )
        .bind(self.projector.name())
        .fetch_one(&mut *conn)
        .await?;
        let checkpoint = self.passed.resume(LogPosition { transaction_id: xid, global_position: pos });
        let lag = crate::reader::lag_after(&mut conn, checkpoint).await?;
        Ok(ProjectionStatus {
            name: self.projector.name().to_owned(),
            version,
            checkpoint,
            events_applied: applied,
            lag_events: lag.events,
            lag_ms: lag.ms,
            held_events: lag.held,
        })
    }

    /// Runs until `shutdown` turns true: applies batches, then sleeps until this process
    /// commits (`wake`) or the poll interval passes (writes of other processes). Batches start
    /// at most once per [`DEFAULT_COALESCE`] unless the last one was full (a backlog), so under
    /// load a runner costs one transaction per interval, not one per commit, whether or not
    /// the commits concern it; the first event after a quiet spell is applied at once. Errors
    /// are logged and retried after a pause; the failed batch was rolled back.
    pub async fn run(self, mut wake: watch::Receiver<LogPosition>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        let mut pace = crate::pace::Pace::new(DEFAULT_COALESCE);
        let mut full_batches = 0u64;
        while !*shutdown.borrow() {
            if !pace.ready(&mut shutdown).await {
                continue;
            }
            match self.step().await {
                Ok(n) => {
                    backoff = Duration::from_millis(100);
                    if n as i64 >= self.batch_size {
                        // A backlog (first start, a version bump): see `analyze_while_growing`.
                        full_batches += 1;
                        if full_batches.is_power_of_two() {
                            self.analyze_while_growing().await;
                        }
                        pace.hurry();
                        continue;
                    }
                    full_batches = 0;
                    tokio::select! {
                        _ = wake.changed() => {}
                        _ = shutdown.changed() => {}
                        _ = tokio::time::sleep(DEFAULT_POLL_INTERVAL) => {}
                    }
                }
                Err(err) => {
                    tracing::error!(projection = self.name(), error = %err, "batch failed and was rolled back; retrying");
                    tokio::select! {
                        _ = shutdown.changed() => {}
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}
