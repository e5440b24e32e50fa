//! Value objects of the environments context. Each is parsed once at the edge; serde goes
//! through the same `parse`, so an invalid value can be neither constructed nor deserialized
//! (an event replayed from the log is held to the rules it was written under).

use crate::macros::string_value;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::rejection::{Rejection, RejectionKind};

/// Why a value of the environments context was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Environment ids are non-nil UUIDs.
    #[error("environment id must be a non-nil uuid: {0:?}")]
    InvalidEnvironmentId(String),
    /// Product ids are slugs.
    #[error("product id must be 1 to 63 characters of a-z, 0-9 or '-', starting with a letter: {0:?}")]
    InvalidProductId(String),
    /// Environment names are slugs.
    #[error("environment name must be 1 to 63 characters of a-z, 0-9 or '-', starting with a letter: {0:?}")]
    InvalidEnvironmentName(String),
    /// Stages are `dev`, `test`, `staging` or `prod`.
    #[error("stage must be one of dev, test, staging, prod: {0:?}")]
    InvalidStage(String),
    /// Azure regions are programmatic names such as `westeurope`.
    #[error("azure region must be 2 to 32 lowercase letters or digits, starting with a letter: {0:?}")]
    InvalidAzureRegion(String),
    /// Subscription ids are non-nil UUIDs.
    #[error("azure subscription id must be a non-nil uuid: {0:?}")]
    InvalidSubscriptionId(String),
    /// Resource group names follow Azure's naming rules.
    #[error("resource group name must be 1 to 90 characters of letters, digits, '-', '_', '.', '(' or ')', not ending in '.': {0:?}")]
    InvalidResourceGroupName(String),
    /// Pulumi project and stack names follow Pulumi's naming rules.
    #[error("pulumi name must be 1 to 100 characters of letters, digits, '-', '_' or '.': {0:?}")]
    InvalidPulumiName(String),
    /// Compute target kinds are a closed set.
    #[error("compute target kind must be one of aks, container_apps, functions, app_service: {0:?}")]
    InvalidComputeTargetKind(String),
    /// Compute target names are slugs.
    #[error("compute target name must be 1 to 63 characters of a-z, 0-9 or '-', starting with a letter: {0:?}")]
    InvalidComputeTargetName(String),
    /// Azure resource ids are absolute ARM paths.
    #[error("azure resource id must start with '/subscriptions/' and contain no whitespace (at most 2048 characters): {0:?}")]
    InvalidResourceId(String),
    /// Endpoint names are slugs.
    #[error("endpoint name must be 1 to 63 characters of a-z, 0-9 or '-', starting with a letter: {0:?}")]
    InvalidEndpointName(String),
    /// Endpoints are served over TLS only.
    #[error("endpoint {name:?} must be an https:// url without whitespace: {url:?}")]
    InvalidEndpointUrl {
        /// The endpoint's name in the outputs.
        name: String,
        /// The refused url.
        url: String,
    },
    /// Reasons are short human-readable text.
    #[error("reason must be 1 to 1000 characters after trimming")]
    InvalidReason,
}

impl Rejection for ValueError {
    fn kind(&self) -> RejectionKind {
        RejectionKind::InvalidInput
    }
}

/// The slug rule shared by products, environment names, compute targets and endpoints: short
/// enough to be a DNS label, safe inside Azure and Kubernetes resource names.
fn is_slug(value: &str) -> bool {
    (1..=63).contains(&value.len())
        && value.as_bytes()[0].is_ascii_lowercase()
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_non_nil_uuid(value: &str) -> Option<Uuid> {
    Uuid::parse_str(value).ok().filter(|id| !id.is_nil())
}

/// Identity of a runtime environment; also its aggregate id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvironmentId(Uuid);

impl EnvironmentId {
    /// Parses an environment id from any UUID text form; the nil UUID is refused because it
    /// is what a forgotten default looks like.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        parse_non_nil_uuid(value).map(Self).ok_or_else(|| ValueError::InvalidEnvironmentId(value.to_owned()))
    }

    /// Wraps an already generated id, refusing the nil UUID.
    pub fn from_uuid(id: Uuid) -> Result<Self, ValueError> {
        if id.is_nil() {
            Err(ValueError::InvalidEnvironmentId(id.to_string()))
        } else {
            Ok(Self(id))
        }
    }

    /// A fresh time-ordered id (UUID v7), for new environments.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for EnvironmentId {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EnvironmentId> for String {
    fn from(value: EnvironmentId) -> Self {
        value.0.to_string()
    }
}

