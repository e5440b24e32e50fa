//! `Service` and `Deployment` (the catalog & delivery context) and the inputs of their
//! mutations. Inputs parse into domain values with the domain's own checks, so a malformed
//! value is refused with `INVALID_INPUT` before anything is written.

use async_graphql::{Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::catalog::{self as cat, RuntimeDeployment, RuntimeService};

use crate::command::invalid;
use crate::error::ApiError;
use crate::types::environment::ComputeTargetKind;

/// A GraphQL integer in the unsigned width the domain uses, or `INVALID_INPUT` naming the field.
fn unsigned<T: TryFrom<i64>>(value: i64, field: &str) -> Result<T, ApiError> {
    T::try_from(value).map_err(|_| invalid(format!("{field} is out of range: {value}")))
}

/// What kind of generated component a service is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// The entry point routing external traffic to the product's APIs.
    ApiGateway,
    /// A backend service with an API.
    Microservice,
    /// A background processor without inbound traffic.
    Worker,
    /// The operators' web portal.
    AdminPortal,
    /// The tenants' customers' web portal.
    CustomerPortal,
    /// The backend-for-frontend of mobile apps.
    MobileBackend,
    /// A serverless function.
    Function,
    /// A managed or containerised database.
    Database,
    /// A message queue or broker.
    Queue,
    /// A monitoring or reporting dashboard.
    Dashboard,
}

impl From<ServiceKind> for cat::ServiceKind {
    fn from(k: ServiceKind) -> Self {
        match k {
            ServiceKind::ApiGateway => Self::ApiGateway,
            ServiceKind::Microservice => Self::Microservice,
            ServiceKind::Worker => Self::Worker,
            ServiceKind::AdminPortal => Self::AdminPortal,
            ServiceKind::CustomerPortal => Self::CustomerPortal,
            ServiceKind::MobileBackend => Self::MobileBackend,
            ServiceKind::Function => Self::Function,
            ServiceKind::Database => Self::Database,
            ServiceKind::Queue => Self::Queue,
            ServiceKind::Dashboard => Self::Dashboard,
        }
    }
}

impl From<cat::ServiceKind> for ServiceKind {
    fn from(k: cat::ServiceKind) -> Self {
        use cat::ServiceKind as K;
        match k {
            K::ApiGateway => Self::ApiGateway,
            K::Microservice => Self::Microservice,
            K::Worker => Self::Worker,
            K::AdminPortal => Self::AdminPortal,
            K::CustomerPortal => Self::CustomerPortal,
            K::MobileBackend => Self::MobileBackend,
            K::Function => Self::Function,
            K::Database => Self::Database,
            K::Queue => Self::Queue,
            K::Dashboard => Self::Dashboard,
        }
    }
}

/// Where a service is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ServiceLifecycle {
    /// In the catalog; may be deployed, not yet declared live.
    Registered,
    /// Live and supported.
    Active,
    /// Still deployable, but to be replaced.
    Deprecated,
    /// Gone for good: cannot be deployed, accepts no command, keeps its name reserved.
    Retired,
}

impl From<cat::ServiceLifecycle> for ServiceLifecycle {
    fn from(s: cat::ServiceLifecycle) -> Self {
        use cat::ServiceLifecycle as S;
        match s {
            S::Registered => Self::Registered,
            S::Active => Self::Active,
            S::Deprecated => Self::Deprecated,
            S::Retired => Self::Retired,
        }
    }
}

impl From<ServiceLifecycle> for cat::ServiceLifecycle {
    fn from(s: ServiceLifecycle) -> Self {
        match s {
            ServiceLifecycle::Registered => Self::Registered,
            ServiceLifecycle::Active => Self::Active,
            ServiceLifecycle::Deprecated => Self::Deprecated,
            ServiceLifecycle::Retired => Self::Retired,
        }
    }
}

/// What a runtime-contract probe checks.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ContractProbeKind {
    /// An HTTP GET on `path` and `port` that must answer 2xx/3xx.
    Http,
    /// A TCP connection to `port` that must open.
    Tcp,
}

