//! Value objects of the `SecretBinding` aggregate: where a secret lives in Key Vault, which
//! identity reads it, where the workload sees it, and how often it rotates. Each is parsed
//! once; serde goes through the same `parse`. None of them can hold a secret value: they are
//! names, ids, versions and paths, each with an alphabet too narrow for a pasted secret to be
//! mistaken for one unnoticed.

use std::fmt;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::configuration::values::{string_value, ValueError};

/// The URI of an Azure Key Vault, normalized to lowercase with a trailing slash:
/// `https://kv-billing.vault.azure.net/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyVaultUri(String);

impl KeyVaultUri {
    /// The vault DNS suffixes of the Azure clouds: public, China, US Government, Germany.
    pub const DNS_SUFFIXES: [&'static str; 4] =
        ["vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net", "vault.microsoftazure.de"];

    /// Parses `https://<name>.<vault suffix>` with or without the trailing slash, in any
    /// case. The name is 3..=24 of `[a-z0-9-]`, starts with a letter, does not end with `-`
    /// and has no `--` (Key Vault's naming rule). Ports, paths, queries and `http` are refused.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let invalid = || ValueError::InvalidKeyVaultUri(value.to_owned());
        let lower = value.to_ascii_lowercase();
        let rest = lower.strip_prefix("https://").ok_or_else(invalid)?;
        let host = rest.strip_suffix('/').unwrap_or(rest);
        let (name, suffix) = host.split_once('.').ok_or_else(invalid)?;
        let name_ok = (3..=24).contains(&name.len())
            && name.as_bytes()[0].is_ascii_lowercase()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.ends_with('-')
            && !name.contains("--");
        if name_ok && Self::DNS_SUFFIXES.contains(&suffix) {
            Ok(Self(format!("https://{host}/")))
        } else {
            Err(invalid())
        }
    }

    /// The vault's name, e.g. `kv-billing`.
    pub fn vault_name(&self) -> &str {
        let host = &self.0["https://".len()..];
        host.split_once('.').map_or(host, |(name, _)| name)
    }

    /// The URI of a secret in this vault, versioned when `version` is given:
    /// `https://kv-billing.vault.azure.net/secrets/db-password[/<version>]`.
    pub fn secret_uri(&self, name: &SecretName, version: Option<&SecretVersion>) -> String {
        match version {
            Some(version) => format!("{}secrets/{name}/{version}", self.0),
            None => format!("{}secrets/{name}", self.0),
        }
    }
}
string_value!(KeyVaultUri);

/// The name of a secret in Key Vault, e.g. `db-password`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    /// Parses a secret name: 1..=127 of `[A-Za-z0-9-]` (Key Vault's rule).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=127).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidSecretName(value.to_owned()))
        }
    }
}
string_value!(SecretName);

/// A version of a Key Vault secret: 32 lowercase hex digits, as Key Vault issues them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretVersion(String);

impl SecretVersion {
    /// Parses a version: exactly 32 lowercase hex digits.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = value.len() == 32 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidSecretVersion(value.to_owned()))
        }
    }
}
string_value!(SecretVersion);

/// The client id of the managed identity the workload reads the secret with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdentityClientId(Uuid);

