//! Does the command path stay flat as the log grows? Creates/s and updates/s through the command
//! bus on an empty database, then again, on the same long-lived pool (plans prepared in the
//! first phase stay cached, as in a running `serve`), after a million more aggregates.
//!
//! `cargo bench -p tests --bench growth` (env: `BENCH_SECONDS` per phase, default 5;
//! `BENCH_CLIENTS`, default 8; `BENCH_AGGREGATES`, default 1,000,000; `TEST_DATABASE_URL` as
//! for the tests). The million aggregates are bulk-inserted with SQL shaped exactly like the
//! rows a keyed create writes (copied from one, with fresh ids, names and keys): one
//! `EnvironmentRequested` event, one name claim and one idempotency receipt each; then the
//! tables are vacuumed and ANALYZEd, as autovacuum would after such growth. Creates are keyed
//! (as a Control Plane sends them) and take a name claim; updates alternate MarkDegraded /
//! MarkRecovered on one Ready environment per client (made fresh for each phase). Prints each
//! rate and the after/empty ratio (goal >= 0.9).

use std::sync::Arc;
use std::time::Instant;

use ::commands::{CommandBus, CommandOptions};
use chrono::Utc;
use domain::environments::*;
use tests::drive::measure;

fn flip(i: u64) -> EnvironmentCommand {
    if i.is_multiple_of(2) {
        EnvironmentCommand::MarkDegraded { reason: Reason::parse("bench").unwrap(), at: Utc::now() }
    } else {
        EnvironmentCommand::MarkRecovered { at: Utc::now() }
    }
}

/// (creates/s, updates/s) for one phase; `phase` keeps names and keys apart between phases.
/// Updates go to one fresh Ready environment per client (each starts Ready, so the flips
/// alternate from MarkDegraded).
async fn rates(bus: &CommandBus, clients: usize, seconds: f64, phase: &str) -> (f64, f64) {
    let mut ready = Vec::with_capacity(clients);
    for c in 0..clients {
        ready.push(tests::drive::ready_environment(bus, &format!("ready-{phase}{c}")).await.to_string());
    }
    let ready = Arc::new(ready);
    let (bus_c, phase) = (bus.clone(), phase.to_owned());
    let creates = measure(clients, seconds, move |c, i| {
        let (bus, phase) = (bus_c.clone(), phase.clone());
        async move {
            let name = format!("{phase}{c}-{i}");
            let options = CommandOptions { idempotency_key: Some(format!("create-{name}")), ..Default::default() };
            let id = EnvironmentId::generate().to_string();
            bus.execute::<RuntimeEnvironment>(
                &tests::system_context(),
                &id,
                tests::drive::request_environment(&name),
                options,
            )
            .await
            .unwrap();
        }
    })
    .await;
    let (bus_u, ready) = (bus.clone(), ready.clone());
    let updates = measure(clients, seconds, move |c, i| {
        let (bus, ready) = (bus_u.clone(), ready.clone());
        async move {
            bus.execute::<RuntimeEnvironment>(&tests::system_context(), &ready[c], flip(i), CommandOptions::default())
                .await
                .unwrap();
        }
    })
    .await;
    (creates, updates)
}

#[tokio::main]
async fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let clients: usize = std::env::var("BENCH_CLIENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let aggregates: i64 = std::env::var("BENCH_AGGREGATES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    infra::telemetry::init_tracing(std::io::sink);
    // A database of its own, dropped at the end (kept if the bench panics).
    let db = tests::TestDb::with_connections(32).await;
    let (pool, name) = (db.pool.clone(), db.name.clone());
    println!("growth: {clients} clients, {seconds}s per phase, database {name}");

    let bus = CommandBus::new(pool.clone());
    let (creates_empty, updates_empty) = rates(&bus, clients, seconds, "a").await;
    println!("empty database:        creates {creates_empty:>7.0}/s   updates {updates_empty:>7.0}/s");

    let started = Instant::now();
    tests::bench::bulk_load(&pool, aggregates).await;
    let sizes: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM unique_claims), (SELECT count(*) FROM command_receipts)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!(
        "loaded {aggregates} aggregates in {:.1}s (events {}, claims {}, receipts {}), VACUUM ANALYZEd",
        started.elapsed().as_secs_f64(),
        sizes.0,
        sizes.1,
        sizes.2
    );

    let (creates_full, updates_full) = rates(&bus, clients, seconds, "b").await;
    println!("after {aggregates} aggregates: creates {creates_full:>7.0}/s   updates {updates_full:>7.0}/s");
    println!(
        "ratio after/empty:     creates {:>7.2}     updates {:>7.2}   (goal >= 0.9)",
        creates_full / creates_empty,
        updates_full / updates_empty
    );

    pool.close().await;
}
