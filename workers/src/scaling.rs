//! The scaling worker: each round it evaluates every active scaling policy against the
//! metrics its workload reported and records a scaling decision (`RecordScalingDecision`) where
//! the replicas should change. The policy owns the rules a decision must meet (active, within
//! the range, a changed count, a watched signal); this loop owns what the domain leaves to
//! "the autoscaler": the arithmetic, stabilization and cooldown.
//!
//! The arithmetic is Kubernetes HPA's (and so KEDA's, which feeds the HPA):
//! - **per trigger**, from one metrics sample and the replicas that produced it (`n`):
//!   utilisation triggers (cpu, memory) want `ceil(n * observed / target)`; count triggers
//!   (http concurrency, queue length, custom metric) report a workload total and want
//!   `ceil(observed / target)` replicas, which is the same figure with the total spread over
//!   `n` replicas, and also works from zero replicas (KEDA's `AverageValue`, how a queue wakes
//!   a workload scaled to zero). A ratio within the tolerance of the target keeps `n`.
//! - **per sample**, the highest want over the triggers, clamped to the policy's replica range
//!   (which the domain keeps within the tenant's quota).
//! - **stabilization**: the lowest recommendation over the scale-up window caps a scale-up and
//!   the highest over the scale-down window floors a scale-down, so one spike does not add
//!   replicas for long and one quiet sample does not remove them (HPA's `behavior`). The
//!   newest sample is always in both windows, so a window of 0 acts on it alone.
//! - **cooldown**: no decision until the policy's cooldown has passed since its last one.
//!
//! Which metric each trigger reads ([`metric_name`]) is named in the alphabet the
//! `reportMetrics` mutation accepts (`[a-z0-9_]`, at most 64): `cpu_percent`,
//! `memory_percent` (averages over the replicas, in percent of the requested resource),
//! `http_concurrency` (concurrent requests of the whole workload), `queue_length_<queue>` and
//! the custom metric's own name (lowercased, any other character turned into `_`; a name
//! longer than 64 then cannot be reported). An optional `replicas` metric says how many
//! replicas produced a sample; without it the policy's decisions say (the last one's `from`
//! before it, its `to` after, else the minimum). Cron triggers are not judged here: a cron
//! trigger names when its window starts but not when it ends, so whether it is in force cannot
//! be told. SLO targets are not acted on either: a decision must name a trigger kind as its
//! signal, and an SLO is none.
//!
//! Safety: a scale-down needs every sample of its window to carry every trigger's metric (a
//! missing metric could be the one holding replicas up; HPA does the same); no decision is
//! taken on metrics older than [`ScalingSettings::max_sample_age`] (a silent reporter is no
//! evidence of load or its absence).
//!
//! Like the other loops it keeps no memory between rounds: everything comes from stored
//! observations and the policy, so a new leader decides as the old one would have. Each
//! decision is `worker:scaling`'s, in the trace of the newest sample it used, caused by that
//! sample and keyed by policy and sample (a repeat is a no-op).
//!
//! Layout: [`ScalingSettings`]; the pure part ([`metric_name`], [`Reading`], [`decide`],
//! [`Decision`]); the loop ([`ScalingLoop`]); tests of [`decide`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::{CommandError, CommandOptions, RequestContext};
use domain::environments::Reason;
use domain::scaling::{
    PolicySpec, ScalingDecision, ScalingPolicy, ScalingPolicyCommand, ScalingPolicyStatus, ScalingSignal, Trigger,
    SCALING_POLICY_SCOPE,
};

use crate::error::ReactorError;
use crate::observation::{Observations, Target};
use crate::periodic::{Periodic, Round};
use crate::reaction;

/// The loop's name (its actor is `worker:scaling`).
pub const NAME: &str = "scaling";

/// The metric that says how many replicas produced a sample (optional).
pub const REPLICAS_METRIC: &str = "replicas";

