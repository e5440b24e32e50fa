//! Upcasting old `DeploymentStarted` payloads to the current schema (2.0), so events written
//! under 1.0 would still load.
//!
//! **An example, kept on purpose**: no 1.0 `DeploymentStarted` was ever written by this
//! service (the log starts at 2.0). The upcaster stays wired into the deployment store as the
//! worked example of how a schema change is carried (cqrs-es's `EventUpcaster`, versioned
//! `event_version`), and the store, projection and read-model tests use it to prove that an
//! old payload written straight into the log loads. Delete it together with those tests if
//! the example is no longer wanted; nothing in production depends on it. Pure JSON-to-JSON functions: the event store runs them (through
//! [`deployment_upcasters`]) before deserializing, and projections decode with the same store.
//!
//! What changed from 1.0 to 2.0:
//! - 1.0 had no `strategy`: every deployment was rolling. 2.0 adds `"strategy": {"kind":
//!   "rolling"}` to them.
//! - 1.0 named the image as one string, `"image": "<repository>@<digest>"`, inside `artifact`
//!   (or, in the earliest payloads, beside `version` and `commit` at the top level with no
//!   `artifact` object). 2.0 keeps only `artifact.digest`: the repository is the service's
//!   (its runtime contract), and a deployment is identified by content, not location. The
//!   1.0 repository is therefore dropped.
//!
//! 1.0 payload (as stored: externally tagged):
//! ```json
//! {"DeploymentStarted": {
//!   "service": "…", "environment": "…", "tenant": null,
//!   "artifact": {"image": "myregistry.azurecr.io/shop/api@sha256:…", "version": "1.4.2",
//!                "commit": "…"},
//!   "gates": [{"name": "availability", "kind": "availability", "threshold": 99.5}],
//!   "rollback_of": null, "at": "2024-11-05T09:30:00Z"}}
//! ```

use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use serde_json::{json, Map, Value};

use super::events::DEPLOYMENT_STARTED_VERSION;

/// The event type the upcaster applies to.
const DEPLOYMENT_STARTED: &str = "DeploymentStarted";

/// Turns a 1.0 `DeploymentStarted` payload into 2.0: adds `strategy: rolling` and replaces
/// `image: "<repo>@<digest>"` with `artifact.digest`. Accepts the payload as stored (tagged,
/// `{"DeploymentStarted": {...}}`) or its bare body, and returns the same form. A payload that
/// is already 2.0 is returned unchanged; an image without `@digest` is left in place, so
/// deserialization then fails naming the missing `digest` instead of inventing one.
pub fn upcast_deployment_started_v1(payload: Value) -> Value {
    match payload {
        Value::Object(mut tagged) if tagged.len() == 1 && tagged.contains_key(DEPLOYMENT_STARTED) => {
            let body = tagged.remove(DEPLOYMENT_STARTED).unwrap_or(Value::Null);
            json!({ DEPLOYMENT_STARTED: upcast_body(body) })
        }
        body => upcast_body(body),
    }
}

fn upcast_body(body: Value) -> Value {
    let Value::Object(mut body) = body else {
        return body;
    };
    body.entry("strategy").or_insert_with(|| json!({ "kind": "rolling" }));

    // The earliest layout had no `artifact` object: gather its parts from the top level.
    let flat_image = body.remove("image");
    let flat_version = body.remove("version");
    let flat_commit = body.remove("commit");
    let artifact = body.entry("artifact").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(artifact) = artifact else {
        return Value::Object(body);
    };
    for (key, value) in [("version", flat_version), ("commit", flat_commit)] {
        if let Some(value) = value {
            artifact.entry(key).or_insert(value);
        }
    }
    let image = artifact.remove("image").or(flat_image);
    match image {
        Some(Value::String(image)) => match image.rsplit_once('@') {
            Some((_repository, digest)) => {
                artifact.entry("digest").or_insert_with(|| Value::String(digest.to_owned()));
            }
            None => {
                artifact.insert("image".to_owned(), Value::String(image));
            }
        },
        Some(other) => {
            artifact.insert("image".to_owned(), other);
        }
        None => {}
    }
    Value::Object(body)
}

/// The upcasters of the deployment aggregate, for `PgEventStore::with_upcasters`: events of
/// type `DeploymentStarted` stored at a version below 2.0 go through
/// [`upcast_deployment_started_v1`] and come out at 2.0.
pub fn deployment_upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(SemanticVersionEventUpcaster::new(
        DEPLOYMENT_STARTED,
        DEPLOYMENT_STARTED_VERSION,
        Box::new(upcast_deployment_started_v1),
    ))]
}

#[cfg(test)]
mod tests {
    use cqrs_es::persist::SerializedEvent;

    use super::*;
    use crate::catalog::deployment::events::DeploymentEvent;
    use crate::catalog::deployment::values::DeploymentStrategy;

    const DIGEST: &str = "sha256:4f6b2c0e9a1d3b5c7e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d";

