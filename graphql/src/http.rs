//! The axum routes of the API, as the GraphQL-over-HTTP spec and graphql-transport-ws say:
//! - `POST /graphql` with `application/json` (or `application/graphql`); any other content
//!   type is refused with 415, so a cross-site "simple request" (`text/plain`, a form) never
//!   runs a mutation.
//! - `GET /graphql`: a websocket upgrade (also on `/graphql/ws`): graphql-transport-ws by
//!   [`ws`] when the client offers it, else the legacy `graphql-ws` by async-graphql; a query
//!   in the URL (`?query=...`; mutations need POST: 405), or GraphiQL for a browser.
//! - The answer's media type follows `Accept`: `application/graphql-response+json` when the
//!   client lists it (then a document refused before execution is a 4xx without `data`), else
//!   `application/json` (then such a response is 200, as the spec asks); a client accepting
//!   neither gets 406.
//! - `GET /audit/export`: the audit log as a streamed NDJSON or CSV download ([`crate::export`]),
//!   under the same authentication, rate limiter and role table as `/graphql`.
//! - Every refusal (400, 401, 403, 405, 406, 413, 415, 429) is a JSON `{"errors": [...]}`
//!   body with a stable `extensions.code`.
//!
//! The host (`infra`) only mounts these routes.

use async_graphql::http::GraphiQLSource;
use async_graphql::{Data, ErrorExtensions, Response as GqlResponse};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawQuery, State, WebSocketUpgrade};
use axum::http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method as HttpMethod, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::executor::{GuardedSchema, Limits, Method};
use crate::export::Export;
use crate::request_context::{self, Authentication};
use crate::{schema_with, ApiState};

use crate::ws;

pub use crate::ws::{Connections, WsConfig};

/// Initial read buffer and write batching threshold of one websocket.
const WS_BUFFER_BYTES: usize = 1024;

/// Largest request body accepted; larger ones get 413 before parsing.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The media type of GraphQL responses (GraphQL over HTTP).
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";

/// How the API is exposed: who callers are, and the limits on what they send.
#[derive(Clone)]
pub struct ApiConfig {
    /// Token verification, or the development mode.
    pub auth: Authentication,
    /// Timeouts, rates, persisted queries.
    pub limits: Limits,
    /// Whether `__schema` / `__type` answer (GraphiQL needs them).
    pub introspection: bool,
}

impl ApiConfig {
    /// Development mode with the default limits and introspection on.
    pub fn development() -> Self {
        Self { auth: Authentication::Development, limits: Limits::default(), introspection: true }
    }
}

/// Routes serving the schema, with the default websocket settings.
pub fn router(state: ApiState, config: ApiConfig) -> Router {
    router_with(state, config, WsConfig::default())
}

/// Routes serving the schema; graphql-transport-ws connections run under `ws`.
pub fn router_with(state: ApiState, config: ApiConfig, ws: WsConfig) -> Router {
    let schema = GuardedSchema::new(
        schema_with(state.clone(), config.introspection),
        config.limits.clone(),
        config.introspection,
    );
    let export = Export { state, auth: config.auth.clone(), admission: schema.admission().clone() };
    let http = Http { schema, auth: config.auth, ws };
    Router::new()
        .route("/graphql", get(get_graphql).post(post_graphql))
        .route("/graphql/ws", get(websocket_only))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(http)
        .merge(Router::new().route("/audit/export", get(crate::export::export)).with_state(export))
}

/// What the handlers share.
#[derive(Clone)]
struct Http {
    schema: GuardedSchema,
    auth: Authentication,
    /// How graphql-transport-ws connections run (and the registry they count in).
    ws: WsConfig,
}

/// The answer's media type, from `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// `application/json`: 200 for every well-formed request.
    Json,
    /// `application/graphql-response+json`: 4xx for requests refused before execution.
    GraphqlResponse,
}

