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
use domain::configuration::{ConfigurationEvent, RuntimeConfiguration};
use domain::environments::{EnvironmentEvent, RuntimeEnvironment};
use domain::scaling::{ScalingPolicy, ScalingPolicyEvent};
use domain::tenancy::{RuntimeTenantBinding, TenantBindingEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

mod diff;

pub use diff::{runtime_diff, runtime_diff_by, DiffCandidates, DiffEntry, DiffPage, WorkloadState, BOUNDARY_LIMIT};

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
    /// The workload's active configuration version, if it has a configuration.
    pub configuration_version: Option<i32>,
    /// Replicas of the autoscaler's last decision, if one was recorded.
    pub replicas: Option<i32>,
    /// Since when (start of the period: the last change of anything this row shows).
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
    "ConfigurationCreated",
    "ConfigurationVersionActivated",
    "ConfigurationRolledBack",
    "PolicyDefined",
    "ScalingDecisionRecorded",
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
    /// A configuration or scaling policy was made for a workload.
    Workload {
        aggregate: String,
        key: Key,
    },
    /// A configuration version became the active one.
    Configuration {
        aggregate: String,
        version: i32,
    },
    /// The autoscaler set the replicas.
    Replicas {
        aggregate: String,
        replicas: i32,
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

fn fact_of_configuration(id: &str, event: ConfigurationEvent) -> Result<Option<Fact>, ProjectionError> {
    let aggregate = id.to_owned();
    Ok(match event {
        ConfigurationEvent::ConfigurationCreated { target, .. } => Some(Fact::Workload {
            aggregate,
            key: (
                text(target.service())?,
                text(target.environment())?,
                target.tenant().map(|t| t.to_string()).unwrap_or_default(),
            ),
        }),
        ConfigurationEvent::ConfigurationVersionActivated { version, .. }
        | ConfigurationEvent::ConfigurationRolledBack { to: version, .. } => {
            Some(Fact::Configuration { aggregate, version: version.get() as i32 })
        }
        _ => None,
    })
}

fn fact_of_scaling(id: &str, event: ScalingPolicyEvent) -> Result<Option<Fact>, ProjectionError> {
    let aggregate = id.to_owned();
    Ok(match event {
        ScalingPolicyEvent::PolicyDefined { service, environment, tenant, .. } => Some(Fact::Workload {
            aggregate,
            key: (text(service)?, text(environment)?, tenant.map(|t| t.to_string()).unwrap_or_default()),
        }),
        ScalingPolicyEvent::ScalingDecisionRecorded { to_replicas, .. } => {
            Some(Fact::Replicas { aggregate, replicas: to_replicas as i32 })
        }
        _ => None,
    })
}

/// One `inventory_workload_targets` row: the workload a configuration or policy is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WorkloadTarget {
    aggregate_id: String,
    service_id: String,
    environment_id: String,
    tenant_id: String,
}

/// One `inventory_workload_settings` row: a workload's latest configuration and replicas, and
/// the events that set them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Settings {
    service_id: String,
    environment_id: String,
    tenant_id: String,
    configuration_version: Option<i32>,
    configuration_event_id: Option<Uuid>,
    replicas: Option<i32>,
    replicas_event_id: Option<Uuid>,
}

/// Builds `runtime_inventory` (and its side tables).
pub struct InventoryProjector {
    deployments: PgEventStore<RuntimeDeployment>,
    services: PgEventStore<RuntimeService>,
    environments: PgEventStore<RuntimeEnvironment>,
    tenant_bindings: PgEventStore<RuntimeTenantBinding>,
    configurations: PgEventStore<RuntimeConfiguration>,
    scaling_policies: PgEventStore<ScalingPolicy>,
}