/// How the scaling worker runs and judges.
#[derive(Debug, Clone)]
pub struct ScalingSettings {
    /// The pause between two rounds.
    pub interval: Duration,
    /// Newest metrics older than this decide nothing: the reporter may have stopped.
    pub max_sample_age: chrono::Duration,
    /// How far (as a fraction) a trigger's observed/target ratio may stray from 1 before it
    /// asks for other replicas; keeps noise from adding and removing one replica in turn
    /// (HPA's default is 0.1).
    pub tolerance: f64,
}

impl Default for ScalingSettings {
    fn default() -> Self {
        Self { interval: Duration::from_secs(15), max_sample_age: chrono::Duration::minutes(2), tolerance: 0.1 }
    }
}

/// How a trigger's figure relates to replicas.
#[derive(Debug, Clone, Copy)]
enum Measure {
    /// An average over the replicas (utilisation in percent) with this target.
    Average(f64),
    /// A total of the workload with this target per replica.
    Total(f64),
}

/// `name` in the alphabet `reportMetrics` accepts: ASCII lowercased, anything else than a
/// letter, a digit or `_` turned into `_`.
fn reportable(name: &str) -> String {
    name.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect()
}

/// The name of the metric `trigger` is judged on; `None` for a cron trigger (see the module).
pub fn metric_name(trigger: &Trigger) -> Option<String> {
    match trigger {
        Trigger::Cpu { .. } => Some("cpu_percent".to_owned()),
        Trigger::Memory { .. } => Some("memory_percent".to_owned()),
        Trigger::HttpConcurrency { .. } => Some("http_concurrency".to_owned()),
        Trigger::QueueLength { queue, .. } => Some(format!("queue_length_{}", reportable(queue.as_str()))),
        Trigger::CustomMetric { metric, .. } => Some(reportable(metric.as_str())),
        Trigger::Cron { .. } => None,
    }
}

fn measure(trigger: &Trigger) -> Option<Measure> {
    match trigger {
        Trigger::Cpu { target_percent } | Trigger::Memory { target_percent } => {
            Some(Measure::Average(f64::from(target_percent.get())))
        }
        Trigger::HttpConcurrency { target } | Trigger::QueueLength { target, .. } => {
            Some(Measure::Total(f64::from(target.get())))
        }
        Trigger::CustomMetric { target, .. } => Some(Measure::Total(target.get())),
        Trigger::Cron { .. } => None,
    }
}

/// The replicas `measure` wants for `observed` produced by `replicas` replicas.
fn wanted(measure: Measure, observed: f64, replicas: u32, tolerance: f64) -> u32 {
    let n = f64::from(replicas);
    let (ratio, raw) = match measure {
        Measure::Average(target) => (observed / target, n * observed / target),
        Measure::Total(target) if replicas == 0 => return ceil(observed / target),
        Measure::Total(target) => (observed / (target * n), observed / target),
    };
    if (ratio - 1.0).abs() <= tolerance {
        replicas
    } else {
        ceil(raw)
    }
}

/// Rounds up, forgiving float noise (3 * 70 / 70 is 3, not 4), saturating at `u32::MAX`.
fn ceil(value: f64) -> u32 {
    // `as` saturates (and maps NaN to 0); callers only pass finite, non-negative values.
    (value - 1e-9).ceil().max(0.0) as u32
}

/// One metrics sample as [`decide`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    /// When it was observed.
    pub at: DateTime<Utc>,
    /// Its values by metric name.
    pub values: &'a BTreeMap<String, f64>,
}

impl Reading<'_> {
    /// A usable value of `name`: finite and not negative (what a signal may carry).
    fn value(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied().filter(|v| v.is_finite() && *v >= 0.0)
    }
}

