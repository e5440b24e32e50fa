//! The `ScalingPolicy` aggregate: decides which commands a service's scaling policy accepts
//! and folds its events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. The
//! one cross-aggregate fact (the tenant's replica quota in the environment) comes from
//! [`ScalingServices`].

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::ScalingPolicyCommand;
use super::error::ScalingPolicyError;
use super::events::ScalingPolicyEvent;
use super::services::ScalingServices;
use super::values::{PolicySpec, ScalingDecision, ScalingPolicyStatus};
use crate::envelope::TenantId;
use crate::environments::{EnvironmentId, Reason};
use crate::ids::ServiceId;

/// How one service scales in one environment (optionally for one tenant), rebuilt from its
/// events. The default value is a policy that does not exist yet (`status()` is `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalingPolicy {
    status: Option<ScalingPolicyStatus>,
    service: Option<ServiceId>,
    environment: Option<EnvironmentId>,
    tenant: Option<TenantId>,
    spec: Option<PolicySpec>,
    version: u32,
    last_reason: Option<Reason>,
    last_decision: Option<ScalingDecision>,
    decision_count: u64,
    defined_at: Option<DateTime<Utc>>,
    activated_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl ScalingPolicy {
    /// Where the policy is in its lifecycle; `None` if it was never defined.
    pub fn status(&self) -> Option<ScalingPolicyStatus> {
        self.status
    }

    /// The service scaled.
    pub fn service(&self) -> Option<&ServiceId> {
        self.service.as_ref()
    }

    /// The environment the service runs in.
    pub fn environment(&self) -> Option<&EnvironmentId> {
        self.environment.as_ref()
    }

    /// The tenant the policy is for; `None` for a platform-wide policy (or no policy).
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }

    /// The specification of the current version.
    pub fn spec(&self) -> Option<&PolicySpec> {
        self.spec.as_ref()
    }

    /// The current version: 1 after `DefinePolicy`, one more per effective update; 0 when the
    /// policy does not exist.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Why the policy is suspended, while it is.
    pub fn last_reason(&self) -> Option<&Reason> {
        self.last_reason.as_ref()
    }

    /// The latest recorded scaling decision.
    pub fn last_decision(&self) -> Option<&ScalingDecision> {
        self.last_decision.as_ref()
    }

    /// How many scaling decisions have been recorded.
    pub fn decision_count(&self) -> u64 {
        self.decision_count
    }

    /// When it was defined.
    pub fn defined_at(&self) -> Option<DateTime<Utc>> {
        self.defined_at
    }

    /// When it was last activated.
    pub fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.activated_at
    }

    /// The time of its latest event.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    async fn decide(
        &self,
        command: ScalingPolicyCommand,
        services: &ScalingServices,
    ) -> Result<Vec<ScalingPolicyEvent>, ScalingPolicyError> {
        use ScalingPolicyCommand as C;
        use ScalingPolicyEvent as E;
        use ScalingPolicyStatus as S;

        let command_name = command.name();
        let Some(status) = self.status else {
            return match command {
                C::DefinePolicy { service, environment, tenant, spec, at } => {
                    check_tenant_quota(services, tenant.as_ref(), environment, &spec).await?;
                    Ok(vec![E::PolicyDefined { service, environment, tenant, spec, version: 1, at }])
                }
                _ => Err(ScalingPolicyError::NotFound { command: command_name }),
            };
        };
        let refused = ScalingPolicyError::InvalidTransition { command: command_name, status };
        let (Some(environment), Some(current)) = (self.environment, self.spec.as_ref()) else {
            return Err(refused);
        };

        match command {
            C::DefinePolicy { .. } => Err(ScalingPolicyError::AlreadyExists { status }),
            // Like a Kubernetes spec update, re-submitting the spec in force changes nothing and
            // records no new version, so a retried command is harmless.
            C::UpdatePolicy { spec, .. } if &spec == current => Ok(vec![]),
            C::UpdatePolicy { spec, at } => {
                check_tenant_quota(services, self.tenant.as_ref(), environment, &spec).await?;
                Ok(vec![E::PolicyUpdated { spec, version: self.version.saturating_add(1), at }])
            }
            C::Activate { at } => match status {
                S::Draft | S::Suspended => {
                    // The quota may have been lowered since the spec was written; an active
                    // policy must be within the quota in force.
                    check_tenant_quota(services, self.tenant.as_ref(), environment, current).await?;
                    Ok(vec![E::PolicyActivated { version: self.version, at }])
                }
                S::Active => Err(refused),
            },
            C::Suspend { reason, at } => match status {
                S::Active => Ok(vec![E::PolicySuspended { reason, at }]),
                S::Draft | S::Suspended => Err(refused),
            },
            C::RecordScalingDecision { from_replicas, to_replicas, signal, reason, at } => {
                if status != S::Active {
                    return Err(refused);
                }
                if !current.watches(signal.trigger()) {
                    return Err(ScalingPolicyError::SignalNotWatched(signal.trigger()));
                }
                let range = current.replicas();
                if !range.contains(to_replicas) {
                    return Err(ScalingPolicyError::OutsideReplicaRange { to_replicas, range });
                }
                if from_replicas == to_replicas {
                    return Err(ScalingPolicyError::NoReplicaChange(to_replicas));
                }
                Ok(vec![E::ScalingDecisionRecorded {
                    from_replicas,
                    to_replicas,
                    signal,
                    reason,
                    policy_version: self.version,
                    at,
                }])
            }
        }
    }
}

