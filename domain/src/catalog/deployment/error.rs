//! Why the `RuntimeDeployment` aggregate refused a command.

use thiserror::Error;

use super::values::{DeploymentStatus, GateName};
use crate::catalog::values::ValueError;
use crate::envelope::TenantId;
use crate::ids::{DeploymentId, EnvironmentId, ServiceId};
use crate::rejection::{Rejection, RejectionKind};

/// A refusal by the `RuntimeDeployment` aggregate. Transition errors name the command and the
/// current status so an operator can tell a stale worker from a wrong request.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DeploymentError {
    /// Any command but `StartDeployment` on a deployment that was never started.
    #[error("cannot {command}: deployment does not exist")]
    NotFound {
        /// The refused command.
        command: &'static str,
    },
    /// `StartDeployment` on a deployment that already exists.
    #[error("cannot StartDeployment: deployment already exists (it is {status})")]
    AlreadyExists {
        /// The existing deployment's status.
        status: DeploymentStatus,
    },
    /// The command is not allowed in the current status.
    #[error("cannot {command}: deployment is {status}")]
    InvalidTransition {
        /// The refused command.
        command: &'static str,
        /// The deployment's current status.
        status: DeploymentStatus,
    },
    /// The service is not in the catalog.
    #[error("cannot deploy service {0}: it does not exist")]
    UnknownService(ServiceId),
    /// A retired service cannot be deployed.
    #[error("cannot deploy service {0}: it is retired")]
    ServiceNotDeployable(ServiceId),
    /// The environment does not exist.
    #[error("cannot deploy into environment {0}: it does not exist")]
    UnknownEnvironment(EnvironmentId),
    /// Only `Ready`/`Degraded` environments accept deployments.
    #[error("cannot deploy into environment {0}: it does not accept deployments (it is not Ready or Degraded)")]
    EnvironmentNotAccepting(EnvironmentId),
    /// The tenant has no binding in the environment.
    #[error("cannot deploy for tenant {tenant}: it is not bound to environment {environment}")]
    TenantNotBound {
        /// The tenant.
        tenant: TenantId,
        /// The environment.
        environment: EnvironmentId,
    },
    /// A suspended (or offboarding) tenant gets no new deployment.
    #[error("cannot deploy for tenant {tenant}: it is not active in environment {environment}")]
    TenantNotActive {
        /// The tenant.
        tenant: TenantId,
        /// The environment.
        environment: EnvironmentId,
    },
    /// Steps are recorded in plan order, each once.
    #[error("step {got} is out of order: the next step of the rollout is {expected}")]
    StepOutOfOrder {
        /// The next step the plan expects.
        expected: u32,
        /// The step reported.
        got: u32,
    },
    /// A step reaches the percentage the plan says.
    #[error("step {step} of the {strategy} plan reaches {planned}%, not {got}%")]
    StepPercentMismatch {
        /// The step.
        step: u32,
        /// The strategy's name.
        strategy: &'static str,
        /// What the plan says.
        planned: u8,
        /// What was reported.
        got: u8,
    },
    /// The gate is not one of the deployment's.
    #[error("deployment has no health gate named {0}")]
    UnknownGate(GateName),
    /// The reported verdict disagrees with the gate's threshold.
    #[error("gate {gate} cannot have {verdict} with observed value {observed} against threshold {threshold}")]
    GateVerdictContradicted {
        /// The gate.
        gate: GateName,
        /// `passed` or `failed`, as reported.
        verdict: &'static str,
        /// The observed value, as text.
        observed: String,
        /// The gate's threshold, as text.
        threshold: String,
    },
    /// Promotion past a gate needs the gate to have passed.
    #[error("cannot Promote: health gate {0} has not passed")]
    GateNotPassed(GateName),
    /// Rollback needs a known-good deployment to go back to.
    #[error("cannot RollBack: no succeeded deployment of this service and environment to roll back to (abandon the deployment instead)")]
    NoRollbackTarget,
    /// Rollback always names the last known-good deployment.
    #[error("cannot RollBack to {named}: the last known-good deployment is {expected}")]
    WrongRollbackTarget {
        /// The target named in the command.
        named: DeploymentId,
        /// The last succeeded deployment.
        expected: DeploymentId,
    },
    /// A failed deployment with a known-good predecessor is rolled back, not abandoned.
    #[error("cannot AbandonFailed: deployment {0} is known good, roll back to it instead")]
    RollbackTargetAvailable(DeploymentId),
    /// `MarkSuperseded` names a deployment that was never started.
    #[error("cannot MarkSuperseded: deployment {0} does not exist")]
    UnknownSuperseder(DeploymentId),
    /// Only a deployment of the same service, environment and tenant supersedes this one.
    #[error("cannot MarkSuperseded: deployment {0} is not of the same service, environment and tenant")]
    SupersederElsewhere(DeploymentId),
    /// Only a deployment that succeeded supersedes this one.
    #[error("cannot MarkSuperseded: deployment {by} has not succeeded (it is {status})")]
    SupersederNotSucceeded {
        /// The deployment named.
        by: DeploymentId,
        /// Its status.
        status: DeploymentStatus,
    },
    /// Only a deployment that succeeded after this one supersedes it (a deployment never
    /// supersedes itself or a newer one).
    #[error("cannot MarkSuperseded: deployment {0} did not succeed after this one")]
    SupersederNotLater(DeploymentId),
    /// A rollout waits while a service it depends on is being rolled out in the same
    /// environment (`whyBlocked` lists them).
    #[error("cannot BeginRollout: it waits for the rollout of {0}")]
    WaitsForDependencies(String),
    /// A fact the rule needs could not be looked up; the rule itself was not evaluated.
    #[error("could not check the deployment's preconditions: {0}")]
    LookupFailed(String),
    /// A value was malformed; raised by callers that parse raw input into a command, and by
    /// `RecordHealthGateResult` for a non-finite or negative observation.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
}

impl Rejection for DeploymentError {
    fn kind(&self) -> RejectionKind {
        use DeploymentError as E;
        match self {
            E::NotFound { .. } => RejectionKind::NotFound,
            E::AlreadyExists { .. } => RejectionKind::AlreadyExists,
            E::InvalidTransition { .. } => RejectionKind::InvalidTransition,
            E::InvalidValue(_) | E::GateVerdictContradicted { .. } => RejectionKind::InvalidInput,
            E::UnknownService(_)
            | E::ServiceNotDeployable(_)
            | E::UnknownEnvironment(_)
            | E::EnvironmentNotAccepting(_)
            | E::TenantNotBound { .. }
            | E::TenantNotActive { .. }
            | E::StepOutOfOrder { .. }
            | E::StepPercentMismatch { .. }
            | E::UnknownGate(_)
            | E::GateNotPassed(_)
            | E::NoRollbackTarget
            | E::WrongRollbackTarget { .. }
            | E::RollbackTargetAvailable(_)
            | E::UnknownSuperseder(_)
            | E::SupersederElsewhere(_)
            | E::SupersederNotSucceeded { .. }
            | E::SupersederNotLater(_)
            | E::WaitsForDependencies(_) => RejectionKind::InvariantViolated,
            E::LookupFailed(_) => RejectionKind::LookupFailed,
        }
    }
}
