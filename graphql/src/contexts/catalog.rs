//! Catalog & delivery context: `RuntimeService` and `RuntimeDeployment` by id (now or as of a
//! past instant or version, from the log), and one mutation per command of each. Mutations
//! parse input into domain values (`INVALID_INPUT` before anything is written) and stamp the
//! time at the edge: the domain never reads the clock.

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use domain::catalog::{self as cat, DeploymentCommand, RuntimeDeployment, RuntimeService, ServiceCommand};
use domain::envelope::TenantId;
use domain::environments::{self as env, EnvironmentId};
use domain::ids::{DeploymentId, ServiceId};

use crate::command::{invalid, load, send};
use crate::error::{ApiError, IntoGraphql};
use crate::types::catalog::{Deployment, RegisterServiceInput, RuntimeContractInput, Service, StartDeploymentInput};
use crate::types::environment::CommandOptionsInput;
use crate::types::CommandResult;

/// Catalog queries: services and deployments by id.
#[derive(Default)]
pub struct CatalogQuery;

/// Catalog mutations: one per command of `RuntimeService` and `RuntimeDeployment`.
#[derive(Default)]
pub struct CatalogMutation;

fn reason(text: &str) -> Result<env::Reason, ApiError> {
    env::Reason::parse(text).map_err(invalid)
}

fn service_id(id: &ID) -> Result<ServiceId, ApiError> {
    ServiceId::parse(id.as_str()).map_err(invalid)
}

fn deployment_id(id: &ID) -> Result<DeploymentId, ApiError> {
    DeploymentId::parse(id.as_str()).map_err(invalid)
}

async fn send_service(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<ServiceCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = service_id(id).gql()?.to_string();
    send::<RuntimeService>(ctx, &id, command, opts).await
}

async fn send_deployment(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<DeploymentCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = deployment_id(id).gql()?.to_string();
    send::<RuntimeDeployment>(ctx, &id, command, opts).await
}

#[Object]
impl CatalogQuery {
    /// One catalog service by id, read from the log: its current state, or its state as of a
    /// past instant (`asOf`) or version (`atVersion`). `NOT_FOUND` when it did not exist.
    async fn service(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Service id (UUID).")] id: ID,
        #[graphql(desc = "Read the state as of this instant.")] as_of: Option<DateTime<Utc>>,
        #[graphql(desc = "Read the state at this aggregate version.")] at_version: Option<i64>,
    ) -> async_graphql::Result<Service> {
        let id = service_id(&id).gql()?.to_string();
        let loaded = load::<RuntimeService>(ctx, &id, as_of, at_version).await?;
        Ok(Service { id, version: loaded.version as i64, state: loaded.aggregate })
    }

    /// One deployment by id, read from the log: its current state, or its state as of a past
    /// instant (`asOf`) or version (`atVersion`). `NOT_FOUND` when it did not exist or belongs
    /// to a tenant the caller cannot see.
    async fn deployment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id (UUID).")] id: ID,
        #[graphql(desc = "Read the state as of this instant.")] as_of: Option<DateTime<Utc>>,
        #[graphql(desc = "Read the state at this aggregate version.")] at_version: Option<i64>,
    ) -> async_graphql::Result<Deployment> {
        let id = deployment_id(&id).gql()?.to_string();
        let loaded = load::<RuntimeDeployment>(ctx, &id, as_of, at_version).await?;
        Ok(Deployment { id, version: loaded.version as i64, state: loaded.aggregate })
    }
}

