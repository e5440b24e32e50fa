//! The walking skeleton through GraphQL only: mutations write events, queries return them,
//! bad input is refused with typed errors and writes nothing, and data survives a restart.

use serde_json::{json, Value};
use tests::{environment_input, error_code, TestApp, TestDb, REQUEST_ENVIRONMENT};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

const ENVIRONMENT: &str = "query($id: ID!) { environment(id: $id) {
  id version product name stage status acceptsDeployments region pulumiStack provisioningAttempts lastReason
  computeTargets { kind name resourceId } outputs { endpoints { name url } resourceIds stackVersion } } }";

async fn create(app: &TestApp, product: &str, name: &str, stage: &str) -> String {
    let response = app
        .gql_with(
            REQUEST_ENVIRONMENT,
            json!({ "input": environment_input(product, name, stage) }),
            &[("traceparent", TRACEPARENT)],
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned()
}

async fn run(app: &TestApp, mutation: &str, variables: Value) -> Value {
    app.gql_with(mutation, variables, &[("traceparent", TRACEPARENT)]).await
}

#[tokio::test]
async fn an_environment_lives_its_whole_lifecycle_through_graphql() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let id = create(&app, "shop", "main", "DEV").await;
    let steps: Vec<(&str, Value)> = vec![
        ("mutation($id: ID!) { recordProvisioningStarted(id: $id) { version } }", json!({ "id": id })),
        (
            "mutation($id: ID!, $o: ProvisioningOutputsInput!) { recordProvisioningSucceeded(id: $id, outputs: $o) { version } }",
            json!({ "id": id, "o": { "endpoints": [{ "name": "api", "url": "https://api.shop.example" }], "resourceIds": [], "stackVersion": 3 } }),
        ),
        ("mutation($id: ID!) { markEnvironmentDegraded(id: $id, reason: \"node pool saturated\") { version } }", json!({ "id": id })),
        ("mutation($id: ID!) { markEnvironmentRecovered(id: $id) { version } }", json!({ "id": id })),
        (
            "mutation($id: ID!, $t: ComputeTargetInput!) { addComputeTarget(id: $id, target: $t) { version } }",
            json!({ "id": id, "t": { "kind": "CONTAINER_APPS", "name": "aca", "resourceId": "/subscriptions/3f2504e0-4f89-11d3-9a0c-0305e82c3301/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/aca" } }),
        ),
        ("mutation($id: ID!) { removeComputeTarget(id: $id, name: \"aks-main\") { version } }", json!({ "id": id })),
    ];
    for (i, (mutation, variables)) in steps.into_iter().enumerate() {
        let response = run(&app, mutation, variables).await;
        assert!(response["errors"].is_null(), "step {i}: {response}");
        let version = response["data"].as_object().unwrap().values().next().unwrap()["version"].as_i64().unwrap();
        assert_eq!(version, i as i64 + 2, "each command appends one event");
    }
    app.settle().await;
    let env = app.gql(ENVIRONMENT, json!({ "id": id })).await;
    let env = &env["data"]["environment"];
    assert_eq!(env["status"], "READY");
    assert_eq!(env["version"], 7);
    assert_eq!(env["acceptsDeployments"], true);
    assert_eq!(
        env["computeTargets"],
        json!([{ "kind": "CONTAINER_APPS", "name": "aca", "resourceId": "/subscriptions/3f2504e0-4f89-11d3-9a0c-0305e82c3301/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/aca" }])
    );
    assert_eq!(env["outputs"]["endpoints"], json!([{ "name": "api", "url": "https://api.shop.example" }]));
    assert_eq!(env["outputs"]["stackVersion"], 3);

    let decommission = run(
        &app,
        "mutation($id: ID!) { decommissionEnvironment(id: $id, reason: \"product retired\") { version } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(decommission["data"]["decommissionEnvironment"]["version"], 8, "{decommission}");
    let done = run(
        &app,
        "mutation($id: ID!) { recordEnvironmentDecommissioned(id: $id) { version events { eventType } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(done["data"]["recordEnvironmentDecommissioned"]["events"][0]["eventType"], "EnvironmentDecommissioned");

    // A decommissioned environment accepts no command, and refusing writes nothing.
    let before = db.event_count().await;
    let refused = run(
        &app,
        "mutation($id: ID!) { markEnvironmentDegraded(id: $id, reason: \"x\") { version } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(error_code(&refused), Some("INVALID_TRANSITION"), "{refused}");
    assert_eq!(db.event_count().await, before);

    // The name is free again once the old environment is decommissioned.
    create(&app, "shop", "main", "DEV").await;
}

#[tokio::test]
async fn history_and_trace_return_the_events_with_their_envelope() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let created = app
        .gql_with(
            REQUEST_ENVIRONMENT,
            json!({ "input": environment_input("crm", "eu", "TEST") }),
            &[("traceparent", TRACEPARENT), ("x-actor", "user:alice@example.com"), ("x-roles", "ControlPlane")],
        )
        .await;
    let id = created["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned();
    let event = &created["data"]["requestEnvironment"]["events"][0];
    assert_eq!(event["traceId"], TRACE_ID);
    assert!(event["tenantId"].is_null(), "environments are platform-wide: {event}");
    assert_eq!(event["actorRole"], "ControlPlane");
    assert_eq!(event["actor"], "user:alice@example.com");
    assert_eq!(event["correlationId"], TRACE_ID);
    assert!(event["eventId"]
        .as_str()
        .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 7)));
    assert!(event["causationId"].as_str().is_some());
    run(&app, "mutation($id: ID!) { recordProvisioningStarted(id: $id) { version } }", json!({ "id": id })).await;
    // Another aggregate under the same trace.
    create(&app, "crm", "us", "TEST").await;
    // And an unrelated trace, which must not show up.
    app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("crm", "apac", "TEST") })).await;

    let history = app
        .gql(
            "query($id: ID!) { aggregateHistory(aggregateType: \"RuntimeEnvironment\", aggregateId: $id, first: 1) {
               edges { cursor node { sequence eventType } } pageInfo { hasNextPage } } }",
            json!({ "id": id }),
        )
        .await;
    let page = &history["data"]["aggregateHistory"];
    assert_eq!(page["edges"][0]["node"]["eventType"], "EnvironmentRequested");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let cursor = page["edges"][0]["cursor"].as_str().unwrap();
    let next = app
        .gql(
            "query($id: ID!, $after: String) { aggregateHistory(aggregateType: \"RuntimeEnvironment\", aggregateId: $id, first: 5, after: $after) {
               edges { node { sequence eventType } } pageInfo { hasNextPage } } }",
            json!({ "id": id, "after": cursor }),
        )
        .await;
    assert_eq!(
        next["data"]["aggregateHistory"]["edges"],
        json!([{ "node": { "sequence": 2, "eventType": "ProvisioningStarted" } }])
    );

    let trace = app
        .gql(
            "query($t: String!) { trace(traceId: $t) { edges { node { aggregateId eventType traceId globalPosition transactionId } } } }",
            json!({ "t": TRACE_ID }),
        )
        .await;
    let nodes: Vec<&Value> = trace["data"]["trace"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    assert_eq!(nodes.len(), 3, "{trace}");
    assert_eq!(
        nodes.iter().map(|n| n["eventType"].as_str().unwrap()).collect::<Vec<_>>(),
        ["EnvironmentRequested", "ProvisioningStarted", "EnvironmentRequested"]
    );
    assert!(nodes.iter().all(|n| n["traceId"] == TRACE_ID));
    let order: Vec<(i64, i64)> = nodes
        .iter()
        .map(|n| {
            (
                n["transactionId"].as_str().unwrap().parse().unwrap(),
                n["globalPosition"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "trace is in log order: {order:?}");

    // A tenant is bound only to a live environment: provisioning finishes first, on another
    // trace so this one's counts stay as they are.
    let ready = app
        .gql(
            "mutation($id: ID!, $o: ProvisioningOutputsInput!) { recordProvisioningSucceeded(id: $id, outputs: $o) { version } }",
            json!({ "id": id, "o": { "endpoints": [], "resourceIds": [], "stackVersion": 1 } }),
        )
        .await;
    assert!(ready["errors"].is_null(), "{ready}");
    // A contoso binding joins the trace, sent by an operator acting for no tenant: its event
    // is contoso's all the same.
    let bound = app
        .gql_with(
            "mutation($i: BindTenantInput!) { bindTenant(input: $i) { events { tenantId actingTenantId } } }",
            json!({ "i": { "tenantId": "contoso", "environmentId": id, "isolation": "SHARED",
                           "workloadIdentityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11", "networkPolicy": { "kind": "DENY_CROSS_TENANT" },
                           "dataPartition": "contoso", "quotas": { "cpuMillicores": 1000, "memoryMib": 1024, "replicas": 2, "storageGib": 1, "requestsPerSecond": 10 } } }),
            &[("traceparent", TRACEPARENT)],
        )
        .await;
    let event = &bound["data"]["bindTenant"]["events"][0];
    assert_eq!((event["tenantId"].as_str(), event["actingTenantId"].as_str()), (Some("contoso"), None), "{bound}");
    // Another tenant sees the platform-wide events of the trace (no tenant), none of contoso's.
    let foreign = app
        .gql_with(
            "query($t: String!) { trace(traceId: $t) { edges { node { aggregateId tenantId } } } }",
            json!({ "t": TRACE_ID }),
            &[("x-tenant-id", "fabrikam")],
        )
        .await;
    let edges = foreign["data"]["trace"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3, "{foreign}");
    assert!(edges.iter().all(|e| e["node"]["tenantId"].is_null()), "{foreign}");
    let own = app
        .gql_with(
            "query($t: String!) { trace(traceId: $t) { edges { node { tenantId } } } }",
            json!({ "t": TRACE_ID }),
            &[("x-tenant-id", "contoso")],
        )
        .await;
    assert_eq!(own["data"]["trace"]["edges"].as_array().unwrap().len(), 4, "{own}");
    // Environments are platform-wide (a product's, not a tenant's): every tenant sees them.
    let shared = app.gql_with(ENVIRONMENT, json!({ "id": id }), &[("x-tenant-id", "fabrikam")]).await;
    assert_eq!(shared["data"]["environment"]["version"], 3, "{shared}");
}

#[tokio::test]
async fn bad_input_gets_typed_errors_and_writes_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let id = create(&app, "billing", "main", "DEV").await;
    let before = db.event_count().await;

    // Invalid transition.
    let r =
        run(&app, "mutation($id: ID!) { markEnvironmentRecovered(id: $id) { version } }", json!({ "id": id })).await;
    assert_eq!(error_code(&r), Some("INVALID_TRANSITION"), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("Requested"), "message names the state: {r}");
    // Unknown id.
    let unknown = uuid::Uuid::now_v7().to_string();
    let r =
        run(&app, "mutation($id: ID!) { recordProvisioningStarted(id: $id) { version } }", json!({ "id": unknown }))
            .await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    // Malformed id.
    let r = run(&app, "mutation { recordProvisioningStarted(id: \"not-a-uuid\") { version } }", json!({})).await;
    assert_eq!(error_code(&r), Some("INVALID_INPUT"), "{r}");
    // Invalid values never reach an event.
    let mut input = environment_input("Billing!", "main", "DEV");
    let r = run(&app, REQUEST_ENVIRONMENT, json!({ "input": input })).await;
    assert_eq!(error_code(&r), Some("INVALID_INPUT"), "{r}");
    input = environment_input("billing", "other", "DEV");
    input["computeTargets"][0]["resourceId"] = json!("not-an-arm-id");
    let r = run(&app, REQUEST_ENVIRONMENT, json!({ "input": input })).await;
    assert_eq!(error_code(&r), Some("INVALID_INPUT"), "{r}");
    input = environment_input("billing", "other", "DEV");
    input["computeTargets"] = json!([]);
    let r = run(&app, REQUEST_ENVIRONMENT, json!({ "input": input })).await;
    assert_eq!(error_code(&r), Some("INVALID_INPUT"), "{r}");
    // Same name, product and stage.
    let r = run(&app, REQUEST_ENVIRONMENT, json!({ "input": environment_input("billing", "main", "DEV") })).await;
    assert_eq!(error_code(&r), Some("ALREADY_EXISTS"), "{r}");
    // Prod without staging.
    let r = run(&app, REQUEST_ENVIRONMENT, json!({ "input": environment_input("billing", "live", "PROD") })).await;
    assert_eq!(error_code(&r), Some("INVARIANT_VIOLATED"), "{r}");
    // A stale expected version.
    let r = run(
        &app,
        "mutation($id: ID!) { recordProvisioningStarted(id: $id, options: { expectedVersion: 7 }) { version } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(error_code(&r), Some("CONCURRENCY_CONFLICT"), "{r}");
    // Bad headers.
    let (status, body) = app.post(json!({ "query": "{ __typename }" }), &[("traceparent", "garbage")]).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), Some("INVALID_INPUT"));
    // Malformed GraphQL.
    let r = app.gql("mutation { recordProvisioningStarted(id: ", json!({})).await;
    assert!(r["errors"][0]["message"].as_str().is_some(), "{r}");
    assert_eq!(error_code(&r), Some("GRAPHQL_PARSE_FAILED"), "{r}");
    // Too deep.
    let too_deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(14),
        "} ".repeat(14)
    );
    let r = app.gql(&too_deep, json!({})).await;
    assert!(r["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("nested too deep"), "{r}");
    assert_eq!(error_code(&r), Some("GRAPHQL_VALIDATION_FAILED"), "{r}");
    // Too complex: many wide pages in one request.
    let wide: String =
        (0..40).map(|i| format!("e{i}: environments(first: 100) {{ edges {{ node {{ id name }} }} }} ")).collect();
    let r = app.gql(&format!("{{ {wide} }}"), json!({})).await;
    assert!(r["errors"][0]["message"].as_str().unwrap_or_default().to_lowercase().contains("complex"), "{r}");
    assert_eq!(error_code(&r), Some("GRAPHQL_VALIDATION_FAILED"), "{r}");
    // Unknown field, and a variable of the wrong type.
    let r = app.gql("mutation { dropEverything }", json!({})).await;
    assert_eq!(error_code(&r), Some("GRAPHQL_VALIDATION_FAILED"), "{r}");
    let r = app
        .gql("mutation($id: ID!) { recordProvisioningStarted(id: $id) { version } }", json!({ "id": { "no": 1 } }))
        .await;
    assert_eq!(error_code(&r), Some("GRAPHQL_VALIDATION_FAILED"), "{r}");
    // Oversized body.
    let (status, body) = app.post_raw(vec![b' '; 512 * 1024], &[]).await;
    assert_eq!(status, 413, "{body}");
    // A malformed trace id.
    let r = app.gql("{ trace(traceId: \"XYZ\") { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&r), Some("INVALID_INPUT"));

    assert_eq!(db.event_count().await, before, "no refused request wrote an event");
}

#[tokio::test]
async fn environments_page_by_stage_and_survive_a_restart() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    for (name, stage) in [("a", "DEV"), ("b", "TEST"), ("c", "DEV"), ("d", "STAGING"), ("e", "DEV")] {
        let id = create(&app, "portal", name, stage).await;
        if stage == "STAGING" {
            // Prod needs a live (Ready/Degraded) staging, not only a requested one.
            for (mutation, variables) in [
                ("mutation($id: ID!) { recordProvisioningStarted(id: $id) { version } }", json!({ "id": id })),
                (
                    "mutation($id: ID!, $o: ProvisioningOutputsInput!) { recordProvisioningSucceeded(id: $id, outputs: $o) { version } }",
                    json!({ "id": id, "o": { "endpoints": [], "resourceIds": [], "stackVersion": 1 } }),
                ),
            ] {
                let response = run(&app, mutation, variables).await;
                assert!(response["errors"].is_null(), "{response}");
            }
        }
    }
    // Prod is accepted once a live staging exists.
    create(&app, "portal", "live", "PROD").await;
    app.settle().await;
    let query = "query($after: String) { environments(first: 2, after: $after, stage: DEV) { edges { cursor node { name stage } } pageInfo { hasNextPage } } }";
    let first = app.gql(query, json!({})).await;
    let names: Vec<&str> = first["data"]["environments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(first["data"]["environments"]["pageInfo"]["hasNextPage"], true);
    let cursor = first["data"]["environments"]["edges"][1]["cursor"].as_str().unwrap();
    let second = app.gql(query, json!({ "after": cursor })).await;
    assert_eq!(second["data"]["environments"]["edges"][0]["node"]["name"], "e");
    assert_eq!(second["data"]["environments"]["pageInfo"]["hasNextPage"], false);
    let all_before =
        app.gql("{ environments(first: 50) { edges { node { id name version status } } } }", json!({})).await;
    assert_eq!(all_before["data"]["environments"]["edges"].as_array().unwrap().len(), 6);

    // Restart: a new process over the same database sees the same data.
    drop(app);
    let restarted = TestApp::start(db.pool.clone()).await;
    let (status, _) = restarted.get_ops("/readyz").await;
    assert_eq!(status, 200);
    let all_after =
        restarted.gql("{ environments(first: 50) { edges { node { id name version status } } } }", json!({})).await;
    assert_eq!(all_before, all_after);
    let bad = restarted.gql("{ environments(first: 5000) { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&bad), Some("INVALID_INPUT"));
    let bad = restarted.gql("{ environments(after: \"???\") { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&bad), Some("INVALID_INPUT"));
}

#[tokio::test]
async fn an_environment_can_be_read_as_of_a_past_version_or_instant() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let id = create(&app, "audit", "main", "DEV").await;
    run(&app, "mutation($id: ID!) { recordProvisioningStarted(id: $id) { version } }", json!({ "id": id })).await;
    let between: String =
        sqlx::query_scalar("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    run(
        &app,
        "mutation($id: ID!) { recordProvisioningFailed(id: $id, reason: \"quota\") { version } }",
        json!({ "id": id }),
    )
    .await;
    let query = "query($id: ID!, $v: Int, $t: DateTime) { environment(id: $id, atVersion: $v, asOf: $t) { version status provisioningAttempts lastReason } }";
    let now = app.gql(query, json!({ "id": id })).await;
    assert_eq!(now["data"]["environment"]["status"], "PROVISIONING_FAILED", "{now}");
    let v1 = app.gql(query, json!({ "id": id, "v": 1 })).await;
    assert_eq!(
        v1["data"]["environment"],
        json!({ "version": 1, "status": "REQUESTED", "provisioningAttempts": 0, "lastReason": null })
    );
    let at = app.gql(query, json!({ "id": id, "t": between })).await;
    assert_eq!(at["data"]["environment"]["version"], 2, "{at}");
    assert_eq!(at["data"]["environment"]["status"], "PROVISIONING");
    let before = app.gql(query, json!({ "id": id, "t": "2001-01-01T00:00:00Z" })).await;
    assert_eq!(error_code(&before), Some("NOT_FOUND"), "it did not exist yet: {before}");
    let both = app.gql(query, json!({ "id": id, "t": between, "v": 1 })).await;
    assert_eq!(error_code(&both), Some("INVALID_INPUT"));
}

#[tokio::test]
async fn a_query_with_min_position_reads_its_own_write_and_projection_status_shows_the_lag() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let created = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("ryw", "main", "DEV") })).await;
    let position = created["data"]["requestEnvironment"]["position"].as_str().unwrap().to_owned();
    // No settle: the query itself waits until the projection has applied the write.
    let listed = app
        .gql(
            "query($p: String) { environments(first: 5, minPosition: $p) { edges { node { name } } } }",
            json!({ "p": position }),
        )
        .await;
    assert_eq!(listed["data"]["environments"]["edges"], json!([{ "node": { "name": "main" } }]), "{listed}");
    let status = app.gql("{ projections { name version checkpoint eventsApplied lagEvents lagMs } }", json!({})).await;
    let env =
        status["data"]["projections"].as_array().unwrap().iter().find(|p| p["name"] == "environments").unwrap().clone();
    assert_eq!(env["eventsApplied"], 1, "{status}");
    assert_eq!(env["checkpoint"], json!(position));
    let bad = app.gql("{ environments(minPosition: \"nope\") { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&bad), Some("INVALID_INPUT"));
    // A position no projection will reach in time is refused, not answered with stale data.
    let far = commands::LogPosition { transaction_id: i64::MAX / 2, global_position: 1 }.to_cursor();
    let lagging =
        app.gql("query($p: String) { environments(minPosition: $p) { edges { cursor } } }", json!({ "p": far })).await;
    assert_eq!(error_code(&lagging), Some("PROJECTION_LAG"), "{lagging}");
}

#[tokio::test]
async fn probes_and_graphiql_answer() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    assert_eq!(app.get_ops("/healthz").await, (axum::http::StatusCode::OK, "ok".to_owned()));
    let (status, body) = app.get_ops("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get("/graphql").await;
    assert_eq!(status, 200);
    assert!(body.contains("graphiql"), "GraphiQL page served");
    // GraphiQL's own introspection query (graphql-js) passes the depth and complexity limits,
    // or the page would show no schema.
    let r = app.gql(INTROSPECTION, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["__schema"]["mutationType"]["name"], "MutationRoot");
    app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("metrics", "main", "DEV") })).await;
    let (status, body) = app.get_ops("/metrics").await;
    assert_eq!(status, 200);
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(app.get(path).await.0, 404, "{path} is not served on the API listener");
    }
    assert!(body.contains("projection_lag_events{projection=\"environments\"}"), "{body}");
    assert!(body.contains("commands_total"), "{body}");
    // Not ready while a migration is missing.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)")
        .execute(&db.pool)
        .await
        .unwrap();
    let (status, body) = app.get_ops("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("migration"));
}