impl IdentityClientId {
    /// Parses a client id; Entra ID never issues the nil UUID.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Uuid::parse_str(value)
            .ok()
            .filter(|id| !id.is_nil())
            .map(Self)
            .ok_or_else(|| ValueError::InvalidIdentityClientId(value.to_owned()))
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for IdentityClientId {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<IdentityClientId> for String {
    fn from(value: IdentityClientId) -> Self {
        value.0.to_string()
    }
}

impl std::str::FromStr for IdentityClientId {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for IdentityClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The name of the environment variable a secret surfaces as, e.g. `DB_PASSWORD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvVarName(String);

impl EnvVarName {
    /// Parses a name: `[A-Z_][A-Z0-9_]*`, at most 128 characters (portable across shells,
    /// Kubernetes and Container Apps).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=128).contains(&value.len())
            && !value.as_bytes()[0].is_ascii_digit()
            && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidEnvVarName(value.to_owned()))
        }
    }
}
string_value!(EnvVarName);

/// The absolute path of the file a secret is mounted as, e.g. `/mnt/secrets/db-password`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MountPath(String);

impl MountPath {
    /// Parses a path: starts with `/`, at most 1024 characters, not `/` itself, every segment
    /// non-empty (no `//`, no trailing `/`), made of `[A-Za-z0-9._-]`, and neither `.` nor
    /// `..`. Only normalized paths are accepted, so one file has one spelling and claims on it
    /// cannot be sidestepped with `/a/./b` or `/a/../a/b`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = value.len() <= 1024
            && value.strip_prefix('/').is_some_and(|rest| {
                rest.split('/').all(|segment| {
                    !segment.is_empty()
                        && segment != "."
                        && segment != ".."
                        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                })
            });
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidMountPath(value.to_owned()))
        }
    }
}
string_value!(MountPath);

/// How a workload sees the secret: as an environment variable or as a mounted file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSurface {
    /// An environment variable of the workload's containers.
    EnvVar(EnvVarName),
    /// A file mounted into the workload's containers (CSI driver, Container Apps volume).
    MountPath(MountPath),
}

impl SecretSurface {
    /// The surface as it appears in claim keys: `env:DB_PASSWORD` or
    /// `file:/mnt/secrets/db-password`.
    pub fn key(&self) -> String {
        match self {
            SecretSurface::EnvVar(name) => format!("env:{name}"),
            SecretSurface::MountPath(path) => format!("file:{path}"),
        }
    }
}

impl fmt::Display for SecretSurface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// How often the secret is rotated, and how long before the due date owners are notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRotationPolicy")]
pub struct RotationPolicy {
    every_days: u32,
    notify_before_days: u32,
}

/// The unchecked wire form of [`RotationPolicy`]; deserialization goes through
/// [`RotationPolicy::new`].
#[derive(Deserialize)]
struct RawRotationPolicy {
    every_days: u32,
    notify_before_days: u32,
}

impl TryFrom<RawRotationPolicy> for RotationPolicy {
    type Error = ValueError;
    fn try_from(raw: RawRotationPolicy) -> Result<Self, Self::Error> {
        Self::new(raw.every_days, raw.notify_before_days)
    }
}

impl RotationPolicy {
    /// The longest rotation period: two years.
    pub const MAX_DAYS: u32 = 730;

    /// Rotate every `every_days` (1..=730), notifying `notify_before_days` before the due date
    /// (fewer than `every_days`; 0 means no advance notice).
    pub fn new(every_days: u32, notify_before_days: u32) -> Result<Self, ValueError> {
        if (1..=Self::MAX_DAYS).contains(&every_days) && notify_before_days < every_days {
            Ok(Self { every_days, notify_before_days })
        } else {
            Err(ValueError::InvalidRotationPolicy { every_days, notify_before_days })
        }
    }

    /// The rotation period in days.
    pub fn every_days(&self) -> u32 {
        self.every_days
    }

    /// The notice in days before the due date.
    pub fn notify_before_days(&self) -> u32 {
        self.notify_before_days
    }

    /// The rotation period.
    pub fn every(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.every_days))
    }

    /// The notice before the due date.
    pub fn notify_before(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.notify_before_days))
    }
}

/// Where a secret binding is in its lifecycle. A binding that was never requested has no
/// status at all (`None` on the aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl SecretBindingStatus {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            SecretBindingStatus::Requested => "Requested",
            SecretBindingStatus::Bound => "Bound",
            SecretBindingStatus::RotationDue => "RotationDue",
            SecretBindingStatus::Rotated => "Rotated",
            SecretBindingStatus::Revoked => "Revoked",
        }
    }
}