/// A liveness, readiness or startup probe of a runtime contract.
#[derive(InputObject, Debug, Clone)]
pub struct ContractProbeInput {
    /// What the probe checks.
    pub kind: ContractProbeKind,
    /// Path requested, starting with `/`; required for `HTTP`, refused for `TCP`.
    pub path: Option<String>,
    /// Port checked; must be one of the contract's ports.
    pub port: i32,
    /// Seconds between two probes (1 to 3600).
    pub period_seconds: i64,
    /// Seconds after which one probe counts as failed (1 to 300, at most the period).
    pub timeout_seconds: i64,
}

impl ContractProbeInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<cat::Probe, ApiError> {
        let port = cat::Port::parse(unsigned(i64::from(self.port), "port")?).map_err(invalid)?;
        let check = match (self.kind, &self.path) {
            (ContractProbeKind::Http, Some(path)) => {
                cat::ProbeCheck::Http { path: cat::HttpPath::parse(path).map_err(invalid)?, port }
            }
            (ContractProbeKind::Http, None) => return Err(invalid("an HTTP probe needs a path")),
            (ContractProbeKind::Tcp, None) => cat::ProbeCheck::Tcp { port },
            (ContractProbeKind::Tcp, Some(_)) => return Err(invalid("a TCP probe takes no path")),
        };
        let period = unsigned(self.period_seconds, "periodSeconds")?;
        let timeout = unsigned(self.timeout_seconds, "timeoutSeconds")?;
        cat::Probe::new(check, period, timeout).map_err(invalid)
    }
}

/// How a service runs.
#[derive(InputObject, Debug, Clone)]
pub struct RuntimeContractInput {
    /// Container image repository without tag or digest, e.g. `myregistry.azurecr.io/shop/api`.
    pub image: String,
    /// Ports it listens on (1 to 65535, each once, at most 20).
    pub ports: Vec<i32>,
    /// Probe that says the process is alive.
    pub liveness: Option<ContractProbeInput>,
    /// Probe that says it can take traffic.
    pub readiness: Option<ContractProbeInput>,
    /// Probe that says it has finished starting.
    pub startup: Option<ContractProbeInput>,
    /// Fewest replicas wanted (0 allows scale-to-zero).
    pub min_replicas: i64,
    /// Most replicas wanted (at most 1000, not below `minReplicas`).
    pub max_replicas: i64,
    /// Kind of compute it runs on.
    pub compute: ComputeTargetKind,
}

impl RuntimeContractInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<cat::RuntimeContract, ApiError> {
        let ports = self
            .ports
            .iter()
            .map(|p| cat::Port::parse(unsigned(i64::from(*p), "port")?).map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let probe = |p: &Option<ContractProbeInput>| p.as_ref().map(ContractProbeInput::parse).transpose();
        let replicas = cat::ReplicaHints::new(
            unsigned(self.min_replicas, "minReplicas")?,
            unsigned(self.max_replicas, "maxReplicas")?,
        )
        .map_err(invalid)?;
        cat::RuntimeContract::new(
            cat::ImageRepository::parse(&self.image).map_err(invalid)?,
            ports,
            probe(&self.liveness)?,
            probe(&self.readiness)?,
            probe(&self.startup)?,
            replicas,
            self.compute.into(),
        )
        .map_err(invalid)
    }
}

/// Everything needed to add a service to the catalog.
#[derive(InputObject, Debug)]
pub struct RegisterServiceInput {
    /// Client-chosen id (UUID), so a retried request targets the same service; generated
    /// when absent.
    pub id: Option<ID>,
    /// Owning product (slug).
    pub product: String,
    /// Name, unique per product and never reused (slug).
    pub name: String,
    /// What kind of component it is.
    pub kind: ServiceKind,
    /// Blueprint or template it was generated from, e.g. `blueprints/api-gateway@3.2`.
    pub blueprint: String,
    /// How it runs.
    pub contract: RuntimeContractInput,
}

