//! In-process fake of the Azure Service Bus REST endpoint and of the Microsoft Entra ID token
//! endpoint, faithful enough for `azure_messaging_servicebus` 0.21 and `azure_identity` 0.21.
//!
//! Point the SDK at it with `RoutedHttpClient` (endpoint = [`FakeServiceBus::url`]): the SDK
//! builds `https://{namespace}.servicebus.windows.net/{entity}/...` URLs, the routed client
//! sends them here with path and query intact. The namespace is therefore not seen and not
//! modelled; entities (queues, topics) spring into existence on first use.
//!
//! Modelled behaviour, following the REST API documentation:
//! * send (`POST /{entity}/messages`): 201, duplicate detection on `MessageId`, fault injection;
//! * peek-lock (`POST /{queue}/messages/head?timeout=N`): 201 with `BrokerProperties`,
//!   `Location` and custom-property headers, or 204 when nothing arrives in time;
//! * complete / unlock / renew (`DELETE` / `PUT` / `POST` on the `Location`);
//! * the token endpoint (`POST /{tenant}/oauth2/v2.0/token`) of the federated-credential flow.
//!
//! Every request is recorded, including ones the fake does not understand (answered 404).

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use chrono::{DateTime, Utc};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};
use url::Url;

/// Lock duration of every queue, the Service Bus default.
const LOCK_DURATION: Duration = Duration::from_secs(30);

/// Longest a peek-lock waits for a message, whatever `?timeout=` asks, so that tests stay fast.
const MAX_PEEK_WAIT: Duration = Duration::from_secs(1);

/// `TimeToLive` the service reports for messages without one (`TimeSpan.MaxValue` in seconds).
const DEFAULT_TTL_SECONDS: f64 = 922_337_203_685.477_5;

/// Headers that are part of the HTTP exchange or of the broker properties, hence never custom
/// properties of a message.
const STANDARD_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "authorization",
    "brokerproperties",
    "connection",
    "content-length",
    "content-type",
    "date",
    "expect",
    "host",
    "te",
    "transfer-encoding",
    "user-agent",
];

/// One HTTP request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// HTTP method, upper case (`POST`).
    pub method: String,
    /// Path and query, as sent (`/events/messages`, `/commands/messages/head?timeout=30`).
    pub path: String,
    /// Headers by lower-case name; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Body as UTF-8 (lossy).
    pub body: String,
}

/// A message the fake accepted (stored) on a queue or topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// Message body as UTF-8 (lossy).
    pub body: String,
    /// The `BrokerProperties` header parsed as JSON (`{}` when absent), e.g. `MessageId`.
    pub broker_properties: serde_json::Value,
    /// Every non-standard header (lower-case name -> raw value): the custom properties.
    pub custom_properties: BTreeMap<String, String>,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Authorization` header the send carried (`SharedAccessSignature ...` or `Bearer ...`).
    pub authorization: String,
    /// When the fake accepted it (commit-to-publish latency in the relay benchmark).
    pub accepted_at: DateTime<Utc>,
}

/// A running fake Service Bus namespace plus token endpoint. The server stops when this value
/// is dropped (or when the Tokio runtime that started it shuts down).
#[derive(Debug)]
pub struct FakeServiceBus {
    /// Base URL of the server, `http://127.0.0.1:{port}/`: the endpoint for `RoutedHttpClient`
    /// and the authority host for `WorkloadIdentityCredential`.
    pub url: Url,
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct FakeState {
    /// Base URL without trailing slash, for `Location` headers.
    base: String,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: Vec<Recorded>,
    entities: HashMap<String, Entity>,
    /// Remaining sends to fail and the status to fail them with.
    fail_next: Option<(usize, u16)>,
    rejected_ids: HashSet<String>,
    send_delay: Duration,
    tokens_issued: usize,
    last_token_form: Option<BTreeMap<String, String>>,
}

/// A queue or topic: what was sent to it and, for queues, what receivers see.
#[derive(Debug, Default)]
struct Entity {
    accepted: Vec<Accepted>,
    accepted_ids: HashSet<String>,
    duplicates_dropped: usize,
    send_attempts: Vec<String>,
    /// Messages available to peek-lock receivers (not yet completed), in sequence order.
    queue: Vec<QueuedMessage>,
    next_sequence: i64,
    completed: Vec<String>,
    unlocks: usize,
    renews: usize,
}

