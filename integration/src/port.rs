//! The ports of the integration edge: a [`Publisher`] of integration messages and a
//! [`CommandSource`] of command messages. The Service Bus adapter
//! ([`crate::servicebus`]) implements both; an AMQP-based one can replace it behind them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use thiserror::Error;

/// A message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    /// Unique per event: the broker drops a repeat within its duplicate-detection window.
    pub message_id: String,
    /// Messages of one session are delivered in order (the aggregate id).
    pub session_id: String,
    /// The business flow (`CorrelationId`).
    pub correlation_id: Option<String>,
    /// The event type (`Label`), for subscription filters.
    pub label: String,
    /// The JSON body (an [`crate::envelope::IntegrationEnvelope`]).
    pub body: String,
    /// Application properties (trace id, tenant id, event and aggregate type, traceparent).
    pub properties: BTreeMap<String, String>,
}

/// Why a publication failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PublishError {
    /// May pass (network, throttling, the broker's own failure): retried, never parked while
    /// nothing else gets through.
    #[error("transient publication failure: {0}")]
    Transient(String),
    /// The broker will never take this message (400, 413): the event is parked.
    #[error("the broker refused the message ({status}): {reason}")]
    Refused {
        /// The broker's HTTP status.
        status: u16,
        /// What it said.
        reason: String,
    },
}

impl PublishError {
    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Where integration messages go.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Sends one message; `Ok` once the broker accepted it (and only then).
    async fn publish(&self, message: &OutboundMessage) -> Result<(), PublishError>;
    /// Where messages go, for logs and status (e.g. `sb://ns/topic`).
    fn destination(&self) -> String;
}

/// Why receiving or settling a message failed (always worth another try later).
#[derive(Debug, Error, Clone, PartialEq)]
#[error("command source: {0}")]
pub struct SourceError(pub String);

/// A received, locked message: settle it with [`Delivery::complete`] or
/// [`Delivery::abandon`]; until then no other receiver gets it (while the lock lasts).
#[async_trait]
pub trait Delivery: Send + Sync {
    /// The sender's message id (the command's idempotency key).
    fn message_id(&self) -> &str;
    /// The body as received.
    fn body(&self) -> &str;
    /// An application property (case-insensitive name).
    fn property(&self, name: &str) -> Option<&str>;
    /// How many times the broker handed this message out, this time included.
    fn delivery_count(&self) -> u32;
    /// Removes the message: it was handled.
    async fn complete(&self) -> Result<(), SourceError>;
    /// Releases the lock at once: another receiver (or this one) gets it again.
    async fn abandon(&self) -> Result<(), SourceError>;
    /// Extends the lock while the message is being handled.
    async fn renew(&self) -> Result<(), SourceError>;
}

/// Where command messages come from.
#[async_trait]
pub trait CommandSource: Send + Sync + 'static {
    /// The next message, locked; `None` when none arrived within the source's wait.
    async fn receive(&self) -> Result<Option<Box<dyn Delivery>>, SourceError>;
    /// Where messages come from, for logs and status.
    fn origin(&self) -> String;
}

/// Application properties read case-insensitively (HTTP headers carry them lower-cased).
pub fn property<'a>(properties: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}
