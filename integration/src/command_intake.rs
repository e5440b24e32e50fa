//! The command intake: command messages of the Control Plane, received with peek-lock from a
//! [`CommandSource`], dispatched through the bus as the Control Plane with the message id as
//! idempotency key, and settled by their outcome:
//!
//! - committed (or a duplicate of a committed one): completed;
//! - may pass (storage, a conflict that outlasted the bus's retries, a publisher that cannot
//!   take the rejection): abandoned, so the broker hands it out again (and dead-letters it
//!   after its own `MaxDeliveryCount`);
//! - can never succeed (malformed, refused by the role table or the domain): recorded in
//!   `rejected_commands`, answered with a `CommandRejected` integration event, then completed.
//!
//! Receivers compete for the queue (every replica runs them; the broker's lock keeps a message
//! to one), so the intake needs no lease.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use commands::access::Role;
use commands::{idempotency, CommandBus, CommandError, CommandOptions, RequestContext, TenantScope};
use domain::envelope::{Actor, TenantId, TraceId};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::dispatch::{dispatch, DispatchError};
use crate::envelope::{IntegrationEnvelope, COMMAND_REJECTED, SCHEMA};
use crate::port::{CommandSource, Delivery, Publisher};
use crate::rejected::{self, Refusal};
use crate::relay::{publish_with_retry, RetryPolicy};

/// A command message's body (documented in `docs/integration.md`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandMessage {
    /// One of the nine aggregate types, e.g. `RuntimeEnvironment`.
    pub aggregate_type: String,
    /// The target; omitted for a create, whose id is then derived from the message id.
    #[serde(default)]
    pub aggregate_id: Option<String>,
    /// The command as the domain spells it: `{"<CommandName>": { ...fields }}`.
    pub command: Value,
    /// The tenant the Control Plane acts for, if one.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Refuse unless the aggregate is at exactly this version.
    #[serde(default)]
    pub expected_version: Option<u64>,
    /// The business flow; defaults to the trace id.
    #[serde(default)]
    pub correlation_id: Option<String>,
}

/// How a message was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The command committed (or had committed before): completed.
    Completed {
        /// The aggregate it changed.
        aggregate_id: String,
        /// Whether it was a repeat of a committed command.
        deduplicated: bool,
    },
    /// Refused for good: recorded, answered, completed.
    Rejected {
        /// The error code.
        code: String,
    },
    /// Left for another delivery.
    Abandoned {
        /// Why.
        reason: String,
    },
}

/// The intake's settings.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// Receivers per replica (each holds at most one message).
    pub receivers: usize,
    /// Lock renewal while a command runs (the broker's lock lasts 30-60 s).
    pub renew_every: Duration,
    /// The Control Plane's actor name (`control-plane:<name>`).
    pub actor: String,
    /// How the rejection answer is retried.
    pub retry: RetryPolicy,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            receivers: 4,
            renew_every: Duration::from_secs(20),
            actor: "control-plane:service-bus".to_owned(),
            retry: RetryPolicy::default(),
        }
    }
}

/// Receives, dispatches and settles command messages.
#[derive(Clone)]
pub struct CommandIntake {
    source: Arc<dyn CommandSource>,
    publisher: Arc<dyn Publisher>,
    bus: CommandBus,
    pool: PgPool,
    settings: IntakeSettings,
}

/// A refusal before or by the bus: code and reason.
struct Refused {
    code: &'static str,
    reason: String,
}

/// What handling a message came to, before it is settled.
enum Decision {
    /// The command committed (or had): the aggregate, and whether it was a repeat.
    Done(String, bool),
    /// It can never succeed: the message as far as it parsed, and why.
    Refuse(Option<CommandMessage>, Refused),
    /// It may succeed on another delivery.
    Retry(String),
}

impl CommandIntake {
    /// An intake reading `source`, answering refusals through `publisher`.
    pub fn new(
        source: Arc<dyn CommandSource>,
        publisher: Arc<dyn Publisher>,
        bus: CommandBus,
        pool: PgPool,
        settings: IntakeSettings,
    ) -> Self {
        Self { source, publisher, bus, pool, settings }
    }

    /// Where messages come from.
    pub fn origin(&self) -> String {
        self.source.origin()
    }

