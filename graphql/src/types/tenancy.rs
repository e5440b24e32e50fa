//! `TenantBinding` (a tenant's runtime boundary in one environment) and the inputs of its
//! mutations. Inputs parse into the domain's value objects; every refusal is `INVALID_INPUT`.

use async_graphql::{Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::tenancy::{self as ten, RuntimeTenantBinding};

use crate::command::invalid;
use crate::error::ApiError;

/// A whole number from the API as the domain's `u32`; negative or too large is `INVALID_INPUT`.
fn to_u32(field: &str, value: i64) -> Result<u32, ApiError> {
    u32::try_from(value).map_err(|_| invalid(format!("{field} must be between 0 and {}: {value}", u32::MAX)))
}

/// A domain `u64` as a GraphQL `Int` (saturating; no real count comes near the limit).
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Where a tenant binding is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantBindingStatus {
    /// Asked for; the boundary (namespace, identity, policies) is being set up.
    Requested,
    /// Live; the only status in which the tenant gets new deployments.
    Active,
    /// Temporarily stopped; gets no new deployment.
    Suspended,
    /// Being removed; workloads and data are being torn down.
    Offboarding,
    /// Gone; accepts no command. The tenant may be bound again by a new binding.
    Offboarded,
}

impl From<ten::TenantBindingStatus> for TenantBindingStatus {
    fn from(s: ten::TenantBindingStatus) -> Self {
        use ten::TenantBindingStatus as S;
        match s {
            S::Requested => Self::Requested,
            S::Active => Self::Active,
            S::Suspended => Self::Suspended,
            S::Offboarding => Self::Offboarding,
            S::Offboarded => Self::Offboarded,
        }
    }
}

impl From<TenantBindingStatus> for ten::TenantBindingStatus {
    fn from(s: TenantBindingStatus) -> Self {
        match s {
            TenantBindingStatus::Requested => Self::Requested,
            TenantBindingStatus::Active => Self::Active,
            TenantBindingStatus::Suspended => Self::Suspended,
            TenantBindingStatus::Offboarding => Self::Offboarding,
            TenantBindingStatus::Offboarded => Self::Offboarded,
        }
    }
}

/// How strongly a tenant's workloads are separated from other tenants' in an environment.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantIsolationModel {
    /// Workloads shared by every tenant; separated by data partition only; no namespace.
    Shared,
    /// The tenant's workloads run in a Kubernetes namespace of their own (required).
    NamespacePerTenant,
    /// The whole environment belongs to the tenant; a namespace inside it is optional.
    DedicatedEnvironment,
}

impl From<TenantIsolationModel> for ten::IsolationModel {
    fn from(m: TenantIsolationModel) -> Self {
        match m {
            TenantIsolationModel::Shared => Self::Shared,
            TenantIsolationModel::NamespacePerTenant => Self::NamespacePerTenant,
            TenantIsolationModel::DedicatedEnvironment => Self::DedicatedEnvironment,
        }
    }
}

impl From<ten::IsolationModel> for TenantIsolationModel {
    fn from(m: ten::IsolationModel) -> Self {
        match m {
            ten::IsolationModel::Shared => Self::Shared,
            ten::IsolationModel::NamespacePerTenant => Self::NamespacePerTenant,
            ten::IsolationModel::DedicatedEnvironment => Self::DedicatedEnvironment,
        }
    }
}

/// Kind of network policy between a tenant's workloads and other tenants'.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantNetworkPolicyKind {
    /// No restriction (typical for a dedicated environment).
    AllowAll,
    /// Traffic to and from other tenants' workloads is denied.
    DenyCrossTenant,
    /// A named Kubernetes `NetworkPolicy` maintained outside the platform model.
    Custom,
}

/// A network policy to apply to a tenant's workloads.
#[derive(InputObject, Debug, Clone)]
pub struct TenantNetworkPolicyInput {
    /// Kind of policy.
    pub kind: TenantNetworkPolicyKind,
    /// The Kubernetes `NetworkPolicy` name (a DNS-1123 subdomain): required for `CUSTOM`,
    /// refused otherwise.
    pub name: Option<String>,
}

impl TenantNetworkPolicyInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<ten::NetworkPolicy, ApiError> {
        match (self.kind, &self.name) {
            (TenantNetworkPolicyKind::AllowAll, None) => Ok(ten::NetworkPolicy::AllowAll),
            (TenantNetworkPolicyKind::DenyCrossTenant, None) => Ok(ten::NetworkPolicy::DenyCrossTenant),
            (TenantNetworkPolicyKind::Custom, Some(name)) => {
                Ok(ten::NetworkPolicy::Custom { name: ten::NetworkPolicyName::parse(name).map_err(invalid)? })
            }
            (TenantNetworkPolicyKind::Custom, None) => Err(invalid("a CUSTOM network policy needs a name")),
            (_, Some(_)) => Err(invalid("only a CUSTOM network policy takes a name")),
        }
    }
}

