//! `RuntimeHealth` and `DriftFinding` (the health & drift context) and the inputs of their
//! mutations.

use async_graphql::{Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::envelope::TenantId;
use domain::health::{self as health, DriftFinding, RuntimeHealth};
use domain::ids::{EnvironmentId, ServiceId};

use crate::command::invalid;
use crate::error::ApiError;

/// Health of a service in an environment, derived from its probe results.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    /// Every reported probe passes.
    Healthy,
    /// Starting: a declared startup probe has not passed yet.
    Progressing,
    /// Serving with problems: readiness or a dependency fails (an incident is open).
    Degraded,
    /// Liveness fails (an incident is open).
    Unhealthy,
    /// No probe result yet.
    Unknown,
}

impl From<health::HealthStatus> for HealthStatus {
    fn from(s: health::HealthStatus) -> Self {
        use health::HealthStatus as S;
        match s {
            S::Healthy => Self::Healthy,
            S::Progressing => Self::Progressing,
            S::Degraded => Self::Degraded,
            S::Unhealthy => Self::Unhealthy,
            S::Unknown => Self::Unknown,
        }
    }
}

impl From<HealthStatus> for health::HealthStatus {
    fn from(s: HealthStatus) -> Self {
        match s {
            HealthStatus::Healthy => Self::Healthy,
            HealthStatus::Progressing => Self::Progressing,
            HealthStatus::Degraded => Self::Degraded,
            HealthStatus::Unhealthy => Self::Unhealthy,
            HealthStatus::Unknown => Self::Unknown,
        }
    }
}

/// Kind of probe a result is for.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum HealthProbeKind {
    /// Is the process alive; failing makes the service Unhealthy.
    Liveness,
    /// Can it take traffic; failing makes the service Degraded.
    Readiness,
    /// Has it finished starting; until it passes the service is Progressing.
    Startup,
    /// A check of one named dependency; failing makes the service Degraded.
    Dependency,
}

impl From<&health::Probe> for HealthProbeKind {
    fn from(p: &health::Probe) -> Self {
        match p {
            health::Probe::Liveness => Self::Liveness,
            health::Probe::Readiness => Self::Readiness,
            health::Probe::Startup => Self::Startup,
            health::Probe::Dependency(_) => Self::Dependency,
        }
    }
}

/// Which probe: a kind, plus the dependency's name for `DEPENDENCY`.
#[derive(InputObject, Debug, Clone)]
pub struct HealthProbeInput {
    /// Kind of probe.
    pub kind: HealthProbeKind,
    /// Dependency name (letters, digits, `-`, `_`, `.`, `:`; at most 100 characters).
    /// Required for `DEPENDENCY`, refused for the other kinds.
    pub dependency: Option<String>,
}

impl HealthProbeInput {
    /// Parses into the domain probe.
    pub fn parse(&self) -> Result<health::Probe, ApiError> {
        match (self.kind, &self.dependency) {
            (HealthProbeKind::Dependency, Some(name)) => {
                health::DependencyName::parse(name).map(health::Probe::Dependency).map_err(invalid)
            }
            (HealthProbeKind::Dependency, None) => Err(invalid("a DEPENDENCY probe needs a dependency name")),
            (_, Some(_)) => Err(invalid("only a DEPENDENCY probe takes a dependency name")),
            (HealthProbeKind::Liveness, None) => Ok(health::Probe::Liveness),
            (HealthProbeKind::Readiness, None) => Ok(health::Probe::Readiness),
            (HealthProbeKind::Startup, None) => Ok(health::Probe::Startup),
        }
    }
}

/// What starting to track the health of a service needs.
#[derive(InputObject, Debug)]
pub struct TrackHealthInput {
    /// Client-chosen health id (UUID), so a retried request targets the same record;
    /// generated when absent.
    pub id: Option<ID>,
    /// The service watched.
    pub service_id: ID,
    /// The environment it runs in.
    pub environment_id: ID,
    /// The tenant, for a tenant-specific deployment; absent for a shared one.
    pub tenant_id: Option<String>,
    /// Whether the service declares a startup probe: until it passes, the service is
    /// Progressing rather than Degraded.
    #[graphql(default)]
    pub startup_probe: bool,
}

