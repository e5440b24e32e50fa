//! Value objects of the `RuntimeConfiguration` aggregate. Each is parsed once at the edge;
//! serde goes through the same `parse`, so an invalid key, value, hash or version can be
//! neither constructed nor deserialized.
//!
//! Whether a value *looks like a secret* is deliberately not checked here but by the aggregate
//! (see [`super::smell`]): the heuristics will be tightened over time, and a stricter rule must
//! refuse new proposals without making old events in the log unreadable.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::configuration::values::{string_value, ValueError};

/// The name of a setting, e.g. `Logging.Level`, `FEATURE_NEW_CHECKOUT`, `db:pool-size`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConfigKey(String);

impl ConfigKey {
    /// Upper bound in characters.
    pub const MAX_LEN: usize = 128;

    /// Parses a key: 1..=128 of `[A-Za-z0-9_.:-]`, starting with a letter. Case is kept and
    /// significant, as it is for environment variables on Linux.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=Self::MAX_LEN).contains(&value.len())
            && value.as_bytes()[0].is_ascii_alphabetic()
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidConfigKey(value.to_owned()))
        }
    }
}
string_value!(ConfigKey);

/// The value of a setting: any text up to 4096 characters (empty allowed), without control
/// characters other than tab, line feed and carriage return.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConfigValue(String);

impl ConfigValue {
    /// Upper bound in characters, not bytes.
    pub const MAX_CHARS: usize = 4096;

    /// Parses a value. The error never repeats the value: it may be a secret pasted by mistake.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = value.chars().count() <= Self::MAX_CHARS
            && value.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidConfigValue { key: String::new() })
        }
    }
}
string_value!(ConfigValue);

/// Values are redacted in `Debug`, so a secret that slipped past the heuristics does not end
/// up in logs through `{:?}` of a command or event.
impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigValue(<{} chars>)", self.0.chars().count())
    }
}

/// The settings of one configuration version, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<ConfigKey, ConfigValue>", into = "BTreeMap<ConfigKey, ConfigValue>")]
pub struct Settings(BTreeMap<ConfigKey, ConfigValue>);

impl Settings {
    /// How many settings one version may hold.
    pub const MAX_KEYS: usize = 512;

    /// Checks and wraps a map of settings; an empty map is allowed (a service with no
    /// settings still has a configuration).
    pub fn new(settings: BTreeMap<ConfigKey, ConfigValue>) -> Result<Self, ValueError> {
        if settings.len() > Self::MAX_KEYS {
            return Err(ValueError::TooManySettings { count: settings.len(), max: Self::MAX_KEYS });
        }
        Ok(Self(settings))
    }

    /// Parses raw key/value pairs, naming the key of an invalid value.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ValueError> {
        let mut settings = BTreeMap::new();
        for (key, value) in pairs {
            let value =
                ConfigValue::parse(value).map_err(|_| ValueError::InvalidConfigValue { key: key.to_owned() })?;
            settings.insert(ConfigKey::parse(key)?, value);
        }
        Self::new(settings)
    }

    /// The settings, sorted by key.
    pub fn as_map(&self) -> &BTreeMap<ConfigKey, ConfigValue> {
        &self.0
    }

    /// The value of one setting.
    pub fn get(&self, key: &ConfigKey) -> Option<&ConfigValue> {
        self.0.get(key)
    }

    /// How many settings there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical serialization the [`ContentHash`] is computed over: a compact JSON
    /// object with keys sorted by their UTF-8 bytes, e.g. `{"A":"1","b":"x"}`. The caller
    /// hashes exactly these bytes with SHA-256; the domain carries no crypto of its own.
    pub fn canonical_json(&self) -> String {
        let plain: BTreeMap<&str, &str> = self.0.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        serde_json::to_string(&plain).expect("a map of strings always serializes")
    }
}

