//! The `RuntimeConfiguration` aggregate: decides which versions are proposed, activated and
//! rolled back, tracks which version each workload runs, and folds its events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. No
//! fact from outside is needed (`Services` is `()`): one configuration per target is a claim
//! enforced by the event store, and everything else is local to the aggregate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::ConfigurationCommand;
use super::error::ConfigurationError;
use super::events::ConfigurationEvent;
use super::smell::secret_smell;
use super::values::{
    ConfigVersion, ConfigurationRollback, ConfigurationStatus, ConfigurationVersion, ContentHash, Settings, SyncStatus,
    WorkloadId, WorkloadSync,
};
use crate::configuration::values::WorkloadTarget;
use crate::envelope::TenantId;

/// The versioned settings of a service in an environment (optionally for one tenant), rebuilt
/// from its events. The default value is a configuration that does not exist yet (`status()`
/// is `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConfiguration {
    status: Option<ConfigurationStatus>,
    target: Option<WorkloadTarget>,
    versions: Vec<ConfigurationVersion>,
    active: Option<ConfigVersion>,
    activated_at: Option<DateTime<Utc>>,
    last_rollback: Option<ConfigurationRollback>,
    workloads: BTreeMap<WorkloadId, WorkloadSync>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl RuntimeConfiguration {
    /// Where the configuration is in its lifecycle; `None` if it was never created.
    pub fn status(&self) -> Option<ConfigurationStatus> {
        self.status
    }

    /// The workload (service, environment, tenant) the settings are for.
    pub fn target(&self) -> Option<&WorkloadTarget> {
        self.target.as_ref()
    }

    /// The tenant, for a tenant-specific configuration.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.target.as_ref().and_then(WorkloadTarget::tenant)
    }

    /// Every version, oldest first; version `n` is at index `n - 1`.
    pub fn versions(&self) -> &[ConfigurationVersion] {
        &self.versions
    }

    /// One version by number.
    pub fn version(&self, number: ConfigVersion) -> Option<&ConfigurationVersion> {
        self.versions.get(number.get() as usize - 1)
    }

    /// The newest version, active or not.
    pub fn latest_version(&self) -> Option<&ConfigurationVersion> {
        self.versions.last()
    }

    /// The number of the active version.
    pub fn active_version(&self) -> Option<ConfigVersion> {
        self.active
    }

    /// The active version with its settings.
    pub fn active(&self) -> Option<&ConfigurationVersion> {
        self.active.and_then(|number| self.version(number))
    }

    /// When the active version was activated (or rolled back to).
    pub fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.activated_at
    }

    /// The most recent rollback, if any.
    pub fn last_rollback(&self) -> Option<&ConfigurationRollback> {
        self.last_rollback.as_ref()
    }

    /// Every workload that reported, with the version it runs and whether that is the active
    /// one (re-evaluated whenever another version becomes active).
    pub fn workloads(&self) -> &BTreeMap<WorkloadId, WorkloadSync> {
        &self.workloads
    }

    /// What one workload last reported.
    pub fn workload(&self, workload: &WorkloadId) -> Option<&WorkloadSync> {
        self.workloads.get(workload)
    }

    /// When it was created.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }

    /// The time of its latest event.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    fn decide(&self, command: ConfigurationCommand) -> Result<Vec<ConfigurationEvent>, ConfigurationError> {
        use ConfigurationCommand as C;
        use ConfigurationEvent as E;
        use ConfigurationStatus as S;

        let command_name = command.name();
        let Some(status) = self.status else {
            return match command {
                C::CreateConfiguration { target, at } => Ok(vec![E::ConfigurationCreated { target, at }]),
                _ => Err(ConfigurationError::NotFound { command: command_name }),
            };
        };

        match command {
            C::CreateConfiguration { .. } => Err(ConfigurationError::AlreadyExists { status }),
            C::ProposeConfigurationVersion { settings, content_hash, at } => self.propose(settings, content_hash, at),
            C::ActivateVersion { version, at } => {
                self.existing(command_name, version)?;
                match self.active {
                    Some(active) if active == version => Err(ConfigurationError::AlreadyActive(version)),
                    Some(active) if version < active => Err(ConfigurationError::OlderThanActive { version, active }),
                    previous => Ok(vec![E::ConfigurationVersionActivated { version, previous, at }]),
                }
            }
            C::RollBackToVersion { version, at } => match (status, self.active) {
                (S::Active, Some(active)) if version < active => {
                    Ok(vec![E::ConfigurationRolledBack { from: active, to: version, at }])
                }
                (S::Active, Some(active)) => Err(ConfigurationError::NotOlderThanActive { version, active }),
                _ => Err(ConfigurationError::InvalidTransition { command: command_name, status }),
            },
            C::RecordWorkloadSync { workload, running_version, at } => {
                self.existing(command_name, running_version)?;
                let status = SyncStatus::of(running_version, self.active);
                let unchanged = self
                    .workloads
                    .get(&workload)
                    .is_some_and(|known| known.running_version() == running_version && known.status() == status);
                if unchanged {
                    return Ok(Vec::new());
                }
                Ok(vec![E::WorkloadSyncRecorded { workload, running_version, status, at }])
            }
        }
    }

    /// The proposal rules: no secret-looking value; identical content to the latest version is
    /// an idempotent no-op (a retried or re-applied proposal), identical content to an older
    /// version is refused (the history would hold the same content twice; activate or roll
    /// back to it instead); a hash that matches a version whose settings differ, or settings
    /// that match a version whose hash differs, betray a hash computed over other bytes.
    fn propose(
        &self,
        settings: Settings,
        content_hash: ContentHash,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConfigurationEvent>, ConfigurationError> {
        if let Some((key, smell)) =
            settings.as_map().iter().find_map(|(key, value)| secret_smell(key, value).map(|smell| (key, smell)))
        {
            return Err(ConfigurationError::LooksLikeSecret { key: key.clone(), smell });
        }
        let same = self
            .versions
            .iter()
            .find(|version| version.content_hash() == &content_hash || version.settings() == &settings);
        if let Some(same) = same {
            if same.content_hash() != &content_hash || same.settings() != &settings {
                return Err(ConfigurationError::ContentHashMismatch(same.number()));
            }
            if Some(same) == self.latest_version() {
                return Ok(Vec::new());
            }
            return Err(ConfigurationError::DuplicateContent(same.number()));
        }
        let version = match self.latest_version() {
            None => ConfigVersion::FIRST,
            Some(latest) => latest.number().next().ok_or(ConfigurationError::VersionLimitReached)?,
        };
        Ok(vec![ConfigurationEvent::ConfigurationVersionProposed { version, settings, content_hash, at }])
    }

    /// Refuses a version that was never proposed.
    fn existing(&self, command: &'static str, version: ConfigVersion) -> Result<(), ConfigurationError> {
        match self.version(version) {
            Some(_) => Ok(()),
            None => Err(ConfigurationError::UnknownVersion { command, version }),
        }
    }

    /// Makes `version` active and re-evaluates every workload against it.
    fn make_active(&mut self, version: ConfigVersion, at: DateTime<Utc>) {
        self.status = Some(ConfigurationStatus::Active);
        self.active = Some(version);
        self.activated_at = Some(at);
        self.updated_at = Some(at);
        for sync in self.workloads.values_mut() {
            *sync = sync.against(self.active);
        }
    }
}

