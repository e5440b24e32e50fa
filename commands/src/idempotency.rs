//! What makes a retried command the same command: the scope its key lives in, the id a keyed
//! create derives from its key, and the fingerprint of its input stored with the receipt.
//!
//! Why derived ids: a create without an explicit id used to mint a fresh UUID per request, so a
//! retry with the same key looked like a second aggregate and was refused as a reused key. With
//! the id derived from (receipt scope, aggregate type, command type, key), every copy of the
//! create targets the same aggregate: the first to append wins, the others lose on the events
//! primary key (or, in one process, are serialized behind it) and get the winner's result from
//! its receipt. The derivation is stable across replicas and releases (SHA-256, no process
//! state), so a retry that lands on another replica, or after a deploy, still finds it.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::context::RequestContext;

/// The scope an idempotency key lives in: the acting tenant ("" for platform-wide callers), so
/// keys never collide across tenants.
pub fn receipt_scope(ctx: &RequestContext) -> String {
    ctx.tenant.as_ref().map(|t| t.as_str().to_owned()).unwrap_or_default()
}

/// The id of the aggregate a keyed create makes: a UUID v8 from the SHA-256 of the scope, the
/// aggregate type, the command type and the key (each length-prefixed, so no two tuples share
/// an encoding). Never nil (the version bits are set).
pub fn derived_id(scope: &str, aggregate_type: &str, command_type: &str, key: &str) -> Uuid {
    let mut hasher = Sha256::new();
    hasher.update(b"idempotent-create/v1");
    for part in [scope, aggregate_type, command_type, key] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The fingerprint of a command's input as the caller sent it (e.g. a mutation's name and its
/// arguments but the options): hex SHA-256 of the canonical JSON (object keys sorted), so the
/// same input in another key order is the same input. Stored with the receipt; a retry whose
/// fingerprint differs is a reused key, not a retry.
pub fn input_hash(operation: &str, input: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update((operation.len() as u64).to_be_bytes());
    hasher.update(operation.as_bytes());
    canonical(input, &mut hasher);
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical(value: &serde_json::Value, hasher: &mut Sha256) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"{");
            for (k, v) in entries {
                hasher.update(serde_json::to_string(k).unwrap_or_default().as_bytes());
                hasher.update(b":");
                canonical(v, hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_derived_id_is_stable_and_depends_on_every_part() {
        let id = derived_id("", "runtime_environment", "RequestEnvironment", "k");
        assert_eq!(id, derived_id("", "runtime_environment", "RequestEnvironment", "k"));
        assert!(!id.is_nil());
        assert_eq!(id.get_version_num(), 8);
        assert_ne!(id, derived_id("t1", "runtime_environment", "RequestEnvironment", "k"));
        assert_ne!(id, derived_id("", "runtime_service", "RequestEnvironment", "k"));
        assert_ne!(id, derived_id("", "runtime_environment", "RegisterService", "k"));
        assert_ne!(id, derived_id("", "runtime_environment", "RequestEnvironment", "k2"));
        // Length prefixes: moving a character from one part to the next changes the id.
        assert_ne!(derived_id("ab", "c", "d", "e"), derived_id("a", "bc", "d", "e"));
    }

    #[test]
    fn the_input_hash_ignores_key_order_but_not_values() {
        let a = input_hash("requestEnvironment", &json!({ "input": { "name": "a", "stage": "DEV" } }));
        let b = input_hash("requestEnvironment", &json!({ "input": { "stage": "DEV", "name": "a" } }));
        let c = input_hash("requestEnvironment", &json!({ "input": { "stage": "DEV", "name": "b" } }));
        let d = input_hash("addComputeTarget", &json!({ "input": { "stage": "DEV", "name": "a" } }));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.len(), 64);
    }
}
