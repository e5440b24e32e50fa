//! Errors of the write side, one enum per layer: the store speaks of rows and constraints,
//! the bus of what happened to the command.

use domain::rejection::RejectionKind;
use thiserror::Error;

/// What went wrong in the event store; driver errors are mapped to meanings by constraint.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Another command appended to the same aggregate first (events primary key).
    #[error("concurrency conflict: the aggregate changed while the command ran")]
    Conflict,
    /// A uniqueness claim is held by another aggregate (unique_claims primary key).
    #[error("{scope} {key:?} is already taken")]
    ClaimTaken {
        /// The claim's scope.
        scope: String,
        /// The contested key.
        key: String,
    },
    /// A command with the same idempotency key was committed (command_receipts primary key).
    #[error("duplicate idempotency key")]
    DuplicateReceipt,
    /// An event or snapshot could not be (de)serialized.
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),
    /// The worker's lease is no longer the one the command was issued under: another replica
    /// leads, or it expired. Nothing was written.
    #[error("fenced: {0} is no longer held")]
    Fenced(crate::fence::Fence),
    /// Any other database failure.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a driver error of the append statement to its meaning by constraint name:
    /// postgres-es calls every unique violation a conflict, which hides a taken name.
    pub fn from_append(err: sqlx::Error, claims: &[(String, String)]) -> Self {
        if let sqlx::Error::Database(db) = &err {
            match db.constraint() {
                Some("events_pkey") => return Self::Conflict,
                Some("command_receipts_pkey") => return Self::DuplicateReceipt,
                Some("unique_claims_pkey") => {
                    let (scope, key) = claims.first().cloned().unwrap_or_default();
                    let detail = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().and_then(|e| e.detail());
                    // The detail names the contested key when several claims were taken.
                    let (scope, key) = claims
                        .iter()
                        .find(|(_, k)| detail.is_some_and(|d| d.contains(k.as_str())))
                        .cloned()
                        .unwrap_or((scope, key));
                    return Self::ClaimTaken { scope, key };
                }
                _ => {}
            }
        }
        Self::Database(err)
    }
}

/// What a caller of the command bus gets back when the command did not take effect.
#[derive(Debug, Error)]
pub enum CommandError {
    /// The command targets an aggregate that does not exist.
    #[error("{aggregate_type} {aggregate_id} not found")]
    NotFound {
        /// Aggregate type.
        aggregate_type: &'static str,
        /// Aggregate id.
        aggregate_id: String,
    },
    /// Someone else changed the aggregate: a pinned expected version did not match, or another
    /// replica kept winning for the whole retry budget.
    #[error("concurrency conflict on {aggregate_type} {aggregate_id}: {detail}")]
    Conflict {
        /// Aggregate type.
        aggregate_type: &'static str,
        /// Aggregate id.
        aggregate_id: String,
        /// What was expected and found.
        detail: String,
    },
    /// The domain refused the command; `message` is the invariant's own words.
    #[error("{message}")]
    Rejected {
        /// The kind of refusal (invalid transition, invariant, already exists...).
        kind: RejectionKind,
        /// The domain's message.
        message: String,
    },
    /// A value in the command is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The caller may not act on this aggregate or tenant.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The idempotency key was already used for a different command.
    #[error("idempotency key {key:?} was already used for {previous}")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// What it was used for.
        previous: String,
    },
    /// A worker's command was issued under a lease it no longer holds (see
    /// [`crate::fence`]); nothing was written. The worker stops acting and leaves the work to
    /// the current leader.
    #[error("fenced: {0} is no longer held")]
    Fenced(crate::fence::Fence),
    /// Storage failed; details are logged with the trace id, not shown to callers.
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
}

impl CommandError {
    /// A stable machine-readable code, used as `extensions.code` at the API edge.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Conflict { .. } => "CONCURRENCY_CONFLICT",
            Self::Rejected { kind, .. } => match kind {
                RejectionKind::NotFound => "NOT_FOUND",
                RejectionKind::AlreadyExists => "ALREADY_EXISTS",
                RejectionKind::InvalidInput => "INVALID_INPUT",
                RejectionKind::InvalidTransition => "INVALID_TRANSITION",
                RejectionKind::InvariantViolated => "INVARIANT_VIOLATED",
                RejectionKind::LookupFailed => "INTERNAL",
            },
            Self::InvalidInput(_) => "INVALID_INPUT",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::IdempotencyKeyReused { .. } => "IDEMPOTENCY_KEY_REUSED",
            Self::Fenced(_) => "FENCED",
            Self::Store(_) => "INTERNAL",
        }
    }
}