impl FromStr for EnvironmentId {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for EnvironmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The product an environment belongs to, as a slug (`billing-api`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductId(String);

impl ProductId {
    /// Parses a product id: 1..=63 of `[a-z0-9-]`, starting with a letter.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if is_slug(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidProductId(value.to_owned()))
        }
    }
}
string_value!(ProductId);

/// The name of an environment, unique per product and stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvironmentName(String);

impl EnvironmentName {
    /// Parses an environment name: 1..=63 of `[a-z0-9-]`, starting with a letter.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if is_slug(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidEnvironmentName(value.to_owned()))
        }
    }
}
string_value!(EnvironmentName);

/// A stage of the promotion path; changes flow `dev -> test -> staging -> prod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Where changes land first.
    Dev,
    /// Automated and exploratory testing.
    Test,
    /// Production-like; the last gate before prod.
    Staging,
    /// Serves real tenants.
    Prod,
}

impl Stage {
    /// Every stage in promotion order.
    pub const ALL: [Stage; 4] = [Stage::Dev, Stage::Test, Stage::Staging, Stage::Prod];

    /// Parses the lowercase stage name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|stage| stage.as_str() == value)
            .ok_or_else(|| ValueError::InvalidStage(value.to_owned()))
    }

    /// The lowercase stage name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            Stage::Dev => "dev",
            Stage::Test => "test",
            Stage::Staging => "staging",
            Stage::Prod => "prod",
        }
    }

    /// The stage a change is promoted to after this one; `None` for prod.
    pub fn next(&self) -> Option<Stage> {
        match self {
            Stage::Dev => Some(Stage::Test),
            Stage::Test => Some(Stage::Staging),
            Stage::Staging => Some(Stage::Prod),
            Stage::Prod => None,
        }
    }

    /// The stage a change must have passed before this one; `None` for dev.
    pub fn previous(&self) -> Option<Stage> {
        match self {
            Stage::Dev => None,
            Stage::Test => Some(Stage::Dev),
            Stage::Staging => Some(Stage::Test),
            Stage::Prod => Some(Stage::Staging),
        }
    }
}

impl FromStr for Stage {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Azure region's programmatic name, e.g. `westeurope`, `eastus2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AzureRegion(String);

impl AzureRegion {
    /// Parses a region: 2..=32 lowercase letters or digits, starting with a letter. Display
    /// names ("West Europe") are refused so one region never has two spellings in the log.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (2..=32).contains(&value.len())
            && value.as_bytes()[0].is_ascii_lowercase()
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidAzureRegion(value.to_owned()))
        }
    }
}
string_value!(AzureRegion);

/// An Azure subscription id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AzureSubscriptionId(Uuid);

impl AzureSubscriptionId {
    /// Parses a subscription id; Azure never issues the nil UUID.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        parse_non_nil_uuid(value).map(Self).ok_or_else(|| ValueError::InvalidSubscriptionId(value.to_owned()))
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for AzureSubscriptionId {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AzureSubscriptionId> for String {
    fn from(value: AzureSubscriptionId) -> Self {
        value.0.to_string()
    }
}

impl FromStr for AzureSubscriptionId {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for AzureSubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An Azure resource group name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceGroupName(String);

impl ResourceGroupName {
    /// Parses a resource group name: 1..=90 of ASCII letters, digits, `-`, `_`, `.`, `(`, `)`,
    /// not ending in `.` (Azure's rule, restricted to ASCII so names survive every tool).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=90).contains(&value.len())
            && !value.ends_with('.')
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.()".contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidResourceGroupName(value.to_owned()))
        }
    }
}
string_value!(ResourceGroupName);

/// A Pulumi project or stack name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PulumiName(String);

impl PulumiName {
    /// Parses a Pulumi name: 1..=100 of ASCII letters, digits, `-`, `_`, `.`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok =
            (1..=100).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidPulumiName(value.to_owned()))
        }
    }
}
string_value!(PulumiName);

