//! Facts from outside the aggregate that `ScalingPolicy` decisions need. They are looked up
//! through these traits, never by the aggregate reaching for storage itself, so the domain
//! stays free of I/O and every decision is testable with a fixed answer.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::envelope::TenantId;
use crate::environments::EnvironmentId;

/// Answers "how many replicas may this tenant run in this environment?", for the rule that a
/// tenant's policy stays within the tenant's quota. Implementations read the tenant binding
/// projection; they must not issue commands.
#[async_trait]
pub trait ScalingLookup: Send + Sync {
    /// The replica quota of `tenant`'s binding to `environment`; `Ok(None)` when the tenant has
    /// no binding there, or only one that is offboarding or offboarded (a `Requested`,
    /// `Active` or `Suspended` binding counts). `Err` means the question could not be
    /// answered, which the aggregate reports instead of guessing.
    async fn tenant_replica_quota(&self, tenant: &TenantId, environment: &EnvironmentId)
        -> Result<Option<u32>, String>;
}

/// A lookup with a fixed answer for every tenant and environment, for tests and local
/// development.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedScalingLookup(pub Option<u32>);

#[async_trait]
impl ScalingLookup for FixedScalingLookup {
    async fn tenant_replica_quota(
        &self,
        _tenant: &TenantId,
        _environment: &EnvironmentId,
    ) -> Result<Option<u32>, String> {
        Ok(self.0)
    }
}

/// The services handed to every `ScalingPolicy` command.
#[derive(Clone)]
pub struct ScalingServices {
    lookup: Arc<dyn ScalingLookup>,
}

impl ScalingServices {
    /// Services backed by the given lookup.
    pub fn new(lookup: Arc<dyn ScalingLookup>) -> Self {
        Self { lookup }
    }

    /// The tenant's replica quota in the environment (see
    /// [`ScalingLookup::tenant_replica_quota`]).
    pub async fn tenant_replica_quota(
        &self,
        tenant: &TenantId,
        environment: &EnvironmentId,
    ) -> Result<Option<u32>, String> {
        self.lookup.tenant_replica_quota(tenant, environment).await
    }
}

impl fmt::Debug for ScalingServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScalingServices").finish_non_exhaustive()
    }
}
