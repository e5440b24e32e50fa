//! `runtimeDiff` and the events behind inventory periods, through GraphQL: what started,
//! stopped and changed between two instants, each change with the event that made it (its
//! type, actor, role and trace), for one tenant's workload; paging, tenant scope and roles.
//! That the diff equals the difference of two replays of the log for random instants is
//! checked by the random histories in `read_models.rs`.

use serde_json::{json, Value};
use tests::{error_code, world, TestApp, TestDb};

const RESULT: &str = "{ version events { eventId eventType } }";
const ADMIN: [(&str, &str); 1] = [("x-actor", "user:release-manager")];

const DIFF: &str = "query($from: DateTime!, $to: DateTime!, $tenant: String, $first: Int, $after: String) {
  runtimeDiff(from: $from, to: $to, tenantId: $tenant, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { serviceId environmentId tenantId change
      before { version configurationVersion replicas computeKind computeTarget }
      after { version configurationVersion replicas computeKind computeTarget }
      changes { field from to event { eventId eventType actor actorRole traceId recordedAt } } } } } }";

/// Runs one mutation as the release manager under `trace`; returns the id of its last event.
async fn run(app: &TestApp, trace: &str, mutation: &str, variables: Value) -> String {
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
    let mut headers = ADMIN.to_vec();
    headers.push(("traceparent", traceparent.as_str()));
    let response = app.gql_with(&format!("mutation{mutation} {RESULT} }}"), variables, &headers).await;
    assert!(response["errors"].is_null(), "{mutation}: {response}");
    let events = response["data"].as_object().unwrap().values().next().unwrap()["events"].as_array().unwrap().clone();
    events.last().expect("an event")["eventId"].as_str().unwrap().to_owned()
}

/// Rolls deployment `id` out, passes its gate and promotes it; returns the success's event id.
async fn promote(app: &TestApp, trace: &str, id: &str) -> String {
    let v = json!({ "id": id });
    run(app, trace, "($id: ID!) { beginDeploymentRollout(id: $id)", v.clone()).await;
    run(app, trace, "($id: ID!) { recordDeploymentStepProgress(id: $id, step: 0, percent: 100)", v.clone()).await;
    run(
        app,
        trace,
        "($id: ID!) { recordHealthGateResult(id: $id, gate: \"availability\", passed: true, observed: 99.9)",
        v.clone(),
    )
    .await;
    run(app, trace, "($id: ID!) { promoteDeployment(id: $id)", v).await
}

async fn now(app: &TestApp) -> String {
    let (t,): (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT clock_timestamp()").fetch_one(app.bus().pool()).await.unwrap();
    t.to_rfc3339()
}

async fn diff(app: &TestApp, from: &str, to: &str, tenant: Option<&str>, headers: &[(&str, &str)]) -> Vec<Value> {
    let response = app.gql_with(DIFF, json!({ "from": from, "to": to, "tenant": tenant }), headers).await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["runtimeDiff"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

/// The change of `field` in `entry`.
fn change<'a>(entry: &'a Value, field: &str) -> &'a Value {
    entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == field)
        .unwrap_or_else(|| panic!("{field} in {entry}"))
}

