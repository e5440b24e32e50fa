//! `GET /audit/export`: the audit log of a time range as a streamed download, for auditors.
//!
//! It serves the rows of the `auditLog` query, without its page size limit:
//! - **Who**: the caller is authenticated like `/graphql` ([`crate::request_context`]), passes
//!   the same per-caller rate limiter once per download ([`crate::executor::Admission`]), and
//!   is authorised by the role table's entry for the `auditLog` root field
//!   ([`crate::guard::authorize_read`]), never by a check of its own. Tenant-scoped callers see
//!   their tenants' events and platform-wide ones, by the same SQL rule `tenant_visible`; a
//!   `tenantId` outside the caller's scope exports nothing, as the query returns nothing.
//! - **What**: `from` (required) and `to` (optional, default: the time of the request; must be
//!   later than `from`) bound `recorded_at` to `[from, to)` as in `auditLog`; `tenantId`,
//!   `actor`, `actorRole`, `aggregateType` and `eventType` (comma-separated) narrow it;
//!   `format=ndjson` (default) or `csv` picks the media type (a query parameter, not `Accept`,
//!   so that a link or `curl -O` is enough); `payload` adds each event's payload from `events`
//!   (default `true` for NDJSON, `false` for CSV, where it is a JSON text column).
//! - **Consistency**: it reads the audit projection, like `auditLog`. The rows are those the
//!   projection had applied when the download started (the range of transactions is fixed
//!   first), so a long download is a stable snapshot even while events keep arriving. For
//!   read-your-writes a client passes `minPosition` (a mutation's `position`), as to the query.
//! - **How**: keyset batches of [`BATCH_ROWS`] rows in log order ([`BATCH_SQL`] says why the
//!   filters apply after the scan), each its own short statement
//!   (no transaction spans the download: it would hold back the xmin horizon the projections
//!   wait on), joined to `events` by primary key for the envelope's ids and the payload. A
//!   producer task encodes each batch and hands it to the response body through a channel of
//!   [`BUFFERED_BATCHES`]: a slow client slows the reader instead of growing memory, and a
//!   client that goes away stops it.
//! - **Failures**: refusals before the first byte are the API's JSON errors with their status
//!   (400 `INVALID_INPUT`, 401, 403, 429, 503 `PROJECTION_LAG`). A failure after the first
//!   byte can no longer change the status: the body is aborted (the chunked encoding is not
//!   terminated), so a client sees a broken download, never a silently short one; the cause is
//!   logged with the trace id.

use async_graphql::parser::types::OperationType;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use commands::{LogPosition, RequestContext, Role};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::PgPool;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::executor::Admission;
use crate::request_context::{self, Authentication};
use crate::ApiState;

/// Rows per round trip: large enough that a round trip costs little per row, small enough
/// that a batch (with payloads) stays well under a few MiB.
pub const BATCH_ROWS: i64 = 2_000;

/// Encoded batches waiting for the client at most: one being written, one ready.
pub const BUFFERED_BATCHES: usize = 2;

/// The columns of both formats, in order (the CSV header row; the NDJSON keys).
pub const COLUMNS: [&str; 15] = [
    "eventId",
    "position",
    "globalPosition",
    "aggregateType",
    "aggregateId",
    "sequence",
    "eventType",
    "tenantId",
    "actor",
    "actorRole",
    "traceId",
    "correlationId",
    "causationId",
    "recordedAt",
    "payload",
];

/// What the export could not do once the download had started.
#[derive(Debug, Error)]
pub enum ExportError {
    /// A batch could not be read.
    #[error("reading the audit log: {0}")]
    Database(#[from] sqlx::Error),
    /// A row could not be written as CSV.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A row could not be written as JSON (a stored payload that is not JSON).
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The media type of the download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `application/x-ndjson`: one JSON object per line.
    #[default]
    Ndjson,
    /// `text/csv`: a header row, then one row per event.
    Csv,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }

    fn label(self) -> &'static str {
        self.extension()
    }
}

