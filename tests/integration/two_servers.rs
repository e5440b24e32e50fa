//! Two `runtime-platform serve` processes on one database, as a deployment runs them. Rules:
//! - each loop has one leader across the two: a deployment verifying while its endpoint is
//!   healthy is promoted once (one result per gate, one promotion), by the leader only (the
//!   other's `worker_actions_total` for the gate is 0);
//! - a leader paused (`SIGSTOP`) past its lease is replaced by the other process under a new
//!   epoch, which promotes the next rollout; resumed, the old leader issues nothing;
//! - `kill -9` of the leader hands every loop to the other process within the lease
//!   (`APP_WORKER_LEASE_SECONDS=2` here), under a new epoch, and the next rollout is promoted by
//!   the survivor.
//!
//! That a deposed leader's late command is refused is shown deterministically in
//! `leadership.rs` (a leader paused between its lease check and its command); here the
//! processes are real.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::environment_input;
use tests::server::{build_release_binary, Server};
use tests::TestDb;

const LEASE_SECONDS: u64 = 2;
const R: &str = "{ aggregateId }";

async fn gql(client: &reqwest::Client, server: &Server, query: &str, variables: Value, worker: bool) -> Value {
    let mut request = client.post(&server.graphql).json(&json!({ "query": query, "variables": variables }));
    if worker {
        request = request.header("x-roles", "Worker").header("x-actor", "worker:aks-agent");
    }
    let response: Value = request.send().await.expect("POST /graphql").json().await.expect("a JSON answer");
    assert!(response["errors"].is_null(), "{query}: {response}");
    response["data"].clone()
}

async fn run(client: &reqwest::Client, server: &Server, mutation: &str, variables: Value) -> String {
    let data = gql(client, server, &format!("mutation{mutation} {R} }}"), variables, false).await;
    data.as_object().unwrap().values().next().unwrap()["aggregateId"].as_str().unwrap().to_owned()
}

fn digest(version: &str) -> String {
    format!("sha256:{:0>64}", version.replace('.', ""))
}

/// Starts a deployment of `version`, rolls it out (it is verifying) and reports it running.
async fn release(client: &reqwest::Client, server: &Server, env: &str, service: &str, version: &str) -> String {
    let deployment = run(
        client,
        server,
        "($i: StartDeploymentInput!) { startDeployment(input: $i)",
        json!({ "i": { "service": service, "environment": env,
            "artifact": { "digest": digest(version), "version": version, "commit": "7".repeat(40) },
            "strategy": { "kind": "ROLLING" },
            "gates": [{ "name": "availability", "kind": "AVAILABILITY", "threshold": 80.0 },
                      { "name": "latency", "kind": "LATENCY_P95", "threshold": 2000.0 }] } }),
    )
    .await;
    let v = json!({ "id": deployment });
    run(client, server, "($id: ID!) { beginDeploymentRollout(id: $id)", v.clone()).await;
    run(client, server, "($id: ID!) { recordDeploymentStepProgress(id: $id, step: 0, percent: 100)", v).await;
    gql(
        client,
        server,
        "mutation($e: ID!, $w: [ObservedWorkloadInput!]!) { reportObservedState(environmentId: $e, workloads: $w) { observationId } }",
        json!({ "e": env, "w": [{ "serviceId": service, "version": version, "digest": digest(version), "address": "127.0.0.1" }] }),
        true,
    )
    .await;
    deployment
}

