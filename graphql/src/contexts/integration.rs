//! The integration edge's records: `parkedEvents` (events the relay could not publish, and
//! `retryParkedEvent` to publish one again) and `rejectedCommands` (Control Plane commands the
//! intake refused). Both span every tenant: `PlatformAdmin`, `ControlPlane` and
//! `GovernanceAuditor` read them (the role table's `Integration` class); only `PlatformAdmin`
//! republishes.

use async_graphql::connection::Connection;
use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use commands::access::{self, Operation};
use integration::parking::{self, ParkedEvent};
use integration::rejected::{self, RejectedCommand};
use integration::{IntegrationError, RetryPolicy};

use crate::contexts::read_models::{at_cursor, db, page};
use crate::error::{ApiError, IntoGraphql};
use crate::query::request;
use crate::types::read_models::KeyCursor;
use crate::types::page_size;
use crate::ApiState;

/// An event the relay parked.
#[derive(SimpleObject)]
pub struct ParkedEventNode {
    /// The message id (the event id): the cursor of `retryParkedEvent`.
    pub message_id: String,
    /// The event's aggregate type.
    pub aggregate_type: String,
    /// The event's aggregate id.
    pub aggregate_id: String,
    /// The event's sequence.
    pub sequence: i64,
    /// The event's type.
    pub event_type: String,
    /// The tenant owning the aggregate.
    pub tenant_id: Option<String>,
    /// The event's trace.
    pub trace_id: String,
    /// `PARKED` (waiting) or `REPUBLISHED`.
    pub status: String,
    /// The last failure.
    pub error: String,
    /// Failed attempts.
    pub attempts: i32,
    /// When it was first parked.
    pub parked_at: DateTime<Utc>,
    /// When it was last tried.
    pub last_attempt_at: DateTime<Utc>,
    /// When it was published after all.
    pub republished_at: Option<DateTime<Utc>>,
}

impl From<ParkedEvent> for ParkedEventNode {
    fn from(p: ParkedEvent) -> Self {
        Self {
            message_id: p.message_id,
            aggregate_type: p.aggregate_type,
            aggregate_id: p.aggregate_id,
            sequence: p.sequence,
            event_type: p.event_type,
            tenant_id: p.tenant_id,
            trace_id: p.trace_id,
            status: p.status,
            error: p.error,
            attempts: p.attempts,
            parked_at: p.parked_at,
            last_attempt_at: p.last_attempt_at,
            republished_at: p.republished_at,
        }
    }
}

/// A command the intake refused.
#[derive(SimpleObject)]
pub struct RejectedCommandNode {
    /// The message id (the command's idempotency key).
    pub message_id: String,
    /// When it was refused.
    pub received_at: DateTime<Utc>,
    /// The aggregate type it named.
    pub aggregate_type: Option<String>,
    /// The aggregate it targeted.
    pub aggregate_id: Option<String>,
    /// The command's name.
    pub command: Option<String>,
    /// The tenant it acted for.
    pub tenant_id: Option<String>,
    /// Its trace.
    pub trace_id: String,
    /// The error code.
    pub code: String,
    /// Why.
    pub reason: String,
    /// The body as received (cut at 64 KiB).
    pub body: String,
    /// Deliveries when it was refused.
    pub delivery_count: i32,
}

impl From<RejectedCommand> for RejectedCommandNode {
    fn from(r: RejectedCommand) -> Self {
        Self {
            message_id: r.message_id,
            received_at: r.received_at,
            aggregate_type: r.aggregate_type,
            aggregate_id: r.aggregate_id,
            command: r.command,
            tenant_id: r.tenant_id,
            trace_id: r.trace_id,
            code: r.code,
            reason: r.reason,
            body: r.body,
            delivery_count: r.delivery_count,
        }
    }
}

/// The integration edge's queries.
#[derive(Default)]
pub struct IntegrationQuery;

#[Object]
impl IntegrationQuery {
    /// Events the relay parked (the broker refused them, or they kept failing while others got
    /// through), newest first (Relay connection).
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn parked_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Only those still waiting (default true).")] only_parked: Option<bool>,
    ) -> async_graphql::Result<Connection<KeyCursor, ParkedEventNode>> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let (limit, after) = (page_size(first).gql()?, at_cursor(after)?);
        let rows = parking::list(&state.pool, limit as i64 + 1, after.clone(), only_parked.unwrap_or(true))
            .await
            .map_err(db(req))?;
        let rows = rows.into_iter().map(ParkedEventNode::from).collect();
        Ok(page(rows, limit, after.is_some(), |r: &ParkedEventNode| KeyCursor::at(r.parked_at, &r.message_id)))
    }

    /// Commands of the Control Plane the intake refused (malformed, forbidden, or refused by
    /// the domain), newest first (Relay connection); each was answered with a
    /// `CommandRejected` event.
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn rejected_commands(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<KeyCursor, RejectedCommandNode>> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let (limit, after) = (page_size(first).gql()?, at_cursor(after)?);
        let rows = rejected::list(&state.pool, limit as i64 + 1, after.clone()).await.map_err(db(req))?;
        let rows = rows.into_iter().map(RejectedCommandNode::from).collect();
        Ok(page(rows, limit, after.is_some(), |r: &RejectedCommandNode| KeyCursor::at(r.received_at, &r.message_id)))
    }
}

/// The integration edge's mutations.
#[derive(Default)]
pub struct IntegrationMutation;

#[Object]
impl IntegrationMutation {
    /// Publishes a parked event again, now (after its cause was fixed); returns it as it
    /// stands after: `REPUBLISHED`, or still `PARKED` with the new failure. `PlatformAdmin`
    /// only; refused with `UNAVAILABLE` when this server runs without a broker.
    async fn retry_parked_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The parked event's message id.")] message_id: String,
    ) -> async_graphql::Result<ParkedEventNode> {
        let req = request(ctx)?;
        if access::acting_role(&req.roles, Operation::Republish).is_none() {
            return Err(ApiError::Forbidden("only PlatformAdmin republishes parked events".to_owned())).gql();
        }
        let state = ctx.data_unchecked::<ApiState>();
        let Some(publisher) = state.publisher.as_ref() else {
            return Err(ApiError::Refused {
                code: "UNAVAILABLE",
                message: "this server runs without a broker (no APP_SERVICEBUS_NAMESPACE)".to_owned(),
            })
            .gql();
        };
        match parking::retry(&state.pool, publisher.as_ref(), &message_id, &RetryPolicy::default()).await {
            Ok(parked) => Ok(parked.into()),
            Err(IntegrationError::NotFound(m)) => Err(ApiError::NotFound(m)).gql(),
            Err(e) => Err(ApiError::internal(req.trace_id.as_str(), e)).gql(),
        }
    }
}
