//! `drift_view`: one row per `DriftFinding`, open and closed, per environment, class and age.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use commands::store::PgEventStore;
use cqrs_es::Aggregate;
use domain::health::{DriftEvent, DriftFinding, DriftStatus};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::projector::Projector;
use crate::reader::Interest;
use crate::support::{delete_all, distinct, load_rows, opt_text, text, upsert_rows};

/// Builds `drift_view`.
pub struct DriftProjector {
    store: PgEventStore<DriftFinding>,
}

impl DriftProjector {
    /// A projector decoding events with `store` (the drift findings route's store).
    pub fn new(store: PgEventStore<DriftFinding>) -> Self {
        Self { store }
    }
}

/// One `drift_view` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftRow {
    /// The finding (aggregate id).
    pub finding_id: String,
    /// Where.
    pub environment_id: String,
    /// The drifted service, if the target names one.
    pub service_id: Option<String>,
    /// The drifted resource, if the target names one.
    pub resource: Option<String>,
    /// `''` when not tenant-specific.
    pub tenant_id: String,
    /// Drift class, lowercase.
    pub class: String,
    /// Status, snake_case (`detected`, `remediating`, `remediated`, `accepted`, `resolved`).
    pub status: String,
    /// Desired state.
    pub desired: Option<String>,
    /// Observed state.
    pub observed: Option<String>,
    /// Recorded time of the detection.
    pub detected_at: DateTime<Utc>,
    /// Recorded time of the closing event.
    pub closed_at: Option<DateTime<Utc>>,
    /// Last folded sequence.
    pub last_sequence: i64,
    /// Recorded time of the last folded event.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &[&str] = &[
    "finding_id",
    "environment_id",
    "service_id",
    "resource",
    "tenant_id",
    "class",
    "status",
    "desired",
    "observed",
    "detected_at",
    "closed_at",
    "last_sequence",
    "updated_at",
];

#[async_trait]
impl Projector for DriftProjector {
    fn name(&self) -> &'static str {
        "drift"
    }
    fn interest(&self) -> Interest {
        Interest::AggregateTypes(&[DriftFinding::TYPE])
    }

    fn version(&self) -> i32 {
        1
    }

    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mine: Vec<&RecordedEvent> = events.iter().filter(|e| e.aggregate_type == DriftFinding::TYPE).collect();
        if mine.is_empty() {
            return Ok(());
        }
        let ids = distinct(mine.iter().map(|e| e.aggregate_id.as_str()));
        let mut rows: HashMap<String, DriftRow> = load_rows::<DriftRow>(conn, "drift_view", "finding_id", &ids)
            .await?
            .into_iter()
            .map(|r| (r.finding_id.clone(), r))
            .collect();
        let mut touched = BTreeSet::new();
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
            let at = e.recorded_at;
            if let DriftEvent::RuntimeDriftDetected { target, class, values, .. } = &decoded {
                rows.insert(
                    e.aggregate_id.clone(),
                    DriftRow {
                        finding_id: e.aggregate_id.clone(),
                        environment_id: text(target.environment())?,
                        service_id: opt_text(target.service())?,
                        resource: opt_text(target.resource())?,
                        tenant_id: text(target.tenant())?,
                        class: class.as_str().to_owned(),
                        status: text(DriftStatus::Detected)?,
                        desired: opt_text(values.desired())?,
                        observed: opt_text(values.observed())?,
                        detected_at: at,
                        closed_at: None,
                        last_sequence: e.sequence,
                        updated_at: at,
                    },
                );
                touched.insert(e.aggregate_id.clone());
                continue;
            }
            let Some(row) = rows.get_mut(&e.aggregate_id) else {
                continue;
            };
            let (next, closes) = match decoded {
                DriftEvent::DriftRemediationStarted { .. } => (DriftStatus::Remediating, false),
                DriftEvent::DriftRemediated { .. } => (DriftStatus::Remediated, true),
                DriftEvent::DriftAccepted { .. } => (DriftStatus::Accepted, true),
                DriftEvent::DriftResolved { .. } => (DriftStatus::Resolved, true),
                DriftEvent::RuntimeDriftDetected { .. } => unreachable!("handled above"),
            };
            row.status = text(next)?;
            if closes {
                row.closed_at = Some(at);
            }
            row.last_sequence = e.sequence;
            row.updated_at = at;
            touched.insert(e.aggregate_id.clone());
        }
        let out: Vec<&DriftRow> = touched.iter().map(|id| &rows[id]).collect();
        upsert_rows(conn, "drift_view", &["finding_id"], COLUMNS, &out).await
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        delete_all(conn, self.tables()).await
    }

    fn tables(&self) -> &'static [&'static str] {
        &["drift_view"]
    }
}
