//! The writes half: what a command costs over the wire, against what the database and bare
//! postgres-es cost in the same run.
//!
//! - Baselines (a database of their own, so the server's projections never see their rows):
//!   raw single-row `INSERT` commits into a table `LIKE events INCLUDING ALL` from sqlx and
//!   from pgbench (same statement), and bare postgres-es (`CqrsFramework` over
//!   `PostgresEventRepository`, no bus, no GraphQL, no name claims) on the update shape
//!   (MarkDegraded / MarkRecovered on a Ready environment) and the create shape
//!   (RequestEnvironment on a fresh id).
//! - Commands over HTTP to the release server (`runtime-platform serve`, development mode,
//!   every client its own `x-actor` and keep-alive connection), on an empty database: update
//!   (the same flip), keyed create (requestEnvironment with an idempotency key: a name claim
//!   and a receipt), idempotent retry (one keyed create resent with its key, answered from the
//!   receipt). Ratios to raw sqlx `INSERT` and to bare postgres-es at the same client count.
//! - A 10k-event stream (grown by SQL, then warmed by one command) against a fresh aggregate,
//!   one client; commit-to-projection latency at 1,000 commands/s (open loop).
//! - After `BENCH_AGGREGATES` aggregates loaded by SQL (events, name claims, receipts; every
//!   checkpoint moved past them; VACUUM ANALYZE; server restarted): update and create again.
//! - The server's RSS idle after start and at its peak.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::commands::{CommandBus, LogPosition};
use chrono::Utc;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::CqrsFramework;
use domain::environments::{
    EnvironmentCommand, EnvironmentId, EnvironmentServices, FixedStagingLookup, Reason, RuntimeEnvironment,
};
use postgres_es::PostgresEventRepository;
use serde_json::{json, Value};
use tests::bench::{
    bench_seconds, bulk_load, checkpoints_to_latest, create_raw_table, grow_stream, measure_ok, pgbench_rate,
    projected_after, raw_insert_rate, until_projected, CheckpointWatch, GqlClient,
};
use tests::drive::percentile;
use tests::server::{build_release_binary, Server};
use tests::TestDb;

use crate::figures::{Goal, Report};

const BASELINE: &str = "baseline";
const HTTP: &str = "commands over HTTP";
const GROWN: &str = "after bulk load";
const STREAM: &str = "long stream";
const LATENCY: &str = "commit to projection";
const MEMORY: &str = "server memory";

/// The client counts every figure is taken at.
const CLIENTS: [usize; 2] = [1, 8];
/// Events in the long stream (ends Ready, so the flip starts with MarkDegraded).
const STREAM_LENGTH: i64 = 10_001;
/// The pace of the latency phase.
const LATENCY_RATE: u64 = 1_000;

const DEGRADE: &str = "mutation($id: ID!) { markEnvironmentDegraded(id: $id, reason: \"bench\") { version } }";
const RECOVER: &str = "mutation($id: ID!) { markEnvironmentRecovered(id: $id) { version } }";
const CREATE: &str = "mutation($input: RequestEnvironmentInput!, $options: CommandOptionsInput) {
  requestEnvironment(input: $input, options: $options) { aggregateId deduplicated position } }";

fn clients_label(n: usize) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

/// The update shape of the domain: Ready -> Degraded -> Ready, one event each.
fn flip(i: u64) -> EnvironmentCommand {
    if i.is_multiple_of(2) {
        EnvironmentCommand::MarkDegraded { reason: Reason::parse("bench").unwrap(), at: Utc::now() }
    } else {
        EnvironmentCommand::MarkRecovered { at: Utc::now() }
    }
}

/// Ready environments made through the bus in this process (the server has not cached them:
/// its first command on each loads it from the database, as after any restart).
async fn ready(bus: &CommandBus, n: usize, tag: &str) -> Arc<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for c in 0..n {
        ids.push(tests::drive::ready_environment(bus, &format!("ready-{tag}-{c}")).await.to_string());
    }
    Arc::new(ids)
}

/// One HTTP client per bench client, each with its own identity.
fn http_clients(server: &Server, n: usize) -> Arc<Vec<GqlClient>> {
    Arc::new((0..n).map(|c| GqlClient::new(&server.graphql, c)).collect())
}

/// Updates/s over HTTP: client `c` flips environment `ids[c]`.
async fn http_updates(server: &Server, ids: Arc<Vec<String>>, clients: usize, seconds: f64) -> f64 {
    let http = http_clients(server, clients);
    measure_ok(clients, seconds, move |c, i| {
        let (http, ids) = (http.clone(), ids.clone());
        async move {
            let query = if i.is_multiple_of(2) { DEGRADE } else { RECOVER };
            http[c].gql(query, json!({ "id": ids[c] })).await.map(|_| ())
        }
    })
    .await
}

