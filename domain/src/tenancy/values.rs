//! Value objects of the tenancy context. Each is parsed once at the edge; serde goes through
//! the same `parse`, so an invalid namespace, identity or quota can be neither constructed nor
//! deserialized from a stored event.

use crate::macros::string_value;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::rejection::{Rejection, RejectionKind};

/// Why a value of the tenancy context was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Isolation models are a closed set.
    #[error("isolation model must be one of shared, namespace_per_tenant, dedicated_environment: {0:?}")]
    InvalidIsolationModel(String),
    /// Kubernetes namespaces are DNS-1123 labels.
    #[error("kubernetes namespace must be a dns-1123 label: 1 to 63 characters of a-z, 0-9 or '-', starting and ending with a letter or digit: {0:?}")]
    InvalidNamespace(String),
    /// Workload identities are managed identity client ids.
    #[error("workload identity must be a managed identity client id (a non-nil uuid): {0:?}")]
    InvalidWorkloadIdentity(String),
    /// Custom network policy names are DNS-1123 subdomains, like every Kubernetes object name.
    #[error("network policy name must be a dns-1123 subdomain: 1 to 253 characters of a-z, 0-9, '-' or '.', starting and ending with a letter or digit: {0:?}")]
    InvalidNetworkPolicyName(String),
    /// Data partitions are slugs.
    #[error("data partition must be 1 to 63 characters of a-z, 0-9 or '-', starting with a letter: {0:?}")]
    InvalidDataPartition(String),
    /// Quota dimensions are a closed set.
    #[error("quota dimension must be one of cpu, memory, replicas, storage, rps: {0:?}")]
    InvalidQuotaDimension(String),
    /// A quota outside its dimension's range.
    #[error("{dimension} quota must be between {min} and {max} {unit}: {value}")]
    QuotaOutOfRange {
        /// Which quota.
        dimension: QuotaDimension,
        /// The unit the quota is counted in.
        unit: &'static str,
        /// The refused value.
        value: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
}

impl Rejection for ValueError {
    fn kind(&self) -> RejectionKind {
        RejectionKind::InvalidInput
    }
}

/// Implements `parse`, `as_str`, `FromStr` and `Display` for a fieldless enum from its
/// snake_case names, which are also its serde names.
macro_rules! closed_set {
    ($ty:ident, $error:ident, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// Parses the snake_case name.
            pub fn parse(value: &str) -> Result<Self, ValueError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|item| item.as_str() == value)
                    .ok_or_else(|| ValueError::$error(value.to_owned()))
            }

            /// The snake_case name, as serialized.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = ValueError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// How strongly a tenant's workloads are separated from other tenants' in an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationModel {
    /// Workloads shared by every tenant; separation is in the data partition only. The tenant
    /// has no namespace of its own.
    Shared,
    /// The tenant's workloads run in a Kubernetes namespace of their own (required).
    NamespacePerTenant,
    /// The whole environment belongs to the tenant; a namespace inside it is optional.
    DedicatedEnvironment,
}

closed_set!(IsolationModel, InvalidIsolationModel, [
    Shared => "shared",
    NamespacePerTenant => "namespace_per_tenant",
    DedicatedEnvironment => "dedicated_environment",
]);

/// A Kubernetes namespace name (a DNS-1123 label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KubernetesNamespace(String);

impl KubernetesNamespace {
    /// Parses a namespace: 1..=63 of `[a-z0-9-]`, starting and ending with a letter or digit
    /// (RFC 1123 label, as Kubernetes requires for namespaces).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if is_dns_label(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidNamespace(value.to_owned()))
        }
    }
}
string_value!(KubernetesNamespace);

fn is_dns_label(value: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = value.as_bytes();
    (1..=63).contains(&bytes.len())
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| alnum(b) || b == b'-')
}

/// The managed identity a tenant's workloads run as (its client id), through Azure workload
/// identity federation. Never a secret: the client id is public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkloadIdentity(Uuid);

