//! Commands to the `RuntimeDeployment` aggregate. The deployment id is the aggregate id, so no
//! command carries it; time is always passed in, because the domain never reads the clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{Artifact, DeploymentStrategy, GateName, HealthGates};
use crate::envelope::TenantId;
use crate::environments::Reason;
use crate::ids::{DeploymentId, EnvironmentId, ServiceId};

/// What can be asked of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeploymentCommand {
    /// Start a rollout of a service version into an environment (the spec's Deploy). Checked
    /// against the service (deployable), the environment (accepts deployments) and the tenant
    /// (active there), and takes the `active_deployment` claim.
    StartDeployment {
        /// The service deployed.
        service: ServiceId,
        /// The environment deployed into.
        environment: EnvironmentId,
        /// The tenant, for a tenant-dedicated deployment; none for a shared one.
        tenant: Option<TenantId>,
        /// What is deployed.
        artifact: Artifact,
        /// How traffic moves to it.
        strategy: DeploymentStrategy,
        /// What must pass before it is promoted.
        gates: HealthGates,
        /// The deployment this one undoes, when it re-deploys an earlier known-good artifact
        /// after a deployment that had already succeeded turned out bad. Recorded for the
        /// deployment history's rollback chain; not looked up.
        rollback_of: Option<DeploymentId>,
        /// When it was started.
        at: DateTime<Utc>,
    },
    /// The delivery worker began moving traffic (`Pending -> InProgress`).
    BeginRollout {
        /// When.
        at: DateTime<Utc>,
    },
    /// One step of the rollout completed. Steps are recorded in order; completing the last
    /// one moves the deployment to `Verifying`.
    RecordStepProgress {
        /// The 0-based index of the step in the strategy's plan (rolling and blue-green have
        /// the single step 0).
        step: u32,
        /// The traffic percentage reached; must be the plan's percentage for that step.
        percent: u8,
        /// When the step completed.
        at: DateTime<Utc>,
    },
    /// The latest evaluation of one health gate, while verifying. Re-evaluations replace the
    /// previous result.
    RecordHealthGateResult {
        /// The gate evaluated; must be one of the deployment's.
        gate: GateName,
        /// Whether it passed; must agree with `observed` and the gate's threshold.
        passed: bool,
        /// The measured value (percent or milliseconds, per the gate's kind).
        observed: f64,
        /// When it was measured.
        at: DateTime<Utc>,
    },
    /// Promote the verified deployment (`Verifying -> Succeeded`); only when every gate's
    /// latest result passed.
    Promote {
        /// When.
        at: DateTime<Utc>,
    },
    /// The rollout or verification failed (`InProgress|Verifying -> Failed`).
    FailDeployment {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Start rolling a failed deployment back (`Failed -> RollingBack`).
    RollBack {
        /// The deployment rolled back to; must be the last `Succeeded` deployment of the same
        /// service, environment and tenant.
        target: DeploymentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rollback finished (`RollingBack -> RolledBack`); frees the service and
    /// environment for the next deployment.
    RecordRolledBack {
        /// When.
        at: DateTime<Utc>,
    },
    /// Withdraw a deployment that has not begun rolling out (`Pending -> Cancelled`).
    Cancel {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Give up a failed deployment that has nothing to roll back to, i.e. the first deployment
    /// of the service there (`Failed -> Abandoned`); frees the service and environment.
    AbandonFailed {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// A newer deployment of the same service and environment succeeded
    /// (`Succeeded -> Superseded`).
    MarkSuperseded {
        /// The deployment that replaced this one.
        by: DeploymentId,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DeploymentCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            DeploymentCommand::StartDeployment { .. } => "StartDeployment",
            DeploymentCommand::BeginRollout { .. } => "BeginRollout",
            DeploymentCommand::RecordStepProgress { .. } => "RecordStepProgress",
            DeploymentCommand::RecordHealthGateResult { .. } => "RecordHealthGateResult",
            DeploymentCommand::Promote { .. } => "Promote",
            DeploymentCommand::FailDeployment { .. } => "FailDeployment",
            DeploymentCommand::RollBack { .. } => "RollBack",
            DeploymentCommand::RecordRolledBack { .. } => "RecordRolledBack",
            DeploymentCommand::Cancel { .. } => "Cancel",
            DeploymentCommand::AbandonFailed { .. } => "AbandonFailed",
            DeploymentCommand::MarkSuperseded { .. } => "MarkSuperseded",
        }
    }
}
