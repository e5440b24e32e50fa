//! The `DriftFinding` aggregate: decides which lifecycle commands a finding accepts and folds
//! its events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. The
//! one cross-aggregate rule (one open finding per target and class) is a claim the event store
//! enforces, so the aggregate needs no services (`()`).

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::DriftCommand;
use super::error::DriftError;
use super::events::DriftEvent;
use super::values::{DriftClass, DriftClosure, DriftStatus, DriftTarget, DriftValues, RemediationAction};
use crate::envelope::TenantId;

/// A divergence between desired and observed state, rebuilt from its events. The default value
/// is a finding that does not exist yet (`status()` is `None`).
///
/// Lifecycle: `Detected -> Remediating -> Remediated`, `Detected -> Accepted`, and
/// `Detected|Remediating -> Resolved` (the observed state can come back while a remediation
/// is under way, e.g. a restart fixed it first; without that edge such a finding would stay
/// open forever). Closed findings accept no command; a recurrence is a new finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftFinding {
    status: Option<DriftStatus>,
    target: Option<DriftTarget>,
    class: Option<DriftClass>,
    values: Option<DriftValues>,
    detected_at: Option<DateTime<Utc>>,
    remediation: Option<RemediationAction>,
    remediation_started_at: Option<DateTime<Utc>>,
    closure: Option<DriftClosure>,
    updated_at: Option<DateTime<Utc>>,
}

impl DriftFinding {
    /// Where the finding is in its lifecycle; `None` if it was never detected.
    pub fn status(&self) -> Option<DriftStatus> {
        self.status
    }

    /// Whether the finding is open (`Detected` or `Remediating`).
    pub fn is_open(&self) -> bool {
        self.status.is_some_and(|status| status.is_open())
    }

    /// Where the drift is.
    pub fn target(&self) -> Option<&DriftTarget> {
        self.target.as_ref()
    }

    /// What kind of drift it is.
    pub fn class(&self) -> Option<DriftClass> {
        self.class
    }

    /// What should run and what was seen running, as detected.
    pub fn values(&self) -> Option<&DriftValues> {
        self.values.as_ref()
    }

    /// When it was detected.
    pub fn detected_at(&self) -> Option<DateTime<Utc>> {
        self.detected_at
    }

    /// How long the finding has been (or was) open as of `now`: from detection to `now`, or
    /// to its closure if it closed before `now`; never negative. Pure: `now` is passed in.
    /// `None` for a finding that does not exist.
    pub fn age_at(&self, now: DateTime<Utc>) -> Option<Duration> {
        let detected_at = self.detected_at?;
        let until = self.closed_at().map_or(now, |closed_at| closed_at.min(now));
        Some((until - detected_at).max(Duration::zero()))
    }

    /// The command the remediation issues, once started.
    pub fn remediation(&self) -> Option<&RemediationAction> {
        self.remediation.as_ref()
    }

    /// When the remediation started.
    pub fn remediation_started_at(&self) -> Option<DateTime<Utc>> {
        self.remediation_started_at
    }

    /// How the finding closed: remediated (with evidence), accepted (with reason and who), or
    /// resolved by itself.
    pub fn closure(&self) -> Option<&DriftClosure> {
        self.closure.as_ref()
    }

