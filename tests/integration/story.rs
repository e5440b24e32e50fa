//! A realistic story through GraphQL only, across all nine aggregates: provision an
//! environment, register services, bind a tenant with quotas, bind a secret, set
//! configuration, define a scaling policy, deploy v1, record health, deploy v2 that fails its
//! health gate and is rolled back to v1, detect drift and remediate it through a new
//! deployment. Then every aggregate's state, its state at a moment in the middle of the story,
//! and the trace of the whole story in commit order.
//!
//! The same story runs rehearsed (see `dry_run.rs`): every mutation is first sent as a dry run
//! on a quiet database, which must change no row and return what the real run then writes.

use serde_json::{json, Value};
use tests::{environment_input, error_code, TestApp, TestDb};

use crate::dry_run;

const TRACEPARENT: &str = "00-5c7f8e21a9b04d6e8f3a2b1c0d9e8f7a-a1b2c3d4e5f60718-01";
const TRACE_ID: &str = "5c7f8e21a9b04d6e8f3a2b1c0d9e8f7a";
const RESULT: &str = "{ aggregateId version events { eventId eventType } }";
/// What a rehearsed story asks of every mutation instead of [`RESULT`]: enough to compare the
/// dry run with the real one.
const REHEARSED: &str = "{ aggregateId version dryRun position \
     events { eventId eventType sequence payload globalPosition transactionId } }";

/// Runs the story's mutations under one trace and remembers every event they wrote.
struct Story {
    app: TestApp,
    written: Vec<String>,
    /// Send every mutation as a dry run first (see [`Story::dry_run`]).
    rehearse: bool,
    /// The workers' reactions in the story's trace: event id -> actor.
    reactions: std::collections::HashMap<String, String>,
}

impl Story {
    /// Runs `mutation` (one field), asserts it succeeded, records its events, returns its result.
    /// Rehearsing, a dry run of it comes first and must announce exactly what it writes.
    async fn run(&mut self, mutation: &str, variables: Value) -> Value {
        let headers = [("traceparent", TRACEPARENT), ("x-actor", "user:platform-engineer")];
        let mutation = self.selection(mutation);
        let rehearsal = if self.rehearse { Some(self.dry_run(&mutation, &variables, &headers).await) } else { None };
        let response = self.app.gql_with(&mutation, variables, &headers).await;
        assert!(response["errors"].is_null(), "{mutation}: {response}");
        let result = response["data"].as_object().unwrap().values().next().unwrap().clone();
        if let Some(rehearsal) = rehearsal {
            assert!(rehearsal["errors"].is_null(), "dry run of {mutation}: {rehearsal}");
            let rehearsed = rehearsal["data"].as_object().unwrap().values().next().unwrap();
            dry_run::assert_rehearsed(&mutation, rehearsed, &result);
        }
        for event in result["events"].as_array().unwrap() {
            self.written.push(event["eventId"].as_str().unwrap().to_owned());
        }
        result
    }

    /// Runs `mutation` expecting the error `code`; rehearsing, its dry run first, which must be
    /// refused the same way.
    async fn refused(&self, mutation: &str, variables: Value, code: &str) -> Value {
        let headers = [("traceparent", TRACEPARENT)];
        let mutation = self.selection(mutation);
        if self.rehearse {
            let rehearsal = self.dry_run(&mutation, &variables, &headers).await;
            assert_eq!(error_code(&rehearsal), Some(code), "dry run of {mutation}: {rehearsal}");
        }
        let response = self.app.gql_with(&mutation, variables, &headers).await;
        assert_eq!(error_code(&response), Some(code), "{mutation}: {response}");
        response
    }

