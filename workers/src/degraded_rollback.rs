//! Automatic rollback of a promoted deployment that turns bad (what Argo CD users ask for in
//! #11713 / #9570): when a workload's health changes to `Degraded` or `Unhealthy` within the
//! bake window after its deployment was promoted, a new deployment of the artifact it replaced
//! starts, recorded as the rollback of the bad one (`rollback_of`), so the deployment history
//! shows the chain.
//!
//! It does not fight drift remediation: once the rollback deployment succeeds it is the
//! known-good deployment, which is what drift detection compares against and what remediation
//! redeploys; while it is in flight, drift detection leaves the workload alone. A deployment
//! that is itself a rollback is never rolled back again (no ping-pong), nor is one promoted
//! longer ago than the bake window (its degradation is an incident, not a bad release).
//!
//! The reaction is `worker:degraded-rollback`'s, in the trace of the health change, caused by
//! it, keyed by it, with an id derived from it (a repeat names the same deployment).

use chrono::Duration;
use commands::log::RecordedEvent;
use commands::CommandBus;
use cqrs_es::Aggregate;
use domain::catalog::{DeploymentCommand, HealthGates, RuntimeDeployment};
use domain::health::{HealthEvent, HealthStatus};
use domain::ids::DeploymentId;
use projections::reader::Interest;

use crate::error::ReactorError;
use crate::reaction;
use crate::reactor::Reactor;

/// The worker's name (its actor is `worker:degraded-rollback`).
pub const NAME: &str = "degraded-rollback";

/// Rolls back a promoted deployment whose workload turns bad within the bake window.
pub struct DegradedRollbackReactor {
    bake: Duration,
}

impl DegradedRollbackReactor {
    /// The reactor with a bake window of `bake` after promotion.
    pub fn new(bake: Duration) -> Self {
        Self { bake }
    }
}

impl Default for DegradedRollbackReactor {
    fn default() -> Self {
        Self::new(Duration::minutes(15))
    }
}

#[async_trait::async_trait]
impl Reactor for DegradedRollbackReactor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interest(&self) -> Interest {
        Interest::EventTypes(&["HealthStatusChanged"])
    }

    async fn react(&self, bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        let HealthEvent::HealthStatusChanged { to, at, .. } = reaction::decode(&bus.routes().health.store, event)?
        else {
            return Ok(());
        };
        if !matches!(to, HealthStatus::Degraded | HealthStatus::Unhealthy) {
            return Ok(());
        }
        let health = bus.routes().health.store.load(&event.aggregate_id).await?.aggregate;
        let Some(target) = health.target() else { return Ok(()) };
        let deployments = &bus.routes().deployments;
        let lookup = |e: String| ReactorError::Lookup(e);
        let Some(promoted) = deployments
            .services
            .last_succeeded_deployment(target.service(), target.environment(), target.tenant())
            .await
            .map_err(lookup)?
        else {
            return Ok(());
        };
        let bad = deployments.store.load(&promoted.to_string()).await?.aggregate;
        let Some(finished) = bad.finished_at() else { return Ok(()) };
        if bad.rollback_of().is_some() || at < finished || at - finished > self.bake {
            return Ok(());
        }
        let Some(previous) = previous_good(bus, promoted, &bad).await? else {
            tracing::info!(deployment = %promoted, "turned bad after promotion with nothing earlier to roll back to");
            return Ok(());
        };
        let good = deployments.store.load(&previous.to_string()).await?.aggregate;
        let (Some(artifact), Some(strategy)) = (good.artifact().cloned(), good.strategy().cloned()) else {
            return Ok(());
        };
        let gates = HealthGates::new(good.gates().iter().map(|g| g.gate().clone()).collect())
            .map_err(|e| ReactorError::Lookup(e.to_string()))?;
        let id = commands::idempotency::derived_id(
            &format!("worker:{NAME}"),
            RuntimeDeployment::TYPE,
            "StartDeployment",
            &reaction::cause(event),
        );
        tracing::info!(bad = %promoted, back_to = %previous, "a promoted deployment turned bad: rolling back");
        let command = DeploymentCommand::StartDeployment {
            service: target.service(),
            environment: target.environment(),
            tenant: target.tenant().cloned(),
            artifact,
            strategy,
            gates,
            rollback_of: Some(promoted),
            at: event.recorded_at,
        };
        let result = bus
            .execute::<RuntimeDeployment>(
                &reaction::context(NAME, event),
                &id.to_string(),
                command,
                reaction::options("roll-back-degraded", event),
            )
            .await;
        reaction::settled(result, "roll back a degraded promotion")
    }
}

/// The deployment that was known-good before `promoted` succeeded: the latest one of the same
/// workload that succeeded before it (superseded by it, or about to be).
async fn previous_good(
    bus: &CommandBus,
    promoted: DeploymentId,
    bad: &RuntimeDeployment,
) -> Result<Option<DeploymentId>, ReactorError> {
    let (Some(service), Some(environment), Some(finished)) = (bad.service(), bad.environment(), bad.finished_at())
    else {
        return Ok(None);
    };
    let tenant = bad.tenant().map(|t| t.as_str().to_owned()).unwrap_or_default();
    let id: Option<String> = sqlx::query_scalar(
        "SELECT deployment_id FROM deployment_history \
          WHERE service_id = $1 AND environment_id = $2 AND tenant_id = $3 AND deployment_id <> $4 \
            AND status IN ('succeeded', 'superseded') AND finished_at < $5 \
          ORDER BY finished_at DESC LIMIT 1",
    )
    .bind(service.to_string())
    .bind(environment.to_string())
    .bind(tenant)
    .bind(promoted.to_string())
    .bind(finished)
    .fetch_optional(bus.pool())
    .await?;
    Ok(id.and_then(|id| DeploymentId::parse(&id).ok()))
}
