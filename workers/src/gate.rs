//! The deployment gate: a deployment in `Verifying` is promoted when its analysis passes, or
//! failed and rolled back to the last known-good deployment when it does not (what Argo Rollouts
//! calls an analysis); a deployment `RollingBack` is recorded rolled back once the environment
//! reports the rollback target's image running.
//!
//! The analysis reads the readiness samples of the deployment's workload observed since
//! verification started (the health probe worker's, or any reporter's), and the metrics
//! reported meanwhile:
//! - **measure**: over the newest `window` samples, availability is the percentage that passed,
//!   the latency p95 the 95th percentile of their latencies, the error rate the newest reported
//!   `error_rate_percent` (else 100 - availability); a reported `latency_p95_ms` replaces the
//!   probes' figure. Each of the deployment's gates is judged on its kind's figure.
//! - **promote** when the newest `consecutive` samples all passed and every gate passes;
//! - **fail** when `failure_limit` samples failed since verification started, or when
//!   `timeout` passed with samples but no verdict (never `consecutive` passes in a row);
//! - with no sample at all the analysis is inconclusive (what Argo Rollouts calls it): nobody
//!   probes this workload, so the worker leaves the verdict to the pipeline or a person
//!   (`recordHealthGateResult`, `promoteDeployment`, `failDeployment`) however long it waits.
//!
//! The verdict depends only on stored samples, so any replica that leads the loop reaches the
//! same one. Every command names the newest sample it judged as its causation and runs in the
//! deployment's trace (its first event's), so `trace(traceId)` of a rollout shows the worker's
//! verdict and `causalChain` the sample behind it. Commands are keyed (idempotent) by the
//! deployment and its verification start, and a refusal (the deployment moved on) ends the
//! attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::log::{RecordedEvent, RECORDED_EVENT_COLUMNS};
use commands::{CommandBus, CommandOptions, RequestContext};
use cqrs_es::Aggregate;
use domain::catalog::{DeploymentCommand, DeploymentStatus, GateKind, RuntimeDeployment};
use domain::envelope::{keys, TraceId};
use domain::environments::Reason;
use domain::health::Probe;
use uuid::Uuid;

use crate::error::ReactorError;
use crate::observation::{Observation, Observations, ProbeSample, Target};
use crate::periodic::{Periodic, Round};
use crate::reaction;

/// The loop's name (its actor is `worker:deployment-gate`).
pub const NAME: &str = "deployment-gate";

/// How deployments are analysed.
#[derive(Debug, Clone)]
pub struct GateAnalysis {
    /// The pause between two rounds.
    pub interval: Duration,
    /// How many of the newest samples the gates are measured over.
    pub window: usize,
    /// How many consecutive passing samples promote.
    pub consecutive: usize,
    /// How many failed samples fail the deployment.
    pub failure_limit: usize,
    /// How long verification may last without a verdict.
    pub timeout: chrono::Duration,
}

impl Default for GateAnalysis {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            window: 5,
            consecutive: 3,
            failure_limit: 3,
            timeout: chrono::Duration::minutes(10),
        }
    }
}

/// What the analysis concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not enough evidence yet.
    Wait,
    /// Promote.
    Promote,
    /// Fail, for this reason.
    Fail(String),
}

/// One gate's figure over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The gate's kind.
    pub kind: GateKind,
    /// Its figure.
    pub observed: f64,
}

/// The figure of `kind` over `window` (newest last), with the newest reported metrics.
pub fn measure(kind: GateKind, window: &[&ProbeSample], metrics: Option<&crate::observation::MetricsSample>) -> f64 {
    let reported = |name: &str| metrics.and_then(|m| m.values.get(name).copied());
    let availability = if window.is_empty() {
        0.0
    } else {
        100.0 * window.iter().filter(|s| s.passed).count() as f64 / window.len() as f64
    };
    match kind {
        GateKind::Availability => availability,
        GateKind::ErrorRate => reported("error_rate_percent").unwrap_or(100.0 - availability),
        GateKind::LatencyP95 => reported("latency_p95_ms").unwrap_or_else(|| {
            let mut latencies: Vec<u32> = window.iter().map(|s| s.latency_ms).collect();
            latencies.sort_unstable();
            // Nearest rank: the smallest value with at least 95 % of the samples at or below it.
            let rank = ((latencies.len() as f64) * 0.95).ceil().max(1.0) as usize;
            latencies.get(rank - 1).copied().unwrap_or(0) as f64
        }),
    }
}