impl WorkloadIdentity {
    /// Parses a client id from any UUID text form; the nil UUID is refused.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Uuid::parse_str(value)
            .ok()
            .filter(|id| !id.is_nil())
            .map(Self)
            .ok_or_else(|| ValueError::InvalidWorkloadIdentity(value.to_owned()))
    }

    /// The managed identity's client id.
    pub fn client_id(&self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for WorkloadIdentity {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<WorkloadIdentity> for String {
    fn from(value: WorkloadIdentity) -> Self {
        value.0.to_string()
    }
}

impl FromStr for WorkloadIdentity {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for WorkloadIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The name of a custom Kubernetes `NetworkPolicy` (a DNS-1123 subdomain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NetworkPolicyName(String);

impl NetworkPolicyName {
    /// Parses a policy name: 1..=253 characters, dot-separated DNS-1123 labels.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=253).contains(&value.len()) && value.split('.').all(is_dns_label);
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidNetworkPolicyName(value.to_owned()))
        }
    }
}
string_value!(NetworkPolicyName);

/// What network traffic a tenant's workloads may exchange with other tenants'.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkPolicy {
    /// No restriction (typical for `dedicated_environment`, where no other tenant runs).
    AllowAll,
    /// Traffic to and from other tenants' workloads is denied.
    DenyCrossTenant,
    /// A named policy maintained outside the platform model.
    Custom {
        /// The Kubernetes `NetworkPolicy` object's name.
        name: NetworkPolicyName,
    },
}

/// Where a tenant's data lives (a database, schema or partition key), as a slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DataPartition(String);

impl DataPartition {
    /// Parses a partition: 1..=63 of `[a-z0-9-]`, starting with a letter.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=63).contains(&value.len())
            && value.as_bytes()[0].is_ascii_lowercase()
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidDataPartition(value.to_owned()))
        }
    }
}
string_value!(DataPartition);

/// One dimension of a tenant's quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaDimension {
    /// CPU, in millicores.
    Cpu,
    /// Memory, in MiB.
    Memory,
    /// Running replicas, over all the tenant's workloads.
    Replicas,
    /// Persistent storage, in GiB.
    Storage,
    /// Requests per second at the gateway.
    Rps,
}

closed_set!(QuotaDimension, InvalidQuotaDimension, [
    Cpu => "cpu",
    Memory => "memory",
    Replicas => "replicas",
    Storage => "storage",
    Rps => "rps",
]);

impl QuotaDimension {
    /// The unit the dimension is counted in.
    pub fn unit(&self) -> &'static str {
        match self {
            QuotaDimension::Cpu => "millicores",
            QuotaDimension::Memory => "MiB",
            QuotaDimension::Replicas => "replicas",
            QuotaDimension::Storage => "GiB",
            QuotaDimension::Rps => "requests per second",
        }
    }

    /// The allowed range of a quota in this dimension. Zero is refused wherever a tenant
    /// could not run at all with it (suspend the tenant instead); storage may be zero for
    /// stateless tenants. Upper bounds catch unit mistakes (cores for millicores, MiB for GiB)
    /// rather than describe any cluster.
    pub fn range(&self) -> (u32, u32) {
        match self {
            QuotaDimension::Cpu => (1, 1_024_000),
            QuotaDimension::Memory => (1, 4_194_304),
            QuotaDimension::Replicas => (1, 1000),
            QuotaDimension::Storage => (0, 65_536),
            QuotaDimension::Rps => (1, 1_000_000),
        }
    }
}

/// A tenant's resource limits in one environment. Unsigned fields make negative quotas
/// unrepresentable (a negative number does not even deserialize); [`Quotas::new`] also holds
/// each to [`QuotaDimension::range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawQuotas")]
pub struct Quotas {
    cpu_millicores: u32,
    memory_mib: u32,
    replicas: u32,
    storage_gib: u32,
    requests_per_second: u32,
}

