//! Why the `RuntimeService` aggregate refused a command.

use thiserror::Error;

use super::values::ServiceLifecycle;
use crate::catalog::values::ValueError;
use crate::ids::ServiceId;
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `RuntimeService` aggregate. Transition errors name the command and the
/// current status so an operator can tell a stale worker from a wrong request.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ServiceError {
    /// Any command but `RegisterService` on a service that was never registered.
    #[error("cannot {command}: service does not exist")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `RegisterService` on a service that already exists.
    #[error("cannot RegisterService: service already exists (it is {status})")]
    AlreadyExists {
        /// The existing service's status.
        status: ServiceLifecycle,
    },
    /// The command is not allowed in the current status.
    #[error("cannot {command}: service is {status}")]
    InvalidTransition {
        /// The refused command.
        command: &'static str,
        /// The service's current status.
        status: ServiceLifecycle,
    },
    /// A service cannot depend on itself.
    #[error("a service cannot depend on itself")]
    SelfDependency,
    /// The dependency is already declared.
    #[error("dependency on service {0} is already declared")]
    DuplicateDependency(ServiceId),
    /// The dependency to remove was never declared.
    #[error("no dependency on service {0} is declared")]
    UnknownDependency(ServiceId),
    /// The service depended on is not in the catalog.
    #[error("cannot depend on service {0}: it does not exist")]
    DependencyNotFound(ServiceId),
    /// A retired service cannot be depended on (it cannot be deployed).
    #[error("cannot depend on service {0}: it is retired")]
    DependencyRetired(ServiceId),
    /// The new dependency would close a cycle.
    #[error("cannot depend on service {0}: it already depends on this service, and dependencies form no cycle")]
    DependencyCycle(ServiceId),
    /// A fact the rule needs could not be looked up; the rule itself was not evaluated.
    #[error("could not check the service catalog: {0}")]
    LookupFailed(String),
    /// A value was malformed; raised by callers that parse raw input into a command, so one
    /// error type covers everything this aggregate refuses.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

impl Rejection for ServiceError {
    fn kind(&self) -> RejectionKind {
        match self {
            ServiceError::NotFound { .. } => RejectionKind::NotFound,
            ServiceError::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            ServiceError::InvalidTransition { .. } => RejectionKind::InvalidTransition,
            ServiceError::InvalidValue(_) => RejectionKind::InvalidInput,
            ServiceError::SelfDependency
            | ServiceError::DuplicateDependency(_)
            | ServiceError::UnknownDependency(_)
            | ServiceError::DependencyNotFound(_)
            | ServiceError::DependencyRetired(_)
            | ServiceError::DependencyCycle(_) => RejectionKind::InvariantViolated,
            ServiceError::LookupFailed(_) => RejectionKind::LookupFailed,
        }
    }
}
