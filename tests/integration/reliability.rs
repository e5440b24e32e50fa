//! Trusted under crashes and load, over the wire: the release server in its own process, real
//! HTTP and websocket clients, a real PostgreSQL. The rules, written before the tests:
//! - `kill -9` while 8 clients send commands: every command that got a success answer is in
//!   the log; after a restart the projections equal a full rebuild (`runtime-platform rebuild`).
//! - 100 concurrent commands on one aggregate, each pinned to the version it read: each
//!   succeeds or gets `CONCURRENCY_CONFLICT`, no success is lost, the final version is the
//!   start plus the successes.
//! - 50 copies of one keyed command at once: one effect, and 50 answers that are the same
//!   result (only `deduplicated` says which copy wrote).
//! - PostgreSQL restarted under load: `/readyz` says not ready while it is down, the server
//!   recovers by itself (same process), projections catch up and a live subscription opened
//!   before goes on from where it was, without a gap.
//! - A transaction left open elsewhere in the cluster (the xmin horizon): the stall, the held
//!   events and the transaction holding them are reported in `/metrics` and GraphQL; the
//!   projections resume once it ends.
//!
//! The last two run on a private cluster of their own (stopped, or held, without disturbing
//! the tests running beside them on the shared one). Each test is bounded in time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use infra::local_postgres::{LocalPostgres, LocalPostgresOptions};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};
use tests::server::{build_release_binary, free_port, Server};
use tests::ws_client::{self, Received};
use tests::TestDb;

const REQUEST: &str = "mutation($input: RequestEnvironmentInput!, $options: CommandOptionsInput) {
  requestEnvironment(input: $input, options: $options) {
    aggregateId version traceId deduplicated position events { eventId sequence eventType } } }";
const STARTED: &str =
    "mutation($id: ID!) { recordProvisioningStarted(id: $id) { version events { eventId } } }";
const ADD_TARGET: &str = "mutation($id: ID!, $t: ComputeTargetInput!, $options: CommandOptionsInput) {
  addComputeTarget(id: $id, target: $t, options: $options) { version position events { eventId } } }";
const PROJECTIONS: &str = "{ projections { name lagEvents heldEvents } }";

fn target(name: &str) -> Value {
    json!({ "kind": "CONTAINER_APPS", "name": name, "resourceId": format!("/subscriptions/3f2504e0-4f89-11d3-9a0c-0305e82c3301/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/{name}") })
}

