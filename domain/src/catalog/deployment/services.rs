//! Facts from outside the aggregate that `RuntimeDeployment` decisions need: the state of the
//! service, the environment and the tenant a deployment targets, and the last known-good
//! deployment a rollback must name. They are looked up through [`DeliveryLookup`], never by
//! the aggregate reaching for storage itself.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::values::DeploymentStatus;
use crate::envelope::TenantId;
use crate::ids::{DeploymentId, EnvironmentId, ServiceId};

/// What another deployment's committed state says, for the rule that only a later succeeded
/// deployment of the same service, environment and tenant supersedes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFacts {
    /// The service it deploys.
    pub service: ServiceId,
    /// The environment it deploys into.
    pub environment: EnvironmentId,
    /// Its tenant, for a tenant-dedicated deployment.
    pub tenant: Option<TenantId>,
    /// Where it is.
    pub status: DeploymentStatus,
    /// When it stopped being in flight (for a succeeded one: when it succeeded).
    pub finished_at: Option<DateTime<Utc>>,
}

/// A deployment of a declared dependency that is in flight (pending to rolling back) in the
/// same environment: a dependent service's rollout waits for it, so that what a service
/// depends on is rolled out (and verified) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyRollout {
    /// The dependency (a service the deployed one declares it depends on).
    pub dependency: ServiceId,
    /// Its deployment in flight.
    pub deployment: DeploymentId,
    /// Where that deployment is.
    pub status: DeploymentStatus,
}

impl fmt::Display for DependencyRollout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service {} (deployment {} is {})", self.dependency, self.deployment, self.status)
    }
}

/// Answers the questions `StartDeployment`, `BeginRollout`, `Promote`, `RollBack`,
/// `AbandonFailed` and `MarkSuperseded` ask. Implementations
/// read projections of the other aggregates; they must not issue commands. `Err` means the
/// question could not be answered, which the aggregate reports instead of guessing; `None`
/// means the thing asked about does not exist.
#[async_trait]
pub trait DeliveryLookup: Send + Sync {
    /// Whether the environment accepts deployments (it is `Ready` or `Degraded`); `None` if
    /// there is no such environment (never requested, or decommissioned and gone).
    async fn environment_accepts_deployments(&self, environment: EnvironmentId) -> Result<Option<bool>, String>;

    /// Whether the service may be deployed (`false` once retired); `None` if it was never
    /// registered.
    async fn service_deployable(&self, service: ServiceId) -> Result<Option<bool>, String>;

    /// Whether the tenant's binding in the environment is `Active`; `None` if the tenant is not
    /// bound to that environment (or its binding is offboarded). Only asked when a deployment
    /// names a tenant.
    async fn tenant_active(&self, tenant: &TenantId, environment: EnvironmentId) -> Result<Option<bool>, String>;

    /// The most recent deployment of the service into the environment (for the tenant, or the
    /// shared deployment when `tenant` is none) that is currently `Succeeded`, i.e. the
    /// known-good version; `None` if there is none.
    async fn last_succeeded_deployment(
        &self,
        service: ServiceId,
        environment: EnvironmentId,
        tenant: Option<&TenantId>,
    ) -> Result<Option<DeploymentId>, String>;

    /// The committed state of another deployment; `None` if it was never started.
    async fn deployment(&self, deployment: DeploymentId) -> Result<Option<DeploymentFacts>, String>;

    /// The deployments in flight in `environment` of the services `service` declares it
    /// depends on: the shared deployment of each dependency, and for a tenant's deployment
    /// also that tenant's. Empty when nothing it depends on is rolling.
    async fn dependency_rollouts(
        &self,
        service: ServiceId,
        environment: EnvironmentId,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<DependencyRollout>, String>;
}

/// A lookup with fixed answers whatever it is asked about, for tests and local development.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedDeliveryLookup {
    /// Answer to [`DeliveryLookup::environment_accepts_deployments`].
    pub environment_accepts: Option<bool>,
    /// Answer to [`DeliveryLookup::service_deployable`].
    pub service_deployable: Option<bool>,
    /// Answer to [`DeliveryLookup::tenant_active`].
    pub tenant_active: Option<bool>,
    /// Answer to [`DeliveryLookup::last_succeeded_deployment`].
    pub last_succeeded: Option<DeploymentId>,
    /// Answer to [`DeliveryLookup::deployment`], whichever deployment is asked about.
    pub other_deployment: Option<DeploymentFacts>,
    /// Answer to [`DeliveryLookup::dependency_rollouts`].
    pub dependency_rollouts: Vec<DependencyRollout>,
}

