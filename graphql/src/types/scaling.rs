//! `ScalingPolicy` (how one service scales in one environment, optionally for one tenant) and
//! the inputs of its mutations. Inputs parse into the domain's value objects; every refusal is
//! `INVALID_INPUT`.

use async_graphql::{Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::scaling as sc;

use crate::command::invalid;
use crate::error::ApiError;

/// A whole number from the API as the domain's `u32`; negative or too large is `INVALID_INPUT`.
fn to_u32(field: &str, value: i64) -> Result<u32, ApiError> {
    u32::try_from(value).map_err(|_| invalid(format!("{field} must be between 0 and {}: {value}", u32::MAX)))
}

/// Where a scaling policy is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ScalingPolicyStatus {
    /// Defined, not yet applied; may be edited freely.
    Draft,
    /// Applied; the autoscaler acts on it and its decisions are recorded.
    Active,
    /// Not applied; the service keeps its current replicas until reactivated.
    Suspended,
}

impl From<sc::ScalingPolicyStatus> for ScalingPolicyStatus {
    fn from(s: sc::ScalingPolicyStatus) -> Self {
        match s {
            sc::ScalingPolicyStatus::Draft => Self::Draft,
            sc::ScalingPolicyStatus::Active => Self::Active,
            sc::ScalingPolicyStatus::Suspended => Self::Suspended,
        }
    }
}

impl From<ScalingPolicyStatus> for sc::ScalingPolicyStatus {
    fn from(s: ScalingPolicyStatus) -> Self {
        match s {
            ScalingPolicyStatus::Draft => Self::Draft,
            ScalingPolicyStatus::Active => Self::Active,
            ScalingPolicyStatus::Suspended => Self::Suspended,
        }
    }
}

/// The kind of a scaling trigger (a KEDA scaler the platform supports); a scaling decision
/// names the kind of signal it acted on.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ScalingTriggerKind {
    /// CPU utilisation (`targetPercent`).
    Cpu,
    /// Memory utilisation (`targetPercent`).
    Memory,
    /// Concurrent HTTP requests per replica (`target`).
    HttpConcurrency,
    /// Messages waiting in a queue (`queue`, `target`).
    QueueLength,
    /// A time window (`schedule`, `timezone`, `desiredReplicas`).
    Cron,
    /// An Application Insights metric (`metric`, `metricTarget`).
    CustomMetric,
}

impl From<ScalingTriggerKind> for sc::TriggerKind {
    fn from(k: ScalingTriggerKind) -> Self {
        match k {
            ScalingTriggerKind::Cpu => Self::Cpu,
            ScalingTriggerKind::Memory => Self::Memory,
            ScalingTriggerKind::HttpConcurrency => Self::HttpConcurrency,
            ScalingTriggerKind::QueueLength => Self::QueueLength,
            ScalingTriggerKind::Cron => Self::Cron,
            ScalingTriggerKind::CustomMetric => Self::CustomMetric,
        }
    }
}

impl From<sc::TriggerKind> for ScalingTriggerKind {
    fn from(k: sc::TriggerKind) -> Self {
        match k {
            sc::TriggerKind::Cpu => Self::Cpu,
            sc::TriggerKind::Memory => Self::Memory,
            sc::TriggerKind::HttpConcurrency => Self::HttpConcurrency,
            sc::TriggerKind::QueueLength => Self::QueueLength,
            sc::TriggerKind::Cron => Self::Cron,
            sc::TriggerKind::CustomMetric => Self::CustomMetric,
        }
    }
}

