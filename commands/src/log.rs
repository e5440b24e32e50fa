//! The global event log as readers see it.
//!
//! Order is `(transaction_id, global_position)`: positions are taken at insert time, so a
//! transaction that took a lower position may commit after one that took a higher one. Only
//! rows of transactions older than the oldest running one are read (they can no longer change),
//! and cursors carry the pair. See `projections::reader` for the query.

use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// A place in the global log: the writing transaction's id and the row's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LogPosition {
    /// xid8 of the transaction that wrote the event.
    pub transaction_id: i64,
    /// Identity taken when the row was inserted.
    pub global_position: i64,
}

impl LogPosition {
    /// Before the first event.
    pub const START: Self = Self { transaction_id: 0, global_position: 0 };

    /// An opaque cursor for clients (`<xid>:<position>`, base64url): clients resume from it,
    /// never from a bare position.
    pub fn to_cursor(self) -> String {
        let raw = format!("{}:{}", self.transaction_id, self.global_position);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Decodes a cursor made by [`LogPosition::to_cursor`].
    pub fn from_cursor(cursor: &str) -> Option<Self> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (xid, pos) = raw.split_once(':')?;
        let position = Self { transaction_id: xid.parse().ok()?, global_position: pos.parse().ok()? };
        (position.transaction_id >= 0 && position.global_position >= 0).then_some(position)
    }
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transaction_id, self.global_position)
    }
}

/// One event as stored, with its envelope and its place in the global log.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RecordedEvent {
    /// UUID v7 from the envelope (absent only for rows written by plain postgres-es).
    pub event_id: Option<Uuid>,
    /// Aggregate type, e.g. `RuntimeEnvironment`.
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Per-aggregate sequence, from 1.
    pub sequence: i64,
    /// Event type, e.g. `EnvironmentRequested`.
    pub event_type: String,
    /// Schema version of the payload, for upcasting.
    pub event_version: String,
    /// The event itself.
    pub payload: Value,
    /// The envelope (trace id, tenant, actor, correlation, causation, command).
    pub metadata: Value,
    /// Identity taken at insert.
    pub global_position: i64,
    /// xid8 of the writing transaction.
    pub transaction_id: i64,
    /// Commit-time clock of the database.
    pub recorded_at: DateTime<Utc>,
}

/// The columns every reader selects, in the shape [`RecordedEvent`] decodes.
pub const RECORDED_EVENT_COLUMNS: &str = "event_id, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata, global_position, \
     transaction_id::text::bigint AS transaction_id, recorded_at";

impl RecordedEvent {
    /// Where this event stands in the global log.
    pub fn position(&self) -> LogPosition {
        LogPosition { transaction_id: self.transaction_id, global_position: self.global_position }
    }

    /// An envelope field from the metadata.
    pub fn envelope(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let p = LogPosition { transaction_id: 812, global_position: 5 };
        assert_eq!(LogPosition::from_cursor(&p.to_cursor()), Some(p));
        assert_eq!(LogPosition::from_cursor("not a cursor"), None);
        assert_eq!(LogPosition::from_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("5")), None);
        assert_eq!(LogPosition::from_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("-1:3")), None);
    }

    #[test]
    fn log_order_is_transaction_first() {
        let x = LogPosition { transaction_id: 100, global_position: 8 };
        let y = LogPosition { transaction_id: 101, global_position: 7 };
        assert!(x < y);
    }
}
