//! Governance figures: `runtimeDiff` latency over HTTP on an inventory of 10,000 services and
//! 100,000 changes, with same-run baselines.
//!
//! `cargo bench -p tests --bench governance` (env: `BENCH_SAMPLES`, default 300;
//! `TEST_DATABASE_URL` as for the tests).
//!
//! The data: 10,000 workloads (services) over 10 environments and 100 tenants, each with 10
//! successive periods of about an hour (100,000 changes of version, configuration version and
//! replicas), one in ten stopped at the end; and the 110,000 events that opened and closed
//! those periods, so every change names a real log row. They are written with SQL in the shape
//! the inventory projector writes (through the command bus they would take ~6 minutes and
//! measure the bus, not the query); the events have a type no projector knows, so the live
//! projections only walk past them (the bench waits until they have).
//!
//! What is timed, one client, sequential requests, over HTTP (reqwest to the API served by
//! axum on loopback, in this process, release build): each query's p50/p95/p99 for random
//! instants; baselines in the same run: `{ __typename }` (the HTTP + GraphQL floor) and
//! `runtimeInventory(asOf)` of one environment (the existing temporal query on the same
//! table); and the diff alone over one pooled connection (no HTTP, no GraphQL), also with each
//! way of finding candidates forced, in a wide window (5 to 7 hours) and a narrow one (90 s).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use infra::server::Platform;
use projections::inventory::{DiffCandidates, InventoryPage};
use serde_json::{json, Value};
use sqlx::PgPool;