    /// Lets the workers react, then counts their events (in commit order) as the story's.
    async fn adopt_reactions(&mut self) {
        self.app.settle().await;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT event_id::text, metadata->>'actor' FROM events \
              WHERE metadata->>'actor' LIKE 'worker:%' AND NOT (event_id::text = ANY($1)) \
              ORDER BY transaction_id, global_position",
        )
        .bind(&self.written)
        .fetch_all(self.app.bus().pool())
        .await
        .unwrap();
        for (event, actor) in rows {
            self.written.push(event.clone());
            self.reactions.insert(event, actor);
        }
    }

    /// The story's mutation as sent: rehearsing, with the selection that compares runs.
    fn selection(&self, mutation: &str) -> String {
        if !self.rehearse {
            return mutation.to_owned();
        }
        assert!(mutation.contains(RESULT), "every story mutation selects RESULT: {mutation}");
        mutation.replace(RESULT, REHEARSED)
    }

    /// Sends `mutation` as a dry run on a quiet database (projections and reactors caught up)
    /// and returns its response, once every table was found as it was before, also after the
    /// projections would have caught up with anything it wrote.
    async fn dry_run(&self, mutation: &str, variables: &Value, headers: &[(&str, &str)]) -> Value {
        let pool = &self.app.platform.pool;
        self.app.settle().await;
        let before = tests::fingerprint(pool).await;
        let response = self.app.gql_with(&dry_run::dry_run_of(mutation), variables.clone(), headers).await;
        self.app.settle().await;
        dry_run::assert_unchanged(&before, &tests::fingerprint(pool).await, mutation);
        response
    }

    async fn query(&self, query: &str, variables: Value) -> Value {
        let response = self.app.gql(query, variables).await;
        assert!(response["errors"].is_null(), "{query}: {response}");
        response["data"].clone()
    }
}

