//! Events the relay could not publish: parked here (the relay moves on past them) and
//! published again on an operator's request. A parked event is one the broker refused
//! outright, or one that kept failing while other events got through: parking never happens
//! while the broker is down for everyone (the relay waits instead, its lag visible).

use chrono::{DateTime, Utc};
use commands::log::{RecordedEvent, RECORDED_EVENT_COLUMNS};
use sqlx::PgPool;

use crate::envelope::{message_id, IntegrationEnvelope};
use crate::error::IntegrationError;
use crate::port::Publisher;
use crate::relay::{message_of, publish_with_retry, RetryPolicy};

/// One parked event, as operators see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ParkedEvent {
    /// The message id (the event id).
    pub message_id: String,
    /// The event's aggregate type.
    pub aggregate_type: String,
    /// The event's aggregate id.
    pub aggregate_id: String,
    /// The event's sequence in its aggregate.
    pub sequence: i64,
    /// The event's type.
    pub event_type: String,
    /// The tenant owning the aggregate.
    pub tenant_id: Option<String>,
    /// The event's trace id.
    pub trace_id: String,
    /// `PARKED` or `REPUBLISHED`.
    pub status: String,
    /// The last failure.
    pub error: String,
    /// Failed attempts so far.
    pub attempts: i32,
    /// When it was first parked.
    pub parked_at: DateTime<Utc>,
    /// When it was last tried.
    pub last_attempt_at: DateTime<Utc>,
    /// When it was published after all.
    pub republished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "message_id, aggregate_type, aggregate_id, sequence, event_type, tenant_id, trace_id, \
     status, error, attempts, parked_at, last_attempt_at, republished_at";

/// Parks `event` with `error` (a repeat counts one more attempt and keeps the first time).
pub async fn park(pool: &PgPool, event: &RecordedEvent, error: &str) -> Result<(), sqlx::Error> {
    let envelope = IntegrationEnvelope::of_event(event);
    sqlx::query(
        "INSERT INTO relay_parked (message_id, aggregate_type, aggregate_id, sequence, event_type, tenant_id, \
             trace_id, status, error) VALUES ($1, $2, $3, $4, $5, $6, $7, 'PARKED', $8) \
         ON CONFLICT (message_id) DO UPDATE SET status = 'PARKED', error = EXCLUDED.error, \
             attempts = relay_parked.attempts + 1, last_attempt_at = now(), republished_at = NULL",
    )
    .bind(message_id(event))
    .bind(&event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(event.sequence)
    .bind(&event.event_type)
    .bind(&envelope.tenant_id)
    .bind(&envelope.trace_id)
    .bind(error)
    .execute(pool)
    .await?;
    metrics::counter!("relay_parked_total").increment(1);
    Ok(())
}

/// Parked events, newest first, `first` at most, after the cursor `(parked_at, message_id)`;
/// with `only_parked`, those still waiting.
pub async fn list(
    pool: &PgPool,
    first: i64,
    after: Option<(DateTime<Utc>, String)>,
    only_parked: bool,
) -> Result<Vec<ParkedEvent>, sqlx::Error> {
    let (at, id) = after.map_or((None, None), |(a, i)| (Some(a), Some(i)));
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM relay_parked \
          WHERE ($2::timestamptz IS NULL OR (parked_at, message_id) < ($2, $3)) \
            AND (NOT $4 OR status = 'PARKED') \
          ORDER BY parked_at DESC, message_id DESC LIMIT $1"
    ))
    .bind(first)
    .bind(at)
    .bind(id)
    .bind(only_parked)
    .fetch_all(pool)
    .await
}

/// Publishes a parked event again, now, through `publisher`; returns it as it stands after.
/// A success marks it `REPUBLISHED`; a failure counts an attempt and keeps it parked.
pub async fn retry(
    pool: &PgPool,
    publisher: &dyn Publisher,
    message_id: &str,
    policy: &RetryPolicy,
) -> Result<ParkedEvent, IntegrationError> {
    let parked: Option<ParkedEvent> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM relay_parked WHERE message_id = $1"))
            .bind(message_id)
            .fetch_optional(pool)
            .await?;
    let parked = parked.ok_or_else(|| IntegrationError::NotFound(format!("no parked event {message_id}")))?;
    let event: RecordedEvent = sqlx::query_as(&format!(
        "SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3"
    ))
    .bind(&parked.aggregate_type)
    .bind(&parked.aggregate_id)
    .bind(parked.sequence)
    .fetch_one(pool)
    .await?;
    let outcome = publish_with_retry(publisher, &message_of(&event), policy).await;
    // One statement for both outcomes: `$2` is the failure (NULL: published).
    let row: ParkedEvent = sqlx::query_as(&format!(
        "UPDATE relay_parked SET \
             status = CASE WHEN $2::text IS NULL THEN 'REPUBLISHED' ELSE 'PARKED' END, \
             republished_at = CASE WHEN $2::text IS NULL THEN now() END, \
             error = COALESCE($2, error), \
             attempts = attempts + CASE WHEN $2::text IS NULL THEN 0 ELSE 1 END, \
             last_attempt_at = now() \
          WHERE message_id = $1 RETURNING {COLUMNS}"
    ))
    .bind(message_id)
    .bind(outcome.as_ref().err().map(ToString::to_string))
    .fetch_one(pool)
    .await?;
    Ok(row)
}
