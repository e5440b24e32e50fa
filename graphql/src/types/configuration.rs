//! `Configuration` and `SecretBinding` (configuration & secrets context) and the inputs of
//! their mutations. No type here can hold a secret value: a secret binding says where a secret
//! is and how a workload sees it, never what it is.

use async_graphql::{Enum, InputObject, Object, OneofObject, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::configuration::{self as cfg, RuntimeConfiguration, SecretBinding as SecretBindingState};

// ---------------------------------------------------------------------------------------------
// RuntimeConfiguration
// ---------------------------------------------------------------------------------------------

/// Where a runtime configuration is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConfigurationStatus {
    /// Created; versions may have been proposed but none has been activated yet.
    Draft,
    /// One version is active; workloads are expected to run it.
    Active,
}

impl From<cfg::ConfigurationStatus> for ConfigurationStatus {
    fn from(s: cfg::ConfigurationStatus) -> Self {
        match s {
            cfg::ConfigurationStatus::Draft => Self::Draft,
            cfg::ConfigurationStatus::Active => Self::Active,
        }
    }
}

impl From<ConfigurationStatus> for cfg::ConfigurationStatus {
    fn from(s: ConfigurationStatus) -> Self {
        match s {
            ConfigurationStatus::Draft => Self::Draft,
            ConfigurationStatus::Active => Self::Active,
        }
    }
}

/// Whether a workload runs the active configuration version.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConfigurationSyncStatus {
    /// It runs the active version.
    Synced,
    /// It runs another version, or no version is active yet.
    OutOfSync,
}

impl From<cfg::SyncStatus> for ConfigurationSyncStatus {
    fn from(s: cfg::SyncStatus) -> Self {
        match s {
            cfg::SyncStatus::Synced => Self::Synced,
            cfg::SyncStatus::OutOfSync => Self::OutOfSync,
        }
    }
}

impl From<ConfigurationSyncStatus> for cfg::SyncStatus {
    fn from(s: ConfigurationSyncStatus) -> Self {
        match s {
            ConfigurationSyncStatus::Synced => Self::Synced,
            ConfigurationSyncStatus::OutOfSync => Self::OutOfSync,
        }
    }
}

/// One setting of a configuration version to propose. Values that look like secrets are
/// refused: bind those from Key Vault with a secret binding.
#[derive(InputObject, Clone)]
pub struct ConfigurationSettingInput {
    /// Setting name: 1 to 128 of letters, digits, `_`, `.`, `:` or `-`, starting with a letter;
    /// unique within the version.
    pub key: String,
    /// Setting value: text up to 4096 characters (empty allowed), no control characters other
    /// than tab, line feed and carriage return.
    pub value: String,
}

/// Values are never printed, even in debug output.
impl std::fmt::Debug for ConfigurationSettingInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigurationSettingInput").field("key", &self.key).finish_non_exhaustive()
    }
}

/// Everything needed to create the configuration of a service in an environment.
#[derive(InputObject, Debug)]
pub struct CreateConfigurationInput {
    /// Client-chosen id (UUID), so a retried request targets the same configuration;
    /// generated when absent.
    pub id: Option<ID>,
    /// The service the settings are for (UUID).
    pub service_id: ID,
    /// The environment the settings are for (UUID).
    pub environment_id: ID,
    /// The tenant, for a tenant-specific configuration; absent for every tenant.
    pub tenant_id: Option<String>,
}

/// One setting of a configuration version.
#[derive(SimpleObject, Debug, Clone)]
pub struct ConfigurationSetting {
    /// Setting name.
    pub key: String,
    /// Setting value (never a secret: those are refused at proposal time).
    pub value: String,
}

/// One immutable version of a configuration.
pub struct ConfigurationVersion {
    inner: cfg::ConfigurationVersion,
    active: Option<cfg::ConfigVersion>,
}

#[Object]
impl ConfigurationVersion {
    /// Version number: 1 for the first, then 2, 3, ...
    async fn number(&self) -> i64 {
        i64::from(self.inner.number().get())
    }
    /// SHA-256 (64 lowercase hex digits) of the version's canonical settings JSON.
    async fn content_hash(&self) -> String {
        self.inner.content_hash().to_string()
    }
    /// The complete settings of the version, sorted by key.
    async fn settings(&self) -> Vec<ConfigurationSetting> {
        self.inner
            .settings()
            .as_map()
            .iter()
            .map(|(key, value)| ConfigurationSetting { key: key.to_string(), value: value.to_string() })
            .collect()
    }
    /// How many settings the version holds.
    async fn setting_count(&self) -> i64 {
        self.inner.settings().len() as i64
    }
    /// When it was proposed.
    async fn proposed_at(&self) -> DateTime<Utc> {
        self.inner.proposed_at()
    }
    /// Whether it is the active version.
    async fn is_active(&self) -> bool {
        self.active == Some(self.inner.number())
    }
}

