//! Events of the `RuntimeTenantBinding` aggregate and the uniqueness claims they take and
//! release. Payloads hold only parsed value objects, so replaying the log re-checks them.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{
    DataPartition, IsolationModel, KubernetesNamespace, NetworkPolicy, QuotaDimension, Quotas, WorkloadIdentity,
};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};
use crate::envelope::TenantId;
use crate::environments::{EnvironmentId, Reason};

/// Claim scope for "one binding per tenant and environment".
pub const TENANT_BINDING_SCOPE: &str = "tenant_binding";

/// The key a binding holds in [`TENANT_BINDING_SCOPE`]: `tenant/environment`.
pub fn tenant_binding_key(tenant: &TenantId, environment: &EnvironmentId) -> String {
    format!("{tenant}/{environment}")
}

/// Claim scope for "a Kubernetes namespace belongs to one tenant per environment" (two tenants
/// in one namespace would share everything the namespace isolates).
pub const TENANT_NAMESPACE_SCOPE: &str = "tenant_namespace";

/// The key a binding holds in [`TENANT_NAMESPACE_SCOPE`]: `environment/namespace`.
pub fn tenant_namespace_key(environment: &EnvironmentId, namespace: &KubernetesNamespace) -> String {
    format!("{environment}/{namespace}")
}

/// Claim scope for "a data partition belongs to one tenant per environment" (in the shared
/// model it is the only thing keeping tenants' data apart).
pub const TENANT_DATA_PARTITION_SCOPE: &str = "tenant_data_partition";

/// The key a binding holds in [`TENANT_DATA_PARTITION_SCOPE`]: `environment/partition`.
pub fn tenant_data_partition_key(environment: &EnvironmentId, partition: &DataPartition) -> String {
    format!("{environment}/{partition}")
}

