//! `Environment` and the inputs of its mutations.

use async_graphql::{Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::environments::{self as env, RuntimeEnvironment};

/// Where an environment sits on the promotion path.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Where changes land first.
    Dev,
    /// Automated and exploratory testing.
    Test,
    /// The last gate before prod.
    Staging,
    /// Serves real tenants.
    Prod,
}

impl From<Stage> for env::Stage {
    fn from(s: Stage) -> Self {
        match s {
            Stage::Dev => Self::Dev,
            Stage::Test => Self::Test,
            Stage::Staging => Self::Staging,
            Stage::Prod => Self::Prod,
        }
    }
}

impl From<env::Stage> for Stage {
    fn from(s: env::Stage) -> Self {
        match s {
            env::Stage::Dev => Self::Dev,
            env::Stage::Test => Self::Test,
            env::Stage::Staging => Self::Staging,
            env::Stage::Prod => Self::Prod,
        }
    }
}

/// Lifecycle state of an environment.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum EnvironmentStatus {
    /// Asked for, not yet provisioning.
    Requested,
    /// The Pulumi stack is being applied.
    Provisioning,
    /// The last provisioning attempt failed; may be retried.
    ProvisioningFailed,
    /// Serving; accepts deployments.
    Ready,
    /// Serving with problems; still accepts deployments.
    Degraded,
    /// Being torn down.
    Decommissioning,
    /// Gone; accepts no command.
    Decommissioned,
}

impl From<env::EnvironmentStatus> for EnvironmentStatus {
    fn from(s: env::EnvironmentStatus) -> Self {
        use env::EnvironmentStatus as S;
        match s {
            S::Requested => Self::Requested,
            S::Provisioning => Self::Provisioning,
            S::ProvisioningFailed => Self::ProvisioningFailed,
            S::Ready => Self::Ready,
            S::Degraded => Self::Degraded,
            S::Decommissioning => Self::Decommissioning,
            S::Decommissioned => Self::Decommissioned,
        }
    }
}

/// Kind of compute an environment offers.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ComputeTargetKind {
    /// Azure Kubernetes Service cluster.
    Aks,
    /// Azure Container Apps environment.
    ContainerApps,
    /// Azure Functions app.
    Functions,
    /// Azure App Service plan.
    AppService,
}

impl From<ComputeTargetKind> for env::ComputeTargetKind {
    fn from(k: ComputeTargetKind) -> Self {
        match k {
            ComputeTargetKind::Aks => Self::Aks,
            ComputeTargetKind::ContainerApps => Self::ContainerApps,
            ComputeTargetKind::Functions => Self::Functions,
            ComputeTargetKind::AppService => Self::AppService,
        }
    }
}

impl From<env::ComputeTargetKind> for ComputeTargetKind {
    fn from(k: env::ComputeTargetKind) -> Self {
        match k {
            env::ComputeTargetKind::Aks => Self::Aks,
            env::ComputeTargetKind::ContainerApps => Self::ContainerApps,
            env::ComputeTargetKind::Functions => Self::Functions,
            env::ComputeTargetKind::AppService => Self::AppService,
        }
    }
}

/// A compute target to add to an environment.
#[derive(InputObject, Debug, Clone)]
pub struct ComputeTargetInput {
    /// Kind of compute.
    pub kind: ComputeTargetKind,
    /// Unique within the environment (a slug).
    pub name: String,
    /// Azure resource id, `/subscriptions/...`.
    pub resource_id: String,
}

impl ComputeTargetInput {
    /// Parses into the domain value.
    pub fn parse(&self) -> Result<env::ComputeTarget, env::ValueError> {
        Ok(env::ComputeTarget::new(
            self.kind.into(),
            env::ComputeTargetName::parse(&self.name)?,
            env::AzureResourceId::parse(&self.resource_id)?,
        ))
    }
}

/// Everything needed to ask for a new environment.
#[derive(InputObject, Debug)]
pub struct RequestEnvironmentInput {
    /// Client-chosen id (UUID), so a retried request targets the same environment; generated
    /// when absent.
    pub id: Option<ID>,
    /// Owning product (slug).
    pub product: String,
    /// Name, unique per product and stage (slug).
    pub name: String,
    /// Stage on the promotion path.
    pub stage: Stage,
    /// Azure region, e.g. `westeurope`.
    pub region: String,
    /// Azure subscription id (UUID).
    pub subscription_id: String,
    /// Azure resource group.
    pub resource_group: String,
    /// Pulumi project declaring the environment.
    pub pulumi_project: String,
    /// Pulumi stack name.
    pub pulumi_stack: String,
    /// At least one compute target.
    pub compute_targets: Vec<ComputeTargetInput>,
}

/// A named endpoint the provisioning produced.
#[derive(InputObject, Debug)]
pub struct EndpointInput {
    /// Endpoint name (slug).
    pub name: String,
    /// `https://` URL.
    pub url: String,
}

/// What a successful provisioning produced.
#[derive(InputObject, Debug)]
pub struct ProvisioningOutputsInput {
    /// Endpoints by name.
    pub endpoints: Vec<EndpointInput>,
    /// Azure resource ids created.
    pub resource_ids: Vec<String>,
    /// Pulumi stack version applied.
    pub stack_version: i64,
}

