//! OIDC mode against a real local issuer: discovery, JWKS, rotation, the refetch cooldown,
//! coalesced refreshes, algorithm confusion, and an issuer that is down.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use commands::access::Role;
use identity::{AuthError, ClaimNames, Verifier};
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::idp::{claims, jwk, sign, Idp, EC_1, EC_1_JWK, RSA_1, RSA_1_JWK, RSA_2, RSA_2_JWK};

/// Long enough that no test outlives it: nothing refetches unless the test says so.
const NEVER: Duration = Duration::from_secs(60);
/// Short enough for a test to wait it out, long enough that a busy machine does not run out
/// of it between two steps a test expects within one cooldown.
const SHORT: Duration = Duration::from_secs(1);
const PAST_SHORT: Duration = Duration::from_millis(1100);

async fn verifier(idp: &Idp, cooldown: Duration) -> Verifier {
    Verifier::oidc(idp.settings(cooldown), ClaimNames::default()).await.unwrap()
}

#[tokio::test]
async fn an_rs256_token_from_the_issuer_verifies() {
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1")]).await;
    let verifier = Verifier::oidc(idp.settings(NEVER), ClaimNames::entra()).await.unwrap();
    let mut claims = claims(&idp.issuer);
    claims["oid"] = json!("3f2a9c4e-0000-4000-8000-000000000001");
    claims["preferred_username"] = json!("alice@contoso.com");
    claims["roles"] = json!(["PlatformAdmin", "Some.Other.App.Role"]);

    let identity = verifier.verify(&sign(Algorithm::RS256, "k1", RSA_1, &claims)).await.unwrap();
    assert_eq!(identity.subject, "3f2a9c4e-0000-4000-8000-000000000001");
    assert_eq!(identity.actor.as_str(), "user:3f2a9c4e-0000-4000-8000-000000000001");
    assert_eq!(identity.roles.into_iter().collect::<Vec<_>>(), [Role::PlatformAdmin]);
    // Discovered once, fetched once, eagerly; the second token needs no request.
    assert!(verifier.clone().verify(&sign(Algorithm::RS256, "k1", RSA_1, &claims)).await.is_ok());
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (1, 1));
}

#[tokio::test]
async fn an_es256_token_verifies_with_a_p256_key() {
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1"), jwk(EC_1_JWK, "ec1")]).await;
    let verifier = verifier(&idp, NEVER).await;
    assert!(verifier.verify(&sign(Algorithm::ES256, "ec1", EC_1, &claims(&idp.issuer))).await.is_ok());
}

#[tokio::test]
async fn the_usual_checks_apply_to_issuer_tokens() {
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1"), jwk(RSA_2_JWK, "k2")]).await;
    let verifier = verifier(&idp, NEVER).await;
    let token = |claims| sign(Algorithm::RS256, "k1", RSA_1, &claims);
    let mut wrong_audience = claims(&idp.issuer);
    wrong_audience["aud"] = json!("api://someone-else");
    assert_eq!(verifier.verify(&token(wrong_audience)).await, Err(AuthError::WrongAudience));
    let mut wrong_issuer = claims(&idp.issuer);
    wrong_issuer["iss"] = json!("https://login.microsoftonline.com/another-tenant/v2.0");
    assert_eq!(
        verifier.verify(&token(wrong_issuer)).await,
        Err(AuthError::WrongIssuer { expected: idp.issuer.clone() })
    );
    let mut expired = claims(&idp.issuer);
    expired["exp"] = json!(jsonwebtoken::get_current_timestamp() - 3600);
    assert_eq!(verifier.verify(&token(expired)).await, Err(AuthError::Expired));
    // Signed with key 2 while naming key 1.
    let mislabelled = sign(Algorithm::RS256, "k1", RSA_2, &claims(&idp.issuer));
    assert_eq!(verifier.verify(&mislabelled).await, Err(AuthError::InvalidSignature));
}

