//! Spans out over OTLP, received by a collector of the test's own.
//!
//! The release server is started with the standard `OTEL_*` variables pointing at a local
//! OTLP/HTTP endpoint (`POST /v1/traces`, protobuf, as an OpenTelemetry Collector takes it);
//! a mutation is sent with a `traceparent`, and the collector must receive the command's span
//! in that trace, under `service.name = runtime-platform`, with the store's span inside it.
//! Without export switched on the same collector hears nothing; on SIGTERM the spans still
//! batched leave before the process ends.
//!
//! Layout: [`Collector`] (the endpoint and what it received), helpers, then the tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};
use tests::server::{build_release_binary, Server};
use tests::{environment_input, TestDb, REQUEST_ENVIRONMENT};

/// How long spans may take to arrive (the batch delay is 100 ms in these tests).
const ARRIVE_WITHIN: Duration = Duration::from_secs(15);

/// The trace the "portal" starts.
const TRACE: &str = "5a1c0ffee0ddba11c0de5eed00f1ce01";

/// A span as received, with the `service.name` of the resource it came under.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    service: Option<String>,
    pub(crate) span: Span,
}

/// A local OTLP/HTTP traces endpoint that keeps every span it is sent.
#[derive(Clone, Default)]
pub(crate) struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    /// Requests that were not OTLP protobuf (wrong content type or undecodable).
    refused: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    /// Serves on a free loopback port; returns the base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub(crate) async fn start() -> (Self, String) {
        let collector = Self::default();
        let app = axum::Router::new().route("/v1/traces", post(receive)).with_state(collector.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the collector");
        let url = format!("http://{}", listener.local_addr().expect("collector address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (collector, url)
    }

    pub(crate) fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }

    /// The spans of trace `trace`, once one named `command` is among them.
    pub(crate) async fn command_trace(&self, trace: &str) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let spans: Vec<Received> =
                self.spans().into_iter().filter(|r| hex::encode(&r.span.trace_id) == trace).collect();
            if spans.iter().any(|r| r.span.name == "command") {
                return spans;
            }
            assert!(
                started.elapsed() < ARRIVE_WITHIN,
                "no command span of trace {trace} within {ARRIVE_WITHIN:?}; received: {:?}; refused: {:?}",
                self.spans().iter().map(|r| (&r.span.name, hex::encode(&r.span.trace_id))).collect::<Vec<_>>(),
                self.refused()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `POST /v1/traces`: decodes an `ExportTraceServiceRequest` and answers full success.
async fn receive(State(collector): State<Collector>, headers: HeaderMap, body: Bytes) -> (StatusCode, Vec<u8>) {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type != "application/x-protobuf" {
        collector.refused.lock().unwrap().push(format!("content type {content_type:?}"));
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new());
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => {
            collector.refused.lock().unwrap().push(format!("undecodable: {e}"));
            return (StatusCode::BAD_REQUEST, Vec::new());
        }
    };
    let mut spans = collector.spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans.resource.iter().flat_map(|r| &r.attributes).find_map(|kv| {
            match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(name)) if kv.key == "service.name" => Some(name.clone()),
                _ => None,
            }
        });
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Received { service: service.clone(), span });
        }
    }
    (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
}

/// The server with `env`, over a fresh database, ready. Info-level spans of the write side are
/// on (the default `warn` of the test server would filter out the command span).
async fn server(db: &TestDb, env: &[(&str, &str)]) -> (Server, reqwest::Client) {
    let binary = build_release_binary();
    let mut env = env.to_vec();
    env.push(("RUST_LOG", "warn,commands=info"));
    let mut server = Server::start_with(&binary, &db.url, &env);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    (server, client)
}

/// Sends one `requestEnvironment` in trace [`TRACE`] (as a portal would) and checks it committed
/// in that trace.
async fn request_environment(server: &Server, client: &reqwest::Client, name: &str) {
    let body =
        json!({ "query": REQUEST_ENVIRONMENT, "variables": { "input": environment_input("shop", name, "DEV") } });
    let response: Value = client
        .post(&server.graphql)
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .json(&body)
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON answer");
    assert_eq!(response["data"]["requestEnvironment"]["traceId"], TRACE, "{response}");
}

#[tokio::test]
async fn a_commands_spans_reach_the_collector_in_the_callers_trace() {
    let db = TestDb::new().await;
    let (collector, url) = Collector::start().await;
    let (server, client) =
        server(&db, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &url), ("OTEL_BSP_SCHEDULE_DELAY", "100")]).await;

    request_environment(&server, &client, "otel").await;

    let spans = collector.command_trace(TRACE).await;
    let command = spans.iter().find(|r| r.span.name == "command").unwrap();
    assert_eq!(command.service.as_deref(), Some("runtime-platform"));
    // The parent is the caller's (remote) span, so the command is where this server's part begins.
    assert_eq!(command.span.parent_span_id.len(), 8, "the command span continues a remote parent");
    // What runs inside the command (the store's append) is in the same trace, under it.
    let inside: Vec<&str> =
        spans.iter().filter(|r| r.span.parent_span_id == command.span.span_id).map(|r| r.span.name.as_str()).collect();
    assert!(inside.contains(&"write"), "the store's write span is inside the command span: {inside:?}");
    assert!(collector.refused().is_empty(), "{:?}", collector.refused());
}

#[tokio::test]
async fn without_export_switched_on_the_collector_hears_nothing() {
    let db = TestDb::new().await;
    let (collector, url) = Collector::start().await;
    // The endpoint is named but the standard switch says no.
    let (server, client) = server(
        &db,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &url), ("OTEL_TRACES_EXPORTER", "none"), ("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .await;

    request_environment(&server, &client, "quiet").await;

    // Ten batch delays: an exporter that was on would have sent by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(collector.spans().is_empty(), "spans were exported: {:?}", collector.spans());
    assert!(collector.refused().is_empty(), "{:?}", collector.refused());
}

#[tokio::test]
async fn the_last_spans_leave_on_a_graceful_shutdown() {
    let db = TestDb::new().await;
    let (collector, url) = Collector::start().await;
    // A batch delay of ten minutes: only the flush at shutdown can send the spans in time.
    let (mut server, client) =
        server(&db, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &url), ("OTEL_BSP_SCHEDULE_DELAY", "600000")]).await;

    request_environment(&server, &client, "last").await;
    assert!(collector.spans().is_empty(), "nothing is sent before the batch delay or shutdown");
    server.terminate();

    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.exited() {
            break status;
        }
        assert!(started.elapsed() < ARRIVE_WITHIN, "the server did not stop within {ARRIVE_WITHIN:?} of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.contains("exit status: 0"), "the server stopped cleanly: {status}");
    let spans = collector.command_trace(TRACE).await;
    assert!(spans.iter().all(|r| r.service.as_deref() == Some("runtime-platform")));
}