/// The Pulumi project and stack that declare an environment's infrastructure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PulumiStack {
    project: PulumiName,
    stack: PulumiName,
}

impl PulumiStack {
    /// Pairs an already parsed project and stack.
    pub fn new(project: PulumiName, stack: PulumiName) -> Self {
        Self { project, stack }
    }

    /// Parses both names.
    pub fn parse(project: &str, stack: &str) -> Result<Self, ValueError> {
        Ok(Self::new(PulumiName::parse(project)?, PulumiName::parse(stack)?))
    }

    /// The Pulumi project.
    pub fn project(&self) -> &PulumiName {
        &self.project
    }

    /// The stack within the project.
    pub fn stack(&self) -> &PulumiName {
        &self.stack
    }
}

impl fmt::Display for PulumiStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.stack)
    }
}

/// The kind of Azure compute an environment offers workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeTargetKind {
    /// An Azure Kubernetes Service cluster.
    Aks,
    /// An Azure Container Apps environment.
    ContainerApps,
    /// An Azure Functions app.
    Functions,
    /// An Azure App Service plan.
    AppService,
}

impl ComputeTargetKind {
    /// Every kind.
    pub const ALL: [ComputeTargetKind; 4] = [
        ComputeTargetKind::Aks,
        ComputeTargetKind::ContainerApps,
        ComputeTargetKind::Functions,
        ComputeTargetKind::AppService,
    ];

    /// Parses the snake_case kind name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| ValueError::InvalidComputeTargetKind(value.to_owned()))
    }

    /// The snake_case kind name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            ComputeTargetKind::Aks => "aks",
            ComputeTargetKind::ContainerApps => "container_apps",
            ComputeTargetKind::Functions => "functions",
            ComputeTargetKind::AppService => "app_service",
        }
    }
}

impl FromStr for ComputeTargetKind {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for ComputeTargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of a compute target, unique within its environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComputeTargetName(String);

impl ComputeTargetName {
    /// Parses a compute target name: 1..=63 of `[a-z0-9-]`, starting with a letter.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if is_slug(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidComputeTargetName(value.to_owned()))
        }
    }
}
string_value!(ComputeTargetName);

/// An Azure Resource Manager id, e.g.
/// `/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.App/managedEnvironments/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AzureResourceId(String);

impl AzureResourceId {
    const PREFIX: &'static str = "/subscriptions/";

    /// Parses a resource id: `/subscriptions/` followed by a non-empty path, no whitespace or
    /// control characters, at most 2048 characters. Case is kept as given because ARM echoes
    /// ids back in the case they were created with.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = value.len() > Self::PREFIX.len()
            && value.len() <= 2048
            && value.starts_with(Self::PREFIX)
            && value.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidResourceId(value.to_owned()))
        }
    }
}
string_value!(AzureResourceId);

/// A provider-neutral description of compute an environment offers: what kind it is, the name
/// workloads refer to it by, and the Azure resource that backs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ComputeTarget {
    kind: ComputeTargetKind,
    name: ComputeTargetName,
    resource_id: AzureResourceId,
}

impl ComputeTarget {
    /// Assembles a compute target from parsed parts.
    pub fn new(kind: ComputeTargetKind, name: ComputeTargetName, resource_id: AzureResourceId) -> Self {
        Self { kind, name, resource_id }
    }

    /// Parses a compute target from raw parts.
    pub fn parse(kind: &str, name: &str, resource_id: &str) -> Result<Self, ValueError> {
        Ok(Self::new(
            ComputeTargetKind::parse(kind)?,
            ComputeTargetName::parse(name)?,
            AzureResourceId::parse(resource_id)?,
        ))
    }

    /// What kind of compute this is.
    pub fn kind(&self) -> ComputeTargetKind {
        self.kind
    }

    /// The target's name within its environment.
    pub fn name(&self) -> &ComputeTargetName {
        &self.name
    }

    /// The Azure resource backing the target.
    pub fn resource_id(&self) -> &AzureResourceId {
        &self.resource_id
    }
}