    /// When the finding closed.
    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.closure.as_ref().map(DriftClosure::at)
    }

    /// The time of its latest event.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    fn decide(&self, command: DriftCommand) -> Result<Vec<DriftEvent>, DriftError> {
        use DriftCommand as C;
        use DriftEvent as E;
        use DriftStatus as S;

        let command_name = command.name();
        let Some(status) = self.status else {
            return match command {
                C::DetectDrift { target, class, values, at } => {
                    if !values.fit(class) {
                        return Err(DriftError::ValuesDoNotFitClass { class });
                    }
                    Ok(vec![E::RuntimeDriftDetected { target, class, values, at }])
                }
                _ => Err(DriftError::NotFound { command: command_name }),
            };
        };
        if let C::DetectDrift { .. } = command {
            return Err(DriftError::AlreadyExists { status });
        }
        let refused = || DriftError::InvalidTransition { command: command_name, status };
        if !status.is_open() {
            return Err(refused());
        }
        // Both are set by `RuntimeDriftDetected`, so an existing finding always has them.
        let (Some(target), Some(class)) = (self.target.clone(), self.class) else {
            return Err(refused());
        };
        if let Some(last) = self.updated_at.filter(|last| command.at() < *last) {
            return Err(DriftError::OutOfOrder { command: command_name, at: command.at(), last });
        }

        match command {
            C::DetectDrift { .. } => Err(DriftError::AlreadyExists { status }),
            C::StartRemediation { action, at } => match status {
                S::Detected if !action.aggregate_type().owns_desired_state() => {
                    Err(DriftError::RemediationOutOfBand(action.aggregate_type()))
                }
                S::Detected => Ok(vec![E::DriftRemediationStarted { action, at }]),
                _ => Err(refused()),
            },
            C::RecordRemediated { evidence, at } => match status {
                S::Remediating => Ok(vec![E::DriftRemediated { target, class, evidence, at }]),
                _ => Err(refused()),
            },
            C::AcceptDrift { reason, accepted_by, at } => match status {
                // Accepting while a remediation runs would leave its command unaccounted for.
                S::Detected => Ok(vec![E::DriftAccepted { target, class, reason, accepted_by, at }]),
                _ => Err(refused()),
            },
            C::ResolveDrift { at } => Ok(vec![E::DriftResolved { target, class, at }]),
        }
    }
}

impl Aggregate for DriftFinding {
    const TYPE: &'static str = "DriftFinding";
    type Command = DriftCommand;
    type Event = DriftEvent;
    type Error = DriftError;
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
        use DriftEvent as E;
        use DriftStatus as S;

        match event {
            E::RuntimeDriftDetected { target, class, values, at } => {
                self.status = Some(S::Detected);
                self.target = Some(target);
                self.class = Some(class);
                self.values = Some(values);
                self.detected_at = Some(at);
                self.updated_at = Some(at);
            }
            E::DriftRemediationStarted { action, at } => {
                self.status = Some(S::Remediating);
                self.remediation = Some(action);
                self.remediation_started_at = Some(at);
                self.updated_at = Some(at);
            }
            E::DriftRemediated { evidence, at, .. } => {
                self.status = Some(S::Remediated);
                self.closure = Some(DriftClosure::Remediated { evidence, at });
                self.updated_at = Some(at);
            }
            E::DriftAccepted { reason, accepted_by, at, .. } => {
                self.status = Some(S::Accepted);
                self.closure = Some(DriftClosure::Accepted { reason, accepted_by, at });
                self.updated_at = Some(at);
            }
            E::DriftResolved { at, .. } => {
                self.status = Some(S::Resolved);
                self.closure = Some(DriftClosure::Resolved { at });
                self.updated_at = Some(at);
            }
        }
    }
}

