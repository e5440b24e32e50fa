//! What every context's resolvers share: sending a command through the bus, parsing command
//! options, and loading an aggregate's state now or as of a past version or instant.

use async_graphql::{Context, ID};
use chrono::{DateTime, Utc};
use commands::bus::{CommandName, Routed};
use commands::idempotency;
use commands::store::{AsOf, LoadedAggregate};
use commands::{CommandOptions, RequestContext};
use cqrs_es::Aggregate;
use domain::claims::ClaimsUnique;
use domain::rejection::Rejection;

use crate::error::{ApiError, IntoGraphql};
use crate::query::request;
use crate::types::environment::CommandOptionsInput;
use crate::types::CommandResult;
use crate::ApiState;

/// Turns a value error into `INVALID_INPUT`.
pub fn invalid(e: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidInput(e.to_string())
}

/// Parses the options every mutation takes.
pub fn options(input: Option<CommandOptionsInput>) -> Result<CommandOptions, ApiError> {
    let input = input.unwrap_or_default();
    let expected_version = input
        .expected_version
        .map(|v| u64::try_from(v).map_err(|_| invalid("expectedVersion must not be negative")))
        .transpose()?;
    Ok(CommandOptions {
        idempotency_key: input.idempotency_key,
        expected_version,
        correlation_id: input.correlation_id,
        causation_id: input.causation_id,
        input_hash: None,
        dry_run: input.dry_run,
    })
}

/// The id of the aggregate a create makes: the caller's when given; else, when the request
/// carries an idempotency key, the one derived from it (so a retried create targets the same
/// aggregate and gets the first result back); else `fresh()`.
pub fn new_id<A: Aggregate>(
    ctx: &Context<'_>,
    given: Option<&ID>,
    opts: Option<&CommandOptionsInput>,
    command_type: &str,
    fresh: impl FnOnce() -> String,
) -> async_graphql::Result<ID> {
    if let Some(id) = given {
        return Ok(id.clone());
    }
    let Some(key) = opts.and_then(|o| o.idempotency_key.as_deref()) else {
        return Ok(ID(fresh()));
    };
    let scope = idempotency::receipt_scope(request(ctx)?);
    Ok(ID(idempotency::derived_id(&scope, A::TYPE, command_type, key).to_string()))
}

/// The fingerprint of this mutation's input: its name and arguments but `options` (keys,
/// correlation and versions are about the delivery, not the command).
fn input_hash(ctx: &Context<'_>) -> Option<String> {
    let field = ctx.field();
    let arguments = field.arguments().ok()?;
    let input: serde_json::Map<String, serde_json::Value> = arguments
        .into_iter()
        .filter(|(name, _)| name.as_str() != "options")
        .map(|(name, value)| Ok((name.to_string(), value.into_json()?)))
        .collect::<Result<_, serde_json::Error>>()
        .ok()?;
    Some(idempotency::input_hash(field.name(), &serde_json::Value::Object(input)))
}

/// Sends `command` (already parsed, or the parse error) to aggregate `id` of type `A`.
pub async fn send<A>(
    ctx: &Context<'_>,
    id: &str,
    command: Result<A::Command, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult>
where
    A: Routed,
    A::Event: ClaimsUnique,
    A::Error: Rejection,
    A::Command: Clone + CommandName + Send + Sync,
{
    let req: &RequestContext = request(ctx)?;
    let command = command.gql()?;
    let mut opts = options(opts).gql()?;
    if opts.idempotency_key.is_some() {
        opts.input_hash = input_hash(ctx);
    }
    let bus = &ctx.data_unchecked::<ApiState>().bus;
    bus.execute::<A>(req, id, command, opts).await.map(CommandResult).gql()
}

/// The aggregate now, or as of `as_of` / `at_version` (at most one), read from the log.
/// `NOT_FOUND` when it does not exist (at that point) or belongs to a tenant the caller
/// cannot see.
pub async fn load<A>(
    ctx: &Context<'_>,
    id: &str,
    as_of: Option<DateTime<Utc>>,
    at_version: Option<i64>,
) -> async_graphql::Result<LoadedAggregate<A>>
where
    A: Routed,
    A::Event: ClaimsUnique,
    A::Error: Rejection,
    A::Command: Clone + CommandName + Send + Sync,
{
    let req = request(ctx)?;
    let bus = &ctx.data_unchecked::<ApiState>().bus;
    let store = &A::route(bus).store;
    let loaded = match (as_of, at_version) {
        (Some(_), Some(_)) => return Err(invalid("give asOf or atVersion, not both")).gql(),
        (Some(t), None) => store.load_as_of(id, AsOf::Time(t)).await,
        (None, Some(v)) if v < 0 => return Err(invalid("atVersion must not be negative")).gql(),
        (None, Some(v)) => store.load_as_of(id, AsOf::Version(v as u64)).await,
        (None, None) => store.load(id).await,
    }
    .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
    .gql()?;
    let visible = loaded.aggregate.owner_tenant().is_none_or(|t| req.can_see(Some(t.as_str())));
    if loaded.version == 0 || !visible {
        return Err(ApiError::NotFound(format!("{} {id} not found", <A as Aggregate>::TYPE))).gql();
    }
    Ok(loaded)
}