/// The query string of `GET /audit/export` (unknown parameters are refused, so that a typo
/// does not silently widen the export).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportParams {
    /// Start of the range, inclusive (RFC 3339).
    pub from: DateTime<Utc>,
    /// End of the range, exclusive (RFC 3339); default: when the request arrives.
    pub to: Option<DateTime<Utc>>,
    /// Only this tenant's events (within the caller's scope).
    pub tenant_id: Option<String>,
    /// Only this actor's events.
    pub actor: Option<String>,
    /// Only events of actors acting in this role (any spelling of a role name).
    pub actor_role: Option<String>,
    /// Only events of this aggregate type.
    pub aggregate_type: Option<String>,
    /// Only events of these types (comma-separated).
    pub event_type: Option<String>,
    /// `ndjson` (default) or `csv`.
    #[serde(default)]
    pub format: Format,
    /// Whether each row carries the event's payload.
    pub payload: Option<bool>,
    /// Wait until the audit projection has applied this log cursor (a mutation's `position`).
    pub min_position: Option<String>,
}

/// The filters of one export, validated: what every batch binds.
#[derive(Debug, Clone)]
struct Filter {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tenant_id: Option<String>,
    actor: Option<String>,
    actor_role: Option<&'static str>,
    aggregate_type: Option<String>,
    event_types: Option<Vec<String>>,
    scope: Option<Vec<String>>,
    payload: bool,
}

impl Filter {
    fn new(params: ExportParams, ctx: &RequestContext, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let to = params.to.unwrap_or(now);
        if to <= params.from {
            return Err(ApiError::InvalidInput(format!(
                "`to` ({to}) must be later than `from` ({}): the range is [from, to)",
                params.from
            )));
        }
        let actor_role = params
            .actor_role
            .map(|r| r.parse::<Role>().map(Role::as_str))
            .transpose()
            .map_err(|e| ApiError::InvalidInput(e.to_string()))?;
        let event_types = params.event_type.map(|types| {
            types.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect::<Vec<_>>()
        });
        Ok(Self {
            from: params.from,
            to,
            tenant_id: params.tenant_id,
            actor: params.actor,
            actor_role,
            aggregate_type: params.aggregate_type,
            event_types,
            scope: ctx.tenant_filter(),
            payload: params.payload.unwrap_or(params.format == Format::Ndjson),
        })
    }
}

/// One exported row, as read.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    transaction_id: i64,
    global_position: i64,
    /// Whether the row is in the export (the others only move the cursor on).
    matched: bool,
    event_id: Option<String>,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    tenant_id: Option<String>,
    actor: Option<String>,
    actor_role: Option<String>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
    causation_id: Option<String>,
    recorded_at: DateTime<Utc>,
    payload: Option<String>,
}

impl Row {
    fn position(&self) -> LogPosition {
        LogPosition { transaction_id: self.transaction_id, global_position: self.global_position }
    }
}

/// One NDJSON line; the keys are [`COLUMNS`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    event_id: Option<&'a str>,
    position: String,
    global_position: i64,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    sequence: i64,
    event_type: &'a str,
    tenant_id: Option<&'a str>,
    actor: Option<&'a str>,
    actor_role: Option<&'a str>,
    trace_id: Option<&'a str>,
    correlation_id: Option<&'a str>,
    causation_id: Option<&'a str>,
    recorded_at: String,
    // Omitted (not null) when payloads were not asked for: null would read as "no payload".
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a RawValue>,
}

/// Encodes batches of rows in one format.
struct Encoder {
    format: Format,
}

impl Encoder {
    /// The bytes before the first row: the CSV header.
    fn start(&self) -> Result<Vec<u8>, ExportError> {
        match self.format {
            Format::Ndjson => Ok(Vec::new()),
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(Vec::new());
                writer.write_record(COLUMNS)?;
                writer.into_inner().map_err(|e| ExportError::Csv(e.into_error().into()))
            }
        }
    }

    fn batch(&self, rows: &[Row]) -> Result<Vec<u8>, ExportError> {
        let mut out = Vec::with_capacity(rows.len() * 512);
        match self.format {
            Format::Ndjson => {
                for row in rows {
                    let payload = row.payload.as_deref().map(serde_json::from_str::<&RawValue>).transpose()?;
                    serde_json::to_writer(&mut out, &line(row, payload))?;
                    out.push(b'\n');
                }
            }
            Format::Csv => {
                let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(out);
                for row in rows {
                    let (position, global, sequence, recorded) = (
                        row.position().to_cursor(),
                        row.global_position.to_string(),
                        row.sequence.to_string(),
                        row.recorded_at.to_rfc3339(),
                    );
                    fn o(v: &Option<String>) -> &str {
                        v.as_deref().unwrap_or_default()
                    }
                    writer.write_record([
                        o(&row.event_id),
                        &position,
                        &global,
                        &row.aggregate_type,
                        &row.aggregate_id,
                        &sequence,
                        &row.event_type,
                        o(&row.tenant_id),
                        o(&row.actor),
                        o(&row.actor_role),
                        o(&row.trace_id),
                        o(&row.correlation_id),
                        o(&row.causation_id),
                        &recorded,
                        o(&row.payload),
                    ])?;
                }
                out = writer.into_inner().map_err(|e| ExportError::Csv(e.into_error().into()))?;
            }
        }
        Ok(out)
    }
}

