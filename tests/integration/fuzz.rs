//! 10,000 random GraphQL requests through the real router: none panics, none gets a 5xx,
//! every error is typed (a stable `extensions.code` from the API's set, never `INTERNAL`), and
//! no message shows internal text (driver, SQL, panic, source locations).
//!
//! The cases are generated up front with proptest's strategies and a deterministic RNG (the
//! same 10,000 on every run; XorShift, as ChaCha takes four times as long in a debug build),
//! then sent in-process a few at a time, each in a task of its own: token soups assembled from
//! GraphQL's punctuation, keywords and the schema's own field and argument names; well-formed
//! documents over real root fields with random argument values (escapes, NUL, crafted cursors,
//! extreme numbers, the id of a seeded environment); deep selections, lists and variables;
//! random `operationName`, `Accept`, roles and tenants; then a few hand-written hostile
//! documents. Every violation is recorded, and the shortest request of each kind (code and
//! field) is printed before the test fails.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use graphql::executor::Limits;
use graphql::request_context::Authentication;
use graphql::ApiConfig;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use tests::{environment_input, TestApp, TestDb};
use tower::ServiceExt;

/// How many random requests are sent.
const CASES: usize = 10_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 4;
/// Longest any one request may take to be answered.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// Every `extensions.code` the API gives (graphql/src/error.rs, executor.rs,
/// projection_status.rs and commands/src/error.rs), `INTERNAL` excepted: a client must never
/// see it for anything it can send.
const KNOWN_CODES: [&str; 20] = [
    "INVALID_INPUT",
    "NOT_FOUND",
    "FORBIDDEN",
    "UNAUTHENTICATED",
    "RATE_LIMITED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "NOT_ACCEPTABLE",
    "METHOD_NOT_ALLOWED",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_ALLOWED",
    "TIMEOUT",
    "INVALID_TRANSITION",
    "INVARIANT_VIOLATED",
    "ALREADY_EXISTS",
    "CONCURRENCY_CONFLICT",
    "IDEMPOTENCY_KEY_REUSED",
    "PROJECTION_LAG",
];

/// Text that only internals produce (compared case-insensitively), unless the request itself
/// contains it (messages may quote the document).
const LEAKS: [&str; 11] = [
    "sqlx",
    "postgres",
    "sqlstate",
    "panicked",
    "relation \"",
    "syntax error at",
    "thread '",
    ".rs:",
    "error returned from database",
    "invalid byte sequence",
    "stack backtrace",
];

/// An environment the run creates and starts provisioning first (client-chosen id), so that
/// commands on it reach the domain and the store rather than stopping at `NOT_FOUND`.
const SEEDED_ENVIRONMENT: &str = "7d0f3c8e-5b1a-4c2e-9f3a-1b2c3d4e5f60";

const ROLES: [&str; 5] = ["PlatformAdmin", "TenantOperator", "ControlPlane", "GovernanceAuditor", "Worker"];

/// Root fields of the schema (queries, mutations, the subscription), introspection included.
const ROOT_FIELDS: [&str; 40] = [
    "environments",
    "environment",
    "auditLog",
    "trace",
    "aggregateHistory",
    "projections",
    "service",
    "serviceCatalog",
    "runtimeInventory",
    "deployment",
    "deployments",
    "configuration",
    "secretBinding",
    "tenantBinding",
    "scalingPolicy",
    "health",
    "healthStatus",
    "driftFinding",
    "driftFindings",
    "driftCounts",
    "logEvents",
    "__schema",
    "__type",
    "__typename",
    "requestEnvironment",
    "recordProvisioningStarted",
    "recordProvisioningSucceeded",
    "markEnvironmentDegraded",
    "decommissionEnvironment",
    "registerService",
    "startDeployment",
    "recordHealthGateResult",
    "createConfiguration",
    "proposeConfigurationVersion",
    "bindSecret",
    "bindTenant",
    "changeTenantQuota",
    "defineScalingPolicy",
    "resolveDrift",
    "acceptDrift",
];

