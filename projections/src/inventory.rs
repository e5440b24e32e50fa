//! `runtime_inventory`: what runs where, at which version, for which tenant, and since when —
//! temporal, so "what ran at instant T" is one indexed query.
//!
//! One row per (service, environment, tenant) and period; `valid = [valid_from, valid_to)`:
//! - `DeploymentSucceeded` closes the open row of its (service, environment, tenant) and opens
//!   one with the deployment's artifact;
//! - `DeploymentRolledBack` closes it and opens one with the rollback target's artifact;
//! - `EnvironmentDecommissioned` closes every open row of the environment;
//! - `TenantOffboarded` closes every open row of that tenant in that environment.
//!
//! Times are the events' `recorded_at`. Per (service, environment, tenant) they never go
//! backwards: an event recorded "before" the open row's start (transactions that started in one
//! order and committed in the other) takes effect at that start, and a period of zero length is
//! dropped. The artifact of a deployment comes from its `DeploymentStarted`, kept in the side
//! table `inventory_deployments`; the compute kind from the service's contract, kept in
//! `inventory_services`; and where, in the environment's own terms: the name of the
//! environment's compute target of that kind when the period began (the first by name if it
//! offers several), from `inventory_compute_targets`. `tests::replay::inventory_by_replay`
//! computes the same rows (without the target's name) from the log alone, as a test oracle.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use commands::routes::Routes;
use commands::store::PgEventStore;
use cqrs_es::Aggregate;
use domain::catalog::{DeploymentEvent, RuntimeDeployment, RuntimeService, ServiceEvent};
use domain::environments::{EnvironmentEvent, RuntimeEnvironment};
use domain::tenancy::{RuntimeTenantBinding, TenantBindingEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::projector::Projector;
use crate::reader::Interest;
use crate::support::{delete_all, distinct, load_rows, text, upsert_rows};

/// What ran at an instant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, sqlx::FromRow)]
pub struct InventoryRow {
    /// Where.
    pub environment_id: String,
    /// Which service.
    pub service_id: String,
    /// For which tenant; `''` for a shared workload.
    pub tenant_id: String,
    /// The deployment whose artifact runs.
    pub deployment_id: String,
    /// Artifact version.
    pub version: String,
    /// Image digest.
    pub digest: String,
    /// Compute kind from the service's contract when the period began, if known.
    pub compute_kind: Option<String>,
    /// Since when (start of the period).
    pub since: DateTime<Utc>,
}

/// The projector's event types; everything else is skipped without decoding.
const RELEVANT: &[&str] = &[
    "DeploymentStarted",
    "DeploymentSucceeded",
    "DeploymentRolledBack",
    "ServiceRegistered",
    "RuntimeContractUpdated",
    "EnvironmentDecommissioned",
    "TenantOffboarded",
    "EnvironmentRequested",
    "ComputeTargetAdded",
    "ComputeTargetRemoved",
];

/// A decoded fact the inventory cares about.
enum Fact {
    Started {
        deployment: Artifact,
    },
    Succeeded {
        deployment: String,
    },
    RolledBack {
        deployment: String,
        target: String,
    },
    Compute {
        service: String,
        kind: String,
    },
    Decommissioned {
        environment: String,
    },
    Offboarded {
        environment: String,
        tenant: String,
    },
    /// Compute targets an environment offers from now on (`kind` `None`: removed).
    Targets {
        environment: String,
        targets: Vec<(String, Option<String>)>,
    },
}

/// What a deployment puts in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Artifact {
    deployment_id: String,
    service_id: String,
    environment_id: String,
    tenant_id: String,
    version: String,
    digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ServiceCompute {
    service_id: String,
    compute_kind: String,
}

type Key = (String, String, String);

fn fact_of_deployment(id: &str, event: DeploymentEvent) -> Result<Option<Fact>, ProjectionError> {
    Ok(match event {
        DeploymentEvent::DeploymentStarted { service, environment, tenant, artifact, .. } => Some(Fact::Started {
            deployment: Artifact {
                deployment_id: id.to_owned(),
                service_id: text(service)?,
                environment_id: text(environment)?,
                tenant_id: text(tenant)?,
                version: text(artifact.version())?,
                digest: text(artifact.digest())?,
            },
        }),
        DeploymentEvent::DeploymentSucceeded { .. } => Some(Fact::Succeeded { deployment: id.to_owned() }),
        DeploymentEvent::DeploymentRolledBack { target, .. } => {
            Some(Fact::RolledBack { deployment: id.to_owned(), target: text(target)? })
        }
        _ => None,
    })
}

fn fact_of_service(id: &str, event: ServiceEvent) -> Result<Option<Fact>, ProjectionError> {
    Ok(match event {
        ServiceEvent::ServiceRegistered { contract, .. } | ServiceEvent::RuntimeContractUpdated { contract, .. } => {
            Some(Fact::Compute { service: id.to_owned(), kind: text(contract.compute())? })
        }
        _ => None,
    })
}

fn fact_of_environment(id: &str, event: EnvironmentEvent) -> Result<Option<Fact>, ProjectionError> {
    let environment = id.to_owned();
    Ok(match event {
        EnvironmentEvent::EnvironmentDecommissioned { .. } => Some(Fact::Decommissioned { environment }),
        EnvironmentEvent::EnvironmentRequested { compute_targets, .. } => {
            let targets = compute_targets
                .iter()
                .map(|t| Ok((text(t.name())?, Some(text(t.kind())?))))
                .collect::<Result<_, ProjectionError>>()?;
            Some(Fact::Targets { environment, targets })
        }
        EnvironmentEvent::ComputeTargetAdded { target } => {
            Some(Fact::Targets { environment, targets: vec![(text(target.name())?, Some(text(target.kind())?))] })
        }
        EnvironmentEvent::ComputeTargetRemoved { name } => {
            Some(Fact::Targets { environment, targets: vec![(text(name)?, None)] })
        }
        _ => None,
    })
}

/// One `inventory_compute_targets` row: a compute target an environment offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EnvironmentTarget {
    environment_id: String,
    name: String,
    kind: String,
}