/// What one sample recommends.
#[derive(Debug, Clone)]
struct Recommendation {
    /// Index of the sample in the readings.
    index: usize,
    at: DateTime<Utc>,
    /// Wanted replicas, clamped to the range.
    replicas: u32,
    /// The trigger behind it: its metric, the signal, what it wanted before clamping.
    metric: String,
    signal: ScalingSignal,
    unclamped: u32,
    /// The replicas that produced the sample.
    produced_by: u32,
    /// Every metric trigger had a value.
    complete: bool,
}

/// The replicas that produced `reading`: as reported, else as the decisions say.
fn replicas_at(reading: &Reading<'_>, last: Option<&ScalingDecision>, min: u32) -> u32 {
    if let Some(reported) = reading.value(REPLICAS_METRIC) {
        return reported.round().min(f64::from(u32::MAX)) as u32;
    }
    match last {
        Some(d) if reading.at < d.at() => d.from_replicas(),
        Some(d) => d.to_replicas(),
        None => min,
    }
}

fn recommend(
    spec: &PolicySpec,
    index: usize,
    reading: &Reading<'_>,
    last: Option<&ScalingDecision>,
    tolerance: f64,
) -> Option<Recommendation> {
    let range = spec.replicas();
    let produced_by = replicas_at(reading, last, range.min());
    let mut complete = true;
    let mut best: Option<Recommendation> = None;
    for trigger in spec.triggers() {
        let (Some(metric), Some(measure)) = (metric_name(trigger), measure(trigger)) else { continue };
        let Some(observed) = reading.value(&metric) else {
            complete = false;
            continue;
        };
        let Ok(signal) = ScalingSignal::new(trigger.kind(), observed) else { continue };
        let unclamped = wanted(measure, observed, produced_by, tolerance);
        if best.as_ref().is_some_and(|b| b.unclamped >= unclamped) {
            continue;
        }
        let replicas = unclamped.clamp(range.min(), range.max());
        best = Some(Recommendation {
            index,
            at: reading.at,
            replicas,
            metric,
            signal,
            unclamped,
            produced_by,
            complete: true,
        });
    }
    best.map(|b| Recommendation { complete, ..b })
}

/// A scaling decision to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Replicas before (the last decision's, else the policy's minimum).
    pub from_replicas: u32,
    /// Replicas after.
    pub to_replicas: u32,
    /// The trigger and value behind the recommendation acted on.
    pub signal: ScalingSignal,
    /// The explanation recorded with the decision.
    pub reason: String,
    /// Index in the readings of the newest sample used: the decision's cause and trace.
    pub basis: usize,
}

