//! A stand-in OIDC issuer: discovery document and JWKS over HTTP on 127.0.0.1, with switches
//! (keys served, up or down, the issuer it claims) and counters of the requests it answered.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use identity::OidcSettings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Test-only keys (see `tests/fixtures/README.md`): private halves to sign, JWKs to publish.
pub const RSA_1: &[u8] = include_bytes!("../fixtures/test-only-rsa-1.pem");
pub const RSA_1_JWK: &str = include_str!("../fixtures/test-only-rsa-1.jwk.json");
pub const RSA_2: &[u8] = include_bytes!("../fixtures/test-only-rsa-2.pem");
pub const RSA_2_JWK: &str = include_str!("../fixtures/test-only-rsa-2.jwk.json");
pub const EC_1: &[u8] = include_bytes!("../fixtures/test-only-ec-1.pem");
pub const EC_1_JWK: &str = include_str!("../fixtures/test-only-ec-1.jwk.json");

pub const AUDIENCE: &str = "api://control-plane";

/// A fixture JWK with a `kid`.
pub fn jwk(fixture: &str, kid: &str) -> Value {
    let mut jwk: Value = serde_json::from_str(fixture).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

/// A token signed with a fixture key (or, for HS*, with `key` as the secret).
pub fn sign(alg: Algorithm, kid: &str, key: &[u8], claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(key).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(key).unwrap(),
        _ => EncodingKey::from_secret(key),
    };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Claims a verifier accepts: this issuer and audience, valid for five minutes.
pub fn claims(issuer: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "iss": issuer, "aud": AUDIENCE, "sub": "alice", "iat": now, "nbf": now, "exp": now + 300,
        "roles": ["TenantOperator"], "tenants": ["acme"],
    })
}

struct Published {
    issuer: String,
    claimed_issuer: Mutex<String>,
    keys: Mutex<Vec<Value>>,
    up: AtomicBool,
    discovery_requests: AtomicUsize,
    jwks_requests: AtomicUsize,
}

/// The running issuer.
pub struct Idp {
    /// `http://127.0.0.1:<port>`, as tokens' `iss` spells it.
    pub issuer: String,
    published: Arc<Published>,
}

impl Idp {
    /// An issuer on a free port publishing these keys.
    pub async fn start(keys: Vec<Value>) -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), keys)
    }

    /// An issuer on `address`, e.g. one a verifier already found down.
    pub async fn start_on(address: SocketAddr, keys: Vec<Value>) -> Self {
        Self::serve(TcpListener::bind(address).await.unwrap(), keys)
    }

    /// An address nothing listens on (yet).
    pub fn unused_address() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    fn serve(listener: TcpListener, keys: Vec<Value>) -> Self {
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let published = Arc::new(Published {
            issuer: issuer.clone(),
            claimed_issuer: Mutex::new(issuer.clone()),
            keys: Mutex::new(keys),
            up: AtomicBool::new(true),
            discovery_requests: AtomicUsize::new(0),
            jwks_requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            // Not the conventional path: the verifier must take it from discovery.
            .route("/discovery/v2.0/keys", get(jwks))
            .with_state(published.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { issuer, published }
    }

    /// Settings for this issuer with the given refetch cooldown.
    pub fn settings(&self, cooldown: Duration) -> OidcSettings {
        OidcSettings { unknown_kid_cooldown: cooldown, ..OidcSettings::new(&self.issuer, AUDIENCE) }
    }

    /// Publishes these keys from now on.
    pub fn set_keys(&self, keys: Vec<Value>) {
        *self.published.keys.lock().unwrap() = keys;
    }

    /// Answers 503 to everything while down.
    pub fn set_up(&self, up: bool) {
        self.published.up.store(up, Ordering::SeqCst);
    }

    /// Makes the discovery document name another issuer.
    pub fn claim_issuer(&self, issuer: &str) {
        *self.published.claimed_issuer.lock().unwrap() = issuer.to_owned();
    }

    /// JWKS requests answered so far (503s included).
    pub fn jwks_requests(&self) -> usize {
        self.published.jwks_requests.load(Ordering::SeqCst)
    }

    /// Discovery requests answered so far (503s included).
    pub fn discovery_requests(&self) -> usize {
        self.published.discovery_requests.load(Ordering::SeqCst)
    }
}

async fn discovery(State(published): State<Arc<Published>>) -> Response {
    published.discovery_requests.fetch_add(1, Ordering::SeqCst);
    if !published.up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let issuer = published.claimed_issuer.lock().unwrap().clone();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/discovery/v2.0/keys", published.issuer),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn jwks(State(published): State<Arc<Published>>) -> Response {
    published.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if !published.up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = published.keys.lock().unwrap().clone();
    Json(json!({ "keys": keys })).into_response()
}
