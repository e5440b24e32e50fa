//! Drift remediation by policy, through the aggregate that owns the drifted state.
//!
//! A version drift (what runs is not what was deployed) is remediated by redeploying the
//! workload's known-good deployment: the last one that succeeded for its service, environment
//! and tenant, which is also what a rollback chose, so remediation never fights a rollback.
//! Three reactions, each a command of `worker:drift-remediation` in the trace of the event it
//! answers and caused by it, so `causalChain` shows every link:
//!
//! 1. `RuntimeDriftDetected` (class `VERSION`, or `MISSING`: the workload is gone) in a
//!    non-production environment: the finding's
//!    remediation starts (`StartRemediation`: a `StartDeployment` of a new deployment whose id
//!    is derived from the detection, so a repeat names the same one). In production nothing
//!    happens: the finding waits for a person to approve it with `startDriftRemediation`
//!    (same action shape; the person picks the new deployment's id).
//! 2. `DriftRemediationStarted` naming a `StartDeployment` (by this worker or by a person):
//!    that deployment starts with the known-good deployment's artifact, strategy and gates.
//! 3. `DeploymentSucceeded` of a deployment a remediation started (its first event was caused
//!    by a `DriftRemediationStarted`: two primary-key reads, no scan): the finding records the
//!    success as the evidence that fixed it.
//!
//! The deployment itself is rolled out and verified like any other (by the pipeline today; by
//! the deployment gate worker once it exists).

use commands::log::{RecordedEvent, RECORDED_EVENT_COLUMNS};
use commands::CommandBus;
use cqrs_es::Aggregate;
use domain::catalog::{DeploymentCommand, DeploymentEvent, HealthGates, RuntimeDeployment};
use domain::environments::Stage;
use domain::health::{
    AggregateType, CommandName, DriftClass, DriftCommand, DriftEvent, DriftFinding, EvidenceId, RemediationAction,
};
use domain::ids::DeploymentId;
use projections::reader::Interest;
use uuid::Uuid;

use crate::error::ReactorError;
use crate::reaction;
use crate::reactor::Reactor;

/// The worker's name (its actor is `worker:drift-remediation`).
pub const NAME: &str = "drift-remediation";

/// Remediates version drift by redeploying the known-good deployment (see the module).
pub struct RemediationReactor;

fn bad(event: &RecordedEvent, reason: impl ToString) -> ReactorError {
    ReactorError::Decode { position: event.position().to_string(), reason: reason.to_string() }
}

#[async_trait::async_trait]
impl Reactor for RemediationReactor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interest(&self) -> Interest {
        Interest::EventTypes(&["RuntimeDriftDetected", "DriftRemediationStarted", "DeploymentSucceeded"])
    }

    async fn react(&self, bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        match event.event_type.as_str() {
            "RuntimeDriftDetected" => self.detected(bus, event).await,
            "DriftRemediationStarted" => self.started(bus, event).await,
            "DeploymentSucceeded" => self.succeeded(bus, event).await,
            _ => Ok(()),
        }
    }
}

impl RemediationReactor {
    /// 1: starts the remediation of a version drift outside production.
    async fn detected(&self, bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        let DriftEvent::RuntimeDriftDetected { target, class: DriftClass::Version | DriftClass::Missing, .. } =
            reaction::decode(&bus.routes().drift_findings.store, event)?
        else {
            return Ok(());
        };
        let Some(service) = target.service() else { return Ok(()) };
        let environment = bus.routes().environments.store.load(&target.environment().to_string()).await?;
        match environment.aggregate.stage() {
            Some(Stage::Prod) => {
                tracing::info!(finding = %event.aggregate_id, "version drift in production waits for approval");
                return Ok(());
            }
            None => return Ok(()),
            Some(_) => {}
        }
        let known_good = bus
            .routes()
            .deployments
            .services
            .last_succeeded_deployment(service, target.environment(), target.tenant())
            .await
            .map_err(|e| ReactorError::Lookup(e.to_string()))?;
        if known_good.is_none() {
            tracing::info!(finding = %event.aggregate_id, "no known-good deployment to remediate with");
            return Ok(());
        }
        // The same detection always names the same new deployment.
        let deployment = commands::idempotency::derived_id(
            &format!("worker:{NAME}"),
            RuntimeDeployment::TYPE,
            "StartDeployment",
            &reaction::cause(event),
        );
        let action = RemediationAction::new(
            AggregateType::RuntimeDeployment,
            deployment,
            CommandName::parse("StartDeployment").map_err(|e| bad(event, e))?,
        )
        .map_err(|e| bad(event, e))?;
        let command = DriftCommand::StartRemediation { action, at: event.recorded_at };
        let result = bus
            .execute::<DriftFinding>(
                &reaction::context(NAME, event),
                &event.aggregate_id,
                command,
                reaction::options("remediate", event),
            )
            .await;
        reaction::settled(result, "remediate")
    }