/// What one workload last reported running.
#[derive(SimpleObject, Debug, Clone)]
pub struct ConfigurationWorkloadSync {
    /// What the runtime calls the workload (pod, revision, instance).
    pub workload_id: String,
    /// The configuration version it runs.
    pub running_version: i64,
    /// Whether that is the active version.
    pub status: ConfigurationSyncStatus,
    /// When it was first seen running that version.
    pub since: DateTime<Utc>,
}

/// The most recent rollback of a configuration.
#[derive(SimpleObject, Debug, Clone)]
pub struct ConfigurationRollback {
    /// The version that was active before.
    pub from_version: i64,
    /// The older version made active again.
    pub to_version: i64,
    /// When.
    pub at: DateTime<Utc>,
}

/// The versioned key/value settings of a service in an environment, optionally for one
/// tenant (tenant-owned when it names a tenant, platform-wide otherwise).
pub struct Configuration {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: RuntimeConfiguration,
}

impl Configuration {
    fn version_view(&self, v: &cfg::ConfigurationVersion) -> ConfigurationVersion {
        ConfigurationVersion { inner: v.clone(), active: self.state.active_version() }
    }
}

#[Object]
impl Configuration {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate (event count) this view reflects; not a configuration version.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Lifecycle state.
    async fn status(&self) -> Option<ConfigurationStatus> {
        self.state.status().map(Into::into)
    }
    /// The service the settings are for.
    async fn service_id(&self) -> Option<ID> {
        self.state.target().map(|t| ID(t.service().to_string()))
    }
    /// The environment the settings are for.
    async fn environment_id(&self) -> Option<ID> {
        self.state.target().map(|t| ID(t.environment().to_string()))
    }
    /// The tenant, for a tenant-specific configuration; null for every tenant.
    async fn tenant_id(&self) -> Option<String> {
        self.state.tenant().map(ToString::to_string)
    }
    /// Every version, oldest first.
    async fn versions(&self) -> Vec<ConfigurationVersion> {
        self.state.versions().iter().map(|v| self.version_view(v)).collect()
    }
    /// One version by number; null when it was never proposed.
    async fn configuration_version(
        &self,
        #[graphql(desc = "The version number (from 1).")] number: i64,
    ) -> Option<ConfigurationVersion> {
        let number = cfg::ConfigVersion::parse(u64::try_from(number).ok()?).ok()?;
        self.state.version(number).map(|v| self.version_view(v))
    }
    /// Number of the newest version, active or not.
    async fn latest_version(&self) -> Option<i64> {
        self.state.latest_version().map(|v| i64::from(v.number().get()))
    }
    /// Number of the active version.
    async fn active_version(&self) -> Option<i64> {
        self.state.active_version().map(|v| i64::from(v.get()))
    }
    /// The active version with its settings.
    async fn active(&self) -> Option<ConfigurationVersion> {
        self.state.active().map(|v| self.version_view(v))
    }
    /// When the active version was activated (or rolled back to).
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.state.activated_at()
    }
    /// The most recent rollback, if any.
    async fn last_rollback(&self) -> Option<ConfigurationRollback> {
        self.state.last_rollback().map(|r| ConfigurationRollback {
            from_version: i64::from(r.from_version().get()),
            to_version: i64::from(r.to_version().get()),
            at: r.at(),
        })
    }
    /// Every workload that reported, with the version it runs and whether that is the active
    /// one, sorted by workload id.
    async fn workloads(&self) -> Vec<ConfigurationWorkloadSync> {
        self.state
            .workloads()
            .iter()
            .map(|(id, sync)| ConfigurationWorkloadSync {
                workload_id: id.to_string(),
                running_version: i64::from(sync.running_version().get()),
                status: sync.status().into(),
                since: sync.since(),
            })
            .collect()
    }
    /// How many reporting workloads do not run the active version.
    async fn out_of_sync_workloads(&self) -> i64 {
        self.state.workloads().values().filter(|s| s.status() == cfg::SyncStatus::OutOfSync).count() as i64
    }
    /// When it was created.
    async fn created_at(&self) -> Option<DateTime<Utc>> {
        self.state.created_at()
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
}

// ---------------------------------------------------------------------------------------------
// SecretBinding
// ---------------------------------------------------------------------------------------------