/// A probe of a runtime contract.
#[derive(SimpleObject)]
pub struct ContractProbe {
    /// What it checks.
    pub kind: ContractProbeKind,
    /// Path requested (HTTP probes only).
    pub path: Option<String>,
    /// Port checked.
    pub port: i32,
    /// Seconds between two probes.
    pub period_seconds: i64,
    /// Seconds after which one probe counts as failed.
    pub timeout_seconds: i64,
}

impl From<&cat::Probe> for ContractProbe {
    fn from(p: &cat::Probe) -> Self {
        let (kind, path) = match p.check() {
            cat::ProbeCheck::Http { path, .. } => (ContractProbeKind::Http, Some(path.to_string())),
            cat::ProbeCheck::Tcp { .. } => (ContractProbeKind::Tcp, None),
        };
        Self {
            kind,
            path,
            port: i32::from(p.check().port().get()),
            period_seconds: i64::from(p.period_seconds()),
            timeout_seconds: i64::from(p.timeout_seconds()),
        }
    }
}

/// How a service runs.
#[derive(SimpleObject)]
pub struct RuntimeContract {
    /// Image repository, e.g. `myregistry.azurecr.io/shop/api`.
    pub image: String,
    /// Registry host of the image repository.
    pub image_registry: String,
    /// Path of the image repository inside its registry.
    pub image_path: String,
    /// Ports it listens on, in declared order.
    pub ports: Vec<i32>,
    /// Probe that says the process is alive.
    pub liveness: Option<ContractProbe>,
    /// Probe that says it can take traffic.
    pub readiness: Option<ContractProbe>,
    /// Probe that says it has finished starting.
    pub startup: Option<ContractProbe>,
    /// Fewest replicas wanted.
    pub min_replicas: i64,
    /// Most replicas wanted.
    pub max_replicas: i64,
    /// Kind of compute it runs on.
    pub compute: ComputeTargetKind,
}

impl From<&cat::RuntimeContract> for RuntimeContract {
    fn from(c: &cat::RuntimeContract) -> Self {
        Self {
            image: c.image().to_string(),
            image_registry: c.image().registry().to_owned(),
            image_path: c.image().path().to_owned(),
            ports: c.ports().iter().map(|p| i32::from(p.get())).collect(),
            liveness: c.liveness().map(Into::into),
            readiness: c.readiness().map(Into::into),
            startup: c.startup().map(Into::into),
            min_replicas: i64::from(c.replicas().min_replicas()),
            max_replicas: i64::from(c.replicas().max_replicas()),
            compute: c.compute().into(),
        }
    }
}

/// A service in the catalog (platform-wide: it belongs to a product, not to a tenant).
pub struct Service {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: RuntimeService,
}

#[Object]
impl Service {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate this view reflects.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Lifecycle state.
    async fn status(&self) -> Option<ServiceLifecycle> {
        self.state.status().map(Into::into)
    }
    /// Whether it may be deployed (anything but Retired).
    async fn is_deployable(&self) -> bool {
        self.state.is_deployable()
    }
    /// Owning product.
    async fn product(&self) -> Option<String> {
        self.state.product().map(ToString::to_string)
    }
    /// Name, unique per product.
    async fn name(&self) -> Option<String> {
        self.state.name().map(ToString::to_string)
    }
    /// What kind of component it is.
    async fn kind(&self) -> Option<ServiceKind> {
        self.state.kind().map(Into::into)
    }
    /// Blueprint or template it was generated from.
    async fn blueprint(&self) -> Option<String> {
        self.state.blueprint().map(ToString::to_string)
    }
    /// How it runs.
    async fn contract(&self) -> Option<RuntimeContract> {
        self.state.contract().map(Into::into)
    }
    /// Ids of the services it depends on directly.
    async fn dependencies(&self) -> Vec<ID> {
        self.state.dependencies().iter().map(|d| ID(d.to_string())).collect()
    }
    /// Why it was deprecated.
    async fn deprecation_reason(&self) -> Option<String> {
        self.state.deprecation_reason().map(ToString::to_string)
    }
    /// When it was registered.
    async fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.state.registered_at()
    }
    /// When it was declared live.
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.state.activated_at()
    }
    /// When it was deprecated.
    async fn deprecated_at(&self) -> Option<DateTime<Utc>> {
        self.state.deprecated_at()
    }
    /// When it was retired.
    async fn retired_at(&self) -> Option<DateTime<Utc>> {
        self.state.retired_at()
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
}

