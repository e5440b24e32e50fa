//! The temporal inventory computed from the log alone, with no database: the oracle the
//! inventory projection is checked against (`read_models.rs`). Test code, so it lives here and
//! not in the production crate; it applies the same rules as the projector, written again
//! independently of its SQL.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use domain::catalog::{deployment_upcasters, DeploymentEvent, ServiceEvent};
use domain::configuration::ConfigurationEvent;
use domain::scaling::ScalingPolicyEvent;
use domain::tenancy::TenantBindingEvent;
use projections::inventory::{DiffEntry, InventoryRow, WorkloadState};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

type Key = (String, String, String);

/// A value's serde name (`"Aks"`), as the projector stores enum values.
fn text<T: Serialize>(value: T) -> Result<String, serde_json::Error> {
    Ok(match serde_json::to_value(value)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn decode_pure<E: DeserializeOwned>(
    e: &RecordedEvent,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<E, serde_json::Error> {
    let mut serialized = SerializedEvent::new(
        e.aggregate_id.clone(),
        e.sequence as usize,
        e.aggregate_type.clone(),
        e.event_type.clone(),
        e.event_version.clone(),
        e.payload.clone(),
        Value::Null,
    );
    for upcaster in upcasters {
        if upcaster.can_upcast(&serialized.event_type, &serialized.event_version) {
            serialized = upcaster.upcast(serialized);
        }
    }
    serde_json::from_value(serialized.payload)
}

/// One period of the inventory as the replay computes it: the row, its end, and the events
/// behind it.
#[derive(Debug, Clone)]
pub struct ReplayPeriod {
    /// What ran.
    pub row: InventoryRow,
    /// End of the period (`None`: still running at the end of the log given).
    pub until: Option<DateTime<Utc>>,
    /// The event that ended it.
    pub closed_by: Option<Uuid>,
    /// The event that started the run it belongs to.
    pub started_by: Option<Uuid>,
    /// The event that put its version in place.
    pub version_by: Option<Uuid>,
    /// The event that activated its configuration version.
    pub configuration_by: Option<Uuid>,
    /// The event that set its replicas.
    pub replicas_by: Option<Uuid>,
}

/// A workload's latest configuration version and replicas, and the events that set them.
#[derive(Debug, Clone, Copy, Default)]
struct Settings {
    configuration: Option<(i32, Option<Uuid>)>,
    replicas: Option<(i32, Option<Uuid>)>,
}

/// Every period of the inventory computed from the log alone (no database): `events` in log
/// order; events of unknown aggregates or that do not decode are skipped. The same rules as the
/// projector, written again independently of its SQL: a deployment's success (or rollback)
/// replaces what runs for its workload; a change of the workload's active configuration version
/// or replicas ends the running period and begins the next; a decommission or offboarding ends
/// periods. Periods of zero length are dropped.
pub fn inventory_periods_by_replay(events: &[RecordedEvent]) -> Vec<ReplayPeriod> {
    let upcasters = deployment_upcasters();
    let mut started: HashMap<String, (Key, String, String)> = HashMap::new();
    let mut compute: HashMap<String, String> = HashMap::new();
    let mut workloads: HashMap<String, Key> = HashMap::new();
    let mut settings: HashMap<Key, Settings> = HashMap::new();
    let mut open: BTreeMap<Key, ReplayPeriod> = BTreeMap::new();
    let mut history: Vec<ReplayPeriod> = Vec::new();

    // Ends the open period of `key` at `at` (or at its start, if later); returns the instant
    // and the period as it was.
    fn end(
        open: &mut BTreeMap<Key, ReplayPeriod>,
        history: &mut Vec<ReplayPeriod>,
        key: &Key,
        at: DateTime<Utc>,
        by: Option<Uuid>,
    ) -> (DateTime<Utc>, Option<ReplayPeriod>) {
        match open.remove(key) {
            None => (at, None),
            Some(p) => {
                let at = at.max(p.row.since);
                if at > p.row.since {
                    history.push(ReplayPeriod { until: Some(at), closed_by: by, ..p.clone() });
                }
                (at, Some(p))
            }
        }
    }

    for e in events {
        let at = e.recorded_at;
        match (e.aggregate_type.as_str(), e.event_type.as_str()) {
            ("RuntimeDeployment", "DeploymentStarted" | "DeploymentSucceeded" | "DeploymentRolledBack") => {
                let Ok(event) = decode_pure::<DeploymentEvent>(e, &upcasters) else {
                    continue;
                };
                match event {
                    DeploymentEvent::DeploymentStarted { service, environment, tenant, artifact, .. } => {
                        let key = (
                            service.to_string(),
                            environment.to_string(),
                            tenant.map(|t| t.to_string()).unwrap_or_default(),
                        );
                        started.insert(
                            e.aggregate_id.clone(),
                            (key, artifact.version().to_string(), artifact.digest().to_string()),
                        );
                    }
                    DeploymentEvent::DeploymentSucceeded { .. } | DeploymentEvent::DeploymentRolledBack { .. } => {
                        let Some((key, own_version, own_digest)) = started.get(&e.aggregate_id).cloned() else {
                            continue;
                        };
                        let running = match &event {
                            DeploymentEvent::DeploymentRolledBack { target, .. } => {
                                let target = target.to_string();
                                started.get(&target).map(|(_, v, d)| (target.clone(), v.clone(), d.clone()))
                            }
                            _ => Some((e.aggregate_id.clone(), own_version, own_digest)),
                        };
                        let (since, before) = end(&mut open, &mut history, &key, at, e.event_id);
                        if let Some((deployment_id, version, digest)) = running {
                            let s = settings.get(&key).copied().unwrap_or_default();
                            let row = InventoryRow {
                                environment_id: key.1.clone(),
                                service_id: key.0.clone(),
                                tenant_id: key.2.clone(),
                                deployment_id,
                                version,
                                digest,
                                compute_kind: compute.get(&key.0).cloned(),
                                configuration_version: s.configuration.map(|c| c.0),
                                replicas: s.replicas.map(|r| r.0),
                                since,
                            };
                            let period = ReplayPeriod {
                                row,
                                until: None,
                                closed_by: None,
                                started_by: before.map_or(e.event_id, |b| b.started_by),
                                version_by: e.event_id,
                                configuration_by: s.configuration.and_then(|c| c.1),
                                replicas_by: s.replicas.and_then(|r| r.1),
                            };
                            open.insert(key, period);
                        }
                    }
                    _ => {}
                }
            }
            ("RuntimeService", "ServiceRegistered" | "RuntimeContractUpdated") => {
                let Ok(event) = decode_pure::<ServiceEvent>(e, &[]) else {
                    continue;
                };
                if let ServiceEvent::ServiceRegistered { contract, .. }
                | ServiceEvent::RuntimeContractUpdated { contract, .. } = event
                {
                    if let Ok(kind) = text(contract.compute()) {
                        compute.insert(e.aggregate_id.clone(), kind);
                    }
                }
            }
            ("RuntimeConfiguration", _) => {
                let Ok(event) = decode_pure::<ConfigurationEvent>(e, &[]) else {
                    continue;
                };
                let version = match event {
                    ConfigurationEvent::ConfigurationCreated { target, .. } => {
                        workloads.insert(
                            e.aggregate_id.clone(),
                            (
                                target.service().to_string(),
                                target.environment().to_string(),
                                target.tenant().map(|t| t.to_string()).unwrap_or_default(),
                            ),
                        );
                        continue;
                    }
                    ConfigurationEvent::ConfigurationVersionActivated { version, .. }
                    | ConfigurationEvent::ConfigurationRolledBack { to: version, .. } => version.get() as i32,
                    _ => continue,
                };
                let Some(key) = workloads.get(&e.aggregate_id).cloned() else { continue };
                let s = settings.entry(key.clone()).or_default();
                if s.configuration.map(|c| c.0) == Some(version) {
                    continue;
                }
                s.configuration = Some((version, e.event_id));
                change(&mut open, &mut history, &key, at, e.event_id, |p| {
                    p.row.configuration_version = Some(version);
                    p.configuration_by = e.event_id;
                });
            }
            ("ScalingPolicy", _) => {
                let Ok(event) = decode_pure::<ScalingPolicyEvent>(e, &[]) else {
                    continue;
                };
                let replicas = match event {
                    ScalingPolicyEvent::PolicyDefined { service, environment, tenant, .. } => {
                        workloads.insert(
                            e.aggregate_id.clone(),
                            (
                                service.to_string(),
                                environment.to_string(),
                                tenant.map(|t| t.to_string()).unwrap_or_default(),
                            ),
                        );
                        continue;
                    }
                    ScalingPolicyEvent::ScalingDecisionRecorded { to_replicas, .. } => to_replicas as i32,
                    _ => continue,
                };
                let Some(key) = workloads.get(&e.aggregate_id).cloned() else { continue };
                let s = settings.entry(key.clone()).or_default();
                if s.replicas.map(|r| r.0) == Some(replicas) {
                    continue;
                }
                s.replicas = Some((replicas, e.event_id));
                change(&mut open, &mut history, &key, at, e.event_id, |p| {
                    p.row.replicas = Some(replicas);
                    p.replicas_by = e.event_id;
                });
            }
            ("RuntimeEnvironment", "EnvironmentDecommissioned") => {
                let keys: Vec<Key> = open.keys().filter(|k| k.1 == e.aggregate_id).cloned().collect();
                for key in keys {
                    end(&mut open, &mut history, &key, at, e.event_id);
                }
            }
            ("RuntimeTenantBinding", "TenantOffboarded") => {
                let Ok(TenantBindingEvent::TenantOffboarded { tenant, environment, .. }) =
                    decode_pure::<TenantBindingEvent>(e, &[])
                else {
                    continue;
                };
                let (environment, tenant) = (environment.to_string(), tenant.to_string());
                let keys: Vec<Key> = open.keys().filter(|k| k.1 == environment && k.2 == tenant).cloned().collect();
                for key in keys {
                    end(&mut open, &mut history, &key, at, e.event_id);
                }
            }
            _ => {}
        }
    }

    // A setting of a running workload changed: its period ends and the next, the same but
    // for the change, begins.
    fn change(
        open: &mut BTreeMap<Key, ReplayPeriod>,
        history: &mut Vec<ReplayPeriod>,
        key: &Key,
        at: DateTime<Utc>,
        by: Option<Uuid>,
        apply: impl FnOnce(&mut ReplayPeriod),
    ) {
        if !open.contains_key(key) {
            return;
        }
        let (since, Some(mut next)) = end(open, history, key, at, by) else { return };
        next.row.since = since;
        apply(&mut next);
        open.insert(key.clone(), next);
    }

    history.extend(open.into_values());
    history
}

/// The inventory at `as_of` computed from the log alone (see [`inventory_periods_by_replay`]),
/// ordered like `inventory_as_of`.
pub fn inventory_by_replay(events: &[RecordedEvent], as_of: DateTime<Utc>) -> Vec<InventoryRow> {
    let mut rows: Vec<InventoryRow> =
        state_at(&inventory_periods_by_replay(events), as_of).into_values().map(|p| p.row).collect();
    rows.sort_by(|a, b| {
        (&a.environment_id, &a.service_id, &a.tenant_id).cmp(&(&b.environment_id, &b.service_id, &b.tenant_id))
    });
    rows
}

/// The period of each workload valid at `t`.
fn state_at(periods: &[ReplayPeriod], t: DateTime<Utc>) -> BTreeMap<Key, ReplayPeriod> {
    periods
        .iter()
        .filter(|p| p.row.since <= t && p.until.is_none_or(|u| t < u))
        .map(|p| ((p.row.service_id.clone(), p.row.environment_id.clone(), p.row.tenant_id.clone()), p.clone()))
        .collect()
}

fn workload_state(p: &ReplayPeriod) -> WorkloadState {
    WorkloadState {
        deployment_id: p.row.deployment_id.clone(),
        version: p.row.version.clone(),
        digest: p.row.digest.clone(),
        compute_kind: p.row.compute_kind.clone(),
        // The replay does not follow compute targets; compare diffs with it on the rest.
        compute_target: None,
        configuration_version: p.row.configuration_version,
        replicas: p.row.replicas,
        started_event_id: p.started_by,
        version_event_id: p.version_by,
        configuration_event_id: p.configuration_by,
        replicas_event_id: p.replicas_by,
    }
}

/// The difference between the replayed inventories at `from` and at `to` (the whole log
/// given), in the shape and order of `projections::inventory::runtime_diff` (compute targets
/// left out: the replay does not follow them).
pub fn diff_by_replay(events: &[RecordedEvent], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DiffEntry> {
    let periods = inventory_periods_by_replay(events);
    let (before, after) = (state_at(&periods, from), state_at(&periods, to));
    let keys: std::collections::BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (b, a) = (before.get(key).map(workload_state), after.get(key).map(workload_state));
        let listed = match (&b, &a) {
            (Some(b), Some(a)) => b.differs_from(a),
            _ => true,
        };
        if !listed {
            continue;
        }
        // What stopped: the end of the last period that began at or before `to`.
        let stopped_event_id = match a {
            Some(_) => None,
            None => periods
                .iter()
                .filter(|p| {
                    (&p.row.service_id, &p.row.environment_id, &p.row.tenant_id) == (&key.0, &key.1, &key.2)
                        && p.row.since <= to
                })
                .max_by_key(|p| p.row.since)
                .and_then(|p| p.closed_by),
        };
        out.push(DiffEntry {
            environment_id: key.1.clone(),
            service_id: key.0.clone(),
            tenant_id: key.2.clone(),
            before: b,
            after: a,
            stopped_event_id,
        });
    }
    out.sort_by(|x, y| {
        (&x.environment_id, &x.service_id, &x.tenant_id).cmp(&(&y.environment_id, &y.service_id, &y.tenant_id))
    });
    out
}
