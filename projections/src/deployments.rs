//! `deployment_history`: one row per `RuntimeDeployment`, per service and environment in start
//! order, with the rollback chain (`rollback_of`: the deployment a re-deployment undoes;
//! `rollback_target`: the known-good deployment a rollback went back to).

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use commands::store::PgEventStore;
use cqrs_es::Aggregate;
use domain::catalog::{DeploymentEvent, DeploymentStatus, RuntimeDeployment};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::projector::Projector;
use crate::reader::Interest;
use crate::support::{delete_all, distinct, load_rows, opt_text, text, upsert_rows};

/// Builds `deployment_history`.
pub struct DeploymentsProjector {
    store: PgEventStore<RuntimeDeployment>,
}

impl DeploymentsProjector {
    /// A projector decoding events with `store`'s upcasters (the deployments route's store).
    pub fn new(store: PgEventStore<RuntimeDeployment>) -> Self {
        Self { store }
    }
}

/// One `deployment_history` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRow {
    /// The deployment (aggregate id).
    pub deployment_id: String,
    /// The service deployed.
    pub service_id: String,
    /// Where.
    pub environment_id: String,
    /// For which tenant; `''` for a shared deployment.
    pub tenant_id: String,
    /// Artifact version.
    pub version: String,
    /// Image digest.
    pub digest: String,
    /// `rolling`, `blue_green`, `canary`.
    pub strategy: String,
    /// Status, snake_case.
    pub status: String,
    /// The deployment this one undoes (a rollback by re-deployment).
    pub rollback_of: Option<String>,
    /// The known-good deployment this one rolled back to.
    pub rollback_target: Option<String>,
    /// When it was started (recorded).
    pub started_at: DateTime<Utc>,
    /// When it reached its first terminal status (succeeded, rolled back, cancelled, abandoned).
    pub finished_at: Option<DateTime<Utc>>,
    /// Last folded sequence.
    pub last_sequence: i64,
    /// Recorded time of the last folded event.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &[&str] = &[
    "deployment_id",
    "service_id",
    "environment_id",
    "tenant_id",
    "version",
    "digest",
    "strategy",
    "status",
    "rollback_of",
    "rollback_target",
    "started_at",
    "finished_at",
    "last_sequence",
    "updated_at",
];

fn status(s: DeploymentStatus) -> Result<String, ProjectionError> {
    text(s)
}

#[async_trait]
impl Projector for DeploymentsProjector {
    fn name(&self) -> &'static str {
        "deployments"
    }
    fn interest(&self) -> Interest {
        Interest::AggregateTypes(&[RuntimeDeployment::TYPE])
    }

    fn version(&self) -> i32 {
        1
    }

    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mine: Vec<&RecordedEvent> = events.iter().filter(|e| e.aggregate_type == RuntimeDeployment::TYPE).collect();
        if mine.is_empty() {
            return Ok(());
        }
        let ids = distinct(mine.iter().map(|e| e.aggregate_id.as_str()));
        let mut rows: HashMap<String, DeploymentRow> =
            load_rows::<DeploymentRow>(conn, "deployment_history", "deployment_id", &ids)
                .await?
                .into_iter()
                .map(|r| (r.deployment_id.clone(), r))
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
            if let DeploymentEvent::DeploymentStarted {
                service,
                environment,
                tenant,
                artifact,
                strategy,
                rollback_of,
                ..
            } = &decoded
            {
                rows.insert(
                    e.aggregate_id.clone(),
                    DeploymentRow {
                        deployment_id: e.aggregate_id.clone(),
                        service_id: text(service)?,
                        environment_id: text(environment)?,
                        tenant_id: text(tenant)?,
                        version: text(artifact.version())?,
                        digest: text(artifact.digest())?,
                        strategy: strategy.as_str().to_owned(),
                        status: status(DeploymentStatus::Pending)?,
                        rollback_of: opt_text(rollback_of.as_ref())?,
                        rollback_target: None,
                        started_at: at,
                        finished_at: None,
                        last_sequence: e.sequence,
                        updated_at: at,
                    },
                );
                touched.insert(e.aggregate_id.clone());
                continue;
            }
            // An event of a deployment whose start this view never saw: nothing to fold into.
            let Some(row) = rows.get_mut(&e.aggregate_id) else {
                continue;
            };
            use DeploymentEvent as E;
            let (next, finished) = match &decoded {
                E::RolloutBegun { .. } => (Some(DeploymentStatus::InProgress), false),
                E::VerificationStarted { .. } => (Some(DeploymentStatus::Verifying), false),
                E::DeploymentSucceeded { .. } => (Some(DeploymentStatus::Succeeded), true),
                E::DeploymentFailed { .. } => (Some(DeploymentStatus::Failed), false),
                E::RollbackStarted { target, .. } => {
                    row.rollback_target = Some(text(target)?);
                    (Some(DeploymentStatus::RollingBack), false)
                }
                E::DeploymentRolledBack { target, .. } => {
                    row.rollback_target = Some(text(target)?);
                    (Some(DeploymentStatus::RolledBack), true)
                }
                E::DeploymentCancelled { .. } => (Some(DeploymentStatus::Cancelled), true),
                E::DeploymentAbandoned { .. } => (Some(DeploymentStatus::Abandoned), true),
                E::DeploymentSuperseded { .. } => (Some(DeploymentStatus::Superseded), true),
                E::StepCompleted { .. } | E::HealthGateEvaluated { .. } | E::DeploymentStarted { .. } => (None, false),
            };
            if let Some(next) = next {
                row.status = status(next)?;
            }
            if finished && row.finished_at.is_none() {
                row.finished_at = Some(at);
            }
            row.last_sequence = e.sequence;
            row.updated_at = at;
            touched.insert(e.aggregate_id.clone());
        }
        let out: Vec<&DeploymentRow> = touched.iter().map(|id| &rows[id]).collect();
        upsert_rows(conn, "deployment_history", &["deployment_id"], COLUMNS, &out).await
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        delete_all(conn, self.tables()).await
    }

    fn tables(&self) -> &'static [&'static str] {
        &["deployment_history"]
    }
}

/// The history of a service in an environment (all tenants), oldest first.
pub async fn deployment_history(
    conn: &mut PgConnection,
    service_id: &str,
    environment_id: &str,
) -> Result<Vec<DeploymentRow>, ProjectionError> {
    let rows: Vec<(serde_json::Value,)> = sqlx::query_as(
        "SELECT to_jsonb(t) FROM deployment_history t WHERE service_id = $1 AND environment_id = $2 \
          ORDER BY started_at, deployment_id",
    )
    .bind(service_id)
    .bind(environment_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(|(v,)| serde_json::from_value(v).map_err(ProjectionError::from)).collect()
}