#[derive(Debug)]
struct QueuedMessage {
    sequence: i64,
    message_id: String,
    body: String,
    properties: Vec<(String, String)>,
    delivery_count: i32,
    enqueued: DateTime<Utc>,
    lock: Option<Lock>,
}

#[derive(Debug, Clone)]
struct Lock {
    token: String,
    until: DateTime<Utc>,
}

impl FakeServiceBus {
    /// Binds `127.0.0.1:0` and serves in a background task of the current Tokio runtime.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Service Bus");
        let addr = listener.local_addr().expect("local address");
        let url = Url::parse(&format!("http://{addr}/")).expect("valid URL");
        let state = Arc::new(FakeState {
            base: format!("http://{addr}"),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Service Bus server");
        });
        Self { url, state, server }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.state.lock()
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Messages stored on `entity` (queue or topic name), in acceptance order; duplicates and
    /// failed sends are not included.
    pub fn accepted(&self, entity: &str) -> Vec<Accepted> {
        self.with_entity(entity, |e| e.accepted.clone())
    }

    /// Sends to `entity` acknowledged with 201 but not stored because a message with the same
    /// `MessageId` had already been accepted (Service Bus duplicate detection).
    pub fn duplicates_dropped(&self, entity: &str) -> usize {
        self.with_entity(entity, |e| e.duplicates_dropped)
    }

    /// The `MessageId` of every send attempt on `entity` (empty string when none was given),
    /// including duplicates, injected failures and rejections, in arrival order.
    pub fn send_attempts(&self, entity: &str) -> Vec<String> {
        self.with_entity(entity, |e| e.send_attempts.clone())
    }

    /// The next `n` sends to any entity answer `status` (e.g. 503, 500, 429) without storing.
    pub fn fail_next_sends(&self, n: usize, status: u16) {
        self.lock().fail_next = (n > 0).then_some((n, status));
    }

    /// Sends whose `MessageId` is one of `ids` answer 400 (a message the broker will never take)
    /// until [`Self::clear_rejections`].
    pub fn reject_message_ids(&self, ids: &[&str]) {
        self.lock()
            .rejected_ids
            .extend(ids.iter().map(|id| id.to_string()));
    }

    /// Lifts every rejection set by [`Self::reject_message_ids`].
    pub fn clear_rejections(&self) {
        self.lock().rejected_ids.clear();
    }

    /// Delay applied before answering each send (`Duration::ZERO` to disable).
    pub fn set_send_delay(&self, d: Duration) {
        self.lock().send_delay = d;
    }

    /// Puts a message on `queue` for peek-lock receivers. Custom `properties` come back as
    /// headers with JSON-quoted values (`Priority: "High"`), as the real service returns
    /// string properties.
    pub fn enqueue(&self, queue: &str, message_id: &str, body: &str, properties: &[(&str, &str)]) {
        let mut inner = self.lock();
        let entity = inner.entities.entry(queue.to_string()).or_default();
        entity.next_sequence += 1;
        let sequence = entity.next_sequence;
        entity.queue.push(QueuedMessage {
            sequence,
            message_id: message_id.to_string(),
            body: body.to_string(),
            properties: properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            delivery_count: 0,
            enqueued: Utc::now(),
            lock: None,
        });
    }

    /// Messages still in `queue` (locked or not), i.e. not completed.
    pub fn queue_len(&self, queue: &str) -> usize {
        self.with_entity(queue, |e| e.queue.len())
    }

    /// `(MessageId, DeliveryCount)` of the messages still in `queue`, in sequence order.
    pub fn delivery_counts(&self, queue: &str) -> Vec<(String, i32)> {
        self.with_entity(queue, |e| {
            e.queue
                .iter()
                .map(|m| (m.message_id.clone(), m.delivery_count))
                .collect()
        })
    }

    /// `MessageId`s of the messages completed (deleted under a valid lock) on `queue`, in order.
    pub fn completed(&self, queue: &str) -> Vec<String> {
        self.with_entity(queue, |e| e.completed.clone())
    }

    /// Successful unlock (abandon) requests on `queue`.
    pub fn unlocks(&self, queue: &str) -> usize {
        self.with_entity(queue, |e| e.unlocks)
    }

    /// Successful lock renewals on `queue`.
    pub fn renews(&self, queue: &str) -> usize {
        self.with_entity(queue, |e| e.renews)
    }

    /// Access tokens issued by the token endpoint.
    pub fn tokens_issued(&self) -> usize {
        self.lock().tokens_issued
    }

