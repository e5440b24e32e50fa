//! Health & drift context: `RuntimeHealth` and `DriftFinding` by id (now or as of a past
//! instant or version, from the log), and one mutation per command. Mutations parse input into
//! domain values (`INVALID_INPUT` before anything is written) and stamp the time at the edge:
//! the domain never reads the clock. A probe or dependency result that repeats the recorded
//! one is no change: its `CommandResult` has no events and the unchanged version.

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use domain::environments::Reason;
use domain::health::{self as health, DriftCommand, DriftFinding, HealthCommand, RuntimeHealth};
use domain::ids::{DriftFindingId, HealthId};

use crate::command::{invalid, load, send};
use crate::error::{ApiError, IntoGraphql};
use crate::types::environment::CommandOptionsInput;
use crate::types::health::{
    DetectDriftInput, DriftFindingView, DriftRemediationActionInput, HealthProbeInput, RuntimeHealthView,
    TrackHealthInput,
};
use crate::types::CommandResult;

/// Health & drift queries.
#[derive(Default)]
pub struct HealthQuery;

/// Health & drift mutations.
#[derive(Default)]
pub struct HealthMutation;

fn health_id(id: &ID) -> Result<String, ApiError> {
    HealthId::parse(id.as_str()).map(|id| id.to_string()).map_err(invalid)
}

fn drift_id(id: &ID) -> Result<String, ApiError> {
    DriftFindingId::parse(id.as_str()).map(|id| id.to_string()).map_err(invalid)
}

fn detail(text: Option<&str>) -> Result<Option<health::Detail>, ApiError> {
    text.map(health::Detail::parse).transpose().map_err(invalid)
}

fn operator(text: &str) -> Result<health::Operator, ApiError> {
    health::Operator::parse(text).map_err(invalid)
}

async fn send_health(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<HealthCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = health_id(id).gql()?;
    send::<RuntimeHealth>(ctx, &id, command, opts).await
}

async fn send_drift(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<DriftCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = drift_id(id).gql()?;
    send::<DriftFinding>(ctx, &id, command, opts).await
}

#[Object]
impl HealthQuery {
    /// The health of one service in one environment (and tenant) by health id, read from the
    /// log: its current state, or its state as of a past instant (`asOf`) or version
    /// (`atVersion`). `NOT_FOUND` when it did not exist.
    async fn health(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Health id (UUID).")] id: ID,
        #[graphql(desc = "State as of this instant.")] as_of: Option<DateTime<Utc>>,
        #[graphql(desc = "State at this aggregate version.")] at_version: Option<i64>,
    ) -> async_graphql::Result<RuntimeHealthView> {
        let id = health_id(&id).gql()?;
        let loaded = load::<RuntimeHealth>(ctx, &id, as_of, at_version).await?;
        Ok(RuntimeHealthView { id, version: loaded.version as i64, state: loaded.aggregate })
    }

    /// One drift finding by id, read from the log: its current state, or its state as of a
    /// past instant (`asOf`) or version (`atVersion`). `NOT_FOUND` when it did not exist.
    async fn drift_finding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Drift finding id (UUID).")] id: ID,
        #[graphql(desc = "State as of this instant.")] as_of: Option<DateTime<Utc>>,
        #[graphql(desc = "State at this aggregate version.")] at_version: Option<i64>,
    ) -> async_graphql::Result<DriftFindingView> {
        let id = drift_id(&id).gql()?;
        let loaded = load::<DriftFinding>(ctx, &id, as_of, at_version).await?;
        Ok(DriftFindingView { id, version: loaded.version as i64, state: loaded.aggregate })
    }
}

#[Object]
impl HealthMutation {
    /// Starts tracking the health of a service in an environment (and tenant); one health
    /// record per service, environment and tenant. The status starts Unknown.
    async fn track_health(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to watch.")] input: TrackHealthInput,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id =
            crate::command::new_id::<RuntimeHealth>(ctx, input.id.as_ref(), options.as_ref(), "TrackHealth", || {
                HealthId::generate().to_string()
            })?;
        let command = input.target().map(|target| HealthCommand::TrackHealth {
            target,
            startup_probe: input.startup_probe,
            at: Utc::now(),
        });
        send_health(ctx, &id, command, options).await
    }

