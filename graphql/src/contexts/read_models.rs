//! Queries over the read models of the catalog, inventory, drift, health, deployments and
//! audit projections. Every list is a Relay connection (`first` default 20, max 200; `after`)
//! on a stable unique sort key; every query takes `minPosition` (a mutation's `position`) and
//! waits until its projection has applied it. Tenant-scoped callers see their tenants' rows and
//! shared ones (`tenant_id = ''`; in the audit log, platform events without a tenant), by the
//! one rule `tenant_visible` in SQL.
//!
//! - Lists whose rows appear in log order (`auditLog`) page by the log position
//!   `(transaction, position)` in the order the projector applied them, never by a bare
//!   position: a client tailing the list cannot skip an event that committed late.
//! - Every list is bounded in SQL, nested ones too (`environments` of a catalog entry,
//!   `history` of a health record), and nested lists count in the query's complexity.
//! - Statuses, kinds and classes are the GraphQL enums of the by-id queries. Filters on them
//!   take the enum name or the stored snake_case text, case-insensitively (`ROLLED_BACK` and
//!   `rolled_back` both match).

use std::collections::HashMap;

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, ErrorExtensions, Object, OutputType, ID};
use chrono::{DateTime, Utc};
use commands::{RequestContext, Role};

use crate::command::invalid;
use sqlx::PgPool;

use crate::error::{ApiError, IntoGraphql};
use crate::projection_status::await_position;
use crate::query::{decode_after, request};
use crate::types::catalog::RuntimeContract;
use crate::types::page_size;
use crate::types::read_models::stored;
use crate::types::read_models::{
    AuditEntry, CatalogEntry, CatalogPlacement, DeploymentRecord, DriftCount, DriftFindingRecord, HealthChangeRecord,
    HealthRecord, InventoryEntry, KeyCursor,
};
use crate::types::{Event, LogCursor, SequenceCursor};
use crate::ApiState;
use commands::log::{RecordedEvent, RECORDED_EVENT_COLUMNS};
use commands::LogPosition;
use domain::envelope::keys;

/// One page of `serviceCatalog`: `$1` the cursor (service id, or null for the first page),
/// `$2` product and `$3` status filters (null: any), `$4` the limit. Public so that a benchmark
/// can run the very statement the resolver runs.
///
/// The page is a range scan of `catalog_services_page` (byte order) that stops after it:
/// `> COALESCE($1, '')` is an index condition even in the generic plan the pool uses
/// (`$1 IS NULL OR ... > $1` is not: it walked the index from the first service), and every
/// service id is longer than '', so the first page still starts at the first.
pub const CATALOG_PAGE: &str = "SELECT service_id, product, name, kind, status, blueprint, \
        ARRAY(SELECT jsonb_array_elements_text(dependencies)) AS dependencies, updated_at, \
        contract AS contract_json \
   FROM catalog_services \
  WHERE service_id COLLATE \"C\" > COALESCE($1::text, '') \
    AND ($2::text IS NULL OR product = $2) AND ($3::text IS NULL OR status = $3) \
  ORDER BY service_id COLLATE \"C\" LIMIT $4";

/// The placements of a page of catalog services in one statement (the data loader's batch):
/// `$1` the service ids, `$2` the caller's tenant scope (null: every tenant), `$3` placements
/// per service. Public for the same reason as [`CATALOG_PAGE`].
pub const CATALOG_PLACEMENTS: &str = "SELECT service_id, environment_id, NULLIF(tenant_id, '') AS tenant_id, \
        deployed_version, deployed_digest, deployment_id, deployment_status, health_status, updated_at \
   FROM (SELECT c.*, row_number() OVER (PARTITION BY service_id \
                ORDER BY environment_id COLLATE \"C\", tenant_id COLLATE \"C\") AS n \
           FROM catalog_service_environments c \
          WHERE service_id = ANY($1) AND tenant_visible(tenant_id, $2::text[])) t \
  WHERE n <= $3 ORDER BY service_id, environment_id COLLATE \"C\", tenant_id COLLATE \"C\"";

