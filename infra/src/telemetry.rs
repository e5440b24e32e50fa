//! Logs and metrics: the `tracing` subscriber the server runs with, the process-wide
//! Prometheus recorder and the `/metrics` exposition.
//!
//! The command bus counts commands and times them (`commands_total`,
//! `command_duration_seconds`); projection checkpoints and lag are read on each scrape, so
//! they are exact at scrape time rather than sampled.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use projections::live::LiveFeed;
use projections::ProjectionRunner;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the server's log subscriber (`RUST_LOG`, default `info,sqlx=warn`) writing to
/// `writer`. Benchmarks install it too (writing nowhere): spans cost what they cost in `serve`.
pub fn init_tracing<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).try_init();
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

/// Sets the projection gauges from the runners' current status and renders the exposition.
pub async fn render(handle: &PrometheusHandle, runners: &[ProjectionRunner], feed: &LiveFeed) -> String {
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
                metrics::gauge!("projection_checkpoint_position", "projection" => name)
                    .set(status.checkpoint.global_position as f64);
            }
            Err(err) => {
                tracing::warn!(projection = runner.name(), error = %err, "projection status unavailable for /metrics")
            }
        }
    }
    handle.render()
}
