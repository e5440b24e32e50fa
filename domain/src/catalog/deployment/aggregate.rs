//! The `RuntimeDeployment` aggregate: decides which commands a rollout accepts and folds its
//! events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. The
//! cross-aggregate facts (service deployable, environment accepting and tenant active, asked
//! at `StartDeployment`, `BeginRollout` and `Promote`; the last known-good deployment; the
//! deployment a `MarkSuperseded` names) come from [`DeploymentServices`].

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::DeploymentCommand;
use super::error::DeploymentError;
use super::events::DeploymentEvent;
use super::services::DeploymentServices;
use super::values::{check_observation, Artifact, DeploymentStatus, DeploymentStrategy, GateResult, GateStatus};
use crate::envelope::TenantId;
use crate::environments::Reason;
use crate::ids::{DeploymentId, EnvironmentId, ServiceId};

/// One rollout of a service version into one environment (optionally for one tenant), rebuilt
/// from its events. The default value is a deployment that does not exist yet (`status()` is
/// `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeDeployment {
    status: Option<DeploymentStatus>,
    service: Option<ServiceId>,
    environment: Option<EnvironmentId>,
    tenant: Option<TenantId>,
    artifact: Option<Artifact>,
    strategy: Option<DeploymentStrategy>,
    gates: Vec<GateStatus>,
    steps_completed: u32,
    traffic_percent: u8,
    rollback_of: Option<DeploymentId>,
    rollback_target: Option<DeploymentId>,
    superseded_by: Option<DeploymentId>,
    failure_reason: Option<Reason>,
    closing_reason: Option<Reason>,
    started_at: Option<DateTime<Utc>>,
    rollout_started_at: Option<DateTime<Utc>>,
    verification_started_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    superseded_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl RuntimeDeployment {
    /// Where the deployment is; `None` if it was never started.
    pub fn status(&self) -> Option<DeploymentStatus> {
        self.status
    }

    /// Whether it is in flight and holds its `active_deployment` claim.
    pub fn is_active(&self) -> bool {
        self.status.is_some_and(|status| status.is_active())
    }

    /// The service deployed.
    pub fn service(&self) -> Option<ServiceId> {
        self.service
    }

    /// The environment deployed into.
    pub fn environment(&self) -> Option<EnvironmentId> {
        self.environment
    }

    /// The tenant, for a tenant-dedicated deployment.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }

    /// What is deployed: image digest, version and commit.
    pub fn artifact(&self) -> Option<&Artifact> {
        self.artifact.as_ref()
    }

    /// How traffic moves to it.
    pub fn strategy(&self) -> Option<&DeploymentStrategy> {
        self.strategy.as_ref()
    }

    /// Its health gates with their latest results, in declared order.
    pub fn gates(&self) -> &[GateStatus] {
        &self.gates
    }

    /// How many steps of the rollout plan have completed.
    pub fn steps_completed(&self) -> u32 {
        self.steps_completed
    }

    /// The traffic percentage the last completed step reached (0 before the first).
    pub fn traffic_percent(&self) -> u8 {
        self.traffic_percent
    }

    /// The deployment this one undoes, if it is a rollback by re-deployment.
    pub fn rollback_of(&self) -> Option<DeploymentId> {
        self.rollback_of
    }

    /// The known-good deployment this one is being (or was) rolled back to.
    pub fn rollback_target(&self) -> Option<DeploymentId> {
        self.rollback_target
    }

    /// The newer deployment that superseded this one.
    pub fn superseded_by(&self) -> Option<DeploymentId> {
        self.superseded_by
    }

    /// Why it failed (kept through rollback).
    pub fn failure_reason(&self) -> Option<&Reason> {
        self.failure_reason.as_ref()
    }

    /// Why it was cancelled or abandoned.
    pub fn closing_reason(&self) -> Option<&Reason> {
        self.closing_reason.as_ref()
    }

    /// When it was started.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at
    }

    /// When the rollout began.
    pub fn rollout_started_at(&self) -> Option<DateTime<Utc>> {
        self.rollout_started_at
    }

    /// When verification began.
    pub fn verification_started_at(&self) -> Option<DateTime<Utc>> {
        self.verification_started_at
    }

    /// When it failed.
    pub fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.failed_at
    }

    /// When it stopped being in flight: succeeded, rolled back, cancelled or abandoned.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.finished_at
    }

    /// When it was superseded.
    pub fn superseded_at(&self) -> Option<DateTime<Utc>> {
        self.superseded_at
    }

    /// The time of its latest event.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    async fn decide(
        &self,
        command: DeploymentCommand,
        services: &DeploymentServices,
    ) -> Result<Vec<DeploymentEvent>, DeploymentError> {
        use DeploymentCommand as C;
        use DeploymentEvent as E;
        use DeploymentStatus as S;

        let command_name = command.name();
        let (Some(status), Some(service), Some(environment)) = (self.status, self.service, self.environment) else {
            return match command {
                C::StartDeployment { service, environment, tenant, artifact, strategy, gates, rollback_of, at } => {
                    check_targets(services, service, environment, tenant.as_ref()).await?;
                    Ok(vec![E::DeploymentStarted {
                        service,
                        environment,
                        tenant,
                        artifact,
                        strategy,
                        gates,
                        rollback_of,
                        at,
                    }])
                }
                _ => Err(DeploymentError::NotFound { command: command_name }),
            };
        };
        let tenant = self.tenant.clone();
        let refused = DeploymentError::InvalidTransition { command: command_name, status };

        match command {
            C::StartDeployment { .. } => Err(DeploymentError::AlreadyExists { status }),
            C::BeginRollout { at } => {
                if status != S::Pending {
                    return Err(refused);
                }
                // The environment or the tenant may have changed since `StartDeployment`.
                check_environment_and_tenant(services, environment, tenant.as_ref()).await?;
                // What the service depends on rolls out first.
                let waiting = services
                    .dependency_rollouts(service, environment, tenant.as_ref())
                    .await
                    .map_err(DeploymentError::LookupFailed)?;
                if !waiting.is_empty() {
                    let list: Vec<String> = waiting.iter().map(ToString::to_string).collect();
                    return Err(DeploymentError::WaitsForDependencies(list.join(", ")));
                }
                Ok(vec![E::RolloutBegun { at }])
            }
            C::RecordStepProgress { step, percent, at } => {
                if status != S::InProgress {
                    return Err(refused);
                }
                let strategy = self.strategy.as_ref().ok_or(refused)?;
                let plan = strategy.planned_steps();
                let expected = self.steps_completed;
                if step != expected {
                    return Err(DeploymentError::StepOutOfOrder { expected, got: step });
                }
                let planned = usize::try_from(step)
                    .ok()
                    .and_then(|index| plan.get(index))
                    .copied()
                    .ok_or(DeploymentError::StepOutOfOrder { expected, got: step })?;
                if percent != planned {
                    return Err(DeploymentError::StepPercentMismatch {
                        step,
                        strategy: strategy.as_str(),
                        planned,
                        got: percent,
                    });
                }
                let mut events = vec![E::StepCompleted { step, percent, at }];
                // The last step puts all traffic on the new version: verification starts in
                // the same command, so there is no state in which the rollout is done but the
                // gates are not yet being watched.
                if usize::try_from(step).is_ok_and(|index| index + 1 == plan.len()) {
                    events.push(E::VerificationStarted { at });
                }
                Ok(events)
            }
            C::RecordHealthGateResult { gate, passed, observed, at } => {
                if status != S::Verifying {
                    return Err(refused);
                }
                let Some(health_gate) =
                    self.gates.iter().map(GateStatus::gate).find(|candidate| candidate.name() == &gate)
                else {
                    return Err(DeploymentError::UnknownGate(gate));
                };
                let observed = check_observation(observed)?;
                // The verdict is the worker's, but it must agree with the threshold: a gate
                // reported as passed against its own numbers would let promotion past it.
                if passed != health_gate.passes(observed) {
                    return Err(DeploymentError::GateVerdictContradicted {
                        gate,
                        verdict: if passed { "passed" } else { "failed" },
                        observed: observed.to_string(),
                        threshold: health_gate.threshold().to_string(),
                    });
                }
                Ok(vec![E::HealthGateEvaluated { gate, passed, observed, at }])
            }
            C::Promote { at } => {
                if status != S::Verifying {
                    return Err(refused);
                }
                if let Some(blocking) = self.gates.iter().find(|gate| !gate.passed()) {
                    return Err(DeploymentError::GateNotPassed(blocking.gate().name().clone()));
                }
                check_environment_and_tenant(services, environment, tenant.as_ref()).await?;
                // The known-good deployment this one replaces, named on the event so that
                // marking it superseded survives a crash: the reactor reads it from the log.
                let supersedes = services
                    .last_succeeded_deployment(service, environment, tenant.as_ref())
                    .await
                    .map_err(DeploymentError::LookupFailed)?;
                Ok(vec![E::DeploymentSucceeded { service, environment, tenant, supersedes, at }])
            }
            C::FailDeployment { reason, at } => match status {
                S::InProgress | S::Verifying => Ok(vec![E::DeploymentFailed { reason, at }]),
                _ => Err(refused),
            },
            C::RollBack { target, at } => {
                if status != S::Failed {
                    return Err(refused);
                }
                match services
                    .last_succeeded_deployment(service, environment, tenant.as_ref())
                    .await
                    .map_err(DeploymentError::LookupFailed)?
                {
                    None => Err(DeploymentError::NoRollbackTarget),
                    Some(expected) if expected != target => {
                        Err(DeploymentError::WrongRollbackTarget { named: target, expected })
                    }
                    Some(_) => Ok(vec![E::RollbackStarted { target, at }]),
                }
            }
            C::RecordRolledBack { at } => match (status, self.rollback_target) {
                (S::RollingBack, Some(target)) => {
                    Ok(vec![E::DeploymentRolledBack { service, environment, tenant, target, at }])
                }
                _ => Err(refused),
            },
            C::Cancel { reason, at } => match status {
                S::Pending => Ok(vec![E::DeploymentCancelled { service, environment, tenant, reason, at }]),
                _ => Err(refused),
            },
            C::AbandonFailed { reason, at } => {
                if status != S::Failed {
                    return Err(refused);
                }
                // Abandoning is only for a deployment with nothing to roll back to; otherwise
                // "rollback always names its target" would be sidestepped.
                match services
                    .last_succeeded_deployment(service, environment, tenant.as_ref())
                    .await
                    .map_err(DeploymentError::LookupFailed)?
                {
                    Some(known_good) => Err(DeploymentError::RollbackTargetAvailable(known_good)),
                    None => Ok(vec![E::DeploymentAbandoned { service, environment, tenant, reason, at }]),
                }
            }
            C::MarkSuperseded { by, at } => {
                if status != S::Succeeded {
                    return Err(refused);
                }
                let Some(newer) = services.deployment(by).await.map_err(DeploymentError::LookupFailed)? else {
                    return Err(DeploymentError::UnknownSuperseder(by));
                };
                if newer.service != service || newer.environment != environment || newer.tenant != tenant {
                    return Err(DeploymentError::SupersederElsewhere(by));
                }
                // A superseded deployment did succeed; it still counts as newer than this one.
                if !matches!(newer.status, S::Succeeded | S::Superseded) {
                    return Err(DeploymentError::SupersederNotSucceeded { by, status: newer.status });
                }
                match (newer.finished_at, self.finished_at) {
                    (Some(theirs), Some(ours)) if theirs > ours => Ok(vec![E::DeploymentSuperseded { by, at }]),
                    _ => Err(DeploymentError::SupersederNotLater(by)),
                }
            }
        }
    }
}

