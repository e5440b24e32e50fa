//! Drift detection: each environment's latest reported state against its desired state, as the
//! events say it should be. Findings open (`DetectDrift`) per class where they diverge and
//! resolve (`ResolveDrift`) where an open, not yet remediating finding is back in line; the
//! `drift-remediation` reactor remediates by policy (outside production on its own, in
//! production after a person approves).
//!
//! Desired state per workload (service, tenant) of the environment:
//! - **version / missing**: the last succeeded deployment (the known-good one, which is also
//!   what a rollback chose, so detection and remediation never fight a rollback). A workload
//!   with a deployment in flight (pending to rolling back) is not judged: divergence is
//!   expected while it rolls.
//! - **configuration / scale**: the active configuration version and the autoscaler's last
//!   replicas, when there are any and the workload reports them.
//!
//! What each workload should run is read from the write side (the claims that name its
//! known-good deployment, its deployment in flight, its configuration and its scaling policy,
//! and those aggregates); the deployment history only lists which workloads to look at.
//! - **unmanaged**: names the environment reports running that no service declares, and
//!   workloads of services with nothing deployed or deploying there.
//! - **secret**: each bound secret binding of the workload must be among the Key Vault
//!   references it reports reading, at the binding's current version (an unversioned
//!   reference follows the latest); judged only when the report lists references.
//! - **isolation**: a tenant's workload must run in the namespace its tenant binding gives it
//!   (namespace-per-tenant or dedicated with a namespace).
//!
//! An observation older than the desired state it would be compared with says nothing about
//! it (the reporter has not seen the change yet): that comparison waits for a newer report, so
//! a deployment that just succeeded is not "drift" until the environment had a chance to run
//! it. A finding accepted for the same values is not reopened. Infrastructure drift (a Pulumi
//! stack against its resources) is not judged here (it is reported with `detectDrift`).
//!
//! Every command is `worker:drift-detection`'s, in the trace of the state report it judged,
//! caused by that report's observation id, and keyed by it (a repeat of the round is a no-op).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::{CommandBus, CommandOptions, RequestContext};
use cqrs_es::Aggregate;
use domain::catalog::{active_deployment_key, ArtifactVersion, ImageDigest, ACTIVE_DEPLOYMENT_SCOPE};
use domain::configuration::{
    configuration_target_key, SecretBindingStatus, WorkloadTarget, CONFIGURATION_TARGET_SCOPE, SECRET_BINDING_TARGET_SCOPE,
};
use domain::tenancy::{tenant_binding_key, IsolationModel, TENANT_BINDING_SCOPE};
use domain::scaling::{scaling_policy_key, SCALING_POLICY_SCOPE};
use domain::envelope::TenantId;
use domain::health::{
    open_drift_key, DriftClass, DriftCommand, DriftFinding, DriftStatus, DriftTarget, DriftValues, ResourceRef,
    OPEN_DRIFT_SCOPE,
};
use domain::ids::{EnvironmentId, ServiceId};
use tokio::sync::Notify;

use crate::error::ReactorError;
use crate::observation::{Observation, ObservedState, Observations};
use crate::periodic::{Periodic, Round};
use crate::reaction;

/// The loop's name (its actor is `worker:drift-detection`).
pub const NAME: &str = "drift-detection";

/// What should run of one workload.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The service.
    pub service: ServiceId,
    /// The tenant, for a dedicated workload.
    pub tenant: Option<TenantId>,
    /// The known-good deployment's version and digest, and when it succeeded.
    pub deployed: Option<(ArtifactVersion, ImageDigest, DateTime<Utc>)>,
    /// The active configuration version and since when.
    pub configuration: Option<(u32, DateTime<Utc>)>,
    /// The autoscaler's last replicas and since when.
    pub replicas: Option<(u32, DateTime<Utc>)>,
    /// The bound secrets it reads: the secret's reference without version
    /// (`<vault>secrets/<name>`), the version it should read (when known), and since when.
    pub secrets: Vec<(String, Option<String>, DateTime<Utc>)>,
    /// The namespace its tenant's isolation puts it in, and since when.
    pub namespace: Option<(String, DateTime<Utc>)>,
    /// A deployment is in flight: version and presence are not judged.
    pub rolling: bool,
}

