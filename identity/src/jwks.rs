//! An OIDC issuer's signing keys: discovery, the JWKS fetch and the cache in front of them.
//!
//! Keys are cached by `kid`. Most JWKS helpers refresh only on a timer, so a key the issuer
//! starts using between two refreshes is refused until the next one; here a token naming an
//! unknown `kid` triggers a refetch on demand, with two limits so that forged tokens with random
//! `kid`s cannot turn the verifier into a client hammering the issuer:
//!
//! - at most one fetch attempt per cooldown, whatever its outcome or trigger;
//! - concurrent refreshes coalesce: requests queue on one mutex and re-check the cache after
//!   acquiring it, so the ones behind the fetching request use its result.
//!
//! Keys older than the maximum age are refreshed on their next use; a request finding a
//! refresh already under way is served with the keys it has rather than made to wait. A failed
//! refresh keeps the previous keys: an issuer that is briefly down must not lock everyone out.
//!
//! Only RSA (RS256) and P-256 (ES256) signing keys are taken from the JWKS; symmetric (`oct`)
//! keys and any other kind are skipped, so no published key can verify an HMAC token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::header::ACCEPT;
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use thiserror::Error;
use tokio::sync::Mutex;

use crate::AuthError;

/// A discovery document or JWKS larger than this is refused (Entra's JWKS is about 10 KiB).
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// A key a token may name, with the one algorithm it verifies.
pub(crate) struct SigningKey {
    /// The public key.
    pub(crate) key: DecodingKey,
    /// RS256 for an RSA key, ES256 for a P-256 key.
    pub(crate) algorithm: Algorithm,
}

/// The keys of one successful fetch.
struct KeySet {
    keys: HashMap<String, Arc<SigningKey>>,
    fetched_at: Instant,
}

/// What the refreshing request holds the mutex for.
struct RefreshState {
    /// When the last fetch attempt started, successful or not: the cooldown counts from here.
    last_attempt: Option<Instant>,
    /// The `jwks_uri` from discovery; forgotten when a JWKS fetch fails, so that the next
    /// attempt rediscovers it (issuers may move it).
    jwks_uri: Option<Url>,
}

/// The issuer's signing keys, fetched on demand.
pub(crate) struct KeyCache {
    http: reqwest::Client,
    issuer: String,
    discovery_url: Url,
    cooldown: Duration,
    max_age: Duration,
    keys: RwLock<Option<Arc<KeySet>>>,
    refresh: Mutex<RefreshState>,
}

/// Why a fetch failed; logged, never shown to clients (it names internal URLs).
#[derive(Debug, Error)]
enum FetchError {
    #[error("GET {url} failed: {source}")]
    Request { url: Url, source: reqwest::Error },
    #[error("GET {url} answered HTTP {status}")]
    Status { url: Url, status: reqwest::StatusCode },
    #[error("GET {url} sent more than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { url: Url },
    #[error("GET {url} sent an invalid document: {source}")]
    Document { url: Url, source: serde_json::Error },
    #[error("the discovery document names issuer {found:?}, not the configured {expected:?}")]
    IssuerMismatch { found: String, expected: String },
    #[error("the discovery document's jwks_uri {0:?} is not an https URL")]
    InsecureJwksUri(String),
    #[error("the JWKS at {url} holds no usable signing key")]
    NoUsableKeys { url: Url },
}

/// The parts of the discovery document used here.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// A JWKS; each key is parsed on its own so one odd key does not discard the others.
#[derive(Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

