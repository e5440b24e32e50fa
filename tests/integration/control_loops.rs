//! The clock-driven control loops against a real endpoint: the health probe worker probes the
//! readiness endpoint a service's contract declares at the address the environment reports,
//! and the deployment gate judges verifying deployments by those samples. Rules:
//! - a deployment verifying while its endpoint answers 2xx is promoted after `consecutive`
//!   passing samples, by `worker:deployment-gate`, in the deployment's trace, caused by the
//!   newest sample it judged (a stored observation);
//! - a deployment verifying while the endpoint answers 503 fails at the failure limit and is
//!   rolled back to the last known-good deployment; it is recorded rolled back once the
//!   environment reports the known-good image running, caused by that report;
//! - the probe's flips reach the workload's health as events of `worker:health-probe`; repeated
//!   samples write none;
//! - reports are for reporters (Worker, PlatformAdmin): anyone else is refused and nothing is
//!   stored; a report of an unknown environment is `NOT_FOUND`; a malformed one
//!   `INVALID_INPUT`.

use std::time::Duration;

use serde_json::{json, Value};
use tests::{environment_input, error_code, TestApp, TestDb};

const R: &str = "{ aggregateId events { eventId eventType } }";
const REPORTER: [(&str, &str); 2] = [("x-roles", "Worker"), ("x-actor", "worker:aks-agent")];

async fn run(app: &TestApp, mutation: &str, variables: Value) -> Value {
    let response = app.gql(&format!("mutation{mutation} {R} }}"), variables).await;
    assert!(response["errors"].is_null(), "{mutation}: {response}");
    response["data"].as_object().unwrap().values().next().unwrap().clone()
}

fn id(result: &Value) -> String {
    result["aggregateId"].as_str().unwrap().to_owned()
}

/// A Ready dev environment and an active service whose readiness probe is `GET /ready` on
/// `port` every second.
async fn place(app: &TestApp, port: u16) -> (String, String) {
    place_in(app, port, "loops", "DEV", "api").await
}

/// A Ready environment `name` of `stage` and an active service `service` whose readiness
/// probe is `GET /ready` on `port` every second.
async fn place_in(app: &TestApp, port: u16, name: &str, stage: &str, service: &str) -> (String, String) {
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
    (env, register(app, port, service).await)
}

/// Registers and activates service `service` whose readiness probe is `GET /ready` on `port`.
async fn register(app: &TestApp, port: u16, service: &str) -> String {
    let contract = json!({ "image": "shop.azurecr.io/api", "ports": [port],
        "readiness": { "kind": "HTTP", "path": "/ready", "port": port, "periodSeconds": 1, "timeoutSeconds": 1 },
        "minReplicas": 1, "maxReplicas": 5, "compute": "AKS" });
    let service = id(&run(
        app,
        "($i: RegisterServiceInput!) { registerService(input: $i)",
        json!({ "i": { "product": "shop", "name": service, "kind": "MICROSERVICE", "blueprint": "blueprints/api@3", "contract": contract } }),
    )
    .await);
    run(app, "($id: ID!) { activateService(id: $id)", json!({ "id": service })).await;
    service
}

fn digest(version: &str) -> String {
    format!("sha256:{:0>64}", version.replace('.', ""))
}

/// Starts a deployment of `version` and rolls it out: it is `Verifying`, waiting for the gate.
async fn verifying(app: &TestApp, env: &str, service: &str, version: &str) -> String {
    let deployment = id(&run(
        app,
        "($i: StartDeploymentInput!) { startDeployment(input: $i)",
        json!({ "i": { "service": service, "environment": env,
            "artifact": { "digest": digest(version), "version": version, "commit": "7".repeat(40) },
            "strategy": { "kind": "ROLLING" },
            "gates": [{ "name": "availability", "kind": "AVAILABILITY", "threshold": 80.0 },
                      { "name": "latency", "kind": "LATENCY_P95", "threshold": 2000.0 }] } }),
    )
    .await);
    let v = json!({ "id": deployment });
    run(app, "($id: ID!) { beginDeploymentRollout(id: $id)", v.clone()).await;
    run(app, "($id: ID!) { recordDeploymentStepProgress(id: $id, step: 0, percent: 100)", v).await;
    deployment
}