/// One divergence found.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// Where.
    pub target: DriftTarget,
    /// Which class.
    pub class: DriftClass,
    /// What should run, what runs.
    pub values: DriftValues,
}

/// What a comparison of one report found: the divergences, and the open-finding keys of the
/// comparisons that were made and found in line (only those may be resolved).
#[derive(Debug, Default)]
pub struct Judgement {
    /// The divergences.
    pub diverged: Vec<Divergence>,
    /// Keys (`open_drift_key`) judged in line.
    pub in_line: HashSet<String>,
}

fn deployed_text(version: &ArtifactVersion, digest: &ImageDigest) -> String {
    format!("{version} ({digest})")
}

/// Compares one report of `environment` with the desired state of its workloads (pure).
pub fn judge(environment: EnvironmentId, state: &ObservedState, observed_at: DateTime<Utc>, desired: &[Desired]) -> Judgement {
    let mut out = Judgement::default();
    let mut note = |target: DriftTarget, class: DriftClass, desired: Option<String>, observed: Option<String>| {
        let key = open_drift_key(&target, class);
        let values = DriftValues::parse(desired.as_deref(), observed.as_deref());
        match values {
            Ok(values) => out.diverged.push(Divergence { target, class, values }),
            // Equal values (or none at all): in line.
            Err(_) => {
                out.in_line.insert(key);
            }
        }
    };
    let known: HashSet<(ServiceId, Option<&TenantId>)> = desired.iter().map(|d| (d.service, d.tenant.as_ref())).collect();
    for d in desired {
        let Ok(target) = DriftTarget::new(environment, Some(d.service), None, d.tenant.clone()) else { continue };
        let workload = state.workload(d.service, d.tenant.as_ref());
        if let (false, Some((version, digest, since))) = (d.rolling, &d.deployed) {
            if *since <= observed_at {
                let want = Some(deployed_text(version, digest));
                match workload {
                    None => note(target.clone(), DriftClass::Missing, want.clone(), None),
                    Some(w) => {
                        note(target.clone(), DriftClass::Missing, None, None);
                        if let Some(running) = &w.digest {
                            let seen = match &w.version {
                                Some(v) => deployed_text(v, running),
                                None => running.to_string(),
                            };
                            let seen = if running == digest { want.clone() } else { Some(seen) };
                            note(target.clone(), DriftClass::Version, want, seen);
                        }
                    }
                }
            }
        }
        let Some(w) = workload else { continue };
        if let (Some((version, since)), Some(running)) = (d.configuration, w.configuration_version) {
            if since <= observed_at {
                note(target.clone(), DriftClass::Configuration, Some(version.to_string()), Some(running.to_string()));
            }
        }
        if let (Some((replicas, since)), Some(running)) = (d.replicas, w.replicas) {
            if since <= observed_at {
                note(target.clone(), DriftClass::Scale, Some(replicas.to_string()), Some(running.to_string()));
            }
        }
        // Secrets: judged only when the reporter reports the references the workload reads.
        if !w.secret_references.is_empty() {
            for (base, version, _) in d.secrets.iter().filter(|(_, _, since)| *since <= observed_at) {
                let wanted = match version {
                    Some(v) => format!("{base}/{v}"),
                    None => base.clone(),
                };
                let read: Vec<&String> = w
                    .secret_references
                    .iter()
                    .filter(|r| *r == base || r.strip_prefix(base.as_str()).is_some_and(|rest| rest.starts_with('/')))
                    .collect();
                let seen = match (read.first(), version) {
                    (None, _) => None,
                    // Unversioned references follow the latest version: in line.
                    (Some(_), _) if read.iter().any(|r| **r == wanted || **r == *base) => Some(wanted.clone()),
                    (Some(other), _) => Some((*other).clone()),
                };
                note(target.clone(), DriftClass::Secret, Some(wanted), seen.or_else(|| Some("not read".to_owned())));
            }
        }
        if let (Some((namespace, since)), Some(running)) = (&d.namespace, &w.namespace) {
            if *since <= observed_at {
                note(target.clone(), DriftClass::Isolation, Some(format!("namespace {namespace}")), Some(format!("namespace {running}")));
            }
        }
    }
    for w in &state.workloads {
        if !known.contains(&(w.service, w.tenant.as_ref())) {
            if let Ok(target) = DriftTarget::new(environment, Some(w.service), None, w.tenant.clone()) {
                let seen = w.version.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "running".to_owned());
                note(target, DriftClass::Unmanaged, None, Some(seen));
            }
        }
    }
    for name in &state.unmanaged {
        let Ok(resource) = ResourceRef::parse(name) else { continue };
        if let Ok(target) = DriftTarget::new(environment, None, Some(resource), None) {
            note(target, DriftClass::Unmanaged, None, Some("running".to_owned()));
        }
    }
    // One finding per target and class: the first divergence names it, and a key with any
    // divergence is not in line (another secret of the same workload may be).
    let mut seen = HashSet::new();
    out.diverged.retain(|d| seen.insert(open_drift_key(&d.target, d.class)));
    out.in_line.retain(|key| !seen.contains(key));
    out
}