impl InventoryProjector {
    /// A projector decoding events with the routes' stores (and so their upcasters).
    pub fn new(routes: &Routes) -> Self {
        Self {
            deployments: routes.deployments.store.clone(),
            services: routes.services.store.clone(),
            environments: routes.environments.store.clone(),
            tenant_bindings: routes.tenant_bindings.store.clone(),
            configurations: routes.configurations.store.clone(),
            scaling_policies: routes.scaling_policies.store.clone(),
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
            t if t == RuntimeConfiguration::TYPE => {
                fact_of_configuration(id, self.configurations.deserialize(id, seq, ty, ver, payload)?)
            }
            t if t == ScalingPolicy::TYPE => {
                fact_of_scaling(id, self.scaling_policies.deserialize(id, seq, ty, ver, payload)?)
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
    configuration_version: Option<i32>,
    replicas: Option<i32>,
    valid_from: DateTime<Utc>,
    valid_to: Option<DateTime<Utc>>,
    closed_position: Option<i64>,
    /// The event that opened the period, and the one that closed it.
    opened_event_id: Option<Uuid>,
    closed_event_id: Option<Uuid>,
    /// The event that started the workload's run this period belongs to (the first success
    /// after nothing ran), and those that set the version (and placement), the configuration
    /// version and the replicas this period shows.
    started_event_id: Option<Uuid>,
    version_event_id: Option<Uuid>,
    configuration_event_id: Option<Uuid>,
    replicas_event_id: Option<Uuid>,
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
    "configuration_version",
    "replicas",
    "valid_from",
    "valid_to",
    "closed_position",
    "opened_event_id",
    "closed_event_id",
    "started_event_id",
    "version_event_id",
    "configuration_event_id",
    "replicas_event_id",
];

const SETTINGS_COLUMNS: &[&str] = &[
    "service_id",
    "environment_id",
    "tenant_id",
    "configuration_version",
    "configuration_event_id",
    "replicas",
    "replicas_event_id",
];

/// The event a change comes from: where it is in the log, when, and its id.
#[derive(Clone, Copy)]
struct Cause {
    at: DateTime<Utc>,
    position: i64,
    event_id: Option<Uuid>,
}

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
    /// Ends the open period of `key` at the cause's instant (never before its start); returns
    /// the effective instant and the period as it was, if one was open.
    fn close(&mut self, key: &Key, cause: Cause) -> (DateTime<Utc>, Option<Period>) {
        let Some((mut period, stored)) = self.open.remove(key) else {
            return (cause.at, None);
        };
        let at = cause.at.max(period.valid_from);
        let before = period.clone();
        if at == period.valid_from {
            if stored {
                self.deleted.push(period.opened_position);
            }
            return (at, Some(before));
        }
        period.valid_to = Some(at);
        period.closed_position = Some(cause.position);
        period.closed_event_id = cause.event_id;
        if stored {
            self.closed_stored.push(period);
        } else {
            self.new.push(period);
        }
        (at, Some(before))
    }

    /// True when the open period of `key` was opened by this event or a later one (the batch
    /// is being applied again).
    fn applied(&self, key: &Key, position: i64) -> bool {
        self.open.get(key).is_some_and(|(p, _)| p.opened_position >= position)
    }

    /// A deployment's artifact runs from now on for its key, with the workload's settings.
    fn replace(
        &mut self,
        artifact: &Artifact,
        (compute_kind, compute_target): (Option<String>, Option<String>),
        settings: &Settings,
        cause: Cause,
    ) {
        let key = (artifact.service_id.clone(), artifact.environment_id.clone(), artifact.tenant_id.clone());
        if self.applied(&key, cause.position) {
            return;
        }
        let (at, before) = self.close(&key, cause);
        let period = Period {
            opened_position: cause.position,
            service_id: artifact.service_id.clone(),
            environment_id: artifact.environment_id.clone(),
            tenant_id: artifact.tenant_id.clone(),
            deployment_id: artifact.deployment_id.clone(),
            version: artifact.version.clone(),
            digest: artifact.digest.clone(),
            compute_kind,
            compute_target,
            configuration_version: settings.configuration_version,
            replicas: settings.replicas,
            valid_from: at,
            valid_to: None,
            closed_position: None,
            opened_event_id: cause.event_id,
            closed_event_id: None,
            // A run goes on through redeployments; it starts when nothing ran before.
            started_event_id: before.map_or(cause.event_id, |b| b.started_event_id),
            version_event_id: cause.event_id,
            configuration_event_id: settings.configuration_event_id,
            replicas_event_id: settings.replicas_event_id,
        };
        self.open.insert(key, (period, false));
    }

    /// The workload's settings changed: when something of it runs, its period ends and the
    /// next one, the same but for `change`, begins.
    fn split(&mut self, key: &Key, cause: Cause, change: impl FnOnce(&mut Period)) {
        if !self.open.contains_key(key) || self.applied(key, cause.position) {
            return;
        }
        let (at, Some(mut period)) = self.close(key, cause) else { return };
        period.opened_position = cause.position;
        period.opened_event_id = cause.event_id;
        period.valid_from = at;
        period.valid_to = None;
        period.closed_position = None;
        period.closed_event_id = None;
        change(&mut period);
        self.open.insert(key.clone(), (period, false));
    }

    fn close_where(&mut self, cause: Cause, pred: impl Fn(&Key) -> bool) {
        let keys: Vec<Key> = self.open.keys().filter(|k| pred(k)).cloned().collect();
        for key in keys {
            self.close(&key, cause);
        }
    }
}

impl Settings {
    /// No configuration and no replicas known yet for `key`.
    fn of((service_id, environment_id, tenant_id): &Key) -> Self {
        Self {
            service_id: service_id.clone(),
            environment_id: environment_id.clone(),
            tenant_id: tenant_id.clone(),
            ..Self::default()
        }
    }
}

/// The stored settings of `keys`.
async fn load_settings(
    conn: &mut PgConnection,
    keys: &BTreeSet<Key>,
) -> Result<HashMap<Key, Settings>, ProjectionError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (mut s, mut e, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for (a, b, c) in keys {
        s.push(a.as_str());
        e.push(b.as_str());
        t.push(c.as_str());
    }
    let rows: Vec<(Value,)> = sqlx::query_as(
        "SELECT to_jsonb(w) FROM inventory_workload_settings w \
          WHERE (service_id, environment_id, tenant_id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
    )
    .bind(&s)
    .bind(&e)
    .bind(&t)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(v,)| {
            let w: Settings = serde_json::from_value(v)?;
            Ok(((w.service_id.clone(), w.environment_id.clone(), w.tenant_id.clone()), w))
        })
        .collect()
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
    /// 3: configuration version, replicas and the events behind each period (migration
    /// 20261202000004).
    fn version(&self) -> i32 {
        3
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
        let (mut workloads, mut workload_ids): (HashMap<String, Key>, Vec<&str>) = (HashMap::new(), Vec::new());
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
                Fact::Workload { aggregate, key } => {
                    workloads.insert(aggregate.clone(), key.clone());
                }
                Fact::Configuration { aggregate, .. } | Fact::Replicas { aggregate, .. } => {
                    workload_ids.push(aggregate.as_str());
                }
            }
        }
        // The workloads of configurations and policies made before this batch.
        let workload_ids: Vec<String> =
            distinct(workload_ids).into_iter().filter(|id| !workloads.contains_key(id)).collect();
        let known: Vec<WorkloadTarget> =
            load_rows(conn, "inventory_workload_targets", "aggregate_id", &workload_ids).await?;
        let new_workloads: Vec<WorkloadTarget> = workloads
            .iter()
            .map(|(aggregate, (s, e, t))| WorkloadTarget {
                aggregate_id: aggregate.clone(),
                service_id: s.clone(),
                environment_id: e.clone(),
                tenant_id: t.clone(),
            })
            .collect();
        for w in known {
            workloads.insert(w.aggregate_id, (w.service_id, w.environment_id, w.tenant_id));
        }
        for (_, f) in &facts {
            if let Fact::Configuration { aggregate, .. } | Fact::Replicas { aggregate, .. } = f {
                if let Some(key) = workloads.get(aggregate) {
                    keys.insert(key.clone());
                }
            }
        }
        let mut settings = load_settings(conn, &keys).await?;
        let mut touched_settings: BTreeSet<Key> = BTreeSet::new();
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
            let cause = Cause { at: e.recorded_at, position: e.global_position, event_id: e.event_id };
            match f {
                Fact::Started { .. } | Fact::Workload { .. } => {}
                Fact::Configuration { aggregate, version } => {
                    let Some(key) = workloads.get(aggregate) else { continue };
                    let current = settings.entry(key.clone()).or_insert_with(|| Settings::of(key));
                    if current.configuration_version == Some(*version) {
                        continue;
                    }
                    current.configuration_version = Some(*version);
                    current.configuration_event_id = cause.event_id;
                    touched_settings.insert(key.clone());
                    periods.split(key, cause, |p| {
                        p.configuration_version = Some(*version);
                        p.configuration_event_id = cause.event_id;
                    });
                }
                Fact::Replicas { aggregate, replicas } => {
                    let Some(key) = workloads.get(aggregate) else { continue };
                    let current = settings.entry(key.clone()).or_insert_with(|| Settings::of(key));
                    if current.replicas == Some(*replicas) {
                        continue;
                    }
                    current.replicas = Some(*replicas);
                    current.replicas_event_id = cause.event_id;
                    touched_settings.insert(key.clone());
                    periods.split(key, cause, |p| {
                        p.replicas = Some(*replicas);
                        p.replicas_event_id = cause.event_id;
                    });
                }
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
                        let key = (a.service_id.clone(), a.environment_id.clone(), a.tenant_id.clone());
                        let current = settings.get(&key).cloned().unwrap_or_default();
                        periods.replace(a, (kind, target), &current, cause);
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
                            let key = (own.service_id.clone(), own.environment_id.clone(), own.tenant_id.clone());
                            let current = settings.get(&key).cloned().unwrap_or_default();
                            periods.replace(&running, (kind, target), &current, cause);
                        }
                        None => {
                            let key = (own.service_id.clone(), own.environment_id.clone(), own.tenant_id.clone());
                            periods.close(&key, cause);
                        }
                    }
                }
                Fact::Decommissioned { environment } => periods.close_where(cause, |k| k.1 == *environment),
                Fact::Offboarded { environment, tenant } => {
                    periods.close_where(cause, |k| k.1 == *environment && k.2 == *tenant)
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
        upsert_rows(
            conn,
            "inventory_workload_targets",
            &["aggregate_id"],
            &["aggregate_id", "service_id", "environment_id", "tenant_id"],
            &new_workloads,
        )
        .await?;
        let out: Vec<&Settings> = touched_settings.iter().filter_map(|k| settings.get(k)).collect();
        upsert_rows(
            conn,
            "inventory_workload_settings",
            &["service_id", "environment_id", "tenant_id"],
            SETTINGS_COLUMNS,
            &out,
        )
        .await?;
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
        &[
            "runtime_inventory",
            "inventory_deployments",
            "inventory_services",
            "inventory_compute_targets",
            "inventory_workload_targets",
            "inventory_workload_settings",
        ]
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
        "SELECT environment_id, service_id, tenant_id, deployment_id, version, digest, compute_kind, \
                configuration_version, replicas, valid_from AS since \
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
    /// The event that opened the period (a deployment's success or rollback, or a change of
    /// the configuration or replicas).
    pub opened_event_id: Option<Uuid>,
    /// The event that closed it, while it is closed.
    pub closed_event_id: Option<Uuid>,
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
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT environment_id, service_id, tenant_id, deployment_id, version, digest, compute_kind, \
                configuration_version, replicas, valid_from AS since, valid_to AS until, compute_target, \
                opened_event_id, closed_event_id FROM (",
    );
    valid_at(&mut query, as_of, page);
    query.push(") p ORDER BY environment_id COLLATE \"C\", service_id COLLATE \"C\", tenant_id COLLATE \"C\" LIMIT ");
    query.push_bind(page.limit.max(0));
    Ok(query.build_query_as::<InventoryPeriod>().fetch_all(conn).await?)
}

