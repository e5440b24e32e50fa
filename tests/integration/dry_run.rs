//! Dry runs: `options: { dryRun: true }` makes every check a real run makes and writes nothing.
//!
//! The release story of `story.rs` runs rehearsed: each of its mutations, across all nine
//! aggregates, is first sent as a dry run on a quiet database, which must leave every table as
//! it was and return the events and version the real run then writes (or be refused as the real
//! run is). The focused tests below hit what only the database or the request decides: a taken
//! claim, another tenant's aggregate, a role, an idempotency key, the cached state.

use std::collections::BTreeMap;
use std::time::Duration;

use commands::Role;
use serde_json::{json, Value};
use tests::{environment_input, error_code, fingerprint, world, TestApp, TestDb};

use crate::story;

/// `mutation` with `options: { dryRun: true }` added to its field's arguments (the first field
/// of the document; every caller's field has arguments and passes no options of its own).
pub(crate) fn dry_run_of(mutation: &str) -> String {
    assert!(!mutation.contains("options:"), "the mutation passes no options of its own: {mutation}");
    let selection = mutation.find('{').expect("a selection set");
    let open = selection + mutation[selection..].find('(').expect("the field has arguments");
    format!("{}options: {{ dryRun: true }}, {}", &mutation[..=open], &mutation[open + 1..])
}

/// Panics with the tables that changed when `after` is not `before`.
pub(crate) fn assert_unchanged(
    before: &BTreeMap<String, (i64, String)>,
    after: &BTreeMap<String, (i64, String)>,
    mutation: &str,
) {
    let changed: Vec<String> = after
        .iter()
        .filter(|(table, now)| before.get(*table) != Some(*now))
        .map(|(table, (rows, _))| format!("{table} ({} -> {rows} rows)", before.get(table).map_or(0, |b| b.0)))
        .collect();
    assert!(changed.is_empty(), "the dry run of {mutation} changed {changed:?}");
    assert_eq!(before.len(), after.len(), "the dry run of {mutation} changed the tables");
}

/// A payload as the decision made it: without the clock (fields named `at` or `..._at`), and with
/// the id a
/// dry run of a create got (a fresh one per call, when the caller gives none) replaced by the real
/// run's.
fn comparable(payload: &Value, rehearsed_id: &str, real_id: &str) -> Value {
    fn strip_clock(value: &mut Value) {
        match value {
            Value::Object(fields) => {
                fields.retain(|name, _| name != "at" && !name.ends_with("_at"));
                fields.values_mut().for_each(strip_clock);
            }
            Value::Array(items) => items.iter_mut().for_each(strip_clock),
            _ => {}
        }
    }
    let mut value: Value = serde_json::from_str(&payload.to_string().replace(rehearsed_id, real_id)).unwrap();
    strip_clock(&mut value);
    value
}

/// Asserts that the dry run `rehearsed` announced what the real run `real` then wrote: the same
/// version, the same events in the same order at the same sequences with the same payloads;
/// and that it says it was a dry run, with no log position.
pub(crate) fn assert_rehearsed(mutation: &str, rehearsed: &Value, real: &Value) {
    assert_eq!(rehearsed["dryRun"], true, "{mutation}: {rehearsed}");
    assert_eq!(real["dryRun"], false, "{mutation}: {real}");
    assert!(rehearsed["position"].is_null(), "a dry run has no read-your-writes token: {rehearsed}");
    assert_eq!(rehearsed["version"], real["version"], "{mutation}: {rehearsed} then {real}");
    let (rehearsed_id, real_id) = (rehearsed["aggregateId"].as_str().unwrap(), real["aggregateId"].as_str().unwrap());
    let (announced, written) = (rehearsed["events"].as_array().unwrap(), real["events"].as_array().unwrap());
    assert_eq!(announced.len(), written.len(), "{mutation}: {rehearsed} then {real}");
    for (a, w) in announced.iter().zip(written) {
        assert_eq!((&a["eventType"], &a["sequence"]), (&w["eventType"], &w["sequence"]), "{mutation}");
        assert_eq!((&a["globalPosition"], &a["transactionId"]), (&json!("0"), &json!("0")), "{mutation}: {a}");
        assert_eq!(
            comparable(&a["payload"], rehearsed_id, real_id),
            comparable(&w["payload"], real_id, real_id),
            "{mutation}: the dry run announced another payload than the real run wrote"
        );
    }
}

