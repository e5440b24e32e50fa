//! Cross-aggregate rules against a real PostgreSQL, through the command bus: the strict ones
//! (claims written with the events) under racing commands, the looked-up ones, tenant
//! isolation, and an old event shape loading through its upcaster.

use ::commands::{CommandBus, CommandError, CommandOptions};
use chrono::Utc;
use domain::catalog::*;
use domain::environments::{ComputeTargetKind, Reason};
use domain::ids::{DeploymentId, EnvironmentId, ServiceId};
use domain::rejection::RejectionKind;
use futures::future::join_all;
use tests::drive::{deploy, ready_environment, registered_service, run_deployment as run, start_deployment, succeed};
use tests::{system_context, TestDb};

fn opts() -> CommandOptions {
    CommandOptions::default()
}

#[tokio::test]
async fn racing_deployments_of_one_service_to_one_environment_let_exactly_one_start() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let environment = ready_environment(&bus, "main").await;
    let service = registered_service(&bus, "api", ComputeTargetKind::Aks).await;
    let racers = (0..6).map(|i| {
        let bus = bus.clone();
        async move { deploy(&bus, start_deployment(service, environment, None, &format!("1.0.{i}"))).await }
    });
    let results = join_all(racers).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    for loser in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(loser, CommandError::Rejected { kind: RejectionKind::AlreadyExists, .. }), "{loser:?}");
    }
    // Once it ends, the next may start.
    let winner = *results.iter().find_map(|r| r.as_ref().ok()).unwrap();
    run(
        &bus,
        winner,
        DeploymentCommand::Cancel { reason: Reason::parse("superseded by a fix").unwrap(), at: Utc::now() },
    )
    .await
    .unwrap();
    deploy(&bus, start_deployment(service, environment, None, "1.1.0")).await.unwrap();
}

#[tokio::test]
async fn deployments_need_a_ready_environment_and_a_deployable_service() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let service = registered_service(&bus, "api", ComputeTargetKind::Aks).await;
    let nowhere = EnvironmentId::generate();
    let before = db.event_count().await;
    let refused = deploy(&bus, start_deployment(service, nowhere, None, "1.0.0")).await;
    assert!(
        matches!(refused, Err(CommandError::Rejected { kind: RejectionKind::InvariantViolated, .. })),
        "{refused:?}"
    );
    let environment = ready_environment(&bus, "main").await;
    let unknown = deploy(&bus, start_deployment(ServiceId::generate(), environment, None, "1.0.0")).await;
    assert!(
        matches!(unknown, Err(CommandError::Rejected { kind: RejectionKind::InvariantViolated, .. })),
        "{unknown:?}"
    );
    let ctx = system_context();
    let sid = service.to_string();
    bus.execute::<RuntimeService>(&ctx, &sid, ServiceCommand::Retire { at: Utc::now() }, opts()).await.unwrap();
    let retired = deploy(&bus, start_deployment(service, environment, None, "1.0.0")).await;
    assert!(
        matches!(retired, Err(CommandError::Rejected { kind: RejectionKind::InvariantViolated, .. })),
        "{retired:?}"
    );
    // Only the environment and the retirement were written.
    assert_eq!(db.event_count().await, before + 3 + 1);
}

#[tokio::test]
async fn a_rollback_must_name_the_last_succeeded_deployment() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let environment = ready_environment(&bus, "main").await;
    let service = registered_service(&bus, "api", ComputeTargetKind::Aks).await;
    let v1 = deploy(&bus, start_deployment(service, environment, None, "1.0.0")).await.unwrap();
    succeed(&bus, v1).await;
    let v2 = deploy(&bus, start_deployment(service, environment, None, "2.0.0")).await.unwrap();
    succeed(&bus, v2).await;
    let v3 = deploy(&bus, start_deployment(service, environment, None, "3.0.0")).await.unwrap();
    run(&bus, v3, DeploymentCommand::BeginRollout { at: Utc::now() }).await.unwrap();
    run(&bus, v3, DeploymentCommand::FailDeployment { reason: Reason::parse("crash loop").unwrap(), at: Utc::now() })
        .await
        .unwrap();
    let wrong = run(&bus, v3, DeploymentCommand::RollBack { target: v1, at: Utc::now() }).await;
    assert!(matches!(wrong, Err(CommandError::Rejected { kind: RejectionKind::InvariantViolated, .. })), "{wrong:?}");
    run(&bus, v3, DeploymentCommand::RollBack { target: v2, at: Utc::now() }).await.unwrap();
    run(&bus, v3, DeploymentCommand::RecordRolledBack { at: Utc::now() }).await.unwrap();
    let loaded = bus.routes().deployments.store.load(&v3.to_string()).await.unwrap();
    assert_eq!(loaded.aggregate.status(), Some(DeploymentStatus::RolledBack));
}