const ARGUMENTS: [&str; 24] = [
    "id",
    "first",
    "after",
    "stage",
    "asOf",
    "atVersion",
    "minPosition",
    "traceId",
    "aggregateType",
    "aggregateId",
    "actor",
    "actorRole",
    "tenantId",
    "eventTypes",
    "from",
    "to",
    "product",
    "status",
    "environmentId",
    "serviceId",
    "input",
    "options",
    "reason",
    "name",
];

const SUBFIELDS: [&str; 16] = [
    "edges",
    "node",
    "nodes",
    "cursor",
    "pageInfo",
    "hasNextPage",
    "id",
    "name",
    "status",
    "version",
    "eventType",
    "aggregateId",
    "types",
    "fields",
    "__typename",
    "events",
];

const PUNCTUATION: [&str; 19] =
    ["{", "}", "(", ")", "[", "]", ":", "$", "...", "@", "!", "=", ",", "\"", "\"\"\"", "#", "|", "&", "\n"];

const KEYWORDS: [&str; 14] = [
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "true",
    "false",
    "null",
    "DEV",
    "PROD",
    "AKS",
    "@skip(if: true)",
    "@include(if: $v)",
    "@deprecated",
];

/// A string strategy from a regex, compiled once (a `&str` strategy compiles it per value).
fn re(regex: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(regex).expect("a valid regex")
}

/// Pieces of GraphQL string literals, escapes and traps included.
fn string_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        re("[a-z0-9 _-]{0,12}"),
        Just("\\u0000".to_owned()),
        Just("\\n".to_owned()),
        Just("\\\"".to_owned()),
        Just("\\\\".to_owned()),
        Just("\\uD800".to_owned()),
        Just("\\uDBFF\\uDFFF".to_owned()),
        Just("\\u{1F600}".to_owned()),
        Just("\\x41".to_owned()),
        Just("\\".to_owned()),
        Just("'; DROP TABLE events; --".to_owned()),
        Just("%s%n{0}".to_owned()),
        any::<char>().prop_map(|c| c.to_string()),
        re(".{0,6}"),
    ]
}

/// A GraphQL string literal (sometimes unterminated, sometimes a block string).
fn string_literal() -> impl Strategy<Value = String> {
    (prop::collection::vec(string_piece(), 0..5), 0..10u8).prop_map(|(pieces, shape)| {
        let inner = pieces.concat();
        match shape {
            0 => format!("\"{inner}"),
            1 => format!("\"\"\"{inner}\"\"\""),
            _ => format!("\"{inner}\""),
        }
    })
}

/// Cursors and ids a client could craft: base64 of the server's own cursor formats with
/// hostile contents, uuids, trace ids, dates.
fn crafted_string() -> impl Strategy<Value = String> {
    let raw = prop_oneof![
        Just("key:[\"\\u0000\"]".to_owned()),
        Just("key:[]".to_owned()),
        Just("key:[\"a\",\"b\",\"c\"]".to_owned()),
        Just("key:[\"2020\",\"x\"]".to_owned()),
        Just("key:[\"99999999999999999999\",\"x\"]".to_owned()),
        Just("key:[\"-9223372036854775808\",\"\\u0000\"]".to_owned()),
        Just("seq:-1".to_owned()),
        Just("seq:9223372036854775807".to_owned()),
        Just("seq:99999999999999999999".to_owned()),
        Just("0:0".to_owned()),
        Just("-1:0".to_owned()),
        "key:\\[\"[a-z\\\\]{0,6}\"\\]",
    ];
    let cursor = raw.prop_map(|r| base64_url(r.as_bytes()));
    prop_oneof![
        3 => cursor,
        3 => Just(SEEDED_ENVIRONMENT.to_owned()),
        1 => Just("3f2504e0-4f89-11d3-9a0c-0305e82c3301".to_owned()),
        1 => Just("00000000-0000-0000-0000-000000000000".to_owned()),
        1 => Just("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
        1 => Just("2020-01-01T00:00:00Z".to_owned()),
        1 => Just("0001-01-01T00:00:00Z".to_owned()),
        1 => Just("9999-12-31T23:59:59.999999999+14:00".to_owned()),
        1 => Just("RuntimeEnvironment".to_owned()),
        1 => Just("PlatformAdmin".to_owned()),
        1 => Just("contoso".to_owned()),
    ]
    .prop_map(|s| format!("\"{s}\""))
}

/// Base64url without padding, as the server's cursors are encoded.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A number as GraphQL text: small, at the edges of Int, beyond them, floats.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (-3i64..300).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "9223372036854775808",
            "1e400",
            "-0",
            "0.0",
            "1.5e-400",
            "00",
            "1e",
            "0x10",
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
    ]
}

