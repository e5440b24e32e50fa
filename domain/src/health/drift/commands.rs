//! Commands to the `DriftFinding` aggregate. The finding id is the aggregate id, so no command
//! carries it; time is always passed in, because the domain never reads the clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{DriftClass, DriftTarget, DriftValues, EvidenceId, RemediationAction};
use crate::environments::Reason;
use crate::health::values::Operator;

/// What can be asked of a drift finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriftCommand {
    /// Open a finding: desired and observed state diverge. Refused by the event store when an
    /// open finding of the same target and class exists (a claim).
    DetectDrift {
        /// Where: environment, service and/or resource, optional tenant.
        target: DriftTarget,
        /// What kind of drift.
        class: DriftClass,
        /// What should run and what runs.
        values: DriftValues,
        /// When it was detected.
        at: DateTime<Utc>,
    },
    /// A remediation command is being issued on the aggregate that owns the drifted state.
    StartRemediation {
        /// Which command, on which aggregate.
        action: RemediationAction,
        /// When it was issued.
        at: DateTime<Utc>,
    },
    /// The remediation fixed the drift.
    RecordRemediated {
        /// The event or command id that fixed it.
        evidence: EvidenceId,
        /// When the fix was observed.
        at: DateTime<Utc>,
    },
    /// Live with the drift: it is intended or not worth fixing.
    AcceptDrift {
        /// Why.
        reason: Reason,
        /// Who decided.
        accepted_by: Operator,
        /// When.
        at: DateTime<Utc>,
    },
    /// The observed state matches the desired state again without a remediation of ours.
    ResolveDrift {
        /// When it was observed.
        at: DateTime<Utc>,
    },
}

impl DriftCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            DriftCommand::DetectDrift { .. } => "DetectDrift",
            DriftCommand::StartRemediation { .. } => "StartRemediation",
            DriftCommand::RecordRemediated { .. } => "RecordRemediated",
            DriftCommand::AcceptDrift { .. } => "AcceptDrift",
            DriftCommand::ResolveDrift { .. } => "ResolveDrift",
        }
    }

    /// When the command says it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            DriftCommand::DetectDrift { at, .. }
            | DriftCommand::StartRemediation { at, .. }
            | DriftCommand::RecordRemediated { at, .. }
            | DriftCommand::AcceptDrift { at, .. }
            | DriftCommand::ResolveDrift { at } => *at,
        }
    }
}
