//! What live subscriptions cost, measured as users run them: the release server in its own
//! process, real graphql-transport-ws clients over loopback sockets, writes over HTTP.
//!
//! `cargo bench -p tests --bench live` (env: `BENCH_SUBSCRIBERS`, default `1000,10000`;
//! `BENCH_SECONDS` of writing per round, default 10; `BENCH_RATE` writes/s, default 100;
//! `TEST_DATABASE_URL` as for the tests). Writes the figures to `target/bench-live.json`.
//!
//! Each round opens N websocket connections (one subscription each, distinct actors), spread
//! over 100 environments: subscriber i watches `events(aggregateId: env[i % 100])`, so each
//! write reaches N/100 subscribers. A writer then flips compute targets on the environments
//! round-robin at a steady rate. Reported per round: deliveries, commit-to-delivery latency
//! (client receive time minus the event's `recordedAt`, the database's clock on this same
//! machine) p50/p99, the feed's reads of the log per second (from `/metrics`; the goal is that
//! it does not grow with N), and the server's RSS after the round and its peak. A round with
//! no subscriber gives the baseline of reads per second at the same write rate.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tests::server::{build_release_binary, Server};
use tests::{environment_input, TestDb, REQUEST_ENVIRONMENT};
use tokio_tungstenite::tungstenite::Message;
use tests::drive::percentile;

const ENVIRONMENTS: usize = 100;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn gql(client: &reqwest::Client, server: &Server, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables });
    let response = client.post(&server.graphql).json(&body).send().await.expect("POST /graphql");
    let value: Value = response.json().await.expect("JSON answer");
    assert!(value["errors"].is_null(), "{query}: {value}");
    value["data"].clone()
}

/// A metric's value from the Prometheus exposition.
async fn metric(client: &reqwest::Client, server: &Server, name: &str) -> f64 {
    let text = client.get(&server.metrics).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

/// Opens a subscriber to `environment`'s events; every delivery's latency goes to `latencies`.
async fn subscriber(
    addr: std::net::SocketAddr,
    i: usize,
    environment: String,
    latencies: Arc<Mutex<Vec<f64>>>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut socket = tests::ws_client::connect_transport_ws(addr, "/graphql").await;
    let init = json!({ "type": "connection_init", "payload": { "x-actor": format!("user:bench-{i}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    let query = "subscription($id: ID!) { events(aggregateId: $id) { recordedAt } }";
    let subscribe =
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "id": environment } } });
    let mut mine = Vec::new();
    let mut stop = stop;
    let mut subscribed = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            message = socket.next() => {
                let Some(Ok(message)) = message else { break };
                let received = Utc::now();
                let Message::Text(text) = message else { continue };
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                match value["type"].as_str() {
                    Some("connection_ack") if !subscribed => {
                        socket.send(Message::text(subscribe.to_string())).await.unwrap();
                        subscribed = true;
                    }
                    Some("ping") => {
                        let _ = socket.send(Message::text(json!({ "type": "pong" }).to_string())).await;
                    }
                    Some("next") => {
                        if let Some(at) = value["payload"]["data"]["events"]["recordedAt"].as_str() {
                            let at: DateTime<Utc> = at.parse().unwrap();
                            mine.push((received - at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let _ = socket.close(None).await;
    latencies.lock().unwrap().extend(mine);
}

#[tokio::main]
async fn main() {
    let rounds: Vec<usize> = std::env::var("BENCH_SUBSCRIBERS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let seconds: f64 = env_or("BENCH_SECONDS", 10.0);
    let rate: f64 = env_or("BENCH_RATE", 100.0);

    let binary = build_release_binary();
    let db = TestDb::new().await;
    let mut server = Server::start_with(&binary, &db.url, &[("RUST_LOG", "error")]);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    server.wait_ready(&client).await;

    let mut environments = Vec::with_capacity(ENVIRONMENTS);
    for i in 0..ENVIRONMENTS {
        let data = gql(
            &client,
            &server,
            REQUEST_ENVIRONMENT,
            json!({ "input": environment_input("bench", &format!("live-{i}"), "DEV") }),
        )
        .await;
        environments.push(data["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned());
    }

    let mut results = Vec::new();
    let mut flip = 0u64;
    println!(
        "{:>11} {:>11} {:>10} {:>10} {:>10} {:>12} {:>10} {:>10}",
        "subscribers", "deliveries", "writes/s", "p50 ms", "p99 ms", "feed reads/s", "RSS MiB", "peak MiB"
    );
    for subscribers in std::iter::once(0).chain(rounds) {
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::with_capacity(subscribers);
        for i in 0..subscribers {
            let environment = environments[i % ENVIRONMENTS].clone();
            tasks.push(tokio::spawn(subscriber(server.api, i, environment, latencies.clone(), stopped.clone())));
            if i % 500 == 499 {
                // Let the handshakes of a batch finish before the next.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let joined = Instant::now();
        while (metric(&client, &server, "live_subscribers").await as usize) < subscribers {
            assert!(joined.elapsed() < Duration::from_secs(120), "subscribers did not all join");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let reads_before = metric(&client, &server, "live_feed_reads").await;
        let started = Instant::now();
        let mut writes = 0u64;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut tick = tokio::time::interval(interval);
        while started.elapsed().as_secs_f64() < seconds {
            tick.tick().await;
            let environment = &environments[(flip as usize) % ENVIRONMENTS];
            let round = flip / ENVIRONMENTS as u64;
            let (query, variables) = if round.is_multiple_of(2) {
                (
                    "mutation($id: ID!, $t: ComputeTargetInput!) { addComputeTarget(id: $id, target: $t) { version } }",
                    json!({ "id": environment, "t": { "kind": "FUNCTIONS", "name": "burst", "resourceId": "/subscriptions/x/burst" } }),
                )
            } else {
                (
                    "mutation($id: ID!) { removeComputeTarget(id: $id, name: \"burst\") { version } }",
                    json!({ "id": environment }),
                )
            };
            gql(&client, &server, query, variables).await;
            flip += 1;
            writes += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        // Let the last deliveries land.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let reads = metric(&client, &server, "live_feed_reads").await - reads_before;
        let rss = server.rss_kib().unwrap_or(0) as f64 / 1024.0;
        let peak = server.peak_rss_kib().unwrap_or(0) as f64 / 1024.0;
        let _ = stop.send(true);
        for task in tasks {
            let _ = task.await;
        }
        let mut all = std::mem::take(&mut *latencies.lock().unwrap());
        all.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&all, 0.5), percentile(&all, 0.99));
        let reads_per_second = reads / (elapsed + 2.0);
        println!(
            "{subscribers:>11} {:>11} {:>10.1} {p50:>10.1} {p99:>10.1} {reads_per_second:>12.1} {rss:>10.1} {peak:>10.1}",
            all.len(),
            writes as f64 / elapsed
        );
        results.push(json!({
            "subscribers": subscribers, "deliveries": all.len(), "writes_per_second": writes as f64 / elapsed,
            "p50_ms": p50, "p99_ms": p99, "feed_reads_per_second": reads_per_second,
            "rss_mib": rss, "peak_rss_mib": peak,
        }));
        // Wait for the server to see the sockets go.
        let left = Instant::now();
        while metric(&client, &server, "live_subscribers").await > 0.0 && left.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-live.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({ "rounds": results, "rate": rate, "seconds": seconds })).unwrap(),
    )
    .unwrap();
    println!("written to {}", path.display());
}
