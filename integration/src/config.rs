//! Which integration adapter runs, from configuration. With no namespace the server runs
//! without Service Bus (and says so at start); with one, events are relayed to its topic and,
//! with a queue, commands are taken from it.

use std::time::Duration;

use azure_core::Url;

use crate::error::IntegrationError;
use crate::servicebus::{Authentication, ServiceBusSettings};

/// The Service Bus settings as configured (`APP_SERVICEBUS_*`).
#[derive(Debug, Clone, Default)]
pub struct ServiceBusConfig {
    /// `<namespace>` of `<namespace>.servicebus.windows.net`; `None`: no Service Bus.
    pub namespace: Option<String>,
    /// The topic events go to.
    pub topic: String,
    /// The queue commands come from (`None` or empty: no command intake).
    pub queue: Option<String>,
    /// A shared access policy's name (with `sas_key`); without both, Microsoft Entra ID.
    pub sas_policy: Option<String>,
    /// The policy's key.
    pub sas_key: Option<String>,
    /// Another base URL for every request (an emulator, a test's endpoint).
    pub endpoint: Option<String>,
    /// How long one receive waits for a message, in seconds.
    pub receive_wait_seconds: u64,
}

impl ServiceBusConfig {
    /// The adapter's settings; `None` when no namespace is configured. Without a shared access
    /// key the credential is `azure_identity`'s own chain (`AZURE_CREDENTIAL_KIND`, else the
    /// environment, workload identity, managed identity, Azure CLI).
    pub fn settings(&self) -> Result<Option<ServiceBusSettings>, IntegrationError> {
        let Some(namespace) = self.namespace.as_deref().map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if !namespace.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(IntegrationError::Configuration(format!(
                "APP_SERVICEBUS_NAMESPACE {namespace:?} is not a namespace name (give `<name>`, not a URL)"
            )));
        }
        let authentication = match (&self.sas_policy, &self.sas_key) {
            (Some(policy), Some(key)) => Authentication::SharedAccessKey { policy: policy.clone(), key: key.clone() },
            (None, None) => Authentication::EntraId(azure_identity::create_credential()?),
            _ => {
                return Err(IntegrationError::Configuration(
                    "APP_SERVICEBUS_SAS_POLICY and APP_SERVICEBUS_SAS_KEY go together".to_owned(),
                ))
            }
        };
        let endpoint = self
            .endpoint
            .as_deref()
            .map(|e| Url::parse(e).map_err(|err| IntegrationError::Configuration(format!("APP_SERVICEBUS_ENDPOINT: {err}"))))
            .transpose()?;
        Ok(Some(ServiceBusSettings {
            namespace: namespace.to_owned(),
            topic: self.topic.clone(),
            queue: self.queue.clone().filter(|q| !q.trim().is_empty()),
            authentication,
            endpoint,
            receive_wait: Duration::from_secs(self.receive_wait_seconds.clamp(1, 60)),
        }))
    }
}
