//! The reads half: every projector's rebuild rate over a log of its own event types, `asOf`
//! on a 10k-event stream, `runtimeInventory(asOf)` over 10k services and 100k changes, and a
//! catalog page at a fixed rate against a bare axum + sqlx handler running the same SQL.
//!
//! Each figure has its baseline measured in the same run, on the same database:
//! - rebuild: reading the whole log in the rebuild's batch size (`projections::reader`, no
//!   decoding, no writes) is the floor every projector's rebuild is compared with; the log is
//!   a real workload's story (every aggregate type, every read model) copied under fresh ids,
//!   so each projector finds its own events in it, not a log it only walks past;
//! - time travel: the same aggregate loaded current (snapshot plus the events after it);
//! - `runtimeInventory(asOf)`: the resolver's statement (`inventory_page`) run directly;
//! - catalog: an axum route running the resolver's two statements over the same kind of pool,
//!   returning JSON, driven by the same client at the same rate.
//!
//! The HTTP figures are taken against the release server (`runtime-platform serve`), as
//! users run it, one client with keep-alive.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use commands::CommandBus;
use domain::environments::ComputeTargetKind;
use domain::scaling::ScalingPolicy;
use futures::future::join_all;
use infra::server::Platform;
use projections::inventory::InventoryPage;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

use crate::figures::{Goal, Report};

/// Events in the stream loaded `asOf`.
const STREAM: i64 = 10_000;
/// Inventory size: services, each with this many successive periods (changes).
const WORKLOADS: i64 = 10_000;
const PERIODS: i64 = 10;
/// Catalog size: services, and environments each runs in.
const SERVICES: i64 = 10_000;
const PLACEMENTS: i64 = 3;
/// The catalog page: services per page, placements per service (the inner page stays well
/// under the complexity limit: 50 x (10 x 5 + 5) < 5,000).
const PAGE: usize = 50;
const INNER_PAGE: i64 = 10;
/// The catalog's fixed request rate (open loop).
const RATE: f64 = 50.0;

/// Headers as the tests send them in development mode: who acts (the role defaults to
/// `PlatformAdmin`, so no tenant filter applies).
const ACTOR: (&str, &str) = ("x-actor", "user:bench");

