//! Events of the `ScalingPolicy` aggregate and the uniqueness claim they take. Payloads hold
//! only parsed value objects, so replaying the log re-checks every value it contains.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{PolicySpec, ScalingSignal};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};
use crate::envelope::TenantId;
use crate::environments::{EnvironmentId, Reason};
use crate::ids::ServiceId;

/// Claim scope for "one policy per service, environment and tenant (or none)". Never released:
/// a policy is suspended, not deleted, so its key stays taken.
pub const SCALING_POLICY_SCOPE: &str = "scaling_policy";

/// The key a policy holds in [`SCALING_POLICY_SCOPE`]: `service/environment/tenant`, with `*`
/// for a platform-wide policy (a tenant id never contains `*` or `/`, so keys cannot collide).
pub fn scaling_policy_key(service: &ServiceId, environment: &EnvironmentId, tenant: Option<&TenantId>) -> String {
    let tenant = tenant.map_or("*", TenantId::as_str);
    format!("{service}/{environment}/{tenant}")
}

/// Something that happened to a scaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScalingPolicyEvent {
    /// A policy was defined as a draft at version 1; takes its claim.
    PolicyDefined {
        /// The service scaled.
        service: ServiceId,
        /// The environment it runs in.
        environment: EnvironmentId,
        /// The tenant the policy is for, if any.
        tenant: Option<TenantId>,
        /// The specification.
        spec: PolicySpec,
        /// Always 1.
        version: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The specification was replaced.
    PolicyUpdated {
        /// The new specification.
        spec: PolicySpec,
        /// The new version, one above the previous.
        version: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The policy is applied.
    PolicyActivated {
        /// The version that became active.
        version: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The policy is no longer applied.
    PolicySuspended {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// The autoscaler changed the replicas under this policy.
    ScalingDecisionRecorded {
        /// Replicas before.
        from_replicas: u32,
        /// Replicas after.
        to_replicas: u32,
        /// The signal acted on.
        signal: ScalingSignal,
        /// The autoscaler's explanation.
        reason: Reason,
        /// The policy version in force.
        policy_version: u32,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ScalingPolicyEvent {
    fn event_type(&self) -> String {
        let name = match self {
            ScalingPolicyEvent::PolicyDefined { .. } => "PolicyDefined",
            ScalingPolicyEvent::PolicyUpdated { .. } => "PolicyUpdated",
            ScalingPolicyEvent::PolicyActivated { .. } => "PolicyActivated",
            ScalingPolicyEvent::PolicySuspended { .. } => "PolicySuspended",
            ScalingPolicyEvent::ScalingDecisionRecorded { .. } => "ScalingDecisionRecorded",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

impl ClaimsUnique for ScalingPolicyEvent {
    fn claims(&self) -> Vec<Claim> {
        match self {
            ScalingPolicyEvent::PolicyDefined { service, environment, tenant, .. } => vec![Claim {
                scope: SCALING_POLICY_SCOPE,
                key: scaling_policy_key(service, environment, tenant.as_ref()),
                action: ClaimAction::Take,
            }],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::triggers::{TargetPercent, Trigger};
    use crate::scaling::values::{ReplicaRange, SloTargets, WindowSeconds};

    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";
    const ENV: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc()
    }

    fn defined(tenant: Option<&str>) -> ScalingPolicyEvent {
        ScalingPolicyEvent::PolicyDefined {
            service: ServiceId::parse(SERVICE).unwrap(),
            environment: EnvironmentId::parse(ENV).unwrap(),
            tenant: tenant.map(|t| TenantId::parse(t).unwrap()),
            spec: PolicySpec::new(
                ReplicaRange::new(1, 5).unwrap(),
                vec![Trigger::Cpu { target_percent: TargetPercent::new(70).unwrap() }],
                WindowSeconds::new(0).unwrap(),
                WindowSeconds::new(300).unwrap(),
                WindowSeconds::new(60).unwrap(),
                SloTargets::default(),
            )
            .unwrap(),
            version: 1,
            at: at(),
        }
    }

    #[test]
    fn defining_a_policy_takes_its_service_environment_and_tenant() {
        assert_eq!(
            defined(Some("contoso")).claims(),
            vec![Claim {
                scope: SCALING_POLICY_SCOPE,
                key: format!("{SERVICE}/{ENV}/contoso"),
                action: ClaimAction::Take,
            }]
        );
    }

    #[test]
    fn a_platform_wide_policy_claims_the_star_tenant() {
        assert_eq!(defined(None).claims()[0].key, format!("{SERVICE}/{ENV}/*"));
    }

    #[test]
    fn other_events_take_no_claims() {
        let suspended = ScalingPolicyEvent::PolicySuspended { reason: Reason::parse("x").unwrap(), at: at() };
        assert!(suspended.claims().is_empty());
    }

    #[test]
    fn event_type_is_the_variant_name_at_version_one() {
        let event = defined(Some("contoso"));
        assert_eq!(event.event_type(), "PolicyDefined");
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get("PolicyDefined").is_some());
        let back: ScalingPolicyEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