/// "max within the tenant quota": a tenant's policy may allow at most the replicas the
/// tenant's binding to the environment allows. A platform-wide policy (no tenant) has no quota
/// to respect and asks nothing. A failed lookup is reported, not read as "no quota".
async fn check_tenant_quota(
    services: &ScalingServices,
    tenant: Option<&TenantId>,
    environment: EnvironmentId,
    spec: &PolicySpec,
) -> Result<(), ScalingPolicyError> {
    let Some(tenant) = tenant else {
        return Ok(());
    };
    let quota = services
        .tenant_replica_quota(tenant, &environment)
        .await
        .map_err(ScalingPolicyError::LookupFailed)?
        .ok_or_else(|| ScalingPolicyError::TenantNotBound { tenant: tenant.clone(), environment })?;
    let max = spec.replicas().max();
    if max > quota {
        return Err(ScalingPolicyError::ExceedsTenantQuota { max, quota, tenant: tenant.clone() });
    }
    Ok(())
}

impl Aggregate for ScalingPolicy {
    const TYPE: &'static str = "ScalingPolicy";
    type Command = ScalingPolicyCommand;
    type Event = ScalingPolicyEvent;
    type Error = ScalingPolicyError;
    type Services = ScalingServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let events = self.decide(command, services).await?;
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use ScalingPolicyEvent as E;
        use ScalingPolicyStatus as S;

        match event {
            E::PolicyDefined { service, environment, tenant, spec, version, at } => {
                self.status = Some(S::Draft);
                self.service = Some(service);
                self.environment = Some(environment);
                self.tenant = tenant;
                self.spec = Some(spec);
                self.version = version;
                self.defined_at = Some(at);
                self.updated_at = Some(at);
            }
            E::PolicyUpdated { spec, version, at } => {
                self.spec = Some(spec);
                self.version = version;
                self.updated_at = Some(at);
            }
            E::PolicyActivated { at, .. } => {
                self.status = Some(S::Active);
                self.last_reason = None;
                self.activated_at = Some(at);
                self.updated_at = Some(at);
            }
            E::PolicySuspended { reason, at } => {
                self.status = Some(S::Suspended);
                self.last_reason = Some(reason);
                self.updated_at = Some(at);
            }
            E::ScalingDecisionRecorded { from_replicas, to_replicas, signal, reason, policy_version, at } => {
                self.last_decision =
                    Some(ScalingDecision::new(from_replicas, to_replicas, signal, reason, policy_version, at));
                self.decision_count = self.decision_count.saturating_add(1);
                self.updated_at = Some(at);
            }
        }
    }
}