impl TryFrom<BTreeMap<ConfigKey, ConfigValue>> for Settings {
    type Error = ValueError;
    fn try_from(settings: BTreeMap<ConfigKey, ConfigValue>) -> Result<Self, Self::Error> {
        Self::new(settings)
    }
}

impl From<Settings> for BTreeMap<ConfigKey, ConfigValue> {
    fn from(settings: Settings) -> Self {
        settings.0
    }
}

/// The SHA-256 digest (64 lowercase hex digits) of a version's [`Settings::canonical_json`].
/// It is computed at the edge with a real SHA-256 implementation and carried by the command;
/// the aggregate checks its form and uses it to spot identical content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(String);

impl ContentHash {
    /// Parses a hash: exactly 64 lowercase hex digits.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidContentHash(value.to_owned()))
        }
    }
}
string_value!(ContentHash);

/// The number of a configuration version: 1 for the first, then 2, 3, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct ConfigVersion(u32);

impl ConfigVersion {
    /// The first version of every configuration.
    pub const FIRST: ConfigVersion = ConfigVersion(1);

    /// Parses a version number; 0 is refused (versions count from 1).
    pub fn parse(value: u64) -> Result<Self, ValueError> {
        u32::try_from(value).ok().filter(|n| *n >= 1).map(Self).ok_or(ValueError::InvalidConfigVersion(value))
    }

    /// The version after this one; `None` when the counter is exhausted.
    pub fn next(&self) -> Option<ConfigVersion> {
        self.0.checked_add(1).map(Self)
    }

    /// The number.
    pub fn get(&self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for ConfigVersion {
    type Error = ValueError;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ConfigVersion> for u64 {
    fn from(value: ConfigVersion) -> Self {
        u64::from(value.0)
    }
}

impl fmt::Display for ConfigVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What the runtime calls one running workload that reports its configuration version: a
/// Kubernetes pod or deployment, a Container Apps revision, a Functions or App Service
/// instance (e.g. `billing-api-7d9f/pod-x2k`, `ca-billing--rev3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkloadId(String);

impl WorkloadId {
    /// Parses a workload id: 1..=253 of `[A-Za-z0-9-_.:/]`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=253).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidWorkloadId(value.to_owned()))
        }
    }
}
string_value!(WorkloadId);

/// Whether a workload runs the active configuration version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// It runs the active version.
    Synced,
    /// It runs another version, or no version is active yet.
    OutOfSync,
}

impl SyncStatus {
    /// The status of a workload running `running` when `active` is the active version.
    pub fn of(running: ConfigVersion, active: Option<ConfigVersion>) -> Self {
        if active == Some(running) {
            SyncStatus::Synced
        } else {
            SyncStatus::OutOfSync
        }
    }

    /// The PascalCase name used in messages and views.
    pub fn as_str(&self) -> &'static str {
        match self {
            SyncStatus::Synced => "Synced",
            SyncStatus::OutOfSync => "OutOfSync",
        }
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a configuration is in its lifecycle. A configuration that was never created has no
/// status at all (`None` on the aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigurationStatus {
    /// Created; versions may have been proposed but none has been activated yet.
    Draft,
    /// One version is active; workloads are expected to run it.
    Active,
}

impl ConfigurationStatus {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConfigurationStatus::Draft => "Draft",
            ConfigurationStatus::Active => "Active",
        }
    }
}

impl fmt::Display for ConfigurationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One immutable version of a configuration, as the aggregate keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigurationVersion {
    number: ConfigVersion,
    settings: Settings,
    content_hash: ContentHash,
    proposed_at: DateTime<Utc>,
}

impl ConfigurationVersion {
    /// Assembles a version record from parsed parts.
    pub fn new(
        number: ConfigVersion,
        settings: Settings,
        content_hash: ContentHash,
        proposed_at: DateTime<Utc>,
    ) -> Self {
        Self { number, settings, content_hash, proposed_at }
    }

    /// Its number.
    pub fn number(&self) -> ConfigVersion {
        self.number
    }