/// One reason to scale. Give exactly the fields of its `kind`, no others:
/// `CPU`/`MEMORY`: `targetPercent`; `HTTP_CONCURRENCY`: `target`; `QUEUE_LENGTH`: `queue`,
/// `target`; `CRON`: `schedule`, `timezone`, `desiredReplicas`; `CUSTOM_METRIC`: `metric`,
/// `metricTarget`. A missing or extra field is `INVALID_INPUT`.
#[derive(InputObject, Debug, Clone)]
pub struct ScalingTriggerInput {
    /// Kind of trigger; decides which other fields are required.
    pub kind: ScalingTriggerKind,
    /// Utilisation target in percent of the requested resource, 1..=100 (`CPU`, `MEMORY`).
    pub target_percent: Option<i64>,
    /// Per-replica target count, at least 1 (`HTTP_CONCURRENCY`: requests; `QUEUE_LENGTH`:
    /// messages).
    pub target: Option<i64>,
    /// Queue watched (Service Bus or Storage queue name) (`QUEUE_LENGTH`).
    pub queue: Option<String>,
    /// Five-field cron expression of when the window starts (`CRON`).
    pub schedule: Option<String>,
    /// IANA time zone the schedule is read in, e.g. `UTC`, `Europe/Amsterdam` (`CRON`).
    pub timezone: Option<String>,
    /// Replicas to run in the window; within the policy's replica range (`CRON`).
    pub desired_replicas: Option<i64>,
    /// Application Insights metric name, e.g. `customMetrics/OrdersPending`
    /// (`CUSTOM_METRIC`).
    pub metric: Option<String>,
    /// Metric value per replica, a finite number above 0 (`CUSTOM_METRIC`).
    pub metric_target: Option<f64>,
}