/// Opens and resolves findings from the environments' reports (see the module).
pub struct DriftDetectionLoop {
    observations: Observations,
    interval: Duration,
    reported: Arc<Notify>,
}

impl DriftDetectionLoop {
    /// The loop over `observations`, a round every `interval` and after each state report
    /// (`reported`).
    pub fn new(observations: Observations, interval: Duration, reported: Arc<Notify>) -> Self {
        Self { observations, interval, reported }
    }
}

fn tenant_of(key: &str) -> Option<TenantId> {
    (!key.is_empty()).then(|| TenantId::parse(key).ok()).flatten()
}

/// The aggregate holding claim `key` of `scope`.
async fn holder(bus: &CommandBus, scope: &str, key: &str) -> Result<Option<String>, ReactorError> {
    Ok(reaction::claim_holder(bus, scope, key).await?)
}

/// The bound secrets of `target`: its bindings are the `secret_binding_target` claims whose
/// keys start with the workload's key (one range of the claims' index).
async fn bound_secrets(
    bus: &CommandBus,
    target: &WorkloadTarget,
) -> Result<Vec<(String, Option<String>, DateTime<Utc>)>, ReactorError> {
    let prefix = format!("{}/", target.key());
    let upper = format!("{}0", target.key()); // '0' follows '/' in byte order
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM unique_claims WHERE scope = $1 AND key COLLATE \"C\" >= $2 AND key COLLATE \"C\" < $3",
    )
    .bind(SECRET_BINDING_TARGET_SCOPE)
    .bind(prefix)
    .bind(upper)
    .fetch_all(bus.pool())
    .await?;
    let mut out = Vec::new();
    for id in ids {
        let b = bus.routes().secret_bindings.store.load(&id).await?.aggregate;
        if b.status() != Some(SecretBindingStatus::Bound) {
            // Requested: not yet readable; mid-rotation: the rotation loop follows it.
            continue;
        }
        let (Some(vault), Some(name), Some(since)) = (b.vault(), b.secret_name(), b.last_rotated_at().or(b.bound_at()))
        else {
            continue;
        };
        out.push((vault.secret_uri(name, None), b.current_version().map(|v| v.to_string()), since));
    }
    Ok(out)
}

