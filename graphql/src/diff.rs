//! `runtimeDiff`: what started, stopped and changed (version, placement, configuration
//! version, replicas) between two instants, each change with the event that made it.
//!
//! Read from the temporal inventory (`projections::inventory::runtime_diff`: the workloads with
//! a period boundary between the two instants, each probed at both), never by replaying the
//! log; when the selection asks for them, the changes' events are then read by id in one
//! statement per page, on the same connection. A workload that ran at both instants and looks the same is
//! not listed, even if it changed and changed back in between: this is a difference of two
//! states, as Governance asks it ("what is different now from then"); `auditLog` and
//! `causalChain` tell the path.

use async_graphql::connection::{Connection, Edge};
use std::collections::HashMap;

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::envelope::keys;
use projections::inventory::{DiffEntry, InventoryPage, WorkloadState};
use uuid::Uuid;

use crate::contexts::read_models::{db, events_by_id, workload_page, WorkloadPage};
use crate::error::{ApiError, IntoGraphql};
use crate::projection_status::await_position;
use crate::query::request;
use crate::types::environment::ComputeTargetKind;
use crate::types::read_models::{stored, KeyCursor};
use crate::types::Event;
use crate::ApiState;

/// The runtime-diff query.
#[derive(Default)]
pub struct DiffQuery;

/// How a workload differs between the two instants.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WorkloadChange {
    /// Nothing ran at `from`; something runs at `to`.
    Started,
    /// Something ran at `from`; nothing runs at `to`.
    Stopped,
    /// It ran at both instants and something a user sees differs.
    Changed,
}

/// What of a workload changed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ChangedField {
    /// It started running (`to`: the version).
    Started,
    /// It stopped running (`from`: the version).
    Stopped,
    /// Artifact version or image digest (`version@digest`).
    Version,
    /// Where it runs: compute kind and the environment's compute target.
    Placement,
    /// The active configuration version.
    ConfigurationVersion,
    /// Replicas of the autoscaler's last decision.
    Replicas,
}

/// One change, with the event that made it.
#[derive(SimpleObject)]
pub struct FieldChange {
    /// What changed.
    pub field: ChangedField,
    /// The value at `from` (null: none).
    pub from: Option<String>,
    /// The value at `to` (null: none).
    pub to: Option<String>,
    /// The event that made the change (its type, actor, role, trace id and time are in its
    /// envelope); null when the log has no id for it or the caller may not see it. The events
    /// of a page are read in one statement, with the page.
    pub event: Option<Event>,
}

/// What ran for a workload at one of the instants.
#[derive(SimpleObject)]
pub struct WorkloadSnapshot {
    /// The deployment whose artifact ran.
    pub deployment_id: String,
    /// Artifact version.
    pub version: String,
    /// Image digest.
    pub digest: String,
    /// Compute kind.
    pub compute_kind: Option<ComputeTargetKind>,
    /// The environment's compute target it ran on.
    pub compute_target: Option<String>,
    /// Active configuration version.
    pub configuration_version: Option<i32>,
    /// Replicas of the autoscaler's last decision.
    pub replicas: Option<i32>,
}

/// One workload (service, environment, tenant) that differs between the two instants.
#[derive(SimpleObject)]
pub struct RuntimeDiffEntry {
    /// The service.
    pub service_id: String,
    /// The environment.
    pub environment_id: String,
    /// The tenant; null for a shared workload.
    pub tenant_id: Option<String>,
    /// Started, stopped or changed.
    pub change: WorkloadChange,
    /// What ran at `from`.
    pub before: Option<WorkloadSnapshot>,
    /// What runs at `to`.
    pub after: Option<WorkloadSnapshot>,
    /// Each change, with its event.
    pub changes: Vec<FieldChange>,
}

fn placement(s: &WorkloadState) -> Option<String> {
    match (&s.compute_kind, &s.compute_target) {
        (None, None) => None,
        (kind, target) => Some(format!("{}/{}", kind.as_deref().unwrap_or("?"), target.as_deref().unwrap_or("?"))),
    }
}

fn artifact(s: &WorkloadState) -> String {
    format!("{}@{}", s.version, s.digest)
}

/// One change before its event is read: field, value at `from`, value at `to`, event id.
type PendingChange = (ChangedField, Option<String>, Option<String>, Option<Uuid>);

