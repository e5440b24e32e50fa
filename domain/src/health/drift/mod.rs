//! The `DriftFinding` aggregate: a divergence between the desired state (what the events say
//! should run) and the observed state reported from the running system, from detection until
//! it is remediated, accepted or resolved.
//!
//! Rules kept here: one open finding per environment, service (or resource), tenant and class
//! (a claim taken by `RuntimeDriftDetected` and released by every closing event, enforced by
//! the event store); remediation records the command it issues on the aggregate that owns the
//! drifted desired state, never acting out of band.
//!
//! Layout:
//! - [`values`]: [`DriftTarget`], [`DriftClass`], [`DriftValues`], [`RemediationAction`],
//!   [`DriftStatus`], [`DriftClosure`].
//! - [`commands`]: the [`DriftCommand`] enum.
//! - [`events`]: [`DriftEvent`] and the open-finding claim.
//! - [`error`]: [`DriftError`], mapped to a `RejectionKind`.
//! - [`aggregate`]: [`DriftFinding`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod values;

pub use aggregate::DriftFinding;
pub use commands::DriftCommand;
pub use error::DriftError;
pub use events::{open_drift_key, DriftEvent, OPEN_DRIFT_SCOPE};
pub use values::{
    AggregateType, CommandName, DriftClass, DriftClosure, DriftStatus, DriftTarget, DriftValues, EvidenceId,
    RemediationAction, ResourceRef, StateValue,
};