impl Aggregate for RuntimeConfiguration {
    const TYPE: &'static str = "RuntimeConfiguration";
    type Command = ConfigurationCommand;
    type Event = ConfigurationEvent;
    type Error = ConfigurationError;
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
        use ConfigurationEvent as E;

        match event {
            E::ConfigurationCreated { target, at } => {
                self.status = Some(ConfigurationStatus::Draft);
                self.target = Some(target);
                self.created_at = Some(at);
                self.updated_at = Some(at);
            }
            E::ConfigurationVersionProposed { version, settings, content_hash, at } => {
                self.versions.push(ConfigurationVersion::new(version, settings, content_hash, at));
                self.updated_at = Some(at);
            }
            E::ConfigurationVersionActivated { version, at, .. } => self.make_active(version, at),
            E::ConfigurationRolledBack { from, to, at } => {
                self.last_rollback = Some(ConfigurationRollback::new(from, to, at));
                self.make_active(to, at);
            }
            E::WorkloadSyncRecorded { workload, running_version, status, at } => {
                let since = match self.workloads.get(&workload) {
                    Some(known) if known.running_version() == running_version => known.since(),
                    _ => at,
                };
                self.workloads.insert(workload, WorkloadSync::new(running_version, status, since));
                self.updated_at = Some(at);
            }
        }
    }
}

