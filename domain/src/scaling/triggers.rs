//! What a scaling policy watches: its triggers (the KEDA scalers the platform supports) and
//! the targets they hold a service to.

use crate::macros::string_value;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::cron::CronSchedule;
use super::values::ValueError;

/// A utilisation target in percent of the requested resource: 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct TargetPercent(u32);

impl TargetPercent {
    /// Parses a percentage: 0 would scale on any load, above 100 never.
    pub fn new(value: u32) -> Result<Self, ValueError> {
        if (1..=100).contains(&value) {
            Ok(Self(value))
        } else {
            Err(ValueError::InvalidTargetPercent(value))
        }
    }

    /// The percentage.
    pub fn get(&self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for TargetPercent {
    type Error = ValueError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<TargetPercent> for u32 {
    fn from(value: TargetPercent) -> Self {
        value.0
    }
}

/// A per-replica target count (concurrent requests, queued messages): at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct TargetCount(u32);

impl TargetCount {
    /// Parses a count; 0 would ask for infinitely many replicas.
    pub fn new(value: u32) -> Result<Self, ValueError> {
        if value >= 1 {
            Ok(Self(value))
        } else {
            Err(ValueError::InvalidTargetCount)
        }
    }

    /// The count.
    pub fn get(&self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for TargetCount {
    type Error = ValueError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<TargetCount> for u32 {
    fn from(value: TargetCount) -> Self {
        value.0
    }
}

/// A per-replica target value of a custom metric: finite and above 0.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct MetricTarget(f64);

impl MetricTarget {
    /// Parses a target; NaN, infinities, zero and negatives are refused.
    pub fn new(value: f64) -> Result<Self, ValueError> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err(ValueError::InvalidMetricTarget(value.to_string()))
        }
    }

    /// The target value.
    pub fn get(&self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for MetricTarget {
    type Error = ValueError;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<MetricTarget> for f64 {
    fn from(value: MetricTarget) -> Self {
        value.0
    }
}

/// The name of a queue whose length drives scaling (Azure Service Bus or Storage queue).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QueueName(String);

impl QueueName {
    /// Parses a queue name with Service Bus's rule (which Storage queue names also meet):
    /// 1..=260 of ASCII letters, digits, `.`, `-`, `_`, `/`, starting and ending with a letter
    /// or digit.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let bytes = value.as_bytes();
        let ok = (1..=260).contains(&bytes.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b".-_/".contains(b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidQueueName(value.to_owned()))
        }
    }
}
string_value!(QueueName);

/// The name of an Application Insights metric, e.g. `customMetrics/OrdersPending`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetricName(String);

impl MetricName {
    /// Parses a metric name: 1..=256 characters, no surrounding whitespace, no control
    /// characters (Application Insights allows spaces and punctuation inside names).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = !value.is_empty()
            && value.chars().count() <= 256
            && value.trim() == value
            && !value.chars().any(char::is_control);
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidMetricName(value.to_owned()))
        }
    }
}
string_value!(MetricName);

/// An IANA time zone name, e.g. `UTC`, `Europe/Amsterdam`, `Etc/GMT+1`. Checked structurally
/// only (the domain carries no time zone database): 1..=64 characters, `/`-separated parts of
/// ASCII letters, digits, `_`, `+` or `-`, the first starting with an uppercase letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timezone(String);

impl Timezone {
    /// Parses a time zone name: one of the IANA time zone database's names as `chrono-tz`
    /// knows them (case-sensitive, so one zone has one spelling).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        match value.parse::<chrono_tz::Tz>() {
            Ok(zone) if zone.name() == value => Ok(Self(value.to_owned())),
            _ => Err(ValueError::InvalidTimezone(value.to_owned())),
        }
    }

    /// The zone, for evaluating a cron schedule in it.
    pub fn zone(&self) -> chrono_tz::Tz {
        // Parsed by `parse` (also on deserialization), so it is a known zone name.
        self.0.parse().unwrap_or(chrono_tz::Tz::UTC)
    }
}
string_value!(Timezone);

/// The kind of a trigger; a scaling decision names the kind of signal it acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// CPU utilisation.
    Cpu,
    /// Memory utilisation.
    Memory,
    /// Concurrent HTTP requests per replica.
    HttpConcurrency,
    /// Messages waiting in a queue.
    QueueLength,
    /// A time window.
    Cron,
    /// An Application Insights metric.
    CustomMetric,
}

