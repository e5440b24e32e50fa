//! The axum routes of the API: `POST /graphql`, GraphiQL on `GET /graphql`, and the
//! graphql-transport-ws endpoint on `/graphql/ws`. The host (`infra`) only mounts them.

use async_graphql::http::{receive_body, GraphiQLSource, MultipartOptions, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::{Data, ErrorExtensions};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::error::ApiError;
use crate::parse_cache::ParseCache;
use crate::{request_context, schema, ApiSchema, ApiState};

/// Largest request body accepted; larger ones get 413 before parsing.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Routes serving the schema.
pub fn router(state: ApiState) -> Router {
    let http = Http { schema: schema(state), parsed: ParseCache::default() };
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(websocket))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(http)
}

/// What the handlers share.
#[derive(Clone)]
struct Http {
    schema: ApiSchema,
    parsed: ParseCache,
}

impl axum::extract::FromRef<Http> for ApiSchema {
    fn from_ref(http: &Http) -> Self {
        http.schema.clone()
    }
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").finish())
}

fn bad_request(err: ApiError) -> Response {
    let body = serde_json::json!({ "errors": [err.extend()] });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Takes the body as `Bytes` so `DefaultBodyLimit` applies (413 before anything is parsed);
/// async-graphql-axum's extractor streams the body past that limit.
async fn graphql(State(http): State<Http>, headers: HeaderMap, body: Bytes) -> Response {
    let ctx = match request_context::from_headers(&headers) {
        Ok(ctx) => ctx,
        Err(err) => return bad_request(err),
    };
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let request = match receive_body(content_type, futures::io::Cursor::new(body), MultipartOptions::default()).await {
        Ok(request) => request,
        Err(err) => return bad_request(ApiError::InvalidInput(format!("malformed GraphQL request: {err}"))),
    };
    let trace_id = ctx.trace_id.to_string();
    let (request, parsed) = http.parsed.attach(request);
    let mut response = http.schema.execute(request.data(ctx)).await;
    for error in &mut response.errors {
        code_request_error(error, parsed);
    }
    let mut response = GraphQLResponse::from(response).into_response();
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        // Lets callers that sent no traceparent find their trace.
        response.headers_mut().insert("x-trace-id", value);
    }
    response
}

/// Gives a stable `extensions.code` to the errors async-graphql raises itself (resolver
/// errors carry theirs from [`ApiError`]): `GRAPHQL_PARSE_FAILED` for a document that does not
/// parse, `GRAPHQL_VALIDATION_FAILED` for one refused before execution (unknown fields,
/// variables of the wrong type, depth and complexity limits), `INVALID_INPUT` for an argument
/// refused while executing a field.
fn code_request_error(error: &mut async_graphql::ServerError, parsed: bool) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_some() {
        return;
    }
    let code = match (parsed, error.path.is_empty()) {
        (false, _) => "GRAPHQL_PARSE_FAILED",
        (true, true) => "GRAPHQL_VALIDATION_FAILED",
        (true, false) => "INVALID_INPUT",
    };
    extensions.set("code", code);
}

async fn websocket(State(schema): State<ApiSchema>, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(|payload| async move {
                    let ctx = request_context::from_init_payload(&payload).map_err(|e| e.extend())?;
                    let mut data = Data::default();
                    data.insert(ctx);
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}
