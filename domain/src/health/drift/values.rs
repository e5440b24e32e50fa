//! Value objects of the `DriftFinding` aggregate: what drifted ([`DriftTarget`]), how
//! ([`DriftClass`], [`DriftValues`]), how it is being fixed ([`RemediationAction`]) and how the
//! finding ended ([`DriftClosure`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::TenantId;
use crate::environments::Reason;
use crate::health::values::{bounded_text, string_value, Operator, ValueError};
use crate::ids::{EnvironmentId, ServiceId};

/// What kind of divergence between desired and observed state a finding reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftClass {
    /// A different image or artifact version runs than was deployed.
    Version,
    /// A different configuration version runs than is active.
    Configuration,
    /// A different replica count runs than desired.
    Scale,
    /// A secret binding differs (missing mount, other Key Vault version, other identity).
    Secret,
    /// A tenant's isolation differs (namespace, network policy, identity).
    Isolation,
    /// Infrastructure differs from its Pulumi stack.
    Infrastructure,
    /// Something runs that nothing declares.
    Unmanaged,
    /// Something declared does not run.
    Missing,
}

impl DriftClass {
    /// Every class.
    pub const ALL: [DriftClass; 8] = [
        DriftClass::Version,
        DriftClass::Configuration,
        DriftClass::Scale,
        DriftClass::Secret,
        DriftClass::Isolation,
        DriftClass::Infrastructure,
        DriftClass::Unmanaged,
        DriftClass::Missing,
    ];

    /// Parses the lowercase class name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|class| class.as_str() == value)
            .ok_or_else(|| ValueError::InvalidDriftClass(value.to_owned()))
    }

    /// The lowercase class name, as serialized and as used in claim keys.
    pub fn as_str(&self) -> &'static str {
        match self {
            DriftClass::Version => "version",
            DriftClass::Configuration => "configuration",
            DriftClass::Scale => "scale",
            DriftClass::Secret => "secret",
            DriftClass::Isolation => "isolation",
            DriftClass::Infrastructure => "infrastructure",
            DriftClass::Unmanaged => "unmanaged",
            DriftClass::Missing => "missing",
        }
    }
}

impl FromStr for DriftClass {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for DriftClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource of the running system that is not (or not only) a catalog service: an Azure
/// resource id, a Kubernetes `namespace/kind/name`, a Container App name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceRef(String);

impl ResourceRef {
    /// Upper bound in characters (ARM ids get long).
    pub const MAX_CHARS: usize = 512;

    /// Parses a resource reference: 1..=512 characters, no whitespace or control characters.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = !value.is_empty()
            && value.chars().count() <= Self::MAX_CHARS
            && value.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidResource(value.to_owned()))
        }
    }
}
string_value!(ResourceRef);

/// Where drift was found: an environment, and the service and/or resource that drifted,
/// optionally for one tenant. At least one of service and resource is present (an unmanaged
/// resource has no service; a service's drift may name the resource that shows it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawDriftTarget")]
pub struct DriftTarget {
    environment: EnvironmentId,
    service: Option<ServiceId>,
    resource: Option<ResourceRef>,
    tenant: Option<TenantId>,
}

/// The unchecked wire form of [`DriftTarget`]; deserialization goes through
/// [`DriftTarget::new`].
#[derive(Deserialize)]
struct RawDriftTarget {
    environment: EnvironmentId,
    service: Option<ServiceId>,
    resource: Option<ResourceRef>,
    tenant: Option<TenantId>,
}

impl TryFrom<RawDriftTarget> for DriftTarget {
    type Error = ValueError;
    fn try_from(raw: RawDriftTarget) -> Result<Self, Self::Error> {
        Self::new(raw.environment, raw.service, raw.resource, raw.tenant)
    }
}

impl DriftTarget {
    /// Assembles a target; refuses one that names neither a service nor a resource.
    pub fn new(
        environment: EnvironmentId,
        service: Option<ServiceId>,
        resource: Option<ResourceRef>,
        tenant: Option<TenantId>,
    ) -> Result<Self, ValueError> {
        if service.is_none() && resource.is_none() {
            return Err(ValueError::DriftTargetWithoutSubject);
        }
        Ok(Self { environment, service, resource, tenant })
    }

    /// The environment the drift is in.
    pub fn environment(&self) -> EnvironmentId {
        self.environment
    }

