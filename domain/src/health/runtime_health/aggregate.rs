//! The `RuntimeHealth` aggregate: turns probe samples into status changes and incidents, and
//! folds those events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. The
//! status is never set by a command: it is re-derived by [`HealthStatus::derive`] from the
//! probe results a sample would leave, and recorded only when it differs. No outside fact is
//! needed, so the aggregate has no services (`()`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::HealthCommand;
use super::error::HealthError;
use super::events::HealthEvent;
use super::values::{Acknowledgement, HealthStatus, HealthTarget, Incident, Probe, ProbeResult};
use crate::envelope::TenantId;
use crate::health::values::Detail;

/// The health of one service in one environment (optionally one tenant), rebuilt from its
/// events. The default value is a record that does not exist yet (`status()` is `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeHealth {
    status: Option<HealthStatus>,
    previous_status: Option<HealthStatus>,
    target: Option<HealthTarget>,
    startup_probe: bool,
    probes: BTreeMap<Probe, ProbeResult>,
    since: Option<DateTime<Utc>>,
    open_incident: Option<Incident>,
    incidents: u32,
    last_incident_closed_at: Option<DateTime<Utc>>,
    tracked_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl RuntimeHealth {
    /// The derived status; `None` if health was never tracked.
    pub fn status(&self) -> Option<HealthStatus> {
        self.status
    }

    /// The status before the last change; `None` until the first change.
    pub fn previous_status(&self) -> Option<HealthStatus> {
        self.previous_status
    }

    /// What is watched: service, environment and optional tenant.
    pub fn target(&self) -> Option<&HealthTarget> {
        self.target.as_ref()
    }

    /// Whether the service's contract declares a startup probe.
    pub fn startup_probe_declared(&self) -> bool {
        self.startup_probe
    }

    /// When the current status began (tracking start while still `Unknown`).
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.since
    }

    /// The recorded state of every probe that has reported, keyed by probe.
    pub fn probes(&self) -> &BTreeMap<Probe, ProbeResult> {
        &self.probes
    }

    /// The recorded state of one probe.
    pub fn probe(&self, probe: &Probe) -> Option<&ProbeResult> {
        self.probes.get(probe)
    }

    /// The open incident: opened by a change into `Degraded`/`Unhealthy`, open until the
    /// status returns to `Healthy` (it stays open through `Progressing` and `Unknown`, so a
    /// restart loop is one incident, not many).
    pub fn open_incident(&self) -> Option<&Incident> {
        self.open_incident.as_ref()
    }

    /// How many incidents have been opened; also the number of the latest one.
    pub fn incident_count(&self) -> u32 {
        self.incidents
    }

    /// When the latest incident closed.
    pub fn last_incident_closed_at(&self) -> Option<DateTime<Utc>> {
        self.last_incident_closed_at
    }

    /// When tracking started.
    pub fn tracked_at(&self) -> Option<DateTime<Utc>> {
        self.tracked_at
    }

    /// The time of the latest event.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    fn decide(&self, command: HealthCommand) -> Result<Vec<HealthEvent>, HealthError> {
        use HealthCommand as C;
        use HealthEvent as E;

        let command_name = command.name();
        let Some(status) = self.status else {
            return match command {
                C::TrackHealth { target, startup_probe, at } => {
                    Ok(vec![E::HealthTracked { target, startup_probe, at }])
                }
                _ => Err(HealthError::NotFound { command: command_name }),
            };
        };
        if let C::TrackHealth { .. } = command {
            return Err(HealthError::AlreadyExists { status });
        }
        if let Some(last) = self.updated_at.filter(|last| command.at() < *last) {
            return Err(HealthError::OutOfOrder { command: command_name, at: command.at(), last });
        }

        match command {
            C::TrackHealth { .. } => Err(HealthError::AlreadyExists { status }),
            C::RecordProbeResult { probe, passed, latency_ms, detail, at } => {
                Ok(self.observe(probe, passed, Some(latency_ms), detail, at))
            }
            C::RecordDependencyHealth { dependency, healthy, detail, at } => {
                Ok(self.observe(Probe::Dependency(dependency), healthy, None, detail, at))
            }
            C::AcknowledgeIncident { incident, note, acknowledged_by, at } => {
                let Some(open) = &self.open_incident else {
                    return Err(HealthError::NoOpenIncident { status });
                };
                if open.number() != incident {
                    return Err(HealthError::IncidentNotOpen { requested: incident, open: open.number() });
                }
                if open.is_acknowledged() {
                    return Err(HealthError::AlreadyAcknowledged(incident));
                }
                Ok(vec![E::IncidentAcknowledged { number: incident, note, acknowledged_by, at }])
            }
        }
    }

    /// The events one sample records: the probe's flip (if any), then the status change it
    /// causes (if any), then the incident that change opens or closes (if any). A sample that
    /// repeats the probe's recorded pass/fail changes nothing and records nothing.
    fn observe(
        &self,
        probe: Probe,
        passed: bool,
        latency_ms: Option<u32>,
        detail: Option<Detail>,
        at: DateTime<Utc>,
    ) -> Vec<HealthEvent> {
        use HealthEvent as E;

        if self.probe(&probe).map(ProbeResult::passed) == Some(passed) {
            return Vec::new();
        }
        let current = self.status.unwrap_or(HealthStatus::Unknown);
        let mut after = self.probes.clone();
        after.insert(probe.clone(), ProbeResult::new(passed, latency_ms, detail.clone(), at));
        let derived = HealthStatus::derive(self.startup_probe, &after);

        let mut events = vec![E::ProbeResultChanged { probe, passed, latency_ms, detail, at }];
        if derived != current {
            events.push(E::HealthStatusChanged { from: current, to: derived, at });
            match &self.open_incident {
                None if derived.is_incident() => {
                    events.push(E::IncidentOpened { number: self.incidents.saturating_add(1), status: derived, at })
                }
                Some(open) if derived == HealthStatus::Healthy => {
                    events.push(E::IncidentClosed { number: open.number(), at });
                }
                _ => {}
            }
        }
        events
    }
}

