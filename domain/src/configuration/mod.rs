//! Configuration & secrets context: what a workload is configured with, and which Key Vault
//! secrets it may read, kept apart so that no secret value ever enters the event log.
//!
//! - [`RuntimeConfiguration`]: versioned, immutable key/value settings of a service in an
//!   environment (optionally per tenant), with per-workload sync status. Values that look like
//!   secrets are refused and pointed at a secret binding.
//! - [`SecretBinding`]: a reference from a workload to a Key Vault secret read through a
//!   managed identity, surfaced as an environment variable or a mounted file, with a rotation
//!   policy. It never holds a secret value: no field can.
//!
//! Both aggregates are tenant-owned when they name a tenant and platform-wide otherwise, and
//! both need no cross-aggregate lookup (their `Services` are `()`): the uniqueness rules are
//! claims written by the event store.
//!
//! Layout:
//! - [`values`]: what both aggregates share ([`WorkloadTarget`], [`ValueError`]).
//! - [`runtime_config`]: the `RuntimeConfiguration` aggregate and its secret heuristics.
//! - [`secret_binding`]: the `SecretBinding` aggregate.

pub mod runtime_config;
pub mod secret_binding;
pub mod values;

pub use runtime_config::{
    configuration_target_key, secret_smell, shannon_entropy, ConfigKey, ConfigValue, ConfigVersion,
    ConfigurationCommand, ConfigurationError, ConfigurationEvent, ConfigurationRollback, ConfigurationStatus,
    ConfigurationVersion, ContentHash, RuntimeConfiguration, SecretSmell, Settings, SyncStatus, WorkloadId,
    WorkloadSync, CONFIGURATION_TARGET_SCOPE,
};
pub use secret_binding::{
    secret_binding_target_key, EnvVarName, IdentityClientId, KeyVaultUri, MountPath, RotationPolicy, SecretBinding,
    SecretBindingCommand, SecretBindingError, SecretBindingEvent, SecretBindingStatus, SecretName, SecretSurface,
    SecretVersion, SECRET_BINDING_TARGET_SCOPE,
};
pub use values::{ValueError, WorkloadTarget};