/// The cross-aggregate rules of `StartDeployment`: the service is known and not retired, the
/// environment exists and accepts deployments, and a named tenant is bound to it and active.
/// Each lookup failure is reported as such, never read as "no".
async fn check_targets(
    services: &DeploymentServices,
    service: ServiceId,
    environment: EnvironmentId,
    tenant: Option<&TenantId>,
) -> Result<(), DeploymentError> {
    match services.service_deployable(service).await.map_err(DeploymentError::LookupFailed)? {
        None => return Err(DeploymentError::UnknownService(service)),
        Some(false) => return Err(DeploymentError::ServiceNotDeployable(service)),
        Some(true) => {}
    }
    check_environment_and_tenant(services, environment, tenant).await
}

/// The environment exists and accepts deployments, and a named tenant is bound to it and
/// active: checked at `StartDeployment`, again when the rollout begins and at promotion.
async fn check_environment_and_tenant(
    services: &DeploymentServices,
    environment: EnvironmentId,
    tenant: Option<&TenantId>,
) -> Result<(), DeploymentError> {
    match services.environment_accepts_deployments(environment).await.map_err(DeploymentError::LookupFailed)? {
        None => return Err(DeploymentError::UnknownEnvironment(environment)),
        Some(false) => return Err(DeploymentError::EnvironmentNotAccepting(environment)),
        Some(true) => {}
    }
    if let Some(tenant) = tenant {
        match services.tenant_active(tenant, environment).await.map_err(DeploymentError::LookupFailed)? {
            None => return Err(DeploymentError::TenantNotBound { tenant: tenant.clone(), environment }),
            Some(false) => return Err(DeploymentError::TenantNotActive { tenant: tenant.clone(), environment }),
            Some(true) => {}
        }
    }
    Ok(())
}

impl Aggregate for RuntimeDeployment {
    const TYPE: &'static str = "RuntimeDeployment";
    type Command = DeploymentCommand;
    type Event = DeploymentEvent;
    type Error = DeploymentError;
    type Services = DeploymentServices;

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
        use DeploymentEvent as E;
        use DeploymentStatus as S;

