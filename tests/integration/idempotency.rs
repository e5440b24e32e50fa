//! Idempotency and contention over HTTP, as a Control Plane retrying after a timeout (or a
//! redelivered message) sees them: a create retried with its key returns the first result,
//! sequentially and when 50 copies race; the key with another input or another command is
//! refused and writes nothing; 100 concurrent unpinned commands on one aggregate all succeed,
//! while pinned ones still fail fast.

use futures::future::join_all;
use serde_json::{json, Value};
use tests::{environment_input, error_code, TestApp, TestDb, REQUEST_ENVIRONMENT};

const ADD_TARGET: &str = "mutation($id: ID!, $t: ComputeTargetInput!, $options: CommandOptionsInput) {
  addComputeTarget(id: $id, target: $t, options: $options) { aggregateId version deduplicated } }";

fn keyed(key: &str) -> Value {
    json!({ "idempotencyKey": key })
}

fn compute_target(name: &str) -> Value {
    json!({ "kind": "CONTAINER_APPS", "name": name, "resourceId": format!("/subscriptions/3f2504e0-4f89-11d3-9a0c-0305e82c3301/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/{name}") })
}

async fn request(app: &TestApp, name: &str, options: Value) -> Value {
    app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", name, "DEV"), "options": options })).await
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

#[tokio::test]
async fn a_create_retried_with_its_key_returns_the_first_result() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let first = request(&app, "main", keyed("create-main")).await;
    assert!(first["errors"].is_null(), "{first}");
    let retry = request(&app, "main", keyed("create-main")).await;
    assert!(retry["errors"].is_null(), "a retry gets the first result, not an error: {retry}");
    let (first, retry) = (&first["data"]["requestEnvironment"], &retry["data"]["requestEnvironment"]);
    assert_eq!(first["deduplicated"], false);
    assert_eq!(retry["deduplicated"], true);
    assert_eq!(retry["aggregateId"], first["aggregateId"]);
    assert_eq!(retry["version"], 1);
    assert_eq!(retry["events"][0]["eventId"], first["events"][0]["eventId"], "the original events");
    assert_eq!(db.event_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_copies_of_a_keyed_create_give_one_result() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let responses = join_all((0..50).map(|_| request(&app, "main", keyed("create-race")))).await;
    let errors: Vec<&Value> = responses.iter().filter(|r| !r["errors"].is_null()).collect();
    assert!(errors.is_empty(), "{} of 50 copies failed, e.g. {}", errors.len(), errors[0]);
    let results: Vec<&Value> = responses.iter().map(|r| &r["data"]["requestEnvironment"]).collect();
    let ids: std::collections::BTreeSet<&str> = results.iter().map(|r| r["aggregateId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one aggregate id: {ids:?}");
    assert_eq!(results.iter().filter(|r| r["deduplicated"] == false).count(), 1, "exactly one copy wrote");
    assert!(results.iter().all(|r| r["version"] == 1));
    assert_eq!(db.event_count().await, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM command_receipts").await, 1);
}

#[tokio::test]
async fn a_key_reused_with_other_input_or_another_command_is_refused_and_writes_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let first = request(&app, "main", keyed("k")).await;
    assert!(first["errors"].is_null(), "{first}");
    let id = first["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned();

    let other_input = request(&app, "other", keyed("k")).await;
    assert_eq!(error_code(&other_input), Some("IDEMPOTENCY_KEY_REUSED"), "{other_input}");

    let other_command =
        app.gql(ADD_TARGET, json!({ "id": id, "t": compute_target("aca"), "options": keyed("k") })).await;
    assert_eq!(error_code(&other_command), Some("IDEMPOTENCY_KEY_REUSED"), "{other_command}");

    assert_eq!(db.event_count().await, 1, "nothing written");
    assert_eq!(count(&db, "SELECT count(*) FROM unique_claims").await, 1, "no name taken");
    assert_eq!(count(&db, "SELECT count(*) FROM command_receipts").await, 1);
    // The original still replays.
    let retry = request(&app, "main", keyed("k")).await;
    assert_eq!(retry["data"]["requestEnvironment"]["deduplicated"], true, "{retry}");
}

async fn provisioning_environment(app: &TestApp) -> String {
    let created = request(app, "main", Value::Null).await;
    assert!(created["errors"].is_null(), "{created}");
    let id = created["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned();
    let started =
        app.gql("mutation($id: ID!) { recordProvisioningStarted(id: $id) { version } }", json!({ "id": id })).await;
    assert_eq!(started["data"]["recordProvisioningStarted"]["version"], 2, "{started}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_unpinned_commands_on_one_aggregate_all_succeed() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let id = provisioning_environment(&app).await;
    let responses =
        join_all((0..100).map(|i| app.gql(ADD_TARGET, json!({ "id": id, "t": compute_target(&format!("aca-{i}")) }))))
            .await;
    let failed: Vec<&Value> = responses.iter().filter(|r| !r["errors"].is_null()).collect();
    assert!(failed.is_empty(), "{} of 100 failed, e.g. {}", failed.len(), failed[0]);
    let mut versions: Vec<i64> =
        responses.iter().map(|r| r["data"]["addComputeTarget"]["version"].as_i64().unwrap()).collect();
    versions.sort_unstable();
    assert_eq!(versions, (3..=102).collect::<Vec<i64>>(), "each applied once, on the state its predecessor left");
    let version = count(&db, &format!("SELECT max(sequence) FROM events WHERE aggregate_id = '{id}'")).await;
    assert_eq!(version, 2 + 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_commands_still_fail_fast_on_a_version_mismatch() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let id = provisioning_environment(&app).await;
    let responses = join_all((0..20).map(|i| {
        let variables =
            json!({ "id": id, "t": compute_target(&format!("aca-{i}")), "options": { "expectedVersion": 2 } });
        app.gql(ADD_TARGET, variables)
    }))
    .await;
    let succeeded = responses.iter().filter(|r| r["errors"].is_null()).count();
    assert_eq!(succeeded, 1, "exactly one pinned command finds version 2");
    assert!(responses.iter().filter(|r| !r["errors"].is_null()).all(|r| error_code(r) == Some("CONCURRENCY_CONFLICT")));
    assert_eq!(db.event_count().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinned_commands_racing_from_two_replicas_all_land() {
    use ::commands::{CommandBus, CommandOptions};
    use domain::environments::{ComputeTarget, EnvironmentCommand, RuntimeEnvironment};
    let db = TestDb::new().await;
    // Two buses: two replicas, each with its own cache and its own per-aggregate turns, so
    // only the events primary key and the retry budget keep them from losing commands.
    let replicas = [CommandBus::new(db.pool.clone()), CommandBus::new(db.pool.clone())];
    let id = tests::drive::ready_environment(&replicas[0], "main").await.to_string();
    let results = join_all((0..60).map(|i| {
        let (bus, id) = (&replicas[i % 2], &id);
        async move {
            let name = format!("aca-{i}");
            let target = ComputeTarget::parse("aks", &name, &format!("/subscriptions/x/{name}")).unwrap();
            let command = EnvironmentCommand::AddComputeTarget { target };
            bus.execute::<RuntimeEnvironment>(&tests::system_context(), id, command, CommandOptions::default()).await
        }
    }))
    .await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{} of 60 failed: {:?}", failed.len(), failed.first());
    let version = count(&db, &format!("SELECT max(sequence) FROM events WHERE aggregate_id = '{id}'")).await;
    assert_eq!(version, 3 + 60);
}
