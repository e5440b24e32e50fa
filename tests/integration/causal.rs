//! `causalChain`, by rule: from any event of a chain, the chain is its root and everything
//! the root caused, across aggregates and across a worker's action, each node with its depth
//! and cause; from a trace, every root of the trace with what it caused; `maxDepth` bounds the
//! walk and says it cut it; a free-text causation id links nothing; an unknown event is
//! NOT_FOUND; the chain is read through the role guard (history) over HTTP.

use serde_json::{json, Value};
use tests::drive::{deploy, ready_environment, registered_service, start_deployment, succeed};
use tests::{environment_input, TestApp, TestDb, REQUEST_ENVIRONMENT};

const CHAIN: &str = "query($e: ID, $t: String, $d: Int) { causalChain(eventId: $e, traceId: $t, maxDepth: $d) {
    truncated nodes { depth causedBy event { eventId eventType aggregateId actor causationId } } } }";

const ADD_TARGET: &str = "mutation($id: ID!, $name: String!, $o: CommandOptionsInput) {
    addComputeTarget(id: $id, target: { kind: FUNCTIONS, name: $name, resourceId: \"/subscriptions/x/f\" }, options: $o)
    { events { eventId } } }";

/// (depth, event id, caused by) of each node.
fn shape(chain: &Value) -> Vec<(i64, String, Option<String>)> {
    chain["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["depth"].as_i64().unwrap(),
                n["event"]["eventId"].as_str().unwrap().to_owned(),
                n["causedBy"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn chain(app: &TestApp, variables: Value) -> Value {
    let response = app.gql(CHAIN, variables).await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["causalChain"].clone()
}

#[tokio::test]
async fn a_chain_links_commands_and_a_workers_reaction_from_any_of_its_events() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;

    // A three-link chain across two environments, named by the callers' causation ids.
    let mut ids = Vec::new();
    for name in ["cause-a", "cause-b"] {
        let created = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", name, "DEV") })).await;
        ids.push(created["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned());
    }
    let root = app.gql(ADD_TARGET, json!({ "id": ids[0], "name": "f1" })).await;
    let root = root["data"]["addComputeTarget"]["events"][0]["eventId"].as_str().unwrap().to_owned();
    let second = app.gql(ADD_TARGET, json!({ "id": ids[1], "name": "f1", "o": { "causationId": root } })).await;
    let second = second["data"]["addComputeTarget"]["events"][0]["eventId"].as_str().unwrap().to_owned();
    let third = app.gql(ADD_TARGET, json!({ "id": ids[0], "name": "f2", "o": { "causationId": second } })).await;
    let third = third["data"]["addComputeTarget"]["events"][0]["eventId"].as_str().unwrap().to_owned();
    // A free-text causation id links nothing.
    let loose = app.gql(ADD_TARGET, json!({ "id": ids[1], "name": "f2", "o": { "causationId": "ticket-42" } })).await;
    assert!(loose["errors"].is_null(), "{loose}");

    let expected = vec![
        (0, root.clone(), None),
        (1, second.clone(), Some(root.clone())),
        (2, third.clone(), Some(second.clone())),
    ];
    for from in [&root, &second, &third] {
        assert_eq!(shape(&chain(&app, json!({ "e": from })).await), expected, "from {from}");
    }
    // maxDepth cuts the walk and says so.
    let cut = chain(&app, json!({ "e": third, "d": 1 })).await;
    assert_eq!(shape(&cut), expected[..2].to_vec());
    assert_eq!(cut["truncated"], true);
    assert_eq!(chain(&app, json!({ "e": root })).await["truncated"], false);

    // A worker's reaction: a later success supersedes the known-good deployment.
    let bus = app.bus();
    let environment = ready_environment(bus, "dev-chain").await;
    let service = registered_service(bus, "api", domain::environments::ComputeTargetKind::Aks).await;
    let first = deploy(bus, start_deployment(service, environment, None, "1.0.0")).await.unwrap();
    succeed(bus, first).await;
    let later = deploy(bus, start_deployment(service, environment, None, "1.1.0")).await.unwrap();
    succeed(bus, later).await;
    app.settle().await;
    let success: String = sqlx::query_scalar(
        "SELECT event_id::text FROM events WHERE aggregate_id = $1 AND event_type = 'DeploymentSucceeded'",
    )
    .bind(later.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let reaction = chain(&app, json!({ "e": success })).await;
    let nodes = reaction["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{reaction}");
    assert_eq!(nodes[1]["event"]["eventType"], "DeploymentSuperseded");
    assert_eq!(nodes[1]["event"]["aggregateId"], first.to_string().as_str());
    assert_eq!(nodes[1]["event"]["actor"], "worker:supersession");
    assert_eq!(nodes[1]["causedBy"], success.as_str());

    // From the trace of the success (the test's system context traces each command on its
    // own, so the trace's root is the success, and its child comes along).
    let trace: String = sqlx::query_scalar("SELECT trace_id FROM events WHERE event_id = $1::uuid")
        .bind(&success)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let by_trace = chain(&app, json!({ "t": trace })).await;
    assert_eq!(shape(&by_trace), shape(&reaction));

    // Bad input is a typed error.
    let unknown = app.gql(CHAIN, json!({ "e": uuid::Uuid::now_v7().to_string() })).await;
    assert_eq!(tests::error_code(&unknown), Some("NOT_FOUND"), "{unknown}");
    let neither = app.gql(CHAIN, json!({})).await;
    assert_eq!(tests::error_code(&neither), Some("INVALID_INPUT"), "{neither}");
    let deep = app.gql(CHAIN, json!({ "e": root, "d": 1000 })).await;
    assert_eq!(tests::error_code(&deep), Some("INVALID_INPUT"), "{deep}");
}
