//! Drift remediation by policy, by the `drift-remediation` worker, through GraphQL and the
//! worker's reactions (run by the app like `serve` runs them). Rules:
//! - a version drift outside production is remediated by itself: the finding's remediation
//!   starts and names a new deployment of the known-good artifact, which the worker starts;
//!   when that deployment succeeds the finding is remediated with its success as evidence;
//! - in production the finding waits; a person's `startDriftRemediation` is the approval, and
//!   the worker starts the deployment it names;
//! - every reaction is the worker's (`worker:drift-remediation`), in the trace of what it
//!   answers and caused by it, so `causalChain` walks detection -> remediation -> deployment,
//!   and success -> remediated (next to the supersession worker's reaction);
//! - reacting again to the whole log writes nothing.

use serde_json::{json, Value};
use tests::{environment_input, TestApp, TestDb};

const R: &str = "{ aggregateId events { eventId eventType } }";
const TRACE: &str = "cccccccccccccccccccccccccccccc01";
const CHAIN: &str = "query($e: ID) { causalChain(eventId: $e) { truncated nodes { depth causedBy
    event { eventId eventType aggregateId actor traceId } } } }";

async fn run(app: &TestApp, mutation: &str, variables: Value) -> Value {
    let traceparent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    let response = app
        .gql_with(
            &format!("mutation{mutation} {R} }}"),
            variables,
            &[("traceparent", &traceparent), ("x-actor", "user:sre")],
        )
        .await;
    assert!(response["errors"].is_null(), "{mutation}: {response}");
    response["data"].as_object().unwrap().values().next().unwrap().clone()
}

fn id(result: &Value) -> String {
    result["aggregateId"].as_str().unwrap().to_owned()
}

/// A Ready environment of stage `stage`; returns its id.
async fn ready(app: &TestApp, name: &str, stage: &str) -> String {
    let env = id(&run(
        app,
        "($i: RequestEnvironmentInput!) { requestEnvironment(input: $i)",
        json!({ "i": environment_input("shop", name, stage) }),
    )
    .await);
    run(app, "($id: ID!) { recordProvisioningStarted(id: $id)", json!({ "id": env })).await;
    run(
        app,
        "($id: ID!, $o: ProvisioningOutputsInput!) { recordProvisioningSucceeded(id: $id, outputs: $o)",
        json!({ "id": env, "o": { "endpoints": [], "resourceIds": [], "stackVersion": 1 } }),
    )
    .await;
    env
}

/// A Ready environment of stage `stage` (production after a live staging one, as the domain
/// requires) and an active service; returns their ids.
async fn place(app: &TestApp, name: &str, stage: &str) -> (String, String) {
    if stage == "PROD" {
        ready(app, &format!("{name}-staging"), "STAGING").await;
    }
    let env = ready(app, name, stage).await;
    let contract = json!({ "image": "shop.azurecr.io/api", "ports": [8080],
        "liveness": { "kind": "HTTP", "path": "/healthz", "port": 8080, "periodSeconds": 10, "timeoutSeconds": 2 },
        "minReplicas": 1, "maxReplicas": 5, "compute": "AKS" });
    let service = id(&run(
        app,
        "($i: RegisterServiceInput!) { registerService(input: $i)",
        json!({ "i": { "product": "shop", "name": format!("api-{name}"), "kind": "MICROSERVICE", "blueprint": "blueprints/api@3", "contract": contract } }),
    )
    .await);
    run(app, "($id: ID!) { activateService(id: $id)", json!({ "id": service })).await;
    (env, service)
}

/// Rolls deployment `id` out and promotes it; returns the success's event id.
async fn promote(app: &TestApp, id: &str) -> String {
    let v = json!({ "id": id });
    run(app, "($id: ID!) { beginDeploymentRollout(id: $id)", v.clone()).await;
    run(app, "($id: ID!) { recordDeploymentStepProgress(id: $id, step: 0, percent: 100)", v.clone()).await;
    run(
        app,
        "($id: ID!) { recordHealthGateResult(id: $id, gate: \"availability\", passed: true, observed: 99.9)",
        v.clone(),
    )
    .await;
    run(app, "($id: ID!) { promoteDeployment(id: $id)", v).await["events"][0]["eventId"].as_str().unwrap().to_owned()
}

/// Deploys `version` of `service` into `env` and promotes it: the known-good deployment.
async fn known_good(app: &TestApp, env: &str, service: &str, version: &str) -> String {
    let deployment = id(&run(
        app,
        "($i: StartDeploymentInput!) { startDeployment(input: $i)",
        json!({ "i": { "service": service, "environment": env,
            "artifact": { "digest": format!("sha256:{}", "3c".repeat(32)), "version": version, "commit": "7".repeat(40) },
            "strategy": { "kind": "ROLLING" }, "gates": [{ "name": "availability", "kind": "AVAILABILITY", "threshold": 99.0 }] } }),
    )
    .await);
    promote(app, &deployment).await;
    deployment
}

async fn detect(app: &TestApp, env: &str, service: &str) -> Value {
    run(
        app,
        "($i: DetectDriftInput!) { detectDrift(input: $i)",
        json!({ "i": { "environmentId": env, "serviceId": service, "class": "VERSION", "desired": "1.0.0", "observed": "6.6.6" } }),
    )
    .await
}