/// The compute targets of the environments in a batch: environment -> name -> kind (`None`:
/// removed in this batch).
type Targets = HashMap<String, BTreeMap<String, Option<String>>>;

/// The name of `environment`'s compute target of kind `kind` (the first by name).
fn target_of(targets: &Targets, environment: &str, kind: Option<&String>) -> Option<String> {
    let kind = kind?;
    targets.get(environment)?.iter().find(|(_, k)| k.as_ref() == Some(kind)).map(|(name, _)| name.clone())
}

fn fact_of_binding(event: TenantBindingEvent) -> Result<Option<Fact>, ProjectionError> {
    Ok(match event {
        TenantBindingEvent::TenantOffboarded { tenant, environment, .. } => {
            Some(Fact::Offboarded { environment: text(environment)?, tenant: text(tenant)? })
        }
        _ => None,
    })
}

/// Builds `runtime_inventory` (and its side tables).
pub struct InventoryProjector {
    deployments: PgEventStore<RuntimeDeployment>,
    services: PgEventStore<RuntimeService>,
    environments: PgEventStore<RuntimeEnvironment>,
    tenant_bindings: PgEventStore<RuntimeTenantBinding>,
}

impl InventoryProjector {
    /// A projector decoding events with the routes' stores (and so their upcasters).
    pub fn new(routes: &Routes) -> Self {
        Self {
            deployments: routes.deployments.store.clone(),
            services: routes.services.store.clone(),
            environments: routes.environments.store.clone(),
            tenant_bindings: routes.tenant_bindings.store.clone(),
        }
    }

    fn fact(&self, e: &RecordedEvent) -> Result<Option<Fact>, ProjectionError> {
        if !RELEVANT.contains(&e.event_type.as_str()) {
            return Ok(None);
        }
        let (id, seq, ty, ver, payload) =
            (&e.aggregate_id, e.sequence, e.event_type.clone(), e.event_version.clone(), e.payload.clone());
        match e.aggregate_type.as_str() {
            t if t == RuntimeDeployment::TYPE => {
                fact_of_deployment(id, self.deployments.deserialize(id, seq, ty, ver, payload)?)
            }
            t if t == RuntimeService::TYPE => {
                fact_of_service(id, self.services.deserialize(id, seq, ty, ver, payload)?)
            }
            t if t == RuntimeEnvironment::TYPE => {
                fact_of_environment(id, self.environments.deserialize(id, seq, ty, ver, payload)?)
            }
            t if t == RuntimeTenantBinding::TYPE => {
                fact_of_binding(self.tenant_bindings.deserialize(id, seq, ty, ver, payload)?)
            }
            _ => Ok(None),
        }
    }
}

