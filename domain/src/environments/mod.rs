//! Environments context: the `RuntimeEnvironment` aggregate, an isolated runtime environment of
//! one product on Azure (stage, region, subscription and resource group, Pulumi stack, and the
//! compute targets it offers).
//!
//! Lifecycle: `Requested -> Provisioning -> Ready <-> Degraded -> Decommissioning ->
//! Decommissioned`, with `Provisioning -> ProvisioningFailed -> Provisioning` for retries and
//! `ProvisioningFailed -> Decommissioning` so a failed environment can be removed.
//!
//! Rules kept here: names are unique per product and stage (a claim taken by
//! `EnvironmentRequested` and released by `EnvironmentDecommissioned`, enforced by the event
//! store); only `Ready`/`Degraded` environments accept deployments; a decommissioned environment
//! accepts no command; prod requires a staging environment of the same product (looked up
//! through [`EnvironmentServices`]).
//!
//! Layout:
//! - [`values`]: value objects, each parsed once (`ProductId`, `Stage`, `ComputeTarget`, ...).
//! - [`commands`]: the [`EnvironmentCommand`] enum.
//! - [`events`]: [`EnvironmentEvent`] and its uniqueness claims.
//! - [`error`]: [`EnvironmentError`], mapped to a `RejectionKind`.
//! - [`services`]: the staging lookup the prod rule needs.
//! - [`aggregate`]: [`RuntimeEnvironment`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod services;
pub mod values;

pub use aggregate::RuntimeEnvironment;
pub use commands::EnvironmentCommand;
pub use error::EnvironmentError;
pub use events::{environment_name_key, EnvironmentEvent, ENVIRONMENT_NAME_SCOPE};
pub use services::{EnvironmentServices, FixedStagingLookup, FixedStagingStatuses, StagingLookup};
pub use values::{
    AzureRegion, AzureResourceId, AzureSubscriptionId, ComputeTarget, ComputeTargetKind, ComputeTargetName,
    EnvironmentId, EnvironmentName, EnvironmentStatus, ProductId, ProvisioningOutputs, PulumiName, PulumiStack, Reason,
    ResourceGroupName, Stage, ValueError,
};
