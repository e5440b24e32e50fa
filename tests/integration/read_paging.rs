//! Paging the read models as a client tailing them does, with hand-driven concurrent
//! transactions: positions are taken at insert, commits happen in another order, and a client
//! that paged to the end of a list and resumes from its last cursor must still get every row
//! that appears afterwards (`auditLog`, `environments`). Also: inventory and health history
//! are paged in SQL, and `minPosition` waiters wake on the runners' progress.

use serde_json::json;
use sqlx::{Connection, PgConnection};
use tests::{environment_input, TestApp, TestDb, REQUEST_ENVIRONMENT};
use uuid::Uuid;

/// A connection with an open transaction.
async fn begin(db: &TestDb) -> PgConnection {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    conn
}

/// Takes the transaction's id now (before any insert), as a transaction that first writes
/// something else would.
async fn take_xid(conn: &mut PgConnection) {
    sqlx::query("SELECT pg_current_xact_id()").execute(conn).await.unwrap();
}

/// Inserts one event of a `Probe` aggregate in the connection's open transaction; returns its
/// position.
async fn insert_probe(conn: &mut PgConnection, id: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Probe', $1, 1, 'Probed', '1.0', '{}', '{}') RETURNING global_position",
    )
    .bind(id)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Inserts a copy of the first event of aggregate `template` as the first event of a new
/// aggregate `id`, in the connection's open transaction; returns its position.
async fn insert_copy(conn: &mut PgConnection, template: &str, id: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT aggregate_type, $2, 1, event_type, event_version, payload, metadata - 'event_id' \
           FROM events WHERE aggregate_id = $1 AND sequence = 1 RETURNING global_position",
    )
    .bind(template)
    .bind(id)
    .fetch_one(conn)
    .await
    .unwrap()
}

async fn commit(mut conn: PgConnection) {
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
}

/// Pages `field` from `after` to its end (`first: 2`, so several pages); returns the ids of
/// the rows seen (`id_field` of each node) and the cursor to resume from (`after` itself when
/// nothing followed it).
async fn page_to_end(
    app: &TestApp,
    field: &str,
    id_field: &str,
    mut after: Option<String>,
) -> (Vec<String>, Option<String>) {
    let query = format!(
        "query($after: String) {{ {field}(first: 2, after: $after) {{ \
            edges {{ cursor node {{ {id_field} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    let mut seen = Vec::new();
    loop {
        let body = app.gql(&query, json!({ "after": after })).await;
        assert!(body["errors"].is_null(), "{body}");
        let page = &body["data"][field];
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"][id_field].as_str().unwrap().to_owned());
            after = Some(edge["cursor"].as_str().unwrap().to_owned());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return (seen, after);
        }
    }
}

