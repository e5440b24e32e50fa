//! The integration edge up to the wire: the real Service Bus SDK (`azure_messaging_servicebus`
//! 0.21) talking HTTP to a local endpoint that behaves like Service Bus and like the Entra ID
//! token endpoint (`tests::fake_servicebus`). Rules:
//! - every committed event is published to the topic with `MessageId` = event id, `SessionId` =
//!   aggregate id, `TraceId` and `TenantId` properties, a SAS (or Entra ID bearer) signature,
//!   and a body that satisfies `docs/integration-envelope.schema.json` and says what the log says;
//! - a command message is dispatched as the Control Plane in the message's trace, with the
//!   message id as idempotency key, and completed after it committed: a redelivery is one
//!   effect; `trace(traceId)` shows it, and the events it produced are published in that trace;
//! - a command that can never succeed is recorded (`rejectedCommands`), answered with a
//!   `CommandRejected` event and completed; one whose answer cannot be published is abandoned
//!   and handled again on its next delivery;
//! - an event the broker refuses (400) is parked and the relay moves on; `parkedEvents` lists it
//!   and `retryParkedEvent` publishes it once the cause is gone (only `PlatformAdmin` may); a
//!   failure that refuses every message alike (a missing topic, 404) parks nothing;
//! - peek-lock settles over the wire: renew, unlock (the delivery count grows), complete.
//!
//! `kill -9` of a relaying server mid-batch is in `relay_crash.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use integration::servicebus::http::RoutedHttpClient;
use integration::servicebus::{
    Authentication, ServiceBusCommandSource, ServiceBusPublisher, ServiceBusSettings,
};
use integration::{CommandSource, IntakeSettings, Publisher, RelaySettings, RetryPolicy, Settlement};
use serde_json::{json, Value};
use tests::fake_servicebus::FakeServiceBus;
use tests::{TestApp, TestDb};

const TOPIC: &str = "events";
const QUEUE: &str = "commands";

/// Settings pointing the SDK at `fake` with a shared access key.
pub fn sas_settings(fake: &FakeServiceBus) -> ServiceBusSettings {
    ServiceBusSettings {
        namespace: "testns".to_owned(),
        topic: TOPIC.to_owned(),
        queue: Some(QUEUE.to_owned()),
        authentication: Authentication::SharedAccessKey {
            policy: "RootManageSharedAccessKey".to_owned(),
            key: "c2VjcmV0LWtleQ==".to_owned(),
        },
        endpoint: Some(fake.url.clone()),
        receive_wait: Duration::from_secs(1),
    }
}

/// Relay settings with short retries (tests wait for them).
fn quick_relay() -> RelaySettings {
    RelaySettings {
        retry: RetryPolicy { retries: 1, min_delay: Duration::from_millis(5), max_delay: Duration::from_millis(20) },
        ..Default::default()
    }
}

fn quick_intake() -> IntakeSettings {
    IntakeSettings {
        receivers: 1,
        retry: RetryPolicy { retries: 1, min_delay: Duration::from_millis(5), max_delay: Duration::from_millis(20) },
        ..Default::default()
    }
}

/// The app with the relay (and, with `intake`, the command intake) on `fake`.
async fn connected(db: &TestDb, settings: &ServiceBusSettings, intake: bool) -> TestApp {
    let http = settings.http_client().unwrap();
    let publisher: Arc<dyn Publisher> = Arc::new(ServiceBusPublisher::new(settings, http.clone()).unwrap());
    let source = intake.then(|| {
        Arc::new(ServiceBusCommandSource::new(settings, QUEUE, http).unwrap()) as Arc<dyn CommandSource>
    });
    TestApp::start_with_integration(db.pool.clone(), publisher, source, quick_relay(), quick_intake()).await
}

