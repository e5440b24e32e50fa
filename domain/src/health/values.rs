//! Value objects shared by both aggregates of the health & drift context, and the one
//! [`ValueError`] every value of the context is refused with. Each is parsed once at the edge;
//! serde goes through the same `parse`, so an invalid value can be neither constructed nor
//! deserialized (an event replayed from the log is held to the rules it was written under).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::rejection::{Rejection, RejectionKind};

/// Why a value of the health & drift context was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Details are short human-readable text.
    #[error("detail must be 1 to 500 characters after trimming")]
    InvalidDetail,
    /// Operators are named by short single-line text.
    #[error("operator must be 1 to 200 characters after trimming, without control characters")]
    InvalidOperator,
    /// Probes are `liveness`, `readiness`, `startup` or `dependency:<name>`.
    #[error("probe must be liveness, readiness, startup or dependency:<name>: {0:?}")]
    InvalidProbe(String),
    /// Dependency names identify a service or an external dependency.
    #[error("dependency name must be 1 to 100 characters of letters, digits, '-', '_', '.' or ':', starting with a letter or digit: {0:?}")]
    InvalidDependencyName(String),
    /// Drift classes are a closed set.
    #[error("drift class must be one of version, configuration, scale, secret, isolation, infrastructure, unmanaged, missing: {0:?}")]
    InvalidDriftClass(String),
    /// Resource references are single tokens (an ARM id, `namespace/kind/name`, ...).
    #[error("resource must be 1 to 512 characters without whitespace or control characters: {0:?}")]
    InvalidResource(String),
    /// A drift target names the service or the resource that drifted.
    #[error("a drift target needs a service or a resource")]
    DriftTargetWithoutSubject,
    /// Desired and observed states are short single-line descriptions.
    #[error("state value must be 1 to 1000 characters after trimming, without control characters")]
    InvalidStateValue,
    /// Drift values say at least what was desired or what was observed.
    #[error("drift values need a desired or an observed state")]
    EmptyDriftValues,
    /// Equal desired and observed states are no drift.
    #[error("desired and observed state are equal ({0:?}): that is no drift")]
    NoDivergence(String),
    /// Remediation targets one of the nine aggregate types by its exact name.
    #[error("aggregate type must be one of RuntimeEnvironment, RuntimeService, RuntimeDeployment, RuntimeConfiguration, SecretBinding, RuntimeTenantBinding, ScalingPolicy, RuntimeHealth, DriftFinding: {0:?}")]
    InvalidAggregateType(String),
    /// Aggregate ids and evidence ids are non-nil UUIDs.
    #[error("{kind} must be a non-nil uuid: {value:?}")]
    InvalidUuid {
        /// Which id, e.g. `aggregate id`.
        kind: &'static str,
        /// The refused text.
        value: String,
    },
    /// Command names are PascalCase identifiers, e.g. `StartDeployment`.
    #[error("command name must be 1 to 64 ascii letters or digits, starting with an uppercase letter: {0:?}")]
    InvalidCommandName(String),
}

impl Rejection for ValueError {
    fn kind(&self) -> RejectionKind {
        RejectionKind::InvalidInput
    }
}

pub(crate) use crate::macros::string_value;

/// Trims `value` and keeps it if it is non-empty, at most `max_chars` characters (not bytes,
/// so non-ASCII text is not penalised) and, when `single_line`, free of control characters.
pub(crate) fn bounded_text(value: &str, max_chars: usize, single_line: bool) -> Option<String> {
    let trimmed = value.trim();
    let ok = !trimmed.is_empty()
        && trimmed.chars().count() <= max_chars
        && (!single_line || !trimmed.chars().any(char::is_control));
    ok.then(|| trimmed.to_owned())
}

/// Free text explaining a probe result, a dependency's state or an acknowledgement, e.g.
/// `HTTP 503 from /healthz/ready`. Kept short: it is carried in events and shown in views.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Detail(String);

impl Detail {
    /// Upper bound in characters.
    pub const MAX_CHARS: usize = 500;

    /// Parses a detail: trimmed, non-empty, at most [`Self::MAX_CHARS`] characters (line
    /// breaks allowed, e.g. for a short response body).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        bounded_text(value, Self::MAX_CHARS, false).map(Self).ok_or(ValueError::InvalidDetail)
    }
}
string_value!(Detail);

/// Who acknowledged an incident or accepted a drift, as free text (a person, a team, an
/// on-call rotation). The envelope's `actor` records who issued the command; this is who
/// takes responsibility, which an API client may issue on someone's behalf.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Operator(String);

impl Operator {
    /// Upper bound in characters.
    pub const MAX_CHARS: usize = 200;

    /// Parses an operator: trimmed, 1..=200 characters, a single line.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        bounded_text(value, Self::MAX_CHARS, true).map(Self).ok_or(ValueError::InvalidOperator)
    }
}
string_value!(Operator);

/// Formats an optional tenant as a claim-key segment: the tenant id, or `*` for a target that
/// is not tenant-specific (`*` is not a valid tenant id, so the two never collide).
pub(crate) fn tenant_segment(tenant: Option<&crate::envelope::TenantId>) -> &str {
    tenant.map_or("*", |tenant| tenant.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_trimmed_non_empty_and_bounded() {
        assert_eq!(Detail::parse("  HTTP 503\n").unwrap().as_str(), "HTTP 503");
        assert!(Detail::parse("line one\nline two").is_ok());
        assert_eq!(Detail::parse(" \t"), Err(ValueError::InvalidDetail));
        assert!(Detail::parse(&"é".repeat(500)).is_ok());
        assert!(Detail::parse(&"x".repeat(501)).is_err());
        assert!(serde_json::from_str::<Detail>("\"\"").is_err());
    }

    #[test]
    fn operators_are_single_line_and_bounded() {
        assert_eq!(Operator::parse(" alice@example.com ").unwrap().as_str(), "alice@example.com");
        assert!(Operator::parse("team payments on-call").is_ok());
        assert_eq!(Operator::parse(""), Err(ValueError::InvalidOperator));
        assert!(Operator::parse("alice\nbob").is_err());
        assert!(Operator::parse(&"a".repeat(201)).is_err());
        assert!(serde_json::from_str::<Operator>("\"a\\u0007b\"").is_err());
    }

    #[test]
    fn value_errors_are_invalid_input() {
        assert_eq!(ValueError::InvalidDetail.kind(), RejectionKind::InvalidInput);
    }
}