/// Reports that `env` runs `version` of `service`, reachable on loopback.
async fn report(app: &TestApp, env: &str, service: &str, version: &str) -> Value {
    let response = app
        .gql_with(
            "mutation($e: ID!, $w: [ObservedWorkloadInput!]!) { reportObservedState(environmentId: $e, workloads: $w) \
               { observationId traceId } }",
            json!({ "e": env, "w": [{ "serviceId": service, "version": version, "digest": digest(version),
                "replicas": 2, "namespace": "shop", "address": "127.0.0.1" }] }),
            &REPORTER,
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["reportObservedState"].clone()
}

async fn deployment(app: &TestApp, id: &str) -> Value {
    let r = app
        .gql(
            "query($id: ID!) { deployment(id: $id) { status rollbackTarget failureReason gates { name passed } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    r["data"]["deployment"].clone()
}

/// Waits (at most 30 s) until deployment `id` reaches `status`.
async fn until_status(app: &TestApp, id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = deployment(app, id).await;
        if d["status"] == status {
            return d;
        }
        assert!(tokio::time::Instant::now() < deadline, "deployment {id} never reached {status}: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An event's type, actor, trace and causation.
type Envelope = (String, Option<String>, Option<String>, Option<String>);

/// The deployment's events as `(type, actor, trace, causation)`.
async fn events_of(db: &TestDb, id: &str) -> Vec<Envelope> {
    sqlx::query_as(
        "SELECT event_type, metadata->>'actor', metadata->>'trace_id', metadata->>'causation_id' FROM events \
          WHERE aggregate_type = 'RuntimeDeployment' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// The event types `trace(traceId)` lists.
async fn trace(app: &TestApp, trace_id: &str) -> Vec<(String, String)> {
    let r = app
        .gql(
            "query($t: String!) { trace(traceId: $t, first: 200) { nodes { eventType actor } } }",
            json!({ "t": trace_id }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    r["data"]["trace"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["eventType"].as_str().unwrap().to_owned(), n["actor"].as_str().unwrap_or("").to_owned()))
        .collect()
}

async fn observation_kind(db: &TestDb, id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT kind FROM observations WHERE observation_id = $1::uuid")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .unwrap()
}

async fn fast_app(db: &TestDb) -> TestApp {
    let settings = infra::server::LoopSettings {
        gate: workers::GateAnalysis {
            interval: Duration::from_millis(100),
            timeout: chrono::Duration::seconds(60),
            ..Default::default()
        },
        probe: workers::ProbeSettings { tick: Duration::from_millis(100), ..Default::default() },
        drift_interval: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    TestApp::start_with_loops(db.pool.clone(), settings).await
}

#[tokio::test]
async fn a_healthy_rollout_is_promoted_and_an_unhealthy_one_rolled_back_by_the_loops() {
    let db = TestDb::new().await;
    let app = fast_app(&db).await;
    let server = tests::endpoint::start().await;
    let (env, service) = place(&app, server.port).await;

    // 1. Healthy: promoted by the gate, on the probe worker's samples.
    let first = verifying(&app, &env, &service, "1.0.0").await;
    report(&app, &env, &service, "1.0.0").await;
    let promoted = until_status(&app, &first, "SUCCEEDED").await;
    assert!(promoted["gates"].as_array().unwrap().iter().all(|g| g["passed"] == true), "{promoted}");
    let events = events_of(&db, &first).await;
    let trace_id = events[0].2.clone().unwrap();
    let (kind, actor, in_trace, cause) = events.iter().find(|e| e.0 == "DeploymentSucceeded").unwrap().clone();
    assert_eq!(kind, "DeploymentSucceeded");
    assert_eq!(actor.as_deref(), Some("worker:deployment-gate"));
    assert_eq!(in_trace.as_deref(), Some(trace_id.as_str()), "the verdict is in the rollout's trace");
    assert_eq!(observation_kind(&db, cause.as_deref().unwrap()).await.as_deref(), Some("probe"), "caused by a sample");
    let traced = trace(&app, &trace_id).await;
    assert!(
        traced.contains(&("DeploymentSucceeded".to_owned(), "worker:deployment-gate".to_owned())),
        "trace(traceId) shows the worker's promotion: {traced:?}"
    );

    // 2. Unhealthy: failed at the failure limit, rolled back to the known-good deployment,
    //    and recorded rolled back once the environment runs the known-good image again.
    server.set_healthy(false);
    let second = verifying(&app, &env, &service, "2.0.0").await;
    report(&app, &env, &service, "2.0.0").await;
    let rolling = until_status(&app, &second, "ROLLING_BACK").await;
    assert_eq!(rolling["rollbackTarget"], first.as_str(), "{rolling}");
    assert!(rolling["failureReason"].as_str().unwrap().contains("readiness samples failed"), "{rolling}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(deployment(&app, &second).await["status"], "ROLLING_BACK", "not rolled back before the report");
    let back = report(&app, &env, &service, "1.0.0").await;
    until_status(&app, &second, "ROLLED_BACK").await;
    let events = events_of(&db, &second).await;
    let rolled = events.iter().find(|e| e.0 == "DeploymentRolledBack").unwrap();
    assert_eq!(rolled.1.as_deref(), Some("worker:deployment-gate"));
    assert_eq!(rolled.3.as_deref(), back["observationId"].as_str(), "caused by the report that showed it");
    for verdict in ["DeploymentFailed", "RollbackStarted"] {
        let e = events.iter().find(|e| e.0 == verdict).unwrap_or_else(|| panic!("{verdict} in {events:?}"));
        assert_eq!(e.1.as_deref(), Some("worker:deployment-gate"));
        assert_eq!(e.2, events[0].2, "in the rollout's trace");
    }

    // 3. The probe's flips reached the health as the probe worker's events, and only flips:
    //    a handful of events for dozens of samples.
    let (samples, flips): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM observations WHERE kind = 'probe'), \
                (SELECT count(*) FROM events WHERE aggregate_type = 'RuntimeHealth' \
                    AND event_type = 'ProbeResultChanged' AND metadata->>'actor' = 'worker:health-probe')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(samples >= 6, "{samples} samples");
    assert_eq!(flips, 2, "passed, then failed: one event per flip ({samples} samples)");

    // 4. The loops say where they stand.
    let r = app.gql("{ workers { name kind leader runs actions errors } }", json!({})).await;
    let gate = r["data"]["workers"].as_array().unwrap().iter().find(|w| w["name"] == "deployment-gate").unwrap().clone();
    assert_eq!(gate["kind"], "LOOP");
    assert!(gate["leader"].is_string() && gate["runs"].as_i64().unwrap() > 0, "{gate}");
    assert!(gate["actions"].as_i64().unwrap() >= 6, "{gate}");
}

#[tokio::test]
async fn reports_are_for_reporters_and_bad_reports_change_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let (env, service) = place(&app, 9).await;
    let mutation = "mutation($e: ID!, $w: [ObservedWorkloadInput!]!) { reportObservedState(environmentId: $e, workloads: $w) { observationId } }";
    let workload = |digest: &str| json!([{ "serviceId": service, "digest": digest, "address": "127.0.0.1" }]);
    let good = digest("1.0.0");
    type Case<'a> = (Value, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (json!({ "e": env, "w": workload(&good) }), vec![("x-roles", "TenantOperator"), ("x-tenant-id", "contoso")], "FORBIDDEN"),
        (json!({ "e": env, "w": workload(&good) }), vec![("x-roles", "ControlPlane")], "FORBIDDEN"),
        (json!({ "e": env, "w": workload("sha256:nothex") }), REPORTER.to_vec(), "INVALID_INPUT"),
        (
            json!({ "e": env, "w": [{ "serviceId": service, "address": "http://evil/" }] }),
            REPORTER.to_vec(),
            "INVALID_INPUT",
        ),
        (json!({ "e": "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a", "w": workload(&good) }), REPORTER.to_vec(), "NOT_FOUND"),
    ];
    for (variables, headers, code) in cases {
        let r = app.gql_with(mutation, variables.clone(), &headers).await;
        assert_eq!(error_code(&r), Some(code), "{variables} as {headers:?}: {r}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM observations").fetch_one(&db.pool).await.unwrap();
    assert_eq!(stored, 0, "a refused report stores nothing");

    // A reporter's report is stored, and a probe sample is recorded on the workload's health.
    let r = app.gql_with(mutation, json!({ "e": env, "w": workload(&good) }), &REPORTER).await;
    assert!(r["errors"].is_null(), "{r}");
    let probe = "mutation($e: ID!, $s: ID!) { reportProbeResult(environmentId: $e, serviceId: $s, \
        probe: { kind: READINESS }, passed: true, latencyMs: 12) { observationId health { aggregateId events { eventType } } } }";
    let first = app.gql_with(probe, json!({ "e": env, "s": service }), &REPORTER).await;
    assert!(first["errors"].is_null(), "{first}");
    let again = app.gql_with(probe, json!({ "e": env, "s": service }), &REPORTER).await;
    let health = &first["data"]["reportProbeResult"]["health"];
    assert!(!health["events"].as_array().unwrap().is_empty(), "the first sample is a change: {first}");
    assert_eq!(again["data"]["reportProbeResult"]["health"]["aggregateId"], health["aggregateId"], "one health record");
    assert!(again["data"]["reportProbeResult"]["health"]["events"].as_array().unwrap().is_empty(), "a repeat is none");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM observations").fetch_one(&db.pool).await.unwrap();
    assert_eq!(stored, 3, "every sample is stored");
}

/// The findings of `env` as `(id, class, status)`, from the drift view.
async fn findings(db: &TestDb, env: &str) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT finding_id, class, status FROM drift_view WHERE environment_id = $1 ORDER BY detected_at")
        .bind(env)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

/// Waits (at most 30 s) until `env` has exactly one finding, of `class`, in `status`.
async fn until_finding(db: &TestDb, env: &str, class: &str, status: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let f = findings(db, env).await;
        if f.len() == 1 && f[0].1 == class && f[0].2 == status {
            return f[0].0.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no single {class} finding {status} in {env}: {f:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The finding's events as `(type, actor, trace, causation)`.
async fn finding_events(db: &TestDb, id: &str) -> Vec<Envelope> {
    sqlx::query_as(
        "SELECT event_type, metadata->>'actor', metadata->>'trace_id', metadata->>'causation_id' FROM events \
          WHERE aggregate_type = 'DriftFinding' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn drift_is_remediated_in_dev_waits_for_approval_in_prod_and_resolves_when_back_in_line() {
    let db = TestDb::new().await;
    let app = fast_app(&db).await;
    let server = tests::endpoint::start().await;

    // Dev: 1.0.0 deployed (promoted by the gate) and reported running: no finding.
    let (dev, api) = place_in(&app, server.port, "dev-a", "DEV", "api").await;
    let first = verifying(&app, &dev, &api, "1.0.0").await;
    report(&app, &dev, &api, "1.0.0").await;
    until_status(&app, &first, "SUCCEEDED").await;
    report(&app, &dev, &api, "1.0.0").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(findings(&db, &dev).await.is_empty(), "in line: no finding");

    // Someone runs 6.6.6 by hand: detected by the loop in the report's trace, caused by it;
    // remediated by redeploying the known-good artifact, rolled out and promoted by the gate.
    let drifted = report(&app, &dev, &api, "6.6.6").await;
    let finding = until_finding(&db, &dev, "version", "remediating").await;
    let events = finding_events(&db, &finding).await;
    assert_eq!(events[0].0, "RuntimeDriftDetected");
    assert_eq!(events[0].1.as_deref(), Some("worker:drift-detection"));
    assert_eq!(events[0].2.as_deref(), drifted["traceId"].as_str(), "in the trace of the report");
    assert_eq!(events[0].3.as_deref(), drifted["observationId"].as_str(), "caused by the report");
    // The remediation names a new deployment, which the remediation worker starts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let redeploy: String = loop {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT deployment_id FROM deployment_history WHERE environment_id = $1 AND deployment_id <> $2",
        )
        .bind(&dev)
        .bind(&first)
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        if let Some(found) = found {
            break found;
        }
        assert!(tokio::time::Instant::now() < deadline, "the remediation started no deployment");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let v = json!({ "id": redeploy });
    run(&app, "($id: ID!) { beginDeploymentRollout(id: $id)", v.clone()).await;
    run(&app, "($id: ID!) { recordDeploymentStepProgress(id: $id, step: 0, percent: 100)", v).await;
    until_status(&app, &redeploy, "SUCCEEDED").await;
    until_finding(&db, &dev, "version", "remediated").await;
    let traced = trace(&app, drifted["traceId"].as_str().unwrap()).await;
    for link in [
        ("RuntimeDriftDetected", "worker:drift-detection"),
        ("DriftRemediationStarted", "worker:drift-remediation"),
        ("DeploymentStarted", "worker:drift-remediation"),
    ] {
        assert!(traced.contains(&(link.0.to_owned(), link.1.to_owned())), "{link:?} in {traced:?}");
    }
    // The stale report (6.6.6, from before the redeploy) opens nothing new.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(findings(&db, &dev).await.len(), 1, "no new finding from a report older than the redeploy");

    // Prod: the same drift waits for a person, and resolves when the report is back in line.
    place_in(&app, server.port, "stg-a", "STAGING", "api-staging").await;
    let (prod, shop) = place_in(&app, server.port, "prod-a", "PROD", "api-prod").await;
    let live = verifying(&app, &prod, &shop, "1.0.0").await;
    report(&app, &prod, &shop, "1.0.0").await;
    until_status(&app, &live, "SUCCEEDED").await;
    report(&app, &prod, &shop, "6.6.6").await;
    let finding = until_finding(&db, &prod, "version", "detected").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(findings(&db, &prod).await[0].2, "detected", "production waits for approval");
    let back = report(&app, &prod, &shop, "1.0.0").await;
    until_finding(&db, &prod, "version", "resolved").await;
    let events = finding_events(&db, &finding).await;
    let resolved = events.iter().find(|e| e.0 == "DriftResolved").unwrap();
    assert_eq!(resolved.1.as_deref(), Some("worker:drift-detection"));
    assert_eq!(resolved.3.as_deref(), back["observationId"].as_str(), "caused by the report back in line");
}

#[tokio::test]
async fn a_dependent_rollout_waits_for_its_dependency_and_says_why() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let (env, web) = place_in(&app, 9, "dev-deps", "DEV", "web").await;
    let orders = register(&app, 9, "orders").await;
    run(&app, "($id: ID!, $on: ID!) { declareServiceDependency(id: $id, on: $on)", json!({ "id": web, "on": orders }))
        .await;

    // Both released together: the dependency is pending, so the dependent waits.
    let start = |service: &str, version: &str| {
        json!({ "i": { "service": service, "environment": env,
            "artifact": { "digest": digest(version), "version": version, "commit": "7".repeat(40) },
            "strategy": { "kind": "ROLLING" },
            "gates": [{ "name": "availability", "kind": "AVAILABILITY", "threshold": 99.0 }] } })
    };
    let dependency = id(&run(&app, "($i: StartDeploymentInput!) { startDeployment(input: $i)", start(&orders, "3.0.0")).await);
    let dependent = id(&run(&app, "($i: StartDeploymentInput!) { startDeployment(input: $i)", start(&web, "1.0.0")).await);
    let why = "query($id: ID!) { deployment(id: $id) { status whyBlocked { kind reason dependency deployment status } } }";
    let r = app.gql(why, json!({ "id": dependent })).await;
    let blockers = r["data"]["deployment"]["whyBlocked"].as_array().unwrap().clone();
    assert_eq!(blockers.len(), 1, "{r}");
    assert_eq!(blockers[0]["kind"], "DEPENDENCY_ROLLOUT");
    assert_eq!(blockers[0]["dependency"], orders.as_str());
    assert_eq!(blockers[0]["deployment"], dependency.as_str());
    assert_eq!(blockers[0]["status"], "PENDING");
    let refused = app
        .gql(&format!("mutation($id: ID!) {{ beginDeploymentRollout(id: $id) {R} }}"), json!({ "id": dependent }))
        .await;
    assert_eq!(error_code(&refused), Some("INVARIANT_VIOLATED"), "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains(&dependency), "{refused}");
    assert_eq!(deployment(&app, &dependent).await["status"], "PENDING", "nothing changed");

    // The dependency rolls out and is promoted: still blocked while it verifies, then free.
    let v = json!({ "id": dependency });
    run(&app, "($id: ID!) { beginDeploymentRollout(id: $id)", v.clone()).await;
    run(&app, "($id: ID!) { recordDeploymentStepProgress(id: $id, step: 0, percent: 100)", v.clone()).await;
    let r = app.gql(why, json!({ "id": dependent })).await;
    assert_eq!(r["data"]["deployment"]["whyBlocked"][0]["status"], "VERIFYING", "{r}");
    run(
        &app,
        "($id: ID!) { recordHealthGateResult(id: $id, gate: \"availability\", passed: true, observed: 99.9)",
        v.clone(),
    )
    .await;
    run(&app, "($id: ID!) { promoteDeployment(id: $id)", v).await;
    let r = app.gql(why, json!({ "id": dependent })).await;
    assert_eq!(r["data"]["deployment"]["whyBlocked"], json!([]), "{r}");
    run(&app, "($id: ID!) { beginDeploymentRollout(id: $id)", json!({ "id": dependent })).await;
    let r = app.gql(why, json!({ "id": dependent })).await;
    assert_eq!(r["data"]["deployment"], json!({ "status": "IN_PROGRESS", "whyBlocked": [] }), "past Pending: nothing to wait for");
}

#[tokio::test]
async fn a_promoted_deployment_that_turns_bad_is_rolled_back_and_remediation_follows_the_rollback() {
    let db = TestDb::new().await;
    let app = fast_app(&db).await;
    let server = tests::endpoint::start().await;
    let (env, service) = place_in(&app, server.port, "dev-bake", "DEV", "api").await;
    let good = verifying(&app, &env, &service, "1.0.0").await;
    report(&app, &env, &service, "1.0.0").await;
    until_status(&app, &good, "SUCCEEDED").await;
    let bad = verifying(&app, &env, &service, "2.0.0").await;
    report(&app, &env, &service, "2.0.0").await;
    until_status(&app, &bad, "SUCCEEDED").await;

    // 2.0.0 turns bad within the bake window: a deployment of 1.0.0 starts as its rollback,
    // by the degraded-rollback worker, caused by the health change and in its trace.
    server.set_healthy(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let rollback: String = loop {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT deployment_id FROM deployment_history WHERE environment_id = $1 AND rollback_of = $2",
        )
        .bind(&env)
        .bind(&bad)
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        if let Some(found) = found {
            break found;
        }
        assert!(tokio::time::Instant::now() < deadline, "no rollback of the degraded promotion");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let started = &events_of(&db, &rollback).await[0];
    assert_eq!(started.1.as_deref(), Some("worker:degraded-rollback"));
    let (cause_type, cause_trace): (String, Option<String>) =
        sqlx::query_as("SELECT event_type, metadata->>'trace_id' FROM events WHERE event_id = $1::uuid")
            .bind(started.3.as_deref().unwrap())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(cause_type, "HealthStatusChanged");
    assert_eq!(started.2, cause_trace, "in the trace of the health change");
    let r = app.gql("query($id: ID!) { deployment(id: $id) { artifact { version } rollbackOf } }", json!({ "id": rollback })).await;
    assert_eq!(r["data"]["deployment"], json!({ "artifact": { "version": "1.0.0" }, "rollbackOf": bad }), "{r}");

    // The old version runs healthy again and the rollback is promoted: it is the known-good
    // deployment now, so drift is judged against 1.0.0 and remediation redeploys 1.0.0.
    server.set_healthy(true);
    let v = json!({ "id": rollback });
    run(&app, "($id: ID!) { beginDeploymentRollout(id: $id)", v.clone()).await;
    run(&app, "($id: ID!) { recordDeploymentStepProgress(id: $id, step: 0, percent: 100)", v).await;
    report(&app, &env, &service, "1.0.0").await;
    until_status(&app, &rollback, "SUCCEEDED").await;
    report(&app, &env, &service, "1.0.0").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(findings(&db, &env).await.is_empty(), "1.0.0 is what should run: no finding");
    report(&app, &env, &service, "2.0.0").await;
    let finding = until_finding(&db, &env, "version", "remediating").await;
    let r = app
        .gql("query($id: ID!) { driftFinding(id: $id) { desired remediation { aggregateId } } }", json!({ "id": finding }))
        .await;
    assert!(r["data"]["driftFinding"]["desired"].as_str().unwrap().starts_with("1.0.0"), "{r}");
    let redeploy = r["data"]["driftFinding"]["remediation"]["aggregateId"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.gql("query($id: ID!) { deployment(id: $id) { artifact { version } } }", json!({ "id": redeploy })).await;
        if !r["data"]["deployment"].is_null() {
            assert_eq!(r["data"]["deployment"]["artifact"]["version"], "1.0.0", "remediation follows the rollback: {r}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the remediation started no deployment");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_workload_on_another_configuration_version_is_recorded_out_of_sync_and_drifts_until_it_catches_up() {
    let db = TestDb::new().await;
    let app = fast_app(&db).await;
    let server = tests::endpoint::start().await;
    let (env, service) = place_in(&app, server.port, "dev-config", "DEV", "api").await;
    let first = verifying(&app, &env, &service, "1.0.0").await;
    report(&app, &env, &service, "1.0.0").await;
    until_status(&app, &first, "SUCCEEDED").await;
    let configuration = id(&run(
        &app,
        "($i: CreateConfigurationInput!) { createConfiguration(input: $i)",
        json!({ "i": { "serviceId": service, "environmentId": env } }),
    )
    .await);
    for level in ["info", "debug"] {
        run(
            &app,
            "($id: ID!, $s: [ConfigurationSettingInput!]!) { proposeConfigurationVersion(id: $id, settings: $s)",
            json!({ "id": configuration, "s": [{ "key": "LOG_LEVEL", "value": level }] }),
        )
        .await;
    }
    run(&app, "($id: ID!) { activateConfigurationVersion(id: $id, version: 2)", json!({ "id": configuration })).await;

    // The workload runs version 1: out of sync (the sync worker) and a configuration finding
    // (the drift worker), both caused by the report.
    let report_version = |version: i64| {
        json!({ "e": env, "w": [{ "serviceId": service, "version": "1.0.0", "digest": digest("1.0.0"),
            "configurationVersion": version, "address": "127.0.0.1" }] })
    };
    let state = "mutation($e: ID!, $w: [ObservedWorkloadInput!]!) { reportObservedState(environmentId: $e, workloads: $w) { observationId } }";
    let r = app.gql_with(state, report_version(1), &REPORTER).await;
    let behind = r["data"]["reportObservedState"]["observationId"].as_str().unwrap().to_owned();
    let finding = until_finding(&db, &env, "configuration", "detected").await;
    assert_eq!(finding_events(&db, &finding).await[0].3.as_deref(), Some(behind.as_str()));
    let sync = "query($id: ID!) { configuration(id: $id) { outOfSyncWorkloads workloads { workloadId runningVersion status } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.gql(sync, json!({ "id": configuration })).await;
        if r["data"]["configuration"]["outOfSyncWorkloads"] == 1 {
            assert_eq!(r["data"]["configuration"]["workloads"][0]["workloadId"], service.as_str(), "{r}");
            assert_eq!(r["data"]["configuration"]["workloads"][0]["runningVersion"], 1, "{r}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never recorded out of sync: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (actor, cause): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT metadata->>'actor', metadata->>'causation_id' FROM events \
          WHERE aggregate_id = $1 AND event_type = 'WorkloadSyncRecorded'",
    )
    .bind(&configuration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((actor.as_deref(), cause.as_deref()), (Some("worker:configuration-sync"), Some(behind.as_str())));

    // It catches up: synced, and the finding resolves by itself.
    app.gql_with(state, report_version(2), &REPORTER).await;
    until_finding(&db, &env, "configuration", "resolved").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.gql(sync, json!({ "id": configuration })).await;
        if r["data"]["configuration"]["outOfSyncWorkloads"] == 0 && r["data"]["configuration"]["workloads"][0]["runningVersion"] == 2 {
            assert_eq!(r["data"]["configuration"]["workloads"][0]["status"], "SYNCED", "{r}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never recorded in sync: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_secret_is_marked_due_by_its_policy_and_its_rotation_recorded_from_what_the_workload_reads() {
    use domain::configuration::{
        EnvVarName, IdentityClientId, KeyVaultUri, RotationPolicy, SecretBinding, SecretBindingCommand, SecretName,
        SecretSurface, SecretVersion, WorkloadTarget,
    };
    let db = TestDb::new().await;
    let settings = infra::server::LoopSettings { drift_interval: Some(Duration::from_millis(100)), ..Default::default() };
    let app = TestApp::start_with_loops(db.pool.clone(), settings).await;
    let (env, service) = place_in(&app, 9, "dev-secrets", "DEV", "api").await;
    let deployed = tests::drive::deploy(
        app.bus(),
        tests::drive::start_deployment(service.parse().unwrap(), env.parse().unwrap(), None, "1.0.0"),
    )
    .await
    .unwrap();
    tests::drive::succeed(app.bus(), deployed).await;

    // Bound two days ago with a daily rotation: due now.
    let binding = uuid::Uuid::now_v7().to_string();
    let vault = KeyVaultUri::parse("https://kv-shop.vault.azure.net/").unwrap();
    let name = SecretName::parse("db-password").unwrap();
    let (v1, v2) = ("a1".repeat(16), "b2".repeat(16));
    let ago = |days: i64| chrono::Utc::now() - chrono::Duration::days(days);
    for command in [
        SecretBindingCommand::BindSecret {
            target: WorkloadTarget::new(service.parse().unwrap(), env.parse().unwrap(), None),
            vault: vault.clone(),
            secret: name.clone(),
            version: None,
            identity: IdentityClientId::parse("0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11").unwrap(),
            surface: SecretSurface::EnvVar(EnvVarName::parse("DB_PASSWORD").unwrap()),
            rotation: RotationPolicy::new(1, 0).unwrap(),
            at: ago(3),
        },
        SecretBindingCommand::ConfirmBinding { resolved_version: SecretVersion::parse(&v1).unwrap(), at: ago(2) },
    ] {
        app.bus()
            .execute::<SecretBinding>(&tests::system_context(), &binding, command, Default::default())
            .await
            .unwrap();
    }
    let until = |wanted: &'static str| {
        let (app, binding) = (&app, binding.clone());
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let r = app
                    .gql("query($id: ID!) { secretBinding(id: $id) { status currentVersion } }", json!({ "id": binding }))
                    .await;
                let s = r["data"]["secretBinding"].clone();
                if s["status"] == wanted {
                    return s;
                }
                assert!(tokio::time::Instant::now() < deadline, "never {wanted}: {r}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    until("ROTATION_DUE").await;

    // The rotation function wrote v2 and the workload reads it: recorded, then confirmed,
    // caused by the report.
    let reference = vault.secret_uri(&name, Some(&SecretVersion::parse(&v2).unwrap()));
    let r = app
        .gql_with(
            "mutation($e: ID!, $w: [ObservedWorkloadInput!]!) { reportObservedState(environmentId: $e, workloads: $w) { observationId } }",
            json!({ "e": env, "w": [{ "serviceId": service, "version": "1.0.0", "digest": digest("1.0.0"),
                "secretReferences": [reference] }] }),
            &REPORTER,
        )
        .await;
    let report = r["data"]["reportObservedState"]["observationId"].as_str().unwrap().to_owned();
    let bound = until("BOUND").await;
    assert_eq!(bound["currentVersion"], v2.as_str(), "{bound}");
    let events: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT event_type, metadata->>'actor', metadata->>'causation_id' FROM events \
          WHERE aggregate_id = $1 AND sequence > 2 ORDER BY sequence",
    )
    .bind(&binding)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let worker = Some("worker:secret-rotation".to_owned());
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!((events[0].0.as_str(), &events[0].1), ("SecretRotationMarkedDue", &worker));
    assert_eq!((events[1].0.as_str(), &events[1].1, events[1].2.as_deref()), ("SecretRotated", &worker, Some(report.as_str())));
    assert_eq!((events[2].0.as_str(), &events[2].1), ("SecretRotationConfirmed", &worker));

    // A workload still reading the old version drifts (class secret) until it reads the new one.
    let reads = |version: &str| {
        let reference = vault.secret_uri(&name, Some(&SecretVersion::parse(version).unwrap()));
        json!({ "e": env, "w": [{ "serviceId": service, "version": "1.0.0", "digest": digest("1.0.0"),
            "secretReferences": [reference] }] })
    };
    let state = "mutation($e: ID!, $w: [ObservedWorkloadInput!]!) { reportObservedState(environmentId: $e, workloads: $w) { observationId } }";
    app.gql_with(state, reads(&v1), &REPORTER).await;
    until_finding(&db, &env, "secret", "detected").await;
    app.gql_with(state, reads(&v2), &REPORTER).await;
    until_finding(&db, &env, "secret", "resolved").await;
}

#[tokio::test]
async fn the_scaling_worker_scales_up_on_reported_load_and_holds_a_scale_down_for_its_window() {
    let db = TestDb::new().await;
    let settings = infra::server::LoopSettings {
        scaling: workers::ScalingSettings { interval: Duration::from_millis(100), ..Default::default() },
        ..Default::default()
    };
    let app = TestApp::start_with_loops(db.pool.clone(), settings).await;
    let (env, service) = place_in(&app, 9, "dev-scale", "DEV", "api").await;
    let policy = id(&run(
        &app,
        "($i: DefineScalingPolicyInput!) { defineScalingPolicy(input: $i)",
        json!({ "i": { "serviceId": service, "environmentId": env, "spec": {
            "replicas": { "min": 1, "max": 6 }, "triggers": [{ "kind": "CPU", "targetPercent": 50 }],
            "scaleUpStabilizationSeconds": 0, "scaleDownStabilizationSeconds": 300, "cooldownSeconds": 0 } } }),
    )
    .await);
    run(&app, "($id: ID!) { activateScalingPolicy(id: $id)", json!({ "id": policy })).await;
    let metrics = |cpu: f64| {
        json!({ "e": env, "s": service, "m": [{ "name": "cpu_percent", "value": cpu }, { "name": "replicas", "value": 2.0 }] })
    };
    let report = "mutation($e: ID!, $s: ID!, $m: [MetricInput!]!) { reportMetrics(environmentId: $e, serviceId: $s, metrics: $m) { observationId traceId } }";
    let r = app.gql_with(report, metrics(100.0), &REPORTER).await;
    let observation = r["data"]["reportMetrics"]["observationId"].as_str().unwrap().to_owned();
    let trace_id = r["data"]["reportMetrics"]["traceId"].as_str().unwrap().to_owned();

    // Two replicas at 100 % of a 50 % target: four.
    let query = "query($id: ID!) { scalingPolicy(id: $id) { decisionCount lastDecision { fromReplicas toReplicas } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.gql(query, json!({ "id": policy })).await;
        if r["data"]["scalingPolicy"]["decisionCount"] == 1 {
            assert_eq!(r["data"]["scalingPolicy"]["lastDecision"]["toReplicas"], 4, "{r}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no scaling decision: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (actor, trace, cause): (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT metadata->>'actor', metadata->>'trace_id', metadata->>'causation_id' FROM events \
          WHERE aggregate_id = $1 AND event_type = 'ScalingDecisionRecorded'",
    )
    .bind(&policy)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(actor.as_deref(), Some("worker:scaling"));
    assert_eq!((trace.as_deref(), cause.as_deref()), (Some(trace_id.as_str()), Some(observation.as_str())));

    // The load drops: a scale-down waits for its 300 s window (the highest recommendation in
    // it is still four), so nothing is decided.
    app.gql_with(report, metrics(10.0), &REPORTER).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = app.gql(query, json!({ "id": policy })).await;
    assert_eq!(r["data"]["scalingPolicy"]["decisionCount"], 1, "{r}");
}
