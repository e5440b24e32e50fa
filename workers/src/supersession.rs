//! `Succeeded -> Superseded` by itself: when a deployment succeeds, the known-good deployment
//! of the same service, environment and tenant that it replaces (named on its
//! `DeploymentSucceeded` as `supersedes`) is marked superseded by it.
//!
//! The command is keyed by the succeeding event, so reacting twice (a crash before the
//! checkpoint moved, two replicas) returns the first result. The domain still checks that the
//! superseder is a later success of the same target; if the older deployment is no longer
//! `Succeeded`, the refusal is final and the reaction is done.

use commands::log::RecordedEvent;
use commands::{CommandBus, CommandError, CommandOptions, RequestContext};
use domain::catalog::{DeploymentCommand, DeploymentEvent, RuntimeDeployment};
use domain::envelope::{keys, TraceId};
use domain::ids::DeploymentId;
use projections::reader::Interest;
use uuid::Uuid;

use crate::error::ReactorError;
use crate::reactor::Reactor;

/// Marks the deployment a success replaced as superseded.
pub struct SupersessionReactor;

/// The worker's name (its actor is `worker:supersession`).
pub const NAME: &str = "supersession";

#[async_trait::async_trait]
impl Reactor for SupersessionReactor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interest(&self) -> Interest {
        Interest::EventTypes(&["DeploymentSucceeded"])
    }

    async fn react(&self, bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        let decoded = bus
            .routes()
            .deployments
            .store
            .deserialize(
                &event.aggregate_id,
                event.sequence,
                event.event_type.clone(),
                event.event_version.clone(),
                event.payload.clone(),
            )
            .map_err(|e| ReactorError::Decode { position: event.position().to_string(), reason: e.to_string() })?;
        let DeploymentEvent::DeploymentSucceeded { supersedes: Some(previous), .. } = decoded else {
            return Ok(());
        };
        let by = DeploymentId::parse(&event.aggregate_id)
            .map_err(|e| ReactorError::Decode { position: event.position().to_string(), reason: e.to_string() })?;
        // The reaction belongs to the trace of the success that caused it.
        let trace_id = event
            .envelope(keys::TRACE_ID)
            .and_then(|t| TraceId::parse(t).ok())
            .unwrap_or_else(|| TraceId::from_uuid(Uuid::new_v4()));
        let ctx = RequestContext::worker(NAME, trace_id);
        let cause = event.event_id.map(|id| id.to_string()).unwrap_or_else(|| format!("{}:{}", event.aggregate_id, event.sequence));
        let options = CommandOptions {
            idempotency_key: Some(format!("supersede:{cause}")),
            correlation_id: event.envelope(keys::CORRELATION_ID).map(str::to_owned),
            causation_id: Some(cause),
            ..Default::default()
        };
        let command = DeploymentCommand::MarkSuperseded { by, at: event.recorded_at };
        match bus.execute::<RuntimeDeployment>(&ctx, &previous.to_string(), command, options).await {
            Ok(_) => Ok(()),
            // The state refuses it (already superseded, not a success, gone): it never will
            // accept it, so the reaction is over. Anything else may pass on a retry.
            Err(err @ (CommandError::Rejected { .. } | CommandError::NotFound { .. })) => {
                tracing::info!(deployment = %previous, superseded_by = %by, reason = %err, "not marked superseded");
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }
}
