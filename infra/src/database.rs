//! PostgreSQL wiring: the pool, the embedded migrations and the readiness check.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::PgPool;

/// The SQL migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Opens a pool to `url` with at most `max_connections` connections.
///
/// No ping before each acquire (sqlx's default): it would add a round trip to every query,
/// doubling the hot path's two. A dead connection fails its next query and is discarded.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let mut options: PgConnectOptions = url.parse()?;
    // TLS to a server on this machine only costs CPU on both sides of every query (sqlx's
    // default is `prefer`); an explicit `sslmode` in the URL still wins.
    let loopback =
        matches!(options.get_host(), "localhost" | "127.0.0.1" | "::1") || options.get_host().starts_with('/');
    if loopback && !url.contains("sslmode=") {
        options = options.ssl_mode(PgSslMode::Disable);
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        // The hot path's statements are prepared once per connection; a generic plan skips
        // re-planning them on every execution (planning cost more than executing them).
        .connect_with(options.application_name("runtime-platform").options([("plan_cache_mode", "force_generic_plan")]))
        .await
}

/// Applies the migrations not applied yet.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Why the service is not ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// The database does not answer.
    #[error("database unreachable: {0}")]
    Unreachable(#[from] sqlx::Error),
    /// Some migrations of this binary are not applied.
    #[error("{missing} migration(s) not applied")]
    MigrationsPending {
        /// How many.
        missing: usize,
    },
}

/// Ready means: the database answers and every migration this binary embeds is applied.
pub async fn check_ready(pool: &PgPool) -> Result<(), NotReady> {
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await
        .or_else(|e| match &e {
            // No migrations table yet: nothing applied.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(Vec::new()),
            _ => Err(e),
        })?;
    let missing = MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).count();
    if missing > 0 {
        return Err(NotReady::MigrationsPending { missing });
    }
    Ok(())
}