/// Pages `field` to its end until `id` is among the rows (the projection applies an event
/// only once every transaction older than its own has ended, so this may take a few rounds
/// while other tests hold the cluster's xmin horizon back).
async fn tail_until(app: &TestApp, field: &str, id_field: &str, id: &str) -> (Vec<String>, Option<String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (seen, cursor) = page_to_end(app, field, id_field, None).await;
        if seen.iter().any(|s| s == id) {
            return (seen, cursor);
        }
        assert!(std::time::Instant::now() < deadline, "{id} never appeared in {field}: {seen:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Rule: a client tailing the audit log never misses an event. Transaction B takes its id
/// first, A then appends an event (the lower position), B appends (the higher position) and
/// commits first; B's event is applied and paged past while A is still open. A then commits:
/// paging on from the last cursor must return A's event.
#[tokio::test]
async fn audit_log_tail_gets_an_event_that_committed_late() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let (early, late) = (format!("b-{}", Uuid::new_v4()), format!("a-{}", Uuid::new_v4()));
    let mut b = begin(&db).await;
    take_xid(&mut b).await;
    let mut a = begin(&db).await;
    let a_position = insert_probe(&mut a, &late).await;
    let b_position = insert_probe(&mut b, &early).await;
    assert!(a_position < b_position);
    commit(b).await;

    let (seen, cursor) = tail_until(&app, "auditLog", "aggregateId", &early).await;
    assert!(!seen.contains(&late), "A's event cannot be visible before A commits");
    commit(a).await;
    app.settle().await;

    let (after, _) = page_to_end(&app, "auditLog", "aggregateId", cursor).await;
    assert_eq!(after, vec![late], "the late-committed event must follow the last cursor");
}

/// Rule: the same for the `environments` list: an environment whose creation committed late
/// comes after the cursor of a client that paged to the end before.
#[tokio::test]
async fn environments_tail_gets_an_environment_that_committed_late() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let created = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", "tail", "DEV") })).await;
    let template = created["data"]["requestEnvironment"]["aggregateId"].as_str().unwrap().to_owned();
    app.settle().await;

    let (early, late) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let mut b = begin(&db).await;
    take_xid(&mut b).await;
    let mut a = begin(&db).await;
    let a_position = insert_copy(&mut a, &template, &late).await;
    let b_position = insert_copy(&mut b, &template, &early).await;
    assert!(a_position < b_position);
    commit(b).await;

    let (seen, cursor) = tail_until(&app, "environments", "id", &early).await;
    assert!(!seen.contains(&late));
    commit(a).await;
    app.settle().await;

    let (after, _) = page_to_end(&app, "environments", "id", cursor).await;
    assert_eq!(after, vec![late], "the late-committed environment must follow the last cursor");
}

/// Rule: `runtimeInventory` pages in the database: every row once, in (environment, service,
/// tenant) byte order, with `until` of each period, and a tenant-scoped caller's pages hold only
/// its tenant's and shared rows.
#[tokio::test]
async fn inventory_pages_in_sql_in_key_order_within_the_callers_scope() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    // 3 environments x 4 services x 3 tenants ('' shared), open periods; one closed period.
    sqlx::query(
        "INSERT INTO runtime_inventory (opened_position, service_id, environment_id, tenant_id, deployment_id, \
            version, digest, compute_kind, compute_target, valid_from) \
         SELECT row_number() OVER (), 'svc' || s, 'env' || e, t, 'dep', '1.0.0', 'sha256:00', 'aks', 'aks-main', \
                '2026-01-01T10:00:00Z' \
           FROM generate_series(1, 3) e, generate_series(1, 4) s, unnest(ARRAY['', 'contoso', 'fabrikam']) t",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO runtime_inventory (opened_position, service_id, environment_id, tenant_id, deployment_id, \
            version, digest, valid_from, valid_to) \
         VALUES (1000, 'svc1', 'env1', 'contoso', 'old', '0.9.0', 'sha256:00', '2026-01-01T08:00:00Z', \
                 '2026-01-01T09:00:00Z')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let query = "query($after: String, $asOf: DateTime) { runtimeInventory(first: 7, after: $after, asOf: $asOf) { \
        edges { cursor node { environmentId serviceId tenantId version computeKind computeTarget until } } \
        pageInfo { hasNextPage endCursor } } }";
    let page_all = |headers: &'static [(&'static str, &'static str)], as_of: Option<String>| {
        let app = &app;
        async move {
            let (mut rows, mut after) = (Vec::new(), None::<String>);
            loop {
                let body = app.gql_with(query, json!({ "after": after, "asOf": as_of }), headers).await;
                assert!(body["errors"].is_null(), "{body}");
                let page = &body["data"]["runtimeInventory"];
                let edges = page["edges"].as_array().unwrap();
                assert!(edges.len() <= 7);
                rows.extend(edges.iter().map(|e| e["node"].clone()));
                if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                    return rows;
                }
                after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            }
        }
    };
    let all = page_all(&[], None).await;
    assert_eq!(all.len(), 36);
    let keys: Vec<(String, String, String)> = all
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            (s("environmentId"), s("serviceId"), s("tenantId"))
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "byte order, each row once");
    assert_eq!(all[0]["computeKind"], "AKS", "the GraphQL enum");
    assert_eq!(all[0]["computeTarget"], "aks-main");
    assert!(all.iter().all(|r| r["until"].is_null()));

    let contoso = page_all(&[("x-tenant-id", "contoso")], None).await;
    assert_eq!(contoso.len(), 24, "contoso's and shared rows");
    assert!(contoso.iter().all(|r| r["tenantId"].is_null() || r["tenantId"] == "contoso"));

    let then = page_all(&[], Some("2026-01-01T08:30:00Z".to_owned())).await;
    assert_eq!(then.len(), 1, "{then:?}");
    assert_eq!(then[0]["version"], "0.9.0");
    assert_eq!(then[0]["until"], "2026-01-01T09:00:00+00:00", "the end of the period that contained asOf");
}

