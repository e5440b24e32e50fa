//! The verifier end to end: local HS256 tokens, and OIDC tokens checked against a real HTTP
//! issuer (an axum server on 127.0.0.1) that publishes test-only keys from `tests/fixtures/`.
//! One test binary, so the crate links its tests once.

mod idp;
mod local;
mod oidc;
