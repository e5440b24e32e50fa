//! The `RuntimeDeployment` aggregate: one rollout of a service version (image digest, artifact
//! version, commit) into one environment, optionally for one tenant, with a strategy
//! (`rolling`, `blue_green`, `canary` with steps) and health gates.
//!
//! States: `Pending -> InProgress -> Verifying -> Succeeded -> Superseded`,
//! `InProgress|Verifying -> Failed -> RollingBack -> RolledBack`, `Pending -> Cancelled`, and
//! `Failed -> Abandoned` for a failed deployment with nothing to roll back to.
//!
//! Rules kept here: only a known, non-retired service deploys, only into an environment that
//! accepts deployments, and for a tenant only when it is bound there and active (looked up
//! through [`DeploymentServices`]); one in-flight deployment per service and environment (and
//! tenant), a claim taken by `DeploymentStarted` and released on success, cancellation,
//! rollback or abandonment (`Failed` keeps it); canary steps advance in order and the last one
//! starts verification; promotion only when every gate's latest result passed; rollback names
//! the last known-good deployment. The environment and tenant are checked again when the
//! rollout begins and at promotion (a deployment does not roll out into an environment that
//! stopped accepting deployments, or for a tenant suspended since it started); a deployment is
//! superseded only by a later succeeded deployment of the same service, environment and tenant.
//!
//! Layout:
//! - [`values`]: `Artifact` and its parts, `DeploymentStrategy`, `HealthGate(s)`,
//!   `GateStatus`, `DeploymentStatus`.
//! - [`commands`]: the [`DeploymentCommand`] enum.
//! - [`events`]: [`DeploymentEvent`] and the active-deployment claim.
//! - [`upcast`]: `DeploymentStarted` 1.0 -> 2.0 (an example upcaster: no 1.0 event was ever
//!   written, see the module).
//! - [`error`]: [`DeploymentError`], mapped to a `RejectionKind`.
//! - [`services`]: the [`DeliveryLookup`] the cross-aggregate rules need.
//! - [`aggregate`]: [`RuntimeDeployment`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod services;
pub mod upcast;
pub mod values;

pub use aggregate::RuntimeDeployment;
pub use commands::DeploymentCommand;
pub use error::DeploymentError;
pub use events::{
    active_deployment_key, DeploymentEvent, ACTIVE_DEPLOYMENT_SCOPE, DEPLOYMENT_STARTED_VERSION,
    LAST_SUCCEEDED_DEPLOYMENT_SCOPE,
};
pub use services::{DeliveryLookup, DependencyRollout, DeploymentFacts, DeploymentServices, FixedDeliveryLookup};
pub use upcast::{deployment_upcasters, upcast_deployment_started_v1};
pub use values::{
    check_observation, Artifact, ArtifactVersion, CanarySteps, CommitSha, DeploymentStatus, DeploymentStrategy,
    GateKind, GateName, GateResult, GateStatus, HealthGate, HealthGates, ImageDigest,
};
