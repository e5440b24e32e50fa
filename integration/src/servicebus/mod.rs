//! The Service Bus adapter of the ports: `azure_messaging_servicebus` 0.21 (the REST-based
//! SDK) over [`http::RoutedHttpClient`] (one pooled rustls client; an optional endpoint for
//! emulators and tests; Microsoft Entra ID bearer tokens from `azure_identity` in place of SAS).

pub mod http;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::auth::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::{HttpClient, StatusCode, Url};
use azure_messaging_servicebus::service_bus::{
    PeekLockResponse, QueueClient, SendMessageOptions, SettableBrokerProperties, TopicClient, TopicSender,
};

use crate::port::{CommandSource, Delivery, OutboundMessage, PublishError, Publisher, SourceError};
use http::RoutedHttpClient;

/// How the platform authenticates to the namespace.
#[derive(Clone)]
pub enum Authentication {
    /// A shared access policy and its key (signed per request by the SDK).
    SharedAccessKey {
        /// The policy's name, e.g. `RootManageSharedAccessKey`.
        policy: String,
        /// The key.
        key: String,
    },
    /// Microsoft Entra ID (managed or workload identity): a bearer token for
    /// `https://servicebus.azure.net/.default`.
    EntraId(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Never the key.
            Self::SharedAccessKey { policy, .. } => write!(f, "SharedAccessKey({policy})"),
            Self::EntraId(_) => write!(f, "EntraId"),
        }
    }
}

/// Where and how to reach Service Bus.
#[derive(Debug, Clone)]
pub struct ServiceBusSettings {
    /// The namespace (`<namespace>.servicebus.windows.net`).
    pub namespace: String,
    /// The topic events are published to.
    pub topic: String,
    /// The queue commands are received from (`None`: no command intake).
    pub queue: Option<String>,
    /// How to authenticate.
    pub authentication: Authentication,
    /// Another base URL to send every request to (an emulator, a test's endpoint).
    pub endpoint: Option<Url>,
    /// How long one receive waits for a message (the broker holds the request open).
    pub receive_wait: Duration,
}

impl ServiceBusSettings {
    /// The HTTP client every SDK client of these settings shares.
    pub fn http_client(&self) -> azure_core::Result<Arc<dyn HttpClient>> {
        let credential = match &self.authentication {
            Authentication::EntraId(credential) => Some(credential.clone()),
            Authentication::SharedAccessKey { .. } => None,
        };
        Ok(Arc::new(RoutedHttpClient::new(RoutedHttpClient::reqwest_transport()?, self.endpoint.clone(), credential)))
    }

    /// The policy name and key the SDK signs with (with Entra ID, placeholders: the signature
    /// is replaced by the bearer token before the request leaves).
    fn signing(&self) -> (String, String) {
        match &self.authentication {
            Authentication::SharedAccessKey { policy, key } => (policy.clone(), key.clone()),
            Authentication::EntraId(_) => ("entra-id".to_owned(), "unused".to_owned()),
        }
    }
}

/// Publishes to a topic.
#[derive(Debug, Clone)]
pub struct ServiceBusPublisher {
    sender: TopicSender,
    destination: String,
}

impl ServiceBusPublisher {
    /// A publisher to `settings.topic` over `http`.
    pub fn new(settings: &ServiceBusSettings, http: Arc<dyn HttpClient>) -> azure_core::Result<Self> {
        let (policy, key) = settings.signing();
        let client = TopicClient::new(http, &settings.namespace, &settings.topic, policy, key)?;
        Ok(Self { sender: client.topic_sender(), destination: format!("sb://{}/{}", settings.namespace, settings.topic) })
    }
}

/// Whether an HTTP status from the broker refuses this message for good. Only a message's own
/// fault counts (400: malformed, 413: too large): a missing topic (404), a credential being
/// rotated or a role assignment propagating (401, 403), throttling (429) or the service's own
/// failure (5xx) would refuse every message alike, and parking the whole log for a
/// configuration mistake would be worse than waiting for it to be fixed.
fn refuses_the_message(status: u16) -> bool {
    matches!(status, 400 | 413)
}