/// What `spec` decides at `now` from `readings` (oldest first), its `last` decision and
/// `settings` (pure; see the module for the rules). `None`: keep the replicas.
pub fn decide(
    spec: &PolicySpec,
    last: Option<&ScalingDecision>,
    readings: &[Reading<'_>],
    now: DateTime<Utc>,
    settings: &ScalingSettings,
) -> Option<Decision> {
    let range = spec.replicas();
    let current = last.map_or(range.min(), ScalingDecision::to_replicas);
    let seconds = |s: u32| chrono::Duration::seconds(i64::from(s));
    if let Some(last) = last {
        if now < last.at() + seconds(spec.cooldown().seconds()) {
            return None;
        }
    }
    let recommendations: Vec<Recommendation> =
        readings.iter().enumerate().filter_map(|(i, r)| recommend(spec, i, r, last, settings.tolerance)).collect();
    let newest = recommendations.last()?;
    if now - newest.at > settings.max_sample_age {
        return None;
    }
    let up_window = spec.scale_up_stabilization().seconds();
    let down_window = spec.scale_down_stabilization().seconds();
    let within = |window: u32| {
        let since = now - seconds(window);
        recommendations.iter().filter(move |r| r.at >= since || r.index == newest.index)
    };
    // Ties go to the newest sample: it explains the decision best.
    let up = within(up_window).fold(newest, |best, r| if r.replicas <= best.replicas { r } else { best });
    let down = within(down_window).fold(newest, |best, r| if r.replicas >= best.replicas { r } else { best });
    // `up <= newest <= down`, so this lies within the range even when `current` does not (a
    // spec updated to a narrower range since the last decision).
    let to = current.max(up.replicas).min(down.replicas);
    if to == current {
        return None;
    }
    let (chosen, direction, extreme, window) = if to > current {
        (up, "up", "lowest", up_window)
    } else {
        if !within(down_window).all(|r| r.complete) {
            return None;
        }
        (down, "down", "highest", down_window)
    };
    let clamped =
        if chosen.unclamped == chosen.replicas { String::new() } else { format!(", clamped to the range {range}") };
    let reason = format!(
        "{metric} {observed} at {n} replicas wants {wanted}{clamped}; scaling {direction} from {current} to {to}, \
         the {extreme} recommendation over the {window} s scale-{direction} stabilization window",
        metric = chosen.metric,
        observed = chosen.signal.observed(),
        n = chosen.produced_by,
        wanted = chosen.unclamped,
    );
    Some(Decision { from_replicas: current, to_replicas: to, signal: chosen.signal, reason, basis: newest.index })
}

/// Scales workloads by their active policies and reported metrics (see the module).
pub struct ScalingLoop {
    observations: Observations,
    settings: ScalingSettings,
}

impl ScalingLoop {
    /// The loop reading metrics from `observations`, judging by `settings`.
    pub fn new(observations: Observations, settings: ScalingSettings) -> Self {
        Self { observations, settings }
    }
}

#[async_trait::async_trait]
impl Periodic for ScalingLoop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.settings.interval
    }

    async fn round(&self, round: &Round<'_>) -> Result<(), ReactorError> {
        // The policies' claims name every policy there is (never released, one range of the
        // claims' primary key); the aggregate says which are active.
        let policies: Vec<String> =
            sqlx::query_scalar("SELECT aggregate_id FROM unique_claims WHERE scope = $1 ORDER BY key")
                .bind(SCALING_POLICY_SCOPE)
                .fetch_all(round.bus.pool())
                .await?;
        // One policy that cannot be judged (a sample that no longer decodes) must not stop the
        // others from scaling: go on, and fail the round at the end so it is counted.
        let mut failed = None;
        for id in policies {
            if !round.still_leading().await? {
                return Ok(());
            }
            match self.evaluate(round, &id).await {
                Ok(()) => {}
                Err(err @ ReactorError::Command(CommandError::Fenced(_))) => return Err(err),
                Err(err) => {
                    tracing::warn!(policy = %id, error = %err, "could not evaluate the scaling policy");
                    failed.get_or_insert(err);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

impl ScalingLoop {
    /// Evaluates one policy and records its decision, if any.
    async fn evaluate(&self, round: &Round<'_>, id: &str) -> Result<(), ReactorError> {
        let policy = round.bus.routes().scaling_policies.store.load(id).await?.aggregate;
        if policy.status() != Some(ScalingPolicyStatus::Active) {
            return Ok(());
        }
        let (Some(spec), Some(service), Some(environment)) = (policy.spec(), policy.service(), policy.environment())
        else {
            return Ok(());
        };
        if !spec.triggers().iter().any(|t| metric_name(t).is_some()) {
            return Ok(());
        }
        let now = Utc::now();
        let longest = spec.scale_up_stabilization().max(spec.scale_down_stabilization()).seconds();
        let reach = chrono::Duration::seconds(i64::from(longest)).max(self.settings.max_sample_age);
        let target = Target::workload(*environment, *service, policy.tenant().cloned());
        let samples = self
            .observations
            .metrics_since(&target, now - reach)
            .await
            .map_err(|e| ReactorError::Lookup(e.to_string()))?;
        let readings: Vec<Reading<'_>> =
            samples.iter().map(|s| Reading { at: s.observed_at, values: &s.body.values }).collect();
        let Some(decision) = decide(spec, policy.last_decision(), &readings, now, &self.settings) else {
            return Ok(());
        };
        let Some(basis) = samples.get(decision.basis) else { return Ok(()) };
        let reason = Reason::parse(&decision.reason).map_err(|e| ReactorError::Lookup(e.to_string()))?;
        let ctx = RequestContext::worker(NAME, basis.trace_id.clone());
        let options = CommandOptions {
            causation_id: Some(basis.id.to_string()),
            idempotency_key: Some(format!("{NAME}:{id}:{}", basis.id)),
            ..Default::default()
        };
        let command = ScalingPolicyCommand::RecordScalingDecision {
            from_replicas: decision.from_replicas,
            to_replicas: decision.to_replicas,
            signal: decision.signal,
            reason,
            at: now,
        };
        tracing::info!(
            policy = id,
            from = decision.from_replicas,
            to = decision.to_replicas,
            reason = %decision.reason,
            "scaling"
        );
        let result = round.bus.execute::<ScalingPolicy>(&ctx, id, command, options).await;
        round.acted();
        reaction::settled(result, "record scaling decision")
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::Aggregate;
    use domain::scaling::{
        QueueName, ReplicaRange, ScalingPolicyEvent, SloTargets, TargetCount, TargetPercent, TriggerKind, WindowSeconds,
    };

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn cpu(target: u32) -> Trigger {
        Trigger::Cpu { target_percent: TargetPercent::new(target).unwrap() }
    }

    fn queue(name: &str, target: u32) -> Trigger {
        Trigger::QueueLength { queue: QueueName::parse(name).unwrap(), target: TargetCount::new(target).unwrap() }
    }

    /// A spec of `min..=max` with `triggers`, stabilization up/down and cooldown in seconds.
    fn spec(min: u32, max: u32, triggers: Vec<Trigger>, windows: (u32, u32, u32)) -> PolicySpec {
        let w = |s| WindowSeconds::new(s).unwrap();
        PolicySpec::new(
            ReplicaRange::new(min, max).unwrap(),
            triggers,
            w(windows.0),
            w(windows.1),
            w(windows.2),
            SloTargets::default(),
        )
        .unwrap()
    }

    /// The last decision of a policy that scaled `from` to `to` at `when` (through the
    /// aggregate: a decision is only ever built from its event).
    fn last(from: u32, to: u32, when: i64) -> ScalingDecision {
        let mut policy = ScalingPolicy::default();
        policy.apply(ScalingPolicyEvent::ScalingDecisionRecorded {
            from_replicas: from,
            to_replicas: to,
            signal: ScalingSignal::new(TriggerKind::Cpu, 90.0).unwrap(),
            reason: Reason::parse("test").unwrap(),
            policy_version: 1,
            at: at(when),
        });
        policy.last_decision().unwrap().clone()
    }

    fn values(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    fn readings<'a>(samples: &'a [(i64, BTreeMap<String, f64>)]) -> Vec<Reading<'a>> {
        samples.iter().map(|(t, v)| Reading { at: at(*t), values: v }).collect()
    }

    fn settings() -> ScalingSettings {
        ScalingSettings::default()
    }

    #[test]
    fn high_cpu_scales_up_by_the_hpa_formula() {
        let spec = spec(1, 10, vec![cpu(70)], (0, 300, 60));
        let samples = [(90, values(&[("cpu_percent", 140.0)]))];
        let decision = decide(&spec, Some(&last(1, 2, 0)), &readings(&samples), at(100), &settings()).unwrap();
        assert_eq!((decision.from_replicas, decision.to_replicas), (2, 4));
        assert_eq!(decision.signal, ScalingSignal::new(TriggerKind::Cpu, 140.0).unwrap());
        assert_eq!(decision.basis, 0);
        assert!(decision.reason.contains("cpu_percent 140 at 2 replicas wants 4"), "{}", decision.reason);
    }

    #[test]
    fn the_trigger_wanting_most_replicas_decides() {
        let spec = spec(1, 10, vec![cpu(70), queue("orders", 10)], (0, 300, 0));
        let samples = [(90, values(&[("cpu_percent", 140.0), ("queue_length_orders", 75.0)]))];
        let decision = decide(&spec, Some(&last(1, 2, 0)), &readings(&samples), at(100), &settings()).unwrap();
        assert_eq!(decision.to_replicas, 8, "75 messages at 10 per replica beat cpu's 4");
        assert_eq!(decision.signal.trigger(), TriggerKind::QueueLength);
    }

    #[test]
    fn a_queue_wakes_a_workload_scaled_to_zero() {
        let spec = spec(0, 10, vec![queue("orders", 10)], (0, 300, 0));
        let samples = [(90, values(&[("queue_length_orders", 25.0)]))];
        let decision = decide(&spec, None, &readings(&samples), at(100), &settings()).unwrap();
        assert_eq!((decision.from_replicas, decision.to_replicas), (0, 3));
    }

    #[test]
    fn a_busier_sample_in_the_scale_down_window_holds_the_replicas() {
        let spec = spec(1, 10, vec![cpu(50)], (0, 300, 0));
        // At 4 replicas: 100 % wanted 8 (before the window), 60 % wants 5 (inside it), 20 %
        // now wants 2. The window's highest, 5, is above 4: no scale-down, and the scale-up
        // window (0 s, the newest sample) asks for no more either.
        let samples = [
            (0, values(&[("cpu_percent", 100.0)])),
            (800, values(&[("cpu_percent", 60.0)])),
            (990, values(&[("cpu_percent", 20.0)])),
        ];
        assert_eq!(decide(&spec, Some(&last(2, 4, -100)), &readings(&samples), at(1000), &settings()), None);
    }

    #[test]
    fn scale_down_waits_for_the_window_then_goes_to_its_highest() {
        let spec = spec(1, 10, vec![cpu(50)], (0, 300, 0));
        // At 6 replicas: 40 % wants 5 (in the window), 20 % now wants 3.
        let samples = [
            (0, values(&[("cpu_percent", 90.0)])),
            (800, values(&[("cpu_percent", 40.0)])),
            (990, values(&[("cpu_percent", 20.0)])),
        ];
        let decision = decide(&spec, Some(&last(4, 6, -100)), &readings(&samples), at(1000), &settings()).unwrap();
        assert_eq!((decision.from_replicas, decision.to_replicas), (6, 5));
        assert_eq!(decision.signal.observed(), 40.0, "the sample behind the highest recommendation");
        assert_eq!(decision.basis, 2, "caused by the newest sample used");
        // Only the quiet sample in the window: down to what it wants.
        let quiet = [(0, values(&[("cpu_percent", 90.0)])), (990, values(&[("cpu_percent", 20.0)]))];
        let decision = decide(&spec, Some(&last(4, 6, -100)), &readings(&quiet), at(1000), &settings()).unwrap();
        assert_eq!(decision.to_replicas, 3);
    }

    #[test]
    fn scale_up_takes_the_lowest_recommendation_of_its_window() {
        let spec = spec(1, 10, vec![cpu(50)], (120, 300, 0));
        // At 2 replicas: 100 % wants 4, 200 % now wants 8; the window's lowest is 4.
        let samples = [(900, values(&[("cpu_percent", 100.0)])), (990, values(&[("cpu_percent", 200.0)]))];
        let decision = decide(&spec, Some(&last(1, 2, 0)), &readings(&samples), at(1000), &settings()).unwrap();
        assert_eq!(decision.to_replicas, 4);
    }

    #[test]
    fn recommendations_are_clamped_to_the_replica_range() {
        let spec_up = spec(2, 5, vec![cpu(50)], (0, 0, 0));
        let hot = [(90, values(&[("cpu_percent", 100.0)]))];
        let decision = decide(&spec_up, Some(&last(2, 4, 0)), &readings(&hot), at(100), &settings()).unwrap();
        assert_eq!(decision.to_replicas, 5);
        assert!(decision.reason.contains("wants 8, clamped to the range 2..=5"), "{}", decision.reason);
        let cold = [(90, values(&[("cpu_percent", 1.0)]))];
        let decision = decide(&spec_up, Some(&last(2, 4, 0)), &readings(&cold), at(100), &settings()).unwrap();
        assert_eq!(decision.to_replicas, 2);
        // A range narrowed since the last decision brings the replicas back within it.
        let steady = [(90, values(&[("cpu_percent", 50.0)]))];
        let decision = decide(&spec_up, Some(&last(4, 8, 0)), &readings(&steady), at(100), &settings()).unwrap();
        assert_eq!((decision.from_replicas, decision.to_replicas), (8, 5));
    }

    #[test]
    fn the_cooldown_suppresses_decisions() {
        let spec = spec(1, 10, vec![cpu(70)], (0, 0, 60));
        let samples = [(95, values(&[("cpu_percent", 140.0)]))];
        assert_eq!(decide(&spec, Some(&last(1, 2, 50)), &readings(&samples), at(100), &settings()), None);
        assert!(decide(&spec, Some(&last(1, 2, 40)), &readings(&samples), at(100), &settings()).is_some());
    }

    #[test]
    fn no_metrics_no_decision() {
        let spec = spec(1, 10, vec![cpu(70)], (0, 0, 0));
        assert_eq!(decide(&spec, None, &[], at(100), &settings()), None);
        // Metrics of nothing the policy watches, or stale ones, are no metrics either.
        let other = [(90, values(&[("latency_p95_ms", 900.0)]))];
        assert_eq!(decide(&spec, None, &readings(&other), at(100), &settings()), None);
        let stale = [(0, values(&[("cpu_percent", 200.0)]))];
        assert_eq!(decide(&spec, None, &readings(&stale), at(1000), &settings()), None);
    }

    #[test]
    fn a_scale_down_needs_every_watched_metric_and_noise_moves_nothing() {
        let spec = spec(1, 10, vec![cpu(50), queue("orders", 10)], (0, 0, 0));
        let cpu_only = [(90, values(&[("cpu_percent", 10.0)]))];
        assert_eq!(decide(&spec, Some(&last(2, 6, 0)), &readings(&cpu_only), at(100), &settings()), None);
        let both = [(90, values(&[("cpu_percent", 10.0), ("queue_length_orders", 0.0)]))];
        assert_eq!(decide(&spec, Some(&last(2, 6, 0)), &readings(&both), at(100), &settings()).unwrap().to_replicas, 2);
        let near_target = [(90, values(&[("cpu_percent", 54.0), ("queue_length_orders", 0.0)]))];
        assert_eq!(decide(&spec, Some(&last(2, 6, 0)), &readings(&near_target), at(100), &settings()), None);
    }

    #[test]
    fn reported_replicas_say_what_produced_a_sample() {
        let spec = spec(1, 10, vec![cpu(50)], (0, 0, 0));
        // Decided 6, but the environment still runs 3 at 100 %: 6 is what it wants, no more.
        let lagging = [(90, values(&[("cpu_percent", 100.0), (REPLICAS_METRIC, 3.0)]))];
        assert_eq!(decide(&spec, Some(&last(3, 6, 0)), &readings(&lagging), at(100), &settings()), None);
    }

    #[test]
    fn metric_names_are_reportable() {
        assert_eq!(metric_name(&queue("Billing/orders.v2", 5)).as_deref(), Some("queue_length_billing_orders_v2"));
        let custom = Trigger::CustomMetric {
            metric: domain::scaling::MetricName::parse("customMetrics/Orders Pending").unwrap(),
            target: domain::scaling::MetricTarget::new(2.5).unwrap(),
        };
        assert_eq!(metric_name(&custom).as_deref(), Some("custommetrics_orders_pending"));
        assert_eq!(metric_name(&cpu(70)).as_deref(), Some("cpu_percent"));
    }
}
