//! `GET /audit/export` over a real socket: its rows are the `auditLog` query's rows for the
//! same caller and filters, in both formats, whatever the size; the time range is `[from, to)`;
//! tenant operators export nothing of another tenant; refusals are the API's JSON errors.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::Role;
use serde_json::{json, Value};
use tests::world;
use tests::{environment_input, TestApp, TestDb, REQUEST_ENVIRONMENT};

const AUDIT: &str = "query($from: DateTime, $to: DateTime, $actor: String, $role: String, $tenant: String, $types: [String!], $after: String) {
  auditLog(from: $from, to: $to, actor: $actor, actorRole: $role, tenantId: $tenant, eventTypes: $types, first: 200, after: $after) {
    edges { cursor node { globalPosition eventId aggregateType aggregateId sequence eventType tenantId actor actorRole traceId recordedAt } }
    pageInfo { hasNextPage endCursor } } }";

/// The fields the export and the query share, keyed as the export names them.
const SHARED: [&str; 11] = [
    "globalPosition",
    "eventId",
    "aggregateType",
    "aggregateId",
    "sequence",
    "eventType",
    "tenantId",
    "actor",
    "actorRole",
    "traceId",
    "recordedAt",
];

/// Every row `auditLog` returns to the caller of `headers` for `variables`, page after page,
/// as `{position, <SHARED>}` objects.
async fn audit_log(app: &TestApp, headers: &[(&str, &str)], variables: Value) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut after = Value::Null;
    loop {
        let mut vars = variables.clone();
        vars["after"] = after;
        let response = app.gql_with(AUDIT, vars, headers).await;
        assert!(response["errors"].is_null(), "{response}");
        let page = &response["data"]["auditLog"];
        for edge in page["edges"].as_array().unwrap() {
            let mut row = json!({ "position": edge["cursor"] });
            for key in SHARED {
                row[key] = edge["node"][key].clone();
            }
            rows.push(row);
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return rows;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// An export's answer: status, headers, body.
struct Download {
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Download {
    /// The NDJSON lines as JSON.
    fn lines(&self) -> Vec<Value> {
        assert_eq!(self.status, reqwest::StatusCode::OK, "{}", self.body);
        self.body.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    /// The CSV rows as JSON objects like the NDJSON lines (an empty cell is null; numbers and
    /// the payload parsed), read with the `csv` crate.
    fn csv_rows(&self) -> Vec<Value> {
        assert_eq!(self.status, reqwest::StatusCode::OK, "{}", self.body);
        let mut reader = csv::Reader::from_reader(self.body.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header, graphql::export::COLUMNS, "the header row");
        reader
            .records()
            .map(|record| {
                let record = record.unwrap();
                let mut row = json!({});
                for (key, cell) in header.iter().zip(record.iter()) {
                    row[key] = match (key.as_str(), cell) {
                        (_, "") => Value::Null,
                        ("globalPosition" | "sequence", n) => json!(n.parse::<i64>().unwrap()),
                        ("payload", text) => serde_json::from_str(text).unwrap(),
                        (_, text) => json!(text),
                    };
                }
                row
            })
            .collect()
    }

    /// The `extensions.code` of a JSON refusal.
    fn code(&self) -> String {
        let body: Value = serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body));
        body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

async fn download(addr: SocketAddr, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Download {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut request = client.get(format!("http://{addr}/audit/export")).query(query);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    Download { status, headers, body: response.text().await.unwrap() }
}

/// The exported rows reduced to what `auditLog` also says.
fn shared(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let mut row = json!({ "position": r["position"] });
            for key in SHARED {
                row[key] = r[key].clone();
            }
            row
        })
        .collect()
}

fn at(row: &Value) -> DateTime<Utc> {
    row["recordedAt"].as_str().unwrap().parse().unwrap()
}

const LONG_AGO: &str = "2020-01-01T00:00:00Z";

#[tokio::test]
async fn the_export_is_the_audit_log_query_in_ndjson_and_csv_with_payloads() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let world = world::build(&app, &[]).await;
    app.settle().await;
    let addr = tests::ws_client::serve(app.router.clone()).await;

    let expected = audit_log(&app, &[], json!({ "from": LONG_AGO })).await;
    assert_eq!(expected.len() as i64, db.event_count().await, "the world is in the audit log");
    let ndjson = download(addr, &[("from", LONG_AGO)], &[]).await;
    assert_eq!(ndjson.headers["content-type"], "application/x-ndjson");
    let disposition = ndjson.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"audit-20200101T000000Z-"), "{disposition}");
    let lines = ndjson.lines();
    assert_eq!(shared(&lines), expected);
    // The envelope's ids and the payload are the log's.
    for line in &lines {
        let (payload, correlation, causation): (Value, Option<String>, Option<String>) = sqlx::query_as(
            "SELECT payload, metadata ->> 'correlation_id', metadata ->> 'causation_id' FROM events WHERE event_id = $1::uuid",
        )
        .bind(line["eventId"].as_str().unwrap())
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(line["payload"], payload);
        assert_eq!(line["correlationId"].as_str(), correlation.as_deref());
        assert_eq!(line["causationId"].as_str(), causation.as_deref());
        assert!(line["correlationId"].is_string(), "every command records a correlation id: {line}");
    }

    // CSV: the same rows and columns; the payload only when asked for.
    let csv = download(addr, &[("from", LONG_AGO), ("format", "csv"), ("payload", "true")], &[]).await;
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(csv.csv_rows(), lines);
    let bare = download(addr, &[("from", LONG_AGO), ("format", "csv")], &[]).await.csv_rows();
    assert!(bare.iter().all(|r| r["payload"].is_null()) && shared(&bare) == expected);
    let no_payload = download(addr, &[("from", LONG_AGO), ("payload", "false")], &[]).await.lines();
    assert!(no_payload.iter().all(|r| r.get("payload").is_none()) && shared(&no_payload) == expected);

    // Filters mean what the query's mean.
    let contoso = &world.tenants["contoso"];
    let filtered = download(
        addr,
        &[
            ("from", LONG_AGO),
            ("tenantId", "contoso"),
            ("eventType", "TenantBound,RuntimeDriftDetected"),
            ("actorRole", "platform-admin"),
            ("actor", "user:developer"),
        ],
        &[],
    )
    .await
    .lines();
    let query = audit_log(
        &app,
        &[],
        json!({ "from": LONG_AGO, "tenant": "contoso", "types": ["TenantBound", "RuntimeDriftDetected"], "role": "PlatformAdmin", "actor": "user:developer" }),
    )
    .await;
    assert_eq!(filtered.len(), 2, "{filtered:?}");
    assert_eq!(shared(&filtered), query);
    let drift = download(addr, &[("from", LONG_AGO), ("aggregateType", "DriftFinding")], &[]).await.lines();
    assert!(!drift.is_empty() && drift.iter().all(|r| r["aggregateType"] == "DriftFinding"));
    assert!(drift.iter().any(|r| r["aggregateId"] == contoso.id("DriftFinding")));

    // Read-your-writes: minPosition waits for the audit projection, as in the query.
    let written = app.gql(REQUEST_ENVIRONMENT, json!({ "input": environment_input("shop", "late", "DEV") })).await
        ["data"]["requestEnvironment"]
        .clone();
    let min = written["position"].as_str().unwrap();
    let after_write = download(addr, &[("from", LONG_AGO), ("minPosition", min)], &[]).await.lines();
    assert!(after_write.iter().any(|r| r["aggregateId"] == written["aggregateId"]), "the caller's own write is in");
    let garbage = download(addr, &[("from", LONG_AGO), ("minPosition", "garbage")], &[]).await;
    assert_eq!((garbage.status.as_u16(), garbage.code().as_str()), (400, "INVALID_INPUT"));
}

