//! The relay and the command intake in the release server, configured as operators configure
//! them (`APP_SERVICEBUS_*`), against the local Service Bus endpoint. Rules:
//! - `kill -9` of the server while the relay is mid-batch loses nothing: after a restart every
//!   committed event was accepted at least once, and every repeat carries the same `MessageId`
//!   (the event id), so the broker's duplicate detection drops it;
//! - a command put on the queue runs in the message's trace: `trace(traceId)` over HTTP shows
//!   it, the event it produced is published in that trace, and the command's span reaches the
//!   OTLP collector in that trace.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::fake_servicebus::FakeServiceBus;
use tests::server::{build_release_binary, Server};
use tests::TestDb;

const TOPIC: &str = "runtime-platform-events";
const QUEUE: &str = "runtime-platform-commands";
const EVENTS: usize = 300;

fn env(fake: &FakeServiceBus) -> Vec<(&'static str, String)> {
    vec![
        ("APP_SERVICEBUS_NAMESPACE", "testns".to_owned()),
        ("APP_SERVICEBUS_ENDPOINT", fake.url.to_string()),
        ("APP_SERVICEBUS_SAS_POLICY", "RootManageSharedAccessKey".to_owned()),
        ("APP_SERVICEBUS_SAS_KEY", "c2VjcmV0LWtleQ==".to_owned()),
        ("APP_SERVICEBUS_RECEIVE_WAIT_SECONDS", "1".to_owned()),
        // The killed server's lease passes to the restarted one within this.
        ("APP_WORKER_LEASE_SECONDS", "2".to_owned()),
    ]
}

fn start(binary: &std::path::PathBuf, db: &TestDb, fake: &FakeServiceBus) -> Server {
    let env = env(fake);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(binary, &db.url, &pairs)
}

fn accepted_ids(fake: &FakeServiceBus) -> BTreeSet<String> {
    fake.accepted(TOPIC).iter().map(|m| m.broker_properties["MessageId"].as_str().unwrap().to_owned()).collect()
}

async fn wait_for(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_relay_killed_mid_batch_delivers_every_event_after_a_restart() {
    let binary = build_release_binary();
    let db = TestDb::new().await;
    let fake = FakeServiceBus::start().await;
    // The log before the relay ever runs: one event per aggregate, so the batch is published
    // concurrently and the kill falls in its middle.
    let bus = commands::CommandBus::new(db.pool.clone());
    let ctx = tests::system_context();
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(25) {
        futures::future::join_all(chunk.iter().map(|i| {
            let (bus, ctx) = (&bus, &ctx);
            async move {
                bus.execute::<domain::environments::RuntimeEnvironment>(
                    ctx,
                    &uuid::Uuid::new_v4().to_string(),
                    tests::drive::request_environment(&format!("env-{i}")),
                    Default::default(),
                )
                .await
            }
        }))
        .await
        .into_iter()
        .for_each(|r| {
            r.expect("request an environment");
        });
    }
    let logged: BTreeSet<String> = sqlx::query_scalar("SELECT event_id::text FROM events")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(logged.len(), EVENTS);

    // Slow enough that the batch takes a while: 300 sends, 16 at a time, 20 ms each.
    fake.set_send_delay(Duration::from_millis(20));
    let mut server = start(&binary, &db, &fake);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    wait_for("the relay is mid-batch", 60, || fake.send_attempts(TOPIC).len() >= 40).await;
    server.kill();
    let before_kill = accepted_ids(&fake);
    assert!(
        !before_kill.is_empty() && before_kill.len() < EVENTS,
        "killed mid-batch: {} of {EVENTS} accepted",
        before_kill.len()
    );

    fake.set_send_delay(Duration::ZERO);
    let (collector, otlp) = crate::telemetry::Collector::start().await;
    let mut env = env(&fake);
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("RUST_LOG", "warn,commands=info,integration=info".to_owned()),
    ]);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start_with(&binary, &db.url, &pairs);
    server.wait_ready(&client).await;
    wait_for("every event was accepted", 60, || accepted_ids(&fake).len() >= EVENTS).await;
    assert_eq!(accepted_ids(&fake), logged, "exactly the log, each at least once");
    let attempts = fake.send_attempts(TOPIC);
    assert!(attempts.iter().all(|id| logged.contains(id)), "every attempt is an event's own MessageId");
    assert!(
        fake.duplicates_dropped(TOPIC) >= before_kill.len(),
        "what was accepted before the kill was sent again after it ({} repeats, {} accepted before)",
        fake.duplicates_dropped(TOPIC),
        before_kill.len()
    );

    // A command from the queue, in its trace, through the restarted server.
    let trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let body = json!({
        "aggregateType": "RuntimeEnvironment",
        "command": serde_json::to_value(tests::drive::request_environment("queued")).unwrap(),
    });
    fake.enqueue(QUEUE, "cp-1", &body.to_string(), &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))]);
    wait_for("the command message was completed", 30, || fake.completed(QUEUE) == ["cp-1"]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let traced = loop {
        let response: Value = client
            .post(&server.graphql)
            .json(&json!({ "query": "query($t: String!) { trace(traceId: $t) { nodes { eventId eventType actor } } }",
                           "variables": { "t": trace } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let nodes = response["data"]["trace"]["nodes"].as_array().cloned().unwrap_or_default();
        if !nodes.is_empty() || Instant::now() > deadline {
            break nodes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(traced.len(), 1, "{traced:?}");
    assert_eq!(traced[0]["actor"], "control-plane:service-bus");
    let event_id = traced[0]["eventId"].as_str().unwrap().to_owned();
    wait_for("the queued command's event was published", 30, || accepted_ids(&fake).contains(&event_id)).await;
    let published = fake.accepted(TOPIC).into_iter().find(|m| m.broker_properties["MessageId"] == json!(event_id)).unwrap();
    assert_eq!(published.custom_properties["traceid"], trace);
    // ... and its span left over OTLP in the same trace.
    let spans = collector.command_trace(trace).await;
    assert!(!spans.is_empty(), "command_trace returns once the command span arrived");
    // The intake's handling and the relay's publication are in the same trace.
    wait_for("the intake's and the relay's spans arrived", 15, || {
        let names: BTreeSet<String> = collector
            .spans()
            .into_iter()
            .filter(|r| r.span.trace_id.iter().map(|b| format!("{b:02x}")).collect::<String>() == trace)
            .map(|r| r.span.name)
            .collect();
        names.contains("command_message") && names.contains("publish")
    })
    .await;
    server.kill();
}
