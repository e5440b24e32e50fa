//! The projection runner commits the read-model change and the checkpoint together: a batch
//! aborted midway leaves nothing behind, and after a restart the read model equals a full
//! rebuild from the log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ::commands::{CommandBus, CommandOptions, RecordedEvent};
use async_trait::async_trait;
use chrono::Utc;
use domain::environments::*;
use projections::environments::EnvironmentsProjector;
use projections::{ProjectionError, ProjectionRunner, Projector};
use sqlx::{PgConnection, PgPool};
use tests::{system_context, TestDb};

/// The real projector, made to fail after `fail_after` events (a crash in mid-batch).
struct Crashing {
    inner: EnvironmentsProjector,
    applied: AtomicUsize,
    fail_after: usize,
}

#[async_trait]
impl Projector for Crashing {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn version(&self) -> i32 {
        self.inner.version()
    }
    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if self.applied.fetch_add(1, Ordering::SeqCst) == self.fail_after {
            return Err(ProjectionError::Aborted("simulated crash".into()));
        }
        self.inner.apply(conn, event).await
    }
    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        self.inner.reset(conn).await
    }
}

async fn view(pool: &PgPool) -> Vec<(String, String, String, i64, serde_json::Value)> {
    sqlx::query_as("SELECT environment_id, name, status, version, state FROM environment_view ORDER BY environment_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn checkpoint(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT transaction_id::text::bigint, global_position FROM projection_checkpoints WHERE projection = 'environments'")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn write_history(bus: &CommandBus) {
    let ctx = system_context();
    for n in 0..6 {
        let id = EnvironmentId::generate().to_string();
        let request = tests::drive::request_environment(&format!("env{n}"));
        bus.execute::<RuntimeEnvironment>(&ctx, &id, request, CommandOptions::default()).await.unwrap();
        bus.execute::<RuntimeEnvironment>(
            &ctx,
            &id,
            EnvironmentCommand::RecordProvisioningStarted { at: Utc::now() },
            CommandOptions::default(),
        )
        .await
        .unwrap();
        if n % 2 == 0 {
            let reason = Reason::parse("quota exceeded").unwrap();
            bus.execute::<RuntimeEnvironment>(
                &ctx,
                &id,
                EnvironmentCommand::RecordProvisioningFailed { reason, at: Utc::now() },
                CommandOptions::default(),
            )
            .await
            .unwrap();
        }
    }
}

#[tokio::test]
async fn a_batch_aborted_midway_leaves_nothing_and_a_restart_equals_a_rebuild() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    write_history(&bus).await;
    let store = bus.routes().environments.store.clone();

    let real =
        ProjectionRunner::new(db.pool.clone(), Arc::new(EnvironmentsProjector::new(store.clone()))).with_batch_size(4);
    real.prepare().await.unwrap();
    // Wait until the history is final (other tests' transactions hold the horizon back).
    let mut conn = db.pool.acquire().await.unwrap();
    let head = projections::reader::latest(&mut conn).await.unwrap();
    while projections::reader::head(&mut conn).await.unwrap() < head {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(real.step().await.unwrap(), 4);
    let view_before = view(&db.pool).await;
    let checkpoint_before = checkpoint(&db.pool).await;

    // The next batch fails on its third event: its first two view changes must roll back too.
    let crashing =
        Crashing { inner: EnvironmentsProjector::new(store.clone()), applied: AtomicUsize::new(0), fail_after: 2 };
    let crashing = ProjectionRunner::new(db.pool.clone(), Arc::new(crashing)).with_batch_size(4);
    assert!(matches!(crashing.step().await, Err(ProjectionError::Aborted(_))));
    assert_eq!(view(&db.pool).await, view_before, "the aborted batch changed nothing");
    assert_eq!(checkpoint(&db.pool).await, checkpoint_before, "the checkpoint did not move");

    // Restart with the real projector and catch up.
    let restarted = ProjectionRunner::new(db.pool.clone(), Arc::new(EnvironmentsProjector::new(store.clone())));
    restarted.prepare().await.unwrap();
    tests::settle(&db.pool, std::slice::from_ref(&restarted)).await;
    let live = view(&db.pool).await;
    assert_eq!(live.len(), 6);
    assert_eq!(live.iter().filter(|r| r.2 == "provisioning_failed").count(), 3);
    let applied = restarted.status().await.unwrap();
    assert_eq!(applied.events_applied, 15, "every event applied once");
    assert_eq!(applied.lag_events, 0);

    // A full rebuild from the log gives the same read model.
    let rebuilt_events = restarted.rebuild().await.unwrap();
    assert_eq!(rebuilt_events, 15);
    assert_eq!(view(&db.pool).await, live);
}

/// The environments projector under a new version number.
struct NextVersion(EnvironmentsProjector);

#[async_trait]
impl Projector for NextVersion {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn version(&self) -> i32 {
        self.0.version() + 1
    }
    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.0.apply(conn, event).await
    }
    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        self.0.reset(conn).await
    }
}