/// The verdict on `samples` (oldest first) with every gate's figure `passes`.
pub fn verdict(analysis: &GateAnalysis, samples: &[&ProbeSample], gates_pass: bool, timed_out: bool) -> Verdict {
    let failed = samples.iter().filter(|s| !s.passed).count();
    if failed >= analysis.failure_limit {
        return Verdict::Fail(format!(
            "{failed} readiness samples failed during verification (limit {})",
            analysis.failure_limit
        ));
    }
    let newest_pass = samples.len() >= analysis.consecutive
        && samples[samples.len() - analysis.consecutive..].iter().all(|s| s.passed);
    if newest_pass && gates_pass {
        return Verdict::Promote;
    }
    if timed_out && !samples.is_empty() {
        return Verdict::Fail(format!(
            "no verdict within {} s of verification ({} samples, {} passing in a row needed)",
            analysis.timeout.num_seconds(),
            samples.len(),
            analysis.consecutive
        ));
    }
    Verdict::Wait
}

/// Promotes or fails verifying deployments by their samples (see the module).
pub struct DeploymentGateLoop {
    analysis: GateAnalysis,
    observations: Observations,
}

impl DeploymentGateLoop {
    /// The loop reading `observations`, judging by `analysis`.
    pub fn new(observations: Observations, analysis: GateAnalysis) -> Self {
        Self { analysis, observations }
    }
}

/// The first event of `aggregate_id` (its trace is the rollout's).
async fn first_event(bus: &CommandBus, aggregate_type: &str, aggregate_id: &str) -> Result<Option<RecordedEvent>, ReactorError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1"
    ))
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(bus.pool())
    .await?)
}

/// The worker acting in the trace of `event` (fresh if it has none).
fn in_trace_of(event: Option<&RecordedEvent>) -> RequestContext {
    let trace = event
        .and_then(|e| e.envelope(keys::TRACE_ID))
        .and_then(|t| TraceId::parse(t).ok())
        .unwrap_or_else(|| TraceId::from_uuid(Uuid::new_v4()));
    RequestContext::worker(NAME, trace)
}

fn keyed(what: &str, deployment: &str, since: Option<DateTime<Utc>>, cause: Uuid, correlation: Option<&RecordedEvent>) -> CommandOptions {
    let since = since.map(|t| t.timestamp_micros()).unwrap_or_default();
    CommandOptions {
        idempotency_key: Some(format!("{NAME}:{what}:{deployment}:{since}")),
        causation_id: Some(cause.to_string()),
        correlation_id: correlation.and_then(|e| e.envelope(keys::CORRELATION_ID)).map(str::to_owned),
        ..Default::default()
    }
}

#[async_trait::async_trait]
impl Periodic for DeploymentGateLoop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.analysis.interval
    }

    async fn round(&self, round: &Round<'_>) -> Result<(), ReactorError> {
        // The deployment history names the deployments in flight (a partial index keeps this
        // read to them); the aggregate decides, so a lagging projection costs a round at most.
        let in_flight: Vec<(String, String)> = sqlx::query_as(
            "SELECT deployment_id, status FROM deployment_history \
              WHERE status IN ('verifying', 'rolling_back') ORDER BY deployment_id LIMIT 1000",
        )
        .fetch_all(round.bus.pool())
        .await?;
        for (id, _) in in_flight {
            if !round.still_leading().await? {
                return Ok(());
            }
            let deployment = round.bus.routes().deployments.store.load(&id).await?.aggregate;
            match deployment.status() {
                Some(DeploymentStatus::Verifying) => self.verify(round, &id, &deployment).await?,
                Some(DeploymentStatus::RollingBack) => self.confirm_rollback(round, &id, &deployment).await?,
                _ => {}
            }
        }
        Ok(())
    }
}