#[tokio::test]
async fn a_rotated_key_verifies_after_one_refetch() {
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1")]).await;
    let verifier = verifier(&idp, SHORT).await;
    let old = sign(Algorithm::RS256, "k1", RSA_1, &claims(&idp.issuer));
    let new = sign(Algorithm::RS256, "k2", RSA_2, &claims(&idp.issuer));
    assert!(verifier.verify(&old).await.is_ok());

    idp.set_keys(vec![jwk(RSA_2_JWK, "k2")]);
    // Within the cooldown of the first fetch the new kid stays unknown...
    assert_eq!(verifier.verify(&new).await, Err(AuthError::UnknownKey));
    assert_eq!(idp.jwks_requests(), 1);
    // ...after it, one refetch finds it.
    tokio::time::sleep(PAST_SHORT).await;
    assert!(verifier.verify(&new).await.is_ok());
    assert_eq!(idp.jwks_requests(), 2);
    // The retired key went with the refetch.
    assert_eq!(verifier.verify(&old).await, Err(AuthError::UnknownKey));
    assert_eq!(idp.jwks_requests(), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_cooldown() {
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1")]).await;
    // Forged tokens with random kids; only the header differs, as the kid is looked up before
    // the signature is checked (and signing 400 tokens could outlast the cooldown).
    let signed = sign(Algorithm::RS256, "forged", RSA_2, &claims(&idp.issuer));
    let rest = &signed[signed.find('.').unwrap()..];
    let forged = |round: usize| -> Vec<String> {
        (0..200)
            .map(|i| {
                let header = json!({"alg": "RS256", "typ": "JWT", "kid": format!("forged-{round}-{i}")});
                format!("{}{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
            })
            .collect()
    };
    let (first, second) = (forged(1), forged(2));
    let verifier = verifier(&idp, SHORT).await;
    assert_eq!(idp.jwks_requests(), 1);
    tokio::time::sleep(PAST_SHORT).await;

    let flood = |tokens: Vec<String>| {
        tokens
            .into_iter()
            .map(|token| {
                let verifier = verifier.clone();
                tokio::spawn(async move { verifier.verify(&token).await })
            })
            .collect::<Vec<_>>()
    };
    for task in flood(first) {
        assert_eq!(task.await.unwrap(), Err(AuthError::UnknownKey));
    }
    assert_eq!(idp.jwks_requests(), 2, "one refetch for the whole flood");
    for task in flood(second) {
        assert_eq!(task.await.unwrap(), Err(AuthError::UnknownKey));
    }
    assert_eq!(idp.jwks_requests(), 2, "none within the cooldown");
    assert!(verifier.verify(&sign(Algorithm::RS256, "k1", RSA_1, &claims(&idp.issuer))).await.is_ok());
}

#[tokio::test]
async fn concurrent_tokens_with_a_new_kid_share_one_fetch() {
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1")]).await;
    let verifier = verifier(&idp, SHORT).await;
    idp.set_keys(vec![jwk(RSA_1_JWK, "k1"), jwk(RSA_2_JWK, "k2")]);
    tokio::time::sleep(PAST_SHORT).await;

    let token = sign(Algorithm::RS256, "k2", RSA_2, &claims(&idp.issuer));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(idp.jwks_requests(), 2);
}

#[tokio::test]
async fn keys_past_their_maximum_age_are_refreshed_on_use_and_kept_if_that_fails() {
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1")]).await;
    let mut settings = idp.settings(Duration::from_millis(100));
    settings.keys_max_age = Duration::from_millis(200);
    let verifier = Verifier::oidc(settings, ClaimNames::default()).await.unwrap();
    let token = sign(Algorithm::RS256, "k1", RSA_1, &claims(&idp.issuer));

    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(idp.jwks_requests(), 2);

    idp.set_up(false);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(verifier.verify(&token).await.is_ok(), "old keys serve while the issuer is down");
    assert_eq!(idp.jwks_requests(), 3, "a refresh was tried");
    // The failed fetch forgot the jwks_uri: the next attempt rediscovers it.
    idp.set_up(true);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let discoveries = idp.discovery_requests();
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (discoveries + 1, 4));
}

#[tokio::test]
async fn hmac_and_none_tokens_are_refused_whatever_they_are_signed_with() {
    let shared_secret = b"a-symmetric-key-the-jwks-should-never-offer";
    let oct = json!({"kty": "oct", "kid": "shared", "k": URL_SAFE_NO_PAD.encode(shared_secret)});
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1"), jwk(EC_1_JWK, "ec1"), oct]).await;
    let verifier = verifier(&idp, NEVER).await;
    let claims = claims(&idp.issuer);
    let hs256 = AuthError::DisallowedAlgorithm("HS256".into());

    // Algorithm confusion: the public key's bytes as an HMAC secret.
    let n = URL_SAFE_NO_PAD.decode(jwk(RSA_1_JWK, "k1")["n"].as_str().unwrap()).unwrap();
    for secret in [RSA_1_JWK.as_bytes(), &n, RSA_1] {
        assert_eq!(verifier.verify(&sign(Algorithm::HS256, "k1", secret, &claims)).await, Err(hs256.clone()));
    }
    // A symmetric key the JWKS (wrongly) publishes verifies nothing.
    assert_eq!(verifier.verify(&sign(Algorithm::HS256, "shared", shared_secret, &claims)).await, Err(hs256));
    assert_eq!(verifier.verify(&sign(Algorithm::RS256, "shared", RSA_1, &claims)).await, Err(AuthError::UnknownKey));
    // An RS256 token naming the EC key.
    let confused = sign(Algorithm::RS256, "ec1", RSA_1, &claims);
    assert_eq!(verifier.verify(&confused).await, Err(AuthError::DisallowedAlgorithm("RS256".into())));
    // alg none, with and without a kid.
    for header in [json!({"alg": "none"}), json!({"alg": "none", "kid": "k1", "typ": "JWT"})] {
        let token =
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        assert_eq!(verifier.verify(&token).await, Err(AuthError::DisallowedAlgorithm("none".into())));
    }
    // RS256 with the signature stripped.
    let token = sign(Algorithm::RS256, "k1", RSA_1, &claims);
    let unsigned = format!("{}.", &token[..token.rfind('.').unwrap()]);
    assert_eq!(verifier.verify(&unsigned).await, Err(AuthError::InvalidSignature));
}

#[tokio::test]
async fn an_issuer_down_at_first_use_is_reported_then_used_once_up() {
    let address = Idp::unused_address();
    let issuer = format!("http://{address}");
    let settings = identity::OidcSettings {
        unknown_kid_cooldown: SHORT,
        ..identity::OidcSettings::new(&issuer, crate::idp::AUDIENCE)
    };
    // Starting with the issuer down is not an error...
    let verifier = Verifier::oidc(settings, ClaimNames::default()).await.unwrap();
    let token = sign(Algorithm::RS256, "k1", RSA_1, &claims(&issuer));
    // ...but verifying is, and a clear one.
    let error = verifier.verify(&token).await.unwrap_err();
    assert_eq!((error.clone(), error.code()), (AuthError::KeysUnavailable, "UNAUTHENTICATED"));

    let idp = Idp::start_on(address, vec![jwk(RSA_1_JWK, "k1")]).await;
    // The failed attempt counts against the cooldown: a down issuer is not hammered either.
    assert_eq!(verifier.verify(&token).await, Err(AuthError::KeysUnavailable));
    assert_eq!(idp.discovery_requests(), 0);
    tokio::time::sleep(PAST_SHORT).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (1, 1));
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_not_trusted() {
    let idp = Idp::start(vec![jwk(RSA_1_JWK, "k1")]).await;
    idp.claim_issuer("https://evil.example");
    let verifier = verifier(&idp, NEVER).await;
    let token = sign(Algorithm::RS256, "k1", RSA_1, &claims(&idp.issuer));
    assert_eq!(verifier.verify(&token).await, Err(AuthError::KeysUnavailable));
    assert_eq!(idp.jwks_requests(), 0);
}