impl TrackHealthInput {
    /// Parses the watched target.
    pub fn target(&self) -> Result<health::HealthTarget, ApiError> {
        Ok(health::HealthTarget::new(
            ServiceId::parse(self.service_id.as_str()).map_err(invalid)?,
            EnvironmentId::parse(self.environment_id.as_str()).map_err(invalid)?,
            self.tenant_id.as_deref().map(TenantId::parse).transpose().map_err(invalid)?,
        ))
    }
}

/// The latest result of one probe (recorded when it flipped or was first reported).
#[derive(SimpleObject)]
pub struct HealthProbeResult {
    /// The probe in text form: `liveness`, `readiness`, `startup` or `dependency:<name>`.
    pub probe: String,
    /// Kind of probe.
    pub kind: HealthProbeKind,
    /// Dependency name, for a `DEPENDENCY` probe.
    pub dependency: Option<String>,
    /// Whether it passed.
    pub passed: bool,
    /// How long the probe took, in milliseconds (absent for dependency health reported from
    /// outside a probe).
    pub latency_ms: Option<i64>,
    /// What it said.
    pub detail: Option<String>,
    /// When it last changed (flipped or was first reported).
    pub changed_at: DateTime<Utc>,
}

impl HealthProbeResult {
    fn new(probe: &health::Probe, result: &health::ProbeResult) -> Self {
        Self {
            probe: probe.to_string(),
            kind: probe.into(),
            dependency: match probe {
                health::Probe::Dependency(name) => Some(name.to_string()),
                _ => None,
            },
            passed: result.passed(),
            latency_ms: result.latency_ms().map(i64::from),
            detail: result.detail().map(ToString::to_string),
            changed_at: result.changed_at(),
        }
    }
}

