//! Output types of the read-model queries (`contexts::read_models`): rows of the catalog,
//! inventory, drift, health, deployments and audit projections. Statuses, kinds and classes are
//! the same GraphQL enums the by-id queries return (the projections store the domain's
//! snake_case text; [`stored`] reads it back through the domain's own serde); `tenantId` is
//! null for shared (no-tenant) rows.

use async_graphql::connection::CursorType;
use async_graphql::{ComplexObject, SimpleObject};
use chrono::{DateTime, Utc};
use domain::catalog as cat;
use domain::environments as env;
use domain::health;
use serde::de::DeserializeOwned;

use crate::types::catalog::{DeploymentStatus, DeploymentStrategyKind, ServiceKind, ServiceLifecycle};
use crate::types::environment::ComputeTargetKind;
use crate::types::health::{DriftClass, DriftStatus, HealthStatus};

/// The GraphQL enum `G` of a domain value `D` stored as its serde text (snake_case): decoded by
/// the domain's serde, converted as the by-id queries convert it. An unknown text is an error
/// (a projection written by a newer version), never a silent default.
pub fn stored<D: DeserializeOwned, G: From<D>>(text: &str) -> Result<G, String> {
    serde_json::from_value::<D>(serde_json::Value::String(text.to_owned()))
        .map(G::from)
        .map_err(|_| format!("unknown stored value {text:?}"))
}

/// `TryFrom<String>` (for `#[sqlx(try_from = "String")]`) through [`stored`].
macro_rules! from_stored {
    ($($gql:ty => $domain:ty),* $(,)?) => {$(
        impl TryFrom<String> for $gql {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                stored::<$domain, $gql>(&text)
            }
        }
    )*};
}

from_stored! {
    ServiceKind => cat::ServiceKind,
    ServiceLifecycle => cat::ServiceLifecycle,
    DeploymentStatus => cat::DeploymentStatus,
    HealthStatus => health::HealthStatus,
    DriftClass => health::DriftClass,
    DriftStatus => health::DriftStatus,
    ComputeTargetKind => env::ComputeTargetKind,
}

impl TryFrom<String> for DeploymentStrategyKind {
    type Error = String;
    /// The `deployment_history.strategy` text (`DeploymentStrategy::as_str`).
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "rolling" => Ok(Self::Rolling),
            "blue_green" => Ok(Self::BlueGreen),
            "canary" => Ok(Self::Canary),
            _ => Err(format!("unknown stored strategy {text:?}")),
        }
    }
}

/// [`stored`] of an optional column.
fn stored_opt<D: DeserializeOwned, G: From<D>>(text: Option<&str>) -> async_graphql::Result<Option<G>> {
    text.map(stored::<D, G>).transpose().map_err(async_graphql::Error::new)
}

/// A place in a list ordered by a composite key (e.g. `(startedAt, id)`), as an opaque cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCursor(pub Vec<String>);

impl CursorType for KeyCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| "malformed cursor")?;
        let raw = std::str::from_utf8(&raw).map_err(|_| "malformed cursor")?;
        let json = raw.strip_prefix("key:").ok_or("malformed cursor")?;
        let parts: Vec<String> = serde_json::from_str(json).map_err(|_| "malformed cursor")?;
        // A NUL cannot be stored, so no cursor we issued holds one.
        if parts.is_empty() || parts.iter().any(|p| p.contains('\0')) {
            return Err("malformed cursor");
        }
        Ok(Self(parts))
    }

    fn encode_cursor(&self) -> String {
        use base64::Engine as _;
        let json = serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".to_owned());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("key:{json}"))
    }
}

impl KeyCursor {
    /// A `(timestamp, id)` cursor; the timestamp is kept to the microsecond, as stored.
    pub fn at(at: DateTime<Utc>, id: &str) -> Self {
        Self(vec![at.timestamp_micros().to_string(), id.to_owned()])
    }

    /// The `(timestamp, id)` of a cursor made by [`KeyCursor::at`].
    pub fn as_at(&self) -> Option<(DateTime<Utc>, String)> {
        match self.0.as_slice() {
            [micros, id] => Some((DateTime::from_timestamp_micros(micros.parse().ok()?)?, id.clone())),
            _ => None,
        }
    }

