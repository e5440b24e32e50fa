//! GraphQL over HTTP and graphql-transport-ws as their specs say, through the real router:
//! content types (a cross-site "simple request" never runs a mutation), `Accept` and the
//! status codes of `application/graphql-response+json`, the body limit, GET, token
//! authentication, roles, rate limits, the operations routes, and subscriptions over a real
//! websocket client.
//!
//! Layout: a request builder and a response reader (`send`) over `tower::ServiceExt::oneshot`,
//! then one test per rule; the websocket tests serve the router on a loopback port.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use commands::Role;
use graphql::executor::Limits;
use graphql::request_context::Authentication;
use graphql::ApiConfig;
use serde_json::{json, Value};
use tests::ws_client::{self, receive, send as send_ws, serve, Received, Socket};
use tests::{environment_input, error_code, TestApp, TestDb, REQUEST_ENVIRONMENT};
use tower::ServiceExt;
use uuid::Uuid;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const PROJECTIONS: &str = "{ projections { name } }";

/// A response as the tests look at it.
struct Sent {
    status: StatusCode,
    headers: HeaderMap,
    /// The body as JSON (`Value::Null` when it is not JSON).
    json: Value,
    text: String,
}

impl Sent {
    fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn code(&self) -> Option<&str> {
        error_code(&self.json)
    }
}

/// A request with exactly the headers given (no content type unless one is given).
fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

async fn send(router: &axum::Router, request: Request<Body>) -> Sent {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Sent { status, headers, json, text }
}

/// POSTs `body` with `content-type: application/json` and the extra headers.
async fn post_json(router: &axum::Router, body: &Value, headers: &[(&str, &str)]) -> Sent {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(router, request(Method::POST, "/graphql", &all, serde_json::to_vec(body).unwrap())).await
}

/// A `requestEnvironment` request body that the development caller may run.
fn mutation_body(name: &str) -> Value {
    json!({ "query": REQUEST_ENVIRONMENT, "variables": { "input": environment_input("shop", name, "DEV") } })
}

/// A query body.
fn query_body(query: &str) -> Value {
    json!({ "query": query })
}

fn local_key() -> identity::LocalKey {
    identity::LocalKey::new(SECRET.to_vec(), "test-issuer", "runtime-platform").unwrap()
}

fn token_config(key: identity::LocalKey) -> ApiConfig {
    ApiConfig {
        auth: Authentication::Token(identity::Verifier::local(key, identity::ClaimNames::default())),
        limits: Limits::default(),
        introspection: true,
    }
}

fn token(key: &identity::LocalKey, roles: &[Role]) -> String {
    identity::mint_local(key, "alice", roles, &[], Duration::from_secs(600)).unwrap()
}

/// Percent-encodes a URL query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Rule: a POST whose content type is not `application/json` or `application/graphql`
/// (`text/plain` and forms are what a cross-site page may send without a preflight; a
/// multipart body; no content type at all) is refused with 415 and a JSON error coded
/// `UNSUPPORTED_MEDIA_TYPE`, and the mutation it carries writes nothing.
#[tokio::test]
async fn a_post_that_is_not_json_or_graphql_is_refused_with_415_and_writes_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let body = serde_json::to_vec(&mutation_body("csrf")).unwrap();
    for content_type in
        [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data; boundary=x"), None]
    {
        let headers: Vec<(&str, &str)> = content_type.map(|c| ("content-type", c)).into_iter().collect();
        let sent = send(&app.router, request(Method::POST, "/graphql", &headers, body.clone())).await;
        assert_eq!(sent.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}: {}", sent.text);
        assert!(sent.content_type().starts_with("application/json"), "{content_type:?}: {}", sent.content_type());
        assert_eq!(sent.code(), Some("UNSUPPORTED_MEDIA_TYPE"), "{content_type:?}: {}", sent.text);
    }
    assert_eq!(db.event_count().await, 0, "a refused request wrote an event");
    // The same body as JSON runs: the refusals above were for the content type alone.
    let sent =
        send(&app.router, request(Method::POST, "/graphql", &[("content-type", "application/json")], body)).await;
    assert!(sent.json["errors"].is_null(), "{}", sent.text);
    assert_eq!(db.event_count().await, 1);
}