/// A network policy in force.
#[derive(SimpleObject, Debug, Clone)]
pub struct TenantNetworkPolicy {
    /// Kind of policy.
    pub kind: TenantNetworkPolicyKind,
    /// The Kubernetes `NetworkPolicy` name, for `CUSTOM`.
    pub name: Option<String>,
}

impl From<&ten::NetworkPolicy> for TenantNetworkPolicy {
    fn from(p: &ten::NetworkPolicy) -> Self {
        match p {
            ten::NetworkPolicy::AllowAll => Self { kind: TenantNetworkPolicyKind::AllowAll, name: None },
            ten::NetworkPolicy::DenyCrossTenant => Self { kind: TenantNetworkPolicyKind::DenyCrossTenant, name: None },
            ten::NetworkPolicy::Custom { name } => {
                Self { kind: TenantNetworkPolicyKind::Custom, name: Some(name.to_string()) }
            }
        }
    }
}

/// One dimension of a tenant's quotas.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TenantQuotaDimension {
    /// CPU, in millicores.
    Cpu,
    /// Memory, in MiB.
    Memory,
    /// Running replicas, over all the tenant's workloads.
    Replicas,
    /// Persistent storage, in GiB.
    Storage,
    /// Requests per second at the gateway.
    Rps,
}

impl From<TenantQuotaDimension> for ten::QuotaDimension {
    fn from(d: TenantQuotaDimension) -> Self {
        match d {
            TenantQuotaDimension::Cpu => Self::Cpu,
            TenantQuotaDimension::Memory => Self::Memory,
            TenantQuotaDimension::Replicas => Self::Replicas,
            TenantQuotaDimension::Storage => Self::Storage,
            TenantQuotaDimension::Rps => Self::Rps,
        }
    }
}

impl From<ten::QuotaDimension> for TenantQuotaDimension {
    fn from(d: ten::QuotaDimension) -> Self {
        match d {
            ten::QuotaDimension::Cpu => Self::Cpu,
            ten::QuotaDimension::Memory => Self::Memory,
            ten::QuotaDimension::Replicas => Self::Replicas,
            ten::QuotaDimension::Storage => Self::Storage,
            ten::QuotaDimension::Rps => Self::Rps,
        }
    }
}

/// A tenant's resource limits in one environment, all dimensions at once. Each is held to its
/// dimension's range (cpu 1..=1024000, memory 1..=4194304, replicas 1..=1000, storage
/// 0..=65536, rps 1..=1000000); anything else is `INVALID_INPUT`.
#[derive(InputObject, Debug, Clone)]
pub struct TenantQuotasInput {
    /// CPU limit in millicores.
    pub cpu_millicores: i64,
    /// Memory limit in MiB.
    pub memory_mib: i64,
    /// Most replicas over all the tenant's workloads (scaling policies stay within it).
    pub replicas: i64,
    /// Storage limit in GiB (0 for a stateless tenant).
    pub storage_gib: i64,
    /// Request rate limit per second at the gateway.
    pub requests_per_second: i64,
}

impl TenantQuotasInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<ten::Quotas, ApiError> {
        ten::Quotas::new(
            to_u32("cpuMillicores", self.cpu_millicores)?,
            to_u32("memoryMib", self.memory_mib)?,
            to_u32("replicas", self.replicas)?,
            to_u32("storageGib", self.storage_gib)?,
            to_u32("requestsPerSecond", self.requests_per_second)?,
        )
        .map_err(invalid)
    }
}

/// A tenant's resource limits in force.
#[derive(SimpleObject, Debug, Clone)]
pub struct TenantQuotas {
    /// CPU limit in millicores.
    pub cpu_millicores: i64,
    /// Memory limit in MiB.
    pub memory_mib: i64,
    /// Most replicas over all the tenant's workloads.
    pub replicas: i64,
    /// Storage limit in GiB.
    pub storage_gib: i64,
    /// Request rate limit per second.
    pub requests_per_second: i64,
}

impl From<&ten::Quotas> for TenantQuotas {
    fn from(q: &ten::Quotas) -> Self {
        Self {
            cpu_millicores: q.cpu_millicores().into(),
            memory_mib: q.memory_mib().into(),
            replicas: q.replicas().into(),
            storage_gib: q.storage_gib().into(),
            requests_per_second: q.requests_per_second().into(),
        }
    }
}