#[tokio::test]
async fn a_dry_run_of_every_story_command_announces_what_the_real_run_writes_and_writes_nothing() {
    story::release_story(true).await;
}

const RESULT: &str = "{ aggregateId version dryRun deduplicated position events { eventId eventType sequence } }";

fn register_service(name: &str) -> (String, Value) {
    let contract = json!({ "image": "contoso.azurecr.io/shop/api", "ports": [8080],
        "liveness": { "kind": "HTTP", "path": "/healthz", "port": 8080, "periodSeconds": 10, "timeoutSeconds": 2 },
        "minReplicas": 1, "maxReplicas": 5, "compute": "AKS" });
    (
        format!("mutation($i: RegisterServiceInput!, $o: CommandOptionsInput) {{ registerService(input: $i, options: $o) {RESULT} }}"),
        json!({ "i": { "product": "shop", "name": name, "kind": "MICROSERVICE", "blueprint": "blueprints/api@3", "contract": contract } }),
    )
}

/// `variables` with `$o` (the command options) set to `options`.
fn with_options(variables: &Value, options: Value) -> Value {
    let mut variables = variables.clone();
    variables["o"] = options;
    variables
}

fn field(response: &Value) -> &Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"].as_object().unwrap().values().next().unwrap()
}

#[tokio::test]
async fn a_dry_run_that_would_take_a_taken_name_is_refused_by_the_database_as_the_real_run_is() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let (register, variables) = register_service("api");
    field(&app.gql(&register, variables.clone()).await);
    app.settle().await;
    let before = fingerprint(&db.pool).await;

    // The decision accepts a new service (it cannot see names); only the claim's primary key,
    // checked by PostgreSQL inside the rehearsal, refuses the name.
    let rehearsal = app.gql(&register, with_options(&variables, json!({ "dryRun": true }))).await;
    assert_eq!(error_code(&rehearsal), Some("ALREADY_EXISTS"), "{rehearsal}");
    app.settle().await;
    assert_unchanged(&before, &fingerprint(&db.pool).await, &register);
    let real = app.gql(&register, variables).await;
    assert_eq!(error_code(&real), Some("ALREADY_EXISTS"), "{real}");
    assert_eq!(rehearsal["errors"][0]["message"], real["errors"][0]["message"]);
    assert_eq!(rehearsal["errors"][0]["message"], "service_name \"shop/api\" is already taken", "the claim's words");

    // And a free name rehearses well, and is still free after it.
    let (register_other, other) = register_service("worker");
    let rehearsed = app.gql(&register_other, with_options(&other, json!({ "dryRun": true }))).await;
    assert_eq!(field(&rehearsed)["events"][0]["eventType"], "ServiceRegistered");
    field(&app.gql(&register_other, other).await);
}

const KEY: &[u8] = b"dry-run-test-signing-key-0123456789abc";

fn key() -> identity::LocalKey {
    identity::LocalKey::new(KEY.to_vec(), "dry-run-test", "runtime-platform").unwrap()
}

