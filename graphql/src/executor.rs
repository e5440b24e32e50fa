//! `GuardedSchema`: the schema behind every checkpoint a document passes before it runs, the
//! same for HTTP and websocket requests.
//!
//! In order: the caller's rate ([`Admission`]), the persisted-query allow-list (when one is
//! configured), the nesting bound on the raw text ([`crate::nesting`], before any recursive
//! parser runs), no NUL in any string, parsing (through [`ParseCache`]), the expansion bound
//! ([`crate::expansion`]), the role guard ([`crate::guard`]), then
//! async-graphql's validation (depth, complexity) and execution under a timeout. A refusal
//! before execution is an [`ApiError`] the transport turns into its status code.

use std::any::TypeId;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Data, ErrorExtensions, Executor, Request, Response, ServerError};
use commands::RequestContext;
use futures::stream::BoxStream;
use futures::StreamExt;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::guard::{self, RootFields};
use crate::parse_cache::ParseCache;
use crate::ApiSchema;

/// Limits applied to every document; [`Limits::default`] is what `serve` uses unless told
/// otherwise.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest a query or mutation may run (subscriptions are long-lived and not bounded).
    pub timeout: Duration,
    /// Sustained requests per second per caller (token subject); `None`: no limit.
    pub rate_per_second: Option<NonZeroU32>,
    /// Requests a caller may send at once above its sustained rate.
    pub burst: NonZeroU32,
    /// When set, only these documents run (by SHA-256 of their text).
    pub persisted_queries: Option<Arc<PersistedQueries>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            rate_per_second: NonZeroU32::new(2_000),
            burst: NonZeroU32::new(4_000).expect("non-zero"),
            persisted_queries: None,
        }
    }
}

/// An allow-list of documents, keyed by the lowercase hex SHA-256 of their text. A request
/// may send the document itself (it must be on the list) or only its hash, Apollo-style:
/// `"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}`.
#[derive(Debug, Default)]
pub struct PersistedQueries {
    by_hash: HashMap<String, String>,
}

impl PersistedQueries {
    /// A list of the given documents.
    pub fn new(documents: impl IntoIterator<Item = String>) -> Self {
        Self { by_hash: documents.into_iter().map(|d| (sha256_hex(&d), d)).collect() }
    }

    /// Reads a JSON file: either an array of documents or an object from hash to document
    /// (each hash is checked against its document).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let documents: Vec<String> = match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or("documents must be strings"))
                .collect::<Result<_, _>>()?,
            serde_json::Value::Object(map) => {
                let mut documents = Vec::with_capacity(map.len());
                for (hash, doc) in map {
                    let doc = doc.as_str().ok_or("documents must be strings")?.to_owned();
                    if sha256_hex(&doc) != hash.to_lowercase() {
                        return Err(format!("hash {hash} does not match its document"));
                    }
                    documents.push(doc);
                }
                documents
            }
            _ => return Err("expected an array of documents or an object from hash to document".into()),
        };
        Ok(Self::new(documents))
    }

    /// How many documents are allowed.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Resolves the request's document against the list.
    fn resolve(&self, request: &mut Request) -> Result<(), ApiError> {
        let hash = request
            .extensions
            .get("persistedQuery")
            .and_then(|p| match p {
                async_graphql::Value::Object(o) => o.get("sha256Hash").cloned(),
                _ => None,
            })
            .and_then(|h| match h {
                async_graphql::Value::String(s) => Some(s.to_lowercase()),
                _ => None,
            });
        if request.query.is_empty() {
            let hash =
                hash.ok_or_else(|| refused("PERSISTED_QUERY_NOT_FOUND", "no document and no persisted query hash"))?;
            let document = self
                .by_hash
                .get(&hash)
                .ok_or_else(|| refused("PERSISTED_QUERY_NOT_FOUND", "no persisted document has this hash"))?;
            request.query = document.clone();
            return Ok(());
        }
        if self.by_hash.contains_key(&sha256_hex(&request.query)) {
            Ok(())
        } else {
            Err(refused("PERSISTED_QUERY_NOT_ALLOWED", "this server runs only persisted documents"))
        }
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn refused(code: &'static str, message: &str) -> ApiError {
    ApiError::Refused { code, message: message.to_owned() }
}

/// Per-caller rate limits (a GCRA per token subject, from the `governor` crate).
#[derive(Clone)]
pub struct Admission {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl Admission {
    /// Admission under `limits`.
    pub fn new(limits: &Limits) -> Self {
        let limiter = limits
            .rate_per_second
            .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(limits.burst))));
        Self { limiter }
    }

    /// Admits one request of `ctx`'s caller, or says when to come back.
    pub fn admit(&self, ctx: &RequestContext) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        // Forget callers idle long enough to be back at a full burst: bounds the memory.
        if limiter.len() > 10_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&ctx.actor.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited { retry_after_seconds: wait.as_secs().max(1) }
        })
    }
}

