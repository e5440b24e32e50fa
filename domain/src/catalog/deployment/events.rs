//! Events of the `RuntimeDeployment` aggregate. Payloads hold only parsed value objects, so
//! replaying the log re-checks every value it contains. `DeploymentStarted` is at schema
//! version 2.0 (see [`super::upcast`] for 1.0); every other event is at 1.0.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{Artifact, DeploymentStrategy, GateName, HealthGates};
use crate::claims::{Claim, ClaimAction, ClaimsUnique};
use crate::envelope::TenantId;
use crate::environments::Reason;
use crate::ids::{DeploymentId, EnvironmentId, ServiceId};

/// Claim scope for "one active (in-flight) deployment per service and environment".
pub const ACTIVE_DEPLOYMENT_SCOPE: &str = "active_deployment";

/// The current schema version of `DeploymentStarted`.
pub const DEPLOYMENT_STARTED_VERSION: &str = "2.0";

/// The key a deployment holds in [`ACTIVE_DEPLOYMENT_SCOPE`] while in flight:
/// `service/environment` for a shared deployment, `service/environment/tenant` for a
/// tenant-dedicated one. Tenant deployments are separate workloads (their own namespace or
/// environment), so one tenant's rollout does not block another's, nor the shared one.
pub fn active_deployment_key(service: &ServiceId, environment: &EnvironmentId, tenant: Option<&TenantId>) -> String {
    match tenant {
        Some(tenant) => format!("{service}/{environment}/{tenant}"),
        None => format!("{service}/{environment}"),
    }
}

