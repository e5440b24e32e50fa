//! The canonical integration envelope: what the rest of the factory receives for every event
//! of the log (and for every command the intake refused). Its JSON Schema is
//! `docs/integration-envelope.schema.json`; a test checks every published message against it.

use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use domain::envelope::keys;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::port::OutboundMessage;

/// The envelope's schema identifier; a consumer dispatches on it before reading anything else.
pub const SCHEMA: &str = "runtime-platform/integration-event/v1";

/// The JSON Schema of the envelope, as documented in the repository.
pub const JSON_SCHEMA: &str = include_str!("../../docs/integration-envelope.schema.json");

/// Event type of the answer to a command the intake can never carry out.
pub const COMMAND_REJECTED: &str = "CommandRejected";

/// One integration event, as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntegrationEnvelope {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The event's id (UUID v7); also the message's `MessageId`, so repeats are dropped.
    pub event_id: String,
    /// E.g. `EnvironmentRequested`, or [`COMMAND_REJECTED`].
    pub event_type: String,
    /// Schema version of the payload.
    pub event_version: String,
    /// E.g. `RuntimeEnvironment`.
    pub aggregate_type: String,
    /// The aggregate's id; also the message's `SessionId` (per-aggregate order).
    pub aggregate_id: String,
    /// Per-aggregate sequence from 1 (`None` for a rejection: nothing was written).
    pub sequence: Option<i64>,
    /// Position in the global log (`None` for a rejection).
    pub global_position: Option<i64>,
    /// The tenant owning the aggregate (`None`: platform-wide).
    pub tenant_id: Option<String>,
    /// W3C trace id (32 hex) of the command that caused the event.
    pub trace_id: String,
    /// The business flow the command belongs to.
    pub correlation_id: Option<String>,
    /// What caused the command (an event, an observation, a message).
    pub causation_id: Option<String>,
    /// Who issued the command (`user:`, `worker:`, `control-plane:`, `system:`).
    pub actor: Option<String>,
    /// When the event was committed (the database's clock).
    pub occurred_at: DateTime<Utc>,
    /// The event itself, as stored.
    pub payload: Value,
}

impl IntegrationEnvelope {
    /// The envelope of a committed event.
    pub fn of_event(event: &RecordedEvent) -> Self {
        let field = |key: &str| event.envelope(key).map(str::to_owned);
        Self {
            schema: SCHEMA.to_owned(),
            event_id: message_id(event),
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: Some(event.sequence),
            global_position: Some(event.global_position),
            tenant_id: field(keys::TENANT_ID),
            // Rows written before the envelope have no trace: an all-zero id is not a valid
            // W3C id, so they get one derived from the event's place instead.
            trace_id: field(keys::TRACE_ID).unwrap_or_else(|| format!("{:032x}", event.global_position)),
            correlation_id: field(keys::CORRELATION_ID),
            causation_id: field(keys::CAUSATION_ID),
            actor: field(keys::ACTOR),
            occurred_at: event.recorded_at,
            payload: event.payload.clone(),
        }
    }
}

impl IntegrationEnvelope {
    /// The message this envelope is published as: `MessageId` = event id, `SessionId` = the
    /// aggregate (the event id when it names none: a rejection of a message without one),
    /// `Label` = event type, and the trace, tenant and types as properties for filters.
    pub fn into_message(self) -> OutboundMessage {
        let mut properties = std::collections::BTreeMap::new();
        properties.insert("TraceId".to_owned(), self.trace_id.clone());
        // The W3C form as well, so a consumer's tracing continues the trace without our schema.
        properties.insert("traceparent".to_owned(), traceparent(&self.trace_id, &self.event_id));
        properties.insert("EventType".to_owned(), self.event_type.clone());
        properties.insert("AggregateType".to_owned(), self.aggregate_type.clone());
        if let Some(tenant) = &self.tenant_id {
            properties.insert("TenantId".to_owned(), tenant.clone());
        }
        let body = serde_json::to_string(&self).expect("an envelope is plain JSON");
        let session_id = if self.aggregate_id.is_empty() { self.event_id.clone() } else { self.aggregate_id };
        OutboundMessage {
            message_id: self.event_id,
            session_id,
            correlation_id: self.correlation_id,
            label: self.event_type,
            body,
            properties,
        }
    }
}

/// A `traceparent` in the trace `trace_id`, with a parent span id derived from `seed` (the
/// event id: the same event always names the same parent).
pub fn traceparent(trace_id: &str, seed: &str) -> String {
    let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("00-{trace_id}-{:016x}-01", hash.max(1))
}

/// The message id of an event: its event id, or, for rows written without an envelope, its
/// place in its aggregate (stable across every read of the log).
pub fn message_id(event: &RecordedEvent) -> String {
    match event.event_id {
        Some(id) => id.to_string(),
        None => format!("{}:{}:{}", event.aggregate_type, event.aggregate_id, event.sequence),
    }
}