fn id(result: &Value) -> String {
    result["aggregateId"].as_str().unwrap().to_owned()
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

async fn roll_out(story: &mut Story, deployment: &str, passed: bool, observed: f64) {
    story
        .run(&format!("mutation($id: ID!) {{ beginDeploymentRollout(id: $id) {RESULT} }}"), json!({ "id": deployment }))
        .await;
    story
        .run(
            &format!("mutation($id: ID!) {{ recordDeploymentStepProgress(id: $id, step: 0, percent: 100) {RESULT} }}"),
            json!({ "id": deployment }),
        )
        .await;
    story
        .run(
            &format!("mutation($id: ID!, $p: Boolean!, $o: Float!) {{ recordHealthGateResult(id: $id, gate: \"availability\", passed: $p, observed: $o) {RESULT} }}"),
            json!({ "id": deployment, "p": passed, "o": observed }),
        )
        .await;
}

#[tokio::test]
async fn a_release_story_across_all_nine_aggregates() {
    release_story(false).await;
}

/// The release story; with `rehearse`, every mutation is first sent as a dry run that must
/// write nothing and announce what the real run writes (see [`Story::run`]).
pub(crate) async fn release_story(rehearse: bool) {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let mut story = Story { app, written: Vec::new(), rehearse, reactions: Default::default() };

    // Environment: staging, provisioned and Ready.
    let env = id(&story
        .run(
            &format!("mutation($i: RequestEnvironmentInput!) {{ requestEnvironment(input: $i) {RESULT} }}"),
            json!({ "i": environment_input("shop", "stg", "STAGING") }),
        )
        .await);
    story
        .run(&format!("mutation($id: ID!) {{ recordProvisioningStarted(id: $id) {RESULT} }}"), json!({ "id": env }))
        .await;
    story.run(
        &format!("mutation($id: ID!, $o: ProvisioningOutputsInput!) {{ recordProvisioningSucceeded(id: $id, outputs: $o) {RESULT} }}"),
        json!({ "id": env, "o": { "endpoints": [{ "name": "api", "url": "https://api.stg.shop.example" }], "resourceIds": [], "stackVersion": 1 } }),
    ).await;

    // Services: the API depends on the worker.
    let register = format!("mutation($i: RegisterServiceInput!) {{ registerService(input: $i) {RESULT} }}");
    let api = id(&story.run(&register, json!({ "i": { "product": "shop", "name": "api", "kind": "MICROSERVICE", "blueprint": "blueprints/api@3", "contract": contract() } })).await);
    let worker = id(&story.run(&register, json!({ "i": { "product": "shop", "name": "worker", "kind": "WORKER", "blueprint": "blueprints/worker@3", "contract": contract() } })).await);
    for service in [&api, &worker] {
        story
            .run(&format!("mutation($id: ID!) {{ activateService(id: $id) {RESULT} }}"), json!({ "id": service }))
            .await;
    }
    story
        .run(
            &format!("mutation($id: ID!, $on: ID!) {{ declareServiceDependency(id: $id, on: $on) {RESULT} }}"),
            json!({ "id": api, "on": worker }),
        )
        .await;
    story
        .refused(
            &format!("mutation($id: ID!, $on: ID!) {{ declareServiceDependency(id: $id, on: $on) {RESULT} }}"),
            json!({ "id": worker, "on": api }),
            "INVARIANT_VIOLATED",
        )
        .await;

    // Tenant contoso, isolated in its own namespace, with quotas.
    let binding = id(&story.run(
        &format!("mutation($i: BindTenantInput!) {{ bindTenant(input: $i) {RESULT} }}"),
        json!({ "i": { "tenantId": "contoso", "environmentId": env, "isolation": "NAMESPACE_PER_TENANT", "namespace": "contoso",
                       "workloadIdentityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11", "networkPolicy": { "kind": "DENY_CROSS_TENANT" },
                       "dataPartition": "contoso", "quotas": { "cpuMillicores": 4000, "memoryMib": 8192, "replicas": 10, "storageGib": 100, "requestsPerSecond": 1000 } } }),
    ).await);
    story
        .run(&format!("mutation($id: ID!) {{ activateTenantBinding(id: $id) {RESULT} }}"), json!({ "id": binding }))
        .await;

    // Secret: a Key Vault reference surfaced as an env var, never a value.
    let secret = id(&story.run(
        &format!("mutation($i: BindSecretInput!) {{ bindSecret(input: $i) {RESULT} }}"),
        json!({ "i": { "serviceId": api, "environmentId": env, "tenantId": "contoso", "vaultUri": "https://kv-shop.vault.azure.net/",
                       "secretName": "db-password", "identityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11",
                       "surface": { "envVar": "DB_PASSWORD" }, "rotation": { "everyDays": 90, "notifyBeforeDays": 14 } } }),
    ).await);
    story
        .run(
            &format!(
                "mutation($id: ID!) {{ confirmSecretBinding(id: $id, resolvedVersion: \"{}\") {RESULT} }}",
                "a1".repeat(16)
            ),
            json!({ "id": secret }),
        )
        .await;

    // Configuration: a version with plain settings; a secret-looking one is refused.
    let config = id(&story
        .run(
            &format!("mutation($i: CreateConfigurationInput!) {{ createConfiguration(input: $i) {RESULT} }}"),
            json!({ "i": { "serviceId": api, "environmentId": env, "tenantId": "contoso" } }),
        )
        .await);
    let propose = format!("mutation($id: ID!, $s: [ConfigurationSettingInput!]!) {{ proposeConfigurationVersion(id: $id, settings: $s) {RESULT} }}");
    let refused = story
        .refused(
            &propose,
            json!({ "id": config, "s": [{ "key": "DB_PASSWORD", "value": "hunter2-but-longer" }] }),
            "INVARIANT_VIOLATED",
        )
        .await;
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("secret binding") && !message.contains("hunter2"), "{message}");
    story.run(&propose, json!({ "id": config, "s": [{ "key": "LOG_LEVEL", "value": "info" }, { "key": "FEATURE_CHECKOUT_V2", "value": "true" }] })).await;
    story
        .run(
            &format!("mutation($id: ID!) {{ activateConfigurationVersion(id: $id, version: 1) {RESULT} }}"),
            json!({ "id": config }),
        )
        .await;

    // Scaling: max within the tenant's replica quota (10).
    let define = format!("mutation($i: DefineScalingPolicyInput!) {{ defineScalingPolicy(input: $i) {RESULT} }}");
    let spec = |max: i64| {
        json!({ "replicas": { "min": 1, "max": max }, "triggers": [{ "kind": "CPU", "targetPercent": 70 }],
                                  "scaleUpStabilizationSeconds": 0, "scaleDownStabilizationSeconds": 300, "cooldownSeconds": 60 })
    };
    story
        .refused(
            &define,
            json!({ "i": { "serviceId": api, "environmentId": env, "tenantId": "contoso", "spec": spec(20) } }),
            "INVARIANT_VIOLATED",
        )
        .await;
    let policy = id(&story
        .run(
            &define,
            json!({ "i": { "serviceId": api, "environmentId": env, "tenantId": "contoso", "spec": spec(8) } }),
        )
        .await);
    story
        .run(&format!("mutation($id: ID!) {{ activateScalingPolicy(id: $id) {RESULT} }}"), json!({ "id": policy }))
        .await;

    // Deploy v1: rolled out, gate passed, promoted.
    let start = format!("mutation($i: StartDeploymentInput!) {{ startDeployment(input: $i) {RESULT} }}");
    let v1 = id(&story.run(&start, json!({ "i": deployment_input(&api, &env, "1.0.0") })).await);
    roll_out(&mut story, &v1, true, 99.95).await;
    story.run(&format!("mutation($id: ID!) {{ promoteDeployment(id: $id) {RESULT} }}"), json!({ "id": v1 })).await;

    // Health: tracked and healthy.
    let health = id(&story
        .run(
            &format!("mutation($i: TrackHealthInput!) {{ trackHealth(input: $i) {RESULT} }}"),
            json!({ "i": { "serviceId": api, "environmentId": env, "tenantId": "contoso" } }),
        )
        .await);
    let probe = format!("mutation($id: ID!, $k: HealthProbeKind!, $p: Boolean!) {{ recordProbeResult(id: $id, probe: {{ kind: $k }}, passed: $p, latencyMs: 12) {RESULT} }}");
    story.run(&probe, json!({ "id": health, "k": "LIVENESS", "p": true })).await;
    story.run(&probe, json!({ "id": health, "k": "READINESS", "p": true })).await;
    let unchanged = story.run(&probe, json!({ "id": health, "k": "READINESS", "p": true })).await;
    assert_eq!(unchanged["events"], json!([]), "only changes of status are events");

    // The middle of the story.
    let middle: String =
        sqlx::query_scalar("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            .fetch_one(&db.pool)
            .await
            .unwrap();

    // Deploy v2: its gate fails, promotion is refused, it fails and rolls back to v1.
    let v2 = id(&story.run(&start, json!({ "i": deployment_input(&api, &env, "2.0.0") })).await);
    roll_out(&mut story, &v2, false, 95.2).await;
    story.run(&probe, json!({ "id": health, "k": "READINESS", "p": false })).await;
    story
        .refused(
            &format!("mutation($id: ID!) {{ promoteDeployment(id: $id) {RESULT} }}"),
            json!({ "id": v2 }),
            "INVARIANT_VIOLATED",
        )
        .await;
    story.run(&format!("mutation($id: ID!) {{ failDeployment(id: $id, reason: \"availability gate failed: 95.2 < 99\") {RESULT} }}"), json!({ "id": v2 })).await;
    story
        .refused(
            &format!("mutation($id: ID!, $t: ID!) {{ rollBackDeployment(id: $id, target: $t) {RESULT} }}"),
            json!({ "id": v2, "t": v2 }),
            "INVARIANT_VIOLATED",
        )
        .await;
    story
        .run(
            &format!("mutation($id: ID!, $t: ID!) {{ rollBackDeployment(id: $id, target: $t) {RESULT} }}"),
            json!({ "id": v2, "t": v1 }),
        )
        .await;
    story
        .run(&format!("mutation($id: ID!) {{ recordDeploymentRolledBack(id: $id) {RESULT} }}"), json!({ "id": v2 }))
        .await;
    story.run(&probe, json!({ "id": health, "k": "READINESS", "p": true })).await;

    // Drift: one pod still runs 2.0.0. Staging is not production, so the drift-remediation
    // worker remediates it by itself: a new deployment of the known-good 1.0.0, started in
    // the story's trace; the pipeline rolls it out.
    let drift = id(&story.run(
        &format!("mutation($i: DetectDriftInput!) {{ detectDrift(input: $i) {RESULT} }}"),
        json!({ "i": { "environmentId": env, "serviceId": api, "tenantId": "contoso", "class": "VERSION", "desired": "1.0.0", "observed": "2.0.0" } }),
    ).await);
    story.adopt_reactions().await;
    let remediation = story
        .query(
            "query($id: ID!) { driftFinding(id: $id) { status remediation { aggregateId } } }",
            json!({ "id": drift }),
        )
        .await;
    assert_eq!(remediation["driftFinding"]["status"], "REMEDIATING", "{remediation}");
    let v3_id = remediation["driftFinding"]["remediation"]["aggregateId"].as_str().unwrap().to_owned();
    roll_out(&mut story, &v3_id, true, 99.9).await;
    let promoted = story
        .run(&format!("mutation($id: ID!) {{ promoteDeployment(id: $id) {RESULT} }}"), json!({ "id": v3_id }))
        .await;
    let evidence = promoted["events"][0]["eventId"].as_str().unwrap().to_owned();
    // v3's success supersedes v1, the known-good it replaces (the supersession worker), and
    // closes the finding with the success as evidence (the drift-remediation worker), both in
    // the same trace, caused by v3's success.
    story.adopt_reactions().await;
    let reactions: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT event_type, metadata->>'actor', metadata->>'causation_id' FROM events \
          WHERE metadata->>'causation_id' = $1 ORDER BY event_type",
    )
    .bind(&evidence)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let expected = [("DeploymentSuperseded", "worker:supersession"), ("DriftRemediated", "worker:drift-remediation")]
        .map(|(t, a)| (t.to_owned(), a.to_owned(), evidence.clone()));
    assert_eq!(reactions, expected);

    // Every aggregate's state now.
    let now = story
        .query(
            "query($env: ID!, $api: ID!, $b: ID!, $s: ID!, $c: ID!, $p: ID!, $v1: ID!, $v2: ID!, $v3: ID!, $h: ID!, $d: ID!) {
               environment(id: $env) { status version }
               service(id: $api) { status dependencies }
               tenantBinding(id: $b) { status quotas { replicas } }
               secretBinding(id: $s) { status currentVersion surface { envVar } }
               configuration(id: $c) { status activeVersion versions { number settings { key value } } }
               scalingPolicy(id: $p) { status policyVersion spec { replicas { max } } }
               v1: deployment(id: $v1) { status artifact { version } }
               v2: deployment(id: $v2) { status rollbackTarget failureReason }
               v3: deployment(id: $v3) { status rollbackOf }
               health(id: $h) { status incidentCount }
               driftFinding(id: $d) { status open closure { kind evidenceId } remediation { aggregateId command } } }",
            json!({ "env": env, "api": api, "b": binding, "s": secret, "c": config, "p": policy, "v1": v1, "v2": v2, "v3": v3_id, "h": health, "d": drift }),
        )
        .await;
    assert_eq!(now["environment"]["status"], "READY");
    assert_eq!(now["service"], json!({ "status": "ACTIVE", "dependencies": [worker] }));
    assert_eq!(now["tenantBinding"], json!({ "status": "ACTIVE", "quotas": { "replicas": 10 } }));
    assert_eq!(
        now["secretBinding"],
        json!({ "status": "BOUND", "currentVersion": "a1".repeat(16), "surface": { "envVar": "DB_PASSWORD" } })
    );
    assert_eq!(now["configuration"]["status"], "ACTIVE");
    assert_eq!(now["configuration"]["activeVersion"], 1);
    assert_eq!(
        now["scalingPolicy"],
        json!({ "status": "ACTIVE", "policyVersion": 1, "spec": { "replicas": { "max": 8 } } })
    );
    assert_eq!(now["v1"], json!({ "status": "SUPERSEDED", "artifact": { "version": "1.0.0" } }));
    assert_eq!(now["v2"]["status"], "ROLLED_BACK");
    assert_eq!(now["v2"]["rollbackTarget"], json!(v1));
    // A remediation re-deploys what should run; it undoes no deployment.
    assert_eq!(now["v3"], json!({ "status": "SUCCEEDED", "rollbackOf": null }));
    assert_eq!(now["health"], json!({ "status": "HEALTHY", "incidentCount": 1 }));
    assert_eq!(now["driftFinding"]["status"], "REMEDIATED");
    assert_eq!(now["driftFinding"]["closure"], json!({ "kind": "REMEDIATED", "evidenceId": evidence }));
    assert_eq!(now["driftFinding"]["remediation"], json!({ "aggregateId": v3_id, "command": "StartDeployment" }));

    // The same aggregates as of the middle of the story.
    let then = story
        .app
        .gql(
            "query($t: DateTime!, $v1: ID!, $h: ID!, $c: ID!, $p: ID!) {
           deployment(id: $v1, asOf: $t) { status }
           health(id: $h, asOf: $t) { status incidentCount }
           configuration(id: $c, asOf: $t) { activeVersion }
           scalingPolicy(id: $p, asOf: $t) { status } }",
            json!({ "t": middle, "v1": v1, "h": health, "c": config, "p": policy }),
        )
        .await;
    assert!(then["errors"].is_null(), "{then}");
    assert_eq!(then["data"]["deployment"]["status"], "SUCCEEDED");
    assert_eq!(then["data"]["health"], json!({ "status": "HEALTHY", "incidentCount": 0 }));
    assert_eq!(then["data"]["configuration"]["activeVersion"], 1);
    assert_eq!(then["data"]["scalingPolicy"]["status"], "ACTIVE");
    let before_v2 = story
        .app
        .gql(
            "query($t: DateTime!, $id: ID!) { deployment(id: $id, asOf: $t) { status } }",
            json!({ "t": middle, "id": v2 }),
        )
        .await;
    assert_eq!(error_code(&before_v2), Some("NOT_FOUND"), "v2 did not exist yet: {before_v2}");
    let drift_then = story
        .app
        .gql(
            "query($t: DateTime!, $id: ID!) { driftFinding(id: $id, asOf: $t) { status } }",
            json!({ "t": middle, "id": drift }),
        )
        .await;
    assert_eq!(error_code(&drift_then), Some("NOT_FOUND"));
    let v2_rolling = story
        .query("query($id: ID!) { deployment(id: $id, atVersion: 2) { status version } }", json!({ "id": v2 }))
        .await;
    assert_eq!(v2_rolling["deployment"], json!({ "status": "IN_PROGRESS", "version": 2 }));

    // The trace holds exactly the story's events, in commit order.
    let trace = story.query(
        "query($t: String!) { trace(traceId: $t, first: 200) { edges { node { eventId traceId actor } } pageInfo { hasNextPage } } }",
        json!({ "t": TRACE_ID }),
    ).await;
    let traced: Vec<String> = trace["trace"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["eventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(traced, story.written, "trace returns the story's events in commit order");
    for edge in trace["trace"]["edges"].as_array().unwrap() {
        let id = edge["node"]["eventId"].as_str().unwrap();
        let expected = story.reactions.get(id).map_or("user:platform-engineer", String::as_str);
        assert_eq!(edge["node"]["actor"], expected, "{edge}");
    }
    assert_eq!(db.event_count().await as usize, story.written.len(), "refused commands wrote nothing");
}

#[tokio::test]
async fn bad_input_across_the_contexts_is_refused_with_typed_errors_and_writes_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let mut story = Story { app, written: Vec::new(), rehearse: false, reactions: Default::default() };
    let env = id(&story
        .run(
            &format!("mutation($i: RequestEnvironmentInput!) {{ requestEnvironment(input: $i) {RESULT} }}"),
            json!({ "i": environment_input("shop", "dev", "DEV") }),
        )
        .await);
    let api = id(&story.run(
        &format!("mutation($i: RegisterServiceInput!) {{ registerService(input: $i) {RESULT} }}"),
        json!({ "i": { "product": "shop", "name": "api", "kind": "MICROSERVICE", "blueprint": "blueprints/api@3", "contract": contract() } }),
    ).await);
    let bind = format!("mutation($i: BindTenantInput!) {{ bindTenant(input: $i) {RESULT} }}");
    let binding_input = |tenant: &str| {
        json!({ "i": { "tenantId": tenant, "environmentId": env, "isolation": "SHARED",
        "workloadIdentityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11", "networkPolicy": { "kind": "DENY_CROSS_TENANT" },
        "dataPartition": tenant, "quotas": { "cpuMillicores": 1000, "memoryMib": 1024, "replicas": 3, "storageGib": 10, "requestsPerSecond": 100 } } })
    };
    // A tenant is bound only to a live environment: provision it, bind, then start tearing it
    // down so that it accepts no deployment (the rule one case below checks).
    story
        .run(&format!("mutation($id: ID!) {{ recordProvisioningStarted(id: $id) {RESULT} }}"), json!({ "id": env }))
        .await;
    story
        .run(
            &format!("mutation($id: ID!, $o: ProvisioningOutputsInput!) {{ recordProvisioningSucceeded(id: $id, outputs: $o) {RESULT} }}"),
            json!({ "id": env, "o": { "endpoints": [], "resourceIds": [], "stackVersion": 1 } }),
        )
        .await;
    let contoso = id(&story.run(&bind, binding_input("contoso")).await);
    story
        .run(
            &format!("mutation($id: ID!) {{ decommissionEnvironment(id: $id, reason: \"retired\") {RESULT} }}"),
            json!({ "id": env }),
        )
        .await;
    let before = db.event_count().await;
    let as_fabrikam = [("x-tenant-id", "fabrikam"), ("traceparent", TRACEPARENT)];

    let cases: Vec<(&str, Value, &str, &[(&str, &str)])> = vec![
        // Unknown ids.
        (
            "mutation($id: ID!) { activateService(id: $id) { version } }",
            json!({ "id": domain::ids::ServiceId::generate().to_string() }),
            "NOT_FOUND",
            &[],
        ),
        (
            "mutation($id: ID!) { promoteDeployment(id: $id) { version } }",
            json!({ "id": domain::ids::DeploymentId::generate().to_string() }),
            "NOT_FOUND",
            &[],
        ),
        (
            "query($id: ID!) { scalingPolicy(id: $id) { status } }",
            json!({ "id": domain::ids::ScalingPolicyId::generate().to_string() }),
            "NOT_FOUND",
            &[],
        ),
        // Malformed ids and values.
        ("mutation { activateService(id: \"42\") { version } }", json!({}), "INVALID_INPUT", &[]),
        (
            "mutation($i: StartDeploymentInput!) { startDeployment(input: $i) { version } }",
            json!({ "i": { "service": api, "environment": env, "artifact": { "digest": "sha256:nothex", "version": "1.0.0", "commit": "9".repeat(40) },
                            "strategy": { "kind": "ROLLING" }, "gates": [{ "name": "availability", "kind": "AVAILABILITY", "threshold": 99.0 }] } }),
            "INVALID_INPUT",
            &[],
        ),
        (
            "mutation($i: StartDeploymentInput!) { startDeployment(input: $i) { version } }",
            json!({ "i": { "service": api, "environment": env, "artifact": { "digest": format!("sha256:{}", "7f".repeat(32)), "version": "one", "commit": "9".repeat(40) },
                            "strategy": { "kind": "CANARY" }, "gates": [] } }),
            "INVALID_INPUT",
            &[],
        ),
        (
            "mutation($i: BindSecretInput!) { bindSecret(input: $i) { version } }",
            json!({ "i": { "serviceId": api, "environmentId": env, "vaultUri": "http://example.com/", "secretName": "db", "identityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11",
                            "surface": { "envVar": "DB" }, "rotation": { "everyDays": 90, "notifyBeforeDays": 14 } } }),
            "INVALID_INPUT",
            &[],
        ),
        (
            "mutation($i: DefineScalingPolicyInput!) { defineScalingPolicy(input: $i) { version } }",
            json!({ "i": { "serviceId": api, "environmentId": env, "spec": { "replicas": { "min": 5, "max": 2 }, "triggers": [{ "kind": "CPU", "targetPercent": 70 }],
                            "scaleUpStabilizationSeconds": 0, "scaleDownStabilizationSeconds": 0, "cooldownSeconds": 0 } } }),
            "INVALID_INPUT",
            &[],
        ),
        // Invalid transitions.
        (
            "mutation($id: ID!) { deprecateService(id: $id, reason: \"old\") { version } }",
            json!({ "id": api }),
            "INVALID_TRANSITION",
            &[],
        ),
        (
            "mutation($id: ID!) { resumeTenantBinding(id: $id) { version } }",
            json!({ "id": contoso }),
            "INVALID_TRANSITION",
            &[],
        ),
        // Rules across aggregates: the environment is not Ready (it is being decommissioned).
        (
            "mutation($i: StartDeploymentInput!) { startDeployment(input: $i) { version } }",
            json!({ "i": deployment_input(&api, &env, "1.0.0") }),
            "INVARIANT_VIOLATED",
            &[],
        ),
        // Another tenant's ids: invisible, and no acting for them.
        ("query($id: ID!) { tenantBinding(id: $id) { status } }", json!({ "id": contoso }), "NOT_FOUND", &as_fabrikam),
        (
            "mutation($id: ID!) { suspendTenantBinding(id: $id, reason: \"x\") { version } }",
            json!({ "id": contoso }),
            "NOT_FOUND",
            &as_fabrikam,
        ),
        (
            "mutation($i: BindTenantInput!) { bindTenant(input: $i) { version } }",
            binding_input("contoso2"),
            "FORBIDDEN",
            &as_fabrikam,
        ),
    ];
    for (query, variables, code, headers) in cases {
        let response = story.app.gql_with(query, variables, headers).await;
        assert_eq!(error_code(&response), Some(code), "{query}: {response}");
    }
    assert_eq!(db.event_count().await, before, "no refused request wrote an event");
    // Activating a binding is the platform's (or the Control Plane's) to report, not the
    // tenant operator's; suspending its own tenant is the tenant operator's to decide.
    let activate = "mutation($id: ID!) { activateTenantBinding(id: $id) { version } }";
    let refused = story.app.gql_with(activate, json!({ "id": contoso }), &[("x-tenant-id", "contoso")]).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let activated = story.app.gql_with(activate, json!({ "id": contoso }), &[]).await;
    assert!(activated["errors"].is_null(), "{activated}");
    let own = story
        .app
        .gql_with(
            "mutation($id: ID!) { suspendTenantBinding(id: $id, reason: \"maintenance\") { version events { tenantId actingTenantId actorRole } } }",
            json!({ "id": contoso }),
            &[("x-tenant-id", "contoso")],
        )
        .await;
    assert!(own["errors"].is_null(), "{own}");
    let event = &own["data"]["suspendTenantBinding"]["events"][0];
    assert_eq!((event["tenantId"].as_str(), event["actingTenantId"].as_str()), (Some("contoso"), Some("contoso")));
    assert_eq!(event["actorRole"], "TenantOperator");
}
