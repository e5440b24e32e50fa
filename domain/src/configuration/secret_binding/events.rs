//! Events of the `SecretBinding` aggregate: the facts the log keeps. Payloads hold only parsed
//! value objects (names, versions, ids, paths), never a secret value.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{IdentityClientId, KeyVaultUri, RotationPolicy, SecretName, SecretSurface, SecretVersion};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};
use crate::configuration::values::WorkloadTarget;
use crate::environments::Reason;

/// Claim scope for "two bindings cannot surface on the same environment variable or file of
/// one workload".
pub const SECRET_BINDING_TARGET_SCOPE: &str = "secret_binding_target";

/// The key a binding holds in [`SECRET_BINDING_TARGET_SCOPE`]:
/// `service/environment/tenant-or-*/surface`, the surface as `env:NAME` or `file:/path`.
pub fn secret_binding_target_key(target: &WorkloadTarget, surface: &SecretSurface) -> String {
    format!("{}/{}", target.key(), surface.key())
}

/// Something that happened to a secret binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretBindingEvent {
    /// A binding was asked for; takes its surface claim.
    SecretBindingRequested {
        /// The workload that reads the secret.
        target: WorkloadTarget,
        /// The vault holding it.
        vault: KeyVaultUri,
        /// Its name in the vault.
        secret: SecretName,
        /// The pinned version, or `None` to follow the latest.
        version: Option<SecretVersion>,
        /// The managed identity that reads it.
        identity: IdentityClientId,
        /// Where the workload sees it.
        surface: SecretSurface,
        /// How often it rotates.
        rotation: RotationPolicy,
        /// When it was asked for.
        at: DateTime<Utc>,
    },
    /// The platform verified the identity can read the secret; the binding is Bound.
    SecretBindingConfirmed {
        /// The version it read.
        resolved_version: SecretVersion,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new version is due.
    SecretRotationMarkedDue {
        /// When.
        at: DateTime<Utc>,
    },
    /// A new version was written to Key Vault.
    SecretRotated {
        /// The version it replaces.
        previous_version: SecretVersion,
        /// The new version.
        new_version: SecretVersion,
        /// When.
        at: DateTime<Utc>,
    },
    /// Workloads picked up the rotated version; the binding is Bound again.
    SecretRotationConfirmed {
        /// The version now in use.
        version: SecretVersion,
        /// When.
        at: DateTime<Utc>,
    },
    /// The binding was revoked; releases the surface claim. It repeats the target and the
    /// surface because a claim is read from the event alone, without the aggregate's state.
    SecretBindingRevoked {
        /// The workload that read the secret.
        target: WorkloadTarget,
        /// The surface, free again after this event.
        surface: SecretSurface,
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for SecretBindingEvent {
    fn event_type(&self) -> String {
        let name = match self {
            SecretBindingEvent::SecretBindingRequested { .. } => "SecretBindingRequested",
            SecretBindingEvent::SecretBindingConfirmed { .. } => "SecretBindingConfirmed",
            SecretBindingEvent::SecretRotationMarkedDue { .. } => "SecretRotationMarkedDue",
            SecretBindingEvent::SecretRotated { .. } => "SecretRotated",
            SecretBindingEvent::SecretRotationConfirmed { .. } => "SecretRotationConfirmed",
            SecretBindingEvent::SecretBindingRevoked { .. } => "SecretBindingRevoked",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

impl ClaimsUnique for SecretBindingEvent {
    fn claims(&self) -> Vec<Claim> {
        let (target, surface, action) = match self {
            SecretBindingEvent::SecretBindingRequested { target, surface, .. } => (target, surface, ClaimAction::Take),
            SecretBindingEvent::SecretBindingRevoked { target, surface, .. } => (target, surface, ClaimAction::Release),
            _ => return Vec::new(),
        };
        vec![Claim { scope: SECRET_BINDING_TARGET_SCOPE, key: secret_binding_target_key(target, surface), action }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::secret_binding::values::{EnvVarName, MountPath};
    use crate::ids::{EnvironmentId, ServiceId};

    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";
    const ENVIRONMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc()
    }

    fn target() -> WorkloadTarget {
        WorkloadTarget::new(ServiceId::parse(SERVICE).unwrap(), EnvironmentId::parse(ENVIRONMENT).unwrap(), None)
    }

    fn env() -> SecretSurface {
        SecretSurface::EnvVar(EnvVarName::parse("DB_PASSWORD").unwrap())
    }

    fn requested(surface: SecretSurface) -> SecretBindingEvent {
        SecretBindingEvent::SecretBindingRequested {
            target: target(),
            vault: KeyVaultUri::parse("https://kv-billing.vault.azure.net/").unwrap(),
            secret: SecretName::parse("db-password").unwrap(),
            version: None,
            identity: IdentityClientId::parse("6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b").unwrap(),
            surface,
            rotation: RotationPolicy::new(90, 14).unwrap(),
            at: at(),
        }
    }

    #[test]
    fn requesting_a_binding_takes_its_surface_on_the_workload() {
        assert_eq!(
            requested(env()).claims(),
            vec![Claim {
                scope: SECRET_BINDING_TARGET_SCOPE,
                key: format!("{SERVICE}/{ENVIRONMENT}/*/env:DB_PASSWORD"),
                action: ClaimAction::Take,
            }]
        );
        let file = SecretSurface::MountPath(MountPath::parse("/mnt/db").unwrap());
        assert_eq!(requested(file).claims()[0].key, format!("{SERVICE}/{ENVIRONMENT}/*/file:/mnt/db"));
    }

    #[test]
    fn revoking_releases_the_same_surface_claim() {
        let revoked = SecretBindingEvent::SecretBindingRevoked {
            target: target(),
            surface: env(),
            reason: Reason::parse("service retired").unwrap(),
            at: at(),
        };
        let taken = requested(env()).claims();
        let released = revoked.claims();
        assert_eq!(released.len(), 1);
        assert_eq!((released[0].scope, &released[0].key), (taken[0].scope, &taken[0].key));
        assert_eq!(released[0].action, ClaimAction::Release);
    }

    #[test]
    fn other_events_take_no_claims() {
        assert!(SecretBindingEvent::SecretRotationMarkedDue { at: at() }.claims().is_empty());
    }

    #[test]
    fn event_type_is_the_variant_name_at_version_one() {
        let event = requested(env());
        assert_eq!(event.event_type(), "SecretBindingRequested");
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get("SecretBindingRequested").is_some());
        let back: SecretBindingEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
