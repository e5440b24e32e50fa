//! Commands to the `RuntimeConfiguration` aggregate. The configuration id is the aggregate id,
//! so no command carries it; time is always passed in, because the domain never reads the
//! clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{ConfigVersion, ContentHash, Settings, WorkloadId};
use crate::configuration::values::WorkloadTarget;

/// What can be asked of a runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigurationCommand {
    /// Create the configuration of a service in an environment (optionally for one tenant).
    /// Kept apart from the first proposal so that proposals never repeat, or contradict, the
    /// target; one configuration per target is enforced by a claim.
    CreateConfiguration {
        /// The workload the settings are for.
        target: WorkloadTarget,
        /// When it was created.
        at: DateTime<Utc>,
    },
    /// Propose a new immutable version of the settings. It becomes version `latest + 1` and is
    /// not active until `ActivateVersion`.
    ProposeConfigurationVersion {
        /// The complete settings of the version (not a patch).
        settings: Settings,
        /// SHA-256 of `settings.canonical_json()`, computed by the caller.
        content_hash: ContentHash,
        /// When it was proposed.
        at: DateTime<Utc>,
    },
    /// Make a proposed version the one workloads should run; newer than the active one (or
    /// any version while none is active). Going back is `RollBackToVersion`.
    ActivateVersion {
        /// The version to activate.
        version: ConfigVersion,
        /// When.
        at: DateTime<Utc>,
    },
    /// Go back to a version older than the active one, recording the rollback.
    RollBackToVersion {
        /// The older version to make active again.
        version: ConfigVersion,
        /// When.
        at: DateTime<Utc>,
    },
    /// A workload reported which version it runs (sent by the ConfigurationSyncWorker).
    RecordWorkloadSync {
        /// The reporting workload.
        workload: WorkloadId,
        /// The version it runs.
        running_version: ConfigVersion,
        /// When it reported.
        at: DateTime<Utc>,
    },
}

impl ConfigurationCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            ConfigurationCommand::CreateConfiguration { .. } => "CreateConfiguration",
            ConfigurationCommand::ProposeConfigurationVersion { .. } => "ProposeConfigurationVersion",
            ConfigurationCommand::ActivateVersion { .. } => "ActivateVersion",
            ConfigurationCommand::RollBackToVersion { .. } => "RollBackToVersion",
            ConfigurationCommand::RecordWorkloadSync { .. } => "RecordWorkloadSync",
        }
    }
}
