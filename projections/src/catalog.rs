//! The service catalog: `catalog_services` (every service, its contract, owner product and
//! dependencies) and `catalog_service_environments` (per service, environment and tenant: the
//! version running, the latest deployment and its status, and the health status).
//!
//! Deployment and health events after the first carry only their aggregate id, so the
//! projector keeps `catalog_deployments` and `catalog_health` (aggregate id -> target) as side
//! tables. A batch reads each touched row once and writes it once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use commands::routes::Routes;
use commands::store::PgEventStore;
use cqrs_es::Aggregate;
use domain::catalog::{
    DeploymentEvent, DeploymentStatus, RuntimeDeployment, RuntimeService, ServiceEvent, ServiceLifecycle,
};
use domain::health::{HealthEvent, HealthStatus, RuntimeHealth};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::projector::Projector;
use crate::reader::Interest;
use crate::support::{delete_all, distinct, load_rows, text, upsert_rows};

/// Builds the catalog tables.
pub struct CatalogProjector {
    services: PgEventStore<RuntimeService>,
    deployments: PgEventStore<RuntimeDeployment>,
    health: PgEventStore<RuntimeHealth>,
}

impl CatalogProjector {
    /// A projector decoding events with the routes' stores (and so their upcasters).
    pub fn new(routes: &Routes) -> Self {
        Self {
            services: routes.services.store.clone(),
            deployments: routes.deployments.store.clone(),
            health: routes.health.store.clone(),
        }
    }
}

/// One `catalog_services` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogService {
    /// The service (aggregate id).
    pub service_id: String,
    /// Owner product.
    pub product: String,
    /// Name, unique per product.
    pub name: String,
    /// Kind, snake_case.
    pub kind: String,
    /// Lifecycle status, snake_case.
    pub status: String,
    /// Blueprint it was generated from.
    pub blueprint: String,
    /// The runtime contract as the domain serializes it.
    pub contract: Value,
    /// Services it depends on, sorted.
    pub dependencies: Vec<String>,
    /// The contract's compute kind.
    pub compute_kind: Option<String>,
    /// Aggregate version folded in.
    pub version: i64,
    /// Recorded time of the last folded event.
    pub updated_at: DateTime<Utc>,
}

const SERVICE_COLUMNS: &[&str] = &[
    "service_id",
    "product",
    "name",
    "kind",
    "status",
    "blueprint",
    "contract",
    "dependencies",
    "compute_kind",
    "version",
    "updated_at",
];

/// One `catalog_service_environments` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogPlacement {
    /// The service.
    pub service_id: String,
    /// The environment.
    pub environment_id: String,
    /// `''` for shared.
    pub tenant_id: String,
    /// Version running (from the last succeeded deployment, or a rollback's target).
    pub deployed_version: Option<String>,
    /// Digest running.
    pub deployed_digest: Option<String>,
    /// The deployment whose version runs.
    pub deployed_deployment_id: Option<String>,
    /// The latest deployment started.
    pub deployment_id: Option<String>,
    /// Its version.
    pub deployment_version: Option<String>,
    /// Its status, snake_case.
    pub deployment_status: Option<String>,
    /// The health record of this target.
    pub health_id: Option<String>,
    /// Its status, snake_case.
    pub health_status: Option<String>,
    /// Recorded time of the last folded event.
    pub updated_at: DateTime<Utc>,
}