/// Where a secret binding is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SecretBindingStatus {
    /// Asked for; the platform has not yet verified the identity can read the secret.
    Requested,
    /// Verified readable; the workload uses the current version.
    Bound,
    /// The rotation policy (or an operator) says a new version is due.
    RotationDue,
    /// A new version exists in Key Vault; workloads have not yet confirmed picking it up.
    Rotated,
    /// Revoked; terminal, its surface is free for another binding.
    Revoked,
}

impl From<cfg::SecretBindingStatus> for SecretBindingStatus {
    fn from(s: cfg::SecretBindingStatus) -> Self {
        use cfg::SecretBindingStatus as S;
        match s {
            S::Requested => Self::Requested,
            S::Bound => Self::Bound,
            S::RotationDue => Self::RotationDue,
            S::Rotated => Self::Rotated,
            S::Revoked => Self::Revoked,
        }
    }
}

impl From<SecretBindingStatus> for cfg::SecretBindingStatus {
    fn from(s: SecretBindingStatus) -> Self {
        match s {
            SecretBindingStatus::Requested => Self::Requested,
            SecretBindingStatus::Bound => Self::Bound,
            SecretBindingStatus::RotationDue => Self::RotationDue,
            SecretBindingStatus::Rotated => Self::Rotated,
            SecretBindingStatus::Revoked => Self::Revoked,
        }
    }
}

/// How a workload sees a bound secret.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SecretSurfaceKind {
    /// An environment variable of the workload's containers.
    EnvVar,
    /// A file mounted into the workload's containers.
    MountPath,
}

/// The environment variable or file a secret surfaces as: exactly one of the two.
#[derive(OneofObject, Debug, Clone)]
pub enum SecretSurfaceInput {
    /// Environment variable name: `[A-Z_][A-Z0-9_]*`, at most 128 characters.
    EnvVar(String),
    /// Absolute, normalized file path, e.g. `/mnt/secrets/db-password`.
    MountPath(String),
}

impl SecretSurfaceInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<cfg::SecretSurface, cfg::ValueError> {
        Ok(match self {
            Self::EnvVar(name) => cfg::SecretSurface::EnvVar(cfg::EnvVarName::parse(name)?),
            Self::MountPath(path) => cfg::SecretSurface::MountPath(cfg::MountPath::parse(path)?),
        })
    }
}

/// How often a secret rotates, and how long before the due date owners are notified.
#[derive(InputObject, Debug, Clone)]
pub struct SecretRotationPolicyInput {
    /// Rotation period in days, 1 to 730.
    pub every_days: i64,
    /// Notice in days before the due date; fewer than `everyDays` (0 for none).
    pub notify_before_days: i64,
}

impl SecretRotationPolicyInput {
    /// Parses into the domain value; the error message names the field, never a secret.
    pub fn parse(&self) -> Result<cfg::RotationPolicy, String> {
        let every = u32::try_from(self.every_days).map_err(|_| "everyDays must be between 1 and 730".to_owned())?;
        let notify = u32::try_from(self.notify_before_days)
            .map_err(|_| "notifyBeforeDays must not be negative or exceed everyDays".to_owned())?;
        cfg::RotationPolicy::new(every, notify).map_err(|e| e.to_string())
    }
}

/// Everything needed to bind a Key Vault secret to a workload. There is no value field: the
/// secret stays in Key Vault.
#[derive(InputObject, Debug)]
pub struct BindSecretInput {
    /// Client-chosen id (UUID), so a retried request targets the same binding; generated when
    /// absent.
    pub id: Option<ID>,
    /// The service that reads the secret (UUID).
    pub service_id: ID,
    /// The environment the service runs in (UUID).
    pub environment_id: ID,
    /// The tenant, for a tenant-specific binding; absent for every tenant.
    pub tenant_id: Option<String>,
    /// The vault, e.g. `https://kv-billing.vault.azure.net/`.
    pub vault_uri: String,
    /// The secret's name in the vault (1 to 127 of letters, digits or `-`).
    pub secret_name: String,
    /// A version to pin (32 lowercase hex digits); absent to follow the latest version.
    pub version: Option<String>,
    /// Client id (UUID) of the managed identity the workload reads the secret with.
    pub identity_client_id: String,
    /// The environment variable or file the secret surfaces as; unique per workload.
    pub surface: SecretSurfaceInput,
    /// How often the secret is rotated.
    pub rotation: SecretRotationPolicyInput,
}

/// The environment variable or file a secret surfaces as.
#[derive(SimpleObject, Debug, Clone)]
pub struct SecretSurface {
    /// Environment variable or mounted file.
    pub kind: SecretSurfaceKind,
    /// The environment variable name, when `kind` is `ENV_VAR`.
    pub env_var: Option<String>,
    /// The file path, when `kind` is `MOUNT_PATH`.
    pub mount_path: Option<String>,
}

