//! Tenancy context: the `RuntimeTenantBinding` aggregate, a tenant's runtime boundary in one
//! environment (isolation model, Kubernetes namespace, workload identity, network policy, data
//! partition and quotas).
//!
//! Lifecycle: `Requested -> Active -> Suspended -> Active`, `Active|Suspended -> Offboarding ->
//! Offboarded`. `ActivateBinding` (`Requested -> Active`) is not in DOMAIN.md's command list,
//! which leaves that transition without a command.
//!
//! Rules kept here: `tenant_id` is a hard boundary, so a binding is owned by its tenant (see
//! [`crate::ownership::TenantOwned`]) and one tenant's binding, namespace or data partition
//! cannot be another's (claims taken by `TenantBound`, released by `TenantOffboarded` so the
//! tenant can be bound again later); quotas are never negative (unsigned, range-checked
//! [`Quotas`]); a suspended tenant gets no new deployment
//! ([`RuntimeTenantBinding::accepts_deployments`] is true only when `Active`); a quota breach
//! is recorded only when the observation exceeds the quota. Two rules need facts from other
//! aggregates, looked up through [`TenantBindingServices`]: a tenant is bound only to an
//! environment that exists and is live (`Ready`/`Degraded`), and `ChangeQuota` never takes the
//! replica quota below the max replicas of an active scaling policy of that tenant there.
//!
//! Namespace by isolation model: `namespace_per_tenant` requires one; `shared` refuses one
//! (the tenant runs in shared workloads and owns no namespace); `dedicated_environment` may
//! name one (the whole environment is the tenant's, so it is informational).
//!
//! Layout:
//! - [`values`]: value objects, each parsed once (`KubernetesNamespace`, `Quotas`, ...).
//! - [`commands`]: the [`TenantBindingCommand`] enum.
//! - [`events`]: [`TenantBindingEvent`] and its uniqueness claims.
//! - [`error`]: [`TenantBindingError`], mapped to a `RejectionKind`.
//! - [`services`]: the [`TenancyLookup`] the cross-aggregate rules need.
//! - [`aggregate`]: [`RuntimeTenantBinding`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod services;
pub mod values;

pub use aggregate::RuntimeTenantBinding;
pub use commands::TenantBindingCommand;
pub use error::TenantBindingError;
pub use events::{
    tenant_binding_key, tenant_data_partition_key, tenant_namespace_key, TenantBindingEvent, TENANT_BINDING_SCOPE,
    TENANT_DATA_PARTITION_SCOPE, TENANT_NAMESPACE_SCOPE,
};
pub use services::{FixedTenancyLookup, TenancyLookup, TenantBindingServices};
pub use values::{
    DataPartition, IsolationModel, KubernetesNamespace, NetworkPolicy, NetworkPolicyName, QuotaBreach, QuotaDimension,
    Quotas, TenantBindingStatus, ValueError, WorkloadIdentity,
};