impl ScalingTriggerInput {
    /// The names of the fields that are set, in declaration order.
    fn present(&self) -> Vec<&'static str> {
        [
            ("targetPercent", self.target_percent.is_some()),
            ("target", self.target.is_some()),
            ("queue", self.queue.is_some()),
            ("schedule", self.schedule.is_some()),
            ("timezone", self.timezone.is_some()),
            ("desiredReplicas", self.desired_replicas.is_some()),
            ("metric", self.metric.is_some()),
            ("metricTarget", self.metric_target.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// Parses into the domain trigger: checks that exactly the fields of `kind` are set, then
    /// parses each.
    pub fn parse(&self) -> Result<sc::Trigger, ApiError> {
        use ScalingTriggerKind as K;
        let kind = sc::TriggerKind::from(self.kind);
        let wanted: &[&str] = match self.kind {
            K::Cpu | K::Memory => &["targetPercent"],
            K::HttpConcurrency => &["target"],
            K::QueueLength => &["queue", "target"],
            K::Cron => &["schedule", "timezone", "desiredReplicas"],
            K::CustomMetric => &["metric", "metricTarget"],
        };
        let present = self.present();
        let extra: Vec<&str> = present.iter().copied().filter(|f| !wanted.contains(f)).collect();
        if !extra.is_empty() {
            return Err(invalid(format!("a {kind} trigger does not take {}", extra.join(", "))));
        }
        let missing: Vec<&str> = wanted.iter().copied().filter(|f| !present.contains(f)).collect();
        if !missing.is_empty() {
            return Err(invalid(format!("a {kind} trigger needs {}", missing.join(", "))));
        }
        let need = |field: &str| invalid(format!("a {kind} trigger needs {field}"));
        let percent = || -> Result<sc::TargetPercent, ApiError> {
            let value = self.target_percent.ok_or_else(|| need("targetPercent"))?;
            sc::TargetPercent::new(to_u32("targetPercent", value)?).map_err(invalid)
        };
        let count = || -> Result<sc::TargetCount, ApiError> {
            let value = self.target.ok_or_else(|| need("target"))?;
            sc::TargetCount::new(to_u32("target", value)?).map_err(invalid)
        };
        Ok(match self.kind {
            K::Cpu => sc::Trigger::Cpu { target_percent: percent()? },
            K::Memory => sc::Trigger::Memory { target_percent: percent()? },
            K::HttpConcurrency => sc::Trigger::HttpConcurrency { target: count()? },
            K::QueueLength => sc::Trigger::QueueLength {
                queue: sc::QueueName::parse(self.queue.as_deref().ok_or_else(|| need("queue"))?).map_err(invalid)?,
                target: count()?,
            },
            K::Cron => sc::Trigger::Cron {
                schedule: sc::CronSchedule::parse(self.schedule.as_deref().ok_or_else(|| need("schedule"))?)
                    .map_err(invalid)?,
                timezone: sc::Timezone::parse(self.timezone.as_deref().ok_or_else(|| need("timezone"))?)
                    .map_err(invalid)?,
                desired_replicas: to_u32(
                    "desiredReplicas",
                    self.desired_replicas.ok_or_else(|| need("desiredReplicas"))?,
                )?,
            },
            K::CustomMetric => sc::Trigger::CustomMetric {
                metric: sc::MetricName::parse(self.metric.as_deref().ok_or_else(|| need("metric"))?)
                    .map_err(invalid)?,
                target: sc::MetricTarget::new(self.metric_target.ok_or_else(|| need("metricTarget"))?)
                    .map_err(invalid)?,
            },
        })
    }
}

/// One reason to scale, with its target; only the fields of its `kind` are set (see
/// `ScalingTriggerInput`).
#[derive(SimpleObject, Debug, Clone)]
pub struct ScalingTrigger {
    /// Kind of trigger.
    pub kind: ScalingTriggerKind,
    /// Utilisation target in percent (`CPU`, `MEMORY`).
    pub target_percent: Option<i64>,
    /// Per-replica target count (`HTTP_CONCURRENCY`, `QUEUE_LENGTH`).
    pub target: Option<i64>,
    /// Queue watched (`QUEUE_LENGTH`).
    pub queue: Option<String>,
    /// Cron expression (`CRON`).
    pub schedule: Option<String>,
    /// IANA time zone of the schedule (`CRON`).
    pub timezone: Option<String>,
    /// Replicas to run in the window (`CRON`).
    pub desired_replicas: Option<i64>,
    /// Application Insights metric name (`CUSTOM_METRIC`).
    pub metric: Option<String>,
    /// Metric value per replica (`CUSTOM_METRIC`).
    pub metric_target: Option<f64>,
}

impl From<&sc::Trigger> for ScalingTrigger {
    fn from(t: &sc::Trigger) -> Self {
        let base = Self {
            kind: t.kind().into(),
            target_percent: None,
            target: None,
            queue: None,
            schedule: None,
            timezone: None,
            desired_replicas: None,
            metric: None,
            metric_target: None,
        };
        match t {
            sc::Trigger::Cpu { target_percent } | sc::Trigger::Memory { target_percent } => {
                Self { target_percent: Some(target_percent.get().into()), ..base }
            }
            sc::Trigger::HttpConcurrency { target } => Self { target: Some(target.get().into()), ..base },
            sc::Trigger::QueueLength { queue, target } => {
                Self { queue: Some(queue.to_string()), target: Some(target.get().into()), ..base }
            }
            sc::Trigger::Cron { schedule, timezone, desired_replicas } => Self {
                schedule: Some(schedule.to_string()),
                timezone: Some(timezone.to_string()),
                desired_replicas: Some((*desired_replicas).into()),
                ..base
            },
            sc::Trigger::CustomMetric { metric, target } => {
                Self { metric: Some(metric.to_string()), metric_target: Some(target.get()), ..base }
            }
        }
    }
}

/// How many replicas a policy may run: `0 <= min <= max`, `1 <= max <= 1000` (`min` 0 allows
/// scale to zero).
#[derive(InputObject, Debug, Clone)]
pub struct ScalingReplicaRangeInput {
    /// Fewest replicas (0 = may scale to zero).
    pub min: i64,
    /// Most replicas (1..=1000; for a tenant's policy at most the tenant's replica quota).
    pub max: i64,
}

impl ScalingReplicaRangeInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<sc::ReplicaRange, ApiError> {
        sc::ReplicaRange::new(to_u32("replicas.min", self.min)?, to_u32("replicas.max", self.max)?).map_err(invalid)
    }
}

/// A policy's replica range.
#[derive(SimpleObject, Debug, Clone)]
pub struct ScalingReplicaRange {
    /// Fewest replicas (0 = may scale to zero).
    pub min: i64,
    /// Most replicas.
    pub max: i64,
}

/// Service level objectives the scaling worker evaluates the policy against; both optional.
#[derive(InputObject, Debug, Clone, Default)]
pub struct ScalingSloTargetsInput {
    /// 95th percentile latency objective in milliseconds (above 0).
    pub latency_p95_ms: Option<i64>,
    /// Availability objective in percent, above 0 and at most 100, e.g. 99.9.
    pub availability_percent: Option<f64>,
}

impl ScalingSloTargetsInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<sc::SloTargets, ApiError> {
        let latency = self.latency_p95_ms.map(|ms| to_u32("slo.latencyP95Ms", ms)).transpose()?;
        sc::SloTargets::new(latency, self.availability_percent).map_err(invalid)
    }
}