/// The changes of one entry, each with the id of the event that made it.
fn changes_of(entry: &DiffEntry) -> Vec<PendingChange> {
    match (&entry.before, &entry.after) {
        (None, Some(after)) => vec![(ChangedField::Started, None, Some(artifact(after)), after.started_event_id)],
        (Some(before), None) => vec![(ChangedField::Stopped, Some(artifact(before)), None, entry.stopped_event_id)],
        (Some(b), Some(a)) => {
            let mut out = Vec::new();
            if (&b.version, &b.digest) != (&a.version, &a.digest) {
                out.push((ChangedField::Version, Some(artifact(b)), Some(artifact(a)), a.version_event_id));
            }
            if placement(b) != placement(a) {
                // Placement is decided when an artifact is put in place.
                out.push((ChangedField::Placement, placement(b), placement(a), a.version_event_id));
            }
            if b.configuration_version != a.configuration_version {
                out.push((
                    ChangedField::ConfigurationVersion,
                    b.configuration_version.map(|v| v.to_string()),
                    a.configuration_version.map(|v| v.to_string()),
                    a.configuration_event_id,
                ));
            }
            if b.replicas != a.replicas {
                out.push((
                    ChangedField::Replicas,
                    b.replicas.map(|v| v.to_string()),
                    a.replicas.map(|v| v.to_string()),
                    a.replicas_event_id,
                ));
            }
            out
        }
        (None, None) => Vec::new(),
    }
}

fn snapshot(s: &WorkloadState) -> Result<WorkloadSnapshot, String> {
    Ok(WorkloadSnapshot {
        deployment_id: s.deployment_id.clone(),
        version: s.version.clone(),
        digest: s.digest.clone(),
        compute_kind: s
            .compute_kind
            .as_deref()
            .map(stored::<domain::environments::ComputeTargetKind, _>)
            .transpose()?,
        compute_target: s.compute_target.clone(),
        configuration_version: s.configuration_version,
        replicas: s.replicas,
    })
}

#[Object]
impl DiffQuery {
    /// What started, stopped and changed between `from` and `to` (either order: `before` is
    /// always at `from`), optionally for one tenant (`""`: shared workloads only) and one
    /// environment; a page of workloads ordered by environment, service, tenant. Each change
    /// names the event that made it. Read from the temporal inventory: `minPosition` waits for
    /// it like `runtimeInventory`.
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn runtime_diff(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tenant_id: Option<String>,
        environment_id: Option<async_graphql::ID>,
        first: Option<i32>,
        after: Option<String>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Connection<KeyCursor, RuntimeDiffEntry>> {
        await_position(ctx, "inventory", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let Some(WorkloadPage { limit, after, after_key }) = workload_page(req, tenant_id.as_deref(), first, after)?
        else {
            return Ok(Connection::new(false, false));
        };
        let scope = req.tenant_filter();
        let mut conn = state.pool.acquire().await.map_err(db(req))?;
        let entries = projections::inventory::runtime_diff(
            &mut conn,
            from,
            to,
            &InventoryPage {
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
        let changes: Vec<_> = entries.iter().take(limit).map(changes_of).collect();
        let wanted = ctx.look_ahead().field("edges").field("node").field("changes").field("event").exists();
        let events = if wanted {
            let ids: Vec<Uuid> = changes.iter().flatten().filter_map(|c| c.3).collect();
            events_by_id(&mut conn, &ids).await.map_err(db(req))?
        } else {
            HashMap::new()
        };
        let has_more = entries.len() > limit;
        let mut nodes = Vec::with_capacity(limit.min(entries.len()));
        for (entry, changes) in entries.into_iter().take(limit).zip(changes) {
            let change = match (&entry.before, &entry.after) {
                (None, _) => WorkloadChange::Started,
                (_, None) => WorkloadChange::Stopped,
                _ => WorkloadChange::Changed,
            };
            let internal = |e: String| ApiError::internal(req.trace_id.as_str(), e);
            nodes.push(RuntimeDiffEntry {
                before: entry.before.as_ref().map(snapshot).transpose().map_err(internal).gql()?,
                after: entry.after.as_ref().map(snapshot).transpose().map_err(internal).gql()?,
                changes: changes
                    .into_iter()
                    .map(|(field, from, to, event_id)| FieldChange {
                        field,
                        from,
                        to,
                        // The rule of every log read: only events the caller may see.
                        event: event_id
                            .and_then(|id| events.get(&id).cloned())
                            .filter(|e| req.can_see(e.envelope(keys::TENANT_ID)))
                            .map(Event),
                    })
                    .collect(),
                change,
                tenant_id: Some(entry.tenant_id).filter(|t| !t.is_empty()),
                service_id: entry.service_id,
                environment_id: entry.environment_id,
            });
        }
        let mut connection = Connection::new(after.is_some(), has_more);
        connection.edges.extend(nodes.into_iter().map(|n| {
            let cursor = KeyCursor(vec![
                n.environment_id.clone(),
                n.service_id.clone(),
                n.tenant_id.clone().unwrap_or_default(),
            ]);
            Edge::new(cursor, n)
        }));
        Ok(connection)
    }
}