const PLACEMENT_COLUMNS: &[&str] = &[
    "service_id",
    "environment_id",
    "tenant_id",
    "deployed_version",
    "deployed_digest",
    "deployed_deployment_id",
    "deployment_id",
    "deployment_version",
    "deployment_status",
    "health_id",
    "health_status",
    "updated_at",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeploymentTarget {
    deployment_id: String,
    service_id: String,
    environment_id: String,
    tenant_id: String,
    version: String,
    digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct HealthTargetRow {
    health_id: String,
    service_id: String,
    environment_id: String,
    tenant_id: String,
}

type Key = (String, String, String);

enum Decoded<'a> {
    Service(&'a RecordedEvent, ServiceEvent),
    Deployment(&'a RecordedEvent, DeploymentEvent),
    Health(&'a RecordedEvent, HealthEvent),
}

fn deployment_status_after(event: &DeploymentEvent) -> Option<DeploymentStatus> {
    use DeploymentEvent as E;
    Some(match event {
        E::DeploymentStarted { .. } => DeploymentStatus::Pending,
        E::RolloutBegun { .. } => DeploymentStatus::InProgress,
        E::VerificationStarted { .. } => DeploymentStatus::Verifying,
        E::DeploymentSucceeded { .. } => DeploymentStatus::Succeeded,
        E::DeploymentFailed { .. } => DeploymentStatus::Failed,
        E::RollbackStarted { .. } => DeploymentStatus::RollingBack,
        E::DeploymentRolledBack { .. } => DeploymentStatus::RolledBack,
        E::DeploymentCancelled { .. } => DeploymentStatus::Cancelled,
        E::DeploymentAbandoned { .. } => DeploymentStatus::Abandoned,
        E::DeploymentSuperseded { .. } => DeploymentStatus::Superseded,
        E::StepCompleted { .. } | E::HealthGateEvaluated { .. } => return None,
    })
}

impl CatalogProjector {
    fn decode<'a>(&self, e: &'a RecordedEvent) -> Result<Option<Decoded<'a>>, ProjectionError> {
        let (id, seq, ty, ver, payload) =
            (&e.aggregate_id, e.sequence, e.event_type.clone(), e.event_version.clone(), e.payload.clone());
        Ok(Some(match e.aggregate_type.as_str() {
            t if t == RuntimeService::TYPE => {
                Decoded::Service(e, self.services.deserialize(id, seq, ty, ver, payload)?)
            }
            t if t == RuntimeDeployment::TYPE => {
                Decoded::Deployment(e, self.deployments.deserialize(id, seq, ty, ver, payload)?)
            }
            t if t == RuntimeHealth::TYPE => Decoded::Health(e, self.health.deserialize(id, seq, ty, ver, payload)?),
            _ => return Ok(None),
        }))
    }
}

fn fold_service(
    row: Option<&mut CatalogService>,
    e: &RecordedEvent,
    event: ServiceEvent,
) -> Result<Option<CatalogService>, ProjectionError> {
    if let ServiceEvent::ServiceRegistered { product, name, kind, blueprint, contract, .. } = &event {
        return Ok(Some(CatalogService {
            service_id: e.aggregate_id.clone(),
            product: text(product)?,
            name: text(name)?,
            kind: text(kind)?,
            status: text(ServiceLifecycle::Registered)?,
            blueprint: text(blueprint)?,
            contract: serde_json::to_value(contract)?,
            dependencies: Vec::new(),
            compute_kind: Some(text(contract.compute())?),
            version: e.sequence,
            updated_at: e.recorded_at,
        }));
    }
    let Some(row) = row else { return Ok(None) };
    match event {
        ServiceEvent::ServiceActivated { .. } => row.status = text(ServiceLifecycle::Active)?,
        ServiceEvent::ServiceDeprecated { .. } => row.status = text(ServiceLifecycle::Deprecated)?,
        ServiceEvent::ServiceRetired { .. } => row.status = text(ServiceLifecycle::Retired)?,
        ServiceEvent::RuntimeContractUpdated { contract, .. } => {
            row.compute_kind = Some(text(contract.compute())?);
            row.contract = serde_json::to_value(&contract)?;
        }
        ServiceEvent::DependencyDeclared { on, .. } => {
            let on = text(on)?;
            if let Err(i) = row.dependencies.binary_search(&on) {
                row.dependencies.insert(i, on);
            }
        }
        ServiceEvent::DependencyRemoved { on, .. } => {
            let on = text(on)?;
            row.dependencies.retain(|d| *d != on);
        }
        ServiceEvent::ServiceRegistered { .. } => unreachable!("handled above"),
    }
    row.version = e.sequence;
    row.updated_at = e.recorded_at;
    Ok(None)
}

async fn load_placements(
    conn: &mut PgConnection,
    keys: &BTreeSet<Key>,
) -> Result<Vec<CatalogPlacement>, ProjectionError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (mut s, mut en, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for (a, b, c) in keys {
        s.push(a.as_str());
        en.push(b.as_str());
        t.push(c.as_str());
    }
    let rows: Vec<(Value,)> = sqlx::query_as(
        "SELECT to_jsonb(c) FROM catalog_service_environments c \
          WHERE (service_id, environment_id, tenant_id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
    )
    .bind(&s)
    .bind(&en)
    .bind(&t)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(|(v,)| serde_json::from_value(v).map_err(ProjectionError::from)).collect()
}

#[async_trait]
impl Projector for CatalogProjector {
    fn name(&self) -> &'static str {
        "catalog"
    }
    fn interest(&self) -> Interest {
        Interest::AggregateTypes(&[RuntimeService::TYPE, RuntimeDeployment::TYPE, RuntimeHealth::TYPE])
    }

    fn version(&self) -> i32 {
        1
    }

    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut decoded = Vec::new();
        for e in events {
            if let Some(d) = self.decode(e)? {
                decoded.push(d);
            }
        }
        if decoded.is_empty() {
            return Ok(());
        }

        // What the batch refers to, read once per table.
        let (mut service_ids, mut dep_ids, mut health_ids) = (Vec::new(), Vec::new(), Vec::new());
        for d in &decoded {
            match d {
                Decoded::Service(e, _) => service_ids.push(e.aggregate_id.clone()),
                Decoded::Deployment(e, ev) => {
                    dep_ids.push(e.aggregate_id.clone());
                    if let DeploymentEvent::DeploymentRolledBack { target, .. } = ev {
                        dep_ids.push(text(target)?);
                    }
                }
                Decoded::Health(e, _) => health_ids.push(e.aggregate_id.clone()),
            }
        }
        let service_ids = distinct(service_ids.iter().map(String::as_str));
        let dep_ids = distinct(dep_ids.iter().map(String::as_str));
        let health_ids = distinct(health_ids.iter().map(String::as_str));
        let mut services: HashMap<String, CatalogService> =
            load_rows::<CatalogService>(conn, "catalog_services", "service_id", &service_ids)
                .await?
                .into_iter()
                .map(|r| (r.service_id.clone(), r))
                .collect();
        let mut deployments: HashMap<String, DeploymentTarget> =
            load_rows::<DeploymentTarget>(conn, "catalog_deployments", "deployment_id", &dep_ids)
                .await?
                .into_iter()
                .map(|r| (r.deployment_id.clone(), r))
                .collect();
        let mut healths: HashMap<String, HealthTargetRow> =
            load_rows::<HealthTargetRow>(conn, "catalog_health", "health_id", &health_ids)
                .await?
                .into_iter()
                .map(|r| (r.health_id.clone(), r))
                .collect();

        // Targets first introduced by this batch.
        let (mut new_deployments, mut new_healths) = (BTreeMap::new(), BTreeMap::new());
        for d in &decoded {
            match d {
                Decoded::Deployment(
                    e,
                    DeploymentEvent::DeploymentStarted { service, environment, tenant, artifact, .. },
                ) => {
                    let t = DeploymentTarget {
                        deployment_id: e.aggregate_id.clone(),
                        service_id: text(service)?,
                        environment_id: text(environment)?,
                        tenant_id: text(tenant)?,
                        version: text(artifact.version())?,
                        digest: text(artifact.digest())?,
                    };
                    if !deployments.contains_key(&e.aggregate_id) {
                        new_deployments.insert(e.aggregate_id.clone(), t.clone());
                        deployments.insert(e.aggregate_id.clone(), t);
                    }
                }
                Decoded::Health(e, HealthEvent::HealthTracked { target, .. }) => {
                    let t = HealthTargetRow {
                        health_id: e.aggregate_id.clone(),
                        service_id: text(target.service())?,
                        environment_id: text(target.environment())?,
                        tenant_id: text(target.tenant())?,
                    };
                    if !healths.contains_key(&e.aggregate_id) {
                        new_healths.insert(e.aggregate_id.clone(), t.clone());
                        healths.insert(e.aggregate_id.clone(), t);
                    }
                }
                _ => {}
            }
        }

        let mut keys = BTreeSet::new();
        for d in &decoded {
            match d {
                Decoded::Deployment(e, _) => {
                    if let Some(t) = deployments.get(&e.aggregate_id) {
                        keys.insert((t.service_id.clone(), t.environment_id.clone(), t.tenant_id.clone()));
                    }
                }
                Decoded::Health(e, _) => {
                    if let Some(t) = healths.get(&e.aggregate_id) {
                        keys.insert((t.service_id.clone(), t.environment_id.clone(), t.tenant_id.clone()));
                    }
                }
                Decoded::Service(..) => {}
            }
        }
        let mut placements: BTreeMap<Key, CatalogPlacement> = load_placements(conn, &keys)
            .await?
            .into_iter()
            .map(|r| ((r.service_id.clone(), r.environment_id.clone(), r.tenant_id.clone()), r))
            .collect();

        let (mut touched_services, mut touched_placements) = (BTreeSet::new(), BTreeSet::new());
        for d in decoded {
            match d {
                Decoded::Service(e, event) => {
                    if services.get(&e.aggregate_id).is_some_and(|r| e.sequence <= r.version) {
                        continue;
                    }
                    if let Some(new) = fold_service(services.get_mut(&e.aggregate_id), e, event)? {
                        services.insert(e.aggregate_id.clone(), new);
                    }
                    if services.contains_key(&e.aggregate_id) {
                        touched_services.insert(e.aggregate_id.clone());
                    }
                }
                Decoded::Deployment(e, event) => {
                    let Some(t) = deployments.get(&e.aggregate_id) else {
                        continue;
                    };
                    let key = (t.service_id.clone(), t.environment_id.clone(), t.tenant_id.clone());
                    let row = placements.entry(key.clone()).or_insert_with(|| empty_placement(&key, e.recorded_at));
                    if matches!(event, DeploymentEvent::DeploymentStarted { .. }) {
                        row.deployment_id = Some(t.deployment_id.clone());
                        row.deployment_version = Some(t.version.clone());
                    }
                    let current = row.deployment_id.as_deref() == Some(e.aggregate_id.as_str());
                    if let (true, Some(status)) = (current, deployment_status_after(&event)) {
                        row.deployment_status = Some(text(status)?);
                    }
                    let running = match &event {
                        DeploymentEvent::DeploymentSucceeded { .. } => Some(t),
                        DeploymentEvent::DeploymentRolledBack { target, .. } => deployments.get(&text(target)?),
                        _ => None,
                    };
                    if let Some(running) = running {
                        row.deployed_version = Some(running.version.clone());
                        row.deployed_digest = Some(running.digest.clone());
                        row.deployed_deployment_id = Some(running.deployment_id.clone());
                    }
                    row.updated_at = e.recorded_at;
                    touched_placements.insert(key);
                }
                Decoded::Health(e, event) => {
                    let Some(t) = healths.get(&e.aggregate_id) else {
                        continue;
                    };
                    let key = (t.service_id.clone(), t.environment_id.clone(), t.tenant_id.clone());
                    let row = placements.entry(key.clone()).or_insert_with(|| empty_placement(&key, e.recorded_at));
                    match event {
                        HealthEvent::HealthTracked { .. } => {
                            row.health_id = Some(e.aggregate_id.clone());
                            row.health_status = Some(text(HealthStatus::Unknown)?);
                        }
                        HealthEvent::HealthStatusChanged { to, .. }
                            if row.health_id.as_deref() == Some(e.aggregate_id.as_str()) =>
                        {
                            row.health_status = Some(text(to)?);
                        }
                        _ => continue,
                    }
                    row.updated_at = e.recorded_at;
                    touched_placements.insert(key);
                }
            }
        }

        let out: Vec<&CatalogService> = touched_services.iter().map(|id| &services[id]).collect();
        upsert_rows(conn, "catalog_services", &["service_id"], SERVICE_COLUMNS, &out).await?;
        let out: Vec<&CatalogPlacement> = touched_placements.iter().map(|k| &placements[k]).collect();
        upsert_rows(
            conn,
            "catalog_service_environments",
            &["service_id", "environment_id", "tenant_id"],
            PLACEMENT_COLUMNS,
            &out,
        )
        .await?;
        let out: Vec<&DeploymentTarget> = new_deployments.values().collect();
        upsert_rows(
            conn,
            "catalog_deployments",
            &["deployment_id"],
            &["deployment_id", "service_id", "environment_id", "tenant_id", "version", "digest"],
            &out,
        )
        .await?;
        let out: Vec<&HealthTargetRow> = new_healths.values().collect();
        upsert_rows(
            conn,
            "catalog_health",
            &["health_id"],
            &["health_id", "service_id", "environment_id", "tenant_id"],
            &out,
        )
        .await
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        delete_all(conn, self.tables()).await
    }

    fn tables(&self) -> &'static [&'static str] {
        &["catalog_services", "catalog_service_environments", "catalog_deployments", "catalog_health"]
    }
}

fn empty_placement(key: &Key, at: DateTime<Utc>) -> CatalogPlacement {
    CatalogPlacement {
        service_id: key.0.clone(),
        environment_id: key.1.clone(),
        tenant_id: key.2.clone(),
        deployed_version: None,
        deployed_digest: None,
        deployed_deployment_id: None,
        deployment_id: None,
        deployment_version: None,
        deployment_status: None,
        health_id: None,
        health_status: None,
        updated_at: at,
    }
}
