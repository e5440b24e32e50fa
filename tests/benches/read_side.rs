//! Read-side figures: rebuild rate over a large log, in events per second.
//!
//! `cargo bench -p tests --bench read_side` (env: `BENCH_EVENTS`, default 1,000,000;
//! `BENCH_ONLY=rebuild|inventory`; `TEST_DATABASE_URL` as for the tests).
//! 1. Rebuild rate: the log is made of real events: one environment's lifecycle is written
//!    through the command bus, then its stored events are copied under fresh aggregate ids with
//!    SQL until the log holds `BENCH_EVENTS` events; every projector is rebuilt (fresh tables
//!    swapped in) and its rate printed; before that, the live catch-up of the environments
//!    projector over the same log (what `serve` does after a projector version bump).
//! 2. `runtimeInventory(asOf)` latency: 10,000 services x 10 successive versions (100,000
//!    inventory rows over 20 tenants and 5 environments), then `inventory_as_of` for random
//!    instants and tenants; p50/p95/p99 printed.

use std::time::Instant;

use ::commands::{CommandBus, CommandOptions};
use chrono::Utc;
use domain::environments::*;
use infra::server::Platform;

#[tokio::main]
async fn main() {
    let target: i64 = std::env::var("BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    // A database of its own, dropped at the end (kept if the bench panics).
    let db = tests::TestDb::with_connections(8).await;
    let pool = db.pool.clone();

    // One real lifecycle: 4 events.
    let bus = CommandBus::new(pool.clone());
    let ctx = tests::system_context();
    let id = tests::drive::ready_environment(&bus, "template").await.to_string();
    let reason = Reason::parse("bench").unwrap();
    bus.execute::<RuntimeEnvironment>(
        &ctx,
        &id,
        EnvironmentCommand::MarkDegraded { reason, at: Utc::now() },
        CommandOptions::default(),
    )
    .await
    .unwrap();

    // Copies under fresh ids, in chunks so no transaction gets huge.
    let copies = (target / 4).max(1);
    let started = Instant::now();
    let mut made = 0i64;
    while made < copies {
        let chunk = (copies - made).min(50_000);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT e.aggregate_type, 'bench-' || ($3 + g), e.sequence, e.event_type, e.event_version, e.payload, e.metadata \
               FROM generate_series(1, $2) g CROSS JOIN (SELECT * FROM events WHERE aggregate_id = $1) e \
              ORDER BY g, e.sequence",
        )
        .bind(&id)
        .bind(chunk)
        .bind(made)
        .execute(&pool)
        .await
        .map(|_| ())
        .unwrap_or_else(|e| panic!("seeding: {e}"));
        made += chunk;
    }
    println!("read_side: seeded {} events in {:.1}s", copies * 4 + 4, started.elapsed().as_secs_f64());

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "inventory" {
        inventory_latency(&pool).await;
    }
    if !(only.is_empty() || only == "rebuild") {
        pool.close().await;
        return;
    }
    let platform = Platform::new(pool.clone());
    let log: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    // Live catch-up, as `serve` meets a backlog (first start, a projector version bump): the
    // runner works in the live tables with the pool's connections.
    if let Some(runner) = platform.runner("environments") {
        runner.prepare().await.unwrap();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let task = tokio::spawn(runner.clone().run(platform.bus.subscribe_commits(), shutdown));
        while runner.status().await.unwrap().lag_events > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        let _ = stop.send(true);
        task.await.unwrap();
        println!(
            "live catch-up environments {log:>9} events in {seconds:>6.1}s = {:>8.0} events/s",
            log as f64 / seconds
        );
    }
    for runner in &platform.runners {
        runner.prepare().await.unwrap();
        let started = Instant::now();
        let applied = runner.rebuild_swapping(&|_| {}).await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        // A projector reads only the events it wants (its Interest): "log" is the whole log
        // walked per second, "applied" the events it decoded and folded.
        println!(
            "rebuild {:<14} {log:>9} log events in {seconds:>6.1}s = {:>9.0} log events/s; {applied:>9} applied = {:>8.0}/s",
            runner.name(),
            log as f64 / seconds,
            applied as f64 / seconds
        );
    }
    pool.close().await;
}

/// Seeds 100,000 inventory rows (10,000 services x 10 versions, one hour each) and times
/// `inventory_as_of` for random instants, tenants and environments.
async fn inventory_latency(pool: &sqlx::PgPool) {
    sqlx::query(
        "INSERT INTO runtime_inventory (opened_position, service_id, environment_id, tenant_id, deployment_id, version, digest, compute_kind, valid_from, valid_to) \
         SELECT s * 10 + v, 'svc-' || s, 'env-' || (s % 5), 'tenant-' || (s % 20), 'dep-' || s || '-' || v, '1.' || v || '.0', \
                'sha256:' || md5(s::text || v::text), 'aks', \
                timestamptz '2026-01-01' + (v || ' hours')::interval, \
                CASE WHEN v < 9 THEN timestamptz '2026-01-01' + ((v + 1) || ' hours')::interval END \
           FROM generate_series(0, 9999) s, generate_series(0, 9) v",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE runtime_inventory").execute(pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let mut samples = Vec::new();
    let mut rows = 0usize;
    for i in 0..300u64 {
        let minute = (i * 7919) % (10 * 60);
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
            + chrono::Duration::minutes(minute as i64);
        let tenant = format!("tenant-{}", i % 20);
        let environment = format!("env-{}", i % 5);
        let started = Instant::now();
        let found = projections::inventory::inventory_as_of(
            &mut conn,
            at,
            Some(&tenant),
            if i % 2 == 0 { Some(&environment) } else { None },
        )
        .await
        .unwrap();
        samples.push(started.elapsed());
        rows += found.len();
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0;
    println!(
        "runtimeInventory(asOf) over 100,000 rows / 10,000 services: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms ({} rows per answer on average)",
        pct(0.50), pct(0.95), pct(0.99), rows / samples.len()
    );
}
