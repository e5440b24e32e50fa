//! The command line: `serve`, `migrate`, `rebuild`. Every flag also reads an environment
//! variable, so containers configure it without arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Runtime & Cloud Platform control plane.
#[derive(Debug, Parser)]
#[command(name = "runtime-platform", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the API (GraphQL, health) with the projectors running.
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate(DatabaseArgs),
    /// Replay the whole log into a projection (all of them when none is named).
    Rebuild(RebuildArgs),
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. When absent, a private cluster is started from the installed
    /// PostgreSQL binaries under `--data-dir`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Data directory of the private cluster (used only without a database URL).
    #[arg(long, env = "APP_DATA_DIR", default_value = ".data/postgres")]
    pub data_dir: PathBuf,
    /// Port of the private cluster (listens on 127.0.0.1 only).
    #[arg(long, env = "APP_PG_PORT", default_value_t = 54329)]
    pub pg_port: u16,
    /// Largest number of pooled connections.
    #[arg(long, env = "APP_DB_MAX_CONNECTIONS", default_value_t = 32)]
    pub max_connections: u32,
}

/// `serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "APP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `rebuild` settings.
#[derive(Debug, Clone, Args)]
pub struct RebuildArgs {
    /// The projection to rebuild (e.g. `environments`); all when absent.
    pub projection: Option<String>,
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseArgs,
}