/// A tenant's policy belongs to its tenant; a platform-wide policy to no tenant.
impl crate::ownership::TenantOwned for ScalingPolicy {
    fn owner_tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::ownership::TenantOwned;
    use crate::rejection::{Rejection, RejectionKind};
    use crate::scaling::services::{FixedScalingLookup, ScalingLookup};
    use crate::scaling::triggers::{QueueName, TargetCount, TargetPercent, Trigger, TriggerKind};
    use crate::scaling::values::{ReplicaRange, ScalingSignal, SloTargets, ValueError, WindowSeconds};

    type Test = TestFramework<ScalingPolicy>;

    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";
    const ENV: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";

    /// A lookup that cannot answer, to prove a failure is reported and not read as "absent",
    /// and that platform-wide policies never ask.
    struct BrokenLookup;

    #[async_trait]
    impl ScalingLookup for BrokenLookup {
        async fn tenant_replica_quota(
            &self,
            _tenant: &TenantId,
            _environment: &EnvironmentId,
        ) -> Result<Option<u32>, String> {
            Err("read model unavailable".to_owned())
        }
    }

    fn with_quota(quota: Option<u32>) -> Test {
        Test::with(ScalingServices::new(Arc::new(FixedScalingLookup(quota))))
    }

    fn broken() -> Test {
        Test::with(ScalingServices::new(Arc::new(BrokenLookup)))
    }

    fn test() -> Test {
        with_quota(Some(10))
    }

    fn t(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-01T10:{minute:02}:00Z")).unwrap().to_utc()
    }

    fn reason(text: &str) -> Reason {
        Reason::parse(text).unwrap()
    }

    fn service() -> ServiceId {
        ServiceId::parse(SERVICE).unwrap()
    }

    fn environment() -> EnvironmentId {
        EnvironmentId::parse(ENV).unwrap()
    }

    fn tenant() -> TenantId {
        TenantId::parse("contoso").unwrap()
    }

    fn spec(min: u32, max: u32) -> PolicySpec {
        PolicySpec::new(
            ReplicaRange::new(min, max).unwrap(),
            vec![
                Trigger::Cpu { target_percent: TargetPercent::new(70).unwrap() },
                Trigger::QueueLength {
                    queue: QueueName::parse("orders").unwrap(),
                    target: TargetCount::new(20).unwrap(),
                },
            ],
            WindowSeconds::new(0).unwrap(),
            WindowSeconds::new(300).unwrap(),
            WindowSeconds::new(60).unwrap(),
            SloTargets::new(Some(250), Some(99.9)).unwrap(),
        )
        .unwrap()
    }

    fn define_with(tenant: Option<TenantId>, spec: PolicySpec) -> ScalingPolicyCommand {
        ScalingPolicyCommand::DefinePolicy { service: service(), environment: environment(), tenant, spec, at: t(0) }
    }

    fn define() -> ScalingPolicyCommand {
        define_with(Some(tenant()), spec(1, 5))
    }

    fn defined_with(tenant: Option<TenantId>, spec: PolicySpec) -> ScalingPolicyEvent {
        ScalingPolicyEvent::PolicyDefined {
            service: service(),
            environment: environment(),
            tenant,
            spec,
            version: 1,
            at: t(0),
        }
    }

    fn defined() -> ScalingPolicyEvent {
        defined_with(Some(tenant()), spec(1, 5))
    }

    fn activated(version: u32) -> ScalingPolicyEvent {
        ScalingPolicyEvent::PolicyActivated { version, at: t(1) }
    }

    fn suspended() -> ScalingPolicyEvent {
        ScalingPolicyEvent::PolicySuspended { reason: reason("load test finished"), at: t(2) }
    }

    fn updated(version: u32, spec: PolicySpec) -> ScalingPolicyEvent {
        ScalingPolicyEvent::PolicyUpdated { spec, version, at: t(3) }
    }

    fn cpu_signal(observed: f64) -> ScalingSignal {
        ScalingSignal::new(TriggerKind::Cpu, observed).unwrap()
    }

