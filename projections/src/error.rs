//! Errors of the read side.

use thiserror::Error;

/// Why a projector or the runner failed; the batch's transaction is rolled back.
#[derive(Debug, Error)]
pub enum ProjectionError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored event or view row did not deserialize.
    #[error("event {position} could not be decoded: {source}")]
    Decode {
        /// Where in the log.
        position: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A stored view row did not deserialize.
    #[error("view row could not be decoded: {0}")]
    View(#[from] serde_json::Error),
    /// The projector was stopped on purpose (tests use this to abort a batch midway).
    #[error("projector aborted: {0}")]
    Aborted(String),
    /// The write-side store failed to decode an event.
    #[error("store: {0}")]
    Store(#[from] commands::StoreError),
}
