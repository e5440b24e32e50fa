//! Commands to the `SecretBinding` aggregate. The binding id is the aggregate id, so no
//! command carries it; time is always passed in, because the domain never reads the clock.
//! No command carries a secret value: only where the secret is and which version of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{IdentityClientId, KeyVaultUri, RotationPolicy, SecretName, SecretSurface, SecretVersion};
use crate::configuration::values::WorkloadTarget;
use crate::environments::Reason;

/// What can be asked of a secret binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretBindingCommand {
    /// Ask for a workload to read a Key Vault secret through a managed identity.
    BindSecret {
        /// The workload (service, environment, tenant) that reads the secret.
        target: WorkloadTarget,
        /// The vault holding the secret.
        vault: KeyVaultUri,
        /// The secret's name in the vault.
        secret: SecretName,
        /// A version to pin; `None` follows the latest version.
        version: Option<SecretVersion>,
        /// The managed identity (client id) the workload reads the secret with.
        identity: IdentityClientId,
        /// The environment variable or file the secret surfaces as; unique per workload.
        surface: SecretSurface,
        /// How often the secret is rotated.
        rotation: RotationPolicy,
        /// When it was asked for.
        at: DateTime<Utc>,
    },
    /// The platform verified the identity can read the secret (`Requested -> Bound`).
    ConfirmBinding {
        /// The version it read (never the value); must equal the pinned version, if any.
        resolved_version: SecretVersion,
        /// When it was verified.
        at: DateTime<Utc>,
    },
    /// A new version of the secret is due (`Bound -> RotationDue`), sent by the
    /// SecretRotationWorker per the policy, or by an operator to rotate early.
    MarkRotationDue {
        /// When.
        at: DateTime<Utc>,
    },
    /// A new version was written to Key Vault (`RotationDue -> Rotated`).
    RecordRotation {
        /// The new version; must differ from the current one.
        new_version: SecretVersion,
        /// When it was written.
        at: DateTime<Utc>,
    },
    /// Workloads picked up the rotated version (`Rotated -> Bound`).
    ConfirmRotation {
        /// When it was verified.
        at: DateTime<Utc>,
    },
    /// Stop surfacing the secret to the workload; frees its surface.
    Revoke {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
}

impl SecretBindingCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            SecretBindingCommand::BindSecret { .. } => "BindSecret",
            SecretBindingCommand::ConfirmBinding { .. } => "ConfirmBinding",
            SecretBindingCommand::MarkRotationDue { .. } => "MarkRotationDue",
            SecretBindingCommand::RecordRotation { .. } => "RecordRotation",
            SecretBindingCommand::ConfirmRotation { .. } => "ConfirmRotation",
            SecretBindingCommand::Revoke { .. } => "Revoke",
        }
    }
}
