//! "Values that look like secrets are refused (they belong in a secret binding)": the
//! heuristics behind that invariant, as pure functions of a key and its value.
//!
//! Three families of signal, checked in this order (the first that fires is reported):
//!
//! 1. **Key name** ([`SecretSmell::KeyName`]): the key, lower-cased with separators removed,
//!    contains `password`, `passwd`, `secret`, `token`, `apikey`, `privatekey`,
//!    `connectionstring`, `credential`, `accesskey` or `accountkey`; or one of its words
//!    (split at separators and camelCase) is `pwd` or `sas`. The two short terms are matched
//!    as whole words only, so `SASL_MECHANISM` or `KANSAS` are not refused. Values that cannot
//!    carry a secret on their own are let through, so settings *about* secrets stay possible:
//!    booleans, numbers, durations (`PASSWORD_MIN_LENGTH=12`, `TOKEN_TTL=15m`,
//!    `ENABLE_SAS=true`) and URLs without credentials (`TOKEN_ENDPOINT=https://...`).
//! 2. **Shape of the value**: a PEM block (`-----BEGIN`, [`SecretSmell::PemBlock`]); a URL
//!    with a password in its user info (`postgres://user:pass@host`) or a credential in its
//!    query (`?sig=`, `?code=`, `?access_token=`), [`SecretSmell::CredentialsInUrl`]; a
//!    `name=value` pair whose name is secret-like (`AccountKey=`, `SharedAccessKey=`,
//!    `Password=`, `pwd=`, `sig=`), [`SecretSmell::ConnectionString`]; a JWT (three base64url
//!    segments, the first starting with `eyJ`), [`SecretSmell::Jwt`].
//! 3. **Entropy** ([`SecretSmell::HighEntropy`]): a run of at least 20 characters of the
//!    base64/base64url alphabet whose Shannon entropy is at least 4.0 bits per character,
//!    unless the whole value is a URL without credentials, a UUID, a Key Vault reference
//!    (`@Microsoft.KeyVault(...)`) or an Azure resource id, or the run is made of words
//!    (`kube-system/coredns-custom-config-v2`, `StorageV2/Standard_RAGRS`). Runs rather than
//!    the whole value are measured so that a key hidden in a list is still found while
//!    sentences, host names and dotted namespaces are not. Hex-only secrets peak at exactly
//!    4.0 bits and are usually below it: this family does not claim to find them.
//!
//! These are heuristics: they refuse what is very likely a secret and accept what is very
//! likely not, and every case is pinned by a test below. A refusal never repeats the value.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{ConfigKey, ConfigValue};

/// Why a setting looks like a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSmell {
    /// The key names a secret (`DB_PASSWORD`, `apiKey`, `StorageSas`).
    KeyName,
    /// The value is a connection string with a secret part (`AccountKey=`, `Password=`).
    ConnectionString,
    /// The value is a URL carrying a credential (`user:pass@`, `?sig=`, `?code=`).
    CredentialsInUrl,
    /// The value holds a PEM block (a private key or certificate).
    PemBlock,
    /// The value holds a JSON Web Token.
    Jwt,
    /// The value holds a long random-looking token.
    HighEntropy,
}

impl SecretSmell {
    /// The lowercase phrase used in refusal messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            SecretSmell::KeyName => "key name",
            SecretSmell::ConnectionString => "connection string",
            SecretSmell::CredentialsInUrl => "credentials in url",
            SecretSmell::PemBlock => "pem block",
            SecretSmell::Jwt => "jwt",
            SecretSmell::HighEntropy => "high entropy",
        }
    }
}

impl fmt::Display for SecretSmell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the setting `key = value` looks like a secret, and why; `None` when it does not.
pub fn secret_smell(key: &ConfigKey, value: &ConfigValue) -> Option<SecretSmell> {
    let value = value.as_str();
    if names_a_secret(key.as_str()) && !cannot_hold_a_secret(value) {
        return Some(SecretSmell::KeyName);
    }
    value_smell(value)
}

/// Shannon entropy of `text` in bits per character: `-Σ p(c) log2 p(c)` over its distinct
/// characters; 0 for empty or single-symbol text, `log2(n)` for `n` distinct equally frequent
/// characters.
pub fn shannon_entropy(text: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    let mut total = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let total = total as f64;
    counts
        .values()
        .map(|&count| {
            let p = count as f64 / total;
            -p * p.log2()
        })
        .sum()
}

/// Secret terms matched anywhere in a key normalized to lowercase letters and digits.
const SECRET_TERMS: [&str; 10] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "connectionstring",
    "credential",
    "accesskey",
    "accountkey",
];