impl DeploymentGateLoop {
    /// Judges one verifying deployment.
    async fn verify(&self, round: &Round<'_>, id: &str, deployment: &RuntimeDeployment) -> Result<(), ReactorError> {
        let (Some(service), Some(environment), Some(since)) =
            (deployment.service(), deployment.environment(), deployment.verification_started_at())
        else {
            return Ok(());
        };
        let target = Target::workload(environment, service, deployment.tenant().cloned());
        let lookup = |e: crate::observation::ObservationError| ReactorError::Lookup(e.to_string());
        let samples = self.observations.probes_since(&target, &Probe::Readiness, since).await.map_err(lookup)?;
        let metrics = self.observations.metrics_since(&target, since).await.map_err(lookup)?;
        let newest_metrics = metrics.last().map(|m| &m.body);
        let bodies: Vec<&ProbeSample> = samples.iter().map(|s| &s.body).collect();
        let window = &bodies[bodies.len().saturating_sub(self.analysis.window)..];
        let measured: Vec<(domain::catalog::GateName, bool, f64)> = deployment
            .gates()
            .iter()
            .map(|g| {
                let gate = g.gate();
                let observed = measure(gate.kind(), window, newest_metrics);
                (gate.name().clone(), gate.passes(observed), observed)
            })
            .collect();
        let timed_out = Utc::now() - since > self.analysis.timeout;
        let verdict = verdict(&self.analysis, &bodies, measured.iter().all(|(_, p, _)| *p), timed_out);
        if verdict == Verdict::Wait {
            return Ok(());
        }
        // The newest sample judged is the cause (a verdict always has one).
        let first = first_event(&round.bus, RuntimeDeployment::TYPE, id).await?;
        let ctx = in_trace_of(first.as_ref());
        let cause = samples.last().map(|s: &Observation<ProbeSample>| s.id).or_else(|| first.as_ref().and_then(|f| f.event_id));
        let Some(cause) = cause else { return Ok(()) };
        let options = |what: &str| keyed(what, id, Some(since), cause, first.as_ref());
        let now = Utc::now();
        let deployments = &round.bus;
        for (gate, passed, observed) in &measured {
            let command = DeploymentCommand::RecordHealthGateResult { gate: gate.clone(), passed: *passed, observed: *observed, at: now };
            let result = deployments
                .execute::<RuntimeDeployment>(&ctx, id, command, options(&format!("gate-{gate}")))
                .await;
            round.acted();
            reaction::settled(result, "record gate result")?;
        }
        match verdict {
            Verdict::Promote => {
                let result = deployments
                    .execute::<RuntimeDeployment>(&ctx, id, DeploymentCommand::Promote { at: now }, options("promote"))
                    .await;
                round.acted();
                tracing::info!(deployment = id, "analysis passed: promoting");
                reaction::settled(result, "promote")
            }
            Verdict::Fail(reason) => {
                tracing::info!(deployment = id, %reason, "analysis failed: failing and rolling back");
                let reason = Reason::parse(&reason).map_err(|e| ReactorError::Lookup(e.to_string()))?;
                let result = deployments
                    .execute::<RuntimeDeployment>(
                        &ctx,
                        id,
                        DeploymentCommand::FailDeployment { reason: reason.clone(), at: now },
                        options("fail"),
                    )
                    .await;
                round.acted();
                reaction::settled(result, "fail")?;
                self.roll_back(round, &ctx, id, deployment, reason, options("roll-back")).await
            }
            Verdict::Wait => Ok(()),
        }
    }

    /// Rolls a failed deployment back to the known-good one, or gives it up when there is none
    /// (the first deployment of the service there).
    async fn roll_back(
        &self,
        round: &Round<'_>,
        ctx: &RequestContext,
        id: &str,
        deployment: &RuntimeDeployment,
        reason: Reason,
        options: CommandOptions,
    ) -> Result<(), ReactorError> {
        let (Some(service), Some(environment)) = (deployment.service(), deployment.environment()) else { return Ok(()) };
        let known_good = round
            .bus
            .routes()
            .deployments
            .services
            .last_succeeded_deployment(service, environment, deployment.tenant())
            .await
            .map_err(|e| ReactorError::Lookup(e.to_string()))?;
        let now = Utc::now();
        let command = match known_good {
            Some(target) => DeploymentCommand::RollBack { target, at: now },
            None => DeploymentCommand::AbandonFailed { reason, at: now },
        };
        let result = round.bus.execute::<RuntimeDeployment>(ctx, id, command, options).await;
        round.acted();
        reaction::settled(result, "roll back")
    }