/// POSTs one GraphQL request; `None` when there is no answer (the server is gone).
async fn try_gql(client: &reqwest::Client, server: &Server, query: &str, variables: Value) -> Option<Value> {
    let response = client
        .post(&server.graphql)
        .timeout(Duration::from_secs(20))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

async fn gql(client: &reqwest::Client, server: &Server, query: &str, variables: Value) -> Value {
    try_gql(client, server, query, variables).await.expect("an answer from the server")
}

/// The event ids of a successful command answer under `field`, if it succeeded.
fn acknowledged(answer: &Value, field: &str) -> Option<Vec<String>> {
    if !answer["errors"].is_null() {
        return None;
    }
    let events = answer["data"][field]["events"].as_array()?;
    Some(events.iter().map(|e| e["eventId"].as_str().unwrap().to_owned()).collect())
}

/// A new environment in `Provisioning` (version 2), ready to take compute targets.
async fn provisioning(client: &reqwest::Client, server: &Server, name: &str) -> (String, Vec<String>) {
    let input = tests::environment_input("shop", name, "DEV");
    let created = gql(client, server, REQUEST, json!({ "input": input })).await;
    let mut ids = acknowledged(&created, "requestEnvironment").unwrap_or_else(|| panic!("{created}"));
    let id = created["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned();
    let started = gql(client, server, STARTED, json!({ "id": id })).await;
    ids.extend(acknowledged(&started, "recordProvisioningStarted").unwrap_or_else(|| panic!("{started}")));
    (id, ids)
}

/// Polls `/readyz` until its answer is (or is not) 200, for at most `within`.
async fn until_ready(client: &reqwest::Client, server: &Server, ready: bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let answer = client.get(&server.readyz).timeout(Duration::from_secs(2)).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) == ready {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Polls the `projections` query until every projection has applied every committed event.
async fn until_projected(client: &reqwest::Client, server: &Server, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = try_gql(client, server, PROJECTIONS, json!({})).await.unwrap_or(Value::Null);
        let projections = status["data"]["projections"].as_array().cloned().unwrap_or_default();
        if !projections.is_empty() && projections.iter().all(|p| p["lagEvents"] == 0) {
            return;
        }
        assert!(Instant::now() < deadline, "projections did not catch up within {within:?}: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A fingerprint of every projector's tables (row count and digest of the rows).
async fn read_models(pool: &PgPool) -> BTreeMap<String, (i64, String)> {
    let bus = commands::CommandBus::new(pool.clone());
    let tables: BTreeSet<String> = projections::registry::all_projectors(bus.routes())
        .iter()
        .flat_map(|p| p.tables().iter().map(|t| t.to_string()))
        .collect();
    assert!(tables.len() >= 10, "every projector names its tables: {tables:?}");
    let mut all = tests::fingerprint(pool).await;
    all.retain(|table, _| tables.contains(table));
    assert_eq!(all.len(), tables.len(), "every projection table exists");
    all
}

async fn missing_events(pool: &PgPool, ids: &[String]) -> Vec<String> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.parse().unwrap()).collect();
    let found: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT event_id FROM events WHERE event_id = ANY($1)")
        .bind(&ids)
        .fetch_all(pool)
        .await
        .unwrap();
    let found: BTreeSet<uuid::Uuid> = found.into_iter().collect();
    ids.iter().filter(|id| !found.contains(id)).map(ToString::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_command_survives_kill_9_under_eight_clients_and_projections_equal_a_rebuild() {
    let db = TestDb::new().await;
    let binary = build_release_binary();
    let client = reqwest::Client::new();
    let mut server = Server::start(&binary, &db.url);
    server.wait_ready(&client).await;

    // 8 clients: each requests an environment (keyed, with its name claim), starts it and
    // adds compute targets to it, five per environment, until the server stops answering.
    let server = Arc::new(Mutex::new(server));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (client, acked) = (client.clone(), acked.clone());
            let endpoint = server.lock().unwrap().graphql.clone();
            tokio::spawn(async move {
                let post = |query: &'static str, variables: Value| {
                    let (client, endpoint) = (client.clone(), endpoint.clone());
                    async move {
                        let body = json!({ "query": query, "variables": variables });
                        let answer = client.post(&endpoint).timeout(Duration::from_secs(20)).json(&body).send().await;
                        answer.ok()?.json::<Value>().await.ok()
                    }
                };
                let mut environment = String::new();
                for i in 0.. {
                    let (field, answer) = if i % 6 == 0 {
                        let input = tests::environment_input("shop", &format!("c{c}-{i}"), "DEV");
                        let options = json!({ "idempotencyKey": format!("kill-{c}-{i}") });
                        ("requestEnvironment", post(REQUEST, json!({ "input": input, "options": options })).await)
                    } else if i % 6 == 1 {
                        ("recordProvisioningStarted", post(STARTED, json!({ "id": environment })).await)
                    } else {
                        let variables = json!({ "id": environment, "t": target(&format!("aca-{i}")) });
                        ("addComputeTarget", post(ADD_TARGET, variables).await)
                    };
                    let Some(answer) = answer else { return i };
                    let ids = acknowledged(&answer, field).unwrap_or_else(|| panic!("client {c}, {field}: {answer}"));
                    if i % 6 == 0 {
                        environment = answer["data"][field]["aggregateId"].as_str().unwrap().to_owned();
                    }
                    acked.lock().unwrap().extend(ids);
                }
                unreachable!()
            })
        })
        .collect();
    // Until enough was acknowledged to make the kill land mid-stream, at most 60 s.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.lock().unwrap().kill();
    let sent: Vec<u64> = join_all(clients).await.into_iter().map(Result::unwrap).collect();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300, "the clients had {} commands acknowledged before the kill", acked.len());
    let missing = missing_events(&db.pool, &acked).await;
    assert!(missing.is_empty(), "{} of {} acknowledged events are not in the log: {missing:?}", missing.len(), acked.len());
    println!("kill -9 after {} acknowledged events ({sent:?} commands sent per client)", acked.len());

    // Restarted: it answers, and its projections reach the log's end...
    let mut server = Server::start(&binary, &db.url);
    server.wait_ready(&client).await;
    let (after, _) = provisioning(&client, &server, "after-restart").await;
    until_projected(&client, &server, Duration::from_secs(60)).await;
    let environment = gql(&client, &server, "query($id: ID!) { environment(id: $id) { version } }", json!({ "id": after })).await;
    assert_eq!(environment["data"]["environment"]["version"], 2, "{environment}");
    // ...and equal what a full rebuild makes of the log.
    server.terminate();
    let live = read_models(&db.pool).await;
    let rebuild = std::process::Command::new(&binary)
        .arg("rebuild")
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .status()
        .expect("run runtime-platform rebuild");
    assert!(rebuild.success(), "runtime-platform rebuild failed: {rebuild}");
    let rebuilt = read_models(&db.pool).await;
    let differ: Vec<&String> = live.keys().filter(|t| live.get(*t) != rebuilt.get(*t)).collect();
    assert!(differ.is_empty(), "after kill -9 and restart, these projections differ from a rebuild: {differ:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_pinned_commands_on_one_aggregate_lose_nothing() {
    let db = TestDb::new().await;
    let binary = build_release_binary();
    let client = reqwest::Client::new();
    let mut server = Server::start(&binary, &db.url);
    server.wait_ready(&client).await;
    let (id, _) = provisioning(&client, &server, "contended").await;

    // Each of 100 clients reads the version, then sends a command pinned to it.
    let server = &server;
    let answers = join_all((0..100).map(|i| {
        let (client, id) = (client.clone(), id.clone());
        async move {
            let read = gql(&client, server, "query($id: ID!) { environment(id: $id) { version } }", json!({ "id": id })).await;
            let version = read["data"]["environment"]["version"].as_i64().unwrap_or_else(|| panic!("{read}"));
            let variables = json!({ "id": id, "t": target(&format!("aca-{i}")), "options": { "expectedVersion": version } });
            (format!("aca-{i}"), gql(&client, server, ADD_TARGET, variables).await)
        }
    }))
    .await;

    let mut won = Vec::new();
    for (name, answer) in &answers {
        if answer["errors"].is_null() {
            won.push((answer["data"]["addComputeTarget"]["version"].as_i64().unwrap(), name.clone()));
        } else {
            assert_eq!(tests::error_code(answer), Some("CONCURRENCY_CONFLICT"), "{answer}");
        }
    }
    won.sort();
    assert!(!won.is_empty(), "at least the first pinned command finds its version");
    let versions: Vec<i64> = won.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, (3..3 + won.len() as i64).collect::<Vec<_>>(), "each success took the next version");
    let state = gql(
        &client,
        server,
        "query($id: ID!) { environment(id: $id) { version computeTargets { name } } }",
        json!({ "id": id }),
    )
    .await;
    let environment = &state["data"]["environment"];
    assert_eq!(environment["version"], 2 + won.len() as i64, "final version = start + successes: {state}");
    let names: BTreeSet<&str> =
        environment["computeTargets"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for (_, name) in &won {
        assert!(names.contains(name.as_str()), "the success {name} is in the state: {names:?}");
    }
    assert_eq!(db.event_count().await, 2 + won.len() as i64, "conflicts wrote nothing");
    println!("100 pinned commands: {} succeeded, {} conflicted", won.len(), 100 - won.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_copies_of_one_keyed_command_have_one_effect_and_one_answer() {
    let db = TestDb::new().await;
    let binary = build_release_binary();
    let client = reqwest::Client::new();
    let mut server = Server::start(&binary, &db.url);
    server.wait_ready(&client).await;
    let variables = json!({
        "input": tests::environment_input("shop", "main", "DEV"),
        "options": { "idempotencyKey": "fifty-copies" },
    });
    let server = &server;
    let answers = join_all((0..50).map(|_| gql(&client, server, REQUEST, variables.clone()))).await;
    let mut results = Vec::new();
    for answer in &answers {
        assert!(answer["errors"].is_null(), "every copy gets the result: {answer}");
        results.push(answer["data"]["requestEnvironment"].clone());
    }
    assert_eq!(results.iter().filter(|r| r["deduplicated"] == false).count(), 1, "exactly one copy wrote");
    let same: BTreeSet<String> = results
        .iter_mut()
        .map(|r| {
            r.as_object_mut().unwrap().remove("deduplicated");
            r.to_string()
        })
        .collect();
    assert_eq!(same.len(), 1, "50 answers, one result: {same:?}");
    assert_eq!(db.event_count().await, 1, "one effect");
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM unique_claims").fetch_one(&db.pool).await.unwrap();
    assert_eq!(claims, 1);
}

/// A private PostgreSQL cluster of this test's own, removed on drop.
struct PrivateCluster {
    options: LocalPostgresOptions,
    cluster: Option<LocalPostgres>,
}

impl PrivateCluster {
    async fn start(name: &str) -> Self {
        let data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../target/reliability-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        let options = LocalPostgresOptions { data_dir, port: free_port(), database: "platform".into() };
        let cluster = LocalPostgres::start(&options).await.expect("start a private PostgreSQL cluster");
        Self { options, cluster: Some(cluster) }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{}", self.options.port, self.options.database)
    }

    async fn stop(&mut self) {
        self.cluster.take().expect("running").stop().await.expect("stop the private cluster");
    }

    async fn restart(&mut self) {
        self.cluster = Some(LocalPostgres::start(&self.options).await.expect("start the private cluster again"));
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            let _ = std::process::Command::new("sh").arg("-c").arg(format!("{} -m immediate", cluster.stop_command())).output();
        }
        let _ = std::fs::remove_dir_all(&self.options.data_dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_is_survived_without_a_server_restart() {
    let mut cluster = PrivateCluster::start("restart").await;
    let binary = build_release_binary();
    let client = reqwest::Client::new();
    let mut server = Server::start(&binary, &cluster.url());
    server.wait_ready(&client).await;
    let pool = PgPool::connect(&cluster.url()).await.unwrap();

    // A live subscription to the environment client 0 writes to.
    let mut environments = Vec::new();
    for c in 0..4 {
        environments.push(provisioning(&client, &server, &format!("load-{c}")).await.0);
    }
    let mut socket = ws_client::connect_transport_ws(server.api, "/graphql").await;
    ws_client::send(&mut socket, json!({ "type": "connection_init", "payload": {} })).await;
    assert!(matches!(ws_client::receive(&mut socket, Duration::from_secs(5)).await, Received::Json(v) if v["type"] == "connection_ack"));
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { events(aggregateId: $id) { sequence } }",
        "variables": { "id": environments[0] } } });
    ws_client::send(&mut socket, subscribe).await;

    // 4 clients add targets to their environment, until told to stop; failures while the
    // database is away are expected and counted.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let load: Vec<_> = environments
        .iter()
        .map(|id| {
            let (client, endpoint, stop, acked, id) =
                (client.clone(), server.graphql.clone(), stop.clone(), acked.clone(), id.clone());
            tokio::spawn(async move {
                let mut failed = 0u64;
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = json!({ "query": ADD_TARGET, "variables": { "id": id, "t": target(&format!("aca-{i}")) } });
                    let answer = client.post(&endpoint).timeout(Duration::from_secs(20)).json(&body).send().await;
                    let answer: Option<Value> = match answer {
                        Ok(a) => a.json().await.ok(),
                        Err(_) => None,
                    };
                    match answer.as_ref().and_then(|a| acknowledged(a, "addComputeTarget")) {
                        Some(ids) => acked.lock().unwrap().extend(ids.into_iter().map(|e| (Instant::now(), e))),
                        None => {
                            failed += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                failed
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.stop().await;
    let down_at = Instant::now();
    assert!(until_ready(&client, &server, false, Duration::from_secs(15)).await, "/readyz said ready with the database down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.restart().await;
    assert!(until_ready(&client, &server, true, Duration::from_secs(30)).await, "the server did not recover by itself");
    assert!(server.exited().is_none(), "the same process recovered");
    let recovered_at = Instant::now();
    // Commands succeed again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().iter().filter(|(at, _)| *at > recovered_at).count() < 20 {
        assert!(Instant::now() < deadline, "commands did not succeed again after the database came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let failed: Vec<u64> = join_all(load).await.into_iter().map(Result::unwrap).collect();
    let acked: Vec<String> = acked.lock().unwrap().iter().map(|(_, e)| e.clone()).collect();
    let missing = missing_events(&pool, &acked).await;
    assert!(missing.is_empty(), "acknowledged events lost over the restart: {missing:?}");
    println!(
        "postgres down for {:.1?}; {} commands acknowledged, failures per client {failed:?}",
        recovered_at - down_at,
        acked.len()
    );

    // Projections resume where they were and reach the end of the log.
    until_projected(&client, &server, Duration::from_secs(60)).await;
    // The subscription opened before the restart delivers every event of its environment,
    // once, in order, those written after the restart included.
    let last: i64 = sqlx::query_scalar("SELECT max(sequence) FROM events WHERE aggregate_id = $1")
        .bind(&environments[0])
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.last() != Some(&last) {
        match ws_client::receive(&mut socket, Duration::from_secs(20)).await {
            Received::Json(v) if v["type"] == "next" => seen.push(v["payload"]["data"]["events"]["sequence"].as_i64().unwrap()),
            Received::Json(v) if v["type"] == "ping" => ws_client::send(&mut socket, json!({ "type": "pong" })).await,
            other => panic!("the subscription stopped at {:?} of {last}: {other:?}", seen.last()),
        }
    }
    let first = seen[0];
    assert!(first <= 10, "the subscription saw the writes from before the restart: {seen:?}");
    assert_eq!(seen, (first..=last).collect::<Vec<_>>(), "no gap, no repeat across the restart");
    drop(server);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_open_in_the_cluster_is_reported_as_the_stall_it_causes() {
    let cluster = PrivateCluster::start("horizon").await;
    let binary = build_release_binary();
    let client = reqwest::Client::new();
    let mut server = Server::start(&binary, &cluster.url());
    server.wait_ready(&client).await;
    let (id, _) = provisioning(&client, &server, "held").await;
    until_projected(&client, &server, Duration::from_secs(30)).await;

    // Someone's session in another database of the cluster: a write, then lunch.
    let other = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.options.port);
    let mut lunch = PgConnection::connect(&other).await.unwrap();
    sqlx::query("SET application_name = 'lunch-break'").execute(&mut lunch).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lunch).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut lunch).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()").execute(&mut lunch).await.unwrap();

    for i in 0..3 {
        let answer = gql(&client, &server, ADD_TARGET, json!({ "id": id, "t": target(&format!("aca-{i}")) })).await;
        assert!(answer["errors"].is_null(), "{answer}");
    }
    let horizon = "{ logHorizon { heldEvents heldMs stalled holder { pid database application state openMs } }
                     projections { name lagEvents heldEvents } }";
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let report = gql(&client, &server, horizon, json!({})).await;
        if report["data"]["logHorizon"]["stalled"] == true {
            break report;
        }
        assert!(Instant::now() < deadline, "no stall reported: {report}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let data = &report["data"];
    assert_eq!(data["logHorizon"]["heldEvents"], 3, "{report}");
    assert!(data["logHorizon"]["heldMs"].as_i64().unwrap() >= 5000, "{report}");
    let holder = &data["logHorizon"]["holder"];
    assert_eq!(holder["pid"], pid, "{report}");
    assert_eq!(holder["database"], "postgres");
    assert_eq!(holder["application"], "lunch-break");
    assert_eq!(holder["state"], "idle in transaction");
    assert!(holder["openMs"].as_i64().unwrap() >= 5000, "{report}");
    for projection in data["projections"].as_array().unwrap() {
        assert_eq!(projection["heldEvents"], 3, "each projection says its lag is held: {report}");
        assert_eq!(projection["lagEvents"], 3, "{report}");
    }
    let metrics = client.get(&server.metrics).send().await.unwrap().text().await.unwrap();
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    assert_eq!(gauge("log_horizon_held_events"), 3.0);
    assert!(gauge("log_horizon_held_seconds") >= 5.0);
    assert!(gauge("log_horizon_holder_open_seconds") >= 5.0);
    assert_eq!(gauge("projection_held_events{projection=\"environments\"}"), 3.0);

    // Lunch is over: the projections resume and the report clears.
    sqlx::query("COMMIT").execute(&mut lunch).await.unwrap();
    until_projected(&client, &server, Duration::from_secs(30)).await;
    let after = gql(&client, &server, horizon, json!({})).await;
    assert_eq!(after["data"]["logHorizon"]["heldEvents"], 0, "{after}");
    assert_eq!(after["data"]["logHorizon"]["stalled"], false, "{after}");
    assert!(after["data"]["logHorizon"]["holder"].is_null(), "{after}");
    drop(server);
}
