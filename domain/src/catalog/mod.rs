//! Service catalog & delivery context: what the platform can run (the `RuntimeService`
//! catalog) and every rollout of it (the `RuntimeDeployment` aggregate).
//!
//! Services are platform-wide catalog entries of one product; deployments put one version of
//! a service into one environment, optionally for one tenant, and belong to that tenant.
//! Cross-aggregate facts (other services, environments, tenant bindings, the last known-good
//! deployment) come through each aggregate's `Services`; uniqueness (service names per
//! product, one in-flight deployment per service and environment) through claims.
//!
//! Layout:
//! - [`values`]: the context's [`ValueError`] and shared text rules.
//! - [`service`]: the `RuntimeService` aggregate (values, commands, events, error, lookup,
//!   aggregate with its tests).
//! - [`deployment`]: the `RuntimeDeployment` aggregate, likewise, plus the upcaster of
//!   `DeploymentStarted` 1.0.

pub mod deployment;
pub mod service;
pub mod values;

pub use deployment::{
    active_deployment_key, check_observation, deployment_upcasters, upcast_deployment_started_v1, Artifact,
    ArtifactVersion, CanarySteps, CommitSha, DeliveryLookup, DependencyRollout, DeploymentCommand, DeploymentError, DeploymentEvent,
    DeploymentFacts, DeploymentServices, DeploymentStatus, DeploymentStrategy, FixedDeliveryLookup, GateKind, GateName,
    GateResult, GateStatus, HealthGate, HealthGates, ImageDigest, RuntimeDeployment, ACTIVE_DEPLOYMENT_SCOPE,
    DEPLOYMENT_STARTED_VERSION, LAST_SUCCEEDED_DEPLOYMENT_SCOPE,
};
pub use service::{
    service_name_key, BlueprintId, CatalogLookup, FixedCatalogLookup, HttpPath, ImageRepository, Port, Probe,
    ProbeCheck, ReplicaHints, RuntimeContract, RuntimeService, ServiceCommand, ServiceError, ServiceEvent, ServiceKind,
    ServiceLifecycle, ServiceName, ServiceServices, SERVICE_NAME_SCOPE,
};
pub use values::ValueError;
