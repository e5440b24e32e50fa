//! `Succeeded -> Superseded` by itself: when a deployment succeeds, the known-good deployment
//! of the same service, environment and tenant that it replaces (named on its
//! `DeploymentSucceeded` as `supersedes`) is marked superseded by it.
//!
//! The command is keyed by the succeeding event, so reacting twice (a crash before the
//! checkpoint moved, two replicas) returns the first result. The domain still checks that the
//! superseder is a later success of the same target; if the older deployment is no longer
//! `Succeeded`, the refusal is final and the reaction is done.

use commands::log::RecordedEvent;
use commands::CommandBus;
use domain::catalog::{DeploymentCommand, DeploymentEvent, RuntimeDeployment};
use domain::ids::DeploymentId;
use projections::reader::Interest;

use crate::error::ReactorError;
use crate::reaction;
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
        let DeploymentEvent::DeploymentSucceeded { supersedes: Some(previous), .. } =
            reaction::decode(&bus.routes().deployments.store, event)?
        else {
            return Ok(());
        };
        let by = DeploymentId::parse(&event.aggregate_id)
            .map_err(|e| ReactorError::Decode { position: event.position().to_string(), reason: e.to_string() })?;
        let command = DeploymentCommand::MarkSuperseded { by, at: event.recorded_at };
        let result = bus
            .execute::<RuntimeDeployment>(
                &reaction::context(NAME, event),
                &previous.to_string(),
                command,
                reaction::options("supersede", event),
            )
            .await;
        reaction::settled(result, "supersede")
    }
}