    /// Records a probe sample. Writes events only when the probe flips (or is first reported)
    /// and then the derived status and incidents follow; a repeated result writes nothing (no
    /// events, unchanged version).
    #[allow(clippy::too_many_arguments)] // flat arguments, like every other mutation
    async fn record_probe_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Health id.")] id: ID,
        #[graphql(desc = "Which probe.")] probe: HealthProbeInput,
        #[graphql(desc = "Whether it passed.")] passed: bool,
        #[graphql(desc = "How long the probe took, in milliseconds.")] latency_ms: i64,
        #[graphql(desc = "What it said (at most 500 characters).")] detail: Option<String>,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            Ok(HealthCommand::RecordProbeResult {
                probe: probe.parse()?,
                passed,
                latency_ms: u32::try_from(latency_ms)
                    .map_err(|_| invalid("latencyMs must be between 0 and 4294967295"))?,
                detail: self::detail(detail.as_deref())?,
                at: Utc::now(),
            })
        })();
        send_health(ctx, &id, command, options).await
    }

    /// Records the health of a dependency as seen from outside the probe; lands on the same
    /// `dependency:<name>` probe, with the same change-only rule as `recordProbeResult`.
    async fn record_dependency_health(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Health id.")] id: ID,
        #[graphql(desc = "Dependency name (letters, digits, `-`, `_`, `.`, `:`).")] dependency: String,
        #[graphql(desc = "Whether it is healthy.")] healthy: bool,
        #[graphql(desc = "What is known about it (at most 500 characters).")] detail: Option<String>,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            Ok(HealthCommand::RecordDependencyHealth {
                dependency: health::DependencyName::parse(&dependency).map_err(invalid)?,
                healthy,
                detail: self::detail(detail.as_deref())?,
                at: Utc::now(),
            })
        })();
        send_health(ctx, &id, command, options).await
    }

    /// Someone takes responsibility for the open incident (which must be `incident`).
    async fn acknowledge_incident(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Health id.")] id: ID,
        #[graphql(desc = "Number of the open incident (`openIncident.number`).")] incident: i64,
        #[graphql(desc = "Who takes responsibility (a person, team or rotation).")] acknowledged_by: String,
        #[graphql(desc = "What they say about it (at most 500 characters).")] note: Option<String>,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            Ok(HealthCommand::AcknowledgeIncident {
                incident: u32::try_from(incident)
                    .map_err(|_| invalid("incident must be a positive incident number"))?,
                note: self::detail(note.as_deref())?,
                acknowledged_by: operator(&acknowledged_by)?,
                at: Utc::now(),
            })
        })();
        send_health(ctx, &id, command, options).await
    }

    /// Opens a drift finding: desired and observed state diverge. Refused while an open
    /// finding of the same target and class exists.
    async fn detect_drift(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Where, what kind, what should run and what runs.")] input: DetectDriftInput,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id =
            crate::command::new_id::<DriftFinding>(ctx, input.id.as_ref(), options.as_ref(), "DetectDrift", || {
                DriftFindingId::generate().to_string()
            })?;
        let command = (|| {
            Ok(DriftCommand::DetectDrift {
                target: input.target()?,
                class: input.class.into(),
                values: input.values()?,
                at: Utc::now(),
            })
        })();
        send_drift(ctx, &id, command, options).await
    }

    /// Records that a remediation command is being issued on the aggregate owning the
    /// drifted desired state (a DETECTED finding becomes REMEDIATING).
    async fn start_drift_remediation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Drift finding id.")] id: ID,
        #[graphql(desc = "Which command, on which aggregate.")] action: DriftRemediationActionInput,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = action.parse().map(|action| DriftCommand::StartRemediation { action, at: Utc::now() });
        send_drift(ctx, &id, command, options).await
    }

    /// Records that the remediation fixed the drift (a REMEDIATING finding becomes
    /// REMEDIATED and closes).
    async fn record_drift_remediated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Drift finding id.")] id: ID,
        #[graphql(desc = "Id (UUID) of the event or command that fixed it.")] evidence_id: ID,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = health::EvidenceId::parse(evidence_id.as_str())
            .map_err(invalid)
            .map(|evidence| DriftCommand::RecordRemediated { evidence, at: Utc::now() });
        send_drift(ctx, &id, command, options).await
    }

    /// Lives with the drift: it is intended or not worth fixing (a DETECTED finding becomes
    /// ACCEPTED and closes).
    async fn accept_drift(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Drift finding id.")] id: ID,
        #[graphql(desc = "Why (at most 1000 characters).")] reason: String,
        #[graphql(desc = "Who decided (a person, team or rotation).")] accepted_by: String,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            Ok(DriftCommand::AcceptDrift {
                reason: Reason::parse(&reason).map_err(invalid)?,
                accepted_by: operator(&accepted_by)?,
                at: Utc::now(),
            })
        })();
        send_drift(ctx, &id, command, options).await
    }

    /// Records that observed state matches desired state again without a remediation of ours
    /// (an open finding becomes RESOLVED and closes).
    async fn resolve_drift(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Drift finding id.")] id: ID,
        #[graphql(desc = "Idempotency, expected version, correlation.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_drift(ctx, &id, Ok(DriftCommand::ResolveDrift { at: Utc::now() }), options).await
    }
}
