//! Why the `RuntimeEnvironment` aggregate refused a command.

use thiserror::Error;

use super::values::{ComputeTargetName, EnvironmentStatus, ProductId, ValueError};
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `RuntimeEnvironment` aggregate. Transition errors name the command and
/// the current status so an operator can tell a stale worker from a wrong request.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EnvironmentError {
    /// Any command but `RequestEnvironment` on an environment that was never requested.
    #[error("cannot {command}: environment does not exist")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `RequestEnvironment` on an environment that already exists.
    #[error("cannot RequestEnvironment: environment already exists (it is {status})")]
    AlreadyExists {
        /// The existing environment's status.
        status: EnvironmentStatus,
    },
    /// A decommissioned environment is terminal.
    #[error("cannot {command}: environment is decommissioned")]
    Decommissioned {
        /// The refused command.
        command: &'static str,
    },
    /// The command is not allowed in the current status.
    #[error("cannot {command}: environment is {status}")]
    InvalidTransition {
        /// The refused command.
        command: &'static str,
        /// The environment's current status.
        status: EnvironmentStatus,
    },
    /// An environment offers at least one compute target.
    #[error("an environment needs at least one compute target")]
    NoComputeTargets,
    /// Compute target names are unique within an environment.
    #[error("compute target {0} already exists in this environment")]
    DuplicateComputeTarget(ComputeTargetName),
    /// The target to remove is not in the environment.
    #[error("no compute target named {0} in this environment")]
    UnknownComputeTarget(ComputeTargetName),
    /// A provisioned or live environment keeps at least one compute target.
    #[error("cannot remove compute target {name}: it is the last one of a {status} environment")]
    LastComputeTarget {
        /// The target that would have been removed.
        name: ComputeTargetName,
        /// The environment's current status.
        status: EnvironmentStatus,
    },
    /// Prod is only reachable through staging, so a product needs a live (`Ready` or
    /// `Degraded`) staging environment first.
    #[error(
        "a prod environment of product {0} requires a live (Ready or Degraded) staging environment of the same product"
    )]
    StagingRequired(ProductId),
    /// Whether staging exists could not be determined; the rule itself was not evaluated.
    #[error("could not check for a staging environment: {0}")]
    LookupFailed(String),
    /// A value was malformed; raised by callers that parse raw input into a command, so one
    /// error type covers everything this aggregate refuses.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

impl Rejection for EnvironmentError {
    fn kind(&self) -> RejectionKind {
        match self {
            EnvironmentError::NotFound { .. } => RejectionKind::NotFound,
            EnvironmentError::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            EnvironmentError::Decommissioned { .. } | EnvironmentError::InvalidTransition { .. } => {
                RejectionKind::InvalidTransition
            }
            EnvironmentError::NoComputeTargets | EnvironmentError::InvalidValue(_) => RejectionKind::InvalidInput,
            EnvironmentError::DuplicateComputeTarget(_)
            | EnvironmentError::UnknownComputeTarget(_)
            | EnvironmentError::LastComputeTarget { .. }
            | EnvironmentError::StagingRequired(_) => RejectionKind::InvariantViolated,
            EnvironmentError::LookupFailed(_) => RejectionKind::LookupFailed,
        }
    }
}
