//! Test harness: a real PostgreSQL, one fresh database per test, and an in-process app.
//!
//! The server used is `TEST_DATABASE_URL` (an admin URL; default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When nothing answers there and the variable
//! is unset, a private cluster is started under `target/test-postgres`, so `cargo test` works
//! on a machine that only has PostgreSQL installed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use commands::{CommandBus, RequestContext};
use domain::envelope::TraceId;
use infra::local_postgres::{LocalPostgres, LocalPostgresOptions};
use infra::server::Platform;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;
use tower::ServiceExt;
use uuid::Uuid;

pub mod bench;
pub mod drive;
pub mod endpoint;
pub mod fake_servicebus;
pub mod replay;
pub mod seed;
pub mod server;
pub mod world;
pub mod ws_client;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static ADMIN_URL: OnceCell<String> = OnceCell::const_new();

/// The admin URL of the test server, starting a private cluster if needed.
pub async fn admin_url() -> String {
    ADMIN_URL
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
                return url;
            }
            if PgConnection::connect(DEFAULT_ADMIN_URL).await.is_ok() {
                return DEFAULT_ADMIN_URL.to_owned();
            }
            let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-postgres");
            let options = LocalPostgresOptions { data_dir: target, port: 54330, database: "postgres".into() };
            let local = LocalPostgres::start(&options).await.expect("no PostgreSQL for the tests");
            local.url
        })
        .await
        .clone()
}

/// Prefix of every test database; the creation time (unix seconds) follows it.
const TEST_DB_PREFIX: &str = "rtp_test_";
/// Test databases left behind (a failed test keeps its database for a look) are dropped by
/// a later run once they are this old.
const STALE_AFTER_SECONDS: u64 = 6 * 3600;

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

static SWEPT: OnceCell<()> = OnceCell::const_new();

/// Drops test databases of earlier runs older than [`STALE_AFTER_SECONDS`], once per process.
async fn sweep_stale(conn: &mut PgConnection) {
    SWEPT
        .get_or_init(|| async {
            let names: Vec<String> =
                sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'rtp\\_test\\_%'")
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap_or_default();
            for name in names {
                let created = name[TEST_DB_PREFIX.len()..].split('_').next().and_then(|t| t.parse::<u64>().ok());
                // Names without a time come from before the time was recorded: stale too.
                if created.is_none_or(|t| unix_now().saturating_sub(t) > STALE_AFTER_SECONDS) {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut *conn).await;
                }
            }
        })
        .await;
}

/// A fresh, migrated database of its own for one test.
pub struct TestDb {
    /// Pool on the test's database.
    pub pool: PgPool,
    /// URL of the test's database.
    pub url: String,
    /// Name of the database.
    pub name: String,
}

impl TestDb {
    /// Creates and migrates a new database (a pool of 16 connections).
    pub async fn new() -> Self {
        Self::with_connections(16).await
    }

    /// Creates and migrates a new database, with a pool of at most `connections` (benchmarks
    /// size it to their clients).
    pub async fn with_connections(connections: u32) -> Self {
        let admin = admin_url().await;
        let name = format!("{TEST_DB_PREFIX}{}_{}", unix_now(), Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.expect("connect to the test server");
        sweep_stale(&mut conn).await;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
        let (base, _) = admin.rsplit_once('/').expect("admin url has a database");
        let url = format!("{base}/{name}");
        let pool = infra::database::connect(&url, connections).await.expect("connect to test database");
        infra::database::migrate(&pool).await.expect("migrate test database");
        Self { pool, url, name }
    }

    /// Number of rows in the events table.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&self.pool).await.unwrap()
    }
}

impl Drop for TestDb {
    /// Drops the database of a test that passed; a failed test's database is kept (and named)
    /// for a look, and swept by a later run.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test database kept for inspection: {}", self.url);
            return;
        }
        let (admin, name) = (ADMIN_URL.get().cloned(), self.name.clone());
        let Some(admin) = admin else { return };
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

/// A system context with a fresh trace, for driving the bus directly.
pub fn system_context() -> RequestContext {
    RequestContext::system("test", TraceId::from_uuid(Uuid::new_v4()))
}

