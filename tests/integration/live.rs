//! Live subscriptions, by rule:
//! - two replicas (two platforms, two pools, one database) each serve websocket subscribers; a
//!   write through one reaches the subscribers of both (the other replica is woken by NOTIFY,
//!   whose payload is a log cursor, never the event);
//! - a subscriber that reconnects with the last cursor it saw gets exactly what it missed,
//!   then what comes next, none twice;
//! - a stalled subscriber does not hold the others back and is ended with `SUBSCRIBER_LAGGED`
//!   and the cursor to resume from, which then resumes with nothing lost;
//! - subscriptions by environment or service match events whose aggregate only named them
//!   when it was created (deployment steps), and never another tenant's events;
//! - the feed's reads of the log do not grow with the number of subscribers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ::commands::LogPosition;
use futures::StreamExt;
use projections::live::{LiveFeed, CHANNEL};
use serde_json::{json, Value};
use sqlx::postgres::PgListener;
use tests::drive::{deploy, ready_environment, registered_service, start_deployment, succeed};
use tests::ws_client::{self, send, serve, Socket};
use tests::{environment_input, TestApp, TestDb, REQUEST_ENVIRONMENT};
use tokio_tungstenite::tungstenite::Message;

/// A graphql-transport-ws client, acknowledged, with one subscription `query` as id "1".
async fn subscribe(addr: std::net::SocketAddr, query: &str, variables: Value) -> Socket {
    let mut socket = ws_client::connect_transport_ws(addr, "/graphql").await;
    // One actor per client: the server limits connections per caller.
    static CLIENTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let actor = format!("user:live-{}", CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    send(&mut socket, json!({ "type": "connection_init", "payload": { "x-actor": actor } })).await;
    let ack = next_message(&mut socket, Duration::from_secs(10)).await.expect("connection_ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let payload = json!({ "query": query, "variables": variables });
    send(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": payload })).await;
    socket
}

/// The next JSON message within `within`; `None` when nothing came.
async fn next_message(socket: &mut Socket, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return None,
            Ok(None) => panic!("socket closed"),
            Ok(Some(Err(e))) => panic!("websocket error: {e}"),
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(text.as_str()).unwrap()),
            Ok(Some(Ok(Message::Close(frame)))) => panic!("closed: {frame:?}"),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The next `n` events delivered on subscription "1": (aggregate id, cursor).
async fn events(socket: &mut Socket, field: &str, n: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let message = next_message(socket, Duration::from_secs(15)).await.unwrap_or_else(|| panic!("only {got:?}"));
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        let event = &message["payload"]["data"][field];
        got.push((event["aggregateId"].as_str().unwrap().to_owned(), event["position"].as_str().unwrap().to_owned()));
    }
    got
}

async fn create(app: &TestApp, name: &str) -> String {
    let created = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", name, "DEV") })).await;
    assert!(created["errors"].is_null(), "{created}");
    created["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned()
}

const EVENTS: &str = "subscription($after: String) { events(aggregateType: \"RuntimeEnvironment\", after: $after) { aggregateId position } }";

#[tokio::test]
async fn both_replicas_deliver_a_write_and_a_reconnect_with_a_cursor_misses_nothing() {
    let db = TestDb::new().await;
    let a = TestApp::start(db.pool.clone()).await;
    let b = TestApp::start(infra::database::connect(&db.url, 8).await.unwrap()).await;
    let (addr_a, addr_b) = (serve(a.router.clone()).await, serve(b.router.clone()).await);
    let mut listener = PgListener::connect(&db.url).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();

    let mut on_a = subscribe(addr_a, EVENTS, json!({})).await;
    let mut on_b = subscribe(addr_b, EVENTS, json!({})).await;
    a.wait_subscribers(1).await;
    b.wait_subscribers(1).await;
    let mut written = Vec::new();
    for i in 0..3 {
        written.push(create(&a, &format!("live-{i}")).await);
    }
    let got_a = events(&mut on_a, "events", 3).await;
    let got_b = events(&mut on_b, "events", 3).await;
    assert_eq!(got_a.iter().map(|e| &e.0).collect::<Vec<_>>(), written.iter().collect::<Vec<_>>());
    assert_eq!(got_a, got_b, "both replicas deliver the same events with the same cursors");
    // Replica A told the others by NOTIFY, with a cursor as the payload.
    let note = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await.unwrap().unwrap();
    assert!(LogPosition::from_cursor(note.payload()).is_some(), "payload {:?} is a cursor", note.payload());

    // B's client goes away after the first event; three more are written meanwhile.
    let resume = got_b[0].1.clone();
    drop(on_b);
    for i in 3..6 {
        written.push(create(&a, &format!("live-{i}")).await);
    }
    // Reconnecting with the last cursor it saw: exactly the five it missed, in order.
    let mut again = subscribe(addr_b, EVENTS, json!({ "after": resume })).await;
    let missed = events(&mut again, "events", 5).await;
    assert_eq!(missed.iter().map(|e| &e.0).collect::<Vec<_>>(), written[1..].iter().collect::<Vec<_>>());
    // Then live, none twice.
    written.push(create(&b, "live-6").await);
    let live = events(&mut again, "events", 1).await;
    assert_eq!(live[0].0, written[6]);
    assert!(next_message(&mut again, Duration::from_millis(500)).await.is_none(), "nothing is delivered twice");
    let cursors: BTreeSet<_> = missed.iter().chain(&live).map(|e| e.1.clone()).collect();
    assert_eq!(cursors.len(), 6);
}

#[tokio::test]
async fn a_stalled_subscriber_holds_no_one_back_and_ends_with_its_resume_cursor() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    // A feed with room for 8 events per subscriber, so that stalling is quick to reach.
    let feed = LiveFeed::with_buffer(db.pool.clone(), app.bus().routes(), 8);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(feed.clone().run(app.bus().subscribe_commits(), shutdown));
    let schema = graphql::schema(graphql::ApiState {
        bus: app.bus().clone(),
        pool: db.pool.clone(),
        runners: Arc::new(app.platform.runners.clone()),
        feed: feed.clone(),
        reactors: Default::default(),
        loops: Default::default(),
        intake: app.platform.intake.clone(),
        publisher: None,
    });
    let request = || {
        async_graphql::Request::new(
            "subscription($after: String) { events(aggregateType: \"RuntimeEnvironment\", after: $after) { aggregateId position } }",
        )
        .data(tests::system_context())
    };
    let mut stalled = schema.execute_stream(request());
    let mut prompt = schema.execute_stream(request());
    // Both joined once the feed counts them (a stream joins while it is polled: polled until
    // then, however busy the runtime is with the loops' first rounds).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while feed.subscribers() < 2 {
        assert!(tokio::time::timeout(Duration::from_millis(20), stalled.next()).await.is_err(), "nothing written yet");
        assert!(tokio::time::timeout(Duration::from_millis(20), prompt.next()).await.is_err(), "nothing written yet");
        assert!(tokio::time::Instant::now() < deadline, "{} of 2 subscribers joined", feed.subscribers());
    }
    assert_eq!(feed.subscribers(), 2);

    // 20 events: the prompt subscriber reads each as it comes; the stalled one reads nothing.
    let mut written = Vec::new();
    for i in 0..20 {
        written.push(create(&app, &format!("stall-{i}")).await);
        let item = tokio::time::timeout(Duration::from_secs(10), prompt.next()).await.unwrap().unwrap();
        assert!(item.errors.is_empty(), "{:?}", item.errors);
        assert_eq!(item.data.into_json().unwrap()["events"]["aggregateId"], written[i].as_str());
    }
    assert_eq!(feed.subscribers(), 1, "the stalled subscriber was dropped from the feed");

    // The stalled one drains what was queued for it, then ends with where to resume.
    let mut delivered = Vec::new();
    let resume = loop {
        let item = tokio::time::timeout(Duration::from_secs(10), stalled.next()).await.unwrap().expect("an ending");
        if let Some(error) = item.errors.first() {
            let extensions = error.extensions.as_ref().expect("extensions");
            assert_eq!(extensions.get("code"), Some(&async_graphql::Value::from("SUBSCRIBER_LAGGED")));
            let Some(async_graphql::Value::String(cursor)) = extensions.get("resumeAfter") else {
                panic!("no resumeAfter: {error:?}")
            };
            break cursor.clone();
        }
        delivered.push(item.data.into_json().unwrap()["events"]["aggregateId"].as_str().unwrap().to_owned());
    };
    assert!(stalled.next().await.is_none(), "the stream ends after the error");
    assert_eq!(delivered, written[..delivered.len()].to_vec(), "what it got is a prefix of the log");
    // Resuming from the cursor delivers the rest, nothing lost and nothing twice.
    let mut resumed =
        schema.execute_stream(request().variables(async_graphql::Variables::from_json(json!({ "after": resume }))));
    for expected in &written[delivered.len()..] {
        let item = tokio::time::timeout(Duration::from_secs(10), resumed.next()).await.unwrap().unwrap();
        assert!(item.errors.is_empty(), "{:?}", item.errors);
        assert_eq!(item.data.into_json().unwrap()["events"]["aggregateId"], expected.as_str());
    }
}

#[tokio::test]
async fn deployment_progress_by_environment_follows_every_step_and_the_feed_reads_once_for_all() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let addr = serve(app.router.clone()).await;
    let bus = app.bus();
    let environment = ready_environment(bus, "dev-live").await;
    let elsewhere = ready_environment(bus, "dev-other").await;
    let service = registered_service(bus, "api", domain::environments::ComputeTargetKind::Aks).await;
    let query = "subscription($e: ID!) { deploymentProgress(environmentId: $e) { aggregateId eventType position } }";
    let mut watcher = subscribe(addr, query, json!({ "e": environment.to_string() })).await;
    // Many idle subscribers to another environment.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(subscribe(addr, query, json!({ "e": elsewhere.to_string() })).await);
    }
    app.wait_subscribers(51).await;
    let reads_before = app.platform.feed.reads();
    let deployment = deploy(bus, start_deployment(service, environment, None, "1.0.0")).await.unwrap();
    succeed(bus, deployment).await;
    // Started, rollout begun, step, verification, gate, succeeded: every event, though only
    // the first names the environment.
    let mut types = Vec::new();
    while types.last().map(String::as_str) != Some("DeploymentSucceeded") {
        let message = next_message(&mut watcher, Duration::from_secs(15)).await.expect("deployment progress");
        let event = &message["payload"]["data"]["deploymentProgress"];
        assert_eq!(event["aggregateId"], deployment.to_string().as_str(), "{message}");
        types.push(event["eventType"].as_str().unwrap().to_owned());
    }
    assert_eq!(types.first().map(String::as_str), Some("DeploymentStarted"));
    assert!(types.len() >= 5, "{types:?}");
    for socket in &mut idle {
        assert!(next_message(socket, Duration::from_millis(20)).await.is_none(), "another environment's watcher");
    }
    // The reads the feed made for those commits do not depend on the 51 subscribers: a read
    // per wake, a handful of wakes for a handful of commits.
    let reads = app.platform.feed.reads() - reads_before;
    eprintln!("feed reads for {} deployment commits and 51 subscribers: {reads}", types.len() - 1);
    assert!(reads <= 4 * types.len() as u64 + 8, "{reads} reads");
}