        match event {
            E::DeploymentStarted { service, environment, tenant, artifact, strategy, gates, rollback_of, at } => {
                self.status = Some(S::Pending);
                self.service = Some(service);
                self.environment = Some(environment);
                self.tenant = tenant;
                self.artifact = Some(artifact);
                self.strategy = Some(strategy);
                self.gates = Vec::from(gates).into_iter().map(GateStatus::pending).collect();
                self.rollback_of = rollback_of;
                self.started_at = Some(at);
                self.updated_at = Some(at);
            }
            E::RolloutBegun { at } => {
                self.status = Some(S::InProgress);
                self.rollout_started_at = Some(at);
                self.updated_at = Some(at);
            }
            E::StepCompleted { step, percent, at } => {
                self.steps_completed = step.saturating_add(1);
                self.traffic_percent = percent;
                self.updated_at = Some(at);
            }
            E::VerificationStarted { at } => {
                self.status = Some(S::Verifying);
                self.verification_started_at = Some(at);
                self.updated_at = Some(at);
            }
            E::HealthGateEvaluated { gate, passed, observed, at } => {
                if let Some(status) = self.gates.iter_mut().find(|g| g.gate().name() == &gate) {
                    status.record(GateResult::new(passed, observed, at));
                }
                self.updated_at = Some(at);
            }
            E::DeploymentSucceeded { at, .. } => {
                self.status = Some(S::Succeeded);
                self.finished_at = Some(at);
                self.updated_at = Some(at);
            }
            E::DeploymentFailed { reason, at } => {
                self.status = Some(S::Failed);
                self.failure_reason = Some(reason);
                self.failed_at = Some(at);
                self.updated_at = Some(at);
            }
            E::RollbackStarted { target, at } => {
                self.status = Some(S::RollingBack);
                self.rollback_target = Some(target);
                self.updated_at = Some(at);
            }
            E::DeploymentRolledBack { at, .. } => {
                self.status = Some(S::RolledBack);
                self.finished_at = Some(at);
                self.updated_at = Some(at);
            }
            E::DeploymentCancelled { reason, at, .. } => {
                self.status = Some(S::Cancelled);
                self.closing_reason = Some(reason);
                self.finished_at = Some(at);
                self.updated_at = Some(at);
            }
            E::DeploymentAbandoned { reason, at, .. } => {
                self.status = Some(S::Abandoned);
                self.closing_reason = Some(reason);
                self.finished_at = Some(at);
                self.updated_at = Some(at);
            }
            E::DeploymentSuperseded { by, at } => {
                self.status = Some(S::Superseded);
                self.superseded_by = Some(by);
                self.superseded_at = Some(at);
                self.updated_at = Some(at);
            }
        }
    }
}

/// A deployment for a tenant belongs to that tenant (the bus refuses commands on it from
/// other tenants' scopes); a shared deployment is platform-wide.
impl crate::ownership::TenantOwned for RuntimeDeployment {
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
    use crate::catalog::deployment::services::{DeliveryLookup, DeploymentFacts, FixedDeliveryLookup};
    use crate::catalog::deployment::values::{CanarySteps, GateKind, GateName, HealthGate, HealthGates};
    use crate::catalog::ValueError;
    use crate::ownership::TenantOwned;
    use crate::rejection::{Rejection, RejectionKind};

    type Test = TestFramework<RuntimeDeployment>;

    const DIGEST: &str = "sha256:4f6b2c0e9a1d3b5c7e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d";
    const SHA: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";

    /// A lookup that cannot answer, to prove a failure is reported and not read as "absent".
    struct BrokenLookup;

    #[async_trait]
    impl DeliveryLookup for BrokenLookup {
        async fn environment_accepts_deployments(&self, _environment: EnvironmentId) -> Result<Option<bool>, String> {
            Err("read model unavailable".to_owned())
        }

        async fn service_deployable(&self, _service: ServiceId) -> Result<Option<bool>, String> {
            Err("read model unavailable".to_owned())
        }

        async fn tenant_active(&self, _tenant: &TenantId, _environment: EnvironmentId) -> Result<Option<bool>, String> {
            Err("read model unavailable".to_owned())
        }

        async fn last_succeeded_deployment(
            &self,
            _service: ServiceId,
            _environment: EnvironmentId,
            _tenant: Option<&TenantId>,
        ) -> Result<Option<DeploymentId>, String> {
            Err("read model unavailable".to_owned())
        }

        async fn deployment(&self, _deployment: DeploymentId) -> Result<Option<DeploymentFacts>, String> {
            Err("read model unavailable".to_owned())
        }

        async fn dependency_rollouts(
            &self,
            _service: ServiceId,
            _environment: EnvironmentId,
            _tenant: Option<&TenantId>,
        ) -> Result<Vec<crate::catalog::DependencyRollout>, String> {
            Err("read model unavailable".to_owned())
        }
    }

    fn uuid(n: u8) -> String {
        format!("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f{n:02x}")
    }

    fn service() -> ServiceId {
        ServiceId::parse(&uuid(1)).unwrap()
    }

    fn environment() -> EnvironmentId {
        EnvironmentId::parse(&uuid(2)).unwrap()
    }

    fn deployment(n: u8) -> DeploymentId {
        DeploymentId::parse(&uuid(n)).unwrap()
    }

    /// The last known-good deployment in the tests' history.
    fn known_good() -> DeploymentId {
        deployment(10)
    }

    fn tenant() -> TenantId {
        TenantId::parse("contoso").unwrap()
    }

    fn t(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-01T10:{minute:02}:00Z")).unwrap().to_utc()
    }

    fn reason(text: &str) -> Reason {
        Reason::parse(text).unwrap()
    }

    fn gate_name(name: &str) -> GateName {
        GateName::parse(name).unwrap()
    }

    fn gates() -> HealthGates {
        HealthGates::new(vec![
            HealthGate::new(gate_name("availability"), GateKind::Availability, 99.5).unwrap(),
            HealthGate::new(gate_name("p95"), GateKind::LatencyP95, 250.0).unwrap(),
        ])
        .unwrap()
    }

    fn canary() -> DeploymentStrategy {
        DeploymentStrategy::Canary { steps: CanarySteps::new(vec![10, 50, 100]).unwrap() }
    }

    fn lookup(fixed: FixedDeliveryLookup) -> DeploymentServices {
        DeploymentServices::new(Arc::new(fixed))
    }

    /// Everything allows deploying, [`known_good`] is the last succeeded deployment, and any
    /// other deployment asked about is [`newer_success`].
    fn fixed() -> FixedDeliveryLookup {
        FixedDeliveryLookup {
            last_succeeded: Some(known_good()),
            other_deployment: Some(newer_success()),
            ..FixedDeliveryLookup::permissive()
        }
    }

    /// A deployment of the same service and environment (shared) that succeeded at minute 15,
    /// after the tests' history succeeded (minute 7).
    fn newer_success() -> DeploymentFacts {
        DeploymentFacts {
            service: service(),
            environment: environment(),
            tenant: None,
            status: DeploymentStatus::Succeeded,
            finished_at: Some(t(15)),
        }
    }

    fn test() -> Test {
        Test::with(lookup(fixed()))
    }

    fn start_with(tenant: Option<TenantId>, strategy: DeploymentStrategy) -> DeploymentCommand {
        DeploymentCommand::StartDeployment {
            service: service(),
            environment: environment(),
            tenant,
            artifact: Artifact::parse(DIGEST, "1.4.2", SHA).unwrap(),
            strategy,
            gates: gates(),
            rollback_of: None,
            at: t(0),
        }
    }

    fn start() -> DeploymentCommand {
        start_with(None, DeploymentStrategy::Rolling)
    }

    fn started_with(tenant: Option<TenantId>, strategy: DeploymentStrategy) -> DeploymentEvent {
        DeploymentEvent::DeploymentStarted {
            service: service(),
            environment: environment(),
            tenant,
            artifact: Artifact::parse(DIGEST, "1.4.2", SHA).unwrap(),
            strategy,
            gates: gates(),
            rollback_of: None,
            at: t(0),
        }
    }

    fn started() -> DeploymentEvent {
        started_with(None, DeploymentStrategy::Rolling)
    }

    fn begun() -> DeploymentEvent {
        DeploymentEvent::RolloutBegun { at: t(1) }
    }

    fn step(step: u32, percent: u8) -> DeploymentEvent {
        DeploymentEvent::StepCompleted { step, percent, at: t(2 + step) }
    }

    fn verifying(minute: u32) -> DeploymentEvent {
        DeploymentEvent::VerificationStarted { at: t(minute) }
    }

