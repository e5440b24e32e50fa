//! Facts that aggregates' decisions need from outside their own stream, read from PostgreSQL.
//! They read the write side's own tables (claims), not projections, so they never lag.

use std::collections::{HashSet, VecDeque};

use async_trait::async_trait;
use domain::catalog::{
    active_deployment_key, CatalogLookup, DeliveryLookup, DependencyRollout, DeploymentFacts, DeploymentStatus,
    RuntimeDeployment, RuntimeService, ServiceLifecycle, ACTIVE_DEPLOYMENT_SCOPE, LAST_SUCCEEDED_DEPLOYMENT_SCOPE,
};
use domain::envelope::TenantId;
use domain::environments::{
    EnvironmentId, EnvironmentStatus, ProductId, RuntimeEnvironment, Stage, StagingLookup, ENVIRONMENT_NAME_SCOPE,
};
use domain::ids::{DeploymentId, ServiceId};
use domain::scaling::{ScalingLookup, ScalingPolicy, ScalingPolicyStatus, SCALING_POLICY_SCOPE};
use domain::tenancy::{
    tenant_binding_key, RuntimeTenantBinding, TenancyLookup, TenantBindingStatus, TENANT_BINDING_SCOPE,
};
use sqlx::PgPool;

use crate::store::PgEventStore;

/// The event stores [`PgLookups`] reads other aggregates through.
pub struct LookupStores {
    /// `RuntimeEnvironment`.
    pub environments: PgEventStore<RuntimeEnvironment>,
    /// `RuntimeService`.
    pub services: PgEventStore<RuntimeService>,
    /// `RuntimeTenantBinding`.
    pub tenant_bindings: PgEventStore<RuntimeTenantBinding>,
    /// `RuntimeDeployment` (with its upcasters).
    pub deployments: PgEventStore<RuntimeDeployment>,
    /// `ScalingPolicy`.
    pub scaling_policies: PgEventStore<ScalingPolicy>,
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
    deployments: PgEventStore<RuntimeDeployment>,
    scaling_policies: PgEventStore<ScalingPolicy>,
}

/// Longest dependency walk before the cycle check gives up (a guard, not a limit in practice).
const MAX_DEPENDENCY_WALK: usize = 10_000;

impl PgLookups {
    /// Lookups over `pool`, reading aggregates through these stores.
    pub fn new(pool: PgPool, stores: LookupStores) -> Self {
        let LookupStores { environments, services, tenant_bindings, deployments, scaling_policies } = stores;
        Self { pool, environments, services, tenant_bindings, deployments, scaling_policies }
    }