impl fmt::Display for SecretBindingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn key_vault_uris_are_normalized_to_lowercase_with_a_trailing_slash() {
        let uri = KeyVaultUri::parse("https://KV-Billing.vault.azure.net").unwrap();
        assert_eq!(uri.as_str(), "https://kv-billing.vault.azure.net/");
        assert_eq!(uri.vault_name(), "kv-billing");
        assert_eq!(KeyVaultUri::parse("https://kv-billing.vault.azure.net/").unwrap(), uri);
        assert_eq!(KeyVaultUri::parse(uri.as_str()).unwrap(), uri);
    }

    #[test]
    fn key_vault_uris_accept_the_sovereign_clouds() {
        for suffix in ["vault.azure.cn", "vault.usgovcloudapi.net", "vault.microsoftazure.de"] {
            let uri = KeyVaultUri::parse(&format!("https://kv1.{suffix}")).unwrap();
            assert_eq!(uri.as_str(), format!("https://kv1.{suffix}/"));
        }
    }

    #[test]
    fn key_vault_uris_follow_the_vault_naming_rule() {
        assert!(KeyVaultUri::parse(&format!("https://{}.vault.azure.net/", "k".repeat(24))).is_ok());
        for bad in [
            "http://kv-billing.vault.azure.net/",
            "kv-billing.vault.azure.net",
            "https://kv.vault.azure.net/",
            &format!("https://{}.vault.azure.net/", "k".repeat(25)),
            "https://1kv.vault.azure.net/",
            "https://kv-.vault.azure.net/",
            "https://kv--billing.vault.azure.net/",
            "https://kv_billing.vault.azure.net/",
            "https://kv-billing.vault.example.com/",
            "https://kv-billing.blob.core.windows.net/",
            "https://kv-billing.vault.azure.net/secrets/x",
            "https://kv-billing.vault.azure.net:443/",
            "https://kv-billing.vault.azure.net//",
            "https://kv-billing.vault.azure.net/?x=1",
            " https://kv-billing.vault.azure.net/",
            "https://user:pw@kv-billing.vault.azure.net/",
        ] {
            assert!(KeyVaultUri::parse(bad).is_err(), "{bad}");
        }
        assert!(from_json::<KeyVaultUri>("\"http://kv-billing.vault.azure.net/\"").is_err());
    }

    #[test]
    fn secret_uris_point_at_the_latest_or_a_pinned_version() {
        let vault = KeyVaultUri::parse("https://kv-billing.vault.azure.net").unwrap();
        let name = SecretName::parse("db-password").unwrap();
        let version = SecretVersion::parse(&"0a".repeat(16)).unwrap();
        assert_eq!(vault.secret_uri(&name, None), "https://kv-billing.vault.azure.net/secrets/db-password");
        assert_eq!(
            vault.secret_uri(&name, Some(&version)),
            format!("https://kv-billing.vault.azure.net/secrets/db-password/{version}")
        );
    }

    #[test]
    fn secret_names_follow_key_vault_rules() {
        assert!(SecretName::parse("db-password").is_ok());
        assert!(SecretName::parse("Stripe-Key-2").is_ok());
        assert!(SecretName::parse(&"s".repeat(127)).is_ok());
        for bad in ["", "db_password", "db.password", "db password", "db/password"] {
            assert!(SecretName::parse(bad).is_err(), "{bad}");
        }
        assert!(SecretName::parse(&"s".repeat(128)).is_err());
    }

    #[test]
    fn secret_versions_are_32_lowercase_hex_digits() {
        assert!(SecretVersion::parse("4387e9f3d6e14c459867679a90fd0f79").is_ok());
        assert!(SecretVersion::parse("4387E9F3D6E14C459867679A90FD0F79").is_err());
        assert!(SecretVersion::parse("4387e9f3d6e14c459867679a90fd0f7").is_err());
        assert!(SecretVersion::parse("4387e9f3d6e14c459867679a90fd0f799").is_err());
        assert!(SecretVersion::parse("4387e9f3-d6e1-4c45-9867-679a90fd0f79").is_err());
        assert!(from_json::<SecretVersion>("\"latest\"").is_err());
    }

    #[test]
    fn identity_client_ids_are_non_nil_uuids() {
        let id = IdentityClientId::parse("6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b").unwrap();
        assert_eq!(id.to_string(), "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b");
        assert!(IdentityClientId::parse("00000000-0000-0000-0000-000000000000").is_err());
        assert!(IdentityClientId::parse("my-identity").is_err());
        assert!(from_json::<IdentityClientId>("\"nope\"").is_err());
    }

    #[test]
    fn env_var_names_are_upper_case_identifiers() {
        for ok in ["DB_PASSWORD", "_PRIVATE", "A1", "X"] {
            assert!(EnvVarName::parse(ok).is_ok(), "{ok}");
        }
        assert!(EnvVarName::parse(&"A".repeat(128)).is_ok());
        for bad in ["", "1DB", "db_password", "DB-PASSWORD", "DB PASSWORD", "DB.PASSWORD"] {
            assert!(EnvVarName::parse(bad).is_err(), "{bad}");
        }
        assert!(EnvVarName::parse(&"A".repeat(129)).is_err());
    }

    #[test]
    fn mount_paths_are_absolute_and_normalized() {
        for ok in ["/mnt/secrets/db-password", "/etc/app/tls.key", "/s"] {
            assert!(MountPath::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/",
            "mnt/secrets",
            "/mnt/../etc/shadow",
            "/mnt/./secrets",
            "/mnt//secrets",
            "/mnt/secrets/",
            "/mnt/my secrets",
            "/mnt/secrets\0",
            "..",
        ] {
            assert!(MountPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MountPath::parse(&format!("/{}", "a".repeat(1023))).is_ok());
        assert!(MountPath::parse(&format!("/{}", "a".repeat(1024))).is_err());
    }

    #[test]
    fn surfaces_have_distinct_keys_and_round_trip() {
        let env = SecretSurface::EnvVar(EnvVarName::parse("DB_PASSWORD").unwrap());
        let file = SecretSurface::MountPath(MountPath::parse("/mnt/db").unwrap());
        assert_eq!(env.key(), "env:DB_PASSWORD");
        assert_eq!(file.to_string(), "file:/mnt/db");
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json, serde_json::json!({"env_var": "DB_PASSWORD"}));
        assert_eq!(serde_json::from_value::<SecretSurface>(json).unwrap(), env);
        assert!(from_json::<SecretSurface>(r#"{"mount_path":"/mnt/../x"}"#).is_err());
    }

    #[test]
    fn rotation_policies_rotate_within_two_years_and_notify_before_the_due_date() {
        let policy = RotationPolicy::new(90, 14).unwrap();
        assert_eq!((policy.every_days(), policy.notify_before_days()), (90, 14));
        assert_eq!(policy.every(), TimeDelta::days(90));
        assert_eq!(policy.notify_before(), TimeDelta::days(14));
        assert!(RotationPolicy::new(1, 0).is_ok());
        assert!(RotationPolicy::new(730, 729).is_ok());
        assert!(RotationPolicy::new(0, 0).is_err());
        assert!(RotationPolicy::new(731, 7).is_err());
        assert!(RotationPolicy::new(30, 30).is_err());
        assert!(RotationPolicy::new(30, 31).is_err());
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(from_json::<RotationPolicy>(&json).unwrap(), policy);
        assert!(from_json::<RotationPolicy>(r#"{"every_days":30,"notify_before_days":30}"#).is_err());
    }

    #[test]
    fn binding_statuses_display_in_pascal_case() {
        assert_eq!(SecretBindingStatus::RotationDue.to_string(), "RotationDue");
        assert_eq!(serde_json::to_string(&SecretBindingStatus::RotationDue).unwrap(), "\"rotation_due\"");
    }
}
