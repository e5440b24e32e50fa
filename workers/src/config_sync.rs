//! Configuration sync: which configuration version each workload runs, from the environments'
//! latest reports, recorded on the workload's `RuntimeConfiguration` (`RecordWorkloadSync`,
//! which the aggregate turns into `Synced` / `OutOfSync` against the active version, and into
//! an event only when that changes). The drift detection loop opens a `CONFIGURATION` finding
//! for the same divergence; this loop keeps the configuration's own per-workload record.
//!
//! A workload's id in the configuration is its service (and tenant): `<service>` or
//! `<service>:<tenant>`. A command is sent only when the report differs from what the
//! configuration already records, in the report's trace, caused by it and keyed by it.

use std::time::Duration;

use commands::{CommandOptions, RequestContext};
use domain::configuration::{
    configuration_target_key, ConfigVersion, ConfigurationCommand, RuntimeConfiguration, WorkloadId, WorkloadTarget,
    CONFIGURATION_TARGET_SCOPE,
};
use domain::envelope::TenantId;
use domain::ids::ServiceId;

use crate::error::ReactorError;
use crate::observation::Observations;
use crate::periodic::{Periodic, Round};
use crate::reaction;

/// The loop's name (its actor is `worker:configuration-sync`).
pub const NAME: &str = "configuration-sync";

/// The id a workload has in its configuration's sync record.
pub fn workload_id(service: ServiceId, tenant: Option<&TenantId>) -> Option<WorkloadId> {
    let text = match tenant {
        Some(tenant) => format!("{service}:{tenant}"),
        None => service.to_string(),
    };
    WorkloadId::parse(&text).ok()
}

/// Records the configuration version each reported workload runs (see the module).
pub struct ConfigurationSyncLoop {
    observations: Observations,
    interval: Duration,
}

impl ConfigurationSyncLoop {
    /// The loop over `observations`, a round every `interval`.
    pub fn new(observations: Observations, interval: Duration) -> Self {
        Self { observations, interval }
    }
}

#[async_trait::async_trait]
impl Periodic for ConfigurationSyncLoop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn round(&self, round: &Round<'_>) -> Result<(), ReactorError> {
        let lookup = |e: crate::observation::ObservationError| ReactorError::Lookup(e.to_string());
        let mut pages = self.observations.state_pages(100);
        while let Some(states) = pages.next().await.map_err(lookup)? {
            for state in &states {
                if !round.still_leading().await? {
                    return Ok(());
                }
                let ctx = RequestContext::worker(NAME, state.trace_id.clone());
                for workload in &state.body.workloads {
                    let Some(running) = workload.configuration_version else { continue };
                    let Ok(running) = ConfigVersion::parse(u64::from(running)) else { continue };
                    let Some(id) = workload_id(workload.service, workload.tenant.as_ref()) else { continue };
                    let target = WorkloadTarget::new(workload.service, state.target.environment, workload.tenant.clone());
                    let key = configuration_target_key(&target);
                    let holder = reaction::claim_holder(&round.bus, CONFIGURATION_TARGET_SCOPE, &key).await?;
                    let Some(configuration) = holder else { continue };
                    let known = round.bus.routes().configurations.store.load(&configuration).await?.aggregate;
                    if known.workload(&id).is_some_and(|sync| sync.running_version() == running) {
                        continue;
                    }
                    let command =
                        ConfigurationCommand::RecordWorkloadSync { workload: id, running_version: running, at: state.observed_at };
                    let options = CommandOptions {
                        idempotency_key: Some(format!("{NAME}:{key}:{}", state.id)),
                        causation_id: Some(state.id.to_string()),
                        ..Default::default()
                    };
                    let result =
                        round.bus.execute::<RuntimeConfiguration>(&ctx, &configuration, command, options).await;
                    round.acted();
                    reaction::settled(result, "record workload sync")?;
                }
            }
        }
        Ok(())
    }
}
