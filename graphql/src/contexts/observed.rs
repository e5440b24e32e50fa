//! Observed state in: `reportObservedState`, `reportProbeResult`, `reportMetrics`. Reports are
//! samples, not commands: they are stored beside the log (`workers::observation`) and the
//! control loops (and, for a probe, the intake itself) turn what changes into commands, in the
//! report's trace with the observation as causation. Reporting is for the `Worker` and
//! `PlatformAdmin` roles (the role table's `Report` entry).

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Duration, Utc};
use domain::catalog::{ArtifactVersion, ImageDigest};
use domain::envelope::TenantId;
use domain::health::Detail;
use domain::ids::{EnvironmentId, ServiceId};
use workers::intake::IntakeError;
use workers::observation::{MetricsSample, Observation, ObservedState, ObservedWorkload, ProbeSample, Target};

use crate::command::invalid;
use crate::error::{ApiError, IntoGraphql};
use crate::query::request;
use crate::types::health::HealthProbeInput;
use crate::types::CommandResult;
use crate::ApiState;

/// Most workloads in one state report.
pub const MAX_WORKLOADS: usize = 2_000;
/// Most metrics in one report.
pub const MAX_METRICS: usize = 64;

/// One workload an environment reports running.
#[derive(InputObject, Debug)]
pub struct ObservedWorkloadInput {
    /// The service it runs.
    pub service_id: ID,
    /// The tenant, for a tenant's dedicated workload.
    pub tenant_id: Option<String>,
    /// The artifact version it runs (semver).
    pub version: Option<String>,
    /// The image digest it runs (`sha256:` + 64 hex).
    pub digest: Option<String>,
    /// The configuration version it loaded.
    pub configuration_version: Option<i64>,
    /// Replicas running.
    pub replicas: Option<i64>,
    /// Key Vault references its secret bindings resolve (never values; at most 100).
    pub secret_references: Option<Vec<String>>,
    /// The namespace it runs in (a DNS label).
    pub namespace: Option<String>,
    /// Where its probes reach it: a host name or IP address (the port is the contract's).
    pub address: Option<String>,
}

/// One metric's value.
#[derive(InputObject, Debug)]
pub struct MetricInput {
    /// Its name (`error_rate_percent`, `latency_p95_ms`, `cpu_percent`, ...: lowercase
    /// letters, digits and `_`, at most 64).
    pub name: String,
    /// Its value (finite).
    pub value: f64,
}

/// What a report did.
#[derive(SimpleObject)]
pub struct ObservationReceipt {
    /// The stored observation's id: the causation of whatever it changes.
    pub observation_id: ID,
    /// The trace it was reported in.
    pub trace_id: String,
    /// When it was observed.
    pub observed_at: DateTime<Utc>,
    /// For a probe sample: what it did to the workload's health (no events when the probe did
    /// not flip).
    pub health: Option<CommandResult>,
}

fn receipt<T>(observation: &Observation<T>, health: Option<CommandResult>) -> ObservationReceipt {
    ObservationReceipt {
        observation_id: ID(observation.id.to_string()),
        trace_id: observation.trace_id.to_string(),
        observed_at: observation.observed_at,
        health,
    }
}

/// The report mutations.
#[derive(Default)]
pub struct ObservedMutation;

fn api_error(trace_id: &str, e: IntakeError) -> ApiError {
    match e {
        IntakeError::Forbidden(m) => ApiError::Forbidden(m),
        IntakeError::NotFound(m) => ApiError::NotFound(m),
        IntakeError::Command(c) => ApiError::Command(c),
        other => ApiError::internal(trace_id, other),
    }
}

/// When the sample was taken: now, or the reporter's instant if it is not in the future (a
/// minute of clock skew is tolerated).
fn observed_at(at: Option<DateTime<Utc>>) -> Result<DateTime<Utc>, ApiError> {
    let now = Utc::now();
    match at {
        None => Ok(now),
        Some(at) if at <= now + Duration::minutes(1) => Ok(at),
        Some(at) => Err(invalid(format!("observedAt {at} is in the future"))),
    }
}

