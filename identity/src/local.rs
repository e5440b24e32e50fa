//! The local signing key: an HS256 shared secret for development, tests and single-box
//! deployments without an identity provider, and [`mint_local`] to issue tokens with it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use commands::access::Role;
use domain::envelope::TenantId;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::claims::identity_from_claims;
use crate::verifier::clamp_leeway;
use crate::{ClaimNames, ConfigError};

/// An HS256 shared secret with the issuer it stamps and the audience it expects.
///
/// The secret never prints (`Debug` redacts it).
#[derive(Clone)]
pub struct LocalKey {
    secret: Arc<[u8]>,
    issuer: String,
    audience: String,
    leeway: Duration,
}

impl LocalKey {
    /// The shortest secret accepted: HS256's output size (RFC 7518 section 3.2).
    pub const MIN_SECRET_LEN: usize = 32;

    /// A key from a secret of at least [`Self::MIN_SECRET_LEN`] bytes, with a 60 s leeway.
    pub fn new(
        secret: impl Into<Vec<u8>>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let secret = secret.into();
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(ConfigError::SecretTooShort { min: Self::MIN_SECRET_LEN, got: secret.len() });
        }
        let (issuer, audience) = (issuer.into(), audience.into());
        if issuer.is_empty() {
            return Err(ConfigError::Empty("issuer"));
        }
        if audience.is_empty() {
            return Err(ConfigError::Empty("audience"));
        }
        Ok(Self { secret: secret.into(), issuer, audience, leeway: clamp_leeway(crate::DEFAULT_LEEWAY) })
    }

    /// The same key with another allowed clock skew for `exp`/`nbf`, at most 300 s.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = clamp_leeway(leeway);
        self
    }

    /// The issuer (`iss`) minted tokens carry and verified ones must carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience (`aud`) minted tokens carry and verified ones must carry.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The allowed clock skew.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// Mints a token signed with the local key, for the `token` CLI command and tests.
///
/// It carries `iss`, `aud`, `sub`, `iat`, `nbf` (now), `exp` (now + `ttl`) and the
/// [`ClaimNames::default`] `roles` and `tenants` claims, so a verifier built with
/// [`crate::Verifier::local`] and the default claim names accepts it. A token no verifier would
/// turn into an identity (no role, a subject that is not a valid actor name, a TenantOperator
/// without tenants) is refused here rather than minted.
pub fn mint_local(
    key: &LocalKey,
    subject: &str,
    roles: &[Role],
    tenants: &[TenantId],
    ttl: Duration,
) -> Result<String, ConfigError> {
    let names = ClaimNames::default();
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "iss": key.issuer,
        "aud": key.audience,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(ttl.as_secs()),
    });
    let object = claims.as_object_mut().expect("a JSON object literal");
    object.insert(names.subject.clone(), Value::from(subject));
    object.insert(names.roles.clone(), roles.iter().map(|r| r.as_str()).collect());
    object.insert(names.tenants.clone(), tenants.iter().map(|t| t.as_str()).collect());
    identity_from_claims(object, &names).map_err(ConfigError::UnusableClaims)?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key.secret()))
        .map_err(ConfigError::Signing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthError;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused() {
        let error = LocalKey::new(&SECRET[..31], "iss", "aud").unwrap_err();
        assert!(matches!(error, ConfigError::SecretTooShort { min: 32, got: 31 }), "{error}");
        assert!(LocalKey::new(SECRET, "iss", "aud").is_ok());
    }

    #[test]
    fn issuer_and_audience_are_required() {
        assert!(matches!(LocalKey::new(SECRET, "", "aud"), Err(ConfigError::Empty("issuer"))));
        assert!(matches!(LocalKey::new(SECRET, "iss", ""), Err(ConfigError::Empty("audience"))));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let key = LocalKey::new(SECRET, "iss", "aud").unwrap();
        let printed = format!("{key:?}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn the_leeway_is_at_most_five_minutes() {
        let key = LocalKey::new(SECRET, "iss", "aud").unwrap();
        assert_eq!(key.leeway(), Duration::from_secs(60));
        assert_eq!(key.with_leeway(Duration::from_secs(3600)).leeway(), Duration::from_secs(300));
    }

    #[test]
    fn tokens_that_would_not_verify_are_not_minted() {
        let key = LocalKey::new(SECRET, "iss", "aud").unwrap();
        let hour = Duration::from_secs(3600);
        let no_role = mint_local(&key, "alice", &[], &[], hour).unwrap_err();
        assert!(matches!(no_role, ConfigError::UnusableClaims(AuthError::NoKnownRole)), "{no_role}");
        let no_tenant = mint_local(&key, "alice", &[Role::TenantOperator], &[], hour).unwrap_err();
        assert!(matches!(no_tenant, ConfigError::UnusableClaims(AuthError::NoTenant)), "{no_tenant}");
        let bad_subject = mint_local(&key, "al ice", &[Role::PlatformAdmin], &[], hour).unwrap_err();
        assert!(matches!(bad_subject, ConfigError::UnusableClaims(AuthError::InvalidSubject { .. })));
    }
}
