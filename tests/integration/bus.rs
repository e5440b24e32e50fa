//! The command bus against a real PostgreSQL: idempotency (also racing), bounded retries on
//! conflicts, strict uniqueness claims, and cqrs-es's own framework running on the store.

use std::collections::BTreeMap;

use ::commands::{CommandBus, CommandError, CommandOptions};
use chrono::Utc;
use cqrs_es::CqrsFramework;
use domain::environments::*;
use domain::rejection::RejectionKind;
use futures::future::join_all;
use tests::{system_context, TestDb};

fn request(product: &str, name: &str, stage: Stage) -> EnvironmentCommand {
    EnvironmentCommand::RequestEnvironment {
        product: ProductId::parse(product).unwrap(),
        name: EnvironmentName::parse(name).unwrap(),
        stage,
        region: AzureRegion::parse("westeurope").unwrap(),
        subscription: AzureSubscriptionId::parse("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap(),
        resource_group: ResourceGroupName::parse("rg-test").unwrap(),
        pulumi: PulumiStack::parse(product, name).unwrap(),
        compute_targets: vec![target("aks-main")],
        requested_at: Utc::now(),
    }
}

fn target(name: &str) -> ComputeTarget {
    ComputeTarget::parse(
        "aks",
        name,
        &format!("/subscriptions/3f2504e0-4f89-11d3-9a0c-0305e82c3301/resourceGroups/rg/providers/x/{name}"),
    )
    .unwrap()
}

fn new_id() -> String {
    EnvironmentId::generate().to_string()
}

async fn create(bus: &CommandBus, id: &str, product: &str, name: &str) {
    bus.execute::<RuntimeEnvironment>(
        &system_context(),
        id,
        request(product, name, Stage::Dev),
        CommandOptions::default(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_retried_command_with_the_same_key_takes_effect_once() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let id = new_id();
    let options = CommandOptions { idempotency_key: Some("req-1".into()), ..Default::default() };
    let first = bus
        .execute::<RuntimeEnvironment>(&system_context(), &id, request("shop", "a", Stage::Dev), options.clone())
        .await
        .unwrap();
    let second = bus
        .execute::<RuntimeEnvironment>(&system_context(), &id, request("shop", "a", Stage::Dev), options.clone())
        .await
        .unwrap();
    assert!(!first.deduplicated);
    assert!(second.deduplicated);
    assert_eq!(first.version, second.version);
    assert_eq!(
        first.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        second.events.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );
    assert_eq!(first.trace_id, second.trace_id, "the duplicate reports the original trace");
    assert_eq!(db.event_count().await, 1);

    // The same key for another command is refused, not silently replayed.
    let reused = bus
        .execute::<RuntimeEnvironment>(
            &system_context(),
            &id,
            EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() },
            options,
        )
        .await;
    assert!(matches!(reused, Err(CommandError::IdempotencyKeyReused { .. })), "{reused:?}");
    assert_eq!(db.event_count().await, 1);
}

#[tokio::test]
async fn racing_copies_of_one_command_take_effect_once() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let id = new_id();
    create(&bus, &id, "shop", "race").await;
    for round in 0..5 {
        let key = format!("add-{round}");
        let copies = (0..8).map(|_| {
            let bus = bus.clone();
            let id = id.clone();
            let key = key.clone();
            async move {
                let command = EnvironmentCommand::AddComputeTarget { target: target(&format!("t{round}")) };
                bus.execute::<RuntimeEnvironment>(
                    &system_context(),
                    &id,
                    command,
                    CommandOptions { idempotency_key: Some(key), ..Default::default() },
                )
                .await
            }
        });
        let results = join_all(copies).await;
        let outcomes: Vec<_> = results.into_iter().map(|r| r.expect("every copy gets the result")).collect();
        assert_eq!(outcomes.iter().filter(|o| !o.deduplicated).count(), 1, "exactly one copy wrote");
        let versions: std::collections::BTreeSet<u64> = outcomes.iter().map(|o| o.version).collect();
        assert_eq!(versions.len(), 1, "all copies report the same version");
    }
    assert_eq!(db.event_count().await, 6);
}

#[tokio::test]
async fn concurrent_writers_to_one_aggregate_are_retried_until_all_land() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let id = new_id();
    create(&bus, &id, "shop", "busy").await;
    let writers = (0..6).map(|i| {
        let bus = bus.clone();
        let id = id.clone();
        async move {
            bus.execute::<RuntimeEnvironment>(
                &system_context(),
                &id,
                EnvironmentCommand::AddComputeTarget { target: target(&format!("t{i}")) },
                CommandOptions::default(),
            )
            .await
        }
    });
    for result in join_all(writers).await {
        result.expect("a conflict is retried with a fresh load");
    }
    let loaded = bus.routes().environments.store.load(&id).await.unwrap();
    assert_eq!(loaded.version, 7);
    assert_eq!(loaded.aggregate.compute_targets().len(), 7);
    let sequences: Vec<i64> =
        sqlx::query_scalar("SELECT sequence FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(&id)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(sequences, (1..=7).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_pinned_expected_version_is_not_retried() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let id = new_id();
    create(&bus, &id, "shop", "pinned").await;
    let options = CommandOptions { expected_version: Some(0), ..Default::default() };
    let result = bus
        .execute::<RuntimeEnvironment>(
            &system_context(),
            &id,
            EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() },
            options,
        )
        .await;
    assert!(matches!(result, Err(CommandError::Conflict { .. })), "{result:?}");
    let options = CommandOptions { expected_version: Some(1), ..Default::default() };
    let result = bus
        .execute::<RuntimeEnvironment>(
            &system_context(),
            &id,
            EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() },
            options,
        )
        .await;
    assert_eq!(result.unwrap().version, 2);
}