/// Read-model queries.
#[derive(Default)]
pub struct ReadModelQuery;

/// Loads the placements (`catalog_service_environments`) of many services in one query (one
/// index scan) per tenant scope and page size, normally one per request: filtered by the
/// caller's tenant scope with `tenant_visible` and cut to `first` per service in the database,
/// so a page of services returns at most `first` placements each, whatever the number of
/// tenants. (A `LATERAL ... LIMIT` per service would read less of a service placed for
/// thousands of tenants, at one index scan per service.)
pub struct PlacementLoader {
    pool: PgPool,
}

/// What one service's placements are loaded for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlacementKey {
    /// The service.
    pub service_id: String,
    /// The caller's tenant scope ([`RequestContext::tenant_filter`]).
    pub scope: Option<Vec<String>>,
    /// At most this many placements.
    pub first: i64,
}

/// The per-schema placement loader: `Schema::build(..).data(placement_loader(pool))`.
pub fn placement_loader(pool: PgPool) -> DataLoader<PlacementLoader> {
    DataLoader::new(PlacementLoader { pool }, tokio::spawn)
}

impl Loader<PlacementKey> for PlacementLoader {
    type Value = Vec<CatalogPlacement>;
    type Error = String;

    async fn load(&self, keys: &[PlacementKey]) -> Result<HashMap<PlacementKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<(Option<Vec<String>>, i64), Vec<String>> = HashMap::new();
        for key in keys {
            groups.entry((key.scope.clone(), key.first)).or_default().push(key.service_id.clone());
        }
        let mut out: HashMap<PlacementKey, Vec<CatalogPlacement>> = HashMap::with_capacity(keys.len());
        for ((scope, first), services) in groups {
            let rows: Vec<CatalogPlacement> = sqlx::query_as(CATALOG_PLACEMENTS)
                .bind(&services)
                .bind(&scope)
                .bind(first)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
            for row in rows {
                let key = PlacementKey { service_id: row.service_id.clone(), scope: scope.clone(), first };
                out.entry(key).or_default().push(row);
            }
        }
        Ok(out)
    }
}

/// What one health record's status changes are loaded for: a page, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HistoryKey {
    /// The health record.
    pub health_id: String,
    /// At most this many changes (plus one, to tell whether more follow).
    pub first: i64,
    /// Only changes older than this log position (the cursor of the last change seen).
    pub before: Option<i64>,
}

/// The same loader also pages health history (`health_history`), one query per page size
/// and cursor (normally one per request): each record's newest `first + 1` changes.
impl Loader<HistoryKey> for PlacementLoader {
    type Value = Vec<HealthChangeRecord>;
    type Error = String;

    async fn load(&self, keys: &[HistoryKey]) -> Result<HashMap<HistoryKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<(i64, Option<i64>), Vec<String>> = HashMap::new();
        for key in keys {
            groups.entry((key.first, key.before)).or_default().push(key.health_id.clone());
        }
        let mut out: HashMap<HistoryKey, Vec<HealthChangeRecord>> = HashMap::with_capacity(keys.len());
        for ((first, before), ids) in groups {
            let rows: Vec<HealthChangeRecord> = sqlx::query_as(
                "SELECT h.health_id, h.global_position, h.from_status, h.to_status, h.at \
                   FROM unnest($1::text[]) AS s(health_id) CROSS JOIN LATERAL ( \
                    SELECT health_id, global_position, from_status, to_status, at FROM health_history \
                     WHERE health_id = s.health_id AND ($2::bigint IS NULL OR global_position < $2) \
                     ORDER BY global_position DESC LIMIT $3) h",
            )
            .bind(&ids)
            .bind(before)
            .bind(first + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
            for change in rows {
                out.entry(HistoryKey { health_id: change.health_id.clone(), first, before }).or_default().push(change);
            }
        }
        Ok(out)
    }
}