#[tokio::test]
async fn the_range_is_from_inclusive_to_exclusive_and_bad_parameters_are_refused() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    world::build(&app, &[]).await;
    app.settle().await;
    let addr = tests::ws_client::serve(app.router.clone()).await;
    let all = download(addr, &[("from", LONG_AGO)], &[]).await.lines();
    let middle = all[all.len() / 2]["recordedAt"].as_str().unwrap().to_owned();
    let t: DateTime<Utc> = middle.parse().unwrap();

    let since = download(addr, &[("from", &middle)], &[]).await.lines();
    let before = download(addr, &[("from", LONG_AGO), ("to", &middle)], &[]).await.lines();
    assert_eq!(since, all.iter().filter(|r| at(r) >= t).cloned().collect::<Vec<_>>(), "from is inclusive");
    assert_eq!(before, all.iter().filter(|r| at(r) < t).cloned().collect::<Vec<_>>(), "to is exclusive");
    assert!(!since.is_empty() && !before.is_empty());
    assert_eq!(shared(&since), audit_log(&app, &[], json!({ "from": middle })).await);
    assert_eq!(shared(&before), audit_log(&app, &[], json!({ "from": LONG_AGO, "to": middle })).await);
    // A range with nothing in it: an empty download, and a CSV of just its header.
    let empty = download(addr, &[("from", "2021-01-01T00:00:00Z"), ("to", "2021-01-02T00:00:00Z")], &[]).await;
    assert_eq!((empty.status.as_u16(), empty.body.as_str()), (200, ""));
    let header_only =
        download(addr, &[("from", "2021-01-01T00:00:00Z"), ("to", "2021-01-02T00:00:00Z"), ("format", "csv")], &[])
            .await;
    assert_eq!(header_only.body.trim_end(), graphql::export::COLUMNS.join(","));

    for bad in [
        vec![("from", "yesterday")],
        vec![],
        vec![("from", &middle), ("to", &middle)],
        vec![("from", LONG_AGO), ("format", "xml")],
        vec![("from", LONG_AGO), ("actorRole", "root")],
        vec![("from", LONG_AGO), ("form", "typo")],
    ] {
        let refused = download(addr, &bad, &[]).await;
        assert_eq!(refused.status.as_u16(), 400, "{bad:?}: {}", refused.body);
        assert_eq!(refused.code(), "INVALID_INPUT", "{bad:?}");
        assert_eq!(refused.headers["content-type"], "application/json");
    }
}

