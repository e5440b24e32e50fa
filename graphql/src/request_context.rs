//! The one place where a request becomes a [`RequestContext`].
//!
//! Two modes ([`Authentication`]):
//! - **Token** (`serve` with a signing key or an OIDC issuer): the caller is who a verified
//!   bearer JWT says (HTTP `Authorization` header; websocket `connection_init` payload key
//!   `Authorization` or `authorization`, `Bearer <jwt>`, or `token`). Identity headers are
//!   ignored. A request without a valid token is refused (`UNAUTHENTICATED`).
//! - **Development** (no authentication configured; `serve` then binds to loopback only): the
//!   caller is read from headers (HTTP) or the `connection_init` payload, under these names:
//!   `x-actor` (`user:<name>`, `worker:<name>`...; default `user:developer`), `x-tenant-id`
//!   (comma-separated: the tenants the caller operates), `x-roles` (comma-separated role
//!   names; default `PlatformAdmin`, or `TenantOperator` when `x-tenant-id` is given).
//!
//! In both, `traceparent` gives the trace (generated when absent). A tenant operator sees only
//! its tenants; every other role sees every tenant.

use std::collections::BTreeSet;

use commands::{RequestContext, Role, TenantScope};
use domain::envelope::{Actor, TenantId, TraceId};
use uuid::Uuid;

use crate::error::ApiError;

/// Default actor in development mode.
pub const DEV_ACTOR: &str = "user:developer";

/// How callers prove who they are.
#[derive(Clone)]
pub enum Authentication {
    /// Identity from headers; only for a server on loopback.
    Development,
    /// Identity from a verified bearer token.
    Token(identity::Verifier),
}

impl Authentication {
    /// Whether identity headers are trusted (development mode).
    pub fn is_development(&self) -> bool {
        matches!(self, Self::Development)
    }
}

/// Builds the context from named request values (`get("x-actor")`, `get("authorization")`...).
/// Invalid values are refused, never silently replaced.
pub async fn authenticate(
    auth: &Authentication,
    get: impl Fn(&str) -> Option<String>,
) -> Result<RequestContext, ApiError> {
    let invalid = |e: domain::envelope::EnvelopeError| ApiError::InvalidInput(e.to_string());
    let trace_id = match get("traceparent") {
        Some(header) => TraceId::from_traceparent(&header).map_err(invalid)?,
        None => TraceId::from_uuid(Uuid::new_v4()),
    };
    let (actor, roles, tenants) = match auth {
        Authentication::Development => development_identity(&get)?,
        Authentication::Token(verifier) => {
            let header = get("authorization").or_else(|| get("token").map(|t| format!("Bearer {t}")));
            let identity = verifier.verify_header(header.as_deref()).await.map_err(|e| match e.code() {
                "FORBIDDEN" => ApiError::Forbidden(e.to_string()),
                _ => ApiError::Unauthenticated(e.to_string()),
            })?;
            (identity.actor, identity.roles, identity.tenants)
        }
    };
    Ok(context(actor, roles, tenants, trace_id))
}

/// The context of a caller with `roles` operating `tenants`.
pub fn context(actor: Actor, roles: BTreeSet<Role>, tenants: BTreeSet<TenantId>, trace_id: TraceId) -> RequestContext {
    // Every role but the tenant operator spans every tenant; a caller holding one of those
    // sees everything, whatever else it holds.
    let tenant_scope = if roles.iter().any(|r| r.spans_all_tenants()) || roles.is_empty() && tenants.is_empty() {
        TenantScope::All
    } else {
        TenantScope::Only(tenants.clone())
    };
    let tenant = match &tenant_scope {
        TenantScope::Only(t) if t.len() == 1 => t.iter().next().cloned(),
        _ => None,
    };
    RequestContext { actor, roles, tenant_scope, tenant, trace_id }
}

type Identity = (Actor, BTreeSet<Role>, BTreeSet<TenantId>);