/// A policy's service level objectives.
#[derive(SimpleObject, Debug, Clone)]
pub struct ScalingSloTargets {
    /// 95th percentile latency objective in milliseconds.
    pub latency_p95_ms: Option<i64>,
    /// Availability objective in percent.
    pub availability_percent: Option<f64>,
}

/// Everything a policy version says about how a service scales; replaced as a whole by each
/// update.
#[derive(InputObject, Debug, Clone)]
pub struct ScalingPolicySpecInput {
    /// Replica range.
    pub replicas: ScalingReplicaRangeInput,
    /// 1 to 10 triggers, no two watching the same thing; cron replicas within the range.
    pub triggers: Vec<ScalingTriggerInput>,
    /// How long (seconds, 0..=3600) a higher recommendation must persist before scaling up.
    pub scale_up_stabilization_seconds: i64,
    /// How long (seconds, 0..=3600) a lower recommendation must persist before scaling down.
    pub scale_down_stabilization_seconds: i64,
    /// Least time (seconds, 0..=3600) between two scaling actions.
    pub cooldown_seconds: i64,
    /// Service level objectives; none when absent.
    pub slo: Option<ScalingSloTargetsInput>,
}

fn window(field: &str, seconds: i64) -> Result<sc::WindowSeconds, ApiError> {
    sc::WindowSeconds::new(to_u32(field, seconds)?).map_err(|e| invalid(format!("{field}: {e}")))
}