/// One stored period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Period {
    opened_position: i64,
    service_id: String,
    environment_id: String,
    tenant_id: String,
    deployment_id: String,
    version: String,
    digest: String,
    compute_kind: Option<String>,
    /// The environment's compute target (by name) of that kind when the period began.
    compute_target: Option<String>,
    valid_from: DateTime<Utc>,
    valid_to: Option<DateTime<Utc>>,
    closed_position: Option<i64>,
}

const PERIOD_COLUMNS: &[&str] = &[
    "opened_position",
    "service_id",
    "environment_id",
    "tenant_id",
    "deployment_id",
    "version",
    "digest",
    "compute_kind",
    "compute_target",
    "valid_from",
    "valid_to",
    "closed_position",
];

/// The in-batch state of open periods.
#[derive(Default)]
struct Periods {
    /// Open periods by key, and whether each is already stored.
    open: BTreeMap<Key, (Period, bool)>,
    /// Stored periods that this batch closes.
    closed_stored: Vec<Period>,
    /// New periods (open or already closed).
    new: Vec<Period>,
    /// Stored periods of zero length, to delete.
    deleted: Vec<i64>,
}

impl Periods {
    /// Ends the open period of `key` at `at` (never before its start); returns the effective
    /// instant.
    fn close(&mut self, key: &Key, at: DateTime<Utc>, position: i64) -> DateTime<Utc> {
        let Some((mut period, stored)) = self.open.remove(key) else {
            return at;
        };
        let at = at.max(period.valid_from);
        if at == period.valid_from {
            if stored {
                self.deleted.push(period.opened_position);
            }
            return at;
        }
        period.valid_to = Some(at);
        period.closed_position = Some(position);
        if stored {
            self.closed_stored.push(period);
        } else {
            self.new.push(period);
        }
        at
    }

    fn replace(
        &mut self,
        artifact: &Artifact,
        (compute_kind, compute_target): (Option<String>, Option<String>),
        at: DateTime<Utc>,
        position: i64,
    ) {
        let key = (artifact.service_id.clone(), artifact.environment_id.clone(), artifact.tenant_id.clone());
        if self.open.get(&key).is_some_and(|(p, _)| p.opened_position >= position) {
            return; // already applied
        }
        let at = self.close(&key, at, position);
        let period = Period {
            opened_position: position,
            service_id: artifact.service_id.clone(),
            environment_id: artifact.environment_id.clone(),
            tenant_id: artifact.tenant_id.clone(),
            deployment_id: artifact.deployment_id.clone(),
            version: artifact.version.clone(),
            digest: artifact.digest.clone(),
            compute_kind,
            compute_target,
            valid_from: at,
            valid_to: None,
            closed_position: None,
        };
        self.open.insert(key, (period, false));
    }

    fn close_where(&mut self, at: DateTime<Utc>, position: i64, pred: impl Fn(&Key) -> bool) {
        let keys: Vec<Key> = self.open.keys().filter(|k| pred(k)).cloned().collect();
        for key in keys {
            self.close(&key, at, position);
        }
    }
}

