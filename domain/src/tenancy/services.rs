//! Facts from outside the aggregate that `RuntimeTenantBinding` decisions need: whether the
//! environment a tenant is bound to exists and is live, and the largest replica count an active
//! scaling policy of the tenant there may scale to. They are looked up through
//! [`TenancyLookup`], never by the aggregate reaching for storage itself.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::envelope::TenantId;
use crate::environments::EnvironmentId;

/// Answers the questions `BindTenant` and `ChangeQuota` ask. Implementations read committed
/// state of the other aggregates; they must not issue commands. `Err` means the question could
/// not be answered, which the aggregate reports instead of guessing.
#[async_trait]
pub trait TenancyLookup: Send + Sync {
    /// Whether the environment is live (`Ready` or `Degraded`); `None` if there is no such
    /// environment.
    async fn environment_live(&self, environment: EnvironmentId) -> Result<Option<bool>, String>;

    /// The highest `max_replicas` of the tenant's `Active` scaling policies in the environment;
    /// `None` if it has none.
    async fn active_policy_max_replicas(
        &self,
        tenant: &TenantId,
        environment: EnvironmentId,
    ) -> Result<Option<u32>, String>;
}

/// A lookup with fixed answers whatever it is asked about, for tests and local development.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedTenancyLookup {
    /// Answer to [`TenancyLookup::environment_live`].
    pub environment_live: Option<bool>,
    /// Answer to [`TenancyLookup::active_policy_max_replicas`].
    pub policy_max_replicas: Option<u32>,
}

impl FixedTenancyLookup {
    /// The environment exists and is live; the tenant has no active scaling policy.
    pub fn permissive() -> Self {
        Self { environment_live: Some(true), policy_max_replicas: None }
    }
}

impl Default for FixedTenancyLookup {
    fn default() -> Self {
        Self::permissive()
    }
}

#[async_trait]
impl TenancyLookup for FixedTenancyLookup {
    async fn environment_live(&self, _environment: EnvironmentId) -> Result<Option<bool>, String> {
        Ok(self.environment_live)
    }

    async fn active_policy_max_replicas(
        &self,
        _tenant: &TenantId,
        _environment: EnvironmentId,
    ) -> Result<Option<u32>, String> {
        Ok(self.policy_max_replicas)
    }
}

/// The services handed to every `RuntimeTenantBinding` command.
#[derive(Clone)]
pub struct TenantBindingServices {
    lookup: Arc<dyn TenancyLookup>,
}

impl TenantBindingServices {
    /// Services backed by the given lookup.
    pub fn new(lookup: Arc<dyn TenancyLookup>) -> Self {
        Self { lookup }
    }

    /// See [`TenancyLookup::environment_live`].
    pub async fn environment_live(&self, environment: EnvironmentId) -> Result<Option<bool>, String> {
        self.lookup.environment_live(environment).await
    }

    /// See [`TenancyLookup::active_policy_max_replicas`].
    pub async fn active_policy_max_replicas(
        &self,
        tenant: &TenantId,
        environment: EnvironmentId,
    ) -> Result<Option<u32>, String> {
        self.lookup.active_policy_max_replicas(tenant, environment).await
    }
}

impl Default for TenantBindingServices {
    /// Backed by [`FixedTenancyLookup::permissive`].
    fn default() -> Self {
        Self::new(Arc::new(FixedTenancyLookup::permissive()))
    }
}

impl fmt::Debug for TenantBindingServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantBindingServices").finish_non_exhaustive()
    }
}
