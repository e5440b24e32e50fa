//! The platform's own actors. A [`reactor::Reactor`] follows the global log from a durable
//! checkpoint (the same gap-free read as the projections) and reacts to events by issuing
//! commands through the bus, as a worker with the triggering event's trace and as its causation.
//! Delivery is at least once: a reaction is keyed by the event it answers, so a repeat after a
//! crash returns the first result instead of acting twice. One replica leads each reactor
//! ([`lease`]), and its commands are fenced by its lease: a deposed leader cannot act.

pub mod config_sync;
pub mod degraded_rollback;
pub mod drift;
pub mod error;
pub mod gate;
pub mod intake;
pub mod lease;
pub mod observation;
pub mod periodic;
pub mod probe;
pub mod reaction;
pub mod reactor;
pub mod scaling;
pub mod secret_rotation;
pub mod remediation;
pub mod supersession;

pub use config_sync::ConfigurationSyncLoop;
pub use degraded_rollback::DegradedRollbackReactor;
pub use drift::DriftDetectionLoop;
pub use error::ReactorError;
pub use gate::{DeploymentGateLoop, GateAnalysis};
pub use intake::{Intake, IntakeError};
pub use periodic::{LoopRunner, LoopStatus, Periodic};
pub use probe::{HealthProbeLoop, ProbeSettings};
pub use reactor::{BatchOutcome, Reactor, ReactorRunner, ReactorStatus};
pub use remediation::RemediationReactor;
pub use scaling::{ScalingLoop, ScalingSettings};
pub use secret_rotation::SecretRotationLoop;
pub use supersession::SupersessionReactor;