/// Rule: `application/json` with parameters (`; charset=utf-8`) and `application/graphql`
/// (the body is the document itself) are executed.
#[tokio::test]
async fn json_with_a_charset_and_application_graphql_are_executed() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let json_body = serde_json::to_vec(&query_body(PROJECTIONS)).unwrap();
    let sent = send(
        &app.router,
        request(Method::POST, "/graphql", &[("content-type", "application/json; charset=utf-8")], json_body),
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.json["data"]["projections"].is_array(), "{}", sent.text);

    let sent =
        send(&app.router, request(Method::POST, "/graphql", &[("content-type", "application/graphql")], PROJECTIONS))
            .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.json["data"]["projections"].is_array(), "{}", sent.text);
    assert!(sent.json["errors"].is_null(), "{}", sent.text);
}

/// Rule: the answer's media type follows `Accept`: `application/json` (or no `Accept`) gives
/// `application/json`, `application/graphql-response+json` gives that type, and a client
/// accepting neither (`text/html` only) gets 406 with a JSON error coded `NOT_ACCEPTABLE`.
#[tokio::test]
async fn the_media_type_of_the_answer_follows_accept() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let body = query_body(PROJECTIONS);
    for (accept, expected) in [
        (Some("application/json"), "application/json"),
        (Some(GRAPHQL_RESPONSE_JSON), GRAPHQL_RESPONSE_JSON),
        (None, "application/json"),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let sent = post_json(&app.router, &body, &headers).await;
        assert_eq!(sent.status, StatusCode::OK, "{accept:?}: {}", sent.text);
        assert!(sent.content_type().starts_with(expected), "{accept:?}: got {}", sent.content_type());
        assert!(sent.json["data"]["projections"].is_array(), "{accept:?}: {}", sent.text);
    }
    let sent = post_json(&app.router, &body, &[("accept", "text/html")]).await;
    assert_eq!(sent.status, StatusCode::NOT_ACCEPTABLE, "{}", sent.text);
    assert!(sent.content_type().starts_with("application/json"), "{}", sent.content_type());
    assert_eq!(sent.code(), Some("NOT_ACCEPTABLE"), "{}", sent.text);
}

/// Rule: under `application/graphql-response+json`, a document that does not parse and one
/// that fails validation are 400 with `errors` and no `data` entry at all (codes
/// `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`), while a field error raised during
/// execution is 200 with `data`; under `application/json` all three are 200.
#[tokio::test]
async fn graphql_response_json_answers_400_without_data_for_documents_refused_before_execution() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let unparsable = query_body("{ projections { name }");
    let invalid = query_body("{ projections { notAField } }");
    let missing = query_body(&format!("{{ environment(id: \"{}\") {{ id }} }}", Uuid::new_v4()));
    let accept = [("accept", GRAPHQL_RESPONSE_JSON)];

    for (body, code) in [(&unparsable, "GRAPHQL_PARSE_FAILED"), (&invalid, "GRAPHQL_VALIDATION_FAILED")] {
        let sent = post_json(&app.router, body, &accept).await;
        assert_eq!(sent.status, StatusCode::BAD_REQUEST, "{body}: {}", sent.text);
        assert!(sent.content_type().starts_with(GRAPHQL_RESPONSE_JSON), "{}", sent.content_type());
        assert!(sent.json["errors"].is_array(), "{}", sent.text);
        assert!(sent.json.as_object().is_some_and(|o| !o.contains_key("data")), "has a data entry: {}", sent.text);
        assert_eq!(sent.code(), Some(code), "{}", sent.text);

        let sent = post_json(&app.router, body, &[("accept", "application/json")]).await;
        assert_eq!(sent.status, StatusCode::OK, "{body} as application/json: {}", sent.text);
        assert_eq!(sent.code(), Some(code), "{}", sent.text);
    }

    let sent = post_json(&app.router, &missing, &accept).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.json.as_object().is_some_and(|o| o.contains_key("data")), "no data entry: {}", sent.text);
    assert_eq!(sent.code(), Some("NOT_FOUND"), "{}", sent.text);
    let sent = post_json(&app.router, &missing, &[("accept", "application/json")]).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(sent.code(), Some("NOT_FOUND"), "{}", sent.text);
}