    /// The single key of a one-part cursor.
    pub fn single(&self) -> Option<String> {
        match self.0.as_slice() {
            [key] => Some(key.clone()),
            _ => None,
        }
    }
}

/// A service in the catalog (`catalog_services`) with where it runs.
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
#[graphql(complex)]
pub struct CatalogEntry {
    /// The service (aggregate id).
    pub service_id: String,
    /// Owner product.
    pub product: String,
    /// Name, unique per product.
    pub name: String,
    /// Kind.
    #[sqlx(try_from = "String")]
    pub kind: ServiceKind,
    /// Lifecycle status.
    #[sqlx(try_from = "String")]
    pub status: ServiceLifecycle,
    /// Blueprint it was generated from.
    pub blueprint: String,
    /// Services it depends on, sorted.
    pub dependencies: Vec<String>,
    /// Recorded time of the last event folded in.
    pub updated_at: DateTime<Utc>,
    /// The runtime contract as the domain serializes it (served as `contract`).
    #[graphql(skip)]
    pub contract_json: serde_json::Value,
}

/// Where a service runs: one `catalog_service_environments` row.
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
#[graphql(complex)]
pub struct CatalogPlacement {
    /// The service.
    pub service_id: String,
    /// The environment.
    pub environment_id: String,
    /// The tenant; null for a shared placement.
    pub tenant_id: Option<String>,
    /// Version running (last succeeded deployment, or a rollback's target).
    pub deployed_version: Option<String>,
    /// Digest running.
    pub deployed_digest: Option<String>,
    /// The latest deployment started here.
    pub deployment_id: Option<String>,
    /// Its status, as stored (served as `deploymentStatus`).
    #[graphql(skip)]
    #[sqlx(rename = "deployment_status")]
    pub deployment_status_text: Option<String>,
    /// Health status of this target, as stored (served as `healthStatus`).
    #[graphql(skip)]
    #[sqlx(rename = "health_status")]
    pub health_status_text: Option<String>,
    /// Recorded time of the last event folded in.
    pub updated_at: DateTime<Utc>,
}

#[ComplexObject]
impl CatalogPlacement {
    /// Status of the latest deployment started here.
    async fn deployment_status(&self) -> async_graphql::Result<Option<DeploymentStatus>> {
        stored_opt::<cat::DeploymentStatus, _>(self.deployment_status_text.as_deref())
    }

    /// Health status of this target.
    async fn health_status(&self) -> async_graphql::Result<Option<HealthStatus>> {
        stored_opt::<health::HealthStatus, _>(self.health_status_text.as_deref())
    }
}

/// What ran (or runs) for a service in an environment and tenant: a `runtime_inventory` period.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct InventoryEntry {
    /// The service.
    pub service_id: String,
    /// The environment.
    pub environment_id: String,
    /// The tenant; null for a shared workload.
    pub tenant_id: Option<String>,
    /// Artifact version.
    pub version: String,
    /// Image digest.
    pub digest: String,
    /// The deployment whose artifact ran.
    pub deployment_id: String,
    /// Compute kind from the service's contract, if known.
    pub compute_kind: Option<ComputeTargetKind>,
    /// Where, in the environment's own terms: the name of its compute target of that kind when
    /// the period began (e.g. `aks-main`); null when it offered none of that kind.
    pub compute_target: Option<String>,
    /// The workload's active configuration version, if it has a configuration.
    pub configuration_version: Option<i32>,
    /// Replicas of the autoscaler's last decision, if one was recorded.
    pub replicas: Option<i32>,
    /// Start of the period: the last change of anything this entry shows.
    pub since: DateTime<Utc>,
    /// End of the period; null while it still runs.
    pub until: Option<DateTime<Utc>>,
    /// The event that opened the period (`openedBy`).
    #[graphql(skip)]
    pub opened_event_id: Option<uuid::Uuid>,
    /// The event that closed it (`closedBy`).
    #[graphql(skip)]
    pub closed_event_id: Option<uuid::Uuid>,
}