impl Aggregate for RuntimeHealth {
    const TYPE: &'static str = "RuntimeHealth";
    type Command = HealthCommand;
    type Event = HealthEvent;
    type Error = HealthError;
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
        use HealthEvent as E;

        match event {
            E::HealthTracked { target, startup_probe, at } => {
                self.status = Some(HealthStatus::Unknown);
                self.target = Some(target);
                self.startup_probe = startup_probe;
                self.since = Some(at);
                self.tracked_at = Some(at);
                self.updated_at = Some(at);
            }
            E::ProbeResultChanged { probe, passed, latency_ms, detail, at } => {
                self.probes.insert(probe, ProbeResult::new(passed, latency_ms, detail, at));
                self.updated_at = Some(at);
            }
            E::HealthStatusChanged { from, to, at } => {
                self.previous_status = Some(from);
                self.status = Some(to);
                self.since = Some(at);
                self.updated_at = Some(at);
            }
            E::IncidentOpened { number, status, at } => {
                self.open_incident = Some(Incident::new(number, status, at));
                self.incidents = number;
                self.updated_at = Some(at);
            }
            E::IncidentAcknowledged { note, acknowledged_by, at, .. } => {
                if let Some(incident) = &mut self.open_incident {
                    incident.acknowledge(Acknowledgement::new(acknowledged_by, note, at));
                }
                self.updated_at = Some(at);
            }
            E::IncidentClosed { at, .. } => {
                self.open_incident = None;
                self.last_incident_closed_at = Some(at);
                self.updated_at = Some(at);
            }
        }
    }
}