/// Where a deployment is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeploymentStatus {
    /// Started; traffic not yet moving.
    Pending,
    /// Traffic is moving to it step by step.
    InProgress,
    /// All traffic moved; health gates are being evaluated.
    Verifying,
    /// Promoted.
    Succeeded,
    /// The rollout or verification failed; to be rolled back or abandoned.
    Failed,
    /// Being rolled back to the last known-good deployment.
    RollingBack,
    /// Rolled back.
    RolledBack,
    /// Withdrawn before its rollout began.
    Cancelled,
    /// A newer deployment of the same service and environment succeeded.
    Superseded,
    /// Failed with nothing to roll back to, and given up.
    Abandoned,
}

impl From<cat::DeploymentStatus> for DeploymentStatus {
    fn from(s: cat::DeploymentStatus) -> Self {
        use cat::DeploymentStatus as S;
        match s {
            S::Pending => Self::Pending,
            S::InProgress => Self::InProgress,
            S::Verifying => Self::Verifying,
            S::Succeeded => Self::Succeeded,
            S::Failed => Self::Failed,
            S::RollingBack => Self::RollingBack,
            S::RolledBack => Self::RolledBack,
            S::Cancelled => Self::Cancelled,
            S::Superseded => Self::Superseded,
            S::Abandoned => Self::Abandoned,
        }
    }
}

impl From<DeploymentStatus> for cat::DeploymentStatus {
    fn from(s: DeploymentStatus) -> Self {
        use DeploymentStatus as S;
        match s {
            S::Pending => Self::Pending,
            S::InProgress => Self::InProgress,
            S::Verifying => Self::Verifying,
            S::Succeeded => Self::Succeeded,
            S::Failed => Self::Failed,
            S::RollingBack => Self::RollingBack,
            S::RolledBack => Self::RolledBack,
            S::Cancelled => Self::Cancelled,
            S::Superseded => Self::Superseded,
            S::Abandoned => Self::Abandoned,
        }
    }
}

/// How traffic moves to a new deployment.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeploymentStrategyKind {
    /// Replicas replaced gradually; one step to 100%.
    Rolling,
    /// A second environment switched over at once; one step to 100%.
    BlueGreen,
    /// Traffic shifted in the given percentage steps.
    Canary,
}

impl From<&cat::DeploymentStrategy> for DeploymentStrategyKind {
    fn from(s: &cat::DeploymentStrategy) -> Self {
        match s {
            cat::DeploymentStrategy::Rolling => Self::Rolling,
            cat::DeploymentStrategy::BlueGreen => Self::BlueGreen,
            cat::DeploymentStrategy::Canary { .. } => Self::Canary,
        }
    }
}

/// How traffic moves to a new deployment.
#[derive(InputObject, Debug, Clone)]
pub struct DeploymentStrategyInput {
    /// The strategy.
    pub kind: DeploymentStrategyKind,
    /// Traffic percentages of the canary steps (1 to 100, strictly increasing, ending at 100);
    /// required for `CANARY`, refused otherwise.
    pub canary_steps: Option<Vec<i32>>,
}

impl DeploymentStrategyInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<cat::DeploymentStrategy, ApiError> {
        match (self.kind, &self.canary_steps) {
            (DeploymentStrategyKind::Rolling, None) => Ok(cat::DeploymentStrategy::Rolling),
            (DeploymentStrategyKind::BlueGreen, None) => Ok(cat::DeploymentStrategy::BlueGreen),
            (DeploymentStrategyKind::Canary, Some(steps)) => {
                let bytes =
                    steps.iter().map(|s| unsigned(i64::from(*s), "canarySteps")).collect::<Result<Vec<_>, _>>()?;
                let steps = cat::CanarySteps::new(bytes).map_err(invalid)?;
                Ok(cat::DeploymentStrategy::Canary { steps })
            }
            (DeploymentStrategyKind::Canary, None) => Err(invalid("a CANARY strategy needs canarySteps")),
            (_, Some(_)) => Err(invalid("canarySteps are only given with a CANARY strategy")),
        }
    }
}

