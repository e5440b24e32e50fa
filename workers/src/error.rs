//! Errors of the reactors.

use thiserror::Error;

/// Why a reactor stopped short of its batch. The checkpoint stays before the event that
/// failed, so the runner retries it after a pause.
#[derive(Debug, Error)]
pub enum ReactorError {
    /// The database failed (reading the log, moving the checkpoint).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// An event of the log did not decode.
    #[error("event {position} could not be decoded: {reason}")]
    Decode {
        /// Where in the log.
        position: String,
        /// Why.
        reason: String,
    },
    /// A fact the reaction needs could not be looked up (it may be there on a retry).
    #[error("lookup failed: {0}")]
    Lookup(String),
    /// Loading an aggregate failed.
    #[error("store: {0}")]
    Store(#[from] commands::StoreError),
    /// The command the reaction issued failed for a reason that may pass (storage, a
    /// conflict that outlasted the bus's retries).
    #[error("command failed: {0}")]
    Command(#[from] commands::CommandError),
    /// Handing something to a system outside the platform failed (a broker refused or could
    /// not be reached); the relay tries again from the same event.
    #[error("delivery failed: {0}")]
    Delivery(String),
}
