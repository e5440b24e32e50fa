//! Value objects of the `RuntimeHealth` aggregate: what is watched ([`HealthTarget`]), which
//! probe a result is for ([`Probe`]), the status derived from the results ([`HealthStatus`],
//! with the derivation rule), and the incidents an unhealthy period opens.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::envelope::TenantId;
use crate::health::values::{string_value, Detail, Operator, ValueError};
use crate::ids::{EnvironmentId, ServiceId};

/// What one `RuntimeHealth` watches: a service in an environment, optionally for one tenant
/// (a tenant with a dedicated deployment has health of its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthTarget {
    service: ServiceId,
    environment: EnvironmentId,
    tenant: Option<TenantId>,
}

impl HealthTarget {
    /// Assembles a target from parsed ids.
    pub fn new(service: ServiceId, environment: EnvironmentId, tenant: Option<TenantId>) -> Self {
        Self { service, environment, tenant }
    }

    /// The watched service.
    pub fn service(&self) -> ServiceId {
        self.service
    }

    /// The environment it runs in.
    pub fn environment(&self) -> EnvironmentId {
        self.environment
    }

    /// The tenant, when health is tracked per tenant.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }
}

/// The name of something a service depends on: another catalog service (by name or id) or an
/// external dependency (`sql-primary`, `servicebus:orders`, `api.stripe.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DependencyName(String);

impl DependencyName {
    /// Parses a dependency name: 1..=100 of ASCII letters, digits, `-`, `_`, `.`, `:`, starting
    /// with a letter or digit (a host name, a slug or a uuid all fit).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=100).contains(&value.len())
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidDependencyName(value.to_owned()))
        }
    }
}
string_value!(DependencyName);

/// Which check a result is for. Serialized as text (`liveness`, `readiness`, `startup`,
/// `dependency:<name>`) so a map of results keyed by probe stays a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Probe {
    /// Is the process alive (Kubernetes restarts it when not)?
    Liveness,
    /// Can it take traffic?
    Readiness,
    /// Has it finished starting? Liveness and readiness only count after this passes.
    Startup,
    /// Is a dependency reachable and healthy?
    Dependency(DependencyName),
}

impl Probe {
    const DEPENDENCY_PREFIX: &'static str = "dependency:";

    /// Parses the text form.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        match value {
            "liveness" => Ok(Probe::Liveness),
            "readiness" => Ok(Probe::Readiness),
            "startup" => Ok(Probe::Startup),
            _ => value
                .strip_prefix(Self::DEPENDENCY_PREFIX)
                .and_then(|name| DependencyName::parse(name).ok())
                .map(Probe::Dependency)
                .ok_or_else(|| ValueError::InvalidProbe(value.to_owned())),
        }
    }
}

impl TryFrom<String> for Probe {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Probe> for String {
    fn from(value: Probe) -> Self {
        value.to_string()
    }
}

impl FromStr for Probe {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Liveness => f.write_str("liveness"),
            Probe::Readiness => f.write_str("readiness"),
            Probe::Startup => f.write_str("startup"),
            Probe::Dependency(name) => write!(f, "{}{name}", Self::DEPENDENCY_PREFIX),
        }
    }
}

/// The last recorded state of one probe: only pass/fail *changes* are events, so this is the
/// sample that flipped it, not necessarily the latest sample (which may be kept outside the
/// log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    passed: bool,
    latency_ms: Option<u32>,
    detail: Option<Detail>,
    changed_at: DateTime<Utc>,
}

impl ProbeResult {
    /// A result as recorded by a probe-change event.
    pub fn new(passed: bool, latency_ms: Option<u32>, detail: Option<Detail>, changed_at: DateTime<Utc>) -> Self {
        Self { passed, latency_ms, detail, changed_at }
    }

    /// Whether the probe passes.
    pub fn passed(&self) -> bool {
        self.passed
    }

    /// How long the flipping sample took; none for dependency health reported without one.
    pub fn latency_ms(&self) -> Option<u32> {
        self.latency_ms
    }

    /// What the flipping sample said.
    pub fn detail(&self) -> Option<&Detail> {
        self.detail.as_ref()
    }