/// Short secret terms matched only as whole words, where substrings would refuse `SASL`.
const SECRET_WORDS: [&str; 2] = ["pwd", "sas"];

/// The minimum length of a run measured for entropy.
const ENTROPY_MIN_LEN: usize = 20;

/// Bits per character from which a run counts as random.
const ENTROPY_THRESHOLD: f64 = 4.0;

/// Whether a key or pair name names a secret.
fn names_a_secret(name: &str) -> bool {
    let normalized: String = name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    SECRET_TERMS.iter().any(|term| normalized.contains(term))
        || words(name).iter().any(|word| SECRET_WORDS.contains(&word.as_str()))
}

/// The lowercase words of a name, split at non-alphanumerics and camelCase boundaries
/// (`storageSasURL` -> `storage`, `sas`, `url`; `SASToken` -> `sas`, `token`).
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for piece in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = piece.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let boundary = i > 0 && c.is_ascii_uppercase() && {
                let previous = chars[i - 1];
                previous.is_ascii_lowercase()
                    || previous.is_ascii_digit()
                    || (previous.is_ascii_uppercase() && chars.get(i + 1).is_some_and(char::is_ascii_lowercase))
            };
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current).to_ascii_lowercase());
            }
            current.push(c);
        }
        if !current.is_empty() {
            words.push(current.to_ascii_lowercase());
        }
    }
    words
}

/// Values that carry no secret by themselves: booleans, numbers, durations, and URLs
/// without credentials.
fn cannot_hold_a_secret(value: &str) -> bool {
    let value = value.trim();
    is_boolean(value) || is_number(value) || is_duration(value) || (is_url(value) && url_credentials(value).is_none())
}

fn is_boolean(value: &str) -> bool {
    ["true", "false", "yes", "no", "on", "off", "enabled", "disabled"]
        .iter()
        .any(|word| value.eq_ignore_ascii_case(word))
}

/// `12`, `-3`, `+0.25`.
fn is_number(value: &str) -> bool {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Go/Kubernetes (`1h30m`, `500ms`, `7d`), ISO 8601 (`PT15M`, `P7D`) and .NET `TimeSpan`
/// (`00:30:00`, `1.00:00:00`) durations.
fn is_duration(value: &str) -> bool {
    is_unit_duration(value) || is_iso_duration(value) || is_timespan(value)
}

fn is_unit_duration(value: &str) -> bool {
    const UNITS: [&str; 9] = ["ns", "us", "µs", "ms", "s", "m", "h", "d", "w"];
    let mut rest = value;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        if number_len == 0 || !is_number(&rest[..number_len]) {
            return false;
        }
        rest = &rest[number_len..];
        let Some(unit) = UNITS.iter().filter(|unit| rest.starts_with(*unit)).max_by_key(|unit| unit.len()) else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

fn is_iso_duration(value: &str) -> bool {
    value.len() <= 32
        && value.starts_with(['P', 'p'])
        && value.bytes().any(|b| b.is_ascii_digit())
        && value[1..].bytes().all(|b| b.is_ascii_digit() || b"YMWDTHSymwdths.".contains(&b))
}

fn is_timespan(value: &str) -> bool {
    let parts: Vec<&str> = value.split(':').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.bytes().filter(|b| *b == b'.').count() <= 1
                && part.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && !part.starts_with('.')
                && !part.ends_with('.')
        })
}

/// `scheme://host...` with no whitespace.
fn is_url(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
        && rest.chars().next().is_some_and(|c| c != '/' && !c.is_whitespace())
        && !value.chars().any(char::is_whitespace)
}

/// A password in the user info of any URL in the text (`scheme://user:pass@host`).
fn url_credentials(value: &str) -> Option<SecretSmell> {
    value.match_indices("://").find_map(|(start, _)| {
        let rest = &value[start + 3..];
        let end = rest.find(|c: char| "/?#;,\"'".contains(c) || c.is_whitespace()).unwrap_or(rest.len());
        let (user_info, _host) = rest[..end].rsplit_once('@')?;
        let (_user, password) = user_info.split_once(':')?;
        (!password.is_empty()).then_some(SecretSmell::CredentialsInUrl)
    })
}

