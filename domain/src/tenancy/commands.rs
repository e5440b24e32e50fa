//! Commands to the `RuntimeTenantBinding` aggregate. The binding id is the aggregate id, so no
//! command carries it; time is always passed in, because the domain never reads the clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{
    DataPartition, IsolationModel, KubernetesNamespace, NetworkPolicy, QuotaDimension, Quotas, WorkloadIdentity,
};
use crate::envelope::TenantId;
use crate::environments::{EnvironmentId, Reason};

/// What can be asked of a tenant binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantBindingCommand {
    /// Draw a tenant's runtime boundary in an environment; the binding starts `Requested`
    /// while the boundary is set up, then `ActivateBinding` makes it live.
    BindTenant {
        /// The tenant; the binding belongs to it for good.
        tenant: TenantId,
        /// The environment the tenant runs in; one live binding per tenant and environment.
        environment: EnvironmentId,
        /// How strongly the tenant is separated from others.
        isolation: IsolationModel,
        /// Required for `namespace_per_tenant`, refused for `shared`, optional for
        /// `dedicated_environment`.
        namespace: Option<KubernetesNamespace>,
        /// The managed identity the tenant's workloads run as.
        identity: WorkloadIdentity,
        /// What traffic the tenant's workloads may exchange with other tenants'.
        network_policy: NetworkPolicy,
        /// Where the tenant's data lives; unique per environment.
        data_partition: DataPartition,
        /// The tenant's resource limits.
        quotas: Quotas,
        /// When the binding was asked for.
        at: DateTime<Utc>,
    },
    /// The boundary is set up; the tenant is live and gets deployments. (Not in DOMAIN.md's
    /// command list, which leaves `Requested -> Active` without a command.)
    ActivateBinding {
        /// When the binding became live.
        at: DateTime<Utc>,
    },
    /// Replace the tenant's quotas (while `Active` or `Suspended`).
    ChangeQuota {
        /// The new quotas, all dimensions at once.
        quotas: Quotas,
        /// When the change was made.
        at: DateTime<Utc>,
    },
    /// Stop the tenant from getting new deployments; running workloads are not touched here.
    Suspend {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Lift a suspension.
    Resume {
        /// When.
        at: DateTime<Utc>,
    },
    /// Start removing the tenant from the environment.
    Offboard {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Removal finished; the tenant, its namespace and its data partition are free to be
    /// bound again.
    RecordOffboarded {
        /// When removal finished.
        at: DateTime<Utc>,
    },
    /// The running system observed the tenant above one of its quotas.
    RecordQuotaBreach {
        /// Which quota.
        dimension: QuotaDimension,
        /// The observed value, in the dimension's unit; must exceed the quota.
        observed: u64,
        /// When it was observed.
        at: DateTime<Utc>,
    },
}

impl TenantBindingCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            TenantBindingCommand::BindTenant { .. } => "BindTenant",
            TenantBindingCommand::ActivateBinding { .. } => "ActivateBinding",
            TenantBindingCommand::ChangeQuota { .. } => "ChangeQuota",
            TenantBindingCommand::Suspend { .. } => "Suspend",
            TenantBindingCommand::Resume { .. } => "Resume",
            TenantBindingCommand::Offboard { .. } => "Offboard",
            TenantBindingCommand::RecordOffboarded { .. } => "RecordOffboarded",
            TenantBindingCommand::RecordQuotaBreach { .. } => "RecordQuotaBreach",
        }
    }
}