/// `SELECT` of the periods valid at `at` within `page`'s filters. Only the filters given are
/// written (no `$n IS NULL OR ...`): a generic plan of an optional filter cannot use it as an
/// index condition, so it would read every period valid at `at` and filter afterwards, a cost
/// that grows with the whole inventory instead of the workloads asked for.
fn valid_at<'a>(query: &mut QueryBuilder<'a, Postgres>, at: DateTime<Utc>, page: &InventoryPage<'a>) {
    query.push("SELECT * FROM runtime_inventory WHERE valid @> ");
    query.push_bind(at);
    query.push("::timestamptz");
    push_filters(query, page, "environment_id", "tenant_id");
    if let Some((environment, service, tenant)) = page.after {
        push_after(
            query,
            "environment_id COLLATE \"C\", service_id COLLATE \"C\", tenant_id COLLATE \"C\"",
            [environment, service, tenant],
        );
    }
}

/// `page`'s tenant, environment and scope filters (those given only), on the columns (or
/// expressions) `environment` and `tenant`.
fn push_filters<'a>(query: &mut QueryBuilder<'a, Postgres>, page: &InventoryPage<'a>, environment: &str, tenant: &str) {
    if let Some(value) = page.tenant {
        query.push(format!(" AND {tenant} = "));
        query.push_bind(value);
    }
    if let Some(value) = page.environment {
        query.push(format!(" AND {environment} = "));
        query.push_bind(value);
    }
    if let Some(scope) = page.scope {
        query.push(format!(" AND tenant_visible({tenant}, "));
        query.push_bind(scope);
        query.push("::text[])");
    }
}

/// ` AND (columns) > (values)`, the values compared in byte order.
fn push_after<'a, V>(query: &mut QueryBuilder<'a, Postgres>, columns: &str, values: impl IntoIterator<Item = V>)
where
    V: 'a + sqlx::Encode<'a, Postgres> + sqlx::Type<Postgres> + Send,
{
    query.push(format!(" AND ({columns}) > ("));
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            query.push(", ");
        }
        query.push_bind(value);
        query.push("::text COLLATE \"C\"");
    }
    query.push(")");
}