/// The variables of a keyed create of environment `name`.
fn create_variables(name: &str) -> Value {
    json!({ "input": tests::environment_input("shop", name, "DEV"), "options": { "idempotencyKey": format!("key-{name}") } })
}

/// Keyed creates/s over HTTP; `tag` keeps names apart between phases.
async fn http_creates(server: &Server, tag: &str, clients: usize, seconds: f64) -> f64 {
    let (http, tag) = (http_clients(server, clients), tag.to_owned());
    measure_ok(clients, seconds, move |c, i| {
        let (http, name) = (http.clone(), format!("{tag}-{c}-{i}"));
        async move {
            let data = http[c].gql(CREATE, create_variables(&name)).await?;
            match data["requestEnvironment"]["deduplicated"].as_bool() {
                Some(false) => Ok(()),
                _ => Err(format!("a fresh key was deduplicated: {data}")),
            }
        }
    })
    .await
}

/// Idempotent retries/s: each client resends one keyed create; every answer must come from
/// the stored result (`deduplicated`).
async fn http_retries(server: &Server, tag: &str, clients: usize, seconds: f64) -> f64 {
    let http = http_clients(server, clients);
    let names: Arc<Vec<String>> = Arc::new((0..clients).map(|c| format!("{tag}-{c}")).collect());
    for (client, name) in http.iter().zip(names.iter()) {
        client.gql(CREATE, create_variables(name)).await.unwrap_or_else(|e| panic!("first create: {e}"));
    }
    measure_ok(clients, seconds, move |c, _| {
        let (http, names) = (http.clone(), names.clone());
        async move {
            let data = http[c].gql(CREATE, create_variables(&names[c])).await?;
            match data["requestEnvironment"]["deduplicated"].as_bool() {
                Some(true) => Ok(()),
                _ => Err(format!("a retry was not answered from the receipt: {data}")),
            }
        }
    })
    .await
}

/// Starts the server over `url` and waits until it is ready.
async fn start_server(binary: &std::path::Path, url: &str) -> (Server, reqwest::Client) {
    let mut server = Server::start(&binary.to_path_buf(), url);
    let probe = reqwest::Client::new();
    server.wait_ready(&probe).await;
    (server, probe)
}

