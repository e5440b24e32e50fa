//! The `SecretBinding` aggregate: decides which lifecycle commands a binding accepts and folds
//! its events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. No
//! fact from outside is needed (`Services` is `()`): "one binding per surface of a workload"
//! is a claim enforced by the event store, and whether the identity can really read the
//! secret is verified by the platform and reported through `ConfirmBinding`.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::SecretBindingCommand;
use super::error::SecretBindingError;
use super::events::SecretBindingEvent;
use super::values::{
    IdentityClientId, KeyVaultUri, RotationPolicy, SecretBindingStatus, SecretName, SecretSurface, SecretVersion,
};
use crate::configuration::values::WorkloadTarget;
use crate::envelope::TenantId;
use crate::environments::Reason;

/// A binding of a workload to a Key Vault secret, rebuilt from its events. The default value
/// is a binding that does not exist yet (`status()` is `None`). It holds where the secret is
/// and which version is in use, never the secret itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretBinding {
    status: Option<SecretBindingStatus>,
    target: Option<WorkloadTarget>,
    vault: Option<KeyVaultUri>,
    secret: Option<SecretName>,
    pinned_version: Option<SecretVersion>,
    current_version: Option<SecretVersion>,
    identity: Option<IdentityClientId>,
    surface: Option<SecretSurface>,
    rotation: Option<RotationPolicy>,
    requested_at: Option<DateTime<Utc>>,
    bound_at: Option<DateTime<Utc>>,
    rotation_due_since: Option<DateTime<Utc>>,
    last_rotated_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    revocation_reason: Option<Reason>,
    updated_at: Option<DateTime<Utc>>,
}

impl SecretBinding {
    /// Where the binding is in its lifecycle; `None` if it was never requested.
    pub fn status(&self) -> Option<SecretBindingStatus> {
        self.status
    }

    /// The workload (service, environment, tenant) that reads the secret.
    pub fn target(&self) -> Option<&WorkloadTarget> {
        self.target.as_ref()
    }