    /// A `DeploymentStarted` payload exactly as a 1.0 writer stored it.
    const V1_NESTED: &str = r#"{"DeploymentStarted":{"service":"0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f01","environment":"0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f02","tenant":"contoso","artifact":{"image":"myregistry.azurecr.io/shop/api@sha256:4f6b2c0e9a1d3b5c7e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d","version":"1.4.2","commit":"9fceb02d0ae598e95dc970b74767f19372d61af8"},"gates":[{"name":"availability","kind":"availability","threshold":99.5}],"rollback_of":null,"at":"2024-11-05T09:30:00Z"}}"#;

    /// The earliest 1.0 layout: image, version and commit at the top level.
    const V1_FLAT: &str = r#"{"DeploymentStarted":{"service":"0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f01","environment":"0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f02","tenant":null,"image":"localhost:5000/api@sha256:4f6b2c0e9a1d3b5c7e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d","version":"0.9.0-rc.1","commit":"9fceb02d0ae598e95dc970b74767f19372d61af8","gates":[{"name":"p95","kind":"latency_p95","threshold":300.0}],"rollback_of":"0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f03","at":"2024-06-01T00:00:00Z"}}"#;

    fn parse(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_v1_payload_gets_a_rolling_strategy_and_its_digest_split_out() {
        let upcast = upcast_deployment_started_v1(parse(V1_NESTED));
        let body = &upcast["DeploymentStarted"];
        assert_eq!(body["strategy"], json!({ "kind": "rolling" }));
        assert_eq!(
            body["artifact"],
            json!({
                "digest": DIGEST,
                "version": "1.4.2",
                "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            })
        );
        assert_eq!(body["tenant"], "contoso");
        let event: DeploymentEvent = serde_json::from_value(upcast).unwrap();
        let DeploymentEvent::DeploymentStarted { strategy, artifact, .. } = event else {
            panic!("not a DeploymentStarted: {event:?}");
        };
        assert_eq!(strategy, DeploymentStrategy::Rolling);
        assert_eq!(artifact.digest().as_str(), DIGEST);
    }

    #[test]
    fn the_flat_v1_layout_is_gathered_into_an_artifact() {
        let upcast = upcast_deployment_started_v1(parse(V1_FLAT));
        let body = &upcast["DeploymentStarted"];
        assert!(body.get("image").is_none());
        assert!(body.get("version").is_none());
        assert_eq!(body["artifact"]["digest"], DIGEST);
        assert_eq!(body["artifact"]["version"], "0.9.0-rc.1");
        let event: DeploymentEvent = serde_json::from_value(upcast).unwrap();
        assert!(matches!(event, DeploymentEvent::DeploymentStarted { rollback_of: Some(_), .. }));
    }

    #[test]
    fn a_bare_body_is_upcast_in_place() {
        let body = parse(V1_NESTED)["DeploymentStarted"].clone();
        let upcast = upcast_deployment_started_v1(body);
        assert_eq!(upcast["strategy"]["kind"], "rolling");
        assert_eq!(upcast["artifact"]["digest"], DIGEST);
    }

    #[test]
    fn a_v2_payload_is_left_unchanged() {
        let v2 = upcast_deployment_started_v1(parse(V1_NESTED));
        let mut canary = v2.clone();
        canary["DeploymentStarted"]["strategy"] = json!({ "kind": "canary", "steps": [10, 100] });
        assert_eq!(upcast_deployment_started_v1(v2.clone()), v2);
        assert_eq!(upcast_deployment_started_v1(canary.clone()), canary);
    }

    #[test]
    fn an_image_without_a_digest_is_not_invented_one() {
        let tagged = V1_NESTED.replace(&format!("@{DIGEST}"), ":1.4.2");
        let upcast = upcast_deployment_started_v1(parse(&tagged));
        assert!(upcast["DeploymentStarted"]["artifact"].get("digest").is_none());
        let error = serde_json::from_value::<DeploymentEvent>(upcast).unwrap_err();
        assert!(error.to_string().contains("digest"), "{error}");
    }

    #[test]
    fn the_store_upcaster_applies_to_v1_deployment_started_only() {
        let upcasters = deployment_upcasters();
        let upcaster = &upcasters[0];
        assert!(upcaster.can_upcast("DeploymentStarted", "1.0"));
        assert!(!upcaster.can_upcast("DeploymentStarted", "2.0"));
        assert!(!upcaster.can_upcast("RolloutBegun", "1.0"));
        let stored = SerializedEvent::new(
            "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f09".to_owned(),
            1,
            "RuntimeDeployment".to_owned(),
            "DeploymentStarted".to_owned(),
            "1.0".to_owned(),
            parse(V1_NESTED),
            Value::Null,
        );
        let upcast = upcaster.upcast(stored);
        assert_eq!(upcast.event_version, "2.0.0");
        assert!(serde_json::from_value::<DeploymentEvent>(upcast.payload).is_ok());
    }
}
