//! Why a token was refused ([`AuthError`], safe to send back to the caller) and why a verifier
//! or a minted token could not be set up ([`ConfigError`], for the operator).

use thiserror::Error;

/// Why a bearer token did not yield an [`crate::Identity`].
///
/// Every message is safe to show to the client: no key material, no token content beyond the
/// algorithm name, no URL but the configured issuer. Details worth an operator's attention
/// (an unreachable issuer, a malformed published key) are logged where they happen.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The request carried no `Authorization` header.
    #[error("missing bearer token")]
    MissingCredentials,
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the authorization header must be 'Bearer <token>'")]
    MalformedHeader,
    /// The token is not a well-formed signed JWT (three base64url parts, JSON header and claims).
    #[error("the bearer token is not a well-formed JWT")]
    MalformedToken,
    /// The signature does not verify with the key the token names.
    #[error("the token's signature does not verify")]
    InvalidSignature,
    /// `exp` is in the past, beyond the allowed clock skew.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the allowed clock skew.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The token has no (numeric) `exp`: a token that never expires is never accepted.
    #[error("the token has no expiry")]
    MissingExpiry,
    /// `iss` is missing or is not the configured issuer.
    #[error("the token was not issued by {expected}")]
    WrongIssuer {
        /// The configured issuer, which the client may be told.
        expected: String,
    },
    /// `aud` is missing or does not name this service.
    #[error("the token is not meant for this service")]
    WrongAudience,
    /// The token names a signing key (`kid`) the issuer does not publish, even after a refetch
    /// of its keys (or it names none).
    #[error("the token's signing key is not one the issuer publishes")]
    UnknownKey,
    /// The token's `alg` is not one this verifier accepts (HS256 for a local key; RS256 or
    /// ES256 for an OIDC issuer; never `none`).
    #[error("signing algorithm {0} is not accepted here")]
    DisallowedAlgorithm(String),
    /// No signing keys of the issuer are known yet and fetching them failed; retrying later
    /// may succeed.
    #[error("the issuer's signing keys are unavailable; try again later")]
    KeysUnavailable,
    /// The subject claim (or the user name claim used for the actor) is missing or does not
    /// make a valid actor name.
    #[error("the token's {claim} claim does not identify a caller")]
    InvalidSubject {
        /// The claim's name.
        claim: String,
    },
    /// The roles claim is not a list of strings.
    #[error("the token's {claim} claim is not a list of role names")]
    InvalidRoles {
        /// The claim's name.
        claim: String,
    },
    /// The roles claim names none of the platform's roles.
    #[error("the token grants none of the platform's roles")]
    NoKnownRole,
    /// The tenants claim is not a list of valid tenant ids.
    #[error("the token's {claim} claim is not a list of valid tenant ids")]
    InvalidTenants {
        /// The claim's name.
        claim: String,
    },
    /// A TenantOperator token names no tenant, so it could operate nothing.
    #[error("a TenantOperator token must name at least one tenant")]
    NoTenant,
}

impl AuthError {
    /// The stable code the API reports: `UNAUTHENTICATED` when the caller could not be
    /// identified (every token problem, including unavailable keys), `FORBIDDEN` when a valid
    /// token identifies the caller but grants no usable role or tenant.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidRoles { .. }
            | AuthError::NoKnownRole
            | AuthError::InvalidTenants { .. }
            | AuthError::NoTenant => "FORBIDDEN",
            AuthError::MissingCredentials
            | AuthError::MalformedHeader
            | AuthError::MalformedToken
            | AuthError::InvalidSignature
            | AuthError::Expired
            | AuthError::NotYetValid
            | AuthError::MissingExpiry
            | AuthError::WrongIssuer { .. }
            | AuthError::WrongAudience
            | AuthError::UnknownKey
            | AuthError::DisallowedAlgorithm(_)
            | AuthError::KeysUnavailable
            | AuthError::InvalidSubject { .. } => "UNAUTHENTICATED",
        }
    }
}

/// Why a verifier could not be built or a token could not be minted: a problem of this
/// process's configuration or of the caller's request to mint, never of a client's token.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// HS256 needs a secret at least as long as its output to resist brute force (RFC 7518
    /// section 3.2).
    #[error("the local signing secret must be at least {min} bytes, got {got}")]
    SecretTooShort {
        /// The minimum length.
        min: usize,
        /// The length given.
        got: usize,
    },
    /// A required setting is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A URL setting does not parse.
    #[error("{what} is not a valid URL: {value:?}")]
    InvalidUrl {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// Keys fetched over plain HTTP could be swapped by anyone on the path.
    #[error("{what} must use https (plain http only for localhost): {value:?}")]
    InsecureUrl {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// The HTTP client for discovery and JWKS could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The token to mint would be refused by a verifier (no role, an invalid subject, a
    /// TenantOperator without tenants).
    #[error("refusing to mint a token that would not verify: {0}")]
    UnusableClaims(#[source] AuthError),
    /// Signing failed.
    #[error("could not sign the token: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_that_grant_nothing_are_forbidden_and_everything_else_unauthenticated() {
        assert_eq!(AuthError::NoKnownRole.code(), "FORBIDDEN");
        assert_eq!(AuthError::NoTenant.code(), "FORBIDDEN");
        assert_eq!(AuthError::InvalidTenants { claim: "tenants".into() }.code(), "FORBIDDEN");
        assert_eq!(AuthError::InvalidRoles { claim: "roles".into() }.code(), "FORBIDDEN");
        for error in [
            AuthError::MissingCredentials,
            AuthError::MalformedToken,
            AuthError::InvalidSignature,
            AuthError::Expired,
            AuthError::UnknownKey,
            AuthError::KeysUnavailable,
            AuthError::InvalidSubject { claim: "sub".into() },
        ] {
            assert_eq!(error.code(), "UNAUTHENTICATED", "{error}");
        }
    }
}