/// The unchecked wire form of [`Quotas`]; deserialization goes through [`Quotas::new`].
#[derive(Deserialize)]
struct RawQuotas {
    cpu_millicores: u32,
    memory_mib: u32,
    replicas: u32,
    storage_gib: u32,
    requests_per_second: u32,
}

impl TryFrom<RawQuotas> for Quotas {
    type Error = ValueError;
    fn try_from(raw: RawQuotas) -> Result<Self, Self::Error> {
        Self::new(raw.cpu_millicores, raw.memory_mib, raw.replicas, raw.storage_gib, raw.requests_per_second)
    }
}

impl Quotas {
    /// Checks every quota against its dimension's range.
    pub fn new(
        cpu_millicores: u32,
        memory_mib: u32,
        replicas: u32,
        storage_gib: u32,
        requests_per_second: u32,
    ) -> Result<Self, ValueError> {
        let quotas = Self { cpu_millicores, memory_mib, replicas, storage_gib, requests_per_second };
        for &dimension in QuotaDimension::ALL {
            let value = quotas.limit(dimension);
            let (min, max) = dimension.range();
            if !(min..=max).contains(&value) {
                return Err(ValueError::QuotaOutOfRange { dimension, unit: dimension.unit(), value, min, max });
            }
        }
        Ok(quotas)
    }

    /// The limit in one dimension, in that dimension's unit.
    pub fn limit(&self, dimension: QuotaDimension) -> u32 {
        match dimension {
            QuotaDimension::Cpu => self.cpu_millicores,
            QuotaDimension::Memory => self.memory_mib,
            QuotaDimension::Replicas => self.replicas,
            QuotaDimension::Storage => self.storage_gib,
            QuotaDimension::Rps => self.requests_per_second,
        }
    }

    /// CPU limit in millicores.
    pub fn cpu_millicores(&self) -> u32 {
        self.cpu_millicores
    }

    /// Memory limit in MiB.
    pub fn memory_mib(&self) -> u32 {
        self.memory_mib
    }

    /// Most replicas the tenant may run in the environment (scaling policies stay within it).
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// Storage limit in GiB.
    pub fn storage_gib(&self) -> u32 {
        self.storage_gib
    }

    /// Request rate limit per second.
    pub fn requests_per_second(&self) -> u32 {
        self.requests_per_second
    }
}

/// The latest observation of a tenant above one of its quotas, as a read model shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawQuotaBreach")]
pub struct QuotaBreach {
    dimension: QuotaDimension,
    observed: u64,
    quota: u32,
    at: DateTime<Utc>,
}

/// The unchecked wire form of [`QuotaBreach`]; deserialization goes through
/// [`QuotaBreach::new`] so a snapshot cannot hold a "breach" within the quota.
#[derive(Deserialize)]
struct RawQuotaBreach {
    dimension: QuotaDimension,
    observed: u64,
    quota: u32,
    at: DateTime<Utc>,
}

impl TryFrom<RawQuotaBreach> for QuotaBreach {
    type Error = String;
    fn try_from(raw: RawQuotaBreach) -> Result<Self, Self::Error> {
        Self::new(raw.dimension, raw.observed, raw.quota, raw.at).ok_or_else(|| {
            format!("observed {} {} is within the quota of {}: not a breach", raw.dimension, raw.observed, raw.quota)
        })
    }
}

impl QuotaBreach {
    /// A breach of `quota` in `dimension`, observed at `observed`; `None` unless `observed`
    /// exceeds the quota (anything else is not a breach).
    pub fn new(dimension: QuotaDimension, observed: u64, quota: u32, at: DateTime<Utc>) -> Option<Self> {
        (observed > u64::from(quota)).then_some(Self { dimension, observed, quota, at })
    }

    /// Which quota was exceeded.
    pub fn dimension(&self) -> QuotaDimension {
        self.dimension
    }

    /// What was observed, in the dimension's unit.
    pub fn observed(&self) -> u64 {
        self.observed
    }

    /// The quota in force at the time.
    pub fn quota(&self) -> u32 {
        self.quota
    }

