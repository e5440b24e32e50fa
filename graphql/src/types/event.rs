//! `Event`: one stored event with its full envelope.

use async_graphql::{Json, Object, ID};
use chrono::{DateTime, Utc};
use commands::RecordedEvent;
use domain::envelope::keys;

/// One event of the log, with its envelope and its place in the global order.
pub struct Event(pub RecordedEvent);

#[Object]
impl Event {
    /// UUID v7 of the event.
    async fn event_id(&self) -> Option<ID> {
        self.0.event_id.map(|id| ID(id.to_string()))
    }
    /// Aggregate type, e.g. `RuntimeEnvironment`.
    async fn aggregate_type(&self) -> &str {
        &self.0.aggregate_type
    }
    /// Aggregate id.
    async fn aggregate_id(&self) -> &str {
        &self.0.aggregate_id
    }
    /// Per-aggregate sequence, from 1.
    async fn sequence(&self) -> i64 {
        self.0.sequence
    }
    /// Event type, e.g. `EnvironmentRequested`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    /// Payload schema version.
    async fn event_version(&self) -> &str {
        &self.0.event_version
    }
    /// The event's data.
    async fn payload(&self) -> Json<&serde_json::Value> {
        Json(&self.0.payload)
    }
    /// W3C trace id of the command that caused it.
    async fn trace_id(&self) -> Option<&str> {
        self.0.envelope(keys::TRACE_ID)
    }
    /// The tenant of the aggregate the event belongs to; none for platform-wide and shared
    /// aggregates.
    async fn tenant_id(&self) -> Option<&str> {
        self.0.envelope(keys::TENANT_ID)
    }
    /// The tenant the caller acted for, when it acted for exactly one.
    async fn acting_tenant_id(&self) -> Option<&str> {
        self.0.envelope(keys::ACTING_TENANT_ID)
    }
    /// Who issued the command (the token's subject).
    async fn actor(&self) -> Option<&str> {
        self.0.envelope(keys::ACTOR)
    }
    /// The role the actor acted as (`PlatformAdmin`, `TenantOperator`, ...).
    async fn actor_role(&self) -> Option<&str> {
        self.0.envelope(keys::ACTOR_ROLE)
    }
    /// Groups the commands of one business flow.
    async fn correlation_id(&self) -> Option<&str> {
        self.0.envelope(keys::CORRELATION_ID)
    }
    /// The command or event that caused this one.
    async fn causation_id(&self) -> Option<&str> {
        self.0.envelope(keys::CAUSATION_ID)
    }
    /// Id of the command that wrote it.
    async fn command_id(&self) -> Option<&str> {
        self.0.envelope(keys::COMMAND_ID)
    }
    /// Type of the command that wrote it.
    async fn command_type(&self) -> Option<&str> {
        self.0.envelope("command_type")
    }
    /// When the database recorded it.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    /// Insert-time identity (as a string: it outgrows GraphQL's 32-bit Int).
    async fn global_position(&self) -> String {
        self.0.global_position.to_string()
    }
    /// The writing transaction's id (as a string).
    async fn transaction_id(&self) -> String {
        self.0.transaction_id.to_string()
    }
    /// Opaque cursor of this event in the global log (read-your-writes token).
    async fn position(&self) -> String {
        self.0.position().to_cursor()
    }
}
