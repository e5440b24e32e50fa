//! Command throughput, as ratios against raw single-row INSERT commits measured in the same run.
//!
//! `cargo bench -p tests --bench throughput` (env: `BENCH_SECONDS`, default 5; `BENCH_CLIENTS`,
//! default 8; `BENCH_ONLY=postgres-es,bus,graphql` to pick phases; `TEST_DATABASE_URL` as for
//! the tests). Each phase runs `clients` concurrent
//! writers for a fixed time on a fresh database, each writer on its own aggregate, alternating
//! two one-event commands (MarkDegraded / MarkRecovered):
//! 1. raw `INSERT` commits: pgbench (when installed) and the same with sqlx;
//! 2. bare postgres-es: cqrs-es `CqrsFramework` over `PostgresEventRepository` (no snapshots);
//! 3. the command bus over `PgEventStore`;
//! 4. the whole GraphQL path (request context, parse, validate, execute, bus), in process
//!    through the axum router (no TCP), with the projection runners working beside it as in
//!    `serve` (`BENCH_PROJECTIONS=0` turns them off; `BENCH_PROJECTIONS=audit,health` runs
//!    only those, to see what each projector costs the write path).

use std::sync::Arc;
use std::time::Instant;

use ::commands::{CommandBus, CommandOptions};
use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::CqrsFramework;
use domain::environments::*;
use infra::server::Platform;
use postgres_es::PostgresEventRepository;
use tests::drive::measure;
use tower::ServiceExt;
use uuid::Uuid;

fn flip(i: u64) -> EnvironmentCommand {
    if i.is_multiple_of(2) {
        EnvironmentCommand::MarkDegraded { reason: Reason::parse("bench").unwrap(), at: Utc::now() }
    } else {
        EnvironmentCommand::MarkRecovered { at: Utc::now() }
    }
}

/// Ready environments, one per client.
async fn ready_environments(bus: &CommandBus, clients: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(clients);
    for n in 0..clients {
        let name = format!("bench{n}-{}", &Uuid::new_v4().simple().to_string()[..8]);
        ids.push(tests::drive::ready_environment(bus, &name).await.to_string());
    }
    ids
}

fn pgbench(url: &str, clients: usize, seconds: f64) -> Option<f64> {
    let script = std::env::temp_dir().join(format!("rtp-bench-{}.sql", Uuid::new_v4().simple()));
    std::fs::write(&script, "INSERT INTO raw_insert_bench (payload) VALUES ('{\"k\": \"v\"}');\n").ok()?;
    let output = std::process::Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T", &(seconds.ceil() as u64).to_string(), "-f"])
        .arg(&script)
        .arg(format!("{url}?sslmode=disable"))
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().find(|l| l.starts_with("tps = "))?.split_whitespace().nth(2)?.parse().ok()
}