/// The desired state of the workloads of `environment` that `state` reports or that have a
/// deployment there. The deployment history (a projection) only names the candidates; what
/// each should run is read from the write side (the claims and aggregates), so a projection
/// that lags cannot make a just-started deployment look unmanaged or a new version look
/// drifted.
async fn desired_state(
    bus: &CommandBus,
    environment: EnvironmentId,
    state: &ObservedState,
) -> Result<Vec<Desired>, ReactorError> {
    let listed: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT service_id, tenant_id FROM deployment_history \
          WHERE environment_id = $1 AND status IN ('succeeded', 'pending', 'in_progress', 'verifying', 'failed', \
                'rolling_back')",
    )
    .bind(environment.to_string())
    .fetch_all(bus.pool())
    .await?;
    let mut candidates: BTreeSet<(ServiceId, Option<TenantId>)> = listed
        .iter()
        .filter_map(|(s, t)| ServiceId::parse(s).ok().map(|s| (s, tenant_of(t))))
        .collect();
    candidates.extend(state.workloads.iter().map(|w| (w.service, w.tenant.clone())));
    let routes = bus.routes();
    let mut out = Vec::with_capacity(candidates.len());
    for (service, tenant) in candidates {
        let key = active_deployment_key(&service, &environment, tenant.as_ref());
        let rolling = holder(bus, ACTIVE_DEPLOYMENT_SCOPE, &key).await?.is_some();
        let known_good = routes
            .deployments
            .services
            .last_succeeded_deployment(service, environment, tenant.as_ref())
            .await
            .map_err(|e| ReactorError::Lookup(e.to_string()))?;
        let deployed = match known_good {
            Some(id) => {
                let good = routes.deployments.store.load(&id.to_string()).await?.aggregate;
                match (good.artifact(), good.finished_at()) {
                    (Some(a), Some(at)) => Some((a.version().clone(), a.digest().clone(), at)),
                    _ => None,
                }
            }
            None => None,
        };
        if deployed.is_none() && !rolling {
            // Nothing deployed or deploying: a running workload of it is unmanaged.
            continue;
        }
        let target = WorkloadTarget::new(service, environment, tenant.clone());
        let configuration = match holder(bus, CONFIGURATION_TARGET_SCOPE, &configuration_target_key(&target)).await? {
            Some(id) => {
                let c = routes.configurations.store.load(&id).await?.aggregate;
                c.active_version().map(|v| v.get()).zip(c.activated_at())
            }
            None => None,
        };
        let policy = scaling_policy_key(&service, &environment, tenant.as_ref());
        let replicas = match holder(bus, SCALING_POLICY_SCOPE, &policy).await? {
            Some(id) => {
                let p = routes.scaling_policies.store.load(&id).await?.aggregate;
                p.last_decision().map(|d| (d.to_replicas(), d.at()))
            }
            None => None,
        };
        let secrets = bound_secrets(bus, &target).await?;
        let namespace = match &tenant {
            Some(tenant) => match holder(bus, TENANT_BINDING_SCOPE, &tenant_binding_key(tenant, &environment)).await? {
                Some(id) => {
                    let b = routes.tenant_bindings.store.load(&id).await?.aggregate;
                    let required = matches!(
                        b.isolation(),
                        Some(IsolationModel::NamespacePerTenant | IsolationModel::DedicatedEnvironment)
                    );
                    match (required, b.namespace(), b.activated_at().or(b.bound_at())) {
                        (true, Some(ns), Some(since)) => Some((ns.to_string(), since)),
                        _ => None,
                    }
                }
                None => None,
            },
            None => None,
        };
        out.push(Desired { service, tenant, deployed, configuration, replicas, rolling, secrets, namespace });
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Periodic for DriftDetectionLoop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.reported.clone())
    }

    async fn round(&self, round: &Round<'_>) -> Result<(), ReactorError> {
        let lookup = |e: crate::observation::ObservationError| ReactorError::Lookup(e.to_string());
        let mut pages = self.observations.state_pages(100);
        while let Some(states) = pages.next().await.map_err(lookup)? {
            for state in &states {
                if !round.still_leading().await? {
                    return Ok(());
                }
                self.judge_environment(round, state).await?;
            }
        }
        Ok(())
    }
}

impl DriftDetectionLoop {
    async fn judge_environment(&self, round: &Round<'_>, state: &Observation<ObservedState>) -> Result<(), ReactorError> {
        let environment = state.target.environment;
        let desired = desired_state(&round.bus, environment, &state.body).await?;
        let judgement = judge(environment, &state.body, state.observed_at, &desired);
        let ctx = RequestContext::worker(NAME, state.trace_id.clone());
        let options = |what: &str, key: &str| CommandOptions {
            idempotency_key: Some(format!("{NAME}:{what}:{key}:{}", state.id)),
            causation_id: Some(state.id.to_string()),
            ..Default::default()
        };
        let open = open_findings(&round.bus, environment).await?;
        for divergence in &judgement.diverged {
            let key = open_drift_key(&divergence.target, divergence.class);
            if open.contains_key(&key) || accepted(&round.bus, divergence).await? {
                continue;
            }
            let id = commands::idempotency::derived_id(NAME, DriftFinding::TYPE, "DetectDrift", &format!("{key}:{}", state.id));
            let command = DriftCommand::DetectDrift {
                target: divergence.target.clone(),
                class: divergence.class,
                values: divergence.values.clone(),
                at: state.observed_at,
            };
            let result =
                round.bus.execute::<DriftFinding>(&ctx, &id.to_string(), command, options("detect", &key)).await;
            round.acted();
            tracing::info!(%key, "drift detected");
            reaction::settled(result, "detect drift")?;
        }
        for (key, finding) in open {
            if !judgement.in_line.contains(&key) {
                continue;
            }
            // Only a finding still waiting is resolved by the observation: a remediation in
            // progress is closed by its own success, an accepted one is closed already.
            let loaded = round.bus.routes().drift_findings.store.load(&finding).await?.aggregate;
            if loaded.status() != Some(DriftStatus::Detected) {
                continue;
            }
            let command = DriftCommand::ResolveDrift { at: state.observed_at };
            let result = round.bus.execute::<DriftFinding>(&ctx, &finding, command, options("resolve", &key)).await;
            round.acted();
            tracing::info!(%key, "drift resolved by itself");
            reaction::settled(result, "resolve drift")?;
        }
        Ok(())
    }
}

