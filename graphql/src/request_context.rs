//! The one place where a request becomes a [`RequestContext`].
//!
//! Until authentication lands (a verified token will fill the same struct), the development
//! mode takes the actor, tenant and roles from headers (HTTP) or from the websocket
//! `connection_init` payload, under the same names:
//! - `traceparent`: W3C trace context; the trace id is generated when absent.
//! - `x-actor`: `user:<name>`, `worker:<name>`... (default `user:developer`).
//! - `x-tenant-id`: the tenant the request acts for; it then sees only that tenant.
//! - `x-roles`: comma-separated roles.

use std::collections::BTreeSet;

use commands::{RequestContext, TenantScope};
use domain::envelope::{Actor, TenantId, TraceId};
use uuid::Uuid;

use crate::error::ApiError;

/// Default actor in development mode.
pub const DEV_ACTOR: &str = "user:developer";

/// Builds the context from named values (`get("x-actor")`...). Invalid values are refused,
/// never silently replaced.
pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<RequestContext, ApiError> {
    let invalid = |e: domain::envelope::EnvelopeError| ApiError::InvalidInput(e.to_string());
    let trace_id = match get("traceparent") {
        Some(header) => TraceId::from_traceparent(&header).map_err(invalid)?,
        None => TraceId::from_uuid(Uuid::new_v4()),
    };
    let actor = Actor::parse(get("x-actor").as_deref().unwrap_or(DEV_ACTOR)).map_err(invalid)?;
    let tenant = get("x-tenant-id").map(|t| TenantId::parse(t.trim())).transpose().map_err(invalid)?;
    let roles: BTreeSet<String> = get("x-roles")
        .map(|r| r.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let tenant_scope = match &tenant {
        Some(t) => TenantScope::Only(BTreeSet::from([t.clone()])),
        None => TenantScope::All,
    };
    Ok(RequestContext { actor, roles, tenant_scope, tenant, trace_id })
}

/// From HTTP headers.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Result<RequestContext, ApiError> {
    from_lookup(|name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned))
}

/// From a websocket `connection_init` payload (a JSON object with the same keys).
pub fn from_init_payload(payload: &serde_json::Value) -> Result<RequestContext, ApiError> {
    from_lookup(|name| payload.get(name).and_then(|v| v.as_str()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_a_generated_trace_and_the_developer() {
        let ctx = from_lookup(|_| None).unwrap();
        assert_eq!(ctx.actor.as_str(), DEV_ACTOR);
        assert_eq!(ctx.tenant_scope, TenantScope::All);
        assert_eq!(ctx.trace_id.as_str().len(), 32);
    }

    #[test]
    fn takes_trace_tenant_and_actor_from_the_request() {
        let ctx = from_lookup(|name| match name {
            "traceparent" => Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            "x-tenant-id" => Some("contoso".into()),
            "x-actor" => Some("worker:drift".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(ctx.trace_id.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(ctx.can_see(Some("contoso")) && !ctx.can_see(Some("fabrikam")));
        assert_eq!(ctx.actor.as_str(), "worker:drift");
    }

    #[test]
    fn refuses_malformed_values() {
        assert!(from_lookup(|n| (n == "traceparent").then(|| "nope".into())).is_err());
        assert!(from_lookup(|n| (n == "x-tenant-id").then(|| "Not A Tenant".into())).is_err());
        assert!(from_lookup(|n| (n == "x-actor").then(|| "nobody".into())).is_err());
    }
}
