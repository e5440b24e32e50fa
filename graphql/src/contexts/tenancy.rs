//! Tenancy context: `RuntimeTenantBinding` by id (now or as of a past instant or version, from
//! the log) and one mutation per command. Mutations parse input into domain values
//! (`INVALID_INPUT` before anything is written) and stamp the time at the edge: the domain
//! never reads the clock. Tenant isolation is the bus's and `load`'s.

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use domain::envelope::TenantId;
use domain::environments::{EnvironmentId, Reason};
use domain::ids::TenantBindingId;
use domain::tenancy::{self as ten, RuntimeTenantBinding, TenantBindingCommand};

use crate::command::{invalid, load, send};
use crate::error::{ApiError, IntoGraphql};
use crate::types::environment::CommandOptionsInput;
use crate::types::tenancy::{BindTenantInput, TenantBinding, TenantQuotaDimension, TenantQuotasInput};
use crate::types::CommandResult;

/// Tenant binding queries.
#[derive(Default)]
pub struct TenancyQuery;

/// Tenant binding mutations.
#[derive(Default)]
pub struct TenancyMutation;

fn reason(text: &str) -> Result<Reason, ApiError> {
    Reason::parse(text).map_err(invalid)
}

fn binding_id(id: &ID) -> async_graphql::Result<String> {
    Ok(TenantBindingId::parse(id.as_str()).map_err(invalid).gql()?.to_string())
}

async fn send_binding(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<TenantBindingCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = binding_id(id)?;
    send::<RuntimeTenantBinding>(ctx, &id, command, opts).await
}

#[Object]
impl TenancyQuery {
    /// One tenant binding by id, read from the log: its current state, or its state as of a
    /// past instant (`asOf`) or version (`atVersion`). `NOT_FOUND` when it did not exist or
    /// belongs to a tenant the caller cannot see.
    async fn tenant_binding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Binding id (UUID).")] id: ID,
        #[graphql(desc = "Read the state as it was at this instant.")] as_of: Option<DateTime<Utc>>,
        #[graphql(desc = "Read the state as it was at this aggregate version.")] at_version: Option<i64>,
    ) -> async_graphql::Result<TenantBinding> {
        let id = binding_id(&id)?;
        let loaded = load::<RuntimeTenantBinding>(ctx, &id, as_of, at_version).await?;
        Ok(TenantBinding { id, version: loaded.version as i64, state: loaded.aggregate })
    }
}

#[Object]
impl TenancyMutation {
    /// Draws a tenant's runtime boundary in an environment; the binding starts Requested.
    async fn bind_tenant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The binding to make.")] input: BindTenantInput,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id = crate::command::new_id::<RuntimeTenantBinding>(
            ctx,
            input.id.as_ref(),
            options.as_ref(),
            "BindTenant",
            || TenantBindingId::generate().to_string(),
        )?;
        let command = (|| {
            Ok(TenantBindingCommand::BindTenant {
                tenant: TenantId::parse(&input.tenant_id).map_err(invalid)?,
                environment: EnvironmentId::parse(input.environment_id.as_str()).map_err(invalid)?,
                isolation: input.isolation.into(),
                namespace: input
                    .namespace
                    .as_deref()
                    .map(ten::KubernetesNamespace::parse)
                    .transpose()
                    .map_err(invalid)?,
                identity: ten::WorkloadIdentity::parse(&input.workload_identity_client_id).map_err(invalid)?,
                network_policy: input.network_policy.parse()?,
                data_partition: ten::DataPartition::parse(&input.data_partition).map_err(invalid)?,
                quotas: input.quotas.parse()?,
                at: Utc::now(),
            })
        })();
        send_binding(ctx, &id, command, options).await
    }

    /// Makes a Requested binding Active: the boundary is set up and the tenant gets
    /// deployments.
    async fn activate_tenant_binding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Binding id.")] id: ID,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_binding(ctx, &id, Ok(TenantBindingCommand::ActivateBinding { at: Utc::now() }), options).await
    }

    /// Replaces the tenant's quotas (while Active or Suspended); re-submitting the quotas in
    /// force records nothing.
    async fn change_tenant_quota(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Binding id.")] id: ID,
        #[graphql(desc = "The new quotas, all dimensions at once.")] quotas: TenantQuotasInput,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = quotas.parse().map(|quotas| TenantBindingCommand::ChangeQuota { quotas, at: Utc::now() });
        send_binding(ctx, &id, command, options).await
    }

    /// Suspends an Active binding: the tenant gets no new deployment until resumed.
    async fn suspend_tenant_binding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Binding id.")] id: ID,
        #[graphql(desc = "Why (1 to 1000 characters).")] reason: String,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| TenantBindingCommand::Suspend { reason, at: Utc::now() });
        send_binding(ctx, &id, command, options).await
    }

    /// Lifts a suspension; the binding is Active again.
    async fn resume_tenant_binding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Binding id.")] id: ID,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_binding(ctx, &id, Ok(TenantBindingCommand::Resume { at: Utc::now() }), options).await
    }

    /// Starts removing the tenant from the environment (from Active or Suspended).
    async fn offboard_tenant_binding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Binding id.")] id: ID,
        #[graphql(desc = "Why (1 to 1000 characters).")] reason: String,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::reason(&reason).map(|reason| TenantBindingCommand::Offboard { reason, at: Utc::now() });
        send_binding(ctx, &id, command, options).await
    }

    /// Records that offboarding finished; the tenant, its namespace and its data partition are
    /// free to be bound again.
    async fn record_tenant_offboarded(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Binding id.")] id: ID,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_binding(ctx, &id, Ok(TenantBindingCommand::RecordOffboarded { at: Utc::now() }), options).await
    }

    /// Records that the running system observed the tenant above one of its quotas; refused
    /// unless the observation exceeds the quota in force.
    async fn record_tenant_quota_breach(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Binding id.")] id: ID,
        #[graphql(desc = "Which quota was exceeded.")] dimension: TenantQuotaDimension,
        #[graphql(desc = "The observed value, in the dimension's unit (not negative).")] observed: i64,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = u64::try_from(observed)
            .map_err(|_| invalid(format!("observed must not be negative: {observed}")))
            .map(|observed| TenantBindingCommand::RecordQuotaBreach {
                dimension: dimension.into(),
                observed,
                at: Utc::now(),
            });
        send_binding(ctx, &id, command, options).await
    }
}