    /// When it was observed.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

/// Where a tenant binding is in its lifecycle. A binding that was never made has no status at
/// all (`None` on the aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantBindingStatus {
    /// Asked for; the boundary (namespace, identity, policies) is being set up.
    Requested,
    /// Live; the only status in which the tenant gets new deployments.
    Active,
    /// Temporarily stopped (e.g. unpaid, abuse); gets no new deployment.
    Suspended,
    /// Being removed; workloads and data are being torn down.
    Offboarding,
    /// Gone; terminal, accepts no command. The tenant may be bound again by a new binding.
    Offboarded,
}

impl TenantBindingStatus {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            TenantBindingStatus::Requested => "Requested",
            TenantBindingStatus::Active => "Active",
            TenantBindingStatus::Suspended => "Suspended",
            TenantBindingStatus::Offboarding => "Offboarding",
            TenantBindingStatus::Offboarded => "Offboarded",
        }
    }

    /// Whether the tenant may get new deployments in this status (only `Active`).
    pub fn accepts_deployments(&self) -> bool {
        matches!(self, TenantBindingStatus::Active)
    }
}

impl fmt::Display for TenantBindingStatus {
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
    fn isolation_models_are_a_closed_snake_case_set() {
        assert_eq!(IsolationModel::parse("namespace_per_tenant").unwrap(), IsolationModel::NamespacePerTenant);
        assert!(IsolationModel::parse("NamespacePerTenant").is_err());
        assert!(IsolationModel::parse("dedicated").is_err());
        assert_eq!(serde_json::to_string(&IsolationModel::DedicatedEnvironment).unwrap(), "\"dedicated_environment\"");
        assert!(from_json::<IsolationModel>("\"isolated\"").is_err());
    }

    #[test]
    fn namespaces_are_dns_1123_labels() {
        assert!(KubernetesNamespace::parse("tenant-contoso").is_ok());
        assert!(KubernetesNamespace::parse("1tenant").is_ok());
        assert!(KubernetesNamespace::parse(&"n".repeat(63)).is_ok());
        assert!(KubernetesNamespace::parse("").is_err());
        assert!(KubernetesNamespace::parse(&"n".repeat(64)).is_err());
        assert!(KubernetesNamespace::parse("-tenant").is_err());
        assert!(KubernetesNamespace::parse("tenant-").is_err());
        assert!(KubernetesNamespace::parse("Tenant").is_err());
        assert!(KubernetesNamespace::parse("tenant_a").is_err());
        assert!(KubernetesNamespace::parse("tenant.a").is_err());
        assert!(from_json::<KubernetesNamespace>("\"Bad\"").is_err());
    }

    #[test]
    fn workload_identities_are_non_nil_client_ids() {
        let id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        assert_eq!(WorkloadIdentity::parse(id).unwrap().to_string(), id);
        assert!(WorkloadIdentity::parse("mi-contoso").is_err());
        assert!(WorkloadIdentity::parse("00000000-0000-0000-0000-000000000000").is_err());
        assert!(from_json::<WorkloadIdentity>("\"nope\"").is_err());
    }

