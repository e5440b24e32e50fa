//! Environments context: `RuntimeEnvironment` by id (now or as of a past instant or version,
//! from the log), the `environments` list (from the `environment_view` projection), and one
//! mutation per command. Mutations parse input into domain values (`INVALID_INPUT` before
//! anything is written) and stamp the time at the edge: the domain never reads the clock.

use std::collections::BTreeMap;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use domain::environments::{self as env, EnvironmentCommand, EnvironmentId, RuntimeEnvironment};

use crate::command::{invalid, load, send};
use crate::error::{ApiError, IntoGraphql};
use crate::query::{decode_after, request};
use crate::types::environment::{
    CommandOptionsInput, ComputeTargetInput, ProvisioningOutputsInput, RequestEnvironmentInput, Stage,
};
use crate::types::{page_size, CommandResult, Environment, LogCursor};
use crate::ApiState;
use commands::LogPosition;

/// Environment queries.
#[derive(Default)]
pub struct EnvironmentQuery;

/// Environment mutations.
#[derive(Default)]
pub struct EnvironmentMutation;

fn reason(text: &str) -> Result<env::Reason, ApiError> {
    env::Reason::parse(text).map_err(invalid)
}

async fn send_env(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<EnvironmentCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = EnvironmentId::parse(id.as_str()).map_err(invalid).gql()?.to_string();
    send::<RuntimeEnvironment>(ctx, &id, command, opts).await
}

type EnvRow = (String, i64, serde_json::Value, i64, i64);

#[Object]
impl EnvironmentQuery {
    /// One environment by id, read from the log: its current state, or its state as of a
    /// past instant (`asOf`) or version (`atVersion`). `NOT_FOUND` when it did not exist.
    async fn environment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        as_of: Option<DateTime<Utc>>,
        at_version: Option<i64>,
    ) -> async_graphql::Result<Environment> {
        let id = EnvironmentId::parse(id.as_str()).map_err(invalid).gql()?.to_string();
        let loaded = load::<RuntimeEnvironment>(ctx, &id, as_of, at_version).await?;
        Ok(Environment { id, version: loaded.version as i64, state: loaded.aggregate })
    }

    /// Environments in creation order, optionally of one stage (Relay connection, from the
    /// `environments` projection). Creation order is the log's commit order (the cursor is the
    /// creating event's log position), so a client resuming from its last cursor also gets an
    /// environment whose creation committed after a later-numbered one. `minPosition` (a
    /// mutation's `position`) waits until the
    /// projection has applied it: read your own writes.
    #[graphql(complexity = "crate::types::page_cost(first, child_complexity)")]
    async fn environments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        stage: Option<Stage>,
        min_position: Option<String>,
    ) -> async_graphql::Result<Connection<LogCursor, Environment>> {
        crate::projection_status::await_position(ctx, "environments", min_position.as_deref()).await?;
        let req = request(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let limit = page_size(first).gql()?;
        let after = decode_after::<LogCursor>(after).gql()?.map(|c| c.0);
        let from = after.unwrap_or(LogPosition::START);
        let stage = stage.map(|s| env::Stage::from(s).to_string());
        let rows: Vec<EnvRow> = sqlx::query_as(
            "SELECT environment_id, version, state, created_transaction_id, created_position FROM environment_view \
              WHERE (created_transaction_id, created_position) > ($1, $2) AND ($3::text IS NULL OR stage = $3) \
              ORDER BY created_transaction_id, created_position LIMIT $4",
        )
        .bind(from.transaction_id)
        .bind(from.global_position)
        .bind(stage)
        .bind(limit as i64 + 1)
        .fetch_all(&state.pool)
        .await
        .map_err(|e| ApiError::internal(req.trace_id.as_str(), e))
        .gql()?;
        let has_next = rows.len() > limit;
        let mut connection = Connection::new(after.is_some(), has_next);
        for (id, version, state, transaction_id, global_position) in rows.into_iter().take(limit) {
            let state: RuntimeEnvironment =
                serde_json::from_value(state).map_err(|e| ApiError::internal(req.trace_id.as_str(), e)).gql()?;
            let cursor = LogCursor(LogPosition { transaction_id, global_position });
            connection.edges.push(Edge::new(cursor, Environment { id, version, state }));
        }
        Ok(connection)
    }
}

