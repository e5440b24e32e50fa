//! The `RuntimeConfiguration` aggregate: a versioned set of key/value settings for a service
//! in an environment, optionally for one tenant.
//!
//! Lifecycle: `Draft` (created, nothing active yet) `-> Active` (one version active). Every
//! proposal appends an immutable version (1, 2, 3, ...) carrying the SHA-256 of its canonical
//! settings; activation moves forward, `RollBackToVersion` moves back and is recorded as such.
//! Workloads report the version they run and are `Synced` or `OutOfSync` with the active one.
//!
//! Rules kept here: one configuration per (service, environment, tenant or `*`), a claim taken
//! by `ConfigurationCreated` and never released; versions are append-only; values that look
//! like secrets are refused ([`secret_smell`]), because secrets belong in a `SecretBinding`.
//! No cross-aggregate lookup is needed, so the aggregate's `Services` is `()`.
//!
//! Layout:
//! - [`values`]: `ConfigKey`, `ConfigValue`, `Settings`, `ContentHash`, `ConfigVersion`, ...
//! - [`smell`]: [`secret_smell`], the pure heuristics that spot secrets.
//! - [`commands`]: the [`ConfigurationCommand`] enum.
//! - [`events`]: [`ConfigurationEvent`] and its uniqueness claim.
//! - [`error`]: [`ConfigurationError`], mapped to a `RejectionKind`.
//! - [`aggregate`]: [`RuntimeConfiguration`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod smell;
pub mod values;

pub use aggregate::RuntimeConfiguration;
pub use commands::ConfigurationCommand;
pub use error::ConfigurationError;
pub use events::{configuration_target_key, ConfigurationEvent, CONFIGURATION_TARGET_SCOPE};
pub use smell::{secret_smell, shannon_entropy, SecretSmell};
pub use values::{
    ConfigKey, ConfigValue, ConfigVersion, ConfigurationRollback, ConfigurationStatus, ConfigurationVersion,
    ContentHash, Settings, SyncStatus, WorkloadId, WorkloadSync,
};
