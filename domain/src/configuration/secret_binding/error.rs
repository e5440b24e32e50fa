//! Why the `SecretBinding` aggregate refused a command.

use thiserror::Error;

use super::values::{SecretBindingStatus, SecretVersion};
use crate::configuration::values::ValueError;
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `SecretBinding` aggregate. Transition errors name the command and the
/// current status so an operator can tell a stale worker from a wrong request.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretBindingError {
    /// Any command but `BindSecret` on a binding that was never requested.
    #[error("cannot {command}: secret binding does not exist")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `BindSecret` on a binding that already exists.
    #[error("cannot BindSecret: secret binding already exists (it is {status})")]
    AlreadyExists {
        /// The existing binding's status.
        status: SecretBindingStatus,
    },
    /// The command is not allowed in the current status.
    #[error("cannot {command}: secret binding is {status}")]
    InvalidTransition {
        /// The refused command.
        command: &'static str,
        /// The binding's current status.
        status: SecretBindingStatus,
    },
    /// A pinned binding must resolve to its pinned version.
    #[error("cannot ConfirmBinding: resolved version {resolved} differs from the pinned version {pinned}")]
    PinnedVersionMismatch {
        /// The version the binding pins.
        pinned: SecretVersion,
        /// The version the platform read.
        resolved: SecretVersion,
    },
    /// A rotation produces a new version.
    #[error("cannot RecordRotation: version {0} is the current version; a rotation needs a new one")]
    SameVersion(SecretVersion),
    /// A value was malformed; raised by callers that parse raw input into a command, so one
    /// error type covers everything this aggregate refuses.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

impl Rejection for SecretBindingError {
    fn kind(&self) -> RejectionKind {
        match self {
            SecretBindingError::NotFound { .. } => RejectionKind::NotFound,
            SecretBindingError::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            SecretBindingError::InvalidTransition { .. } => RejectionKind::InvalidTransition,
            SecretBindingError::PinnedVersionMismatch { .. } | SecretBindingError::SameVersion(_) => {
                RejectionKind::InvariantViolated
            }
            SecretBindingError::InvalidValue(_) => RejectionKind::InvalidInput,
        }
    }
}