fn line<'a>(row: &'a Row, payload: Option<&'a RawValue>) -> Line<'a> {
    Line {
        event_id: row.event_id.as_deref(),
        position: row.position().to_cursor(),
        global_position: row.global_position,
        aggregate_type: &row.aggregate_type,
        aggregate_id: &row.aggregate_id,
        sequence: row.sequence,
        event_type: &row.event_type,
        tenant_id: row.tenant_id.as_deref(),
        actor: row.actor.as_deref(),
        actor_role: row.actor_role.as_deref(),
        trace_id: row.trace_id.as_deref(),
        correlation_id: row.correlation_id.as_deref(),
        causation_id: row.causation_id.as_deref(),
        recorded_at: row.recorded_at.to_rfc3339(),
        payload,
    }
}

/// The transactions whose events were recorded in `[from, to)`: every row of the range lies
/// between the first and the last in log order (an index-only scan of the range).
async fn transaction_bounds(pool: &PgPool, filter: &Filter) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT min(transaction_id), max(transaction_id) FROM audit_log WHERE recorded_at >= $1 AND recorded_at < $2",
    )
    .bind(filter.from)
    .bind(filter.to)
    .fetch_one(pool)
    .await?;
    Ok(first.zip(last))
}

/// The batch statement: the next `$12` rows of the audit log after `($1, $2)` in log order up
/// to transaction `$3`, each marked `matched` when it meets the `auditLog` query's conditions
/// (and `tenant_visible`), joined to the log by primary key for the envelope's ids and the
/// payload (PostgreSQL applies the mark as a join filter, so it probes `events` for every
/// scanned row; only marked rows are exported).
///
/// The scan of the log carries no other condition on purpose: with the time range in the same
/// `WHERE`, PostgreSQL's generic plan (a prepared statement's, after five runs) estimated one
/// row and scanned the whole range by `recorded_at` and sorted it, per batch. Scanning a fixed
/// number of rows along `audit_log_log_order` and filtering them afterwards is the one plan,
/// whatever the parameters; a selective filter costs a few more round trips, never a sort.
pub const BATCH_SQL: &str = "\
WITH scanned AS MATERIALIZED ( \
  SELECT * FROM audit_log \
   WHERE (transaction_id, global_position) > ($1, $2) AND transaction_id <= $3 \
   ORDER BY transaction_id, global_position LIMIT $12), \
marked AS ( \
  SELECT s.*, (s.recorded_at >= $4 AND s.recorded_at < $5 \
     AND ($6::text IS NULL OR s.actor = $6) AND ($7::text IS NULL OR s.tenant_id = $7) \
     AND ($8::text[] IS NULL OR s.event_type = ANY($8)) \
     AND tenant_visible(s.tenant_id, $9::text[]) \
     AND ($10::text IS NULL OR s.actor_role = $10) \
     AND ($11::text IS NULL OR s.aggregate_type = $11)) IS TRUE AS matched \
    FROM scanned s) \
SELECT a.transaction_id, a.global_position, a.matched, a.event_id::text AS event_id, a.aggregate_type, \
       a.aggregate_id, a.sequence, a.event_type, NULLIF(a.tenant_id, '') AS tenant_id, a.actor, a.actor_role, \
       a.trace_id, e.metadata ->> 'correlation_id' AS correlation_id, \
       e.metadata ->> 'causation_id' AS causation_id, a.recorded_at, \
       CASE WHEN $13 THEN e.payload::text END AS payload \
  FROM marked a \
  LEFT JOIN LATERAL ( \
    SELECT payload, metadata FROM events \
     WHERE a.matched AND aggregate_type = a.aggregate_type AND aggregate_id = a.aggregate_id \
       AND sequence = a.sequence) e ON true \
 ORDER BY a.transaction_id, a.global_position";

async fn batch(pool: &PgPool, filter: &Filter, after: LogPosition, last: i64) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(BATCH_SQL)
        .bind(after.transaction_id)
        .bind(after.global_position)
        .bind(last)
        .bind(filter.from)
        .bind(filter.to)
        .bind(&filter.actor)
        .bind(&filter.tenant_id)
        .bind(&filter.event_types)
        .bind(&filter.scope)
        .bind(filter.actor_role)
        .bind(&filter.aggregate_type)
        .bind(BATCH_ROWS)
        .bind(filter.payload)
        .fetch_all(pool)
        .await
}

