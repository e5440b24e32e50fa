//! graphql-transport-ws as PROTOCOL.md says (and `graphql::http::ws` documents), over a real
//! socket and a real client: one test per close code (4400 for an invalid or oversized
//! message, 4401, 4403, 4408, 4409, 4429, 1013, 1001 on shutdown and on a pong timeout),
//! pings both ways, results (`next` + `complete`, `error` for a document refused before it
//! runs), the client's `complete`, the per-connection operation limit, and the legacy
//! `graphql-ws` subprotocol.
//!
//! Layout: a server on a loopback port with its own [`WsConfig`] (short timeouts), a client
//! (`open`, `send`, `receive`, `init`), then one test per rule. Every wait is bounded.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use commands::Role;
use graphql::executor::Limits;
use graphql::http::WsConfig;
use graphql::request_context::Authentication;
use graphql::ApiConfig;
use serde_json::{json, Value};
use tests::ws_client::{self, receive, send, send_text, Received, Socket};
use tests::{environment_input, TestApp, TestDb, REQUEST_ENVIRONMENT};
use tokio::time::Instant;

/// A live subscription that stays silent until an event commits.
const LIVE: &str = "subscription { events { eventType aggregateId } }";
/// Longest any single expected message may take.
const WITHIN: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(500);

/// The app served on a loopback port; the server ends with the test.
struct Server {
    app: TestApp,
    addr: SocketAddr,
    _db: TestDb,
}

async fn start(ws: WsConfig) -> Server {
    start_with(ApiConfig::development(), ws).await
}

async fn start_with(config: ApiConfig, ws: WsConfig) -> Server {
    let db = TestDb::new().await;
    let app = TestApp::start_with(db.pool.clone(), config.clone()).await;
    let addr = ws_client::serve(app.platform.api_with(config, ws)).await;
    Server { app, addr, _db: db }
}

/// Opens a socket to `/graphql` offering `protocols`; returns it with the chosen subprotocol.
async fn connect(addr: SocketAddr, protocols: &str) -> (Socket, Option<String>) {
    ws_client::connect(addr, "/graphql", protocols).await
}

/// A graphql-transport-ws socket.
async fn open(addr: SocketAddr) -> Socket {
    ws_client::connect_transport_ws(addr, "/graphql").await
}