/// What a successful Pulumi run produced for an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawProvisioningOutputs")]
pub struct ProvisioningOutputs {
    endpoints: BTreeMap<String, String>,
    resource_ids: Vec<String>,
    stack_version: u64,
}

/// The unchecked wire form of [`ProvisioningOutputs`]; deserialization goes through
/// [`ProvisioningOutputs::new`] so a stored event cannot smuggle in an `http://` endpoint.
#[derive(Deserialize)]
struct RawProvisioningOutputs {
    endpoints: BTreeMap<String, String>,
    resource_ids: Vec<String>,
    stack_version: u64,
}

impl TryFrom<RawProvisioningOutputs> for ProvisioningOutputs {
    type Error = ValueError;
    fn try_from(raw: RawProvisioningOutputs) -> Result<Self, Self::Error> {
        Self::new(raw.endpoints, raw.resource_ids, raw.stack_version)
    }
}

impl ProvisioningOutputs {
    /// Checks and assembles outputs: endpoint names are slugs, endpoint urls are `https://`
    /// with a host and no whitespace, and resource ids are Azure resource ids.
    pub fn new(
        endpoints: BTreeMap<String, String>,
        resource_ids: Vec<String>,
        stack_version: u64,
    ) -> Result<Self, ValueError> {
        for (name, url) in &endpoints {
            if !is_slug(name) {
                return Err(ValueError::InvalidEndpointName(name.clone()));
            }
            let host_present =
                url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
            if !host_present || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ValueError::InvalidEndpointUrl { name: name.clone(), url: url.clone() });
            }
        }
        for id in &resource_ids {
            AzureResourceId::parse(id)?;
        }
        Ok(Self { endpoints, resource_ids, stack_version })
    }

    /// Named `https://` endpoints the environment exposes (e.g. `gateway`, `portal`).
    pub fn endpoints(&self) -> &BTreeMap<String, String> {
        &self.endpoints
    }

    /// Azure resource ids of what the stack created.
    pub fn resource_ids(&self) -> &[String] {
        &self.resource_ids
    }

    /// The Pulumi stack version (update counter) the outputs come from.
    pub fn stack_version(&self) -> u64 {
        self.stack_version
    }
}

/// Why provisioning failed, an environment degraded, or it is being decommissioned; kept short
/// because it is shown in views and carried in every such event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

impl Reason {
    /// Upper bound in characters, not bytes, so non-ASCII text is not penalised.
    pub const MAX_CHARS: usize = 1000;

    /// Parses a reason: trimmed, non-empty, at most [`Self::MAX_CHARS`] characters.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let trimmed = value.trim();
        if trimmed.is_empty() || trimmed.chars().count() > Self::MAX_CHARS {
            Err(ValueError::InvalidReason)
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }
}
string_value!(Reason);

/// Where an environment is in its lifecycle. An environment that was never requested has no
/// status at all (`None` on the aggregate), which keeps "does not exist" out of this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentStatus {
    /// Asked for; nothing provisioned yet.
    Requested,
    /// A Pulumi run is in progress.
    Provisioning,
    /// The last Pulumi run failed; may be retried or decommissioned.
    ProvisioningFailed,
    /// Provisioned and healthy; accepts deployments.
    Ready,
    /// Provisioned but unhealthy; still accepts deployments (a fix may need one).
    Degraded,
    /// Teardown asked for; accepts no deployments or compute target changes.
    Decommissioning,
    /// Torn down; terminal, accepts no command.
    Decommissioned,
}

impl EnvironmentStatus {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            EnvironmentStatus::Requested => "Requested",
            EnvironmentStatus::Provisioning => "Provisioning",
            EnvironmentStatus::ProvisioningFailed => "ProvisioningFailed",
            EnvironmentStatus::Ready => "Ready",
            EnvironmentStatus::Degraded => "Degraded",
            EnvironmentStatus::Decommissioning => "Decommissioning",
            EnvironmentStatus::Decommissioned => "Decommissioned",
        }
    }

    /// Whether workloads may be deployed into an environment in this status.
    pub fn accepts_deployments(&self) -> bool {
        matches!(self, EnvironmentStatus::Ready | EnvironmentStatus::Degraded)
    }
}

