//! From an aggregate type's name and a command's JSON to a typed command through the bus:
//! the intake's one place that knows the nine aggregates.

use commands::bus::{CommandName, Routed};
use commands::{CommandBus, CommandError, CommandOptions, CommandOutcome, RequestContext};
use domain::catalog::{RuntimeDeployment, RuntimeService};
use domain::configuration::{RuntimeConfiguration, SecretBinding};
use domain::environments::RuntimeEnvironment;
use domain::health::{DriftFinding, RuntimeHealth};
use domain::scaling::ScalingPolicy;
use domain::tenancy::RuntimeTenantBinding;
use serde_json::Value;
use thiserror::Error;

/// Why a command message could not be dispatched.
#[derive(Debug, Error)]
pub enum DispatchError {
    /// The message names no aggregate type the platform has.
    #[error("unknown aggregate type {0:?}")]
    UnknownAggregateType(String),
    /// The command is not one of the aggregate's commands, or a value in it is malformed.
    #[error("invalid command for {aggregate_type}: {reason}")]
    InvalidCommand {
        /// The aggregate type named.
        aggregate_type: String,
        /// What did not parse.
        reason: String,
    },
    /// The bus refused or failed the command.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// The id the command targets: `given`, or for a create without one, the id derived from the
/// idempotency key (every redelivery targets the same aggregate).
pub type IdFor<'a> = &'a (dyn Fn(&'static str, &str) -> String + Sync);

/// Parses `command` as a command of `aggregate_type` and executes it on the aggregate `id_for`
/// names (given the aggregate type and the command's name).
pub async fn dispatch(
    bus: &CommandBus,
    ctx: &RequestContext,
    aggregate_type: &str,
    command: Value,
    id_for: IdFor<'_>,
    options: CommandOptions,
) -> Result<CommandOutcome, DispatchError> {
    match aggregate_type {
        "RuntimeEnvironment" => run::<RuntimeEnvironment>(bus, ctx, command, id_for, options).await,
        "RuntimeService" => run::<RuntimeService>(bus, ctx, command, id_for, options).await,
        "RuntimeDeployment" => run::<RuntimeDeployment>(bus, ctx, command, id_for, options).await,
        "RuntimeConfiguration" => run::<RuntimeConfiguration>(bus, ctx, command, id_for, options).await,
        "SecretBinding" => run::<SecretBinding>(bus, ctx, command, id_for, options).await,
        "RuntimeTenantBinding" => run::<RuntimeTenantBinding>(bus, ctx, command, id_for, options).await,
        "ScalingPolicy" => run::<ScalingPolicy>(bus, ctx, command, id_for, options).await,
        "RuntimeHealth" => run::<RuntimeHealth>(bus, ctx, command, id_for, options).await,
        "DriftFinding" => run::<DriftFinding>(bus, ctx, command, id_for, options).await,
        other => Err(DispatchError::UnknownAggregateType(other.to_owned())),
    }
}

async fn run<A>(
    bus: &CommandBus,
    ctx: &RequestContext,
    command: Value,
    id_for: IdFor<'_>,
    options: CommandOptions,
) -> Result<CommandOutcome, DispatchError>
where
    A: Routed,
    A::Event: domain::claims::ClaimsUnique,
    A::Error: domain::rejection::Rejection,
    A::Command: Clone + CommandName + Send + Sync + serde::de::DeserializeOwned,
{
    let command: A::Command = serde_json::from_value(command).map_err(|e| DispatchError::InvalidCommand {
        aggregate_type: A::TYPE.to_owned(),
        reason: e.to_string(),
    })?;
    let id = id_for(A::TYPE, command.command_name());
    Ok(bus.execute::<A>(ctx, &id, command, options).await?)
}