fn negotiate(headers: &HeaderMap) -> Result<Answer, ApiError> {
    let accept = headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    if accept.trim().is_empty() {
        return Ok(Answer::Json);
    }
    let mut json = false;
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or_default().trim().to_ascii_lowercase();
        // `q=0` means "not acceptable".
        let refused = params.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "q=0" || p.starts_with("q=0.0") && p.trim_start_matches("q=0.").chars().all(|c| c == '0')
        });
        if refused {
            continue;
        }
        match media.as_str() {
            "application/graphql-response+json" => return Ok(Answer::GraphqlResponse),
            "application/json" | "application/*" | "*/*" => json = true,
            _ => {}
        }
    }
    if json {
        Ok(Answer::Json)
    } else {
        Err(ApiError::NotAcceptable(
            "this server answers in application/graphql-response+json or application/json".into(),
        ))
    }
}

/// A refusal as a JSON `{"errors": [...]}` body with its status (and `WWW-Authenticate` /
/// `Retry-After` where HTTP asks for them).
pub(crate) fn refusal(err: &ApiError, trace_id: Option<&str>) -> Response {
    let status = err.status();
    let body = serde_json::json!({ "errors": [err.extend()] });
    let mut response =
        (status, [(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response();
    let headers = response.headers_mut();
    match err {
        ApiError::Unauthenticated(_) => {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        ApiError::ProjectionLag { .. } => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        ApiError::RateLimited { retry_after_seconds } => {
            if let Ok(v) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
                headers.insert(RETRY_AFTER, v);
            }
        }
        ApiError::MethodNotAllowed(_) => {
            headers.insert(axum::http::header::ALLOW, HeaderValue::from_static("POST"));
        }
        _ => {}
    }
    with_trace(response, trace_id)
}

pub(crate) fn with_trace(mut response: Response, trace_id: Option<&str>) -> Response {
    if let Some(value) = trace_id.and_then(|t| HeaderValue::from_str(t).ok()) {
        // Lets callers that sent no traceparent find their trace.
        response.headers_mut().insert("x-trace-id", value);
    }
    response
}

/// Whether the request was refused before execution: no data, and no error bound to a field.
pub(crate) fn refused_before_execution(response: &GqlResponse) -> bool {
    matches!(response.data, async_graphql::Value::Null)
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// A GraphQL response in the negotiated media type.
fn answer(response: GqlResponse, as_: Answer, trace_id: &str) -> Response {
    let before = refused_before_execution(&response);
    let (status, content_type, body) = match as_ {
        Answer::Json => (StatusCode::OK, "application/json", serde_json::to_value(&response)),
        Answer::GraphqlResponse if before => {
            // No `data` entry at all: the document never ran.
            (StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON, Ok(serde_json::json!({ "errors": response.errors })))
        }
        Answer::GraphqlResponse => (StatusCode::OK, GRAPHQL_RESPONSE_JSON, serde_json::to_value(&response)),
    };
    let body = match body {
        Ok(body) => body.to_string(),
        Err(e) => return refusal(&ApiError::internal(trace_id, e), Some(trace_id)),
    };
    with_trace((status, [(CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response(), Some(trace_id))
}

/// Runs `request` for the caller of `headers`, answering in `as_`.
async fn execute(
    http: &Http,
    headers: &HeaderMap,
    request: async_graphql::Request,
    as_: Answer,
    method: Method,
) -> Response {
    let ctx = match request_context::from_headers(&http.auth, headers).await {
        Ok(ctx) => ctx,
        Err(err) => return refusal(&err, None),
    };
    let trace_id = ctx.trace_id.to_string();
    if let Err(err) = http.schema.admission().admit(&ctx) {
        return refusal(&err, Some(&trace_id));
    }
    match http.schema.run(request, ctx, method).await {
        Ok(response) => answer(response, as_, &trace_id),
        // Refused by our own checkpoints before execution: roles are an HTTP-level refusal in
        // both media types; document problems follow the media type like validation errors.
        Err(err @ (ApiError::Forbidden(_) | ApiError::MethodNotAllowed(_) | ApiError::Unauthenticated(_))) => {
            refusal(&err, Some(&trace_id))
        }
        Err(err) => answer(GqlResponse::from_errors(vec![crate::executor::to_server_error(&err)]), as_, &trace_id),
    }
}

async fn post_graphql(State(http): State<Http>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let as_ = match negotiate(&headers) {
        Ok(a) => a,
        Err(err) => return refusal(&err, None),
    };
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if media != "application/json" && media != "application/graphql" {
        return refusal(
            &ApiError::UnsupportedMediaType(format!(
                "content type {content_type:?} is not accepted; send application/json (or application/graphql)"
            )),
            None,
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refusal(&ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }, None)
        }
        Err(rejection) => return refusal(&ApiError::InvalidInput(format!("unreadable body: {rejection}")), None),
    };
    let request = if media == "application/graphql" {
        match std::str::from_utf8(&body) {
            Ok(text) => async_graphql::Request::new(text),
            Err(_) => return refusal(&ApiError::InvalidInput("the document is not UTF-8".into()), None),
        }
    } else {
        match serde_json::from_slice::<async_graphql::Request>(&body) {
            Ok(request) => request,
            Err(e) => {
                return refusal(
                    &ApiError::InvalidInput(format!(
                        "malformed GraphQL request (expected a JSON object with `query`): {e}"
                    )),
                    None,
                )
            }
        }
    };
    execute(&http, &headers, request, as_, Method::Any).await
}

async fn get_graphql(
    State(http): State<Http>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    parts: axum::http::request::Parts,
) -> Response {
    let is_upgrade =
        headers.get(axum::http::header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if is_upgrade {
        return upgrade(http, parts).await;
    }
    match query.filter(|q| !q.is_empty()) {
        Some(query) => {
            let as_ = match negotiate(&headers) {
                Ok(a) => a,
                Err(err) => return refusal(&err, None),
            };
            match async_graphql::http::parse_query_string(&query) {
                Ok(request) => execute(&http, &headers, request, as_, Method::ReadOnly).await,
                Err(e) => refusal(&ApiError::InvalidInput(format!("malformed GraphQL request: {e}")), None),
            }
        }
        None => Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").finish())
            .into_response(),
    }
}

async fn websocket_only(State(http): State<Http>, parts: axum::http::request::Parts) -> Response {
    upgrade(http, parts).await
}

/// Serves a websocket upgrade: graphql-transport-ws by [`ws`] when the client offers it
/// (whatever else it offers), the legacy `graphql-ws` by async-graphql when that is all it
/// offers. Messages are bounded like HTTP bodies.
async fn upgrade(http: Http, mut parts: axum::http::request::Parts) -> Response {
    if parts.method != HttpMethod::GET {
        return refusal(&ApiError::MethodNotAllowed("websocket upgrades use GET".into()), None);
    }
    // The client's first supported subprotocol; used only when it offers nothing but the legacy one.
    let legacy = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(_) => return refusal(&ApiError::InvalidInput("unsupported websocket subprotocol".into()), None),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => {
            return refusal(&ApiError::InvalidInput(format!("not a websocket upgrade: {rejection}")), None)
        }
    };
    let upgrade = upgrade
        .protocols([ws::protocol::SUBPROTOCOL, ws::protocol::LEGACY_SUBPROTOCOL])
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        // tungstenite allocates its read buffer up front (128 KiB by default): with 10,000
        // subscribers that was 1.5 GiB of mostly empty buffers. Messages in are small
        // (init, subscribe, ping); a larger one grows the buffer as it arrives.
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES);
    let transport_ws =
        upgrade.selected_protocol().is_some_and(|p| p.as_bytes() == ws::protocol::SUBPROTOCOL.as_bytes());
    let Http { schema, auth, ws: ws_config } = http;
    if transport_ws {
        return upgrade.on_upgrade(move |socket| ws::serve(socket, schema, auth, ws_config)).into_response();
    }
    upgrade
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, legacy)
                .on_connection_init(move |payload| async move {
                    // The close reason carries the code, since the close frame has no body.
                    let ctx = request_context::from_init_payload(&auth, &payload)
                        .await
                        .map_err(|e| async_graphql::Error::new(format!("{}: {e}", e.code())))?;
                    let mut data = Data::default();
                    data.insert(ctx);
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Result<Answer, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn accept_picks_the_media_type_the_spec_says() {
        assert_eq!(negotiate(&HeaderMap::new()).unwrap(), Answer::Json);
        assert_eq!(accept("application/json").unwrap(), Answer::Json);
        assert_eq!(accept("*/*").unwrap(), Answer::Json);
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9").unwrap(),
            Answer::GraphqlResponse
        );
        assert_eq!(accept("application/graphql-response+json;q=0, application/json").unwrap(), Answer::Json);
        assert!(matches!(accept("text/html"), Err(ApiError::NotAcceptable(_))));
    }
}