/// Brings `runners` up to the newest committed event (waiting out transactions of other
/// tests that hold the cluster-wide xmin horizon back).
pub async fn settle(pool: &PgPool, runners: &[projections::ProjectionRunner]) {
    let mut conn = pool.acquire().await.unwrap();
    let target = projections::reader::latest(&mut conn).await.unwrap();
    for runner in runners {
        let reached = runner.catch_up_to(target, std::time::Duration::from_secs(30)).await.expect("catch up");
        assert!(reached, "projection {} did not reach {target}", runner.name());
    }
}

/// Makes every connection of `pool` flush its table statistics (PostgreSQL 15 keeps them in
/// the backend until it has been idle a while, up to 10 s), so that counters read next hold
/// everything done so far and nothing arrives late: `pg_stat_force_next_flush` on each
/// pooled connection, which flushes as it goes idle right after.
pub async fn flush_stats(pool: &PgPool) {
    let mut held = Vec::new();
    while held.len() < pool.size() as usize {
        let Ok(mut conn) = pool.acquire().await else { break };
        sqlx::query("SELECT pg_stat_force_next_flush()").execute(&mut *conn).await.unwrap();
        held.push(conn);
    }
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}

/// Lets every reactor answer what is in the log, then brings the projections up to the
/// newest event, the reactions included; repeats while reactions cause further reactions.
pub async fn settle_all(platform: &Platform) {
    loop {
        settle(&platform.pool, &platform.runners).await;
        let mut conn = platform.pool.acquire().await.unwrap();
        let target = projections::reader::latest(&mut conn).await.unwrap();
        drop(conn);
        let mut reacted = 0;
        for reactor in &platform.reactors {
            let (n, reached) =
                reactor.catch_up_to(target, std::time::Duration::from_secs(30)).await.expect("reactor catch up");
            assert!(reached, "reactor {} did not reach {target}", reactor.name());
            reacted += n;
        }
        if reacted == 0 {
            return;
        }
    }
}

