//! Helpers the benchmarks share: driving the release server over HTTP and counting only
//! successful answers, the raw-`INSERT` baselines (sqlx and pgbench, same statement), and
//! loading a large log by SQL (a million aggregates, one long stream) without the server.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use commands::LogPosition;
use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::PgPool;

/// Errors a timed phase tolerates before it panics: a handful of transient failures (a
/// connection reset) is noise, more means the figure measures errors, not commands.
pub const TOLERATED_ERRORS: u64 = 5;

/// The seconds of each timed phase (`BENCH_SECONDS`, default 5).
pub fn bench_seconds() -> f64 {
    std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0)
}

/// Runs `work(client, i)` in `clients` loops for `seconds` and returns the *successful*
/// operations per second (an `Err(body)` is not counted). Panics with the body once more than
/// [`TOLERATED_ERRORS`] operations failed, so a rate limit or a broken mutation cannot pass
/// for a slow server.
pub async fn measure_ok<F, Fut>(clients: usize, seconds: f64, work: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let work = Arc::new(work);
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (work, stop, done, failed) = (work.clone(), stop.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    match work(c, i).await {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(body) => {
                            let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
                            assert!(n <= TOLERATED_ERRORS, "{n} failed operations; the last answered: {body}");
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in join_all(tasks).await {
        // A client's panic (too many errors) is the bench's failure, with its message.
        if let Err(err) = task {
            std::panic::resume_unwind(err.into_panic());
        }
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// One HTTP client of the release server: its own keep-alive connection pool and its own
/// caller identity (`x-actor: user:bench-<n>`), because the server rate-limits per caller
/// (2,000 requests/s) and eight clients behind one identity would measure the limiter.
#[derive(Clone)]
pub struct GqlClient {
    http: reqwest::Client,
    url: String,
    actor: String,
}

impl GqlClient {
    /// A client of `graphql_url` acting as `user:bench-<n>`.
    pub fn new(graphql_url: &str, n: usize) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the HTTP client");
        Self { http, url: graphql_url.to_owned(), actor: format!("user:bench-{n}") }
    }

    /// POSTs `query` with `variables`; the `data` of a 200 answer without `errors`, else the
    /// status and body as the error.
    pub async fn gql(&self, query: &str, variables: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(&self.url)
            .header("x-actor", &self.actor)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| format!("{status}: unreadable body: {e}"))?;
        if !status.is_success() || !body["errors"].is_null() {
            return Err(format!("{status}: {body}"));
        }
        Ok(body["data"].clone())
    }
}

/// Polls the `projections` query until every projection has applied every committed event
/// (`lagEvents` 0), so a phase does not measure the projections catching up on its setup.
pub async fn until_projected(client: &GqlClient, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = client.gql("{ projections { name lagEvents } }", json!({})).await.unwrap_or(Value::Null);
        let projections = status["projections"].as_array().cloned().unwrap_or_default();
        if !projections.is_empty() && projections.iter().all(|p| p["lagEvents"] == 0) {
            return;
        }
        assert!(Instant::now() < deadline, "projections did not catch up within {within:?}: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The statement of the raw-`INSERT` baseline: one event-shaped row (a fresh aggregate id and
/// event id, a payload of an event's size) into [`RAW_TABLE`], identical for sqlx and pgbench
/// so the two measure the same commit.
pub const RAW_INSERT: &str = "INSERT INTO raw_insert_bench (aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, metadata) VALUES ('RuntimeEnvironment', gen_random_uuid()::text, 1, 'EnvironmentDegraded', \
     '1', '{\"EnvironmentDegraded\": {\"reason\": \"bench\", \"at\": \"2026-12-03T07:00:00Z\"}}', \
     jsonb_build_object('event_id', gen_random_uuid()::text, 'trace_id', md5(random()::text), 'actor', 'user:bench'))";

/// The baseline's table: `LIKE events INCLUDING ALL`, so every index, default and generated
/// column of the log costs the raw insert what it costs an append.
pub const RAW_TABLE: &str = "raw_insert_bench";

/// Creates [`RAW_TABLE`] in the database of `pool`.
pub async fn create_raw_table(pool: &PgPool) {
    sqlx::query(&format!("CREATE TABLE {RAW_TABLE} (LIKE events INCLUDING ALL)")).execute(pool).await.unwrap();
}

/// Raw [`RAW_INSERT`] commits per second from `clients` sqlx connections of `pool`
/// (autocommit: one row per transaction).
pub async fn raw_insert_rate(pool: &PgPool, clients: usize, seconds: f64) -> f64 {
    let pool = pool.clone();
    measure_ok(clients, seconds, move |_, _| {
        let pool = pool.clone();
        async move { sqlx::query(RAW_INSERT).execute(&pool).await.map(|_| ()).map_err(|e| e.to_string()) }
    })
    .await
}

/// pgbench's transactions per second for [`RAW_INSERT`] (`-n -c N -j N -T secs`), or `None`
/// when pgbench is not installed or failed (the sqlx figure is then the only raw baseline).
pub fn pgbench_rate(url: &str, clients: usize, seconds: f64) -> Option<f64> {
    let script = std::env::temp_dir().join(format!("rtp-bench-{}.sql", uuid::Uuid::new_v4().simple()));
    std::fs::write(&script, format!("{RAW_INSERT};\n")).ok()?;
    let n = clients.to_string();
    let output = std::process::Command::new("pgbench")
        .args(["-n", "-c", &n, "-j", &n, "-T", &(seconds.ceil() as u64).to_string(), "-f"])
        .arg(&script)
        .arg(format!("{url}?sslmode=disable"))
        .output()
        .ok();
    let _ = std::fs::remove_file(&script);
    let output = output?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().find(|l| l.starts_with("tps = "))?.split_whitespace().nth(2)?.parse().ok()
}

/// `n` more aggregates, each exactly what a keyed create writes, copied (with fresh ids,
/// names, keys and event ids) from the first keyed create in the log: one
/// `EnvironmentRequested` event, one name claim (`unique_claims`) and one idempotency receipt
/// (`command_receipts`) each. No snapshot: a one-event stream has none. Then `VACUUM ANALYZE`
/// and `CHECKPOINT`, as autovacuum and the checkpointer would have done after such growth.
pub async fn bulk_load(pool: &PgPool, n: i64) {
    let id = "'b0000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0')";
    let statements = [
        format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT t.aggregate_type, {id}, 1, t.event_type, t.event_version,
                    jsonb_set(t.payload, '{{EnvironmentRequested,name}}', to_jsonb('bulk-' || g)),
                    t.metadata || jsonb_build_object('event_id', gen_random_uuid()::text, 'trace_id', md5(g::text),
                                                     'command_id', gen_random_uuid()::text, 'idempotency_key', 'bulk-' || g)
               FROM (SELECT * FROM events WHERE event_type = 'EnvironmentRequested' LIMIT 1) t,
                    generate_series(1, $1::bigint) g"
        ),
        format!(
            "INSERT INTO unique_claims (scope, key, aggregate_type, aggregate_id)
             SELECT c.scope, 'bulk/dev/bulk-' || g, c.aggregate_type, {id}
               FROM (SELECT * FROM unique_claims LIMIT 1) c, generate_series(1, $1::bigint) g"
        ),
        format!(
            "INSERT INTO command_receipts (scope, idempotency_key, aggregate_type, aggregate_id, command_type,
                                           first_sequence, last_sequence, input_hash)
             SELECT r.scope, 'bulk-' || g, r.aggregate_type, {id}, r.command_type, 1, 1, md5(g::text)
               FROM (SELECT * FROM command_receipts LIMIT 1) r, generate_series(1, $1::bigint) g"
        ),
    ];
    for statement in statements {
        sqlx::query(&statement).bind(n).execute(pool).await.unwrap();
    }
    vacuum_and_checkpoint(pool).await;
}

/// Appends MarkDegraded / MarkRecovered events to the Ready environment `aggregate_id` (which
/// must have just had one of each, as its last two events) until its stream holds `length`
/// events and ends Ready: copies of its own last two events with fresh event ids.
pub async fn grow_stream(pool: &PgPool, aggregate_id: &str, length: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT t.aggregate_type, t.aggregate_id, s, t.event_type, t.event_version, t.payload,
                t.metadata || jsonb_build_object('event_id', gen_random_uuid()::text, 'command_id', gen_random_uuid()::text)
           FROM generate_series((SELECT max(sequence) + 1 FROM events WHERE aggregate_id = $1), $2::bigint) s
           JOIN LATERAL (SELECT * FROM events e WHERE e.aggregate_id = $1
                          ORDER BY e.sequence DESC LIMIT 2) t
             -- The newest event (Recovered) repeats on the stream's parity, the one before on the other.
             ON (t.sequence % 2) = (s % 2)
          ORDER BY s",
    )
    .bind(aggregate_id)
    .bind(length)
    .execute(pool)
    .await
    .unwrap();
    vacuum_and_checkpoint(pool).await;
}

/// `VACUUM ANALYZE` the log's tables and `CHECKPOINT`, so neither autovacuum nor the
/// checkpointer flushes a bulk load inside the phase measured next.
async fn vacuum_and_checkpoint(pool: &PgPool) {
    sqlx::query("VACUUM (ANALYZE) events, unique_claims, command_receipts, snapshots").execute(pool).await.unwrap();
    // Needs a superuser or pg_checkpoint, as the tests' admin URL has; skipped otherwise.
    if let Err(err) = sqlx::query("CHECKPOINT").execute(pool).await {
        eprintln!("bench: CHECKPOINT refused ({err}); the checkpointer may flush the load during a phase");
    }
}

/// Moves every projection's and reactor's checkpoint to the newest event in the log, as if
/// they had applied a bulk load long ago: the load stands for history, and the phases after
/// it must measure commands, not the read side chewing through a million events. (Their read
/// models therefore do not hold the loaded aggregates.) The server must be stopped.
pub async fn checkpoints_to_latest(pool: &PgPool) -> LogPosition {
    let mut conn = pool.acquire().await.unwrap();
    let latest = projections::reader::latest(&mut conn).await.unwrap();
    for table in ["projection_checkpoints", "reactor_checkpoints"] {
        sqlx::query(&format!(
            "UPDATE {table} SET transaction_id = $1::text::xid8, global_position = $2, updated_at = now()"
        ))
        .bind(latest.transaction_id.to_string())
        .bind(latest.global_position)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    latest
}

/// Samples a projection's checkpoint as fast as the database answers (with `every` between
/// polls) until stopped: the times at which the read side showed each position.
pub struct CheckpointWatch {
    samples: Arc<Mutex<Vec<(Instant, LogPosition)>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl CheckpointWatch {
    /// Starts polling `projection_checkpoints` for `projection` on a connection of `pool`.
    pub fn start(pool: &PgPool, projection: &str, every: Duration) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (pool, projection, out, stopped) = (pool.clone(), projection.to_owned(), samples.clone(), stop.clone());
        let task = tokio::spawn(async move {
            // One connection held throughout: an acquire per poll would add the pool's cost.
            let mut conn = pool.acquire().await.unwrap();
            while !stopped.load(Ordering::Relaxed) {
                let (t, p): (i64, i64) = sqlx::query_as(
                    "SELECT transaction_id::text::bigint, global_position FROM projection_checkpoints WHERE projection = $1",
                )
                .bind(&projection)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
                out.lock().unwrap().push((Instant::now(), LogPosition { transaction_id: t, global_position: p }));
                tokio::time::sleep(every).await;
            }
        });
        Self { samples, stop, task }
    }

    /// Stops polling; returns the samples in time order.
    pub async fn stop(self) -> Vec<(Instant, LogPosition)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        Arc::try_unwrap(self.samples).map(|m| m.into_inner().unwrap()).unwrap_or_default()
    }
}

/// For each `(answered, position)`, how long after `answered` the first sample at or after it
/// showed the checkpoint at or past `position` (ms); commands never seen are left out.
pub fn projected_after(samples: &[(Instant, LogPosition)], commands: &[(Instant, LogPosition)]) -> Vec<f64> {
    let mut latencies: Vec<f64> = commands
        .iter()
        .filter_map(|(answered, position)| {
            let from = samples.partition_point(|(at, _)| at < answered);
            samples[from..]
                .iter()
                .find(|(_, checkpoint)| checkpoint >= position)
                .map(|(at, _)| at.duration_since(*answered).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}
