//! `RequestContext`: who is asking, for which tenants, under which trace. Every HTTP or
//! websocket request is turned into one in a single place (the API edge); resolvers and the
//! bus only ever take this value, never headers.

use std::collections::BTreeSet;

use domain::envelope::{Actor, TenantId, TraceId};

use crate::access::Role;

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
    /// Roles granted to the actor; what each may do is in [`crate::access`].
    pub roles: BTreeSet<Role>,
    /// Which tenants the request may touch.
    pub tenant_scope: TenantScope,
    /// The tenant the request acts for, when it acts for exactly one. Recorded on the events
    /// it causes as `acting_tenant_id`; the events' own `tenant_id` is always the tenant of the
    /// aggregate they belong to, never this.
    pub tenant: Option<TenantId>,
    /// Trace of the request: from the caller (`traceparent`), or generated at the edge.
    pub trace_id: TraceId,
}

impl RequestContext {
    /// A context for the platform itself (workers, CLI), seeing everything.
    pub fn system(name: &str, trace_id: TraceId) -> Self {
        Self {
            actor: Actor::system(name),
            roles: BTreeSet::from([Role::PlatformAdmin]),
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

    /// Whether this request may change an aggregate owned by `owner` (none: platform-wide or
    /// shared by every tenant). A caller scoped to some tenants changes only aggregates of
    /// those tenants: a shared deployment or an environment belongs to all of them, so to none.
    pub fn may_write(&self, owner: Option<&str>) -> bool {
        match (&self.tenant_scope, owner) {
            (TenantScope::All, _) => true,
            (TenantScope::Only(_), None) => false,
            (TenantScope::Only(tenants), Some(t)) => tenants.iter().any(|x| x.as_str() == t),
        }
    }

    /// A context for one of the platform's own loops, acting as `Worker`.
    pub fn worker(name: &str, trace_id: TraceId) -> Self {
        Self {
            actor: Actor::parse(&format!("worker:{name}")).unwrap_or_else(|_| Actor::system(name)),
            roles: BTreeSet::from([Role::Worker]),
            tenant_scope: TenantScope::All,
            tenant: None,
            trace_id,
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

    #[test]
    fn scoped_requests_write_only_their_tenants_aggregates() {
        let c = ctx(TenantScope::Only(BTreeSet::from([TenantId::parse("a").unwrap()])));
        assert!(c.may_write(Some("a")));
        assert!(!c.may_write(Some("b")));
        assert!(!c.may_write(None), "platform-wide and shared aggregates belong to no single tenant");
        assert!(ctx(TenantScope::All).may_write(None));
    }
}