    /// The tenant, for a tenant-specific binding.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.target.as_ref().and_then(WorkloadTarget::tenant)
    }

    /// The vault holding the secret.
    pub fn vault(&self) -> Option<&KeyVaultUri> {
        self.vault.as_ref()
    }

    /// The secret's name in the vault.
    pub fn secret_name(&self) -> Option<&SecretName> {
        self.secret.as_ref()
    }

    /// The version the binding pins (it moves with each rotation); `None` when the binding
    /// follows the latest version.
    pub fn pinned_version(&self) -> Option<&SecretVersion> {
        self.pinned_version.as_ref()
    }

    /// Whether workloads read an exact version rather than the latest.
    pub fn is_pinned(&self) -> bool {
        self.pinned_version.is_some()
    }

    /// The version the platform last verified (on confirmation, then on each rotation).
    pub fn current_version(&self) -> Option<&SecretVersion> {
        self.current_version.as_ref()
    }

    /// The secret URI workloads reference: versioned when pinned, otherwise the latest.
    pub fn secret_uri(&self) -> Option<String> {
        let vault = self.vault.as_ref()?;
        let secret = self.secret.as_ref()?;
        Some(vault.secret_uri(secret, self.pinned_version.as_ref()))
    }

    /// The client id of the managed identity that reads the secret.
    pub fn identity(&self) -> Option<&IdentityClientId> {
        self.identity.as_ref()
    }

    /// The environment variable or file the secret surfaces as.
    pub fn surface(&self) -> Option<&SecretSurface> {
        self.surface.as_ref()
    }

    /// How often the secret rotates.
    pub fn rotation_policy(&self) -> Option<&RotationPolicy> {
        self.rotation.as_ref()
    }

    /// When the binding was asked for.
    pub fn requested_at(&self) -> Option<DateTime<Utc>> {
        self.requested_at
    }

    /// When the platform first verified it.
    pub fn bound_at(&self) -> Option<DateTime<Utc>> {
        self.bound_at
    }

    /// Since when a rotation is due, while one is (`RotationDue`).
    pub fn rotation_due_since(&self) -> Option<DateTime<Utc>> {
        self.rotation_due_since
    }

    /// When the secret was last rotated.
    pub fn last_rotated_at(&self) -> Option<DateTime<Utc>> {
        self.last_rotated_at
    }

    /// When the next rotation is due: the last rotation (or, before the first one, the
    /// confirmation) plus the policy's period. `None` before confirmation and once revoked.
    pub fn next_rotation_due(&self) -> Option<DateTime<Utc>> {
        if self.status == Some(SecretBindingStatus::Revoked) {
            return None;
        }
        let since = self.last_rotated_at.or(self.bound_at)?;
        since.checked_add_signed(self.rotation?.every())
    }

    /// When owners should be notified of the next rotation: the due date minus the notice.
    pub fn rotation_notice_at(&self) -> Option<DateTime<Utc>> {
        self.next_rotation_due()?.checked_sub_signed(self.rotation?.notify_before())
    }

    /// When it was revoked.
    pub fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at
    }

    /// Why it was revoked.
    pub fn revocation_reason(&self) -> Option<&Reason> {
        self.revocation_reason.as_ref()
    }

    /// The time of its latest event.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    fn decide(&self, command: SecretBindingCommand) -> Result<Vec<SecretBindingEvent>, SecretBindingError> {
        use SecretBindingCommand as C;
        use SecretBindingEvent as E;
        use SecretBindingStatus as S;

        let command_name = command.name();
        let Some(status) = self.status else {
            return match command {
                C::BindSecret { target, vault, secret, version, identity, surface, rotation, at } => {
                    Ok(vec![E::SecretBindingRequested {
                        target,
                        vault,
                        secret,
                        version,
                        identity,
                        surface,
                        rotation,
                        at,
                    }])
                }
                _ => Err(SecretBindingError::NotFound { command: command_name }),
            };
        };
        let refused = SecretBindingError::InvalidTransition { command: command_name, status };

        match command {
            C::BindSecret { .. } => Err(SecretBindingError::AlreadyExists { status }),
            C::ConfirmBinding { resolved_version, at } => match (status, &self.pinned_version) {
                (S::Requested, Some(pinned)) if pinned != &resolved_version => {
                    Err(SecretBindingError::PinnedVersionMismatch {
                        pinned: pinned.clone(),
                        resolved: resolved_version,
                    })
                }
                (S::Requested, _) => Ok(vec![E::SecretBindingConfirmed { resolved_version, at }]),
                _ => Err(refused),
            },
            C::MarkRotationDue { at } => match status {
                S::Bound => Ok(vec![E::SecretRotationMarkedDue { at }]),
                _ => Err(refused),
            },
            C::RecordRotation { new_version, at } => match (status, &self.current_version) {
                (S::RotationDue, Some(current)) if current == &new_version => {
                    Err(SecretBindingError::SameVersion(new_version))
                }
                (S::RotationDue, Some(current)) => {
                    Ok(vec![E::SecretRotated { previous_version: current.clone(), new_version, at }])
                }
                _ => Err(refused),
            },
            C::ConfirmRotation { at } => match (status, &self.current_version) {
                (S::Rotated, Some(current)) => Ok(vec![E::SecretRotationConfirmed { version: current.clone(), at }]),
                _ => Err(refused),
            },
            // DOMAIN.md: `Bound -> Revoked` is the only way in. A binding still `Requested` was
            // never bound (there is nothing to revoke yet), and a rotation in progress
            // (`RotationDue`, `Rotated`) is finished first, so the revocation names the version
            // that was last bound.
            C::Revoke { reason, at } => match (status, &self.target, &self.surface) {
                (S::Bound, Some(target), Some(surface)) => {
                    Ok(vec![E::SecretBindingRevoked { target: target.clone(), surface: surface.clone(), reason, at }])
                }
                _ => Err(refused),
            },
        }
    }
}

impl Aggregate for SecretBinding {
    const TYPE: &'static str = "SecretBinding";
    type Command = SecretBindingCommand;
    type Event = SecretBindingEvent;
    type Error = SecretBindingError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let events = self.decide(command)?;
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use SecretBindingEvent as E;
        use SecretBindingStatus as S;