fn bearer(role: Role, tenants: &[&str]) -> String {
    let tenants: Vec<_> = tenants.iter().map(|t| domain::envelope::TenantId::parse(t).unwrap()).collect();
    let token = identity::mint_local(
        &key(),
        &format!("{}-caller", role.as_str().to_lowercase()),
        &[role],
        &tenants,
        Duration::from_secs(600),
    )
    .unwrap();
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_dry_run_is_refused_for_tenants_and_roles_exactly_as_the_real_run() {
    let db = TestDb::new().await;
    let config = graphql::ApiConfig {
        auth: graphql::request_context::Authentication::Token(identity::Verifier::local(
            key(),
            identity::ClaimNames::default(),
        )),
        ..graphql::ApiConfig::development()
    };
    let app = TestApp::start_with(db.pool.clone(), config).await;
    let admin = bearer(Role::PlatformAdmin, &[]);
    let world = world::build(&app, &[("authorization", &admin)]).await;
    let contoso_binding = world.tenants["contoso"].id("RuntimeTenantBinding").to_owned();
    let fabrikam_binding = world.tenants["fabrikam"].id("RuntimeTenantBinding").to_owned();
    let fabrikam = bearer(Role::TenantOperator, &["fabrikam"]);
    let auditor = bearer(Role::GovernanceAuditor, &[]);
    let suspend = format!(
        "mutation($id: ID!, $o: CommandOptionsInput) {{ suspendTenantBinding(id: $id, reason: \"maintenance\", options: $o) {RESULT} }}"
    );
    let cases = [
        // Another tenant's aggregate does not exist for this caller.
        (&fabrikam, json!({ "id": contoso_binding }), "NOT_FOUND"),
        // A role that may not send the command is refused before anything is read.
        (&auditor, json!({ "id": fabrikam_binding }), "FORBIDDEN"),
    ];
    app.settle().await;
    let before = fingerprint(&db.pool).await;
    for (token, variables, code) in &cases {
        let headers = [("authorization", token.as_str())];
        let rehearsal = app.gql_with(&suspend, with_options(variables, json!({ "dryRun": true })), &headers).await;
        assert_eq!(error_code(&rehearsal), Some(*code), "dry run: {rehearsal}");
        let real = app.gql_with(&suspend, variables.clone(), &headers).await;
        assert_eq!(error_code(&real), Some(*code), "real run: {real}");
        assert_eq!(rehearsal["errors"][0]["message"], real["errors"][0]["message"]);
    }
    // A create for a tenant the caller does not operate.
    let bind =
        "mutation($i: BindTenantInput!, $o: CommandOptionsInput) { bindTenant(input: $i, options: $o) { version } }";
    let binding = json!({ "i": { "tenantId": "contoso", "environmentId": world.environment, "isolation": "SHARED",
        "workloadIdentityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11", "networkPolicy": { "kind": "DENY_CROSS_TENANT" },
        "dataPartition": "contoso-2", "quotas": { "cpuMillicores": 1000, "memoryMib": 1024, "replicas": 3, "storageGib": 10, "requestsPerSecond": 100 } } });
    let headers = [("authorization", fabrikam.as_str())];
    let rehearsal = app.gql_with(bind, with_options(&binding, json!({ "dryRun": true })), &headers).await;
    assert_eq!(error_code(&rehearsal), Some("FORBIDDEN"), "{rehearsal}");
    assert_eq!(error_code(&app.gql_with(bind, binding, &headers).await), Some("FORBIDDEN"));
    app.settle().await;
    assert_unchanged(&before, &fingerprint(&db.pool).await, "the refused commands");

    // Its own tenant's binding: the dry run passes, as the real run then does.
    let own = json!({ "id": fabrikam_binding });
    let rehearsal = app.gql_with(&suspend, with_options(&own, json!({ "dryRun": true })), &headers).await;
    let real = app.gql_with(&suspend, own, &headers).await;
    assert_eq!((field(&rehearsal)["dryRun"].clone(), field(&real)["dryRun"].clone()), (json!(true), json!(false)));
    assert_eq!(field(&rehearsal)["version"], field(&real)["version"]);
}

#[tokio::test]
async fn a_dry_run_with_an_idempotency_key_keeps_no_receipt_and_a_duplicate_gets_the_first_result() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let (register, variables) = register_service("api");
    let dry = json!({ "dryRun": true, "idempotencyKey": "register-api" });
    let rehearsal = app.gql(&register, with_options(&variables, dry.clone())).await;
    let rehearsed = field(&rehearsal).clone();
    assert_eq!((&rehearsed["dryRun"], &rehearsed["deduplicated"]), (&json!(true), &json!(false)));
    let receipts: i64 = sqlx::query_scalar("SELECT count(*) FROM command_receipts").fetch_one(&db.pool).await.unwrap();
    assert_eq!(receipts, 0, "a dry run keeps no receipt");

    // The real run with the key is the first, not a duplicate of the dry run, and it makes the
    // aggregate the dry run announced (a keyed create derives its id from the key).
    let real = app.gql(&register, with_options(&variables, json!({ "idempotencyKey": "register-api" }))).await;
    let real = field(&real).clone();
    assert_eq!((&real["dryRun"], &real["deduplicated"]), (&json!(false), &json!(false)));
    assert_eq!(real["aggregateId"], rehearsed["aggregateId"]);
    assert!(real["position"].is_string(), "{real}");

    // A dry run of the duplicate gets the first result back, as the real duplicate would; its
    // events were written (by the first run), so it has their position.
    app.settle().await;
    let before = fingerprint(&db.pool).await;
    let duplicate = app.gql(&register, with_options(&variables, dry)).await;
    let duplicate = field(&duplicate).clone();
    assert_eq!((&duplicate["dryRun"], &duplicate["deduplicated"]), (&json!(true), &json!(true)));
    assert_eq!((&duplicate["events"], &duplicate["position"]), (&real["events"], &real["position"]));
    app.settle().await;
    assert_unchanged(&before, &fingerprint(&db.pool).await, "the duplicate's dry run");
}