async fn load_open(
    conn: &mut PgConnection,
    keys: &BTreeSet<Key>,
    environments: &[String],
    offboarded: &BTreeSet<(String, String)>,
) -> Result<Vec<Period>, ProjectionError> {
    if keys.is_empty() && environments.is_empty() && offboarded.is_empty() {
        return Ok(Vec::new());
    }
    let (mut s, mut en, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for (a, b, c) in keys {
        s.push(a.as_str());
        en.push(b.as_str());
        t.push(c.as_str());
    }
    let (oe, ot): (Vec<&str>, Vec<&str>) = offboarded.iter().map(|(e, t)| (e.as_str(), t.as_str())).unzip();
    let rows: Vec<(Value,)> = sqlx::query_as(
        "SELECT to_jsonb(r) - 'valid' FROM runtime_inventory r WHERE valid_to IS NULL AND ( \
            (service_id, environment_id, tenant_id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[])) \
            OR environment_id = ANY($4) \
            OR (environment_id, tenant_id) IN (SELECT * FROM unnest($5::text[], $6::text[])))",
    )
    .bind(&s)
    .bind(&en)
    .bind(&t)
    .bind(environments)
    .bind(&oe)
    .bind(&ot)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(|(v,)| serde_json::from_value(v).map_err(ProjectionError::from)).collect()
}

#[async_trait]
impl Projector for InventoryProjector {
    fn name(&self) -> &'static str {
        "inventory"
    }
    fn interest(&self) -> Interest {
        Interest::EventTypes(RELEVANT)
    }

    /// 2: `compute_target` (the environment's target by name) and `inventory_compute_targets`.
    fn version(&self) -> i32 {
        2
    }

    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut facts = Vec::new();
        for e in events {
            if let Some(f) = self.fact(e)? {
                facts.push((e, f));
            }
        }
        if facts.is_empty() {
            return Ok(());
        }
        // Deployments referred to but not started in this batch.
        let mut dep_ids = Vec::new();
        for (_, f) in &facts {
            match f {
                Fact::Succeeded { deployment } => dep_ids.push(deployment.as_str()),
                Fact::RolledBack { deployment, target } => {
                    dep_ids.push(deployment.as_str());
                    dep_ids.push(target.as_str());
                }
                _ => {}
            }
        }
        let dep_ids = distinct(dep_ids);
        let mut deployments: HashMap<String, Artifact> =
            load_rows::<Artifact>(conn, "inventory_deployments", "deployment_id", &dep_ids)
                .await?
                .into_iter()
                .map(|a| (a.deployment_id.clone(), a))
                .collect();
        let mut new_deployments = BTreeMap::new();
        for (_, f) in &facts {
            if let Fact::Started { deployment } = f {
                if !deployments.contains_key(&deployment.deployment_id) {
                    new_deployments.insert(deployment.deployment_id.clone(), deployment.clone());
                    deployments.insert(deployment.deployment_id.clone(), deployment.clone());
                }
            }
        }
        // Services, open periods and what closes them.
        let (mut keys, mut service_ids, mut environments, mut offboarded) =
            (BTreeSet::new(), Vec::new(), Vec::new(), BTreeSet::new());
        for (_, f) in &facts {
            match f {
                Fact::Succeeded { deployment } | Fact::RolledBack { deployment, .. } => {
                    if let Some(a) = deployments.get(deployment) {
                        keys.insert((a.service_id.clone(), a.environment_id.clone(), a.tenant_id.clone()));
                        service_ids.push(a.service_id.as_str());
                    }
                }
                Fact::Compute { service, .. } => service_ids.push(service.as_str()),
                Fact::Decommissioned { environment } => environments.push(environment.as_str()),
                Fact::Offboarded { environment, tenant } => {
                    offboarded.insert((environment.clone(), tenant.clone()));
                }
                Fact::Started { .. } | Fact::Targets { .. } => {}
            }
        }
        let mut target_envs: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        for (_, f) in &facts {
            if let Fact::Targets { environment, .. } = f {
                target_envs.push(environment.as_str());
            }
        }
        let target_envs = distinct(target_envs);
        let mut targets: Targets = HashMap::new();
        for t in
            load_rows::<EnvironmentTarget>(conn, "inventory_compute_targets", "environment_id", &target_envs).await?
        {
            targets.entry(t.environment_id).or_default().insert(t.name, Some(t.kind));
        }
        let mut touched_targets: BTreeSet<(String, String)> = BTreeSet::new();
        let service_ids = distinct(service_ids);
        let environments = distinct(environments);
        let mut compute: HashMap<String, String> =
            load_rows::<ServiceCompute>(conn, "inventory_services", "service_id", &service_ids)
                .await?
                .into_iter()
                .map(|s| (s.service_id, s.compute_kind))
                .collect();
        let mut periods = Periods::default();
        for p in load_open(conn, &keys, &environments, &offboarded).await? {
            periods.open.insert((p.service_id.clone(), p.environment_id.clone(), p.tenant_id.clone()), (p, true));
        }
        let mut touched_services = BTreeSet::new();

        for (e, f) in &facts {
            let (at, pos) = (e.recorded_at, e.global_position);
            match f {
                Fact::Started { .. } => {}
                Fact::Targets { environment, targets: changes } => {
                    let offered = targets.entry(environment.clone()).or_default();
                    for (name, kind) in changes {
                        offered.insert(name.clone(), kind.clone());
                        touched_targets.insert((environment.clone(), name.clone()));
                    }
                }
                Fact::Compute { service, kind } => {
                    compute.insert(service.clone(), kind.clone());
                    touched_services.insert(service.clone());
                }
                Fact::Succeeded { deployment } => {
                    if let Some(a) = deployments.get(deployment) {
                        let kind = compute.get(&a.service_id).cloned();
                        let target = target_of(&targets, &a.environment_id, kind.as_ref());
                        periods.replace(a, (kind, target), at, pos);
                    }
                }
                Fact::RolledBack { deployment, target } => {
                    let Some(own) = deployments.get(deployment) else {
                        continue;
                    };
                    match deployments.get(target) {
                        Some(t) => {
                            // The target's artifact, in the rolled-back deployment's place.
                            let running = Artifact {
                                service_id: own.service_id.clone(),
                                environment_id: own.environment_id.clone(),
                                tenant_id: own.tenant_id.clone(),
                                ..t.clone()
                            };
                            let kind = compute.get(&own.service_id).cloned();
                            let target = target_of(&targets, &own.environment_id, kind.as_ref());
                            periods.replace(&running, (kind, target), at, pos);
                        }
                        None => {
                            let key = (own.service_id.clone(), own.environment_id.clone(), own.tenant_id.clone());
                            periods.close(&key, at, pos);
                        }
                    }
                }
                Fact::Decommissioned { environment } => periods.close_where(at, pos, |k| k.1 == *environment),
                Fact::Offboarded { environment, tenant } => {
                    periods.close_where(at, pos, |k| k.1 == *environment && k.2 == *tenant)
                }
            }
        }

        // Write: shrink or drop stored periods first, then add new ones, so no two periods of
        // a key ever overlap, even within a statement.
        if !periods.deleted.is_empty() {
            sqlx::query("DELETE FROM runtime_inventory WHERE opened_position = ANY($1)")
                .bind(&periods.deleted)
                .execute(&mut *conn)
                .await?;
        }
        upsert_rows(conn, "runtime_inventory", &["opened_position"], PERIOD_COLUMNS, &periods.closed_stored).await?;
        let mut new = std::mem::take(&mut periods.new);
        new.extend(periods.open.into_values().filter(|(_, stored)| !stored).map(|(p, _)| p));
        upsert_rows(conn, "runtime_inventory", &["opened_position"], PERIOD_COLUMNS, &new).await?;
        let out: Vec<&Artifact> = new_deployments.values().collect();
        upsert_rows(
            conn,
            "inventory_deployments",
            &["deployment_id"],
            &["deployment_id", "service_id", "environment_id", "tenant_id", "version", "digest"],
            &out,
        )
        .await?;
        let out: Vec<ServiceCompute> = touched_services
            .into_iter()
            .map(|s| ServiceCompute { compute_kind: compute[&s].clone(), service_id: s })
            .collect();
        upsert_rows(conn, "inventory_services", &["service_id"], &["service_id", "compute_kind"], &out).await?;
        let (mut offered, mut removed_env, mut removed_name) = (Vec::new(), Vec::new(), Vec::new());
        for (environment, name) in touched_targets {
            match targets.get(&environment).and_then(|t| t.get(&name)).cloned().flatten() {
                Some(kind) => offered.push(EnvironmentTarget { environment_id: environment, name, kind }),
                None => {
                    removed_env.push(environment);
                    removed_name.push(name);
                }
            }
        }
        if !removed_env.is_empty() {
            sqlx::query(
                "DELETE FROM inventory_compute_targets \
                  WHERE (environment_id, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            )
            .bind(&removed_env)
            .bind(&removed_name)
            .execute(&mut *conn)
            .await?;
        }
        upsert_rows(
            conn,
            "inventory_compute_targets",
            &["environment_id", "name"],
            &["environment_id", "name", "kind"],
            &offered,
        )
        .await
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        delete_all(conn, self.tables()).await
    }

    fn tables(&self) -> &'static [&'static str] {
        &["runtime_inventory", "inventory_deployments", "inventory_services", "inventory_compute_targets"]
    }
}

