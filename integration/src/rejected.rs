//! Commands of the Control Plane the intake can never carry out: kept here (the REST API of
//! Service Bus has no dead-letter call), visible in GraphQL, and answered with a
//! `CommandRejected` integration event.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The longest body kept; a larger message is kept cut, with its size noted.
const BODY_LIMIT: usize = 64 * 1024;

/// One refused command message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RejectedCommand {
    /// The message id (the command's idempotency key).
    pub message_id: String,
    /// When it was refused (first time).
    pub received_at: DateTime<Utc>,
    /// The aggregate type the message named, if it named one.
    pub aggregate_type: Option<String>,
    /// The aggregate id it targeted, if known.
    pub aggregate_id: Option<String>,
    /// The command's name, if it parsed.
    pub command: Option<String>,
    /// The acting tenant it named.
    pub tenant_id: Option<String>,
    /// The trace it came with (or was given).
    pub trace_id: String,
    /// The error code (`INVALID_INPUT`, `FORBIDDEN`, `INVARIANT_VIOLATED`, ...).
    pub code: String,
    /// Why, in words.
    pub reason: String,
    /// The body as received (cut at 64 KiB).
    pub body: String,
    /// How many times the message was delivered when it was refused.
    pub delivery_count: i32,
}

/// What is recorded of a refusal.
#[derive(Debug, Clone)]
pub struct Refusal<'a> {
    /// The message id.
    pub message_id: &'a str,
    /// The aggregate type named.
    pub aggregate_type: Option<&'a str>,
    /// The aggregate id targeted.
    pub aggregate_id: Option<&'a str>,
    /// The command's name.
    pub command: Option<&'a str>,
    /// The acting tenant named.
    pub tenant_id: Option<&'a str>,
    /// The trace.
    pub trace_id: &'a str,
    /// The error code.
    pub code: &'a str,
    /// Why.
    pub reason: &'a str,
    /// The body.
    pub body: &'a str,
    /// Deliveries so far.
    pub delivery_count: u32,
}

const COLUMNS: &str = "message_id, received_at, aggregate_type, aggregate_id, command, tenant_id, trace_id, code, \
     reason, body, delivery_count";

/// Records a refusal; a redelivery of one already recorded only raises its delivery count.
pub async fn record(pool: &PgPool, refusal: &Refusal<'_>) -> Result<(), sqlx::Error> {
    let body = if refusal.body.len() > BODY_LIMIT {
        let mut end = BODY_LIMIT;
        while !refusal.body.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes in all)", &refusal.body[..end], refusal.body.len())
    } else {
        refusal.body.to_owned()
    };
    sqlx::query(
        "INSERT INTO rejected_commands (message_id, aggregate_type, aggregate_id, command, tenant_id, trace_id, \
             code, reason, body, delivery_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (message_id) DO UPDATE SET delivery_count = GREATEST(rejected_commands.delivery_count, EXCLUDED.delivery_count)",
    )
    .bind(refusal.message_id)
    .bind(refusal.aggregate_type)
    .bind(refusal.aggregate_id)
    .bind(refusal.command)
    .bind(refusal.tenant_id)
    .bind(refusal.trace_id)
    .bind(refusal.code)
    .bind(refusal.reason)
    .bind(body)
    .bind(refusal.delivery_count as i32)
    .execute(pool)
    .await?;
    Ok(())
}

/// Refused commands, newest first, `first` at most, after the cursor `(received_at, message_id)`.
pub async fn list(
    pool: &PgPool,
    first: i64,
    after: Option<(DateTime<Utc>, String)>,
) -> Result<Vec<RejectedCommand>, sqlx::Error> {
    let (at, id) = after.map_or((None, None), |(a, i)| (Some(a), Some(i)));
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rejected_commands \
          WHERE ($2::timestamptz IS NULL OR (received_at, message_id) < ($2, $3)) \
          ORDER BY received_at DESC, message_id DESC LIMIT $1"
    ))
    .bind(first)
    .bind(at)
    .bind(id)
    .fetch_all(pool)
    .await
}
