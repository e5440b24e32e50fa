//! The `RuntimeHealth` aggregate: the health of one service in one environment (optionally one
//! tenant), derived from probe results, with the incidents unhealthy periods open.
//!
//! Only changes are events: a probe flipping, the derived status changing, an incident opening,
//! being acknowledged or closing. The latest sample itself may be kept outside the log.
//!
//! Layout:
//! - [`values`]: [`HealthTarget`], [`Probe`], [`HealthStatus`] and its derivation rule,
//!   [`Incident`].
//! - [`commands`]: the [`HealthCommand`] enum.
//! - [`events`]: [`HealthEvent`] and the target claim.
//! - [`error`]: [`HealthError`], mapped to a `RejectionKind`.
//! - [`aggregate`]: [`RuntimeHealth`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod values;

pub use aggregate::RuntimeHealth;
pub use commands::HealthCommand;
pub use error::HealthError;
pub use events::{health_target_key, HealthEvent, HEALTH_TARGET_SCOPE};
pub use values::{Acknowledgement, DependencyName, HealthStatus, HealthTarget, Incident, Probe, ProbeResult};