/// The schema with its checkpoints. Cheap to clone.
#[derive(Clone)]
pub struct GuardedSchema {
    inner: Arc<Inner>,
}

struct Inner {
    schema: ApiSchema,
    parsed: ParseCache,
    root_fields: RootFields,
    limits: Limits,
    admission: Admission,
}

/// What to do with a mutation: GET requests may only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// POST and websocket: every operation type.
    Any,
    /// GET: queries only.
    ReadOnly,
}

impl GuardedSchema {
    /// Guards `schema` with `limits`; `introspection` says whether the schema answers it.
    pub fn new(schema: ApiSchema, limits: Limits, introspection: bool) -> Self {
        let admission = Admission::new(&limits);
        let mut root_fields = RootFields::from_sdl(&crate::sdl());
        root_fields.introspection = introspection;
        Self { inner: Arc::new(Inner { schema, parsed: ParseCache::default(), root_fields, limits, admission }) }
    }

    /// The rate limits, for transports that admit a request before reading its body.
    pub fn admission(&self) -> &Admission {
        &self.inner.admission
    }

    /// Everything before execution: allow-list, nesting, parsing, roles. Returns the request
    /// with its parsed document attached, or the refusal. A document that does not parse is
    /// returned as is (with `false`), for async-graphql to report with its position.
    pub fn prepare(
        &self,
        mut request: Request,
        ctx: &RequestContext,
        method: Method,
    ) -> Result<(Request, bool), ApiError> {
        if let Some(persisted) = &self.inner.limits.persisted_queries {
            persisted.resolve(&mut request)?;
        }
        crate::nesting::check(&request.query)?;
        refuse_nul(&request)?;
        let (mut request, parsed) = self.inner.parsed.attach(request);
        if parsed {
            let operation_name = request.operation_name.take();
            let variables = std::mem::take(&mut request.variables);
            let checked = request.parsed_query().map_err(|e| ApiError::InvalidInput(e.message)).and_then(|document| {
                crate::expansion::check(document)?;
                if method == Method::ReadOnly && mutates(document, operation_name.as_deref()) {
                    return Err(ApiError::MethodNotAllowed("mutations are sent with POST".into()));
                }
                guard::check(document, operation_name.as_deref(), &variables, ctx, &self.inner.root_fields)
            });
            request.operation_name = operation_name;
            request.variables = variables;
            checked?;
        }
        Ok((request, parsed))
    }

    /// Runs a query or mutation for `ctx` through every checkpoint.
    pub async fn run(&self, request: Request, ctx: RequestContext, method: Method) -> Result<Response, ApiError> {
        let (request, parsed) = self.prepare(request, &ctx, method)?;
        let timeout = self.inner.limits.timeout;
        let mut response = match tokio::time::timeout(timeout, self.inner.schema.execute(request.data(ctx))).await {
            Ok(response) => response,
            Err(_) => {
                return Ok(Response::from_errors(vec![to_server_error(&ApiError::Timeout {
                    seconds: timeout.as_secs(),
                })]))
            }
        };
        for error in &mut response.errors {
            code_request_error(error, parsed);
        }
        Ok(response)
    }
}

