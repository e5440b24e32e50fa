//! The health probe worker: probes the liveness, readiness and startup endpoints that service
//! contracts declare, for every workload an environment reports running with an address, each
//! at its contract's period (with jitter, so a fleet's probes do not fire in step) and within
//! its contract's timeout, at most `concurrency` at a time. Every sample goes through the intake
//! ([`crate::intake`]) like a reported one: stored as an observation, then `RecordProbeResult`
//! on the workload's health, which becomes an event only when the probe flips or the status
//! changes. Each sample is its own signal: a fresh trace, and the sample as the causation of
//! what it changes.
//!
//! An HTTP probe is a GET of `http://<address>:<port><path>` that must answer 2xx or 3xx (as
//! Kubernetes judges it); a TCP probe must open a connection. The worker reaches what the
//! reporters name: reporting is limited to the `Worker` and `PlatformAdmin` roles for that
//! reason.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use commands::RequestContext;
use domain::catalog::{ProbeCheck, RuntimeContract};
use domain::envelope::TraceId;
use domain::health::{Detail, Probe};
use domain::ids::ServiceId;
use futures::StreamExt;
use uuid::Uuid;

use crate::error::ReactorError;
use crate::intake::Intake;
use crate::observation::{ProbeSample, Target};
use crate::periodic::{Periodic, Round};

/// The loop's name (its actor is `worker:health-probe`).
pub const NAME: &str = "health-probe";

/// How the worker probes.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// How often it looks for probes that are due.
    pub tick: Duration,
    /// Probes in flight at once.
    pub concurrency: usize,
    /// A probe's period varies by up to this fraction either way.
    pub jitter: f64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self { tick: Duration::from_millis(500), concurrency: 16, jitter: 0.1 }
    }
}

/// One probe to run.
#[derive(Debug, Clone)]
struct Check {
    target: Target,
    probe: Probe,
    address: String,
    spec: domain::catalog::Probe,
}

/// Probes the declared endpoints of reported workloads (see the module).
pub struct HealthProbeLoop {
    intake: Intake,
    settings: ProbeSettings,
    client: reqwest::Client,
    /// When each (workload, probe) is due next. Memory of the leader only: a new leader probes
    /// everything at once, then settles into the periods.
    due: Mutex<HashMap<(Target, String), Instant>>,
}

impl HealthProbeLoop {
    /// The worker reporting through `intake`.
    pub fn new(intake: Intake, settings: ProbeSettings) -> Self {
        // No redirects followed: a 3xx is an answer (Kubernetes counts it as success), and a
        // redirect could lead the probe elsewhere.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(2)
            .build()
            .expect("an HTTP client with no TLS configuration to load");
        Self { intake, settings, client, due: Mutex::new(HashMap::new()) }
    }

    /// The probes due now, their next time set.
    async fn due_checks(&self, round: &Round<'_>) -> Result<Vec<Check>, ReactorError> {
        let lookup = |e: crate::observation::ObservationError| ReactorError::Lookup(e.to_string());
        let mut contracts: HashMap<ServiceId, Option<RuntimeContract>> = HashMap::new();
        let mut checks = Vec::new();
        let now = Instant::now();
        let mut pages = self.intake.observations().state_pages(200);
        while let Some(states) = pages.next().await.map_err(lookup)? {
            for state in &states {
                for workload in &state.body.workloads {
                    let Some(address) = workload.address.clone() else { continue };
                    if let std::collections::hash_map::Entry::Vacant(slot) = contracts.entry(workload.service) {
                        let service = round.bus.routes().services.store.load(&workload.service.to_string()).await?;
                        slot.insert(service.aggregate.contract().cloned());
                    }
                    let Some(Some(contract)) = contracts.get(&workload.service) else { continue };
                    let target = Target::workload(state.target.environment, workload.service, workload.tenant.clone());
                    let declared = [
                        (Probe::Startup, contract.startup()),
                        (Probe::Liveness, contract.liveness()),
                        (Probe::Readiness, contract.readiness()),
                    ];
                    let mut due = self.due.lock().expect("probe schedule");
                    for (probe, spec) in declared {
                        let Some(spec) = spec else { continue };
                        let key = (target.clone(), probe.to_string());
                        if due.get(&key).is_some_and(|next| *next > now) {
                            continue;
                        }
                        let spread = 1.0 + self.settings.jitter * (2.0 * rand::random::<f64>() - 1.0);
                        let period = Duration::from_secs_f64(f64::from(spec.period_seconds()) * spread);
                        due.insert(key, now + period);
                        checks.push(Check { target: target.clone(), probe, address: address.clone(), spec: spec.clone() });
                    }
                }
            }
        }
        Ok(checks)
    }

    /// Runs one probe.
    async fn probe(&self, check: &Check) -> ProbeSample {
        let timeout = Duration::from_secs(u64::from(check.spec.timeout_seconds()));
        let started = Instant::now();
        let (passed, detail) = match check.spec.check() {
            ProbeCheck::Http { path, port } => {
                let url = format!("http://{}:{port}{path}", check.address);
                match self.client.get(&url).timeout(timeout).send().await {
                    Ok(response) => {
                        let status = response.status();
                        (status.is_success() || status.is_redirection(), format!("HTTP {}", status.as_u16()))
                    }
                    Err(e) if e.is_timeout() => (false, format!("no answer within {} s", timeout.as_secs())),
                    Err(e) => (false, format!("request failed: {e}")),
                }
            }
            ProbeCheck::Tcp { port } => {
                let address = format!("{}:{port}", check.address);
                match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await {
                    Ok(Ok(_)) => (true, "connected".to_owned()),
                    Ok(Err(e)) => (false, format!("connect failed: {e}")),
                    Err(_) => (false, format!("no connection within {} s", timeout.as_secs())),
                }
            }
        };
        let latency_ms = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        let detail: String = detail.chars().take(Detail::MAX_CHARS).collect();
        ProbeSample { probe: check.probe.clone(), passed, latency_ms, detail: Detail::parse(&detail).ok() }
    }
}

#[async_trait::async_trait]
impl Periodic for HealthProbeLoop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.settings.tick
    }

    async fn round(&self, round: &Round<'_>) -> Result<(), ReactorError> {
        let checks = self.due_checks(round).await?;
        if checks.is_empty() {
            return Ok(());
        }
        let intake = self.intake.with_bus(round.bus.clone());
        let mut samples = futures::stream::iter(checks)
            .map(|check| async move {
                let at = Utc::now();
                let sample = self.probe(&check).await;
                (check, sample, at)
            })
            .buffer_unordered(self.settings.concurrency.max(1));
        while let Some((check, sample, at)) = samples.next().await {
            if !round.still_leading().await? {
                return Ok(());
            }
            let ctx = RequestContext::worker(NAME, TraceId::from_uuid(Uuid::new_v4()));
            let report = intake.report_probe(&ctx, check.target, sample, at).await.map_err(|e| match e {
                crate::intake::IntakeError::Command(c) => ReactorError::Command(c),
                other => ReactorError::Lookup(other.to_string()),
            })?;
            if !report.health.1.events.is_empty() {
                round.acted();
            }
        }
        Ok(())
    }
}
