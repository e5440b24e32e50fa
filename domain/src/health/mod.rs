//! Health & drift context: what the running system reports back. Two aggregates:
//!
//! - `RuntimeHealth`: the health of one service in one environment (optionally one tenant),
//!   derived from probe results; only changes are events (a probe flipping, the status
//!   changing, incidents opening, being acknowledged and closing).
//! - `DriftFinding`: a divergence between desired and observed state, `Detected ->
//!   Remediating -> Remediated`, `Detected -> Accepted`, `Detected|Remediating -> Resolved`.
//!
//! Rules kept here: one health record per service, environment and tenant (claim
//! [`HEALTH_TARGET_SCOPE`], never released); one open drift finding per environment, service
//! (or resource), tenant and class (claim [`OPEN_DRIFT_SCOPE`], released when the finding
//! closes); remediation acts through a command on the aggregate owning the desired state.
//! Neither aggregate needs facts from other aggregates, so both have `()` services.
//!
//! Layout:
//! - [`values`]: [`ValueError`] and the values both aggregates share ([`Detail`],
//!   [`Operator`]).
//! - [`runtime_health`]: [`RuntimeHealth`] with its values, commands, events and errors.
//! - [`drift`]: [`DriftFinding`] with its values, commands, events and errors.

pub mod drift;
pub mod runtime_health;
pub mod values;

pub use drift::{
    open_drift_key, AggregateType, CommandName, DriftClass, DriftClosure, DriftCommand, DriftError, DriftEvent,
    DriftFinding, DriftStatus, DriftTarget, DriftValues, EvidenceId, RemediationAction, ResourceRef, StateValue,
    OPEN_DRIFT_SCOPE,
};
pub use runtime_health::{
    health_target_key, Acknowledgement, DependencyName, HealthCommand, HealthError, HealthEvent, HealthStatus,
    HealthTarget, Incident, Probe, ProbeResult, RuntimeHealth, HEALTH_TARGET_SCOPE,
};
pub use values::{Detail, Operator, ValueError};