/// The open findings of `environment`, by key: the holders of its `open_drift` claims (keys
/// start with the environment), one range of the claims' index.
async fn open_findings(bus: &CommandBus, environment: EnvironmentId) -> Result<HashMap<String, String>, ReactorError> {
    let prefix = format!("{environment}/");
    let upper = format!("{environment}0"); // '0' follows '/' in byte order
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, aggregate_id FROM unique_claims \
          WHERE scope = $1 AND key COLLATE \"C\" >= $2 AND key COLLATE \"C\" < $3",
    )
    .bind(OPEN_DRIFT_SCOPE)
    .bind(prefix)
    .bind(upper)
    .fetch_all(bus.pool())
    .await?;
    Ok(rows.into_iter().collect())
}

/// Whether a finding of the same target, class and values was accepted (a person decided to
/// live with exactly this divergence).
async fn accepted(bus: &CommandBus, d: &Divergence) -> Result<bool, ReactorError> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM drift_view \
          WHERE environment_id = $1 AND status = 'accepted' AND class = $2 \
            AND service_id IS NOT DISTINCT FROM $3 AND resource IS NOT DISTINCT FROM $4 AND tenant_id = $5 \
            AND desired IS NOT DISTINCT FROM $6 AND observed IS NOT DISTINCT FROM $7 LIMIT 1",
    )
    .bind(d.target.environment().to_string())
    .bind(d.class.as_str())
    .bind(d.target.service().map(|s| s.to_string()))
    .bind(d.target.resource().map(|r| r.to_string()))
    .bind(d.target.tenant().map(|t| t.as_str().to_owned()).unwrap_or_default())
    .bind(d.values.desired().map(|v| v.to_string()))
    .bind(d.values.observed().map(|v| v.to_string()))
    .fetch_optional(bus.pool())
    .await?;
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::ObservedWorkload;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn digest(n: u8) -> ImageDigest {
        ImageDigest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    fn workload(service: ServiceId, n: u8, replicas: u32) -> ObservedWorkload {
        ObservedWorkload {
            service,
            tenant: None,
            version: Some(ArtifactVersion::parse(&format!("{n}.0.0")).unwrap()),
            digest: Some(digest(n)),
            configuration_version: Some(3),
            replicas: Some(replicas),
            secret_references: vec![],
            namespace: None,
            address: None,
        }
    }

    fn desired(service: ServiceId, n: u8, since: i64) -> Desired {
        Desired {
            service,
            tenant: None,
            deployed: Some((ArtifactVersion::parse(&format!("{n}.0.0")).unwrap(), digest(n), at(since))),
            configuration: Some((3, at(since))),
            replicas: Some((2, at(since))),
            rolling: false,
            secrets: vec![],
            namespace: None,
        }
    }

    fn classes(j: &Judgement) -> Vec<DriftClass> {
        j.diverged.iter().map(|d| d.class).collect()
    }

    #[test]
    fn a_workload_as_desired_is_in_line_for_every_judged_class() {
        let (env, svc) = (EnvironmentId::generate(), ServiceId::generate());
        let state = ObservedState { workloads: vec![workload(svc, 1, 2)], unmanaged: vec![] };
        let j = judge(env, &state, at(10), &[desired(svc, 1, 0)]);
        assert!(j.diverged.is_empty(), "{:?}", j.diverged);
        assert_eq!(j.in_line.len(), 4, "missing, version, configuration, scale: {:?}", j.in_line);
    }

    #[test]
    fn version_scale_unmanaged_and_missing_diverge() {
        let (env, svc, gone, stray) = (EnvironmentId::generate(), ServiceId::generate(), ServiceId::generate(), ServiceId::generate());
        let state = ObservedState {
            workloads: vec![workload(svc, 2, 5), workload(stray, 1, 1)],
            unmanaged: vec!["debug-pod".into()],
        };
        let j = judge(env, &state, at(10), &[desired(svc, 1, 0), desired(gone, 1, 0)]);
        let mut got = classes(&j);
        got.sort();
        assert_eq!(
            got,
            vec![DriftClass::Version, DriftClass::Scale, DriftClass::Unmanaged, DriftClass::Unmanaged, DriftClass::Missing]
        );
    }

    #[test]
    fn secrets_must_be_read_at_their_version_and_tenants_in_their_namespace() {
        let (env, svc) = (EnvironmentId::generate(), ServiceId::generate());
        let base = "https://kv.vault.azure.net/secrets/db".to_owned();
        let (v1, v2) = ("a1".repeat(16), "b2".repeat(16));
        let mut want = desired(svc, 1, 0);
        want.tenant = Some(TenantId::parse("contoso").unwrap());
        want.secrets = vec![(base.clone(), Some(v2.clone()), at(0)), ("https://kv.vault.azure.net/secrets/api".into(), None, at(0))];
        want.namespace = Some(("contoso".to_owned(), at(0)));
        let mut w = workload(svc, 1, 2);
        w.tenant = want.tenant.clone();
        w.namespace = Some("shared".to_owned());
        // The old version of one secret, the other one read unversioned.
        w.secret_references = vec![format!("{base}/{v1}"), "https://kv.vault.azure.net/secrets/api".to_owned()];
        let state = ObservedState { workloads: vec![w.clone()], unmanaged: vec![] };
        let j = judge(env, &state, at(10), &[want.clone()]);
        let mut got = classes(&j);
        got.sort();
        assert_eq!(got, vec![DriftClass::Secret, DriftClass::Isolation], "{j:?}");
        let secret = j.diverged.iter().find(|d| d.class == DriftClass::Secret).unwrap();
        assert_eq!(secret.values.observed().unwrap().to_string(), format!("{base}/{v1}"));
        assert!(j.in_line.iter().all(|k| !k.contains("/secret/")), "one secret diverges: not in line: {j:?}");
        // Caught up: both in line; no references reported: secrets not judged.
        w.secret_references = vec![format!("{base}/{v2}"), "https://kv.vault.azure.net/secrets/api".to_owned()];
        w.namespace = Some("contoso".to_owned());
        let j = judge(env, &ObservedState { workloads: vec![w.clone()], unmanaged: vec![] }, at(10), &[want.clone()]);
        assert!(j.diverged.is_empty(), "{j:?}");
        assert!(j.in_line.iter().any(|k| k.contains("/secret/")) && j.in_line.iter().any(|k| k.contains("/isolation/")));
        w.secret_references.clear();
        let j = judge(env, &ObservedState { workloads: vec![w], unmanaged: vec![] }, at(10), &[want]);
        assert!(!j.in_line.iter().any(|k| k.contains("/secret/")), "{j:?}");
    }

    #[test]
    fn an_observation_older_than_the_desired_state_or_a_rollout_in_flight_judges_nothing_of_it() {
        let (env, svc) = (EnvironmentId::generate(), ServiceId::generate());
        let state = ObservedState { workloads: vec![workload(svc, 1, 5)], unmanaged: vec![] };
        // Deployed (and scaled) after the report: the reporter has not seen it yet.
        let j = judge(env, &state, at(10), &[desired(svc, 2, 20)]);
        assert!(j.diverged.is_empty() && j.in_line.is_empty(), "{j:?}");
        let mut rolling = desired(svc, 2, 0);
        rolling.rolling = true;
        rolling.replicas = None;
        let j = judge(env, &state, at(10), &[rolling]);
        assert!(classes(&j).is_empty(), "{j:?}");
    }
}
