//! From settings to the API's configuration: which authentication mode `serve` runs in, its
//! limits, and the `token` command's minting.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use commands::Role;
use domain::envelope::TenantId;
use graphql::executor::{Limits, PersistedQueries};
use graphql::request_context::Authentication;
use graphql::ApiConfig;
use identity::{ClaimNames, LocalKey, OidcSettings, Verifier};

use crate::config::{AuthArgs, LimitArgs, TokenArgs};

/// The API configuration `serve` runs with: OIDC when an issuer is set, the local key when a
/// signing key is set, development mode when neither is (both set is an error: which one a
/// token must come from would be ambiguous).
pub async fn api_config(auth: &AuthArgs, limits: &LimitArgs) -> anyhow::Result<ApiConfig> {
    let claims = ClaimNames {
        subject: auth.subject_claim.clone(),
        roles: auth.roles_claim.clone(),
        tenants: auth.tenants_claim.clone(),
    };
    // An empty variable (`APP_AUTH_SIGNING_KEY=`) means unset, as shells and manifests write it.
    let set = |v: &Option<String>| v.as_ref().filter(|s| !s.trim().is_empty()).cloned();
    let authentication = match (&set(&auth.issuer), &set(&auth.signing_key)) {
        (Some(_), Some(_)) => anyhow::bail!("set APP_AUTH_ISSUER or APP_AUTH_SIGNING_KEY, not both"),
        (Some(issuer), None) => {
            let mut settings = OidcSettings::new(issuer.clone(), auth.audience.clone());
            settings.discovery_url = auth.discovery_url.clone();
            settings.unknown_kid_cooldown = Duration::from_secs(auth.unknown_kid_cooldown_seconds);
            settings.leeway = Duration::from_secs(auth.leeway_seconds);
            let verifier = Verifier::oidc(settings, claims).await.context("configuring OIDC authentication")?;
            tracing::info!(issuer, audience = %auth.audience, "bearer tokens from an OIDC issuer");
            Authentication::Token(verifier)
        }
        (None, Some(key)) => {
            let key = local_key(key, &auth.local_issuer, &auth.audience)?
                .with_leeway(Duration::from_secs(auth.leeway_seconds));
            tracing::info!(issuer = %auth.local_issuer, "bearer tokens signed with the local key");
            Authentication::Token(Verifier::local(key, claims))
        }
        (None, None) => Authentication::Development,
    };
    let persisted_queries = match &limits.persisted_queries {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let list = PersistedQueries::from_json(&text)
                .map_err(|e| anyhow::anyhow!("persisted queries in {}: {e}", path.display()))?;
            tracing::info!(documents = list.len(), "only persisted documents run");
            Some(Arc::new(list))
        }
        None => None,
    };
    Ok(ApiConfig {
        auth: authentication,
        limits: Limits {
            timeout: Duration::from_secs(limits.operation_timeout_seconds.max(1)),
            rate_per_second: NonZeroU32::new(limits.rate_per_second),
            burst: NonZeroU32::new(limits.rate_burst.max(1)).expect("at least 1"),
            persisted_queries,
        },
        introspection: limits.introspection,
    })
}

fn local_key(secret: &str, issuer: &str, audience: &str) -> anyhow::Result<LocalKey> {
    LocalKey::new(secret.as_bytes(), issuer, audience).map_err(|e| anyhow::anyhow!("APP_AUTH_SIGNING_KEY: {e}"))
}

/// A token signed with the local key, for `runtime-platform token`.
pub fn mint(args: &TokenArgs) -> anyhow::Result<String> {
    let key = local_key(&args.signing_key, &args.local_issuer, &args.audience)?;
    let roles: Vec<Role> = args.roles.iter().map(|r| r.parse::<Role>()).collect::<Result<_, _>>()?;
    let tenants: Vec<TenantId> = args.tenants.iter().map(|t| TenantId::parse(t)).collect::<Result<_, _>>()?;
    identity::mint_local(&key, &args.subject, &roles, &tenants, Duration::from_secs(args.ttl_seconds))
        .map_err(|e| anyhow::anyhow!("minting: {e}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::{Cli, Command};

    fn serve(args: &[&str]) -> (AuthArgs, LimitArgs) {
        let mut argv = vec!["runtime-platform", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(s) => (s.auth.clone(), s.limits.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn no_issuer_and_no_key_is_development_mode_and_both_is_refused() {
        let (auth, limits) = serve(&[]);
        assert!(api_config(&auth, &limits).await.unwrap().auth.is_development());
        let (auth, limits) = serve(&["--signing-key", ""]);
        assert!(api_config(&auth, &limits).await.unwrap().auth.is_development(), "empty means unset");
        let key = "k".repeat(32);
        let (auth, limits) = serve(&["--signing-key", &key]);
        assert!(!api_config(&auth, &limits).await.unwrap().auth.is_development());
        let (auth, limits) = serve(&["--signing-key", &key, "--issuer", "https://login.example/x/v2.0"]);
        assert!(api_config(&auth, &limits).await.is_err());
        let (auth, limits) = serve(&["--signing-key", "short"]);
        assert!(api_config(&auth, &limits).await.is_err());
    }

    #[tokio::test]
    async fn a_minted_token_verifies_with_the_servers_key() {
        let key = "s".repeat(40);
        let cli = Cli::try_parse_from([
            "runtime-platform",
            "token",
            "--role",
            "tenant-operator",
            "--tenant",
            "contoso",
            "--signing-key",
            &key,
        ])
        .unwrap();
        let Command::Token(args) = cli.command else { panic!() };
        let token = mint(&args).unwrap();
        let (auth, limits) = serve(&["--signing-key", &key]);
        let Authentication::Token(verifier) = api_config(&auth, &limits).await.unwrap().auth else { panic!() };
        let identity = verifier.verify(&token).await.unwrap();
        assert!(identity.roles.contains(&Role::TenantOperator));
        assert_eq!(identity.tenants.iter().map(|t| t.as_str()).collect::<Vec<_>>(), ["contoso"]);
        let (other, limits) = serve(&["--signing-key", &"o".repeat(40)]);
        let Authentication::Token(other) = api_config(&other, &limits).await.unwrap().auth else { panic!() };
        assert!(other.verify(&token).await.is_err(), "another key refuses it");
    }

    #[tokio::test]
    async fn limits_come_from_the_settings() {
        let (auth, limits) =
            serve(&["--rate-per-second", "0", "--introspection", "false", "--operation-timeout-seconds", "5"]);
        let config = api_config(&auth, &limits).await.unwrap();
        assert!(config.limits.rate_per_second.is_none());
        assert!(!config.introspection);
        assert_eq!(config.limits.timeout, Duration::from_secs(5));
    }
}
