//! Events of the `RuntimeHealth` aggregate. Only changes are facts: a probe flipping between
//! passing and failing, the derived status changing, and the incidents those changes open and
//! close. Repeated identical samples leave no trace in the log.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{HealthStatus, HealthTarget, Probe};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};
use crate::health::values::{tenant_segment, Detail, Operator};

/// Claim scope for "one health record per service, environment and tenant".
pub const HEALTH_TARGET_SCOPE: &str = "health_target";

/// The key a health record holds in [`HEALTH_TARGET_SCOPE`]: `service/environment/tenant`,
/// with `*` for a record that is not tenant-specific. Never released: health has no end.
pub fn health_target_key(target: &HealthTarget) -> String {
    format!("{}/{}/{}", target.service(), target.environment(), tenant_segment(target.tenant()))
}

/// Something that happened to the health of a service in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthEvent {
    /// Tracking started; status is `Unknown`. Takes the target claim.
    HealthTracked {
        /// What is watched.
        target: HealthTarget,
        /// Whether the contract declares a startup probe.
        startup_probe: bool,
        /// When tracking started.
        at: DateTime<Utc>,
    },
    /// A probe reported its first result, or flipped between passing and failing.
    ProbeResultChanged {
        /// Which probe.
        probe: Probe,
        /// Whether it now passes.
        passed: bool,
        /// How long the flipping sample took; none for dependency health.
        latency_ms: Option<u32>,
        /// What the flipping sample said.
        detail: Option<Detail>,
        /// When the sample was taken.
        at: DateTime<Utc>,
    },
    /// The derived status changed.
    HealthStatusChanged {
        /// The status before.
        from: HealthStatus,
        /// The status now.
        to: HealthStatus,
        /// When; the new "since".
        at: DateTime<Utc>,
    },
    /// The status changed into `Degraded` or `Unhealthy` while no incident was open.
    IncidentOpened {
        /// 1 for the target's first incident, then 2, 3, ...
        number: u32,
        /// The status that opened it.
        status: HealthStatus,
        /// When.
        at: DateTime<Utc>,
    },
    /// Someone took responsibility for the open incident.
    IncidentAcknowledged {
        /// The incident.
        number: u32,
        /// What they said.
        note: Option<Detail>,
        /// Who.
        acknowledged_by: Operator,
        /// When.
        at: DateTime<Utc>,
    },
    /// The status returned to `Healthy`, which ends the open incident.
    IncidentClosed {
        /// The incident.
        number: u32,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for HealthEvent {
    fn event_type(&self) -> String {
        let name = match self {
            HealthEvent::HealthTracked { .. } => "HealthTracked",
            HealthEvent::ProbeResultChanged { .. } => "ProbeResultChanged",
            HealthEvent::HealthStatusChanged { .. } => "HealthStatusChanged",
            HealthEvent::IncidentOpened { .. } => "IncidentOpened",
            HealthEvent::IncidentAcknowledged { .. } => "IncidentAcknowledged",
            HealthEvent::IncidentClosed { .. } => "IncidentClosed",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

impl ClaimsUnique for HealthEvent {
    fn claims(&self) -> Vec<Claim> {
        match self {
            HealthEvent::HealthTracked { target, .. } => {
                vec![Claim { scope: HEALTH_TARGET_SCOPE, key: health_target_key(target), action: ClaimAction::Take }]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::TenantId;
    use crate::ids::{EnvironmentId, ServiceId};

    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";
    const ENVIRONMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc()
    }

    fn tracked(tenant: Option<&str>) -> HealthEvent {
        HealthEvent::HealthTracked {
            target: HealthTarget::new(
                ServiceId::parse(SERVICE).unwrap(),
                EnvironmentId::parse(ENVIRONMENT).unwrap(),
                tenant.map(|tenant| TenantId::parse(tenant).unwrap()),
            ),
            startup_probe: false,
            at: at(),
        }
    }

    #[test]
    fn tracking_health_claims_the_service_environment_and_tenant() {
        assert_eq!(
            tracked(Some("contoso")).claims(),
            vec![Claim {
                scope: HEALTH_TARGET_SCOPE,
                key: format!("{SERVICE}/{ENVIRONMENT}/contoso"),
                action: ClaimAction::Take,
            }]
        );
    }

    #[test]
    fn a_target_without_tenant_claims_the_wildcard_segment() {
        assert_eq!(tracked(None).claims()[0].key, format!("{SERVICE}/{ENVIRONMENT}/*"));
    }

    #[test]
    fn changes_take_no_claims() {
        let changed =
            HealthEvent::HealthStatusChanged { from: HealthStatus::Unknown, to: HealthStatus::Healthy, at: at() };
        assert!(changed.claims().is_empty());
        assert!(HealthEvent::IncidentClosed { number: 1, at: at() }.claims().is_empty());
    }

    #[test]
    fn event_type_is_the_variant_name_at_version_one() {
        let event = HealthEvent::ProbeResultChanged {
            probe: Probe::parse("dependency:db").unwrap(),
            passed: false,
            latency_ms: Some(1200),
            detail: Some(Detail::parse("timeout").unwrap()),
            at: at(),
        };
        assert_eq!(event.event_type(), "ProbeResultChanged");
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["ProbeResultChanged"]["probe"], "dependency:db");
        let back: HealthEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(tracked(None).event_type(), "HealthTracked");
    }
}
