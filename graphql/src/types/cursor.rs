//! Relay cursors. Log cursors carry the `(transaction id, position)` pair, never a bare
//! position, so a client resuming from one cannot skip an event that committed late.

use async_graphql::connection::{Connection, ConnectionNameType, CursorType, EdgeNameType, EmptyFields};
use async_graphql::OutputType;
use commands::LogPosition;

/// A place in the global log, as an opaque cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCursor(pub LogPosition);

impl CursorType for LogCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        LogPosition::from_cursor(s).map(Self).ok_or("malformed log cursor")
    }

    fn encode_cursor(&self) -> String {
        self.0.to_cursor()
    }
}

/// A place in one ordered list (a stream's sequence, a view's creation position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceCursor(pub i64);

impl CursorType for SequenceCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| "malformed cursor")?;
        let raw = std::str::from_utf8(&raw).map_err(|_| "malformed cursor")?;
        let n = raw.strip_prefix("seq:").and_then(|n| n.parse::<i64>().ok()).ok_or("malformed cursor")?;
        if n < 0 {
            return Err("malformed cursor");
        }
        Ok(Self(n))
    }

    fn encode_cursor(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{}", self.0))
    }
}

/// Names the log-ordered connection of events `LogEventConnection`, apart from the
/// sequence-ordered `EventConnection` of one aggregate's history.
pub struct LogEventConnectionName;

impl ConnectionNameType for LogEventConnectionName {
    fn type_name<T: OutputType>() -> String {
        "LogEventConnection".to_owned()
    }
}

/// Edge of [`LogEventConnectionName`].
pub struct LogEventEdgeName;

impl EdgeNameType for LogEventEdgeName {
    fn type_name<T: OutputType>() -> String {
        "LogEventEdge".to_owned()
    }
}

/// Events in global log order, paged by log cursor.
pub type LogEventConnection<N> =
    Connection<LogCursor, N, EmptyFields, EmptyFields, LogEventConnectionName, LogEventEdgeName>;
