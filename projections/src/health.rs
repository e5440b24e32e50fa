//! `health_view` (current status per service, environment and tenant) and `health_history`
//! (one row per status change, keyed by the change event's log position).
//!
//! `since` and `at` are the domain times carried by the events (when the sample that changed
//! the status was taken), not the times the events were recorded.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use commands::store::PgEventStore;
use cqrs_es::Aggregate;
use domain::health::{HealthEvent, HealthStatus, RuntimeHealth};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::projector::Projector;
use crate::reader::Interest;
use crate::support::{delete_all, distinct, load_rows, text, upsert_rows};

/// Builds `health_view` and `health_history`.
pub struct HealthProjector {
    store: PgEventStore<RuntimeHealth>,
}

impl HealthProjector {
    /// A projector decoding events with `store` (the health route's store).
    pub fn new(store: PgEventStore<RuntimeHealth>) -> Self {
        Self { store }
    }
}

/// One `health_view` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRow {
    /// The health record (aggregate id).
    pub health_id: String,
    /// The service.
    pub service_id: String,
    /// The environment.
    pub environment_id: String,
    /// `''` when not tenant-specific.
    pub tenant_id: String,
    /// Status, snake_case.
    pub status: String,
    /// Since when the status holds.
    pub since: DateTime<Utc>,
    /// Number of the open incident, if one is open.
    pub open_incident: Option<i32>,
    /// Last folded sequence.
    pub last_sequence: i64,
    /// Recorded time of the last folded event.
    pub updated_at: DateTime<Utc>,
}

/// One `health_history` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthChange {
    /// Log position of the `HealthStatusChanged` event.
    pub global_position: i64,
    /// The health record.
    pub health_id: String,
    /// Status before.
    pub from_status: String,
    /// Status after.
    pub to_status: String,
    /// When.
    pub at: DateTime<Utc>,
}

const COLUMNS: &[&str] = &[
    "health_id",
    "service_id",
    "environment_id",
    "tenant_id",
    "status",
    "since",
    "open_incident",
    "last_sequence",
    "updated_at",
];
const HISTORY_COLUMNS: &[&str] = &["global_position", "health_id", "from_status", "to_status", "at"];

#[async_trait]
impl Projector for HealthProjector {
    fn name(&self) -> &'static str {
        "health"
    }
    fn interest(&self) -> Interest {
        Interest::AggregateTypes(&[RuntimeHealth::TYPE])
    }

    fn version(&self) -> i32 {
        1
    }

    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mine: Vec<&RecordedEvent> = events.iter().filter(|e| e.aggregate_type == RuntimeHealth::TYPE).collect();
        if mine.is_empty() {
            return Ok(());
        }
        let ids = distinct(mine.iter().map(|e| e.aggregate_id.as_str()));
        let mut rows: HashMap<String, HealthRow> = load_rows::<HealthRow>(conn, "health_view", "health_id", &ids)
            .await?
            .into_iter()
            .map(|r| (r.health_id.clone(), r))
            .collect();
        let mut touched = BTreeSet::new();
        let mut history = Vec::new();
        for e in mine {
            if rows.get(&e.aggregate_id).is_some_and(|r| e.sequence <= r.last_sequence) {
                continue;
            }
            let decoded = self.store.deserialize(
                &e.aggregate_id,
                e.sequence,
                e.event_type.clone(),
                e.event_version.clone(),
                e.payload.clone(),
            )?;
            if let HealthEvent::HealthTracked { target, at, .. } = &decoded {
                rows.insert(
                    e.aggregate_id.clone(),
                    HealthRow {
                        health_id: e.aggregate_id.clone(),
                        service_id: text(target.service())?,
                        environment_id: text(target.environment())?,
                        tenant_id: text(target.tenant())?,
                        status: text(HealthStatus::Unknown)?,
                        since: *at,
                        open_incident: None,
                        last_sequence: e.sequence,
                        updated_at: e.recorded_at,
                    },
                );
                touched.insert(e.aggregate_id.clone());
                continue;
            }
            let Some(row) = rows.get_mut(&e.aggregate_id) else {
                continue;
            };
            match decoded {
                HealthEvent::HealthStatusChanged { from, to, at } => {
                    row.status = text(to)?;
                    row.since = at;
                    history.push(HealthChange {
                        global_position: e.global_position,
                        health_id: e.aggregate_id.clone(),
                        from_status: text(from)?,
                        to_status: text(to)?,
                        at,
                    });
                }
                HealthEvent::IncidentOpened { number, .. } => row.open_incident = Some(number as i32),
                HealthEvent::IncidentClosed { .. } => row.open_incident = None,
                HealthEvent::ProbeResultChanged { .. }
                | HealthEvent::IncidentAcknowledged { .. }
                | HealthEvent::HealthTracked { .. } => {}
            }
            row.last_sequence = e.sequence;
            row.updated_at = e.recorded_at;
            touched.insert(e.aggregate_id.clone());
        }
        let out: Vec<&HealthRow> = touched.iter().map(|id| &rows[id]).collect();
        upsert_rows(conn, "health_view", &["health_id"], COLUMNS, &out).await?;
        upsert_rows(conn, "health_history", &["global_position"], HISTORY_COLUMNS, &history).await
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        delete_all(conn, self.tables()).await
    }

    fn tables(&self) -> &'static [&'static str] {
        &["health_view", "health_history"]
    }
}