/// Rule: a health record's history pages (newest first, by cursor) past any fixed bound, and
/// nested lists count in the complexity: a page of 200 services asking 200 placements each is
/// refused before it runs.
#[tokio::test]
async fn health_history_pages_and_nested_lists_count_in_complexity() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    sqlx::query(
        "INSERT INTO health_view (health_id, service_id, environment_id, tenant_id, status, since, last_sequence, updated_at) \
         VALUES ('h1', 'svc', 'env', '', 'healthy', now(), 1, now())",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO health_history (global_position, health_id, from_status, to_status, at) \
         SELECT n, 'h1', CASE WHEN n % 2 = 0 THEN 'degraded' ELSE 'healthy' END, \
                CASE WHEN n % 2 = 0 THEN 'healthy' ELSE 'degraded' END, now() \
           FROM generate_series(1, 75) n",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let query = "query($after: String) { healthStatus { edges { node { status history(first: 20, after: $after) { \
        edges { cursor node { globalPosition fromStatus toStatus } } pageInfo { hasNextPage endCursor } } } } } }";
    let (mut positions, mut after) = (Vec::new(), None::<String>);
    loop {
        let body = app.gql(query, json!({ "after": after })).await;
        assert!(body["errors"].is_null(), "{body}");
        let node = &body["data"]["healthStatus"]["edges"][0]["node"];
        assert_eq!(node["status"], "HEALTHY");
        let history = &node["history"];
        for edge in history["edges"].as_array().unwrap() {
            positions.push(edge["node"]["globalPosition"].as_i64().unwrap());
            assert!(["HEALTHY", "DEGRADED"].contains(&edge["node"]["toStatus"].as_str().unwrap()));
        }
        if !history["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = history["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(positions, (1..=75).rev().collect::<Vec<i64>>(), "all 75 changes, newest first, each once");

    let heavy = app
        .gql(
            "{ serviceCatalog(first: 200) { edges { node { name environments(first: 200) { environmentId } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(heavy["errors"][0]["message"], "Query is too complex.", "{heavy}");
    let heavy = app
        .gql("{ healthStatus(first: 200) { edges { node { history(first: 200) { edges { cursor } } } } } }", json!({}))
        .await;
    assert_eq!(heavy["errors"][0]["message"], "Query is too complex.", "{heavy}");
}

/// Rule: `minPosition` waiters are woken by the runner's progress: after a write, the
/// projection's runner publishes a checkpoint at or past the write's position once its batch
/// commits, and a query with that `minPosition` answers with the write.
#[tokio::test]
async fn min_position_waiters_wake_on_the_runners_progress() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let runner = app.platform.runners.iter().find(|r| r.name() == "environments").unwrap().clone();
    let mut progress = runner.progress();
    let created = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", "wake", "DEV") })).await;
    let position = created["data"]["requestEnvironment"]["position"].as_str().unwrap().to_owned();
    let target = commands::LogPosition::from_cursor(&position).unwrap();
    let reached = tokio::time::timeout(std::time::Duration::from_secs(30), progress.wait_for(|p| *p >= target)).await;
    assert!(reached.is_ok(), "the runner published its progress past {target}");
    let body = app
        .gql(
            "query($p: String) { environments(minPosition: $p) { edges { node { name } } } }",
            json!({ "p": position }),
        )
        .await;
    assert_eq!(body["data"]["environments"]["edges"][0]["node"]["name"], "wake", "{body}");
}
