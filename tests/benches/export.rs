//! Audit export rate: `GET /audit/export` over HTTP, in events/s and MiB/s, against
//! PostgreSQL's own `COPY ... TO STDOUT` of the same rows in the same run.
//!
//! `cargo bench -p tests --bench export` (env: `BENCH_EVENTS`, default 300,000;
//! `TEST_DATABASE_URL` as for the tests; each download is bounded by `BENCH_TIMEOUT_SECONDS`,
//! default 120).
//!
//! What is measured, honestly:
//! - The log is made of real events: one environment's lifecycle is written through the
//!   command bus, then its stored events are copied with SQL under fresh aggregate and event
//!   ids until the log holds `BENCH_EVENTS` events, and `audit_log` is filled from them with
//!   the same columns the audit projector writes (the projector itself is not what this
//!   measures; its rebuild rate is in `read_side`).
//! - The server is the API router (`graphql::router_with`, as `serve` mounts it) in this
//!   process, on a loopback socket, in development mode without a rate limit; the client is
//!   reqwest reading the body chunk by chunk (nothing kept), so the two share the machine.
//! - The baseline is `COPY (SELECT <the export's columns, the same join and order>) TO STDOUT`
//!   read by sqlx `copy_out_raw`: the rate of the database alone, without HTTP, JSON or the
//!   keyset batches. The ratio says what the export path costs over that.
//! - Before the downloads, `EXPLAIN` shows the batch statement's plan, custom and generic
//!   (a prepared statement turns generic after five runs): it must stay an index scan of
//!   `audit_log_log_order`.

use std::time::{Duration, Instant};

use ::commands::{CommandBus, CommandOptions};
use chrono::Utc;
use domain::environments::*;
use futures::StreamExt;
use infra::server::Platform;
use sqlx::{Connection, PgConnection};

const FROM: &str = "2020-01-01T00:00:00Z";

/// The export's columns as one `COPY`: what the database alone delivers.
fn copy_sql(format: &str, payload: bool) -> String {
    let payload = if payload { "e.payload::text" } else { "NULL::text" };
    format!(
        "COPY (SELECT a.event_id, a.transaction_id, a.global_position, a.aggregate_type, a.aggregate_id, a.sequence, \
                      a.event_type, NULLIF(a.tenant_id, ''), a.actor, a.actor_role, a.trace_id, \
                      e.metadata ->> 'correlation_id', e.metadata ->> 'causation_id', a.recorded_at, {payload} \
                 FROM audit_log a LEFT JOIN events e \
                   ON e.aggregate_type = a.aggregate_type AND e.aggregate_id = a.aggregate_id AND e.sequence = a.sequence \
                WHERE a.recorded_at >= '{FROM}' \
                ORDER BY a.transaction_id, a.global_position) TO STDOUT WITH (FORMAT {format})"
    )
}

/// Rows and bytes of one measured read, and how long it took.
struct Figures {
    rows: u64,
    bytes: u64,
    seconds: f64,
}

impl Figures {
    fn events_per_second(&self) -> f64 {
        self.rows as f64 / self.seconds
    }

    fn print(&self, what: &str) {
        println!(
            "{what:<34} {:>9} events {:>8.1} MiB in {:>6.2}s = {:>9.0} events/s {:>7.1} MiB/s",
            self.rows,
            self.bytes as f64 / 1048576.0,
            self.seconds,
            self.events_per_second(),
            self.bytes as f64 / 1048576.0 / self.seconds
        );
    }
}