/// What ran at `as_of`, optionally only for one tenant (`Some("")`: shared workloads only) and
/// one environment; ordered by environment, service, tenant.
pub async fn inventory_as_of(
    conn: &mut PgConnection,
    as_of: DateTime<Utc>,
    tenant: Option<&str>,
    environment: Option<&str>,
) -> Result<Vec<InventoryRow>, ProjectionError> {
    let rows = sqlx::query_as::<_, InventoryRow>(
        "SELECT environment_id, service_id, tenant_id, deployment_id, version, digest, compute_kind, valid_from AS since \
           FROM runtime_inventory \
          WHERE valid @> $1::timestamptz \
            AND ($2::text IS NULL OR tenant_id = $2) \
            AND ($3::text IS NULL OR environment_id = $3) \
          ORDER BY environment_id COLLATE \"C\", service_id COLLATE \"C\", tenant_id COLLATE \"C\"",
    )
    .bind(as_of)
    .bind(tenant)
    .bind(environment)
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

/// A period of `runtime_inventory` as a page of the inventory returns it: what ran, since
/// when, and until when (`None`: it still runs).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InventoryPeriod {
    /// What ran, as [`inventory_as_of`] returns it.
    #[sqlx(flatten)]
    pub row: InventoryRow,
    /// End of the period; `None` while it runs.
    pub until: Option<DateTime<Utc>>,
    /// Where, in the environment's terms: its compute target (by name) of the service's
    /// compute kind when the period began; `None` when it offered none of that kind.
    pub compute_target: Option<String>,
}