    fn decide(from_replicas: u32, to_replicas: u32, signal: ScalingSignal) -> ScalingPolicyCommand {
        ScalingPolicyCommand::RecordScalingDecision {
            from_replicas,
            to_replicas,
            signal,
            reason: reason("cpu above target"),
            at: t(4),
        }
    }

    fn decided(from_replicas: u32, to_replicas: u32, policy_version: u32) -> ScalingPolicyEvent {
        ScalingPolicyEvent::ScalingDecisionRecorded {
            from_replicas,
            to_replicas,
            signal: cpu_signal(91.5),
            reason: reason("cpu above target"),
            policy_version,
            at: t(4),
        }
    }

    /// Histories that end in each status, for rules that hold across several of them.
    fn history(status: ScalingPolicyStatus) -> Vec<ScalingPolicyEvent> {
        use ScalingPolicyStatus as S;
        match status {
            S::Draft => vec![defined()],
            S::Active => vec![defined(), activated(1)],
            S::Suspended => vec![defined(), activated(1), suspended()],
        }
    }

    fn replay(events: Vec<ScalingPolicyEvent>) -> ScalingPolicy {
        let mut policy = ScalingPolicy::default();
        for event in events {
            policy.apply(event);
        }
        policy
    }

    fn every_command() -> Vec<ScalingPolicyCommand> {
        use ScalingPolicyCommand as C;
        vec![
            define(),
            C::UpdatePolicy { spec: spec(2, 5), at: t(9) },
            C::Activate { at: t(9) },
            C::Suspend { reason: reason("x"), at: t(9) },
            decide(1, 3, cpu_signal(91.5)),
        ]
    }

    // --- definition ---

    #[test]
    fn defining_a_policy_records_a_draft_at_version_one() {
        test().given_no_previous_events().when(define()).then_expect_events(vec![defined()]);
        let policy = replay(vec![defined()]);
        assert_eq!(policy.status(), Some(ScalingPolicyStatus::Draft));
        assert_eq!(policy.version(), 1);
    }

    #[test]
    fn a_tenant_policy_max_may_reach_the_tenant_quota() {
        with_quota(Some(5)).given_no_previous_events().when(define()).then_expect_events(vec![defined()]);
    }

    #[test]
    fn a_tenant_policy_max_stays_within_the_tenant_quota() {
        with_quota(Some(3))
            .given_no_previous_events()
            .when(define())
            .then_expect_error_message("max replicas 5 exceeds the replica quota of 3 of tenant contoso");
    }

    #[test]
    fn a_tenant_policy_needs_the_tenant_bound_to_the_environment() {
        with_quota(None)
            .given_no_previous_events()
            .when(define())
            .then_expect_error_message(&format!("tenant contoso is not bound to environment {ENV}"));
    }

    #[test]
    fn a_failed_quota_lookup_is_reported_not_guessed() {
        broken()
            .given_no_previous_events()
            .when(define())
            .then_expect_error_message("could not look up the tenant's replica quota: read model unavailable");
    }

    #[test]
    fn a_platform_wide_policy_is_bounded_by_no_tenant_quota() {
        broken()
            .given_no_previous_events()
            .when(define_with(None, spec(0, 1000)))
            .then_expect_events(vec![defined_with(None, spec(0, 1000))]);
        assert_eq!(replay(vec![defined_with(None, spec(0, 1000))]).owner_tenant(), None);
    }

    #[test]
    fn an_existing_policy_cannot_be_defined_again() {
        use ScalingPolicyStatus as S;
        for status in [S::Draft, S::Active, S::Suspended] {
            test().given(history(status)).when(define()).then_expect_error_message(&format!(
                "cannot DefinePolicy: scaling policy already exists (it is {status})"
            ));
        }
    }

