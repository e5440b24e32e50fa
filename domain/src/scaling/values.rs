//! Value objects of the scaling context: the policy specification and its parts, and what a
//! scaling decision records. Each is checked once on construction; serde goes through the same
//! checks, so an invalid range, window or SLO can be neither constructed nor deserialized.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::triggers::{Trigger, TriggerKind};
use crate::environments::Reason;
use crate::rejection::{Rejection, RejectionKind};

/// Why a value of the scaling context was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// `0 <= min <= max`.
    #[error("replica range must satisfy 0 <= min <= max: min {min} is above max {max}")]
    InvertedReplicaRange {
        /// The refused minimum.
        min: u32,
        /// The refused maximum.
        max: u32,
    },
    /// A policy that may never run a replica is a suspended policy; say so instead.
    #[error("max replicas must be at least 1 (suspend the policy to stop scaling)")]
    ZeroMaxReplicas,
    /// The platform caps one service at a thousand replicas.
    #[error("max replicas must be at most {max}: {0}", max = ReplicaRange::MAX)]
    TooManyReplicas(u32),
    /// Utilisation targets are percentages.
    #[error("target percent must be 1 to 100: {0}")]
    InvalidTargetPercent(u32),
    /// Per-replica targets are positive.
    #[error("target must be at least 1")]
    InvalidTargetCount,
    /// Custom metric targets are positive finite numbers.
    #[error("custom metric target must be a finite number above 0: {0}")]
    InvalidMetricTarget(String),
    /// Queue names follow Service Bus's naming rules.
    #[error("queue name must be 1 to 260 characters of letters, digits, '.', '-', '_' or '/', starting and ending with a letter or digit: {0:?}")]
    InvalidQueueName(String),
    /// Application Insights metric names are bounded printable text.
    #[error("metric name must be 1 to 256 characters without surrounding whitespace or control characters: {0:?}")]
    InvalidMetricName(String),
    /// Cron schedules are five structurally valid fields.
    #[error("cron schedule {expression:?} is invalid: {detail}")]
    InvalidCronSchedule {
        /// The refused expression.
        expression: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Time zones are IANA names.
    #[error("timezone must be an IANA name such as UTC or Europe/Amsterdam: {0:?}")]
    InvalidTimezone(String),
    /// Trigger kinds are a closed set.
    #[error("trigger kind must be one of cpu, memory, http_concurrency, queue_length, cron, custom_metric: {0:?}")]
    InvalidTriggerKind(String),
    /// A policy with nothing to watch would never scale.
    #[error("a scaling policy needs at least one trigger")]
    NoTriggers,
    /// Bounded so evaluation stays cheap and the policy readable.
    #[error("a scaling policy has at most {max} triggers, got {0}", max = PolicySpec::MAX_TRIGGERS)]
    TooManyTriggers(usize),
    /// Two triggers watching the same thing with different targets contradict each other.
    #[error("trigger {0} appears more than once")]
    DuplicateTrigger(String),
    /// A cron trigger asks for a replica count the range forbids.
    #[error("cron trigger wants {desired} replicas, outside the replica range {min}..={max}")]
    CronReplicasOutsideRange {
        /// The trigger's desired replicas.
        desired: u32,
        /// The policy's minimum.
        min: u32,
        /// The policy's maximum.
        max: u32,
    },
    /// Stabilization windows and cooldown are at most an hour.
    #[error("window must be 0 to {max} seconds: {0}", max = WindowSeconds::MAX)]
    InvalidWindow(u32),
    /// A latency objective of 0 ms cannot be met.
    #[error("latency p95 target must be above 0 ms")]
    InvalidLatencyTarget,
    /// Availability is a percentage above 0, at most 100.
    #[error("availability target must be above 0 and at most 100 percent: {0}")]
    InvalidAvailabilityTarget(String),
    /// Observed signal values are finite and not negative.
    #[error("observed value must be a finite number of at least 0: {0}")]
    InvalidObservedValue(String),
}

impl Rejection for ValueError {
    fn kind(&self) -> RejectionKind {
        RejectionKind::InvalidInput
    }
}

/// How many replicas a policy may run: `0 <= min <= max`, `1 <= max <= 1000`. A `min` of 0
/// allows scale to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawReplicaRange")]
pub struct ReplicaRange {
    min: u32,
    max: u32,
}