#[ComplexObject]
impl HealthRecord {
    /// Status changes, newest first: `first` (default 20, at most 200) after the cursor
    /// `after`, counted in the query's complexity (batched across the page). Within one record
    /// the log position orders the changes as they committed (one aggregate's events commit in
    /// sequence), so the cursor is the change's position.
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<SequenceCursor, HealthChangeRecord>> {
        let req = request(ctx)?;
        let limit = page_size(first).gql()?;
        let before = decode_after::<SequenceCursor>(after).gql()?.map(|c| c.0);
        let loader = ctx
            .data::<DataLoader<PlacementLoader>>()
            .map_err(|_| ApiError::internal(req.trace_id.as_str(), "no read-model loader in the schema data"))
            .gql()?;
        let key = HistoryKey { health_id: self.health_id.clone(), first: limit as i64, before };
        let rows = loader
            .load_one(key)
            .await
            .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
            .gql()?
            .unwrap_or_default();
        Ok(page(rows, limit, before.is_some(), |r| SequenceCursor(r.global_position)))
    }
}

/// One event of the log, by id (`openedBy` / `closedBy` of inventory entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventById(pub uuid::Uuid);

/// The same loader reads the events behind a page of inventory periods in one statement.
impl Loader<EventById> for PlacementLoader {
    type Value = RecordedEvent;
    type Error = String;

    async fn load(&self, keys: &[EventById]) -> Result<HashMap<EventById, Self::Value>, Self::Error> {
        let ids: Vec<uuid::Uuid> = keys.iter().map(|k| k.0).collect();
        let mut conn = self.pool.acquire().await.map_err(|e| e.to_string())?;
        let events = events_by_id(&mut conn, &ids).await.map_err(|e| e.to_string())?;
        Ok(events.into_iter().map(|(id, e)| (EventById(id), e)).collect())
    }
}

/// The events of the log with these ids, by id, in one statement (ids the log does not have
/// are absent). Callers filter by the caller's tenants, as every log read does.
pub(crate) async fn events_by_id(
    conn: &mut sqlx::PgConnection,
    ids: &[uuid::Uuid],
) -> Result<HashMap<uuid::Uuid, RecordedEvent>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<RecordedEvent> =
        sqlx::query_as(&format!("SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE event_id = ANY($1)"))
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().filter_map(|e| e.event_id.map(|id| (id, e))).collect())
}

