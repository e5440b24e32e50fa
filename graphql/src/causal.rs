//! `causalChain`: the tree of events linked by causation ids, across aggregates and across the
//! workers' actions (a success -> the worker's supersession, later: health -> drift ->
//! remediation -> deployment), each node with its envelope.
//!
//! Links: an event's `causation_id` names the event that caused it when a worker (or a caller
//! passing `causationId`) says so; otherwise it is the command's own id and the event is a
//! root. From an event, the chain first climbs to its root (at most 64 links), then
//! walks down breadth-first in one recursive statement, bounded by `maxDepth` and `first`
//! nodes; `truncated` says whether a bound cut it. From a trace, every root of the trace is a
//! starting point. Another tenant's events are left out (with their subtrees; the climb stops
//! below them), as every log read does: another tenant's event id is NOT_FOUND.

use async_graphql::{Context, Object, SimpleObject, ID};
use commands::log::{RecordedEvent, RECORDED_EVENT_COLUMNS};
use domain::envelope::TraceId;
use sqlx::{FromRow, Row};
use uuid::Uuid;

use crate::error::{ApiError, IntoGraphql};
use crate::query::request;
use crate::types::Event;
use crate::ApiState;

/// Most links walked, whatever the caller says.
const MAX_DEPTH: i32 = 64;
/// Most nodes returned, whatever the caller says.
const MAX_NODES: i32 = 5_000;
/// A causation id that may name an event (a UUID); anything else (a caller's free text) never
/// does. Tested before the cast, inside a CASE, so the cast never sees anything else.
const UUID_PATTERN: &str = "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'";

/// The causal-chain query.
#[derive(Default)]
pub struct CausalQuery;

/// One event of a chain.
#[derive(SimpleObject)]
pub struct CausalNode {
    /// Links from its root (0: a root).
    pub depth: i32,
    /// The event that caused it (none for a root).
    pub caused_by: Option<ID>,
    /// The event, with its envelope.
    pub event: Event,
}

/// A causal chain (a forest when started from a trace).
#[derive(SimpleObject)]
pub struct CausalChain {
    /// Every node, roots first, then by depth and commit order.
    pub nodes: Vec<CausalNode>,
    /// Whether `maxDepth` or `first` cut the walk (more links exist).
    pub truncated: bool,
}

