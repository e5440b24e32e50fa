//! Tenant ownership: `tenant_id` is a hard boundary. An aggregate that belongs to one tenant
//! says so, and the command bus refuses any command on it from a request whose tenant scope
//! does not include that tenant (before and after the decision, so a create cannot claim a
//! foreign tenant either).

use crate::envelope::TenantId;

/// Implemented by every aggregate.
pub trait TenantOwned {
    /// The tenant this aggregate belongs to; none for platform-wide aggregates.
    fn owner_tenant(&self) -> Option<&TenantId> {
        None
    }
}
