//! What every reaction shares: decoding the event it answers, acting in that event's trace as
//! `worker:<name>`, with the event as causation and an idempotency key derived from it.

use commands::log::RecordedEvent;
use commands::store::PgEventStore;
use commands::{CommandError, CommandOptions, RequestContext};
use cqrs_es::Aggregate;
use domain::envelope::{keys, TraceId};
use uuid::Uuid;

use crate::error::ReactorError;

/// Decodes `event` with `store` (and so its upcasters).
pub fn decode<A>(store: &PgEventStore<A>, event: &RecordedEvent) -> Result<A::Event, ReactorError>
where
    A: Aggregate + Clone + 'static,
    A::Event: domain::claims::ClaimsUnique,
{
    store
        .deserialize(
            &event.aggregate_id,
            event.sequence,
            event.event_type.clone(),
            event.event_version.clone(),
            event.payload.clone(),
        )
        .map_err(|e| ReactorError::Decode { position: event.position().to_string(), reason: e.to_string() })
}

/// The id a reaction names as its cause: the event's id (rows written by plain postgres-es
/// have none: then its place in its stream).
pub fn cause(event: &RecordedEvent) -> String {
    event.event_id.map(|id| id.to_string()).unwrap_or_else(|| format!("{}:{}", event.aggregate_id, event.sequence))
}

/// The worker `name` acting in the trace of `event` (a fresh trace if it has none).
pub fn context(name: &str, event: &RecordedEvent) -> RequestContext {
    let trace_id = event
        .envelope(keys::TRACE_ID)
        .and_then(|t| TraceId::parse(t).ok())
        .unwrap_or_else(|| TraceId::from_uuid(Uuid::new_v4()));
    RequestContext::worker(name, trace_id)
}

/// Options of the reaction `what` to `event`: keyed by both (so a repeat returns the first
/// result), caused by the event, in its correlation.
pub fn options(what: &str, event: &RecordedEvent) -> CommandOptions {
    let cause = cause(event);
    CommandOptions {
        idempotency_key: Some(format!("{what}:{cause}")),
        correlation_id: event.envelope(keys::CORRELATION_ID).map(str::to_owned),
        causation_id: Some(cause),
        ..Default::default()
    }
}

/// The end of a reaction's command: a refusal by the domain (the state moved on, the target
/// is gone) is final, so the reaction is done; anything else may pass on a retry.
pub fn settled(result: Result<commands::CommandOutcome, CommandError>, what: &str) -> Result<(), ReactorError> {
    match result {
        Ok(_) => Ok(()),
        Err(err @ (CommandError::Rejected { .. } | CommandError::NotFound { .. })) => {
            tracing::info!(reaction = what, reason = %err, "the domain refused the reaction; it is done");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// The aggregate holding claim `key` of `scope` (the write side's own record of who owns a
/// name or a target, written with the events, so it never lags).
pub async fn claim_holder(bus: &commands::CommandBus, scope: &str, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT aggregate_id FROM unique_claims WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .fetch_optional(bus.pool())
        .await
}