#[tokio::test]
async fn a_new_projector_version_rebuilds_at_start() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    write_history(&bus).await;
    let store = bus.routes().environments.store.clone();
    let v1 = ProjectionRunner::new(db.pool.clone(), Arc::new(EnvironmentsProjector::new(store.clone())));
    v1.prepare().await.unwrap();
    tests::settle(&db.pool, std::slice::from_ref(&v1)).await;
    let built = view(&db.pool).await;
    let built_version = v1.status().await.unwrap().version;
    // Tamper with the view: a rebuild must repair it.
    sqlx::query("UPDATE environment_view SET status = 'bogus'").execute(&db.pool).await.unwrap();
    let v2 = ProjectionRunner::new(db.pool.clone(), Arc::new(NextVersion(EnvironmentsProjector::new(store))));
    v2.prepare().await.unwrap();
    assert!(view(&db.pool).await.is_empty(), "the old version's rows are gone");
    tests::settle(&db.pool, std::slice::from_ref(&v2)).await;
    assert_eq!(view(&db.pool).await, built);
    assert_eq!(v2.status().await.unwrap().version, built_version + 1);
}

#[tokio::test]
async fn a_rebuild_swaps_fresh_tables_in_while_readers_keep_reading() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    write_history(&bus).await;
    let store = bus.routes().environments.store.clone();
    let runner = ProjectionRunner::new(db.pool.clone(), Arc::new(EnvironmentsProjector::new(store))).with_batch_size(4);
    runner.prepare().await.unwrap();
    tests::settle(&db.pool, std::slice::from_ref(&runner)).await;
    let built = view(&db.pool).await;
    let checkpoint_before = checkpoint(&db.pool).await;
    // Damage the live view: the rebuild must replace it with one made from the log.
    sqlx::query("UPDATE environment_view SET status = 'bogus'").execute(&db.pool).await.unwrap();

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (pool, stop) = (db.pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(Ordering::SeqCst) {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM environment_view")
                    .fetch_one(&pool)
                    .await
                    .expect("readers never fail during a rebuild");
                assert_eq!(n, 6, "readers always see a whole read model");
                reads += 1;
            }
            reads
        })
    };
    let seen = Arc::new(AtomicUsize::new(0));
    let progress = seen.clone();
    let rebuilt = runner.rebuild_swapping(&move |n| progress.store(n as usize, Ordering::SeqCst)).await.unwrap();
    stop.store(true, Ordering::SeqCst);
    assert!(reader.await.unwrap() > 0);
    assert_eq!(rebuilt, 15);
    assert_eq!(seen.load(Ordering::SeqCst), 15, "progress reports every event");
    assert_eq!(view(&db.pool).await, built, "the swapped-in view is the one the log makes");
    assert_eq!(checkpoint(&db.pool).await, checkpoint_before);
    let leftovers: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(leftovers, 0);
    // The live runner goes on from the swapped checkpoint.
    write_history_more(&bus).await;
    tests::settle(&db.pool, std::slice::from_ref(&runner)).await;
    assert_eq!(view(&db.pool).await.len(), 7);
}

async fn write_history_more(bus: &CommandBus) {
    let request = tests::drive::request_environment("late");
    bus.execute::<RuntimeEnvironment>(
        &system_context(),
        &EnvironmentId::generate().to_string(),
        request,
        CommandOptions::default(),
    )
    .await
    .unwrap();
}
