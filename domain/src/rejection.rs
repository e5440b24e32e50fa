//! The kinds of refusal a domain error can be, so the bus and the API map them without
//! knowing every aggregate's error enum.

/// What kind of refusal a domain error is; the API turns each into a stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The command targets an aggregate that does not exist.
    NotFound,
    /// A create command targets an aggregate that already exists.
    AlreadyExists,
    /// A value in the command is malformed or out of range.
    InvalidInput,
    /// The command is not allowed in the aggregate's current state.
    InvalidTransition,
    /// A business rule (possibly across aggregates) refuses the command.
    InvariantViolated,
    /// A fact the decision needs could not be looked up (the lookup failed, not the rule).
    LookupFailed,
}

/// Implemented by every aggregate's error type.
pub trait Rejection: std::error::Error {
    /// Which kind of refusal this is.
    fn kind(&self) -> RejectionKind;
}
