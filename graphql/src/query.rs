//! Queries over the log: an aggregate's history and a trace's history.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, Object, ID};
use commands::log::RECORDED_EVENT_COLUMNS;
use commands::{RecordedEvent, RequestContext};
use domain::envelope::TraceId;

use crate::error::{ApiError, IntoGraphql};
use crate::types::cursor::LogEventConnection;
use crate::types::{page_size, Event, LogCursor, SequenceCursor};
use crate::ApiState;

/// The query root: the log queries and every context's queries, merged.
#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(
    LogQuery,
    crate::causal::CausalQuery,
    crate::diff::DiffQuery,
    crate::projection_status::ProjectionQuery,
    crate::worker_status::WorkerQuery,
    crate::contexts::environments::EnvironmentQuery,
    crate::contexts::catalog::CatalogQuery,
    crate::contexts::configuration::ConfigurationQuery,
    crate::contexts::tenancy::TenancyQuery,
    crate::contexts::scaling::ScalingQuery,
    crate::contexts::health::HealthQuery,
    crate::contexts::read_models::ReadModelQuery,
    crate::contexts::integration::IntegrationQuery,
);

/// Queries over the log itself: one aggregate's history, one trace's events.
#[derive(Default)]
pub struct LogQuery;

/// The request's context; every resolver starts here.
pub(crate) fn request<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a RequestContext> {
    ctx.data::<RequestContext>().map_err(|_| ApiError::Forbidden("request has no caller context".into())).gql()
}

pub(crate) fn decode_after<C: CursorType>(after: Option<String>) -> Result<Option<C>, ApiError> {
    after
        .map(|a| C::decode_cursor(&a).map_err(|_| ApiError::InvalidInput(format!("malformed cursor {a:?}"))))
        .transpose()
}

#[Object]
impl LogQuery {
    /// Every event of one aggregate, in sequence order (Relay connection).
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn aggregate_history(
        &self,
        ctx: &Context<'_>,
        aggregate_type: String,
        aggregate_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<SequenceCursor, Event>> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let limit = page_size(first).gql()?;
        let after = decode_after::<SequenceCursor>(after).gql()?.map_or(0, |c| c.0);
        let query = format!(
            "SELECT {RECORDED_EVENT_COLUMNS} FROM events \
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 \
                AND tenant_visible(tenant_id, $4::text[]) \
              ORDER BY sequence LIMIT $5"
        );
        let rows: Vec<RecordedEvent> = sqlx::query_as(&query)
            .bind(&aggregate_type)
            .bind(aggregate_id.as_str())
            .bind(after)
            .bind(req.tenant_filter())
            .bind(limit as i64 + 1)
            .fetch_all(&state.pool)
            .await
            .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
            .gql()?;
        let has_next = rows.len() > limit;
        let mut connection = Connection::new(after > 0, has_next);
        connection.edges.extend(rows.into_iter().take(limit).map(|e| Edge::new(SequenceCursor(e.sequence), Event(e))));
        Ok(connection)
    }

    /// Every event written under one trace id, across all aggregates, in log order
    /// `(transaction, position)`, each with its full envelope (Relay connection).
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn trace(
        &self,
        ctx: &Context<'_>,
        trace_id: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<LogEventConnection<Event>> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let trace_id = TraceId::parse(&trace_id).map_err(|e| ApiError::InvalidInput(e.to_string())).gql()?;
        let limit = page_size(first).gql()?;
        let after = decode_after::<LogCursor>(after).gql()?;
        let start = after.map(|c| c.0).unwrap_or_default();
        let query = format!(
            "SELECT {RECORDED_EVENT_COLUMNS} FROM events \
              WHERE trace_id = $1 AND (transaction_id, global_position) > ($2::text::xid8, $3) \
                AND tenant_visible(tenant_id, $4::text[]) \
              ORDER BY events.transaction_id, events.global_position LIMIT $5"
        );
        let rows: Vec<RecordedEvent> = sqlx::query_as(&query)
            .bind(trace_id.as_str())
            .bind(start.transaction_id.to_string())
            .bind(start.global_position)
            .bind(req.tenant_filter())
            .bind(limit as i64 + 1)
            .fetch_all(&state.pool)
            .await
            .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
            .gql()?;
        let has_next = rows.len() > limit;
        let mut connection = LogEventConnection::new(after.is_some(), has_next);
        connection.edges.extend(rows.into_iter().take(limit).map(|e| Edge::new(LogCursor(e.position()), Event(e))));
        Ok(connection)
    }
}
