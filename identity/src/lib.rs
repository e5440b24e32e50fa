//! Who is calling: a bearer JWT turned into a verified [`Identity`] (subject, actor, roles,
//! tenants), or an [`AuthError`] whose message is safe to send back.
//!
//! Two modes, chosen at startup: a local HS256 key ([`LocalKey`], for development and tests,
//! with [`mint_local`] to issue tokens) or an OIDC issuer such as Microsoft Entra ID
//! ([`OidcSettings`]), whose keys are discovered and cached. Which role may do what is not
//! decided here but in `commands::access`; this crate only says who the caller is and which
//! roles and tenants its token grants.
//!
//! Layout:
//! - `verifier` — [`Verifier`]: algorithm and key choice, then jsonwebtoken's checks;
//! - `jwks` — the issuer's keys: discovery, fetch, the cache with its refetch cooldown;
//! - `claims` — claims to [`Identity`], with [`ClaimNames`];
//! - `local` — [`LocalKey`] and [`mint_local`];
//! - `error` — [`AuthError`] (the caller's) and [`ConfigError`] (the operator's).

mod claims;
mod error;
mod jwks;
mod local;
mod verifier;

pub use claims::{ClaimNames, Identity};
pub use error::{AuthError, ConfigError};
pub use local::{mint_local, LocalKey};
pub use verifier::{OidcSettings, Verifier};

pub(crate) use verifier::DEFAULT_LEEWAY;
