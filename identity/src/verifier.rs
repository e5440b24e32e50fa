//! [`Verifier`]: a bearer token in, an [`Identity`] or an [`AuthError`] out.
//!
//! jsonwebtoken checks the signature, `exp` (required), `nbf`, `iss` and `aud`; this module
//! decides which algorithm and key a token may use before handing it over. The algorithm is
//! fixed by the mode, never by the token: a local key accepts HS256 only, an OIDC issuer RS256
//! and ES256 only, and the key the token's `kid` names must be of that algorithm. That closes
//! the algorithm-confusion attack (an HS256 token "signed" with the issuer's public key) and
//! `alg: none`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::claims::identity_from_claims;
use crate::jwks::{secure_url, KeyCache};
use crate::{AuthError, ClaimNames, ConfigError, Identity, LocalKey};

/// The clock skew allowed when none is configured.
pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// More skew than this would keep an expired token alive for too long.
const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Longer "tokens" are refused before any parsing (Entra access tokens are 1 to 3 KiB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The allowed clock skew, at most 300 s.
pub(crate) fn clamp_leeway(leeway: Duration) -> Duration {
    leeway.min(MAX_LEEWAY)
}

/// Where to find an OIDC issuer's keys and what its tokens must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The issuer, exactly as tokens' `iss` spells it, e.g.
    /// `https://login.microsoftonline.com/<tenant id>/v2.0`. https, or http to localhost.
    pub issuer: String,
    /// The audience tokens must name in `aud` (for Entra, the API's application id URI or
    /// client id, whichever the tokens carry).
    pub audience: String,
    /// The discovery document; default `{issuer}/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    /// The shortest time between two fetches of the keys, however many tokens name an unknown
    /// `kid`. Default 60 s.
    pub unknown_kid_cooldown: Duration,
    /// Keys older than this are refetched on their next use. Default 1 h.
    pub keys_max_age: Duration,
    /// Allowed clock skew for `exp` and `nbf`. Default 60 s, at most 300 s (larger values are
    /// clamped).
    pub leeway: Duration,
    /// How long one request for discovery or keys may take. Default 5 s.
    pub fetch_timeout: Duration,
}

impl OidcSettings {
    /// Settings for an issuer and audience, with every other value at its default.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            discovery_url: None,
            unknown_kid_cooldown: Duration::from_secs(60),
            keys_max_age: Duration::from_secs(3600),
            leeway: DEFAULT_LEEWAY,
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// Verifies bearer tokens: either with a local signing key or against an OIDC issuer's JWKS.
///
/// Cheap to clone: clones share the key cache.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    claims: ClaimNames,
    mode: Mode,
}

// One per verifier, behind its Arc: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Mode {
    Local { key: DecodingKey, validation: Validation },
    Oidc { keys: KeyCache, issuer: String, rs256: Validation, es256: Validation },
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mode, issuer) = match &self.inner.mode {
            Mode::Local { validation, .. } => ("local", validation.iss.iter().flatten().next().cloned()),
            Mode::Oidc { issuer, .. } => ("oidc", Some(issuer.clone())),
        };
        f.debug_struct("Verifier").field("mode", &mode).field("issuer", &issuer).finish_non_exhaustive()
    }
}

/// What jsonwebtoken checks besides the signature, for one algorithm.
fn validation(algorithm: Algorithm, issuer: &str, audience: &str, leeway: Duration) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = clamp_leeway(leeway).as_secs();
    validation
}

impl Verifier {
    /// A verifier of HS256 tokens signed with the local key (see [`crate::mint_local`]).
    pub fn local(key: LocalKey, claims: ClaimNames) -> Self {
        let validation = validation(Algorithm::HS256, key.issuer(), key.audience(), key.leeway());
        let mode = Mode::Local { key: DecodingKey::from_secret(key.secret()), validation };
        Self { inner: Arc::new(Inner { claims, mode }) }
    }