/// Measures the reads half and records its figures in `report`.
pub async fn run(report: &mut Report) {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let events: i64 = std::env::var("BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    rebuild(report, events).await;

    // Built before the clock of any HTTP figure starts (a no-op when it is fresh).
    let binary = tests::server::build_release_binary();
    let db = tests::TestDb::with_connections(8).await;
    let pool = db.pool.clone();
    // The server first, so its projectors start on an empty log and own their tables before
    // rows are written into them with SQL (a projector starting later would find rows it has
    // no checkpoint for).
    let mut server = tests::server::Server::start_with(&binary, &db.url, &[]);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(ACTOR.0, reqwest::header::HeaderValue::from_static(ACTOR.1));
    // One client with keep-alive for every HTTP figure: connections are reused, never idled out.
    let client = reqwest::Client::builder().default_headers(headers).pool_idle_timeout(None).build().unwrap();
    server.wait_ready(&client).await;

    let started = Instant::now();
    let policy = seed_stream(&pool).await;
    tests::seed::inventory(&pool, WORKLOADS, PERIODS).await;
    wait_for_audit(&pool).await;
    tests::seed::catalog(&pool, SERVICES, PLACEMENTS).await;
    eprintln!("limit: reads seeded the server's database in {:.1?}", started.elapsed());

    time_travel(report, &client, &server.graphql, &pool, &policy, seconds).await;
    inventory(report, &client, &server.graphql, &pool, seconds).await;
    catalog(report, &client, &server.graphql, &db.url, seconds).await;
    drop(server);
    pool.close().await;
}

/// Section "rebuild": the log-read floor, then each projector rebuilt (fresh tables swapped
/// in, as `rebuild` in operations) in events it wants per second.
async fn rebuild(report: &mut Report, events: i64) {
    let db = tests::TestDb::with_connections(8).await;
    let pool = db.pool.clone();
    let started = Instant::now();
    let bus = CommandBus::new(pool.clone());
    let template = tests::seed::workload_story(&bus, &pool).await;
    let copies = (events / template - 1).max(0);
    tests::seed::multiply_log(&pool, copies).await;
    // As autovacuum would leave it a minute later: statistics current, visibility map set.
    sqlx::query("VACUUM ANALYZE events").execute(&pool).await.unwrap();
    let log = db.event_count().await;
    eprintln!(
        "limit: rebuild log: {template} events of one workload's story x {} = {log} events in {:.1?}",
        copies + 1,
        started.elapsed()
    );

    // The floor: the whole log in the rebuild's batches, read and nothing else.
    let mut conn = pool.acquire().await.unwrap();
    let started = Instant::now();
    let (mut after, mut read) = (commands::log::LogPosition::START, 0usize);
    loop {
        let batch =
            projections::reader::read_after(&mut conn, after, projections::runner::REBUILD_BATCH_SIZE).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position();
        read += batch.len();
    }
    drop(conn);
    let floor = "log read, batches of 5,000";
    report.value("rebuild", floor, read as f64 / started.elapsed().as_secs_f64(), "events/s");

    let platform = Platform::new(pool.clone());
    for runner in &platform.runners {
        runner.prepare().await.unwrap();
        let wanted = runner.log_size().await.unwrap();
        let started = Instant::now();
        let applied = runner.rebuild_swapping(&|_| {}).await.unwrap();
        let rate = applied as f64 / started.elapsed().as_secs_f64();
        if applied != wanted {
            // Not fatal to the run, but the figure would count something else than stated.
            eprintln!("limit: rebuild {} applied {applied} events of the {wanted} it wants", runner.name());
        }
        let share = 100.0 * wanted as f64 / log as f64;
        let name = format!("rebuild {} ({share:.0}% of the log)", runner.name());
        report.ratio("rebuild", &name, rate, "events/s", floor, None);
    }
    drop(platform);
    pool.close().await;
}

/// A scaling policy whose stream holds [`STREAM`] events: defined and activated through the
/// bus (with its environment and service), its last decision copied until the stream is
/// long, then one more decision through a fresh bus so the store writes the snapshot a
/// current load starts from. Also leaves the catalog one placed service to copy. Returns the
/// policy id.
async fn seed_stream(pool: &PgPool) -> String {
    let bus = CommandBus::new(pool.clone());
    let environment = tests::drive::ready_environment(&bus, "stream").await;
    let service = tests::drive::registered_service(&bus, "stream", ComputeTargetKind::Aks).await;
    let deployment =
        tests::drive::deploy(&bus, tests::drive::start_deployment(service, environment, None, "1.0.0")).await.unwrap();
    tests::drive::succeed(&bus, deployment).await;
    let policy = tests::drive::define_scaling(&bus, service, environment, None).await;
    tests::drive::scale(&bus, &policy, 1, 2).await;
    tests::seed::lengthen_stream(pool, <ScalingPolicy as cqrs_es::Aggregate>::TYPE, &policy, STREAM - 1).await;
    // A fresh bus: the first one cached the policy at its old version.
    tests::drive::scale(&CommandBus::new(pool.clone()), &policy, 2, 3).await;
    policy
}

/// Section "time travel": the policy `asOf` an instant in the middle of its stream against
/// the same policy current, one request at a time for `seconds` each.
async fn time_travel(
    report: &mut Report,
    client: &reqwest::Client,
    url: &str,
    pool: &PgPool,
    policy: &str,
    seconds: f64,
) {
    // The middle of the stream: the instant its middle event was recorded.
    let middle: DateTime<Utc> = sqlx::query_scalar(
        "SELECT recorded_at FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
    )
    .bind(<ScalingPolicy as cqrs_es::Aggregate>::TYPE)
    .bind(policy)
    .bind(STREAM / 2)
    .fetch_one(pool)
    .await
    .unwrap();
    let query = "query($id: ID!, $t: DateTime) { scalingPolicy(id: $id, asOf: $t) { id version status } }";
    let current = sequential(seconds, |_| {
        let client = client.clone();
        async move {
            let body = post(&client, url, query, json!({ "id": policy })).await;
            assert_eq!(body["data"]["scalingPolicy"]["version"], STREAM, "{body}");
        }
    })
    .await;
    let base = "scalingPolicy, current (snapshot), 10k-event stream";
    record_latency(report, "time travel", base, &current, None, None);
    let past = sequential(seconds, |_| {
        let client = client.clone();
        async move {
            let body = post(&client, url, query, json!({ "id": policy, "t": middle })).await;
            assert_eq!(body["data"]["scalingPolicy"]["version"], STREAM / 2, "{body}");
        }
    })
    .await;
    record_latency(report, "time travel", "scalingPolicy(asOf: middle), 10k-event stream", &past, Some(base), None);
}

/// Section "time travel" (continued): `runtimeInventory(asOf)` of one environment (1,000 of
/// the 10,000 services), a page of 100, over HTTP against the same statement run directly.
async fn inventory(report: &mut Report, client: &reqwest::Client, url: &str, pool: &PgPool, seconds: f64) {
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    // Instants over the whole timeline (periods start within the first hour, last ~11 h).
    let instant = move |i: u64| t0 + chrono::Duration::seconds(((i * 7919) % (12 * 3600)) as i64);
    let query = "query($t: DateTime!, $e: ID!) { runtimeInventory(asOf: $t, environmentId: $e, first: 100) { edges { node { serviceId tenantId version configurationVersion replicas since until } } } }";
    let pool = pool.clone();
    let direct = sequential(seconds, |i| {
        let pool = pool.clone();
        async move {
            let environment = format!("env-{}", i % 10);
            let page = InventoryPage { environment: Some(&environment), limit: 101, ..Default::default() };
            let mut conn = pool.acquire().await.unwrap();
            // Some pages are empty by design: env-0's workloads all stop before the last hours.
            projections::inventory::inventory_page(&mut conn, instant(i), &page).await.unwrap();
        }
    })
    .await;
    let base = "inventory_page statement (sqlx, no HTTP)";
    record_latency(report, "time travel", base, &direct, None, None);
    let http = sequential(seconds, |i| {
        let client = client.clone();
        async move {
            let vars = json!({ "t": instant(i), "e": format!("env-{}", i % 10) });
            let body = post(&client, url, query, vars).await;
            assert!(body["data"]["runtimeInventory"]["edges"].is_array(), "{body}");
        }
    })
    .await;
    let name = "runtimeInventory(asOf, environment, first: 100), 10k services / 100k changes";
    record_latency(report, "time travel", name, &http, Some(base), None);
}

/// Section "catalog": a page of 50 services with their environments at [`RATE`] requests per
/// second, over GraphQL against the bare handler; pages all over the catalog (cursors taken
/// by walking it first).
async fn catalog(report: &mut Report, client: &reqwest::Client, url: &str, database_url: &str, seconds: f64) {
    let query = format!(
        "query($after: String) {{ serviceCatalog(first: {PAGE}, after: $after) {{ pageInfo {{ hasNextPage endCursor }} \
         edges {{ node {{ serviceId name status environments(first: {INNER_PAGE}) {{ environmentId tenantId deployedVersion deploymentStatus healthStatus }} }} }} }} }}"
    );
    // Every page's cursor, GraphQL's and the bare handler's (the last service id of the page).
    let (mut cursors, mut keys) = (vec![None], vec![None]);
    loop {
        let body = post(client, url, &query, json!({ "after": cursors.last().unwrap() })).await;
        let page = &body["data"]["serviceCatalog"];
        assert_eq!(page["edges"].as_array().map_or(0, Vec::len).min(PAGE), page["edges"].as_array().unwrap().len());
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        cursors.push(page["pageInfo"]["endCursor"].as_str().map(str::to_owned));
        keys.push(page["edges"].as_array().unwrap().last().unwrap()["node"]["serviceId"].as_str().map(str::to_owned));
    }
    eprintln!("limit: catalog of {} pages of {PAGE}", cursors.len());

    // The bare handler, on a pool connected as the server's is (`infra::database::connect`:
    // the same statement settings, so both run the same plans).
    let pool = infra::database::connect(database_url, 8).await.unwrap();
    let app = axum::Router::new().route("/catalog", axum::routing::get(bare_catalog)).with_state(pool.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/catalog", listener.local_addr().unwrap());
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let bare = {
        let (client, keys) = (client.clone(), Arc::new(keys));
        open_loop(RATE, seconds, move |i| {
            let (client, keys, url) = (client.clone(), keys.clone(), bare_url.clone());
            async move {
                let mut request = client.get(&url);
                if let Some(after) = &keys[i as usize % keys.len()] {
                    request = request.query(&[("after", after)]);
                }
                let body: Value = request.send().await.unwrap().json().await.unwrap();
                assert!(!body["services"].as_array().unwrap().is_empty(), "{body}");
            }
        })
        .await
    };
    let base = "bare axum + sqlx, same SQL, 50 req/s";
    record_latency(report, "catalog", base, &bare, None, None);
    let graphql = {
        let (client, cursors, url, query) = (client.clone(), Arc::new(cursors), url.to_owned(), Arc::new(query));
        open_loop(RATE, seconds, move |i| {
            let (client, cursors, url, query) = (client.clone(), cursors.clone(), url.clone(), query.clone());
            async move {
                let vars = json!({ "after": cursors[i as usize % cursors.len()] });
                let body = post(&client, &url, &query, vars).await;
                assert!(!body["data"]["serviceCatalog"]["edges"].as_array().unwrap().is_empty(), "{body}");
            }
        })
        .await
    };
    let name = "serviceCatalog(first: 50) { environments(first: 10) }, 10k services, 50 req/s";
    record_latency(report, "catalog", name, &graphql, Some(base), Some(Goal::AtMost(1.3)));
    serving.abort();
    pool.close().await;
}

/// The bare handler's query string: the page's position, as the resolver's `after`.
#[derive(serde::Deserialize)]
struct CatalogQuery {
    after: Option<String>,
}

/// The catalog page without GraphQL: the resolver's two statements (the page of services,
/// then their placements in one batch, as its data loader does), as JSON.
async fn bare_catalog(State(pool): State<PgPool>, Query(page): Query<CatalogQuery>) -> Json<Value> {
    let services = sqlx::query(graphql::contexts::read_models::CATALOG_PAGE)
        .bind(&page.after)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(PAGE as i64 + 1)
        .fetch_all(&pool)
        .await
        .unwrap();
    let ids: Vec<String> = services.iter().take(PAGE).map(|r| r.get("service_id")).collect();
    let placements = sqlx::query(graphql::contexts::read_models::CATALOG_PLACEMENTS)
        .bind(&ids)
        .bind(None::<Vec<String>>)
        .bind(INNER_PAGE)
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut by_service: HashMap<String, Vec<Value>> = HashMap::new();
    for row in &placements {
        by_service.entry(row.get("service_id")).or_default().push(json!({
            "environmentId": row.get::<String, _>("environment_id"),
            "tenantId": row.get::<Option<String>, _>("tenant_id"),
            "deployedVersion": row.get::<Option<String>, _>("deployed_version"),
            "deploymentStatus": row.get::<Option<String>, _>("deployment_status"),
            "healthStatus": row.get::<Option<String>, _>("health_status"),
        }));
    }
    let has_next = services.len() > PAGE;
    let services: Vec<Value> = services
        .iter()
        .take(PAGE)
        .map(|row| {
            let id: String = row.get("service_id");
            json!({
                "serviceId": id,
                "name": row.get::<String, _>("name"),
                "status": row.get::<String, _>("status"),
                "environments": by_service.remove(&id).unwrap_or_default(),
            })
        })
        .collect();
    Json(json!({ "services": services, "hasNextPage": has_next }))
}

/// POSTs a GraphQL request; panics on an error (a figure of failed requests is no figure).
async fn post(client: &reqwest::Client, url: &str, query: &str, variables: Value) -> Value {
    let response = client.post(url).json(&json!({ "query": query, "variables": variables })).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"].is_null(), "{query}: {body}");
    body
}

/// Runs `request(i)` one after another for `seconds` (at least 20 times, after 10 unmeasured
/// warm-up requests); returns the latencies in ms, sorted.
async fn sequential<F, Fut>(seconds: f64, request: F) -> Vec<f64>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..10 {
        request(i).await;
    }
    let started = Instant::now();
    let mut out = Vec::new();
    let mut i = 10;
    while started.elapsed().as_secs_f64() < seconds || out.len() < 20 {
        let one = Instant::now();
        request(i).await;
        out.push(one.elapsed().as_secs_f64() * 1000.0);
        i += 1;
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Sends `request(i)` at `rate` per second for `seconds` whether or not earlier ones
/// answered (open loop: a slow answer does not slow the arrivals), after 10 unmeasured
/// warm-up requests; returns the latencies in ms, sorted, each from the instant its request
/// was due (so time spent queued behind a slow one counts).
async fn open_loop<F, Fut>(rate: f64, seconds: f64, request: F) -> Vec<f64>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for i in 0..10 {
        request(i).await;
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let count = (rate * seconds).round().max(1.0) as u64;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        let due = start + period * i as u32;
        tokio::time::sleep_until(due).await;
        let fut = request(i + 10);
        tasks.push(tokio::spawn(async move {
            fut.await;
            due.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut out: Vec<f64> = join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Records p50 and p99 of `sorted` as two rows (`<name>, p50` and `<name>, p99`), each
/// against the same quantile of `baseline` when given.
fn record_latency(
    report: &mut Report,
    section: &str,
    name: &str,
    sorted: &[f64],
    baseline: Option<&str>,
    goal: Option<Goal>,
) {
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        let value = tests::drive::percentile(sorted, p);
        let row = format!("{name}, {label}");
        match baseline {
            Some(base) => report.ratio(section, &row, value, "ms", &format!("{base}, {label}"), goal),
            None => report.value(section, &row, value, "ms"),
        }
    }
    eprintln!("limit: {name}: {} samples", sorted.len());
}

/// Waits until the audit projection (the one that copies every event) has caught up with
/// the log, so no projector works in the background of a timed phase.
async fn wait_for_audit(pool: &PgPool) {
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.unwrap();
    loop {
        let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(pool).await.unwrap();
        if copied >= events {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
