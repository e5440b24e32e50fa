//! Rules for the limits every document meets before it runs:
//! - with a persisted-query allow-list, only listed documents run, by text or by hash;
//! - with introspection off, `__schema` / `__type` are refused (and `__typename` still answers);
//! - an operation running past the timeout ends with `TIMEOUT`, and the server goes on.

use std::sync::Arc;
use std::time::Duration;

use graphql::executor::{Limits, PersistedQueries};
use graphql::request_context::Authentication;
use graphql::ApiConfig;
use serde_json::json;
use sha2::{Digest, Sha256};
use tests::{error_code, TestApp, TestDb};

fn config(limits: Limits, introspection: bool) -> ApiConfig {
    ApiConfig { auth: Authentication::Development, limits, introspection }
}

const LISTED: &str = "{ projections { name } }";

#[tokio::test]
async fn only_persisted_documents_run_when_a_list_is_configured() {
    let db = TestDb::new().await;
    let list = PersistedQueries::from_json(&json!([LISTED]).to_string()).unwrap();
    let limits = Limits { persisted_queries: Some(Arc::new(list)), ..Default::default() };
    let app = TestApp::start_with(db.pool.clone(), config(limits, true)).await;

    let listed = app.gql(LISTED, json!({})).await;
    assert!(listed["data"]["projections"].as_array().is_some_and(|p| !p.is_empty()), "{listed}");
    let other = app.gql("{ environments { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&other), Some("PERSISTED_QUERY_NOT_ALLOWED"), "{other}");

    let hash: String = Sha256::digest(LISTED.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let by_hash = app
        .post(json!({ "query": "", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } }), &[])
        .await
        .1;
    assert!(by_hash["data"]["projections"].is_array(), "{by_hash}");
    let unknown = app
        .post(json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "00".repeat(32) } } }), &[])
        .await
        .1;
    assert_eq!(error_code(&unknown), Some("PERSISTED_QUERY_NOT_FOUND"), "{unknown}");
    // A file mapping a hash to another document is refused at start.
    assert!(PersistedQueries::from_json(&json!({ "00": LISTED }).to_string()).is_err());
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let db = TestDb::new().await;
    let app = TestApp::start_with(db.pool.clone(), config(Limits::default(), false)).await;
    let schema = app.gql("{ __schema { queryType { name } } }", json!({})).await;
    assert!(schema["data"].is_null(), "{schema}");
    assert_eq!(error_code(&schema), Some("GRAPHQL_VALIDATION_FAILED"), "{schema}");
    let ty = app.gql("{ ... on QueryRoot { __type(name: \"QueryRoot\") { name } } }", json!({})).await;
    assert!(ty["data"].is_null(), "{ty}");
    assert!(ty["errors"][0]["message"].as_str().is_some_and(|m| m.contains("introspection")), "{ty}");
    let typename = app.gql("{ __typename }", json!({})).await;
    assert_eq!(typename["data"]["__typename"], "QueryRoot", "{typename}");
    // With it on (the default), GraphiQL gets the schema.
    let on = TestApp::start_with(db.pool.clone(), config(Limits::default(), true)).await;
    let schema = on.gql("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(schema["data"]["__schema"]["queryType"]["name"], "QueryRoot", "{schema}");
}

#[tokio::test]
async fn an_operation_past_the_timeout_ends_with_timeout() {
    let db = TestDb::new().await;
    let limits = Limits { timeout: Duration::from_secs(1), ..Default::default() };
    let app = TestApp::start_with(db.pool.clone(), config(limits, true)).await;
    // Waiting for a log position nobody wrote would take the 5 s read-your-writes limit.
    let far = commands::LogPosition { transaction_id: 1 << 40, global_position: 1 << 40 }.to_cursor();
    let started = std::time::Instant::now();
    let slow =
        app.gql("query($m: String) { auditLog(minPosition: $m) { edges { cursor } } }", json!({ "m": far })).await;
    assert_eq!(error_code(&slow), Some("TIMEOUT"), "{slow}");
    assert!(started.elapsed() < Duration::from_secs(4), "stopped at the timeout, not after the wait");
    let after = app.gql(LISTED, json!({})).await;
    assert!(after["data"]["projections"].is_array(), "{after}");
}