/// The JWK members used here (RFC 7517, 7518 section 6).
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl KeyCache {
    /// A cache with no keys yet; nothing is fetched until [`Self::key`] or [`Self::warm_up`].
    pub(crate) fn new(
        http: reqwest::Client,
        issuer: String,
        discovery_url: Url,
        cooldown: Duration,
        max_age: Duration,
    ) -> Self {
        Self {
            http,
            issuer,
            discovery_url,
            cooldown,
            max_age,
            keys: RwLock::new(None),
            refresh: Mutex::new(RefreshState { last_attempt: None, jwks_uri: None }),
        }
    }

    /// Tries to fetch the keys now. A failure is logged and not counted against the cooldown,
    /// so the first request still tries again at once.
    pub(crate) async fn warm_up(&self) {
        let mut state = self.refresh.lock().await;
        if !self.refresh_if_due(&mut state).await {
            state.last_attempt = None;
        }
    }

    /// The key a token's `kid` names, refetching the JWKS if the `kid` is unknown or the keys
    /// are old (within the cooldown).
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<SigningKey>, AuthError> {
        if let Some(set) = self.current() {
            if let Some(key) = set.keys.get(kid) {
                if !self.is_stale(&set) {
                    return Ok(key.clone());
                }
                // Old keys still verify most tokens: refresh them if nobody else is, otherwise
                // answer with them rather than wait for the other request's fetch.
                match self.refresh.try_lock() {
                    Ok(mut state) => {
                        if self.current().is_some_and(|set| self.is_stale(&set)) {
                            self.refresh_if_due(&mut state).await;
                        }
                    }
                    Err(_) => return Ok(key.clone()),
                }
                return self.lookup(kid);
            }
        }
        let mut state = self.refresh.lock().await;
        // Another request may have fetched the keys while this one waited for the lock.
        if let Some(set) = self.current() {
            if let Some(key) = set.keys.get(kid).filter(|_| !self.is_stale(&set)) {
                return Ok(key.clone());
            }
        }
        self.refresh_if_due(&mut state).await;
        drop(state);
        self.lookup(kid)
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn is_stale(&self, set: &KeySet) -> bool {
        set.fetched_at.elapsed() >= self.max_age
    }

    fn lookup(&self, kid: &str) -> Result<Arc<SigningKey>, AuthError> {
        match self.current() {
            None => Err(AuthError::KeysUnavailable),
            Some(set) => set.keys.get(kid).cloned().ok_or(AuthError::UnknownKey),
        }
    }

    /// Fetches the keys unless the last attempt is younger than the cooldown; returns whether
    /// new keys were stored.
    async fn refresh_if_due(&self, state: &mut RefreshState) -> bool {
        if state.last_attempt.is_some_and(|at| at.elapsed() < self.cooldown) {
            return false;
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch(state).await {
            Ok(set) => {
                tracing::info!(issuer = %self.issuer, keys = set.keys.len(), "fetched the issuer's signing keys");
                *self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(set));
                true
            }
            Err(error) => {
                let kept = self.current().is_some();
                tracing::warn!(issuer = %self.issuer, %error, kept_previous_keys = kept, "could not fetch the issuer's signing keys");
                false
            }
        }
    }

    #[tracing::instrument(skip_all, fields(issuer = %self.issuer))]
    async fn fetch(&self, state: &mut RefreshState) -> Result<KeySet, FetchError> {
        let jwks_uri = match &state.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover().await?;
                state.jwks_uri = Some(uri.clone());
                uri
            }
        };
        let result = self.fetch_keys(&jwks_uri).await;
        if result.is_err() {
            state.jwks_uri = None;
        }
        result
    }

    async fn discover(&self) -> Result<Url, FetchError> {
        let discovery: Discovery = self.get_json(&self.discovery_url).await?;
        // OpenID Connect Discovery 1.0 section 4.3: the document must name the issuer it was
        // fetched for, else its keys are some other issuer's.
        if discovery.issuer != self.issuer {
            return Err(FetchError::IssuerMismatch { found: discovery.issuer, expected: self.issuer.clone() });
        }
        secure_url(&discovery.jwks_uri).ok_or(FetchError::InsecureJwksUri(discovery.jwks_uri))
    }

    async fn fetch_keys(&self, url: &Url) -> Result<KeySet, FetchError> {
        let jwks: Jwks = self.get_json(url).await?;
        let mut keys = HashMap::new();
        for value in jwks.keys {
            match signing_key(value) {
                Ok((kid, key)) => {
                    keys.entry(kid).or_insert_with(|| Arc::new(key));
                }
                Err(reason) => tracing::debug!(reason, "skipping a JWKS key"),
            }
        }
        if keys.is_empty() {
            return Err(FetchError::NoUsableKeys { url: url.clone() });
        }
        Ok(KeySet { keys, fetched_at: Instant::now() })
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, FetchError> {
        let request_failed = |source| FetchError::Request { url: url.clone(), source };
        let mut response =
            self.http.get(url.clone()).header(ACCEPT, "application/json").send().await.map_err(request_failed)?;
        if !response.status().is_success() {
            return Err(FetchError::Status { url: url.clone(), status: response.status() });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge { url: url.clone() });
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|source| FetchError::Document { url: url.clone(), source })
    }
}