/// Someone taking responsibility for an incident.
#[derive(SimpleObject)]
pub struct HealthIncidentAcknowledgement {
    /// Who took responsibility.
    pub by: String,
    /// What they said.
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The open incident: the service became Degraded or Unhealthy and has not recovered.
#[derive(SimpleObject)]
pub struct HealthIncident {
    /// Incident number, from 1 per health record (the one `acknowledgeIncident` takes).
    pub number: i64,
    /// The status that opened it.
    pub opened_with: HealthStatus,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Whether someone acknowledged it.
    pub acknowledged: bool,
    /// The acknowledgement, once given.
    pub acknowledgement: Option<HealthIncidentAcknowledgement>,
}

impl From<&health::Incident> for HealthIncident {
    fn from(i: &health::Incident) -> Self {
        Self {
            number: i64::from(i.number()),
            opened_with: i.opened_with().into(),
            opened_at: i.opened_at(),
            acknowledged: i.is_acknowledged(),
            acknowledgement: i.acknowledgement().map(|a| HealthIncidentAcknowledgement {
                by: a.by().to_string(),
                note: a.note().map(ToString::to_string),
                at: a.at(),
            }),
        }
    }
}

/// The health of one service in one environment (and tenant), as derived from probe results.
pub struct RuntimeHealthView {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: RuntimeHealth,
}

/// The health of one service in one environment (optionally one tenant).
#[Object(name = "RuntimeHealth")]
impl RuntimeHealthView {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate this view reflects.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Current health.
    async fn status(&self) -> Option<HealthStatus> {
        self.state.status().map(Into::into)
    }
    /// Health before the last change.
    async fn previous_status(&self) -> Option<HealthStatus> {
        self.state.previous_status().map(Into::into)
    }
    /// Since when the current status holds.
    async fn since(&self) -> Option<DateTime<Utc>> {
        self.state.since()
    }
    /// The service watched.
    async fn service_id(&self) -> Option<ID> {
        self.state.target().map(|t| ID(t.service().to_string()))
    }
    /// The environment it runs in.
    async fn environment_id(&self) -> Option<ID> {
        self.state.target().map(|t| ID(t.environment().to_string()))
    }
    /// The tenant, for a tenant-specific deployment.
    async fn tenant_id(&self) -> Option<String> {
        self.state.target().and_then(|t| t.tenant()).map(|t| t.as_str().to_owned())
    }
    /// Whether the service declares a startup probe.
    async fn startup_probe_declared(&self) -> bool {
        self.state.startup_probe_declared()
    }
    /// The latest result of every probe reported so far, in probe order.
    async fn probes(&self) -> Vec<HealthProbeResult> {
        self.state.probes().iter().map(|(probe, result)| HealthProbeResult::new(probe, result)).collect()
    }
    /// The open incident, if any.
    async fn open_incident(&self) -> Option<HealthIncident> {
        self.state.open_incident().map(Into::into)
    }
    /// How many incidents were opened so far.
    async fn incident_count(&self) -> i64 {
        i64::from(self.state.incident_count())
    }
    /// When the last incident closed.
    async fn last_incident_closed_at(&self) -> Option<DateTime<Utc>> {
        self.state.last_incident_closed_at()
    }
    /// When tracking started.
    async fn tracked_at(&self) -> Option<DateTime<Utc>> {
        self.state.tracked_at()
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
}

/// Kind of drift.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
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
    /// Infrastructure differs from the Pulumi stack.
    Infrastructure,
    /// Something runs that nothing declares (no desired state).
    Unmanaged,
    /// Something declared does not run (no observed state).
    Missing,
}

impl From<DriftClass> for health::DriftClass {
    fn from(c: DriftClass) -> Self {
        match c {
            DriftClass::Version => Self::Version,
            DriftClass::Configuration => Self::Configuration,
            DriftClass::Scale => Self::Scale,
            DriftClass::Secret => Self::Secret,
            DriftClass::Isolation => Self::Isolation,
            DriftClass::Infrastructure => Self::Infrastructure,
            DriftClass::Unmanaged => Self::Unmanaged,
            DriftClass::Missing => Self::Missing,
        }
    }
}

impl From<health::DriftClass> for DriftClass {
    fn from(c: health::DriftClass) -> Self {
        use health::DriftClass as C;
        match c {
            C::Version => Self::Version,
            C::Configuration => Self::Configuration,
            C::Scale => Self::Scale,
            C::Secret => Self::Secret,
            C::Isolation => Self::Isolation,
            C::Infrastructure => Self::Infrastructure,
            C::Unmanaged => Self::Unmanaged,
            C::Missing => Self::Missing,
        }
    }
}

/// Where a drift finding is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DriftStatus {
    /// Found; open.
    Detected,
    /// A remediation command was issued; open.
    Remediating,
    /// The remediation fixed it; closed.
    Remediated,
    /// Intended or not worth fixing; closed.
    Accepted,
    /// Observed state matches desired state again by itself; closed.
    Resolved,
}

impl From<health::DriftStatus> for DriftStatus {
    fn from(s: health::DriftStatus) -> Self {
        use health::DriftStatus as S;
        match s {
            S::Detected => Self::Detected,
            S::Remediating => Self::Remediating,
            S::Remediated => Self::Remediated,
            S::Accepted => Self::Accepted,
            S::Resolved => Self::Resolved,
        }
    }
}

impl From<DriftStatus> for health::DriftStatus {
    fn from(s: DriftStatus) -> Self {
        match s {
            DriftStatus::Detected => Self::Detected,
            DriftStatus::Remediating => Self::Remediating,
            DriftStatus::Remediated => Self::Remediated,
            DriftStatus::Accepted => Self::Accepted,
            DriftStatus::Resolved => Self::Resolved,
        }
    }
}

/// One of the nine aggregate types, as the target of a drift remediation.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RemediationAggregateType {
    /// `RuntimeEnvironment`.
    RuntimeEnvironment,
    /// `RuntimeService`.
    RuntimeService,
    /// `RuntimeDeployment`.
    RuntimeDeployment,
    /// `RuntimeConfiguration`.
    RuntimeConfiguration,
    /// `SecretBinding`.
    SecretBinding,
    /// `RuntimeTenantBinding`.
    RuntimeTenantBinding,
    /// `ScalingPolicy`.
    ScalingPolicy,
    /// `RuntimeHealth` (owns no desired state: refused as a remediation target).
    RuntimeHealth,
    /// `DriftFinding` (owns no desired state: refused as a remediation target).
    DriftFinding,
}

