//! From a verified token's claims to an [`Identity`]: which claims to read, and the rules that
//! make a caller usable (a known role; a tenant for a TenantOperator; a subject that makes a
//! valid actor). Pure: the signature, issuer, audience and times were checked before.

use std::collections::BTreeSet;

use commands::access::Role;
use domain::envelope::{Actor, TenantId};
use serde_json::{Map, Value};

use crate::AuthError;

/// Which claims carry the subject, the roles and the tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// The caller's stable id. Default `sub`; for Microsoft Entra ID use `oid` (the object id,
    /// the same in every application, whereas `sub` differs per application).
    pub subject: String,
    /// An array of role names (or one space-separated string). Default `roles`, which is where
    /// Entra puts app roles.
    pub roles: String,
    /// An array of tenant ids (or one space-separated string). Default `tenants`.
    pub tenants: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self { subject: "sub".into(), roles: "roles".into(), tenants: "tenants".into() }
    }
}

impl ClaimNames {
    /// The names for Microsoft Entra ID access tokens: `oid`, `roles`, `tenants`.
    pub fn entra() -> Self {
        Self { subject: "oid".into(), ..Self::default() }
    }
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The subject claim, as the issuer spelled it.
    pub subject: String,
    /// The actor the envelope records: `control-plane:<subject>`, `worker:<subject>` or
    /// `user:<subject>`. Always the subject: it is stable (Entra's `oid`), while a user name
    /// or an email can be changed or handed to someone else, and the audit log must name the
    /// same principal forever.
    pub actor: Actor,
    /// The platform roles the token grants (never empty).
    pub roles: BTreeSet<Role>,
    /// The tenants the token names (never empty for a TenantOperator).
    pub tenants: BTreeSet<TenantId>,
}

/// Builds the identity from verified claims.
pub(crate) fn identity_from_claims(claims: &Map<String, Value>, names: &ClaimNames) -> Result<Identity, AuthError> {
    let invalid_subject = || AuthError::InvalidSubject { claim: names.subject.clone() };
    let subject = match claims.get(&names.subject) {
        Some(Value::String(subject)) if !subject.is_empty() => subject.clone(),
        _ => return Err(invalid_subject()),
    };

    let roles: BTreeSet<Role> = string_list(claims.get(&names.roles))
        .ok_or_else(|| AuthError::InvalidRoles { claim: names.roles.clone() })?
        .into_iter()
        .filter_map(|name| match name.parse::<Role>() {
            Ok(role) => Some(role),
            Err(_) => {
                // Issuers carry roles of other applications too; they are not ours to refuse.
                tracing::debug!(role = name, "ignoring a role the platform does not know");
                None
            }
        })
        .collect();
    if roles.is_empty() {
        return Err(AuthError::NoKnownRole);
    }

    let invalid_tenants = || AuthError::InvalidTenants { claim: names.tenants.clone() };
    let tenants = string_list(claims.get(&names.tenants))
        .ok_or_else(invalid_tenants)?
        .into_iter()
        .map(TenantId::parse)
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|error| {
            tracing::debug!(%error, "refusing a token naming an invalid tenant id");
            invalid_tenants()
        })?;
    if roles.contains(&Role::TenantOperator) && tenants.is_empty() {
        return Err(AuthError::NoTenant);
    }

    let actor = if roles.contains(&Role::ControlPlane) {
        Actor::parse(&format!("control-plane:{subject}")).map_err(|_| invalid_subject())?
    } else if roles.contains(&Role::Worker) {
        Actor::parse(&format!("worker:{subject}")).map_err(|_| invalid_subject())?
    } else {
        Actor::parse(&format!("user:{subject}")).map_err(|_| invalid_subject())?
    };

    Ok(Identity { subject, actor, roles, tenants })
}