/// Which page of the inventory at an instant to read: filters, the caller's tenant scope
/// (`tenant_visible`, migration 20261201000002), and a keyset position.
#[derive(Debug, Clone, Default)]
pub struct InventoryPage<'a> {
    /// Only this tenant (`Some("")`: shared workloads only).
    pub tenant: Option<&'a str>,
    /// Only this environment.
    pub environment: Option<&'a str>,
    /// The tenants the caller may see (`None`: all); shared rows are always visible.
    pub scope: Option<&'a [String]>,
    /// Rows strictly after this `(environment, service, tenant)` key, in byte order.
    pub after: Option<(&'a str, &'a str, &'a str)>,
    /// At most this many rows.
    pub limit: i64,
}

/// One page of what ran at `as_of`, ordered by environment, service, tenant (byte order, as
/// [`inventory_as_of`]), filtered, bounded and keyed in the database: the cost of a page does
/// not grow with the inventory.
pub async fn inventory_page(
    conn: &mut PgConnection,
    as_of: DateTime<Utc>,
    page: &InventoryPage<'_>,
) -> Result<Vec<InventoryPeriod>, ProjectionError> {
    let (after_env, after_service, after_tenant) =
        page.after.map_or((None, None, None), |(e, s, t)| (Some(e), Some(s), Some(t)));
    let rows = sqlx::query_as::<_, InventoryPeriod>(
        "SELECT environment_id, service_id, tenant_id, deployment_id, version, digest, compute_kind, \
                valid_from AS since, valid_to AS until, compute_target \
           FROM runtime_inventory \
          WHERE valid @> $1::timestamptz \
            AND ($2::text IS NULL OR tenant_id = $2) \
            AND ($3::text IS NULL OR environment_id = $3) \
            AND tenant_visible(tenant_id, $4::text[]) \
            AND ($5::text IS NULL OR (environment_id COLLATE \"C\", service_id COLLATE \"C\", tenant_id COLLATE \"C\") \
                 > ($5::text COLLATE \"C\", $6::text COLLATE \"C\", $7::text COLLATE \"C\")) \
          ORDER BY environment_id COLLATE \"C\", service_id COLLATE \"C\", tenant_id COLLATE \"C\" \
          LIMIT $8",
    )
    .bind(as_of)
    .bind(page.tenant)
    .bind(page.environment)
    .bind(page.scope)
    .bind(after_env)
    .bind(after_service)
    .bind(after_tenant)
    .bind(page.limit.max(0))
    .fetch_all(conn)
    .await?;
    Ok(rows)
}