/// Measures the writes half and records its figures in `report`.
pub async fn run(report: &mut Report) {
    let seconds = bench_seconds();
    let aggregates: i64 = std::env::var("BENCH_AGGREGATES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let binary = tokio::task::spawn_blocking(build_release_binary).await.unwrap();
    eprintln!("limit: writes: {seconds}s per phase, {aggregates} aggregates for the grown database");

    baselines(report, seconds).await;

    // The server's database: empty but for what each phase sets up.
    let db = TestDb::with_connections(16).await;
    let bus = CommandBus::new(db.pool.clone());
    let (server, _probe) = start_server(&binary, &db.url).await;
    let watcher = GqlClient::new(&server.graphql, 99);
    // Idle: ready, projections and loops started, no command yet.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_kib = server.rss_kib().unwrap_or(0);

    let mut empty = std::collections::HashMap::new();
    for n in CLIENTS {
        let ids = ready(&bus, n, &format!("u{n}")).await;
        until_projected(&watcher, Duration::from_secs(30)).await;
        let rate = http_updates(&server, ids, n, seconds).await;
        let name = format!("update, {}, empty database", clients_label(n));
        report.ratio(HTTP, &name, rate, "commands/s", &raw_name(n), Some(Goal::AtLeast(0.5)));
        report.ratio(
            HTTP,
            &format!("{name}, vs postgres-es"),
            rate,
            "commands/s",
            &pe_name("update", n),
            Some(Goal::AtLeast(1.6)),
        );
        empty.insert(("update", n), name);
    }
    for n in CLIENTS {
        until_projected(&watcher, Duration::from_secs(30)).await;
        let rate = http_creates(&server, &format!("c{n}"), n, seconds).await;
        let name = format!("keyed create, {}, empty database", clients_label(n));
        report.ratio(HTTP, &name, rate, "commands/s", &raw_name(n), Some(Goal::AtLeast(0.35)));
        report.ratio(
            HTTP,
            &format!("{name}, vs postgres-es"),
            rate,
            "commands/s",
            &pe_name("create", n),
            Some(Goal::AtLeast(1.6)),
        );
        empty.insert(("create", n), name);
    }
    for n in CLIENTS {
        until_projected(&watcher, Duration::from_secs(30)).await;
        let rate = http_retries(&server, &format!("r{n}"), n, seconds).await;
        report.ratio(HTTP, &format!("idempotent retry, {}", clients_label(n)), rate, "commands/s", &raw_name(n), None);
    }

    long_stream(report, &server, &bus, &db, &watcher, seconds).await;
    latency(report, &server, &db, &watcher, seconds).await;

    // The grown database: the same server binary restarted over a million more aggregates.
    let mut peak_kib = server.peak_rss_kib().unwrap_or(0);
    drop(server);
    let started = Instant::now();
    bulk_load(&db.pool, aggregates).await;
    let latest = checkpoints_to_latest(&db.pool).await;
    eprintln!(
        "limit: loaded {aggregates} aggregates (events, name claims, receipts) in {:.1}s; checkpoints moved to {}",
        started.elapsed().as_secs_f64(),
        latest.global_position
    );
    let (server, _probe) = start_server(&binary, &db.url).await;
    let watcher = GqlClient::new(&server.graphql, 99);
    for n in CLIENTS {
        let ids = ready(&bus, n, &format!("gu{n}")).await;
        until_projected(&watcher, Duration::from_secs(60)).await;
        let rate = http_updates(&server, ids, n, seconds).await;
        let name = format!("update, {}, after {aggregates} aggregates", clients_label(n));
        report.ratio(GROWN, &name, rate, "commands/s", &empty[&("update", n)], Some(Goal::AtLeast(0.9)));
    }
    for n in CLIENTS {
        until_projected(&watcher, Duration::from_secs(60)).await;
        let rate = http_creates(&server, &format!("gc{n}"), n, seconds).await;
        let name = format!("keyed create, {}, after {aggregates} aggregates", clients_label(n));
        report.ratio(GROWN, &name, rate, "commands/s", &empty[&("create", n)], Some(Goal::AtLeast(0.9)));
    }

    peak_kib = peak_kib.max(server.peak_rss_kib().unwrap_or(0));
    report.value(MEMORY, "server RSS idle after start", idle_kib as f64 / 1024.0, "MiB");
    report.value(MEMORY, "server RSS peak (both runs)", peak_kib as f64 / 1024.0, "MiB");
    drop(server);
    db.pool.close().await;
}

fn raw_name(n: usize) -> String {
    format!("raw INSERT, sqlx, {}", clients_label(n))
}

fn pe_name(shape: &str, n: usize) -> String {
    format!("bare postgres-es, {shape}, {}", clients_label(n))
}

/// Raw `INSERT` (sqlx, pgbench) and bare postgres-es on both shapes, at each client count, on
/// a database of their own (dropped after).
async fn baselines(report: &mut Report, seconds: f64) {
    let db = TestDb::with_connections(16).await;
    create_raw_table(&db.pool).await;
    for n in CLIENTS {
        let rate = raw_insert_rate(&db.pool, n, seconds).await;
        report.value(BASELINE, &raw_name(n), rate, "commits/s");
        let url = db.url.clone();
        match tokio::task::spawn_blocking(move || pgbench_rate(&url, n, seconds)).await.unwrap() {
            Some(rate) => report.ratio(
                BASELINE,
                &format!("raw INSERT, pgbench, {}", clients_label(n)),
                rate,
                "commits/s",
                &raw_name(n),
                None,
            ),
            None => eprintln!("limit: pgbench not installed or failed; the sqlx figure is the raw baseline"),
        }
    }

    let bus = CommandBus::new(db.pool.clone());
    let services = EnvironmentServices::new(Arc::new(FixedStagingLookup(true)));
    let framework = Arc::new(CqrsFramework::new(
        // postgres-es as it comes: its own default pool (10 connections), no snapshots.
        PersistedEventStore::<_, RuntimeEnvironment>::new_event_store(PostgresEventRepository::new(
            postgres_es::default_postgress_pool(&format!("{}?sslmode=disable", db.url)).await,
        )),
        vec![],
        services,
    ));
    for n in CLIENTS {
        let ids = ready(&bus, n, &format!("pe{n}")).await;
        let framework = framework.clone();
        let rate = measure_ok(n, seconds, move |c, i| {
            let (framework, ids) = (framework.clone(), ids.clone());
            async move { framework.execute(&ids[c], flip(i)).await.map_err(|e| e.to_string()) }
        })
        .await;
        report.ratio(BASELINE, &pe_name("update", n), rate, "commands/s", &raw_name(n), None);
    }
    for n in CLIENTS {
        let framework = framework.clone();
        let rate = measure_ok(n, seconds, move |c, i| {
            let framework = framework.clone();
            async move {
                let command = tests::drive::request_environment(&format!("pe-{n}-{c}-{i}"));
                framework.execute(&EnvironmentId::generate().to_string(), command).await.map_err(|e| e.to_string())
            }
        })
        .await;
        report.ratio(BASELINE, &pe_name("create", n), rate, "commands/s", &raw_name(n), None);
    }
}

/// Updates on a 10k-event stream against a fresh aggregate, one client (eight would measure
/// conflicts on the one stream). The stream is grown by SQL; one command warms it (the
/// server loads it whole once and keeps it in its aggregate cache, as any aggregate it
/// writes), and that first load is reported on its own.
async fn long_stream(
    report: &mut Report,
    server: &Server,
    bus: &CommandBus,
    db: &TestDb,
    watcher: &GqlClient,
    seconds: f64,
) {
    let long = ready(bus, 1, "long").await;
    for i in 0..2 {
        bus.execute::<RuntimeEnvironment>(&tests::system_context(), &long[0], flip(i), Default::default())
            .await
            .unwrap();
    }
    grow_stream(&db.pool, &long[0], STREAM_LENGTH).await;
    let fresh = ready(bus, 1, "fresh").await;
    until_projected(watcher, Duration::from_secs(60)).await;

    let client = GqlClient::new(&server.graphql, 0);
    let started = Instant::now();
    client.gql(DEGRADE, json!({ "id": long[0] })).await.unwrap_or_else(|e| panic!("first command on the stream: {e}"));
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    client.gql(RECOVER, json!({ "id": long[0] })).await.unwrap_or_else(|e| panic!("{e}"));
    until_projected(watcher, Duration::from_secs(30)).await;

    let base = "update, 1 client, fresh aggregate";
    let rate = http_updates(server, fresh, 1, seconds).await;
    report.value(STREAM, base, rate, "commands/s");
    let rate = http_updates(server, long, 1, seconds).await;
    report.ratio(
        STREAM,
        &format!("update, 1 client, {STREAM_LENGTH}-event stream"),
        rate,
        "commands/s",
        base,
        Some(Goal::AtLeast(0.8)),
    );
    report.value(STREAM, &format!("first command on the {STREAM_LENGTH}-event stream (cold load)"), first_ms, "ms");
}

/// Commit-to-projection latency at [`LATENCY_RATE`] keyed creates/s, sent open loop (one every
/// millisecond, however long the answers take; each in flight on its own task, callers
/// spread over 16 identities). For each, the time from its HTTP answer until the
/// `environments` projection's checkpoint, sampled every millisecond in the database, covers
/// the position the mutation returned.
async fn latency(report: &mut Report, server: &Server, db: &TestDb, watcher: &GqlClient, seconds: f64) {
    until_projected(watcher, Duration::from_secs(30)).await;
    let http = http_clients(server, 16);
    let answers: Arc<Mutex<Vec<(Instant, Instant, LogPosition)>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let watch = CheckpointWatch::start(&db.pool, "environments", Duration::from_millis(1));
    let total = (seconds * LATENCY_RATE as f64) as u64;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / LATENCY_RATE));
    // Late ticks fire at once: the schedule is the rate, not the answers.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        tick.tick().await;
        let (http, answers, failures) = (http.clone(), answers.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            match http[(i % 16) as usize].gql(CREATE, create_variables(&format!("lat-{i}"))).await {
                Ok(data) => {
                    let answered = Instant::now();
                    let cursor = data["requestEnvironment"]["position"].as_str().unwrap_or_default();
                    let position = LogPosition::from_cursor(cursor).expect("a position cursor");
                    answers.lock().unwrap().push((sent, answered, position));
                }
                Err(e) => failures.lock().unwrap().push(e),
            }
        }));
    }
    futures::future::join_all(tasks).await;
    let sent_rate = total as f64 / started.elapsed().as_secs_f64();
    // Long enough for the last ones to be projected (the runner coalesces every 50 ms).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = watch.stop().await;
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.len() as u64 <= tests::bench::TOLERATED_ERRORS,
        "{} failed: {:?}",
        failures.len(),
        failures.last()
    );
    let answers = answers.lock().unwrap().clone();
    let from_answer = projected_after(&samples, &answers.iter().map(|(_, a, p)| (*a, *p)).collect::<Vec<_>>());
    let from_send = projected_after(&samples, &answers.iter().map(|(s, _, p)| (*s, *p)).collect::<Vec<_>>());
    let mut answer_ms: Vec<f64> = answers.iter().map(|(s, a, _)| a.duration_since(*s).as_secs_f64() * 1000.0).collect();
    answer_ms.sort_by(f64::total_cmp);
    assert_eq!(from_answer.len(), answers.len(), "every command was seen projected");
    report.value(LATENCY, "commands sent (open loop)", sent_rate, "commands/s");
    report.value(LATENCY, "HTTP answer p99 at that rate", percentile(&answer_ms, 0.99), "ms");
    report.value(LATENCY, "answer to projected, p50", percentile(&from_answer, 0.5), "ms");
    report.bounded(LATENCY, "answer to projected, p99", percentile(&from_answer, 0.99), "ms", Goal::AtMost(50.0));
    report.value(LATENCY, "send to projected, p99", percentile(&from_send, 0.99), "ms");
}