/// Reads the range batch by batch into `out` until it is exhausted, the client is gone
/// (`out` closed) or a batch fails (the error is sent, which aborts the body).
async fn produce(
    pool: PgPool,
    filter: Filter,
    encoder: Encoder,
    bounds: Option<(i64, i64)>,
    trace_id: String,
    out: mpsc::Sender<Result<Bytes, ExportError>>,
) {
    let result = async {
        let head = encoder.start()?;
        if !head.is_empty() && out.send(Ok(Bytes::from(head))).await.is_err() {
            return Ok(0);
        }
        let Some((first, last)) = bounds else { return Ok(0) };
        // Just before the first transaction's first event (positions start at 1).
        let mut after = LogPosition { transaction_id: first, global_position: 0 };
        let mut exported = 0u64;
        loop {
            let mut rows = batch(&pool, &filter, after, last).await?;
            let Some(end) = rows.last().map(Row::position) else { break };
            after = end;
            let scanned = rows.len() as i64;
            rows.retain(|r| r.matched);
            if !rows.is_empty() {
                let bytes = encoder.batch(&rows)?;
                exported += rows.len() as u64;
                metrics::counter!("audit_export_events_total", "format" => encoder.format.label())
                    .increment(rows.len() as u64);
                if out.send(Ok(Bytes::from(bytes))).await.is_err() {
                    tracing::info!(trace_id, exported, "audit export: the client went away");
                    break;
                }
            }
            if scanned < BATCH_ROWS {
                break;
            }
        }
        Ok::<u64, ExportError>(exported)
    }
    .await;
    match result {
        Ok(exported) => tracing::info!(trace_id, exported, "audit export done"),
        Err(e) => {
            tracing::error!(trace_id, error = %e, "audit export failed after it started; the body is aborted");
            let _ = out.send(Err(e)).await;
        }
    }
}

/// What the export handler needs from the API.
#[derive(Clone)]
pub(crate) struct Export {
    pub(crate) state: ApiState,
    pub(crate) auth: Authentication,
    pub(crate) admission: Admission,
}

/// `GET /audit/export`.
pub(crate) async fn export(
    State(export): State<Export>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Response {
    let now = Utc::now();
    let ctx = match request_context::from_headers(&export.auth, &headers).await {
        Ok(ctx) => ctx,
        Err(err) => return crate::http::refusal(&err, None),
    };
    let trace_id = ctx.trace_id.to_string();
    match start(&export, &ctx, params, now).await {
        Ok(response) => crate::http::with_trace(response, Some(&trace_id)),
        Err(err) => crate::http::refusal(&err, Some(&trace_id)),
    }
}

/// Everything before the first byte, each refusal an [`ApiError`]; then the streamed response.
async fn start(
    export: &Export,
    ctx: &RequestContext,
    params: Result<Query<ExportParams>, QueryRejection>,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    export.admission.admit(ctx)?;
    crate::guard::authorize_read(ctx, OperationType::Query, "auditLog", false)?;
    let Query(params) =
        params.map_err(|e| ApiError::InvalidInput(format!("bad export parameters: {}", e.body_text())))?;
    let trace_id = ctx.trace_id.as_str();
    if let Some(cursor) = &params.min_position {
        crate::projection_status::reach(&export.state, trace_id, "audit", cursor).await?;
    }
    let format = params.format;
    let filter = Filter::new(params, ctx, now)?;
    let bounds = transaction_bounds(&export.state.pool, &filter).await.map_err(|e| ApiError::internal(trace_id, e))?;
    let filename = format!(
        "audit-{}-{}.{}",
        filter.from.format("%Y%m%dT%H%M%SZ"),
        filter.to.format("%Y%m%dT%H%M%SZ"),
        format.extension()
    );
    let (tx, rx) = mpsc::channel(BUFFERED_BATCHES);
    tokio::spawn(produce(export.state.pool.clone(), filter, Encoder { format }, bounds, trace_id.to_owned(), tx));
    // Polled by the response body only as the socket takes bytes: the backpressure.
    let body =
        Body::from_stream(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|e| ApiError::internal(trace_id, e))?;
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static(format.content_type())),
            (CONTENT_DISPOSITION, disposition),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}