    /// The service that drifted, if a catalog service is involved.
    pub fn service(&self) -> Option<ServiceId> {
        self.service
    }

    /// The resource that shows the drift, if named.
    pub fn resource(&self) -> Option<&ResourceRef> {
        self.resource.as_ref()
    }

    /// The tenant, for tenant-specific drift (e.g. isolation).
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }
}

/// A short description of a desired or observed state, e.g. `image sha256:4f2a...`,
/// `replicas=3`, `configuration v12`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StateValue(String);

impl StateValue {
    /// Upper bound in characters.
    pub const MAX_CHARS: usize = 1000;

    /// Parses a state value: trimmed, 1..=1000 characters, a single line.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        bounded_text(value, Self::MAX_CHARS, true).map(Self).ok_or(ValueError::InvalidStateValue)
    }
}
string_value!(StateValue);

/// What should run and what was seen running. At least one is present, and when both are
/// they differ (equal states are no drift). Which may be absent depends on the class, which
/// the aggregate checks: `missing` observes nothing, `unmanaged` desires nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDriftValues")]
pub struct DriftValues {
    desired: Option<StateValue>,
    observed: Option<StateValue>,
}

/// The unchecked wire form of [`DriftValues`]; deserialization goes through
/// [`DriftValues::new`].
#[derive(Deserialize)]
struct RawDriftValues {
    desired: Option<StateValue>,
    observed: Option<StateValue>,
}

impl TryFrom<RawDriftValues> for DriftValues {
    type Error = ValueError;
    fn try_from(raw: RawDriftValues) -> Result<Self, Self::Error> {
        Self::new(raw.desired, raw.observed)
    }
}

impl DriftValues {
    /// Assembles values; refuses none at all, and equal desired and observed states.
    pub fn new(desired: Option<StateValue>, observed: Option<StateValue>) -> Result<Self, ValueError> {
        match (&desired, &observed) {
            (None, None) => Err(ValueError::EmptyDriftValues),
            (Some(desired), Some(observed)) if desired == observed => {
                Err(ValueError::NoDivergence(desired.to_string()))
            }
            _ => Ok(Self { desired, observed }),
        }
    }

    /// Parses both sides from raw text.
    pub fn parse(desired: Option<&str>, observed: Option<&str>) -> Result<Self, ValueError> {
        Self::new(desired.map(StateValue::parse).transpose()?, observed.map(StateValue::parse).transpose()?)
    }

    /// What the events say should run.
    pub fn desired(&self) -> Option<&StateValue> {
        self.desired.as_ref()
    }

    /// What the running system reported.
    pub fn observed(&self) -> Option<&StateValue> {
        self.observed.as_ref()
    }

    /// Whether these values fit `class`: `missing` has no observed state, `unmanaged` no
    /// desired state; the other classes need both, since they compare a desired value with
    /// an observed one.
    pub fn fit(&self, class: DriftClass) -> bool {
        match class {
            DriftClass::Missing => self.observed.is_none(),
            DriftClass::Unmanaged => self.desired.is_none(),
            _ => self.desired.is_some() && self.observed.is_some(),
        }
    }
}

/// The aggregate types of the control plane, by their exact `Aggregate::TYPE` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AggregateType {
    /// `RuntimeEnvironment` (environments).
    RuntimeEnvironment,
    /// `RuntimeService` (catalog).
    RuntimeService,
    /// `RuntimeDeployment` (catalog & delivery).
    RuntimeDeployment,
    /// `RuntimeConfiguration` (configuration & secrets).
    RuntimeConfiguration,
    /// `SecretBinding` (configuration & secrets).
    SecretBinding,
    /// `RuntimeTenantBinding` (tenancy).
    RuntimeTenantBinding,
    /// `ScalingPolicy` (scaling).
    ScalingPolicy,
    /// `RuntimeHealth` (health & drift).
    RuntimeHealth,
    /// `DriftFinding` (health & drift).
    DriftFinding,
}

impl AggregateType {
    /// Every aggregate type.
    pub const ALL: [AggregateType; 9] = [
        AggregateType::RuntimeEnvironment,
        AggregateType::RuntimeService,
        AggregateType::RuntimeDeployment,
        AggregateType::RuntimeConfiguration,
        AggregateType::SecretBinding,
        AggregateType::RuntimeTenantBinding,
        AggregateType::ScalingPolicy,
        AggregateType::RuntimeHealth,
        AggregateType::DriftFinding,
    ];

