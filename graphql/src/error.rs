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
    /// The caller may not do this (code `FORBIDDEN`; HTTP 403 when a whole document is refused).
    #[error("{0}")]
    Forbidden(String),
    /// No identity, or a token that does not verify (code `UNAUTHENTICATED`, HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller sent more requests than its rate allows (code `RATE_LIMITED`, HTTP 429).
    #[error("too many requests; retry after {retry_after_seconds} s")]
    RateLimited {
        /// When the next request would be admitted.
        retry_after_seconds: u64,
    },
    /// The body is larger than the server accepts (code `PAYLOAD_TOO_LARGE`, HTTP 413).
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request's content type is not one GraphQL over HTTP accepts (code
    /// `UNSUPPORTED_MEDIA_TYPE`, HTTP 415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The client accepts no media type the server can answer in (code `NOT_ACCEPTABLE`, HTTP 406).
    #[error("{0}")]
    NotAcceptable(String),
    /// A GET request that would change state (code `METHOD_NOT_ALLOWED`, HTTP 405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The document is refused before it is parsed or run: nesting, persisted-query rules
    /// (code `GRAPHQL_VALIDATION_FAILED` or `PERSISTED_QUERY_NOT_FOUND`).
    #[error("{message}")]
    Refused {
        /// The stable code.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The operation ran longer than the server allows (code `TIMEOUT`).
    #[error(
        "the operation took longer than {seconds} s and was stopped; a mutation may still have committed, \
             retry it with its idempotency key"
    )]
    Timeout {
        /// The limit in seconds.
        seconds: u64,
    },
    /// A read asked for `minPosition` and the projection it reads had not applied it within
    /// the wait bound (code `PROJECTION_LAG`; HTTP 503 when a whole request is refused).
    #[error("the {projection} read model has not reached minPosition within {seconds}s; retry")]
    ProjectionLag {
        /// The projection waited for.
        projection: String,
        /// How long the request waited.
        seconds: u64,
    },
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
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::NotAcceptable(_) => "NOT_ACCEPTABLE",
            Self::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            Self::Refused { code, .. } => code,
            Self::Timeout { .. } => "TIMEOUT",
            Self::ProjectionLag { .. } => "PROJECTION_LAG",
            Self::Command(e) => e.code(),
            Self::Internal { .. } => "INTERNAL",
        }
    }

    /// The HTTP status of a request refused as a whole with this error.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            Self::Unauthenticated(_) => S::UNAUTHORIZED,
            Self::Forbidden(_) => S::FORBIDDEN,
            Self::RateLimited { .. } => S::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => S::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable(_) => S::NOT_ACCEPTABLE,
            Self::MethodNotAllowed(_) => S::METHOD_NOT_ALLOWED,
            Self::Internal { .. } | Self::Command(CommandError::Store(_)) => S::INTERNAL_SERVER_ERROR,
            Self::Timeout { .. } => S::GATEWAY_TIMEOUT,
            Self::ProjectionLag { .. } => S::SERVICE_UNAVAILABLE,
            _ => S::BAD_REQUEST,
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