/// Options every mutation takes.
#[derive(InputObject, Debug, Default)]
pub struct CommandOptionsInput {
    /// The command takes effect once per key; a retry returns the first result.
    pub idempotency_key: Option<String>,
    /// Refuse with `CONCURRENCY_CONFLICT` unless the aggregate is at this version.
    pub expected_version: Option<i64>,
    /// Groups the commands of one business flow (defaults to the trace id).
    pub correlation_id: Option<String>,
    /// What caused this command (defaults to the command's own id).
    pub causation_id: Option<String>,
    /// Run every check a real run makes (roles, tenant, invariants, rules across aggregates,
    /// uniqueness, idempotency) and return the events it would write and the version it would
    /// reach, writing nothing (default: false, a real run).
    #[graphql(default)]
    pub dry_run: bool,
}

/// A compute target an environment offers.
#[derive(SimpleObject)]
pub struct ComputeTarget {
    /// Kind of compute.
    pub kind: ComputeTargetKind,
    /// Name within the environment.
    pub name: String,
    /// Azure resource id.
    pub resource_id: String,
}

/// A named endpoint.
#[derive(SimpleObject)]
pub struct Endpoint {
    /// Name.
    pub name: String,
    /// URL.
    pub url: String,
}

/// What the last successful provisioning produced.
#[derive(SimpleObject)]
pub struct ProvisioningOutputs {
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Azure resource ids.
    pub resource_ids: Vec<String>,
    /// Pulumi stack version.
    pub stack_version: i64,
}

/// A runtime environment (platform-wide: it belongs to a product, not to a tenant).
pub struct Environment {
    /// Aggregate id.
    pub id: String,
    /// Aggregate version the state reflects.
    pub version: i64,
    /// The aggregate's state.
    pub state: RuntimeEnvironment,
}

#[Object]
impl Environment {
    /// Aggregate id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Version of the aggregate this view reflects.
    async fn version(&self) -> i64 {
        self.version
    }
    /// Owning product.
    async fn product(&self) -> Option<String> {
        self.state.product().map(ToString::to_string)
    }
    /// Name, unique per product and stage.
    async fn name(&self) -> Option<String> {
        self.state.name().map(ToString::to_string)
    }
    /// Stage.
    async fn stage(&self) -> Option<Stage> {
        self.state.stage().map(Into::into)
    }
    /// Lifecycle state.
    async fn status(&self) -> Option<EnvironmentStatus> {
        self.state.status().map(Into::into)
    }
    /// Whether deployments may target it (Ready or Degraded).
    async fn accepts_deployments(&self) -> bool {
        self.state.accepts_deployments()
    }
    /// Azure region.
    async fn region(&self) -> Option<String> {
        self.state.region().map(ToString::to_string)
    }
    /// Azure subscription id.
    async fn subscription_id(&self) -> Option<String> {
        self.state.subscription().map(ToString::to_string)
    }
    /// Azure resource group.
    async fn resource_group(&self) -> Option<String> {
        self.state.resource_group().map(ToString::to_string)
    }
    /// Pulumi project.
    async fn pulumi_project(&self) -> Option<String> {
        self.state.pulumi().map(|p| p.project().to_string())
    }
    /// Pulumi stack.
    async fn pulumi_stack(&self) -> Option<String> {
        self.state.pulumi().map(|p| p.stack().to_string())
    }
    /// Compute targets it offers.
    async fn compute_targets(&self) -> Vec<ComputeTarget> {
        self.state
            .compute_targets()
            .iter()
            .map(|t| ComputeTarget {
                kind: t.kind().into(),
                name: t.name().to_string(),
                resource_id: t.resource_id().to_string(),
            })
            .collect()
    }
    /// Outputs of the last successful provisioning.
    async fn outputs(&self) -> Option<ProvisioningOutputs> {
        self.state.outputs().map(|o| ProvisioningOutputs {
            endpoints: o
                .endpoints()
                .iter()
                .map(|(name, url)| Endpoint { name: name.clone(), url: url.clone() })
                .collect(),
            resource_ids: o.resource_ids().to_vec(),
            stack_version: o.stack_version() as i64,
        })
    }
    /// Reason given with the last failure, degradation or decommission.
    async fn last_reason(&self) -> Option<String> {
        self.state.last_reason().map(ToString::to_string)
    }
    /// How many provisioning attempts were started.
    async fn provisioning_attempts(&self) -> i32 {
        self.state.provisioning_attempts() as i32
    }
    /// When it was requested.
    async fn requested_at(&self) -> Option<DateTime<Utc>> {
        self.state.requested_at()
    }
    /// When it last became Ready.
    async fn ready_at(&self) -> Option<DateTime<Utc>> {
        self.state.ready_at()
    }
    /// Last change.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.state.updated_at()
    }
    /// When it was decommissioned.
    async fn decommissioned_at(&self) -> Option<DateTime<Utc>> {
        self.state.decommissioned_at()
    }
}
