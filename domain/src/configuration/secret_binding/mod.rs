//! The `SecretBinding` aggregate: a binding of a workload (a service in an environment,
//! optionally for one tenant) to a secret in Azure Key Vault, read through a managed identity
//! and surfaced as an environment variable or a mounted file, with a rotation policy.
//!
//! **Never a secret value.** The binding says *where* a secret is (vault URI, secret name,
//! optional version), *who* reads it (the managed identity's client id), *how* the workload
//! sees it (env var name or mount path) and *when* it rotates. No command, event or field can
//! hold the value: every field is a parsed name, id, version, path, policy or time, and the
//! platform reports what it verified (`ConfirmBinding { resolved_version }`), never what it
//! read.
//!
//! Lifecycle: `Requested -> Bound -> RotationDue -> Rotated -> Bound` (`ConfirmBinding`,
//! `MarkRotationDue`, `RecordRotation`, `ConfirmRotation`), and `Revoke` from every live
//! state (`Requested`, `Bound`, `RotationDue`, `Rotated`) to the terminal `Revoked`:
//! revocation is the emergency brake and must not wait for a rotation to finish.
//!
//! Rules kept here: two bindings cannot surface on the same env var or path of one workload
//! (a claim on `service/environment/tenant-or-*/surface`, taken by `SecretBindingRequested`
//! and released by `SecretBindingRevoked`); a pinned binding confirms only its pinned version,
//! and the pin follows each rotation; a rotation needs a new version. No cross-aggregate
//! lookup is needed, so the aggregate's `Services` is `()`.
//!
//! Layout:
//! - [`values`]: `KeyVaultUri`, `SecretName`, `SecretVersion`, `SecretSurface`, ...
//! - [`commands`]: the [`SecretBindingCommand`] enum.
//! - [`events`]: [`SecretBindingEvent`] and its uniqueness claim.
//! - [`error`]: [`SecretBindingError`], mapped to a `RejectionKind`.
//! - [`aggregate`]: [`SecretBinding`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod values;

pub use aggregate::SecretBinding;
pub use commands::SecretBindingCommand;
pub use error::SecretBindingError;
pub use events::{secret_binding_target_key, SecretBindingEvent, SECRET_BINDING_TARGET_SCOPE};
pub use values::{
    EnvVarName, IdentityClientId, KeyVaultUri, MountPath, RotationPolicy, SecretBindingStatus, SecretName,
    SecretSurface, SecretVersion,
};
