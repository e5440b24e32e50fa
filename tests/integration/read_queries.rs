//! The read-model queries (`serviceCatalog`, `runtimeInventory`, `driftFindings`,
//! `driftCounts`, `healthStatus`, `deployments`, `auditLog`) over a short story driven through
//! GraphQL: filters, Relay paging, `minPosition`, tenant scoping, and the catalog's batched
//! placement loading (one scan of `catalog_service_environments` per page).

use serde_json::{json, Value};
use sqlx::PgPool;
use tests::{environment_input, error_code, TestApp, TestDb};

const RESULT: &str = "{ aggregateId position events { eventType } }";

async fn run(app: &TestApp, mutation: &str, variables: Value) -> Value {
    run_as(app, mutation, variables, &[]).await
}

/// Runs `mutation` with extra headers (e.g. another `x-actor`).
async fn run_as(app: &TestApp, mutation: &str, variables: Value, headers: &[(&str, &str)]) -> Value {
    let mut headers = headers.to_vec();
    if !headers.iter().any(|(k, _)| *k == "x-actor") {
        headers.push(("x-actor", "user:platform-engineer"));
    }
    let response = app.gql_with(mutation, variables, &headers).await;
    assert!(response["errors"].is_null(), "{mutation}: {response}");
    response["data"].as_object().unwrap().values().next().unwrap().clone()
}

async fn query(app: &TestApp, q: &str, variables: Value, headers: &[(&str, &str)]) -> Value {
    let response = app.gql_with(q, variables, headers).await;
    assert!(response["errors"].is_null(), "{q}: {response}");
    response["data"].as_object().unwrap().values().next().unwrap().clone()
}

fn id(result: &Value) -> String {
    result["aggregateId"].as_str().unwrap().to_owned()
}

fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

fn field(connection: &Value, name: &str) -> Vec<String> {
    nodes(connection).iter().map(|n| n[name].as_str().unwrap().to_owned()).collect()
}

fn contract() -> Value {
    json!({ "image": "contoso.azurecr.io/shop/api", "ports": [8080],
            "liveness": { "kind": "HTTP", "path": "/healthz", "port": 8080, "periodSeconds": 10, "timeoutSeconds": 2 },
            "minReplicas": 1, "maxReplicas": 5, "compute": "AKS" })
}

fn deployment_input(service: &str, environment: &str, version: &str) -> Value {
    json!({ "service": service, "environment": environment, "tenant": "contoso",
            "artifact": { "digest": format!("sha256:{}", "7f".repeat(32)), "version": version, "commit": "9".repeat(40) },
            "strategy": { "kind": "ROLLING" },
            "gates": [{ "name": "availability", "kind": "AVAILABILITY", "threshold": 99.0 }] })
}

async fn roll_out(app: &TestApp, deployment: &str, passed: bool, observed: f64) {
    run(
        app,
        &format!("mutation($id: ID!) {{ beginDeploymentRollout(id: $id) {RESULT} }}"),
        json!({ "id": deployment }),
    )
    .await;
    run(
        app,
        &format!("mutation($id: ID!) {{ recordDeploymentStepProgress(id: $id, step: 0, percent: 100) {RESULT} }}"),
        json!({ "id": deployment }),
    )
    .await;
    run(
        app,
        &format!("mutation($id: ID!, $p: Boolean!, $o: Float!) {{ recordHealthGateResult(id: $id, gate: \"availability\", passed: $p, observed: $o) {RESULT} }}"),
        json!({ "id": deployment, "p": passed, "o": observed }),
    )
    .await;
}

async fn ready_environment(app: &TestApp, name: &str) -> String {
    let env = id(&run(
        app,
        &format!("mutation($i: RequestEnvironmentInput!) {{ requestEnvironment(input: $i) {RESULT} }}"),
        json!({ "i": environment_input("shop", name, "STAGING") }),
    )
    .await);
    run(app, &format!("mutation($id: ID!) {{ recordProvisioningStarted(id: $id) {RESULT} }}"), json!({ "id": env }))
        .await;
    run(
        app,
        &format!("mutation($id: ID!, $o: ProvisioningOutputsInput!) {{ recordProvisioningSucceeded(id: $id, outputs: $o) {RESULT} }}"),
        json!({ "id": env, "o": { "endpoints": [{ "name": "api", "url": "https://api.stg.shop.example" }], "resourceIds": [], "stackVersion": 1 } }),
    )
    .await;
    env
}