    fn evaluated(gate: &str, passed: bool, observed: f64) -> DeploymentEvent {
        DeploymentEvent::HealthGateEvaluated { gate: gate_name(gate), passed, observed, at: t(6) }
    }

    fn all_gates_passed() -> Vec<DeploymentEvent> {
        vec![evaluated("availability", true, 99.9), evaluated("p95", true, 120.0)]
    }

    /// Promoted while [`known_good`] was the last succeeded deployment (what [`fixed`] says).
    fn succeeded() -> DeploymentEvent {
        DeploymentEvent::DeploymentSucceeded {
            service: service(),
            environment: environment(),
            tenant: None,
            supersedes: Some(known_good()),
            at: t(7),
        }
    }

    fn failed() -> DeploymentEvent {
        DeploymentEvent::DeploymentFailed { reason: reason("error rate above gate"), at: t(7) }
    }

    fn rollback_started() -> DeploymentEvent {
        DeploymentEvent::RollbackStarted { target: known_good(), at: t(8) }
    }

    /// Histories (rolling strategy, shared) that end in each status.
    fn history(status: DeploymentStatus) -> Vec<DeploymentEvent> {
        use DeploymentStatus as S;
        let verifying_history = vec![started(), begun(), step(0, 100), verifying(2)];
        let mut events = match status {
            S::Pending | S::Cancelled => vec![started()],
            S::InProgress => vec![started(), begun()],
            _ => verifying_history,
        };
        match status {
            S::Pending | S::InProgress | S::Verifying => {}
            S::Succeeded | S::Superseded => {
                events.extend(all_gates_passed());
                events.push(succeeded());
            }
            S::Failed | S::RollingBack | S::RolledBack | S::Abandoned => events.push(failed()),
            S::Cancelled => events.push(DeploymentEvent::DeploymentCancelled {
                service: service(),
                environment: environment(),
                tenant: None,
                reason: reason("superseded by a newer build"),
                at: t(1),
            }),
        }
        match status {
            S::Superseded => events.push(DeploymentEvent::DeploymentSuperseded { by: deployment(11), at: t(20) }),
            S::RollingBack => events.push(rollback_started()),
            S::RolledBack => {
                events.push(rollback_started());
                events.push(DeploymentEvent::DeploymentRolledBack {
                    service: service(),
                    environment: environment(),
                    tenant: None,
                    target: known_good(),
                    at: t(9),
                });
            }
            S::Abandoned => events.push(DeploymentEvent::DeploymentAbandoned {
                service: service(),
                environment: environment(),
                tenant: None,
                reason: reason("first deployment, nothing to roll back to"),
                at: t(9),
            }),
            _ => {}
        }
        events
    }

    const ALL: [DeploymentStatus; 10] = [
        DeploymentStatus::Pending,
        DeploymentStatus::InProgress,
        DeploymentStatus::Verifying,
        DeploymentStatus::Succeeded,
        DeploymentStatus::Failed,
        DeploymentStatus::RollingBack,
        DeploymentStatus::RolledBack,
        DeploymentStatus::Cancelled,
        DeploymentStatus::Superseded,
        DeploymentStatus::Abandoned,
    ];

    fn others(allowed: &[DeploymentStatus]) -> Vec<DeploymentStatus> {
        ALL.into_iter().filter(|status| !allowed.contains(status)).collect()
    }

    fn replay(events: Vec<DeploymentEvent>) -> RuntimeDeployment {
        let mut deployment = RuntimeDeployment::default();
        for event in events {
            deployment.apply(event);
        }
        deployment
    }

    fn every_command() -> Vec<DeploymentCommand> {
        use DeploymentCommand as C;
        vec![
            start(),
            C::BeginRollout { at: t(9) },
            C::RecordStepProgress { step: 0, percent: 100, at: t(9) },
            C::RecordHealthGateResult { gate: gate_name("p95"), passed: true, observed: 1.0, at: t(9) },
            C::Promote { at: t(9) },
            C::FailDeployment { reason: reason("x"), at: t(9) },
            C::RollBack { target: known_good(), at: t(9) },
            C::RecordRolledBack { at: t(9) },
            C::Cancel { reason: reason("x"), at: t(9) },
            C::AbandonFailed { reason: reason("x"), at: t(9) },
            C::MarkSuperseded { by: deployment(11), at: t(9) },
        ]
    }

    fn refused_in(command: DeploymentCommand, statuses: &[DeploymentStatus]) {
        for status in statuses {
            let name = command.name();
            test()
                .given(history(*status))
                .when(command.clone())
                .then_expect_error_message(&format!("cannot {name}: deployment is {status}"));
        }
    }

    fn error_of(
        services: DeploymentServices,
        given: Vec<DeploymentEvent>,
        command: DeploymentCommand,
    ) -> DeploymentError {
        Test::with(services).given(given).when(command).inspect_result().unwrap_err()
    }

    // --- starting ---

    #[test]
    fn starting_a_deployment_records_every_detail() {
        test().given_no_previous_events().when(start()).then_expect_events(vec![started()]);
        let pending = replay(vec![started()]);
        assert_eq!(pending.status(), Some(DeploymentStatus::Pending));
        assert!(pending.is_active());
    }

    #[test]
    fn a_tenant_deployment_starts_when_the_tenant_is_active_in_the_environment() {
        test()
            .given_no_previous_events()
            .when(start_with(Some(tenant()), canary()))
            .then_expect_events(vec![started_with(Some(tenant()), canary())]);
    }

    #[test]
    fn an_existing_deployment_cannot_be_started_again() {
        test()
            .given(history(DeploymentStatus::Succeeded))
            .when(start())
            .then_expect_error_message("cannot StartDeployment: deployment already exists (it is Succeeded)");
    }

