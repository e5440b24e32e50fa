//! The integration relay: events/s published to a local Service Bus endpoint, and
//! commit-to-publish latency under a steady command rate.
//!
//! `cargo bench -p tests --bench relay` (env: `BENCH_EVENTS`, default 10,000; `BENCH_RATE`,
//! commands/s of the steady phase, default 500; `BENCH_SECONDS`, its length, default 10;
//! `TEST_DATABASE_URL` as for the tests).
//!
//! What is measured:
//! - Backlog: `BENCH_EVENTS` events are committed through the bus (8 writers) before the relay
//!   starts; then the relay (the `integration-relay` reactor as `serve` wires it, the real SDK
//!   through `RoutedHttpClient`, SAS-signed) publishes them to `tests::fake_servicebus` on a
//!   loopback socket. Figure: events/s until the endpoint accepted the last one.
//! - Baseline, same run: the same number of messages POSTed to the same endpoint by a bare
//!   reqwest client, 16 at a time, with the same headers size and bodies (no SDK, no log read,
//!   no checkpoint): what HTTP and the endpoint alone cost. The ratio says what the relay
//!   adds.
//! - Steady: with the relay running (woken by this process's commits), commands at
//!   `BENCH_RATE`/s for `BENCH_SECONDS`; commit-to-publish = the endpoint's accept time minus
//!   the event's commit time (`occurredAt`, the database's clock on the same machine).

use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::CommandBus;
use domain::environments::RuntimeEnvironment;
use futures::StreamExt;
use infra::server::Platform;
use integration::servicebus::{Authentication, ServiceBusPublisher, ServiceBusSettings};
use integration::{IntakeSettings, Publisher, RelaySettings};
use tests::fake_servicebus::FakeServiceBus;
use tests::TestDb;
use tests::drive::percentile;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn write(bus: &CommandBus, from: u64, count: u64, writers: usize) {
    let ctx = tests::system_context();
    futures::stream::iter(from..from + count)
        .map(|i| {
            let (bus, ctx) = (bus.clone(), ctx.clone());
            async move {
                bus.execute::<RuntimeEnvironment>(
                    &ctx,
                    &uuid::Uuid::new_v4().to_string(),
                    tests::drive::request_environment(&format!("env-{i}")),
                    Default::default(),
                )
                .await
                .expect("request an environment");
            }
        })
        .buffer_unordered(writers)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::main]
async fn main() {
    infra::telemetry::init_tracing(std::io::sink);
    let events = env_or("BENCH_EVENTS", 10_000);
    let rate = env_or("BENCH_RATE", 500);
    let seconds = env_or("BENCH_SECONDS", 10);
    let db = TestDb::with_connections(24).await;
    let fake = FakeServiceBus::start().await;
    let settings = ServiceBusSettings {
        namespace: "benchns".to_owned(),
        topic: "events".to_owned(),
        queue: None,
        authentication: Authentication::SharedAccessKey {
            policy: "RootManageSharedAccessKey".to_owned(),
            key: "c2VjcmV0LWtleQ==".to_owned(),
        },
        endpoint: Some(fake.url.clone()),
        receive_wait: Duration::from_secs(1),
    };

    // Baseline: bare POSTs of event-sized bodies to the same endpoint.
    let body = "x".repeat(700);
    let client = reqwest::Client::new();
    let started = Instant::now();
    futures::stream::iter(0..events)
        .map(|i| {
            let (client, url, body) = (client.clone(), format!("{}baseline/messages", fake.url), body.clone());
            async move {
                let response = client
                    .post(url)
                    .header("authorization", "SharedAccessSignature sr=x&sig=y&se=1&skn=z")
                    .header("brokerproperties", format!("{{\"MessageId\":\"b-{i}\",\"SessionId\":\"s-{i}\"}}"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("baseline POST");
                assert!(response.status().is_success());
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let baseline = events as f64 / started.elapsed().as_secs_f64();

    // Backlog.
    let bus = CommandBus::new(db.pool.clone());
    let written = Instant::now();
    write(&bus, 0, events, 8).await;
    let write_rate = events as f64 / written.elapsed().as_secs_f64();
    let mut platform = Platform::new(db.pool.clone());
    let publisher: Arc<dyn Publisher> =
        Arc::new(ServiceBusPublisher::new(&settings, settings.http_client().unwrap()).unwrap());
    platform.connect_integration(publisher, None, RelaySettings::default(), IntakeSettings::default());
    platform.switch_off_workers(&["supersession".into(), "drift-remediation".into(), "degraded-rollback".into()]).unwrap();
    platform.loops.clear();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    platform.start_reactors(shutdown).await.expect("start the relay");
    while (fake.accepted("events").len() as u64) < events {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let relayed = events as f64 / started.elapsed().as_secs_f64();

    // Steady: a fixed command rate with the relay following.
    let before = fake.accepted("events").len();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut sent = 0u64;
    let mut inflight = futures::stream::FuturesUnordered::new();
    while Instant::now() < until {
        tokio::select! {
            _ = tick.tick() => {
                let bus = platform.bus.clone();
                let i = events + sent;
                sent += 1;
                inflight.push(async move { write(&bus, i, 1, 1).await });
            }
            Some(()) = inflight.next(), if !inflight.is_empty() => {}
        }
    }
    while inflight.next().await.is_some() {}
    let expected = before + sent as usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    while fake.accepted("events").len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies: Vec<f64> = fake.accepted("events")[before..]
        .iter()
        .map(|m| {
            let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
            let committed: chrono::DateTime<chrono::Utc> = body["occurredAt"].as_str().unwrap().parse().unwrap();
            (m.accepted_at - committed).num_microseconds().unwrap() as f64 / 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let _ = stop.send(true);

    println!("relay benchmark ({events} events backlog; steady {rate} commands/s for {seconds} s)");
    println!("| figure | value | ratio |");
    println!("|---|---:|---:|");
    println!("| baseline: bare POSTs to the endpoint, 16 at a time | {baseline:.0} msg/s | 1.00 |");
    println!("| relay: backlog published | {relayed:.0} events/s | {:.2} |", relayed / baseline);
    println!("| (writing the backlog through the bus, 8 writers) | {write_rate:.0} events/s | |");
    println!(
        "| steady: commit-to-publish p50 / p99 / max ({} events) | {:.1} / {:.1} / {:.1} ms | |",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    assert_eq!(latencies.len(), sent as usize, "every steady-phase event was published");
}
