//! Queries over the read models of the catalog, inventory, drift, health, deployments and
//! audit projections. Every list is a Relay connection (`first` default 20, max 200; `after`)
//! on a stable unique sort key; every query takes `minPosition` (a mutation's `position`) and
//! waits until its projection has applied it. Tenant-scoped callers see their tenants' rows and
//! shared ones (`tenant_id = ''`; in the audit log, platform events without a tenant).
//!
//! Filters on statuses, kinds and classes take the stored snake_case text, case-insensitively
//! (`ROLLED_BACK` and `rolled_back` both match).

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
use crate::types::page_size;
use crate::types::read_models::{
    AuditEntry, CatalogEntry, CatalogPlacement, DeploymentRecord, DriftCount, DriftFindingRecord, HealthChangeRecord,
    HealthRecord, InventoryEntry, KeyCursor,
};
use crate::types::SequenceCursor;
use crate::ApiState;

/// Status changes returned per health record.
pub const HEALTH_HISTORY_LIMIT: i64 = 50;

/// Read-model queries.
#[derive(Default)]
pub struct ReadModelQuery;

/// Loads the placements (`catalog_service_environments`) of many services in one query.
/// Unfiltered: the resolver applies the caller's tenant scope, so one loader may serve every
/// request of the schema.
pub struct PlacementLoader {
    pool: PgPool,
}

/// The per-schema placement loader: `Schema::build(..).data(placement_loader(pool))`.
pub fn placement_loader(pool: PgPool) -> DataLoader<PlacementLoader> {
    DataLoader::new(PlacementLoader { pool }, tokio::spawn)
}

impl Loader<String> for PlacementLoader {
    type Value = Vec<CatalogPlacement>;
    type Error = String;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let rows: Vec<CatalogPlacement> = sqlx::query_as(
            "SELECT service_id, environment_id, NULLIF(tenant_id, '') AS tenant_id, deployed_version, deployed_digest, \
                    deployment_id, deployment_status, health_status, updated_at \
               FROM catalog_service_environments WHERE service_id = ANY($1) \
              ORDER BY service_id, environment_id COLLATE \"C\", tenant_id COLLATE \"C\"",
        )
        .bind(keys)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        let mut out: HashMap<String, Vec<CatalogPlacement>> = HashMap::with_capacity(keys.len());
        for row in rows {
            out.entry(row.service_id.clone()).or_default().push(row);
        }
        Ok(out)
    }
}

/// Whether a read-model row of `tenant` (`""` or none: shared) is visible to `req`: the
/// tenant rule of [`RequestContext::can_see`], the same as SQL's `tenant_visible`.
fn visible(req: &RequestContext, tenant: Option<&str>) -> bool {
    req.can_see(tenant.filter(|t| !t.is_empty()))
}

#[ComplexObject]
impl CatalogEntry {
    /// Where the service runs, per environment and tenant (batched across the page).
    async fn environments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CatalogPlacement>> {
        let req = request(ctx)?;
        let loader = ctx
            .data::<DataLoader<PlacementLoader>>()
            .map_err(|_| ApiError::internal(req.trace_id.as_str(), "no placement loader in the schema data"))
            .gql()?;
        let placements = loader
            .load_one(self.service_id.clone())
            .await
            .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
            .gql()?
            .unwrap_or_default();
        Ok(placements.into_iter().filter(|p| visible(req, p.tenant_id.as_deref())).collect())
    }
}

fn db(req: &RequestContext) -> impl Fn(sqlx::Error) -> async_graphql::Error + '_ {
    move |e| ApiError::internal(req.trace_id.as_str(), e).extend()
}

/// The first `limit` rows as a connection; a row beyond them means there is a next page.
fn page<C, N>(rows: Vec<N>, limit: usize, has_previous: bool, cursor: impl Fn(&N) -> C) -> Connection<C, N>
where
    C: CursorType + Send + Sync,
    N: OutputType,
{
    let has_next = rows.len() > limit;
    let mut connection = Connection::new(has_previous, has_next);
    connection.edges.extend(rows.into_iter().take(limit).map(|n| Edge::new(cursor(&n), n)));
    connection
}