    #[test]
    fn commands_on_a_nonexistent_deployment_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            let error = error_of(lookup(fixed()), vec![], command);
            assert_eq!(error, DeploymentError::NotFound { command: name });
            assert_eq!(error.to_string(), format!("cannot {name}: deployment does not exist"));
        }
    }

    #[test]
    fn an_unknown_service_cannot_be_deployed() {
        let services = lookup(FixedDeliveryLookup { service_deployable: None, ..fixed() });
        assert_eq!(error_of(services, vec![], start()), DeploymentError::UnknownService(service()));
    }

    #[test]
    fn a_retired_service_cannot_be_deployed() {
        let services = lookup(FixedDeliveryLookup { service_deployable: Some(false), ..fixed() });
        let error = error_of(services, vec![], start());
        assert_eq!(error.to_string(), format!("cannot deploy service {}: it is retired", service()));
    }

    #[test]
    fn an_unknown_environment_cannot_be_deployed_into() {
        let services = lookup(FixedDeliveryLookup { environment_accepts: None, ..fixed() });
        assert_eq!(error_of(services, vec![], start()), DeploymentError::UnknownEnvironment(environment()));
    }

    #[test]
    fn nothing_deploys_into_an_environment_that_is_not_ready_or_degraded() {
        let services = lookup(FixedDeliveryLookup { environment_accepts: Some(false), ..fixed() });
        assert_eq!(error_of(services, vec![], start()), DeploymentError::EnvironmentNotAccepting(environment()));
    }

    #[test]
    fn a_tenant_not_bound_to_the_environment_gets_no_deployment() {
        let services = lookup(FixedDeliveryLookup { tenant_active: None, ..fixed() });
        let error = error_of(services, vec![], start_with(Some(tenant()), canary()));
        assert_eq!(
            error.to_string(),
            format!("cannot deploy for tenant contoso: it is not bound to environment {}", environment())
        );
    }

    #[test]
    fn a_suspended_tenant_gets_no_new_deployment() {
        let services = lookup(FixedDeliveryLookup { tenant_active: Some(false), ..fixed() });
        assert_eq!(
            error_of(services, vec![], start_with(Some(tenant()), canary())),
            DeploymentError::TenantNotActive { tenant: tenant(), environment: environment() }
        );
    }

    #[test]
    fn a_shared_deployment_does_not_ask_about_tenants() {
        Test::with(lookup(FixedDeliveryLookup { tenant_active: None, ..fixed() }))
            .given_no_previous_events()
            .when(start())
            .then_expect_events(vec![started()]);
    }

    #[test]
    fn a_failed_lookup_is_reported_not_read_as_absence() {
        let broken = || DeploymentServices::new(Arc::new(BrokenLookup));
        let cases = [
            (vec![], start()),
            (history(DeploymentStatus::Failed), DeploymentCommand::RollBack { target: known_good(), at: t(8) }),
            (history(DeploymentStatus::Failed), DeploymentCommand::AbandonFailed { reason: reason("x"), at: t(8) }),
        ];
        for (given, command) in cases {
            let error = error_of(broken(), given, command);
            assert_eq!(error, DeploymentError::LookupFailed("read model unavailable".to_owned()));
            assert_eq!(error.kind(), RejectionKind::LookupFailed);
        }
    }

    // --- rollout ---

    #[test]
    fn a_pending_deployment_begins_its_rollout() {
        test()
            .given(history(DeploymentStatus::Pending))
            .when(DeploymentCommand::BeginRollout { at: t(1) })
            .then_expect_events(vec![begun()]);
    }

    #[test]
    fn a_rollout_waits_while_a_dependency_is_rolling_out_and_says_which() {
        let rolling = crate::catalog::DependencyRollout {
            dependency: ServiceId::parse("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b").unwrap(),
            deployment: known_good(),
            status: DeploymentStatus::Verifying,
        };
        let services = lookup(FixedDeliveryLookup { dependency_rollouts: vec![rolling.clone()], ..fixed() });
        let error = error_of(services, history(DeploymentStatus::Pending), DeploymentCommand::BeginRollout { at: t(1) });
        assert_eq!(error, DeploymentError::WaitsForDependencies(rolling.to_string()));
        assert_eq!(error.kind(), RejectionKind::InvariantViolated);
        assert!(error.to_string().contains("is Verifying"), "{error}");
        let broken = DeploymentServices::new(Arc::new(BrokenLookup));
        let error = error_of(broken, history(DeploymentStatus::Pending), DeploymentCommand::BeginRollout { at: t(1) });
        assert_eq!(error.kind(), RejectionKind::LookupFailed);
    }

    #[test]
    fn only_a_pending_deployment_begins_its_rollout() {
        refused_in(DeploymentCommand::BeginRollout { at: t(9) }, &others(&[DeploymentStatus::Pending]));
    }

    #[test]
    fn a_rolling_deployment_starts_verifying_after_its_single_step() {
        test()
            .given(history(DeploymentStatus::InProgress))
            .when(DeploymentCommand::RecordStepProgress { step: 0, percent: 100, at: t(2) })
            .then_expect_events(vec![step(0, 100), verifying(2)]);
    }

    #[test]
    fn canary_steps_advance_in_order_and_the_last_one_starts_verification() {
        let base = vec![started_with(None, canary()), begun()];
        test()
            .given(base.clone())
            .when(DeploymentCommand::RecordStepProgress { step: 0, percent: 10, at: t(2) })
            .then_expect_events(vec![step(0, 10)]);
        let mut halfway = base.clone();
        halfway.extend([step(0, 10), step(1, 50)]);
        test()
            .given(halfway.clone())
            .when(DeploymentCommand::RecordStepProgress { step: 2, percent: 100, at: t(4) })
            .then_expect_events(vec![step(2, 100), verifying(4)]);
        let state = replay(halfway);
        assert_eq!(state.steps_completed(), 2);
        assert_eq!(state.traffic_percent(), 50);
        assert_eq!(state.status(), Some(DeploymentStatus::InProgress));
    }

    #[test]
    fn a_canary_step_cannot_be_skipped_or_repeated() {
        let mut given = vec![started_with(None, canary()), begun(), step(0, 10)];
        for wrong in [0, 2, 7] {
            test()
                .given(given.clone())
                .when(DeploymentCommand::RecordStepProgress { step: wrong, percent: 50, at: t(3) })
                .then_expect_error_message(&format!("step {wrong} is out of order: the next step of the rollout is 1"));
        }
        given.push(step(1, 50));
        assert_eq!(replay(given).steps_completed(), 2);
    }

    #[test]
    fn a_step_reaches_the_planned_percentage() {
        test()
            .given(vec![started_with(None, canary()), begun()])
            .when(DeploymentCommand::RecordStepProgress { step: 0, percent: 25, at: t(2) })
            .then_expect_error_message("step 0 of the canary plan reaches 10%, not 25%");
        test()
            .given(history(DeploymentStatus::InProgress))
            .when(DeploymentCommand::RecordStepProgress { step: 0, percent: 50, at: t(2) })
            .then_expect_error_message("step 0 of the rolling plan reaches 100%, not 50%");
    }

    #[test]
    fn step_progress_is_recorded_only_while_in_progress() {
        refused_in(
            DeploymentCommand::RecordStepProgress { step: 0, percent: 100, at: t(9) },
            &others(&[DeploymentStatus::InProgress]),
        );
    }

    // --- health gates ---

    #[test]
    fn a_gate_result_is_recorded_while_verifying() {
        test()
            .given(history(DeploymentStatus::Verifying))
            .when(DeploymentCommand::RecordHealthGateResult {
                gate: gate_name("availability"),
                passed: false,
                observed: 97.0,
                at: t(6),
            })
            .then_expect_events(vec![evaluated("availability", false, 97.0)]);
    }

    #[test]
    fn an_unknown_gate_is_refused() {
        test()
            .given(history(DeploymentStatus::Verifying))
            .when(DeploymentCommand::RecordHealthGateResult {
                gate: gate_name("error-rate"),
                passed: true,
                observed: 0.1,
                at: t(6),
            })
            .then_expect_error_message("deployment has no health gate named error-rate");
    }

    #[test]
    fn a_gate_verdict_must_agree_with_its_threshold() {
        let error = error_of(
            lookup(fixed()),
            history(DeploymentStatus::Verifying),
            DeploymentCommand::RecordHealthGateResult {
                gate: gate_name("p95"),
                passed: true,
                observed: 400.0,
                at: t(6),
            },
        );
        assert_eq!(error.to_string(), "gate p95 cannot have passed with observed value 400 against threshold 250");
        assert_eq!(error.kind(), RejectionKind::InvalidInput);
        test()
            .given(history(DeploymentStatus::Verifying))
            .when(DeploymentCommand::RecordHealthGateResult {
                gate: gate_name("availability"),
                passed: false,
                observed: 99.9,
                at: t(6),
            })
            .then_expect_error_message(
                "gate availability cannot have failed with observed value 99.9 against threshold 99.5",
            );
    }

    #[test]
    fn an_observation_must_be_a_finite_non_negative_number() {
        for observed in [f64::NAN, f64::INFINITY, -1.0] {
            let error = error_of(
                lookup(fixed()),
                history(DeploymentStatus::Verifying),
                DeploymentCommand::RecordHealthGateResult { gate: gate_name("p95"), passed: true, observed, at: t(6) },
            );
            assert_eq!(error, DeploymentError::InvalidValue(ValueError::InvalidObservation(observed.to_string())));
        }
    }

    #[test]
    fn gate_results_are_recorded_only_while_verifying() {
        refused_in(
            DeploymentCommand::RecordHealthGateResult { gate: gate_name("p95"), passed: true, observed: 1.0, at: t(9) },
            &others(&[DeploymentStatus::Verifying]),
        );
    }

    // --- promotion ---

    #[test]
    fn a_deployment_is_promoted_when_every_gate_passed() {
        let mut given = history(DeploymentStatus::Verifying);
        given.extend(all_gates_passed());
        test().given(given).when(DeploymentCommand::Promote { at: t(7) }).then_expect_events(vec![succeeded()]);
        let live = replay(history(DeploymentStatus::Succeeded));
        assert!(!live.is_active());
        assert_eq!(live.finished_at(), Some(t(7)));
    }

    #[test]
    fn a_promotion_names_the_known_good_deployment_it_supersedes_and_none_when_first() {
        let mut given = history(DeploymentStatus::Verifying);
        given.extend(all_gates_passed());
        // The lookup's last succeeded deployment is the one superseded.
        test().given(given.clone()).when(DeploymentCommand::Promote { at: t(7) }).then_expect_events(vec![succeeded()]);
        // The first success of a service in an environment supersedes nothing.
        let first = FixedDeliveryLookup { last_succeeded: None, ..fixed() };
        let events = Test::with(lookup(first))
            .given(given)
            .when(DeploymentCommand::Promote { at: t(7) })
            .inspect_result()
            .unwrap();
        assert!(
            matches!(events.as_slice(), [DeploymentEvent::DeploymentSucceeded { supersedes: None, .. }]),
            "{events:?}"
        );
    }

    #[test]
    fn promotion_past_a_gate_only_when_the_gate_passed() {
        // Never evaluated.
        let mut given = history(DeploymentStatus::Verifying);
        given.push(evaluated("availability", true, 99.9));
        test()
            .given(given.clone())
            .when(DeploymentCommand::Promote { at: t(7) })
            .then_expect_error_message("cannot Promote: health gate p95 has not passed");
        // Evaluated and failed.
        given.push(evaluated("p95", false, 300.0));
        let error = error_of(lookup(fixed()), given, DeploymentCommand::Promote { at: t(7) });
        assert_eq!(error, DeploymentError::GateNotPassed(gate_name("p95")));
        assert_eq!(error.kind(), RejectionKind::InvariantViolated);
    }

    #[test]
    fn the_latest_result_of_a_gate_counts() {
        let mut given = history(DeploymentStatus::Verifying);
        given.extend([
            evaluated("availability", true, 99.9),
            evaluated("p95", false, 300.0),
            evaluated("p95", true, 200.0),
        ]);
        let state = replay(given.clone());
        let p95 = &state.gates()[1];
        assert_eq!(p95.evaluations(), 2);
        assert!(p95.passed());
        assert_eq!(p95.last_result().map(|r| r.observed()), Some(200.0));
        test().given(given.clone()).when(DeploymentCommand::Promote { at: t(7) }).then_expect_events(vec![succeeded()]);
        given.push(evaluated("availability", false, 90.0));
        test()
            .given(given)
            .when(DeploymentCommand::Promote { at: t(7) })
            .then_expect_error_message("cannot Promote: health gate availability has not passed");
    }

    #[test]
    fn only_a_verifying_deployment_is_promoted() {
        refused_in(DeploymentCommand::Promote { at: t(9) }, &others(&[DeploymentStatus::Verifying]));
    }

    // --- failure and rollback ---

    #[test]
    fn a_rollout_or_its_verification_can_fail() {
        for status in [DeploymentStatus::InProgress, DeploymentStatus::Verifying] {
            test()
                .given(history(status))
                .when(DeploymentCommand::FailDeployment { reason: reason("error rate above gate"), at: t(7) })
                .then_expect_events(vec![failed()]);
        }
        let failed = replay(history(DeploymentStatus::Failed));
        assert!(failed.is_active(), "a failed deployment keeps its claim");
        assert_eq!(failed.failure_reason(), Some(&reason("error rate above gate")));
    }

    #[test]
    fn only_an_in_flight_rollout_can_fail() {
        refused_in(
            DeploymentCommand::FailDeployment { reason: reason("x"), at: t(9) },
            &others(&[DeploymentStatus::InProgress, DeploymentStatus::Verifying]),
        );
    }

    #[test]
    fn a_failed_deployment_rolls_back_to_the_last_known_good_one() {
        test()
            .given(history(DeploymentStatus::Failed))
            .when(DeploymentCommand::RollBack { target: known_good(), at: t(8) })
            .then_expect_events(vec![rollback_started()]);
    }

    #[test]
    fn rollback_names_the_last_known_good_deployment() {
        let error = error_of(
            lookup(fixed()),
            history(DeploymentStatus::Failed),
            DeploymentCommand::RollBack { target: deployment(9), at: t(8) },
        );
        assert_eq!(
            error.to_string(),
            format!("cannot RollBack to {}: the last known-good deployment is {}", deployment(9), known_good())
        );
    }

    #[test]
    fn rollback_needs_a_known_good_deployment() {
        Test::with(lookup(FixedDeliveryLookup::permissive()))
            .given(history(DeploymentStatus::Failed))
            .when(DeploymentCommand::RollBack {
                target: known_good(),
                at: t(8),
            })
            .then_expect_error_message(
                "cannot RollBack: no succeeded deployment of this service and environment to roll back to (abandon the deployment instead)",
            );
    }

    #[test]
    fn only_a_failed_deployment_is_rolled_back() {
        refused_in(
            DeploymentCommand::RollBack { target: known_good(), at: t(9) },
            &others(&[DeploymentStatus::Failed]),
        );
    }

    #[test]
    fn a_finished_rollback_frees_the_service_and_environment() {
        test()
            .given(history(DeploymentStatus::RollingBack))
            .when(DeploymentCommand::RecordRolledBack { at: t(9) })
            .then_expect_events(vec![DeploymentEvent::DeploymentRolledBack {
                service: service(),
                environment: environment(),
                tenant: None,
                target: known_good(),
                at: t(9),
            }]);
        let done = replay(history(DeploymentStatus::RolledBack));
        assert_eq!(done.rollback_target(), Some(known_good()));
        assert!(!done.is_active());
    }

    #[test]
    fn a_rollback_finishes_only_while_rolling_back() {
        refused_in(DeploymentCommand::RecordRolledBack { at: t(9) }, &others(&[DeploymentStatus::RollingBack]));
    }

    // --- cancel, abandon, supersede ---

    #[test]
    fn a_pending_deployment_can_be_cancelled() {
        test()
            .given(history(DeploymentStatus::Pending))
            .when(DeploymentCommand::Cancel { reason: reason("superseded by a newer build"), at: t(1) })
            .then_expect_events(vec![DeploymentEvent::DeploymentCancelled {
                service: service(),
                environment: environment(),
                tenant: None,
                reason: reason("superseded by a newer build"),
                at: t(1),
            }]);
    }

    #[test]
    fn only_a_pending_deployment_can_be_cancelled() {
        refused_in(DeploymentCommand::Cancel { reason: reason("x"), at: t(9) }, &others(&[DeploymentStatus::Pending]));
    }

    #[test]
    fn a_failed_deployment_with_nothing_to_roll_back_to_can_be_abandoned() {
        let given = vec![started_with(Some(tenant()), DeploymentStrategy::BlueGreen), begun(), failed()];
        Test::with(lookup(FixedDeliveryLookup::permissive()))
            .given(given)
            .when(DeploymentCommand::AbandonFailed {
                reason: reason("first deployment, nothing to roll back to"),
                at: t(9),
            })
            .then_expect_events(vec![DeploymentEvent::DeploymentAbandoned {
                service: service(),
                environment: environment(),
                tenant: Some(tenant()),
                reason: reason("first deployment, nothing to roll back to"),
                at: t(9),
            }]);
    }

    #[test]
    fn a_failed_deployment_with_a_known_good_one_is_rolled_back_not_abandoned() {
        test()
            .given(history(DeploymentStatus::Failed))
            .when(DeploymentCommand::AbandonFailed { reason: reason("x"), at: t(9) })
            .then_expect_error_message(&format!(
                "cannot AbandonFailed: deployment {} is known good, roll back to it instead",
                known_good()
            ));
    }

    #[test]
    fn only_a_failed_deployment_can_be_abandoned() {
        refused_in(
            DeploymentCommand::AbandonFailed { reason: reason("x"), at: t(9) },
            &others(&[DeploymentStatus::Failed]),
        );
    }

    #[test]
    fn a_succeeded_deployment_is_superseded_by_a_newer_one() {
        test()
            .given(history(DeploymentStatus::Succeeded))
            .when(DeploymentCommand::MarkSuperseded { by: deployment(11), at: t(20) })
            .then_expect_events(vec![DeploymentEvent::DeploymentSuperseded { by: deployment(11), at: t(20) }]);
    }

    #[test]
    fn only_a_succeeded_deployment_can_be_superseded() {
        refused_in(
            DeploymentCommand::MarkSuperseded { by: deployment(11), at: t(9) },
            &others(&[DeploymentStatus::Succeeded]),
        );
    }

    #[test]
    fn only_a_known_deployment_supersedes_one() {
        let lookup_none = FixedDeliveryLookup { other_deployment: None, ..fixed() };
        let error = error_of(
            lookup(lookup_none),
            history(DeploymentStatus::Succeeded),
            DeploymentCommand::MarkSuperseded { by: deployment(11), at: t(20) },
        );
        assert_eq!(error, DeploymentError::UnknownSuperseder(deployment(11)));
        assert_eq!(error.kind(), RejectionKind::InvariantViolated);
    }

    #[test]
    fn only_a_deployment_of_the_same_service_environment_and_tenant_supersedes_one() {
        let elsewhere = [
            DeploymentFacts { service: ServiceId::parse(&uuid(3)).unwrap(), ..newer_success() },
            DeploymentFacts { environment: EnvironmentId::parse(&uuid(4)).unwrap(), ..newer_success() },
            DeploymentFacts { tenant: Some(tenant()), ..newer_success() },
        ];
        for other in elsewhere {
            let error = error_of(
                lookup(FixedDeliveryLookup { other_deployment: Some(other), ..fixed() }),
                history(DeploymentStatus::Succeeded),
                DeploymentCommand::MarkSuperseded { by: deployment(11), at: t(20) },
            );
            assert_eq!(error, DeploymentError::SupersederElsewhere(deployment(11)));
        }
    }

    #[test]
    fn only_a_succeeded_deployment_supersedes_one() {
        use DeploymentStatus as S;
        for status in [S::Pending, S::InProgress, S::Verifying, S::Failed, S::RolledBack, S::Cancelled, S::Abandoned] {
            let other = DeploymentFacts { status, finished_at: None, ..newer_success() };
            let error = error_of(
                lookup(FixedDeliveryLookup { other_deployment: Some(other), ..fixed() }),
                history(S::Succeeded),
                DeploymentCommand::MarkSuperseded { by: deployment(11), at: t(20) },
            );
            assert_eq!(error, DeploymentError::SupersederNotSucceeded { by: deployment(11), status });
        }
        // One that succeeded and was superseded since still succeeded after this one.
        let other = DeploymentFacts { status: S::Superseded, ..newer_success() };
        Test::with(lookup(FixedDeliveryLookup { other_deployment: Some(other), ..fixed() }))
            .given(history(S::Succeeded))
            .when(DeploymentCommand::MarkSuperseded { by: deployment(11), at: t(20) })
            .then_expect_events(vec![DeploymentEvent::DeploymentSuperseded { by: deployment(11), at: t(20) }]);
    }

    #[test]
    fn only_a_deployment_that_succeeded_later_supersedes_one() {
        // Succeeded before this one (minute 7), or at the same instant (itself).
        for minute in [5, 7] {
            let other = DeploymentFacts { finished_at: Some(t(minute)), ..newer_success() };
            let error = error_of(
                lookup(FixedDeliveryLookup { other_deployment: Some(other), ..fixed() }),
                history(DeploymentStatus::Succeeded),
                DeploymentCommand::MarkSuperseded { by: deployment(11), at: t(20) },
            );
            assert_eq!(error, DeploymentError::SupersederNotLater(deployment(11)));
        }
    }

    #[test]
    fn a_failed_superseder_lookup_is_reported_not_read_as_absence() {
        let error = error_of(
            DeploymentServices::new(Arc::new(BrokenLookup)),
            history(DeploymentStatus::Succeeded),
            DeploymentCommand::MarkSuperseded { by: deployment(11), at: t(20) },
        );
        assert_eq!(error, DeploymentError::LookupFailed("read model unavailable".to_owned()));
    }

    // --- environment and tenant re-checked after the start ---

    fn verified_for_tenant() -> Vec<DeploymentEvent> {
        let mut given =
            vec![started_with(Some(tenant()), DeploymentStrategy::Rolling), begun(), step(0, 100), verifying(2)];
        given.extend(all_gates_passed());
        given
    }

    fn pending_for_tenant() -> Vec<DeploymentEvent> {
        vec![started_with(Some(tenant()), DeploymentStrategy::Rolling)]
    }

    #[test]
    fn a_rollout_begins_only_into_an_environment_that_still_accepts_deployments() {
        let error = error_of(
            lookup(FixedDeliveryLookup { environment_accepts: Some(false), ..fixed() }),
            pending_for_tenant(),
            DeploymentCommand::BeginRollout { at: t(1) },
        );
        assert_eq!(error, DeploymentError::EnvironmentNotAccepting(environment()));
        let error = error_of(
            lookup(FixedDeliveryLookup { environment_accepts: None, ..fixed() }),
            pending_for_tenant(),
            DeploymentCommand::BeginRollout { at: t(1) },
        );
        assert_eq!(error, DeploymentError::UnknownEnvironment(environment()));
    }

    #[test]
    fn a_rollout_begins_only_for_a_tenant_still_active_in_the_environment() {
        let error = error_of(
            lookup(FixedDeliveryLookup { tenant_active: Some(false), ..fixed() }),
            pending_for_tenant(),
            DeploymentCommand::BeginRollout { at: t(1) },
        );
        assert_eq!(error, DeploymentError::TenantNotActive { tenant: tenant(), environment: environment() });
        let error = error_of(
            lookup(FixedDeliveryLookup { tenant_active: None, ..fixed() }),
            pending_for_tenant(),
            DeploymentCommand::BeginRollout { at: t(1) },
        );
        assert_eq!(error, DeploymentError::TenantNotBound { tenant: tenant(), environment: environment() });
    }

    #[test]
    fn promotion_only_into_an_environment_that_still_accepts_deployments() {
        let error = error_of(
            lookup(FixedDeliveryLookup { environment_accepts: Some(false), ..fixed() }),
            verified_for_tenant(),
            DeploymentCommand::Promote { at: t(7) },
        );
        assert_eq!(error, DeploymentError::EnvironmentNotAccepting(environment()));
        assert_eq!(error.kind(), RejectionKind::InvariantViolated);
    }

    #[test]
    fn promotion_only_for_a_tenant_still_active_in_the_environment() {
        let error = error_of(
            lookup(FixedDeliveryLookup { tenant_active: Some(false), ..fixed() }),
            verified_for_tenant(),
            DeploymentCommand::Promote { at: t(7) },
        );
        assert_eq!(error, DeploymentError::TenantNotActive { tenant: tenant(), environment: environment() });
    }

    #[test]
    fn a_shared_deployment_does_not_ask_about_a_tenant_when_it_begins_or_is_promoted() {
        let suspended = FixedDeliveryLookup { tenant_active: Some(false), ..fixed() };
        Test::with(lookup(suspended.clone()))
            .given(history(DeploymentStatus::Pending))
            .when(DeploymentCommand::BeginRollout { at: t(1) })
            .then_expect_events(vec![begun()]);
        let mut given = history(DeploymentStatus::Verifying);
        given.extend(all_gates_passed());
        Test::with(lookup(suspended))
            .given(given)
            .when(DeploymentCommand::Promote { at: t(7) })
            .then_expect_events(vec![succeeded()]);
    }

    #[test]
    fn terminal_deployments_accept_no_command() {
        for status in ALL.into_iter().filter(DeploymentStatus::is_terminal) {
            for command in every_command().into_iter().skip(1) {
                let name = command.name();
                test()
                    .given(history(status))
                    .when(command)
                    .then_expect_error_message(&format!("cannot {name}: deployment is {status}"));
            }
        }
    }

    // --- state ---

    #[test]
    fn state_is_rebuilt_from_the_event_history() {
        let mut events =
            vec![started_with(Some(tenant()), canary()), begun(), step(0, 10), step(1, 50), step(2, 100), verifying(4)];
        events.extend(all_gates_passed());
        events.push(DeploymentEvent::DeploymentSucceeded {
            service: service(),
            environment: environment(),
            tenant: Some(tenant()),
            supersedes: None,
            at: t(7),
        });
        events.push(DeploymentEvent::DeploymentSuperseded { by: deployment(11), at: t(20) });
        let state = replay(events);
        assert_eq!(state.status(), Some(DeploymentStatus::Superseded));
        assert_eq!(state.service(), Some(service()));
        assert_eq!(state.environment(), Some(environment()));
        assert_eq!(state.tenant(), Some(&tenant()));
        assert_eq!(state.owner_tenant(), Some(&tenant()));
        assert_eq!(state.artifact().map(|a| a.version().as_str()), Some("1.4.2"));
        assert_eq!(state.artifact().map(|a| a.digest().as_str()), Some(DIGEST));
        assert_eq!(state.artifact().map(|a| a.commit().as_str()), Some(SHA));
        assert_eq!(state.strategy(), Some(&canary()));
        assert_eq!(state.gates().len(), 2);
        assert!(state.gates().iter().all(GateStatus::passed));
        assert_eq!(state.steps_completed(), 3);
        assert_eq!(state.traffic_percent(), 100);
        assert_eq!(state.rollback_of(), None);
        assert_eq!(state.superseded_by(), Some(deployment(11)));
        assert_eq!(state.started_at(), Some(t(0)));
        assert_eq!(state.rollout_started_at(), Some(t(1)));
        assert_eq!(state.verification_started_at(), Some(t(4)));
        assert_eq!(state.finished_at(), Some(t(7)));
        assert_eq!(state.superseded_at(), Some(t(20)));
        assert_eq!(state.updated_at(), Some(t(20)));
        let snapshot = serde_json::to_value(&state).unwrap();
        assert_eq!(serde_json::from_value::<RuntimeDeployment>(snapshot).unwrap(), state);
    }

    #[test]
    fn failure_and_closing_reasons_are_kept() {
        let rolled_back = replay(history(DeploymentStatus::RolledBack));
        assert_eq!(rolled_back.failure_reason(), Some(&reason("error rate above gate")));
        assert_eq!(rolled_back.failed_at(), Some(t(7)));
        assert_eq!(rolled_back.finished_at(), Some(t(9)));
        let cancelled = replay(history(DeploymentStatus::Cancelled));
        assert_eq!(cancelled.closing_reason(), Some(&reason("superseded by a newer build")));
    }

    #[test]
    fn a_shared_deployment_belongs_to_no_tenant() {
        assert_eq!(replay(vec![started()]).owner_tenant(), None);
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use DeploymentError as Err;
        let status = DeploymentStatus::Pending;
        let cases = [
            (Err::NotFound { command: "Promote" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status }, RejectionKind::AlreadyExists),
            (Err::InvalidTransition { command: "Promote", status }, RejectionKind::InvalidTransition),
            (Err::UnknownService(service()), RejectionKind::InvariantViolated),
            (Err::ServiceNotDeployable(service()), RejectionKind::InvariantViolated),
            (Err::UnknownEnvironment(environment()), RejectionKind::InvariantViolated),
            (Err::EnvironmentNotAccepting(environment()), RejectionKind::InvariantViolated),
            (Err::TenantNotBound { tenant: tenant(), environment: environment() }, RejectionKind::InvariantViolated),
            (Err::TenantNotActive { tenant: tenant(), environment: environment() }, RejectionKind::InvariantViolated),
            (Err::StepOutOfOrder { expected: 1, got: 2 }, RejectionKind::InvariantViolated),
            (
                Err::StepPercentMismatch { step: 0, strategy: "canary", planned: 10, got: 20 },
                RejectionKind::InvariantViolated,
            ),
            (Err::UnknownGate(gate_name("g")), RejectionKind::InvariantViolated),
            (
                Err::GateVerdictContradicted {
                    gate: gate_name("g"),
                    verdict: "passed",
                    observed: "1".to_owned(),
                    threshold: "2".to_owned(),
                },
                RejectionKind::InvalidInput,
            ),
            (Err::GateNotPassed(gate_name("g")), RejectionKind::InvariantViolated),
            (Err::NoRollbackTarget, RejectionKind::InvariantViolated),
            (
                Err::WrongRollbackTarget { named: deployment(9), expected: known_good() },
                RejectionKind::InvariantViolated,
            ),
            (Err::RollbackTargetAvailable(known_good()), RejectionKind::InvariantViolated),
            (Err::UnknownSuperseder(deployment(11)), RejectionKind::InvariantViolated),
            (Err::SupersederElsewhere(deployment(11)), RejectionKind::InvariantViolated),
            (
                Err::SupersederNotSucceeded { by: deployment(11), status: DeploymentStatus::Failed },
                RejectionKind::InvariantViolated,
            ),
            (Err::SupersederNotLater(deployment(11)), RejectionKind::InvariantViolated),
            (Err::LookupFailed("down".to_owned()), RejectionKind::LookupFailed),
            (Err::InvalidValue(ValueError::InvalidCommitSha("x".to_owned())), RejectionKind::InvalidInput),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
