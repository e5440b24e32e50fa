//! Driving the command bus directly: the fixtures the integration tests and the benchmarks
//! share (a Ready environment, a registered service, a deployment and its happy path).

use chrono::Utc;
use commands::{CommandBus, CommandError, CommandOptions};
use domain::catalog::*;
use domain::configuration::{
    ConfigVersion, ConfigurationCommand, ContentHash, RuntimeConfiguration, Settings, WorkloadTarget,
};
use domain::envelope::TenantId;
use domain::environments::{
    AzureRegion, AzureSubscriptionId, ComputeTarget, ComputeTargetKind, EnvironmentCommand, EnvironmentName, ProductId,
    ProvisioningOutputs, PulumiStack, ResourceGroupName, RuntimeEnvironment, Stage,
};
use domain::ids::{DeploymentId, EnvironmentId, ServiceId};
use domain::scaling::{
    PolicySpec, ReplicaRange, ScalingPolicy, ScalingPolicyCommand, ScalingSignal, SloTargets, TargetPercent, Trigger,
    TriggerKind, WindowSeconds,
};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;

use crate::system_context;

/// A valid `RequestEnvironment` for a dev environment `name` of product `shop`.
pub fn request_environment(name: &str) -> EnvironmentCommand {
    EnvironmentCommand::RequestEnvironment {
        product: ProductId::parse("shop").unwrap(),
        name: EnvironmentName::parse(name).unwrap(),
        stage: Stage::Dev,
        region: AzureRegion::parse("westeurope").unwrap(),
        subscription: AzureSubscriptionId::parse("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap(),
        resource_group: ResourceGroupName::parse("rg").unwrap(),
        pulumi: PulumiStack::parse("shop", "dev").unwrap(),
        compute_targets: vec![ComputeTarget::parse("aks", "aks", "/subscriptions/x/aks").unwrap()],
        requested_at: Utc::now(),
    }
}

/// Requests, provisions and readies an environment called `name`.
pub async fn ready_environment(bus: &CommandBus, name: &str) -> EnvironmentId {
    let ctx = system_context();
    let id = EnvironmentId::generate();
    let s = id.to_string();
    let outputs = ProvisioningOutputs::new(Default::default(), vec![], 1).unwrap();
    for command in [
        request_environment(name),
        EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() },
        EnvironmentCommand::RecordProvisioningSucceeded { outputs, at: Utc::now() },
    ] {
        bus.execute::<RuntimeEnvironment>(&ctx, &s, command, CommandOptions::default()).await.unwrap();
    }
    id
}

/// Registers a microservice `name` of product `shop` running on `compute`.
pub async fn registered_service(bus: &CommandBus, name: &str, compute: ComputeTargetKind) -> ServiceId {
    let id = ServiceId::generate();
    let contract = RuntimeContract::new(
        ImageRepository::parse("registry.azurecr.io/shop/api").unwrap(),
        vec![Port::parse(8080).unwrap()],
        None,
        None,
        None,
        ReplicaHints::new(1, 3).unwrap(),
        compute,
    )
    .unwrap();
    let command = ServiceCommand::RegisterService {
        service: id,
        product: ProductId::parse("shop").unwrap(),
        name: ServiceName::parse(name).unwrap(),
        kind: ServiceKind::Microservice,
        blueprint: BlueprintId::parse("blueprints/microservice@1").unwrap(),
        contract,
        at: Utc::now(),
    };
    bus.execute::<RuntimeService>(&system_context(), &id.to_string(), command, CommandOptions::default())
        .await
        .unwrap();
    id
}

/// A rolling `StartDeployment` of `version` (digest derived from it) with one availability gate.
pub fn start_deployment(
    service: ServiceId,
    environment: EnvironmentId,
    tenant: Option<&str>,
    version: &str,
) -> DeploymentCommand {
    DeploymentCommand::StartDeployment {
        service,
        environment,
        tenant: tenant.map(|t| TenantId::parse(t).unwrap()),
        artifact: Artifact::parse(&format!("sha256:{:0>64}", version.replace('.', "")), version, &"c".repeat(40))
            .unwrap(),
        strategy: DeploymentStrategy::Rolling,
        gates: HealthGates::new(vec![HealthGate::new(
            GateName::parse("availability").unwrap(),
            GateKind::Availability,
            99.0,
        )
        .unwrap()])
        .unwrap(),
        rollback_of: None,
        at: Utc::now(),
    }
}

/// Starts a new deployment with `command`; returns its id.
pub async fn deploy(bus: &CommandBus, command: DeploymentCommand) -> Result<DeploymentId, CommandError> {
    let id = DeploymentId::generate();
    bus.execute::<RuntimeDeployment>(&system_context(), &id.to_string(), command, CommandOptions::default())
        .await
        .map(|_| id)
}

/// Sends `command` to deployment `id`; returns its new version.
pub async fn run_deployment(
    bus: &CommandBus,
    id: DeploymentId,
    command: DeploymentCommand,
) -> Result<u64, CommandError> {
    bus.execute::<RuntimeDeployment>(&system_context(), &id.to_string(), command, CommandOptions::default())
        .await
        .map(|o| o.version)
}