    /// Records a rollback done once the environment reports the target's image running for the
    /// workload (caused by that report).
    async fn confirm_rollback(&self, round: &Round<'_>, id: &str, deployment: &RuntimeDeployment) -> Result<(), ReactorError> {
        let (Some(service), Some(environment), Some(target)) =
            (deployment.service(), deployment.environment(), deployment.rollback_target())
        else {
            return Ok(());
        };
        let Some(state) =
            self.observations.latest_state(environment).await.map_err(|e| ReactorError::Lookup(e.to_string()))?
        else {
            return Ok(());
        };
        let good = round.bus.routes().deployments.store.load(&target.to_string()).await?.aggregate;
        let Some(wanted) = good.artifact().map(|a| a.digest().clone()) else { return Ok(()) };
        let running = state.body.workload(service, deployment.tenant()).and_then(|w| w.digest.as_ref());
        if running != Some(&wanted) {
            return Ok(());
        }
        let first = first_event(&round.bus, RuntimeDeployment::TYPE, id).await?;
        let ctx = in_trace_of(first.as_ref());
        let options = keyed("rolled-back", id, deployment.failed_at(), state.id, first.as_ref());
        let result = round
            .bus
            .execute::<RuntimeDeployment>(&ctx, id, DeploymentCommand::RecordRolledBack { at: Utc::now() }, options)
            .await;
        round.acted();
        reaction::settled(result, "record rolled back")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(passed: bool, latency_ms: u32) -> ProbeSample {
        ProbeSample { probe: Probe::Readiness, passed, latency_ms, detail: None }
    }

    #[test]
    fn promotes_after_the_consecutive_passes_and_not_before() {
        let analysis = GateAnalysis::default();
        let two = [sample(true, 5), sample(true, 5)];
        let refs: Vec<&ProbeSample> = two.iter().collect();
        assert_eq!(verdict(&analysis, &refs, true, false), Verdict::Wait);
        let three = [sample(false, 5), sample(true, 5), sample(true, 5), sample(true, 5)];
        let refs: Vec<&ProbeSample> = three.iter().collect();
        assert_eq!(verdict(&analysis, &refs, true, false), Verdict::Promote);
        // The gates decide too: passing probes with a failing gate wait.
        assert_eq!(verdict(&analysis, &refs, false, false), Verdict::Wait);
    }

    #[test]
    fn fails_at_the_failure_limit_even_after_passes_and_at_the_timeout() {
        let analysis = GateAnalysis::default();
        let samples = [sample(false, 5), sample(true, 5), sample(false, 5), sample(false, 5)];
        let refs: Vec<&ProbeSample> = samples.iter().collect();
        assert!(matches!(verdict(&analysis, &refs, true, false), Verdict::Fail(_)));
        let one = [sample(true, 5)];
        let refs: Vec<&ProbeSample> = one.iter().collect();
        assert!(matches!(verdict(&analysis, &refs, true, true), Verdict::Fail(_)), "samples but no verdict in time");
        assert_eq!(verdict(&analysis, &[], true, true), Verdict::Wait, "no sample at all: inconclusive, left alone");
        assert_eq!(verdict(&analysis, &[], true, false), Verdict::Wait);
    }

    #[test]
    fn measures_availability_error_rate_and_p95_over_the_window() {
        let samples = [sample(true, 10), sample(false, 200), sample(true, 20), sample(true, 30)];
        let refs: Vec<&ProbeSample> = samples.iter().collect();
        assert_eq!(measure(GateKind::Availability, &refs, None), 75.0);
        assert_eq!(measure(GateKind::ErrorRate, &refs, None), 25.0);
        assert_eq!(measure(GateKind::LatencyP95, &refs, None), 200.0);
        let reported = crate::observation::MetricsSample {
            values: [("error_rate_percent".to_owned(), 0.5), ("latency_p95_ms".to_owned(), 42.0)].into(),
        };
        assert_eq!(measure(GateKind::ErrorRate, &refs, Some(&reported)), 0.5);
        assert_eq!(measure(GateKind::LatencyP95, &refs, Some(&reported)), 42.0);
        assert_eq!(measure(GateKind::Availability, &[], None), 0.0);
    }
}