    /// When the probe last flipped between passing and failing.
    pub fn changed_at(&self) -> DateTime<Utc> {
        self.changed_at
    }
}

/// The health of a service in an environment, derived from its probe results by
/// [`HealthStatus::derive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Every recorded probe passes.
    Healthy,
    /// Still starting: a startup probe is declared and has not passed.
    Progressing,
    /// Alive but not fully serving: readiness or a dependency fails. Opens an incident.
    Degraded,
    /// Liveness fails. Opens an incident.
    Unhealthy,
    /// No probe result recorded yet.
    Unknown,
}

impl HealthStatus {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Progressing => "Progressing",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Unhealthy => "Unhealthy",
            HealthStatus::Unknown => "Unknown",
        }
    }

    /// Whether changing into this status opens an incident (when none is open).
    pub fn is_incident(&self) -> bool {
        matches!(self, HealthStatus::Degraded | HealthStatus::Unhealthy)
    }

    /// The derivation rule, a pure function of the recorded results. The first matching line
    /// wins:
    ///
    /// 1. no result recorded -> `Unknown`;
    /// 2. liveness fails -> `Unhealthy`;
    /// 3. a startup probe is declared (by the target's contract, or by having reported a
    ///    result) and does not pass -> `Progressing` (readiness and dependencies do not count
    ///    while starting, as in Kubernetes, so a rollout opens no incident);
    /// 4. readiness fails -> `Degraded`;
    /// 5. any dependency fails -> `Degraded`;
    /// 6. otherwise (everything recorded passes) -> `Healthy`.
    ///
    /// A probe with no result does not count as failing, except a declared startup probe.
    pub fn derive(startup_declared: bool, results: &BTreeMap<Probe, ProbeResult>) -> Self {
        let passes = |probe: &Probe| results.get(probe).map(ProbeResult::passed);
        let starting = passes(&Probe::Startup).map_or(startup_declared, |passed| !passed);
        let dependency_fails =
            results.iter().any(|(probe, result)| matches!(probe, Probe::Dependency(_)) && !result.passed());
        if results.is_empty() {
            HealthStatus::Unknown
        } else if passes(&Probe::Liveness) == Some(false) {
            HealthStatus::Unhealthy
        } else if starting {
            HealthStatus::Progressing
        } else if passes(&Probe::Readiness) == Some(false) || dependency_fails {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who acknowledged an incident, when, and what they said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    by: Operator,
    note: Option<Detail>,
    at: DateTime<Utc>,
}

impl Acknowledgement {
    /// An acknowledgement as recorded by `IncidentAcknowledged`.
    pub fn new(by: Operator, note: Option<Detail>, at: DateTime<Utc>) -> Self {
        Self { by, note, at }
    }

    /// Who took responsibility.
    pub fn by(&self) -> &Operator {
        &self.by
    }

    /// What they said.
    pub fn note(&self) -> Option<&Detail> {
        self.note.as_ref()
    }

    /// When.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

/// An unhealthy period of a target: opened when its status changes into `Degraded` or
/// `Unhealthy`, closed when it returns to `Healthy`. Numbered 1, 2, ... per target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    number: u32,
    opened_with: HealthStatus,
    opened_at: DateTime<Utc>,
    acknowledgement: Option<Acknowledgement>,
}

impl Incident {
    /// An incident as opened by `IncidentOpened`.
    pub fn new(number: u32, opened_with: HealthStatus, opened_at: DateTime<Utc>) -> Self {
        Self { number, opened_with, opened_at, acknowledgement: None }
    }

    /// Its number, 1 for the target's first incident.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The status whose onset opened it.
    pub fn opened_with(&self) -> HealthStatus {
        self.opened_with
    }

    /// When it opened.
    pub fn opened_at(&self) -> DateTime<Utc> {
        self.opened_at
    }

    /// Whether someone has taken responsibility for it.
    pub fn is_acknowledged(&self) -> bool {
        self.acknowledgement.is_some()
    }

    /// Who acknowledged it, if anyone.
    pub fn acknowledgement(&self) -> Option<&Acknowledgement> {
        self.acknowledgement.as_ref()
    }

    pub(crate) fn acknowledge(&mut self, acknowledgement: Acknowledgement) {
        self.acknowledgement = Some(acknowledgement);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z").unwrap().to_utc()
    }

    fn results(entries: &[(&str, bool)]) -> BTreeMap<Probe, ProbeResult> {
        entries
            .iter()
            .map(|(probe, passed)| (Probe::parse(probe).unwrap(), ProbeResult::new(*passed, Some(5), None, at())))
            .collect()
    }

    #[test]
    fn probes_have_a_text_form_that_round_trips() {
        for text in ["liveness", "readiness", "startup", "dependency:sql-primary"] {
            let probe = Probe::parse(text).unwrap();
            assert_eq!(probe.to_string(), text);
            let json = serde_json::to_string(&probe).unwrap();
            assert_eq!(serde_json::from_str::<Probe>(&json).unwrap(), probe);
        }
        assert!(matches!(Probe::parse("dependency:orders-db"), Ok(Probe::Dependency(_))));
        assert_eq!(Probe::parse("Liveness"), Err(ValueError::InvalidProbe("Liveness".to_owned())));
        assert!(Probe::parse("dependency:").is_err());
        assert!(Probe::parse("dependency:a b").is_err());
        assert!(serde_json::from_str::<Probe>("\"health\"").is_err());
    }

    #[test]
    fn dependency_names_are_host_or_slug_like() {
        assert!(DependencyName::parse("api.stripe.com").is_ok());
        assert!(DependencyName::parse("servicebus:orders_v2").is_ok());
        assert!(DependencyName::parse("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a").is_ok());
        assert!(DependencyName::parse("").is_err());
        assert!(DependencyName::parse("-db").is_err());
        assert!(DependencyName::parse("db/primary").is_err());
        assert!(DependencyName::parse(&"d".repeat(101)).is_err());
        assert!(serde_json::from_str::<DependencyName>("\"a b\"").is_err());
    }

    #[test]
    fn no_results_derive_unknown() {
        assert_eq!(HealthStatus::derive(false, &results(&[])), HealthStatus::Unknown);
        assert_eq!(HealthStatus::derive(true, &results(&[])), HealthStatus::Unknown);
    }

    #[test]
    fn failing_liveness_derives_unhealthy_whatever_else_holds() {
        let failing = results(&[("liveness", false), ("startup", false), ("readiness", false)]);
        assert_eq!(HealthStatus::derive(true, &failing), HealthStatus::Unhealthy);
    }

    #[test]
    fn a_declared_startup_probe_that_has_not_passed_derives_progressing() {
        let starting = results(&[("liveness", true), ("readiness", false)]);
        assert_eq!(HealthStatus::derive(true, &starting), HealthStatus::Progressing);
        let reported = results(&[("startup", false), ("dependency:db", false)]);
        assert_eq!(HealthStatus::derive(false, &reported), HealthStatus::Progressing);
    }

    #[test]
    fn failing_readiness_or_dependency_derives_degraded() {
        let not_ready = results(&[("liveness", true), ("readiness", false)]);
        assert_eq!(HealthStatus::derive(false, &not_ready), HealthStatus::Degraded);
        let dependency = results(&[("startup", true), ("dependency:db", false)]);
        assert_eq!(HealthStatus::derive(true, &dependency), HealthStatus::Degraded);
    }

    #[test]
    fn everything_passing_derives_healthy() {
        let all = results(&[("liveness", true), ("readiness", true), ("startup", true), ("dependency:db", true)]);
        assert_eq!(HealthStatus::derive(true, &all), HealthStatus::Healthy);
        let undeclared_startup = results(&[("readiness", true)]);
        assert_eq!(HealthStatus::derive(false, &undeclared_startup), HealthStatus::Healthy);
    }

    #[test]
    fn only_degraded_and_unhealthy_are_incidents() {
        use HealthStatus as S;
        for status in [S::Healthy, S::Progressing, S::Unknown] {
            assert!(!status.is_incident(), "{status}");
        }
        assert!(S::Degraded.is_incident());
        assert!(S::Unhealthy.is_incident());
        assert_eq!(serde_json::to_string(&S::Unhealthy).unwrap(), "\"unhealthy\"");
    }
}