/// The unchecked wire form of [`ReplicaRange`].
#[derive(Deserialize)]
struct RawReplicaRange {
    min: u32,
    max: u32,
}

impl TryFrom<RawReplicaRange> for ReplicaRange {
    type Error = ValueError;
    fn try_from(raw: RawReplicaRange) -> Result<Self, Self::Error> {
        Self::new(raw.min, raw.max)
    }
}

impl ReplicaRange {
    /// The most replicas one policy may allow.
    pub const MAX: u32 = 1000;

    /// Checks and builds a range.
    pub fn new(min: u32, max: u32) -> Result<Self, ValueError> {
        if max == 0 {
            return Err(ValueError::ZeroMaxReplicas);
        }
        if max > Self::MAX {
            return Err(ValueError::TooManyReplicas(max));
        }
        if min > max {
            return Err(ValueError::InvertedReplicaRange { min, max });
        }
        Ok(Self { min, max })
    }

    /// Fewest replicas (0 = may scale to zero).
    pub fn min(&self) -> u32 {
        self.min
    }

    /// Most replicas.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Whether `replicas` lies within the range.
    pub fn contains(&self, replicas: u32) -> bool {
        (self.min..=self.max).contains(&replicas)
    }
}

impl fmt::Display for ReplicaRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

/// A stabilization window or cooldown in seconds: 0..=3600.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct WindowSeconds(u32);

impl WindowSeconds {
    /// Longest window, one hour.
    pub const MAX: u32 = 3600;

    /// Checks a window length.
    pub fn new(seconds: u32) -> Result<Self, ValueError> {
        if seconds <= Self::MAX {
            Ok(Self(seconds))
        } else {
            Err(ValueError::InvalidWindow(seconds))
        }
    }