    /// Its settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The SHA-256 of its canonical settings.
    pub fn content_hash(&self) -> &ContentHash {
        &self.content_hash
    }

    /// When it was proposed.
    pub fn proposed_at(&self) -> DateTime<Utc> {
        self.proposed_at
    }
}

/// What one workload last reported running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadSync {
    running_version: ConfigVersion,
    status: SyncStatus,
    since: DateTime<Utc>,
}

impl WorkloadSync {
    /// Assembles a sync record.
    pub fn new(running_version: ConfigVersion, status: SyncStatus, since: DateTime<Utc>) -> Self {
        Self { running_version, status, since }
    }

    /// The version the workload runs.
    pub fn running_version(&self) -> ConfigVersion {
        self.running_version
    }

    /// Whether that is the active version (kept current when another version is activated).
    pub fn status(&self) -> SyncStatus {
        self.status
    }

    /// When the workload was first seen running that version.
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    /// The same record re-evaluated against a newly active version.
    pub(crate) fn against(self, active: Option<ConfigVersion>) -> Self {
        Self { status: SyncStatus::of(self.running_version, active), ..self }
    }
}

/// A rollback, as the aggregate remembers its latest one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigurationRollback {
    from: ConfigVersion,
    to: ConfigVersion,
    at: DateTime<Utc>,
}

impl ConfigurationRollback {
    /// Assembles a rollback record.
    pub fn new(from: ConfigVersion, to: ConfigVersion, at: DateTime<Utc>) -> Self {
        Self { from, to, at }
    }

    /// The version that was active before.
    pub fn from_version(&self) -> ConfigVersion {
        self.from
    }

    /// The older version made active.
    pub fn to_version(&self) -> ConfigVersion {
        self.to
    }