#[tokio::test]
async fn the_log_subscription_streams_new_events() {
    use futures::StreamExt;
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let schema = graphql::schema(graphql::ApiState {
        bus: app.bus().clone(),
        pool: db.pool.clone(),
        runners: std::sync::Arc::new(app.platform.runners.clone()),
        feed: app.platform.feed.clone(),
        reactors: Default::default(),
        loops: Default::default(),
        intake: app.platform.intake.clone(),
        publisher: None,
    });
    let request = async_graphql::Request::new(
        "subscription { logEvents(aggregateType: \"RuntimeEnvironment\") { eventType aggregateId } }",
    )
    .data(tests::system_context());
    let mut stream = schema.execute_stream(request);
    // The subscription joins the live feed while it is polled (its first polls read the log's
    // head); without a cursor it delivers what commits after that. Polled until it joined:
    // nothing arrives before a commit.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.platform.feed.subscribers() < 1 {
        assert!(tokio::time::timeout(std::time::Duration::from_millis(20), stream.next()).await.is_err());
        assert!(tokio::time::Instant::now() < deadline, "the subscription never joined the live feed");
    }
    let id = create(&app, "shop", "sub", "DEV").await;
    let item = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("an event arrives")
        .unwrap();
    assert!(item.errors.is_empty(), "{:?}", item.errors);
    let data = item.data.into_json().unwrap();
    assert_eq!(data["logEvents"]["aggregateId"], id);
    assert_eq!(data["logEvents"]["eventType"], "EnvironmentRequested");
}

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } } fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } } fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue } fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";