/// A drift finding (`drift_view`).
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
pub struct DriftFindingRecord {
    /// The finding (aggregate id).
    pub finding_id: String,
    /// Where.
    pub environment_id: String,
    /// The drifted service, if any.
    pub service_id: Option<String>,
    /// The drifted resource, if any.
    pub resource: Option<String>,
    /// The tenant; null when not tenant-specific.
    pub tenant_id: Option<String>,
    /// Drift class.
    #[sqlx(try_from = "String")]
    pub class: DriftClass,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: DriftStatus,
    /// Desired state.
    pub desired: Option<String>,
    /// Observed state.
    pub observed: Option<String>,
    /// When it was detected.
    pub detected_at: DateTime<Utc>,
    /// When it was closed, if it is.
    pub closed_at: Option<DateTime<Utc>>,
    /// Recorded time of the last event folded in.
    pub updated_at: DateTime<Utc>,
}

/// Open drift findings of one class in one environment.
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
pub struct DriftCount {
    /// The environment.
    pub environment_id: String,
    /// Drift class.
    #[sqlx(try_from = "String")]
    pub class: DriftClass,
    /// Number of findings not closed.
    pub open: i64,
}

/// One status change of a health record (`health_history`).
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
pub struct HealthChangeRecord {
    /// The health record changed.
    #[graphql(skip)]
    pub health_id: String,
    /// Log position of the change.
    pub global_position: i64,
    /// Status before.
    #[sqlx(try_from = "String")]
    pub from_status: HealthStatus,
    /// Status after.
    #[sqlx(try_from = "String")]
    pub to_status: HealthStatus,
    /// When.
    pub at: DateTime<Utc>,
}

/// Current health of a service in an environment and tenant (`health_view`).
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
#[graphql(complex)]
pub struct HealthRecord {
    /// The health record (aggregate id).
    pub health_id: String,
    /// The service.
    pub service_id: String,
    /// The environment.
    pub environment_id: String,
    /// The tenant; null when not tenant-specific.
    pub tenant_id: Option<String>,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: HealthStatus,
    /// Since when the status holds.
    pub since: DateTime<Utc>,
    /// Number of the open incident, if one is open.
    pub open_incident: Option<i32>,
    /// Recorded time of the last event folded in.
    pub updated_at: DateTime<Utc>,
}

/// A deployment (`deployment_history`).
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
pub struct DeploymentRecord {
    /// The deployment (aggregate id).
    pub deployment_id: String,
    /// The service deployed.
    pub service_id: String,
    /// Where.
    pub environment_id: String,
    /// The tenant; null for a shared deployment.
    pub tenant_id: Option<String>,
    /// Artifact version.
    pub version: String,
    /// Image digest.
    pub digest: String,
    /// How traffic moves to it.
    #[sqlx(try_from = "String")]
    pub strategy: DeploymentStrategyKind,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: DeploymentStatus,
    /// The deployment this one undoes (a rollback by re-deployment).
    pub rollback_of: Option<String>,
    /// The known-good deployment this one rolled back to.
    pub rollback_target: Option<String>,
    /// When it was started.
    pub started_at: DateTime<Utc>,
    /// When it reached its first terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// Recorded time of the last event folded in.
    pub updated_at: DateTime<Utc>,
}

/// One event in the audit log (`audit_log`); the payload is one `aggregateHistory` away.
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
pub struct AuditEntry {
    /// Position in the global log.
    pub global_position: i64,
    /// The writing transaction (with the position, the log order the list pages in).
    #[graphql(skip)]
    pub transaction_id: i64,
    /// The event id.
    pub event_id: Option<String>,
    /// Aggregate type.
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Sequence within the aggregate.
    pub sequence: i64,
    /// Event type.
    pub event_type: String,
    /// The tenant of the aggregate the event belongs to; null for platform-wide and shared
    /// aggregates.
    pub tenant_id: Option<String>,
    /// Who caused it (the token's subject).
    pub actor: Option<String>,
    /// The role the actor acted as; null for events written before roles were recorded.
    pub actor_role: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}