    #[test]
    fn commands_on_a_missing_policy_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            test()
                .given_no_previous_events()
                .when(command)
                .then_expect_error_message(&format!("cannot {name}: scaling policy does not exist"));
        }
    }

    // --- versions ---

    #[test]
    fn every_update_bumps_the_version_in_any_status() {
        use ScalingPolicyStatus as S;
        for status in [S::Draft, S::Active, S::Suspended] {
            test()
                .given(history(status))
                .when(ScalingPolicyCommand::UpdatePolicy { spec: spec(2, 8), at: t(3) })
                .then_expect_events(vec![updated(2, spec(2, 8))]);
        }
        test()
            .given(vec![defined(), updated(2, spec(2, 8))])
            .when(ScalingPolicyCommand::UpdatePolicy { spec: spec(3, 8), at: t(3) })
            .then_expect_events(vec![updated(3, spec(3, 8))]);
    }

    #[test]
    fn resubmitting_the_spec_in_force_records_no_new_version() {
        test()
            .given(vec![defined(), updated(2, spec(2, 8))])
            .when(ScalingPolicyCommand::UpdatePolicy { spec: spec(2, 8), at: t(5) })
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_update_stays_within_the_tenant_quota() {
        test()
            .given(history(ScalingPolicyStatus::Active))
            .when(ScalingPolicyCommand::UpdatePolicy { spec: spec(1, 11), at: t(3) })
            .then_expect_error_message("max replicas 11 exceeds the replica quota of 10 of tenant contoso");
        with_quota(None)
            .given(history(ScalingPolicyStatus::Active))
            .when(ScalingPolicyCommand::UpdatePolicy { spec: spec(1, 4), at: t(3) })
            .then_expect_error_message(&format!("tenant contoso is not bound to environment {ENV}"));
    }

    // --- lifecycle ---

    #[test]
    fn a_draft_or_suspended_policy_can_be_activated() {
        use ScalingPolicyStatus as S;
        for status in [S::Draft, S::Suspended] {
            test()
                .given(history(status))
                .when(ScalingPolicyCommand::Activate { at: t(1) })
                .then_expect_events(vec![activated(1)]);
        }
        test()
            .given(vec![defined(), updated(2, spec(2, 8))])
            .when(ScalingPolicyCommand::Activate { at: t(1) })
            .then_expect_events(vec![activated(2)]);
    }

    #[test]
    fn an_active_policy_cannot_be_activated_again() {
        test()
            .given(history(ScalingPolicyStatus::Active))
            .when(ScalingPolicyCommand::Activate { at: t(9) })
            .then_expect_error_message("cannot Activate: scaling policy is Active");
    }

    #[test]
    fn activation_rechecks_the_tenant_quota_in_force() {
        with_quota(Some(4))
            .given(history(ScalingPolicyStatus::Draft))
            .when(ScalingPolicyCommand::Activate { at: t(1) })
            .then_expect_error_message("max replicas 5 exceeds the replica quota of 4 of tenant contoso");
    }

    #[test]
    fn an_active_policy_can_be_suspended() {
        test()
            .given(history(ScalingPolicyStatus::Active))
            .when(ScalingPolicyCommand::Suspend { reason: reason("load test finished"), at: t(2) })
            .then_expect_events(vec![suspended()]);
        let policy = replay(history(ScalingPolicyStatus::Suspended));
        assert_eq!(policy.last_reason(), Some(&reason("load test finished")));
    }

    #[test]
    fn only_an_active_policy_can_be_suspended() {
        use ScalingPolicyStatus as S;
        for status in [S::Draft, S::Suspended] {
            test()
                .given(history(status))
                .when(ScalingPolicyCommand::Suspend { reason: reason("x"), at: t(9) })
                .then_expect_error_message(&format!("cannot Suspend: scaling policy is {status}"));
        }
    }

    // --- decisions ---

    #[test]
    fn a_decision_under_an_active_policy_is_recorded_with_its_version() {
        test()
            .given(history(ScalingPolicyStatus::Active))
            .when(decide(1, 3, cpu_signal(91.5)))
            .then_expect_events(vec![decided(1, 3, 1)]);
        test()
            .given(vec![defined(), updated(2, spec(2, 8)), activated(2)])
            .when(decide(8, 2, cpu_signal(91.5)))
            .then_expect_events(vec![decided(8, 2, 2)]);
    }

    #[test]
    fn decisions_are_recorded_only_while_active() {
        use ScalingPolicyStatus as S;
        for status in [S::Draft, S::Suspended] {
            test()
                .given(history(status))
                .when(decide(1, 3, cpu_signal(91.5)))
                .then_expect_error_message(&format!("cannot RecordScalingDecision: scaling policy is {status}"));
        }
    }

    #[test]
    fn a_decision_lands_within_the_replica_range() {
        test()
            .given(history(ScalingPolicyStatus::Active))
            .when(decide(5, 6, cpu_signal(91.5)))
            .then_expect_error_message("cannot scale to 6 replicas: outside the replica range 1..=5");
        test()
            .given(history(ScalingPolicyStatus::Active))
            .when(decide(1, 0, cpu_signal(1.0)))
            .then_expect_error_message("cannot scale to 0 replicas: outside the replica range 1..=5");
    }

    #[test]
    fn a_decision_acts_on_a_signal_the_policy_watches() {
        test()
            .given(history(ScalingPolicyStatus::Active))
            .when(decide(1, 3, ScalingSignal::new(TriggerKind::Memory, 90.0).unwrap()))
            .then_expect_error_message("the policy has no memory trigger to act on");
    }

    #[test]
    fn a_decision_changes_the_replica_count() {
        test()
            .given(history(ScalingPolicyStatus::Active))
            .when(decide(3, 3, cpu_signal(70.0)))
            .then_expect_error_message("a scaling decision must change the replica count (from 3 to 3)");
    }

    // --- state ---

    #[test]
    fn state_is_rebuilt_from_the_event_history() {
        let mut events = history(ScalingPolicyStatus::Active);
        events.push(decided(1, 3, 1));
        events.push(decided(3, 5, 1));
        let policy = replay(events);
        assert_eq!(policy.status(), Some(ScalingPolicyStatus::Active));
        assert_eq!(policy.service(), Some(&service()));
        assert_eq!(policy.environment(), Some(&environment()));
        assert_eq!(policy.tenant(), Some(&tenant()));
        assert_eq!(policy.owner_tenant(), Some(&tenant()));
        assert_eq!(policy.spec(), Some(&spec(1, 5)));
        assert_eq!(policy.version(), 1);
        assert_eq!(policy.last_reason(), None);
        assert_eq!(policy.decision_count(), 2);
        let last = policy.last_decision().unwrap();
        assert_eq!((last.from_replicas(), last.to_replicas()), (3, 5));
        assert_eq!(last.signal(), cpu_signal(91.5));
        assert_eq!(last.reason(), &reason("cpu above target"));
        assert_eq!((last.policy_version(), last.at()), (1, t(4)));
        assert_eq!(policy.defined_at(), Some(t(0)));
        assert_eq!(policy.activated_at(), Some(t(1)));
        assert_eq!(policy.updated_at(), Some(t(4)));
        let snapshot = serde_json::to_value(&policy).unwrap();
        assert_eq!(serde_json::from_value::<ScalingPolicy>(snapshot).unwrap(), policy);
        assert_eq!(ScalingPolicy::default().version(), 0);
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use ScalingPolicyError as Err;
        let status = ScalingPolicyStatus::Active;
        let cases = [
            (Err::NotFound { command: "Activate" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status }, RejectionKind::AlreadyExists),
            (Err::InvalidTransition { command: "Activate", status }, RejectionKind::InvalidTransition),
            (Err::TenantNotBound { tenant: tenant(), environment: environment() }, RejectionKind::InvariantViolated),
            (Err::ExceedsTenantQuota { max: 5, quota: 3, tenant: tenant() }, RejectionKind::InvariantViolated),
            (
                Err::OutsideReplicaRange { to_replicas: 6, range: ReplicaRange::new(1, 5).unwrap() },
                RejectionKind::InvariantViolated,
            ),
            (Err::SignalNotWatched(TriggerKind::Cron), RejectionKind::InvariantViolated),
            (Err::NoReplicaChange(3), RejectionKind::InvalidInput),
            (Err::InvalidValue(ValueError::NoTriggers), RejectionKind::InvalidInput),
            (Err::LookupFailed("down".to_owned()), RejectionKind::LookupFailed),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