        match event {
            E::SecretBindingRequested { target, vault, secret, version, identity, surface, rotation, at } => {
                self.status = Some(S::Requested);
                self.target = Some(target);
                self.vault = Some(vault);
                self.secret = Some(secret);
                self.pinned_version = version;
                self.identity = Some(identity);
                self.surface = Some(surface);
                self.rotation = Some(rotation);
                self.requested_at = Some(at);
                self.updated_at = Some(at);
            }
            E::SecretBindingConfirmed { resolved_version, at } => {
                self.status = Some(S::Bound);
                self.current_version = Some(resolved_version);
                self.bound_at = Some(at);
                self.updated_at = Some(at);
            }
            E::SecretRotationMarkedDue { at } => {
                self.status = Some(S::RotationDue);
                self.rotation_due_since = Some(at);
                self.updated_at = Some(at);
            }
            E::SecretRotated { new_version, at, .. } => {
                self.status = Some(S::Rotated);
                if self.pinned_version.is_some() {
                    self.pinned_version = Some(new_version.clone());
                }
                self.current_version = Some(new_version);
                self.rotation_due_since = None;
                self.last_rotated_at = Some(at);
                self.updated_at = Some(at);
            }
            E::SecretRotationConfirmed { at, .. } => {
                self.status = Some(S::Bound);
                self.updated_at = Some(at);
            }
            E::SecretBindingRevoked { reason, at, .. } => {
                self.status = Some(S::Revoked);
                self.rotation_due_since = None;
                self.revoked_at = Some(at);
                self.revocation_reason = Some(reason);
                self.updated_at = Some(at);
            }
        }
    }
}

