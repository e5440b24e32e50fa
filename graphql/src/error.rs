//! The one error type at the API edge. Each variant has a stable `extensions.code`; storage
//! details are logged with the trace id and never sent to the client.

use async_graphql::ErrorExtensions;
use commands::CommandError;
use thiserror::Error;

/// An error as a GraphQL client sees it.
#[derive(Debug, Error)]
pub enum ApiError {
    /// A value in the request is malformed (code `INVALID_INPUT`).
    #[error("{0}")]
    InvalidInput(String),
    /// Nothing with that id exists, or it is not visible to the caller (code `NOT_FOUND`).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (code `FORBIDDEN`).
    #[error("{0}")]
    Forbidden(String),
    /// A command did not take effect (code from the command error).
    #[error("{0}")]
    Command(#[from] CommandError),
    /// Something failed inside; the message says only that (code `INTERNAL`).
    #[error("internal error (trace id {trace_id})")]
    Internal {
        /// The trace id under which the cause was logged.
        trace_id: String,
    },
}

impl ApiError {
    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "INVALID_INPUT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::Command(e) => e.code(),
            Self::Internal { .. } => "INTERNAL",
        }
    }

    /// Logs `err` under `trace_id` and returns an error that does not reveal it.
    pub fn internal(trace_id: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(trace_id, error = %err, "internal error");
        Self::Internal { trace_id: trace_id.to_owned() }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            // Storage failures inside a command are not for clients either.
            Self::Command(CommandError::Store(_)) => "internal error: the command was not applied".to_owned(),
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", self.code());
            if let Self::Command(CommandError::Rejected { kind, .. }) = self {
                e.set("reason", format!("{kind:?}"));
            }
        })
    }
}

/// Turns any `ApiError` result into an async-graphql result with extensions.
pub trait IntoGraphql<T> {
    /// Converts, attaching `extensions.code`.
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> IntoGraphql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| {
            let e: ApiError = e.into();
            if let ApiError::Command(CommandError::Store(inner)) = &e {
                tracing::error!(error = %inner, "command storage failure");
            }
            e.extend()
        })
    }
}