/// How often a secret rotates.
#[derive(SimpleObject, Debug, Clone)]
pub struct SecretRotationPolicy {
    /// Rotation period in days.
    pub every_days: i64,
    /// Notice in days before the due date (0 for none).
    pub notify_before_days: i64,
}

/// A binding of a workload to a Key Vault secret, read through a managed identity. It says
/// where the secret is and which version is in use; it never holds (or shows) a secret value.
pub struct SecretBinding {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: SecretBindingState,
}

#[Object]
impl SecretBinding {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate (event count) this view reflects; not a secret version.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Lifecycle state.
    async fn status(&self) -> Option<SecretBindingStatus> {
        self.state.status().map(Into::into)
    }
    /// The service that reads the secret.
    async fn service_id(&self) -> Option<ID> {
        self.state.target().map(|t| ID(t.service().to_string()))
    }
    /// The environment the service runs in.
    async fn environment_id(&self) -> Option<ID> {
        self.state.target().map(|t| ID(t.environment().to_string()))
    }
    /// The tenant, for a tenant-specific binding; null for every tenant.
    async fn tenant_id(&self) -> Option<String> {
        self.state.tenant().map(ToString::to_string)
    }
    /// The vault holding the secret, e.g. `https://kv-billing.vault.azure.net/`.
    async fn vault_uri(&self) -> Option<String> {
        self.state.vault().map(ToString::to_string)
    }
    /// The vault's name, e.g. `kv-billing`.
    async fn vault_name(&self) -> Option<String> {
        self.state.vault().map(|v| v.vault_name().to_owned())
    }
    /// The secret's name in the vault.
    async fn secret_name(&self) -> Option<String> {
        self.state.secret_name().map(ToString::to_string)
    }
    /// The secret URI workloads reference: versioned when pinned, otherwise the latest.
    async fn secret_uri(&self) -> Option<String> {
        self.state.secret_uri()
    }
    /// Whether workloads read an exact version rather than the latest.
    async fn is_pinned(&self) -> bool {
        self.state.is_pinned()
    }
    /// The version the binding pins (it moves with each rotation); null when it follows the
    /// latest version.
    async fn pinned_version(&self) -> Option<String> {
        self.state.pinned_version().map(ToString::to_string)
    }
    /// The version the platform last verified (never the value).
    async fn current_version(&self) -> Option<String> {
        self.state.current_version().map(ToString::to_string)
    }
    /// Client id of the managed identity that reads the secret.
    async fn identity_client_id(&self) -> Option<String> {
        self.state.identity().map(ToString::to_string)
    }
    /// The environment variable or file the secret surfaces as.
    async fn surface(&self) -> Option<SecretSurface> {
        self.state.surface().map(|s| match s {
            cfg::SecretSurface::EnvVar(name) => {
                SecretSurface { kind: SecretSurfaceKind::EnvVar, env_var: Some(name.to_string()), mount_path: None }
            }
            cfg::SecretSurface::MountPath(path) => {
                SecretSurface { kind: SecretSurfaceKind::MountPath, env_var: None, mount_path: Some(path.to_string()) }
            }
        })
    }
    /// How often the secret rotates.
    async fn rotation_policy(&self) -> Option<SecretRotationPolicy> {
        self.state.rotation_policy().map(|p| SecretRotationPolicy {
            every_days: i64::from(p.every_days()),
            notify_before_days: i64::from(p.notify_before_days()),
        })
    }
    /// When the binding was asked for.
    async fn requested_at(&self) -> Option<DateTime<Utc>> {
        self.state.requested_at()
    }
    /// When the platform first verified it.
    async fn bound_at(&self) -> Option<DateTime<Utc>> {
        self.state.bound_at()
    }
    /// Since when a rotation is due, while one is.
    async fn rotation_due_since(&self) -> Option<DateTime<Utc>> {
        self.state.rotation_due_since()
    }
    /// When the secret was last rotated.
    async fn last_rotated_at(&self) -> Option<DateTime<Utc>> {
        self.state.last_rotated_at()
    }
    /// When the next rotation is due; null before confirmation and once revoked.
    async fn next_rotation_due(&self) -> Option<DateTime<Utc>> {
        self.state.next_rotation_due()
    }
    /// When owners should be notified of the next rotation.
    async fn rotation_notice_at(&self) -> Option<DateTime<Utc>> {
        self.state.rotation_notice_at()
    }
    /// When it was revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.state.revoked_at()
    }
    /// Why it was revoked.
    async fn revocation_reason(&self) -> Option<String> {
        self.state.revocation_reason().map(ToString::to_string)
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
}
