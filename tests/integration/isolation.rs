//! The leak test. Rule: a tenant operator sees and changes nothing of another tenant, on any
//! path; a read-only role changes nothing at all; history is for the roles the table gives it.
//!
//! The schema decides what is tried: its root fields are read by introspection, every query,
//! mutation and subscription field is called with bearer tokens of each role, arguments are
//! generated from the fields' types and filled with the other tenant's ids (every one of its
//! aggregates, its trace, its tenant id), and the selection asks for every field the result
//! type has (three levels deep). For the tenant operator of contoso: nothing of fabrikam (its
//! aggregate ids, its trace, any of its strings) comes back in any `data`, and no event is
//! written. The check is shown to find fabrikam's data when a PlatformAdmin asks the same.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use commands::Role;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tests::world::{self, World};
use tests::{TestApp, TestDb};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const KEY: &[u8] = b"isolation-test-signing-key-0123456789";

fn key() -> identity::LocalKey {
    identity::LocalKey::new(KEY.to_vec(), "isolation-test", "runtime-platform").unwrap()
}

fn token(role: Role, tenants: &[&str]) -> String {
    let tenants: Vec<_> = tenants.iter().map(|t| domain::envelope::TenantId::parse(t).unwrap()).collect();
    identity::mint_local(
        &key(),
        &format!("{}-caller", role.as_str().to_lowercase()),
        &[role],
        &tenants,
        Duration::from_secs(600),
    )
    .unwrap()
}

fn config() -> graphql::ApiConfig {
    graphql::ApiConfig {
        auth: graphql::request_context::Authentication::Token(identity::Verifier::local(
            key(),
            identity::ClaimNames::default(),
        )),
        limits: graphql::executor::Limits { rate_per_second: None, ..Default::default() },
        introspection: true,
    }
}