    /// Form fields of the last token request (`client_id`, `scope`, `client_assertion`, ...).
    pub fn last_token_request(&self) -> Option<BTreeMap<String, String>> {
        self.lock().last_token_form.clone()
    }

    fn with_entity<T: Default>(&self, entity: &str, f: impl FnOnce(&Entity) -> T) -> T {
        self.lock().entities.get(entity).map(f).unwrap_or_default()
    }
}

impl Drop for FakeServiceBus {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide the state from the assertions that follow.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Single entry point: the routes depend on segment counts and methods in ways that are
/// clearer as one `match` than as axum routes, and unknown requests still get recorded.
async fn handle(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |pq| pq.to_string()),
        headers: header_map(&headers),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    state.lock().requests.push(recorded.clone());

    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::POST, [_tenant, "oauth2", "v2.0", "token"]) => token(&state, &recorded),
        (Method::POST, [entity, "messages"]) => send(&state, entity, recorded).await,
        (Method::POST, [queue, "messages", "head"]) => {
            peek_lock(&state, queue, &uri, &recorded).await
        }
        (Method::POST, [topic, "subscriptions", sub, "messages", "head"]) => {
            // Subscriptions are modelled as queues named `{topic}/subscriptions/{sub}`.
            let entity = format!("{topic}/subscriptions/{sub}");
            peek_lock(&state, &entity, &uri, &recorded).await
        }
        (m, [queue, "messages", id, lock]) => settle(&state, m, queue, id, lock, &recorded),
        (m, [topic, "subscriptions", sub, "messages", id, lock]) => {
            let entity = format!("{topic}/subscriptions/{sub}");
            settle(&state, m, &entity, id, lock, &recorded)
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

/// Service Bus accepts SAS or Entra ID tokens; signatures and tokens are not verified.
fn authorized(recorded: &Recorded) -> bool {
    recorded
        .headers
        .get("authorization")
        .is_some_and(|a| a.starts_with("SharedAccessSignature ") || a.starts_with("Bearer "))
}

async fn send(state: &FakeState, entity: &str, recorded: Recorded) -> Response {
    let broker_properties = match recorded.headers.get("brokerproperties") {
        None => serde_json::json!({}),
        Some(raw) => match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(v) if v.is_object() => v,
            _ => return (StatusCode::BAD_REQUEST, "invalid BrokerProperties").into_response(),
        },
    };
    let message_id = broker_properties
        .get("MessageId")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();

    let delay = {
        let mut inner = state.lock();
        let e = inner.entities.entry(entity.to_string()).or_default();
        e.send_attempts.push(message_id.clone());
        inner.send_delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    if !authorized(&recorded) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut inner = state.lock();
    if let Some((remaining, status)) = inner.fail_next {
        inner.fail_next = (remaining > 1).then_some((remaining - 1, status));
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "injected failure").into_response();
    }
    if inner.rejected_ids.contains(&message_id) {
        return (StatusCode::BAD_REQUEST, "message rejected").into_response();
    }
    let e = inner.entities.entry(entity.to_string()).or_default();
    // Duplicate detection: acknowledged as success, silently not stored again.
    if !message_id.is_empty() && !e.accepted_ids.insert(message_id) {
        e.duplicates_dropped += 1;
        return StatusCode::CREATED.into_response();
    }
    let custom_properties = recorded
        .headers
        .iter()
        .filter(|(k, _)| !STANDARD_HEADERS.contains(&k.as_str()) && !k.starts_with("x-ms-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    e.accepted.push(Accepted {
        body: recorded.body,
        broker_properties,
        custom_properties,
        content_type: recorded.headers.get("content-type").cloned(),
        authorization: recorded
            .headers
            .get("authorization")
            .cloned()
            .unwrap_or_default(),
        accepted_at: Utc::now(),
    });
    StatusCode::CREATED.into_response()
}

/// RFC 1123 date as the service writes it (`Wed, 02 Dec 2026 12:00:00 GMT`), which the SDK
/// parses with `time::serde::rfc2822`.
fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