/// What every table of a database holds: per table of the `public` schema, its row count and
/// an md5 of all its rows (as text, sorted), so that an insert, an update and a delete all
/// change it. Tables are read from the catalog, so a table added later is covered too (of
/// `worker_leases`, all but the expiry the loops renew by the clock; of `worker_runs`, only
/// which loops there are).
pub async fn fingerprint(pool: &PgPool) -> BTreeMap<String, (i64, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(tablename) FROM pg_catalog.pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut fingerprints = BTreeMap::new();
    for table in tables {
        // The loops renew their leases by the clock while they run: a lease's expiry moves with
        // no command. Who holds it, since when and under which epoch still count.
        let source = if table == "worker_leases" {
            "(SELECT worker, holder, epoch, acquired_at FROM worker_leases)".to_owned()
        } else if table == "worker_runs" {
            // The loops count their rounds by the clock: status, not state.
            "(SELECT worker FROM worker_runs)".to_owned()
        } else {
            table.clone()
        };
        let row: (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), md5(COALESCE(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {source} t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        fingerprints.insert(table, row);
    }
    fingerprints
}

/// The app over one test database, called without a socket.
pub struct TestApp {
    /// The wired platform (bus, runners).
    pub platform: Platform,
    /// The API router under test.
    pub router: axum::Router,
    /// The operations router (`/healthz`, `/readyz`, `/metrics`).
    pub ops: axum::Router,
    /// Stops the background runners when dropped or sent `true`.
    pub stop: tokio::sync::watch::Sender<bool>,
}

impl TestApp {
    /// Wires the app over `pool` and starts its projections in the background, like `serve`
    /// in development mode (identity from headers).
    pub async fn start(pool: PgPool) -> Self {
        Self::start_with(pool, graphql::ApiConfig::development()).await
    }

    /// Like [`TestApp::start`], with the API configured by `config` (e.g. token authentication).
    pub async fn start_with(pool: PgPool, config: graphql::ApiConfig) -> Self {
        Self::start_platform(Platform::new(pool), config).await
    }

    /// Like [`TestApp::start`], with the clock-driven loops paced by `settings`.
    pub async fn start_with_loops(pool: PgPool, settings: infra::server::LoopSettings) -> Self {
        Self::start_platform(Platform::with_loops(pool, settings), graphql::ApiConfig::development()).await
    }

    /// Like [`TestApp::start`], with the integration edge connected: the relay publishing
    /// through `publisher` and, with a `source`, the command intake reading it.
    pub async fn start_with_integration(
        pool: PgPool,
        publisher: std::sync::Arc<dyn integration::Publisher>,
        source: Option<std::sync::Arc<dyn integration::CommandSource>>,
        relay: integration::RelaySettings,
        intake: integration::IntakeSettings,
    ) -> Self {
        let mut platform = Platform::new(pool);
        platform.connect_integration(publisher, source, relay, intake);
        Self::start_platform(platform, graphql::ApiConfig::development()).await
    }

    async fn start_platform(platform: Platform, config: graphql::ApiConfig) -> Self {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        platform.start_projections(shutdown.clone()).await.expect("start projections");
        platform.start_reactors(shutdown.clone()).await.expect("start reactors");
        platform.start_feed(shutdown);
        let router = platform.api(config);
        let ops = platform.ops();
        Self { platform, router, ops, stop }
    }

    /// The command bus.
    pub fn bus(&self) -> &CommandBus {
        &self.platform.bus
    }

    /// Waits (at most 10 s) until this replica's live feed counts `n` subscribers: a
    /// subscription joins the feed when the server starts running it, after the client's
    /// `subscribe` was read, so a write sent right after `subscribe` may otherwise come first
    /// (and, without `after`, not be delivered).
    pub async fn wait_subscribers(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.platform.feed.subscribers() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} subscribers joined",
                self.platform.feed.subscribers()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Brings every projection up to the newest committed event.
    pub async fn settle(&self) {
        settle_all(&self.platform).await;
    }

    /// POSTs a GraphQL request with extra headers; returns status and JSON body.
    pub async fn post(&self, body: Value, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        self.post_raw(serde_json::to_vec(&body).unwrap(), headers).await
    }

    /// POSTs raw bytes to `/graphql`.
    pub async fn post_raw(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = self.router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await.unwrap();
        let value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
        (status, value)
    }

    /// Runs a query with variables as the developer; returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.post(json!({ "query": query, "variables": variables }), &[]).await.1
    }

    /// Like [`TestApp::gql`] with headers.
    pub async fn gql_with(&self, query: &str, variables: Value, headers: &[(&str, &str)]) -> Value {
        self.post(json!({ "query": query, "variables": variables }), headers).await.1
    }

    /// A GET on `path` of the API router, returning status and body text.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        Self::get_on(&self.router, path).await
    }

    /// A GET on `path` of the operations router.
    pub async fn get_ops(&self, path: &str) -> (StatusCode, String) {
        Self::get_on(&self.ops, path).await
    }

    async fn get_on(router: &axum::Router, path: &str) -> (StatusCode, String) {
        let response = router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The `code` extension of the first error of a response, if any.
pub fn error_code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

/// Shared handle type for projectors in tests.
pub type SharedProjector = Arc<dyn projections::Projector>;

/// A valid `requestEnvironment` input; tests change what they need.
pub fn environment_input(product: &str, name: &str, stage: &str) -> Value {
    json!({
        "product": product,
        "name": name,
        "stage": stage,
        "region": "westeurope",
        "subscriptionId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "resourceGroup": format!("rg-{product}-{name}"),
        "pulumiProject": product,
        "pulumiStack": name,
        "computeTargets": [{
            "kind": "AKS",
            "name": "aks-main",
            "resourceId": "/subscriptions/3f2504e0-4f89-11d3-9a0c-0305e82c3301/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-main"
        }]
    })
}

/// The `requestEnvironment` mutation, returning id, version, trace and events.
pub const REQUEST_ENVIRONMENT: &str = "mutation($input: RequestEnvironmentInput!, $options: CommandOptionsInput) {
  requestEnvironment(input: $input, options: $options) {
    aggregateId version traceId deduplicated position
    events { eventId eventType sequence traceId tenantId actor actorRole correlationId causationId position }
  }
}";