    #[test]
    fn network_policies_are_allow_all_deny_cross_tenant_or_a_named_custom_policy() {
        let custom = NetworkPolicy::Custom { name: NetworkPolicyName::parse("tenant.contoso-egress").unwrap() };
        let json = serde_json::to_string(&custom).unwrap();
        assert_eq!(json, r#"{"custom":{"name":"tenant.contoso-egress"}}"#);
        assert_eq!(from_json::<NetworkPolicy>(&json).unwrap(), custom);
        assert_eq!(from_json::<NetworkPolicy>("\"deny_cross_tenant\"").unwrap(), NetworkPolicy::DenyCrossTenant);
        assert!(from_json::<NetworkPolicy>("\"deny_all\"").is_err());
        assert!(from_json::<NetworkPolicy>(r#"{"custom":{"name":"Bad Name"}}"#).is_err());
        assert!(NetworkPolicyName::parse("").is_err());
        assert!(NetworkPolicyName::parse("a..b").is_err());
        assert!(NetworkPolicyName::parse(".a").is_err());
        assert!(NetworkPolicyName::parse(&"a".repeat(254)).is_err());
    }

    #[test]
    fn data_partitions_are_slugs() {
        assert!(DataPartition::parse("contoso-eu1").is_ok());
        assert!(DataPartition::parse("").is_err());
        assert!(DataPartition::parse("1contoso").is_err());
        assert!(DataPartition::parse("Contoso").is_err());
        assert!(DataPartition::parse(&"p".repeat(64)).is_err());
        assert!(from_json::<DataPartition>("\"a b\"").is_err());
    }

    #[test]
    fn quota_dimensions_parse_their_names() {
        assert_eq!(QuotaDimension::parse("rps").unwrap(), QuotaDimension::Rps);
        assert!(QuotaDimension::parse("gpu").is_err());
        assert!(from_json::<QuotaDimension>("\"CPU\"").is_err());
    }

    #[test]
    fn quotas_hold_each_dimension_to_its_range() {
        let quotas = Quotas::new(2000, 4096, 10, 0, 500).unwrap();
        assert_eq!(quotas.limit(QuotaDimension::Cpu), 2000);
        assert_eq!(quotas.memory_mib(), 4096);
        assert_eq!(quotas.replicas(), 10);
        assert_eq!(quotas.storage_gib(), 0);
        assert_eq!(quotas.requests_per_second(), 500);
        assert_eq!(
            Quotas::new(0, 4096, 10, 0, 500).unwrap_err().to_string(),
            "cpu quota must be between 1 and 1024000 millicores: 0"
        );
        assert!(Quotas::new(2000, 0, 10, 0, 500).is_err());
        assert!(Quotas::new(2000, 4096, 0, 0, 500).is_err());
        assert!(Quotas::new(2000, 4096, 1001, 0, 500).is_err());
        assert!(Quotas::new(2000, 4096, 10, 65_537, 500).is_err());
        assert!(Quotas::new(2000, 4096, 10, 0, 0).is_err());
        assert!(Quotas::new(1_024_001, 4096, 10, 0, 500).is_err());
    }

    #[test]
    fn quotas_are_never_negative_nor_out_of_range_when_deserialized() {
        let quotas = Quotas::new(2000, 4096, 10, 50, 500).unwrap();
        let json = serde_json::to_string(&quotas).unwrap();
        assert_eq!(from_json::<Quotas>(&json).unwrap(), quotas);
        assert!(from_json::<Quotas>(&json.replace("\"replicas\":10", "\"replicas\":-1")).is_err());
        assert!(from_json::<Quotas>(&json.replace("\"replicas\":10", "\"replicas\":0")).is_err());
    }

    #[test]
    fn a_breach_is_only_an_observation_above_the_quota() {
        let at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc();
        let breach = QuotaBreach::new(QuotaDimension::Replicas, 11, 10, at).unwrap();
        assert_eq!(
            (breach.dimension(), breach.observed(), breach.quota(), breach.at()),
            (QuotaDimension::Replicas, 11, 10, at)
        );
        assert!(QuotaBreach::new(QuotaDimension::Replicas, 10, 10, at).is_none());
        let json = serde_json::to_string(&breach).unwrap();
        assert_eq!(from_json::<QuotaBreach>(&json).unwrap(), breach);
        assert!(from_json::<QuotaBreach>(&json.replace("\"observed\":11", "\"observed\":9")).is_err());
    }

    #[test]
    fn only_active_bindings_accept_deployments() {
        use TenantBindingStatus as S;
        for status in [S::Requested, S::Suspended, S::Offboarding, S::Offboarded] {
            assert!(!status.accepts_deployments(), "{status}");
        }
        assert!(S::Active.accepts_deployments());
    }

    #[test]
    fn value_errors_are_invalid_input() {
        assert_eq!(ValueError::InvalidNamespace("x".to_owned()).kind(), RejectionKind::InvalidInput);
    }
}