/// A GraphQL input value (nested lists and objects, variables, enums).
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => number(),
        3 => string_literal(),
        3 => crafted_string(),
        1 => prop::sample::select(vec!["true", "false", "null", "DEV", "PROD", "AKS", "NOPE", "$v", "$input"])
            .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(6, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((prop::sample::select(ARGUMENTS.to_vec()), inner), 0..4).prop_map(|fields| {
                let fields: Vec<String> = fields.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    })
}

/// A selection set over names of the schema's types, nested a little.
fn selection() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(SUBFIELDS.to_vec()).prop_map(str::to_owned);
    leaf.prop_recursive(4, 16, 3, |inner| {
        (prop::sample::select(SUBFIELDS.to_vec()), prop::collection::vec(inner, 1..4))
            .prop_map(|(name, items)| format!("{name} {{ {} }}", items.join(" ")))
    })
}

/// A root field with random arguments and selection.
fn field() -> impl Strategy<Value = String> {
    (
        prop::option::of(re("[a-z]{1,4}")),
        prop::sample::select(ROOT_FIELDS.to_vec()),
        prop::collection::vec((prop::sample::select(ARGUMENTS.to_vec()), value()), 0..4),
        prop::option::of(selection()),
    )
        .prop_map(|(alias, name, arguments, selection)| {
            let alias = alias.map(|a| format!("{a}: ")).unwrap_or_default();
            let arguments = if arguments.is_empty() {
                String::new()
            } else {
                let arguments: Vec<String> = arguments.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("({})", arguments.join(", "))
            };
            let selection = selection.map(|s| format!(" {{ {s} }}")).unwrap_or_default();
            format!("{alias}{name}{arguments}{selection}")
        })
}

/// Well-formed-looking documents over real root fields.
fn shaped_document() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "query", "query Q", "mutation", "mutation M", "subscription S", "query Q2"]),
        prop::option::of(Just("($v: Boolean = true, $input: RequestEnvironmentInput, $t: DateTime, $n: Int)")),
        prop::collection::vec(field(), 1..4),
        prop::option::of(Just(" fragment F on QueryRoot { __typename ...F }")),
    )
        .prop_map(|(operation, variables, fields, fragment)| {
            let head =
                if operation.is_empty() { String::new() } else { format!("{operation}{} ", variables.unwrap_or("")) };
            format!("{head}{{ {} }}{}", fields.join(" "), fragment.unwrap_or(""))
        })
}

/// A string literal GraphQL accepts, with hostile contents (NUL, quotes, escapes, unicode).
fn valid_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        re("[a-z0-9 _-]{0,12}"),
        Just("\\u0000".to_owned()),
        Just("\\n".to_owned()),
        Just("\\\"".to_owned()),
        Just("\\\\".to_owned()),
        Just("\\uDBFF\\uDFFF".to_owned()),
        Just("'; DROP TABLE events; --".to_owned()),
        Just("%s%n{0}".to_owned()),
        re("[^\"\\\\\\x00-\\x1f]{0,6}"),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

