//! Commands to the `RuntimeHealth` aggregate. The health id is the aggregate id, so no command
//! carries it; time is always passed in, because the domain never reads the clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{DependencyName, HealthTarget, Probe};
use crate::health::values::{Detail, Operator};

/// What can be asked of a runtime health record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthCommand {
    /// Start tracking the health of a service in an environment (and tenant). Explicit rather
    /// than implied by the first probe result, so the target is fixed once, claimed once, and
    /// later commands need not repeat it.
    TrackHealth {
        /// What is watched; unique (a claim).
        target: HealthTarget,
        /// Whether the service's runtime contract declares a startup probe: until it passes,
        /// the service is `Progressing` rather than `Degraded`.
        startup_probe: bool,
        /// When tracking started.
        at: DateTime<Utc>,
    },
    /// A probe sample. Records an event only when the probe's pass/fail flips (or it is the
    /// probe's first sample) or the derived status changes; a repeated result records nothing.
    RecordProbeResult {
        /// Which probe.
        probe: Probe,
        /// Whether it passed.
        passed: bool,
        /// How long the probe took.
        latency_ms: u32,
        /// What it said, e.g. the status code and a short body.
        detail: Option<Detail>,
        /// When the sample was taken.
        at: DateTime<Utc>,
    },
    /// The health of a dependency as seen from outside the probe (e.g. the dependency's own
    /// health, or an external status page). Same change-only rule; lands on the same
    /// `dependency:<name>` probe as a dependency check reported by `RecordProbeResult`.
    RecordDependencyHealth {
        /// The dependency.
        dependency: DependencyName,
        /// Whether it is healthy.
        healthy: bool,
        /// What is known about it.
        detail: Option<Detail>,
        /// When it was observed.
        at: DateTime<Utc>,
    },
    /// Someone takes responsibility for the open incident.
    AcknowledgeIncident {
        /// The incident being acknowledged; must be the open one, so an acknowledgement of an
        /// incident that closed meanwhile does not silently acknowledge its successor.
        incident: u32,
        /// What they say about it.
        note: Option<Detail>,
        /// Who takes responsibility.
        acknowledged_by: Operator,
        /// When.
        at: DateTime<Utc>,
    },
}

impl HealthCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            HealthCommand::TrackHealth { .. } => "TrackHealth",
            HealthCommand::RecordProbeResult { .. } => "RecordProbeResult",
            HealthCommand::RecordDependencyHealth { .. } => "RecordDependencyHealth",
            HealthCommand::AcknowledgeIncident { .. } => "AcknowledgeIncident",
        }
    }

    /// When the command says it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            HealthCommand::TrackHealth { at, .. }
            | HealthCommand::RecordProbeResult { at, .. }
            | HealthCommand::RecordDependencyHealth { at, .. }
            | HealthCommand::AcknowledgeIncident { at, .. } => *at,
        }
    }
}