impl fmt::Display for EnvironmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b";

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn environment_ids_are_non_nil_uuids() {
        let id = EnvironmentId::parse("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a").unwrap();
        assert_eq!(id.to_string(), "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a");
        assert!(EnvironmentId::parse("not-a-uuid").is_err());
        assert!(EnvironmentId::parse("").is_err());
        assert!(EnvironmentId::parse("00000000-0000-0000-0000-000000000000").is_err());
        assert!(EnvironmentId::from_uuid(Uuid::nil()).is_err());
        assert!(EnvironmentId::parse(&EnvironmentId::generate().to_string()).is_ok());
    }

    #[test]
    fn slugs_start_with_a_letter_and_use_lowercase_digits_and_dashes() {
        assert!(ProductId::parse("billing-api2").is_ok());
        assert!(ProductId::parse(&"a".repeat(63)).is_ok());
        assert!(ProductId::parse("").is_err());
        assert!(ProductId::parse(&"a".repeat(64)).is_err());
        assert!(ProductId::parse("1billing").is_err());
        assert!(ProductId::parse("-billing").is_err());
        assert!(ProductId::parse("Billing").is_err());
        assert!(ProductId::parse("billing_api").is_err());
        assert!(ProductId::parse("billing api").is_err());
        assert!(EnvironmentName::parse("blue").is_ok());
        assert!(EnvironmentName::parse("Blue").is_err());
        assert!(ComputeTargetName::parse("aks-main").is_ok());
        assert!(ComputeTargetName::parse("aks.main").is_err());
    }

    #[test]
    fn stages_parse_lowercase_and_follow_promotion_order() {
        assert_eq!(Stage::parse("staging").unwrap(), Stage::Staging);
        assert!(Stage::parse("Staging").is_err());
        assert!(Stage::parse("production").is_err());
        assert_eq!(Stage::Dev.next(), Some(Stage::Test));
        assert_eq!(Stage::Test.next(), Some(Stage::Staging));
        assert_eq!(Stage::Staging.next(), Some(Stage::Prod));
        assert_eq!(Stage::Prod.next(), None);
        assert_eq!(Stage::Prod.previous(), Some(Stage::Staging));
        assert_eq!(Stage::Dev.previous(), None);
        assert!(Stage::Dev < Stage::Prod);
        assert_eq!(serde_json::to_string(&Stage::Prod).unwrap(), "\"prod\"");
        assert!(from_json::<Stage>("\"Prod\"").is_err());
    }

    #[test]
    fn regions_are_programmatic_names() {
        assert!(AzureRegion::parse("westeurope").is_ok());
        assert!(AzureRegion::parse("eastus2").is_ok());
        assert!(AzureRegion::parse("w").is_err());
        assert!(AzureRegion::parse(&"a".repeat(33)).is_err());
        assert!(AzureRegion::parse("West Europe").is_err());
        assert!(AzureRegion::parse("west-europe").is_err());
        assert!(AzureRegion::parse("2westeurope").is_err());
    }

    #[test]
    fn subscription_ids_are_non_nil_uuids() {
        assert_eq!(AzureSubscriptionId::parse(SUB).unwrap().to_string(), SUB);
        assert!(AzureSubscriptionId::parse("my-subscription").is_err());
        assert!(AzureSubscriptionId::parse("00000000-0000-0000-0000-000000000000").is_err());
    }

    #[test]
    fn resource_group_names_follow_azure_rules() {
        assert!(ResourceGroupName::parse("rg-billing_prod.(eu)").is_ok());
        assert!(ResourceGroupName::parse(&"r".repeat(90)).is_ok());
        assert!(ResourceGroupName::parse("").is_err());
        assert!(ResourceGroupName::parse(&"r".repeat(91)).is_err());
        assert!(ResourceGroupName::parse("rg-billing.").is_err());
        assert!(ResourceGroupName::parse("rg billing").is_err());
        assert!(ResourceGroupName::parse("rg/billing").is_err());
    }

    #[test]
    fn pulumi_names_follow_pulumi_rules() {
        assert!(PulumiStack::parse("billing-infra", "prod.westeurope_1").is_ok());
        assert!(PulumiName::parse(&"p".repeat(100)).is_ok());
        assert!(PulumiName::parse("").is_err());
        assert!(PulumiName::parse(&"p".repeat(101)).is_err());
        assert!(PulumiName::parse("org/stack").is_err());
        assert!(PulumiStack::parse("ok", "not ok").is_err());
        let stack = PulumiStack::parse("billing-infra", "prod").unwrap();
        assert_eq!(stack.to_string(), "billing-infra/prod");
        assert!(from_json::<PulumiStack>(r#"{"project":"a b","stack":"prod"}"#).is_err());
    }

    #[test]
    fn compute_targets_need_a_known_kind_a_slug_name_and_an_arm_id() {
        let rid = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/cae");
        let target = ComputeTarget::parse("container_apps", "cae-main", &rid).unwrap();
        assert_eq!(target.kind(), ComputeTargetKind::ContainerApps);
        assert!(ComputeTarget::parse("vm", "cae-main", &rid).is_err());
        assert!(ComputeTarget::parse("aks", "Cae", &rid).is_err());
        assert!(ComputeTarget::parse("aks", "cae", "/resourceGroups/rg").is_err());
        assert!(AzureResourceId::parse("/subscriptions/").is_err());
        assert!(AzureResourceId::parse("/subscriptions/x y").is_err());
        let json = serde_json::to_string(&target).unwrap();
        assert_eq!(from_json::<ComputeTarget>(&json).unwrap(), target);
        let bad = json.replace("/subscriptions/", "/subs/");
        assert!(from_json::<ComputeTarget>(&bad).is_err());
    }

    #[test]
    fn provisioning_outputs_only_carry_https_endpoints_and_arm_ids() {
        let rid = format!("/subscriptions/{SUB}/resourceGroups/rg");
        let endpoints = |url: &str| BTreeMap::from([("gateway".to_owned(), url.to_owned())]);
        let ok = ProvisioningOutputs::new(endpoints("https://gw.example.com"), vec![rid.clone()], 3).unwrap();
        assert_eq!(ok.stack_version(), 3);
        assert!(ProvisioningOutputs::new(endpoints("http://gw.example.com"), vec![], 1).is_err());
        assert!(ProvisioningOutputs::new(endpoints("https://"), vec![], 1).is_err());
        assert!(ProvisioningOutputs::new(endpoints("https://gw .example.com"), vec![], 1).is_err());
        assert!(ProvisioningOutputs::new(BTreeMap::from([("Gateway".to_owned(), "https://gw".to_owned())]), vec![], 1)
            .is_err());
        assert!(ProvisioningOutputs::new(BTreeMap::new(), vec!["rg".to_owned()], 1).is_err());
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(from_json::<ProvisioningOutputs>(&json).unwrap(), ok);
        let bad = json.replace("https://", "http://");
        assert!(from_json::<ProvisioningOutputs>(&bad).is_err());
    }

    #[test]
    fn reasons_are_trimmed_non_empty_and_bounded() {
        assert_eq!(Reason::parse("  quota exceeded \n").unwrap().as_str(), "quota exceeded");
        assert!(Reason::parse("").is_err());
        assert!(Reason::parse("   \t").is_err());
        assert!(Reason::parse(&"é".repeat(1000)).is_ok());
        assert!(Reason::parse(&"x".repeat(1001)).is_err());
        assert!(from_json::<Reason>("\"  \"").is_err());
    }

    #[test]
    fn invalid_values_cannot_be_deserialized() {
        assert!(from_json::<ProductId>("\"Bad Product\"").is_err());
        assert!(from_json::<EnvironmentName>("\"\"").is_err());
        assert!(from_json::<AzureRegion>("\"West Europe\"").is_err());
        assert!(from_json::<AzureSubscriptionId>("\"nope\"").is_err());
        assert!(from_json::<ResourceGroupName>("\"rg.\"").is_err());
        assert!(from_json::<EnvironmentId>("\"00000000-0000-0000-0000-000000000000\"").is_err());
        assert!(from_json::<ComputeTargetKind>("\"vm\"").is_err());
        assert_eq!(from_json::<ProductId>("\"billing\"").unwrap().as_str(), "billing");
    }

    #[test]
    fn value_errors_are_invalid_input() {
        assert_eq!(ValueError::InvalidReason.kind(), RejectionKind::InvalidInput);
    }
}
