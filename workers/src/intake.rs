//! The intake of observed state: reports of running systems (GraphQL today, the Service Bus
//! intake later) and the health probe worker's own samples take this one path.
//!
//! A report is stored as an observation ([`crate::observation`]) and then turned into the
//! commands it calls for, in the reporter's trace with the observation as causation: a probe
//! sample becomes `RecordProbeResult` on the target's `RuntimeHealth` (tracked on its first
//! sample), which records an event only when the probe flips or the status changes. A state
//! report wakes the drift detection loop; metrics wait for the loops that read them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use commands::access::{self, Operation};
use commands::{CommandBus, CommandError, CommandOptions, CommandOutcome, RequestContext};
use cqrs_es::Aggregate;
use domain::health::{HealthCommand, HealthTarget, RuntimeHealth};
use domain::ids::EnvironmentId;
use tokio::sync::Notify;

use crate::observation::{
    Kind, MetricsSample, Observation, ObservationError, ObservedState, Observations, ProbeSample, Target,
};

/// Why a report was not taken.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The caller may not report observed state.
    #[error("{0}")]
    Forbidden(String),
    /// The report names something the platform does not know.
    #[error("{0}")]
    NotFound(String),
    /// Storing or reading observations failed.
    #[error(transparent)]
    Observation(#[from] ObservationError),
    /// A command the report called for failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A lookup failed.
    #[error("lookup failed: {0}")]
    Lookup(String),
}

/// What a probe report did.
#[derive(Debug)]
pub struct ProbeReport {
    /// The stored sample.
    pub observation: Observation<ProbeSample>,
    /// The health record's id and what `RecordProbeResult` did (no new events when nothing
    /// changed).
    pub health: (String, CommandOutcome),
}

/// The one path of observed state into the platform.
#[derive(Clone)]
pub struct Intake {
    bus: CommandBus,
    observations: Observations,
    state_reported: Arc<Notify>,
}

impl Intake {
    /// An intake over `bus` (and its pool).
    pub fn new(bus: CommandBus) -> Self {
        let observations = Observations::new(bus.pool().clone());
        Self { bus, observations, state_reported: Arc::new(Notify::new()) }
    }

    /// The same intake issuing its commands through `bus` (a loop's bus, fenced by its lease).
    pub fn with_bus(&self, bus: CommandBus) -> Self {
        Self { bus, observations: self.observations.clone(), state_reported: self.state_reported.clone() }
    }

    /// The observations it stores.
    pub fn observations(&self) -> &Observations {
        &self.observations
    }

    /// Notified after every state report (the drift loop waits on it between rounds).
    pub fn state_reported(&self) -> Arc<Notify> {
        self.state_reported.clone()
    }

    fn authorize(ctx: &RequestContext) -> Result<(), IntakeError> {
        if access::acting_role(&ctx.roles, Operation::Report).is_none() {
            return Err(IntakeError::Forbidden(format!("{} may not report observed state", ctx.actor)));
        }
        Ok(())
    }

    async fn known_environment(&self, environment: EnvironmentId) -> Result<(), IntakeError> {
        let loaded = self.bus.routes().environments.store.load(&environment.to_string()).await.map_err(lookup)?;
        if loaded.aggregate.status().is_none() {
            return Err(IntakeError::NotFound(format!("environment {environment} does not exist")));
        }
        Ok(())
    }

    /// Stores what `environment` reports running.
    pub async fn report_state(
        &self,
        ctx: &RequestContext,
        environment: EnvironmentId,
        state: ObservedState,
        at: DateTime<Utc>,
    ) -> Result<Observation<ObservedState>, IntakeError> {
        Self::authorize(ctx)?;
        self.known_environment(environment).await?;
        let observation =
            self.observations.record(Kind::State, &Target::environment(environment), "", &state, ctx, at).await?;
        // One permit is kept when the loop is mid-round: it runs again right after.
        self.state_reported.notify_one();
        Ok(observation)
    }

    /// Stores a workload's metrics.
    pub async fn report_metrics(
        &self,
        ctx: &RequestContext,
        target: Target,
        sample: MetricsSample,
        at: DateTime<Utc>,
    ) -> Result<Observation<MetricsSample>, IntakeError> {
        Self::authorize(ctx)?;
        self.known_environment(target.environment).await?;
        Ok(self.observations.record(Kind::Metrics, &target, "", &sample, ctx, at).await?)
    }

    /// Stores a probe's sample and records it on the target's health (tracking it first if
    /// nobody did): an event only when the probe flipped or the status changed.
    pub async fn report_probe(
        &self,
        ctx: &RequestContext,
        target: Target,
        sample: ProbeSample,
        at: DateTime<Utc>,
    ) -> Result<ProbeReport, IntakeError> {
        Self::authorize(ctx)?;
        let Some(service) = target.service else {
            return Err(IntakeError::NotFound("a probe sample names its service".into()));
        };
        let health_target = HealthTarget::new(service, target.environment, target.tenant.clone());
        let health = self.tracked(ctx, &health_target, at).await?;
        let observation =
            self.observations.record(Kind::Probe, &target, &sample.probe.to_string(), &sample, ctx, at).await?;
        let command = HealthCommand::RecordProbeResult {
            probe: sample.probe.clone(),
            passed: sample.passed,
            latency_ms: sample.latency_ms,
            detail: sample.detail.clone(),
            at,
        };
        let options = CommandOptions { causation_id: Some(observation.id.to_string()), ..Default::default() };
        let outcome = self.bus.execute::<RuntimeHealth>(ctx, &health, command, options).await?;
        Ok(ProbeReport { observation, health: (health, outcome) })
    }

    /// The id of the health record of `target`, tracking it when nobody did (the id derives
    /// from the target, so racing reporters name the same one).
    async fn tracked(&self, ctx: &RequestContext, target: &HealthTarget, at: DateTime<Utc>) -> Result<String, IntakeError> {
        let key = domain::health::health_target_key(target);
        if let Some(id) = claim_holder(&self.bus, domain::health::HEALTH_TARGET_SCOPE, &key).await? {
            return Ok(id);
        }
        let service = self.bus.routes().services.store.load(&target.service().to_string()).await.map_err(lookup)?;
        let Some(contract) = service.aggregate.contract() else {
            return Err(IntakeError::NotFound(format!("service {} does not exist", target.service())));
        };
        let startup_probe = contract.startup().is_some();
        let id = commands::idempotency::derived_id("observed-health", RuntimeHealth::TYPE, "TrackHealth", &key).to_string();
        let command = HealthCommand::TrackHealth { target: target.clone(), startup_probe, at };
        let options = CommandOptions { idempotency_key: Some(format!("track-health:{key}")), ..Default::default() };
        match self.bus.execute::<RuntimeHealth>(ctx, &id, command, options).await {
            Ok(_) => Ok(id),
            // Tracked meanwhile under another id (by a person, with another key): use that one.
            Err(e) if e.code() == "ALREADY_EXISTS" => claim_holder(&self.bus, domain::health::HEALTH_TARGET_SCOPE, &key)
                .await?
                .ok_or_else(|| IntakeError::Lookup(format!("health of {key} is claimed by nobody"))),
            Err(e) => Err(e.into()),
        }
    }
}

fn lookup(e: impl ToString) -> IntakeError {
    IntakeError::Lookup(e.to_string())
}

/// The aggregate holding claim `key` of `scope`.
pub async fn claim_holder(bus: &CommandBus, scope: &str, key: &str) -> Result<Option<String>, IntakeError> {
    crate::reaction::claim_holder(bus, scope, key).await.map_err(lookup)
}
