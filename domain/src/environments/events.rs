//! Events of the `RuntimeEnvironment` aggregate: the facts the log keeps. Payloads hold only
//! parsed value objects, so replaying the log re-checks every value it contains.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{
    AzureRegion, AzureSubscriptionId, ComputeTarget, ComputeTargetName, EnvironmentName, ProductId,
    ProvisioningOutputs, PulumiStack, Reason, ResourceGroupName, Stage,
};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};

/// Claim scope for "environment names are unique per product and stage".
pub const ENVIRONMENT_NAME_SCOPE: &str = "environment_name";

/// The key an environment holds in [`ENVIRONMENT_NAME_SCOPE`]: `product/stage/name`.
pub fn environment_name_key(product: &ProductId, stage: Stage, name: &EnvironmentName) -> String {
    format!("{product}/{stage}/{name}")
}

/// Something that happened to a runtime environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvironmentEvent {
    /// An environment was asked for; takes its name claim.
    EnvironmentRequested {
        /// The product the environment belongs to.
        product: ProductId,
        /// Unique per product and stage.
        name: EnvironmentName,
        /// Where on the promotion path it sits.
        stage: Stage,
        /// Azure region.
        region: AzureRegion,
        /// Azure subscription.
        subscription: AzureSubscriptionId,
        /// Resource group holding its resources.
        resource_group: ResourceGroupName,
        /// Pulumi project and stack declaring it.
        pulumi: PulumiStack,
        /// The compute it offers.
        compute_targets: Vec<ComputeTarget>,
        /// When it was asked for.
        requested_at: DateTime<Utc>,
    },
    /// A Pulumi run started.
    ProvisioningStarted {
        /// 1 for the first run, incremented by every retry.
        attempt: u32,
        /// When the run started.
        at: DateTime<Utc>,
    },
    /// The Pulumi run succeeded; the environment is Ready.
    ProvisioningSucceeded {
        /// What the run produced.
        outputs: ProvisioningOutputs,
        /// When it finished.
        at: DateTime<Utc>,
    },
    /// The Pulumi run failed.
    ProvisioningFailed {
        /// Why.
        reason: Reason,
        /// Which attempt failed.
        attempt: u32,
        /// When it failed.
        at: DateTime<Utc>,
    },
    /// A Ready environment became unhealthy.
    EnvironmentDegraded {
        /// What is wrong.
        reason: Reason,
        /// When it was observed.
        at: DateTime<Utc>,
    },
    /// A Degraded environment is healthy again.
    EnvironmentRecovered {
        /// When recovery was observed.
        at: DateTime<Utc>,
    },
    /// A compute target was added.
    ComputeTargetAdded {
        /// The new target.
        target: ComputeTarget,
    },
    /// A compute target was removed.
    ComputeTargetRemoved {
        /// The removed target's name.
        name: ComputeTargetName,
    },
    /// Teardown was asked for.
    DecommissionRequested {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Teardown finished; releases the name claim. It repeats product, stage and name because
    /// a claim is read from the event alone, without the aggregate's state.
    EnvironmentDecommissioned {
        /// The product the environment belonged to.
        product: ProductId,
        /// Its stage.
        stage: Stage,
        /// Its name, free again after this event.
        name: EnvironmentName,
        /// When teardown finished.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for EnvironmentEvent {
    fn event_type(&self) -> String {
        let name = match self {
            EnvironmentEvent::EnvironmentRequested { .. } => "EnvironmentRequested",
            EnvironmentEvent::ProvisioningStarted { .. } => "ProvisioningStarted",
            EnvironmentEvent::ProvisioningSucceeded { .. } => "ProvisioningSucceeded",
            EnvironmentEvent::ProvisioningFailed { .. } => "ProvisioningFailed",
            EnvironmentEvent::EnvironmentDegraded { .. } => "EnvironmentDegraded",
            EnvironmentEvent::EnvironmentRecovered { .. } => "EnvironmentRecovered",
            EnvironmentEvent::ComputeTargetAdded { .. } => "ComputeTargetAdded",
            EnvironmentEvent::ComputeTargetRemoved { .. } => "ComputeTargetRemoved",
            EnvironmentEvent::DecommissionRequested { .. } => "DecommissionRequested",
            EnvironmentEvent::EnvironmentDecommissioned { .. } => "EnvironmentDecommissioned",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

impl ClaimsUnique for EnvironmentEvent {
    fn claims(&self) -> Vec<Claim> {
        let (product, stage, name, action) = match self {
            EnvironmentEvent::EnvironmentRequested { product, stage, name, .. } => {
                (product, *stage, name, ClaimAction::Take)
            }
            EnvironmentEvent::EnvironmentDecommissioned { product, stage, name, .. } => {
                (product, *stage, name, ClaimAction::Release)
            }
            _ => return Vec::new(),
        };
        vec![Claim { scope: ENVIRONMENT_NAME_SCOPE, key: environment_name_key(product, stage, name), action }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc()
    }

    fn requested(stage: Stage) -> EnvironmentEvent {
        EnvironmentEvent::EnvironmentRequested {
            product: ProductId::parse("billing").unwrap(),
            name: EnvironmentName::parse("blue").unwrap(),
            stage,
            region: AzureRegion::parse("westeurope").unwrap(),
            subscription: AzureSubscriptionId::parse("6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b").unwrap(),
            resource_group: ResourceGroupName::parse("rg-billing").unwrap(),
            pulumi: PulumiStack::parse("billing-infra", "blue").unwrap(),
            compute_targets: vec![ComputeTarget::parse(
                "aks",
                "aks-main",
                "/subscriptions/6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-billing",
            )
            .unwrap()],
            requested_at: at(),
        }
    }

    #[test]
    fn requesting_an_environment_takes_its_name_per_product_and_stage() {
        assert_eq!(
            requested(Stage::Staging).claims(),
            vec![Claim {
                scope: ENVIRONMENT_NAME_SCOPE,
                key: "billing/staging/blue".to_owned(),
                action: ClaimAction::Take,
            }]
        );
    }

    #[test]
    fn decommissioning_releases_the_same_name_claim() {
        let done = EnvironmentEvent::EnvironmentDecommissioned {
            product: ProductId::parse("billing").unwrap(),
            stage: Stage::Prod,
            name: EnvironmentName::parse("blue").unwrap(),
            at: at(),
        };
        let taken = requested(Stage::Prod).claims();
        let released = done.claims();
        assert_eq!(released.len(), 1);
        assert_eq!((released[0].scope, &released[0].key), (taken[0].scope, &taken[0].key));
        assert_eq!(released[0].action, ClaimAction::Release);
    }

    #[test]
    fn other_events_take_no_claims() {
        let started = EnvironmentEvent::ProvisioningStarted { attempt: 1, at: at() };
        assert!(started.claims().is_empty());
    }

    #[test]
    fn event_type_is_the_variant_name_at_version_one() {
        let event = requested(Stage::Dev);
        assert_eq!(event.event_type(), "EnvironmentRequested");
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get("EnvironmentRequested").is_some());
        let back: EnvironmentEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