    /// The holders of the claims in `scope` whose keys start with `prefix`.
    async fn claim_holders_with_prefix(&self, scope: &str, prefix: &str) -> Result<Vec<String>, String> {
        // The keys starting with `prefix` are, in byte order, those from `prefix` up to
        // (excluding) `prefix` with its last byte incremented. A range in "C" collation has an
        // index (`unique_claims_by_prefix`); `LIKE $2` has none in a generic plan and read
        // every claim of the scope.
        let mut upper = prefix.as_bytes().to_vec();
        match upper.last_mut() {
            Some(last) if *last < 0x7f => *last += 1,
            _ => return Err(format!("claim prefix {prefix:?} must end with an ASCII character")),
        }
        let upper = String::from_utf8(upper).map_err(|e| e.to_string())?;
        sqlx::query_scalar(
            "SELECT aggregate_id FROM unique_claims \
              WHERE scope = $1 AND key COLLATE \"C\" >= $2 AND key COLLATE \"C\" < $3",
        )
        .bind(scope)
        .bind(prefix)
        .bind(upper)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| format!("claim lookup failed: {e}"))
    }

    /// The holders of the claims in `scope` whose keys match the LIKE `pattern`.
    async fn claim_holders_like(&self, scope: &str, pattern: &str) -> Result<Vec<String>, String> {
        sqlx::query_scalar("SELECT aggregate_id FROM unique_claims WHERE scope = $1 AND key LIKE $2")
            .bind(scope)
            .bind(pattern)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| format!("claim lookup failed: {e}"))
    }

    async fn environment_status(&self, environment: EnvironmentId) -> Result<Option<EnvironmentStatus>, String> {
        let loaded = self.environments.load(&environment.to_string()).await.map_err(|e| e.to_string())?;
        Ok(loaded.aggregate.status())
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

    async fn deployment(&self, deployment: DeploymentId) -> Result<Option<DeploymentFacts>, String> {
        let loaded = self.deployments.load(&deployment.to_string()).await.map_err(|e| e.to_string())?;
        let other = loaded.aggregate;
        let (Some(status), Some(service), Some(environment)) = (other.status(), other.service(), other.environment())
        else {
            return Ok(None);
        };
        let finished_at = match status {
            DeploymentStatus::Succeeded | DeploymentStatus::Superseded => other.finished_at(),
            _ => None,
        };
        Ok(Some(DeploymentFacts { service, environment, tenant: other.tenant().cloned(), status, finished_at }))
    }

    async fn dependency_rollouts(
        &self,
        service: ServiceId,
        environment: EnvironmentId,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<DependencyRollout>, String> {
        // The service's declared dependencies, then each one's `active_deployment` claim (held
        // exactly while a deployment is in flight, written with its events): primary-key reads.
        let loaded = self.services.load(&service.to_string()).await.map_err(|e| e.to_string())?;
        let mut waiting = Vec::new();
        for dependency in loaded.aggregate.dependencies() {
            let mut keys = vec![active_deployment_key(dependency, &environment, None)];
            if tenant.is_some() {
                keys.push(active_deployment_key(dependency, &environment, tenant));
            }
            for key in keys {
                let Some(id) = self.claim_holder(ACTIVE_DEPLOYMENT_SCOPE, &key).await? else { continue };
                let deployment = DeploymentId::parse(&id).map_err(|e| e.to_string())?;
                if let Some(facts) = self.deployment(deployment).await? {
                    waiting.push(DependencyRollout { dependency: *dependency, deployment, status: facts.status });
                }
            }
        }
        Ok(waiting)
    }
}

/// "Which staging environments does this product have?", answered from the environment name
/// claims (taken when an environment is requested, released when it is decommissioned, in the
/// same statement as those events) and each holder's committed status: the domain counts only
/// a `Ready`/`Degraded` one as live.
#[async_trait]
impl StagingLookup for PgLookups {
    async fn staging_statuses(&self, product: &ProductId) -> Result<Vec<EnvironmentStatus>, String> {
        // Keys are `product/stage/name`.
        let prefix = format!("{product}/{}/", Stage::Staging);
        let mut statuses = Vec::new();
        for id in self.claim_holders_with_prefix(ENVIRONMENT_NAME_SCOPE, &prefix).await? {
            let loaded = self.environments.load(&id).await.map_err(|e| e.to_string())?;
            statuses.extend(loaded.aggregate.status());
        }
        Ok(statuses)
    }
}

#[async_trait]
impl TenancyLookup for PgLookups {
    async fn environment_live(&self, environment: EnvironmentId) -> Result<Option<bool>, String> {
        Ok(self.environment_status(environment).await?.map(|status| status.accepts_deployments()))
    }

    async fn active_policy_max_replicas(
        &self,
        tenant: &TenantId,
        environment: EnvironmentId,
    ) -> Result<Option<u32>, String> {
        // Policy keys are `service/environment/tenant`: the service comes first, so this reads
        // every scaling-policy claim (the scope prefix of the primary key), not the whole
        // table. Asked only when a replica quota goes down, which is rare.
        let pattern = format!("%/{environment}/{tenant}");
        let mut highest: Option<u32> = None;
        for id in self.claim_holders_like(SCALING_POLICY_SCOPE, &pattern).await? {
            let loaded = self.scaling_policies.load(&id).await.map_err(|e| e.to_string())?;
            let policy = loaded.aggregate;
            let same_target = policy.tenant() == Some(tenant) && policy.environment() == Some(&environment);
            if same_target && policy.status() == Some(ScalingPolicyStatus::Active) {
                if let Some(spec) = policy.spec() {
                    highest = highest.max(Some(spec.replicas().max()));
                }
            }
        }
        Ok(highest)
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
