//! Why the `RuntimeHealth` aggregate refused a command.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::values::HealthStatus;
use crate::health::values::ValueError;
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `RuntimeHealth` aggregate.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HealthError {
    /// Any command but `TrackHealth` on a record that was never created.
    #[error("cannot {command}: health is not tracked")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `TrackHealth` on a record that already exists.
    #[error("cannot TrackHealth: health is already tracked (it is {status})")]
    AlreadyExists {
        /// The existing record's status.
        status: HealthStatus,
    },
    /// `AcknowledgeIncident` while no incident is open.
    #[error("cannot AcknowledgeIncident: health is {status} with no open incident")]
    NoOpenIncident {
        /// The current status.
        status: HealthStatus,
    },
    /// `AcknowledgeIncident` names an incident other than the open one.
    #[error("cannot AcknowledgeIncident: incident {requested} is not open (incident {open} is)")]
    IncidentNotOpen {
        /// The incident the command named.
        requested: u32,
        /// The incident that is open.
        open: u32,
    },
    /// An incident is acknowledged once.
    #[error("cannot AcknowledgeIncident: incident {0} is already acknowledged")]
    AlreadyAcknowledged(u32),
    /// Observations arrive in time order; an older one would rewrite history (a late sample
    /// from a lagging probe replica must not flip the status back).
    #[error("cannot {command}: {at} is before the last recorded change at {last}")]
    OutOfOrder {
        /// The refused command.
        command: &'static str,
        /// The command's time.
        at: DateTime<Utc>,
        /// The time of the latest event.
        last: DateTime<Utc>,
    },
    /// A value was malformed; raised by callers that parse raw input into a command, so one
    /// error type covers everything this aggregate refuses.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

impl Rejection for HealthError {
    fn kind(&self) -> RejectionKind {
        match self {
            HealthError::NotFound { .. } => RejectionKind::NotFound,
            HealthError::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            HealthError::NoOpenIncident { .. }
            | HealthError::IncidentNotOpen { .. }
            | HealthError::AlreadyAcknowledged(_) => RejectionKind::InvalidTransition,
            HealthError::OutOfOrder { .. } | HealthError::InvalidValue(_) => RejectionKind::InvalidInput,
        }
    }
}