    /// A verifier of RS256/ES256 tokens from an OIDC issuer.
    ///
    /// Tries to fetch the issuer's keys once (waiting at most `fetch_timeout`), so a wrong
    /// issuer shows in the log at startup; if that fails the verifier is still returned and
    /// fetches on first use: an issuer briefly down must not stop the service from starting.
    /// Fails only on settings that can never work.
    pub async fn oidc(settings: OidcSettings, claims: ClaimNames) -> Result<Self, ConfigError> {
        if settings.issuer.is_empty() {
            return Err(ConfigError::Empty("issuer"));
        }
        if settings.audience.is_empty() {
            return Err(ConfigError::Empty("audience"));
        }
        check_url("issuer", &settings.issuer)?;
        let discovery_url = match &settings.discovery_url {
            Some(url) => url.clone(),
            None => format!("{}/.well-known/openid-configuration", settings.issuer.trim_end_matches('/')),
        };
        let discovery_url = check_url("discovery_url", &discovery_url)?;
        let http = reqwest::Client::builder()
            .timeout(settings.fetch_timeout)
            // Keys come from the URLs configured or discovered, not wherever a redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ConfigError::HttpClient)?;
        let keys = KeyCache::new(
            http,
            settings.issuer.clone(),
            discovery_url,
            settings.unknown_kid_cooldown,
            settings.keys_max_age,
        );
        keys.warm_up().await;
        let (issuer, audience, leeway) = (&settings.issuer, &settings.audience, settings.leeway);
        let mode = Mode::Oidc {
            keys,
            rs256: validation(Algorithm::RS256, issuer, audience, leeway),
            es256: validation(Algorithm::ES256, issuer, audience, leeway),
            issuer: settings.issuer,
        };
        Ok(Self { inner: Arc::new(Inner { claims, mode }) })
    }

    /// The identity a token proves, or why it proves none.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let result = self.verify_token(token).await;
        if let Err(error) = &result {
            tracing::debug!(%error, "refused a bearer token");
        }
        result
    }

    /// [`Self::verify`] for an `Authorization` header value, `Bearer <jwt>` (scheme
    /// case-insensitive); `None` when the request has no such header.
    pub async fn verify_header(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        let token = bearer_token(authorization.ok_or(AuthError::MissingCredentials)?)?;
        self.verify(token).await
    }

    async fn verify_token(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::MalformedToken);
        }
        let alg = header_alg(token)?;
        let claims: Map<String, Value> = match &self.inner.mode {
            Mode::Local { key, validation } => {
                if alg != "HS256" {
                    return Err(disallowed(&alg));
                }
                decode(token, key, validation)?
            }
            Mode::Oidc { keys, issuer, rs256, es256 } => {
                let (algorithm, validation) = match alg.as_str() {
                    "RS256" => (Algorithm::RS256, rs256),
                    "ES256" => (Algorithm::ES256, es256),
                    _ => return Err(disallowed(&alg)),
                };
                let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::MalformedToken)?;
                let kid = header.kid.ok_or(AuthError::UnknownKey)?;
                let key = keys.key(&kid).await?;
                if key.algorithm != algorithm {
                    return Err(disallowed(&alg));
                }
                decode(token, &key.key, validation).map_err(|error| match error {
                    AuthError::WrongIssuer { .. } => AuthError::WrongIssuer { expected: issuer.clone() },
                    other => other,
                })?
            }
        };
        identity_from_claims(&claims, &self.inner.claims)
    }
}

fn check_url(what: &'static str, value: &str) -> Result<reqwest::Url, ConfigError> {
    if reqwest::Url::parse(value).is_err() {
        return Err(ConfigError::InvalidUrl { what, value: value.to_owned() });
    }
    secure_url(value).ok_or_else(|| ConfigError::InsecureUrl { what, value: value.to_owned() })
}

/// The token of a `Bearer <token>` header value.
fn bearer_token(header: &str) -> Result<&str, AuthError> {
    let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::MalformedHeader)?;
    let token = token.trim_start();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(char::is_whitespace) {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// The header's `alg`, read before anything else so a disallowed algorithm gets its own error
/// (jsonwebtoken knows no `none` and would only call such a token malformed). Only a lookup:
/// jsonwebtoken parses the header again and does every check.
fn header_alg(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(AuthError::MalformedToken);
    };
    let json = URL_SAFE_NO_PAD.decode(header).map_err(|_| AuthError::MalformedToken)?;
    let header: Map<String, Value> = serde_json::from_slice(&json).map_err(|_| AuthError::MalformedToken)?;
    match header.get("alg") {
        Some(Value::String(alg)) => Ok(alg.clone()),
        _ => Err(AuthError::MalformedToken),
    }
}

