//! No plan of the command path depends on the tables being small: on one long-lived pool
//! (plans prepared once per connection, `force_generic_plan`, first made while the tables were
//! empty), a few thousand creates grow the claims, receipts and events; a batch of further
//! commands of every statement shape (create with a claim and a key, update, prod create with
//! the staging lookup, decommission releasing a claim, a receipt replay) must then read
//! `unique_claims`, `events`, `command_receipts` and `snapshots` through indexes only.

use std::collections::BTreeMap;
use std::time::Duration;

use ::commands::{CommandBus, CommandOptions};
use chrono::Utc;
use domain::environments::*;
use futures::stream::{self, StreamExt};
use sqlx::PgPool;
use tests::{system_context, TestDb};

const GROWING_TABLES: [&str; 4] = ["unique_claims", "events", "command_receipts", "snapshots"];

fn request(name: &str, stage: Stage) -> EnvironmentCommand {
    EnvironmentCommand::RequestEnvironment {
        product: ProductId::parse("shop").unwrap(),
        name: EnvironmentName::parse(name).unwrap(),
        stage,
        region: AzureRegion::parse("westeurope").unwrap(),
        subscription: AzureSubscriptionId::parse("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap(),
        resource_group: ResourceGroupName::parse("rg").unwrap(),
        pulumi: PulumiStack::parse("shop", name).unwrap(),
        compute_targets: vec![target("aks-main")],
        requested_at: Utc::now(),
    }
}

fn target(name: &str) -> ComputeTarget {
    ComputeTarget::parse("aks", name, &format!("/subscriptions/x/{name}")).unwrap()
}

fn keyed(key: &str) -> CommandOptions {
    CommandOptions { idempotency_key: Some(key.to_owned()), ..Default::default() }
}

async fn run(bus: &CommandBus, id: &str, command: EnvironmentCommand, options: CommandOptions) -> u64 {
    bus.execute::<RuntimeEnvironment>(&system_context(), id, command, options).await.unwrap().version
}

/// Per growing table: (sequential scans, rows read by them, live rows, rows inserted), once
/// every pooled connection has flushed its counters (PostgreSQL 15 keeps them in the backend
/// for up to a second; `pg_stat_force_next_flush` makes the next idle moment flush them).
async fn table_stats(pool: &PgPool, expected_events: i64) -> BTreeMap<String, (i64, i64, i64, i64)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        tests::flush_stats(pool).await;
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await.unwrap();
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, seq_scan, seq_tup_read, n_live_tup, n_tup_ins \
               FROM pg_stat_user_tables WHERE relname::text = ANY($1)",
        )
        .bind(GROWING_TABLES.map(str::to_owned).to_vec())
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let stats: BTreeMap<String, (i64, i64, i64, i64)> =
            rows.into_iter().map(|(t, s, r, l, i)| (t, (s, r, l, i))).collect();
        if stats.get("events").is_some_and(|(_, _, _, inserted)| *inserted >= expected_events) {
            return stats;
        }
        assert!(std::time::Instant::now() < deadline, "statistics never caught up: {stats:?}");
    }
}

#[tokio::test]
async fn the_command_path_reads_growing_tables_by_index_only() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    // Warm every connection of the pool while the tables are empty, as a fresh server does.
    let staging = EnvironmentId::generate().to_string();
    run(&bus, &staging, request("stage-0", Stage::Staging), keyed("warm-staging")).await;
    // A live staging environment, so that a prod one may be requested (and looked it up).
    run(&bus, &staging, EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() }, Default::default()).await;
    let outputs = ProvisioningOutputs::new(Default::default(), vec![], 1).unwrap();
    let succeeded = EnvironmentCommand::RecordProvisioningSucceeded { outputs, at: Utc::now() };
    run(&bus, &staging, succeeded, Default::default()).await;
    stream::iter(0..64)
        .for_each_concurrent(16, |i| {
            let bus = bus.clone();
            async move {
                let id = EnvironmentId::generate().to_string();
                run(&bus, &id, request(&format!("warm-{i}"), Stage::Dev), keyed(&format!("warm-{i}"))).await;
                run(&bus, &id, EnvironmentCommand::AddComputeTarget { target: target("aks-2") }, Default::default())
                    .await;
            }
        })
        .await;
    // Grow: a few thousand environments, each a claim, a receipt and an event.
    const GROWN: usize = 3_000;
    stream::iter(0..GROWN)
        .for_each_concurrent(16, |i| {
            let bus = bus.clone();
            async move {
                let id = EnvironmentId::generate().to_string();
                run(&bus, &id, request(&format!("env-{i}"), Stage::Dev), keyed(&format!("grow-{i}"))).await;
            }
        })
        .await;
    let events_before = db.event_count().await;
    let before = table_stats(&db.pool, events_before).await;

    // The batch: every statement shape of the command path, on the same long-lived pool.
    let mut written = 0;
    for i in 0..20 {
        let id = EnvironmentId::generate().to_string();
        let key = format!("batch-{i}");
        assert_eq!(run(&bus, &id, request(&format!("batch-{i}"), Stage::Dev), keyed(&key)).await, 1);
        // The same key again: the receipt lookup returns the first result.
        assert_eq!(run(&bus, &id, request(&format!("batch-{i}"), Stage::Dev), keyed(&key)).await, 1);
        run(&bus, &id, EnvironmentCommand::AddComputeTarget { target: target("aks-2") }, Default::default()).await;
        run(&bus, &id, EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() }, Default::default()).await;
        let reason = || Reason::parse("retired").unwrap();
        let failed = EnvironmentCommand::RecordProvisioningFailed { reason: reason(), at: Utc::now() };
        run(&bus, &id, failed, Default::default()).await;
        run(&bus, &id, EnvironmentCommand::Decommission { reason: reason(), at: Utc::now() }, Default::default()).await;
        // The last step releases the name claim (the DELETE of the append statement).
        run(&bus, &id, EnvironmentCommand::RecordDecommissioned { at: Utc::now() }, Default::default()).await;
        written += 6;
    }
    // A prod environment looks up the staging one (the claims prefix lookup).
    let prod = EnvironmentId::generate().to_string();
    run(&bus, &prod, request("prod-0", Stage::Prod), Default::default()).await;
    written += 1;
    let after = table_stats(&db.pool, events_before + written).await;

    for table in GROWING_TABLES {
        let (scans_before, read_before, live, _) = before[table];
        let (scans_after, read_after, _, _) = after[table];
        // No row of a growing table was read by a sequential scan: every read was by index.
        assert_eq!(
            read_after - read_before,
            0,
            "{table} had {} rows read by {} sequential scans during the batch ({before:?} -> {after:?})",
            read_after - read_before,
            scans_after - scans_before
        );
        // And a table of thousands of rows was not even opened by one (an empty table, e.g.
        // snapshots before any stream reaches 100 events, may be: it costs nothing).
        if live >= 1_000 {
            assert_eq!(
                scans_after, scans_before,
                "{table} ({live} rows) was read by sequential scan during the batch ({before:?} -> {after:?})"
            );
        }
    }
}