impl TriggerKind {
    /// Every kind.
    pub const ALL: [TriggerKind; 6] = [
        TriggerKind::Cpu,
        TriggerKind::Memory,
        TriggerKind::HttpConcurrency,
        TriggerKind::QueueLength,
        TriggerKind::Cron,
        TriggerKind::CustomMetric,
    ];

    /// Parses the snake_case kind name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| ValueError::InvalidTriggerKind(value.to_owned()))
    }

    /// The snake_case kind name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            TriggerKind::Cpu => "cpu",
            TriggerKind::Memory => "memory",
            TriggerKind::HttpConcurrency => "http_concurrency",
            TriggerKind::QueueLength => "queue_length",
            TriggerKind::Cron => "cron",
            TriggerKind::CustomMetric => "custom_metric",
        }
    }
}

impl FromStr for TriggerKind {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason to scale, with its target. Every field is a parsed value, so an invalid trigger
/// cannot be deserialized either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Keep average CPU utilisation near the target.
    Cpu {
        /// Percent of requested CPU.
        target_percent: TargetPercent,
    },
    /// Keep average memory utilisation near the target.
    Memory {
        /// Percent of requested memory.
        target_percent: TargetPercent,
    },
    /// Keep concurrent HTTP requests per replica near the target.
    HttpConcurrency {
        /// Requests per replica.
        target: TargetCount,
    },
    /// Keep queued messages per replica near the target.
    QueueLength {
        /// The queue watched.
        queue: QueueName,
        /// Messages per replica.
        target: TargetCount,
    },
    /// Run a fixed number of replicas while the schedule is active.
    Cron {
        /// When the window starts.
        schedule: CronSchedule,
        /// The time zone the schedule is read in.
        timezone: Timezone,
        /// Replicas to run in the window; must lie within the policy's replica range.
        desired_replicas: u32,
    },
    /// Keep an Application Insights metric per replica near the target.
    CustomMetric {
        /// The metric watched.
        metric: MetricName,
        /// Metric value per replica.
        target: MetricTarget,
    },
}