/// A JWK as a signing key with its `kid`, or why it is skipped.
fn signing_key(value: serde_json::Value) -> Result<(String, SigningKey), &'static str> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "not a JWK")?;
    let kid = jwk.kid.filter(|kid| !kid.is_empty()).ok_or("no kid")?;
    if jwk.usage.as_deref().is_some_and(|usage| usage != "sig") {
        return Err("not a signing key");
    }
    let (key, algorithm) = match (jwk.kty.as_str(), jwk.alg.as_deref()) {
        ("RSA", None | Some("RS256")) => {
            let (n, e) = jwk.n.zip(jwk.e).ok_or("RSA key without n or e")?;
            (DecodingKey::from_rsa_components(&n, &e).map_err(|_| "invalid RSA key")?, Algorithm::RS256)
        }
        ("EC", None | Some("ES256")) if jwk.crv.as_deref() == Some("P-256") => {
            let (x, y) = jwk.x.zip(jwk.y).ok_or("EC key without x or y")?;
            (DecodingKey::from_ec_components(&x, &y).map_err(|_| "invalid EC key")?, Algorithm::ES256)
        }
        _ => return Err("not an RS256 or ES256 key"),
    };
    Ok((kid, SigningKey { key, algorithm }))
}

/// The URL if it is https, or http to this machine (for tests and local issuers).
pub(crate) fn secure_url(value: &str) -> Option<Url> {
    let url = Url::parse(value).ok()?;
    let host = url.host_str().unwrap_or_default();
    let local = host == "localhost"
        || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (url.scheme() == "https" || (url.scheme() == "http" && local)).then_some(url)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The test-only key's modulus (tests/fixtures/README.md).
    fn n() -> String {
        let jwk: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/test-only-rsa-1.jwk.json")).unwrap();
        jwk["n"].as_str().unwrap().to_owned()
    }

    #[test]
    fn rsa_and_p256_keys_are_taken_with_their_one_algorithm() {
        let n = n();
        let (kid, key) = signing_key(json!({"kty": "RSA", "kid": "r", "n": n, "e": "AQAB"})).unwrap();
        assert_eq!((kid.as_str(), key.algorithm), ("r", Algorithm::RS256));
        let ec = json!({"kty": "EC", "kid": "e", "crv": "P-256", "use": "sig",
            "x": "GzV90eOAKBJRQ6A-1pcS_V0GO8Vlkd5JzqFoN8WMtZo", "y": "BSRPt4qJsPcWfspmViYGBHXr87_2wrhrO4oUwJ1YFcs"});
        assert_eq!(signing_key(ec).unwrap().1.algorithm, Algorithm::ES256);
    }

    #[test]
    fn symmetric_encryption_and_other_keys_are_skipped() {
        let n = n();
        for jwk in [
            json!({"kty": "oct", "kid": "o", "k": "c2VjcmV0"}),
            json!({"kty": "RSA", "kid": "r", "n": n, "e": "AQAB", "use": "enc"}),
            json!({"kty": "RSA", "kid": "r", "n": n, "e": "AQAB", "alg": "RS512"}),
            json!({"kty": "RSA", "n": n, "e": "AQAB"}),
            json!({"kty": "RSA", "kid": "r", "n": n}),
            json!({"kty": "EC", "kid": "e", "crv": "P-384", "x": "AA", "y": "AA"}),
            json!({"kty": "OKP", "kid": "k", "crv": "Ed25519", "x": "AA"}),
            json!("not an object"),
        ] {
            assert!(signing_key(jwk.clone()).is_err(), "{jwk}");
        }
    }

    #[test]
    fn key_urls_must_be_https_except_on_this_machine() {
        assert!(secure_url("https://login.microsoftonline.com/t/discovery/v2.0/keys").is_some());
        assert!(secure_url("http://127.0.0.1:8080/keys").is_some());
        assert!(secure_url("http://localhost/keys").is_some());
        assert!(secure_url("http://[::1]:1/keys").is_some());
        assert!(secure_url("http://login.example.com/keys").is_none());
        assert!(secure_url("ftp://localhost/keys").is_none());
        assert!(secure_url("not a url").is_none());
    }
}
