//! Events of the `RuntimeService` aggregate. Payloads hold only parsed value objects, so
//! replaying the log re-checks every value it contains.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{BlueprintId, RuntimeContract, ServiceKind, ServiceName};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};
use crate::environments::{ProductId, Reason};
use crate::ids::ServiceId;

/// Claim scope for "service names are unique per product". The claim is taken by
/// `ServiceRegistered` and never released: a retired service keeps its name, so deployment
/// history, dashboards and image tags that mention `product/name` never come to mean a
/// different service.
pub const SERVICE_NAME_SCOPE: &str = "service_name";

/// The key a service holds in [`SERVICE_NAME_SCOPE`]: `product/name`.
pub fn service_name_key(product: &ProductId, name: &ServiceName) -> String {
    format!("{product}/{name}")
}

/// Something that happened to a catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceEvent {
    /// A service entered the catalog; takes its name claim for good.
    ServiceRegistered {
        /// The service's own id (the aggregate id).
        service: ServiceId,
        /// The product it belongs to.
        product: ProductId,
        /// Its name, unique per product.
        name: ServiceName,
        /// What kind of component it is.
        kind: ServiceKind,
        /// The blueprint it was generated from.
        blueprint: BlueprintId,
        /// How it runs.
        contract: RuntimeContract,
        /// When it was registered.
        at: DateTime<Utc>,
    },
    /// The service went live.
    ServiceActivated {
        /// When.
        at: DateTime<Utc>,
    },
    /// The runtime contract was replaced.
    RuntimeContractUpdated {
        /// The new contract, in full.
        contract: RuntimeContract,
        /// When.
        at: DateTime<Utc>,
    },
    /// The service now depends on another one.
    DependencyDeclared {
        /// The service depended on.
        on: ServiceId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The service no longer depends on another one.
    DependencyRemoved {
        /// The service no longer depended on.
        on: ServiceId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The service is marked for replacement.
    ServiceDeprecated {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// The service left the catalog for good; its name stays reserved.
    ServiceRetired {
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ServiceEvent {
    fn event_type(&self) -> String {
        let name = match self {
            ServiceEvent::ServiceRegistered { .. } => "ServiceRegistered",
            ServiceEvent::ServiceActivated { .. } => "ServiceActivated",
            ServiceEvent::RuntimeContractUpdated { .. } => "RuntimeContractUpdated",
            ServiceEvent::DependencyDeclared { .. } => "DependencyDeclared",
            ServiceEvent::DependencyRemoved { .. } => "DependencyRemoved",
            ServiceEvent::ServiceDeprecated { .. } => "ServiceDeprecated",
            ServiceEvent::ServiceRetired { .. } => "ServiceRetired",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

impl ClaimsUnique for ServiceEvent {
    fn claims(&self) -> Vec<Claim> {
        match self {
            ServiceEvent::ServiceRegistered { product, name, .. } => vec![Claim {
                scope: SERVICE_NAME_SCOPE,
                key: service_name_key(product, name),
                action: ClaimAction::Take,
            }],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::service::values::{ImageRepository, ReplicaHints};
    use crate::environments::ComputeTargetKind;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc()
    }

    fn registered() -> ServiceEvent {
        ServiceEvent::ServiceRegistered {
            service: ServiceId::parse("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a").unwrap(),
            product: ProductId::parse("shop").unwrap(),
            name: ServiceName::parse("orders-api").unwrap(),
            kind: ServiceKind::Microservice,
            blueprint: BlueprintId::parse("blueprints/microservice@2").unwrap(),
            contract: RuntimeContract::new(
                ImageRepository::parse("myregistry.azurecr.io/shop/orders").unwrap(),
                vec![],
                None,
                None,
                None,
                ReplicaHints::new(1, 2).unwrap(),
                ComputeTargetKind::Aks,
            )
            .unwrap(),
            at: at(),
        }
    }

    #[test]
    fn registering_takes_the_name_per_product() {
        assert_eq!(
            registered().claims(),
            vec![Claim { scope: SERVICE_NAME_SCOPE, key: "shop/orders-api".to_owned(), action: ClaimAction::Take }]
        );
    }

    #[test]
    fn retiring_keeps_the_name_reserved() {
        assert!(ServiceEvent::ServiceRetired { at: at() }.claims().is_empty());
    }

    #[test]
    fn event_type_is_the_variant_name_at_version_one() {
        let event = registered();
        assert_eq!(event.event_type(), "ServiceRegistered");
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get("ServiceRegistered").is_some());
        assert_eq!(serde_json::from_value::<ServiceEvent>(json).unwrap(), event);
    }
}
