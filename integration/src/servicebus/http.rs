//! An `azure_core::HttpClient` that sits between the Service Bus SDK and the network.
//!
//! `azure_messaging_servicebus` 0.21 hard-codes two things we need to control:
//! the URL (`https://{namespace}.servicebus.windows.net/...`) and the authentication (every
//! request carries a freshly signed SAS token). It does, however, let us pass our own
//! `HttpClient`, so this wrapper rewrites each request just before it is sent:
//!
//! * with an endpoint configured, Service Bus URLs are redirected to it (tests, emulators);
//! * with a credential configured, the SAS `Authorization` header is replaced by a Microsoft
//!   Entra ID bearer token, which the Service Bus REST API accepts in place of SAS.

use azure_core::{
    auth::TokenCredential,
    error::{Error, ErrorKind},
    headers::AUTHORIZATION,
    HttpClient, Request, Response, Url,
};
use std::{sync::Arc, time::Duration};

/// OAuth scope of Service Bus data-plane operations, for Microsoft Entra ID tokens.
pub const SERVICE_BUS_SCOPE: &str = "https://servicebus.azure.net/.default";

/// Host suffix the SDK builds every URL with; only these URLs are redirected, so that token
/// requests to the Entra authority (should the credential share this client) and URLs that
/// already point at the endpoint (e.g. a lock `Location` returned by an emulator) pass through.
const SERVICE_BUS_HOST_SUFFIX: &str = ".servicebus.windows.net";

/// Prefix of the `Authorization` header the SDK signs; only such headers are replaced, so a
/// request that carries no SDK signature (e.g. a token request) never asks for a token itself.
const SAS_PREFIX: &str = "SharedAccessSignature ";

/// Connect timeout of [`RoutedHttpClient::reqwest_transport`]: fail fast when the namespace is
/// unreachable instead of hanging a publisher.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whole-request timeout of [`RoutedHttpClient::reqwest_transport`]; above the 60 s that a
/// peek-lock long poll (`?timeout=60`) may legitimately be held open by the broker.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(70);

/// Idle pooled connections are dropped after this long, well under the ~4 min idle timeout of
/// Azure's load balancers, so we do not reuse a connection the far end has silently closed
/// (the hang azure_core avoids by disabling pooling altogether).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// `HttpClient` handed to `QueueClient`/`TopicClient`: redirects Service Bus URLs to an optional
/// endpoint and swaps the SDK's SAS signature for an optional Entra ID bearer token, then sends
/// the request through an inner transport.
#[derive(Debug, Clone)]
pub struct RoutedHttpClient {
    inner: Arc<dyn HttpClient>,
    endpoint: Option<Url>,
    credential: Option<Arc<dyn TokenCredential>>,
}

impl RoutedHttpClient {
    /// Wraps `inner`.
    ///
    /// * `endpoint`: base URL (scheme, host, port and an optional path prefix) that replaces
    ///   `https://{namespace}.servicebus.windows.net`; path and query of the request are kept.
    ///   `None` sends requests to Azure unchanged.
    /// * `credential`: source of bearer tokens for [`SERVICE_BUS_SCOPE`]. `None` keeps the SAS
    ///   signature. Give the credential itself a plain transport (e.g. [`Self::inner`]), not
    ///   this client: its token requests must go to the Entra authority.
    pub fn new(
        inner: Arc<dyn HttpClient>,
        endpoint: Option<Url>,
        credential: Option<Arc<dyn TokenCredential>>,
    ) -> Self {
        Self {
            inner,
            endpoint,
            credential,
        }
    }

    /// Builds the transport to wrap: azure_core's reqwest implementation over a client with
    /// rustls, pooled connections and explicit timeouts (azure_core's default client has no
    /// timeouts at all and disables pooling).
    pub fn reqwest_transport() -> azure_core::Result<Arc<dyn HttpClient>> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| Error::full(ErrorKind::Other, e, "failed to build the HTTP client"))?;
        Ok(Arc::new(client))
    }

    /// The wrapped transport, e.g. to give to the token credential.
    pub fn inner(&self) -> Arc<dyn HttpClient> {
        self.inner.clone()
    }

    /// Returns `url` with scheme, host and port of the endpoint and its path prefix prepended,
    /// if `url` is a Service Bus URL and an endpoint is configured.
    fn route(&self, url: &Url) -> Option<Url> {
        let endpoint = self.endpoint.as_ref()?;
        let is_service_bus = url
            .host_str()
            .is_some_and(|h| h.to_ascii_lowercase().ends_with(SERVICE_BUS_HOST_SUFFIX));
        if !is_service_bus {
            return None;
        }
        // Joining strings rather than `Url::join` keeps the endpoint's path prefix (join would
        // drop it for the absolute paths the SDK uses) and the SDK's percent-encoding as is.
        let prefix = endpoint.path().trim_end_matches('/');
        let mut routed = endpoint.clone();
        routed.set_path(&format!("{prefix}{}", url.path()));
        routed.set_query(url.query());
        Some(routed)
    }
}

#[async_trait::async_trait]
impl HttpClient for RoutedHttpClient {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<Response> {
        let routed_url = self.route(request.url());
        let signed_with_sas = request
            .headers()
            .get_optional_str(&AUTHORIZATION)
            .is_some_and(|v| v.starts_with(SAS_PREFIX));
        let credential = self.credential.as_ref().filter(|_| signed_with_sas);

        if routed_url.is_none() && credential.is_none() {
            return self.inner.execute_request(request).await;
        }

        // The trait hands us `&Request`; the SDK's bodies are in-memory bytes, so a clone is cheap.
        let mut request = request.clone();
        if let Some(url) = routed_url {
            *request.url_mut() = url;
        }
        if let Some(credential) = credential {
            // The credential caches tokens and refreshes them shortly before they expire, so
            // asking on every request costs a lock, not a round trip.
            let token = credential.get_token(&[SERVICE_BUS_SCOPE]).await?;
            request.insert_header(AUTHORIZATION, format!("Bearer {}", token.token.secret()));
        }
        self.inner.execute_request(&request).await
    }
}