/// Waits (at most `seconds`) until `done` holds.
async fn until(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event of the log: (event id, aggregate id, trace id, tenant id).
async fn logged(db: &TestDb) -> Vec<(String, String, String, Option<String>, i64)> {
    sqlx::query_as(
        "SELECT event_id::text, aggregate_id, metadata->>'trace_id', metadata->>'tenant_id', sequence FROM events \
          ORDER BY global_position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// Message ids accepted on the topic, each once.
fn accepted_ids(fake: &FakeServiceBus) -> BTreeSet<String> {
    fake.accepted(TOPIC).iter().map(|m| m.broker_properties["MessageId"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn every_event_is_published_with_its_envelope_over_the_wire() {
    let db = TestDb::new().await;
    let fake = FakeServiceBus::start().await;
    let app = connected(&db, &sas_settings(&fake), false).await;
    let world = tests::world::build(&app, &[]).await;
    let events = logged(&db).await;
    assert!(events.len() > 20, "the world wrote {} events", events.len());
    until("every event was accepted", 30, || accepted_ids(&fake).len() >= events.len()).await;

    let schema: Value = serde_json::from_str(integration::envelope::JSON_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the documented schema compiles");
    let accepted = fake.accepted(TOPIC);
    let by_id: BTreeMap<&str, _> =
        accepted.iter().map(|m| (m.broker_properties["MessageId"].as_str().unwrap(), m)).collect();
    let mut tenants_seen = BTreeSet::new();
    for (event_id, aggregate_id, trace_id, tenant_id, sequence) in &events {
        let message = by_id.get(event_id.as_str()).unwrap_or_else(|| panic!("event {event_id} was not published"));
        assert_eq!(message.broker_properties["SessionId"], json!(aggregate_id), "per-aggregate order");
        assert!(
            message.authorization.starts_with("SharedAccessSignature sr=https%3A%2F%2Ftestns.servicebus.windows.net%2Fevents%2Fmessages&sig=")
                && message.authorization.ends_with("&skn=RootManageSharedAccessKey"),
            "{}",
            message.authorization
        );
        assert_eq!(message.content_type.as_deref(), Some("application/json"));
        assert_eq!(message.custom_properties.get("traceid"), Some(trace_id));
        assert_eq!(message.custom_properties.get("tenantid"), tenant_id.as_ref());
        assert!(message.custom_properties["traceparent"].starts_with(&format!("00-{trace_id}-")));
        let body: Value = serde_json::from_str(&message.body).unwrap();
        if let Err(error) = validator.validate(&body) {
            panic!("{body} does not satisfy the schema: {error}");
        }
        assert_eq!(body["eventId"], json!(event_id));
        assert_eq!(body["traceId"], json!(trace_id));
        assert_eq!(body["tenantId"], json!(tenant_id));
        assert_eq!(body["sequence"], json!(sequence));
        assert_eq!(message.broker_properties["Label"], body["eventType"]);
        if let Some(t) = tenant_id {
            tenants_seen.insert(t.clone());
        }
    }
    let expected: BTreeSet<String> = world.tenants.keys().cloned().collect();
    assert_eq!(tenants_seen, expected, "each tenant's events carry its own tenant");
    // Nothing was sent that the log does not hold.
    assert_eq!(accepted_ids(&fake).len(), events.len());
}

#[tokio::test]
async fn entra_id_replaces_the_shared_access_signature_with_a_bearer_token() {
    let db = TestDb::new().await;
    let fake = FakeServiceBus::start().await;
    let transport = RoutedHttpClient::reqwest_transport().unwrap();
    let credential = azure_identity::WorkloadIdentityCredential::new(
        transport,
        fake.url.clone(),
        "tenant-1".to_owned(),
        "client-1".to_owned(),
        "federated-token",
    );
    let settings = ServiceBusSettings {
        authentication: Authentication::EntraId(Arc::new(credential)),
        ..sas_settings(&fake)
    };
    let app = connected(&db, &settings, false).await;
    for name in ["a", "b", "c"] {
        let (_, r) = app
            .post(json!({ "query": tests::REQUEST_ENVIRONMENT, "variables": { "input": tests::environment_input("shop", name, "DEV") } }), &[])
            .await;
        assert!(r["errors"].is_null(), "{r}");
    }
    until("three events were accepted", 20, || accepted_ids(&fake).len() >= 3).await;
    for message in fake.accepted(TOPIC) {
        assert_eq!(message.authorization, "Bearer fake-token-1");
    }
    assert_eq!(fake.tokens_issued(), 1, "the token is cached across messages");
    let form = fake.last_token_request().unwrap();
    assert_eq!(form.get("scope").map(String::as_str), Some("https://servicebus.azure.net/.default"));
    assert_eq!(form.get("client_assertion").map(String::as_str), Some("federated-token"));
}

/// A command message asking for an environment, in the trace `trace`.
fn environment_message(name: &str) -> String {
    json!({
        "aggregateType": "RuntimeEnvironment",
        "command": serde_json::to_value(tests::drive::request_environment(name)).unwrap(),
        "correlationId": "release-42",
    })
    .to_string()
}

#[tokio::test]
async fn a_queued_command_runs_once_in_its_trace_and_its_events_are_published_in_it() {
    let db = TestDb::new().await;
    let fake = FakeServiceBus::start().await;
    let app = connected(&db, &sas_settings(&fake), true).await;
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("00-{trace}-b7ad6b7169203331-01");
    let body = environment_message("from-queue");
    fake.enqueue(QUEUE, "cp-msg-1", &body, &[("traceparent", &traceparent)]);
    until("the message was completed", 20, || fake.completed(QUEUE) == ["cp-msg-1"]).await;
    // The same message again (the broker redelivers after a lost completion): one effect.
    fake.enqueue(QUEUE, "cp-msg-1", &body, &[("traceparent", &traceparent)]);
    until("the repeat was completed", 20, || fake.completed(QUEUE).len() == 2).await;
    assert_eq!(fake.queue_len(QUEUE), 0);

    let rows: Vec<(String, String, Value)> =
        sqlx::query_as("SELECT aggregate_id, event_type, metadata FROM events ORDER BY global_position")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1, "one effect: {rows:?}");
    let (aggregate_id, event_type, metadata) = &rows[0];
    assert_eq!(event_type, "EnvironmentRequested");
    assert_eq!(metadata["trace_id"], json!(trace));
    assert_eq!(metadata["actor"], json!("control-plane:service-bus"));
    assert_eq!(metadata["actor_role"], json!("ControlPlane"));
    assert_eq!(metadata["correlation_id"], json!("release-42"));
    assert_eq!(metadata["causation_id"], json!("message:cp-msg-1"));

    // The trace of the message shows the command and its event.
    app.settle().await;
    let (_, r) = app
        .post(json!({ "query": "query($t: String!) { trace(traceId: $t) { nodes { aggregateId eventType actor } } }",
                      "variables": { "t": trace } }), &[])
        .await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["trace"]["nodes"][0]["aggregateId"], json!(aggregate_id), "{r}");
    // The event went out in the same trace.
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while fake.accepted(TOPIC).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "not published: requests {:?}; accepted {:?}",
        fake.requests().iter().map(|r| (&r.method, &r.path)).collect::<Vec<_>>(),
        fake.accepted(TOPIC).iter().map(|m| &m.body).collect::<Vec<_>>()
    );
    let accepted = fake.accepted(TOPIC);
    assert_eq!(accepted.len(), 1, "one event, nothing else: {:?}", accepted.iter().map(|m| &m.body).collect::<Vec<_>>());
    let published = &accepted[0];
    assert_eq!(published.custom_properties["traceid"], trace);
    let body: Value = serde_json::from_str(&published.body).unwrap();
    assert_eq!(body["traceId"], json!(trace));
    assert_eq!(body["aggregateId"], json!(aggregate_id));

    // Another command under the same message id is not a redelivery: refused, not run.
    fake.enqueue(QUEUE, "cp-msg-1", &environment_message("another"), &[("traceparent", &traceparent)]);
    until("the reuse was completed", 20, || fake.completed(QUEUE).len() == 3).await;
    let code: String = sqlx::query_scalar("SELECT code FROM rejected_commands WHERE message_id = 'cp-msg-1'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(code, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events").fetch_one(&db.pool).await.unwrap(), 1);
}

#[tokio::test]
async fn commands_that_can_never_succeed_are_recorded_answered_and_completed() {
    let db = TestDb::new().await;
    let fake = FakeServiceBus::start().await;
    let app = connected(&db, &sas_settings(&fake), true).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases = [
        ("bad-json", "{not json".to_owned(), "INVALID_INPUT"),
        ("bad-type", json!({ "aggregateType": "Spaceship", "command": {} }).to_string(), "INVALID_INPUT"),
        (
            "bad-command",
            json!({ "aggregateType": "RuntimeEnvironment", "command": { "Explode": {} } }).to_string(),
            "INVALID_INPUT",
        ),
        (
            // Observations are the workers' to record, not the Control Plane's.
            "forbidden",
            json!({ "aggregateType": "RuntimeEnvironment", "aggregateId": unknown,
                    "command": { "MarkRecovered": { "at": "2026-12-01T00:00:00Z" } } })
            .to_string(),
            "FORBIDDEN",
        ),
        (
            "unknown-target",
            json!({ "aggregateType": "RuntimeEnvironment", "aggregateId": unknown,
                    "command": { "Decommission": { "reason": "gone", "at": "2026-12-01T00:00:00Z" } } })
            .to_string(),
            "NOT_FOUND",
        ),
    ];
    for (id, body, _) in &cases {
        fake.enqueue(QUEUE, id, body, &[]);
    }
    until("every message was completed", 30, || fake.completed(QUEUE).len() == cases.len()).await;
    assert_eq!(fake.queue_len(QUEUE), 0);
    assert_eq!(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events").fetch_one(&db.pool).await.unwrap(), 0);

    let (_, r) = app
        .post(json!({ "query": "{ rejectedCommands(first: 10) { nodes { messageId code reason command traceId deliveryCount } pageInfo { hasNextPage } } }" }), &[])
        .await;
    assert!(r["errors"].is_null(), "{r}");
    let nodes = r["data"]["rejectedCommands"]["nodes"].as_array().unwrap();
    let codes: BTreeMap<&str, &str> =
        nodes.iter().map(|n| (n["messageId"].as_str().unwrap(), n["code"].as_str().unwrap())).collect();
    for (id, _, code) in &cases {
        assert_eq!(codes.get(id), Some(code), "{r}");
    }
    // Each refusal was answered on the topic.
    until("every rejection was published", 20, || fake.accepted(TOPIC).len() == cases.len()).await;
    for message in fake.accepted(TOPIC) {
        let body: Value = serde_json::from_str(&message.body).unwrap();
        assert_eq!(body["eventType"], "CommandRejected");
        let id = body["payload"]["messageId"].as_str().unwrap();
        assert_eq!(message.broker_properties["MessageId"], json!(format!("rejected:{id}")));
        assert_eq!(body["payload"]["code"], json!(codes[id]));
    }
    // A tenant operator may not read them; a governance auditor may.
    let (_, r) = app
        .post(json!({ "query": "{ rejectedCommands { nodes { messageId } } }" }), &[("x-roles", "TenantOperator"), ("x-tenant-id", "contoso")])
        .await;
    assert_eq!(tests::error_code(&r), Some("FORBIDDEN"), "{r}");
    let (_, r) = app.post(json!({ "query": "{ rejectedCommands { nodes { messageId } } }" }), &[("x-roles", "GovernanceAuditor")]).await;
    assert!(r["errors"].is_null(), "{r}");
}

#[tokio::test]
async fn a_refusal_that_cannot_be_answered_is_abandoned_and_handled_on_redelivery() {
    let db = TestDb::new().await;
    let fake = FakeServiceBus::start().await;
    let app = connected(&db, &sas_settings(&fake), false).await;
    let settings = sas_settings(&fake);
    let source = ServiceBusCommandSource::new(&settings, QUEUE, settings.http_client().unwrap()).unwrap();
    let publisher: Arc<dyn Publisher> =
        Arc::new(ServiceBusPublisher::new(&settings, settings.http_client().unwrap()).unwrap());
    let intake = integration::CommandIntake::new(
        Arc::new(source.clone()),
        publisher,
        app.bus().clone(),
        db.pool.clone(),
        quick_intake(),
    );
    fake.enqueue(QUEUE, "broken", "{", &[]);
    // The broker is failing: the answer cannot go out, so the message is left for later.
    fake.fail_next_sends(100, 503);
    let delivery = source.receive().await.unwrap().expect("a message");
    assert_eq!(delivery.delivery_count(), 1);
    assert!(matches!(intake.handle(delivery.as_ref()).await, Settlement::Abandoned { .. }));
    assert_eq!(fake.unlocks(QUEUE), 1);
    assert_eq!(fake.queue_len(QUEUE), 1);
    // The broker is back: the next delivery is refused for good and completed.
    fake.fail_next_sends(0, 503);
    let delivery = source.receive().await.unwrap().expect("the message again");
    assert_eq!(delivery.delivery_count(), 2);
    assert_eq!(intake.handle(delivery.as_ref()).await, Settlement::Rejected { code: "INVALID_INPUT".to_owned() });
    assert_eq!(fake.completed(QUEUE), ["broken"]);
    let recorded: i32 = sqlx::query_scalar("SELECT delivery_count FROM rejected_commands WHERE message_id = 'broken'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 2);
}

#[tokio::test]
async fn peek_lock_renews_unlocks_and_completes_over_the_wire() {
    let fake = FakeServiceBus::start().await;
    let settings = sas_settings(&fake);
    let source = ServiceBusCommandSource::new(&settings, QUEUE, settings.http_client().unwrap()).unwrap();
    assert!(source.receive().await.unwrap().is_none(), "an empty queue answers 204: no message");
    fake.enqueue(QUEUE, "m-1", "{\"x\":1}", &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]);
    let delivery = source.receive().await.unwrap().expect("a message");
    assert_eq!((delivery.message_id(), delivery.body(), delivery.delivery_count()), ("m-1", "{\"x\":1}", 1));
    assert_eq!(delivery.property("TraceParent"), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_eq!(delivery.property("brokerproperties"), None, "broker headers are not application properties");
    assert!(source.receive().await.unwrap().is_none(), "a locked message is nobody else's");
    delivery.renew().await.unwrap();
    assert_eq!(fake.renews(QUEUE), 1);
    delivery.abandon().await.unwrap();
    let again = source.receive().await.unwrap().expect("the abandoned message");
    assert_eq!(again.delivery_count(), 2);
    assert!(delivery.complete().await.is_err(), "the first lock is gone");
    again.complete().await.unwrap();
    assert_eq!(fake.completed(QUEUE), ["m-1"]);
    assert_eq!(fake.queue_len(QUEUE), 0);
    let requests = fake.requests();
    let settle: Vec<(&str, &str)> = requests
        .iter()
        .filter(|r| r.path.starts_with("/commands/messages/") && !r.path.contains("/head"))
        .map(|r| (r.method.as_str(), r.path.rsplit_once('/').unwrap().0))
        .collect();
    assert_eq!(settle.iter().map(|(m, _)| *m).collect::<Vec<_>>(), ["POST", "PUT", "DELETE", "DELETE"], "{settle:?}");
    for r in requests.iter().filter(|r| r.path.starts_with("/commands/")) {
        assert!(r.headers["authorization"].starts_with("SharedAccessSignature sr="), "{:?}", r.headers);
    }
}

#[tokio::test]
async fn a_refused_event_is_parked_passed_and_published_again_on_request() {
    let db = TestDb::new().await;
    let fake = FakeServiceBus::start().await;
    let app = connected(&db, &sas_settings(&fake), false).await;
    let (_, r) = app
        .post(json!({ "query": tests::REQUEST_ENVIRONMENT, "variables": { "input": tests::environment_input("shop", "one", "DEV") } }), &[])
        .await;
    assert!(r["errors"].is_null(), "{r}");
    until("the first event was accepted", 20, || accepted_ids(&fake).len() == 1).await;
    // Refuse the next event's id: known only after the command, so hold the relay back by
    // failing every send until the id is known, as a topic that does not exist (yet) would:
    // that refuses every message alike, so nothing may be parked for it.
    fake.fail_next_sends(1_000_000, 404);
    let (_, second) = app
        .post(json!({ "query": tests::REQUEST_ENVIRONMENT, "variables": { "input": tests::environment_input("shop", "two", "DEV") } }), &[])
        .await;
    let parked_id = second["data"]["requestEnvironment"]["events"][0]["eventId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.send_attempts(TOPIC).len() >= 2, "the relay kept trying through the 404s");
    fake.reject_message_ids(&[&parked_id]);
    fake.fail_next_sends(0, 503);
    let (_, third) = app
        .post(json!({ "query": tests::REQUEST_ENVIRONMENT, "variables": { "input": tests::environment_input("shop", "three", "DEV") } }), &[])
        .await;
    let after_id = third["data"]["requestEnvironment"]["events"][0]["eventId"].as_str().unwrap().to_owned();
    until("the event after the refused one was accepted", 20, || accepted_ids(&fake).contains(&after_id)).await;
    assert!(!accepted_ids(&fake).contains(&parked_id));

    let list = json!({ "query": "{ parkedEvents { nodes { messageId status attempts error eventType } } }" });
    // The round parks after its sends returned: the next event may be out a moment before.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let r = loop {
        let (_, r) = app.post(list.clone(), &[]).await;
        if r["data"]["parkedEvents"]["nodes"].as_array().is_some_and(|n| !n.is_empty())
            || tokio::time::Instant::now() > deadline
        {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let nodes = r["data"]["parkedEvents"]["nodes"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(nodes.len(), 1, "{r}");
    assert_eq!(nodes[0]["messageId"], json!(parked_id));
    assert_eq!(nodes[0]["status"], "PARKED");
    assert!(nodes[0]["error"].as_str().unwrap().contains("400"), "{r}");

    let retry = json!({ "query": "mutation($id: String!) { retryParkedEvent(messageId: $id) { status attempts republishedAt } }",
                        "variables": { "id": parked_id } });
    // Only a platform admin republishes.
    let (_, r) = app.post(retry.clone(), &[("x-roles", "ControlPlane")]).await;
    assert_eq!(tests::error_code(&r), Some("FORBIDDEN"), "{r}");
    // Still refused: stays parked, one more attempt.
    let (_, r) = app.post(retry.clone(), &[]).await;
    assert_eq!(r["data"]["retryParkedEvent"]["status"], "PARKED", "{r}");
    assert_eq!(r["data"]["retryParkedEvent"]["attempts"], 2, "{r}");
    // The cause is gone: published.
    fake.clear_rejections();
    let (_, r) = app.post(retry, &[]).await;
    assert_eq!(r["data"]["retryParkedEvent"]["status"], "REPUBLISHED", "{r}");
    assert!(accepted_ids(&fake).contains(&parked_id));
    let (_, r) = app.post(list, &[]).await;
    assert_eq!(r["data"]["parkedEvents"]["nodes"], json!([]), "only waiting ones by default: {r}");
    // An unknown id is NOT_FOUND.
    let (_, r) = app
        .post(json!({ "query": "mutation { retryParkedEvent(messageId: \"nope\") { status } }" }), &[])
        .await;
    assert_eq!(tests::error_code(&r), Some("NOT_FOUND"), "{r}");
}