/// Rule: a body over 256 KiB is refused with 413 and a JSON error coded `PAYLOAD_TOO_LARGE`;
/// one just under the limit runs.
#[tokio::test]
async fn a_body_over_256_kib_is_refused_with_413() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let padded = |bytes: usize| json!({ "query": "{ __typename }", "variables": { "pad": "x".repeat(bytes) } });
    let sent = post_json(&app.router, &padded(256 * 1024 + 1), &[]).await;
    assert_eq!(sent.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", &sent.text[..sent.text.len().min(300)]);
    assert!(sent.content_type().starts_with("application/json"), "{}", sent.content_type());
    assert_eq!(sent.code(), Some("PAYLOAD_TOO_LARGE"), "{}", sent.text);

    let sent = post_json(&app.router, &padded(250 * 1024), &[]).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", &sent.text[..sent.text.len().min(300)]);
    assert_eq!(sent.json["data"]["__typename"], "QueryRoot", "{}", sent.text);
}

/// Rule: a body that is not JSON (or not a GraphQL request object) is refused with 400 and a
/// JSON error with a code.
#[tokio::test]
async fn malformed_json_is_refused_with_400_and_a_code() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    for body in [&b"{\"query\": "[..], b"not json at all", b"[1, 2]", b"{\"query\": 42}"] {
        for accept in ["application/json", GRAPHQL_RESPONSE_JSON] {
            let sent = send(
                &app.router,
                request(
                    Method::POST,
                    "/graphql",
                    &[("content-type", "application/json"), ("accept", accept)],
                    body.to_vec(),
                ),
            )
            .await;
            let shown = String::from_utf8_lossy(body);
            assert_eq!(sent.status, StatusCode::BAD_REQUEST, "{shown} ({accept}): {}", sent.text);
            assert!(sent.content_type().starts_with("application/json"), "{}", sent.content_type());
            assert!(sent.code().is_some_and(|c| !c.is_empty()), "{shown}: no code in {}", sent.text);
        }
    }
}

/// Rule: GET runs a query from the URL; a mutation sent with GET is refused with 405 coded
/// `METHOD_NOT_ALLOWED` and an `Allow: POST` header, and writes nothing; a browser's plain GET
/// (`Accept: text/html`, no query) gets GraphiQL.
#[tokio::test]
async fn get_runs_queries_refuses_mutations_with_405_and_serves_graphiql() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let sent =
        send(&app.router, request(Method::GET, &format!("/graphql?query={}", encode(PROJECTIONS)), &[], ())).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.json["data"]["projections"].is_array(), "{}", sent.text);

    let variables = json!({ "input": environment_input("shop", "by-get", "DEV") }).to_string();
    let uri = format!("/graphql?query={}&variables={}", encode(REQUEST_ENVIRONMENT), encode(&variables));
    let sent = send(&app.router, request(Method::GET, &uri, &[], ())).await;
    assert_eq!(sent.status, StatusCode::METHOD_NOT_ALLOWED, "{}", sent.text);
    assert_eq!(sent.code(), Some("METHOD_NOT_ALLOWED"), "{}", sent.text);
    assert_eq!(sent.header("allow"), Some("POST"));
    assert_eq!(db.event_count().await, 0, "a GET mutation wrote an event");
    // The same operation as a POST runs: the 405 was for the method alone.
    let sent = post_json(&app.router, &mutation_body("by-get"), &[]).await;
    assert!(sent.json["errors"].is_null(), "{}", sent.text);
    assert_eq!(db.event_count().await, 1);

    let sent = send(&app.router, request(Method::GET, "/graphql", &[("accept", "text/html")], ())).await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.content_type().starts_with("text/html"), "{}", sent.content_type());
    assert!(sent.text.to_lowercase().contains("graphiql"), "{}", &sent.text[..sent.text.len().min(300)]);
}

