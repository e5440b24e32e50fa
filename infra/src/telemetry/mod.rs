//! Logs, traces and metrics: the `tracing` subscriber the server runs with, the OTLP export of
//! its spans, the process-wide Prometheus recorder and the `/metrics` exposition.
//!
//! Layout: [`init_tracing`] installs the subscriber (logs to a writer; spans to an OTLP
//! collector when the `OTEL_*` variables name one, see [`otlp`]) and returns the [`Telemetry`]
//! to shut down at exit; then the metrics.
//!
//! The command bus counts commands and times them (`commands_total`,
//! `command_duration_seconds`); projection checkpoints and lag are read on each scrape, so
//! they are exact at scrape time rather than sampled.
//!
//! The command bus makes a command's W3C trace id its span's OpenTelemetry trace id, so a trace
//! started in a portal (`traceparent`) continues in the exported spans of the bus, the store
//! and whatever runs inside the command's span.

pub mod otlp;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use projections::live::LiveFeed;
use projections::ProjectionRunner;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

use self::otlp::OtlpSettings;

/// How long shutdown waits for the last spans to reach the collector.
const FLUSH_WITHIN: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// What [`init_tracing`] installed beyond the log: the tracer provider when spans are exported.
/// Dropping it without [`Telemetry::shutdown`] loses the spans of the last batch.
pub struct Telemetry {
    export: Export,
}

/// Whether spans leave the process.
enum Export {
    /// No collector named, or switched off by the standard variables.
    Off,
    /// Exporting to `settings`.
    On(OtlpSettings, SdkTracerProvider),
    /// Configured but impossible; why.
    Failed(String),
}

impl Telemetry {
    /// Logs whether and where spans go. `serve` says it at start; the one-shot commands do not,
    /// so that `token` prints its token alone.
    pub fn report(&self) {
        match &self.export {
            Export::On(settings, _) => tracing::info!(
                endpoint = %settings.endpoint,
                protocol = settings.protocol_name(),
                "exporting traces over OTLP"
            ),
            Export::Off => tracing::info!("traces are not exported (no OTEL_EXPORTER_OTLP_ENDPOINT, or switched off)"),
            // An error in the log, not a refusal to start: the server is worth more running
            // without traces than not running.
            Export::Failed(why) => tracing::error!(error = %why, "traces are not exported"),
        }
    }

    /// Sends the spans still batched and stops the exporter (at most [`FLUSH_WITHIN`]).
    pub async fn shutdown(self) {
        let Export::On(_, provider) = self.export else { return };
        // Blocking: the batch processor's thread exports and this waits for it, while the export
        // itself runs on this runtime (see `otlp::RuntimeClient`), so not on a runtime worker.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_WITHIN)).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "the last spans may not have reached the OTLP collector"),
            Err(err) => tracing::warn!(error = %err, "shutting down the OTLP exporter failed"),
        }
    }
}

/// Installs the server's subscriber: logs (`RUST_LOG`, default `info,sqlx=warn`) written to
/// `writer`, and, when the `OTEL_*` variables name a collector, the same spans exported over
/// OTLP. Call it inside the tokio runtime (exports run on it). Benchmarks install it too
/// (writing nowhere): spans cost what they cost in `serve`.
pub fn init_tracing<W>(writer: W) -> Telemetry
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let exported = OtlpSettings::from_env(|name| std::env::var(name).ok()).and_then(|settings| {
        settings.map(|settings| otlp::tracer_provider(&settings).map(|provider| (settings, provider))).transpose()
    });
    let traces = exported.as_ref().ok().and_then(Option::as_ref).map(|(_, provider)| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("runtime-platform"))
            // The exporter's own HTTP requests would otherwise be spans exported in turn.
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| !is_export_machinery(meta.target())))
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(writer))
        .with(traces)
        .try_init()
        .is_ok();
    let export = match exported {
        Ok(Some(_)) if !installed => Export::Failed("a tracing subscriber was already installed".into()),
        Ok(Some((settings, provider))) => Export::On(settings, provider),
        Ok(None) => Export::Off,
        Err(err) => Export::Failed(err.to_string()),
    };
    Telemetry { export }
}

/// Targets whose spans are the export itself (HTTP client, SDK).
fn is_export_machinery(target: &str) -> bool {
    ["hyper", "reqwest", "h2", "opentelemetry"].iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
    })
}

/// The process-wide recorder's handle, installing the recorder on first use.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests in one process): keep ours
            // for rendering anyway; it then only shows the projection gauges set below.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Sets the projection and horizon gauges from the runners' current status and the database,
/// and renders the exposition.
pub async fn render(handle: &PrometheusHandle, pool: &sqlx::PgPool, runners: &[ProjectionRunner], feed: &LiveFeed) -> String {
    // The live feed's cost: its reads of the log must not grow with its subscribers.
    metrics::gauge!("live_subscribers").set(feed.subscribers() as f64);
    metrics::gauge!("live_feed_reads").set(feed.reads() as f64);
    for runner in runners {
        match runner.status().await {
            Ok(status) => {
                let name = status.name.clone();
                metrics::gauge!("projection_lag_events", "projection" => name.clone()).set(status.lag_events as f64);
                metrics::gauge!("projection_lag_seconds", "projection" => name.clone())
                    .set(status.lag_ms as f64 / 1000.0);
                metrics::gauge!("projection_events_applied", "projection" => name.clone())
                    .set(status.events_applied as f64);
                metrics::gauge!("projection_held_events", "projection" => name.clone())
                    .set(status.held_events as f64);
                metrics::gauge!("projection_checkpoint_position", "projection" => name)
                    .set(status.checkpoint.global_position as f64);
            }
            Err(err) => {
                tracing::warn!(projection = runner.name(), error = %err, "projection status unavailable for /metrics")
            }
        }
    }
    horizon_gauges(pool).await;
    handle.render()
}

/// The xmin horizon's hold on every reader: held events, for how long, and how long the
/// transaction holding them has been open; warns with that transaction's identity once the
/// readers have been held for [`projections::horizon::STALL_AFTER`] (a scrape every 15 s logs it every 15 s while it
/// lasts, which is what an operator wants from a stall).
async fn horizon_gauges(pool: &sqlx::PgPool) {
    let hold = match pool.acquire().await {
        Ok(mut conn) => projections::horizon::hold(&mut conn).await,
        Err(err) => Err(err),
    };
    let hold = match hold {
        Ok(hold) => hold,
        Err(err) => return tracing::warn!(error = %err, "log horizon unavailable for /metrics"),
    };
    metrics::gauge!("log_horizon_held_events").set(hold.held_events as f64);
    metrics::gauge!("log_horizon_held_seconds").set(hold.held_ms as f64 / 1000.0);
    metrics::gauge!("log_horizon_holder_open_seconds")
        .set(hold.holder.as_ref().map_or(0.0, |h| h.open_ms as f64 / 1000.0));
    if hold.stalled() {
        let holder = hold.holder.as_ref();
        tracing::warn!(
            held_events = hold.held_events,
            held_ms = hold.held_ms,
            holder_pid = holder.and_then(|h| h.pid),
            holder_database = holder.and_then(|h| h.database.as_deref()),
            holder_application = holder.and_then(|h| h.application.as_deref()),
            holder_state = holder.and_then(|h| h.state.as_deref()),
            holder_open_ms = holder.map(|h| h.open_ms),
            "projections and reactors are held back by a transaction left open in the cluster"
        );
    }
}