    /// Runs the receivers until `shutdown` turns true. A message in hand is settled before a
    /// receiver stops.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let receivers = (0..self.settings.receivers.max(1)).map(|_| {
            let (intake, shutdown) = (self.clone(), shutdown.clone());
            tokio::spawn(async move { intake.receive_loop(shutdown).await })
        });
        futures::future::join_all(receivers).await;
    }

    async fn receive_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let mut pause = Duration::from_millis(100);
        while !*shutdown.borrow() {
            let received = tokio::select! {
                received = self.source.receive() => received,
                _ = shutdown.changed() => break,
            };
            match received {
                Ok(Some(delivery)) => {
                    pause = Duration::from_millis(100);
                    self.handle(delivery.as_ref()).await;
                }
                Ok(None) => pause = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(origin = %self.source.origin(), error = %err, "receiving commands failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.changed() => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Handles one delivery to its settlement (renewing its lock meanwhile).
    pub async fn handle(&self, delivery: &dyn Delivery) -> Settlement {
        let trace = trace_of(delivery);
        let span = tracing::info_span!("command_message", trace_id = %trace, message_id = %delivery.message_id());
        commands::trace::continue_trace(&span, &trace);
        async {
            let decided = {
                let work = self.decide(delivery, &trace);
                tokio::pin!(work);
                let mut renew = tokio::time::interval_at(
                    tokio::time::Instant::now() + self.settings.renew_every,
                    self.settings.renew_every,
                );
                loop {
                    tokio::select! {
                        decided = &mut work => break decided,
                        _ = renew.tick() => {
                            if let Err(err) = delivery.renew().await {
                                tracing::warn!(error = %err, "could not renew a command message's lock");
                            }
                        }
                    }
                }
            };
            let settlement = self.settle(delivery, &trace, decided).await;
            metrics::counter!("command_intake_total", "outcome" => outcome_label(&settlement)).increment(1);
            settlement
        }
        .instrument(span)
        .await
    }

    /// Parses and dispatches.
    async fn decide(&self, delivery: &dyn Delivery, trace: &TraceId) -> Decision {
        let message: CommandMessage = match serde_json::from_str(delivery.body()) {
            Ok(m) => m,
            Err(e) => {
                return Decision::Refuse(
                    None,
                    Refused { code: "INVALID_INPUT", reason: format!("malformed command message: {e}") },
                )
            }
        };
        let tenant = match message.tenant_id.as_deref().map(TenantId::parse).transpose() {
            Ok(t) => t,
            Err(e) => return Decision::Refuse(Some(message), Refused { code: "INVALID_INPUT", reason: e.to_string() }),
        };
        let actor = match Actor::parse(&self.settings.actor) {
            Ok(a) => a,
            Err(e) => return Decision::Retry(format!("the intake's actor is misconfigured: {e}")),
        };
        let ctx = RequestContext {
            actor,
            roles: BTreeSet::from([Role::ControlPlane]),
            tenant_scope: TenantScope::All,
            tenant,
            trace_id: trace.clone(),
        };
        let key = delivery.message_id().to_owned();
        let options = CommandOptions {
            idempotency_key: Some(key.clone()),
            expected_version: message.expected_version,
            correlation_id: message.correlation_id.clone().or_else(|| delivery.property("CorrelationId").map(str::to_owned)),
            causation_id: Some(format!("message:{key}")),
            input_hash: Some(idempotency::input_hash(&message.aggregate_type, &message.command)),
            ..Default::default()
        };
        let scope = idempotency::receipt_scope(&ctx);
        let given = message.aggregate_id.clone();
        let id_for = |aggregate_type: &'static str, command: &str| {
            given.clone().unwrap_or_else(|| idempotency::derived_id(&scope, aggregate_type, command, &key).to_string())
        };
        match dispatch(&self.bus, &ctx, &message.aggregate_type, message.command.clone(), &id_for, options).await {
            Ok(outcome) => Decision::Done(outcome.aggregate_id, outcome.deduplicated),
            Err(err) => match classify(&err, message.expected_version.is_some()) {
                Some(code) => Decision::Refuse(Some(message), Refused { code, reason: err.to_string() }),
                None => Decision::Retry(err.to_string()),
            },
        }
    }

    async fn settle(
        &self,
        delivery: &dyn Delivery,
        trace: &TraceId,
        decided: Decision,
    ) -> Settlement {
        let settlement = match decided {
            Decision::Done(aggregate_id, deduplicated) => Settlement::Completed { aggregate_id, deduplicated },
            Decision::Retry(reason) => {
                tracing::warn!(%reason, "a command message failed for a reason that may pass; abandoning it");
                if let Err(err) = delivery.abandon().await {
                    tracing::warn!(error = %err, "could not abandon a command message (its lock will expire)");
                }
                return Settlement::Abandoned { reason };
            }
            Decision::Refuse(message, refused) => match self.reject(delivery, trace, message.as_ref(), &refused).await {
                Ok(()) => Settlement::Rejected { code: refused.code.to_owned() },
                Err(reason) => {
                    if let Err(err) = delivery.abandon().await {
                        tracing::warn!(error = %err, "could not abandon a command message (its lock will expire)");
                    }
                    return Settlement::Abandoned { reason };
                }
            },
        };
        // A completion that fails (the lock expired) only means another delivery: its command
        // is a duplicate then, answered from the receipt, and its refusal is recorded once.
        if let Err(err) = delivery.complete().await {
            tracing::warn!(error = %err, "could not complete a command message; it will be delivered again");
        }
        settlement
    }

    /// Records the refusal and publishes the `CommandRejected` answer.
    async fn reject(
        &self,
        delivery: &dyn Delivery,
        trace: &TraceId,
        message: Option<&CommandMessage>,
        refused: &Refused,
    ) -> Result<(), String> {
        let command = message.and_then(|m| m.command.as_object()).and_then(|o| o.keys().next()).map(String::as_str);
        let aggregate_type = message.map(|m| m.aggregate_type.as_str());
        let aggregate_id = message.and_then(|m| m.aggregate_id.as_deref());
        let tenant_id = message.and_then(|m| m.tenant_id.as_deref());
        tracing::info!(code = refused.code, reason = %refused.reason, "refused a command message");
        rejected::record(
            &self.pool,
            &Refusal {
                message_id: delivery.message_id(),
                aggregate_type,
                aggregate_id,
                command,
                tenant_id,
                trace_id: trace.as_str(),
                code: refused.code,
                reason: &refused.reason,
                body: delivery.body(),
                delivery_count: delivery.delivery_count(),
            },
        )
        .await
        .map_err(|e| format!("could not record the refusal: {e}"))?;
        let envelope = IntegrationEnvelope {
            schema: SCHEMA.to_owned(),
            event_id: format!("rejected:{}", delivery.message_id()),
            event_type: COMMAND_REJECTED.to_owned(),
            event_version: "1".to_owned(),
            aggregate_type: aggregate_type.unwrap_or_default().to_owned(),
            aggregate_id: aggregate_id.unwrap_or_default().to_owned(),
            sequence: None,
            global_position: None,
            tenant_id: tenant_id.map(str::to_owned),
            trace_id: trace.to_string(),
            correlation_id: message.and_then(|m| m.correlation_id.clone()),
            causation_id: Some(format!("message:{}", delivery.message_id())),
            actor: Some(self.settings.actor.clone()),
            occurred_at: Utc::now(),
            payload: serde_json::json!({
                "messageId": delivery.message_id(),
                "command": command,
                "code": refused.code,
                "reason": refused.reason,
            }),
        };
        // Its own session when the message named no aggregate: rejections of one aggregate stay
        // in order with its events.
        let answer = envelope.into_message();
        publish_with_retry(self.publisher.as_ref(), &answer, &self.settings.retry)
            .await
            .map_err(|e| format!("could not publish the rejection: {e}"))
    }
}

/// The trace a message continues: its `traceparent` or `TraceId` property, else a new one.
fn trace_of(delivery: &dyn Delivery) -> TraceId {
    delivery
        .property("traceparent")
        .and_then(|h| TraceId::from_traceparent(h).ok())
        .or_else(|| delivery.property("TraceId").and_then(|t| TraceId::parse(t).ok()))
        .unwrap_or_else(|| TraceId::from_uuid(Uuid::new_v4()))
}

/// The code of a refusal that no redelivery can change; `None` for one that may pass.
fn classify(err: &DispatchError, pinned: bool) -> Option<&'static str> {
    match err {
        DispatchError::UnknownAggregateType(_) | DispatchError::InvalidCommand { .. } => Some("INVALID_INPUT"),
        DispatchError::Command(CommandError::Store(_) | CommandError::Fenced(_)) => None,
        // An unpinned conflict outlasted the bus's retries: another try may win. A pinned one
        // names a version that is gone for good.
        DispatchError::Command(err @ CommandError::Conflict { .. }) => pinned.then(|| err.code()),
        DispatchError::Command(err) => Some(err.code()),
    }
}

fn outcome_label(settlement: &Settlement) -> &'static str {
    match settlement {
        Settlement::Completed { deduplicated: false, .. } => "completed",
        Settlement::Completed { deduplicated: true, .. } => "duplicate",
        Settlement::Rejected { .. } => "rejected",
        Settlement::Abandoned { .. } => "abandoned",
    }
}