/// Rule: with token authentication, a request without a valid bearer token (none, garbage,
/// signed with another key, expired) is refused with 401 coded `UNAUTHENTICATED` and a
/// `WWW-Authenticate: Bearer` header; a valid token is served.
#[tokio::test]
async fn token_mode_refuses_missing_and_invalid_tokens_with_401() {
    let db = TestDb::new().await;
    // No leeway, so a token minted to expire now is expired a second later.
    let key = local_key().with_leeway(Duration::ZERO);
    let app = TestApp::start_with(db.pool.clone(), token_config(key.clone())).await;
    let body = query_body(PROJECTIONS);
    let other_key =
        identity::LocalKey::new(b"fedcba9876543210fedcba9876543210".to_vec(), "test-issuer", "runtime-platform")
            .unwrap();
    let forged = format!("Bearer {}", token(&other_key, &[Role::PlatformAdmin]));
    let expired = identity::mint_local(&key, "alice", &[Role::PlatformAdmin], &[], Duration::ZERO).unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let expired = format!("Bearer {expired}");
    let refused: [(&str, Option<&str>); 5] = [
        ("no token", None),
        ("garbage", Some("Bearer garbage")),
        ("not bearer", Some("Basic YWxpY2U6c2VjcmV0")),
        ("wrong signature", Some(&forged)),
        ("expired", Some(&expired)),
    ];
    for (what, authorization) in refused {
        let headers: Vec<(&str, &str)> = authorization.map(|a| ("authorization", a)).into_iter().collect();
        let sent = post_json(&app.router, &body, &headers).await;
        assert_eq!(sent.status, StatusCode::UNAUTHORIZED, "{what}: {}", sent.text);
        assert_eq!(sent.code(), Some("UNAUTHENTICATED"), "{what}: {}", sent.text);
        assert_eq!(sent.header("www-authenticate"), Some("Bearer"), "{what}");
        assert!(sent.json["data"].is_null(), "{what}: {}", sent.text);
    }
    let valid = format!("Bearer {}", token(&key, &[Role::PlatformAdmin]));
    let sent = post_json(&app.router, &body, &[("authorization", &valid)]).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.json["data"]["projections"].is_array(), "{}", sent.text);
}

/// Rule: with token authentication the development identity headers are ignored: a
/// GovernanceAuditor token that sends `x-roles: PlatformAdmin` still may not run a mutation
/// (403 `FORBIDDEN`, nothing written).
#[tokio::test]
async fn token_mode_ignores_the_development_identity_headers() {
    let db = TestDb::new().await;
    let key = local_key();
    let app = TestApp::start_with(db.pool.clone(), token_config(key.clone())).await;
    let auditor = format!("Bearer {}", token(&key, &[Role::GovernanceAuditor]));
    let headers = [
        ("authorization", auditor.as_str()),
        ("x-roles", "PlatformAdmin"),
        ("x-actor", "user:developer"),
        ("x-tenant-id", "contoso"),
    ];
    let sent = post_json(&app.router, &mutation_body("escalate"), &headers).await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN, "{}", sent.text);
    assert_eq!(sent.code(), Some("FORBIDDEN"), "{}", sent.text);
    assert_eq!(db.event_count().await, 0, "the auditor's mutation wrote an event");
    // An admin token runs the same mutation: the refusal was for the token's role.
    let admin = format!("Bearer {}", token(&key, &[Role::PlatformAdmin]));
    let sent = post_json(&app.router, &mutation_body("escalate"), &[("authorization", &admin)]).await;
    assert!(sent.json["errors"].is_null(), "{}", sent.text);
    assert_eq!(db.event_count().await, 1);
}

