//! The `workers` query: where each control loop of this replica stands (its checkpoint in the
//! log, its lag, its failures, its leader and lease, which replica moved it last and when this
//! one last ran it). The same figures go to `/metrics` (`reactor_events_total`,
//! `reactor_errors_total`, `reactor_last_round_timestamp_seconds`, `worker_leader`,
//! `worker_lease_epoch`).

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::{ApiError, IntoGraphql};
use crate::query::request;
use crate::ApiState;

/// Where one worker stands.
#[derive(SimpleObject)]
pub struct WorkerStatus {
    /// The worker's name; it acts as `worker:<name>`.
    pub name: String,
    /// `REACTOR` (answers events of the log from a checkpoint) or `LOOP` (runs by the clock
    /// over observations and aggregates).
    pub kind: String,
    /// Log cursor up to which every event it wants was answered (reactors only).
    pub checkpoint: Option<String>,
    /// Rounds run, all replicas together (loops only).
    pub runs: Option<i64>,
    /// Commands issued, all replicas together (loops only).
    pub actions: Option<i64>,
    /// The last round of any replica (loops only).
    pub last_run_at: Option<DateTime<Utc>>,
    /// Events answered, all replicas together (0 for loops).
    pub events_handled: i64,
    /// Committed events past its checkpoint (of any type; it may want none of them); 0 for
    /// loops.
    pub lag_events: i64,
    /// Reactors: age of the oldest event past the checkpoint; loops: time since the last
    /// round of any replica. In milliseconds.
    pub lag_ms: i64,
    /// Of `lagEvents`, those held back by a transaction left open elsewhere in the cluster
    /// (see `logHorizon`): the reactor is not slow, it may not read them yet. 0 for loops.
    pub held_events: i64,
    /// Failed rounds, all replicas together (each is retried).
    pub errors: i64,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When it failed last.
    pub last_error_at: Option<DateTime<Utc>>,
    /// The replica that leads the worker (holds its lease); it may have expired (`leaseExpiresAt`
    /// in the past) if the leader died and no replica took over yet.
    pub leader: Option<String>,
    /// The lease's epoch: incremented by every change of leader; commands carry it.
    pub lease_epoch: Option<i64>,
    /// When the lease expires unless the leader renews it.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// True when this replica is the leader.
    pub leading_here: bool,
    /// The replica (`host:pid:suffix`) that moved the checkpoint (or ran the round) last:
    /// the leader then.
    pub last_moved_by: Option<String>,
    /// When the checkpoint moved last.
    pub last_moved_at: Option<DateTime<Utc>>,
    /// This replica's last round that held the worker's lock.
    pub last_round_here: Option<DateTime<Utc>>,
}

/// The lease fields of a worker's status: leader, epoch, expiry, and whether `replica` leads.
fn lease_fields(
    leader: Option<&workers::lease::LeaseStatus>,
    replica: &str,
) -> (Option<String>, Option<i64>, Option<DateTime<Utc>>, bool) {
    let leading_here = leader.is_some_and(|l| l.holder == replica && l.expires_at > Utc::now());
    (leader.map(|l| l.holder.clone()), leader.map(|l| l.epoch), leader.map(|l| l.expires_at), leading_here)
}

/// The `workers` query.
#[derive(Default)]
pub struct WorkerQuery;

#[Object]
impl WorkerQuery {
    /// Every worker this replica runs (those switched off with `APP_WORKERS_OFF` are absent).
    async fn workers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WorkerStatus>> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let mut out = Vec::with_capacity(state.reactors.len());
        for reactor in state.reactors.iter() {
            let s = reactor.status().await.map_err(|e| ApiError::internal(req.trace_id.as_str(), e)).gql()?;
            let (last_error, last_error_at) = s.last_error.map_or((None, None), |(m, t)| (Some(m), Some(t)));
            let (last_moved_by, last_moved_at) = s.last_moved_by.map_or((None, None), |(r, t)| (Some(r), Some(t)));
            let (leader, lease_epoch, lease_expires_at, leading_here) =
                lease_fields(s.leader.as_ref(), reactor.replica());
            out.push(WorkerStatus {
                leader,
                lease_epoch,
                lease_expires_at,
                leading_here,
                name: s.name,
                kind: "REACTOR".to_owned(),
                checkpoint: Some(s.checkpoint.to_cursor()),
                runs: None,
                actions: None,
                last_run_at: None,
                events_handled: s.events_handled,
                lag_events: s.lag_events,
                lag_ms: s.lag_ms,
                held_events: s.held_events,
                errors: s.errors,
                last_error,
                last_error_at,
                last_moved_by,
                last_moved_at,
                last_round_here: s.last_round_here,
            });
        }
        for runner in state.loops.iter() {
            let s = runner.status().await.map_err(|e| ApiError::internal(req.trace_id.as_str(), e)).gql()?;
            let (last_error, last_error_at) = s.last_error.map_or((None, None), |(m, t)| (Some(m), Some(t)));
            let (last_moved_by, last_run_at) = s.last_run.map_or((None, None), |(r, t)| (Some(r), Some(t)));
            let (leader, lease_epoch, lease_expires_at, leading_here) =
                lease_fields(s.leader.as_ref(), runner.replica());
            out.push(WorkerStatus {
                leader,
                lease_epoch,
                lease_expires_at,
                leading_here,
                name: s.name,
                kind: "LOOP".to_owned(),
                checkpoint: None,
                runs: Some(s.runs),
                actions: Some(s.actions),
                last_run_at,
                events_handled: 0,
                lag_events: 0,
                lag_ms: last_run_at.map_or(0, |t| (Utc::now() - t).num_milliseconds().max(0)),
                held_events: 0,
                errors: s.errors,
                last_error,
                last_error_at,
                last_moved_by,
                last_moved_at: last_run_at,
                last_round_here: s.last_round_here,
            });
        }
        Ok(out)
    }
}