impl Trigger {
    /// The trigger's kind.
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Cpu { .. } => TriggerKind::Cpu,
            Trigger::Memory { .. } => TriggerKind::Memory,
            Trigger::HttpConcurrency { .. } => TriggerKind::HttpConcurrency,
            Trigger::QueueLength { .. } => TriggerKind::QueueLength,
            Trigger::Cron { .. } => TriggerKind::Cron,
            Trigger::CustomMetric { .. } => TriggerKind::CustomMetric,
        }
    }

    /// What makes two triggers the same source of signal: the kind, plus the queue or metric
    /// for kinds that watch a named thing, plus schedule and time zone for cron. Two triggers
    /// with the same identity but different targets would contradict each other.
    pub fn identity(&self) -> String {
        match self {
            Trigger::QueueLength { queue, .. } => format!("queue_length {queue}"),
            Trigger::CustomMetric { metric, .. } => format!("custom_metric {metric}"),
            Trigger::Cron { schedule, timezone, .. } => format!("cron '{schedule}' {timezone}"),
            other => other.kind().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn target_percents_lie_between_1_and_100() {
        assert_eq!(TargetPercent::new(1).unwrap().get(), 1);
        assert!(TargetPercent::new(100).is_ok());
        assert_eq!(TargetPercent::new(0).unwrap_err().to_string(), "target percent must be 1 to 100: 0");
        assert!(TargetPercent::new(101).is_err());
        assert!(from_json::<TargetPercent>("101").is_err());
        assert!(from_json::<TargetPercent>("-5").is_err());
    }

    #[test]
    fn target_counts_are_at_least_one() {
        assert_eq!(TargetCount::new(1).unwrap().get(), 1);
        assert!(TargetCount::new(0).is_err());
        assert!(from_json::<TargetCount>("0").is_err());
    }

    #[test]
    fn metric_targets_are_finite_and_positive() {
        assert_eq!(MetricTarget::new(0.5).unwrap().get(), 0.5);
        assert!(MetricTarget::new(0.0).is_err());
        assert!(MetricTarget::new(-1.0).is_err());
        assert!(MetricTarget::new(f64::NAN).is_err());
        assert!(MetricTarget::new(f64::INFINITY).is_err());
        assert!(from_json::<MetricTarget>("0").is_err());
    }

    #[test]
    fn queue_names_follow_service_bus_rules() {
        assert!(QueueName::parse("orders").is_ok());
        assert!(QueueName::parse("billing/orders.v2_eu-1").is_ok());
        assert!(QueueName::parse(&"q".repeat(260)).is_ok());
        assert!(QueueName::parse("").is_err());
        assert!(QueueName::parse(&"q".repeat(261)).is_err());
        assert!(QueueName::parse("-orders").is_err());
        assert!(QueueName::parse("orders/").is_err());
        assert!(QueueName::parse("my orders").is_err());
        assert!(from_json::<QueueName>("\"-x\"").is_err());
    }

    #[test]
    fn metric_names_are_bounded_trimmed_printable_text() {
        assert!(MetricName::parse("customMetrics/Orders Pending").is_ok());
        assert!(MetricName::parse("").is_err());
        assert!(MetricName::parse(" padded").is_err());
        assert!(MetricName::parse("line\nbreak").is_err());
        assert!(MetricName::parse(&"m".repeat(257)).is_err());
        assert!(from_json::<MetricName>("\"\"").is_err());
    }

    #[test]
    fn timezones_are_iana_shaped_names() {
        for tz in ["UTC", "Europe/Amsterdam", "America/Argentina/Buenos_Aires", "Etc/GMT+1", "America/Port-au-Prince"] {
            assert!(Timezone::parse(tz).is_ok(), "{tz}");
        }
        assert!(Timezone::parse("").is_err());
        assert!(Timezone::parse("europe/amsterdam").is_err());
        assert!(Timezone::parse("Europe//Amsterdam").is_err());
        assert!(Timezone::parse("Europe/").is_err());
        assert!(Timezone::parse("Central European Time").is_err());
        assert!(Timezone::parse(&format!("A{}", "b".repeat(64))).is_err());
        assert!(from_json::<Timezone>("\"utc\"").is_err());
        // Shaped like a zone, but not one the IANA database has.
        assert!(Timezone::parse("Europe/Atlantis").is_err());
        assert!(Timezone::parse("Mars/Olympus_Mons").is_err());
        assert_eq!(Timezone::parse("Europe/Amsterdam").unwrap().zone(), chrono_tz::Europe::Amsterdam);
    }

    #[test]
    fn trigger_kinds_parse_their_names() {
        assert_eq!(TriggerKind::parse("http_concurrency").unwrap(), TriggerKind::HttpConcurrency);
        assert!(TriggerKind::parse("gpu").is_err());
        assert!(from_json::<TriggerKind>("\"Cpu\"").is_err());
    }

    #[test]
    fn triggers_serialize_by_kind_and_refuse_invalid_targets() {
        let cron = Trigger::Cron {
            schedule: CronSchedule::parse("0 8 * * 1-5").unwrap(),
            timezone: Timezone::parse("Europe/Amsterdam").unwrap(),
            desired_replicas: 5,
        };
        let json = serde_json::to_string(&cron).unwrap();
        assert_eq!(json, r#"{"cron":{"schedule":"0 8 * * 1-5","timezone":"Europe/Amsterdam","desired_replicas":5}}"#);
        assert_eq!(from_json::<Trigger>(&json).unwrap(), cron);
        assert_eq!(cron.kind(), TriggerKind::Cron);
        assert_eq!(from_json::<Trigger>(r#"{"cpu":{"target_percent":70}}"#).unwrap().kind(), TriggerKind::Cpu);
        assert!(from_json::<Trigger>(r#"{"cpu":{"target_percent":0}}"#).is_err());
        assert!(from_json::<Trigger>(r#"{"memory":{"target_percent":101}}"#).is_err());
        assert!(from_json::<Trigger>(r#"{"http_concurrency":{"target":0}}"#).is_err());
        assert!(from_json::<Trigger>(r#"{"queue_length":{"queue":"-q","target":5}}"#).is_err());
        assert!(from_json::<Trigger>(r#"{"custom_metric":{"metric":"m","target":-1.0}}"#).is_err());
        assert!(from_json::<Trigger>(r#"{"cron":{"schedule":"* *","timezone":"UTC","desired_replicas":1}}"#).is_err());
    }

    #[test]
    fn trigger_identity_names_what_is_watched() {
        let queue = |target| Trigger::QueueLength {
            queue: QueueName::parse("orders").unwrap(),
            target: TargetCount::new(target).unwrap(),
        };
        assert_eq!(queue(5).identity(), queue(50).identity());
        assert_eq!(queue(5).identity(), "queue_length orders");
        assert_eq!(Trigger::Cpu { target_percent: TargetPercent::new(70).unwrap() }.identity(), "cpu");
    }
}
