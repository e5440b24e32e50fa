//! The gap-free read of the global log, with hand-driven concurrent transactions: positions
//! are taken at insert, commits happen in another order, and every committed event must reach
//! the projector exactly once, in `(transaction, position)` order; an aborted transaction must
//! not stall it. A projector that reads only some aggregate types skips the others inside the
//! database and still moves past them, under the same rules.

use std::sync::Arc;

use async_trait::async_trait;
use commands::RecordedEvent;
use projections::reader::Interest;
use projections::{ProjectionError, ProjectionRunner, Projector};
use sqlx::{Connection, PgConnection};
use tests::TestDb;

/// Records every delivered event; the primary key turns a second delivery into an error.
struct Recorder(Interest);

#[async_trait]
impl Projector for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn version(&self) -> i32 {
        1
    }
    fn interest(&self) -> Interest {
        self.0
    }
    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        sqlx::query("INSERT INTO seen (aggregate_id, sequence) VALUES ($1, $2)")
            .bind(&event.aggregate_id)
            .bind(event.sequence)
            .execute(conn)
            .await?;
        Ok(())
    }
    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM seen").execute(conn).await?;
        Ok(())
    }
}

struct Harness {
    db: TestDb,
    runner: ProjectionRunner,
}

impl Harness {
    async fn new() -> Self {
        Self::reading(Interest::All).await
    }