/// Rolls deployment `id` out, passes its gate and promotes it: `Succeeded`.
pub async fn succeed(bus: &CommandBus, id: DeploymentId) {
    run_deployment(bus, id, DeploymentCommand::BeginRollout { at: Utc::now() }).await.unwrap();
    run_deployment(bus, id, DeploymentCommand::RecordStepProgress { step: 0, percent: 100, at: Utc::now() })
        .await
        .unwrap();
    let gate = GateName::parse("availability").unwrap();
    let result = DeploymentCommand::RecordHealthGateResult { gate, passed: true, observed: 99.9, at: Utc::now() };
    run_deployment(bus, id, result).await.unwrap();
    run_deployment(bus, id, DeploymentCommand::Promote { at: Utc::now() }).await.unwrap();
}

/// Makes a configuration for the workload (service, environment, tenant); returns its id.
pub async fn configure(
    bus: &CommandBus,
    service: ServiceId,
    environment: EnvironmentId,
    tenant: Option<&str>,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let target = WorkloadTarget::new(service, environment, tenant.map(|t| TenantId::parse(t).unwrap()));
    let create = ConfigurationCommand::CreateConfiguration { target, at: Utc::now() };
    bus.execute::<RuntimeConfiguration>(&system_context(), &id, create, CommandOptions::default()).await.unwrap();
    id
}

/// Proposes a new version of configuration `id` and activates it; returns its number.
pub async fn next_configuration(bus: &CommandBus, id: &str) -> u32 {
    let proposed = bus.routes().configurations.store.load(id).await.unwrap().aggregate.versions().len() as u32 + 1;
    let settings = Settings::parse([("RELEASE", format!("r{proposed}").as_str())]).unwrap();
    let content_hash = ContentHash::parse(&format!("{proposed:064x}")).unwrap();
    let propose = ConfigurationCommand::ProposeConfigurationVersion { settings, content_hash, at: Utc::now() };
    let outcome =
        bus.execute::<RuntimeConfiguration>(&system_context(), id, propose, CommandOptions::default()).await.unwrap();
    let version = ConfigVersion::parse(u64::from(proposed)).unwrap();
    assert_eq!(outcome.events.len(), 1, "one proposal");
    let activate = ConfigurationCommand::ActivateVersion { version, at: Utc::now() };
    bus.execute::<RuntimeConfiguration>(&system_context(), id, activate, CommandOptions::default()).await.unwrap();
    proposed
}

/// Rolls configuration `id` back to `version` (older than the active one).
pub async fn roll_back_configuration(bus: &CommandBus, id: &str, version: u32) {
    let version = ConfigVersion::parse(u64::from(version)).unwrap();
    let command = ConfigurationCommand::RollBackToVersion { version, at: Utc::now() };
    bus.execute::<RuntimeConfiguration>(&system_context(), id, command, CommandOptions::default()).await.unwrap();
}

/// Defines and activates a scaling policy (1 to 20 replicas on CPU) for the workload; returns
/// its id.
pub async fn define_scaling(
    bus: &CommandBus,
    service: ServiceId,
    environment: EnvironmentId,
    tenant: Option<&str>,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let spec = PolicySpec::new(
        ReplicaRange::new(1, 20).unwrap(),
        vec![Trigger::Cpu { target_percent: TargetPercent::new(70).unwrap() }],
        WindowSeconds::new(0).unwrap(),
        WindowSeconds::new(300).unwrap(),
        WindowSeconds::new(60).unwrap(),
        SloTargets::new(None, None).unwrap(),
    )
    .unwrap();
    let tenant = tenant.map(|t| TenantId::parse(t).unwrap());
    let define = ScalingPolicyCommand::DefinePolicy { service, environment, tenant, spec, at: Utc::now() };
    bus.execute::<ScalingPolicy>(&system_context(), &id, define, CommandOptions::default()).await.unwrap();
    let activate = ScalingPolicyCommand::Activate { at: Utc::now() };
    bus.execute::<ScalingPolicy>(&system_context(), &id, activate, CommandOptions::default()).await.unwrap();
    id
}

/// Records the autoscaler's decision `from` -> `to` replicas under policy `id`.
pub async fn scale(bus: &CommandBus, id: &str, from: u32, to: u32) {
    let command = ScalingPolicyCommand::RecordScalingDecision {
        from_replicas: from,
        to_replicas: to,
        signal: ScalingSignal::new(TriggerKind::Cpu, 91.0).unwrap(),
        reason: domain::environments::Reason::parse("cpu above target").unwrap(),
        at: Utc::now(),
    };
    bus.execute::<ScalingPolicy>(&system_context(), id, command, CommandOptions::default()).await.unwrap();
}

/// Runs `work(client, i)` in `clients` loops for `seconds`; returns operations per second.
pub async fn measure<F, Fut>(clients: usize, seconds: f64, work: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let work = Arc::new(work);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (work, stop, done) = (work.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    work(c, i).await;
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    join_all(tasks).await;
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The `p` quantile (0 to 1, nearest rank) of `sorted` (ascending); NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