    /// Parses the exact type name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| ValueError::InvalidAggregateType(value.to_owned()))
    }

    /// The exact type name, as in the event envelope's `aggregate_type`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AggregateType::RuntimeEnvironment => "RuntimeEnvironment",
            AggregateType::RuntimeService => "RuntimeService",
            AggregateType::RuntimeDeployment => "RuntimeDeployment",
            AggregateType::RuntimeConfiguration => "RuntimeConfiguration",
            AggregateType::SecretBinding => "SecretBinding",
            AggregateType::RuntimeTenantBinding => "RuntimeTenantBinding",
            AggregateType::ScalingPolicy => "ScalingPolicy",
            AggregateType::RuntimeHealth => "RuntimeHealth",
            AggregateType::DriftFinding => "DriftFinding",
        }
    }

    /// Whether aggregates of this type own desired state, and so can be the target of a
    /// remediation. Health and drift only observe: a command to them fixes nothing running.
    pub fn owns_desired_state(&self) -> bool {
        !matches!(self, AggregateType::RuntimeHealth | AggregateType::DriftFinding)
    }
}

impl FromStr for AggregateType {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for AggregateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of a command on another aggregate, e.g. `StartDeployment`. Only its form is
/// checked: each context owns its command set, and this context depends on none of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommandName(String);

impl CommandName {
    /// Parses a command name: 1..=64 ASCII letters or digits, starting with an uppercase
    /// letter (the command enums' variant names).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=64).contains(&value.len())
            && value.as_bytes()[0].is_ascii_uppercase()
            && value.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidCommandName(value.to_owned()))
        }
    }
}
string_value!(CommandName);

fn non_nil_uuid(kind: &'static str, value: Uuid) -> Result<Uuid, ValueError> {
    if value.is_nil() {
        Err(ValueError::InvalidUuid { kind, value: value.to_string() })
    } else {
        Ok(value)
    }
}

fn parse_non_nil_uuid(kind: &'static str, value: &str) -> Result<Uuid, ValueError> {
    Uuid::parse_str(value)
        .map_err(|_| ValueError::InvalidUuid { kind, value: value.to_owned() })
        .and_then(|id| non_nil_uuid(kind, id))
}

/// How a finding is remediated: the command the remediation issues on the aggregate that owns
/// the drifted desired state (e.g. `StartDeployment` on a `RuntimeDeployment`). Remediation
/// never acts out of band; this records which command acts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRemediationAction")]
pub struct RemediationAction {
    aggregate_type: AggregateType,
    aggregate_id: Uuid,
    command: CommandName,
}

/// The unchecked wire form of [`RemediationAction`]; deserialization goes through
/// [`RemediationAction::new`] so a nil aggregate id cannot be replayed.
#[derive(Deserialize)]
struct RawRemediationAction {
    aggregate_type: AggregateType,
    aggregate_id: Uuid,
    command: CommandName,
}

impl TryFrom<RawRemediationAction> for RemediationAction {
    type Error = ValueError;
    fn try_from(raw: RawRemediationAction) -> Result<Self, Self::Error> {
        Self::new(raw.aggregate_type, raw.aggregate_id, raw.command)
    }
}

impl RemediationAction {
    /// Assembles an action; the aggregate id must be a non-nil UUID.
    pub fn new(aggregate_type: AggregateType, aggregate_id: Uuid, command: CommandName) -> Result<Self, ValueError> {
        Ok(Self { aggregate_type, aggregate_id: non_nil_uuid("aggregate id", aggregate_id)?, command })
    }

    /// Parses an action from raw text.
    pub fn parse(aggregate_type: &str, aggregate_id: &str, command: &str) -> Result<Self, ValueError> {
        Self::new(
            AggregateType::parse(aggregate_type)?,
            parse_non_nil_uuid("aggregate id", aggregate_id)?,
            CommandName::parse(command)?,
        )
    }

    /// The type of the aggregate the command goes to.
    pub fn aggregate_type(&self) -> AggregateType {
        self.aggregate_type
    }

    /// The id of the aggregate the command goes to.
    pub fn aggregate_id(&self) -> Uuid {
        self.aggregate_id
    }

    /// The command issued.
    pub fn command(&self) -> &CommandName {
        &self.command
    }
}

