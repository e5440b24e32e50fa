//! `RequestContext`: who is asking, for which tenants, under which trace. Every HTTP or
//! websocket request is turned into one in a single place (the API edge); resolvers and the
//! bus only ever take this value, never headers.

use std::collections::BTreeSet;

use domain::envelope::{Actor, TenantId, TraceId};

/// Which tenants' data a request may see and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Platform operators and Governance: every tenant, and platform-wide facts.
    All,
    /// Only these tenants (and platform-wide facts, which carry no tenant).
    Only(BTreeSet<TenantId>),
}

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Who issues the commands of this request.
    pub actor: Actor,
    /// Roles granted to the actor (e.g. `platform-admin`, `governance`).
    pub roles: BTreeSet<String>,
    /// Which tenants the request may touch.
    pub tenant_scope: TenantScope,
    /// The tenant the request acts for, stamped on the events it causes; none for
    /// platform-wide facts.
    pub tenant: Option<TenantId>,
    /// Trace of the request: from the caller (`traceparent`), or generated at the edge.
    pub trace_id: TraceId,
}

impl RequestContext {
    /// A context for the platform itself (workers, CLI), seeing everything.
    pub fn system(name: &str, trace_id: TraceId) -> Self {
        Self {
            actor: Actor::system(name),
            roles: BTreeSet::from(["platform-admin".to_owned()]),
            tenant_scope: TenantScope::All,
            tenant: None,
            trace_id,
        }
    }

    /// Whether data stamped with `tenant` (none: platform-wide) is visible to this request.
    pub fn can_see(&self, tenant: Option<&str>) -> bool {
        match (&self.tenant_scope, tenant) {
            (TenantScope::All, _) | (_, None) => true,
            (TenantScope::Only(tenants), Some(t)) => tenants.iter().any(|x| x.as_str() == t),
        }
    }

    /// The tenants this request is limited to, or none when it sees all of them; readers
    /// push this into SQL so filtering happens before paging.
    pub fn tenant_filter(&self) -> Option<Vec<String>> {
        match &self.tenant_scope {
            TenantScope::All => None,
            TenantScope::Only(tenants) => Some(tenants.iter().map(|t| t.as_str().to_owned()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(scope: TenantScope) -> RequestContext {
        RequestContext {
            actor: Actor::parse("user:a").unwrap(),
            roles: BTreeSet::new(),
            tenant_scope: scope,
            tenant: None,
            trace_id: TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        }
    }

    #[test]
    fn scoped_requests_see_their_tenants_and_platform_facts_only() {
        let c = ctx(TenantScope::Only(BTreeSet::from([TenantId::parse("a").unwrap()])));
        assert!(c.can_see(Some("a")));
        assert!(c.can_see(None));
        assert!(!c.can_see(Some("b")));
        assert!(ctx(TenantScope::All).can_see(Some("b")));
    }
}