/// The next JSON message, which must come.
async fn message(socket: &mut Socket) -> Value {
    match receive(socket, WITHIN).await {
        Received::Json(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The close frame, which must come (messages before it are skipped).
async fn closed(socket: &mut Socket, within: Duration) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        match receive(socket, deadline.saturating_duration_since(Instant::now())).await {
            Received::Json(_) => continue,
            Received::Closed(Some(frame)) => return frame,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// `connection_init` with `payload`, then the ack.
async fn init(socket: &mut Socket, payload: Value) {
    send(socket, json!({ "type": "connection_init", "payload": payload })).await;
    let ack = message(socket).await;
    assert_eq!(ack, json!({ "type": "connection_ack" }));
}

/// An acknowledged socket of the development caller.
async fn ready(addr: SocketAddr) -> Socket {
    let mut socket = open(addr).await;
    init(&mut socket, json!({})).await;
    socket
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    send(socket, json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await;
}

/// A `ping` answered by its `pong`: the connection is open and its loop answers.
async fn answers_ping(socket: &mut Socket) {
    send(socket, json!({ "type": "ping", "payload": { "probe": true } })).await;
    loop {
        let message = message(socket).await;
        if message["type"] == "pong" {
            assert_eq!(message["payload"], json!({ "probe": true }));
            return;
        }
    }
}

/// Writes one event (an environment request) and returns its aggregate id.
async fn write_event(app: &TestApp, name: &str) -> String {
    let created = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", name, "DEV") })).await;
    assert!(created["errors"].is_null(), "{created}");
    created["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned()
}

/// The `extensions.code`s of an `error` message.
fn codes(message: &Value) -> Vec<String> {
    message["payload"]
        .as_array()
        .expect("an error payload is an array of errors")
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Rule: a query over the socket is one `next` with its result, then `complete`; the id is
/// free again once completed.
#[tokio::test]
async fn a_query_is_one_next_then_complete_and_its_id_is_free_again() {
    let server = start(WsConfig::default()).await;
    let mut socket = ready(server.addr).await;
    for _ in 0..2 {
        subscribe(&mut socket, "q", "{ __typename }").await;
        let next = message(&mut socket).await;
        assert_eq!(next, json!({ "id": "q", "type": "next", "payload": { "data": { "__typename": "QueryRoot" } } }));
        assert_eq!(message(&mut socket).await, json!({ "id": "q", "type": "complete" }));
    }
}

/// Rule: a document refused before it runs (validation, parse) is one `error` message whose
/// payload is the errors array, with no `next` and no `complete`.
#[tokio::test]
async fn a_document_refused_before_it_runs_is_one_error_message() {
    let server = start(WsConfig::default()).await;
    let mut socket = ready(server.addr).await;
    let refused = [("v", "{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"), ("p", "{", "GRAPHQL_PARSE_FAILED")];
    for (id, query, code) in refused {
        subscribe(&mut socket, id, query).await;
        let error = message(&mut socket).await;
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["id"], id, "{error}");
        assert_eq!(codes(&error), [code], "{error}");
        match receive(&mut socket, QUIET).await {
            Received::Nothing => {}
            other => panic!("nothing follows an error, got {other:?}"),
        }
    }
}

/// Writes events until one arrives as a `next` for `id` (a new subscription joins the feed
/// asynchronously, and one without `after` starts with what commits after it joined); returns
/// that message.
async fn first_event(server: &Server, socket: &mut Socket, id: &str) -> Value {
    let deadline = Instant::now() + WITHIN;
    static WRITTEN: AtomicUsize = AtomicUsize::new(0);
    loop {
        assert!(Instant::now() < deadline, "no event arrived for {id}");
        write_event(&server.app, &format!("{id}-{}", WRITTEN.fetch_add(1, Ordering::Relaxed))).await;
        match receive(socket, Duration::from_millis(500)).await {
            Received::Json(next) => {
                assert_eq!(next["type"], "next", "{next}");
                assert_eq!(next["id"], id, "{next}");
                assert_eq!(next["payload"]["data"]["events"]["eventType"], "EnvironmentRequested", "{next}");
                return next;
            }
            Received::Nothing => continue,
            Received::Closed(frame) => panic!("closed: {frame:?}"),
        }
    }
}

/// Rule: a subscription's events are `next` messages; the client's `complete` stops it (no
/// more `next`, no `complete` in answer), and its id may then be used again.
#[tokio::test]
async fn the_clients_complete_stops_the_stream_and_frees_the_id() {
    let server = start(WsConfig::default()).await;
    let mut socket = ready(server.addr).await;
    subscribe(&mut socket, "s", LIVE).await;
    first_event(&server, &mut socket, "s").await;

    send(&mut socket, json!({ "id": "s", "type": "complete" })).await;
    // A `complete` for an id that is not active is ignored.
    send(&mut socket, json!({ "id": "unknown", "type": "complete" })).await;
    answers_ping(&mut socket).await;
    write_event(&server.app, "after-complete").await;
    match receive(&mut socket, QUIET).await {
        Received::Nothing => {}
        other => panic!("nothing after the client's complete, got {other:?}"),
    }

    subscribe(&mut socket, "s", LIVE).await;
    first_event(&server, &mut socket, "s").await;
}

/// Rule: a frame that is not a protocol message (not JSON, an unknown type, a server-only
/// type, a payload of the wrong shape) closes 4400.
#[tokio::test]
async fn an_invalid_message_closes_4400() {
    let server = start(WsConfig::default()).await;
    for text in [
        "not json",
        r#"{"type":"nope"}"#,
        r#"{"type":"next","id":"1","payload":{}}"#,
        r#"{"type":"connection_init","payload":"token"}"#,
    ] {
        let mut socket = open(server.addr).await;
        send_text(&mut socket, text).await;
        let (code, reason) = closed(&mut socket, WITHIN).await;
        assert_eq!(code, 4400, "{text}: {reason}");
        assert!(!reason.is_empty(), "{text}: the reason says what was wrong");
    }
    // After the ack too.
    let mut socket = ready(server.addr).await;
    send(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": { "variables": {} } })).await;
    assert_eq!(closed(&mut socket, WITHIN).await.0, 4400);
}

/// Rule: a message larger than an HTTP body may be (256 KiB) closes the connection 4400.
#[tokio::test]
async fn a_message_over_the_body_limit_closes_4400() {
    let server = start(WsConfig::default()).await;
    let mut socket = ready(server.addr).await;
    let query = format!("{{ __typename }} # {}", "x".repeat(graphql::http::MAX_BODY_BYTES));
    send(&mut socket, json!({ "id": "big", "type": "subscribe", "payload": { "query": query } })).await;
    let (code, reason) = closed(&mut socket, WITHIN).await;
    assert_eq!(code, 4400, "{reason}");
}

/// Rule: `subscribe` before `connection_ack` closes 4401 Unauthorized.
#[tokio::test]
async fn a_subscribe_before_the_ack_closes_4401() {
    let server = start(WsConfig::default()).await;
    let mut socket = open(server.addr).await;
    subscribe(&mut socket, "1", "{ __typename }").await;
    assert_eq!(closed(&mut socket, WITHIN).await, (4401, "Unauthorized".to_owned()));
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Rule: with token authentication, a `connection_init` without a valid token closes 4403,
/// the reason starting with the error's code; one with a token is acknowledged.
#[tokio::test]
async fn a_refused_init_closes_4403_with_the_error_code() {
    let key = identity::LocalKey::new(SECRET.to_vec(), "test-issuer", "runtime-platform").unwrap();
    let config = ApiConfig {
        auth: Authentication::Token(identity::Verifier::local(key.clone(), identity::ClaimNames::default())),
        limits: Limits::default(),
        introspection: true,
    };
    let server = start_with(config, WsConfig::default()).await;
    for payload in [json!({}), json!({ "Authorization": "Bearer not.a.token" })] {
        let mut socket = open(server.addr).await;
        send(&mut socket, json!({ "type": "connection_init", "payload": payload })).await;
        let (code, reason) = closed(&mut socket, WITHIN).await;
        assert_eq!(code, 4403, "{payload}: {reason}");
        assert!(reason.starts_with("UNAUTHENTICATED: Forbidden"), "{payload}: {reason}");
        assert!(reason.len() <= 123);
    }
    let token = identity::mint_local(&key, "alice", &[Role::PlatformAdmin], &[], Duration::from_secs(600)).unwrap();
    let mut socket = open(server.addr).await;
    init(&mut socket, json!({ "Authorization": format!("Bearer {token}") })).await;
    subscribe(&mut socket, "q", "{ __typename }").await;
    assert_eq!(message(&mut socket).await["type"], "next");
}

/// Rule: without a `connection_init` within the init timeout the server closes 4408.
#[tokio::test]
async fn no_init_within_the_timeout_closes_4408() {
    let server = start(WsConfig { init_timeout: Duration::from_secs(1), ..WsConfig::default() }).await;
    let started = Instant::now();
    let mut socket = open(server.addr).await;
    // A ping is answered before the init too, and does not count as one.
    answers_ping(&mut socket).await;
    let close = closed(&mut socket, WITHIN).await;
    assert_eq!(close, (4408, "Connection initialisation timeout".to_owned()));
    assert!(started.elapsed() >= Duration::from_millis(900), "closed after {:?}", started.elapsed());
}

/// Rule: a `subscribe` with the id of an active operation closes 4409.
#[tokio::test]
async fn a_subscribe_with_an_active_id_closes_4409() {
    let server = start(WsConfig::default()).await;
    let mut socket = ready(server.addr).await;
    subscribe(&mut socket, "dup", LIVE).await;
    subscribe(&mut socket, "dup", "{ __typename }").await;
    assert_eq!(closed(&mut socket, WITHIN).await, (4409, "Subscriber for dup already exists".to_owned()));
}

/// Rule: a second `connection_init` closes 4429.
#[tokio::test]
async fn a_second_init_closes_4429() {
    let server = start(WsConfig::default()).await;
    let mut socket = ready(server.addr).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(closed(&mut socket, WITHIN).await, (4429, "Too many initialisation requests".to_owned()));
}

/// Rule: an actor holding its limit of connections gets 1013 on one more; other actors are
/// not affected, and a closed connection frees its slot.
#[tokio::test]
async fn a_connection_beyond_the_actors_limit_closes_1013() {
    let server = start(WsConfig { max_connections_per_actor: 1, ..WsConfig::default() }).await;
    let alice = json!({ "x-actor": "user:alice" });
    let mut first = open(server.addr).await;
    init(&mut first, alice.clone()).await;

    let mut second = open(server.addr).await;
    send(&mut second, json!({ "type": "connection_init", "payload": alice })).await;
    let (code, reason) = closed(&mut second, WITHIN).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.starts_with("Try again later"), "{reason}");

    let mut bob = open(server.addr).await;
    init(&mut bob, json!({ "x-actor": "user:bob" })).await;

    first.close(None).await.unwrap();
    // The server sees the close asynchronously: retry until the slot is free.
    let deadline = Instant::now() + WITHIN;
    loop {
        let mut again = open(server.addr).await;
        send(&mut again, json!({ "type": "connection_init", "payload": alice })).await;
        match receive(&mut again, WITHIN).await {
            Received::Json(ack) => {
                assert_eq!(ack["type"], "connection_ack");
                break;
            }
            Received::Closed(Some((1013, _))) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            other => panic!("expected the freed slot to be taken, got {other:?}"),
        }
    }
}

/// Rule: the server's shutdown closes every connection 1001, acknowledged or not, and the
/// registry then reports none open.
#[tokio::test]
async fn shutdown_closes_every_connection_1001() {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let ws = WsConfig { shutdown: Some(shutdown), ..WsConfig::default() };
    let connections = ws.connections.clone();
    let server = start(ws).await;
    let mut busy = ready(server.addr).await;
    subscribe(&mut busy, "s", LIVE).await;
    answers_ping(&mut busy).await;
    let mut fresh = open(server.addr).await;
    answers_ping(&mut fresh).await;
    assert_eq!(connections.open(), 2);

    stop.send(true).unwrap();
    for socket in [&mut busy, &mut fresh] {
        assert_eq!(closed(socket, WITHIN).await, (1001, "Server shutting down".to_owned()));
    }
    tokio::time::timeout(WITHIN, connections.closed()).await.expect("every connection ends");
}

/// Rule: `ping` is answered `pong` with its payload; the server pings every keepalive, and a
/// client that answers stays connected past the pong timeout.
#[tokio::test]
async fn pings_are_answered_both_ways_and_keep_the_connection() {
    let ws = WsConfig {
        keepalive: Duration::from_millis(150),
        pong_timeout: Duration::from_millis(500),
        ..WsConfig::default()
    };
    let server = start(ws).await;
    let mut socket = open(server.addr).await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(message(&mut socket).await, json!({ "type": "pong" }));
    init(&mut socket, json!({})).await;
    send(&mut socket, json!({ "type": "ping", "payload": { "n": 1 } })).await;
    // A server ping may come first.
    let pong = loop {
        let message = message(&mut socket).await;
        if message["type"] != "ping" {
            break message;
        }
        send(&mut socket, json!({ "type": "pong" })).await;
    };
    assert_eq!(pong, json!({ "type": "pong", "payload": { "n": 1 } }));

    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(1_500) {
        let ping = message(&mut socket).await;
        assert_eq!(ping, json!({ "type": "ping" }));
        pings += 1;
        send(&mut socket, json!({ "type": "pong" })).await;
    }
    assert!(pings >= 5, "{pings} pings in 1.5 s with a 150 ms keepalive");
    answers_ping(&mut socket).await;
}

/// Rule: a peer that sends nothing within the pong timeout of a server ping is closed
/// 1001 "Pong timeout".
#[tokio::test]
async fn a_silent_peer_is_closed_after_the_pong_timeout() {
    let ws = WsConfig {
        keepalive: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(300),
        ..WsConfig::default()
    };
    let server = start(ws).await;
    let mut socket = ready(server.addr).await;
    let started = Instant::now();
    let mut pings = 0;
    let close = loop {
        match receive(&mut socket, WITHIN).await {
            Received::Json(ping) => {
                assert_eq!(ping, json!({ "type": "ping" }));
                pings += 1;
            }
            Received::Closed(Some(frame)) => break frame,
            other => panic!("expected pings then a close, got {other:?}"),
        }
    };
    assert_eq!(close, (1001, "Pong timeout".to_owned()));
    assert!(pings >= 1);
    assert!(started.elapsed() >= Duration::from_millis(350), "closed after {:?}", started.elapsed());
}

/// Rule: beyond the per-connection limit of active operations, one more gets an `error`
/// coded `TOO_MANY_SUBSCRIPTIONS` and the connection stays open; completing one makes room.
#[tokio::test]
async fn operations_beyond_the_connection_limit_get_an_error_and_the_connection_stays() {
    let server = start(WsConfig { max_subscriptions_per_connection: 2, ..WsConfig::default() }).await;
    let mut socket = ready(server.addr).await;
    subscribe(&mut socket, "1", LIVE).await;
    subscribe(&mut socket, "2", LIVE).await;
    subscribe(&mut socket, "3", LIVE).await;
    let error = message(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "3", "{error}");
    assert_eq!(codes(&error), ["TOO_MANY_SUBSCRIPTIONS"], "{error}");
    answers_ping(&mut socket).await;

    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
    subscribe(&mut socket, "4", "{ __typename }").await;
    assert_eq!(message(&mut socket).await["type"], "next");
    assert_eq!(message(&mut socket).await, json!({ "id": "4", "type": "complete" }));
}

/// Rule: a client offering only the legacy `graphql-ws` is served that protocol; one offering
/// both gets graphql-transport-ws.
#[tokio::test]
async fn the_legacy_subprotocol_is_still_served() {
    let server = start(WsConfig::default()).await;
    let (mut legacy, chosen) = connect(server.addr, "graphql-ws").await;
    assert_eq!(chosen.as_deref(), Some("graphql-ws"));
    send(&mut legacy, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(message(&mut legacy).await["type"], "connection_ack");

    let (mut both, chosen) = connect(server.addr, "graphql-ws, graphql-transport-ws").await;
    assert_eq!(chosen.as_deref(), Some("graphql-transport-ws"));
    // Only graphql-transport-ws answers a ping with a pong.
    answers_ping(&mut both).await;
}
