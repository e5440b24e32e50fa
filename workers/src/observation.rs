//! Observed state: what the running systems report, stored beside the log, never in it.
//!
//! An observation is a sample, not a fact: the same workload reports the same replicas every
//! few seconds, a probe answers thousands of times a day. So samples go to `observations`
//! (latest per target in `observation_latest`, a bounded history per target for the gate's
//! analysis and for people), and only what changes something becomes an event, through a
//! command of the aggregate that owns it (a probe's flip on `RuntimeHealth`, a drift on
//! `DriftFinding`, a verdict on `RuntimeDeployment`), caused by the observation's id and in its
//! trace. Three kinds: an environment's state (`state`: the workloads it runs), a probe's
//! sample (`probe`) and a workload's metrics (`metrics`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use commands::RequestContext;
use domain::catalog::{ArtifactVersion, ImageDigest};
use domain::envelope::{TenantId, TraceId};
use domain::health::{Detail, Probe};
use domain::ids::{EnvironmentId, ServiceId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// How many samples of one target are kept, per kind (the newest; older ones are trimmed as
/// new ones arrive).
pub fn history(kind: Kind) -> i64 {
    match kind {
        Kind::State => 100,
        Kind::Probe | Kind::Metrics => 500,
    }
}

/// What an observation is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An environment's running state.
    State,
    /// One probe's sample of one workload.
    Probe,
    /// One workload's metrics.
    Metrics,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::State => "state",
            Kind::Probe => "probe",
            Kind::Metrics => "metrics",
        }
    }
}

/// Where an observation was made: an environment, and for probes and metrics one workload of
/// it (a service, shared or for one tenant).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The environment.
    pub environment: EnvironmentId,
    /// The service, for a workload's observation.
    pub service: Option<ServiceId>,
    /// The tenant, for a tenant's dedicated workload.
    pub tenant: Option<TenantId>,
}

impl Target {
    /// A whole environment.
    pub fn environment(environment: EnvironmentId) -> Self {
        Self { environment, service: None, tenant: None }
    }

    /// One workload of an environment.
    pub fn workload(environment: EnvironmentId, service: ServiceId, tenant: Option<TenantId>) -> Self {
        Self { environment, service: Some(service), tenant }
    }

    fn service_key(&self) -> String {
        self.service.map(|s| s.to_string()).unwrap_or_default()
    }

    fn tenant_key(&self) -> String {
        self.tenant.as_ref().map(|t| t.as_str().to_owned()).unwrap_or_default()
    }
}

/// One workload as the environment reports it running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedWorkload {
    /// The service it runs.
    pub service: ServiceId,
    /// The tenant, for a tenant's dedicated workload.
    pub tenant: Option<TenantId>,
    /// The artifact version it runs.
    pub version: Option<ArtifactVersion>,
    /// The image digest it runs.
    pub digest: Option<ImageDigest>,
    /// The configuration version it loaded.
    pub configuration_version: Option<u32>,
    /// Replicas running.
    pub replicas: Option<u32>,
    /// The Key Vault references its secret bindings resolve (never values).
    #[serde(default)]
    pub secret_references: Vec<String>,
    /// The namespace it runs in.
    pub namespace: Option<String>,
    /// Where its probes reach it (a host name or address; the port is the contract's).
    pub address: Option<String>,
}

/// What one environment reports running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedState {
    /// The workloads it runs that the platform manages.
    pub workloads: Vec<ObservedWorkload>,
    /// Names of workloads running that no service declares.
    #[serde(default)]
    pub unmanaged: Vec<String>,
}

impl ObservedState {
    /// The workload of `service` (and `tenant`), if it runs.
    pub fn workload(&self, service: ServiceId, tenant: Option<&TenantId>) -> Option<&ObservedWorkload> {
        self.workloads.iter().find(|w| w.service == service && w.tenant.as_ref() == tenant)
    }
}

/// One probe's sample of one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSample {
    /// Which probe.
    pub probe: Probe,
    /// Whether it passed.
    pub passed: bool,
    /// How long it took.
    pub latency_ms: u32,
    /// What it said (status code, a short body, the error).
    pub detail: Option<Detail>,
}

/// One workload's metrics at one instant, by name (`error_rate_percent`, `latency_p95_ms`,
/// `cpu_percent`, `requests_per_second`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// Values by metric name.
    pub values: BTreeMap<String, f64>,
}

