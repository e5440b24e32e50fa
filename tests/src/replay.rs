//! The temporal inventory computed from the log alone, with no database: the oracle the
//! inventory projection is checked against (`read_models.rs`). Test code, so it lives here and
//! not in the production crate; it applies the same rules as the projector, written again
//! independently of its SQL.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use domain::catalog::{deployment_upcasters, DeploymentEvent, ServiceEvent};
use domain::tenancy::TenantBindingEvent;
use projections::inventory::InventoryRow;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

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

/// The inventory at `as_of` computed from the log alone (no database), for checking the
/// projection: `events` in log order; events of unknown aggregates or that do not decode are
/// skipped. Applies the same rules as the projector; ordered like [`inventory_as_of`].
pub fn inventory_by_replay(events: &[RecordedEvent], as_of: DateTime<Utc>) -> Vec<InventoryRow> {
    struct Open {
        row: InventoryRow,
    }
    let upcasters = deployment_upcasters();
    let mut started: HashMap<String, (Key, String, String)> = HashMap::new();
    let mut compute: HashMap<String, String> = HashMap::new();
    let mut open: BTreeMap<Key, Open> = BTreeMap::new();
    let mut history: Vec<(InventoryRow, Option<DateTime<Utc>>)> = Vec::new();

    // Ends the open period of `key` at `at` (or at its start, if later); returns the instant.
    fn end(
        open: &mut BTreeMap<Key, Open>,
        history: &mut Vec<(InventoryRow, Option<DateTime<Utc>>)>,
        key: &Key,
        at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        match open.remove(key) {
            None => at,
            Some(o) => {
                let at = at.max(o.row.since);
                if at > o.row.since {
                    history.push((o.row, Some(at)));
                }
                at
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
                        let since = end(&mut open, &mut history, &key, at);
                        if let Some((deployment_id, version, digest)) = running {
                            let row = InventoryRow {
                                environment_id: key.1.clone(),
                                service_id: key.0.clone(),
                                tenant_id: key.2.clone(),
                                deployment_id,
                                version,
                                digest,
                                compute_kind: compute.get(&key.0).cloned(),
                                since,
                            };
                            open.insert(key, Open { row });
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
            ("RuntimeEnvironment", "EnvironmentDecommissioned") => {
                let keys: Vec<Key> = open.keys().filter(|k| k.1 == e.aggregate_id).cloned().collect();
                for key in keys {
                    end(&mut open, &mut history, &key, at);
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
                    end(&mut open, &mut history, &key, at);
                }
            }
            _ => {}
        }
    }
    history.extend(open.into_values().map(|o| (o.row, None)));
    let mut rows: Vec<InventoryRow> = history
        .into_iter()
        .filter(|(row, until)| row.since <= as_of && until.is_none_or(|u| as_of < u))
        .map(|(row, _)| row)
        .collect();
    rows.sort_by(|a, b| {
        (&a.environment_id, &a.service_id, &a.tenant_id).cmp(&(&b.environment_id, &b.service_id, &b.tenant_id))
    });
    rows
}