/// Refuses U+0000 anywhere in the document's strings or the variables: PostgreSQL stores no
/// NUL in text or jsonb, so it would otherwise surface as a storage failure deep inside a read
/// or a command, instead of the client's mistake it is.
fn refuse_nul(request: &Request) -> Result<(), ApiError> {
    fn in_value(value: &async_graphql::Value) -> bool {
        match value {
            async_graphql::Value::String(s) => s.contains('\0'),
            async_graphql::Value::List(items) => items.iter().any(in_value),
            async_graphql::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || in_value(v)),
            _ => false,
        }
    }
    let in_query = request.query.contains('\0') || request.query.contains("\\u0000");
    let in_variables = request.variables.iter().any(|(k, v)| k.contains('\0') || in_value(v));
    if in_query || in_variables {
        return Err(ApiError::InvalidInput("strings may not contain the NUL character (U+0000)".into()));
    }
    Ok(())
}

/// Whether the operation that will run is a mutation.
fn mutates(document: &async_graphql::parser::types::ExecutableDocument, operation_name: Option<&str>) -> bool {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => op.node.ty == OperationType::Mutation,
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).is_some_and(|op| op.node.ty == OperationType::Mutation)
        }
        (DocumentOperations::Multiple(ops), None) => ops.values().any(|op| op.node.ty == OperationType::Mutation),
    }
}

/// An [`ApiError`] as a GraphQL error with its code.
pub fn to_server_error(err: &ApiError) -> ServerError {
    let e = err.extend();
    let mut server = ServerError::new(e.message, None);
    server.extensions = e.extensions;
    server
}

/// Gives a stable `extensions.code` to the errors async-graphql raises itself (resolver
/// errors carry theirs from [`ApiError`]): `GRAPHQL_PARSE_FAILED` for a document that does not
/// parse, `GRAPHQL_VALIDATION_FAILED` for one refused before execution (unknown fields,
/// variables of the wrong type, depth and complexity limits), `INVALID_INPUT` for an argument
/// refused while executing a field.
pub fn code_request_error(error: &mut ServerError, parsed: bool) {
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

/// The executor of one websocket connection: its caller is the one its `connection_init`
/// established (in the session data), checked like an HTTP caller for every subscription.
impl Executor for GuardedSchema {
    async fn execute(&self, request: Request) -> Response {
        // The websocket transport only streams; a plain execute has no caller to act for.
        let _ = request;
        Response::from_errors(vec![to_server_error(&ApiError::Unauthenticated("no caller".into()))])
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let ctx = session_data.as_ref().and_then(|data| {
            data.get(&TypeId::of::<RequestContext>()).and_then(|b| b.downcast_ref::<RequestContext>()).cloned()
        });
        let refuse = |err: ApiError| {
            futures::stream::once(async move { Response::from_errors(vec![to_server_error(&err)]) }).boxed()
        };
        let Some(ctx) = ctx else {
            return refuse(ApiError::Unauthenticated(
                "the connection has no caller; send connection_init first".into(),
            ));
        };
        if let Err(err) = self.inner.admission.admit(&ctx) {
            return refuse(err);
        }
        let (request, parsed) = match self.prepare(request, &ctx, Method::Any) {
            Ok(prepared) => prepared,
            Err(err) => return refuse(err),
        };
        let stream = match session_data {
            Some(data) => self.inner.schema.execute_stream_with_session_data(request, data),
            None => self.inner.schema.execute_stream(request),
        };
        stream
            .map(move |mut response| {
                for error in &mut response.errors {
                    code_request_error(error, parsed);
                }
                response
            })
            .boxed()
    }
}