fn development_identity(get: &impl Fn(&str) -> Option<String>) -> Result<Identity, ApiError> {
    let invalid = |e: domain::envelope::EnvelopeError| ApiError::InvalidInput(e.to_string());
    let actor = Actor::parse(get("x-actor").as_deref().unwrap_or(DEV_ACTOR)).map_err(invalid)?;
    let tenants: BTreeSet<TenantId> = get("x-tenant-id")
        .map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).map(TenantId::parse).collect())
        .transpose()
        .map_err(invalid)?
        .unwrap_or_default();
    let roles: BTreeSet<Role> = match get("x-roles") {
        Some(r) => r
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Role>().map_err(|e| ApiError::InvalidInput(e.to_string())))
            .collect::<Result<_, _>>()?,
        None if tenants.is_empty() => BTreeSet::from([Role::PlatformAdmin]),
        None => BTreeSet::from([Role::TenantOperator]),
    };
    if roles.contains(&Role::TenantOperator) && tenants.is_empty() && !roles.iter().any(|r| r.spans_all_tenants()) {
        return Err(ApiError::Forbidden("a TenantOperator needs x-tenant-id: the tenants it operates".into()));
    }
    Ok((actor, roles, tenants))
}

/// The request headers read as identity or trace.
const READ_HEADERS: [&str; 5] = ["authorization", "traceparent", "x-actor", "x-roles", "x-tenant-id"];

/// From HTTP headers. A header we read that is not UTF-8 is refused, not taken as absent (which
/// would fall back to the defaults).
pub async fn from_headers(auth: &Authentication, headers: &axum::http::HeaderMap) -> Result<RequestContext, ApiError> {
    for name in READ_HEADERS {
        for value in headers.get_all(name) {
            if std::str::from_utf8(value.as_bytes()).is_err() {
                return Err(ApiError::InvalidInput(format!("header {name} is not UTF-8 text")));
            }
        }
    }
    authenticate(auth, |name| headers.get(name).and_then(|v| std::str::from_utf8(v.as_bytes()).ok()).map(str::to_owned))
        .await
}

/// From a websocket `connection_init` payload (a JSON object; keys matched case-insensitively).
pub async fn from_init_payload(auth: &Authentication, payload: &serde_json::Value) -> Result<RequestContext, ApiError> {
    authenticate(auth, |name| {
        payload.as_object().and_then(|o| {
            o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str()).map(str::to_owned)
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn dev(values: &[(&str, &str)]) -> Result<RequestContext, ApiError> {
        let values: Vec<(String, String)> = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        authenticate(&Authentication::Development, |name| {
            values.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .await
    }

    #[tokio::test]
    async fn development_defaults_to_a_platform_admin_developer() {
        let ctx = dev(&[]).await.unwrap();
        assert_eq!(ctx.actor.as_str(), DEV_ACTOR);
        assert_eq!(ctx.tenant_scope, TenantScope::All);
        assert_eq!(ctx.roles, BTreeSet::from([Role::PlatformAdmin]));
        assert_eq!(ctx.trace_id.as_str().len(), 32);
    }

    #[tokio::test]
    async fn a_tenant_header_makes_a_tenant_operator_of_that_tenant() {
        let ctx = dev(&[
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ("x-tenant-id", "contoso"),
            ("x-actor", "user:ops"),
        ])
        .await
        .unwrap();
        assert_eq!(ctx.trace_id.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.roles, BTreeSet::from([Role::TenantOperator]));
        assert!(ctx.can_see(Some("contoso")) && !ctx.can_see(Some("fabrikam")));
        assert_eq!(ctx.tenant.as_ref().map(TenantId::as_str), Some("contoso"));
        let both = dev(&[("x-tenant-id", "contoso, fabrikam")]).await.unwrap();
        assert!(both.can_see(Some("fabrikam")) && both.tenant.is_none(), "acts for no single tenant");
    }

    #[tokio::test]
    async fn roles_that_span_tenants_see_every_tenant() {
        let ctx = dev(&[("x-tenant-id", "contoso"), ("x-roles", "GovernanceAuditor")]).await.unwrap();
        assert_eq!(ctx.tenant_scope, TenantScope::All);
    }

    #[tokio::test]
    async fn refuses_malformed_values() {
        assert!(dev(&[("traceparent", "nope")]).await.is_err());
        assert!(dev(&[("x-tenant-id", "Not A Tenant")]).await.is_err());
        assert!(dev(&[("x-actor", "nobody")]).await.is_err());
        assert!(dev(&[("x-roles", "root")]).await.is_err());
        assert!(matches!(dev(&[("x-roles", "TenantOperator")]).await, Err(ApiError::Forbidden(_))));
    }
}