const INTROSPECTION: &str = "{ __schema {
  queryType { name } mutationType { name } subscriptionType { name }
  types { name kind enumValues { name }
    fields { name args { name type { ...T } } type { ...T } }
    inputFields { name type { ...T } } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";

/// The schema as introspection describes it.
struct Schema {
    types: BTreeMap<String, Value>,
    roots: Vec<(&'static str, String)>,
}

/// A type reference with its wrappers: (named type, non-null, list).
fn unwrap(ty: &Value) -> (String, bool, bool) {
    let (mut t, mut non_null, mut list, mut first) = (ty, false, false, true);
    loop {
        match t["kind"].as_str() {
            Some("NON_NULL") => non_null |= first,
            Some("LIST") => list = true,
            _ => return (t["name"].as_str().unwrap_or_default().to_owned(), non_null, list),
        }
        first = false;
        t = &t["ofType"];
    }
}

impl Schema {
    async fn load(app: &TestApp, admin: &str) -> Self {
        let auth = format!("Bearer {admin}");
        let (status, body) = app.post(json!({ "query": INTROSPECTION }), &[("authorization", &auth)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let schema = &body["data"]["__schema"];
        let types: BTreeMap<String, Value> = schema["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
            .collect();
        let mut roots = Vec::new();
        for (kind, key) in [("query", "queryType"), ("mutation", "mutationType"), ("subscription", "subscriptionType")]
        {
            roots.push((kind, schema[key]["name"].as_str().unwrap().to_owned()));
        }
        Self { types, roots }
    }

    fn fields(&self, ty: &str) -> Vec<Value> {
        self.types[ty]["fields"].as_array().cloned().unwrap_or_default()
    }

    /// Every field of `ty` that takes no required argument, `depth` levels deep.
    fn selection(&self, ty: &str, depth: usize) -> String {
        let kind = self.types[ty]["kind"].as_str().unwrap_or_default();
        if !matches!(kind, "OBJECT" | "INTERFACE") {
            return String::new();
        }
        let mut parts = vec!["__typename".to_owned()];
        for field in self.fields(ty) {
            let required = field["args"].as_array().unwrap().iter().any(|a| unwrap(&a["type"]).1);
            if required {
                continue;
            }
            let name = field["name"].as_str().unwrap();
            let (inner, _, _) = unwrap(&field["type"]);
            match self.types[&inner]["kind"].as_str() {
                Some("SCALAR" | "ENUM") => parts.push(name.to_owned()),
                Some("OBJECT" | "INTERFACE") if depth > 0 => {
                    let sub = self.selection(&inner, depth - 1);
                    if !sub.is_empty() {
                        parts.push(format!("{name} {{ {sub} }}"));
                    }
                }
                _ => {}
            }
        }
        parts.join(" ")
    }
}

/// Values to try for one argument, given what fabrikam owns; `None`: leave it out.
fn candidates(schema: &Schema, name: &str, ty: &Value, fabrikam: &world::TenantData, required: bool) -> Vec<Value> {
    let (inner, _, list) = unwrap(ty);
    let foreign_ids: Vec<Value> = fabrikam.aggregates.values().map(|id| json!(id)).collect();
    let one = |v: Value| if list { json!([v]) } else { v };
    match (name, inner.as_str()) {
        ("first", _) => vec![json!(5)],
        ("tenantId", _) => vec![one(json!("fabrikam"))],
        ("traceId", _) => vec![json!(fabrikam.trace_id)],
        ("aggregateType", "String") => fabrikam.aggregates.keys().map(|t| json!(t)).collect(),
        (_, "ID") => foreign_ids.into_iter().map(one).collect(),
        _ if !required => vec![],
        (_, "String") => vec![one(json!("fabrikam-probe"))],
        (_, "Int") => vec![one(json!(1))],
        (_, "Float") => vec![one(json!(1.0))],
        (_, "Boolean") => vec![one(json!(true))],
        (_, "DateTime") => vec![one(json!("2026-01-01T00:00:00Z"))],
        (_, other) => match schema.types[other]["kind"].as_str() {
            Some("ENUM") => vec![one(json!(schema.types[other]["enumValues"][0]["name"]))],
            Some("INPUT_OBJECT") => vec![one(input_value(schema, other, fabrikam, 0))],
            _ => vec![],
        },
    }
}

/// A value of input type `ty` aimed at fabrikam: its tenant, its ids, plausible scalars.
fn input_value(schema: &Schema, ty: &str, fabrikam: &world::TenantData, depth: usize) -> Value {
    let mut object = serde_json::Map::new();
    for field in schema.types[ty]["inputFields"].as_array().cloned().unwrap_or_default() {
        let name = field["name"].as_str().unwrap();
        let (inner, required, list) = unwrap(&field["type"]);
        let value = match (name, inner.as_str()) {
            ("tenantId" | "tenant", _) => json!("fabrikam"),
            (_, "ID") => json!(fabrikam.id("RuntimeDeployment")),
            _ if !required => continue,
            (_, "String") => json!("fabrikam-probe"),
            (_, "Int") => json!(1),
            (_, "Float") => json!(1.0),
            (_, "Boolean") => json!(true),
            (_, "DateTime") => json!("2026-01-01T00:00:00Z"),
            (_, other) => match schema.types[other]["kind"].as_str() {
                Some("ENUM") => json!(schema.types[other]["enumValues"][0]["name"]),
                Some("INPUT_OBJECT") if depth < 4 => input_value(schema, other, fabrikam, depth + 1),
                _ => continue,
            },
        };
        object.insert(name.to_owned(), if list { json!([value]) } else { value });
    }
    Value::Object(object)
}

/// One call: a document and its variables.
struct Call {
    field: String,
    document: String,
    variables: Value,
}

/// Every call to try for the root fields of `operation` (one per candidate of each argument
/// that has several; the other arguments at their first candidate).
fn calls(schema: &Schema, operation: &str, root: &str, world: &World) -> Vec<Call> {
    let fabrikam = &world.tenants["fabrikam"];
    let mut calls = Vec::new();
    for field in schema.fields(root) {
        let name = field["name"].as_str().unwrap().to_owned();
        let (result, _, _) = unwrap(&field["type"]);
        let selection = schema.selection(&result, 3);
        let selection = if selection.is_empty() { String::new() } else { format!("{{ {selection} }}") };
        let args: Vec<(String, Value, Vec<Value>)> = field["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let (_, required, _) = unwrap(&a["type"]);
                let name = a["name"].as_str().unwrap().to_owned();
                let values = candidates(schema, &name, &a["type"], fabrikam, required);
                (name, a["type"].clone(), values)
            })
            .filter(|(_, _, values)| !values.is_empty())
            .collect();
        // Vary one argument at a time over its candidates.
        let widest = args.iter().map(|(_, _, v)| v.len()).max().unwrap_or(1).max(1);
        for i in 0..widest {
            let mut definitions = Vec::new();
            let mut uses = Vec::new();
            let mut variables = serde_json::Map::new();
            for (arg, ty, values) in &args {
                definitions.push(format!("${arg}: {}", type_text(ty)));
                uses.push(format!("{arg}: ${arg}"));
                variables.insert(arg.clone(), values[i % values.len()].clone());
            }
            let head = if definitions.is_empty() { String::new() } else { format!("({})", definitions.join(", ")) };
            let call_args = if uses.is_empty() { String::new() } else { format!("({})", uses.join(", ")) };
            calls.push(Call {
                field: name.clone(),
                document: format!("{operation}{head} {{ {name}{call_args} {selection} }}"),
                variables: Value::Object(variables),
            });
        }
    }
    calls
}

fn type_text(ty: &Value) -> String {
    match ty["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_text(&ty["ofType"])),
        Some("LIST") => format!("[{}]", type_text(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_owned(),
    }
}

/// Every trace of fabrikam in `value` (its ids, trace and strings), as found.
fn fabrikam_traces(value: &Value, world: &World) -> Vec<String> {
    let text = value.to_string();
    let fabrikam = &world.tenants["fabrikam"];
    let mut found: Vec<String> =
        fabrikam.aggregates.values().filter(|id| text.contains(id.as_str())).cloned().collect();
    if text.contains(&fabrikam.trace_id) {
        found.push(fabrikam.trace_id.clone());
    }
    if text.contains("fabrikam") {
        found.push("fabrikam".into());
    }
    found
}

async fn events(db: &TestDb) -> i64 {
    db.event_count().await
}

async fn call(app: &TestApp, token: &str, call: &Call) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    app.post(json!({ "query": call.document, "variables": call.variables }), &[("authorization", &auth)]).await
}

#[tokio::test]
async fn no_role_sees_or_changes_what_it_may_not_on_any_root_field() {
    let db = TestDb::new().await;
    let app = TestApp::start_with(db.pool.clone(), config()).await;
    let admin = token(Role::PlatformAdmin, &[]);
    let admin_auth = format!("Bearer {admin}");
    let world = world::build(&app, &[("authorization", &admin_auth)]).await;
    app.settle().await;
    let schema = Schema::load(&app, &admin).await;
    let operations: Vec<(&str, Vec<Call>)> =
        schema.roots.iter().map(|(op, root)| (*op, calls(&schema, op, root, &world))).collect();
    let fields: usize = schema.roots.iter().map(|(_, r)| schema.fields(r).len()).sum();
    assert!(fields > 80, "the whole schema is walked: {fields} root fields");

    // The detector finds fabrikam where a PlatformAdmin may see it (so it can fail).
    let mut seen_by_admin = 0;
    for c in &operations[0].1 {
        let (status, body) = call(&app, &admin, c).await;
        assert!(status.is_success(), "{}: {status} {body}", c.document);
        seen_by_admin += usize::from(!fabrikam_traces(&body["data"], &world).is_empty());
    }
    assert!(seen_by_admin > 15, "fabrikam's data is found in {seen_by_admin} admin queries");

    let contoso_operator = token(Role::TenantOperator, &["contoso"]);
    let before = events(&db).await;
    let mut refused = BTreeMap::<String, usize>::new();
    for (operation, calls) in &operations {
        if *operation == "subscription" {
            continue;
        }
        for c in calls {
            let (status, body) = call(&app, &contoso_operator, c).await;
            assert!(status.as_u16() < 500, "{}: {status} {body}", c.document);
            let leaked = fabrikam_traces(&body["data"], &world);
            assert!(leaked.is_empty(), "{} with {} shows fabrikam's {leaked:?}: {body}", c.document, c.variables);
            if *operation == "mutation" {
                assert!(
                    body["data"].is_null() || body["data"][&c.field].is_null(),
                    "{} as contoso's operator on fabrikam's ids succeeded: {body}",
                    c.document
                );
                let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_owned();
                *refused.entry(code).or_default() += 1;
            }
        }
    }
    assert_eq!(events(&db).await, before, "contoso's operator changed nothing, of fabrikam's or anyone's");
    println!("contoso's operator on fabrikam's ids, mutations refused by code: {refused:?}");
    assert!(
        refused.get("NOT_FOUND").copied().unwrap_or(0) > 30,
        "the bus, not only input parsing, refused: {refused:?}"
    );
    assert!(refused.get("FORBIDDEN").copied().unwrap_or(0) > 5, "{refused:?}");

    // Governance reads everything and changes nothing.
    let auditor = token(Role::GovernanceAuditor, &[]);
    for (operation, calls) in &operations {
        for c in calls.iter().filter(|_| *operation != "subscription") {
            let (status, body) = call(&app, &auditor, c).await;
            if *operation == "mutation" {
                assert_eq!(status, StatusCode::FORBIDDEN, "{}: {body}", c.document);
                assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
            } else {
                assert!(status.is_success(), "{}: {status} {body}", c.document);
            }
        }
    }
    assert_eq!(events(&db).await, before, "the auditor changed nothing");

    // History is the auditor's, the admin's and the tenant operator's; not the Control
    // Plane's nor a worker's. The integration edge's records (parked events, refused commands)
    // span every tenant: the Control Plane reads them (its own refusals), a worker does not.
    // Everything else they read.
    for role in [Role::ControlPlane, Role::Worker] {
        let t = token(role, &[]);
        for c in &operations[0].1 {
            let (status, body) = call(&app, &t, c).await;
            let history =
                matches!(c.field.as_str(), "auditLog" | "trace" | "aggregateHistory" | "causalChain" | "runtimeDiff")
                    || c.variables.get("asOf").is_some_and(|v| !v.is_null())
                    || c.variables.get("atVersion").is_some_and(|v| !v.is_null());
            let integration = matches!(c.field.as_str(), "parkedEvents" | "rejectedCommands");
            if history || (integration && role == Role::Worker) {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {}: {body}", c.document);
            } else {
                assert!(status.is_success(), "{role} {}: {status} {body}", c.document);
            }
        }
    }

    // Subscriptions over a real websocket: contoso's operator gets contoso's events and none
    // of fabrikam's; the Control Plane may not follow the log.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = app.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    // Every subscription with each of fabrikam's ids and tenant (at once: each listens 2 s):
    // nothing of fabrikam's reaches contoso's operator.
    let all = futures::future::join_all(operations[2].1.iter().map(|c| subscribe(address, &contoso_operator, c))).await;
    for (c, seen) in operations[2].1.iter().zip(&all) {
        let text = Value::Array(seen.clone());
        assert!(fabrikam_traces(&text, &world).is_empty(), "{}: {text}", c.document);
    }
    // The log streams (history) also carry contoso's own events, and are the Control Plane's
    // to be refused.
    let log_streams = ["events", "logEvents"].map(|field| Call {
        field: field.to_owned(),
        document: format!(
            "subscription($after: String) {{ {field}(after: $after) {{ aggregateId tenantId traceId }} }}"
        ),
        variables: json!({}),
    });
    for c in &log_streams {
        let seen = subscribe(address, &contoso_operator, c).await;
        let text = Value::Array(seen.clone());
        let contoso = &world.tenants["contoso"];
        assert!(
            contoso.aggregates.values().any(|id| text.to_string().contains(id.as_str())),
            "contoso's own events stream ({}): {text}",
            c.document
        );
        let refused = subscribe(address, &token(Role::ControlPlane, &[]), c).await;
        assert!(refused.iter().all(|m| m["data"].is_null()), "{refused:?}");
        assert_eq!(
            refused.first().and_then(|m| m["errors"][0]["extensions"]["code"].as_str()),
            Some("FORBIDDEN"),
            "{refused:?}"
        );
    }
    server.abort();
}

/// The payloads a subscription sends within a short while (or until it ends).
async fn subscribe(address: std::net::SocketAddr, token: &str, call: &Call) -> Vec<Value> {
    let mut request = format!("ws://{address}/graphql").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
    // From the start of the log: a subscription without a cursor delivers only what commits
    // after it joined, and the world is already written.
    let mut variables = call.variables.clone();
    if call.document.contains("$after") {
        variables["after"] = json!(commands::LogPosition::START.to_cursor());
    }
    let subscribe =
        json!({ "id": "1", "type": "subscribe", "payload": { "query": call.document, "variables": variables } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let mut payloads = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        let Ok(text) = message.to_text() else { break };
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        match value["type"].as_str() {
            Some("next") => payloads.push(value["payload"].clone()),
            Some("error") => payloads.push(json!({ "data": null, "errors": value["payload"] })),
            _ => break,
        }
    }
    payloads
}