/// Real queries and mutations over the read models and the log, each argument position
/// filled with `null` (most are optional), a value of the argument's type with hostile
/// contents, or anything at all: about a third of them pass validation and run.
fn real_document() -> impl Strategy<Value = String> {
    // Markers: $0 an Int, $1 a String or ID, $2 a Stage, $3 a DateTime.
    const TEMPLATES: [&str; 20] = [
        "{ environments(first: $0, after: $1, stage: $2, minPosition: $1) { edges { cursor node { id name status version } } pageInfo { hasNextPage endCursor } } }",
        "{ environment(id: $1, asOf: $3, atVersion: $0) { id name status } }",
        "{ auditLog(first: $0, after: $1, actor: $1, actorRole: $1, tenantId: $1, eventTypes: [$1], from: $3, to: $3) { edges { node { eventType actor } } } }",
        "{ trace(traceId: $1, first: $0, after: $1) { edges { node { eventType } } } }",
        "{ aggregateHistory(aggregateType: $1, aggregateId: $1, first: $0, after: $1) { edges { node { eventType } } } }",
        "{ serviceCatalog(first: $0, after: $1, product: $1, status: $1) { edges { node { name environments { tenantId } } } } }",
        "{ runtimeInventory(asOf: $3, tenantId: $1, environmentId: $1, first: $0, after: $1) { edges { cursor } } }",
        "{ driftFindings(environmentId: $1, status: $1, class: $1, first: $0, after: $1) { edges { cursor } } }",
        "{ driftCounts(environmentId: $1) { __typename } }",
        "{ healthStatus(serviceId: $1, environmentId: $1, tenantId: $1, first: $0, after: $1) { edges { cursor } } }",
        "{ deployments(serviceId: $1, environmentId: $1, tenantId: $1, status: $1, first: $0, after: $1) { edges { cursor } } }",
        "{ service(id: $1, atVersion: $0) { __typename } deployment(id: $1, asOf: $3) { __typename } }",
        "{ tenantBinding(id: $1) { __typename } scalingPolicy(id: $1) { __typename } health(id: $1) { __typename } }",
        "{ __type(name: $1) { name fields { name } } }",
        "mutation { recordProvisioningStarted(id: $1) { version } }",
        "mutation { markEnvironmentDegraded(id: $1, reason: $1) { version } }",
        "mutation { resolveDrift(id: $1) { version } }",
        "mutation { recordProvisioningFailed(id: $1, reason: $1, options: { idempotencyKey: $1, correlationId: $1, causationId: $1 }) { version } }",
        "mutation { decommissionEnvironment(id: $1, reason: $1, options: { expectedVersion: $0 }) { version } }",
        "{ aggregateHistory(aggregateType: \"RuntimeEnvironment\", aggregateId: $1) { edges { node { eventType payload } } } }",
    ];
    let int = prop_oneof![
        (-3i64..300).prop_map(|n| n.to_string()),
        prop::sample::select(vec!["2147483647", "-2147483648", "0"]).prop_map(str::to_owned),
    ];
    let string = prop_oneof![crafted_string(), valid_string()];
    let stage = prop::sample::select(vec!["DEV", "PROD", "TEST", "STAGING"]).prop_map(str::to_owned);
    let date = prop::sample::select(vec![
        "\"2020-01-01T00:00:00Z\"",
        "\"0001-01-01T00:00:00Z\"",
        "\"9999-12-31T23:59:59.999999999Z\"",
        "\"2026-02-29T00:00:00+14:00\"",
    ])
    .prop_map(str::to_owned);
    // Per position: null, a value of its type, or anything.
    let slot =
        |typed: BoxedStrategy<String>| prop_oneof![6 => Just("null".to_owned()), 3 => typed, 1 => value()].boxed();
    (
        prop::sample::select(TEMPLATES.to_vec()),
        prop::collection::vec(slot(int.boxed()), 8),
        prop::collection::vec(slot(string.boxed()), 12),
        slot(stage.boxed()),
        prop::collection::vec(slot(date.boxed()), 2),
    )
        .prop_map(|(template, ints, strings, stage, dates)| {
            let (mut ints, mut strings, mut dates) = (ints.into_iter(), strings.into_iter(), dates.into_iter());
            let mut out = String::new();
            let mut rest = template;
            while let Some(i) = rest.find('$') {
                out.push_str(&rest[..i]);
                out.push_str(&match rest.as_bytes()[i + 1] {
                    b'0' => ints.next().unwrap(),
                    b'1' => strings.next().unwrap(),
                    b'2' => stage.clone(),
                    _ => dates.next().unwrap(),
                });
                rest = &rest[i + 2..];
            }
            out.push_str(rest);
            out
        })
}

