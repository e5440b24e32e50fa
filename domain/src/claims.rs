//! Uniqueness claims: rules like "environment names are unique per product and stage" span
//! aggregates, so no single aggregate can check them. An event states the claim it takes or
//! releases; the event store writes the claim in the same statement as the event, under a
//! unique index, so two racing commands cannot both win.

/// A claim on a unique key within a scope, taken or released by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The namespace of the key, e.g. `environment_name`.
    pub scope: &'static str,
    /// The unique key inside the scope, e.g. `product/stage/name`.
    pub key: String,
    /// Whether the event takes the claim or releases it.
    pub action: ClaimAction,
}

/// Whether an event takes or gives up a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimAction {
    /// Take the key; fails the whole command if another aggregate holds it.
    Take,
    /// Give the key back so another aggregate may take it.
    Release,
    /// Point the key at this aggregate, replacing whichever held it: a write-side index kept
    /// atomically with the event (e.g. "the last succeeded deployment of a service in an
    /// environment"), so decisions can look it up without waiting for a projection.
    Point,
}

/// Implemented by event enums whose events take or release uniqueness claims.
pub trait ClaimsUnique {
    /// The claims this event takes or releases; most events return none.
    fn claims(&self) -> Vec<Claim> {
        Vec::new()
    }
}