/// More rows than any page of the query: complete, in log order, without a duplicate, across
/// several of the export's batches.
#[tokio::test]
async fn a_large_export_is_complete_and_in_log_order() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let environments = (graphql::export::BATCH_ROWS as usize * 2 + 500) / 3;
    let bus = app.bus();
    for chunk in (0..environments).collect::<Vec<_>>().chunks(16) {
        futures::future::join_all(
            chunk.iter().map(|i| async move { tests::drive::ready_environment(bus, &format!("env-{i}")).await }),
        )
        .await;
    }
    app.settle().await;
    let addr = tests::ws_client::serve(app.router.clone()).await;
    let log_order: Vec<String> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT transaction_id, global_position FROM audit_log ORDER BY transaction_id, global_position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(t, p)| commands::LogPosition { transaction_id: t, global_position: p }.to_cursor())
    .collect();
    assert!(log_order.len() > 2 * graphql::export::BATCH_ROWS as usize, "{} events", log_order.len());
    assert_eq!(log_order.len() as i64, db.event_count().await);

    let lines = download(addr, &[("from", LONG_AGO)], &[]).await.lines();
    let exported: Vec<String> = lines.iter().map(|l| l["position"].as_str().unwrap().to_owned()).collect();
    assert_eq!(exported, log_order, "every event once, in log order");
    let csv = download(addr, &[("from", LONG_AGO), ("format", "csv")], &[]).await.csv_rows();
    assert_eq!(csv.iter().map(|r| r["position"].as_str().unwrap()).collect::<Vec<_>>(), exported);
    assert_eq!(shared(&lines), audit_log(&app, &[], json!({ "from": LONG_AGO })).await);
    // A filter that matches a third of the rows: batches with few matches still move on.
    let last_type = lines.last().unwrap()["eventType"].as_str().unwrap().to_owned();
    let of_type: Vec<String> = lines
        .iter()
        .filter(|l| l["eventType"] == last_type.as_str())
        .map(|l| l["position"].as_str().unwrap().to_owned())
        .collect();
    let filtered = download(addr, &[("from", LONG_AGO), ("eventType", &last_type)], &[]).await.lines();
    assert_eq!(filtered.iter().map(|l| l["position"].as_str().unwrap()).collect::<Vec<_>>(), of_type);
    assert!(of_type.len() > graphql::export::BATCH_ROWS as usize / 2);
}

const KEY: &[u8] = b"audit-export-test-signing-key-0123456789";

fn key() -> identity::LocalKey {
    identity::LocalKey::new(KEY.to_vec(), "audit-export-test", "runtime-platform").unwrap()
}

fn token(role: Role, tenants: &[&str]) -> String {
    let tenants: Vec<_> = tenants.iter().map(|t| domain::envelope::TenantId::parse(t).unwrap()).collect();
    let subject = format!("{}-caller", role.as_str().to_lowercase());
    identity::mint_local(&key(), &subject, &[role], &tenants, Duration::from_secs(600)).unwrap()
}