/// A stored observation.
#[derive(Debug, Clone)]
pub struct Observation<T> {
    /// Its id: the causation of what it causes.
    pub id: Uuid,
    /// Where it was made.
    pub target: Target,
    /// What was observed.
    pub body: T,
    /// The trace it came in (the reporter's, or the worker's that took it).
    pub trace_id: TraceId,
    /// Who reported it.
    pub reported_by: String,
    /// When the reporter observed it.
    pub observed_at: DateTime<Utc>,
    /// Its place in the order of arrival.
    pub seq: i64,
}

/// Why an observation could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ObservationError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored body no longer decodes (written by another version).
    #[error("observation {id} does not decode: {reason}")]
    Decode {
        /// Which one.
        id: Uuid,
        /// Why.
        reason: String,
    },
}

/// The observations table.
#[derive(Clone)]
pub struct Observations {
    pool: PgPool,
}

type Row = (i64, Uuid, String, String, String, serde_json::Value, String, String, DateTime<Utc>);

const COLUMNS: &str = "o.seq, o.observation_id, o.environment_id, o.service_id, o.tenant_id, o.body, o.trace_id, \
                       o.reported_by, o.observed_at";

fn decode<T: DeserializeOwned>(row: Row) -> Result<Observation<T>, ObservationError> {
    let (seq, id, environment, service, tenant, body, trace, reported_by, observed_at) = row;
    let bad = |reason: String| ObservationError::Decode { id, reason };
    let environment = EnvironmentId::parse(&environment).map_err(|e| bad(e.to_string()))?;
    let service = (!service.is_empty())
        .then(|| ServiceId::parse(&service))
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    let tenant = (!tenant.is_empty()).then(|| TenantId::parse(&tenant)).transpose().map_err(|e| bad(e.to_string()))?;
    Ok(Observation {
        id,
        target: Target { environment, service, tenant },
        body: serde_json::from_value(body).map_err(|e| bad(e.to_string()))?,
        trace_id: TraceId::parse(&trace).map_err(|e| bad(e.to_string()))?,
        reported_by,
        observed_at,
        seq,
    })
}