#[tokio::test]
async fn the_diff_names_what_started_changed_and_stopped_and_the_event_of_each_change() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let w = world::build(&app, &ADMIN).await;
    let contoso = &w.tenants["contoso"];
    let (t_start, t_change, t_stop) =
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa02", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa03");

    let t0 = now(&app).await;
    // Start: contoso's v1.0.0 is promoted.
    let started = promote(&app, t_start, contoso.id("RuntimeDeployment")).await;
    let t1 = now(&app).await;

    // Change: configuration version 1 activated, the autoscaler goes 1 -> 3, v2.0.0 promoted.
    let config = contoso.id("RuntimeConfiguration");
    let activated =
        run(&app, t_change, "($id: ID!) { activateConfigurationVersion(id: $id, version: 1)", json!({ "id": config }))
            .await;
    let policy = contoso.id("ScalingPolicy");
    run(&app, t_change, "($id: ID!) { activateScalingPolicy(id: $id)", json!({ "id": policy })).await;
    let scaled = run(
        &app,
        t_change,
        "($id: ID!, $i: RecordScalingDecisionInput!) { recordScalingDecision(id: $id, input: $i)",
        json!({ "id": policy, "i": { "fromReplicas": 1, "toReplicas": 3, "signal": { "trigger": "CPU", "observed": 91.0 }, "reason": "cpu above target" } }),
    )
    .await;
    let v2 = run(
        &app,
        t_change,
        "($i: StartDeploymentInput!) { startDeployment(input: $i)",
        json!({ "i": { "service": w.service, "environment": w.environment, "tenant": "contoso",
            "artifact": { "digest": format!("sha256:{}", "2a".repeat(32)), "version": "2.0.0", "commit": "8".repeat(40) },
            "strategy": { "kind": "ROLLING" }, "gates": [{ "name": "availability", "kind": "AVAILABILITY", "threshold": 99.0 }] } }),
    )
    .await;
    let v2_id: (String,) = sqlx::query_as("SELECT aggregate_id FROM events WHERE event_id = $1::uuid")
        .bind(&v2)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let upgraded = promote(&app, t_change, &v2_id.0).await;
    let t2 = now(&app).await;

    // Stop: contoso is offboarded.
    let binding = contoso.id("RuntimeTenantBinding");
    run(
        &app,
        t_stop,
        "($id: ID!) { offboardTenantBinding(id: $id, reason: \"contract ended\")",
        json!({ "id": binding }),
    )
    .await;
    let offboarded = run(&app, t_stop, "($id: ID!) { recordTenantOffboarded(id: $id)", json!({ "id": binding })).await;
    let t3 = now(&app).await;
    app.settle().await;

    // Started.
    let entries = diff(&app, &t0, &t1, None, &[]).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!((e["change"].as_str(), e["tenantId"].as_str()), (Some("STARTED"), Some("contoso")));
    assert!(e["before"].is_null());
    assert_eq!(e["after"]["version"], "1.0.0");
    let c = change(e, "STARTED");
    assert_eq!(c["event"]["eventId"], started.as_str());
    assert_eq!(c["event"]["eventType"], "DeploymentSucceeded");
    assert_eq!(c["event"]["actor"], "user:release-manager");
    assert_eq!(c["event"]["actorRole"], "PlatformAdmin");
    assert_eq!(c["event"]["traceId"], t_start);

    // Changed: version, configuration version and replicas, each with its own event.
    let entries = diff(&app, &t1, &t2, Some("contoso"), &[]).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e["change"], "CHANGED");
    assert_eq!(e["changes"].as_array().unwrap().len(), 3, "{e}");
    let c = change(e, "VERSION");
    assert!(c["from"].as_str().unwrap().starts_with("1.0.0@") && c["to"].as_str().unwrap().starts_with("2.0.0@"));
    assert_eq!(
        (c["event"]["eventId"].as_str(), c["event"]["eventType"].as_str()),
        (Some(upgraded.as_str()), Some("DeploymentSucceeded"))
    );
    let c = change(e, "CONFIGURATION_VERSION");
    assert_eq!((c["from"].as_str(), c["to"].as_str()), (None, Some("1")));
    assert_eq!(c["event"]["eventId"], activated.as_str());
    assert_eq!(c["event"]["eventType"], "ConfigurationVersionActivated");
    assert_eq!(c["event"]["traceId"], t_change);
    let c = change(e, "REPLICAS");
    assert_eq!((c["from"].as_str(), c["to"].as_str()), (None, Some("3")));
    assert_eq!(
        (c["event"]["eventId"].as_str(), c["event"]["eventType"].as_str()),
        (Some(scaled.as_str()), Some("ScalingDecisionRecorded"))
    );
    assert_eq!((e["after"]["configurationVersion"].as_i64(), e["after"]["replicas"].as_i64()), (Some(1), Some(3)));

    // Stopped, and the other way round (before is always at `from`).
    let entries = diff(&app, &t2, &t3, None, &[]).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let c = change(&entries[0], "STOPPED");
    assert_eq!(
        (c["event"]["eventId"].as_str(), c["event"]["eventType"].as_str()),
        (Some(offboarded.as_str()), Some("TenantOffboarded"))
    );
    assert_eq!(c["event"]["traceId"], t_stop);
    let entries = diff(&app, &t3, &t2, None, &[]).await;
    assert_eq!(entries[0]["change"], "STARTED");
    // Nothing differs between an instant and itself, or between two instants with no change.
    assert!(diff(&app, &t2, &t2, None, &[]).await.is_empty());
    assert!(diff(&app, &t0, &now(&app).await, None, &[]).await.is_empty(), "nothing ran then, nothing runs now");

    // The inventory's periods name the events that opened and closed them.
    let inventory = app
        .gql(
            "query($t: DateTime!) { runtimeInventory(asOf: $t, tenantId: \"contoso\") { edges { node {
               version configurationVersion replicas until openedBy { eventId eventType } closedBy { eventId eventType traceId } } } } }",
            json!({ "t": t2 }),
        )
        .await;
    let node = &inventory["data"]["runtimeInventory"]["edges"][0]["node"];
    assert_eq!(node["version"], "2.0.0", "{inventory}");
    assert_eq!((node["configurationVersion"].as_i64(), node["replicas"].as_i64()), (Some(1), Some(3)));
    assert_eq!(node["openedBy"]["eventId"], upgraded.as_str());
    assert_eq!(node["closedBy"]["eventId"], offboarded.as_str());
    assert_eq!(node["closedBy"]["traceId"], t_stop);
}