async fn register(app: &TestApp, name: &str) -> String {
    let service = id(&run(
        app,
        &format!("mutation($i: RegisterServiceInput!) {{ registerService(input: $i) {RESULT} }}"),
        json!({ "i": { "product": "shop", "name": name, "kind": "MICROSERVICE", "blueprint": "blueprints/api@3", "contract": contract() } }),
    )
    .await);
    run(app, &format!("mutation($id: ID!) {{ activateService(id: $id) {RESULT} }}"), json!({ "id": service })).await;
    service
}

async fn bind(app: &TestApp, tenant: &str, env: &str) {
    let binding = id(&run(
        app,
        &format!("mutation($i: BindTenantInput!) {{ bindTenant(input: $i) {RESULT} }}"),
        json!({ "i": { "tenantId": tenant, "environmentId": env, "isolation": "NAMESPACE_PER_TENANT", "namespace": tenant,
                       "workloadIdentityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11", "networkPolicy": { "kind": "DENY_CROSS_TENANT" },
                       "dataPartition": tenant, "quotas": { "cpuMillicores": 4000, "memoryMib": 8192, "replicas": 10, "storageGib": 100, "requestsPerSecond": 1000 } } }),
    )
    .await);
    run(app, &format!("mutation($id: ID!) {{ activateTenantBinding(id: $id) {RESULT} }}"), json!({ "id": binding }))
        .await;
}

async fn track(app: &TestApp, service: &str, env: &str, tenant: Option<&str>) -> String {
    id(&run(
        app,
        &format!("mutation($i: TrackHealthInput!) {{ trackHealth(input: $i) {RESULT} }}"),
        json!({ "i": { "serviceId": service, "environmentId": env, "tenantId": tenant } }),
    )
    .await)
}

async fn now(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        .fetch_one(pool)
        .await
        .unwrap()
}

const CATALOG: &str = "query($first: Int, $after: String, $product: String, $status: String) {
  serviceCatalog(first: $first, after: $after, product: $product, status: $status) {
    edges { cursor node { serviceId product name kind status blueprint dependencies updatedAt
      contract { image ports minReplicas maxReplicas compute }
      environments(first: 5) { serviceId environmentId tenantId deployedVersion deploymentId deploymentStatus healthStatus updatedAt } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }";

const INVENTORY: &str = "query($asOf: DateTime, $tenant: String, $env: ID, $first: Int, $after: String) {
  runtimeInventory(asOf: $asOf, tenantId: $tenant, environmentId: $env, first: $first, after: $after) {
    edges { cursor node { serviceId environmentId tenantId version digest deploymentId computeKind computeTarget since until } }
    pageInfo { hasNextPage endCursor } } }";

const DRIFT: &str = "query($env: ID, $status: String, $class: String, $first: Int, $after: String, $min: String) {
  driftFindings(environmentId: $env, status: $status, class: $class, first: $first, after: $after, minPosition: $min) {
    edges { node { findingId environmentId serviceId tenantId class status desired observed detectedAt closedAt } }
    pageInfo { hasNextPage endCursor } } }";

const HEALTH: &str = "query($service: ID, $env: ID, $tenant: String, $first: Int, $after: String) {
  healthStatus(serviceId: $service, environmentId: $env, tenantId: $tenant, first: $first, after: $after) {
    edges { node { healthId serviceId environmentId tenantId status since openIncident history { edges { node { globalPosition fromStatus toStatus at } } } } }
    pageInfo { hasNextPage endCursor } } }";

const DEPLOYMENTS: &str = "query($service: ID, $env: ID, $tenant: String, $status: String, $first: Int, $after: String, $min: String) {
  deployments(serviceId: $service, environmentId: $env, tenantId: $tenant, status: $status, first: $first, after: $after, minPosition: $min) {
    edges { node { deploymentId serviceId tenantId version status rollbackOf rollbackTarget startedAt finishedAt } }
    pageInfo { hasNextPage endCursor } } }";