impl Observations {
    /// The observations of the database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Stores one observation of `kind` at `target` (`subject`: the probe's name, or empty),
    /// reported by `ctx` in its trace; trims the target's history; returns its id. One
    /// statement: the row, the latest pointer and the trim.
    pub async fn record<T: Serialize + Clone>(
        &self,
        kind: Kind,
        target: &Target,
        subject: &str,
        body: &T,
        ctx: &RequestContext,
        observed_at: DateTime<Utc>,
    ) -> Result<Observation<T>, ObservationError> {
        let id = Uuid::now_v7();
        let json = serde_json::to_value(body).map_err(|e| ObservationError::Decode { id, reason: e.to_string() })?;
        // The trim reads the snapshot before the insert: keeping HISTORY - 1 older rows keeps
        // HISTORY with the new one. GREATEST: of two reports racing, the later arrival stays
        // the latest whichever commits first.
        let seq: i64 = sqlx::query_scalar(
            "WITH ins AS ( \
                INSERT INTO observations (observation_id, kind, environment_id, service_id, tenant_id, subject, body, \
                                          trace_id, reported_by, observed_at) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq), \
             latest AS ( \
                INSERT INTO observation_latest (kind, environment_id, service_id, tenant_id, subject, seq) \
                SELECT $2, $3, $4, $5, $6, seq FROM ins \
                ON CONFLICT (kind, environment_id, service_id, tenant_id, subject) \
                DO UPDATE SET seq = GREATEST(observation_latest.seq, EXCLUDED.seq)), \
             trimmed AS ( \
                DELETE FROM observations o \
                 WHERE o.kind = $2 AND o.environment_id = $3 AND o.service_id = $4 AND o.tenant_id = $5 \
                   AND o.subject = $6 \
                   AND o.seq <= (SELECT k.seq FROM observations k \
                                  WHERE k.kind = $2 AND k.environment_id = $3 AND k.service_id = $4 \
                                    AND k.tenant_id = $5 AND k.subject = $6 \
                                  ORDER BY k.seq DESC OFFSET $11 LIMIT 1)) \
             SELECT seq FROM ins",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(target.environment.to_string())
        .bind(target.service_key())
        .bind(target.tenant_key())
        .bind(subject)
        .bind(&json)
        .bind(ctx.trace_id.as_str())
        .bind(ctx.actor.to_string())
        .bind(observed_at)
        .bind(history(kind) - 1)
        .fetch_one(&self.pool)
        .await?;
        Ok(Observation {
            id,
            target: target.clone(),
            body: body.clone(),
            trace_id: ctx.trace_id.clone(),
            reported_by: ctx.actor.to_string(),
            observed_at,
            seq,
        })
    }

    /// The latest state report of `environment`.
    pub async fn latest_state(
        &self,
        environment: EnvironmentId,
    ) -> Result<Option<Observation<ObservedState>>, ObservationError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM observation_latest l JOIN observations o ON o.seq = l.seq \
              WHERE l.kind = 'state' AND l.environment_id = $1 AND l.service_id = '' AND l.tenant_id = '' \
                AND l.subject = ''"
        ))
        .bind(environment.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(decode).transpose()
    }

    /// The latest state report of every environment that reported one, at most `limit`, in
    /// environment order after `after` (pages for a loop over many environments).
    pub async fn latest_states(
        &self,
        after: Option<EnvironmentId>,
        limit: i64,
    ) -> Result<Vec<Observation<ObservedState>>, ObservationError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM observation_latest l JOIN observations o ON o.seq = l.seq \
              WHERE l.kind = 'state' AND l.environment_id > $1 \
              ORDER BY l.environment_id LIMIT $2"
        ))
        .bind(after.map(|e| e.to_string()).unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(decode).collect()
    }

    /// Every environment's latest state report, in pages of `size` in environment order (a
    /// loop over all environments holds one page at a time).
    pub fn state_pages(&self, size: i64) -> StatePages {
        StatePages { observations: self.clone(), after: None, size, done: false }
    }

    /// The latest sample of `probe` at `target`.
    pub async fn latest_probe(
        &self,
        target: &Target,
        probe: &Probe,
    ) -> Result<Option<Observation<ProbeSample>>, ObservationError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM observation_latest l JOIN observations o ON o.seq = l.seq \
              WHERE l.kind = 'probe' AND l.environment_id = $1 AND l.service_id = $2 AND l.tenant_id = $3 \
                AND l.subject = $4"
        ))
        .bind(target.environment.to_string())
        .bind(target.service_key())
        .bind(target.tenant_key())
        .bind(probe.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(decode).transpose()
    }

    /// The samples of `probe` at `target` observed at or after `since`, oldest first (at most
    /// the kept history).
    pub async fn probes_since(
        &self,
        target: &Target,
        probe: &Probe,
        since: DateTime<Utc>,
    ) -> Result<Vec<Observation<ProbeSample>>, ObservationError> {
        self.since(Kind::Probe, target, &probe.to_string(), since).await
    }

    /// The metrics of `target` observed at or after `since`, oldest first.
    pub async fn metrics_since(
        &self,
        target: &Target,
        since: DateTime<Utc>,
    ) -> Result<Vec<Observation<MetricsSample>>, ObservationError> {
        self.since(Kind::Metrics, target, "", since).await
    }

    async fn since<T: DeserializeOwned>(
        &self,
        kind: Kind,
        target: &Target,
        subject: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Observation<T>>, ObservationError> {
        // Along the target's index, newest first, then the window is filtered by time: the
        // history is bounded, so is this read.
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM observations o \
              WHERE o.kind = $1 AND o.environment_id = $2 AND o.service_id = $3 AND o.tenant_id = $4 \
                AND o.subject = $5 AND o.observed_at >= $6 \
              ORDER BY o.seq DESC LIMIT $7"
        ))
        .bind(kind.as_str())
        .bind(target.environment.to_string())
        .bind(target.service_key())
        .bind(target.tenant_key())
        .bind(subject)
        .bind(since)
        .bind(history(kind))
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows.into_iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }
}

/// A walk over every environment's latest state report, one page at a time
/// ([`Observations::state_pages`]).
pub struct StatePages {
    observations: Observations,
    after: Option<EnvironmentId>,
    size: i64,
    done: bool,
}

impl StatePages {
    /// The next page; `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<Observation<ObservedState>>>, ObservationError> {
        if self.done {
            return Ok(None);
        }
        let page = self.observations.latest_states(self.after, self.size).await?;
        match page.last() {
            Some(last) => {
                self.after = Some(last.target.environment);
                self.done = (page.len() as i64) < self.size;
                Ok(Some(page))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}