/// Rule: a GovernanceAuditor runs no mutation: every mutation document is refused with 403
/// coded `FORBIDDEN` and writes nothing.
#[tokio::test]
async fn a_governance_auditor_runs_no_mutation() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let id = Uuid::new_v4();
    let mutations = [
        mutation_body("audited"),
        query_body(&format!("mutation {{ recordProvisioningStarted(id: \"{id}\") {{ version }} }}")),
        query_body(&format!("mutation {{ resolveDrift(id: \"{id}\") {{ version }} }}")),
        query_body(&format!(
            "mutation M {{ ...F }} fragment F on MutationRoot {{ markEnvironmentDegraded(id: \"{id}\", reason: \"x\") {{ version }} }}"
        )),
    ];
    for body in &mutations {
        for accept in ["application/json", GRAPHQL_RESPONSE_JSON] {
            let sent = post_json(&app.router, body, &[("x-roles", "GovernanceAuditor"), ("accept", accept)]).await;
            assert_eq!(sent.status, StatusCode::FORBIDDEN, "{}: {}", body["query"], sent.text);
            assert_eq!(sent.code(), Some("FORBIDDEN"), "{}", sent.text);
        }
    }
    assert_eq!(db.event_count().await, 0, "an auditor's mutation wrote an event");
    let sent = post_json(&app.router, &mutations[0], &[("x-roles", "PlatformAdmin")]).await;
    assert!(sent.json["errors"].is_null(), "{}", sent.text);
    assert_eq!(db.event_count().await, 1);
}

/// Rule: history (`auditLog`) is read by the history roles only: a ControlPlane caller gets
/// 403 `FORBIDDEN`, a GovernanceAuditor gets the log.
#[tokio::test]
async fn the_audit_log_is_refused_to_the_control_plane_and_served_to_an_auditor() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let body = query_body("{ auditLog(first: 5) { edges { node { eventType actor } } } }");
    let sent = post_json(&app.router, &body, &[("x-roles", "ControlPlane")]).await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN, "{}", sent.text);
    assert_eq!(sent.code(), Some("FORBIDDEN"), "{}", sent.text);
    let sent = post_json(&app.router, &body, &[("x-roles", "GovernanceAuditor")]).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.json["errors"].is_null(), "{}", sent.text);
    assert!(sent.json["data"]["auditLog"]["edges"].is_array(), "{}", sent.text);
}

/// Rule: time travel (`asOf`) is history whichever way the argument gets its value, also
/// through a variable's default value: a ControlPlane caller is refused (403 `FORBIDDEN`)
/// as when the value is written in the document.
#[tokio::test]
async fn time_travel_through_a_variable_default_is_history_too() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let literal = query_body("{ runtimeInventory(asOf: \"2020-01-01T00:00:00Z\") { edges { cursor } } }");
    let sent = post_json(&app.router, &literal, &[("x-roles", "ControlPlane")]).await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN, "literal asOf: {}", sent.text);
    let variable = json!({
        "query": "query($t: DateTime) { runtimeInventory(asOf: $t) { edges { cursor } } }",
        "variables": { "t": "2020-01-01T00:00:00Z" },
    });
    let sent = post_json(&app.router, &variable, &[("x-roles", "ControlPlane")]).await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN, "asOf from a variable: {}", sent.text);
    let defaulted = query_body(
        "query($t: DateTime = \"2020-01-01T00:00:00Z\") { runtimeInventory(asOf: $t) { edges { cursor } } }",
    );
    let sent = post_json(&app.router, &defaulted, &[("x-roles", "ControlPlane")]).await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN, "asOf from a variable's default value: {}", sent.text);
    assert_eq!(sent.code(), Some("FORBIDDEN"), "{}", sent.text);
}