/// Something that happened to a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeploymentEvent {
    /// A deployment was started (Pending); takes the `active_deployment` claim. Schema 2.0.
    DeploymentStarted {
        /// The service deployed.
        service: ServiceId,
        /// The environment deployed into.
        environment: EnvironmentId,
        /// The tenant, for a tenant-dedicated deployment.
        tenant: Option<TenantId>,
        /// What is deployed.
        artifact: Artifact,
        /// How traffic moves to it (added in 2.0; 1.0 deployments were all rolling).
        strategy: DeploymentStrategy,
        /// What must pass before promotion.
        gates: HealthGates,
        /// The deployment this one undoes, if it is a rollback by re-deployment.
        rollback_of: Option<DeploymentId>,
        /// When it was started.
        at: DateTime<Utc>,
    },
    /// The rollout began (InProgress).
    RolloutBegun {
        /// When.
        at: DateTime<Utc>,
    },
    /// One step of the rollout completed.
    StepCompleted {
        /// The 0-based step index.
        step: u32,
        /// The traffic percentage reached.
        percent: u8,
        /// When.
        at: DateTime<Utc>,
    },
    /// The last step completed and health gates are now evaluated (Verifying). Recorded in
    /// the same command as that step's `StepCompleted`.
    VerificationStarted {
        /// When.
        at: DateTime<Utc>,
    },
    /// A health gate was evaluated; the latest evaluation of a gate counts.
    HealthGateEvaluated {
        /// The gate.
        gate: GateName,
        /// Whether it passed.
        passed: bool,
        /// The measured value.
        observed: f64,
        /// When it was measured.
        at: DateTime<Utc>,
    },
    /// Promoted (Succeeded); releases the claim. Repeats service, environment and tenant
    /// because a claim is read from the event alone.
    DeploymentSucceeded {
        /// The service.
        service: ServiceId,
        /// The environment.
        environment: EnvironmentId,
        /// The tenant, if any.
        tenant: Option<TenantId>,
        /// The deployment of the same service, environment and tenant that was the known-good
        /// one until this succeeded: the supersession reactor marks it `Superseded`. Absent in
        /// events written before the field existed, and when there was none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supersedes: Option<DeploymentId>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rollout or verification failed (Failed); the claim stays taken.
    DeploymentFailed {
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Rolling back to a known-good deployment began (RollingBack).
    RollbackStarted {
        /// The last succeeded deployment of the same service, environment and tenant.
        target: DeploymentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rollback finished (RolledBack); releases the claim.
    DeploymentRolledBack {
        /// The service.
        service: ServiceId,
        /// The environment.
        environment: EnvironmentId,
        /// The tenant, if any.
        tenant: Option<TenantId>,
        /// The deployment now running again.
        target: DeploymentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Cancelled before the rollout began (Cancelled); releases the claim.
    DeploymentCancelled {
        /// The service.
        service: ServiceId,
        /// The environment.
        environment: EnvironmentId,
        /// The tenant, if any.
        tenant: Option<TenantId>,
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// A failed deployment with nothing to roll back to was given up (Abandoned); releases the
    /// claim.
    DeploymentAbandoned {
        /// The service.
        service: ServiceId,
        /// The environment.
        environment: EnvironmentId,
        /// The tenant, if any.
        tenant: Option<TenantId>,
        /// Why.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// A newer deployment replaced this one (Superseded).
    DeploymentSuperseded {
        /// The newer deployment.
        by: DeploymentId,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for DeploymentEvent {
    fn event_type(&self) -> String {
        let name = match self {
            DeploymentEvent::DeploymentStarted { .. } => "DeploymentStarted",
            DeploymentEvent::RolloutBegun { .. } => "RolloutBegun",
            DeploymentEvent::StepCompleted { .. } => "StepCompleted",
            DeploymentEvent::VerificationStarted { .. } => "VerificationStarted",
            DeploymentEvent::HealthGateEvaluated { .. } => "HealthGateEvaluated",
            DeploymentEvent::DeploymentSucceeded { .. } => "DeploymentSucceeded",
            DeploymentEvent::DeploymentFailed { .. } => "DeploymentFailed",
            DeploymentEvent::RollbackStarted { .. } => "RollbackStarted",
            DeploymentEvent::DeploymentRolledBack { .. } => "DeploymentRolledBack",
            DeploymentEvent::DeploymentCancelled { .. } => "DeploymentCancelled",
            DeploymentEvent::DeploymentAbandoned { .. } => "DeploymentAbandoned",
            DeploymentEvent::DeploymentSuperseded { .. } => "DeploymentSuperseded",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            DeploymentEvent::DeploymentStarted { .. } => DEPLOYMENT_STARTED_VERSION.to_owned(),
            _ => "1.0".to_owned(),
        }
    }
}

/// Claim scope of the pointer to the last succeeded deployment of a service in an environment
/// (per tenant when the deployment names one); same key as [`ACTIVE_DEPLOYMENT_SCOPE`].
pub const LAST_SUCCEEDED_DEPLOYMENT_SCOPE: &str = "last_succeeded_deployment";

impl ClaimsUnique for DeploymentEvent {
    fn claims(&self) -> Vec<Claim> {
        use DeploymentEvent as E;
        let (service, environment, tenant, action) = match self {
            E::DeploymentStarted { service, environment, tenant, .. } => {
                (service, environment, tenant, ClaimAction::Take)
            }
            E::DeploymentSucceeded { service, environment, tenant, .. }
            | E::DeploymentRolledBack { service, environment, tenant, .. }
            | E::DeploymentCancelled { service, environment, tenant, .. }
            | E::DeploymentAbandoned { service, environment, tenant, .. } => {
                (service, environment, tenant, ClaimAction::Release)
            }
            _ => return Vec::new(),
        };
        let key = active_deployment_key(service, environment, tenant.as_ref());
        let mut claims = vec![Claim { scope: ACTIVE_DEPLOYMENT_SCOPE, key: key.clone(), action }];
        if matches!(self, E::DeploymentSucceeded { .. }) {
            // The write-side index the rollback rule reads: the last known-good deployment.
            claims.push(Claim { scope: LAST_SUCCEEDED_DEPLOYMENT_SCOPE, key, action: ClaimAction::Point });
        }
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::deployment::values::{GateKind, HealthGate};

    const SERVICE: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f01";
    const ENVIRONMENT: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f02";

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().to_utc()
    }

    fn service() -> ServiceId {
        ServiceId::parse(SERVICE).unwrap()
    }

    fn environment() -> EnvironmentId {
        EnvironmentId::parse(ENVIRONMENT).unwrap()
    }

    fn tenant() -> TenantId {
        TenantId::parse("contoso").unwrap()
    }

    fn started(tenant: Option<TenantId>) -> DeploymentEvent {
        DeploymentEvent::DeploymentStarted {
            service: service(),
            environment: environment(),
            tenant,
            artifact: Artifact::parse(&format!("sha256:{}", "a".repeat(64)), "1.4.2", &"b".repeat(40)).unwrap(),
            strategy: DeploymentStrategy::Rolling,
            gates: HealthGates::new(vec![HealthGate::new(
                GateName::parse("availability").unwrap(),
                GateKind::Availability,
                99.5,
            )
            .unwrap()])
            .unwrap(),
            rollback_of: None,
            at: at(),
        }
    }

    fn ending_events(tenant: Option<TenantId>) -> Vec<DeploymentEvent> {
        let reason = Reason::parse("x").unwrap();
        let target = DeploymentId::parse("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f03").unwrap();
        vec![
            DeploymentEvent::DeploymentSucceeded {
                service: service(),
                environment: environment(),
                tenant: tenant.clone(),
                supersedes: None,
                at: at(),
            },
            DeploymentEvent::DeploymentRolledBack {
                service: service(),
                environment: environment(),
                tenant: tenant.clone(),
                target,
                at: at(),
            },
            DeploymentEvent::DeploymentCancelled {
                service: service(),
                environment: environment(),
                tenant: tenant.clone(),
                reason: reason.clone(),
                at: at(),
            },
            DeploymentEvent::DeploymentAbandoned {
                service: service(),
                environment: environment(),
                tenant,
                reason,
                at: at(),
            },
        ]
    }

    #[test]
    fn starting_takes_the_service_and_environment_claim() {
        assert_eq!(
            started(None).claims(),
            vec![Claim {
                scope: ACTIVE_DEPLOYMENT_SCOPE,
                key: format!("{SERVICE}/{ENVIRONMENT}"),
                action: ClaimAction::Take,
            }]
        );
    }

    #[test]
    fn a_tenant_deployment_claims_per_tenant() {
        assert_eq!(started(Some(tenant())).claims()[0].key, format!("{SERVICE}/{ENVIRONMENT}/contoso"));
    }

    #[test]
    fn succeeding_rolling_back_cancelling_and_abandoning_release_the_same_claim() {
        for tenant in [None, Some(tenant())] {
            let taken = started(tenant.clone()).claims();
            for event in ending_events(tenant.clone()) {
                let released = event.claims();
                let succeeded = matches!(event, DeploymentEvent::DeploymentSucceeded { .. });
                assert_eq!(released.len(), if succeeded { 2 } else { 1 }, "{}", event.event_type());
                assert_eq!(released[0].scope, taken[0].scope);
                assert_eq!(released[0].key, taken[0].key);
                assert_eq!(released[0].action, ClaimAction::Release);
                if succeeded {
                    // Success also points "last succeeded" at this deployment.
                    assert_eq!(released[1].scope, LAST_SUCCEEDED_DEPLOYMENT_SCOPE);
                    assert_eq!(released[1].key, taken[0].key);
                    assert_eq!(released[1].action, ClaimAction::Point);
                }
            }
        }
    }

    #[test]
    fn failing_keeps_the_claim() {
        let failed = DeploymentEvent::DeploymentFailed { reason: Reason::parse("gate failed").unwrap(), at: at() };
        assert!(failed.claims().is_empty());
        assert!(DeploymentEvent::RolloutBegun { at: at() }.claims().is_empty());
    }

    #[test]
    fn deployment_started_is_at_version_two_and_the_rest_at_one() {
        let event = started(None);
        assert_eq!(event.event_type(), "DeploymentStarted");
        assert_eq!(event.event_version(), "2.0");
        let begun = DeploymentEvent::RolloutBegun { at: at() };
        assert_eq!(begun.event_type(), "RolloutBegun");
        assert_eq!(begun.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["DeploymentStarted"]["strategy"]["kind"], "rolling");
        assert_eq!(serde_json::from_value::<DeploymentEvent>(json).unwrap(), event);
    }
}