/// A database of its own (dropped at the end) with the raw-insert baseline's table.
async fn fresh_database() -> tests::TestDb {
    let db = tests::TestDb::with_connections(32).await;
    sqlx::query(
        "CREATE TABLE raw_insert_bench (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    db
}

#[tokio::main]
async fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let clients: usize = std::env::var("BENCH_CLIENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    // As `serve` runs: the same log subscriber (writing nowhere), so spans cost what they cost.
    infra::telemetry::init_tracing(std::io::sink);
    let db = fresh_database().await;
    let (name, url, pool) = (db.name.clone(), db.url.clone(), db.pool.clone());
    println!("throughput: {clients} clients, {seconds}s per phase, database {name}");

    let pgbench_rate = pgbench(&url, clients, seconds);
    let raw_pool = pool.clone();
    let raw = measure(clients, seconds, move |_, _| {
        let pool = raw_pool.clone();
        async move {
            sqlx::query("INSERT INTO raw_insert_bench (payload) VALUES ('{\"k\": \"v\"}')")
                .execute(&pool)
                .await
                .unwrap();
        }
    })
    .await;
    let baseline = pgbench_rate.unwrap_or(raw);
    match pgbench_rate {
        Some(rate) => println!("raw INSERT commits, pgbench        {rate:>9.0}/s  (baseline)"),
        None => println!("raw INSERT commits, pgbench        not installed; baseline is the sqlx figure"),
    }
    let report =
        |label: &str, rate: f64| println!("{label:<34} {rate:>9.0}/s  {:>5.1}% of raw", 100.0 * rate / baseline);
    report("raw INSERT commits, sqlx", raw);

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |phase: &str| only.is_empty() || only.split(',').any(|p| p == phase);
    let bus = CommandBus::new(pool.clone());
    if runs("postgres-es") {
        let ids = Arc::new(ready_environments(&bus, clients).await);
        let services = EnvironmentServices::new(Arc::new(FixedStagingLookup(true)));
        let framework = Arc::new(CqrsFramework::new(
            // postgres-es as it comes: its own default pool (10 connections, ping before acquire).
            PersistedEventStore::<_, RuntimeEnvironment>::new_event_store(PostgresEventRepository::new(
                postgres_es::default_postgress_pool(&format!("{url}?sslmode=disable")).await,
            )),
            vec![],
            services,
        ));
        let ids_pe = ids.clone();
        let postgres_es = measure(clients, seconds, move |c, i| {
            let (framework, ids) = (framework.clone(), ids_pe.clone());
            async move {
                framework.execute(&ids[c], flip(i)).await.unwrap();
            }
        })
        .await;
        report("bare postgres-es (CqrsFramework)", postgres_es);
    }
    if runs("bus") {
        let ids = Arc::new(ready_environments(&bus, clients).await);
        let bus_clone = bus.clone();
        let ids_bus = ids.clone();
        let via_bus = measure(clients, seconds, move |c, i| {
            let (bus, ids) = (bus_clone.clone(), ids_bus.clone());
            async move {
                bus.execute::<RuntimeEnvironment>(
                    &tests::system_context(),
                    &ids[c],
                    flip(i),
                    CommandOptions::default(),
                )
                .await
                .unwrap();
            }
        })
        .await;
        report("command bus (PgEventStore)", via_bus);
    }
    if runs("graphql") {
        // As `serve` runs it: the projection runners work beside the API.
        let mut platform = Platform::new(pool.clone());
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let selected = std::env::var("BENCH_PROJECTIONS").unwrap_or_default();
        let with_projections = selected != "0";
        if with_projections && !selected.is_empty() {
            platform.runners.retain(|r| selected.split(',').any(|name| name == r.name()));
            println!("projections running: {:?}", platform.runners.iter().map(|r| r.name()).collect::<Vec<_>>());
        }
        if with_projections {
            platform.start_projections(shutdown).await.unwrap();
        }
        let ids = Arc::new(ready_environments(&platform.bus, clients).await);
        if with_projections {
            // Steady state: the earlier phases' events are a backlog the projectors would
            // otherwise work off inside this phase's window.
            let started = Instant::now();
            tests::settle(&pool, &platform.runners).await;
            println!("projections caught up on the earlier phases' events in {:.1}s", started.elapsed().as_secs_f64());
        }
        let router = platform.app();
        let via_graphql = measure(clients, seconds, move |c, i| {
            let (router, ids) = (router.clone(), ids.clone());
            async move {
                let query = if i % 2 == 0 {
                    "mutation($id: ID!) { markEnvironmentDegraded(id: $id, reason: \"bench\") { version } }"
                } else {
                    "mutation($id: ID!) { markEnvironmentRecovered(id: $id) { version } }"
                };
                let body = serde_json::json!({ "query": query, "variables": { "id": ids[c] } });
                let request = Request::post("/graphql")
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
                assert!(!bytes.windows(8).any(|w| w == b"\"errors\""), "{}", String::from_utf8_lossy(&bytes));
            }
        })
        .await;
        report(
            if with_projections { "GraphQL mutation, projections on" } else { "GraphQL mutation, projections off" },
            via_graphql,
        );
    }

    pool.close().await;
}