#[async_trait]
impl Publisher for ServiceBusPublisher {
    async fn publish(&self, message: &OutboundMessage) -> Result<(), PublishError> {
        let options = SendMessageOptions {
            content_type: Some("application/json".to_owned()),
            broker_properties: Some(SettableBrokerProperties {
                message_id: Some(message.message_id.clone()),
                session_id: Some(message.session_id.clone()),
                correlation_id: message.correlation_id.clone(),
                label: Some(message.label.clone()),
                ..Default::default()
            }),
            custom_properties: Some(message.properties.clone().into_iter().collect()),
        };
        match self.sender.send_message(&message.body, Some(options)).await {
            Ok(()) => Ok(()),
            Err(err) => Err(match err.kind() {
                ErrorKind::HttpResponse { status, .. } if refuses_the_message(u16::from(*status)) => {
                    PublishError::Refused { status: u16::from(*status), reason: err.to_string() }
                }
                _ => PublishError::Transient(err.to_string()),
            }),
        }
    }

    fn destination(&self) -> String {
        self.destination.clone()
    }
}

/// Receives from a queue with peek-lock.
#[derive(Debug, Clone)]
pub struct ServiceBusCommandSource {
    client: QueueClient,
    wait: Duration,
    origin: String,
}

impl ServiceBusCommandSource {
    /// A source reading `queue` over `http`.
    pub fn new(settings: &ServiceBusSettings, queue: &str, http: Arc<dyn HttpClient>) -> azure_core::Result<Self> {
        let (policy, key) = settings.signing();
        let client = QueueClient::new(http, &settings.namespace, queue, policy, key)?;
        Ok(Self { client, wait: settings.receive_wait, origin: format!("sb://{}/{queue}", settings.namespace) })
    }
}

/// Headers of a received message that are the HTTP exchange's or the broker's, not the
/// sender's application properties.
const STANDARD_HEADERS: [&str; 12] = [
    "brokerproperties",
    "location",
    "date",
    "content-type",
    "content-length",
    "server",
    "transfer-encoding",
    "connection",
    "strict-transport-security",
    "x-ms-request-id",
    "keep-alive",
    "authorization",
];

#[async_trait]
impl CommandSource for ServiceBusCommandSource {
    async fn receive(&self) -> Result<Option<Box<dyn Delivery>>, SourceError> {
        let response = self.client.peek_lock_message2(Some(self.wait)).await.map_err(|e| SourceError(e.to_string()))?;
        // The SDK does not check the status: 204 is an empty queue, and anything but 201 is a
        // failure that must not be mistaken for a message.
        match *response.status() {
            StatusCode::NoContent => return Ok(None),
            StatusCode::Created | StatusCode::Ok => {}
            other => return Err(SourceError(format!("receive from {} answered {}", self.origin, u16::from(other)))),
        }
        let Some(broker) = response.broker_properties() else {
            return Err(SourceError(format!("a message from {} came without BrokerProperties", self.origin)));
        };
        let headers: azure_core::headers::Headers =
            response.custom_properties().map_err(|e: std::convert::Infallible| SourceError(e.to_string()))?;
        let properties = headers
            .iter()
            .map(|(name, value)| (name.as_str().to_ascii_lowercase(), value.as_str()))
            .filter(|(name, _)| !STANDARD_HEADERS.contains(&name.as_str()))
            // The service sends string properties JSON-quoted.
            .map(|(name, value)| (name, value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value).to_owned()))
            .collect();
        Ok(Some(Box::new(ServiceBusDelivery {
            message_id: broker.message_id.clone(),
            delivery_count: broker.delivery_count.max(0) as u32,
            body: response.body(),
            properties,
            response,
        })))
    }

    fn origin(&self) -> String {
        self.origin.clone()
    }
}

/// A peek-locked Service Bus message.
struct ServiceBusDelivery {
    message_id: String,
    delivery_count: u32,
    body: String,
    properties: BTreeMap<String, String>,
    response: PeekLockResponse,
}

#[async_trait]
impl Delivery for ServiceBusDelivery {
    fn message_id(&self) -> &str {
        &self.message_id
    }

    fn body(&self) -> &str {
        &self.body
    }

    fn property(&self, name: &str) -> Option<&str> {
        crate::port::property(&self.properties, name)
    }

    fn delivery_count(&self) -> u32 {
        self.delivery_count
    }

    async fn complete(&self) -> Result<(), SourceError> {
        self.response.delete_message().await.map(drop).map_err(|e| SourceError(e.to_string()))
    }

    async fn abandon(&self) -> Result<(), SourceError> {
        self.response.unlock_message().await.map_err(|e| SourceError(e.to_string()))
    }

    async fn renew(&self) -> Result<(), SourceError> {
        self.response.renew_message_lock().await.map_err(|e| SourceError(e.to_string()))
    }
}
