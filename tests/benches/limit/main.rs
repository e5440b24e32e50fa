//! Measured against the limit: one command, one table, every figure over the wire with a
//! baseline measured in the same run.
//!
//! `cargo bench -p tests --bench limit` (env: `BENCH_SECONDS` per timed phase, default 5;
//! `BENCH_AGGREGATES`, default 1,000,000; `BENCH_EVENTS` for the rebuild, default 1,000,000;
//! `BENCH_ONLY=writes|reads` to run one half; `TEST_DATABASE_URL` as for the tests).
//! Prints one table and writes every figure to `target/bench-limit.json`.
//!
//! - [`writes`]: raw `INSERT` commits and bare postgres-es (the baselines), then commands over
//!   HTTP to the release server at 1 and 8 clients: update, keyed create with a name claim,
//!   idempotent retry, on an empty database, after a million aggregates and on a 10k-event
//!   stream; commit-to-projection at 1,000 commands/s; the server's RSS idle and at peak.
//! - [`reads`]: rebuild rate of every projector over a log of its own event types, `asOf` load of
//!   a 10k-event stream, `runtimeInventory(asOf)` over 10k services and 100k changes through
//!   GraphQL, and a catalog page at a fixed rate against a bare axum + sqlx handler running the
//!   same SQL.

mod figures;
mod reads;
mod writes;

use figures::Report;

#[tokio::main]
async fn main() {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut report = Report::new();
    if only.is_empty() || only == "writes" {
        writes::run(&mut report).await;
    }
    if only.is_empty() || only == "reads" {
        reads::run(&mut report).await;
    }
    report.print();
    report.write_json("bench-limit.json");
}
