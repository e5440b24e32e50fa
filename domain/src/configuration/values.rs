//! Values shared by both aggregates of the configuration context: the one error type every
//! value object of the context returns, and the workload a configuration or a secret binding
//! is for. Aggregate-specific values live in [`super::runtime_config::values`] and
//! [`super::secret_binding::values`].

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::envelope::TenantId;
use crate::ids::{EnvironmentId, ServiceId};
use crate::rejection::{Rejection, RejectionKind};

/// Why a value of the configuration context was refused. Messages never echo a configuration
/// value (it might be the very secret the context refuses to store); keys and names are fine.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Configuration keys are identifiers safe as environment variables and file names.
    #[error("configuration key must be 1 to 128 characters of letters, digits, '_', '.', ':' or '-', starting with a letter: {0:?}")]
    InvalidConfigKey(String),
    /// Configuration values are bounded text.
    #[error("configuration value for {key:?} must be at most 4096 characters without control characters other than tab and newline")]
    InvalidConfigValue {
        /// The key the value belongs to, or empty when parsed on its own.
        key: String,
    },
    /// A version holds a bounded number of settings.
    #[error("a configuration version holds at most {max} settings, got {count}")]
    TooManySettings {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Content hashes are SHA-256 digests.
    #[error("content hash must be 64 lowercase hex digits (a sha-256 digest): {0:?}")]
    InvalidContentHash(String),
    /// Configuration versions count from 1.
    #[error("configuration version must be at least 1, got {0}")]
    InvalidConfigVersion(u64),
    /// Workload ids are what the runtime calls a running workload.
    #[error("workload id must be 1 to 253 characters of letters, digits, '-', '_', '.', ':' or '/': {0:?}")]
    InvalidWorkloadId(String),
    /// Key Vault URIs name a vault in a known Azure cloud.
    #[error("key vault uri must be https://<name>.vault.azure.net/ (or a sovereign cloud's vault domain), the name 3 to 24 characters of a-z, 0-9 or '-', starting with a letter, not ending with '-' and without '--': {0:?}")]
    InvalidKeyVaultUri(String),
    /// Key Vault secret names follow Key Vault's rule.
    #[error("secret name must be 1 to 127 characters of letters, digits or '-': {0:?}")]
    InvalidSecretName(String),
    /// Key Vault secret versions are 32 lowercase hex digits.
    #[error("secret version must be 32 lowercase hex digits: {0:?}")]
    InvalidSecretVersion(String),
    /// Managed identity client ids are non-nil UUIDs.
    #[error("managed identity client id must be a non-nil uuid: {0:?}")]
    InvalidIdentityClientId(String),
    /// Environment variable names are POSIX-portable upper-case names.
    #[error(
        "environment variable name must be 1 to 128 characters of A-Z, 0-9 or '_', not starting with a digit: {0:?}"
    )]
    InvalidEnvVarName(String),
    /// Mount paths are absolute, normalized paths.
    #[error("mount path must be an absolute path of 2 to 1024 characters whose segments are non-empty letters, digits, '.', '_' or '-', and not '.' or '..': {0:?}")]
    InvalidMountPath(String),
    /// Rotation policies rotate at least once every two years and notify before the due date.
    #[error("rotation policy must rotate every 1 to 730 days and notify fewer days before than that: every {every_days} days, notify {notify_before_days} days before")]
    InvalidRotationPolicy {
        /// The requested rotation period.
        every_days: u32,
        /// The requested notice.
        notify_before_days: u32,
    },
}

impl Rejection for ValueError {
    fn kind(&self) -> RejectionKind {
        RejectionKind::InvalidInput
    }
}

pub(super) use crate::macros::string_value;

/// The workload a configuration or a secret binding is for: a service in an environment,
/// optionally narrowed to one tenant (a tenant-specific override or a dedicated deployment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkloadTarget {
    service: ServiceId,
    environment: EnvironmentId,
    tenant: Option<TenantId>,
}

impl WorkloadTarget {
    /// The segment that stands for "every tenant" in claim keys; never a valid tenant id.
    pub const ALL_TENANTS: &'static str = "*";

    /// The target for a service in an environment, for one tenant or (with `None`) for all.
    pub fn new(service: ServiceId, environment: EnvironmentId, tenant: Option<TenantId>) -> Self {
        Self { service, environment, tenant }
    }

    /// The service.
    pub fn service(&self) -> ServiceId {
        self.service
    }

    /// The environment.
    pub fn environment(&self) -> EnvironmentId {
        self.environment
    }

    /// The tenant, or `None` when the target serves every tenant.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }

    /// `service/environment/tenant`, with `*` for every tenant: the prefix of this context's
    /// claim keys. `*` cannot collide with a tenant id, which is `[a-z0-9-_]+`.
    pub fn key(&self) -> String {
        let tenant = self.tenant.as_ref().map_or(Self::ALL_TENANTS, TenantId::as_str);
        format!("{}/{}/{}", self.service, self.environment, tenant)
    }
}

impl fmt::Display for WorkloadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";
    const ENVIRONMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1b";

    fn target(tenant: Option<&str>) -> WorkloadTarget {
        WorkloadTarget::new(
            ServiceId::parse(SERVICE).unwrap(),
            EnvironmentId::parse(ENVIRONMENT).unwrap(),
            tenant.map(|t| TenantId::parse(t).unwrap()),
        )
    }

    #[test]
    fn target_keys_name_service_environment_and_tenant_or_star() {
        assert_eq!(target(Some("contoso")).key(), format!("{SERVICE}/{ENVIRONMENT}/contoso"));
        assert_eq!(target(None).key(), format!("{SERVICE}/{ENVIRONMENT}/*"));
        assert_eq!(target(None).to_string(), target(None).key());
        assert!(TenantId::parse(WorkloadTarget::ALL_TENANTS).is_err());
    }

    #[test]
    fn targets_round_trip_through_json_and_refuse_bad_ids() {
        let t = target(Some("contoso"));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["tenant"], "contoso");
        assert_eq!(serde_json::from_value::<WorkloadTarget>(json).unwrap(), t);
        let bad = serde_json::json!({"service": "nope", "environment": ENVIRONMENT, "tenant": null});
        assert!(serde_json::from_value::<WorkloadTarget>(bad).is_err());
        let bad_tenant = serde_json::json!({"service": SERVICE, "environment": ENVIRONMENT, "tenant": "A B"});
        assert!(serde_json::from_value::<WorkloadTarget>(bad_tenant).is_err());
    }

    #[test]
    fn value_errors_are_invalid_input() {
        assert_eq!(ValueError::InvalidConfigKey(String::new()).kind(), RejectionKind::InvalidInput);
    }
}