    /// The length in seconds.
    pub fn seconds(&self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for WindowSeconds {
    type Error = ValueError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<WindowSeconds> for u32 {
    fn from(value: WindowSeconds) -> Self {
        value.0
    }
}

/// The service level objectives the scaling worker evaluates the policy against; both are
/// optional.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawSloTargets")]
pub struct SloTargets {
    latency_p95_ms: Option<u32>,
    availability_percent: Option<f64>,
}

/// The unchecked wire form of [`SloTargets`].
#[derive(Deserialize)]
struct RawSloTargets {
    latency_p95_ms: Option<u32>,
    availability_percent: Option<f64>,
}

impl TryFrom<RawSloTargets> for SloTargets {
    type Error = ValueError;
    fn try_from(raw: RawSloTargets) -> Result<Self, Self::Error> {
        Self::new(raw.latency_p95_ms, raw.availability_percent)
    }
}

impl SloTargets {
    /// Checks and builds objectives: latency above 0 ms, availability in `(0, 100]`.
    pub fn new(latency_p95_ms: Option<u32>, availability_percent: Option<f64>) -> Result<Self, ValueError> {
        if latency_p95_ms == Some(0) {
            return Err(ValueError::InvalidLatencyTarget);
        }
        if let Some(availability) = availability_percent {
            if !(availability > 0.0 && availability <= 100.0) {
                return Err(ValueError::InvalidAvailabilityTarget(availability.to_string()));
            }
        }
        Ok(Self { latency_p95_ms, availability_percent })
    }

    /// The 95th percentile latency objective in milliseconds.
    pub fn latency_p95_ms(&self) -> Option<u32> {
        self.latency_p95_ms
    }

    /// The availability objective in percent, e.g. 99.9.
    pub fn availability_percent(&self) -> Option<f64> {
        self.availability_percent
    }
}

/// Everything a policy says about how a service scales; replaced as a whole by each version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPolicySpec")]
pub struct PolicySpec {
    replicas: ReplicaRange,
    triggers: Vec<Trigger>,
    scale_up_stabilization: WindowSeconds,
    scale_down_stabilization: WindowSeconds,
    cooldown: WindowSeconds,
    slo: SloTargets,
}

/// The unchecked wire form of [`PolicySpec`]; its parts are already parsed, the rules across
/// them are checked by [`PolicySpec::new`].
#[derive(Deserialize)]
struct RawPolicySpec {
    replicas: ReplicaRange,
    triggers: Vec<Trigger>,
    scale_up_stabilization: WindowSeconds,
    scale_down_stabilization: WindowSeconds,
    cooldown: WindowSeconds,
    slo: SloTargets,
}

impl TryFrom<RawPolicySpec> for PolicySpec {
    type Error = ValueError;
    fn try_from(raw: RawPolicySpec) -> Result<Self, Self::Error> {
        Self::new(
            raw.replicas,
            raw.triggers,
            raw.scale_up_stabilization,
            raw.scale_down_stabilization,
            raw.cooldown,
            raw.slo,
        )
    }
}

impl PolicySpec {
    /// Most triggers one policy may have.
    pub const MAX_TRIGGERS: usize = 10;

    /// Checks the rules across parts: 1..=10 triggers, no two watching the same thing (see
    /// [`Trigger::identity`]), and every cron trigger's replicas within the range.
    pub fn new(
        replicas: ReplicaRange,
        triggers: Vec<Trigger>,
        scale_up_stabilization: WindowSeconds,
        scale_down_stabilization: WindowSeconds,
        cooldown: WindowSeconds,
        slo: SloTargets,
    ) -> Result<Self, ValueError> {
        if triggers.is_empty() {
            return Err(ValueError::NoTriggers);
        }
        if triggers.len() > Self::MAX_TRIGGERS {
            return Err(ValueError::TooManyTriggers(triggers.len()));
        }
        for (i, trigger) in triggers.iter().enumerate() {
            let identity = trigger.identity();
            if triggers[..i].iter().any(|earlier| earlier.identity() == identity) {
                return Err(ValueError::DuplicateTrigger(identity));
            }
            if let Trigger::Cron { desired_replicas, .. } = trigger {
                if !replicas.contains(*desired_replicas) {
                    return Err(ValueError::CronReplicasOutsideRange {
                        desired: *desired_replicas,
                        min: replicas.min(),
                        max: replicas.max(),
                    });
                }
            }
        }
        Ok(Self { replicas, triggers, scale_up_stabilization, scale_down_stabilization, cooldown, slo })
    }

    /// The replica range.
    pub fn replicas(&self) -> ReplicaRange {
        self.replicas
    }

    /// The triggers, in the order given.
    pub fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// Whether any trigger is of `kind`.
    pub fn watches(&self, kind: TriggerKind) -> bool {
        self.triggers.iter().any(|trigger| trigger.kind() == kind)
    }

    /// How long a higher recommendation must persist before scaling up.
    pub fn scale_up_stabilization(&self) -> WindowSeconds {
        self.scale_up_stabilization
    }

    /// How long a lower recommendation must persist before scaling down.
    pub fn scale_down_stabilization(&self) -> WindowSeconds {
        self.scale_down_stabilization
    }

    /// The least time between two scaling actions.
    pub fn cooldown(&self) -> WindowSeconds {
        self.cooldown
    }

    /// The service level objectives.
    pub fn slo(&self) -> SloTargets {
        self.slo
    }
}

/// The signal a scaling decision acted on: which kind of trigger, and the value observed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawScalingSignal")]
pub struct ScalingSignal {
    trigger: TriggerKind,
    observed: f64,
}

/// The unchecked wire form of [`ScalingSignal`].
#[derive(Deserialize)]
struct RawScalingSignal {
    trigger: TriggerKind,
    observed: f64,
}

impl TryFrom<RawScalingSignal> for ScalingSignal {
    type Error = ValueError;
    fn try_from(raw: RawScalingSignal) -> Result<Self, Self::Error> {
        Self::new(raw.trigger, raw.observed)
    }
}

impl ScalingSignal {
    /// Checks the observed value: finite and not negative (every supported signal is a
    /// utilisation, a count, a replica number or a metric the platform emits as such).
    pub fn new(trigger: TriggerKind, observed: f64) -> Result<Self, ValueError> {
        if observed.is_finite() && observed >= 0.0 {
            Ok(Self { trigger, observed })
        } else {
            Err(ValueError::InvalidObservedValue(observed.to_string()))
        }
    }

    /// The kind of trigger the signal came from.
    pub fn trigger(&self) -> TriggerKind {
        self.trigger
    }

    /// The observed value, in the trigger's unit.
    pub fn observed(&self) -> f64 {
        self.observed
    }
}

/// A recorded decision of the autoscaler, as the read model shows the latest one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingDecision {
    from_replicas: u32,
    to_replicas: u32,
    signal: ScalingSignal,
    reason: Reason,
    policy_version: u32,
    at: DateTime<Utc>,
}

impl ScalingDecision {
    /// Assembles a decision from a recorded event's fields.
    pub(super) fn new(
        from_replicas: u32,
        to_replicas: u32,
        signal: ScalingSignal,
        reason: Reason,
        policy_version: u32,
        at: DateTime<Utc>,
    ) -> Self {
        Self { from_replicas, to_replicas, signal, reason, policy_version, at }
    }

    /// Replicas before the decision.
    pub fn from_replicas(&self) -> u32 {
        self.from_replicas
    }

    /// Replicas after the decision.
    pub fn to_replicas(&self) -> u32 {
        self.to_replicas
    }

    /// What the decision acted on.
    pub fn signal(&self) -> ScalingSignal {
        self.signal
    }

    /// The autoscaler's explanation.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// The policy version in force when the decision was taken.
    pub fn policy_version(&self) -> u32 {
        self.policy_version
    }

    /// When it was taken.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

/// Where a scaling policy is in its lifecycle. A policy that was never defined has no status
/// at all (`None` on the aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingPolicyStatus {
    /// Defined, not yet applied; may be edited freely.
    Draft,
    /// Applied; the autoscaler acts on it and its decisions are recorded.
    Active,
    /// Not applied; the service keeps its current replicas until reactivated.
    Suspended,
}

impl ScalingPolicyStatus {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScalingPolicyStatus::Draft => "Draft",
            ScalingPolicyStatus::Active => "Active",
            ScalingPolicyStatus::Suspended => "Suspended",
        }
    }
}