/// The shape checks (2) then the entropy check (3).
fn value_smell(value: &str) -> Option<SecretSmell> {
    // A Key Vault reference names a secret (`SecretName=db-password`) without holding it.
    if is_key_vault_reference(value.trim()) {
        return None;
    }
    if value.contains("-----BEGIN") {
        return Some(SecretSmell::PemBlock);
    }
    if let Some(smell) = url_credentials(value) {
        return Some(smell);
    }
    if let Some(smell) = secret_pair(value) {
        return Some(smell);
    }
    if value.split(|c: char| c.is_whitespace() || "=&?;,\"'".contains(c)).any(is_jwt) {
        return Some(SecretSmell::Jwt);
    }
    high_entropy(value)
}

/// A `name=value` piece (separated by `;`, `&`, `?`, `,` or whitespace) whose name is
/// secret-like and whose value could hold a secret.
fn secret_pair(value: &str) -> Option<SecretSmell> {
    let in_url = is_url(value.trim());
    let found = value
        .split(|c: char| c.is_whitespace() || ";&?,".contains(c))
        .filter_map(|piece| piece.split_once('='))
        .any(|(name, pair_value)| {
            let pair_value = pair_value.trim_matches(['"', '\'']);
            let secret_name = names_a_secret(name)
                || name.eq_ignore_ascii_case("sig")
                || (in_url && name.eq_ignore_ascii_case("code"));
            secret_name && !pair_value.is_empty() && !cannot_hold_a_secret(pair_value)
        });
    if !found {
        None
    } else if in_url {
        Some(SecretSmell::CredentialsInUrl)
    } else {
        Some(SecretSmell::ConnectionString)
    }
}

/// `header.payload.signature` in base64url, the header starting with `eyJ` (`{"`).
fn is_jwt(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[0].len() >= 10
        && !parts[1].is_empty()
        && parts.iter().all(|part| part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn high_entropy(value: &str) -> Option<SecretSmell> {
    let trimmed = value.trim();
    let exempt = is_url(trimmed) || Uuid::parse_str(trimmed).is_ok() || is_azure_resource_id(trimmed);
    if exempt {
        return None;
    }
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || "+/_-".contains(c)))
        .filter(|run| run.len() >= ENTROPY_MIN_LEN && !is_made_of_words(run))
        .any(|run| shannon_entropy(run) >= ENTROPY_THRESHOLD)
        .then_some(SecretSmell::HighEntropy)
}

/// An App Service / Functions Key Vault reference: `@Microsoft.KeyVault(SecretUri=...)`.
fn is_key_vault_reference(value: &str) -> bool {
    const PREFIX: &str = "@microsoft.keyvault(";
    value.len() > PREFIX.len() && value[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) && value.ends_with(')')
}

/// An ARM resource id: `/subscriptions/...` or a tenant-level `/providers/...`.
fn is_azure_resource_id(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    (lower.starts_with("/subscriptions/") || lower.starts_with("/providers/"))
        && !value.chars().any(char::is_whitespace)
}

/// A run whose parts (split at `/`, `+`, `_`, `-`) are all words, numbers, or at most three
/// characters: a path or a name, not a key.
fn is_made_of_words(run: &str) -> bool {
    run.split(['/', '+', '_', '-']).all(is_word_like)
}