/// A configuration belongs to its tenant when it is tenant-specific; a configuration for every
/// tenant is platform-wide.
impl crate::ownership::TenantOwned for RuntimeConfiguration {
    fn owner_tenant(&self) -> Option<&TenantId> {
        self.tenant()
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::configuration::runtime_config::smell::SecretSmell;
    use crate::configuration::runtime_config::values::ConfigKey;
    use crate::ids::{EnvironmentId, ServiceId};
    use crate::ownership::TenantOwned;
    use crate::rejection::{Rejection, RejectionKind};

    type Test = TestFramework<RuntimeConfiguration>;

    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";
    const ENVIRONMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";

    fn test() -> Test {
        Test::with(())
    }

    fn t(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-01T10:{minute:02}:00Z")).unwrap().to_utc()
    }

    fn v(number: u64) -> ConfigVersion {
        ConfigVersion::parse(number).unwrap()
    }

    fn target() -> WorkloadTarget {
        WorkloadTarget::new(
            ServiceId::parse(SERVICE).unwrap(),
            EnvironmentId::parse(ENVIRONMENT).unwrap(),
            Some(TenantId::parse("contoso").unwrap()),
        )
    }

    /// Settings whose content differs per `n`, with a hash that differs per `n` too.
    fn settings(n: u64) -> Settings {
        Settings::parse([("LOG_LEVEL", "info"), ("MAX_BATCH", &n.to_string())]).unwrap()
    }

    fn hash(n: u64) -> ContentHash {
        ContentHash::parse(&format!("{n:064x}")).unwrap()
    }

    fn workload(name: &str) -> WorkloadId {
        WorkloadId::parse(name).unwrap()
    }

    fn created() -> ConfigurationEvent {
        ConfigurationEvent::ConfigurationCreated { target: target(), at: t(0) }
    }

    fn propose(n: u64) -> ConfigurationCommand {
        ConfigurationCommand::ProposeConfigurationVersion {
            settings: settings(n),
            content_hash: hash(n),
            at: t(n as u32),
        }
    }

    fn proposed(n: u64) -> ConfigurationEvent {
        ConfigurationEvent::ConfigurationVersionProposed {
            version: v(n),
            settings: settings(n),
            content_hash: hash(n),
            at: t(n as u32),
        }
    }

    fn activated(n: u64, previous: Option<u64>) -> ConfigurationEvent {
        ConfigurationEvent::ConfigurationVersionActivated {
            version: v(n),
            previous: previous.map(v),
            at: t(10 + n as u32),
        }
    }

    fn synced(name: &str, running: u64, status: SyncStatus, minute: u32) -> ConfigurationEvent {
        ConfigurationEvent::WorkloadSyncRecorded {
            workload: workload(name),
            running_version: v(running),
            status,
            at: t(minute),
        }
    }

    fn report(name: &str, running: u64, minute: u32) -> ConfigurationCommand {
        ConfigurationCommand::RecordWorkloadSync {
            workload: workload(name),
            running_version: v(running),
            at: t(minute),
        }
    }

    /// Created with versions 1..=3 proposed and version 2 active.
    fn three_versions_two_active() -> Vec<ConfigurationEvent> {
        vec![created(), proposed(1), proposed(2), proposed(3), activated(2, None)]
    }

    fn replay(events: Vec<ConfigurationEvent>) -> RuntimeConfiguration {
        let mut configuration = RuntimeConfiguration::default();
        for event in events {
            configuration.apply(event);
        }
        configuration
    }

    fn every_command() -> Vec<ConfigurationCommand> {
        use ConfigurationCommand as C;
        vec![
            C::CreateConfiguration { target: target(), at: t(0) },
            propose(1),
            C::ActivateVersion { version: v(1), at: t(9) },
            C::RollBackToVersion { version: v(1), at: t(9) },
            report("pod-a", 1, 9),
        ]
    }

    // --- creation ---

    #[test]
    fn creating_a_configuration_records_its_target_as_a_draft() {
        test()
            .given_no_previous_events()
            .when(ConfigurationCommand::CreateConfiguration { target: target(), at: t(0) })
            .then_expect_events(vec![created()]);
        let configuration = replay(vec![created()]);
        assert_eq!(configuration.status(), Some(ConfigurationStatus::Draft));
        assert_eq!(configuration.target(), Some(&target()));
        assert_eq!(configuration.created_at(), Some(t(0)));
    }

    #[test]
    fn an_existing_configuration_cannot_be_created_again() {
        test()
            .given(vec![created()])
            .when(every_command().remove(0))
            .then_expect_error_message("cannot CreateConfiguration: configuration already exists (it is Draft)");
    }

    #[test]
    fn commands_on_a_nonexistent_configuration_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            let error = test().given_no_previous_events().when(command).inspect_result().unwrap_err();
            assert_eq!(error, ConfigurationError::NotFound { command: name });
            assert_eq!(error.kind(), RejectionKind::NotFound);
            assert_eq!(error.to_string(), format!("cannot {name}: configuration does not exist"));
        }
    }

    // --- proposals ---

    #[test]
    fn the_first_proposal_is_version_one() {
        test().given(vec![created()]).when(propose(1)).then_expect_events(vec![proposed(1)]);
    }

    #[test]
    fn versions_are_appended_in_sequence_whatever_is_active() {
        test().given(three_versions_two_active()).when(propose(4)).then_expect_events(vec![proposed(4)]);
        let configuration = replay(vec![created(), proposed(1), proposed(2)]);
        assert_eq!(configuration.versions().len(), 2);
        assert_eq!(configuration.version(v(1)).unwrap().settings(), &settings(1));
        assert_eq!(configuration.latest_version().unwrap().number(), v(2));
        assert_eq!(configuration.status(), Some(ConfigurationStatus::Draft));
    }

    #[test]
    fn values_that_look_like_secrets_are_refused() {
        let settings = Settings::parse([("LOG_LEVEL", "info"), ("DB_PASSWORD", "hunter2")]).unwrap();
        let error = test()
            .given(vec![created()])
            .when(ConfigurationCommand::ProposeConfigurationVersion { settings, content_hash: hash(9), at: t(9) })
            .inspect_result()
            .unwrap_err();
        assert_eq!(
            error,
            ConfigurationError::LooksLikeSecret {
                key: ConfigKey::parse("DB_PASSWORD").unwrap(),
                smell: SecretSmell::KeyName,
            }
        );
        assert_eq!(
            error.to_string(),
            "configuration value for \"DB_PASSWORD\" looks like a secret (key name): bind it from Key Vault with a secret binding instead"
        );
        assert!(!error.to_string().contains("hunter2"));
        assert_eq!(error.kind(), RejectionKind::InvariantViolated);
    }

    #[test]
    fn secret_looking_values_under_innocent_keys_are_refused_too() {
        let settings = Settings::parse([("DATABASE_URL", "postgres://app:hunter2@db.example.com/billing")]).unwrap();
        test()
            .given(vec![created()])
            .when(ConfigurationCommand::ProposeConfigurationVersion {
                settings,
                content_hash: hash(9),
                at: t(9),
            })
            .then_expect_error_message(
                "configuration value for \"DATABASE_URL\" looks like a secret (credentials in url): bind it from Key Vault with a secret binding instead",
            );
    }

    #[test]
    fn proposing_the_latest_content_again_is_an_idempotent_no_op() {
        test().given(vec![created(), proposed(1), proposed(2)]).when(propose(2)).then_expect_events(vec![]);
    }

    #[test]
    fn proposing_the_content_of_an_older_version_is_refused() {
        test().given(three_versions_two_active()).when(propose(1)).then_expect_error_message(
            "configuration content is identical to version 1 (same content hash); activate or roll back to it instead",
        );
    }

    #[test]
    fn a_hash_that_disagrees_with_an_existing_version_is_refused() {
        let message =
            "content hash does not match the settings: version 1 has the same hash or the same settings but not both";
        test()
            .given(vec![created(), proposed(1)])
            .when(ConfigurationCommand::ProposeConfigurationVersion {
                settings: settings(2),
                content_hash: hash(1),
                at: t(2),
            })
            .then_expect_error_message(message);
        test()
            .given(vec![created(), proposed(1)])
            .when(ConfigurationCommand::ProposeConfigurationVersion {
                settings: settings(1),
                content_hash: hash(2),
                at: t(2),
            })
            .then_expect_error_message(message);
    }

    // --- activation ---

    #[test]
    fn the_first_activation_makes_the_configuration_active() {
        test()
            .given(vec![created(), proposed(1)])
            .when(ConfigurationCommand::ActivateVersion { version: v(1), at: t(11) })
            .then_expect_events(vec![activated(1, None)]);
        let configuration = replay(vec![created(), proposed(1), activated(1, None)]);
        assert_eq!(configuration.status(), Some(ConfigurationStatus::Active));
        assert_eq!(configuration.active_version(), Some(v(1)));
        assert_eq!(configuration.active().unwrap().settings(), &settings(1));
        assert_eq!(configuration.activated_at(), Some(t(11)));
    }

    #[test]
    fn activating_a_newer_version_names_the_one_it_replaces() {
        test()
            .given(three_versions_two_active())
            .when(ConfigurationCommand::ActivateVersion { version: v(3), at: t(13) })
            .then_expect_events(vec![activated(3, Some(2))]);
    }

    #[test]
    fn only_an_existing_version_can_be_activated() {
        test()
            .given(three_versions_two_active())
            .when(ConfigurationCommand::ActivateVersion { version: v(4), at: t(14) })
            .then_expect_error_message("cannot ActivateVersion: version 4 does not exist");
    }

    #[test]
    fn activating_the_active_version_is_refused() {
        let error = test()
            .given(three_versions_two_active())
            .when(ConfigurationCommand::ActivateVersion { version: v(2), at: t(14) })
            .inspect_result()
            .unwrap_err();
        assert_eq!(error.to_string(), "cannot ActivateVersion: version 2 is already active");
        assert_eq!(error.kind(), RejectionKind::InvalidTransition);
    }

    #[test]
    fn going_back_through_activation_is_refused_in_favour_of_a_rollback() {
        test()
            .given(three_versions_two_active())
            .when(ConfigurationCommand::ActivateVersion { version: v(1), at: t(14) })
            .then_expect_error_message(
                "cannot ActivateVersion: version 1 is older than the active version 2; use RollBackToVersion",
            );
    }

    #[test]
    fn any_version_can_be_activated_while_none_is_active() {
        test()
            .given(vec![created(), proposed(1), proposed(2)])
            .when(ConfigurationCommand::ActivateVersion { version: v(1), at: t(11) })
            .then_expect_events(vec![activated(1, None)]);
    }

    // --- rollback ---

    #[test]
    fn rolling_back_to_an_older_version_records_the_rollback_and_activates_it() {
        let rolled_back = ConfigurationEvent::ConfigurationRolledBack { from: v(2), to: v(1), at: t(20) };
        test()
            .given(three_versions_two_active())
            .when(ConfigurationCommand::RollBackToVersion { version: v(1), at: t(20) })
            .then_expect_events(vec![rolled_back.clone()]);
        let mut history = three_versions_two_active();
        history.push(rolled_back);
        let configuration = replay(history);
        assert_eq!(configuration.active_version(), Some(v(1)));
        assert_eq!(configuration.activated_at(), Some(t(20)));
        let rollback = configuration.last_rollback().unwrap();
        assert_eq!((rollback.from_version(), rollback.to_version(), rollback.at()), (v(2), v(1), t(20)));
        assert_eq!(configuration.versions().len(), 3, "versions are never removed");
    }

    #[test]
    fn a_rollback_must_go_to_an_older_version() {
        for target in [2, 3] {
            test()
                .given(three_versions_two_active())
                .when(ConfigurationCommand::RollBackToVersion { version: v(target), at: t(20) })
                .then_expect_error_message(&format!(
                    "cannot RollBackToVersion: version {target} is not older than the active version 2"
                ));
        }
    }

    #[test]
    fn nothing_can_be_rolled_back_before_a_version_is_active() {
        test()
            .given(vec![created(), proposed(1), proposed(2)])
            .when(ConfigurationCommand::RollBackToVersion { version: v(1), at: t(20) })
            .then_expect_error_message("cannot RollBackToVersion: configuration is Draft");
    }

    #[test]
    fn after_a_rollback_newer_versions_can_be_activated_again() {
        let mut history = three_versions_two_active();
        history.push(ConfigurationEvent::ConfigurationRolledBack { from: v(2), to: v(1), at: t(20) });
        test()
            .given(history)
            .when(ConfigurationCommand::ActivateVersion { version: v(3), at: t(13) })
            .then_expect_events(vec![activated(3, Some(1))]);
    }

    // --- workload sync ---

    #[test]
    fn a_workload_running_the_active_version_is_synced() {
        test().given(three_versions_two_active()).when(report("pod-a", 2, 30)).then_expect_events(vec![synced(
            "pod-a",
            2,
            SyncStatus::Synced,
            30,
        )]);
    }

    #[test]
    fn a_workload_running_another_version_is_out_of_sync() {
        test().given(three_versions_two_active()).when(report("pod-a", 1, 30)).then_expect_events(vec![synced(
            "pod-a",
            1,
            SyncStatus::OutOfSync,
            30,
        )]);
        test().given(vec![created(), proposed(1)]).when(report("pod-a", 1, 30)).then_expect_events(vec![synced(
            "pod-a",
            1,
            SyncStatus::OutOfSync,
            30,
        )]);
    }

    #[test]
    fn a_repeated_identical_report_records_nothing() {
        let mut history = three_versions_two_active();
        history.push(synced("pod-a", 2, SyncStatus::Synced, 30));
        test().given(history).when(report("pod-a", 2, 31)).then_expect_events(vec![]);
    }

    #[test]
    fn a_change_of_running_version_is_recorded() {
        let mut history = three_versions_two_active();
        history.push(synced("pod-a", 1, SyncStatus::OutOfSync, 30));
        test().given(history).when(report("pod-a", 2, 31)).then_expect_events(vec![synced(
            "pod-a",
            2,
            SyncStatus::Synced,
            31,
        )]);
    }

    #[test]
    fn a_workload_cannot_run_a_version_that_was_never_proposed() {
        test()
            .given(three_versions_two_active())
            .when(report("pod-a", 7, 30))
            .then_expect_error_message("cannot RecordWorkloadSync: version 7 does not exist");
    }

    #[test]
    fn activating_another_version_re_evaluates_every_workload() {
        let mut history = three_versions_two_active();
        history.push(synced("pod-a", 2, SyncStatus::Synced, 30));
        history.push(synced("pod-b", 3, SyncStatus::OutOfSync, 31));
        history.push(activated(3, Some(2)));
        let configuration = replay(history.clone());
        let a = configuration.workload(&workload("pod-a")).unwrap();
        let b = configuration.workload(&workload("pod-b")).unwrap();
        assert_eq!((a.running_version(), a.status()), (v(2), SyncStatus::OutOfSync));
        assert_eq!((b.running_version(), b.status()), (v(3), SyncStatus::Synced));
        assert_eq!(b.since(), t(31));
        assert_eq!(configuration.workloads().len(), 2);
        // The re-evaluated status is already known, so the same report records nothing.
        test().given(history).when(report("pod-b", 3, 40)).then_expect_events(vec![]);
    }

    // --- state ---

    #[test]
    fn state_is_rebuilt_from_the_event_history_and_snapshots_round_trip() {
        let mut history = three_versions_two_active();
        history.push(synced("pod-a", 2, SyncStatus::Synced, 30));
        let configuration = replay(history);
        assert_eq!(configuration.tenant().map(TenantId::as_str), Some("contoso"));
        assert_eq!(configuration.owner_tenant().map(TenantId::as_str), Some("contoso"));
        assert_eq!(configuration.updated_at(), Some(t(30)));
        assert_eq!(configuration.version(v(3)).unwrap().content_hash(), &hash(3));
        assert_eq!(configuration.version(v(3)).unwrap().proposed_at(), t(3));
        let snapshot = serde_json::to_value(&configuration).unwrap();
        assert_eq!(serde_json::from_value::<RuntimeConfiguration>(snapshot).unwrap(), configuration);
    }

    #[test]
    fn a_configuration_for_every_tenant_is_platform_wide() {
        let all =
            WorkloadTarget::new(ServiceId::parse(SERVICE).unwrap(), EnvironmentId::parse(ENVIRONMENT).unwrap(), None);
        let configuration = replay(vec![ConfigurationEvent::ConfigurationCreated { target: all, at: t(0) }]);
        assert_eq!(configuration.owner_tenant(), None);
        assert_eq!(RuntimeConfiguration::default().owner_tenant(), None);
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use ConfigurationError as Err;
        let status = ConfigurationStatus::Active;
        let cases = [
            (Err::NotFound { command: "ActivateVersion" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status }, RejectionKind::AlreadyExists),
            (Err::InvalidTransition { command: "RollBackToVersion", status }, RejectionKind::InvalidTransition),
            (Err::AlreadyActive(v(1)), RejectionKind::InvalidTransition),
            (Err::UnknownVersion { command: "ActivateVersion", version: v(1) }, RejectionKind::InvariantViolated),
            (Err::OlderThanActive { version: v(1), active: v(2) }, RejectionKind::InvariantViolated),
            (Err::NotOlderThanActive { version: v(2), active: v(1) }, RejectionKind::InvariantViolated),
            (Err::DuplicateContent(v(1)), RejectionKind::InvariantViolated),
            (Err::ContentHashMismatch(v(1)), RejectionKind::InvalidInput),
            (
                Err::LooksLikeSecret { key: ConfigKey::parse("K").unwrap(), smell: SecretSmell::Jwt },
                RejectionKind::InvariantViolated,
            ),
            (Err::VersionLimitReached, RejectionKind::InvariantViolated),
            (
                Err::InvalidValue(crate::configuration::values::ValueError::InvalidConfigVersion(0)),
                RejectionKind::InvalidInput,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