#[Object]
impl EnvironmentMutation {
    /// Asks for a new environment (takes its name for the product and stage).
    async fn request_environment(
        &self,
        ctx: &Context<'_>,
        input: RequestEnvironmentInput,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id = crate::command::new_id::<RuntimeEnvironment>(
            ctx,
            input.id.as_ref(),
            options.as_ref(),
            "RequestEnvironment",
            || EnvironmentId::generate().to_string(),
        )?;
        let command = (|| {
            Ok(EnvironmentCommand::RequestEnvironment {
                product: env::ProductId::parse(&input.product).map_err(invalid)?,
                name: env::EnvironmentName::parse(&input.name).map_err(invalid)?,
                stage: input.stage.into(),
                region: env::AzureRegion::parse(&input.region).map_err(invalid)?,
                subscription: env::AzureSubscriptionId::parse(&input.subscription_id).map_err(invalid)?,
                resource_group: env::ResourceGroupName::parse(&input.resource_group).map_err(invalid)?,
                pulumi: env::PulumiStack::parse(&input.pulumi_project, &input.pulumi_stack).map_err(invalid)?,
                compute_targets: input
                    .compute_targets
                    .iter()
                    .map(|t| t.parse().map_err(invalid))
                    .collect::<Result<_, _>>()?,
                requested_at: Utc::now(),
            })
        })();
        send_env(ctx, &id, command, options).await
    }

    /// Records that the Pulumi run for the environment started (also a retry after a failure).
    async fn record_provisioning_started(
        &self,
        ctx: &Context<'_>,
        id: ID,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_env(ctx, &id, Ok(EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() }), options).await
    }

    /// Records a successful provisioning with its outputs; the environment becomes Ready.
    async fn record_provisioning_succeeded(
        &self,
        ctx: &Context<'_>,
        id: ID,
        outputs: ProvisioningOutputsInput,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            let endpoints: BTreeMap<String, String> =
                outputs.endpoints.iter().map(|e| (e.name.clone(), e.url.clone())).collect();
            if endpoints.len() != outputs.endpoints.len() {
                return Err(invalid("endpoint names must be unique"));
            }
            let stack_version =
                u64::try_from(outputs.stack_version).map_err(|_| invalid("stackVersion must not be negative"))?;
            let outputs = env::ProvisioningOutputs::new(endpoints, outputs.resource_ids.clone(), stack_version)
                .map_err(invalid)?;
            Ok(EnvironmentCommand::RecordProvisioningSucceeded { outputs, at: Utc::now() })
        })();
        send_env(ctx, &id, command, options).await
    }

    /// Records a failed provisioning attempt.
    async fn record_provisioning_failed(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command =
            self::reason(&reason).map(|reason| EnvironmentCommand::RecordProvisioningFailed { reason, at: Utc::now() });
        send_env(ctx, &id, command, options).await
    }

    /// Marks a Ready environment Degraded.
    async fn mark_environment_degraded(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| EnvironmentCommand::MarkDegraded { reason, at: Utc::now() });
        send_env(ctx, &id, command, options).await
    }

    /// Marks a Degraded environment Ready again.
    async fn mark_environment_recovered(
        &self,
        ctx: &Context<'_>,
        id: ID,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_env(ctx, &id, Ok(EnvironmentCommand::MarkRecovered { at: Utc::now() }), options).await
    }

    /// Adds a compute target to the environment.
    async fn add_compute_target(
        &self,
        ctx: &Context<'_>,
        id: ID,
        target: ComputeTargetInput,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = target.parse().map_err(invalid).map(|target| EnvironmentCommand::AddComputeTarget { target });
        send_env(ctx, &id, command, options).await
    }

    /// Removes a compute target from the environment.
    async fn remove_compute_target(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = env::ComputeTargetName::parse(&name)
            .map_err(invalid)
            .map(|name| EnvironmentCommand::RemoveComputeTarget { name });
        send_env(ctx, &id, command, options).await
    }

    /// Starts tearing the environment down.
    async fn decommission_environment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| EnvironmentCommand::Decommission { reason, at: Utc::now() });
        send_env(ctx, &id, command, options).await
    }

    /// Records that the teardown finished; the environment's name is free again.
    async fn record_environment_decommissioned(
        &self,
        ctx: &Context<'_>,
        id: ID,
        options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_env(ctx, &id, Ok(EnvironmentCommand::RecordDecommissioned { at: Utc::now() }), options).await
    }
}