/// The event id or command id that fixed a drift: the causation the finding points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EvidenceId(Uuid);

impl EvidenceId {
    /// Parses a non-nil UUID.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        parse_non_nil_uuid("evidence id", value).map(Self)
    }

    /// Wraps an id, refusing the nil UUID.
    pub fn from_uuid(value: Uuid) -> Result<Self, ValueError> {
        non_nil_uuid("evidence id", value).map(Self)
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for EvidenceId {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EvidenceId> for String {
    fn from(value: EvidenceId) -> Self {
        value.0.to_string()
    }
}

impl fmt::Display for EvidenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Where a drift finding is in its lifecycle. A finding that was never detected has no status
/// at all (`None` on the aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    /// Open: found, nothing done yet.
    Detected,
    /// Open: a remediation command was issued on the owning aggregate.
    Remediating,
    /// Closed: the remediation fixed it.
    Remediated,
    /// Closed: someone decided to live with it.
    Accepted,
    /// Closed: the observed state came back by itself.
    Resolved,
}

impl DriftStatus {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            DriftStatus::Detected => "Detected",
            DriftStatus::Remediating => "Remediating",
            DriftStatus::Remediated => "Remediated",
            DriftStatus::Accepted => "Accepted",
            DriftStatus::Resolved => "Resolved",
        }
    }

    /// Whether a finding in this status holds the open-finding claim.
    pub fn is_open(&self) -> bool {
        matches!(self, DriftStatus::Detected | DriftStatus::Remediating)
    }
}

impl fmt::Display for DriftStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a finding closed, with what each closing event recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftClosure {
    /// A remediation fixed it.
    Remediated {
        /// The event or command that fixed it.
        evidence: EvidenceId,
        /// When.
        at: DateTime<Utc>,
    },
    /// It was accepted as is.
    Accepted {
        /// Why it is acceptable.
        reason: Reason,
        /// Who accepted it.
        accepted_by: Operator,
        /// When.
        at: DateTime<Utc>,
    },
    /// The observed state came back by itself.
    Resolved {
        /// When.
        at: DateTime<Utc>,
    },
}