#[Object]
impl CausalQuery {
    /// The events linked by causation to `eventId` (its root and everything that root caused),
    /// or to every root of `traceId`; exactly one of them.
    async fn causal_chain(
        &self,
        ctx: &Context<'_>,
        event_id: Option<ID>,
        trace_id: Option<String>,
        #[graphql(desc = "Most links walked (1..=64, default 16).")] max_depth: Option<i32>,
        #[graphql(desc = "Most nodes returned (1..=5000, default 500).")] first: Option<i32>,
    ) -> async_graphql::Result<CausalChain> {
        let (max_depth, first) = (max_depth.unwrap_or(16), first.unwrap_or(500));
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        if !(1..=MAX_DEPTH).contains(&max_depth) {
            return Err(ApiError::InvalidInput(format!("maxDepth must be 1..={MAX_DEPTH}"))).gql();
        }
        if !(1..=MAX_NODES).contains(&first) {
            return Err(ApiError::InvalidInput(format!("first must be 1..={MAX_NODES}"))).gql();
        }
        let internal = |e: sqlx::Error| ApiError::internal(req.trace_id.as_str(), e);
        let roots: Vec<Uuid> = match (event_id, trace_id) {
            (Some(id), None) => {
                let id = Uuid::parse_str(&id)
                    .map_err(|_| ApiError::InvalidInput(format!("malformed event id {id:?}")))
                    .gql()?;
                // Climb: the cause of the cause, while it is an event, at most MAX_DEPTH links.
                let root: Option<Uuid> = sqlx::query_scalar(&format!(
                    "WITH RECURSIVE up(event_id, cause, depth) AS ( \
                       SELECT event_id, metadata->>'causation_id', 0 FROM events \
                        WHERE event_id = $1 AND tenant_visible(tenant_id, $3::text[]) \
                       UNION ALL \
                       SELECT e.event_id, e.metadata->>'causation_id', up.depth + 1 \
                         FROM up JOIN events e \
                           ON e.event_id = CASE WHEN up.cause ~ {UUID_PATTERN} THEN up.cause::uuid END \
                        WHERE up.depth < $2 AND tenant_visible(e.tenant_id, $3::text[]) \
                     ) SELECT event_id FROM up ORDER BY depth DESC LIMIT 1"
                ))
                .bind(id)
                // The root is found whatever the walk's depth (up to the hard bound).
                .bind(MAX_DEPTH)
                .bind(req.tenant_filter())
                .fetch_optional(&state.pool)
                .await
                .map_err(internal)
                .gql()?;
                match root {
                    Some(root) => vec![root],
                    None => return Err(ApiError::NotFound(format!("event {id}"))).gql(),
                }
            }
            (None, Some(trace)) => {
                let trace = TraceId::parse(&trace).map_err(|e| ApiError::InvalidInput(e.to_string())).gql()?;
                // The roots of the trace: events whose cause is not an event the caller sees.
                sqlx::query_scalar(&format!(
                    "SELECT e.event_id FROM events e WHERE e.trace_id = $1 AND e.event_id IS NOT NULL \
                       AND tenant_visible(e.tenant_id, $3::text[]) \
                       AND NOT EXISTS (SELECT 1 FROM events c WHERE c.event_id = \
                             CASE WHEN e.metadata->>'causation_id' ~ {UUID_PATTERN} \
                                  THEN (e.metadata->>'causation_id')::uuid END \
                                    AND tenant_visible(c.tenant_id, $3::text[])) \
                     ORDER BY e.transaction_id, e.global_position LIMIT $2"
                ))
                .bind(trace.as_str())
                .bind(first as i64)
                .bind(req.tenant_filter())
                .fetch_all(&state.pool)
                .await
                .map_err(internal)
                .gql()?
            }
            _ => return Err(ApiError::InvalidInput("give exactly one of eventId and traceId".into())).gql(),
        };
        // Down: children are the events whose causation id is the parent's event id (found by
        // `events_by_cause`, which indexes only causes that are not the command's own id).
        // A subtree under an event the caller may not see is not walked.
        let rows = sqlx::query(&format!(
            "WITH RECURSIVE down(event_id, caused_by, depth) AS ( \
               SELECT r, NULL::uuid, 0 FROM unnest($1::uuid[]) AS r \
               UNION ALL \
               SELECT c.event_id, down.event_id, down.depth + 1 \
                 FROM down JOIN events c \
                   ON (c.metadata->>'causation_id') = down.event_id::text \
                  AND (c.metadata->>'causation_id') IS DISTINCT FROM (c.metadata->>'command_id') \
                WHERE down.depth < $2 AND tenant_visible(c.tenant_id, $4::text[]) \
             ) \
             SELECT {RECORDED_EVENT_COLUMNS}, down.depth, down.caused_by \
               FROM down JOIN events USING (event_id) \
              WHERE tenant_visible(events.tenant_id, $4::text[]) \
              ORDER BY down.depth, events.transaction_id, events.global_position LIMIT $3"
        ))
        .bind(&roots)
        .bind(max_depth)
        .bind(first as i64 + 1)
        .bind(req.tenant_filter())
        .fetch_all(&state.pool)
        .await
        .map_err(internal)
        .gql()?;
        let mut truncated = rows.len() > first as usize;
        let mut nodes = Vec::with_capacity(rows.len().min(first as usize));
        for row in rows.iter().take(first as usize) {
            let depth: i32 = row.try_get("depth").map_err(internal).gql()?;
            let caused_by: Option<Uuid> = row.try_get("caused_by").map_err(internal).gql()?;
            let event = RecordedEvent::from_row(row).map_err(internal).gql()?;
            nodes.push(CausalNode { depth, caused_by: caused_by.map(|c| ID(c.to_string())), event: Event(event) });
        }
        // Nodes at the depth bound may have children that were not walked.
        if !truncated && nodes.iter().any(|n| n.depth >= max_depth) {
            let deepest: Vec<String> = nodes
                .iter()
                .filter(|n| n.depth >= max_depth)
                .filter_map(|n| n.event.0.event_id.map(|id| id.to_string()))
                .collect();
            truncated = sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM events c WHERE (c.metadata->>'causation_id') = ANY($1) \
                   AND (c.metadata->>'causation_id') IS DISTINCT FROM (c.metadata->>'command_id'))",
            )
            .bind(&deepest)
            .fetch_one(&state.pool)
            .await
            .map_err(internal)
            .gql()?;
        }
        Ok(CausalChain { nodes, truncated })
    }
}