/// Rule: a caller over its rate (1/s, burst 2) is refused with 429 coded `RATE_LIMITED` and a
/// `Retry-After` header; another caller is still admitted.
#[tokio::test]
async fn a_caller_over_its_rate_gets_429_and_others_are_still_served() {
    let db = TestDb::new().await;
    let limits =
        Limits { rate_per_second: NonZeroU32::new(1), burst: NonZeroU32::new(2).unwrap(), ..Default::default() };
    let config = ApiConfig { auth: Authentication::Development, limits, introspection: true };
    let app = TestApp::start_with(db.pool.clone(), config).await;
    let body = query_body("{ __typename }");
    for i in 0..2 {
        let sent = post_json(&app.router, &body, &[]).await;
        assert_eq!(sent.status, StatusCode::OK, "request {i} within the burst: {}", sent.text);
    }
    let sent = post_json(&app.router, &body, &[]).await;
    assert_eq!(sent.status, StatusCode::TOO_MANY_REQUESTS, "{}", sent.text);
    assert_eq!(sent.code(), Some("RATE_LIMITED"), "{}", sent.text);
    let retry_after = sent.header("retry-after").and_then(|v| v.parse::<u64>().ok());
    assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After: {:?}", sent.header("retry-after"));
    let sent = post_json(&app.router, &body, &[("x-actor", "user:other")]).await;
    assert_eq!(sent.status, StatusCode::OK, "another caller: {}", sent.text);
}

/// Rule: `/metrics`, `/healthz` and `/readyz` are not on the API router (404) but on the
/// operations router.
#[tokio::test]
async fn operations_routes_are_only_on_the_ops_router() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    for path in ["/metrics", "/healthz", "/readyz"] {
        let (status, _) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} on the API router");
        let (status, body) = app.get_ops(path).await;
        assert_eq!(status, StatusCode::OK, "{path} on the ops router: {body}");
    }
}

// ---------------------------------------------------------------------------------------
// graphql-transport-ws over a real socket.

/// Opens a graphql-transport-ws connection to `path`.
async fn connect(addr: std::net::SocketAddr, path: &str) -> Socket {
    ws_client::connect_transport_ws(addr, path).await
}

async fn expect_ack(socket: &mut Socket) {
    match receive(socket, Duration::from_secs(10)).await {
        Received::Json(message) => assert_eq!(message["type"], "connection_ack", "{message}"),
        other => panic!("expected connection_ack, got {other:?}"),
    }
}

const LOG_EVENTS: &str = "subscription { logEvents { eventType aggregateId } }";

/// Rule: graphql-transport-ws is served on `/graphql` and on `/graphql/ws` by a real client:
/// `connection_init` is acknowledged, and a `logEvents` subscription delivers a `next` message
/// for an event written after it started.
#[tokio::test]
async fn a_websocket_subscription_streams_new_events_on_both_paths() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let addr = serve(app.router.clone()).await;
    for (i, path) in ["/graphql", "/graphql/ws"].into_iter().enumerate() {
        let mut socket = connect(addr, path).await;
        send_ws(&mut socket, json!({ "type": "connection_init", "payload": {} })).await;
        expect_ack(&mut socket).await;
        send_ws(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": { "query": LOG_EVENTS } })).await;
        app.wait_subscribers(1).await;
        let name = format!("ws{i}");
        let created = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", &name, "DEV") })).await;
        assert!(created["errors"].is_null(), "{created}");
        let id = created["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned();
        // Earlier events (of the other path's run) come first: read until this one.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = match receive(&mut socket, left).await {
                Received::Json(message) => message,
                other => panic!("{path}: expected next, got {other:?}"),
            };
            assert_eq!(message["type"], "next", "{path}: {message}");
            assert_eq!(message["id"], "1", "{path}: {message}");
            let event = &message["payload"]["data"]["logEvents"];
            assert_eq!(event["eventType"], "EnvironmentRequested", "{path}: {message}");
            if event["aggregateId"] == id.as_str() {
                break;
            }
        }
        let _ = socket.close(None).await;
    }
}

