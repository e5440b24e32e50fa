//! The release server against deeply nested documents, over real HTTP.
//!
//! "One request kills the server": a 4 KB unauthenticated POST nesting a list literal 2,000
//! deep overflowed a tokio worker's stack in the RELEASE build and aborted the process. The
//! in-process router of the other tests is no proof against that: frame sizes differ between
//! profiles, and an overflow aborts the test binary rather than failing one test. So this test
//! builds `runtime-platform` in release mode, serves it on loopback ports over a fresh database
//! (development mode: identity from headers), sends every kind of deep nesting (selections,
//! list and object literals, fragments, list types, variables' JSON) and, after each, checks
//! that the process is still running and a normal query still answers.
//!
//! Layout: `tests::server` builds the release binary (a no-op when up to date; a full release
//! build on a clean checkout, minutes on a small CI machine) and runs it (killed on drop);
//! [`cases`] (the documents), then the test.

use std::io::Write as _;
use std::time::{Duration, Instant};

use graphql::http::MAX_BODY_BYTES;
use serde_json::{json, Value};
use tests::server::{build_release_binary, Server};
use tests::{error_code, TestDb};

/// Writes one line to stderr bypassing the test harness's capture, so the CI log shows the
/// answer to each case even when the test passes without `--nocapture`.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "release_server: {line}");
}

/// POSTs `body` (JSON text) to `/graphql`; returns status and body. A dropped connection
/// fails the test, saying whether the process is gone.
async fn post(server: &mut Server, client: &reqwest::Client, case: &str, body: String) -> (reqwest::StatusCode, Value) {
    let answer = async {
        let response =
            client.post(&server.graphql).header("content-type", "application/json").body(body).send().await?;
        let status = response.status();
        Ok::<_, reqwest::Error>((status, response.bytes().await?))
    }
    .await;
    match answer {
        Ok((status, bytes)) => {
            let value =
                serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
            (status, value)
        }
        Err(e) => {
            // Give a crashing process a moment to be reaped, so the failure says it crashed.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let process = server.exited().unwrap_or_else(|| "still running".into());
            panic!("{case}: no answer ({e:?}); server process: {process}");
        }
    }
}

/// `{"query": document}` as JSON text.
fn query_body(document: &str) -> String {
    json!({ "query": document }).to_string()
}

/// The deep documents: (case, request body). Every body stays under the server's body limit
/// (checked in the test), so each reaches the GraphQL layer rather than the 413 path.
fn cases() -> Vec<(String, String)> {
    let list = |n: usize| format!("{{ __type(name: {}{}) {{ name }} }}", "[".repeat(n), "]".repeat(n));
    let object = |n: usize| format!("{{ __type(name: {}1{}) {{ name }} }}", "{x:".repeat(n), "}".repeat(n));
    let selections = |n: usize| format!("{}{}", "{a".repeat(n), "}".repeat(n));
    let fragments = |n: usize| {
        let mut document = String::from("{ ...f0 }");
        for i in 0..n - 1 {
            document.push_str(&format!(" fragment f{i} on QueryRoot {{ ...f{} }}", i + 1));
        }
        document.push_str(&format!(" fragment f{} on QueryRoot {{ __typename }}", n - 1));
        document
    };
    let list_type = |n: usize| format!("query($v: {}Int{}) {{ __typename }}", "[".repeat(n), "]".repeat(n));
    // Raw text: a serde_json::Value this deep would overflow our own stack when dropped.
    let variables = |n: usize| {
        format!(
            r#"{{"query": "query($v: [String]) {{ __typename }}", "variables": {{"v": {}{}}}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    vec![
        ("list literal 2,000 deep".into(), query_body(&list(2_000))),
        ("list literal 100,000 deep".into(), query_body(&list(100_000))),
        ("object literal 2,000 deep".into(), query_body(&object(2_000))),
        // 4 bytes a level: 100,000 levels would be 400 KB, over the 256 KiB body limit (a 413
        // that never reaches GraphQL); 65,000 levels is the deepest that fits.
        ("object literal 65,000 deep".into(), query_body(&object(65_000))),
        ("selections 2,000 deep".into(), query_body(&selections(2_000))),
        // 3 bytes a level: 80,000 fits under the body limit, 100,000 would not.
        ("selections 80,000 deep".into(), query_body(&selections(80_000))),
        ("fragment chain 2,000 long".into(), query_body(&fragments(2_000))),
        ("variable list type 2,000 deep".into(), query_body(&list_type(2_000))),
        ("variable list type 100,000 deep".into(), query_body(&list_type(100_000))),
        ("variables' JSON 2,000 deep".into(), variables(2_000)),
        ("variables' JSON 100,000 deep".into(), variables(100_000)),
    ]
}

/// A normal query still answers: 200 and a non-empty `data.projections`.
async fn assert_still_answers(server: &mut Server, client: &reqwest::Client, after: &str) {
    let (status, body) = post(server, client, after, query_body("{ projections { name } }")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "after {after}: a normal query got {status}: {body}");
    let names = body["data"]["projections"].as_array();
    assert!(names.is_some_and(|p| !p.is_empty()), "after {after}: a normal query got {body}");
}

#[tokio::test]
async fn no_nesting_however_deep_brings_down_the_release_server() {
    let binary = build_release_binary();
    let db = TestDb::new().await;
    let started = Instant::now();
    let mut server = Server::start(&binary, &db.url);
    // No pooling: every request on a fresh connection, so a dropped connection is this
    // request's answer, never a stale pooled socket.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client");
    server.wait_ready(&client).await;
    assert_still_answers(&mut server, &client, "start").await;

    for (case, body) in cases() {
        let bytes = body.len();
        assert!(bytes < MAX_BODY_BYTES, "{case}: {bytes} bytes is over the body limit; make it smaller");
        let (status, answer) = post(&mut server, &client, &case, body).await;
        let code = error_code(&answer).map(str::to_owned);
        report(&format!("{case} ({bytes} bytes): {status} {}", code.as_deref().unwrap_or("-")));
        assert!(!status.is_server_error(), "{case}: {status}: {answer}");
        assert!(
            status.is_client_error() || (status == reqwest::StatusCode::OK && code.is_some()),
            "{case}: expected a 4xx or a 200 with errors[0].extensions.code, got {status}: {answer}"
        );
        if let Some(status) = server.exited() {
            panic!("{case}: the server process ended: {status}");
        }
        assert_still_answers(&mut server, &client, &case).await;
    }
    report(&format!("server part took {:.1?}", started.elapsed()));
}