impl FixedDeliveryLookup {
    /// Everything exists and allows deploying; there is no earlier succeeded deployment and no
    /// other deployment.
    pub fn permissive() -> Self {
        Self {
            environment_accepts: Some(true),
            service_deployable: Some(true),
            tenant_active: Some(true),
            last_succeeded: None,
            other_deployment: None,
            dependency_rollouts: Vec::new(),
        }
    }
}

impl Default for FixedDeliveryLookup {
    fn default() -> Self {
        Self::permissive()
    }
}

#[async_trait]
impl DeliveryLookup for FixedDeliveryLookup {
    async fn environment_accepts_deployments(&self, _environment: EnvironmentId) -> Result<Option<bool>, String> {
        Ok(self.environment_accepts)
    }

    async fn service_deployable(&self, _service: ServiceId) -> Result<Option<bool>, String> {
        Ok(self.service_deployable)
    }

    async fn tenant_active(&self, _tenant: &TenantId, _environment: EnvironmentId) -> Result<Option<bool>, String> {
        Ok(self.tenant_active)
    }

    async fn last_succeeded_deployment(
        &self,
        _service: ServiceId,
        _environment: EnvironmentId,
        _tenant: Option<&TenantId>,
    ) -> Result<Option<DeploymentId>, String> {
        Ok(self.last_succeeded)
    }

    async fn deployment(&self, _deployment: DeploymentId) -> Result<Option<DeploymentFacts>, String> {
        Ok(self.other_deployment.clone())
    }

    async fn dependency_rollouts(
        &self,
        _service: ServiceId,
        _environment: EnvironmentId,
        _tenant: Option<&TenantId>,
    ) -> Result<Vec<DependencyRollout>, String> {
        Ok(self.dependency_rollouts.clone())
    }
}

/// The services handed to every `RuntimeDeployment` command.
#[derive(Clone)]
pub struct DeploymentServices {
    lookup: Arc<dyn DeliveryLookup>,
}

impl DeploymentServices {
    /// Services backed by the given delivery lookup.
    pub fn new(lookup: Arc<dyn DeliveryLookup>) -> Self {
        Self { lookup }
    }

    /// See [`DeliveryLookup::environment_accepts_deployments`].
    pub async fn environment_accepts_deployments(&self, environment: EnvironmentId) -> Result<Option<bool>, String> {
        self.lookup.environment_accepts_deployments(environment).await
    }

    /// See [`DeliveryLookup::service_deployable`].
    pub async fn service_deployable(&self, service: ServiceId) -> Result<Option<bool>, String> {
        self.lookup.service_deployable(service).await
    }

    /// See [`DeliveryLookup::tenant_active`].
    pub async fn tenant_active(&self, tenant: &TenantId, environment: EnvironmentId) -> Result<Option<bool>, String> {
        self.lookup.tenant_active(tenant, environment).await
    }

    /// See [`DeliveryLookup::last_succeeded_deployment`].
    pub async fn last_succeeded_deployment(
        &self,
        service: ServiceId,
        environment: EnvironmentId,
        tenant: Option<&TenantId>,
    ) -> Result<Option<DeploymentId>, String> {
        self.lookup.last_succeeded_deployment(service, environment, tenant).await
    }

    /// See [`DeliveryLookup::deployment`].
    pub async fn deployment(&self, deployment: DeploymentId) -> Result<Option<DeploymentFacts>, String> {
        self.lookup.deployment(deployment).await
    }

    /// See [`DeliveryLookup::dependency_rollouts`].
    pub async fn dependency_rollouts(
        &self,
        service: ServiceId,
        environment: EnvironmentId,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<DependencyRollout>, String> {
        self.lookup.dependency_rollouts(service, environment, tenant).await
    }
}

impl fmt::Debug for DeploymentServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeploymentServices").finish_non_exhaustive()
    }
}