#[Object]
impl CatalogMutation {
    /// Adds a generated component to the catalog (its name is then taken for the product for
    /// good).
    async fn register_service(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service to register.")] input: RegisterServiceInput,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id = crate::command::new_id::<RuntimeService>(
            ctx,
            input.id.as_ref(),
            options.as_ref(),
            "RegisterService",
            || ServiceId::generate().to_string(),
        )?;
        let command = (|| {
            Ok(ServiceCommand::RegisterService {
                service: service_id(&id)?,
                product: env::ProductId::parse(&input.product).map_err(invalid)?,
                name: cat::ServiceName::parse(&input.name).map_err(invalid)?,
                kind: input.kind.into(),
                blueprint: cat::BlueprintId::parse(&input.blueprint).map_err(invalid)?,
                contract: input.contract.parse()?,
                at: Utc::now(),
            })
        })();
        send_service(ctx, &id, command, options).await
    }

    /// Declares a registered service live (Registered -> Active).
    async fn activate_service(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Service id.")] id: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_service(ctx, &id, Ok(ServiceCommand::ActivateService { at: Utc::now() }), options).await
    }

    /// Replaces the service's runtime contract (any state but Retired); an identical contract
    /// records nothing.
    async fn update_service_runtime_contract(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Service id.")] id: ID,
        #[graphql(desc = "The new contract.")] contract: RuntimeContractInput,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command =
            contract.parse().map(|contract| ServiceCommand::UpdateRuntimeContract { contract, at: Utc::now() });
        send_service(ctx, &id, command, options).await
    }

    /// Declares that the service depends on another one (which must exist, not be retired,
    /// and not depend on this one).
    async fn declare_service_dependency(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the dependent service.")] id: ID,
        #[graphql(desc = "Id of the service depended on.")] on: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = service_id(&on).map(|on| ServiceCommand::DeclareDependency { on, at: Utc::now() });
        send_service(ctx, &id, command, options).await
    }

    /// Withdraws a declared dependency.
    async fn remove_service_dependency(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the dependent service.")] id: ID,
        #[graphql(desc = "Id of the service no longer depended on.")] on: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = service_id(&on).map(|on| ServiceCommand::RemoveDependency { on, at: Utc::now() });
        send_service(ctx, &id, command, options).await
    }

    /// Marks an active service for replacement (Active -> Deprecated).
    async fn deprecate_service(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Service id.")] id: ID,
        #[graphql(desc = "Why, and usually what replaces it.")] reason: String,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| ServiceCommand::Deprecate { reason, at: Utc::now() });
        send_service(ctx, &id, command, options).await
    }

    /// Takes a service out of the catalog for good (Deprecated or Registered -> Retired).
    async fn retire_service(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Service id.")] id: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_service(ctx, &id, Ok(ServiceCommand::Retire { at: Utc::now() }), options).await
    }

    /// Starts a rollout of a service version into an environment (optionally for one tenant).
    async fn start_deployment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The deployment to start.")] input: StartDeploymentInput,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id = crate::command::new_id::<RuntimeDeployment>(
            ctx,
            input.id.as_ref(),
            options.as_ref(),
            "StartDeployment",
            || DeploymentId::generate().to_string(),
        )?;
        let command = (|| {
            let gates = input.gates.iter().map(|g| g.parse()).collect::<Result<Vec<_>, _>>()?;
            Ok(DeploymentCommand::StartDeployment {
                service: service_id(&input.service)?,
                environment: EnvironmentId::parse(input.environment.as_str()).map_err(invalid)?,
                tenant: input.tenant.as_deref().map(TenantId::parse).transpose().map_err(invalid)?,
                artifact: input.artifact.parse()?,
                strategy: input.strategy.parse()?,
                gates: cat::HealthGates::new(gates).map_err(invalid)?,
                rollback_of: input.rollback_of.as_ref().map(deployment_id).transpose()?,
                at: Utc::now(),
            })
        })();
        send_deployment(ctx, &id, command, options).await
    }

    /// Records that the delivery worker began moving traffic (Pending -> InProgress).
    async fn begin_deployment_rollout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_deployment(ctx, &id, Ok(DeploymentCommand::BeginRollout { at: Utc::now() }), options).await
    }

    /// Records that one step of the rollout completed; steps are recorded in order, and the
    /// last one moves the deployment to Verifying.
    async fn record_deployment_step_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "0-based index of the step in the plan (rolling and blue-green have the single step 0).")]
        step: i64,
        #[graphql(desc = "Traffic percentage reached; must be the plan's percentage for that step.")] percent: i32,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            Ok(DeploymentCommand::RecordStepProgress {
                step: u32::try_from(step).map_err(|_| invalid(format!("step is out of range: {step}")))?,
                percent: u8::try_from(percent)
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| invalid(format!("percent must be between 0 and 100: {percent}")))?,
                at: Utc::now(),
            })
        })();
        send_deployment(ctx, &id, command, options).await
    }

    /// Records the latest evaluation of one health gate while verifying (replaces the
    /// previous result).
    async fn record_health_gate_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "Name of the gate evaluated; must be one of the deployment's.")] gate: String,
        #[graphql(desc = "Whether it passed; must agree with `observed` and the gate's threshold.")] passed: bool,
        #[graphql(desc = "The measured value (percent or milliseconds, per the gate's kind), >= 0.")] observed: f64,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            Ok(DeploymentCommand::RecordHealthGateResult {
                gate: cat::GateName::parse(&gate).map_err(invalid)?,
                passed,
                observed: cat::check_observation(observed).map_err(invalid)?,
                at: Utc::now(),
            })
        })();
        send_deployment(ctx, &id, command, options).await
    }

    /// Promotes a verified deployment (Verifying -> Succeeded); only when every gate's latest
    /// result passed.
    async fn promote_deployment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_deployment(ctx, &id, Ok(DeploymentCommand::Promote { at: Utc::now() }), options).await
    }

    /// Records that the rollout or verification failed (InProgress or Verifying -> Failed).
    async fn fail_deployment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "Why it failed.")] reason: String,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| DeploymentCommand::FailDeployment { reason, at: Utc::now() });
        send_deployment(ctx, &id, command, options).await
    }

    /// Starts rolling a failed deployment back (Failed -> RollingBack) to the last known-good
    /// deployment.
    async fn roll_back_deployment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the failed deployment.")] id: ID,
        #[graphql(
            desc = "Id of the deployment rolled back to: the last Succeeded deployment of the same service, environment and tenant."
        )]
        target: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = deployment_id(&target).map(|target| DeploymentCommand::RollBack { target, at: Utc::now() });
        send_deployment(ctx, &id, command, options).await
    }

    /// Records that the rollback finished (RollingBack -> RolledBack); frees the service and
    /// environment for the next deployment.
    async fn record_deployment_rolled_back(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_deployment(ctx, &id, Ok(DeploymentCommand::RecordRolledBack { at: Utc::now() }), options).await
    }

    /// Withdraws a deployment that has not begun rolling out (Pending -> Cancelled).
    async fn cancel_deployment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "Why it is withdrawn.")] reason: String,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| DeploymentCommand::Cancel { reason, at: Utc::now() });
        send_deployment(ctx, &id, command, options).await
    }

    /// Gives up a failed deployment that has nothing to roll back to (Failed -> Abandoned);
    /// frees the service and environment.
    async fn abandon_failed_deployment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "Why it is given up.")] reason: String,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| DeploymentCommand::AbandonFailed { reason, at: Utc::now() });
        send_deployment(ctx, &id, command, options).await
    }

    /// Records that a newer deployment of the same service and environment succeeded
    /// (Succeeded -> Superseded).
    async fn mark_deployment_superseded(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Deployment id.")] id: ID,
        #[graphql(desc = "Id of the deployment that replaced this one.")] by: ID,
        #[graphql(desc = "Idempotency, optimistic concurrency and correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = deployment_id(&by).map(|by| DeploymentCommand::MarkSuperseded { by, at: Utc::now() });
        send_deployment(ctx, &id, command, options).await
    }
}
