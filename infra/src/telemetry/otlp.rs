//! Traces out over OTLP/HTTP, switched on by the standard `OTEL_*` variables.
//!
//! Export is on when an endpoint is named (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as is,
//! or `OTEL_EXPORTER_OTLP_ENDPOINT`, to which `/v1/traces` is appended) and neither
//! `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says otherwise. Without an
//! endpoint nothing is built: a server nobody pointed at a collector runs exactly as before,
//! rather than retrying `localhost:4318` forever as the SDK's default would.
//!
//! Layout: [`OtlpSettings::from_env`] (the variables, read once, pure so it is tested without
//! touching the process environment), [`tracer_provider`] (exporter, batch processor and
//! resource), [`RuntimeClient`] (the exporter's HTTP client).
//!
//! The variables the exporter and SDK read themselves keep working: `OTEL_EXPORTER_OTLP_HEADERS`
//! (e.g. an API key), `OTEL_BSP_*` (batching), `OTEL_TRACES_SAMPLER`, `OTEL_RESOURCE_ATTRIBUTES`.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// The `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "runtime-platform";

/// The largest collector answer read: answers are a few bytes of partial-success status, and a
/// misbehaving endpoint must not make the exporter buffer without bound.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Why traces cannot be exported as configured. The server then runs without export and logs
/// this, rather than refusing to start over its telemetry.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// A protocol this build does not speak (gRPC is not built in: it would bring tonic).
    #[error(
        "{variable}={value:?} is not supported: use http/protobuf (the collector's OTLP/HTTP port, \
         4318) or http/json"
    )]
    Protocol {
        /// The variable that named it.
        variable: &'static str,
        /// What it said.
        value: String,
    },
    /// A timeout that is not a number of milliseconds.
    #[error("{variable}={value:?} is not a number of milliseconds")]
    Timeout {
        /// The variable that named it.
        variable: &'static str,
        /// What it said.
        value: String,
    },
    /// The exporter refused its configuration (e.g. a malformed endpoint).
    #[error("building the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// No tokio runtime to send from: `init_tracing` was called outside one.
    #[error("no tokio runtime to export from (init_tracing was called outside one)")]
    NoRuntime,
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Where and how to export, read from the `OTEL_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The full URL spans are POSTed to (`…/v1/traces`).
    pub endpoint: String,
    /// Protobuf (the OTLP default) or JSON.
    pub protocol: Protocol,
    /// How long one export may take (`OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`, default 10 s).
    pub timeout: Duration,
}

impl OtlpSettings {
    /// `None` when export is off; `get` reads one variable (empty counts as unset, as the
    /// OpenTelemetry specification says).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, OtlpError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        // A comma-separated list; `none` switches traces off whatever else it names.
        if get("OTEL_TRACES_EXPORTER").is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("none"))) {
            return Ok(None);
        }
        let endpoint = match (get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(traces), _) => traces,
            (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        let protocol =
            match signal_or_general(&get, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") {
                None => Protocol::HttpBinary,
                Some((_, value)) if value.eq_ignore_ascii_case("http/protobuf") => Protocol::HttpBinary,
                Some((_, value)) if value.eq_ignore_ascii_case("http/json") => Protocol::HttpJson,
                Some((variable, value)) => return Err(OtlpError::Protocol { variable, value }),
            };
        let timeout = match signal_or_general(&get, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") {
            None => Duration::from_secs(10),
            Some((variable, value)) => {
                Duration::from_millis(value.parse().map_err(|_| OtlpError::Timeout { variable, value })?)
            }
        };
        Ok(Some(Self { endpoint, protocol, timeout }))
    }

    /// The protocol as the variables spell it, for the log.
    pub fn protocol_name(&self) -> &'static str {
        match self.protocol {
            Protocol::HttpJson => "http/json",
            _ => "http/protobuf",
        }
    }
}

/// The signal-specific variable if set, else the general one; with the name that was read.
fn signal_or_general(
    get: &impl Fn(&str) -> Option<String>,
    signal: &'static str,
    general: &'static str,
) -> Option<(&'static str, String)> {
    get(signal).map(|v| (signal, v)).or_else(|| get(general).map(|v| (general, v)))
}

/// A tracer provider exporting to `settings` in batches (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s,
/// is how long a span may wait). Must be called inside the tokio runtime the exports will use.
pub fn tracer_provider(settings: &OtlpSettings) -> Result<SdkTracerProvider, OtlpError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| OtlpError::NoRuntime)?;
    let client = RuntimeClient { client: reqwest::Client::builder().timeout(settings.timeout).build()?, runtime };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(settings.endpoint.clone())
        .with_protocol(settings.protocol)
        .with_timeout(settings.timeout)
        .build()?;
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource()).build())
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), named
/// [`DEFAULT_SERVICE_NAME`] where neither names the service (the SDK would say
/// `unknown_service`, which no one finds in a trace backend).
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_service_name(DEFAULT_SERVICE_NAME).build()
    }
}

/// The exporter's HTTP client: the workspace's reqwest (rustls), driven on the server's tokio
/// runtime.
///
/// Why not the exporter's own clients: they are reqwest 0.13 (a second HTTP and TLS stack in the
/// binary) or blocking. Why spawn onto `runtime`: the SDK's batch processor exports from a
/// thread of its own, outside any runtime, where reqwest's async client cannot run; the
/// processor's thread only waits for the answer.
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let (status, headers, body) = self
            .runtime
            .spawn(async move {
                let mut response = client.execute(request).await?;
                let status = response.status();
                let headers = std::mem::take(response.headers_mut());
                let mut body = Vec::new();
                while let Some(chunk) = response.chunk().await? {
                    if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Err(HttpError::from(format!("collector answer over {MAX_RESPONSE_BYTES} bytes")));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok((status, headers, Bytes::from(body)))
            })
            .await??;
        let mut response = Response::builder().status(status).body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<OtlpSettings>, OtlpError> {
        OtlpSettings::from_env(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn without_an_endpoint_nothing_is_exported() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).unwrap(), None);
        assert_eq!(settings(&[("OTEL_SERVICE_NAME", "x")]).unwrap(), None);
    }

    #[test]
    fn the_general_endpoint_gets_the_traces_path() {
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap().unwrap();
        assert_eq!(s.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(s.protocol, Protocol::HttpBinary);
        assert_eq!(s.timeout, Duration::from_secs(10));
    }

    #[test]
    fn the_traces_endpoint_is_used_as_is_and_wins() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://b/otlp/traces"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.endpoint, "https://b/otlp/traces");
    }

    #[test]
    fn none_or_a_disabled_sdk_switches_export_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318");
        assert_eq!(settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]).unwrap(), None);
        assert_eq!(settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "otlp,none")]).unwrap(), None);
        assert_eq!(settings(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]).unwrap(), None);
        assert!(settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "otlp")]).unwrap().is_some());
    }

    #[test]
    fn json_is_spoken_and_grpc_is_refused_by_name() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318");
        let json = settings(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap().unwrap();
        assert_eq!(json.protocol_name(), "http/json");
        let signal_wins = settings(&[
            endpoint,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ]);
        assert_eq!(signal_wins.unwrap().unwrap().protocol, Protocol::HttpBinary);
        let err = settings(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err();
        assert!(err.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\""), "{err}");
    }

    #[test]
    fn a_timeout_is_milliseconds() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318");
        let s = settings(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]).unwrap().unwrap();
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert!(matches!(
            settings(&[endpoint, ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2s")]),
            Err(OtlpError::Timeout { variable: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", .. })
        ));
    }
}