    async fn reading(interest: Interest) -> Self {
        let db = TestDb::new().await;
        sqlx::query(
            "CREATE TABLE seen (n bigserial, aggregate_id text, sequence bigint, PRIMARY KEY (aggregate_id, sequence))",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let runner = ProjectionRunner::new(db.pool.clone(), Arc::new(Recorder(interest))).with_batch_size(2);
        runner.prepare().await.unwrap();
        Self { db, runner }
    }

    async fn connection(&self) -> PgConnection {
        let mut conn = PgConnection::connect(&self.db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        conn
    }

    /// Inserts one event in the connection's open transaction; returns its position.
    async fn insert(conn: &mut PgConnection, id: &str) -> i64 {
        Self::insert_of(conn, "Probe", id).await
    }

    /// Like [`Harness::insert`], for an aggregate of type `aggregate_type`.
    async fn insert_of(conn: &mut PgConnection, aggregate_type: &str, id: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ($1, $2, 1, 'Probed', '1.0', '{}', '{}') RETURNING global_position",
        )
        .bind(aggregate_type)
        .bind(id)
        .fetch_one(conn)
        .await
        .unwrap()
    }

    async fn finish(conn: &mut PgConnection, how: &str) {
        sqlx::query(how).execute(conn).await.unwrap();
    }

    /// Catches up until `expected` events were delivered in all. Transactions of other
    /// databases of the same cluster (parallel tests) also hold the xmin horizon back, so
    /// delivery may take a few rounds; it may never exceed what was committed.
    async fn deliver_until(&self, expected: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            self.runner.catch_up().await.unwrap();
            let seen = self.seen().await;
            if seen.len() >= expected || std::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// `writers` connections each run `rounds` transactions of one event per entry of
    /// `kinds` (aggregate type, id suffix), rolling back every `abort_every`-th, while a reader
    /// catches up concurrently. Returns when writers and reader are done.
    async fn write_concurrently(
        &self,
        writers: usize,
        rounds: usize,
        abort_every: usize,
        kinds: &'static [(&str, &str)],
    ) {
        let writers = (0..writers).map(|w| {
            let url = self.db.url.clone();
            tokio::spawn(async move {
                let mut conn = PgConnection::connect(&url).await.unwrap();
                for i in 0..rounds {
                    let mut tx = conn.begin().await.unwrap();
                    for (aggregate_type, suffix) in kinds {
                        Harness::insert_of(&mut tx, aggregate_type, &format!("w{w}-{i}{suffix}")).await;
                    }
                    if i % abort_every == abort_every - 1 {
                        tx.rollback().await.unwrap();
                    } else {
                        tx.commit().await.unwrap();
                    }
                }
            })
        });
        let reader = {
            let runner = self.runner.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    runner.catch_up().await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        for w in futures::future::join_all(writers).await {
            w.unwrap();
        }
        reader.await.unwrap();
    }

    async fn seen(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT aggregate_id FROM seen ORDER BY n").fetch_all(&self.db.pool).await.unwrap()
    }
}

#[tokio::test]
async fn a_lower_position_committed_after_a_higher_one_is_delivered_once() {
    let h = Harness::new().await;
    let mut x = h.connection().await;
    let mut y = h.connection().await;
    let px = Harness::insert(&mut x, "x1").await;
    let py = Harness::insert(&mut y, "y1").await;
    assert!(px < py);
    Harness::finish(&mut y, "COMMIT").await;
    // y1 is committed but x is still running: reading y1 now and checkpointing past it would
    // lose x1 forever, so nothing is delivered yet.
    assert_eq!(h.runner.catch_up().await.unwrap(), 0);
    Harness::finish(&mut x, "COMMIT").await;
    assert_eq!(h.deliver_until(2).await, ["x1", "y1"]);
    assert_eq!(h.runner.catch_up().await.unwrap(), 0, "nothing is delivered twice");
}

#[tokio::test]
async fn a_later_transaction_with_a_lower_position_is_delivered_once() {
    let h = Harness::new().await;
    let mut x = h.connection().await;
    let mut y = h.connection().await;
    // x takes its transaction id first, but its event's position comes after y's.
    sqlx::query("SELECT pg_current_xact_id()").execute(&mut x).await.unwrap();
    let py = Harness::insert(&mut y, "y1").await;
    let px = Harness::insert(&mut x, "x1").await;
    assert!(py < px);
    Harness::finish(&mut y, "COMMIT").await;
    assert_eq!(h.runner.catch_up().await.unwrap(), 0);
    Harness::finish(&mut x, "COMMIT").await;
    assert_eq!(h.deliver_until(2).await, ["x1", "y1"], "log order is transaction order");
}

#[tokio::test]
async fn interleaved_transactions_are_each_delivered_exactly_once() {
    // X takes 5 and 8, Y takes 7, X commits first: the reader delivers X's two events, then
    // Y's when Y commits; checkpointing position 8 would have skipped 7.
    let h = Harness::new().await;
    let mut x = h.connection().await;
    let mut y = h.connection().await;
    let x_first = Harness::insert(&mut x, "x1").await;
    let y_only = Harness::insert(&mut y, "y1").await;
    let x_second = Harness::insert(&mut x, "x2").await;
    assert!(x_first < y_only && y_only < x_second);
    Harness::finish(&mut x, "COMMIT").await;
    assert_eq!(h.deliver_until(2).await, ["x1", "x2"]);
    assert_eq!(h.runner.catch_up().await.unwrap(), 0, "y1 waits for y to end");
    Harness::finish(&mut y, "COMMIT").await;
    assert_eq!(h.deliver_until(3).await, ["x1", "x2", "y1"]);
    let status = h.runner.status().await.unwrap();
    assert_eq!(status.lag_events, 0);
    assert_eq!(status.events_applied, 3);
}

#[tokio::test]
async fn an_aborted_transaction_leaves_no_hole_that_stalls_the_reader() {
    let h = Harness::new().await;
    let mut x = h.connection().await;
    let mut y = h.connection().await;
    let px = Harness::insert(&mut x, "aborted").await;
    let py = Harness::insert(&mut y, "y1").await;
    assert!(px < py);
    Harness::finish(&mut y, "COMMIT").await;
    Harness::finish(&mut x, "ROLLBACK").await;
    assert_eq!(h.deliver_until(1).await, ["y1"]);
    let mut z = h.connection().await;
    Harness::insert(&mut z, "z1").await;
    Harness::finish(&mut z, "COMMIT").await;
    assert_eq!(h.deliver_until(2).await, ["y1", "z1"]);
    let gaps: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(gaps, 2, "the aborted position is a hole in positions, not an event");
}

#[tokio::test]
async fn many_concurrent_writers_are_delivered_exactly_once() {
    let h = Harness::new().await;
    h.write_concurrently(8, 25, 5, &[("Probe", ""), ("Probe", "-b")]).await;
    h.deliver_until(8 * 20 * 2).await;
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM seen").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(seen, 8 * 20 * 2, "every committed event, once (the primary key refuses repeats)");
    let order: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT e.transaction_id::text::bigint, e.global_position FROM seen s JOIN events e USING (aggregate_id, sequence) ORDER BY s.n",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "delivered in log order");
}

const PROBES_ONLY: Interest = Interest::AggregateTypes(&["Probe"]);

#[tokio::test]
async fn a_narrow_reader_waits_for_a_lower_wanted_position_behind_an_unwanted_commit() {
    // x (wanted) takes the lower position, y (not wanted) the higher and commits first: the
    // filtered reader must neither deliver nor skip x1 while x runs, though y's event is
    // committed and "nothing it wants" lies before it.
    let h = Harness::reading(PROBES_ONLY).await;
    let mut x = h.connection().await;
    let mut y = h.connection().await;
    let px = Harness::insert(&mut x, "x1").await;
    let py = Harness::insert_of(&mut y, "Other", "y1").await;
    assert!(px < py);
    Harness::finish(&mut y, "COMMIT").await;
    assert_eq!(h.runner.catch_up().await.unwrap(), 0);
    Harness::finish(&mut x, "COMMIT").await;
    assert_eq!(h.deliver_until(1).await, ["x1"]);
    assert_eq!(h.runner.catch_up().await.unwrap(), 0, "nothing is delivered twice");
}

#[tokio::test]
async fn a_narrow_reader_moves_its_checkpoint_past_events_it_does_not_want() {
    let h = Harness::reading(PROBES_ONLY).await;
    let mut tx = h.connection().await;
    for i in 0..5 {
        Harness::insert_of(&mut tx, "Other", &format!("o{i}")).await;
    }
    Harness::insert(&mut tx, "p1").await;
    for i in 5..9 {
        Harness::insert_of(&mut tx, "Other", &format!("o{i}")).await;
    }
    Harness::insert(&mut tx, "p2").await;
    Harness::insert(&mut tx, "p3").await;
    Harness::insert_of(&mut tx, "Other", "last").await;
    Harness::finish(&mut tx, "COMMIT").await;
    // Batches of two wanted events: p1 p2, then p3 and the head.
    assert_eq!(h.deliver_until(3).await, ["p1", "p2", "p3"]);
    let status = h.runner.status().await.unwrap();
    assert_eq!(status.lag_events, 0, "the checkpoint stands on the last (unwanted) event");
    assert_eq!(status.events_applied, 3, "only wanted events count as applied");
    let last: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(status.checkpoint.global_position, last);
    assert_eq!(h.runner.log_size().await.unwrap(), 3, "a rebuild's total counts wanted events");
}

#[tokio::test]
async fn a_narrow_reader_gets_every_wanted_event_of_many_concurrent_writers_once() {
    let h = Harness::reading(PROBES_ONLY).await;
    h.write_concurrently(6, 20, 4, &[("Other", "-o"), ("Probe", "")]).await;
    let seen = h.deliver_until(6 * 15).await;
    assert_eq!(seen.len(), 6 * 15, "every committed wanted event, once");
    assert!(seen.iter().all(|id| !id.ends_with("-o")), "no unwanted event is delivered");
}