/// Selections, lists, objects and list types nested up to ~200 deep.
fn deep_document() -> impl Strategy<Value = String> {
    (1usize..200, prop::sample::select(ROOT_FIELDS.to_vec()), 0..4u8).prop_map(|(depth, root, kind)| match kind {
        0 => format!("{{ {root} {}{} }}", "{ edges ".repeat(depth), "}".repeat(depth)),
        1 => format!("{{ {root}(first: {}1{}) {{ __typename }} }}", "[".repeat(depth), "]".repeat(depth)),
        2 => format!("{{ {root}(input: {}1{}) {{ __typename }} }}", "{a: ".repeat(depth), "}".repeat(depth)),
        _ => format!("query($v: {}Int{}) {{ {root} }}", "[".repeat(depth), "]".repeat(depth)),
    })
}

/// Token soups: GraphQL's punctuation, keywords, the schema's names, literals, noise.
fn soup_document() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => prop::sample::select(PUNCTUATION.to_vec()).prop_map(str::to_owned),
        3 => prop::sample::select(ROOT_FIELDS.to_vec()).prop_map(str::to_owned),
        2 => prop::sample::select(ARGUMENTS.to_vec()).prop_map(str::to_owned),
        2 => prop::sample::select(KEYWORDS.to_vec()).prop_map(str::to_owned),
        2 => number(),
        2 => string_literal(),
        1 => crafted_string(),
        1 => re("[A-Za-z_][A-Za-z0-9_]{0,8}"),
        1 => re(".{0,4}"),
        1 => Just("# a comment {{{ [[[ \n".to_owned()),
    ];
    (prop::collection::vec(token, 0..60), prop::sample::select(vec![" ", "", "\n", ","]))
        .prop_map(|(tokens, separator)| tokens.join(separator))
}

/// A JSON value nested up to ~50 deep (variables).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        re(".{0,12}").prop_map(Value::from),
        Just(Value::from("\u{0}")),
        Just(Value::from("2020-01-01T00:00:00Z")),
    ];
    let nested = leaf.clone().prop_recursive(8, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["a", "b", "$x", "input", "product", "__proto__", "", "\u{0}"])
                    .prop_map(str::to_owned),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let deep = (1usize..50, leaf, any::<bool>()).prop_map(|(depth, leaf, as_list)| {
        (0..depth).fold(leaf, |v, _| if as_list { json!([v]) } else { json!({ "a": v }) })
    });
    prop_oneof![3 => nested, 1 => deep]
}

/// The `variables` entry: usually an object, sometimes a request-environment input with one
/// field replaced, sometimes not an object at all.
fn variables() -> impl Strategy<Value = Option<Value>> {
    let keyed = prop::collection::btree_map(
        prop::sample::select(vec!["v", "input", "t", "n", "id", "x"]).prop_map(str::to_owned),
        json_value(),
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()));
    let input = (
        prop::sample::select(vec![
            "product",
            "name",
            "stage",
            "region",
            "subscriptionId",
            "computeTargets",
            "pulumiStack",
        ]),
        json_value(),
        any::<bool>(),
    )
        .prop_map(|(key, replacement, replace)| {
            let mut input = environment_input("fuzz", "env", "DEV");
            if replace {
                input[key] = replacement;
            }
            json!({ "input": input, "v": false, "t": null, "n": 1 })
        });
    prop::option::of(prop_oneof![4 => keyed, 2 => input, 1 => json_value()])
}

/// One random request.
#[derive(Debug, Clone)]
struct Case {
    body: Vec<u8>,
    accept: &'static str,
    roles: Option<&'static str>,
    tenant: Option<&'static str>,
    traceparent: Option<&'static str>,
}