/// A tenant-specific finding belongs to that tenant; platform-wide drift belongs to none.
impl crate::ownership::TenantOwned for DriftFinding {
    fn owner_tenant(&self) -> Option<&TenantId> {
        self.target.as_ref().and_then(DriftTarget::tenant)
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::environments::Reason;
    use crate::health::drift::values::{EvidenceId, ResourceRef};
    use crate::health::values::{Operator, ValueError};
    use crate::ids::{EnvironmentId, ServiceId};
    use crate::ownership::TenantOwned;
    use crate::rejection::{Rejection, RejectionKind};

    type Test = TestFramework<DriftFinding>;

    const ENVIRONMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";
    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";
    const DEPLOYMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1c";
    const EVIDENCE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1d";

    fn test() -> Test {
        Test::with(())
    }

    fn t(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-01T10:{minute:02}:00Z")).unwrap().to_utc()
    }

    fn target() -> DriftTarget {
        DriftTarget::new(
            EnvironmentId::parse(ENVIRONMENT).unwrap(),
            Some(ServiceId::parse(SERVICE).unwrap()),
            None,
            Some(TenantId::parse("contoso").unwrap()),
        )
        .unwrap()
    }

    fn values() -> DriftValues {
        DriftValues::parse(Some("image sha256:new"), Some("image sha256:old")).unwrap()
    }

    fn action(aggregate_type: &str) -> RemediationAction {
        RemediationAction::parse(aggregate_type, DEPLOYMENT, "StartDeployment").unwrap()
    }

    fn evidence() -> EvidenceId {
        EvidenceId::parse(EVIDENCE).unwrap()
    }

    fn reason() -> Reason {
        Reason::parse("hotfix under test").unwrap()
    }

    fn alice() -> Operator {
        Operator::parse("alice@example.com").unwrap()
    }

    fn detect(class: DriftClass, values: DriftValues) -> DriftCommand {
        DriftCommand::DetectDrift { target: target(), class, values, at: t(0) }
    }

    fn detected() -> DriftEvent {
        DriftEvent::RuntimeDriftDetected { target: target(), class: DriftClass::Version, values: values(), at: t(0) }
    }

    fn remediation_started() -> DriftEvent {
        DriftEvent::DriftRemediationStarted { action: action("RuntimeDeployment"), at: t(1) }
    }

    fn remediated() -> DriftEvent {
        DriftEvent::DriftRemediated { target: target(), class: DriftClass::Version, evidence: evidence(), at: t(2) }
    }

    fn accepted() -> DriftEvent {
        DriftEvent::DriftAccepted {
            target: target(),
            class: DriftClass::Version,
            reason: reason(),
            accepted_by: alice(),
            at: t(2),
        }
    }

    fn resolved() -> DriftEvent {
        DriftEvent::DriftResolved { target: target(), class: DriftClass::Version, at: t(2) }
    }

    /// Histories that end in each status, for rules that hold across several of them.
    fn history(status: DriftStatus) -> Vec<DriftEvent> {
        use DriftStatus as S;
        match status {
            S::Detected => vec![detected()],
            S::Remediating => vec![detected(), remediation_started()],
            S::Remediated => vec![detected(), remediation_started(), remediated()],
            S::Accepted => vec![detected(), accepted()],
            S::Resolved => vec![detected(), resolved()],
        }
    }

    fn replay(events: Vec<DriftEvent>) -> DriftFinding {
        let mut finding = DriftFinding::default();
        for event in events {
            finding.apply(event);
        }
        finding
    }

    fn every_command() -> Vec<DriftCommand> {
        use DriftCommand as C;
        vec![
            detect(DriftClass::Version, values()),
            C::StartRemediation { action: action("RuntimeDeployment"), at: t(9) },
            C::RecordRemediated { evidence: evidence(), at: t(9) },
            C::AcceptDrift { reason: reason(), accepted_by: alice(), at: t(9) },
            C::ResolveDrift { at: t(9) },
        ]
    }

    // --- detection ---

    #[test]
    fn detecting_drift_records_target_class_and_values() {
        test()
            .given_no_previous_events()
            .when(detect(DriftClass::Version, values()))
            .then_expect_events(vec![detected()]);
        let finding = replay(vec![detected()]);
        assert_eq!(finding.status(), Some(DriftStatus::Detected));
        assert!(finding.is_open());
    }

    #[test]
    fn missing_drift_observes_nothing_and_unmanaged_drift_desires_nothing() {
        let desired_only = DriftValues::parse(Some("replicas=2"), None).unwrap();
        let observed_only = DriftValues::parse(None, Some("orders-old")).unwrap();
        test().given_no_previous_events().when(detect(DriftClass::Missing, desired_only.clone())).then_expect_events(
            vec![DriftEvent::RuntimeDriftDetected {
                target: target(),
                class: DriftClass::Missing,
                values: desired_only,
                at: t(0),
            }],
        );
        test()
            .given_no_previous_events()
            .when(detect(DriftClass::Unmanaged, observed_only.clone()))
            .then_expect_events(vec![DriftEvent::RuntimeDriftDetected {
                target: target(),
                class: DriftClass::Unmanaged,
                values: observed_only,
                at: t(0),
            }]);
    }

    #[test]
    fn drift_values_must_fit_the_class() {
        let cases = [
            (DriftClass::Missing, values(), "a desired state and no observed state"),
            (DriftClass::Unmanaged, values(), "an observed state and no desired state"),
            (DriftClass::Scale, DriftValues::parse(Some("3"), None).unwrap(), "both a desired and an observed state"),
        ];
        for (class, values, needs) in cases {
            test()
                .given_no_previous_events()
                .when(detect(class, values))
                .then_expect_error_message(&format!("values do not fit a {class} finding: it needs {needs}"));
        }
    }

    #[test]
    fn an_existing_finding_cannot_be_detected_again() {
        test()
            .given(history(DriftStatus::Resolved))
            .when(detect(DriftClass::Version, values()))
            .then_expect_error_message("cannot DetectDrift: drift finding already exists (it is Resolved)");
    }

    #[test]
    fn commands_on_a_nonexistent_finding_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            let error = test().given_no_previous_events().when(command).inspect_result().unwrap_err();
            assert_eq!(error, DriftError::NotFound { command: name });
            assert_eq!(error.to_string(), format!("cannot {name}: drift finding does not exist"));
        }
    }

    // --- remediation ---

    #[test]
    fn remediation_starts_with_a_command_on_the_owning_aggregate() {
        test()
            .given(history(DriftStatus::Detected))
            .when(DriftCommand::StartRemediation { action: action("RuntimeDeployment"), at: t(1) })
            .then_expect_events(vec![remediation_started()]);
        let finding = replay(history(DriftStatus::Remediating));
        assert_eq!(finding.remediation(), Some(&action("RuntimeDeployment")));
        assert_eq!(finding.remediation_started_at(), Some(t(1)));
        assert!(finding.is_open());
    }

    #[test]
    fn remediation_never_acts_through_health_or_drift() {
        for aggregate_type in ["RuntimeHealth", "DriftFinding"] {
            test()
                .given(history(DriftStatus::Detected))
                .when(DriftCommand::StartRemediation {
                    action: action(aggregate_type),
                    at: t(1),
                })
                .then_expect_error_message(&format!(
                    "remediation must act through a command on an aggregate that owns desired state, not {aggregate_type}"
                ));
        }
    }

    #[test]
    fn a_remediation_is_started_once() {
        test()
            .given(history(DriftStatus::Remediating))
            .when(DriftCommand::StartRemediation { action: action("RuntimeDeployment"), at: t(2) })
            .then_expect_error_message("cannot StartRemediation: drift finding is Remediating");
    }

    #[test]
    fn a_started_remediation_can_be_recorded_as_the_fix() {
        test()
            .given(history(DriftStatus::Remediating))
            .when(DriftCommand::RecordRemediated { evidence: evidence(), at: t(2) })
            .then_expect_events(vec![remediated()]);
    }

    #[test]
    fn only_a_started_remediation_can_be_recorded() {
        test()
            .given(history(DriftStatus::Detected))
            .when(DriftCommand::RecordRemediated { evidence: evidence(), at: t(2) })
            .then_expect_error_message("cannot RecordRemediated: drift finding is Detected");
    }

    // --- acceptance ---

    #[test]
    fn a_detected_finding_can_be_accepted_with_a_reason() {
        test()
            .given(history(DriftStatus::Detected))
            .when(DriftCommand::AcceptDrift { reason: reason(), accepted_by: alice(), at: t(2) })
            .then_expect_events(vec![accepted()]);
    }

    #[test]
    fn a_finding_under_remediation_cannot_be_accepted() {
        test()
            .given(history(DriftStatus::Remediating))
            .when(DriftCommand::AcceptDrift { reason: reason(), accepted_by: alice(), at: t(2) })
            .then_expect_error_message("cannot AcceptDrift: drift finding is Remediating");
    }

    // --- resolution ---

    #[test]
    fn an_open_finding_resolves_when_observed_state_comes_back() {
        for status in [DriftStatus::Detected, DriftStatus::Remediating] {
            test()
                .given(history(status))
                .when(DriftCommand::ResolveDrift { at: t(2) })
                .then_expect_events(vec![resolved()]);
        }
    }

    #[test]
    fn a_closed_finding_accepts_no_command() {
        use DriftStatus as S;
        for status in [S::Remediated, S::Accepted, S::Resolved] {
            for command in every_command().into_iter().skip(1) {
                let name = command.name();
                test()
                    .given(history(status))
                    .when(command)
                    .then_expect_error_message(&format!("cannot {name}: drift finding is {status}"));
            }
        }
    }

    #[test]
    fn commands_older_than_the_last_change_are_refused() {
        let error = test()
            .given(history(DriftStatus::Remediating))
            .when(DriftCommand::ResolveDrift { at: t(0) })
            .inspect_result()
            .unwrap_err();
        assert_eq!(error, DriftError::OutOfOrder { command: "ResolveDrift", at: t(0), last: t(1) });
    }

    // --- state ---

    #[test]
    fn the_closure_records_how_the_finding_ended() {
        assert_eq!(
            replay(history(DriftStatus::Remediated)).closure(),
            Some(&DriftClosure::Remediated { evidence: evidence(), at: t(2) })
        );
        assert_eq!(
            replay(history(DriftStatus::Accepted)).closure(),
            Some(&DriftClosure::Accepted { reason: reason(), accepted_by: alice(), at: t(2) })
        );
        let resolved = replay(history(DriftStatus::Resolved));
        assert_eq!(resolved.closure(), Some(&DriftClosure::Resolved { at: t(2) }));
        assert_eq!(resolved.closed_at(), Some(t(2)));
        assert!(!resolved.is_open());
    }

    #[test]
    fn age_runs_from_detection_until_now_or_closure() {
        assert_eq!(DriftFinding::default().age_at(t(5)), None);
        let open = replay(history(DriftStatus::Detected));
        assert_eq!(open.age_at(t(5)), Some(Duration::minutes(5)));
        assert_eq!(open.age_at(t(0) - Duration::minutes(1)), Some(Duration::zero()));
        let closed = replay(history(DriftStatus::Resolved));
        assert_eq!(closed.age_at(t(30)), Some(Duration::minutes(2)));
        assert_eq!(closed.age_at(t(1)), Some(Duration::minutes(1)));
    }

    #[test]
    fn state_is_rebuilt_from_the_event_history() {
        let finding = replay(history(DriftStatus::Remediated));
        assert_eq!(finding.status(), Some(DriftStatus::Remediated));
        assert_eq!(finding.target(), Some(&target()));
        assert_eq!(finding.class(), Some(DriftClass::Version));
        assert_eq!(finding.values(), Some(&values()));
        assert_eq!(finding.detected_at(), Some(t(0)));
        assert_eq!(finding.remediation(), Some(&action("RuntimeDeployment")));
        assert_eq!(finding.updated_at(), Some(t(2)));
        let snapshot = serde_json::to_value(&finding).unwrap();
        assert_eq!(serde_json::from_value::<DriftFinding>(snapshot).unwrap(), finding);
    }

    #[test]
    fn a_finding_belongs_to_its_target_tenant() {
        assert_eq!(replay(vec![detected()]).owner_tenant().map(TenantId::as_str), Some("contoso"));
        let unmanaged = DriftTarget::new(
            EnvironmentId::parse(ENVIRONMENT).unwrap(),
            None,
            Some(ResourceRef::parse("cae/orders-old").unwrap()),
            None,
        )
        .unwrap();
        let finding = replay(vec![DriftEvent::RuntimeDriftDetected {
            target: unmanaged,
            class: DriftClass::Unmanaged,
            values: DriftValues::parse(None, Some("running")).unwrap(),
            at: t(0),
        }]);
        assert_eq!(finding.owner_tenant(), None);
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use crate::health::drift::values::AggregateType;
        use DriftError as Err;
        let status = DriftStatus::Detected;
        let cases = [
            (Err::NotFound { command: "ResolveDrift" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status }, RejectionKind::AlreadyExists),
            (Err::InvalidTransition { command: "AcceptDrift", status }, RejectionKind::InvalidTransition),
            (Err::ValuesDoNotFitClass { class: DriftClass::Missing }, RejectionKind::InvalidInput),
            (Err::OutOfOrder { command: "ResolveDrift", at: t(0), last: t(1) }, RejectionKind::InvalidInput),
            (Err::InvalidValue(ValueError::EmptyDriftValues), RejectionKind::InvalidInput),
            (Err::RemediationOutOfBand(AggregateType::RuntimeHealth), RejectionKind::InvariantViolated),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
