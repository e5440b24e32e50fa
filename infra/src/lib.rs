//! The host: configuration, PostgreSQL wiring, the HTTP server and the CLI's building blocks.
//!
//! Layout:
//! - [`config`]: the CLI and its settings (flags, with `APP_*`/`DATABASE_URL` env overrides).
//! - [`local_postgres`]: a private PostgreSQL cluster for `serve` without `DATABASE_URL`.
//! - [`database`]: pool, embedded migrations, readiness.
//! - [`server`]: the axum app (`/graphql`, `/healthz`, `/readyz`) and the background
//!   projection runners.
//! - [`telemetry`]: Prometheus metrics on `/metrics`.

pub mod config;
pub mod database;
pub mod local_postgres;
pub mod server;
pub mod telemetry;