#[tokio::test]
async fn the_diff_pages_keeps_to_the_callers_tenants_and_is_history_for_the_roles_table() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let w = world::build(&app, &ADMIN).await;
    let t0 = now(&app).await;
    for tenant in world::TENANTS {
        promote(&app, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb01", w.tenants[tenant].id("RuntimeDeployment")).await;
    }
    let t1 = now(&app).await;
    app.settle().await;

    // Two workloads, one per page.
    let first = app.gql(DIFF, json!({ "from": t0, "to": t1, "first": 1 })).await;
    let connection = &first["data"]["runtimeDiff"];
    assert_eq!(connection["pageInfo"]["hasNextPage"], true, "{first}");
    let cursor = connection["pageInfo"]["endCursor"].as_str().unwrap();
    let second = app.gql(DIFF, json!({ "from": t0, "to": t1, "first": 1, "after": cursor })).await;
    let tenants: Vec<&str> = [&first, &second]
        .iter()
        .map(|r| r["data"]["runtimeDiff"]["edges"][0]["node"]["tenantId"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["contoso", "fabrikam"]);
    assert_eq!(second["data"]["runtimeDiff"]["pageInfo"]["hasNextPage"], false);

    // A tenant operator sees its tenant's changes only, and nothing when it asks for another's.
    let operator = [("x-tenant-id", "fabrikam"), ("x-roles", "TenantOperator")];
    let own = diff(&app, &t0, &t1, None, &operator).await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["tenantId"], "fabrikam");
    assert_eq!(own[0]["changes"][0]["event"]["eventType"], "DeploymentSucceeded");
    assert!(diff(&app, &t0, &t1, Some("contoso"), &operator).await.is_empty());

    // History is not for the control plane's role; a malformed cursor is bad input.
    let control_plane = [("x-roles", "ControlPlane")];
    let refused = app.gql_with(DIFF, json!({ "from": t0, "to": t1 }), &control_plane).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let refused = app.gql(DIFF, json!({ "from": t0, "to": t1, "after": "not-a-cursor" })).await;
    assert_eq!(error_code(&refused), Some("INVALID_INPUT"), "{refused}");
}