/// What a health gate measures.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum HealthGateKind {
    /// Percentage of successful requests; passes at or above the threshold, in (0, 100].
    Availability,
    /// 95th percentile latency in milliseconds; passes at or below the threshold, in
    /// (0, 3600000].
    LatencyP95,
    /// Percentage of failed requests; passes at or below the threshold, in [0, 100).
    ErrorRate,
}

impl From<HealthGateKind> for cat::GateKind {
    fn from(k: HealthGateKind) -> Self {
        match k {
            HealthGateKind::Availability => Self::Availability,
            HealthGateKind::LatencyP95 => Self::LatencyP95,
            HealthGateKind::ErrorRate => Self::ErrorRate,
        }
    }
}

impl From<cat::GateKind> for HealthGateKind {
    fn from(k: cat::GateKind) -> Self {
        match k {
            cat::GateKind::Availability => Self::Availability,
            cat::GateKind::LatencyP95 => Self::LatencyP95,
            cat::GateKind::ErrorRate => Self::ErrorRate,
        }
    }
}

/// A health gate a deployment must pass before it is promoted.
#[derive(InputObject, Debug, Clone)]
pub struct HealthGateInput {
    /// Name, unique within the deployment (slug).
    pub name: String,
    /// What it measures.
    pub kind: HealthGateKind,
    /// The threshold, in the kind's unit (percent or milliseconds).
    pub threshold: f64,
}

impl HealthGateInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<cat::HealthGate, ApiError> {
        cat::HealthGate::new(cat::GateName::parse(&self.name).map_err(invalid)?, self.kind.into(), self.threshold)
            .map_err(invalid)
    }
}

/// What a deployment deploys.
#[derive(InputObject, Debug, Clone)]
pub struct ArtifactInput {
    /// Image digest, `sha256:` and 64 lowercase hex digits.
    pub digest: String,
    /// Semantic version of the artifact, e.g. `1.4.2`.
    pub version: String,
    /// Full git commit sha (40 lowercase hex digits).
    pub commit: String,
}

impl ArtifactInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<cat::Artifact, ApiError> {
        cat::Artifact::parse(&self.digest, &self.version, &self.commit).map_err(invalid)
    }
}

/// Everything needed to start a deployment.
#[derive(InputObject, Debug)]
pub struct StartDeploymentInput {
    /// Client-chosen id (UUID), so a retried request targets the same deployment; generated
    /// when absent.
    pub id: Option<ID>,
    /// The service deployed.
    pub service: ID,
    /// The environment deployed into.
    pub environment: ID,
    /// The tenant, for a tenant-dedicated deployment; absent for a shared one.
    pub tenant: Option<String>,
    /// What is deployed.
    pub artifact: ArtifactInput,
    /// How traffic moves to it.
    pub strategy: DeploymentStrategyInput,
    /// What must pass before it is promoted (1 to 20, unique names).
    pub gates: Vec<HealthGateInput>,
    /// The deployment this one undoes, when it re-deploys an earlier known-good artifact.
    pub rollback_of: Option<ID>,
}

/// What a deployment deploys.
#[derive(SimpleObject)]
pub struct DeploymentArtifact {
    /// Image digest.
    pub digest: String,
    /// Semantic version.
    pub version: String,
    /// Whether the version is a pre-release.
    pub is_prerelease: bool,
    /// Git commit sha.
    pub commit: String,
}

/// How traffic moves to a deployment.
#[derive(SimpleObject)]
pub struct DeploymentStrategy {
    /// The strategy.
    pub kind: DeploymentStrategyKind,
    /// The canary steps (canary only).
    pub canary_steps: Option<Vec<i32>>,
    /// The traffic percentage of each step of the plan (`[100]` for rolling and blue-green).
    pub planned_steps: Vec<i32>,
}