#[tokio::test]
async fn a_dry_run_leaves_the_state_the_next_command_decides_on_as_it_was() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let request = "mutation($i: RequestEnvironmentInput!) { requestEnvironment(input: $i) { aggregateId } }";
    let env = field(&app.gql(request, json!({ "i": environment_input("shop", "dev", "DEV") })).await)["aggregateId"]
        .as_str()
        .unwrap()
        .to_owned();
    let add = format!(
        "mutation($id: ID!, $t: ComputeTargetInput!, $o: CommandOptionsInput) {{ addComputeTarget(id: $id, target: $t, options: $o) {RESULT} }}"
    );
    let target = |name: &str| json!({ "id": env, "t": { "kind": "AKS", "name": name, "resourceId": format!("/subscriptions/3f2504e0-4f89-11d3-9a0c-0305e82c3301/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/{name}") } });
    // Two different targets: had the first rehearsal left its state in the aggregate cache, the
    // second would be decided on version 2 and reach 3 (a refusal would not show it: the bus
    // re-decides a refusal on a fresh load).
    for name in ["aks-2", "aks-3"] {
        let rehearsal = app.gql(&add, with_options(&target(name), json!({ "dryRun": true }))).await;
        assert_eq!(field(&rehearsal)["version"], 2, "{rehearsal}");
    }
    let real = app.gql(&add, target("aks-2")).await;
    assert_eq!(field(&real)["version"], 2, "{real}");
    assert_eq!(db.event_count().await, 2);
    // Dry runs now decide on the real run's state, like the real command would.
    let next = app.gql(&add, with_options(&target("aks-3"), json!({ "dryRun": true }))).await;
    assert_eq!(field(&next)["version"], 3, "{next}");
    let again = app.gql(&add, with_options(&target("aks-2"), json!({ "dryRun": true }))).await;
    assert_eq!(error_code(&again), error_code(&app.gql(&add, target("aks-2")).await), "{again}");
    assert!(error_code(&again).is_some(), "aks-2 is there already: {again}");
    let pinned = app.gql(&add, with_options(&target("aks-4"), json!({ "dryRun": true, "expectedVersion": 1 }))).await;
    assert_eq!(error_code(&pinned), Some("CONCURRENCY_CONFLICT"), "{pinned}");
}
