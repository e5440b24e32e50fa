//! Why the `ScalingPolicy` aggregate refused a command.

use thiserror::Error;

use super::triggers::TriggerKind;
use super::values::{ReplicaRange, ScalingPolicyStatus, ValueError};
use crate::envelope::TenantId;
use crate::environments::EnvironmentId;
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `ScalingPolicy` aggregate. Transition errors name the command and the
/// current status so an operator can tell a stale worker from a wrong request.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ScalingPolicyError {
    /// Any command but `DefinePolicy` on a policy that was never defined.
    #[error("cannot {command}: scaling policy does not exist")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `DefinePolicy` on a policy that already exists.
    #[error("cannot DefinePolicy: scaling policy already exists (it is {status})")]
    AlreadyExists {
        /// The existing policy's status.
        status: ScalingPolicyStatus,
    },
    /// The command is not allowed in the current status.
    #[error("cannot {command}: scaling policy is {status}")]
    InvalidTransition {
        /// The refused command.
        command: &'static str,
        /// The policy's current status.
        status: ScalingPolicyStatus,
    },
    /// A tenant's policy needs the tenant to be bound to the environment.
    #[error("tenant {tenant} is not bound to environment {environment}")]
    TenantNotBound {
        /// The policy's tenant.
        tenant: TenantId,
        /// The policy's environment.
        environment: EnvironmentId,
    },
    /// A tenant's policy may not allow more replicas than the tenant's quota.
    #[error("max replicas {max} exceeds the replica quota of {quota} of tenant {tenant}")]
    ExceedsTenantQuota {
        /// The policy's max replicas.
        max: u32,
        /// The tenant's replica quota in the environment.
        quota: u32,
        /// The tenant.
        tenant: TenantId,
    },
    /// A decision must land within the policy's range.
    #[error("cannot scale to {to_replicas} replicas: outside the replica range {range}")]
    OutsideReplicaRange {
        /// The decision's target.
        to_replicas: u32,
        /// The policy's range.
        range: ReplicaRange,
    },
    /// A decision that changes nothing is not a decision.
    #[error("a scaling decision must change the replica count (from {0} to {0})")]
    NoReplicaChange(u32),
    /// A decision must come from a signal the policy watches.
    #[error("the policy has no {0} trigger to act on")]
    SignalNotWatched(TriggerKind),
    /// The tenant's quota could not be looked up; the rule itself was not evaluated.
    #[error("could not look up the tenant's replica quota: {0}")]
    LookupFailed(String),
    /// A value was malformed; raised by callers that parse raw input into a command, so one
    /// error type covers everything this aggregate refuses.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

impl Rejection for ScalingPolicyError {
    fn kind(&self) -> RejectionKind {
        match self {
            ScalingPolicyError::NotFound { .. } => RejectionKind::NotFound,
            ScalingPolicyError::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            ScalingPolicyError::InvalidTransition { .. } => RejectionKind::InvalidTransition,
            ScalingPolicyError::NoReplicaChange(_) | ScalingPolicyError::InvalidValue(_) => RejectionKind::InvalidInput,
            ScalingPolicyError::TenantNotBound { .. }
            | ScalingPolicyError::ExceedsTenantQuota { .. }
            | ScalingPolicyError::OutsideReplicaRange { .. }
            | ScalingPolicyError::SignalNotWatched(_) => RejectionKind::InvariantViolated,
            ScalingPolicyError::LookupFailed(_) => RejectionKind::LookupFailed,
        }
    }
}
