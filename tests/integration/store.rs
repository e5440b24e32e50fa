//! The event store's snapshots: a long stream loads from its snapshot plus the events after it,
//! the snapshot is the state at its sequence (not the new events applied twice), and a
//! snapshot that no longer deserializes falls back to a full replay.

use ::commands;
use ::commands::bus::Route;
use ::commands::routes::Routes;
use ::commands::store::PgEventStore;
use ::commands::{CommandBus, CommandOptions};
use cqrs_es::Aggregate;
use domain::environments::*;
use tests::{system_context, TestDb};

async fn replay(store: &PgEventStore<RuntimeEnvironment>, id: &str, up_to: i64) -> RuntimeEnvironment {
    let mut state = RuntimeEnvironment::default();
    for e in store.events_between(id, 1, up_to).await.unwrap() {
        state.apply(store.deserialize(id, e.sequence, e.event_type, e.event_version, e.payload).unwrap());
    }
    state
}

#[tokio::test]
async fn long_streams_load_from_a_snapshot_equal_to_the_replay() {
    let db = TestDb::new().await;
    let mut routes = Routes::new(db.pool.clone());
    routes.environments = Route {
        store: PgEventStore::new(db.pool.clone()).with_snapshot_every(10),
        services: EnvironmentServices::new(std::sync::Arc::new(FixedStagingLookup(true))),
    };
    let bus = CommandBus::with_routes(db.pool.clone(), routes);
    let store = bus.routes().environments.store.clone();
    let id = EnvironmentId::generate().to_string();
    let ctx = system_context();
    let request = tests::drive::request_environment("long");
    bus.execute::<RuntimeEnvironment>(&ctx, &id, request, CommandOptions::default()).await.unwrap();
    for i in 0..24 {
        let name = format!("t{}", i / 2);
        let command = if i % 2 == 0 {
            EnvironmentCommand::AddComputeTarget {
                target: ComputeTarget::parse("functions", &name, &format!("/subscriptions/x/{name}")).unwrap(),
            }
        } else {
            EnvironmentCommand::RemoveComputeTarget { name: ComputeTargetName::parse(&name).unwrap() }
        };
        bus.execute::<RuntimeEnvironment>(&ctx, &id, command, CommandOptions::default()).await.unwrap();
    }
    let (last_sequence, payload): (i64, serde_json::Value) =
        sqlx::query_as("SELECT last_sequence, payload FROM snapshots WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(last_sequence, 20);
    let snapshot: RuntimeEnvironment = serde_json::from_value(payload).unwrap();
    assert_eq!(snapshot, replay(&store, &id, 20).await, "the snapshot is the state at its sequence");

    let loaded = store.load(&id).await.unwrap();
    assert_eq!(loaded.version, 25);
    assert_eq!(loaded.aggregate, replay(&store, &id, 25).await);

    // A snapshot of an older aggregate shape is ignored and the stream replayed.
    sqlx::query("UPDATE snapshots SET payload = '{\"shape\": \"old\"}' WHERE aggregate_id = $1")
        .bind(&id)
        .execute(&db.pool)
        .await
        .unwrap();
    let loaded = store.load(&id).await.unwrap();
    assert_eq!(loaded.version, 25);
    assert_eq!(loaded.aggregate, replay(&store, &id, 25).await);
    // And the next snapshot overwrites it.
    for i in 0..6 {
        let name = format!("u{i}");
        let command = EnvironmentCommand::AddComputeTarget {
            target: ComputeTarget::parse("functions", &name, &format!("/subscriptions/x/{name}")).unwrap(),
        };
        bus.execute::<RuntimeEnvironment>(&ctx, &id, command, CommandOptions::default()).await.unwrap();
    }
    let last_sequence: i64 = sqlx::query_scalar("SELECT last_sequence FROM snapshots WHERE aggregate_id = $1")
        .bind(&id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(last_sequence, 30);
    assert_eq!(store.load(&id).await.unwrap().aggregate, replay(&store, &id, 31).await);
}

#[tokio::test]
async fn an_aggregate_with_ten_thousand_events_loads_from_its_snapshot() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let store = bus.routes().environments.store.clone();
    let id = EnvironmentId::generate().to_string();
    let ctx = system_context();
    let request = tests::drive::request_environment("busy");
    bus.execute::<RuntimeEnvironment>(&ctx, &id, request, CommandOptions::default()).await.unwrap();
    let metadata = std::collections::HashMap::from([("trace_id".to_owned(), ctx.trace_id.to_string())]);
    let extra = ComputeTarget::parse("functions", "burst", "/subscriptions/x/burst").unwrap();
    // 10,000 more events, appended 100 per statement the way the bus appends a command's events.
    for _ in 0..100 {
        let mut loaded = store.load_for_command(&id).await.unwrap();
        let mut events = Vec::with_capacity(100);
        for i in 0..100 {
            let event = if i % 2 == 0 {
                EnvironmentEvent::ComputeTargetAdded { target: extra.clone() }
            } else {
                EnvironmentEvent::ComputeTargetRemoved { name: extra.name().clone() }
            };
            loaded.aggregate.apply(event.clone());
            events.push(event);
        }
        store.append(&loaded, &events, &metadata, None, None).await.unwrap();
    }
    let fresh = PgEventStore::<RuntimeEnvironment>::new(db.pool.clone());
    let loaded = fresh.load(&id).await.unwrap();
    assert_eq!(loaded.version, 10_001);
    assert!(loaded.replayed() <= 100, "replayed {} events, not the whole stream", loaded.replayed());
    assert_eq!(loaded.aggregate, replay(&fresh, &id, 10_001).await);
    // Time travel to an early version replays only up to it.
    let early = fresh.load_as_of(&id, commands::store::AsOf::Version(3)).await.unwrap();
    assert_eq!(early.version, 3);
    assert_eq!(early.aggregate, replay(&fresh, &id, 3).await);
}

/// Rule: the in-process cache of one aggregate type holds at most its byte budget of state,
/// however the weight is spread: a few heavy aggregates push out many light ones, and a state
/// heavier than the whole budget is not kept (the next command loads it from the database).
#[tokio::test]
async fn the_aggregate_cache_is_bounded_by_bytes_not_by_count() {
    let db = TestDb::new().await;
    const BUDGET: u64 = 64 * 1024;
    let mut routes = Routes::new(db.pool.clone());
    routes.environments = Route {
        store: PgEventStore::new(db.pool.clone()).with_cache_bytes(BUDGET),
        services: EnvironmentServices::new(std::sync::Arc::new(FixedStagingLookup(true))),
    };
    let bus = CommandBus::with_routes(db.pool.clone(), routes);
    let store = bus.routes().environments.store.clone();
    let ctx = system_context();
    // Light aggregates: each cached after its create.
    for i in 0..40 {
        let id = EnvironmentId::generate().to_string();
        let request = tests::drive::request_environment(&format!("light-{i}"));
        bus.execute::<RuntimeEnvironment>(&ctx, &id, request, CommandOptions::default()).await.unwrap();
    }
    let (light_count, light_bytes) = store.cache_usage();
    assert!(light_count >= 20, "light aggregates are cached: {light_count} ({light_bytes} bytes)");
    // A heavy one: hundreds of compute targets, each with a long resource id.
    let heavy = EnvironmentId::generate().to_string();
    let request = tests::drive::request_environment("heavy");
    bus.execute::<RuntimeEnvironment>(&ctx, &heavy, request, CommandOptions::default()).await.unwrap();
    let long = "x".repeat(400);
    for i in 0..300 {
        let name = format!("t{i}");
        let command = EnvironmentCommand::AddComputeTarget {
            target: ComputeTarget::parse("functions", &name, &format!("/subscriptions/{long}/{name}")).unwrap(),
        };
        bus.execute::<RuntimeEnvironment>(&ctx, &heavy, command, CommandOptions::default()).await.unwrap();
        let (_, bytes) = store.cache_usage();
        assert!(bytes <= BUDGET, "cache holds {bytes} bytes, budget {BUDGET}");
    }
    let heavy_size = serde_json::to_vec(&store.load(&heavy).await.unwrap().aggregate).unwrap().len() as u64;
    assert!(heavy_size > BUDGET, "the heavy state ({heavy_size} bytes) outweighs the whole budget");
    // Too heavy to keep: its next command loads from the database, and still succeeds.
    assert!(!store.load_for_command(&heavy).await.unwrap().from_cache(), "a state above the budget is not cached");
    let (count, bytes) = store.cache_usage();
    assert!(bytes <= BUDGET && count <= light_count, "{count} entries, {bytes} bytes");
}