impl From<RemediationAggregateType> for health::AggregateType {
    fn from(t: RemediationAggregateType) -> Self {
        use RemediationAggregateType as T;
        match t {
            T::RuntimeEnvironment => Self::RuntimeEnvironment,
            T::RuntimeService => Self::RuntimeService,
            T::RuntimeDeployment => Self::RuntimeDeployment,
            T::RuntimeConfiguration => Self::RuntimeConfiguration,
            T::SecretBinding => Self::SecretBinding,
            T::RuntimeTenantBinding => Self::RuntimeTenantBinding,
            T::ScalingPolicy => Self::ScalingPolicy,
            T::RuntimeHealth => Self::RuntimeHealth,
            T::DriftFinding => Self::DriftFinding,
        }
    }
}

impl From<health::AggregateType> for RemediationAggregateType {
    fn from(t: health::AggregateType) -> Self {
        use health::AggregateType as T;
        match t {
            T::RuntimeEnvironment => Self::RuntimeEnvironment,
            T::RuntimeService => Self::RuntimeService,
            T::RuntimeDeployment => Self::RuntimeDeployment,
            T::RuntimeConfiguration => Self::RuntimeConfiguration,
            T::SecretBinding => Self::SecretBinding,
            T::RuntimeTenantBinding => Self::RuntimeTenantBinding,
            T::ScalingPolicy => Self::ScalingPolicy,
            T::RuntimeHealth => Self::RuntimeHealth,
            T::DriftFinding => Self::DriftFinding,
        }
    }
}

/// How a drift finding closed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DriftClosureKind {
    /// A remediation fixed it.
    Remediated,
    /// Someone accepted it.
    Accepted,
    /// It went away by itself.
    Resolved,
}

/// Everything needed to open a drift finding.
#[derive(InputObject, Debug)]
pub struct DetectDriftInput {
    /// Client-chosen finding id (UUID), so a retried request targets the same finding;
    /// generated when absent.
    pub id: Option<ID>,
    /// The environment the drift is in.
    pub environment_id: ID,
    /// The service that drifted (this and/or `resource`).
    pub service_id: Option<ID>,
    /// The resource that drifted, a single token such as an ARM id or
    /// `namespace/kind/name` (this and/or `serviceId`).
    pub resource: Option<String>,
    /// The tenant, for tenant-specific drift.
    pub tenant_id: Option<String>,
    /// Kind of drift.
    pub class: DriftClass,
    /// What should run (absent for UNMANAGED); a short description, never a secret value.
    pub desired: Option<String>,
    /// What runs (absent for MISSING); a short description, never a secret value.
    pub observed: Option<String>,
}

impl DetectDriftInput {
    /// Parses where the drift is.
    pub fn target(&self) -> Result<health::DriftTarget, ApiError> {
        health::DriftTarget::new(
            EnvironmentId::parse(self.environment_id.as_str()).map_err(invalid)?,
            self.service_id.as_ref().map(|s| ServiceId::parse(s.as_str())).transpose().map_err(invalid)?,
            self.resource.as_deref().map(health::ResourceRef::parse).transpose().map_err(invalid)?,
            self.tenant_id.as_deref().map(TenantId::parse).transpose().map_err(invalid)?,
        )
        .map_err(invalid)
    }

    /// Parses what should run and what runs.
    pub fn values(&self) -> Result<health::DriftValues, ApiError> {
        health::DriftValues::parse(self.desired.as_deref(), self.observed.as_deref()).map_err(invalid)
    }
}

/// The command a remediation issues, on the aggregate owning the drifted desired state.
#[derive(InputObject, Debug)]
pub struct DriftRemediationActionInput {
    /// Type of the aggregate the command goes to.
    pub aggregate_type: RemediationAggregateType,
    /// Id of that aggregate (UUID).
    pub aggregate_id: ID,
    /// The command's name, PascalCase, e.g. `StartDeployment`.
    pub command: String,
}

impl DriftRemediationActionInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<health::RemediationAction, ApiError> {
        health::RemediationAction::parse(
            health::AggregateType::from(self.aggregate_type).as_str(),
            self.aggregate_id.as_str(),
            &self.command,
        )
        .map_err(invalid)
    }
}