#[tokio::test]
async fn racing_requests_for_one_name_let_exactly_one_win() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let racers = (0..8).map(|_| {
        let bus = bus.clone();
        async move {
            bus.execute::<RuntimeEnvironment>(
                &system_context(),
                &new_id(),
                request("shop", "prod-like", Stage::Staging),
                CommandOptions::default(),
            )
            .await
        }
    });
    let results = join_all(racers).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for loser in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(loser, CommandError::Rejected { kind: RejectionKind::AlreadyExists, .. }), "{loser:?}");
    }
    assert_eq!(db.event_count().await, 1);
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM unique_claims").fetch_one(&db.pool).await.unwrap();
    assert_eq!(claims, 1);
}

#[tokio::test]
async fn prod_needs_a_live_staging_environment_of_the_same_product() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let ctx = system_context();
    let prod = bus
        .execute::<RuntimeEnvironment>(&ctx, &new_id(), request("shop", "live", Stage::Prod), CommandOptions::default())
        .await;
    assert!(matches!(prod, Err(CommandError::Rejected { kind: RejectionKind::InvariantViolated, .. })), "{prod:?}");
    // Staging of another product does not count.
    bus.execute::<RuntimeEnvironment>(
        &ctx,
        &new_id(),
        request("other", "stg", Stage::Staging),
        CommandOptions::default(),
    )
    .await
    .unwrap();
    let prod = bus
        .execute::<RuntimeEnvironment>(&ctx, &new_id(), request("shop", "live", Stage::Prod), CommandOptions::default())
        .await;
    assert!(prod.is_err());
    let staging = new_id();
    bus.execute::<RuntimeEnvironment>(
        &ctx,
        &staging,
        request("shop", "stg", Stage::Staging),
        CommandOptions::default(),
    )
    .await
    .unwrap();
    // A staging environment that is only requested is not live (Ready/Degraded) yet.
    let prod = bus
        .execute::<RuntimeEnvironment>(&ctx, &new_id(), request("shop", "live", Stage::Prod), CommandOptions::default())
        .await;
    assert!(matches!(prod, Err(CommandError::Rejected { kind: RejectionKind::InvariantViolated, .. })), "{prod:?}");
    let outputs = ProvisioningOutputs::new(Default::default(), vec![], 1).unwrap();
    for command in [
        EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() },
        EnvironmentCommand::RecordProvisioningSucceeded { outputs, at: Utc::now() },
    ] {
        bus.execute::<RuntimeEnvironment>(&ctx, &staging, command, CommandOptions::default()).await.unwrap();
    }
    bus.execute::<RuntimeEnvironment>(&ctx, &new_id(), request("shop", "live", Stage::Prod), CommandOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn cqrs_es_framework_runs_on_the_store() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let store = bus.routes().environments.store.clone();
    let services = EnvironmentServices::new(std::sync::Arc::new(FixedStagingLookup(true)));
    let framework = CqrsFramework::new(store.clone(), vec![], services);
    let id = new_id();
    let metadata =
        BTreeMap::from([("trace_id".to_owned(), "4bf92f3577b34da6a3ce929d0e0e4736".to_owned())]).into_iter().collect();
    framework.execute_with_metadata(&id, request("shop", "fw", Stage::Dev), metadata).await.unwrap();
    framework.execute(&id, EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() }).await.unwrap();
    let loaded = store.load(&id).await.unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.aggregate.status(), Some(EnvironmentStatus::Provisioning));
    let trace: Option<String> =
        sqlx::query_scalar("SELECT trace_id FROM events WHERE aggregate_id = $1 AND sequence = 1")
            .bind(&id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(trace.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
}

#[tokio::test]
async fn a_replica_with_a_stale_cache_neither_loses_writes_nor_refuses_wrongly() {
    let db = TestDb::new().await;
    let replica_a = CommandBus::new(db.pool.clone());
    let replica_b = CommandBus::new(db.pool.clone());
    let ctx = system_context();
    let id = new_id();
    // A creates the environment and caches it as Requested.
    create(&replica_a, &id, "shop", "replicas").await;
    // B moves it on; A's cache does not know.
    replica_b
        .execute::<RuntimeEnvironment>(
            &ctx,
            &id,
            EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() },
            CommandOptions::default(),
        )
        .await
        .unwrap();
    // On A's stale state this would be an invalid transition; A must decide on fresh state.
    let outputs = ProvisioningOutputs::new(Default::default(), vec![], 1).unwrap();
    let done = replica_a
        .execute::<RuntimeEnvironment>(
            &ctx,
            &id,
            EnvironmentCommand::RecordProvisioningSucceeded { outputs, at: Utc::now() },
            CommandOptions::default(),
        )
        .await
        .expect("decided on fresh state");
    assert_eq!(done.version, 3);
    // B is now stale (version 2 cached): its write conflicts once, reloads and lands.
    let degraded = replica_b
        .execute::<RuntimeEnvironment>(
            &ctx,
            &id,
            EnvironmentCommand::MarkDegraded { reason: Reason::parse("slow").unwrap(), at: Utc::now() },
            CommandOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(degraded.version, 4);
    // A pinned version is checked against the database, not A's cached version 3.
    let pinned = replica_a
        .execute::<RuntimeEnvironment>(
            &ctx,
            &id,
            EnvironmentCommand::MarkRecovered { at: Utc::now() },
            CommandOptions { expected_version: Some(4), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(pinned.version, 5);
    // A genuine refusal is still a refusal after the fresh check.
    let refused = replica_b
        .execute::<RuntimeEnvironment>(
            &ctx,
            &id,
            EnvironmentCommand::MarkRecovered { at: Utc::now() },
            CommandOptions::default(),
        )
        .await;
    assert!(
        matches!(refused, Err(CommandError::Rejected { kind: RejectionKind::InvalidTransition, .. })),
        "{refused:?}"
    );
    let sequences: Vec<i64> =
        sqlx::query_scalar("SELECT sequence FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(&id)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(sequences, (1..=5).collect::<Vec<_>>());
}

/// The rule: the bus refreshes the statistics of the command path's tables while they are
/// young, and leaves a table its statistics already count as large (65,536 rows or more) to
/// autovacuum, even when the process has just started and counts its commits from zero (a
/// restart over a grown database must not ANALYZE a million rows in the middle of its load).
#[tokio::test]
async fn statistics_are_refreshed_for_young_tables_only() {
    let db = TestDb::new().await;
    // A grown log: 70,000 events of other aggregates, analyzed once by hand.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'Environment', 'grown-' || i, 1, 'EnvironmentRequested', '1.0', '{}', \
                jsonb_build_object('event_id', gen_random_uuid()) FROM generate_series(1, 70000) i",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE events").execute(&db.pool).await.unwrap();
    let analyzed = |table: &'static str| {
        let pool = db.pool.clone();
        async move {
            tests::flush_stats(&pool).await;
            sqlx::query_scalar::<_, i64>("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = $1")
                .bind(table)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let events_before = analyzed("events").await;
    let claims_before = analyzed("unique_claims").await;

    // 64 commits: the bus's first refresh.
    let bus = CommandBus::new(db.pool.clone());
    for i in 0..64 {
        create(&bus, &new_id(), "shop", &format!("young-{i}")).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while analyzed("unique_claims").await == claims_before {
        assert!(std::time::Instant::now() < deadline, "the young claims table was not analyzed after 64 commits");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(analyzed("events").await, events_before, "the grown log is left to autovacuum");
}