async fn finding(app: &TestApp, id: &str) -> Value {
    let r = app
        .gql(
            "query($id: ID!) { driftFinding(id: $id) { status closure { kind evidenceId } remediation { aggregateId command } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    r["data"]["driftFinding"].clone()
}

async fn deployment(app: &TestApp, id: &str) -> Value {
    let r =
        app.gql("query($id: ID!) { deployment(id: $id) { status artifact { version } } }", json!({ "id": id })).await;
    assert!(r["errors"].is_null(), "{r}");
    r["data"]["deployment"].clone()
}

async fn chain(app: &TestApp, event: &str) -> Vec<Value> {
    let r = app.gql(CHAIN, json!({ "e": event })).await;
    assert!(r["errors"].is_null(), "{r}");
    r["data"]["causalChain"]["nodes"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_version_drift_outside_production_is_remediated_by_itself_with_every_link_in_the_chain() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let (env, service) = place(&app, "dev1", "DEV").await;
    let v1 = known_good(&app, &env, &service, "1.0.0").await;
    let detected = detect(&app, &env, &service).await;
    let drift = id(&detected);
    let detected_event = detected["events"][0]["eventId"].as_str().unwrap().to_owned();
    app.settle().await;

    // The worker started the remediation and the deployment it names, of the known-good artifact.
    let now = finding(&app, &drift).await;
    assert_eq!(now["status"], "REMEDIATING", "{now}");
    assert_eq!(now["remediation"]["command"], "StartDeployment");
    let redeploy = now["remediation"]["aggregateId"].as_str().unwrap().to_owned();
    assert_ne!(redeploy, v1);
    assert_eq!(deployment(&app, &redeploy).await, json!({ "status": "PENDING", "artifact": { "version": "1.0.0" } }));

    // Detection -> remediation started -> deployment started: the worker's, in the trace.
    let nodes = chain(&app, &detected_event).await;
    let shape: Vec<(i64, &str, &str)> = nodes
        .iter()
        .map(|n| {
            (
                n["depth"].as_i64().unwrap(),
                n["event"]["eventType"].as_str().unwrap(),
                n["event"]["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (0, "RuntimeDriftDetected", "user:sre"),
            (1, "DriftRemediationStarted", "worker:drift-remediation"),
            (2, "DeploymentStarted", "worker:drift-remediation"),
        ]
    );
    assert_eq!(nodes[1]["causedBy"], detected_event.as_str());
    assert_eq!(nodes[2]["causedBy"], nodes[1]["event"]["eventId"]);
    assert_eq!(nodes[2]["event"]["aggregateId"], redeploy.as_str());
    assert!(nodes.iter().all(|n| n["event"]["traceId"] == TRACE), "{nodes:?}");

    // The pipeline rolls it out; its success remediates the finding (and supersedes v1).
    let success = promote(&app, &redeploy).await;
    app.settle().await;
    let now = finding(&app, &drift).await;
    assert_eq!(now["status"], "REMEDIATED", "{now}");
    assert_eq!(now["closure"], json!({ "kind": "REMEDIATED", "evidenceId": success }));
    let nodes = chain(&app, &success).await;
    let mut reactions: Vec<(i64, &str, &str)> = nodes
        .iter()
        .filter(|n| n["causedBy"] == success.as_str())
        .map(|n| {
            (
                n["depth"].as_i64().unwrap(),
                n["event"]["eventType"].as_str().unwrap(),
                n["event"]["actor"].as_str().unwrap(),
            )
        })
        .collect();
    reactions.sort();
    assert_eq!(
        reactions,
        [(1, "DeploymentSuperseded", "worker:supersession"), (1, "DriftRemediated", "worker:drift-remediation")]
    );

    // Reacting to the whole log again writes nothing.
    let before = db.event_count().await;
    sqlx::query("UPDATE reactor_checkpoints SET transaction_id = '0', global_position = 0")
        .execute(&db.pool)
        .await
        .unwrap();
    for reactor in &app.platform.reactors {
        reactor.catch_up().await.unwrap();
    }
    assert_eq!(db.event_count().await, before, "a second reaction to the same events wrote something");
}

#[tokio::test]
async fn in_production_the_finding_waits_for_a_persons_approval_then_the_worker_deploys() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let (env, service) = place(&app, "prod1", "PROD").await;
    known_good(&app, &env, &service, "1.0.0").await;
    let drift = id(&detect(&app, &env, &service).await);
    app.settle().await;
    let deployments_before: (i64,) =
        sqlx::query_as("SELECT count(DISTINCT aggregate_id) FROM events WHERE aggregate_type = 'RuntimeDeployment'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(finding(&app, &drift).await["status"], "DETECTED", "production waits for approval");

    // Approval: a person starts the remediation and names the deployment.
    let redeploy = domain::ids::DeploymentId::generate().to_string();
    let approved = run(
        &app,
        "($id: ID!, $a: DriftRemediationActionInput!) { startDriftRemediation(id: $id, action: $a)",
        json!({ "id": drift, "a": { "aggregateType": "RUNTIME_DEPLOYMENT", "aggregateId": redeploy, "command": "StartDeployment" } }),
    )
    .await;
    app.settle().await;
    assert_eq!(deployment(&app, &redeploy).await, json!({ "status": "PENDING", "artifact": { "version": "1.0.0" } }));
    let deployments_after: (i64,) =
        sqlx::query_as("SELECT count(DISTINCT aggregate_id) FROM events WHERE aggregate_type = 'RuntimeDeployment'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(deployments_after.0, deployments_before.0 + 1, "exactly the approved deployment");
    let nodes = chain(&app, approved["events"][0]["eventId"].as_str().unwrap()).await;
    let started =
        nodes.iter().find(|n| n["event"]["eventType"] == "DeploymentStarted").expect("the deployment in the chain");
    assert_eq!(started["event"]["actor"], "worker:drift-remediation");
    assert_eq!(started["causedBy"], approved["events"][0]["eventId"]);

    let success = promote(&app, &redeploy).await;
    app.settle().await;
    let now = finding(&app, &drift).await;
    assert_eq!(now["closure"], json!({ "kind": "REMEDIATED", "evidenceId": success }), "{now}");
}
