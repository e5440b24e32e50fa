//! The integration relay: follows the global log from its own checkpoint (the gap-free reader
//! and the lease of every reactor, [`workers::ReactorRunner`]) and publishes each event as an
//! [`IntegrationEnvelope`]. The log is the outbox: nothing is published that was not
//! committed, and the checkpoint moves past an event only once the broker accepted it (or it
//! was parked), so nothing committed is left unpublished. Delivery is at least once; a repeat
//! carries the same `MessageId`, which the broker's duplicate detection drops.
//!
//! A batch is published concurrently across aggregates and in order within one (its
//! `SessionId`): a transient failure stops that aggregate's events for the round, and the
//! checkpoint stops before the first event not accepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use commands::log::RecordedEvent;
use commands::CommandBus;
use domain::envelope::TraceId;
use futures::StreamExt;
use projections::reader::Interest;
use sqlx::PgPool;
use tracing::Instrument;
use workers::{BatchOutcome, Reactor, ReactorError};

use crate::envelope::{message_id, IntegrationEnvelope};
use crate::parking;
use crate::port::{OutboundMessage, PublishError, Publisher};

/// The relay's name: its checkpoint, lease and status row.
pub const NAME: &str = "integration-relay";

/// How one message is retried before the round gives up on it.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    /// The first pause (doubling, with jitter).
    pub min_delay: Duration,
    /// The longest pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { retries: 3, min_delay: Duration::from_millis(50), max_delay: Duration::from_secs(2) }
    }
}

/// How the relay publishes.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Aggregates published at once.
    pub concurrency: usize,
    /// Events read per round.
    pub batch_size: i64,
    /// Retries of one message within a round.
    pub retry: RetryPolicy,
    /// Rounds an event may fail transiently while others get through before it is parked.
    pub park_after: u32,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self { concurrency: 16, batch_size: 500, retry: RetryPolicy::default(), park_after: 5 }
    }
}

/// The message an event is published as.
pub fn message_of(event: &RecordedEvent) -> OutboundMessage {
    IntegrationEnvelope::of_event(event).into_message()
}

/// Publishes `message`, retrying transient failures by `policy`.
pub async fn publish_with_retry(
    publisher: &dyn Publisher,
    message: &OutboundMessage,
    policy: &RetryPolicy,
) -> Result<(), PublishError> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.retries)
        .with_jitter();
    (|| publisher.publish(message)).retry(backoff).when(PublishError::is_transient).await
}

/// The relay reactor.
pub struct IntegrationRelay {
    publisher: Arc<dyn Publisher>,
    pool: PgPool,
    settings: RelaySettings,
    /// Rounds each event failed transiently while others got through (this replica's view;
    /// a new leader starts counting again, which only delays a park).
    failures: Mutex<HashMap<String, u32>>,
}

/// What became of one event in a round.
enum Fate {
    Done,
    Failed(ReactorError),
    NotTried,
}

impl IntegrationRelay {
    /// A relay publishing through `publisher`, parking in `pool`.
    pub fn new(publisher: Arc<dyn Publisher>, pool: PgPool, settings: RelaySettings) -> Self {
        Self { publisher, pool, settings, failures: Mutex::new(HashMap::new()) }
    }

    /// Publishes one aggregate's events in order, stopping at its first transient failure.
    async fn publish_in_order(&self, events: &[RecordedEvent], group: Vec<usize>) -> Vec<(usize, Result<(), PublishError>)> {
        let mut results = Vec::with_capacity(group.len());
        for index in group {
            let event = &events[index];
            let envelope = IntegrationEnvelope::of_event(event);
            // The publication is part of the command's trace: exported spans show where its
            // events went, and when.
            let span = tracing::info_span!("publish", trace_id = %envelope.trace_id, message_id = %envelope.event_id);
            if let Ok(trace) = TraceId::parse(&envelope.trace_id) {
                commands::trace::continue_trace(&span, &trace);
            }
            let message = envelope.into_message();
            let result =
                publish_with_retry(self.publisher.as_ref(), &message, &self.settings.retry).instrument(span).await;
            let stop = result.as_ref().is_err_and(PublishError::is_transient);
            results.push((index, result));
            if stop {
                break;
            }
        }
        results
    }

    async fn park(&self, event: &RecordedEvent, error: &PublishError) -> Fate {
        tracing::warn!(relay = NAME, message_id = %message_id(event), %error, "parking an event the broker will not take");
        match parking::park(&self.pool, event, &error.to_string()).await {
            Ok(()) => Fate::Done,
            Err(err) => Fate::Failed(err.into()),
        }
    }
}

#[async_trait]
impl Reactor for IntegrationRelay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interest(&self) -> Interest {
        Interest::All
    }

    async fn react(&self, _bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        match self.publish_batch(std::slice::from_ref(event)).await.failure {
            None => Ok(()),
            Some(err) => Err(err),
        }
    }

    async fn react_batch(&self, _bus: &CommandBus, events: &[RecordedEvent]) -> Option<BatchOutcome> {
        Some(self.publish_batch(events).await)
    }
}

impl IntegrationRelay {
    /// Publishes a batch: aggregates concurrently, each in log order; parks what the broker
    /// refuses; reports how far from the first event everything is done.
    async fn publish_batch(&self, events: &[RecordedEvent]) -> BatchOutcome {
        // One group per aggregate, in log order within it.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of: HashMap<(&str, &str), usize> = HashMap::new();
        for (index, event) in events.iter().enumerate() {
            let key = (event.aggregate_type.as_str(), event.aggregate_id.as_str());
            let group = *group_of.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(index);
        }
        let results: Vec<(usize, Result<(), PublishError>)> = futures::stream::iter(groups)
            .map(|group| self.publish_in_order(events, group))
            .buffer_unordered(self.settings.concurrency.max(1))
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        // Evidence that the broker works: only then does a repeated failure count against the
        // event itself.
        let broker_works = results.iter().any(|(_, r)| r.is_ok());
        let mut fates: Vec<Fate> = events.iter().map(|_| Fate::NotTried).collect();
        let now = Utc::now();
        for (index, result) in results {
            let event = &events[index];
            fates[index] = match result {
                Ok(()) => {
                    let mut failures = self.failures.lock().expect("failure counts");
                    // Almost always empty: no id is built for the lookup then.
                    if !failures.is_empty() {
                        failures.remove(&message_id(event));
                    }
                    drop(failures);
                    metrics::counter!("relay_published_total").increment(1);
                    let age = (now - event.recorded_at).num_microseconds().unwrap_or(0).max(0);
                    metrics::histogram!("relay_commit_to_publish_seconds").record(age as f64 / 1e6);
                    Fate::Done
                }
                Err(error @ PublishError::Refused { .. }) => self.park(event, &error).await,
                Err(error) => {
                    metrics::counter!("relay_publish_failures_total").increment(1);
                    let rounds = if broker_works {
                        let mut failures = self.failures.lock().expect("failure counts");
                        let rounds = failures.entry(message_id(event)).or_insert(0);
                        *rounds += 1;
                        *rounds
                    } else {
                        0
                    };
                    if rounds >= self.settings.park_after {
                        self.failures.lock().expect("failure counts").remove(&message_id(event));
                        self.park(event, &error).await
                    } else {
                        Fate::Failed(ReactorError::Delivery(error.to_string()))
                    }
                }
            };
        }
        let done = fates.iter().position(|f| !matches!(f, Fate::Done)).unwrap_or(events.len());
        let failure = fates.into_iter().skip(done).find_map(|f| match f {
            Fate::Failed(err) => Some(err),
            _ => None,
        });
        BatchOutcome { done, failure }
    }
}