#[tokio::test]
async fn another_tenants_events_never_reach_a_tenant_scoped_subscriber() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let world = tests::world::build(&app, &[]).await;
    let contoso: BTreeSet<String> = world.tenants["contoso"].aggregates.values().cloned().collect();
    let fabrikam = ::commands::RequestContext {
        actor: domain::envelope::Actor::parse("user:fabrikam-operator").unwrap(),
        roles: BTreeSet::from([::commands::Role::TenantOperator]),
        tenant_scope: ::commands::TenantScope::Only(BTreeSet::from([
            domain::envelope::TenantId::parse("fabrikam").unwrap()
        ])),
        tenant: Some(domain::envelope::TenantId::parse("fabrikam").unwrap()),
        trace_id: domain::envelope::TraceId::from_uuid(uuid::Uuid::new_v4()),
    };
    let schema = graphql::schema(graphql::ApiState {
        bus: app.bus().clone(),
        pool: db.pool.clone(),
        runners: Arc::new(app.platform.runners.clone()),
        feed: app.platform.feed.clone(),
        reactors: Default::default(),
        loops: Default::default(),
        intake: app.platform.intake.clone(),
        publisher: None,
    });
    // Replaying the whole log as fabrikam: none of contoso's aggregates.
    let request =
        async_graphql::Request::new("subscription($after: String) { events(after: $after) { aggregateId tenantId } }")
            .variables(async_graphql::Variables::from_json(json!({ "after": LogPosition::START.to_cursor() })))
            .data(fabrikam);
    let mut stream = schema.execute_stream(request);
    let mut seen = 0;
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        assert!(item.errors.is_empty(), "{:?}", item.errors);
        let event = item.data.into_json().unwrap()["events"].clone();
        assert_ne!(event["tenantId"], "contoso", "{event}");
        assert!(!contoso.contains(event["aggregateId"].as_str().unwrap()), "{event}");
        seen += 1;
    }
    assert!(seen > 0, "fabrikam sees its own and platform-wide events");
}
