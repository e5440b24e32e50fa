//! Commands to the `ScalingPolicy` aggregate. The policy id is the aggregate id, so no command
//! carries it; time is always passed in, because the domain never reads the clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{PolicySpec, ScalingSignal};
use crate::envelope::TenantId;
use crate::environments::{EnvironmentId, Reason};
use crate::ids::ServiceId;

/// What can be asked of a scaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScalingPolicyCommand {
    /// Define how a service scales in an environment (optionally for one tenant); the policy
    /// starts as a `Draft` at version 1.
    DefinePolicy {
        /// The service scaled.
        service: ServiceId,
        /// The environment it runs in.
        environment: EnvironmentId,
        /// The tenant the policy is for; `None` for a platform-wide policy, which no tenant
        /// quota bounds.
        tenant: Option<TenantId>,
        /// The specification.
        spec: PolicySpec,
        /// When it was defined.
        at: DateTime<Utc>,
    },
    /// Replace the specification with a new version (in any status).
    UpdatePolicy {
        /// The new specification.
        spec: PolicySpec,
        /// When.
        at: DateTime<Utc>,
    },
    /// Apply the policy (from `Draft` or `Suspended`).
    Activate {
        /// When.
        at: DateTime<Utc>,
    },
    /// Stop applying the policy.
    Suspend {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// The autoscaler changed the service's replicas under this policy.
    RecordScalingDecision {
        /// Replicas before.
        from_replicas: u32,
        /// Replicas after; within the policy's replica range.
        to_replicas: u32,
        /// The signal acted on; its kind must be one the policy watches.
        signal: ScalingSignal,
        /// The autoscaler's explanation.
        reason: Reason,
        /// When the decision was taken.
        at: DateTime<Utc>,
    },
}

impl ScalingPolicyCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            ScalingPolicyCommand::DefinePolicy { .. } => "DefinePolicy",
            ScalingPolicyCommand::UpdatePolicy { .. } => "UpdatePolicy",
            ScalingPolicyCommand::Activate { .. } => "Activate",
            ScalingPolicyCommand::Suspend { .. } => "Suspend",
            ScalingPolicyCommand::RecordScalingDecision { .. } => "RecordScalingDecision",
        }
    }
}
