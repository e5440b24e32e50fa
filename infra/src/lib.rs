//! The host: configuration, PostgreSQL wiring, the HTTP server and the CLI's building blocks.
//!
//! Layout:
//! - [`auth`]: settings -> the API's authentication mode and limits; token minting.
//! - [`config`]: the CLI and its settings (flags, with `APP_*`/`DATABASE_URL` env overrides).
//! - [`local_postgres`]: a private PostgreSQL cluster for `serve` without `DATABASE_URL`.
//! - [`database`]: pool, embedded migrations, readiness.
//! - [`server`]: the API routes (`/graphql`), the operations routes (`/healthz`, `/readyz`,
//!   `/metrics`, on their own listener) and the background projection runners.
//! - [`telemetry`]: logs, OTLP trace export (`OTEL_*`), Prometheus metrics on `/metrics`.

pub mod auth;
pub mod config;
pub mod database;
pub mod local_postgres;
pub mod server;
pub mod telemetry;

/// The API's configuration, as `serve` builds it.
pub use graphql::{ApiConfig, WsConfig};
