//! Errors of the integration edge.

use thiserror::Error;

/// Why an integration operation failed.
#[derive(Debug, Error)]
pub enum IntegrationError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// What was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The configuration is incomplete or contradicts itself.
    #[error("configuration: {0}")]
    Configuration(String),
    /// The Azure SDK could not be set up.
    #[error("azure: {0}")]
    Azure(#[from] azure_core::Error),
}