fn case() -> impl Strategy<Value = Case> {
    let document = prop_oneof![
        3 => soup_document(),
        3 => shaped_document(),
        6 => real_document(),
        1 => deep_document(),
    ];
    let operation_name = prop::option::weighted(
        0.2,
        prop_oneof![
            prop::sample::select(vec!["Q", "M", "S", "Q2", "", "F"]).prop_map(Value::from),
            re(".{0,8}").prop_map(Value::from),
            Just(json!(5)),
        ],
    );
    (
        document,
        variables(),
        operation_name,
        prop::sample::select(vec!["application/json", "application/graphql-response+json"]),
        prop::option::of(prop::sample::select(ROLES.to_vec())),
        prop::option::weighted(0.3, prop::sample::select(vec!["contoso", "contoso,fabrikam", "Not A Tenant"])),
        prop::option::weighted(
            0.05,
            prop::sample::select(vec!["garbage", "00-00000000000000000000000000000000-0000000000000000-00"]),
        ),
        0..20u8,
    )
        .prop_map(|(document, variables, operation_name, accept, roles, tenant, traceparent, shape)| {
            let mut body = json!({ "query": document });
            if let Some(variables) = variables {
                body["variables"] = variables;
            }
            if let Some(name) = operation_name {
                body["operationName"] = name;
            }
            if shape == 0 {
                // A request object whose fields have the wrong types.
                body["query"] = json!([document]);
            }
            Case { body: serde_json::to_vec(&body).unwrap(), accept, roles, tenant, traceparent }
        })
}

/// A document whose fragment `F<i>` spreads `F<i+1>` twice, `levels` deep: 2^levels fields
/// once expanded, in about 70 bytes per level.
fn doubling_fragments(levels: usize) -> String {
    let mut document = String::from("query { ...F0 }");
    for i in 0..levels {
        document.push_str(&format!(" fragment F{i} on QueryRoot {{ __typename ...F{} ...F{} }}", i + 1, i + 1));
    }
    document.push_str(&format!(" fragment F{levels} on QueryRoot {{ __typename }}"));
    document
}

/// Hand-written inputs that random generation rarely reaches: fragments, many aliases and
/// directives, huge nesting and strings, NUL in filters.
fn adversarial() -> Vec<String> {
    let aliases: String = (0..3_000).map(|i| format!("a{i}: __typename ")).collect();
    let same_name: String = (0..3_000).map(|i| format!("p{i}: projections {{ name }} ")).collect();
    vec![
        doubling_fragments(12),
        format!("{{ {aliases} }}"),
        format!("{{ {same_name} }}"),
        format!("{{ __typename {} }}", "@skip(if: false) ".repeat(5_000)),
        format!("{{ __type(name: {}) {{ name }} }}", "[".repeat(100_000)),
        format!("{{ environments(after: \"{}\") {{ edges {{ cursor }} }} }}", "x".repeat(200_000)),
        format!("{{ a{} }}", "(".repeat(50_000)),
        "{ serviceCatalog(product: \"\\u0000\") { edges { cursor } } }".to_owned(),
        "{ auditLog(actor: \"\\u0000\") { edges { cursor } } }".to_owned(),
        format!("mutation {{ recordProvisioningFailed(id: \"{SEEDED_ENVIRONMENT}\", reason: \"quota\\u0000\") {{ version }} }}"),
        format!(
            "mutation {{ recordProvisioningSucceeded(id: \"{SEEDED_ENVIRONMENT}\", outputs: {{ endpoints: [], resourceIds: [], stackVersion: 1 }}, options: {{ idempotencyKey: \"k\\u0000\" }}) {{ version }} }}"
        ),
    ]
}

/// What went wrong with one response.
#[derive(Debug)]
struct Violation {
    kind: String,
    status: StatusCode,
    request: String,
    response: String,
}

