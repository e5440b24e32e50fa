//! Why the `DriftFinding` aggregate refused a command.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::values::{AggregateType, DriftClass, DriftStatus};
use crate::health::values::ValueError;
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `DriftFinding` aggregate. Transition errors name the command and the
/// current status so an operator can tell a stale worker from a wrong request.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DriftError {
    /// Any command but `DetectDrift` on a finding that was never detected.
    #[error("cannot {command}: drift finding does not exist")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `DetectDrift` on a finding that already exists (a new divergence is a new finding).
    #[error("cannot DetectDrift: drift finding already exists (it is {status})")]
    AlreadyExists {
        /// The existing finding's status.
        status: DriftStatus,
    },
    /// The command is not allowed in the current status.
    #[error("cannot {command}: drift finding is {status}")]
    InvalidTransition {
        /// The refused command.
        command: &'static str,
        /// The finding's current status.
        status: DriftStatus,
    },
    /// The values do not fit the class (see `DriftValues::fit`).
    #[error("values do not fit a {class} finding: it needs {}", expectation(*.class))]
    ValuesDoNotFitClass {
        /// The finding's class.
        class: DriftClass,
    },
    /// Remediation acts through a command on the aggregate that owns the desired state.
    #[error("remediation must act through a command on an aggregate that owns desired state, not {0}")]
    RemediationOutOfBand(AggregateType),
    /// Commands arrive in time order; an older one would rewrite history.
    #[error("cannot {command}: {at} is before the last recorded change at {last}")]
    OutOfOrder {
        /// The refused command.
        command: &'static str,
        /// The command's time.
        at: DateTime<Utc>,
        /// The time of the latest event.
        last: DateTime<Utc>,
    },
    /// A value was malformed; raised by callers that parse raw input into a command, so one
    /// error type covers everything this aggregate refuses.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

fn expectation(class: DriftClass) -> &'static str {
    match class {
        DriftClass::Missing => "a desired state and no observed state",
        DriftClass::Unmanaged => "an observed state and no desired state",
        _ => "both a desired and an observed state",
    }
}

impl Rejection for DriftError {
    fn kind(&self) -> RejectionKind {
        match self {
            DriftError::NotFound { .. } => RejectionKind::NotFound,
            DriftError::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            DriftError::InvalidTransition { .. } => RejectionKind::InvalidTransition,
            DriftError::ValuesDoNotFitClass { .. } | DriftError::OutOfOrder { .. } | DriftError::InvalidValue(_) => {
                RejectionKind::InvalidInput
            }
            DriftError::RemediationOutOfBand(_) => RejectionKind::InvariantViolated,
        }
    }
}