/// A claim holding strings: an array of strings, or one space-separated string (the OAuth
/// `scope` convention, which some issuers also use for custom claims). Absent is empty;
/// anything else is `None`.
fn string_list(value: Option<&Value>) -> Option<Vec<&str>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(joined)) => Some(joined.split_whitespace().collect()),
        Some(Value::Array(items)) => items.iter().map(Value::as_str).collect(),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn identity(claims: Value) -> Result<Identity, AuthError> {
        identity_from_claims(claims.as_object().unwrap(), &ClaimNames::default())
    }

    #[test]
    fn roles_and_tenants_come_from_their_claims_and_unknown_roles_are_ignored() {
        let id =
            identity(json!({"sub": "alice", "roles": ["tenant-operator", "Reader"], "tenants": ["acme", "globex"]}))
                .unwrap();
        assert_eq!(id.subject, "alice");
        assert_eq!(id.roles, BTreeSet::from([Role::TenantOperator]));
        assert_eq!(id.tenants, BTreeSet::from([TenantId::parse("acme").unwrap(), TenantId::parse("globex").unwrap()]));
        assert_eq!(id.actor.as_str(), "user:alice");
    }

    #[test]
    fn tenants_may_be_one_space_separated_string() {
        let id = identity(json!({"sub": "a", "roles": ["TenantOperator"], "tenants": "acme  globex"})).unwrap();
        assert_eq!(id.tenants.len(), 2);
    }

    #[test]
    fn a_token_without_a_known_role_is_forbidden() {
        assert_eq!(identity(json!({"sub": "a", "roles": ["Reader"]})), Err(AuthError::NoKnownRole));
        assert_eq!(identity(json!({"sub": "a"})), Err(AuthError::NoKnownRole));
        assert_eq!(identity(json!({"sub": "a", "roles": []})).unwrap_err().code(), "FORBIDDEN");
    }

    #[test]
    fn roles_that_are_not_strings_are_refused() {
        let error = identity(json!({"sub": "a", "roles": [1]})).unwrap_err();
        assert_eq!(error, AuthError::InvalidRoles { claim: "roles".into() });
        assert!(identity(json!({"sub": "a", "roles": {"PlatformAdmin": true}})).is_err());
    }

    #[test]
    fn a_tenant_operator_needs_a_tenant() {
        assert_eq!(identity(json!({"sub": "a", "roles": ["TenantOperator"]})), Err(AuthError::NoTenant));
        assert_eq!(identity(json!({"sub": "a", "roles": ["TenantOperator"], "tenants": []})), Err(AuthError::NoTenant));
        // Other roles span every tenant and need none.
        assert!(identity(json!({"sub": "a", "roles": ["GovernanceAuditor"]})).is_ok());
    }

    #[test]
    fn an_invalid_tenant_id_is_refused() {
        for tenants in [json!(["Acme"]), json!(["acme", ""]), json!("acme b@d"), json!([7]), json!({"acme": 1})] {
            let error = identity(json!({"sub": "a", "roles": ["PlatformAdmin"], "tenants": tenants})).unwrap_err();
            assert_eq!(error, AuthError::InvalidTenants { claim: "tenants".into() }, "{tenants}");
        }
    }

    #[test]
    fn the_subject_must_be_present_and_make_a_valid_actor() {
        let error = AuthError::InvalidSubject { claim: "sub".into() };
        assert_eq!(identity(json!({"roles": ["PlatformAdmin"]})), Err(error.clone()));
        assert_eq!(identity(json!({"sub": "", "roles": ["PlatformAdmin"]})), Err(error.clone()));
        assert_eq!(identity(json!({"sub": 42, "roles": ["PlatformAdmin"]})), Err(error.clone()));
        assert_eq!(identity(json!({"sub": "has space", "roles": ["Worker"]})), Err(error.clone()));
        assert_eq!(identity(json!({"sub": "x".repeat(200), "roles": ["PlatformAdmin"]})), Err(error));
        assert_eq!(error_code_of(json!({"roles": ["PlatformAdmin"]})), "UNAUTHENTICATED");
    }

    fn error_code_of(claims: Value) -> &'static str {
        identity(claims).unwrap_err().code()
    }

    #[test]
    fn the_actor_kind_follows_the_roles() {
        let cp = identity(json!({"sub": "svc-1", "roles": ["Worker", "control_plane"]})).unwrap();
        assert_eq!(cp.actor.as_str(), "control-plane:svc-1");
        let worker = identity(json!({"sub": "drift", "roles": ["worker"], "preferred_username": "x@y"})).unwrap();
        assert_eq!(worker.actor.as_str(), "worker:drift");
    }

    #[test]
    fn the_actor_is_the_stable_subject_never_a_changeable_user_name() {
        let both = json!({"sub": "0b1c", "roles": ["PlatformAdmin"], "preferred_username": "alice@contoso.com", "email": "a@c.com"});
        assert_eq!(identity(both).unwrap().actor.as_str(), "user:0b1c");
        let invalid = json!({"sub": "Alice Smith", "roles": ["PlatformAdmin"]});
        assert_eq!(identity(invalid), Err(AuthError::InvalidSubject { claim: "sub".into() }));
    }

    #[test]
    fn claim_names_are_configurable() {
        let names = ClaimNames { subject: "oid".into(), roles: "app_roles".into(), tenants: "tids".into() };
        let claims = json!({"sub": "ignored", "oid": "obj-1", "app_roles": ["TenantOperator"], "tids": ["acme"]});
        let id = identity_from_claims(claims.as_object().unwrap(), &names).unwrap();
        assert_eq!(id.subject, "obj-1");
        assert_eq!(id.actor.as_str(), "user:obj-1");
        assert_eq!(ClaimNames::entra().subject, "oid");
    }
}