/// Checks one response; returns the error codes it carries or the violations.
fn check(case: &Case, status: StatusCode, bytes: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut codes = Vec::new();
    if status.is_server_error() {
        problems.push(format!("status {status}"));
    }
    let body: Value = match serde_json::from_slice(bytes) {
        Ok(body) => body,
        Err(_) => {
            problems.push("body is not JSON".to_owned());
            return (codes, problems);
        }
    };
    if body.get("data").is_none() && body.get("errors").is_none() {
        problems.push("neither data nor errors".to_owned());
    }
    let request = String::from_utf8_lossy(&case.body).to_lowercase();
    if let Some(errors) = body.get("errors") {
        let Some(errors) = errors.as_array().filter(|e| !e.is_empty()) else {
            problems.push("errors is not a non-empty list".to_owned());
            return (codes, problems);
        };
        for error in errors {
            match error["extensions"]["code"].as_str() {
                Some(code) if KNOWN_CODES.contains(&code) => codes.push(code.to_owned()),
                Some(code) => {
                    codes.push(code.to_owned());
                    problems.push(format!("code {code} at {}", error["path"][0].as_str().unwrap_or("the request")));
                }
                None => problems.push("error without a code".to_owned()),
            }
            let message = error["message"].as_str().unwrap_or_default().to_lowercase();
            for leak in LEAKS {
                if message.contains(leak) && !request.contains(leak) {
                    problems.push(format!("message shows {leak:?}"));
                }
            }
        }
    }
    (codes, problems)
}

