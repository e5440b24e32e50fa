//! Local mode: HS256 tokens minted with the local key, and every way one can be wrong.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use commands::access::Role;
use domain::envelope::TenantId;
use identity::{mint_local, AuthError, ClaimNames, LocalKey, Verifier};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::idp::{sign, RSA_1};

const SECRET: &[u8] = b"local-development-secret-of-32-bytes-at-least";
const ISSUER: &str = "control-plane-local";
const AUDIENCE: &str = "control-plane";
const HOUR: Duration = Duration::from_secs(3600);

fn key() -> LocalKey {
    LocalKey::new(SECRET, ISSUER, AUDIENCE).unwrap()
}

fn verifier() -> Verifier {
    Verifier::local(key(), ClaimNames::default())
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// Valid claims with some fields replaced or removed (`null`).
fn claims_with(changes: Value) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "nbf": now, "exp": now + 300,
        "roles": ["PlatformAdmin"],
    });
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

fn hs256(claims: &Value) -> String {
    sign(Algorithm::HS256, "local", SECRET, claims)
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

#[tokio::test]
async fn a_minted_token_verifies_to_its_roles_tenants_and_actor() {
    let token =
        mint_local(&key(), "alice", &[Role::TenantOperator], &[tenant("acme"), tenant("globex")], HOUR).unwrap();
    let identity = verifier().verify(&token).await.unwrap();
    assert_eq!(identity.subject, "alice");
    assert_eq!(identity.actor.as_str(), "user:alice");
    assert_eq!(identity.roles, BTreeSet::from([Role::TenantOperator]));
    assert_eq!(identity.tenants, BTreeSet::from([tenant("acme"), tenant("globex")]));

    let token = mint_local(&key(), "drift-loop", &[Role::Worker], &[], HOUR).unwrap();
    let identity = verifier().verify(&token).await.unwrap();
    assert_eq!(identity.actor.as_str(), "worker:drift-loop");
    assert!(identity.tenants.is_empty());
}

#[tokio::test]
async fn the_authorization_header_carries_the_token_after_bearer() {
    let token = mint_local(&key(), "alice", &[Role::PlatformAdmin], &[], HOUR).unwrap();
    let verifier = verifier();
    assert!(verifier.verify_header(Some(&format!("bearer {token}"))).await.is_ok());
    assert_eq!(verifier.verify_header(None).await, Err(AuthError::MissingCredentials));
    assert_eq!(verifier.verify_header(Some(&token)).await, Err(AuthError::MalformedHeader));
    assert_eq!(verifier.verify_header(Some("Basic dXNlcjpwYXNz")).await, Err(AuthError::MalformedHeader));
    assert_eq!(verifier.verify_header(Some("Bearer not-a-jwt")).await, Err(AuthError::MalformedToken));
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let error = verifier().verify(&hs256(&claims_with(json!({"exp": now() - 120})))).await.unwrap_err();
    assert_eq!(error, AuthError::Expired);
    assert_eq!(error.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let error = verifier().verify(&hs256(&claims_with(json!({"nbf": now() + 120})))).await.unwrap_err();
    assert_eq!(error, AuthError::NotYetValid);
}

#[tokio::test]
async fn clock_skew_within_the_leeway_is_accepted() {
    let verifier = verifier();
    assert!(verifier.verify(&hs256(&claims_with(json!({"exp": now() - 30})))).await.is_ok());
    assert!(verifier.verify(&hs256(&claims_with(json!({"nbf": now() + 30})))).await.is_ok());
    // A smaller leeway makes the same skew fatal.
    let strict = Verifier::local(key().with_leeway(Duration::from_secs(5)), ClaimNames::default());
    let error = strict.verify(&hs256(&claims_with(json!({"exp": now() - 30})))).await.unwrap_err();
    assert_eq!(error, AuthError::Expired);
}

#[tokio::test]
async fn a_token_without_expiry_is_refused() {
    let error = verifier().verify(&hs256(&claims_with(json!({"exp": null})))).await.unwrap_err();
    assert_eq!(error, AuthError::MissingExpiry);
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let expected = AuthError::WrongIssuer { expected: ISSUER.to_owned() };
    let verifier = verifier();
    assert_eq!(verifier.verify(&hs256(&claims_with(json!({"iss": "someone-else"})))).await, Err(expected.clone()));
    assert_eq!(verifier.verify(&hs256(&claims_with(json!({"iss": null})))).await, Err(expected));
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let verifier = verifier();
    let error = verifier.verify(&hs256(&claims_with(json!({"aud": "another-api"})))).await.unwrap_err();
    assert_eq!(error, AuthError::WrongAudience);
    assert_eq!(verifier.verify(&hs256(&claims_with(json!({"aud": null})))).await, Err(AuthError::WrongAudience));
    // A list naming this service is fine.
    assert!(verifier.verify(&hs256(&claims_with(json!({"aud": ["other", AUDIENCE]})))).await.is_ok());
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let token = mint_local(&key(), "alice", &[Role::GovernanceAuditor], &[], HOUR).unwrap();
    let [header, payload, signature]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();

    // Claims escalated to PlatformAdmin, signature kept.
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["roles"] = json!(["PlatformAdmin"]);
    let escalated = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let error = verifier().verify(&format!("{header}.{escalated}.{signature}")).await.unwrap_err();
    assert_eq!(error, AuthError::InvalidSignature);

    // One signature character changed (the first: the last may only carry padding bits).
    let first = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{header}.{payload}.{first}{}", &signature[1..]);
    assert_eq!(verifier().verify(&forged).await, Err(AuthError::InvalidSignature));
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused() {
    let token = sign(Algorithm::HS256, "local", b"another-secret-that-is-also-32-bytes-long", &claims_with(json!({})));
    assert_eq!(verifier().verify(&token).await, Err(AuthError::InvalidSignature));
}

#[tokio::test]
async fn only_hs256_is_accepted_with_a_local_key() {
    let verifier = verifier();
    let rs256 = sign(Algorithm::RS256, "local", RSA_1, &claims_with(json!({})));
    assert_eq!(verifier.verify(&rs256).await, Err(AuthError::DisallowedAlgorithm("RS256".into())));
    let hs512 = sign(Algorithm::HS512, "local", SECRET, &claims_with(json!({})));
    assert_eq!(verifier.verify(&hs512).await, Err(AuthError::DisallowedAlgorithm("HS512".into())));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims_with(json!({})).to_string())
    );
    assert_eq!(verifier.verify(&none).await, Err(AuthError::DisallowedAlgorithm("none".into())));
}

#[tokio::test]
async fn a_valid_token_granting_no_usable_role_is_forbidden() {
    let verifier = verifier();
    let error = verifier.verify(&hs256(&claims_with(json!({"roles": ["Reader"]})))).await.unwrap_err();
    assert_eq!((error.clone(), error.code()), (AuthError::NoKnownRole, "FORBIDDEN"));
    let error = verifier.verify(&hs256(&claims_with(json!({"roles": ["TenantOperator"]})))).await.unwrap_err();
    assert_eq!((error.clone(), error.code()), (AuthError::NoTenant, "FORBIDDEN"));
}

#[tokio::test]
async fn claim_names_come_from_the_verifier() {
    let verifier = Verifier::local(key(), ClaimNames::entra());
    let claims =
        claims_with(json!({"sub": "per-app-id", "oid": "3f2a9c4e", "preferred_username": "alice@contoso.com"}));
    let identity = verifier.verify(&hs256(&claims)).await.unwrap();
    assert_eq!(identity.subject, "3f2a9c4e");
    assert_eq!(identity.actor.as_str(), "user:3f2a9c4e", "the stable subject, not the user name");
}