/// A number, a short fragment, or letters shaped like a word (all lower, all upper, or mostly
/// lower as in `managedEnvironments`), optionally followed by up to three digits (`StorageV2`).
fn is_word_like(part: &str) -> bool {
    if part.len() <= 3 || part.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let letters = part.trim_end_matches(|c: char| c.is_ascii_digit());
    if part.len() - letters.len() > 3 || !letters.bytes().all(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    let upper = letters.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = letters.len() - upper;
    upper == 0 || lower == 0 || upper * 2 <= lower
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smell(key: &str, value: &str) -> Option<SecretSmell> {
        secret_smell(&ConfigKey::parse(key).unwrap(), &ConfigValue::parse(value).unwrap())
    }

    #[test]
    fn shannon_entropy_is_computed_in_bits_per_character() {
        assert_eq!(shannon_entropy(""), 0.0);
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("ab") - 1.0).abs() < 1e-12);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-12);
        assert!((shannon_entropy("aabb") - 1.0).abs() < 1e-12);
        assert!((shannon_entropy("0123456789abcdef") - 4.0).abs() < 1e-12);
        // p(a) = 3/4, p(b) = 1/4.
        let expected = -(0.75f64 * 0.75f64.log2() + 0.25 * 0.25f64.log2());
        assert!((shannon_entropy("aaab") - expected).abs() < 1e-12);
    }

    #[test]
    fn keys_naming_a_secret_are_refused() {
        for key in [
            "DB_PASSWORD",
            "db.passwd",
            "SMTP_PWD",
            "ClientSecret",
            "client_secret",
            "GITHUB_TOKEN",
            "accessToken",
            "API_KEY",
            "api-key",
            "ApiKey",
            "Stripe:ApiKey",
            "PRIVATE_KEY",
            "ConnectionStrings:Default",
            "DB_CONNECTION_STRING",
            "STORAGE_SAS",
            "StorageSasUrl",
            "SAS_TOKEN",
            "AZURE_CREDENTIALS",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "STORAGE_ACCOUNT_KEY",
        ] {
            assert_eq!(smell(key, "s3cr3t-value"), Some(SecretSmell::KeyName), "{key}");
        }
    }

    #[test]
    fn short_terms_match_whole_words_only() {
        assert_eq!(smell("KAFKA_SASL_MECHANISM", "PLAIN"), None);
        assert_eq!(smell("REGION_KANSAS", "central"), None);
        assert_eq!(smell("PWD_HINT", "x"), Some(SecretSmell::KeyName));
        assert_eq!(smell("blobSas", "x"), Some(SecretSmell::KeyName));
    }

    #[test]
    fn settings_about_secrets_are_allowed_when_the_value_cannot_hold_one() {
        for (key, value) in [
            ("PASSWORD_MIN_LENGTH", "12"),
            ("TOKEN_TTL", "15m"),
            ("TOKEN_LIFETIME", "PT1H"),
            ("SAS_EXPIRY", "01:00:00"),
            ("ENABLE_PASSWORD_RESET", "true"),
            ("SECRET_ROTATION_ENABLED", "Off"),
            ("TOKEN_ENDPOINT", "https://login.microsoftonline.com/common/oauth2/v2.0/token"),
            ("TOKEN_REFRESH_RATIO", "0.75"),
        ] {
            assert_eq!(smell(key, value), None, "{key}={value}");
        }
    }

    #[test]
    fn secret_named_keys_refuse_empty_text_and_key_vault_references_too() {
        assert_eq!(smell("DB_PASSWORD", ""), Some(SecretSmell::KeyName));
        assert_eq!(
            smell("DB_PASSWORD", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/db/)"),
            Some(SecretSmell::KeyName)
        );
        assert_eq!(smell("TOKEN_URL", "https://user:pw@example.com/"), Some(SecretSmell::KeyName));
    }

    #[test]
    fn connection_strings_with_secret_parts_are_refused() {
        for value in [
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc123==;EndpointSuffix=core.windows.net",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abc=",
            "Server=tcp:db.database.windows.net,1433;Database=billing;User ID=app;Password=hunter2;",
            "Host=db;Username=app;pwd=hunter2",
            "cache.redis.cache.windows.net:6380,password=hunter2,ssl=True",
            "SharedAccessSignature=sv=2022-11-02&sig=abc%2Bdef",
        ] {
            assert_eq!(smell("CONN", value), Some(SecretSmell::ConnectionString), "{value}");
        }
    }

    #[test]
    fn connection_strings_without_secret_parts_are_allowed() {
        for value in [
            "Server=tcp:db.database.windows.net,1433;Database=billing;Authentication=Active Directory Managed Identity",
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/",
            "Host=db;Username=app;Password=;",
            "PasswordMinLength=12;Lockout=5",
        ] {
            assert_eq!(smell("CONN", value), None, "{value}");
        }
    }

    #[test]
    fn urls_carrying_credentials_are_refused() {
        for value in [
            "postgres://app:hunter2@db.example.com:5432/billing",
            "redis://:hunter2@cache:6379/0",
            "amqps://user:pass@mq.example.com",
            "https://acct.blob.core.windows.net/c/blob?sv=2022-11-02&se=2025-01-01&sig=abc%2Fdef",
            "https://fn-billing.azurewebsites.net/api/hook?code=Zm9vYmFy",
            "https://api.example.com/v1?access_token=abc",
        ] {
            assert_eq!(smell("ENDPOINT", value), Some(SecretSmell::CredentialsInUrl), "{value}");
        }
    }

    #[test]
    fn urls_without_credentials_are_allowed() {
        for value in [
            "https://billing.example.com",
            "https://billing.example.com/api/v1/invoices?page=1&sort=desc",
            "postgres://app@db.example.com:5432/billing",
            "amqps://mq.example.com:5671",
            "https://kv-billing.vault.azure.net/secrets/db-password",
            "https://westeurope-5.in.applicationinsights.azure.com/?code=",
            "http://localhost:8080/health",
        ] {
            assert_eq!(smell("ENDPOINT", value), None, "{value}");
        }
    }

    #[test]
    fn pem_blocks_are_refused() {
        assert_eq!(
            smell("TLS", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"),
            Some(SecretSmell::PemBlock)
        );
        assert_eq!(smell("CA_BUNDLE", "-----BEGIN CERTIFICATE-----"), Some(SecretSmell::PemBlock));
    }

    #[test]
    fn jwts_are_refused() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(smell("AUTH", jwt), Some(SecretSmell::Jwt));
        assert_eq!(smell("AUTH_HEADER", &format!("Bearer {jwt}")), Some(SecretSmell::Jwt));
        assert_eq!(smell("AUTH", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), Some(SecretSmell::Jwt));
        assert!(!is_jwt("eyJ.x.y"));
        assert!(!is_jwt("a.b.c"));
        assert!(!is_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0"));
    }

    #[test]
    fn high_entropy_tokens_are_refused() {
        for value in [
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "sk_live_51H8abcdEFGHijklMNOPqrst",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "My40mCKTUOZL3ZlL8u9VVFggl4tAjYNgRKkI/dNF7Vs=",
            "QYcVKCYvZ/w6PYvvZV/fGafVbyTCodwHQ+xDnUeZ8e0=",
            "fq3yTY4vT_D13tH8RWy7gw",
            "primary,My40mCKTUOZL3ZlL8u9VVFggl4tAjYNgRKkI/dNF7Vs=",
            "the key is kFnn2yvNLp5m/qZpPwzrL3SB19Hm/lEIf9DsXWP4/aU= ok",
            "AbCdEfGhIjKlMnOpQrStUvWx",
        ] {
            assert_eq!(smell("VALUE", value), Some(SecretSmell::HighEntropy), "{value}");
        }
    }

    #[test]
    fn ordinary_settings_are_not_refused() {
        for value in [
            "",
            "true",
            "42",
            "0.25",
            "30s",
            "1h30m",
            "500ms",
            "PT15M",
            "00:30:00",
            "Information",
            "westeurope",
            "en-US,en-GB,fr-FR,de-DE,nl-NL",
            "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b",
            "{6F1C2B3A-4D5E-4F60-8A7B-9C0D1E2F3A4B}",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "2024-06-01T00:00:00+02:00",
            "0 */5 * * * *",
            "Europe/Amsterdam",
            "ops-team@contoso.example.com",
            "myserver.database.windows.net",
            "broker-1.kafka.svc.cluster.local:9092,broker-2.kafka.svc.cluster.local:9092",
            "billing-api.billing-prod.svc.cluster.local",
            "ghcr.io/contoso/billing-api:1.2.3",
            "contosoacr.azurecr.io/billing/api@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "Microsoft.AspNetCore.Hosting.Diagnostics",
            "Contoso.Billing.Infrastructure.Persistence.Migrations",
            "/mnt/secrets-store/billing/appsettings.json",
            "/var/lib/contoso/billing-worker/checkpoints/v2",
            "kube-system/coredns-custom-config-v2",
            "StorageV2/Standard_RAGRS/Hot-tier-2025",
            "X-Correlation-Id/X-Request-Id/traceparent",
            "contoso-billing-prod-westeurope-001",
            "feature_new_checkout_flow_enabled_for_beta",
            "/subscriptions/6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-billing/providers/Microsoft.App/managedEnvironments/cae",
            "@Microsoft.KeyVault(SecretUri=https://kv-billing.vault.azure.net/secrets/Xk9pQ2mZ7vR4tL8wN3yB6cF1hJ5sD0aG/)",
            "@Microsoft.KeyVault(VaultName=kv-billing;SecretName=db-password)",
            "max-age=31536000; includeSubDomains",
            "Invoices are sent on the first business day of each month.",
            "{\"retries\":3,\"backoff\":\"exponential\"}",
        ] {
            assert_eq!(smell("SETTING", value), None, "{value}");
        }
    }

    #[test]
    fn smells_have_readable_names() {
        assert_eq!(SecretSmell::KeyName.to_string(), "key name");
        assert_eq!(SecretSmell::HighEntropy.to_string(), "high entropy");
        assert_eq!(serde_json::to_string(&SecretSmell::CredentialsInUrl).unwrap(), "\"credentials_in_url\"");
    }

    #[test]
    fn names_split_into_words_at_separators_and_camel_case() {
        assert_eq!(words("storageSasURL"), ["storage", "sas", "url"]);
        assert_eq!(words("SASToken"), ["sas", "token"]);
        assert_eq!(words("DB_PWD.v2"), ["db", "pwd", "v2"]);
    }
}