const WORKLOADS: i64 = 10_000;
const PERIODS: i64 = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples: usize = std::env::var("BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    // A database of its own, dropped at the end (kept if the bench panics).
    let db = tests::TestDb::with_connections(8).await;
    let pool = db.pool.clone();

    // The server first (its projectors start on an empty log), then the data.
    let platform = Platform::new(pool.clone());
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    platform.start_projections(shutdown.clone()).await.unwrap();
    platform.start_feed(shutdown);
    let router = platform.api(graphql::ApiConfig::development());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url_graphql = format!("http://{}/graphql", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let started = Instant::now();
    seed(&pool).await;
    wait_for_projections(&pool).await;
    println!(
        "seeded {} workloads x {PERIODS} periods ({} changes) and their events in {:.1?}",
        WORKLOADS,
        WORKLOADS * PERIODS,
        started.elapsed()
    );

    let client = reqwest::Client::new();
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    // Instants over the whole timeline (periods start within the first hour, last ~11 h).
    let instant =
        |i: usize, salt: u64| t0 + chrono::Duration::seconds(((i as u64 * 7919 + salt * 104_729) % (12 * 3600)) as i64);

    let floor = time(samples, |_| {
        let (client, url) = (client.clone(), url_graphql.clone());
        async move { post(&client, &url, "{ __typename }", json!({})).await }
    })
    .await;
    report("{ __typename } (HTTP + GraphQL floor)", &floor, None);

    let inventory = time(samples, |i| {
        let (client, url) = (client.clone(), url_graphql.clone());
        let vars = json!({ "t": instant(i, 1), "e": format!("env-{}", i % 10) });
        async move {
            post(&client, &url, "query($t: DateTime!, $e: ID!) { runtimeInventory(asOf: $t, environmentId: $e, first: 100) { edges { node { serviceId version configurationVersion replicas openedBy { eventId actor } } } } }", vars).await
        }
    })
    .await;
    report("runtimeInventory(asOf, environment, first: 100) (baseline)", &inventory, None);

    let selection = "pageInfo { hasNextPage } edges { node { serviceId tenantId change before { version } after { version configurationVersion replicas } changes { field from to event { eventId eventType actor traceId recordedAt } } } }";
    // Wide windows (5 to 7 hours: most workloads changed, so a page comes early) and a narrow
    // one (90 seconds: a handful changed, found among 100,000 periods).
    let wide = |i: usize| (instant(i, 2), instant(i, 3));
    let narrow = |i: usize| (instant(i, 2), instant(i, 2) + chrono::Duration::seconds(90));
    type Case = (&'static str, fn(usize) -> Value, bool);
    let cases: [Case; 4] = [
        (
            "runtimeDiff(from, to, environment, first: 100): 1,000 workloads in scope",
            |i| json!({ "e": format!("env-{}", i % 10) }),
            true,
        ),
        (
            "runtimeDiff(from, to, tenant, first: 100): 100 workloads in scope",
            |i| json!({ "tenant": format!("tenant-{}", i % 100) }),
            true,
        ),
        ("runtimeDiff(from, to, first: 100): all 10,000 workloads in scope", |_| json!({}), true),
        ("runtimeDiff(from, from + 90 s, first: 100): all 10,000 workloads in scope", |_| json!({}), false),
    ];
    let mut diff_p99 = Vec::new();
    for (label, scope, is_wide) in cases {
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let timings = time(samples, |i| {
            let (client, url, counter) = (client.clone(), url_graphql.clone(), counter.clone());
            let mut vars = scope(i);
            let (from, to) = if is_wide { wide(i) } else { narrow(i) };
            vars["from"] = json!(from);
            vars["to"] = json!(to);
            let query = format!("query($from: DateTime!, $to: DateTime!, $e: ID, $tenant: String) {{ runtimeDiff(from: $from, to: $to, environmentId: $e, tenantId: $tenant, first: 100) {{ {selection} }} }}");
            async move {
                let body = post(&client, &url, &query, vars).await;
                let n = body["data"]["runtimeDiff"]["edges"].as_array().map_or(0, Vec::len);
                counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                body
            }
        })
        .await;
        report(label, &timings, Some(&inventory));
        // `time` also sends 10 unmeasured requests first.
        let listed = counter.load(std::sync::atomic::Ordering::Relaxed);
        println!("    {:.1} workloads listed per answer", listed as f64 / (samples + 10) as f64);
        diff_p99.push(pct(&timings, 0.99));
    }

    // Where an answer's time goes: the unscoped wide case again without the changes' events
    // (the loader's lookups in the log and their fields).
    let without_events = selection.replace(" event { eventId eventType actor traceId recordedAt }", "");
    let timings = time(samples, |i| {
        let (client, url) = (client.clone(), url_graphql.clone());
        let (from, to) = wide(i);
        let query = format!("query($from: DateTime!, $to: DateTime!) {{ runtimeDiff(from: $from, to: $to, first: 100) {{ {without_events} }} }}");
        async move { post(&client, &url, &query, json!({ "from": from, "to": to })).await }
    })
    .await;
    report("runtimeDiff(from, to, first: 100), all in scope, without the changes' events", &timings, Some(&inventory));

    // The statement alone: one environment, as the first case.
    let mut conn = pool.acquire().await.unwrap();
    let mut sql = Vec::with_capacity(samples);
    for i in 0..samples {
        let environment = format!("env-{}", i % 10);
        let page = InventoryPage { environment: Some(&environment), limit: 101, ..Default::default() };
        let started = Instant::now();
        projections::inventory::runtime_diff(&mut conn, instant(i, 2), instant(i, 3), &page).await.unwrap();
        sql.push(started.elapsed());
    }
    sql.sort();
    report("runtime_diff statement alone (one environment, no HTTP)", &sql, None);
    // Each way of finding candidates in each kind of window, unscoped: `Auto` must pick the
    // cheaper one (sorted boundaries for the narrow window, the key walk for the wide one).
    for (window, is_wide) in [("wide window", true), ("narrow window", false)] {
        for how in [DiffCandidates::Auto, DiffCandidates::Boundaries, DiffCandidates::KeyWalk] {
            let mut timings = Vec::with_capacity(samples);
            for i in 0..samples {
                let (from, to) = if is_wide { wide(i) } else { narrow(i) };
                let page = InventoryPage { limit: 101, ..Default::default() };
                let started = Instant::now();
                projections::inventory::runtime_diff_by(&mut conn, from, to, &page, how).await.unwrap();
                timings.push(started.elapsed());
            }
            timings.sort();
            report(&format!("runtime_diff_by({how:?}), unscoped, {window} (no HTTP)"), &timings, None);
        }
    }
    let worst = diff_p99.iter().cloned().fold(0.0, f64::max);
    println!(
        "goal: runtimeDiff p99 <= 20 ms over 10k services / 100k changes: worst case above {:.2} ms ({})",
        worst,
        if worst <= 20.0 { "met" } else { "NOT met" }
    );
    drop(conn);
    pool.close().await;
}

async fn post(client: &reqwest::Client, url: &str, query: &str, variables: Value) -> Value {
    let response = client.post(url).json(&json!({ "query": query, "variables": variables })).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"].is_null(), "{query}: {body}");
    body
}

/// Runs `request(i)` `samples` times in sequence; returns the sorted latencies.
async fn time<F, Fut>(samples: usize, request: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    // A few unmeasured requests warm the connection and the plan caches.
    for i in 0..10 {
        request(i).await;
    }
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let started = Instant::now();
        request(i + 10).await;
        out.push(started.elapsed());
    }
    out.sort();
    out
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0
}

fn report(label: &str, sorted: &[Duration], baseline: Option<&[Duration]>) {
    let ratio =
        baseline.map_or(String::new(), |b| format!(" (p99 {:.2}x the baseline's)", pct(sorted, 0.99) / pct(b, 0.99)));
    println!(
        "{label}: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms{ratio}",
        pct(sorted, 0.5),
        pct(sorted, 0.95),
        pct(sorted, 0.99)
    );
}

/// Waits until the audit projection (the one that copies every event) has caught up.
async fn wait_for_projections(pool: &PgPool) {
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM events").fetch_one(pool).await.unwrap();
    loop {
        let (copied,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_log").fetch_one(pool).await.unwrap();
        if copied >= events {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The events and periods (see the module's comment), deterministic.
async fn seed(pool: &PgPool) {
    tests::seed::inventory(pool, WORKLOADS, PERIODS).await;
}