impl From<&cat::DeploymentStrategy> for DeploymentStrategy {
    fn from(s: &cat::DeploymentStrategy) -> Self {
        let steps = |v: &[u8]| v.iter().map(|p| i32::from(*p)).collect::<Vec<_>>();
        Self {
            kind: s.into(),
            canary_steps: match s {
                cat::DeploymentStrategy::Canary { steps: c } => Some(steps(c.as_slice())),
                _ => None,
            },
            planned_steps: steps(s.planned_steps()),
        }
    }
}

/// The latest evaluation of a health gate.
#[derive(SimpleObject)]
pub struct HealthGateResult {
    /// Whether it passed.
    pub passed: bool,
    /// The measured value (percent or milliseconds, per the gate's kind).
    pub observed: f64,
    /// When it was measured.
    pub at: DateTime<Utc>,
}

/// A health gate of a deployment with its latest result.
#[derive(SimpleObject)]
pub struct HealthGate {
    /// Name, unique within the deployment.
    pub name: String,
    /// What it measures.
    pub kind: HealthGateKind,
    /// The threshold, in the kind's unit.
    pub threshold: f64,
    /// Whether its latest result passed (false before the first).
    pub passed: bool,
    /// How many times it was evaluated.
    pub evaluations: i64,
    /// Its latest result.
    pub last_result: Option<HealthGateResult>,
}

impl From<&cat::GateStatus> for HealthGate {
    fn from(g: &cat::GateStatus) -> Self {
        Self {
            name: g.gate().name().to_string(),
            kind: g.gate().kind().into(),
            threshold: g.gate().threshold(),
            passed: g.passed(),
            evaluations: i64::from(g.evaluations()),
            last_result: g.last_result().map(|r| HealthGateResult {
                passed: r.passed(),
                observed: r.observed(),
                at: r.at(),
            }),
        }
    }
}

/// One rollout of a service version into an environment (belongs to its tenant, if any).
pub struct Deployment {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: RuntimeDeployment,
}