/// Something that happened to a tenant binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantBindingEvent {
    /// A binding was asked for; takes the binding claim, the namespace claim (when there is a
    /// namespace) and the data partition claim.
    TenantBound {
        /// The tenant.
        tenant: TenantId,
        /// The environment.
        environment: EnvironmentId,
        /// How strongly the tenant is separated from others.
        isolation: IsolationModel,
        /// The tenant's own namespace, if it has one.
        namespace: Option<KubernetesNamespace>,
        /// The managed identity its workloads run as.
        identity: WorkloadIdentity,
        /// Cross-tenant traffic rule.
        network_policy: NetworkPolicy,
        /// Where its data lives.
        data_partition: DataPartition,
        /// Its resource limits.
        quotas: Quotas,
        /// When the binding was asked for.
        at: DateTime<Utc>,
    },
    /// The boundary is set up and the tenant is live.
    BindingActivated {
        /// When.
        at: DateTime<Utc>,
    },
    /// The tenant's quotas were replaced.
    QuotaChanged {
        /// The quotas before the change, for audit and for "was this a reduction?".
        previous: Quotas,
        /// The quotas from now on.
        quotas: Quotas,
        /// When.
        at: DateTime<Utc>,
    },
    /// The tenant was suspended.
    TenantSuspended {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// The suspension was lifted.
    TenantResumed {
        /// When.
        at: DateTime<Utc>,
    },
    /// Removal of the tenant from the environment started.
    OffboardingStarted {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Removal finished; releases every claim `TenantBound` took. It repeats the claimed
    /// values because a claim is read from the event alone, without the aggregate's state.
    TenantOffboarded {
        /// The tenant, free to be bound to the environment again.
        tenant: TenantId,
        /// The environment.
        environment: EnvironmentId,
        /// The namespace it held, if any.
        namespace: Option<KubernetesNamespace>,
        /// The data partition it held.
        data_partition: DataPartition,
        /// When removal finished.
        at: DateTime<Utc>,
    },
    /// The tenant was observed above one of its quotas.
    QuotaBreached {
        /// Which quota.
        dimension: QuotaDimension,
        /// What was observed, in the dimension's unit.
        observed: u64,
        /// The quota in force at the time.
        quota: u32,
        /// When it was observed.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for TenantBindingEvent {
    fn event_type(&self) -> String {
        let name = match self {
            TenantBindingEvent::TenantBound { .. } => "TenantBound",
            TenantBindingEvent::BindingActivated { .. } => "BindingActivated",
            TenantBindingEvent::QuotaChanged { .. } => "QuotaChanged",
            TenantBindingEvent::TenantSuspended { .. } => "TenantSuspended",
            TenantBindingEvent::TenantResumed { .. } => "TenantResumed",
            TenantBindingEvent::OffboardingStarted { .. } => "OffboardingStarted",
            TenantBindingEvent::TenantOffboarded { .. } => "TenantOffboarded",
            TenantBindingEvent::QuotaBreached { .. } => "QuotaBreached",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

impl ClaimsUnique for TenantBindingEvent {
    fn claims(&self) -> Vec<Claim> {
        let (tenant, environment, namespace, data_partition, action) = match self {
            TenantBindingEvent::TenantBound { tenant, environment, namespace, data_partition, .. } => {
                (tenant, environment, namespace, data_partition, ClaimAction::Take)
            }
            TenantBindingEvent::TenantOffboarded { tenant, environment, namespace, data_partition, .. } => {
                (tenant, environment, namespace, data_partition, ClaimAction::Release)
            }
            _ => return Vec::new(),
        };
        let mut claims =
            vec![Claim { scope: TENANT_BINDING_SCOPE, key: tenant_binding_key(tenant, environment), action }];
        if let Some(namespace) = namespace {
            claims.push(Claim {
                scope: TENANT_NAMESPACE_SCOPE,
                key: tenant_namespace_key(environment, namespace),
                action,
            });
        }
        claims.push(Claim {
            scope: TENANT_DATA_PARTITION_SCOPE,
            key: tenant_data_partition_key(environment, data_partition),
            action,
        });
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc()
    }

    fn environment() -> EnvironmentId {
        EnvironmentId::parse(ENV).unwrap()
    }

    fn bound(namespace: Option<&str>) -> TenantBindingEvent {
        TenantBindingEvent::TenantBound {
            tenant: TenantId::parse("contoso").unwrap(),
            environment: environment(),
            isolation: IsolationModel::NamespacePerTenant,
            namespace: namespace.map(|ns| KubernetesNamespace::parse(ns).unwrap()),
            identity: WorkloadIdentity::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap(),
            network_policy: NetworkPolicy::DenyCrossTenant,
            data_partition: DataPartition::parse("contoso").unwrap(),
            quotas: Quotas::new(2000, 4096, 10, 50, 500).unwrap(),
            at: at(),
        }
    }

    fn offboarded(namespace: Option<&str>) -> TenantBindingEvent {
        TenantBindingEvent::TenantOffboarded {
            tenant: TenantId::parse("contoso").unwrap(),
            environment: environment(),
            namespace: namespace.map(|ns| KubernetesNamespace::parse(ns).unwrap()),
            data_partition: DataPartition::parse("contoso").unwrap(),
            at: at(),
        }
    }

    #[test]
    fn binding_a_tenant_takes_its_binding_namespace_and_partition() {
        assert_eq!(
            bound(Some("tenant-contoso")).claims(),
            vec![
                Claim { scope: TENANT_BINDING_SCOPE, key: format!("contoso/{ENV}"), action: ClaimAction::Take },
                Claim {
                    scope: TENANT_NAMESPACE_SCOPE,
                    key: format!("{ENV}/tenant-contoso"),
                    action: ClaimAction::Take,
                },
                Claim { scope: TENANT_DATA_PARTITION_SCOPE, key: format!("{ENV}/contoso"), action: ClaimAction::Take },
            ]
        );
    }

    #[test]
    fn a_binding_without_namespace_claims_no_namespace() {
        let scopes: Vec<_> = bound(None).claims().iter().map(|c| c.scope).collect();
        assert_eq!(scopes, vec![TENANT_BINDING_SCOPE, TENANT_DATA_PARTITION_SCOPE]);
    }

    #[test]
    fn offboarding_releases_the_same_claims() {
        for namespace in [Some("tenant-contoso"), None] {
            let taken = bound(namespace).claims();
            let released = offboarded(namespace).claims();
            assert_eq!(released.len(), taken.len());
            for (taken, released) in taken.iter().zip(&released) {
                assert_eq!((taken.scope, &taken.key), (released.scope, &released.key));
                assert_eq!(released.action, ClaimAction::Release);
            }
        }
    }

    #[test]
    fn other_events_take_no_claims() {
        assert!(TenantBindingEvent::BindingActivated { at: at() }.claims().is_empty());
    }

    #[test]
    fn event_type_is_the_variant_name_at_version_one() {
        let event = bound(Some("tenant-contoso"));
        assert_eq!(event.event_type(), "TenantBound");
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get("TenantBound").is_some());
        let back: TenantBindingEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