/// The command a remediation issued.
#[derive(SimpleObject)]
pub struct DriftRemediationAction {
    /// Type of the aggregate the command went to.
    pub aggregate_type: RemediationAggregateType,
    /// Id of that aggregate.
    pub aggregate_id: ID,
    /// The command's name.
    pub command: String,
}

/// How a drift finding closed.
#[derive(SimpleObject)]
pub struct DriftClosure {
    /// Remediated, accepted or resolved.
    pub kind: DriftClosureKind,
    /// For REMEDIATED: the event or command id that fixed it.
    pub evidence_id: Option<ID>,
    /// For ACCEPTED: why.
    pub reason: Option<String>,
    /// For ACCEPTED: who decided.
    pub accepted_by: Option<String>,
    /// When it closed.
    pub at: DateTime<Utc>,
}

impl From<&health::DriftClosure> for DriftClosure {
    fn from(c: &health::DriftClosure) -> Self {
        match c {
            health::DriftClosure::Remediated { evidence, at } => Self {
                kind: DriftClosureKind::Remediated,
                evidence_id: Some(ID(evidence.to_string())),
                reason: None,
                accepted_by: None,
                at: *at,
            },
            health::DriftClosure::Accepted { reason, accepted_by, at } => Self {
                kind: DriftClosureKind::Accepted,
                evidence_id: None,
                reason: Some(reason.to_string()),
                accepted_by: Some(accepted_by.to_string()),
                at: *at,
            },
            health::DriftClosure::Resolved { at } => {
                Self { kind: DriftClosureKind::Resolved, evidence_id: None, reason: None, accepted_by: None, at: *at }
            }
        }
    }
}

/// A divergence between desired and observed state.
pub struct DriftFindingView {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: DriftFinding,
}

/// A divergence between desired and observed state, `DETECTED -> REMEDIATING -> REMEDIATED`,
/// `DETECTED -> ACCEPTED`, `DETECTED|REMEDIATING -> RESOLVED`.
#[Object(name = "DriftFinding")]
impl DriftFindingView {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate this view reflects.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Lifecycle state.
    async fn status(&self) -> Option<DriftStatus> {
        self.state.status().map(Into::into)
    }
    /// Whether it is open (DETECTED or REMEDIATING).
    async fn open(&self) -> bool {
        self.state.is_open()
    }
    /// Kind of drift.
    async fn class(&self) -> Option<DriftClass> {
        self.state.class().map(Into::into)
    }
    /// The environment the drift is in.
    async fn environment_id(&self) -> Option<ID> {
        self.state.target().map(|t| ID(t.environment().to_string()))
    }
    /// The service that drifted.
    async fn service_id(&self) -> Option<ID> {
        self.state.target().and_then(|t| t.service()).map(|s| ID(s.to_string()))
    }
    /// The resource that drifted.
    async fn resource(&self) -> Option<String> {
        self.state.target().and_then(|t| t.resource()).map(ToString::to_string)
    }
    /// The tenant, for tenant-specific drift.
    async fn tenant_id(&self) -> Option<String> {
        self.state.target().and_then(|t| t.tenant()).map(|t| t.as_str().to_owned())
    }
    /// What should run, as detected.
    async fn desired(&self) -> Option<String> {
        self.state.values().and_then(|v| v.desired()).map(ToString::to_string)
    }
    /// What was seen running, as detected.
    async fn observed(&self) -> Option<String> {
        self.state.values().and_then(|v| v.observed()).map(ToString::to_string)
    }
    /// When it was detected.
    async fn detected_at(&self) -> Option<DateTime<Utc>> {
        self.state.detected_at()
    }
    /// The command the remediation issued, once started.
    async fn remediation(&self) -> Option<DriftRemediationAction> {
        self.state.remediation().map(|a| DriftRemediationAction {
            aggregate_type: a.aggregate_type().into(),
            aggregate_id: ID(a.aggregate_id().to_string()),
            command: a.command().to_string(),
        })
    }
    /// When the remediation started.
    async fn remediation_started_at(&self) -> Option<DateTime<Utc>> {
        self.state.remediation_started_at()
    }
    /// How it closed, once closed.
    async fn closure(&self) -> Option<DriftClosure> {
        self.state.closure().map(Into::into)
    }
    /// When it closed.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.state.closed_at()
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
}
