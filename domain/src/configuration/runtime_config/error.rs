//! Why the `RuntimeConfiguration` aggregate refused a command.

use thiserror::Error;

use super::smell::SecretSmell;
use super::values::{ConfigKey, ConfigVersion, ConfigurationStatus};
use crate::configuration::values::ValueError;
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `RuntimeConfiguration` aggregate. No message ever repeats a setting's
/// value: it may be the secret that caused the refusal.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigurationError {
    /// Any command but `CreateConfiguration` on a configuration that was never created.
    #[error("cannot {command}: configuration does not exist")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `CreateConfiguration` on a configuration that already exists.
    #[error("cannot CreateConfiguration: configuration already exists (it is {status})")]
    AlreadyExists {
        /// The existing configuration's status.
        status: ConfigurationStatus,
    },
    /// The command is not allowed in the current status.
    #[error("cannot {command}: configuration is {status}")]
    InvalidTransition {
        /// The refused command.
        command: &'static str,
        /// The configuration's current status.
        status: ConfigurationStatus,
    },
    /// The command names a version that was never proposed.
    #[error("cannot {command}: version {version} does not exist")]
    UnknownVersion {
        /// The refused command.
        command: &'static str,
        /// The missing version.
        version: ConfigVersion,
    },
    /// Activating the version that is already active.
    #[error("cannot ActivateVersion: version {0} is already active")]
    AlreadyActive(ConfigVersion),
    /// Going back must be recorded as a rollback.
    #[error(
        "cannot ActivateVersion: version {version} is older than the active version {active}; use RollBackToVersion"
    )]
    OlderThanActive {
        /// The requested version.
        version: ConfigVersion,
        /// The active version.
        active: ConfigVersion,
    },
    /// A rollback goes to an older version.
    #[error("cannot RollBackToVersion: version {version} is not older than the active version {active}")]
    NotOlderThanActive {
        /// The requested version.
        version: ConfigVersion,
        /// The active version.
        active: ConfigVersion,
    },
    /// The proposed content is that of an existing, older version.
    #[error(
        "configuration content is identical to version {0} (same content hash); activate or roll back to it instead"
    )]
    DuplicateContent(ConfigVersion),
    /// The hash and the settings disagree with an existing version: one matches, the other
    /// does not, so the hash was not computed over these settings.
    #[error(
        "content hash does not match the settings: version {0} has the same hash or the same settings but not both"
    )]
    ContentHashMismatch(ConfigVersion),
    /// A setting looks like a secret; secrets are bound from Key Vault, never stored here.
    #[error("configuration value for \"{key}\" looks like a secret ({smell}): bind it from Key Vault with a secret binding instead")]
    LooksLikeSecret {
        /// The offending key (the value is never repeated).
        key: ConfigKey,
        /// Why it looks like a secret.
        smell: SecretSmell,
    },
    /// The version counter is exhausted (4 294 967 295 versions).
    #[error("cannot ProposeConfigurationVersion: no version number is left")]
    VersionLimitReached,
    /// A value was malformed; raised by callers that parse raw input into a command, so one
    /// error type covers everything this aggregate refuses.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

impl Rejection for ConfigurationError {
    fn kind(&self) -> RejectionKind {
        match self {
            ConfigurationError::NotFound { .. } => RejectionKind::NotFound,
            ConfigurationError::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            ConfigurationError::InvalidTransition { .. } | ConfigurationError::AlreadyActive(_) => {
                RejectionKind::InvalidTransition
            }
            ConfigurationError::ContentHashMismatch(_) | ConfigurationError::InvalidValue(_) => {
                RejectionKind::InvalidInput
            }
            ConfigurationError::UnknownVersion { .. }
            | ConfigurationError::OlderThanActive { .. }
            | ConfigurationError::NotOlderThanActive { .. }
            | ConfigurationError::DuplicateContent(_)
            | ConfigurationError::LooksLikeSecret { .. }
            | ConfigurationError::VersionLimitReached => RejectionKind::InvariantViolated,
        }
    }
}