impl ScalingPolicySpecInput {
    /// Parses into the domain value (every part, then the rules across parts).
    pub fn parse(&self) -> Result<sc::PolicySpec, ApiError> {
        let triggers = self
            .triggers
            .iter()
            .enumerate()
            .map(|(i, t)| t.parse().map_err(|e| invalid(format!("triggers[{i}]: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        sc::PolicySpec::new(
            self.replicas.parse()?,
            triggers,
            window("scaleUpStabilizationSeconds", self.scale_up_stabilization_seconds)?,
            window("scaleDownStabilizationSeconds", self.scale_down_stabilization_seconds)?,
            window("cooldownSeconds", self.cooldown_seconds)?,
            self.slo.clone().unwrap_or_default().parse()?,
        )
        .map_err(invalid)
    }
}

/// The specification of a policy version.
#[derive(SimpleObject, Debug, Clone)]
pub struct ScalingPolicySpec {
    /// Replica range.
    pub replicas: ScalingReplicaRange,
    /// Triggers, in the order given.
    pub triggers: Vec<ScalingTrigger>,
    /// Scale-up stabilization window in seconds.
    pub scale_up_stabilization_seconds: i64,
    /// Scale-down stabilization window in seconds.
    pub scale_down_stabilization_seconds: i64,
    /// Least time between two scaling actions, in seconds.
    pub cooldown_seconds: i64,
    /// Service level objectives.
    pub slo: ScalingSloTargets,
}

impl From<&sc::PolicySpec> for ScalingPolicySpec {
    fn from(s: &sc::PolicySpec) -> Self {
        let slo = s.slo();
        Self {
            replicas: ScalingReplicaRange { min: s.replicas().min().into(), max: s.replicas().max().into() },
            triggers: s.triggers().iter().map(Into::into).collect(),
            scale_up_stabilization_seconds: s.scale_up_stabilization().seconds().into(),
            scale_down_stabilization_seconds: s.scale_down_stabilization().seconds().into(),
            cooldown_seconds: s.cooldown().seconds().into(),
            slo: ScalingSloTargets {
                latency_p95_ms: slo.latency_p95_ms().map(Into::into),
                availability_percent: slo.availability_percent(),
            },
        }
    }
}

/// Everything needed to define a scaling policy; it starts as a Draft at policy version 1.
#[derive(InputObject, Debug)]
pub struct DefineScalingPolicyInput {
    /// Client-chosen policy id (UUID), so a retried request targets the same policy;
    /// generated when absent.
    pub id: Option<ID>,
    /// The service scaled.
    pub service_id: ID,
    /// The environment it runs in.
    pub environment_id: ID,
    /// The tenant the policy is for (bound in the environment; `max` replicas within its
    /// quota); absent for a platform-wide policy.
    pub tenant_id: Option<String>,
    /// The specification.
    pub spec: ScalingPolicySpecInput,
}

/// The signal a scaling decision acted on.
#[derive(InputObject, Debug, Clone)]
pub struct ScalingSignalInput {
    /// Kind of trigger the signal came from; must be one the policy watches.
    pub trigger: ScalingTriggerKind,
    /// Observed value in the trigger's unit; finite and not negative.
    pub observed: f64,
}

/// A scaling decision the autoscaler took under an Active policy.
#[derive(InputObject, Debug, Clone)]
pub struct RecordScalingDecisionInput {
    /// Replicas before.
    pub from_replicas: i64,
    /// Replicas after; within the policy's replica range and different from `fromReplicas`.
    pub to_replicas: i64,
    /// The signal acted on.
    pub signal: ScalingSignalInput,
    /// The autoscaler's explanation (1 to 1000 characters).
    pub reason: String,
}

/// The signal a recorded scaling decision acted on.
#[derive(SimpleObject, Debug, Clone)]
pub struct ScalingSignal {
    /// Kind of trigger the signal came from.
    pub trigger: ScalingTriggerKind,
    /// Observed value, in the trigger's unit.
    pub observed: f64,
}

/// A recorded decision of the autoscaler.
#[derive(SimpleObject, Debug, Clone)]
pub struct ScalingDecision {
    /// Replicas before.
    pub from_replicas: i64,
    /// Replicas after.
    pub to_replicas: i64,
    /// What it acted on.
    pub signal: ScalingSignal,
    /// The autoscaler's explanation.
    pub reason: String,
    /// The policy version in force when it was taken.
    pub policy_version: i64,
    /// When it was taken.
    pub at: DateTime<Utc>,
}

impl From<&sc::ScalingDecision> for ScalingDecision {
    fn from(d: &sc::ScalingDecision) -> Self {
        Self {
            from_replicas: d.from_replicas().into(),
            to_replicas: d.to_replicas().into(),
            signal: ScalingSignal { trigger: d.signal().trigger().into(), observed: d.signal().observed() },
            reason: d.reason().to_string(),
            policy_version: d.policy_version().into(),
            at: d.at(),
        }
    }
}

/// How one service scales in one environment, optionally for one tenant (then it belongs to
/// that tenant).
pub struct ScalingPolicy {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: sc::ScalingPolicy,
}

#[Object]
impl ScalingPolicy {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate (event count) this view reflects.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Version of the policy specification: 1 after definition, one more per effective
    /// update.
    async fn policy_version(&self) -> i64 {
        self.state.version().into()
    }
    /// Lifecycle state.
    async fn status(&self) -> Option<ScalingPolicyStatus> {
        self.state.status().map(Into::into)
    }
    /// The service scaled.
    async fn service_id(&self) -> Option<ID> {
        self.state.service().map(|s| ID(s.to_string()))
    }
    /// The environment the service runs in.
    async fn environment_id(&self) -> Option<ID> {
        self.state.environment().map(|e| ID(e.to_string()))
    }
    /// The tenant the policy is for; null for a platform-wide policy.
    async fn tenant_id(&self) -> Option<String> {
        self.state.tenant().map(ToString::to_string)
    }
    /// The specification of the current policy version.
    async fn spec(&self) -> Option<ScalingPolicySpec> {
        self.state.spec().map(Into::into)
    }
    /// Why the policy is suspended, while it is.
    async fn last_reason(&self) -> Option<String> {
        self.state.last_reason().map(ToString::to_string)
    }
    /// The latest recorded scaling decision.
    async fn last_decision(&self) -> Option<ScalingDecision> {
        self.state.last_decision().map(Into::into)
    }
    /// How many scaling decisions were recorded.
    async fn decision_count(&self) -> i64 {
        i64::try_from(self.state.decision_count()).unwrap_or(i64::MAX)
    }
    /// When it was defined.
    async fn defined_at(&self) -> Option<DateTime<Utc>> {
        self.state.defined_at()
    }
    /// When it was last activated.
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.state.activated_at()
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
}