    /// When.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn config_keys_start_with_a_letter_and_use_a_safe_alphabet() {
        for ok in ["A", "DB_HOST", "Logging.LogLevel.Default", "db:pool-size", "x1"] {
            assert!(ConfigKey::parse(ok).is_ok(), "{ok}");
        }
        assert!(ConfigKey::parse(&"k".repeat(128)).is_ok());
        for bad in ["", "1KEY", "_KEY", "-key", "KEY NAME", "KEY=1", "clé", "a/b"] {
            assert!(ConfigKey::parse(bad).is_err(), "{bad}");
        }
        assert!(ConfigKey::parse(&"k".repeat(129)).is_err());
        assert!(from_json::<ConfigKey>("\"9lives\"").is_err());
    }

    #[test]
    fn config_values_are_bounded_text() {
        assert!(ConfigValue::parse("").is_ok());
        assert!(ConfigValue::parse("line one\nline two\tx\r\n").is_ok());
        assert!(ConfigValue::parse(&"é".repeat(4096)).is_ok());
        assert!(ConfigValue::parse(&"x".repeat(4097)).is_err());
        assert!(ConfigValue::parse("nul\0byte").is_err());
        assert!(ConfigValue::parse("bell\u{7}").is_err());
        assert!(from_json::<ConfigValue>("\"esc\\u001b\"").is_err());
    }

    #[test]
    fn config_value_errors_and_debug_never_show_the_value() {
        let error = ConfigValue::parse("hunter2\0").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
        let value = ConfigValue::parse("hunter2").unwrap();
        assert_eq!(format!("{value:?}"), "ConfigValue(<7 chars>)");
        let error = Settings::parse([("DB", "hunter2\0")]).unwrap_err();
        assert_eq!(error, ValueError::InvalidConfigValue { key: "DB".to_owned() });
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn settings_are_sorted_bounded_and_serialize_canonically() {
        let settings = Settings::parse([("b", "2"), ("A", "1"), ("a.c", "x\"y")]).unwrap();
        assert_eq!(settings.len(), 3);
        assert_eq!(settings.canonical_json(), r#"{"A":"1","a.c":"x\"y","b":"2"}"#);
        assert_eq!(settings.get(&ConfigKey::parse("b").unwrap()).map(ConfigValue::as_str), Some("2"));
        assert!(Settings::parse([]).unwrap().is_empty());
        assert_eq!(Settings::default().canonical_json(), "{}");
        assert!(Settings::parse([("bad key", "1")]).is_err());
        let json = serde_json::to_string(&settings).unwrap();
        assert_eq!(from_json::<Settings>(&json).unwrap(), settings);
        assert!(from_json::<Settings>(r#"{"1bad":"x"}"#).is_err());
    }

    #[test]
    fn settings_hold_at_most_512_keys() {
        let keys: Vec<String> = (0..=Settings::MAX_KEYS).map(|i| format!("K{i}")).collect();
        let pairs = keys.iter().map(|k| (k.as_str(), "v"));
        assert_eq!(Settings::parse(pairs.clone()).unwrap_err(), ValueError::TooManySettings { count: 513, max: 512 });
        assert!(Settings::parse(pairs.take(Settings::MAX_KEYS)).is_ok());
    }

    #[test]
    fn content_hashes_are_sha256_hex() {
        let hash = "a".repeat(64);
        assert!(ContentHash::parse(&hash).is_ok());
        assert!(ContentHash::parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").is_ok());
        assert!(ContentHash::parse(&"A".repeat(64)).is_err());
        assert!(ContentHash::parse(&"a".repeat(63)).is_err());
        assert!(ContentHash::parse(&"a".repeat(65)).is_err());
        assert!(ContentHash::parse(&"g".repeat(64)).is_err());
        assert!(from_json::<ContentHash>("\"abc\"").is_err());
    }

    #[test]
    fn config_versions_count_from_one() {
        assert_eq!(ConfigVersion::parse(1).unwrap(), ConfigVersion::FIRST);
        assert!(ConfigVersion::parse(0).is_err());
        assert!(ConfigVersion::parse(u64::from(u32::MAX) + 1).is_err());
        assert_eq!(ConfigVersion::FIRST.next().unwrap().get(), 2);
        assert_eq!(ConfigVersion::parse(u64::from(u32::MAX)).unwrap().next(), None);
        assert_eq!(serde_json::to_string(&ConfigVersion::FIRST).unwrap(), "1");
        assert!(from_json::<ConfigVersion>("0").is_err());
        assert!(from_json::<ConfigVersion>("-1").is_err());
    }

    #[test]
    fn workload_ids_are_runtime_names() {
        for ok in ["billing-api-7d9f/pod-x2k", "ca-billing--rev3", "func:instance_1.a"] {
            assert!(WorkloadId::parse(ok).is_ok(), "{ok}");
        }
        assert!(WorkloadId::parse(&"w".repeat(253)).is_ok());
        for bad in ["", "pod x", "pod\n", "pod@1"] {
            assert!(WorkloadId::parse(bad).is_err(), "{bad}");
        }
        assert!(WorkloadId::parse(&"w".repeat(254)).is_err());
    }

    #[test]
    fn sync_status_compares_with_the_active_version() {
        let v1 = ConfigVersion::FIRST;
        let v2 = v1.next().unwrap();
        assert_eq!(SyncStatus::of(v1, Some(v1)), SyncStatus::Synced);
        assert_eq!(SyncStatus::of(v1, Some(v2)), SyncStatus::OutOfSync);
        assert_eq!(SyncStatus::of(v1, None), SyncStatus::OutOfSync);
        assert_eq!(SyncStatus::OutOfSync.to_string(), "OutOfSync");
        assert_eq!(serde_json::to_string(&SyncStatus::OutOfSync).unwrap(), "\"out_of_sync\"");
        assert_eq!(ConfigurationStatus::Draft.to_string(), "Draft");
        assert_eq!(serde_json::to_string(&ConfigurationStatus::Active).unwrap(), "\"active\"");
    }
}