/// Health of a tenant-specific target belongs to that tenant; platform-wide health (no
/// tenant) belongs to none.
impl crate::ownership::TenantOwned for RuntimeHealth {
    fn owner_tenant(&self) -> Option<&TenantId> {
        self.target.as_ref().and_then(HealthTarget::tenant)
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::health::runtime_health::values::DependencyName;
    use crate::health::values::{Operator, ValueError};
    use crate::ids::{EnvironmentId, ServiceId};
    use crate::ownership::TenantOwned;
    use crate::rejection::{Rejection, RejectionKind};

    type Test = TestFramework<RuntimeHealth>;

    fn test() -> Test {
        Test::with(())
    }

    fn t(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-01T10:{minute:02}:00Z")).unwrap().to_utc()
    }

    fn target(tenant: Option<&str>) -> HealthTarget {
        HealthTarget::new(
            ServiceId::parse("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a").unwrap(),
            EnvironmentId::parse("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b").unwrap(),
            tenant.map(|tenant| TenantId::parse(tenant).unwrap()),
        )
    }

    fn probe(text: &str) -> Probe {
        Probe::parse(text).unwrap()
    }

    fn detail(text: &str) -> Detail {
        Detail::parse(text).unwrap()
    }

    fn alice() -> Operator {
        Operator::parse("alice@example.com").unwrap()
    }

    fn tracked_with(startup_probe: bool) -> HealthEvent {
        HealthEvent::HealthTracked { target: target(Some("contoso")), startup_probe, at: t(0) }
    }

    fn tracked() -> HealthEvent {
        tracked_with(false)
    }

    fn sample(text: &str, passed: bool, minute: u32) -> HealthCommand {
        HealthCommand::RecordProbeResult { probe: probe(text), passed, latency_ms: 12, detail: None, at: t(minute) }
    }

    fn flipped(text: &str, passed: bool, minute: u32) -> HealthEvent {
        HealthEvent::ProbeResultChanged {
            probe: probe(text),
            passed,
            latency_ms: Some(12),
            detail: None,
            at: t(minute),
        }
    }

    fn changed(from: HealthStatus, to: HealthStatus, minute: u32) -> HealthEvent {
        HealthEvent::HealthStatusChanged { from, to, at: t(minute) }
    }

    fn opened(number: u32, status: HealthStatus, minute: u32) -> HealthEvent {
        HealthEvent::IncidentOpened { number, status, at: t(minute) }
    }

    fn acknowledged(number: u32, minute: u32) -> HealthEvent {
        HealthEvent::IncidentAcknowledged {
            number,
            note: Some(detail("looking into it")),
            acknowledged_by: alice(),
            at: t(minute),
        }
    }

    fn acknowledge(number: u32, minute: u32) -> HealthCommand {
        HealthCommand::AcknowledgeIncident {
            incident: number,
            note: Some(detail("looking into it")),
            acknowledged_by: alice(),
            at: t(minute),
        }
    }

    /// Tracked, liveness and readiness passing: `Healthy` since minute 2.
    fn healthy() -> Vec<HealthEvent> {
        use HealthStatus as S;
        vec![tracked(), flipped("liveness", true, 1), changed(S::Unknown, S::Healthy, 1), flipped("readiness", true, 2)]
    }

    /// [`healthy`], then readiness failed at minute 3: `Degraded`, incident 1 open.
    fn degraded() -> Vec<HealthEvent> {
        use HealthStatus as S;
        let mut events = healthy();
        events.extend([flipped("readiness", false, 3), changed(S::Healthy, S::Degraded, 3), opened(1, S::Degraded, 3)]);
        events
    }

    fn replay(events: Vec<HealthEvent>) -> RuntimeHealth {
        let mut health = RuntimeHealth::default();
        for event in events {
            health.apply(event);
        }
        health
    }

    // --- tracking ---

    #[test]
    fn tracking_health_starts_unknown() {
        test()
            .given_no_previous_events()
            .when(HealthCommand::TrackHealth { target: target(Some("contoso")), startup_probe: false, at: t(0) })
            .then_expect_events(vec![tracked()]);
        let health = replay(vec![tracked()]);
        assert_eq!(health.status(), Some(HealthStatus::Unknown));
        assert_eq!(health.since(), Some(t(0)));
        assert!(health.probes().is_empty());
    }

    #[test]
    fn tracked_health_cannot_be_tracked_again() {
        test()
            .given(healthy())
            .when(HealthCommand::TrackHealth { target: target(None), startup_probe: true, at: t(9) })
            .then_expect_error_message("cannot TrackHealth: health is already tracked (it is Healthy)");
    }

    #[test]
    fn commands_on_untracked_health_are_not_found() {
        let commands = [
            sample("liveness", true, 1),
            HealthCommand::RecordDependencyHealth {
                dependency: DependencyName::parse("db").unwrap(),
                healthy: true,
                detail: None,
                at: t(1),
            },
            acknowledge(1, 1),
        ];
        for command in commands {
            let name = command.name();
            let error = test().given_no_previous_events().when(command).inspect_result().unwrap_err();
            assert_eq!(error, HealthError::NotFound { command: name });
            assert_eq!(error.to_string(), format!("cannot {name}: health is not tracked"));
        }
    }

    // --- probe results ---

    #[test]
    fn a_first_passing_result_records_the_probe_and_the_change_to_healthy() {
        use HealthStatus as S;
        test()
            .given(vec![tracked()])
            .when(sample("liveness", true, 1))
            .then_expect_events(vec![flipped("liveness", true, 1), changed(S::Unknown, S::Healthy, 1)]);
    }

    #[test]
    fn a_repeated_identical_result_records_nothing() {
        test().given(healthy()).when(sample("readiness", true, 5)).then_expect_events(vec![]);
    }

    #[test]
    fn a_probe_flip_that_keeps_the_status_records_only_the_flip() {
        let mut given = healthy();
        given.pop();
        test().given(given).when(sample("readiness", true, 2)).then_expect_events(vec![flipped("readiness", true, 2)]);
    }

    #[test]
    fn failing_liveness_makes_the_service_unhealthy_and_opens_an_incident() {
        use HealthStatus as S;
        test().given(healthy()).when(sample("liveness", false, 3)).then_expect_events(vec![
            flipped("liveness", false, 3),
            changed(S::Healthy, S::Unhealthy, 3),
            opened(1, S::Unhealthy, 3),
        ]);
    }

    #[test]
    fn failing_readiness_degrades_the_service_and_opens_an_incident() {
        test().given(healthy()).when(sample("readiness", false, 3)).then_expect_events(degraded()[4..].to_vec());
        let health = replay(degraded());
        assert_eq!(health.status(), Some(HealthStatus::Degraded));
        assert_eq!(health.previous_status(), Some(HealthStatus::Healthy));
        assert_eq!(health.since(), Some(t(3)));
        let incident = health.open_incident().unwrap();
        assert_eq!(incident.number(), 1);
        assert_eq!(incident.opened_at(), t(3));
        assert_eq!(incident.opened_with(), HealthStatus::Degraded);
        assert!(!incident.is_acknowledged());
    }

    #[test]
    fn worsening_during_an_open_incident_opens_no_second_one() {
        use HealthStatus as S;
        test()
            .given(degraded())
            .when(sample("liveness", false, 4))
            .then_expect_events(vec![flipped("liveness", false, 4), changed(S::Degraded, S::Unhealthy, 4)]);
    }

    #[test]
    fn returning_to_healthy_closes_the_open_incident() {
        use HealthStatus as S;
        test().given(degraded()).when(sample("readiness", true, 5)).then_expect_events(vec![
            flipped("readiness", true, 5),
            changed(S::Degraded, S::Healthy, 5),
            HealthEvent::IncidentClosed { number: 1, at: t(5) },
        ]);
    }

    #[test]
    fn the_next_incident_gets_the_next_number() {
        use HealthStatus as S;
        let mut given = degraded();
        given.extend([
            flipped("readiness", true, 5),
            changed(S::Degraded, S::Healthy, 5),
            HealthEvent::IncidentClosed { number: 1, at: t(5) },
        ]);
        let closed = replay(given.clone());
        assert_eq!(closed.open_incident(), None);
        assert_eq!(closed.last_incident_closed_at(), Some(t(5)));
        test().given(given).when(sample("liveness", false, 6)).then_expect_events(vec![
            flipped("liveness", false, 6),
            changed(S::Healthy, S::Unhealthy, 6),
            opened(2, S::Unhealthy, 6),
        ]);
    }

    #[test]
    fn an_incident_stays_open_while_the_service_restarts() {
        use HealthStatus as S;
        let given = vec![
            tracked_with(true),
            flipped("startup", true, 1),
            changed(S::Unknown, S::Healthy, 1),
            flipped("liveness", false, 2),
            changed(S::Healthy, S::Unhealthy, 2),
            opened(1, S::Unhealthy, 2),
        ];
        // The container restarts: liveness recovers but startup has to pass again.
        let mut restarting = given.clone();
        restarting.extend([
            flipped("startup", false, 3),
            flipped("liveness", true, 4),
            changed(S::Unhealthy, S::Progressing, 4),
        ]);
        assert!(replay(restarting.clone()).open_incident().is_some());
        test().given(restarting).when(sample("startup", true, 5)).then_expect_events(vec![
            flipped("startup", true, 5),
            changed(S::Progressing, S::Healthy, 5),
            HealthEvent::IncidentClosed { number: 1, at: t(5) },
        ]);
    }

    #[test]
    fn a_declared_startup_probe_keeps_a_starting_service_progressing() {
        use HealthStatus as S;
        test()
            .given(vec![tracked_with(true)])
            .when(sample("readiness", false, 1))
            .then_expect_events(vec![flipped("readiness", false, 1), changed(S::Unknown, S::Progressing, 1)]);
    }

    #[test]
    fn results_older_than_the_last_change_are_refused() {
        let error = test().given(degraded()).when(sample("readiness", true, 2)).inspect_result().unwrap_err();
        assert_eq!(error, HealthError::OutOfOrder { command: "RecordProbeResult", at: t(2), last: t(3) });
        assert_eq!(error.kind(), RejectionKind::InvalidInput);
    }

    // --- dependencies ---

    #[test]
    fn an_unhealthy_dependency_degrades_the_service() {
        use HealthStatus as S;
        test()
            .given(healthy())
            .when(HealthCommand::RecordDependencyHealth {
                dependency: DependencyName::parse("sql-primary").unwrap(),
                healthy: false,
                detail: Some(detail("connection refused")),
                at: t(3),
            })
            .then_expect_events(vec![
                HealthEvent::ProbeResultChanged {
                    probe: probe("dependency:sql-primary"),
                    passed: false,
                    latency_ms: None,
                    detail: Some(detail("connection refused")),
                    at: t(3),
                },
                changed(S::Healthy, S::Degraded, 3),
                opened(1, S::Degraded, 3),
            ]);
    }

    #[test]
    fn repeated_dependency_health_records_nothing() {
        let mut given = healthy();
        given.push(flipped("dependency:sql-primary", true, 3));
        test()
            .given(given)
            .when(HealthCommand::RecordDependencyHealth {
                dependency: DependencyName::parse("sql-primary").unwrap(),
                healthy: true,
                detail: Some(detail("still fine")),
                at: t(4),
            })
            .then_expect_events(vec![]);
    }

    // --- incidents ---

    #[test]
    fn the_open_incident_can_be_acknowledged() {
        test().given(degraded()).when(acknowledge(1, 4)).then_expect_events(vec![acknowledged(1, 4)]);
        let mut given = degraded();
        given.push(acknowledged(1, 4));
        let incident = replay(given).open_incident().cloned().unwrap();
        assert!(incident.is_acknowledged());
        let acknowledgement = incident.acknowledgement().unwrap();
        assert_eq!(acknowledgement.by(), &alice());
        assert_eq!(acknowledgement.note(), Some(&detail("looking into it")));
        assert_eq!(acknowledgement.at(), t(4));
    }

    #[test]
    fn acknowledging_without_an_open_incident_is_refused() {
        test()
            .given(healthy())
            .when(acknowledge(1, 4))
            .then_expect_error_message("cannot AcknowledgeIncident: health is Healthy with no open incident");
    }

    #[test]
    fn acknowledging_an_incident_that_is_not_the_open_one_is_refused() {
        test()
            .given(degraded())
            .when(acknowledge(2, 4))
            .then_expect_error_message("cannot AcknowledgeIncident: incident 2 is not open (incident 1 is)");
    }

    #[test]
    fn an_incident_is_acknowledged_once() {
        let mut given = degraded();
        given.push(acknowledged(1, 4));
        test()
            .given(given)
            .when(acknowledge(1, 5))
            .then_expect_error_message("cannot AcknowledgeIncident: incident 1 is already acknowledged");
    }

    // --- state ---

    #[test]
    fn state_is_rebuilt_from_the_event_history() {
        let health = replay(degraded());
        assert_eq!(health.target(), Some(&target(Some("contoso"))));
        assert!(!health.startup_probe_declared());
        assert_eq!(health.probes().len(), 2);
        let readiness = health.probe(&probe("readiness")).unwrap();
        assert!(!readiness.passed());
        assert_eq!(readiness.latency_ms(), Some(12));
        assert_eq!(readiness.changed_at(), t(3));
        assert_eq!(health.incident_count(), 1);
        assert_eq!(health.tracked_at(), Some(t(0)));
        assert_eq!(health.updated_at(), Some(t(3)));
        let snapshot = serde_json::to_value(&health).unwrap();
        assert_eq!(serde_json::from_value::<RuntimeHealth>(snapshot).unwrap(), health);
    }

    #[test]
    fn health_belongs_to_its_target_tenant() {
        let tenant = replay(vec![tracked()]);
        assert_eq!(tenant.owner_tenant().map(TenantId::as_str), Some("contoso"));
        let shared = replay(vec![HealthEvent::HealthTracked { target: target(None), startup_probe: false, at: t(0) }]);
        assert_eq!(shared.owner_tenant(), None);
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use HealthError as Err;
        let cases = [
            (Err::NotFound { command: "AcknowledgeIncident" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status: HealthStatus::Unknown }, RejectionKind::AlreadyExists),
            (Err::NoOpenIncident { status: HealthStatus::Healthy }, RejectionKind::InvalidTransition),
            (Err::IncidentNotOpen { requested: 1, open: 2 }, RejectionKind::InvalidTransition),
            (Err::AlreadyAcknowledged(1), RejectionKind::InvalidTransition),
            (Err::OutOfOrder { command: "RecordProbeResult", at: t(1), last: t(2) }, RejectionKind::InvalidInput),
            (Err::InvalidValue(ValueError::InvalidDetail), RejectionKind::InvalidInput),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