fn at_cursor(after: Option<String>) -> async_graphql::Result<Option<(DateTime<Utc>, String)>> {
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
        let rows: Vec<CatalogEntry> = sqlx::query_as(
            "SELECT service_id, product, name, kind, status, blueprint, \
                    ARRAY(SELECT jsonb_array_elements_text(dependencies)) AS dependencies, updated_at \
               FROM catalog_services \
              WHERE ($1::text IS NULL OR service_id COLLATE \"C\" > $1) \
                AND ($2::text IS NULL OR product = $2) AND ($3::text IS NULL OR status = $3) \
              ORDER BY service_id COLLATE \"C\" LIMIT $4",
        )
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
        let limit = page_size(first).gql()?;
        let after = decode_after::<KeyCursor>(after).gql()?;
        let after_key = match &after {
            None => None,
            Some(KeyCursor(k)) if k.len() == 3 => Some((k[0].clone(), k[1].clone(), k[2].clone())),
            Some(_) => return Err(ApiError::InvalidInput("malformed cursor".into())).gql(),
        };
        if let Some(t) = tenant_id.as_deref() {
            if !visible(req, Some(t)) {
                return Ok(Connection::new(after.is_some(), false));
            }
        }
        let as_of = as_of.unwrap_or_else(Utc::now);
        let mut tx = state.pool.begin().await.map_err(db(req))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db(req))?;
        let rows = projections::inventory::inventory_as_of(
            &mut tx,
            as_of,
            tenant_id.as_deref(),
            environment_id.as_ref().map(|e| e.as_str()),
        )
        .await
        .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
        .gql()?;
        // Ordered by (environment, service, tenant) in byte order, as `String`'s `Ord`.
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|r| visible(req, Some(&r.tenant_id)))
            .filter(|r| {
                after_key.as_ref().is_none_or(|(e, s, t)| {
                    (r.environment_id.as_str(), r.service_id.as_str(), r.tenant_id.as_str())
                        > (e.as_str(), s.as_str(), t.as_str())
                })
            })
            .take(limit + 1)
            .collect();
        // The end of each period: the one row per target that contains `as_of`.
        let services: Vec<&str> = rows.iter().map(|r| r.service_id.as_str()).collect();
        let ends: Vec<(String, String, String, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT service_id, environment_id, tenant_id, valid_to FROM runtime_inventory \
              WHERE valid @> $1::timestamptz AND service_id = ANY($2)",
        )
        .bind(as_of)
        .bind(&services)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(req))?;
        tx.commit().await.map_err(db(req))?;
        let ends: HashMap<(String, String, String), Option<DateTime<Utc>>> =
            ends.into_iter().map(|(s, e, t, to)| ((s, e, t), to)).collect();
        let entries: Vec<InventoryEntry> = rows
            .into_iter()
            .map(|r| InventoryEntry {
                until: ends
                    .get(&(r.service_id.clone(), r.environment_id.clone(), r.tenant_id.clone()))
                    .copied()
                    .flatten(),
                tenant_id: Some(r.tenant_id).filter(|t| !t.is_empty()),
                service_id: r.service_id,
                environment_id: r.environment_id,
                version: r.version,
                digest: r.digest,
                deployment_id: r.deployment_id,
                compute_kind: r.compute_kind,
                since: r.since,
            })
            .collect();
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
    /// latest status changes (newest first, at most 50; loaded for the whole page in one query).
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
        let mut rows: Vec<HealthRecord> = sqlx::query_as(
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
        let look = ctx.look_ahead();
        let wants_history = look.field("edges").field("node").field("history").exists()
            || look.field("nodes").field("history").exists();
        if wants_history && !rows.is_empty() {
            let ids: Vec<&str> = rows.iter().take(limit).map(|r| r.health_id.as_str()).collect();
            let changes: Vec<(String, i64, String, String, DateTime<Utc>)> = sqlx::query_as(
                "SELECT health_id, global_position, from_status, to_status, at FROM ( \
                    SELECT h.*, row_number() OVER (PARTITION BY health_id ORDER BY global_position DESC) AS n \
                      FROM health_history h WHERE health_id = ANY($1)) t \
                  WHERE n <= $2 ORDER BY health_id, global_position DESC",
            )
            .bind(&ids)
            .bind(HEALTH_HISTORY_LIMIT)
            .fetch_all(&state.pool)
            .await
            .map_err(db(req))?;
            let mut by_id: HashMap<String, Vec<HealthChangeRecord>> = HashMap::new();
            for (id, global_position, from_status, to_status, at) in changes {
                by_id.entry(id).or_default().push(HealthChangeRecord { global_position, from_status, to_status, at });
            }
            for row in &mut rows {
                row.history = by_id.remove(&row.health_id).unwrap_or_default();
            }
        }
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

    /// The audit log in global-position order, optionally within `[from, to)`, of one actor,
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
    ) -> async_graphql::Result<Connection<SequenceCursor, AuditEntry>> {
        await_position(ctx, "audit", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let limit = page_size(first).gql()?;
        let after = decode_after::<SequenceCursor>(after).gql()?.map_or(-1, |c| c.0);
        let rows: Vec<AuditEntry> = sqlx::query_as(
            "SELECT global_position, event_id::text AS event_id, aggregate_type, aggregate_id, sequence, event_type, \
                    NULLIF(tenant_id, '') AS tenant_id, actor, actor_role, trace_id, recorded_at \
               FROM audit_log \
              WHERE global_position > $1 \
                AND ($2::timestamptz IS NULL OR recorded_at >= $2) AND ($3::timestamptz IS NULL OR recorded_at < $3) \
                AND ($4::text IS NULL OR actor = $4) AND ($5::text IS NULL OR tenant_id = $5) \
                AND ($6::text[] IS NULL OR event_type = ANY($6)) \
                AND tenant_visible(tenant_id, $7::text[]) \
                AND ($8::text IS NULL OR actor_role = $8) \
              ORDER BY global_position LIMIT $9",
        )
        .bind(after)
        .bind(from)
        .bind(to)
        .bind(actor)
        .bind(tenant_id)
        .bind(event_types)
        .bind(req.tenant_filter())
        .bind(actor_role.map(|r| r.parse::<Role>().map(Role::as_str)).transpose().map_err(invalid).gql()?)
        .bind(limit as i64 + 1)
        .fetch_all(&state.pool)
        .await
        .map_err(db(req))?;
        Ok(page(rows, limit, after >= 0, |r| SequenceCursor(r.global_position)))
    }
}