fn environment(id: &ID) -> Result<EnvironmentId, ApiError> {
    EnvironmentId::parse(id.as_str()).map_err(invalid)
}

fn service(id: &ID) -> Result<ServiceId, ApiError> {
    ServiceId::parse(id.as_str()).map_err(invalid)
}

fn tenant(id: Option<&str>) -> Result<Option<TenantId>, ApiError> {
    id.map(TenantId::parse).transpose().map_err(invalid)
}

/// A DNS label (Kubernetes namespace): 1-63 of `[a-z0-9-]`, not starting or ending with `-`.
fn is_dns_label(value: &str) -> bool {
    (1..=63).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// A probe address: an IP address, or a host name of DNS labels.
fn address(value: &str) -> Result<String, ApiError> {
    let value = value.to_ascii_lowercase();
    let ok = value.parse::<std::net::IpAddr>().is_ok()
        || (value.len() <= 253 && value.split('.').all(is_dns_label));
    if ok {
        Ok(value)
    } else {
        Err(invalid(format!("address {value:?} is neither an IP address nor a host name")))
    }
}

fn count(name: &str, value: Option<i64>) -> Result<Option<u32>, ApiError> {
    value
        .map(|v| u32::try_from(v).map_err(|_| invalid(format!("{name} must be between 0 and 4294967295"))))
        .transpose()
}

fn workload(input: ObservedWorkloadInput) -> Result<ObservedWorkload, ApiError> {
    let secret_references = input.secret_references.unwrap_or_default();
    if secret_references.len() > 100 || secret_references.iter().any(|r| r.is_empty() || r.len() > 1024) {
        return Err(invalid("at most 100 secret references of 1 to 1024 characters"));
    }
    if let Some(namespace) = &input.namespace {
        if !is_dns_label(namespace) {
            return Err(invalid(format!("namespace {namespace:?} is not a DNS label")));
        }
    }
    Ok(ObservedWorkload {
        service: service(&input.service_id)?,
        tenant: tenant(input.tenant_id.as_deref())?,
        version: input.version.as_deref().map(ArtifactVersion::parse).transpose().map_err(invalid)?,
        digest: input.digest.as_deref().map(ImageDigest::parse).transpose().map_err(invalid)?,
        configuration_version: count("configurationVersion", input.configuration_version)?,
        replicas: count("replicas", input.replicas)?,
        secret_references,
        namespace: input.namespace,
        address: input.address.as_deref().map(address).transpose()?,
    })
}

#[Object]
impl ObservedMutation {
    /// Reports what an environment runs: its managed workloads (version, digest, configuration
    /// version, replicas, secret references, namespace, probe address) and the names of
    /// workloads running that no service declares. Replaces the environment's latest state;
    /// the drift detection loop compares it with the desired state.
    async fn report_observed_state(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The environment.")] environment_id: ID,
        #[graphql(desc = "The managed workloads it runs.")] workloads: Vec<ObservedWorkloadInput>,
        #[graphql(desc = "Names of running workloads no service declares.")] unmanaged: Option<Vec<String>>,
        #[graphql(desc = "When it was observed (default: now).")] observed_at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<ObservationReceipt> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let parsed = (|| {
            if workloads.len() > MAX_WORKLOADS {
                return Err(invalid(format!("at most {MAX_WORKLOADS} workloads per report")));
            }
            let unmanaged = unmanaged.unwrap_or_default();
            if unmanaged.len() > MAX_WORKLOADS || unmanaged.iter().any(|n| n.is_empty() || n.len() > 253) {
                return Err(invalid(format!("at most {MAX_WORKLOADS} unmanaged names of 1 to 253 characters")));
            }
            let workloads = workloads.into_iter().map(workload).collect::<Result<Vec<_>, _>>()?;
            Ok::<_, ApiError>((
                environment(&environment_id)?,
                ObservedState { workloads, unmanaged },
                self::observed_at(observed_at)?,
            ))
        })();
        let (environment, observed, at) = parsed.gql()?;
        let observation = state
            .intake
            .report_state(req, environment, observed, at)
            .await
            .map_err(|e| api_error(req.trace_id.as_str(), e))
            .gql()?;
        Ok(receipt(&observation, None))
    }

    /// Reports one probe's sample of a workload. Stored as an observation (the deployment
    /// gate's evidence); recorded on the workload's health (tracked on its first sample) as
    /// an event only when the probe flips.
    #[allow(clippy::too_many_arguments)] // flat arguments, like every other mutation
    async fn report_probe_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The environment.")] environment_id: ID,
        #[graphql(desc = "The service.")] service_id: ID,
        #[graphql(desc = "The tenant, for a tenant's dedicated workload.")] tenant_id: Option<String>,
        #[graphql(desc = "Which probe.")] probe: HealthProbeInput,
        #[graphql(desc = "Whether it passed.")] passed: bool,
        #[graphql(desc = "How long it took, in milliseconds.")] latency_ms: i64,
        #[graphql(desc = "What it said (at most 500 characters).")] detail: Option<String>,
        #[graphql(desc = "When it was observed (default: now).")] observed_at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<ObservationReceipt> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let parsed = (|| {
            let target = Target::workload(
                environment(&environment_id)?,
                service(&service_id)?,
                tenant(tenant_id.as_deref())?,
            );
            let sample = ProbeSample {
                probe: probe.parse()?,
                passed,
                latency_ms: u32::try_from(latency_ms)
                    .map_err(|_| invalid("latencyMs must be between 0 and 4294967295"))?,
                detail: detail.as_deref().map(Detail::parse).transpose().map_err(invalid)?,
            };
            Ok::<_, ApiError>((target, sample, self::observed_at(observed_at)?))
        })();
        let (target, sample, at) = parsed.gql()?;
        let report = state
            .intake
            .report_probe(req, target, sample, at)
            .await
            .map_err(|e| api_error(req.trace_id.as_str(), e))
            .gql()?;
        Ok(receipt(&report.observation, Some(CommandResult(report.health.1))))
    }

    /// Reports a workload's metrics (`error_rate_percent` and `latency_p95_ms` count in the
    /// deployment gate's analysis).
    async fn report_metrics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The environment.")] environment_id: ID,
        #[graphql(desc = "The service.")] service_id: ID,
        #[graphql(desc = "The tenant, for a tenant's dedicated workload.")] tenant_id: Option<String>,
        #[graphql(desc = "The values, by name.")] metrics: Vec<MetricInput>,
        #[graphql(desc = "When they were observed (default: now).")] observed_at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<ObservationReceipt> {
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let parsed = (|| {
            if metrics.is_empty() || metrics.len() > MAX_METRICS {
                return Err(invalid(format!("between 1 and {MAX_METRICS} metrics per report")));
            }
            let mut values = std::collections::BTreeMap::new();
            for m in metrics {
                let name_ok = (1..=64).contains(&m.name.len())
                    && m.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !name_ok || !m.value.is_finite() {
                    return Err(invalid(format!("metric {:?}: a name of [a-z0-9_] (1-64) and a finite value", m.name)));
                }
                values.insert(m.name, m.value);
            }
            let target = Target::workload(
                environment(&environment_id)?,
                service(&service_id)?,
                tenant(tenant_id.as_deref())?,
            );
            Ok::<_, ApiError>((target, MetricsSample { values }, self::observed_at(observed_at)?))
        })();
        let (target, sample, at) = parsed.gql()?;
        let observation = state
            .intake
            .report_metrics(req, target, sample, at)
            .await
            .map_err(|e| api_error(req.trace_id.as_str(), e))
            .gql()?;
        Ok(receipt(&observation, None))
    }
}
