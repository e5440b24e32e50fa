//! Projection status and read-your-writes.
//!
//! A mutation returns the log cursor of what it wrote (`CommandResult.position`); a query over a
//! projection may pass it as `minPosition` and then waits, at most [`MAX_WAIT`], until that
//! projection has applied it. Past the bound it fails with `PROJECTION_LAG` rather than answer
//! with data older than the caller's own write. Waiters are woken by the runner's progress
//! (`ProjectionRunner::progress`, published after each batch commits), not by polling.

use std::time::Duration;

use async_graphql::{Context, Object, SimpleObject};
use commands::LogPosition;

use crate::error::{ApiError, IntoGraphql};
use crate::query::request;
use crate::ApiState;

/// Longest a query waits for a projection to reach `minPosition`.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// Where one projection stands.
#[derive(SimpleObject)]
pub struct ProjectionStatus {
    /// Projector name.
    pub name: String,
    /// Projector version the read model was built with.
    pub version: i32,
    /// Log cursor of the last event applied.
    pub checkpoint: String,
    /// Events applied since the last rebuild.
    pub events_applied: i64,
    /// Committed events not applied yet.
    pub lag_events: i64,
    /// Age of the oldest event not applied yet, in milliseconds.
    pub lag_ms: i64,
    /// Of `lagEvents`, those held back by a transaction left open elsewhere in the cluster
    /// (see `logHorizon`): the projection is not slow, no reader may apply them yet.
    pub held_events: i64,
}

/// A transaction left open somewhere in the cluster that holds every projection and reactor
/// back (readers apply only events older than the oldest open transaction).
#[derive(SimpleObject)]
pub struct HorizonHolder {
    /// Its server process id (for `pg_terminate_backend`); null for a prepared transaction.
    pub pid: Option<i32>,
    /// The database it runs in: any database of the cluster holds the horizon.
    pub database: Option<String>,
    /// Its `application_name`, or a prepared transaction's global id.
    pub application: Option<String>,
    /// Its session state, e.g. `idle in transaction`.
    pub state: Option<String>,
    /// How long it has been open, in milliseconds.
    pub open_ms: i64,
}

/// Committed events no projection or reactor may apply yet, and the transaction that holds
/// them back.
#[derive(SimpleObject)]
pub struct LogHorizon {
    /// Committed events past the horizon (0 when nothing is held).
    pub held_events: i64,
    /// Age of the oldest of them, in milliseconds: how long readers have been held.
    pub held_ms: i64,
    /// Whether readers are stalled: events held for at least 5 s
    /// (`projections::horizon::STALL_AFTER`).
    pub stalled: bool,
    /// The oldest open transaction, when events are held and the database role may see it
    /// (another role's session needs `pg_read_all_stats`).
    pub holder: Option<HorizonHolder>,
}

impl From<projections::horizon::HorizonHold> for LogHorizon {
    fn from(h: projections::horizon::HorizonHold) -> Self {
        Self {
            held_events: h.held_events,
            held_ms: h.held_ms,
            stalled: h.stalled(),
            holder: h.holder.map(|o| HorizonHolder {
                pid: o.pid,
                database: o.database,
                application: o.application,
                state: o.state,
                open_ms: o.open_ms,
            }),
        }
    }
}

/// Waits until projection `name` has applied `min_position` (a log cursor), if one is given.
pub async fn await_position(ctx: &Context<'_>, name: &str, min_position: Option<&str>) -> async_graphql::Result<()> {
    let Some(cursor) = min_position else { return Ok(()) };
    let req = request(ctx)?;
    let state = ctx.data_unchecked::<ApiState>();
    reach(state, req.trace_id.as_str(), name, cursor).await.gql()
}

/// Waits, at most [`MAX_WAIT`], until projection `name` has applied the log cursor `cursor`:
/// the transport-neutral half of [`await_position`], for reads served outside GraphQL
/// (`GET /audit/export?minPosition=`). Failures are logged under `trace_id`.
pub async fn reach(state: &ApiState, trace_id: &str, name: &str, cursor: &str) -> Result<(), ApiError> {
    let target = LogPosition::from_cursor(cursor)
        .ok_or_else(|| ApiError::InvalidInput(format!("malformed minPosition {cursor:?}")))?;
    let Some(runner) = state.runners.iter().find(|r| r.name() == name) else {
        return Err(ApiError::internal(trace_id, format!("projection {name} is not running")));
    };
    // Subscribe before reading the database, so a batch committed in between still wakes us.
    let mut progress = runner.progress();
    if *progress.borrow_and_update() >= target {
        return Ok(());
    }
    // Once from the database: another replica may have applied it (this runner sees that at
    // its next step, at most one poll interval later).
    let checkpoint = runner.checkpoint().await.map_err(|e| ApiError::internal(trace_id, e))?;
    if checkpoint >= target {
        return Ok(());
    }
    // Then woken by the runner's commits, not by polling.
    let reached = tokio::time::timeout(MAX_WAIT, progress.wait_for(|seen| *seen >= target)).await.map(|r| r.is_ok());
    match reached {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::internal(trace_id, format!("projection {name} stopped"))),
        Err(_) => Err(ApiError::ProjectionLag { projection: name.to_owned(), seconds: MAX_WAIT.as_secs() }),
    }
}

/// The `projections` query.
#[derive(Default)]
pub struct ProjectionQuery;

#[Object]
impl ProjectionQuery {
    /// Every projection this process runs: checkpoint and lag.
    async fn projections(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ProjectionStatus>> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let mut out = Vec::with_capacity(state.runners.len());
        for runner in state.runners.iter() {
            let s = runner.status().await.map_err(|e| ApiError::internal(req.trace_id.as_str(), e)).gql()?;
            out.push(ProjectionStatus {
                name: s.name,
                version: s.version,
                checkpoint: s.checkpoint.to_cursor(),
                events_applied: s.events_applied,
                lag_events: s.lag_events,
                lag_ms: s.lag_ms,
                held_events: s.held_events,
            });
        }
        Ok(out)
    }

    /// Whether an open transaction elsewhere in the cluster holds the projections and
    /// reactors back (the xmin horizon), and which one.
    async fn log_horizon(&self, ctx: &Context<'_>) -> async_graphql::Result<LogHorizon> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let trace = req.trace_id.as_str();
        let mut conn = state.pool.acquire().await.map_err(|e| ApiError::internal(trace, e)).gql()?;
        let hold = projections::horizon::hold(&mut conn).await.map_err(|e| ApiError::internal(trace, e)).gql()?;
        Ok(hold.into())
    }
}
