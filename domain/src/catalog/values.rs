//! What the two aggregates of the catalog context share: one [`ValueError`] for every value
//! the context parses, and the string plumbing and text rules the values are built from.
//! The values themselves live beside their aggregate (`service/values.rs`,
//! `deployment/values.rs`).

use thiserror::Error;

use crate::rejection::{Rejection, RejectionKind};

/// Why a value of the catalog context was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Service names are slugs.
    #[error("service name must be 1 to 63 characters of a-z, 0-9 or '-', starting with a letter: {0:?}")]
    InvalidServiceName(String),
    /// Service kinds are a closed set.
    #[error("service kind must be one of api_gateway, microservice, worker, admin_portal, customer_portal, mobile_backend, function, database, queue, dashboard: {0:?}")]
    InvalidServiceKind(String),
    /// Blueprint ids are slug-like references into the software factory.
    #[error("blueprint id must be 1 to 128 characters of a-z, 0-9, '-', '_', '.', '/' or '@', starting with a letter or digit: {0:?}")]
    InvalidBlueprintId(String),
    /// Image repositories are `registry/path` without a tag or digest.
    #[error("image repository must be '<registry host>/<path>' in lowercase, without tag or digest (at most 255 characters): {0:?}")]
    InvalidImageRepository(String),
    /// Ports are 1..=65535.
    #[error("port must be between 1 and 65535: {0}")]
    InvalidPort(u32),
    /// A port may be declared once.
    #[error("port {0} is declared twice")]
    DuplicatePort(u16),
    /// A contract declares a bounded number of ports.
    #[error("a runtime contract declares at most {max} ports, got {got}")]
    TooManyPorts {
        /// The limit.
        max: usize,
        /// How many were given.
        got: usize,
    },
    /// HTTP probe paths are absolute and printable.
    #[error("probe path must start with '/' and contain no whitespace or control characters (at most 1024 characters): {0:?}")]
    InvalidProbePath(String),
    /// Probe timing is bounded.
    #[error("probe period must be 1 to 3600 seconds and timeout 1 to 300 seconds, not longer than the period: period {period}, timeout {timeout}")]
    InvalidProbeTiming {
        /// The refused period, in seconds.
        period: u32,
        /// The refused timeout, in seconds.
        timeout: u32,
    },
    /// A probe checks a port the contract declares.
    #[error("{probe} probe uses port {port}, which the contract does not declare")]
    UndeclaredProbePort {
        /// `liveness`, `readiness` or `startup`.
        probe: &'static str,
        /// The undeclared port.
        port: u16,
    },
    /// Replica hints are bounded and ordered.
    #[error("replica hints must satisfy 0 <= min <= max <= 1000: min {min}, max {max}")]
    InvalidReplicaHints {
        /// The refused minimum.
        min: u32,
        /// The refused maximum.
        max: u32,
    },
    /// Image digests are content addresses.
    #[error("image digest must be 'sha256:' followed by 64 lowercase hex digits: {0:?}")]
    InvalidImageDigest(String),
    /// Artifact versions are semantic versions.
    #[error("artifact version must be a semantic version 2.0 (MAJOR.MINOR.PATCH[-prerelease][+build], at most 128 characters): {0:?}")]
    InvalidArtifactVersion(String),
    /// Commit shas are full git object names.
    #[error("commit sha must be 40 lowercase hex digits: {0:?}")]
    InvalidCommitSha(String),
    /// Canary plans shift traffic in increasing steps up to everything.
    #[error("canary steps must be 1 to 100 percent, strictly increasing, ending at 100: {0:?}")]
    InvalidCanarySteps(Vec<u8>),
    /// Gate names are slugs.
    #[error("gate name must be 1 to 63 characters of a-z, 0-9 or '-', starting with a letter: {0:?}")]
    InvalidGateName(String),
    /// Gate kinds are a closed set.
    #[error("gate kind must be one of availability, latency_p95, error_rate: {0:?}")]
    InvalidGateKind(String),
    /// Thresholds are finite and within the range their kind measures.
    #[error("threshold of gate {gate} is out of range for {kind}: {threshold} (availability: (0, 100] percent, latency_p95: (0, 3600000] ms, error_rate: [0, 100) percent)")]
    InvalidGateThreshold {
        /// The gate's name.
        gate: String,
        /// Its kind.
        kind: &'static str,
        /// The refused threshold (as text, so the error stays `Eq`).
        threshold: String,
    },
    /// A deployment is gated by at least one and a bounded number of gates.
    #[error("a deployment needs 1 to {max} health gates, got {got}")]
    InvalidGateCount {
        /// The limit.
        max: usize,
        /// How many were given.
        got: usize,
    },
    /// Gate names are unique within a deployment.
    #[error("health gate {0} is declared twice")]
    DuplicateGate(String),
    /// Observed gate values are finite, non-negative measurements.
    #[error("observed value must be a finite number >= 0: {0}")]
    InvalidObservation(String),
}

impl Rejection for ValueError {
    fn kind(&self) -> RejectionKind {
        RejectionKind::InvalidInput
    }
}

pub(crate) use crate::macros::string_value;

/// Implements `as_str`-based `Display` and `FromStr` for a closed enum with `ALL`, `parse`
/// and `as_str`.
macro_rules! enum_text {
    ($ty:ident) => {
        impl std::str::FromStr for $ty {
            type Err = $crate::catalog::values::ValueError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use enum_text;

/// The slug rule (service and gate names): short enough to be a DNS label, safe inside Azure
/// and Kubernetes resource names.
pub(crate) fn is_slug(value: &str) -> bool {
    (1..=63).contains(&value.len())
        && value.as_bytes()[0].is_ascii_lowercase()
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `value` is exactly `len` lowercase hex digits.
pub(crate) fn is_lower_hex(value: &str, len: usize) -> bool {
    // `hex` decodes either case; the canonical spelling (digests, git) is lowercase.
    value.len() == len && !value.bytes().any(|b| b.is_ascii_uppercase()) && hex::decode(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_start_with_a_letter() {
        assert!(is_slug("api-2"));
        assert!(!is_slug(""));
        assert!(!is_slug("2api"));
        assert!(!is_slug("Api"));
        assert!(!is_slug(&"a".repeat(64)));
    }

    #[test]
    fn lower_hex_has_an_exact_length() {
        assert!(is_lower_hex("0a9f", 4));
        assert!(!is_lower_hex("0A9F", 4));
        assert!(!is_lower_hex("0a9", 4));
        assert!(!is_lower_hex("0a9g", 4));
    }

    #[test]
    fn value_errors_are_invalid_input() {
        assert_eq!(ValueError::InvalidPort(0).kind(), RejectionKind::InvalidInput);
    }
}