async fn send(router: &axum::Router, case: &Case) -> (StatusCode, Vec<u8>) {
    let mut request =
        Request::post("/graphql").header("content-type", "application/json").header("accept", case.accept);
    for (name, value) in [("x-roles", case.roles), ("x-tenant-id", case.tenant), ("traceparent", case.traceparent)] {
        if let Some(value) = value {
            request = request.header(name, value);
        }
    }
    let response = router.clone().oneshot(request.body(Body::from(case.body.clone())).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await.unwrap();
    (status, bytes.to_vec())
}

/// Rule: for any request a client can send, the API answers with a status below 500 and a
/// JSON body whose errors each carry a known `extensions.code` (never `INTERNAL`) and a
/// message without internal text; nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_requests_get_typed_answers_and_no_internals() {
    let db = TestDb::new().await;
    let limits = Limits { rate_per_second: None, ..Default::default() };
    let app = TestApp::start_with(
        db.pool.clone(),
        ApiConfig { auth: Authentication::Development, limits, introspection: true },
    )
    .await;

    let mut seed = environment_input("fuzz", "seeded", "DEV");
    seed["id"] = json!(SEEDED_ENVIRONMENT);
    let created = app.gql(tests::REQUEST_ENVIRONMENT, json!({ "input": seed })).await;
    assert!(created["errors"].is_null(), "{created}");
    let started = app.gql(
        "mutation($id: ID!) { recordProvisioningStarted(id: $id) { version } }",
        json!({ "id": SEEDED_ENVIRONMENT }),
    );
    let started = started.await;
    assert!(started["errors"].is_null(), "{started}");

    let config = Config { cases: CASES as u32, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::XorShift));
    let strategy = case();
    let generating = Instant::now();
    let mut cases: Vec<Case> = (0..CASES).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect();
    let generated_in = generating.elapsed();
    // The hand-written cases go first, before random commands change the seeded environment.
    let adversarial = adversarial();
    for (i, document) in adversarial.iter().enumerate().rev() {
        let accept = if i % 2 == 0 { "application/json" } else { "application/graphql-response+json" };
        let body = serde_json::to_vec(&json!({ "query": document })).unwrap();
        cases.insert(0, Case { body, accept, roles: None, tenant: None, traceparent: None });
    }

    let started = Instant::now();
    let router = app.router.clone();
    let results: Vec<(usize, StatusCode, Vec<u8>, Duration)> = futures::stream::iter(cases.iter().enumerate())
        .map(|(i, case)| {
            let router = router.clone();
            let case = case.clone();
            async move {
                let sent = Instant::now();
                // A request that never answers is a finding too (and must not hang the run): each
                // runs in a task of its own, so that the clock runs while a worker is busy.
                let task = tokio::spawn(async move { send(&router, &case).await });
                let (status, bytes) = match tokio::time::timeout(ANSWER_WITHIN, task).await {
                    Ok(answer) => answer.expect("the request task panicked"),
                    Err(_) => (StatusCode::GATEWAY_TIMEOUT, b"no answer in time".to_vec()),
                };
                (i, status, bytes, sent.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let wall = started.elapsed();

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut violations: Vec<Violation> = Vec::new();
    let mut slowest: Vec<(Duration, usize)> = Vec::new();
    let mut executed = 0;
    for (i, status, bytes, elapsed) in &results {
        *statuses.entry(status.as_u16()).or_default() += 1;
        let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        if body.get("data").is_some_and(|d| !d.is_null()) {
            executed += 1;
        }
        let (found, problems) = check(&cases[*i], *status, bytes);
        for code in found {
            *codes.entry(code).or_default() += 1;
        }
        for kind in problems {
            violations.push(Violation {
                kind,
                status: *status,
                request: String::from_utf8_lossy(&cases[*i].body).into_owned(),
                response: String::from_utf8_lossy(&bytes[..bytes.len().min(600)]).into_owned(),
            });
        }
        slowest.push((*elapsed, *i));
    }
    slowest.sort_by(|a, b| b.0.cmp(&a.0));

    eprintln!("requests: {} ({CASES} generated + {} hand-written)", results.len(), adversarial.len());
    eprintln!("wall time: {:.1} s sending, {:.1} s generating", wall.as_secs_f64(), generated_in.as_secs_f64());
    eprintln!("status codes: {statuses:?}; {executed} answered with data");
    eprintln!("error codes: {codes:?}");
    for (elapsed, i) in slowest.iter().take(5) {
        let request = String::from_utf8_lossy(&cases[*i].body);
        eprintln!("slow: {:.2} s {}", elapsed.as_secs_f64(), &request[..request.len().min(160)]);
    }
    // The shortest request of each kind of violation.
    let mut shortest: HashMap<&str, &Violation> = HashMap::new();
    for violation in &violations {
        let entry = shortest.entry(violation.kind.as_str()).or_insert(violation);
        if violation.request.len() < entry.request.len() {
            *entry = violation;
        }
    }
    for (kind, violation) in &shortest {
        let count = violations.iter().filter(|v| v.kind == *kind).count();
        eprintln!(
            "VIOLATION {kind} x{count}: status {}\n  request: {}\n  response: {}",
            violation.status,
            &violation.request[..violation.request.len().min(600)],
            violation.response
        );
    }
    assert_eq!(results.len(), CASES + adversarial.len());
    assert!(violations.is_empty(), "{} violations of {} kinds (see above)", violations.len(), shortest.len());
}

/// Rule: however a document's fragments expand, it is answered (or refused) in bounded time:
/// fragments that each spread the next one twice, 20 levels deep (a 1.1 KB request, about
/// a million fields once expanded), are answered within 2 s. Validation runs synchronously
/// before the executor's timeout can act, so an expansion that is not bounded first holds a
/// worker thread for as long as it takes (each level doubles it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doubling_fragments_are_answered_in_bounded_time() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let case = Case {
        body: serde_json::to_vec(&json!({ "query": doubling_fragments(20) })).unwrap(),
        accept: "application/json",
        roles: None,
        tenant: None,
        traceparent: None,
    };
    let started = Instant::now();
    // Sent from a task of its own, so that the test's clock runs while a worker validates.
    let (router, sent) = (app.router.clone(), case.clone());
    let answer =
        tokio::time::timeout(Duration::from_secs(2), tokio::spawn(async move { send(&router, &sent).await })).await;
    let elapsed = started.elapsed();
    let Ok(answer) = answer else {
        panic!("no answer within 2 s for {} bytes of doubling fragments", case.body.len());
    };
    let (status, bytes) = answer.expect("the request task ended");
    assert!(elapsed < Duration::from_secs(2), "answered after {:.2} s", elapsed.as_secs_f64());
    let (_, problems) = check(&case, status, &bytes);
    assert!(problems.is_empty(), "{problems:?}: {}", String::from_utf8_lossy(&bytes));
    eprintln!("doubling fragments answered in {:.2} s: {status}", elapsed.as_secs_f64());
}
