//! Events of the `DriftFinding` aggregate. `RuntimeDriftDetected` takes the open-finding claim
//! and every event that closes a finding releases it; closing events repeat the target and
//! class because a claim is read from the event alone, without the aggregate's state.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{DriftClass, DriftTarget, DriftValues, EvidenceId, RemediationAction};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};
use crate::environments::Reason;
use crate::health::values::{tenant_segment, Operator};

/// Claim scope for "one open finding per environment, service (or resource) and class".
pub const OPEN_DRIFT_SCOPE: &str = "open_drift";

/// The key an open finding holds in [`OPEN_DRIFT_SCOPE`]:
/// `environment/tenant/class/service:<id>` or `environment/tenant/class/resource:<ref>`, with
/// `*` for a finding that is not tenant-specific. The service wins when the target names both
/// (the invariant is per service). The free-form resource comes last, so a `/` inside it can
/// never make two keys collide; the tenant is part of the key because tenant-specific drift
/// (e.g. isolation) is a different target from the shared one.
pub fn open_drift_key(target: &DriftTarget, class: DriftClass) -> String {
    let subject = match (target.service(), target.resource()) {
        (Some(service), _) => format!("service:{service}"),
        (None, Some(resource)) => format!("resource:{resource}"),
        // `DriftTarget` refuses a target with neither; keep the key total anyway.
        (None, None) => "-".to_owned(),
    };
    format!("{}/{}/{}/{}", target.environment(), tenant_segment(target.tenant()), class, subject)
}

/// Something that happened to a drift finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriftEvent {
    /// Desired and observed state diverge; the finding is `Detected`. Takes the open claim.
    RuntimeDriftDetected {
        /// Where.
        target: DriftTarget,
        /// What kind of drift.
        class: DriftClass,
        /// What should run and what runs.
        values: DriftValues,
        /// When.
        at: DateTime<Utc>,
    },
    /// A remediation command was issued; the finding is `Remediating`.
    DriftRemediationStarted {
        /// Which command, on which aggregate.
        action: RemediationAction,
        /// When.
        at: DateTime<Utc>,
    },
    /// The remediation fixed it; `Remediated`. Releases the open claim.
    DriftRemediated {
        /// Where (to rebuild the claim key).
        target: DriftTarget,
        /// What kind of drift (to rebuild the claim key).
        class: DriftClass,
        /// The event or command that fixed it.
        evidence: EvidenceId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The drift was accepted; `Accepted`. Releases the open claim.
    DriftAccepted {
        /// Where (to rebuild the claim key).
        target: DriftTarget,
        /// What kind of drift (to rebuild the claim key).
        class: DriftClass,
        /// Why it is acceptable.
        reason: Reason,
        /// Who accepted it.
        accepted_by: Operator,
        /// When.
        at: DateTime<Utc>,
    },
    /// The observed state came back by itself; `Resolved`. Releases the open claim.
    DriftResolved {
        /// Where (to rebuild the claim key).
        target: DriftTarget,
        /// What kind of drift (to rebuild the claim key).
        class: DriftClass,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for DriftEvent {
    fn event_type(&self) -> String {
        let name = match self {
            DriftEvent::RuntimeDriftDetected { .. } => "RuntimeDriftDetected",
            DriftEvent::DriftRemediationStarted { .. } => "DriftRemediationStarted",
            DriftEvent::DriftRemediated { .. } => "DriftRemediated",
            DriftEvent::DriftAccepted { .. } => "DriftAccepted",
            DriftEvent::DriftResolved { .. } => "DriftResolved",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

impl ClaimsUnique for DriftEvent {
    fn claims(&self) -> Vec<Claim> {
        let (target, class, action) = match self {
            DriftEvent::RuntimeDriftDetected { target, class, .. } => (target, *class, ClaimAction::Take),
            DriftEvent::DriftRemediated { target, class, .. }
            | DriftEvent::DriftAccepted { target, class, .. }
            | DriftEvent::DriftResolved { target, class, .. } => (target, *class, ClaimAction::Release),
            DriftEvent::DriftRemediationStarted { .. } => return Vec::new(),
        };
        vec![Claim { scope: OPEN_DRIFT_SCOPE, key: open_drift_key(target, class), action }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::TenantId;
    use crate::health::drift::values::ResourceRef;
    use crate::ids::{EnvironmentId, ServiceId};

    const ENVIRONMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";
    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc()
    }

    fn target(service: bool, resource: Option<&str>, tenant: Option<&str>) -> DriftTarget {
        DriftTarget::new(
            EnvironmentId::parse(ENVIRONMENT).unwrap(),
            service.then(|| ServiceId::parse(SERVICE).unwrap()),
            resource.map(|resource| ResourceRef::parse(resource).unwrap()),
            tenant.map(|tenant| TenantId::parse(tenant).unwrap()),
        )
        .unwrap()
    }

    fn detected(target: DriftTarget, class: DriftClass) -> DriftEvent {
        DriftEvent::RuntimeDriftDetected {
            target,
            class,
            values: DriftValues::parse(Some("v2"), Some("v1")).unwrap(),
            at: at(),
        }
    }

    #[test]
    fn detecting_drift_claims_the_environment_tenant_class_and_service() {
        assert_eq!(
            detected(target(true, Some("cae/orders"), Some("contoso")), DriftClass::Version).claims(),
            vec![Claim {
                scope: OPEN_DRIFT_SCOPE,
                key: format!("{ENVIRONMENT}/contoso/version/service:{SERVICE}"),
                action: ClaimAction::Take,
            }]
        );
    }

    #[test]
    fn drift_without_a_service_claims_its_resource() {
        let key = &detected(target(false, Some("/subscriptions/x/rg"), None), DriftClass::Unmanaged).claims()[0].key;
        assert_eq!(key, &format!("{ENVIRONMENT}/*/unmanaged/resource:/subscriptions/x/rg"));
    }

    #[test]
    fn every_closing_event_releases_the_claim_detection_took() {
        let target = target(true, None, None);
        let taken = detected(target.clone(), DriftClass::Scale).claims();
        let evidence = EvidenceId::parse(SERVICE).unwrap();
        let closing = [
            DriftEvent::DriftRemediated { target: target.clone(), class: DriftClass::Scale, evidence, at: at() },
            DriftEvent::DriftAccepted {
                target: target.clone(),
                class: DriftClass::Scale,
                reason: Reason::parse("load test").unwrap(),
                accepted_by: Operator::parse("alice").unwrap(),
                at: at(),
            },
            DriftEvent::DriftResolved { target, class: DriftClass::Scale, at: at() },
        ];
        for event in closing {
            let released = event.claims();
            assert_eq!(released.len(), 1, "{}", event.event_type());
            assert_eq!((released[0].scope, &released[0].key), (taken[0].scope, &taken[0].key));
            assert_eq!(released[0].action, ClaimAction::Release);
        }
    }

    #[test]
    fn starting_remediation_takes_no_claim() {
        let started = DriftEvent::DriftRemediationStarted {
            action: RemediationAction::parse("RuntimeDeployment", SERVICE, "StartDeployment").unwrap(),
            at: at(),
        };
        assert!(started.claims().is_empty());
    }

    #[test]
    fn event_type_is_the_variant_name_at_version_one() {
        let event = detected(target(true, None, None), DriftClass::Version);
        assert_eq!(event.event_type(), "RuntimeDriftDetected");
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["RuntimeDriftDetected"]["class"], "version");
        let back: DriftEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