    /// 2: starts the deployment a remediation named, with the known-good artifact.
    async fn started(&self, bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        let DriftEvent::DriftRemediationStarted { action, .. } =
            reaction::decode(&bus.routes().drift_findings.store, event)?
        else {
            return Ok(());
        };
        if action.aggregate_type() != AggregateType::RuntimeDeployment || action.command().as_str() != "StartDeployment"
        {
            return Ok(());
        }
        let finding = bus.routes().drift_findings.store.load(&event.aggregate_id).await?;
        let Some(target) = finding.aggregate.target().cloned() else { return Ok(()) };
        let Some(service) = target.service() else { return Ok(()) };
        let deployments = &bus.routes().deployments;
        let known_good = deployments
            .services
            .last_succeeded_deployment(service, target.environment(), target.tenant())
            .await
            .map_err(|e| ReactorError::Lookup(e.to_string()))?;
        let Some(known_good) = known_good else {
            tracing::warn!(finding = %event.aggregate_id, "remediation started with no known-good deployment");
            return Ok(());
        };
        let good = deployments.store.load(&known_good.to_string()).await?.aggregate;
        let (Some(artifact), Some(strategy)) = (good.artifact().cloned(), good.strategy().cloned()) else {
            return Ok(());
        };
        let gates =
            HealthGates::new(good.gates().iter().map(|g| g.gate().clone()).collect()).map_err(|e| bad(event, e))?;
        let command = DeploymentCommand::StartDeployment {
            service,
            environment: target.environment(),
            tenant: target.tenant().cloned(),
            artifact,
            strategy,
            gates,
            rollback_of: None,
            at: event.recorded_at,
        };
        let result = bus
            .execute::<RuntimeDeployment>(
                &reaction::context(NAME, event),
                &action.aggregate_id().to_string(),
                command,
                reaction::options("redeploy", event),
            )
            .await;
        reaction::settled(result, "redeploy")
    }

    /// 3: a remediation's deployment succeeded: the finding is remediated.
    async fn succeeded(&self, bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        // What started this deployment: the causation of its first event.
        let first: Option<RecordedEvent> = sqlx::query_as(&format!(
            "SELECT {RECORDED_EVENT_COLUMNS} FROM events \
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1"
        ))
        .bind(RuntimeDeployment::TYPE)
        .bind(&event.aggregate_id)
        .fetch_optional(bus.pool())
        .await?;
        let Some(cause) = first
            .as_ref()
            .and_then(|f| f.envelope(domain::envelope::keys::CAUSATION_ID))
            .and_then(|c| Uuid::parse_str(c).ok())
        else {
            return Ok(());
        };
        let started: Option<RecordedEvent> =
            sqlx::query_as(&format!("SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE event_id = $1"))
                .bind(cause)
                .fetch_optional(bus.pool())
                .await?;
        let Some(started) = started.filter(|s| s.event_type == "DriftRemediationStarted") else { return Ok(()) };
        // Only the success of the deployment the remediation named fixes the finding.
        let DriftEvent::DriftRemediationStarted { action, .. } =
            reaction::decode(&bus.routes().drift_findings.store, &started)?
        else {
            return Ok(());
        };
        if DeploymentId::parse(&event.aggregate_id).ok().map(|d| d.as_uuid()) != Some(action.aggregate_id()) {
            return Ok(());
        }
        let Some(evidence) = event.event_id.and_then(|id| EvidenceId::from_uuid(id).ok()) else { return Ok(()) };
        let DeploymentEvent::DeploymentSucceeded { .. } = reaction::decode(&bus.routes().deployments.store, event)?
        else {
            return Ok(());
        };
        let command = DriftCommand::RecordRemediated { evidence, at: event.recorded_at };
        let result = bus
            .execute::<DriftFinding>(
                &reaction::context(NAME, event),
                &started.aggregate_id,
                command,
                reaction::options("remediated", event),
            )
            .await;
        reaction::settled(result, "remediated")
    }
}
