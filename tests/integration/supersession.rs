//! Rule: when a deployment succeeds, the known-good deployment of the same service,
//! environment and tenant that it replaces becomes `Superseded` by it, without anyone asking,
//! as `worker:supersession`, in the trace of the success and caused by its event. Reacting
//! again (a crash before the checkpoint moved, a second replica) changes nothing. Other
//! targets' known-good deployments are left alone.

use std::sync::Arc;

use ::commands::{CommandBus, CommandOptions, RequestContext};
use chrono::Utc;
use domain::catalog::{DeploymentCommand, DeploymentEvent, DeploymentStatus, RuntimeDeployment};
use domain::envelope::TraceId;
use domain::environments::ComputeTargetKind;
use domain::ids::DeploymentId;
use sqlx::PgPool;
use tests::drive::{deploy, ready_environment, registered_service, run_deployment, start_deployment, succeed};
use tests::TestDb;
use uuid::Uuid;
use workers::{ReactorRunner, SupersessionReactor};

/// Lets the reactor answer everything committed so far; returns how many events it answered.
async fn react(reactor: &ReactorRunner, pool: &PgPool) -> u64 {
    let mut conn = pool.acquire().await.unwrap();
    let target = projections::reader::latest(&mut conn).await.unwrap();
    let (n, reached) = reactor.catch_up_to(target, std::time::Duration::from_secs(30)).await.unwrap();
    assert!(reached, "the reactor reached {target}");
    n
}

async fn status(bus: &CommandBus, id: DeploymentId) -> DeploymentStatus {
    bus.routes().deployments.store.load(&id.to_string()).await.unwrap().aggregate.status().unwrap()
}

/// (event type, actor, trace id, causation id) of every event of deployment `id`, in order.
async fn history(pool: &PgPool, id: DeploymentId) -> Vec<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT event_type, metadata->>'actor', metadata->>'trace_id', coalesce(metadata->>'causation_id', '') \
           FROM events WHERE aggregate_type = 'RuntimeDeployment' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_success_supersedes_the_known_good_deployment_it_replaces_once() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let reactor = ReactorRunner::new(db.pool.clone(), bus.clone(), Arc::new(SupersessionReactor));
    reactor.prepare().await.unwrap();
    let environment = ready_environment(&bus, "dev-1").await;
    let api = registered_service(&bus, "api", ComputeTargetKind::Aks).await;
    let web = registered_service(&bus, "web", ComputeTargetKind::Aks).await;

    // The first success of each service replaces nothing.
    let first = deploy(&bus, start_deployment(api, environment, None, "1.0.0")).await.unwrap();
    succeed(&bus, first).await;
    let other = deploy(&bus, start_deployment(web, environment, None, "1.0.0")).await.unwrap();
    succeed(&bus, other).await;
    react(&reactor, &db.pool).await;
    assert_eq!(status(&bus, first).await, DeploymentStatus::Succeeded);

    // A later success of the same service and environment, in its own trace.
    let second = deploy(&bus, start_deployment(api, environment, None, "1.1.0")).await.unwrap();
    run_deployment(&bus, second, DeploymentCommand::BeginRollout { at: Utc::now() }).await.unwrap();
    run_deployment(&bus, second, DeploymentCommand::RecordStepProgress { step: 0, percent: 100, at: Utc::now() })
        .await
        .unwrap();
    let gate = domain::catalog::GateName::parse("availability").unwrap();
    run_deployment(
        &bus,
        second,
        DeploymentCommand::RecordHealthGateResult { gate, passed: true, observed: 99.9, at: Utc::now() },
    )
    .await
    .unwrap();
    let trace = TraceId::from_uuid(Uuid::new_v4());
    let promoted = bus
        .execute::<RuntimeDeployment>(
            &RequestContext::system("release-manager", trace.clone()),
            &second.to_string(),
            DeploymentCommand::Promote { at: Utc::now() },
            CommandOptions::default(),
        )
        .await
        .unwrap();
    let success = &promoted.events[0];
    let decoded: DeploymentEvent = serde_json::from_value(success.payload.clone()).unwrap();
    assert!(
        matches!(decoded, DeploymentEvent::DeploymentSucceeded { supersedes: Some(p), .. } if p == first),
        "{decoded:?}"
    );

    assert_eq!(react(&reactor, &db.pool).await, 1, "one success named a deployment to supersede");
    assert_eq!(status(&bus, first).await, DeploymentStatus::Superseded);
    assert_eq!(status(&bus, second).await, DeploymentStatus::Succeeded);
    assert_eq!(status(&bus, other).await, DeploymentStatus::Succeeded, "another service's known-good stays");
    let events = history(&db.pool, first).await;
    let (kind, actor, trace_id, causation) = events.last().unwrap();
    assert_eq!(kind, "DeploymentSuperseded");
    assert_eq!(actor, "worker:supersession");
    assert_eq!(trace_id, &trace.to_string());
    assert_eq!(causation, &success.event_id.unwrap().to_string());

    // Reacting to the whole log again changes nothing.
    let before = db.event_count().await;
    sqlx::query("UPDATE reactor_checkpoints SET transaction_id = '0', global_position = 0")
        .execute(&db.pool)
        .await
        .unwrap();
    react(&reactor, &db.pool).await;
    assert_eq!(db.event_count().await, before);
    assert_eq!(history(&db.pool, first).await, events);
}