impl DriftClosure {
    /// When the finding closed.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            DriftClosure::Remediated { at, .. } | DriftClosure::Accepted { at, .. } | DriftClosure::Resolved { at } => {
                *at
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";
    const NIL: &str = "00000000-0000-0000-0000-000000000000";

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn drift_classes_are_a_closed_lowercase_set() {
        for class in DriftClass::ALL {
            assert_eq!(DriftClass::parse(class.as_str()), Ok(class));
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{class}\""));
        }
        assert_eq!(DriftClass::parse("Version"), Err(ValueError::InvalidDriftClass("Version".to_owned())));
        assert!(from_json::<DriftClass>("\"replicas\"").is_err());
    }

    #[test]
    fn resources_are_single_bounded_tokens() {
        assert!(ResourceRef::parse("/subscriptions/x/resourceGroups/rg").is_ok());
        assert!(ResourceRef::parse("tenant-a/Deployment/orders").is_ok());
        assert!(ResourceRef::parse("").is_err());
        assert!(ResourceRef::parse("a b").is_err());
        assert!(ResourceRef::parse(&"r".repeat(513)).is_err());
        assert!(from_json::<ResourceRef>("\"a\\tb\"").is_err());
    }

    #[test]
    fn a_drift_target_names_a_service_or_a_resource() {
        let environment = EnvironmentId::parse(ID).unwrap();
        let service = ServiceId::parse(ID).unwrap();
        let resource = ResourceRef::parse("cae/orders-old").unwrap();
        assert_eq!(DriftTarget::new(environment, None, None, None), Err(ValueError::DriftTargetWithoutSubject));
        assert!(DriftTarget::new(environment, Some(service), None, None).is_ok());
        let unmanaged = DriftTarget::new(environment, None, Some(resource), None).unwrap();
        let json = serde_json::to_string(&unmanaged).unwrap();
        assert_eq!(from_json::<DriftTarget>(&json).unwrap(), unmanaged);
        let bad = format!(r#"{{"environment":"{ID}","service":null,"resource":null,"tenant":null}}"#);
        assert!(from_json::<DriftTarget>(&bad).is_err());
    }

    #[test]
    fn state_values_are_single_bounded_lines() {
        assert_eq!(StateValue::parse(" replicas=3 ").unwrap().as_str(), "replicas=3");
        assert_eq!(StateValue::parse(""), Err(ValueError::InvalidStateValue));
        assert!(StateValue::parse("a\nb").is_err());
        assert!(StateValue::parse(&"v".repeat(1001)).is_err());
    }

    #[test]
    fn drift_values_differ_and_are_not_empty() {
        assert_eq!(DriftValues::parse(None, None), Err(ValueError::EmptyDriftValues));
        assert_eq!(DriftValues::parse(Some("v1"), Some("v1")), Err(ValueError::NoDivergence("v1".to_owned())));
        let values = DriftValues::parse(Some("v2"), Some("v1")).unwrap();
        assert_eq!(values.desired().map(StateValue::as_str), Some("v2"));
        assert_eq!(values.observed().map(StateValue::as_str), Some("v1"));
        let json = serde_json::to_string(&values).unwrap();
        assert_eq!(from_json::<DriftValues>(&json).unwrap(), values);
        assert!(from_json::<DriftValues>(r#"{"desired":"a","observed":"a"}"#).is_err());
    }

    #[test]
    fn drift_values_fit_their_class() {
        let both = DriftValues::parse(Some("3"), Some("1")).unwrap();
        let desired_only = DriftValues::parse(Some("v2"), None).unwrap();
        let observed_only = DriftValues::parse(None, Some("orders-old")).unwrap();
        assert!(both.fit(DriftClass::Scale));
        assert!(!desired_only.fit(DriftClass::Scale));
        assert!(desired_only.fit(DriftClass::Missing));
        assert!(!both.fit(DriftClass::Missing));
        assert!(observed_only.fit(DriftClass::Unmanaged));
        assert!(!both.fit(DriftClass::Unmanaged));
    }

    #[test]
    fn aggregate_types_are_the_nine_type_names() {
        for kind in AggregateType::ALL {
            assert_eq!(AggregateType::parse(kind.as_str()), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert!(AggregateType::parse("Deployment").is_err());
        assert!(!AggregateType::RuntimeHealth.owns_desired_state());
        assert!(!AggregateType::DriftFinding.owns_desired_state());
        assert!(AggregateType::RuntimeDeployment.owns_desired_state());
    }

    #[test]
    fn remediation_actions_name_a_type_a_non_nil_id_and_a_command() {
        let action = RemediationAction::parse("RuntimeDeployment", ID, "StartDeployment").unwrap();
        assert_eq!(action.aggregate_type(), AggregateType::RuntimeDeployment);
        assert_eq!(action.aggregate_id().to_string(), ID);
        assert_eq!(action.command().as_str(), "StartDeployment");
        assert!(RemediationAction::parse("Deployment", ID, "StartDeployment").is_err());
        assert_eq!(
            RemediationAction::parse("RuntimeDeployment", NIL, "StartDeployment"),
            Err(ValueError::InvalidUuid { kind: "aggregate id", value: NIL.to_owned() })
        );
        assert!(RemediationAction::parse("RuntimeDeployment", "x", "StartDeployment").is_err());
        assert!(RemediationAction::parse("RuntimeDeployment", ID, "start_deployment").is_err());
        assert!(CommandName::parse("").is_err());
        assert!(CommandName::parse(&format!("A{}", "b".repeat(64))).is_err());
        let json = serde_json::to_string(&action).unwrap();
        assert_eq!(from_json::<RemediationAction>(&json).unwrap(), action);
        assert!(from_json::<RemediationAction>(&json.replace(ID, NIL)).is_err());
    }

    #[test]
    fn evidence_ids_are_non_nil_uuids() {
        assert_eq!(EvidenceId::parse(ID).unwrap().to_string(), ID);
        assert!(EvidenceId::parse(NIL).is_err());
        assert!(EvidenceId::from_uuid(Uuid::nil()).is_err());
        assert!(from_json::<EvidenceId>(&format!("\"{NIL}\"")).is_err());
    }

    #[test]
    fn only_detected_and_remediating_findings_are_open() {
        assert!(DriftStatus::Detected.is_open());
        assert!(DriftStatus::Remediating.is_open());
        for status in [DriftStatus::Remediated, DriftStatus::Accepted, DriftStatus::Resolved] {
            assert!(!status.is_open(), "{status}");
        }
    }
}