/// The event `id` through the request's loader, if it exists and the caller may see it (the
/// rule of every log read).
pub(crate) async fn event_by_id(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> async_graphql::Result<Option<Event>> {
    let Some(id) = id else { return Ok(None) };
    let req = request(ctx)?;
    let loader = ctx
        .data::<DataLoader<PlacementLoader>>()
        .map_err(|_| ApiError::internal(req.trace_id.as_str(), "no read-model loader in the schema data"))
        .gql()?;
    let event = loader.load_one(EventById(id)).await.map_err(|e| ApiError::internal(req.trace_id.as_str(), e)).gql()?;
    Ok(event.filter(|e| req.can_see(e.envelope(keys::TENANT_ID))).map(Event))
}

#[ComplexObject]
impl InventoryEntry {
    /// The event that opened this period: a deployment's success or rollback, or a change of
    /// the workload's configuration version or replicas (with its actor, role, trace and time).
    async fn opened_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Event>> {
        event_by_id(ctx, self.opened_event_id).await
    }

    /// The event that closed it (null while it runs): the next change, a rollback, the
    /// environment's decommission or the tenant's offboarding.
    async fn closed_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Event>> {
        event_by_id(ctx, self.closed_event_id).await
    }
}

/// The paging arguments of a list of workloads (`runtimeInventory`, `runtimeDiff`), parsed.
pub(crate) struct WorkloadPage {
    /// Rows per page.
    pub limit: usize,
    /// The cursor given.
    pub after: Option<KeyCursor>,
    /// Its (environment, service, tenant) key.
    pub after_key: Option<(String, String, String)>,
}

/// Parses `first` and `after` (an (environment, service, tenant) cursor); `None` when the
/// caller asks for a tenant it may not see (an empty page, as for any row it cannot see).
pub(crate) fn workload_page(
    req: &RequestContext,
    tenant_id: Option<&str>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Option<WorkloadPage>> {
    let limit = page_size(first).gql()?;
    let after = decode_after::<KeyCursor>(after).gql()?;
    let after_key = match &after {
        None => None,
        Some(KeyCursor(k)) if k.len() == 3 => Some((k[0].clone(), k[1].clone(), k[2].clone())),
        Some(_) => return Err(ApiError::InvalidInput("malformed cursor".into())).gql(),
    };
    if tenant_id.is_some_and(|t| !visible(req, Some(t))) {
        return Ok(None);
    }
    Ok(Some(WorkloadPage { limit, after, after_key }))
}

/// Whether a read-model row of `tenant` (`""` or none: shared) is visible to `req`: the
/// tenant rule of [`RequestContext::can_see`], the same as SQL's `tenant_visible`.
fn visible(req: &RequestContext, tenant: Option<&str>) -> bool {
    req.can_see(tenant.filter(|t| !t.is_empty()))
}

#[ComplexObject]
impl CatalogEntry {
    /// Where the service runs, per environment and tenant the caller may see, ordered by
    /// environment and tenant: at most `first` (default 20, at most 200) placements, each
    /// counted in the query's complexity (batched across the page).
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn environments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<CatalogPlacement>> {
        let req = request(ctx)?;
        let first = page_size(first).gql()?;
        let loader = ctx
            .data::<DataLoader<PlacementLoader>>()
            .map_err(|_| ApiError::internal(req.trace_id.as_str(), "no placement loader in the schema data"))
            .gql()?;
        let key = PlacementKey { service_id: self.service_id.clone(), scope: req.tenant_filter(), first: first as i64 };
        Ok(loader
            .load_one(key)
            .await
            .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
            .gql()?
            .unwrap_or_default())
    }

    /// The runtime contract the service declared (image, ports, probes, replica hints,
    /// compute kind): the same as `service(id) { contract }`, from the catalog.
    async fn contract(&self, ctx: &Context<'_>) -> async_graphql::Result<RuntimeContract> {
        let req = request(ctx)?;
        let contract: domain::catalog::RuntimeContract = serde_json::from_value(self.contract_json.clone())
            .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
            .gql()?;
        Ok(RuntimeContract::from(&contract))
    }
}

pub(crate) fn db(req: &RequestContext) -> impl Fn(sqlx::Error) -> async_graphql::Error + '_ {
    move |e| ApiError::internal(req.trace_id.as_str(), e).extend()
}

/// The first `limit` rows as a connection; a row beyond them means there is a next page.
pub(crate) fn page<C, N>(rows: Vec<N>, limit: usize, has_previous: bool, cursor: impl Fn(&N) -> C) -> Connection<C, N>
where
    C: CursorType + Send + Sync,
    N: OutputType,
{
    let has_next = rows.len() > limit;
    let mut connection = Connection::new(has_previous, has_next);
    connection.edges.extend(rows.into_iter().take(limit).map(|n| Edge::new(cursor(&n), n)));
    connection
}

pub(crate) fn at_cursor(after: Option<String>) -> async_graphql::Result<Option<(DateTime<Utc>, String)>> {
    decode_after::<KeyCursor>(after)
        .and_then(|c| c.map(|c| c.as_at().ok_or_else(|| ApiError::InvalidInput("malformed cursor".into()))).transpose())
        .gql()
}

fn key_cursor(after: Option<String>) -> async_graphql::Result<Option<String>> {
    decode_after::<KeyCursor>(after)
        .and_then(|c| {
            c.map(|c| c.single().ok_or_else(|| ApiError::InvalidInput("malformed cursor".into()))).transpose()
        })
        .gql()
}

fn lower(s: Option<String>) -> Option<String> {
    s.map(|s| s.to_lowercase())
}

#[Object]
impl ReadModelQuery {
    /// Services in the catalog ordered by id, optionally of one product and status, each with
    /// where it runs (`environments`, loaded for the whole page in one query).
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn service_catalog(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        product: Option<String>,
        status: Option<String>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Connection<KeyCursor, CatalogEntry>> {
        await_position(ctx, "catalog", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let limit = page_size(first).gql()?;
        let after = key_cursor(after)?;
        let rows: Vec<CatalogEntry> = sqlx::query_as(CATALOG_PAGE)
            .bind(&after)
            .bind(product)
            .bind(lower(status))
            .bind(limit as i64 + 1)
            .fetch_all(&state.pool)
            .await
            .map_err(db(req))?;
        Ok(page(rows, limit, after.is_some(), |r| KeyCursor(vec![r.service_id.clone()])))
    }

    /// What ran at `asOf` (default: now), optionally for one tenant (`""`: shared workloads
    /// only) and environment; ordered by environment, service, tenant.
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn runtime_inventory(
        &self,
        ctx: &Context<'_>,
        as_of: Option<DateTime<Utc>>,
        tenant_id: Option<String>,
        environment_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Connection<KeyCursor, InventoryEntry>> {
        await_position(ctx, "inventory", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let Some(WorkloadPage { limit, after, after_key }) = workload_page(req, tenant_id.as_deref(), first, after)?
        else {
            return Ok(Connection::new(false, false));
        };
        let as_of = as_of.unwrap_or_else(Utc::now);
        let scope = req.tenant_filter();
        let mut conn = state.pool.acquire().await.map_err(db(req))?;
        let rows = projections::inventory::inventory_page(
            &mut conn,
            as_of,
            &projections::inventory::InventoryPage {
                tenant: tenant_id.as_deref(),
                environment: environment_id.as_ref().map(|e| e.as_str()),
                scope: scope.as_deref(),
                after: after_key.as_ref().map(|(e, s, t)| (e.as_str(), s.as_str(), t.as_str())),
                limit: limit as i64 + 1,
            },
        )
        .await
        .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
        .gql()?;
        let entries = rows
            .into_iter()
            .map(|p| {
                Ok(InventoryEntry {
                    until: p.until,
                    tenant_id: Some(p.row.tenant_id).filter(|t| !t.is_empty()),
                    service_id: p.row.service_id,
                    environment_id: p.row.environment_id,
                    version: p.row.version,
                    digest: p.row.digest,
                    deployment_id: p.row.deployment_id,
                    compute_kind: p
                        .row
                        .compute_kind
                        .as_deref()
                        .map(stored::<domain::environments::ComputeTargetKind, _>)
                        .transpose()
                        .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
                        .gql()?,
                    configuration_version: p.row.configuration_version,
                    replicas: p.row.replicas,
                    since: p.row.since,
                    compute_target: p.compute_target,
                    opened_event_id: p.opened_event_id,
                    closed_event_id: p.closed_event_id,
                })
            })
            .collect::<async_graphql::Result<Vec<InventoryEntry>>>()?;
        Ok(page(entries, limit, after.is_some(), |r| {
            KeyCursor(vec![r.environment_id.clone(), r.service_id.clone(), r.tenant_id.clone().unwrap_or_default()])
        }))
    }

    /// Drift findings, newest detection first, optionally of one environment, status and class.
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn drift_findings(
        &self,
        ctx: &Context<'_>,
        environment_id: Option<ID>,
        status: Option<String>,
        class: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Connection<KeyCursor, DriftFindingRecord>> {
        await_position(ctx, "drift", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let limit = page_size(first).gql()?;
        let after = at_cursor(after)?;
        let rows: Vec<DriftFindingRecord> = sqlx::query_as(
            "SELECT finding_id, environment_id, service_id, resource, NULLIF(tenant_id, '') AS tenant_id, class, status, \
                    desired, observed, detected_at, closed_at, updated_at \
               FROM drift_view \
              WHERE ($1::text IS NULL OR environment_id = $1) AND ($2::text IS NULL OR status = $2) \
                AND ($3::text IS NULL OR class = $3) \
                AND tenant_visible(tenant_id, $4::text[]) \
                AND ($5::timestamptz IS NULL OR (detected_at, finding_id COLLATE \"C\") < ($5, $6::text)) \
              ORDER BY detected_at DESC, finding_id COLLATE \"C\" DESC LIMIT $7",
        )
        .bind(environment_id.map(|e| e.0))
        .bind(lower(status))
        .bind(lower(class))
        .bind(req.tenant_filter())
        .bind(after.as_ref().map(|a| a.0))
        .bind(after.as_ref().map(|a| a.1.clone()))
        .bind(limit as i64 + 1)
        .fetch_all(&state.pool)
        .await
        .map_err(db(req))?;
        Ok(page(rows, limit, after.is_some(), |r| KeyCursor::at(r.detected_at, &r.finding_id)))
    }

    /// Open (not closed) drift findings per environment and class.
    async fn drift_counts(
        &self,
        ctx: &Context<'_>,
        environment_id: Option<ID>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Vec<DriftCount>> {
        await_position(ctx, "drift", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        sqlx::query_as(
            "SELECT environment_id, class, count(*) AS open FROM drift_view \
              WHERE closed_at IS NULL AND ($1::text IS NULL OR environment_id = $1) \
                AND tenant_visible(tenant_id, $2::text[]) \
              GROUP BY environment_id, class ORDER BY environment_id COLLATE \"C\", class COLLATE \"C\"",
        )
        .bind(environment_id.map(|e| e.0))
        .bind(req.tenant_filter())
        .fetch_all(&state.pool)
        .await
        .map_err(db(req))
    }

    /// Current health per service, environment and tenant, ordered by health id, each with its
    /// status changes (`history`, newest first, paged; loaded for the whole page in one query).
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn health_status(
        &self,
        ctx: &Context<'_>,
        service_id: Option<ID>,
        environment_id: Option<ID>,
        tenant_id: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Connection<KeyCursor, HealthRecord>> {
        await_position(ctx, "health", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let limit = page_size(first).gql()?;
        let after = key_cursor(after)?;
        let rows: Vec<HealthRecord> = sqlx::query_as(
            "SELECT health_id, service_id, environment_id, NULLIF(tenant_id, '') AS tenant_id, status, since, \
                    open_incident, updated_at \
               FROM health_view \
              WHERE ($1::text IS NULL OR service_id = $1) AND ($2::text IS NULL OR environment_id = $2) \
                AND ($3::text IS NULL OR tenant_id = $3) \
                AND tenant_visible(tenant_id, $4::text[]) \
                AND ($5::text IS NULL OR health_id COLLATE \"C\" > $5) \
              ORDER BY health_id COLLATE \"C\" LIMIT $6",
        )
        .bind(service_id.map(|e| e.0))
        .bind(environment_id.map(|e| e.0))
        .bind(tenant_id)
        .bind(req.tenant_filter())
        .bind(&after)
        .bind(limit as i64 + 1)
        .fetch_all(&state.pool)
        .await
        .map_err(db(req))?;
        Ok(page(rows, limit, after.is_some(), |r| KeyCursor(vec![r.health_id.clone()])))
    }

    /// Deployments, newest first, optionally of one service, environment, tenant and status;
    /// `rollbackOf` / `rollbackTarget` link the rollback chain.
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn deployments(
        &self,
        ctx: &Context<'_>,
        service_id: Option<ID>,
        environment_id: Option<ID>,
        tenant_id: Option<String>,
        status: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Connection<KeyCursor, DeploymentRecord>> {
        await_position(ctx, "deployments", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let limit = page_size(first).gql()?;
        let after = at_cursor(after)?;
        let rows: Vec<DeploymentRecord> = sqlx::query_as(
            "SELECT deployment_id, service_id, environment_id, NULLIF(tenant_id, '') AS tenant_id, version, digest, \
                    strategy, status, rollback_of, rollback_target, started_at, finished_at, updated_at \
               FROM deployment_history \
              WHERE ($1::text IS NULL OR service_id = $1) AND ($2::text IS NULL OR environment_id = $2) \
                AND ($3::text IS NULL OR tenant_id = $3) AND ($4::text IS NULL OR status = $4) \
                AND tenant_visible(tenant_id, $5::text[]) \
                AND ($6::timestamptz IS NULL OR (started_at, deployment_id COLLATE \"C\") < ($6, $7::text)) \
              ORDER BY started_at DESC, deployment_id COLLATE \"C\" DESC LIMIT $8",
        )
        .bind(service_id.map(|e| e.0))
        .bind(environment_id.map(|e| e.0))
        .bind(tenant_id)
        .bind(lower(status))
        .bind(req.tenant_filter())
        .bind(after.as_ref().map(|a| a.0))
        .bind(after.as_ref().map(|a| a.1.clone()))
        .bind(limit as i64 + 1)
        .fetch_all(&state.pool)
        .await
        .map_err(db(req))?;
        Ok(page(rows, limit, after.is_some(), |r| KeyCursor::at(r.started_at, &r.deployment_id)))
    }

    /// The audit log in log order (the order events committed and were applied: the cursor is
    /// the event's log position, so a client resuming from its last cursor also gets an event
    /// that committed after a later-numbered one), optionally within `[from, to)`, of one actor,
    /// acting role and tenant, and of some event types. An event's tenant is the tenant of the
    /// aggregate it belongs to; tenant-scoped callers see their tenants' events and those of
    /// platform-wide and shared aggregates (no tenant).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        actor: Option<String>,
        #[graphql(desc = "The role the actor acted as (`PlatformAdmin`, `TenantOperator`, `ControlPlane`, `Worker`).")]
        actor_role: Option<String>,
        tenant_id: Option<String>,
        event_types: Option<Vec<String>>,
        first: Option<i32>,
        after: Option<String>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Connection<LogCursor, AuditEntry>> {
        await_position(ctx, "audit", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let limit = page_size(first).gql()?;
        let after = decode_after::<LogCursor>(after).gql()?.map(|c| c.0);
        let start = after.unwrap_or(LogPosition::START);
        let rows: Vec<AuditEntry> = sqlx::query_as(
            "SELECT global_position, transaction_id, event_id::text AS event_id, aggregate_type, aggregate_id, sequence, event_type, \
                    NULLIF(tenant_id, '') AS tenant_id, actor, actor_role, trace_id, recorded_at \
               FROM audit_log \
              WHERE (transaction_id, global_position) > ($1, $10) \
                AND ($2::timestamptz IS NULL OR recorded_at >= $2) AND ($3::timestamptz IS NULL OR recorded_at < $3) \
                AND ($4::text IS NULL OR actor = $4) AND ($5::text IS NULL OR tenant_id = $5) \
                AND ($6::text[] IS NULL OR event_type = ANY($6)) \
                AND tenant_visible(tenant_id, $7::text[]) \
                AND ($8::text IS NULL OR actor_role = $8) \
              ORDER BY transaction_id, global_position LIMIT $9",
        )
        .bind(start.transaction_id)
        .bind(from)
        .bind(to)
        .bind(actor)
        .bind(tenant_id)
        .bind(event_types)
        .bind(req.tenant_filter())
        .bind(actor_role.map(|r| r.parse::<Role>().map(Role::as_str)).transpose().map_err(invalid).gql()?)
        .bind(limit as i64 + 1)
        .bind(start.global_position)
        .fetch_all(&state.pool)
        .await
        .map_err(db(req))?;
        Ok(page(rows, limit, after.is_some(), |r| {
            LogCursor(LogPosition { transaction_id: r.transaction_id, global_position: r.global_position })
        }))
    }
}
