//! Why the `RuntimeTenantBinding` aggregate refused a command.

use thiserror::Error;

use super::values::{IsolationModel, KubernetesNamespace, QuotaDimension, TenantBindingStatus, ValueError};
use crate::environments::EnvironmentId;
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `RuntimeTenantBinding` aggregate. Transition errors name the command and
/// the current status so an operator can tell a stale worker from a wrong request.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TenantBindingError {
    /// Any command but `BindTenant` on a binding that was never made.
    #[error("cannot {command}: tenant binding does not exist")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `BindTenant` on a binding that already exists (even an offboarded one: binding the
    /// tenant again takes a new binding id).
    #[error("cannot BindTenant: tenant binding already exists (it is {status})")]
    AlreadyExists {
        /// The existing binding's status.
        status: TenantBindingStatus,
    },
    /// The command is not allowed in the current status (an offboarded binding allows none).
    #[error("cannot {command}: tenant binding is {status}")]
    InvalidTransition {
        /// The refused command.
        command: &'static str,
        /// The binding's current status.
        status: TenantBindingStatus,
    },
    /// `namespace_per_tenant` without a namespace has nothing to isolate the tenant with.
    #[error("a {0} binding needs a kubernetes namespace")]
    NamespaceRequired(IsolationModel),
    /// A `shared` tenant runs in the shared workloads and has no namespace of its own; naming
    /// one would claim an isolation it does not have.
    #[error("a {isolation} binding has no namespace of its own, got {namespace}")]
    NamespaceNotAllowed {
        /// The binding's isolation model.
        isolation: IsolationModel,
        /// The refused namespace.
        namespace: KubernetesNamespace,
    },
    /// A reported breach that is not above the quota is a wrong report, not a breach.
    #[error("observed {dimension} {observed} is within the quota of {quota}: not a breach")]
    NotABreach {
        /// Which quota.
        dimension: QuotaDimension,
        /// The reported value.
        observed: u64,
        /// The quota in force.
        quota: u32,
    },
    /// `BindTenant` names an environment that does not exist.
    #[error("cannot BindTenant: environment {0} does not exist")]
    UnknownEnvironment(EnvironmentId),
    /// A tenant is bound only to a live (`Ready` or `Degraded`) environment.
    #[error("cannot BindTenant: environment {0} is not live (it is not Ready or Degraded)")]
    EnvironmentNotLive(EnvironmentId),
    /// The replica quota may not go below what an active scaling policy of the tenant in the
    /// environment may scale to.
    #[error("cannot ChangeQuota: a replica quota of {quota} is below the max replicas ({policy_max}) of an active scaling policy")]
    QuotaBelowActivePolicy {
        /// The replica quota asked for.
        quota: u32,
        /// The highest max replicas of the tenant's active policies there.
        policy_max: u32,
    },
    /// A fact the rule needs could not be looked up; the rule itself was not evaluated.
    #[error("could not check the tenant binding's preconditions: {0}")]
    LookupFailed(String),
    /// A value was malformed; raised by callers that parse raw input into a command, so one
    /// error type covers everything this aggregate refuses.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

impl Rejection for TenantBindingError {
    fn kind(&self) -> RejectionKind {
        match self {
            TenantBindingError::NotFound { .. } => RejectionKind::NotFound,
            TenantBindingError::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            TenantBindingError::InvalidTransition { .. } => RejectionKind::InvalidTransition,
            TenantBindingError::NamespaceRequired(_)
            | TenantBindingError::NamespaceNotAllowed { .. }
            | TenantBindingError::NotABreach { .. }
            | TenantBindingError::InvalidValue(_) => RejectionKind::InvalidInput,
            TenantBindingError::UnknownEnvironment(_)
            | TenantBindingError::EnvironmentNotLive(_)
            | TenantBindingError::QuotaBelowActivePolicy { .. } => RejectionKind::InvariantViolated,
            TenantBindingError::LookupFailed(_) => RejectionKind::LookupFailed,
        }
    }
}
