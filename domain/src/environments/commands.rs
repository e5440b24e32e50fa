//! Commands to the `RuntimeEnvironment` aggregate. The environment id is the aggregate id, so
//! no command carries it; time is always passed in, because the domain never reads the clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{
    AzureRegion, AzureSubscriptionId, ComputeTarget, ComputeTargetName, EnvironmentName, ProductId,
    ProvisioningOutputs, PulumiStack, Reason, ResourceGroupName, Stage,
};

/// What can be asked of a runtime environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvironmentCommand {
    /// Ask for a new environment (the spec's ProvisionEnvironment); provisioning itself is
    /// reported by the worker that runs Pulumi.
    RequestEnvironment {
        /// The product the environment belongs to.
        product: ProductId,
        /// Unique per product and stage.
        name: EnvironmentName,
        /// Where on the promotion path the environment sits.
        stage: Stage,
        /// Azure region to provision in.
        region: AzureRegion,
        /// Azure subscription to provision in.
        subscription: AzureSubscriptionId,
        /// Resource group holding the environment's resources.
        resource_group: ResourceGroupName,
        /// The Pulumi project and stack declaring the infrastructure.
        pulumi: PulumiStack,
        /// The compute the environment offers; at least one, names unique.
        compute_targets: Vec<ComputeTarget>,
        /// When the request was made.
        requested_at: DateTime<Utc>,
    },
    /// A Pulumi run for the environment started (first attempt or a retry).
    RecordProvisioningStarted {
        /// When the run started.
        at: DateTime<Utc>,
    },
    /// The Pulumi run finished and the environment is live.
    RecordProvisioningSucceeded {
        /// What the run produced.
        outputs: ProvisioningOutputs,
        /// When the run finished.
        at: DateTime<Utc>,
    },
    /// The Pulumi run failed.
    RecordProvisioningFailed {
        /// Why, as reported by the run.
        reason: Reason,
        /// When the run failed.
        at: DateTime<Utc>,
    },
    /// A live environment became unhealthy.
    MarkDegraded {
        /// What is wrong.
        reason: Reason,
        /// When it was observed.
        at: DateTime<Utc>,
    },
    /// A degraded environment is healthy again.
    MarkRecovered {
        /// When recovery was observed.
        at: DateTime<Utc>,
    },
    /// Offer one more compute target.
    AddComputeTarget {
        /// The target; its name must be new to the environment.
        target: ComputeTarget,
    },
    /// Stop offering a compute target.
    RemoveComputeTarget {
        /// The name of the target to remove.
        name: ComputeTargetName,
    },
    /// Ask for the environment to be torn down.
    Decommission {
        /// Why it is being removed.
        reason: Reason,
        /// When it was asked for.
        at: DateTime<Utc>,
    },
    /// Teardown finished; the environment is gone and its name free again.
    RecordDecommissioned {
        /// When teardown finished.
        at: DateTime<Utc>,
    },
}

impl EnvironmentCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            EnvironmentCommand::RequestEnvironment { .. } => "RequestEnvironment",
            EnvironmentCommand::RecordProvisioningStarted { .. } => "RecordProvisioningStarted",
            EnvironmentCommand::RecordProvisioningSucceeded { .. } => "RecordProvisioningSucceeded",
            EnvironmentCommand::RecordProvisioningFailed { .. } => "RecordProvisioningFailed",
            EnvironmentCommand::MarkDegraded { .. } => "MarkDegraded",
            EnvironmentCommand::MarkRecovered { .. } => "MarkRecovered",
            EnvironmentCommand::AddComputeTarget { .. } => "AddComputeTarget",
            EnvironmentCommand::RemoveComputeTarget { .. } => "RemoveComputeTarget",
            EnvironmentCommand::Decommission { .. } => "Decommission",
            EnvironmentCommand::RecordDecommissioned { .. } => "RecordDecommissioned",
        }
    }
}