#[tokio::test]
async fn a_version_one_deployment_event_still_loads_through_its_upcaster() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let id = DeploymentId::generate();
    let service = ServiceId::generate();
    let environment = EnvironmentId::generate();
    // The 1.0 shape: no strategy, and the image as one "repository@digest" string.
    let old = serde_json::json!({ "DeploymentStarted": {
        "service": service.to_string(), "environment": environment.to_string(), "tenant": null,
        "image": format!("registry.azurecr.io/shop/api@sha256:{}", "cd".repeat(32)),
        "artifact": { "version": "1.4.2", "commit": "e".repeat(40) },
        "gates": [{ "name": "availability", "kind": "availability", "threshold": 99.0 }],
        "rollback_of": null, "at": "2025-06-01T10:00:00Z" } });
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('RuntimeDeployment', $1, 1, 'DeploymentStarted', '1.0', $2, '{}')",
    )
    .bind(id.to_string())
    .bind(&old)
    .execute(&db.pool)
    .await
    .unwrap();
    let loaded = bus.routes().deployments.store.load(&id.to_string()).await.unwrap();
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.aggregate.status(), Some(DeploymentStatus::Pending));
    assert_eq!(loaded.aggregate.strategy(), Some(&DeploymentStrategy::Rolling));
    assert_eq!(loaded.aggregate.artifact().unwrap().digest().to_string(), format!("sha256:{}", "cd".repeat(32)));
    // And it keeps working: the next command appends after it.
    run(&bus, id, DeploymentCommand::Cancel { reason: Reason::parse("old rollout").unwrap(), at: Utc::now() })
        .await
        .unwrap();
}

/// The rules issue 9 added, through the bus and `PgLookups` (committed state of the other
/// aggregate): a deployment is superseded only by a later success of the same service and
/// environment; a tenant is bound only to a live environment; a replica quota does not go
/// below an active scaling policy's max replicas.
#[tokio::test]
async fn looked_up_rules_read_the_other_aggregates_committed_state() {
    use domain::envelope::TenantId;
    use domain::scaling::{
        PolicySpec, ReplicaRange, ScalingPolicy, ScalingPolicyCommand, SloTargets, TargetPercent, Trigger,
        WindowSeconds,
    };
    use domain::tenancy::{
        DataPartition, IsolationModel, NetworkPolicy, Quotas, RuntimeTenantBinding, TenantBindingCommand,
        WorkloadIdentity,
    };

    fn refused_with(result: Result<impl std::fmt::Debug, CommandError>, text: &str) {
        match result {
            Err(CommandError::Rejected { kind: RejectionKind::InvariantViolated, message }) => {
                assert!(message.contains(text), "{message:?} should say {text:?}")
            }
            other => panic!("expected an invariant refusal saying {text:?}, got {other:?}"),
        }
    }

    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let ctx = system_context();
    let environment = ready_environment(&bus, "main").await;
    let service = registered_service(&bus, "api", ComputeTargetKind::Aks).await;

    // Superseded only by a later success of the same service and environment.
    let older = deploy(&bus, start_deployment(service, environment, None, "1.0.0")).await.unwrap();
    succeed(&bus, older).await;
    let newer = deploy(&bus, start_deployment(service, environment, None, "1.1.0")).await.unwrap();
    let supersede = |by| DeploymentCommand::MarkSuperseded { by, at: Utc::now() };
    refused_with(run(&bus, older, supersede(newer)).await, "has not succeeded");
    succeed(&bus, newer).await;
    refused_with(run(&bus, older, supersede(DeploymentId::generate())).await, "does not exist");
    refused_with(run(&bus, newer, supersede(older)).await, "did not succeed after this one");
    run(&bus, older, supersede(newer)).await.unwrap();

    // Bound only to an existing, live environment.
    let bind = |environment| TenantBindingCommand::BindTenant {
        tenant: TenantId::parse("contoso").unwrap(),
        environment,
        isolation: IsolationModel::Shared,
        namespace: None,
        identity: WorkloadIdentity::parse("0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11").unwrap(),
        network_policy: NetworkPolicy::DenyCrossTenant,
        data_partition: DataPartition::parse("contoso").unwrap(),
        quotas: Quotas::new(4000, 8192, 20, 10, 1000).unwrap(),
        at: Utc::now(),
    };
    let binding = uuid::Uuid::new_v4().to_string();
    let send = |command| bus.execute::<RuntimeTenantBinding>(&ctx, &binding, command, opts());
    refused_with(send(bind(EnvironmentId::generate())).await, "does not exist");
    let requested = EnvironmentId::generate();
    bus.execute::<domain::environments::RuntimeEnvironment>(
        &ctx,
        &requested.to_string(),
        tests::drive::request_environment("requested"),
        opts(),
    )
    .await
    .unwrap();
    refused_with(send(bind(requested)).await, "is not live");
    send(bind(environment)).await.unwrap();
    send(TenantBindingCommand::ActivateBinding { at: Utc::now() }).await.unwrap();

    // The replica quota stays at or above an active policy's max replicas (8).
    let spec = PolicySpec::new(
        ReplicaRange::new(1, 8).unwrap(),
        vec![Trigger::Cpu { target_percent: TargetPercent::new(70).unwrap() }],
        WindowSeconds::new(0).unwrap(),
        WindowSeconds::new(300).unwrap(),
        WindowSeconds::new(60).unwrap(),
        SloTargets::new(None, None).unwrap(),
    )
    .unwrap();
    let policy = uuid::Uuid::new_v4().to_string();
    let tenant = Some(TenantId::parse("contoso").unwrap());
    for command in [
        ScalingPolicyCommand::DefinePolicy { service, environment, tenant, spec, at: Utc::now() },
        ScalingPolicyCommand::Activate { at: Utc::now() },
    ] {
        bus.execute::<ScalingPolicy>(&ctx, &policy, command, opts()).await.unwrap();
    }
    let quota = |replicas| TenantBindingCommand::ChangeQuota {
        quotas: Quotas::new(4000, 8192, replicas, 10, 1000).unwrap(),
        at: Utc::now(),
    };
    refused_with(send(quota(7)).await, "below the max replicas (8) of an active scaling policy");
    send(quota(8)).await.unwrap();
}
