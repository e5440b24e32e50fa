//! Scaling context: `ScalingPolicy` by id (now or as of a past instant or version, from the
//! log) and one mutation per command. Mutations parse input into domain values
//! (`INVALID_INPUT` before anything is written) and stamp the time at the edge: the domain
//! never reads the clock. The tenant-quota rule is the domain's (through the bus's scaling
//! services); tenant isolation is the bus's and `load`'s.

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use domain::envelope::TenantId;
use domain::environments::{EnvironmentId, Reason};
use domain::ids::{ScalingPolicyId, ServiceId};
use domain::scaling::{self as sc, ScalingPolicyCommand};

use crate::command::{invalid, load, send};
use crate::error::{ApiError, IntoGraphql};
use crate::types::environment::CommandOptionsInput;
use crate::types::scaling::{
    DefineScalingPolicyInput, RecordScalingDecisionInput, ScalingPolicy, ScalingPolicySpecInput,
};
use crate::types::CommandResult;

/// Scaling policy queries.
#[derive(Default)]
pub struct ScalingQuery;

/// Scaling policy mutations.
#[derive(Default)]
pub struct ScalingMutation;

fn reason(text: &str) -> Result<Reason, ApiError> {
    Reason::parse(text).map_err(invalid)
}

fn policy_id(id: &ID) -> async_graphql::Result<String> {
    Ok(ScalingPolicyId::parse(id.as_str()).map_err(invalid).gql()?.to_string())
}

fn replicas(field: &str, value: i64) -> Result<u32, ApiError> {
    u32::try_from(value).map_err(|_| invalid(format!("{field} must be between 0 and {}: {value}", u32::MAX)))
}

async fn send_policy(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<ScalingPolicyCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = policy_id(id)?;
    send::<sc::ScalingPolicy>(ctx, &id, command, opts).await
}

#[Object]
impl ScalingQuery {
    /// One scaling policy by id, read from the log: its current state, or its state as of a
    /// past instant (`asOf`) or version (`atVersion`). `NOT_FOUND` when it did not exist or
    /// belongs to a tenant the caller cannot see.
    async fn scaling_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Policy id (UUID).")] id: ID,
        #[graphql(desc = "Read the state as it was at this instant.")] as_of: Option<DateTime<Utc>>,
        #[graphql(desc = "Read the state as it was at this aggregate version.")] at_version: Option<i64>,
    ) -> async_graphql::Result<ScalingPolicy> {
        let id = policy_id(&id)?;
        let loaded = load::<sc::ScalingPolicy>(ctx, &id, as_of, at_version).await?;
        Ok(ScalingPolicy { id, version: loaded.version as i64, state: loaded.aggregate })
    }
}

#[Object]
impl ScalingMutation {
    /// Defines how a service scales in an environment (optionally for one tenant); the policy
    /// starts as a Draft at policy version 1.
    async fn define_scaling_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The policy to define.")] input: DefineScalingPolicyInput,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id = crate::command::new_id::<sc::ScalingPolicy>(
            ctx,
            input.id.as_ref(),
            options.as_ref(),
            "DefinePolicy",
            || ScalingPolicyId::generate().to_string(),
        )?;
        let command = (|| {
            Ok(ScalingPolicyCommand::DefinePolicy {
                service: ServiceId::parse(input.service_id.as_str()).map_err(invalid)?,
                environment: EnvironmentId::parse(input.environment_id.as_str()).map_err(invalid)?,
                tenant: input.tenant_id.as_deref().map(TenantId::parse).transpose().map_err(invalid)?,
                spec: input.spec.parse()?,
                at: Utc::now(),
            })
        })();
        send_policy(ctx, &id, command, options).await
    }

    /// Replaces the policy's specification with a new policy version (in any status);
    /// re-submitting the specification in force records nothing.
    async fn update_scaling_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Policy id.")] id: ID,
        #[graphql(desc = "The new specification, as a whole.")] spec: ScalingPolicySpecInput,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = spec.parse().map(|spec| ScalingPolicyCommand::UpdatePolicy { spec, at: Utc::now() });
        send_policy(ctx, &id, command, options).await
    }

    /// Applies the policy (from Draft or Suspended); a tenant's policy must be within the
    /// tenant's replica quota in force.
    async fn activate_scaling_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Policy id.")] id: ID,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_policy(ctx, &id, Ok(ScalingPolicyCommand::Activate { at: Utc::now() }), options).await
    }

    /// Stops applying an Active policy.
    async fn suspend_scaling_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Policy id.")] id: ID,
        #[graphql(desc = "Why (1 to 1000 characters).")] reason: String,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| ScalingPolicyCommand::Suspend { reason, at: Utc::now() });
        send_policy(ctx, &id, command, options).await
    }

    /// Records that the autoscaler changed the service's replicas under an Active policy.
    async fn record_scaling_decision(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Policy id.")] id: ID,
        #[graphql(desc = "The decision.")] input: RecordScalingDecisionInput,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            Ok(ScalingPolicyCommand::RecordScalingDecision {
                from_replicas: replicas("fromReplicas", input.from_replicas)?,
                to_replicas: replicas("toReplicas", input.to_replicas)?,
                signal: sc::ScalingSignal::new(input.signal.trigger.into(), input.signal.observed).map_err(invalid)?,
                reason: reason(&input.reason)?,
                at: Utc::now(),
            })
        })();
        send_policy(ctx, &id, command, options).await
    }
}