impl fmt::Display for ScalingPolicyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::cron::CronSchedule;
    use crate::scaling::triggers::{QueueName, TargetCount, TargetPercent, Timezone};

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    fn cpu(target: u32) -> Trigger {
        Trigger::Cpu { target_percent: TargetPercent::new(target).unwrap() }
    }

    fn cron(desired_replicas: u32) -> Trigger {
        Trigger::Cron {
            schedule: CronSchedule::parse("0 8 * * 1-5").unwrap(),
            timezone: Timezone::parse("UTC").unwrap(),
            desired_replicas,
        }
    }

    fn queue(name: &str) -> Trigger {
        Trigger::QueueLength { queue: QueueName::parse(name).unwrap(), target: TargetCount::new(10).unwrap() }
    }

    fn window(seconds: u32) -> WindowSeconds {
        WindowSeconds::new(seconds).unwrap()
    }

    fn spec(triggers: Vec<Trigger>) -> Result<PolicySpec, ValueError> {
        PolicySpec::new(
            ReplicaRange::new(1, 10).unwrap(),
            triggers,
            window(0),
            window(300),
            window(60),
            SloTargets::new(Some(250), Some(99.9)).unwrap(),
        )
    }

    #[test]
    fn replica_ranges_keep_min_at_most_max() {
        let range = ReplicaRange::new(0, 10).unwrap();
        assert_eq!((range.min(), range.max()), (0, 10));
        assert!(range.contains(0) && range.contains(10) && !range.contains(11));
        assert!(ReplicaRange::new(3, 3).is_ok());
        assert_eq!(
            ReplicaRange::new(5, 4).unwrap_err().to_string(),
            "replica range must satisfy 0 <= min <= max: min 5 is above max 4"
        );
        assert_eq!(range.to_string(), "0..=10");
        assert!(from_json::<ReplicaRange>(r#"{"min":5,"max":4}"#).is_err());
        assert!(from_json::<ReplicaRange>(r#"{"min":-1,"max":4}"#).is_err());
    }

    #[test]
    fn max_replicas_lie_between_1_and_1000() {
        assert!(ReplicaRange::new(0, 1000).is_ok());
        assert_eq!(ReplicaRange::new(0, 1001).unwrap_err().to_string(), "max replicas must be at most 1000: 1001");
        assert_eq!(ReplicaRange::new(0, 0).unwrap_err(), ValueError::ZeroMaxReplicas);
    }

    #[test]
    fn windows_are_at_most_an_hour() {
        assert_eq!(window(0).seconds(), 0);
        assert_eq!(window(3600).seconds(), 3600);
        assert_eq!(WindowSeconds::new(3601).unwrap_err().to_string(), "window must be 0 to 3600 seconds: 3601");
        assert!(from_json::<WindowSeconds>("3601").is_err());
    }

    #[test]
    fn slo_targets_are_positive_latency_and_availability_up_to_100() {
        let slo = SloTargets::new(Some(250), Some(99.9)).unwrap();
        assert_eq!(slo.latency_p95_ms(), Some(250));
        assert_eq!(slo.availability_percent(), Some(99.9));
        assert_eq!(SloTargets::new(None, None).unwrap(), SloTargets::default());
        assert!(SloTargets::new(None, Some(100.0)).is_ok());
        assert_eq!(SloTargets::new(Some(0), None).unwrap_err(), ValueError::InvalidLatencyTarget);
        assert!(SloTargets::new(None, Some(0.0)).is_err());
        assert!(SloTargets::new(None, Some(100.1)).is_err());
        assert!(SloTargets::new(None, Some(f64::NAN)).is_err());
        assert!(from_json::<SloTargets>(r#"{"latency_p95_ms":0,"availability_percent":null}"#).is_err());
    }

    #[test]
    fn a_policy_needs_one_to_ten_triggers() {
        assert_eq!(spec(vec![]).unwrap_err(), ValueError::NoTriggers);
        let queues: Vec<_> = (0..11).map(|i| queue(&format!("q{i}"))).collect();
        assert_eq!(spec(queues.clone()).unwrap_err().to_string(), "a scaling policy has at most 10 triggers, got 11");
        assert!(spec(queues[..10].to_vec()).is_ok());
    }

    #[test]
    fn no_two_triggers_watch_the_same_thing() {
        assert_eq!(
            spec(vec![cpu(70), queue("orders"), cpu(80)]).unwrap_err(),
            ValueError::DuplicateTrigger("cpu".to_owned())
        );
        assert!(spec(vec![queue("orders"), queue("orders")]).is_err());
        assert!(spec(vec![cpu(70), queue("orders"), queue("invoices")]).is_ok());
    }

    #[test]
    fn cron_replicas_lie_within_the_replica_range() {
        assert!(spec(vec![cron(10)]).is_ok());
        assert_eq!(
            spec(vec![cron(11)]).unwrap_err().to_string(),
            "cron trigger wants 11 replicas, outside the replica range 1..=10"
        );
        assert!(spec(vec![cron(0)]).is_err());
    }

    #[test]
    fn invalid_specs_cannot_be_deserialized() {
        let ok = spec(vec![cpu(70), cron(5)]).unwrap();
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(from_json::<PolicySpec>(&json).unwrap(), ok);
        assert_eq!(ok.triggers().len(), 2);
        assert!(ok.watches(TriggerKind::Cron) && !ok.watches(TriggerKind::Memory));
        assert_eq!(ok.scale_down_stabilization().seconds(), 300);
        assert_eq!(ok.cooldown().seconds(), 60);
        let outside = json.replace("\"desired_replicas\":5", "\"desired_replicas\":50");
        assert!(from_json::<PolicySpec>(&outside).is_err());
        let no_triggers = serde_json::to_value(&ok).unwrap();
        let mut no_triggers = no_triggers.as_object().unwrap().clone();
        no_triggers.insert("triggers".to_owned(), serde_json::json!([]));
        assert!(serde_json::from_value::<PolicySpec>(no_triggers.into()).is_err());
    }

    #[test]
    fn observed_signal_values_are_finite_and_not_negative() {
        let signal = ScalingSignal::new(TriggerKind::Cpu, 85.5).unwrap();
        assert_eq!((signal.trigger(), signal.observed()), (TriggerKind::Cpu, 85.5));
        assert!(ScalingSignal::new(TriggerKind::Cpu, 0.0).is_ok());
        assert!(ScalingSignal::new(TriggerKind::Cpu, -1.0).is_err());
        assert!(ScalingSignal::new(TriggerKind::Cpu, f64::INFINITY).is_err());
        assert!(from_json::<ScalingSignal>(r#"{"trigger":"cpu","observed":-1.0}"#).is_err());
        assert!(from_json::<ScalingSignal>(r#"{"trigger":"gpu","observed":1.0}"#).is_err());
    }

    #[test]
    fn value_errors_are_invalid_input() {
        assert_eq!(ValueError::NoTriggers.kind(), RejectionKind::InvalidInput);
    }
}