#[Object]
impl Deployment {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate this view reflects.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Where it is.
    async fn status(&self) -> Option<DeploymentStatus> {
        self.state.status().map(Into::into)
    }
    /// Whether it is in flight (Pending, InProgress, Verifying, Failed or RollingBack).
    async fn is_active(&self) -> bool {
        self.state.is_active()
    }
    /// The service deployed.
    async fn service(&self) -> Option<ID> {
        self.state.service().map(|s| ID(s.to_string()))
    }
    /// The environment deployed into.
    async fn environment(&self) -> Option<ID> {
        self.state.environment().map(|e| ID(e.to_string()))
    }
    /// The tenant, for a tenant-dedicated deployment.
    async fn tenant(&self) -> Option<String> {
        self.state.tenant().map(ToString::to_string)
    }
    /// What is deployed.
    async fn artifact(&self) -> Option<DeploymentArtifact> {
        self.state.artifact().map(|a| DeploymentArtifact {
            digest: a.digest().to_string(),
            version: a.version().to_string(),
            is_prerelease: a.version().is_prerelease(),
            commit: a.commit().to_string(),
        })
    }
    /// How traffic moves to it.
    async fn strategy(&self) -> Option<DeploymentStrategy> {
        self.state.strategy().map(Into::into)
    }
    /// Its health gates with their latest results, in declared order.
    async fn gates(&self) -> Vec<HealthGate> {
        self.state.gates().iter().map(Into::into).collect()
    }
    /// How many steps of the rollout plan have completed.
    async fn steps_completed(&self) -> i64 {
        i64::from(self.state.steps_completed())
    }
    /// Traffic percentage the last completed step reached (0 before the first).
    async fn traffic_percent(&self) -> i32 {
        i32::from(self.state.traffic_percent())
    }
    /// The deployment this one undoes, if it re-deploys an earlier known-good artifact.
    async fn rollback_of(&self) -> Option<ID> {
        self.state.rollback_of().map(|d| ID(d.to_string()))
    }
    /// The known-good deployment this one is being (or was) rolled back to.
    async fn rollback_target(&self) -> Option<ID> {
        self.state.rollback_target().map(|d| ID(d.to_string()))
    }
    /// The newer deployment that superseded this one.
    async fn superseded_by(&self) -> Option<ID> {
        self.state.superseded_by().map(|d| ID(d.to_string()))
    }
    /// Why it failed (kept through rollback).
    async fn failure_reason(&self) -> Option<String> {
        self.state.failure_reason().map(ToString::to_string)
    }
    /// Why it was cancelled or abandoned.
    async fn closing_reason(&self) -> Option<String> {
        self.state.closing_reason().map(ToString::to_string)
    }
    /// When it was started.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.state.started_at()
    }
    /// When the rollout began.
    async fn rollout_started_at(&self) -> Option<DateTime<Utc>> {
        self.state.rollout_started_at()
    }
    /// When verification began.
    async fn verification_started_at(&self) -> Option<DateTime<Utc>> {
        self.state.verification_started_at()
    }
    /// When it failed.
    async fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.state.failed_at()
    }
    /// When it stopped being in flight: succeeded, rolled back, cancelled or abandoned.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.state.finished_at()
    }
    /// When it was superseded.
    async fn superseded_at(&self) -> Option<DateTime<Utc>> {
        self.state.superseded_at()
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
    /// Why a pending deployment cannot begin its rollout now (empty when it can, and for a
    /// deployment past `Pending`): a dependency of the service rolling out in the same
    /// environment (rollouts follow the declared dependencies), an environment that does not
    /// accept deployments, a tenant that is not active there. Asked of the committed state
    /// now, whatever `asOf` the deployment was read at; the same rule `BeginRollout` applies.
    async fn why_blocked(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<Vec<RolloutBlocker>> {
        use crate::error::IntoGraphql;
        let (Some(cat::DeploymentStatus::Pending), Some(service), Some(environment)) =
            (self.state.status(), self.state.service(), self.state.environment())
        else {
            return Ok(Vec::new());
        };
        let req = crate::query::request(ctx)?;
        let lookup = &ctx.data_unchecked::<crate::ApiState>().bus.routes().deployments.services;
        let failed = |e: String| ApiError::internal(req.trace_id.as_str(), e);
        let mut blockers = Vec::new();
        if lookup.environment_accepts_deployments(environment).await.map_err(failed).gql()? != Some(true) {
            blockers.push(RolloutBlocker {
                kind: "ENVIRONMENT".into(),
                reason: format!("environment {environment} does not accept deployments (it is not Ready or Degraded)"),
                dependency: None,
                deployment: None,
                status: None,
            });
        }
        if let Some(tenant) = self.state.tenant() {
            if lookup.tenant_active(tenant, environment).await.map_err(failed).gql()? != Some(true) {
                blockers.push(RolloutBlocker {
                    kind: "TENANT".into(),
                    reason: format!("tenant {tenant} is not active in environment {environment}"),
                    dependency: None,
                    deployment: None,
                    status: None,
                });
            }
        }
        for rolling in lookup.dependency_rollouts(service, environment, self.state.tenant()).await.map_err(failed).gql()? {
            blockers.push(RolloutBlocker {
                kind: "DEPENDENCY_ROLLOUT".into(),
                reason: format!("waits for the rollout of {rolling}"),
                dependency: Some(ID(rolling.dependency.to_string())),
                deployment: Some(ID(rolling.deployment.to_string())),
                status: Some(rolling.status.into()),
            });
        }
        Ok(blockers)
    }
}

/// One reason a pending deployment cannot begin its rollout.
#[derive(SimpleObject)]
pub struct RolloutBlocker {
    /// `DEPENDENCY_ROLLOUT`, `ENVIRONMENT` or `TENANT`.
    pub kind: String,
    /// What it waits for, in words.
    pub reason: String,
    /// The dependency rolling out (for `DEPENDENCY_ROLLOUT`).
    pub dependency: Option<ID>,
    /// Its deployment in flight.
    pub deployment: Option<ID>,
    /// Where that deployment is.
    pub status: Option<DeploymentStatus>,
}
