//! Secret rotation: bindings are marked due by their rotation policy, and rotations are
//! recorded and confirmed from what the workloads report reading.
//!
//! Per binding (the holders of `secret_binding_target` claims: every binding that was not
//! revoked):
//! - `Bound` and its notice time reached (next due date minus the policy's notice):
//!   `MarkRotationDue`, in the trace of the binding's last event and caused by it.
//! - `RotationDue` and the workload reports a Key Vault reference to the same secret with a
//!   version other than the current one (the rotation function wrote a new version, the
//!   workload picked it up): `RecordRotation` of that version.
//! - `Rotated` and the workload reports the current (new) version: `ConfirmRotation`.
//!
//! The platform never writes secrets (bindings hold references only), so a rotation is what the
//! vault and the workloads say happened; the last two are caused by the environment's report,
//! in its trace. A reference is `<vault URI>secrets/<name>/<version>`, the form Key Vault
//! returns (`KeyVaultUri::secret_uri`).

use std::time::Duration;

use chrono::Utc;
use commands::log::{RecordedEvent, RECORDED_EVENT_COLUMNS};
use commands::{CommandBus, CommandOptions, RequestContext};
use cqrs_es::Aggregate;
use domain::configuration::{
    SecretBinding, SecretBindingCommand, SecretBindingStatus, SecretVersion, SECRET_BINDING_TARGET_SCOPE,
};

use crate::error::ReactorError;
use crate::observation::Observations;
use crate::periodic::{Periodic, Round};
use crate::reaction;

/// The loop's name (its actor is `worker:secret-rotation`).
pub const NAME: &str = "secret-rotation";

/// The version of the secret `base` (`<vault URI>secrets/<name>`) that `reference` names, if
/// it names one of that secret.
pub fn referenced_version(base: &str, reference: &str) -> Option<SecretVersion> {
    let version = reference.strip_prefix(base)?.strip_prefix('/')?;
    SecretVersion::parse(version).ok()
}

/// Marks bindings due and records rotations (see the module).
pub struct SecretRotationLoop {
    observations: Observations,
    interval: Duration,
}

impl SecretRotationLoop {
    /// The loop over `observations`, a round every `interval`.
    pub fn new(observations: Observations, interval: Duration) -> Self {
        Self { observations, interval }
    }
}

async fn last_event(bus: &CommandBus, id: &str) -> Result<Option<RecordedEvent>, ReactorError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
          ORDER BY sequence DESC LIMIT 1"
    ))
    .bind(SecretBinding::TYPE)
    .bind(id)
    .fetch_optional(bus.pool())
    .await?)
}

#[async_trait::async_trait]
impl Periodic for SecretRotationLoop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn round(&self, round: &Round<'_>) -> Result<(), ReactorError> {
        // The scope is the primary key's prefix: one range of the claims' index.
        let bindings: Vec<String> =
            sqlx::query_scalar("SELECT aggregate_id FROM unique_claims WHERE scope = $1 ORDER BY key")
                .bind(SECRET_BINDING_TARGET_SCOPE)
                .fetch_all(round.bus.pool())
                .await?;
        for id in bindings {
            if !round.still_leading().await? {
                return Ok(());
            }
            let binding = round.bus.routes().secret_bindings.store.load(&id).await?.aggregate;
            match binding.status() {
                Some(SecretBindingStatus::Bound) => self.mark_due(round, &id, &binding).await?,
                Some(SecretBindingStatus::RotationDue | SecretBindingStatus::Rotated) => {
                    self.follow_rotation(round, &id, &binding).await?
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl SecretRotationLoop {
    async fn mark_due(&self, round: &Round<'_>, id: &str, binding: &SecretBinding) -> Result<(), ReactorError> {
        let Some(notice) = binding.rotation_notice_at() else { return Ok(()) };
        let now = Utc::now();
        if notice > now {
            return Ok(());
        }
        let Some(last) = last_event(&round.bus, id).await? else { return Ok(()) };
        let due = binding.next_rotation_due().map(|d| d.timestamp()).unwrap_or_default();
        let mut options = reaction::options(&format!("{NAME}:due:{due}"), &last);
        options.idempotency_key = Some(format!("{NAME}:due:{id}:{due}"));
        let result = round
            .bus
            .execute::<SecretBinding>(&reaction::context(NAME, &last), id, SecretBindingCommand::MarkRotationDue { at: now }, options)
            .await;
        round.acted();
        tracing::info!(binding = id, "secret rotation due");
        reaction::settled(result, "mark rotation due")
    }

    async fn follow_rotation(&self, round: &Round<'_>, id: &str, binding: &SecretBinding) -> Result<(), ReactorError> {
        let (Some(target), Some(vault), Some(name), Some(current)) =
            (binding.target(), binding.vault(), binding.secret_name(), binding.current_version())
        else {
            return Ok(());
        };
        let lookup = |e: crate::observation::ObservationError| ReactorError::Lookup(e.to_string());
        let Some(state) = self.observations.latest_state(target.environment()).await.map_err(lookup)? else {
            return Ok(());
        };
        let Some(workload) = state.body.workload(target.service(), target.tenant()) else { return Ok(()) };
        let base = vault.secret_uri(name, None);
        let versions: Vec<SecretVersion> =
            workload.secret_references.iter().filter_map(|r| referenced_version(&base, r)).collect();
        let command = match binding.status() {
            Some(SecretBindingStatus::RotationDue) => match versions.iter().find(|v| *v != current) {
                Some(new_version) => {
                    SecretBindingCommand::RecordRotation { new_version: new_version.clone(), at: state.observed_at }
                }
                None => return Ok(()),
            },
            Some(SecretBindingStatus::Rotated) if versions.contains(current) => {
                // A report older than the rotation says nothing about the new version.
                if binding.last_rotated_at().is_some_and(|at| state.observed_at < at) {
                    return Ok(());
                }
                SecretBindingCommand::ConfirmRotation { at: state.observed_at }
            }
            _ => return Ok(()),
        };
        let what = command.name();
        let ctx = RequestContext::worker(NAME, state.trace_id.clone());
        let options = CommandOptions {
            idempotency_key: Some(format!("{NAME}:{what}:{id}:{}", state.id)),
            causation_id: Some(state.id.to_string()),
            ..Default::default()
        };
        let result = round.bus.execute::<SecretBinding>(&ctx, id, command, options).await;
        round.acted();
        tracing::info!(binding = id, what, "secret rotation followed");
        reaction::settled(result, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_names_a_version_of_exactly_that_secret() {
        let base = "https://kv-shop.vault.azure.net/secrets/db-password";
        let v = "a1".repeat(16);
        assert_eq!(referenced_version(base, &format!("{base}/{v}")).unwrap().to_string(), v);
        assert!(referenced_version(base, base).is_none(), "the unversioned reference names no version");
        assert!(referenced_version(base, &format!("{base}-old/{v}")).is_none(), "another secret");
        assert!(referenced_version(base, &format!("{base}/{v}/x")).is_none());
        assert!(referenced_version(base, &format!("{base}/NOTAVERSION")).is_none());
    }
}