/// What has been read of `runtime_inventory` so far, once this backend's counters are flushed:
/// (heap rows fetched through an index, rows read by sequential scans, index entries read).
async fn inventory_reads(conn: &mut sqlx::PgConnection) -> (i64, i64, i64) {
    sqlx::query("SELECT pg_stat_force_next_flush()").execute(&mut *conn).await.unwrap();
    // Counters are flushed when the backend goes idle; a new statement reads them after.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await.unwrap();
    sqlx::query_as(
        "SELECT coalesce(t.idx_tup_fetch, 0), t.seq_tup_read, \
                (SELECT sum(i.idx_tup_read)::bigint FROM pg_stat_user_indexes i WHERE i.relid = t.relid) \
           FROM pg_stat_user_tables t WHERE t.relname = 'runtime_inventory'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

/// The rule: a diff or an inventory page of one environment (or tenant) reads the periods of
/// that environment (tenant), not every period of the inventory, also with the generic plans
/// the server's connections use (`force_generic_plan`, as `serve` sets it). A diff may also
/// count the boundaries inside its window, a bounded read whatever the inventory
/// (`BOUNDARY_LIMIT` index entries at each end of the window).
#[tokio::test]
async fn a_scoped_diff_reads_its_scope_only_with_generic_plans() {
    let db = TestDb::new().await;
    // 20 environments x 200 services x 3 one-hour periods, for 20 tenants.
    sqlx::query(
        "INSERT INTO runtime_inventory (opened_position, service_id, environment_id, tenant_id, deployment_id, version, \
                digest, valid_from, valid_to) \
         SELECT s * 10 + v, 'svc-' || s, 'env-' || (s % 20), 'tenant-' || (s % 20), 'dep-' || s || '-' || v, '1.' || v, \
                'sha256:' || s, timestamptz '2026-01-01' + (v || ' hours')::interval, \
                CASE WHEN v < 2 THEN timestamptz '2026-01-01' + ((v + 1) || ' hours')::interval END \
           FROM generate_series(0, 3999) s, generate_series(0, 2) v",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    // As autovacuum leaves a table: statistics and visibility map (index-only scans) current.
    sqlx::query("VACUUM ANALYZE runtime_inventory").execute(&db.pool).await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET plan_cache_mode = force_generic_plan").execute(&mut *conn).await.unwrap();
    // 8,000 periods start inside the window: the diff walks the keys of its scope.
    let (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        ("2026-01-01T00:30:00Z".parse().unwrap(), "2026-01-01T02:30:00Z".parse().unwrap());
    let calls: i64 = 6;
    let before = inventory_reads(&mut conn).await;
    for _ in 0..calls {
        let env =
            projections::inventory::InventoryPage { environment: Some("env-3"), limit: 1000, ..Default::default() };
        let diff = projections::inventory::runtime_diff(&mut conn, from, to, &env).await.unwrap();
        assert_eq!(diff.len(), 200, "every service of env-3 changed version");
        let tenant =
            projections::inventory::InventoryPage { tenant: Some("tenant-3"), limit: 1000, ..Default::default() };
        assert_eq!(projections::inventory::runtime_diff(&mut conn, from, to, &tenant).await.unwrap().len(), 200);
        let page = projections::inventory::inventory_page(&mut conn, to, &env).await.unwrap();
        assert_eq!(page.len(), 200);
    }
    let after = inventory_reads(&mut conn).await;
    let (fetched, scanned, entries) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    assert_eq!(scanned, 0, "no sequential scan of the inventory");
    // Rows: each diff reads two periods per workload in scope (the one at each instant), the
    // page one per workload (through the GiST index, which may also fetch a neighbour).
    let rows = calls * (2 * 200 + 2 * 200 + 2 * 200);
    assert!(fetched <= rows, "{fetched} periods fetched, {rows} allowed (12,000 in the inventory)");
    // Index entries: per diff, the boundary count, then the scope's 600 periods once by the
    // walk and about twice by the probes; per page, its 200 periods and their neighbours.
    let limit = projections::inventory::BOUNDARY_LIMIT;
    let allowed = calls * (2 * (2 * limit + 3 * 600) + 2 * 200);
    assert!(entries <= allowed, "{entries} index entries read, {allowed} allowed (12,000 periods in the inventory)");
}