async fn until_succeeded(client: &reqwest::Client, server: &Server, deployment: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let data = gql(client, server, "query($id: ID!) { deployment(id: $id) { status } }", json!({ "id": deployment }), false).await;
        if data["deployment"]["status"] == "SUCCEEDED" {
            return;
        }
        assert!(Instant::now() < deadline, "deployment {deployment} was not promoted: {data}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The pid in the replica name (`host:pid:suffix`) of the deployment gate's leader, and its
/// epoch, as `server` reports them.
async fn gate_leader(client: &reqwest::Client, server: &Server) -> Option<(u32, i64)> {
    let data = gql(client, server, "{ workers { name leader leaseEpoch leaseExpiresAt } }", json!({}), false).await;
    let gate = data["workers"].as_array()?.iter().find(|w| w["name"] == "deployment-gate")?.clone();
    let expires: chrono::DateTime<chrono::Utc> = gate["leaseExpiresAt"].as_str()?.parse().ok()?;
    if expires < chrono::Utc::now() {
        return None;
    }
    let pid = gate["leader"].as_str()?.split(':').nth(1)?.parse().ok()?;
    Some((pid, gate["leaseEpoch"].as_i64()?))
}

/// The `worker_actions_total` of the deployment gate on `server`'s `/metrics` (0 if absent).
async fn gate_actions(client: &reqwest::Client, server: &Server) -> u64 {
    let text = client.get(&server.metrics).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("worker_actions_total{worker=\"deployment-gate\"} "))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

/// How many events of each type the gate wrote for `deployment`.
async fn gate_events(db: &TestDb, deployment: &str) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT event_type, count(*) FROM events WHERE aggregate_type = 'RuntimeDeployment' AND aggregate_id = $1 \
            AND metadata->>'actor' = 'worker:deployment-gate' GROUP BY event_type ORDER BY event_type",
    )
    .bind(deployment)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn two_servers_run_each_loop_once_and_a_paused_or_killed_leader_is_replaced_within_the_lease() {
    let db = TestDb::new().await;
    let binary = build_release_binary();
    let client = reqwest::Client::new();
    let lease = LEASE_SECONDS.to_string();
    let settings = [("APP_WORKER_LEASE_SECONDS", lease.as_str())];
    let mut a = Server::start_with(&binary, &db.url, &settings);
    a.wait_ready(&client).await;
    let mut b = Server::start_with(&binary, &db.url, &settings);
    b.wait_ready(&client).await;

    let port = tests::endpoint::start().await.port;
    let env = run(
        &client,
        &a,
        "($i: RequestEnvironmentInput!) { requestEnvironment(input: $i)",
        json!({ "i": environment_input("shop", "dev", "DEV") }),
    )
    .await;
    run(&client, &a, "($id: ID!) { recordProvisioningStarted(id: $id)", json!({ "id": env })).await;
    run(
        &client,
        &a,
        "($id: ID!, $o: ProvisioningOutputsInput!) { recordProvisioningSucceeded(id: $id, outputs: $o)",
        json!({ "id": env, "o": { "endpoints": [], "resourceIds": [], "stackVersion": 1 } }),
    )
    .await;
    let contract = json!({ "image": "shop.azurecr.io/api", "ports": [port],
        "readiness": { "kind": "HTTP", "path": "/ready", "port": port, "periodSeconds": 1, "timeoutSeconds": 1 },
        "minReplicas": 1, "maxReplicas": 5, "compute": "AKS" });
    let service = run(
        &client,
        &b,
        "($i: RegisterServiceInput!) { registerService(input: $i)",
        json!({ "i": { "product": "shop", "name": "api", "kind": "MICROSERVICE", "blueprint": "blueprints/api@3", "contract": contract } }),
    )
    .await;
    run(&client, &b, "($id: ID!) { activateService(id: $id)", json!({ "id": service })).await;

    // One promotion, by one of the two.
    let first = release(&client, &a, &env, &service, "1.0.0").await;
    until_succeeded(&client, &b, &first).await;
    assert_eq!(
        gate_events(&db, &first).await,
        [("DeploymentSucceeded".to_owned(), 1), ("HealthGateEvaluated".to_owned(), 2)],
        "one result per gate and one promotion"
    );
    let (leader, epoch) = gate_leader(&client, &a).await.expect("a leader");
    let (first_leader, other) = if leader == a.pid() { (a, b) } else { (b, a) };
    assert_eq!(leader, first_leader.pid(), "the leader is one of the two processes");
    assert_eq!(
        (gate_actions(&client, &first_leader).await, gate_actions(&client, &other).await),
        (3, 0),
        "the leader issued the 3 commands, the other none"
    );

    // The leader is paused (SIGSTOP: a long GC pause, a partition): the other leads within
    // the lease and promotes the next rollout. Resumed, the old leader finds its lease taken
    // and issues nothing.
    signal("STOP", first_leader.pid());
    let epoch = until_leads(&client, &other, epoch, "a paused leader").await;
    let second = release(&client, &other, &env, &service, "2.0.0").await;
    until_succeeded(&client, &other, &second).await;
    signal("CONT", first_leader.pid());
    assert_eq!(
        gate_events(&db, &second).await,
        [("DeploymentSucceeded".to_owned(), 1), ("HealthGateEvaluated".to_owned(), 2)]
    );
    tokio::time::sleep(Duration::from_secs(LEASE_SECONDS * 2)).await;
    assert_eq!(gate_actions(&client, &first_leader).await, 3, "resumed, the deposed leader issued nothing");
    assert_eq!(gate_actions(&client, &other).await, 3);

    // kill -9 of the leader: the survivor leads within the lease, under a new epoch, and
    // promotes the next rollout, once.
    let (mut dead, survivor) = (other, first_leader);
    dead.kill();
    until_leads(&client, &survivor, epoch, "a killed leader").await;
    let third = release(&client, &survivor, &env, &service, "3.0.0").await;
    until_succeeded(&client, &survivor, &third).await;
    assert_eq!(
        gate_events(&db, &third).await,
        [("DeploymentSucceeded".to_owned(), 1), ("HealthGateEvaluated".to_owned(), 2)]
    );
    assert_eq!(gate_actions(&client, &survivor).await, 6, "3 before its pause, 3 as the new leader");
}

/// Sends `SIGSTOP` / `SIGCONT` to `pid`.
fn signal(name: &str, pid: u32) {
    let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// Waits until `server` leads the deployment gate under an epoch after `epoch` (at most five
/// leases); returns the new epoch and prints how long the takeover took.
async fn until_leads(client: &reqwest::Client, server: &Server, epoch: i64, after: &str) -> i64 {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(LEASE_SECONDS * 5);
    loop {
        if let Some((pid, e)) = gate_leader(client, server).await {
            if pid == server.pid() && e > epoch {
                eprintln!("two_servers: took over from {after} in {:.1?} (lease {LEASE_SECONDS} s)", started.elapsed());
                return e;
            }
        }
        assert!(Instant::now() < deadline, "{} did not take the loop over from {after}", server.pid());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