async fn download(client: &reqwest::Client, addr: std::net::SocketAddr, query: &[(&str, &str)]) -> Figures {
    let started = Instant::now();
    let mut response =
        client.get(format!("http://{addr}/audit/export")).query(query).send().await.expect("export request");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let (mut rows, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await.expect("export body") {
        bytes += chunk.len() as u64;
        rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let is_csv = query.iter().any(|(k, v)| *k == "format" && *v == "csv");
    Figures { rows: rows - u64::from(is_csv), bytes, seconds: started.elapsed().as_secs_f64() }
}

async fn copy(conn: &mut PgConnection, format: &str, payload: bool) -> Figures {
    let started = Instant::now();
    let mut stream = conn.copy_out_raw(&copy_sql(format, payload)).await.expect("COPY");
    let (mut rows, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("COPY data");
        bytes += chunk.len() as u64;
        rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    Figures { rows, bytes, seconds: started.elapsed().as_secs_f64() }
}

#[tokio::main]
async fn main() {
    let target: i64 = std::env::var("BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(300_000);
    let timeout: u64 = std::env::var("BENCH_TIMEOUT_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    // A database of its own, dropped at the end (kept if the bench panics).
    let db = tests::TestDb::with_connections(8).await;
    let (pool, url) = (db.pool.clone(), db.url.clone());

    // One real lifecycle (4 events), then copies of it under fresh ids, in chunks so no
    // transaction gets huge (and the log has many transactions, as a real one has).
    let bus = CommandBus::new(pool.clone());
    let id = tests::drive::ready_environment(&bus, "template").await.to_string();
    bus.execute::<RuntimeEnvironment>(
        &tests::system_context(),
        &id,
        EnvironmentCommand::MarkDegraded { reason: Reason::parse("bench").unwrap(), at: Utc::now() },
        CommandOptions::default(),
    )
    .await
    .unwrap();
    let copies = (target / 4).max(1);
    let started = Instant::now();
    let mut made = 0i64;
    while made < copies {
        let chunk = (copies - made).min(5_000);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT e.aggregate_type, 'bench-' || ($3 + g), e.sequence, e.event_type, e.event_version, e.payload, \
                    jsonb_set(e.metadata, '{event_id}', to_jsonb(gen_random_uuid()::text)) \
               FROM generate_series(1, $2) g CROSS JOIN (SELECT * FROM events WHERE aggregate_id = $1) e \
              ORDER BY g, e.sequence",
        )
        .bind(&id)
        .bind(chunk)
        .bind(made)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("seeding the log: {e}"));
        made += chunk;
    }
    // The audit projector's columns, from the log.
    sqlx::query(
        "INSERT INTO audit_log (global_position, transaction_id, event_id, aggregate_type, aggregate_id, sequence, \
            event_type, tenant_id, actor, trace_id, recorded_at, actor_role) \
         SELECT global_position, transaction_id::text::bigint, event_id, aggregate_type, aggregate_id, sequence, \
            event_type, metadata ->> 'tenant_id', metadata ->> 'actor', metadata ->> 'trace_id', recorded_at, \
            metadata ->> 'actor_role' FROM events",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("VACUUM ANALYZE events, audit_log").execute(&pool).await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&pool).await.unwrap();
    println!("export: seeded {events} events in {:.1}s", started.elapsed().as_secs_f64());

    // The batch statement's plan, on this table, custom and generic.
    let mut conn = pool.acquire().await.unwrap();
    let bind = format!(
        "(0, 0, {}, '{FROM}', now(), NULL, NULL, NULL, NULL, NULL, NULL, {}, true)",
        i64::MAX,
        graphql::export::BATCH_ROWS
    );
    sqlx::query(&format!("PREPARE batch AS {}", graphql::export::BATCH_SQL)).execute(&mut *conn).await.unwrap();
    for mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::query(&format!("SET plan_cache_mode = {mode}")).execute(&mut *conn).await.unwrap();
        let plan: Vec<String> =
            sqlx::query_scalar(&format!("EXPLAIN EXECUTE batch {bind}")).fetch_all(&mut *conn).await.unwrap();
        println!("batch plan ({mode}):\n  {}", plan.join("\n  "));
        assert!(
            plan.iter().any(|l| l.contains("Index Scan using audit_log_log_order on audit_log")),
            "the batch is no longer an index scan in log order"
        );
    }
    drop(conn);

    let platform = Platform::new(pool.clone());
    let mut config = graphql::ApiConfig::development();
    config.limits.rate_per_second = None;
    let addr = tests::ws_client::serve(platform.api(config)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(timeout)).build().unwrap();
    let mut baseline = PgConnection::connect(&url).await.unwrap();

    // Warm the caches once (the first read of a freshly filled table sets hint bits).
    copy(&mut baseline, "csv", true).await;
    let runs = [
        ("NDJSON (with payload)", vec![("from", FROM)], "csv", true),
        ("CSV (no payload)", vec![("from", FROM), ("format", "csv")], "csv", false),
        ("CSV (with payload)", vec![("from", FROM), ("format", "csv"), ("payload", "true")], "csv", true),
    ];
    for (what, query, copy_format, payload) in runs {
        let export = download(&client, addr, &query).await;
        assert_eq!(export.rows as i64, events, "{what}: every event exported");
        let database = copy(&mut baseline, copy_format, payload).await;
        assert_eq!(database.rows as i64, events);
        export.print(&format!("export {what}"));
        database.print(&format!("COPY {copy_format} (payload: {payload})"));
        println!("{:<34} {:.2} of COPY's events/s", "ratio", export.events_per_second() / database.events_per_second());
    }

    pool.close().await;
}