/// Rule: with token authentication, a `connection_init` without a token closes the connection
/// with a reason that starts with `UNAUTHENTICATED`; one with `Authorization: Bearer <token>`
/// is acknowledged.
#[tokio::test]
async fn a_websocket_without_a_token_is_closed_and_one_with_a_token_is_acknowledged() {
    let db = TestDb::new().await;
    let key = local_key();
    let app = TestApp::start_with(db.pool.clone(), token_config(key.clone())).await;
    let addr = serve(app.router.clone()).await;

    let mut socket = connect(addr, "/graphql").await;
    send_ws(&mut socket, json!({ "type": "connection_init", "payload": {} })).await;
    match receive(&mut socket, Duration::from_secs(10)).await {
        Received::Closed(Some((code, reason))) => {
            eprintln!("connection_init without a token: close code {code}, reason {reason:?}");
            assert!(reason.starts_with("UNAUTHENTICATED"), "close reason {reason:?} (code {code})");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    let mut socket = connect(addr, "/graphql/ws").await;
    let bearer = format!("Bearer {}", token(&key, &[Role::PlatformAdmin]));
    send_ws(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": bearer } })).await;
    expect_ack(&mut socket).await;
}

/// Rule: a subscription is guarded like a query: a ControlPlane caller subscribing to
/// `logEvents` (history) gets an error coded `FORBIDDEN` and no event.
#[tokio::test]
async fn a_websocket_subscription_to_history_is_refused_to_the_control_plane() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let created = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", "ws", "DEV") })).await;
    assert!(created["errors"].is_null(), "{created}");
    let addr = serve(app.router.clone()).await;
    let mut socket = connect(addr, "/graphql/ws").await;
    send_ws(&mut socket, json!({ "type": "connection_init", "payload": { "x-roles": "ControlPlane" } })).await;
    expect_ack(&mut socket).await;
    send_ws(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": { "query": LOG_EVENTS } })).await;
    let mut refused = false;
    loop {
        match receive(&mut socket, Duration::from_secs(3)).await {
            Received::Json(message) => {
                eprintln!("ControlPlane logEvents subscription got: {message}");
                let errors = match message["type"].as_str() {
                    Some("error") => message["payload"].clone(),
                    Some("next") => {
                        let data = &message["payload"]["data"];
                        assert!(data.is_null() || data["logEvents"].is_null(), "an event was delivered: {message}");
                        message["payload"]["errors"].clone()
                    }
                    Some("complete") => break,
                    _ => panic!("unexpected message {message}"),
                };
                let codes: Vec<&str> =
                    errors.as_array().into_iter().flatten().filter_map(|e| e["extensions"]["code"].as_str()).collect();
                assert_eq!(codes, ["FORBIDDEN"], "{message}");
                refused = true;
            }
            Received::Nothing => break,
            Received::Closed(frame) => panic!("closed: {frame:?}"),
        }
    }
    assert!(refused, "no FORBIDDEN error was sent");
}

/// Rule: a development identity header that is not visible ASCII text is refused (400 or
/// 403), never taken as absent and replaced by the defaults (no `x-roles`: PlatformAdmin; no
/// `x-tenant-id`: every tenant), and writes nothing.
#[tokio::test]
async fn development_identity_headers_that_are_not_text_are_refused() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let cases: [(&str, &[u8]); 3] = [
        ("x-roles", b"GovernanceAuditor\xff"),
        ("x-roles", "G\u{f6}vernanceAuditor".as_bytes()),
        ("x-tenant-id", "contos\u{f6}".as_bytes()),
    ];
    let mut taken = Vec::new();
    for (i, (name, value)) in cases.into_iter().enumerate() {
        let request = Request::post("/graphql")
            .header("content-type", "application/json")
            .header(name, axum::http::HeaderValue::from_bytes(value).unwrap())
            .body(Body::from(serde_json::to_vec(&mutation_body(&format!("opaque{i}"))).unwrap()))
            .unwrap();
        let sent = send(&app.router, request).await;
        if sent.status != StatusCode::BAD_REQUEST && sent.status != StatusCode::FORBIDDEN {
            let actor_role = sent.json["data"]["requestEnvironment"]["events"][0]["actorRole"].clone();
            taken.push(format!(
                "{name}: {:?} -> {} (acted as {actor_role})",
                String::from_utf8_lossy(value),
                sent.status
            ));
        }
    }
    assert!(taken.is_empty(), "taken as absent: {taken:#?}");
    assert_eq!(db.event_count().await, 0);
}