/// The refusal of an algorithm, naming it only if it looks like one (it comes from the token).
fn disallowed(alg: &str) -> AuthError {
    let printable = alg.len() <= 16 && alg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    AuthError::DisallowedAlgorithm(if printable { alg.to_owned() } else { "(unrecognised)".to_owned() })
}

/// jsonwebtoken's checks, its errors translated.
fn decode(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Map<String, Value>, AuthError> {
    let expected_issuer =
        || AuthError::WrongIssuer { expected: validation.iss.iter().flatten().next().cloned().unwrap_or_default() };
    match jsonwebtoken::decode::<Map<String, Value>>(token, key, validation) {
        Ok(data) => Ok(data.claims),
        Err(error) => Err(match error.kind() {
            ErrorKind::InvalidSignature => AuthError::InvalidSignature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => expected_issuer(),
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "iss" => expected_issuer(),
                "aud" => AuthError::WrongAudience,
                "exp" => AuthError::MissingExpiry,
                _ => AuthError::MalformedToken,
            },
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::InvalidAlgorithmName => {
                disallowed("(unrecognised)")
            }
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                AuthError::MalformedToken
            }
            _ => {
                // A key that cannot verify anything is the issuer's (or our) problem, not the
                // caller's; the caller only learns that the signature did not verify.
                tracing::warn!(%error, "a signing key could not be used");
                AuthError::InvalidSignature
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_one_word() {
        assert_eq!(bearer_token("Bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(bearer_token("bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(bearer_token("  BEARER   a.b.c "), Ok("a.b.c"));
        for header in ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c d", "Bearera.b.c"] {
            assert_eq!(bearer_token(header), Err(AuthError::MalformedHeader), "{header:?}");
        }
    }

    #[test]
    fn the_algorithm_is_read_from_a_three_part_token_only() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(header_alg(&format!("{header}.e30.")), Ok("none".to_owned()));
        assert_eq!(header_alg(&format!("{header}.e30")), Err(AuthError::MalformedToken));
        assert_eq!(header_alg(&format!("{header}.e30.x.y.z")), Err(AuthError::MalformedToken));
        assert_eq!(header_alg("!!.e30.x"), Err(AuthError::MalformedToken));
        let no_alg = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT"}"#);
        assert_eq!(header_alg(&format!("{no_alg}.e30.x")), Err(AuthError::MalformedToken));
    }

    #[test]
    fn an_odd_algorithm_name_is_not_echoed() {
        assert_eq!(disallowed("HS256"), AuthError::DisallowedAlgorithm("HS256".into()));
        assert_eq!(disallowed("<script>"), AuthError::DisallowedAlgorithm("(unrecognised)".into()));
    }

    #[test]
    fn the_leeway_is_clamped_to_five_minutes() {
        assert_eq!(clamp_leeway(Duration::from_secs(10)), Duration::from_secs(10));
        assert_eq!(clamp_leeway(Duration::from_secs(86_400)), MAX_LEEWAY);
    }

    #[tokio::test]
    async fn oidc_settings_that_can_never_work_are_refused() {
        let oidc =
            |issuer: &str, audience: &str| Verifier::oidc(OidcSettings::new(issuer, audience), ClaimNames::default());
        assert!(matches!(oidc("", "api").await, Err(ConfigError::Empty("issuer"))));
        assert!(matches!(oidc("https://issuer.example", "").await, Err(ConfigError::Empty("audience"))));
        assert!(matches!(oidc("not a url", "api").await, Err(ConfigError::InvalidUrl { what: "issuer", .. })));
        assert!(matches!(oidc("http://issuer.example", "api").await, Err(ConfigError::InsecureUrl { .. })));
    }
}
