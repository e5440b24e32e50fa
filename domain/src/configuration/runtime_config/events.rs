//! Events of the `RuntimeConfiguration` aggregate: the facts the log keeps. Payloads hold only
//! parsed value objects, so replaying the log re-checks every value it contains.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{ConfigVersion, ContentHash, Settings, SyncStatus, WorkloadId};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};
use crate::configuration::values::WorkloadTarget;

/// Claim scope for "one configuration per service, environment and tenant".
pub const CONFIGURATION_TARGET_SCOPE: &str = "configuration_target";

/// The key a configuration holds in [`CONFIGURATION_TARGET_SCOPE`]:
/// `service/environment/tenant`, with `*` for every tenant.
pub fn configuration_target_key(target: &WorkloadTarget) -> String {
    target.key()
}

/// Something that happened to a runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigurationEvent {
    /// The configuration was created; takes its target claim, which is never released (a
    /// configuration is not deleted, so its history stays the target's history).
    ConfigurationCreated {
        /// The workload the settings are for.
        target: WorkloadTarget,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new immutable version was appended.
    ConfigurationVersionProposed {
        /// Its number, `latest + 1`.
        version: ConfigVersion,
        /// Its complete settings.
        settings: Settings,
        /// SHA-256 of the settings' canonical serialization.
        content_hash: ContentHash,
        /// When.
        at: DateTime<Utc>,
    },
    /// A version became the active one (moving forward, or the first activation).
    ConfigurationVersionActivated {
        /// The newly active version.
        version: ConfigVersion,
        /// The version it replaced, if any.
        previous: Option<ConfigVersion>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The configuration was rolled back to an older version, which is now active.
    ConfigurationRolledBack {
        /// The version that was active.
        from: ConfigVersion,
        /// The older version now active.
        to: ConfigVersion,
        /// When.
        at: DateTime<Utc>,
    },
    /// A workload's running version or sync status changed (repeated identical reports are
    /// not recorded).
    WorkloadSyncRecorded {
        /// The reporting workload.
        workload: WorkloadId,
        /// The version it runs.
        running_version: ConfigVersion,
        /// Whether that was the active version when it reported.
        status: SyncStatus,
        /// When it reported.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ConfigurationEvent {
    fn event_type(&self) -> String {
        let name = match self {
            ConfigurationEvent::ConfigurationCreated { .. } => "ConfigurationCreated",
            ConfigurationEvent::ConfigurationVersionProposed { .. } => "ConfigurationVersionProposed",
            ConfigurationEvent::ConfigurationVersionActivated { .. } => "ConfigurationVersionActivated",
            ConfigurationEvent::ConfigurationRolledBack { .. } => "ConfigurationRolledBack",
            ConfigurationEvent::WorkloadSyncRecorded { .. } => "WorkloadSyncRecorded",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

impl ClaimsUnique for ConfigurationEvent {
    fn claims(&self) -> Vec<Claim> {
        match self {
            ConfigurationEvent::ConfigurationCreated { target, .. } => vec![Claim {
                scope: CONFIGURATION_TARGET_SCOPE,
                key: configuration_target_key(target),
                action: ClaimAction::Take,
            }],
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

    fn created(tenant: Option<&str>) -> ConfigurationEvent {
        ConfigurationEvent::ConfigurationCreated {
            target: WorkloadTarget::new(
                ServiceId::parse(SERVICE).unwrap(),
                EnvironmentId::parse(ENVIRONMENT).unwrap(),
                tenant.map(|t| TenantId::parse(t).unwrap()),
            ),
            at: at(),
        }
    }

    #[test]
    fn creating_a_configuration_takes_its_target() {
        assert_eq!(
            created(Some("contoso")).claims(),
            vec![Claim {
                scope: CONFIGURATION_TARGET_SCOPE,
                key: format!("{SERVICE}/{ENVIRONMENT}/contoso"),
                action: ClaimAction::Take,
            }]
        );
        assert_eq!(created(None).claims()[0].key, format!("{SERVICE}/{ENVIRONMENT}/*"));
    }

    #[test]
    fn other_events_take_no_claims() {
        let event = ConfigurationEvent::ConfigurationRolledBack {
            from: ConfigVersion::parse(2).unwrap(),
            to: ConfigVersion::FIRST,
            at: at(),
        };
        assert!(event.claims().is_empty());
    }

    #[test]
    fn event_type_is_the_variant_name_at_version_one() {
        let event = ConfigurationEvent::ConfigurationVersionProposed {
            version: ConfigVersion::FIRST,
            settings: Settings::parse([("LOG_LEVEL", "info")]).unwrap(),
            content_hash: ContentHash::parse(&"a".repeat(64)).unwrap(),
            at: at(),
        };
        assert_eq!(event.event_type(), "ConfigurationVersionProposed");
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["ConfigurationVersionProposed"]["settings"]["LOG_LEVEL"], "info");
        let back: ConfigurationEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn a_stored_event_with_an_invalid_value_does_not_deserialize() {
        let json = serde_json::json!({"ConfigurationVersionProposed": {
            "version": 0, "settings": {}, "content_hash": "a".repeat(64), "at": "2025-01-02T03:04:05Z"
        }});
        assert!(serde_json::from_value::<ConfigurationEvent>(json).is_err());
    }
}