fn token_config(rate_per_second: Option<NonZeroU32>) -> graphql::ApiConfig {
    graphql::ApiConfig {
        auth: graphql::request_context::Authentication::Token(identity::Verifier::local(
            key(),
            identity::ClaimNames::default(),
        )),
        limits: graphql::executor::Limits { rate_per_second, burst: NonZeroU32::new(2).unwrap(), ..Default::default() },
        introspection: true,
    }
}

#[tokio::test]
async fn callers_export_what_the_audit_log_query_shows_them_and_are_refused_as_it_refuses() {
    let db = TestDb::new().await;
    let app = TestApp::start_with(db.pool.clone(), token_config(None)).await;
    let admin = format!("Bearer {}", token(Role::PlatformAdmin, &[]));
    let world = world::build(&app, &[("authorization", &admin)]).await;
    app.settle().await;
    let addr = tests::ws_client::serve(app.router.clone()).await;
    let from = [("from", LONG_AGO)];

    // contoso's operator: contoso's events and platform-wide ones, exactly the query's rows.
    let contoso = format!("Bearer {}", token(Role::TenantOperator, &["contoso"]));
    let as_contoso = [("authorization", contoso.as_str())];
    let seen = download(addr, &from, &as_contoso).await.lines();
    assert_eq!(shared(&seen), audit_log(&app, &as_contoso, json!({ "from": LONG_AGO })).await);
    assert!(seen.iter().any(|r| r["tenantId"] == "contoso"), "its own tenant's events");
    assert!(seen.iter().any(|r| r["tenantId"].is_null()), "platform-wide events");
    let fabrikam = &world.tenants["fabrikam"];
    let text = serde_json::to_string(&seen).unwrap();
    assert!(!text.contains("fabrikam"), "nothing of fabrikam's: {text}");
    assert!(fabrikam.aggregates.values().all(|id| !text.contains(id.as_str())));
    // Asking for fabrikam by name: what the query answers, which is nothing.
    let asked = download(addr, &[("from", LONG_AGO), ("tenantId", "fabrikam")], &as_contoso).await.lines();
    let query = audit_log(&app, &as_contoso, json!({ "from": LONG_AGO, "tenant": "fabrikam" })).await;
    assert!(asked.is_empty() && query.is_empty());
    // The auditor sees both tenants.
    let auditor = format!("Bearer {}", token(Role::GovernanceAuditor, &[]));
    let everything = download(addr, &from, &[("authorization", &auditor)]).await.lines();
    assert_eq!(everything.len() as i64, db.event_count().await);

    // Roles the table gives no history: 403, as auditLog answers them.
    for role in [Role::ControlPlane, Role::Worker] {
        let bearer = format!("Bearer {}", token(role, &[]));
        let refused = download(addr, &from, &[("authorization", &bearer)]).await;
        assert_eq!((refused.status.as_u16(), refused.code().as_str()), (403, "FORBIDDEN"), "{role}: {}", refused.body);
        let (status, body) =
            app.post(json!({ "query": "{ auditLog { edges { cursor } } }" }), &[("authorization", &bearer)]).await;
        assert_eq!((status.as_u16(), tests::error_code(&body)), (403, Some("FORBIDDEN")), "the query agrees");
    }
    // No token, or a bad one: 401 with the challenge.
    for headers in [vec![], vec![("authorization", "Bearer not-a-token")]] {
        let refused = download(addr, &from, &headers).await;
        assert_eq!((refused.status.as_u16(), refused.code().as_str()), (401, "UNAUTHENTICATED"), "{}", refused.body);
        assert_eq!(refused.headers["www-authenticate"], "Bearer");
    }
    // Development headers are not identity in token mode.
    let refused = download(addr, &from, &[("x-roles", "PlatformAdmin")]).await;
    assert_eq!(refused.status.as_u16(), 401);
}

#[tokio::test]
async fn an_export_passes_the_callers_rate_limiter() {
    let db = TestDb::new().await;
    let app = TestApp::start_with(db.pool.clone(), token_config(NonZeroU32::new(1))).await;
    let addr = tests::ws_client::serve(app.router.clone()).await;
    let auditor = format!("Bearer {}", token(Role::GovernanceAuditor, &[]));
    let headers = [("authorization", auditor.as_str())];
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(download(addr, &[("from", LONG_AGO)], &headers).await);
    }
    assert_eq!(statuses[0].status.as_u16(), 200);
    let limited = statuses.iter().find(|d| d.status.as_u16() == 429).expect("the burst of 2 is spent");
    assert_eq!(limited.code(), "RATE_LIMITED");
    assert!(limited.headers.contains_key("retry-after"));
}