const AUDIT_BY_ROLE: &str = "query($role: String) {
  auditLog(actorRole: $role, first: 200) { edges { cursor node { aggregateId actorRole } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
const AUDIT: &str = "query($from: DateTime, $to: DateTime, $actor: String, $tenant: String, $types: [String!], $first: Int, $after: String, $min: String) {
  auditLog(from: $from, to: $to, actor: $actor, tenantId: $tenant, eventTypes: $types, first: $first, after: $after, minPosition: $min) {
    edges { cursor node { globalPosition eventId aggregateType aggregateId sequence eventType tenantId actor actorRole traceId recordedAt } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }";

#[tokio::test]
async fn read_model_queries_over_a_release_story() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let before_all = now(&db.pool).await;

    let env = ready_environment(&app, "stg").await;
    let api = register(&app, "api").await;
    let worker = register(&app, "worker").await;
    run(
        &app,
        &format!("mutation($id: ID!, $on: ID!) {{ declareServiceDependency(id: $id, on: $on) {RESULT} }}"),
        json!({ "id": api, "on": worker }),
    )
    .await;
    bind(&app, "contoso", &env).await;
    bind(&app, "fabrikam", &env).await;

    // v1 succeeds.
    let start = format!("mutation($i: StartDeploymentInput!) {{ startDeployment(input: $i) {RESULT} }}");
    let v1 = id(&run(&app, &start, json!({ "i": deployment_input(&api, &env, "1.0.0") })).await);
    roll_out(&app, &v1, true, 99.95).await;
    run(&app, &format!("mutation($id: ID!) {{ promoteDeployment(id: $id) {RESULT} }}"), json!({ "id": v1 })).await;

    // Health of the API for contoso, of the worker for fabrikam.
    let health = track(&app, &api, &env, Some("contoso")).await;
    let worker_health = track(&app, &worker, &env, Some("fabrikam")).await;
    let probe = format!("mutation($id: ID!, $k: HealthProbeKind!, $p: Boolean!) {{ recordProbeResult(id: $id, probe: {{ kind: $k }}, passed: $p, latencyMs: 12) {RESULT} }}");
    for h in [&health, &worker_health] {
        run(&app, &probe, json!({ "id": h, "k": "LIVENESS", "p": true })).await;
        run(&app, &probe, json!({ "id": h, "k": "READINESS", "p": true })).await;
    }

    let middle = now(&db.pool).await;

    // v2 fails its gate and is rolled back to v1.
    let v2 = id(&run(&app, &start, json!({ "i": deployment_input(&api, &env, "2.0.0") })).await);
    roll_out(&app, &v2, false, 95.2).await;
    run(&app, &probe, json!({ "id": health, "k": "READINESS", "p": false })).await;
    run(
        &app,
        &format!("mutation($id: ID!) {{ failDeployment(id: $id, reason: \"availability gate failed\") {RESULT} }}"),
        json!({ "id": v2 }),
    )
    .await;
    run(
        &app,
        &format!("mutation($id: ID!, $t: ID!) {{ rollBackDeployment(id: $id, target: $t) {RESULT} }}"),
        json!({ "id": v2, "t": v1 }),
    )
    .await;
    run(&app, &format!("mutation($id: ID!) {{ recordDeploymentRolledBack(id: $id) {RESULT} }}"), json!({ "id": v2 }))
        .await;
    run(&app, &probe, json!({ "id": health, "k": "READINESS", "p": true })).await;

    // Drift: a version drift for contoso, a configuration drift for fabrikam, a shared one.
    // Contoso's is of a resource outside the catalog, so no worker remediates it and the
    // findings stay as detected (remediation.rs covers the worker).
    let detect = format!("mutation($i: DetectDriftInput!) {{ detectDrift(input: $i) {RESULT} }}");
    let drift_contoso = id(&run_as(&app, &detect, json!({ "i": { "environmentId": env, "resource": "contoso/deployment/api-sidecar", "tenantId": "contoso", "class": "VERSION", "desired": "1.0.0", "observed": "2.0.0" } }), &[("x-actor", "worker:drift-detection"), ("x-roles", "Worker")]).await);
    let drift_fabrikam = id(&run_as(&app, &detect, json!({ "i": { "environmentId": env, "serviceId": worker, "tenantId": "fabrikam", "class": "CONFIGURATION", "desired": "a", "observed": "b" } }), &[("x-actor", "worker:drift-detection"), ("x-roles", "Worker")]).await);
    let drift_shared = id(&run(&app, &detect, json!({ "i": { "environmentId": env, "resource": "kube-system/deployment/coredns", "class": "VERSION", "desired": "1.11", "observed": "1.10" } })).await);

    app.settle().await;
    let contoso: &[(&str, &str)] = &[("x-tenant-id", "contoso")];
    let fabrikam: &[(&str, &str)] = &[("x-tenant-id", "fabrikam")];

    // serviceCatalog ------------------------------------------------------------------------
    let catalog = query(&app, CATALOG, json!({}), &[]).await;
    let mut ids = vec![api.clone(), worker.clone()];
    ids.sort();
    assert_eq!(field(&catalog, "serviceId"), ids);
    let entries = nodes(&catalog);
    let api_entry = entries.iter().find(|n| n["serviceId"] == json!(api)).unwrap();
    assert_eq!(api_entry["product"], "shop");
    assert_eq!(api_entry["name"], "api");
    assert_eq!(api_entry["status"], "ACTIVE", "the GraphQL enum, as `service(id)` returns it");
    assert_eq!(api_entry["dependencies"], json!([worker]));
    let placements = api_entry["environments"].as_array().unwrap();
    assert_eq!(placements.len(), 1, "{api_entry}");
    let p = &placements[0];
    assert_eq!((p["environmentId"].as_str(), p["tenantId"].as_str()), (Some(env.as_str()), Some("contoso")));
    assert_eq!(p["deployedVersion"], "1.0.0", "rolled back to v1: {p}");
    assert_eq!(p["deploymentId"], json!(v2));
    assert_eq!(p["deploymentStatus"], "ROLLED_BACK");
    assert_eq!(p["healthStatus"], "HEALTHY");
    let worker_entry = entries.iter().find(|n| n["serviceId"] == json!(worker)).unwrap();
    assert_eq!(worker_entry["environments"][0]["tenantId"], "fabrikam", "{worker_entry}");
    // Filters.
    assert_eq!(nodes(&query(&app, CATALOG, json!({ "product": "shop", "status": "ACTIVE" }), &[]).await).len(), 2);
    assert_eq!(nodes(&query(&app, CATALOG, json!({ "product": "other" }), &[]).await).len(), 0);
    assert_eq!(nodes(&query(&app, CATALOG, json!({ "status": "deprecated" }), &[]).await).len(), 0);
    // Paging.
    let first = query(&app, CATALOG, json!({ "first": 1 }), &[]).await;
    assert_eq!(field(&first, "serviceId"), vec![ids[0].clone()]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = query(&app, CATALOG, json!({ "first": 1, "after": first["pageInfo"]["endCursor"] }), &[]).await;
    assert_eq!(field(&second, "serviceId"), vec![ids[1].clone()]);
    assert_eq!(
        second["pageInfo"],
        json!({ "hasNextPage": false, "hasPreviousPage": true, "endCursor": second["pageInfo"]["endCursor"] })
    );
    // Tenant scoping: contoso sees the services but not fabrikam's placement.
    let scoped = query(&app, CATALOG, json!({}), contoso).await;
    let scoped = nodes(&scoped);
    assert_eq!(scoped.len(), 2);
    assert_eq!(scoped.iter().find(|n| n["serviceId"] == json!(worker)).unwrap()["environments"], json!([]));
    assert_eq!(
        scoped.iter().find(|n| n["serviceId"] == json!(api)).unwrap()["environments"].as_array().unwrap().len(),
        1
    );
    // Bad input.
    let bad = app.gql("{ serviceCatalog(after: \"nope\") { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&bad), Some("INVALID_INPUT"), "{bad}");
    let bad = app.gql("{ serviceCatalog(first: 201) { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&bad), Some("INVALID_INPUT"), "{bad}");

    // runtimeInventory ----------------------------------------------------------------------
    let inventory = query(&app, INVENTORY, json!({}), &[]).await;
    let rows = nodes(&inventory);
    assert_eq!(rows.len(), 1, "{inventory}");
    assert_eq!(rows[0]["serviceId"], json!(api));
    assert_eq!(rows[0]["environmentId"], json!(env));
    assert_eq!(rows[0]["tenantId"], "contoso");
    assert_eq!(rows[0]["version"], "1.0.0");
    assert_eq!(rows[0]["computeKind"], "AKS", "{inventory}");
    assert_eq!(rows[0]["computeTarget"], "aks-main", "the environment's target of that kind: {inventory}");
    assert!(rows[0]["until"].is_null());
    let then = query(&app, INVENTORY, json!({ "asOf": middle }), &[]).await;
    assert_eq!(field(&then, "version"), vec!["1.0.0"]);
    assert_eq!(field(&then, "deploymentId"), vec![v1.clone()]);
    assert!(nodes(&query(&app, INVENTORY, json!({ "asOf": before_all }), &[]).await).is_empty());
    assert_eq!(nodes(&query(&app, INVENTORY, json!({ "tenant": "contoso", "env": env }), &[]).await).len(), 1);
    assert!(nodes(&query(&app, INVENTORY, json!({ "tenant": "fabrikam" }), &[]).await).is_empty());
    assert!(nodes(&query(&app, INVENTORY, json!({ "tenant": "" }), &[]).await).is_empty());
    assert_eq!(nodes(&query(&app, INVENTORY, json!({}), contoso).await).len(), 1);
    assert!(
        nodes(&query(&app, INVENTORY, json!({}), fabrikam).await).is_empty(),
        "contoso's workload is invisible to fabrikam"
    );
    assert!(nodes(&query(&app, INVENTORY, json!({ "tenant": "contoso" }), fabrikam).await).is_empty());
    let one = query(&app, INVENTORY, json!({ "first": 1 }), &[]).await;
    assert_eq!(one["pageInfo"]["hasNextPage"], false);
    assert!(nodes(&query(&app, INVENTORY, json!({ "first": 1, "after": one["pageInfo"]["endCursor"] }), &[]).await)
        .is_empty());

    // driftFindings / driftCounts -----------------------------------------------------------
    let all = query(&app, DRIFT, json!({}), &[]).await;
    assert_eq!(
        field(&all, "findingId"),
        vec![drift_shared.clone(), drift_fabrikam.clone(), drift_contoso.clone()],
        "newest first"
    );
    let contoso_row = nodes(&all).into_iter().find(|n| n["findingId"] == json!(drift_contoso)).unwrap();
    assert_eq!(contoso_row["class"], "VERSION");
    assert_eq!(contoso_row["status"], "DETECTED");
    assert_eq!(contoso_row["tenantId"], "contoso");
    assert_eq!((contoso_row["desired"].as_str(), contoso_row["observed"].as_str()), (Some("1.0.0"), Some("2.0.0")));
    assert_eq!(
        nodes(&all).into_iter().find(|n| n["findingId"] == json!(drift_shared)).unwrap()["tenantId"],
        Value::Null
    );
    assert_eq!(
        field(&query(&app, DRIFT, json!({ "class": "VERSION" }), &[]).await, "findingId"),
        vec![drift_shared.clone(), drift_contoso.clone()]
    );
    assert_eq!(nodes(&query(&app, DRIFT, json!({ "status": "DETECTED", "env": env }), &[]).await).len(), 3);
    assert!(nodes(&query(&app, DRIFT, json!({ "status": "remediated" }), &[]).await).is_empty());
    assert!(nodes(&query(&app, DRIFT, json!({ "env": "no-such-env" }), &[]).await).is_empty());
    assert_eq!(
        field(&query(&app, DRIFT, json!({}), contoso).await, "findingId"),
        vec![drift_shared.clone(), drift_contoso.clone()]
    );
    assert_eq!(
        field(&query(&app, DRIFT, json!({}), fabrikam).await, "findingId"),
        vec![drift_shared.clone(), drift_fabrikam.clone()]
    );
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = query(&app, DRIFT, json!({ "first": 1, "after": after }), &[]).await;
        paged.extend(field(&page, "findingId"));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(paged, field(&all, "findingId"), "paging one by one returns the same findings");
    let counts = query(
        &app,
        "query($env: ID) { driftCounts(environmentId: $env) { environmentId class open } }",
        json!({ "env": env }),
        &[],
    )
    .await;
    assert_eq!(
        counts,
        json!([{ "environmentId": env, "class": "CONFIGURATION", "open": 1 }, { "environmentId": env, "class": "VERSION", "open": 2 }])
    );
    let counts = query(&app, "{ driftCounts { class open } }", json!({}), contoso).await;
    assert_eq!(counts, json!([{ "class": "VERSION", "open": 2 }]));

    // healthStatus --------------------------------------------------------------------------
    let all = query(&app, HEALTH, json!({}), &[]).await;
    let mut health_ids = vec![health.clone(), worker_health.clone()];
    health_ids.sort();
    assert_eq!(field(&all, "healthId"), health_ids);
    let api_health = nodes(&all).into_iter().find(|n| n["healthId"] == json!(health)).unwrap();
    assert_eq!(api_health["status"], "HEALTHY");
    assert_eq!(api_health["tenantId"], "contoso");
    let history: Vec<Value> =
        api_health["history"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
    assert!(history.len() >= 3, "{api_health}");
    assert_eq!(history[0]["toStatus"], "HEALTHY", "newest first: {api_health}");
    assert_eq!(history[1]["toStatus"], history[0]["fromStatus"]);
    let positions: Vec<i64> = history.iter().map(|h| h["globalPosition"].as_i64().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] > w[1]), "{positions:?}");
    assert_eq!(field(&query(&app, HEALTH, json!({ "service": api }), &[]).await, "healthId"), vec![health.clone()]);
    assert_eq!(
        field(&query(&app, HEALTH, json!({ "tenant": "fabrikam", "env": env }), &[]).await, "healthId"),
        vec![worker_health.clone()]
    );
    assert_eq!(field(&query(&app, HEALTH, json!({}), contoso).await, "healthId"), vec![health.clone()]);
    assert!(nodes(&query(&app, HEALTH, json!({ "tenant": "contoso" }), fabrikam).await).is_empty());
    let first = query(&app, HEALTH, json!({ "first": 1 }), &[]).await;
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = query(&app, HEALTH, json!({ "first": 1, "after": first["pageInfo"]["endCursor"] }), &[]).await;
    assert_eq!([field(&first, "healthId"), field(&second, "healthId")].concat(), health_ids);
    assert_eq!(second["pageInfo"]["hasNextPage"], false);

    // deployments ---------------------------------------------------------------------------
    let all = query(&app, DEPLOYMENTS, json!({ "service": api }), &[]).await;
    assert_eq!(field(&all, "deploymentId"), vec![v2.clone(), v1.clone()], "newest first");
    let rows = nodes(&all);
    assert_eq!(rows[0]["status"], "ROLLED_BACK");
    assert_eq!(rows[0]["rollbackTarget"], json!(v1));
    assert_eq!(rows[0]["tenantId"], "contoso");
    assert_eq!(rows[1]["status"], "SUCCEEDED");
    assert!(rows[1]["finishedAt"].is_string());
    assert_eq!(
        field(&query(&app, DEPLOYMENTS, json!({ "status": "SUCCEEDED" }), &[]).await, "deploymentId"),
        vec![v1.clone()]
    );
    assert_eq!(nodes(&query(&app, DEPLOYMENTS, json!({ "env": env, "tenant": "contoso" }), &[]).await).len(), 2);
    assert!(nodes(&query(&app, DEPLOYMENTS, json!({ "service": worker }), &[]).await).is_empty());
    assert!(nodes(&query(&app, DEPLOYMENTS, json!({}), fabrikam).await).is_empty());
    assert_eq!(nodes(&query(&app, DEPLOYMENTS, json!({}), contoso).await).len(), 2);
    let first = query(&app, DEPLOYMENTS, json!({ "first": 1 }), &[]).await;
    assert_eq!(field(&first, "deploymentId"), vec![v2.clone()]);
    let second = query(&app, DEPLOYMENTS, json!({ "first": 1, "after": first["pageInfo"]["endCursor"] }), &[]).await;
    assert_eq!(field(&second, "deploymentId"), vec![v1.clone()]);
    assert_eq!(second["pageInfo"]["hasNextPage"], false);

    // auditLog ------------------------------------------------------------------------------
    let events = db.event_count().await;
    let all = query(&app, AUDIT, json!({ "first": 200 }), &[]).await;
    let rows = nodes(&all);
    assert_eq!(rows.len() as i64, events);
    let positions: Vec<i64> = rows.iter().map(|r| r["globalPosition"].as_i64().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    assert!(
        rows.iter().all(|r| r["actor"] == "user:platform-engineer" || r["actor"] == "worker:drift-detection"),
        "{all}"
    );
    let started = query(&app, AUDIT, json!({ "types": ["DeploymentStarted"] }), &[]).await;
    assert_eq!(field(&started, "aggregateId"), vec![v1.clone(), v2.clone()]);
    assert_eq!(
        nodes(&query(&app, AUDIT, json!({ "types": ["DeploymentStarted", "RuntimeDriftDetected"] }), &[]).await).len(),
        5
    );
    assert!(nodes(&query(&app, AUDIT, json!({ "actor": "user:someone-else" }), &[]).await).is_empty());
    assert!(nodes(&query(&app, AUDIT, json!({ "to": before_all }), &[]).await).is_empty());
    let late = query(&app, AUDIT, json!({ "from": middle, "types": ["DeploymentStarted"] }), &[]).await;
    assert_eq!(field(&late, "aggregateId"), vec![v2.clone()]);
    // An event belongs to its aggregate's tenant, whoever sent the command: contoso's
    // deployments were started by a platform engineer with no tenant, and still fabrikam sees
    // none of their events; what it sees without a tenant is platform-wide or shared.
    let fab_rows = nodes(&query(&app, AUDIT, json!({ "first": 200 }), fabrikam).await);
    assert!(!fab_rows.is_empty());
    assert!(fab_rows.iter().all(|r| r["tenantId"].is_null() || r["tenantId"] == "fabrikam"), "{fab_rows:?}");
    let contoso_owned = [&v1, &v2, &drift_contoso];
    assert!(
        fab_rows.iter().all(|r| !contoso_owned.iter().any(|id| r["aggregateId"] == json!(id))),
        "no event of a contoso aggregate reaches fabrikam: {fab_rows:?}"
    );
    let shared = |r: &&Value| {
        matches!(r["aggregateType"].as_str(), Some("RuntimeEnvironment" | "RuntimeService"))
            || r["aggregateId"] == json!(drift_shared)
    };
    assert!(fab_rows.iter().filter(|r| r["tenantId"].is_null()).all(|r| shared(&r)), "{fab_rows:?}");
    assert!(fab_rows.iter().any(|r| r["tenantId"].is_null()) && fab_rows.iter().any(|r| r["tenantId"] == "fabrikam"));
    let v1_events: Vec<&Value> = rows.iter().filter(|r| r["aggregateId"] == json!(v1)).collect();
    assert!(!v1_events.is_empty() && v1_events.iter().all(|r| r["tenantId"] == "contoso"), "{v1_events:?}");
    assert!(v1_events.iter().all(|r| r["actorRole"] == "PlatformAdmin"), "{v1_events:?}");
    let by_role = query(&app, AUDIT_BY_ROLE, json!({ "role": "worker" }), &[]).await;
    assert_eq!(
        field(&by_role, "aggregateId").into_iter().collect::<std::collections::BTreeSet<_>>(),
        [drift_contoso.clone(), drift_fabrikam.clone()].into_iter().collect(),
        "auditLog filters by acting role"
    );
    assert!(nodes(&query(&app, AUDIT, json!({ "tenant": "contoso" }), fabrikam).await).is_empty());
    let first = query(&app, AUDIT, json!({ "first": 1 }), &[]).await;
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = query(&app, AUDIT, json!({ "first": 1, "after": first["pageInfo"]["endCursor"] }), &[]).await;
    assert_eq!(nodes(&second)[0]["globalPosition"], rows[1]["globalPosition"]);
    assert_eq!(second["pageInfo"]["hasPreviousPage"], true);

    // minPosition: read your own writes without settling --------------------------------------
    let detected = run(&app, &detect, json!({ "i": { "environmentId": env, "serviceId": worker, "class": "SCALE", "desired": "3", "observed": "1" } })).await;
    let position = detected["position"].as_str().unwrap().to_owned();
    let fresh = query(&app, DRIFT, json!({ "class": "scale", "min": position }), &[]).await;
    assert_eq!(field(&fresh, "findingId"), vec![id(&detected)]);
    let v3 = run(&app, &start, json!({ "i": deployment_input(&worker, &env, "3.0.0") })).await;
    let fresh = query(&app, DEPLOYMENTS, json!({ "service": worker, "min": v3["position"] }), &[]).await;
    assert_eq!(field(&fresh, "deploymentId"), vec![id(&v3)]);
    assert_eq!(nodes(&fresh)[0]["status"], "PENDING", "{fresh}");
    let fresh = query(&app, AUDIT, json!({ "types": ["DeploymentStarted"], "min": v3["position"] }), &[]).await;
    assert_eq!(nodes(&fresh).len(), 3);
    let fresh = query(
        &app,
        "query($m: String) { healthStatus(minPosition: $m) { edges { node { healthId } } } }",
        json!({ "m": v3["position"] }),
        &[],
    )
    .await;
    assert_eq!(nodes(&fresh).len(), 2);
    let bad = app.gql("{ auditLog(minPosition: \"garbage\") { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&bad), Some("INVALID_INPUT"), "{bad}");
}

/// Scans of `catalog_service_environments` recorded in the statistics (flushed by the
/// backends within about a second of going idle).
async fn placement_scans(pool: &PgPool) -> i64 {
    sqlx::query("SELECT pg_stat_clear_snapshot()").execute(pool).await.unwrap();
    sqlx::query_scalar(
        "SELECT (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::bigint FROM pg_stat_user_tables WHERE relname = 'catalog_service_environments'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Runs one catalog page with its placements; returns the page and the scans it caused.
async fn catalog_page_scans(app: &TestApp, pool: &PgPool, first: usize) -> (Vec<Value>, i64) {
    // Earlier statistics land first (a backend may otherwise hold them for up to 10 s and
    // flush them into this page's window), so the difference is this page's alone.
    tests::flush_stats(pool).await;
    let before = placement_scans(pool).await;
    let page = query(&app, CATALOG, json!({ "first": first }), &[]).await;
    tests::flush_stats(pool).await;
    let after = placement_scans(pool).await;
    (nodes(&page), after - before)
}

#[tokio::test]
async fn a_catalog_page_loads_the_placements_of_all_its_services_in_one_query() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let env = ready_environment(&app, "dl").await;
    for i in 0..30 {
        let service = register(&app, &format!("svc{i:02}")).await;
        track(&app, &service, &env, None).await;
    }
    app.settle().await;
    let placements: i64 =
        sqlx::query_scalar("SELECT count(*) FROM catalog_service_environments").fetch_one(&db.pool).await.unwrap();
    assert_eq!(placements, 30);
    sqlx::query("ANALYZE catalog_service_environments").execute(&db.pool).await.unwrap();

    for first in [30usize, 5] {
        let (entries, scans) = catalog_page_scans(&app, &db.pool, first).await;
        assert_eq!(entries.len(), first);
        for entry in &entries {
            let envs = entry["environments"].as_array().unwrap();
            assert_eq!(envs.len(), 1, "{entry}");
            assert_eq!(envs[0]["environmentId"], json!(env));
            assert_eq!(envs[0]["tenantId"], Value::Null);
            assert_eq!(envs[0]["serviceId"], entry["serviceId"]);
        }
        assert_eq!(scans, 1, "one scan of catalog_service_environments for a page of {first} services");
    }
}