/// An observation of a tenant above one of its quotas.
#[derive(SimpleObject, Debug, Clone)]
pub struct TenantQuotaBreach {
    /// Which quota was exceeded.
    pub dimension: TenantQuotaDimension,
    /// What was observed, in the dimension's unit.
    pub observed: i64,
    /// The quota in force at the time.
    pub quota: i64,
    /// When it was observed.
    pub at: DateTime<Utc>,
}

impl From<&ten::QuotaBreach> for TenantQuotaBreach {
    fn from(b: &ten::QuotaBreach) -> Self {
        Self { dimension: b.dimension().into(), observed: to_i64(b.observed()), quota: b.quota().into(), at: b.at() }
    }
}

/// Everything needed to bind a tenant to an environment.
#[derive(InputObject, Debug)]
pub struct BindTenantInput {
    /// Client-chosen binding id (UUID), so a retried request targets the same binding;
    /// generated when absent.
    pub id: Option<ID>,
    /// The tenant; the binding belongs to it for good.
    pub tenant_id: String,
    /// The environment the tenant runs in (one live binding per tenant and environment).
    pub environment_id: ID,
    /// How strongly the tenant is separated from others.
    pub isolation: TenantIsolationModel,
    /// Kubernetes namespace (DNS-1123 label): required for `NAMESPACE_PER_TENANT`, refused for
    /// `SHARED`, optional for `DEDICATED_ENVIRONMENT`.
    pub namespace: Option<String>,
    /// Client id (UUID) of the managed identity the tenant's workloads run as; public, never a
    /// secret.
    pub workload_identity_client_id: String,
    /// What traffic the tenant's workloads may exchange with other tenants'.
    pub network_policy: TenantNetworkPolicyInput,
    /// Where the tenant's data lives (slug); unique per environment.
    pub data_partition: String,
    /// The tenant's resource limits.
    pub quotas: TenantQuotasInput,
}

/// A tenant's runtime boundary in one environment (belongs to its tenant).
pub struct TenantBinding {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: RuntimeTenantBinding,
}

#[Object]
impl TenantBinding {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate this view reflects.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Lifecycle state.
    async fn status(&self) -> Option<TenantBindingStatus> {
        self.state.status().map(Into::into)
    }
    /// Whether the tenant may get new deployments in this environment (only when Active).
    async fn accepts_deployments(&self) -> bool {
        self.state.accepts_deployments()
    }
    /// The tenant the binding belongs to.
    async fn tenant_id(&self) -> Option<String> {
        self.state.tenant().map(ToString::to_string)
    }
    /// The environment the tenant is bound to.
    async fn environment_id(&self) -> Option<ID> {
        self.state.environment().map(|e| ID(e.to_string()))
    }
    /// How strongly the tenant is separated from others.
    async fn isolation(&self) -> Option<TenantIsolationModel> {
        self.state.isolation().map(Into::into)
    }
    /// The tenant's own Kubernetes namespace, if it has one.
    async fn namespace(&self) -> Option<String> {
        self.state.namespace().map(ToString::to_string)
    }
    /// Client id of the managed identity the tenant's workloads run as.
    async fn workload_identity_client_id(&self) -> Option<String> {
        self.state.identity().map(ToString::to_string)
    }
    /// What traffic the tenant's workloads may exchange with other tenants'.
    async fn network_policy(&self) -> Option<TenantNetworkPolicy> {
        self.state.network_policy().map(Into::into)
    }
    /// Where the tenant's data lives.
    async fn data_partition(&self) -> Option<String> {
        self.state.data_partition().map(ToString::to_string)
    }
    /// The quotas in force.
    async fn quotas(&self) -> Option<TenantQuotas> {
        self.state.quotas().map(Into::into)
    }
    /// Why the binding is Suspended, Offboarding or Offboarded.
    async fn last_reason(&self) -> Option<String> {
        self.state.last_reason().map(ToString::to_string)
    }
    /// How many quota breaches were recorded over the binding's life.
    async fn breach_count(&self) -> i64 {
        to_i64(self.state.breach_count())
    }
    /// The most recent quota breach.
    async fn last_breach(&self) -> Option<TenantQuotaBreach> {
        self.state.last_breach().map(Into::into)
    }
    /// When the binding was asked for.
    async fn bound_at(&self) -> Option<DateTime<Utc>> {
        self.state.bound_at()
    }
    /// When the binding first became Active.
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.state.activated_at()
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
    /// When offboarding finished.
    async fn offboarded_at(&self) -> Option<DateTime<Utc>> {
        self.state.offboarded_at()
    }
}
