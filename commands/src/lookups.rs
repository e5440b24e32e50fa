//! Facts that aggregates' decisions need from outside their own stream, read from PostgreSQL.
//! They read the write side's own tables (claims), not projections, so they never lag.

use std::collections::{HashSet, VecDeque};

use async_trait::async_trait;
use domain::catalog::{
    active_deployment_key, CatalogLookup, DeliveryLookup, RuntimeService, ServiceLifecycle,
    LAST_SUCCEEDED_DEPLOYMENT_SCOPE,
};
use domain::envelope::TenantId;
use domain::environments::{
    EnvironmentId, ProductId, RuntimeEnvironment, Stage, StagingLookup, ENVIRONMENT_NAME_SCOPE,
};
use domain::ids::{DeploymentId, ServiceId};
use domain::scaling::ScalingLookup;
use domain::tenancy::{tenant_binding_key, RuntimeTenantBinding, TenantBindingStatus, TENANT_BINDING_SCOPE};
use sqlx::PgPool;

use crate::store::PgEventStore;

/// "Does this product have a live staging environment?", answered from the environment name
/// claims: a claim is taken when an environment is requested and released when it is
/// decommissioned, in the same statement as those events.
#[derive(Debug, Clone)]
pub struct PgStagingLookup {
    pool: PgPool,
}

impl PgStagingLookup {
    /// A lookup over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl StagingLookup for PgStagingLookup {
    async fn staging_exists(&self, product: &ProductId) -> Result<bool, String> {
        // Keys are `product/stage/name`; products are slugs, so they hold no LIKE wildcards.
        let prefix = format!("{product}/{}/%", Stage::Staging);
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM unique_claims WHERE scope = $1 AND key LIKE $2)")
            .bind(ENVIRONMENT_NAME_SCOPE)
            .bind(prefix)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| format!("staging lookup failed: {e}"))
    }
}

/// The cross-aggregate facts of catalog, delivery and scaling decisions. Aggregates are read
/// through their event stores (committed state, not a projection that may lag); relations
/// between aggregates (a tenant's binding in an environment, the last succeeded deployment)
/// through the write-side claims the events keep atomically.
pub struct PgLookups {
    pool: PgPool,
    environments: PgEventStore<RuntimeEnvironment>,
    services: PgEventStore<RuntimeService>,
    tenant_bindings: PgEventStore<RuntimeTenantBinding>,
}

/// Longest dependency walk before the cycle check gives up (a guard, not a limit in practice).
const MAX_DEPENDENCY_WALK: usize = 10_000;

impl PgLookups {
    /// Lookups over `pool`, reading aggregates through these stores.
    pub fn new(
        pool: PgPool,
        environments: PgEventStore<RuntimeEnvironment>,
        services: PgEventStore<RuntimeService>,
        tenant_bindings: PgEventStore<RuntimeTenantBinding>,
    ) -> Self {
        Self { pool, environments, services, tenant_bindings }
    }

    async fn claim_holder(&self, scope: &str, key: &str) -> Result<Option<String>, String> {
        sqlx::query_scalar("SELECT aggregate_id FROM unique_claims WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| format!("claim lookup failed: {e}"))
    }

    async fn tenant_binding(
        &self,
        tenant: &TenantId,
        environment: &EnvironmentId,
    ) -> Result<Option<RuntimeTenantBinding>, String> {
        let Some(id) = self.claim_holder(TENANT_BINDING_SCOPE, &tenant_binding_key(tenant, environment)).await? else {
            return Ok(None);
        };
        let loaded = self.tenant_bindings.load(&id).await.map_err(|e| e.to_string())?;
        Ok((loaded.version > 0).then_some(loaded.aggregate))
    }
}

#[async_trait]
impl CatalogLookup for PgLookups {
    async fn depends_on(&self, from: ServiceId, to: ServiceId) -> Result<bool, String> {
        let mut seen = HashSet::from([from]);
        let mut queue = VecDeque::from([from]);
        while let Some(next) = queue.pop_front() {
            if next == to {
                return Ok(true);
            }
            if seen.len() > MAX_DEPENDENCY_WALK {
                return Err("dependency graph too large to check for cycles".into());
            }
            let loaded = self.services.load(&next.to_string()).await.map_err(|e| e.to_string())?;
            for dependency in loaded.aggregate.dependencies() {
                if seen.insert(*dependency) {
                    queue.push_back(*dependency);
                }
            }
        }
        Ok(false)
    }

    async fn service_status(&self, service: ServiceId) -> Result<Option<ServiceLifecycle>, String> {
        let loaded = self.services.load(&service.to_string()).await.map_err(|e| e.to_string())?;
        Ok(loaded.aggregate.status())
    }
}

#[async_trait]
impl DeliveryLookup for PgLookups {
    async fn environment_accepts_deployments(&self, environment: EnvironmentId) -> Result<Option<bool>, String> {
        let loaded = self.environments.load(&environment.to_string()).await.map_err(|e| e.to_string())?;
        Ok(loaded.aggregate.status().map(|_| loaded.aggregate.accepts_deployments()))
    }

    async fn service_deployable(&self, service: ServiceId) -> Result<Option<bool>, String> {
        let loaded = self.services.load(&service.to_string()).await.map_err(|e| e.to_string())?;
        Ok(loaded.aggregate.status().map(|_| loaded.aggregate.is_deployable()))
    }

    async fn tenant_active(&self, tenant: &TenantId, environment: EnvironmentId) -> Result<Option<bool>, String> {
        Ok(self.tenant_binding(tenant, &environment).await?.map(|b| b.accepts_deployments()))
    }

    async fn last_succeeded_deployment(
        &self,
        service: ServiceId,
        environment: EnvironmentId,
        tenant: Option<&TenantId>,
    ) -> Result<Option<DeploymentId>, String> {
        let key = active_deployment_key(&service, &environment, tenant);
        match self.claim_holder(LAST_SUCCEEDED_DEPLOYMENT_SCOPE, &key).await? {
            Some(id) => DeploymentId::parse(&id).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl ScalingLookup for PgLookups {
    async fn tenant_replica_quota(
        &self,
        tenant: &TenantId,
        environment: &EnvironmentId,
    ) -> Result<Option<u32>, String> {
        let binding = self.tenant_binding(tenant, environment).await?;
        Ok(binding
            .filter(|b| {
                !matches!(b.status(), Some(TenantBindingStatus::Offboarding | TenantBindingStatus::Offboarded) | None)
            })
            .and_then(|b| b.quotas().map(|q| q.replicas())))
    }
}