/// A binding belongs to its tenant when it is tenant-specific; a binding for every tenant is
/// platform-wide.
impl crate::ownership::TenantOwned for SecretBinding {
    fn owner_tenant(&self) -> Option<&TenantId> {
        self.tenant()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::configuration::secret_binding::values::EnvVarName;
    use crate::ids::{EnvironmentId, ServiceId};
    use crate::ownership::TenantOwned;
    use crate::rejection::{Rejection, RejectionKind};

    type Test = TestFramework<SecretBinding>;

    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";
    const ENVIRONMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";
    const CLIENT_ID: &str = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b";

    fn test() -> Test {
        Test::with(())
    }

    fn day(n: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().to_utc() + TimeDelta::days(i64::from(n))
    }

    fn ver(n: u8) -> SecretVersion {
        SecretVersion::parse(&format!("{n:032x}")).unwrap()
    }

    fn target() -> WorkloadTarget {
        WorkloadTarget::new(
            ServiceId::parse(SERVICE).unwrap(),
            EnvironmentId::parse(ENVIRONMENT).unwrap(),
            Some(TenantId::parse("contoso").unwrap()),
        )
    }

    fn surface() -> SecretSurface {
        SecretSurface::EnvVar(EnvVarName::parse("DB_PASSWORD").unwrap())
    }

    fn reason() -> Reason {
        Reason::parse("identity compromised").unwrap()
    }

    fn bind(version: Option<SecretVersion>) -> SecretBindingCommand {
        SecretBindingCommand::BindSecret {
            target: target(),
            vault: KeyVaultUri::parse("https://kv-billing.vault.azure.net/").unwrap(),
            secret: SecretName::parse("db-password").unwrap(),
            version,
            identity: IdentityClientId::parse(CLIENT_ID).unwrap(),
            surface: surface(),
            rotation: RotationPolicy::new(90, 14).unwrap(),
            at: day(0),
        }
    }

    fn requested_with(version: Option<SecretVersion>) -> SecretBindingEvent {
        SecretBindingEvent::SecretBindingRequested {
            target: target(),
            vault: KeyVaultUri::parse("https://kv-billing.vault.azure.net/").unwrap(),
            secret: SecretName::parse("db-password").unwrap(),
            version,
            identity: IdentityClientId::parse(CLIENT_ID).unwrap(),
            surface: surface(),
            rotation: RotationPolicy::new(90, 14).unwrap(),
            at: day(0),
        }
    }

    fn requested() -> SecretBindingEvent {
        requested_with(None)
    }

    fn confirmed() -> SecretBindingEvent {
        SecretBindingEvent::SecretBindingConfirmed { resolved_version: ver(1), at: day(1) }
    }

    fn due() -> SecretBindingEvent {
        SecretBindingEvent::SecretRotationMarkedDue { at: day(77) }
    }

    fn rotated() -> SecretBindingEvent {
        SecretBindingEvent::SecretRotated { previous_version: ver(1), new_version: ver(2), at: day(80) }
    }

    fn rotation_confirmed() -> SecretBindingEvent {
        SecretBindingEvent::SecretRotationConfirmed { version: ver(2), at: day(81) }
    }

    fn revoked() -> SecretBindingEvent {
        SecretBindingEvent::SecretBindingRevoked {
            target: target(),
            surface: surface(),
            reason: reason(),
            at: day(100),
        }
    }

    /// Histories that end in each status, for rules that hold across several of them.
    fn history(status: SecretBindingStatus) -> Vec<SecretBindingEvent> {
        use SecretBindingStatus as S;
        match status {
            S::Requested => vec![requested()],
            S::Bound => vec![requested(), confirmed()],
            S::RotationDue => vec![requested(), confirmed(), due()],
            S::Rotated => vec![requested(), confirmed(), due(), rotated()],
            S::Revoked => vec![requested(), confirmed(), revoked()],
        }
    }

    fn replay(events: Vec<SecretBindingEvent>) -> SecretBinding {
        let mut binding = SecretBinding::default();
        for event in events {
            binding.apply(event);
        }
        binding
    }

    fn every_command() -> Vec<SecretBindingCommand> {
        use SecretBindingCommand as C;
        vec![
            bind(None),
            C::ConfirmBinding { resolved_version: ver(1), at: day(1) },
            C::MarkRotationDue { at: day(77) },
            C::RecordRotation { new_version: ver(2), at: day(80) },
            C::ConfirmRotation { at: day(81) },
            C::Revoke { reason: reason(), at: day(100) },
        ]
    }

    /// Asserts that `command` is refused in every status but `allowed`.
    fn refused_outside(command: &SecretBindingCommand, allowed: &[SecretBindingStatus]) {
        use SecretBindingStatus as S;
        for status in [S::Requested, S::Bound, S::RotationDue, S::Rotated, S::Revoked] {
            if allowed.contains(&status) {
                continue;
            }
            let name = command.name();
            test()
                .given(history(status))
                .when(command.clone())
                .then_expect_error_message(&format!("cannot {name}: secret binding is {status}"));
        }
    }

    // --- binding ---

    #[test]
    fn binding_a_secret_records_where_it_is_and_how_it_surfaces() {
        test().given_no_previous_events().when(bind(None)).then_expect_events(vec![requested()]);
        let binding = replay(vec![requested()]);
        assert_eq!(binding.status(), Some(SecretBindingStatus::Requested));
        assert_eq!(binding.target(), Some(&target()));
        assert_eq!(binding.vault().map(KeyVaultUri::as_str), Some("https://kv-billing.vault.azure.net/"));
        assert_eq!(binding.secret_name().map(SecretName::as_str), Some("db-password"));
        assert_eq!(binding.identity().map(ToString::to_string).as_deref(), Some(CLIENT_ID));
        assert_eq!(binding.surface(), Some(&surface()));
        assert_eq!(binding.rotation_policy(), Some(&RotationPolicy::new(90, 14).unwrap()));
        assert_eq!(binding.requested_at(), Some(day(0)));
        assert!(!binding.is_pinned());
        assert_eq!(binding.next_rotation_due(), None);
    }

    #[test]
    fn an_existing_binding_cannot_be_requested_again() {
        test()
            .given(vec![requested()])
            .when(bind(None))
            .then_expect_error_message("cannot BindSecret: secret binding already exists (it is Requested)");
    }

    #[test]
    fn commands_on_a_nonexistent_binding_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            let error = test().given_no_previous_events().when(command).inspect_result().unwrap_err();
            assert_eq!(error, SecretBindingError::NotFound { command: name });
            assert_eq!(error.to_string(), format!("cannot {name}: secret binding does not exist"));
        }
    }

    // --- confirmation ---

    #[test]
    fn confirming_a_requested_binding_makes_it_bound_at_the_resolved_version() {
        test()
            .given(vec![requested()])
            .when(SecretBindingCommand::ConfirmBinding { resolved_version: ver(1), at: day(1) })
            .then_expect_events(vec![confirmed()]);
        let binding = replay(history(SecretBindingStatus::Bound));
        assert_eq!(binding.status(), Some(SecretBindingStatus::Bound));
        assert_eq!(binding.current_version(), Some(&ver(1)));
        assert_eq!(binding.bound_at(), Some(day(1)));
    }

    #[test]
    fn a_pinned_binding_must_resolve_to_its_pinned_version() {
        let error = test()
            .given(vec![requested_with(Some(ver(1)))])
            .when(SecretBindingCommand::ConfirmBinding { resolved_version: ver(2), at: day(1) })
            .inspect_result()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("cannot ConfirmBinding: resolved version {} differs from the pinned version {}", ver(2), ver(1))
        );
        assert_eq!(error.kind(), RejectionKind::InvariantViolated);
        test()
            .given(vec![requested_with(Some(ver(1)))])
            .when(SecretBindingCommand::ConfirmBinding { resolved_version: ver(1), at: day(1) })
            .then_expect_events(vec![confirmed()]);
    }

    #[test]
    fn only_a_requested_binding_can_be_confirmed() {
        refused_outside(&every_command()[1], &[SecretBindingStatus::Requested]);
    }

    // --- rotation ---

    #[test]
    fn a_bound_secret_can_be_marked_due_for_rotation() {
        test()
            .given(history(SecretBindingStatus::Bound))
            .when(SecretBindingCommand::MarkRotationDue { at: day(77) })
            .then_expect_events(vec![due()]);
        let binding = replay(history(SecretBindingStatus::RotationDue));
        assert_eq!(binding.rotation_due_since(), Some(day(77)));
    }

    #[test]
    fn only_a_bound_secret_can_be_marked_due() {
        refused_outside(&every_command()[2], &[SecretBindingStatus::Bound]);
    }

    #[test]
    fn recording_a_rotation_moves_to_the_new_version() {
        test()
            .given(history(SecretBindingStatus::RotationDue))
            .when(SecretBindingCommand::RecordRotation { new_version: ver(2), at: day(80) })
            .then_expect_events(vec![rotated()]);
        let binding = replay(history(SecretBindingStatus::Rotated));
        assert_eq!(binding.status(), Some(SecretBindingStatus::Rotated));
        assert_eq!(binding.current_version(), Some(&ver(2)));
        assert_eq!(binding.last_rotated_at(), Some(day(80)));
        assert_eq!(binding.rotation_due_since(), None);
    }

    #[test]
    fn a_rotation_needs_a_new_version() {
        test()
            .given(history(SecretBindingStatus::RotationDue))
            .when(SecretBindingCommand::RecordRotation { new_version: ver(1), at: day(80) })
            .then_expect_error_message(&format!(
                "cannot RecordRotation: version {} is the current version; a rotation needs a new one",
                ver(1)
            ));
    }

    #[test]
    fn a_rotation_is_recorded_only_when_due() {
        refused_outside(&every_command()[3], &[SecretBindingStatus::RotationDue]);
    }

    #[test]
    fn confirming_a_rotation_makes_the_binding_bound_again() {
        test()
            .given(history(SecretBindingStatus::Rotated))
            .when(SecretBindingCommand::ConfirmRotation { at: day(81) })
            .then_expect_events(vec![rotation_confirmed()]);
        let mut events = history(SecretBindingStatus::Rotated);
        events.push(rotation_confirmed());
        let binding = replay(events);
        assert_eq!(binding.status(), Some(SecretBindingStatus::Bound));
        assert_eq!(binding.current_version(), Some(&ver(2)));
    }

    #[test]
    fn only_a_rotated_binding_can_confirm_its_rotation() {
        refused_outside(&every_command()[4], &[SecretBindingStatus::Rotated]);
    }

    #[test]
    fn a_pinned_binding_pins_the_rotated_version() {
        let binding = replay(vec![requested_with(Some(ver(1))), confirmed(), due(), rotated()]);
        assert_eq!(binding.pinned_version(), Some(&ver(2)));
        assert_eq!(
            binding.secret_uri().unwrap(),
            format!("https://kv-billing.vault.azure.net/secrets/db-password/{}", ver(2))
        );
        let unpinned = replay(history(SecretBindingStatus::Rotated));
        assert_eq!(unpinned.pinned_version(), None);
        assert_eq!(unpinned.secret_uri().unwrap(), "https://kv-billing.vault.azure.net/secrets/db-password");
    }

    #[test]
    fn the_next_rotation_is_due_one_period_after_the_last_rotation_or_the_binding() {
        let bound = replay(history(SecretBindingStatus::Bound));
        assert_eq!(bound.next_rotation_due(), Some(day(91)));
        assert_eq!(bound.rotation_notice_at(), Some(day(77)));
        let rotated = replay(history(SecretBindingStatus::Rotated));
        assert_eq!(rotated.next_rotation_due(), Some(day(170)));
        assert_eq!(rotated.rotation_notice_at(), Some(day(156)));
        let revoked = replay(history(SecretBindingStatus::Revoked));
        assert_eq!(revoked.next_rotation_due(), None);
        assert_eq!(revoked.rotation_notice_at(), None);
    }

    // --- revocation ---

    #[test]
    fn a_bound_binding_can_be_revoked_releasing_its_surface() {
        use SecretBindingStatus as S;
        test()
            .given(history(S::Bound))
            .when(SecretBindingCommand::Revoke { reason: reason(), at: day(100) })
            .then_expect_events(vec![revoked()]);
        // Bound again after a confirmed rotation.
        let mut rotated_and_bound = history(S::Rotated);
        rotated_and_bound.push(rotation_confirmed());
        assert_eq!(replay(rotated_and_bound.clone()).status(), Some(S::Bound));
        let events = test()
            .given(rotated_and_bound)
            .when(SecretBindingCommand::Revoke { reason: reason(), at: day(100) })
            .inspect_result()
            .unwrap();
        assert!(matches!(events.as_slice(), [SecretBindingEvent::SecretBindingRevoked { .. }]), "{events:?}");
        let binding = replay(history(S::Revoked));
        assert_eq!(binding.status(), Some(S::Revoked));
        assert_eq!(binding.revoked_at(), Some(day(100)));
        assert_eq!(binding.revocation_reason(), Some(&reason()));
    }

    #[test]
    fn only_a_bound_binding_can_be_revoked_as_the_spec_says() {
        use SecretBindingStatus as S;
        for status in [S::Requested, S::RotationDue, S::Rotated] {
            let error = test()
                .given(history(status))
                .when(SecretBindingCommand::Revoke { reason: reason(), at: day(100) })
                .inspect_result()
                .unwrap_err();
            assert_eq!(error, SecretBindingError::InvalidTransition { command: "Revoke", status });
            assert_eq!(error.kind(), RejectionKind::InvalidTransition);
        }
    }

    #[test]
    fn a_revoked_binding_accepts_no_command() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            test()
                .given(history(SecretBindingStatus::Revoked))
                .when(command)
                .then_expect_error_message(&format!("cannot {name}: secret binding is Revoked"));
        }
        test()
            .given(history(SecretBindingStatus::Revoked))
            .when(bind(None))
            .then_expect_error_message("cannot BindSecret: secret binding already exists (it is Revoked)");
    }

    // --- state ---

    #[test]
    fn state_is_rebuilt_from_the_event_history_and_snapshots_round_trip() {
        let mut events = history(SecretBindingStatus::Rotated);
        events.push(rotation_confirmed());
        let binding = replay(events);
        assert_eq!(binding.tenant().map(TenantId::as_str), Some("contoso"));
        assert_eq!(binding.owner_tenant().map(TenantId::as_str), Some("contoso"));
        assert_eq!(binding.updated_at(), Some(day(81)));
        let snapshot = serde_json::to_value(&binding).unwrap();
        assert_eq!(serde_json::from_value::<SecretBinding>(snapshot).unwrap(), binding);
        assert_eq!(SecretBinding::default().owner_tenant(), None);
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use SecretBindingError as Err;
        let status = SecretBindingStatus::Bound;
        let cases = [
            (Err::NotFound { command: "Revoke" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status }, RejectionKind::AlreadyExists),
            (Err::InvalidTransition { command: "ConfirmRotation", status }, RejectionKind::InvalidTransition),
            (Err::PinnedVersionMismatch { pinned: ver(1), resolved: ver(2) }, RejectionKind::InvariantViolated),
            (Err::SameVersion(ver(1)), RejectionKind::InvariantViolated),
            (
                Err::InvalidValue(crate::configuration::values::ValueError::InvalidSecretName(String::new())),
                RejectionKind::InvalidInput,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