async fn peek_lock(state: &FakeState, queue: &str, uri: &Uri, recorded: &Recorded) -> Response {
    if !authorized(recorded) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // The service holds the request open up to `timeout` seconds (default 60) for a message.
    let timeout = uri
        .query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "timeout")
                .and_then(|(_, v)| v.parse::<u64>().ok())
        })
        .unwrap_or(60);
    let deadline = Instant::now() + Duration::from_secs(timeout).min(MAX_PEEK_WAIT);
    loop {
        if let Some(response) = try_lock_next(state, queue) {
            return response;
        }
        if Instant::now() >= deadline {
            return StatusCode::NO_CONTENT.into_response();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn try_lock_next(state: &FakeState, queue: &str) -> Option<Response> {
    let mut inner = state.lock();
    let now = Utc::now();
    let message = inner
        .entities
        .get_mut(queue)?
        .queue
        .iter_mut()
        .find(|m| m.lock.as_ref().is_none_or(|l| l.until <= now))?;
    let lock = Lock {
        token: uuid::Uuid::new_v4().to_string(),
        until: now + LOCK_DURATION,
    };
    message.delivery_count += 1;
    message.lock = Some(lock.clone());

    let broker_properties = serde_json::json!({
        "DeliveryCount": message.delivery_count,
        "EnqueuedSequenceNumber": 0,
        "EnqueuedTimeUtc": http_date(message.enqueued),
        "LockToken": lock.token,
        "LockedUntilUtc": http_date(lock.until),
        "MessageId": message.message_id,
        "SequenceNumber": message.sequence,
        "State": "Active",
        "TimeToLive": DEFAULT_TTL_SECONDS,
    });
    let mut headers = HeaderMap::new();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    };
    put("brokerproperties", &broker_properties.to_string());
    // Like the service: `{entity}/messages/{sequence}/{lock token}`, on this server's URL
    // (the real one is on `https://{namespace}.servicebus.windows.net`). The SDK uses it
    // verbatim for complete/unlock/renew.
    put(
        "location",
        &format!(
            "{}/{queue}/messages/{}/{}",
            state.base, message.sequence, lock.token
        ),
    );
    put(
        "content-type",
        "application/atom+xml;type=entry;charset=utf-8",
    );
    put("date", &http_date(now));
    for (name, value) in &message.properties {
        put(name, &serde_json::Value::from(value.as_str()).to_string());
    }
    Some((StatusCode::CREATED, headers, message.body.clone()).into_response())
}

/// Complete (`DELETE`), unlock (`PUT`) or renew (`POST`) a locked message. `id` is the sequence
/// number or the `MessageId` (the service accepts either). Unknown message or lock token: 404;
/// lock expired: 410.
fn settle(
    state: &FakeState,
    method: Method,
    queue: &str,
    id: &str,
    lock_token: &str,
    recorded: &Recorded,
) -> Response {
    if !authorized(recorded) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if ![Method::DELETE, Method::PUT, Method::POST].contains(&method) {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let mut inner = state.lock();
    let Some(entity) = inner.entities.get_mut(queue) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = Utc::now();
    let Some(index) = entity.queue.iter().position(|m| {
        (m.sequence.to_string() == id || m.message_id == id)
            && m.lock.as_ref().is_some_and(|l| l.token == lock_token)
    }) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if entity.queue[index]
        .lock
        .as_ref()
        .is_some_and(|l| l.until <= now)
    {
        return StatusCode::GONE.into_response();
    }
    match method {
        Method::DELETE => {
            let message = entity.queue.remove(index);
            entity.completed.push(message.message_id);
        }
        Method::PUT => {
            entity.queue[index].lock = None;
            entity.unlocks += 1;
        }
        _ => {
            if let Some(lock) = entity.queue[index].lock.as_mut() {
                lock.until = now + LOCK_DURATION;
            }
            entity.renews += 1;
        }
    }
    StatusCode::OK.into_response()
}

/// Token endpoint of the OAuth 2.0 client-credentials flow with a federated assertion.
fn token(state: &FakeState, recorded: &Recorded) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(recorded.body.as_bytes())
        .into_owned()
        .collect();
    let mut inner = state.lock();
    inner.last_token_form = Some(form.clone());
    let valid = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.contains_key("client_id")
        && form.contains_key("scope")
        && form.get("client_assertion").is_some_and(|a| !a.is_empty());
    if !valid {
        let error = serde_json::json!({
            "error": "invalid_request",
            "error_description": "grant_type, client_id, scope and client_assertion are required",
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    inner.tokens_issued += 1;
    let body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": 3600,
        "ext_expires_in": 3600,
        "access_token": format!("fake-token-{}", inner.tokens_issued),
    });
    axum::Json(body).into_response()
}
