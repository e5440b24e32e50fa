//! Rules of the control loops' leadership (`workers::lease`, `commands::fence`):
//! - two replicas of a loop on one database: one leads, and each trigger gets exactly one
//!   reaction (not two reactions of which one is deduplicated);
//! - when the leader dies without handing over, the other replica takes the loop over once the
//!   lease expired, with a new epoch, and reacts to what came meanwhile;
//! - a deposed leader (its lease expired, or taken over) cannot act: its command is refused as
//!   `FENCED` and writes nothing, and it cannot move the loop's checkpoint.
//!
//! The replicas are two runners in this process with their own pools and replica names: the
//! lease and the fence know replicas only by name and meet only in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::commands::log::RecordedEvent;
use ::commands::{CommandBus, CommandError};
use chrono::Utc;
use domain::catalog::{DeploymentCommand, DeploymentStatus, RuntimeDeployment};
use domain::environments::ComputeTargetKind;
use domain::ids::DeploymentId;
use projections::reader::Interest;
use sqlx::PgPool;
use tests::drive::{deploy, ready_environment, registered_service, start_deployment, succeed};
use tests::TestDb;
use workers::lease::{lease_of, Lease};
use workers::reaction;
use workers::{Reactor, ReactorError, ReactorRunner, SupersessionReactor};

/// Long enough that a busy test machine does not starve a leader's renewals (every third of
/// it), short enough to wait out in a test.
const TTL: Duration = Duration::from_secs(4);

/// The supersession worker, counting which replica reacted to which event.
struct Counting {
    replica: &'static str,
    reactions: Arc<Mutex<HashMap<String, Vec<&'static str>>>>,
}

#[async_trait::async_trait]
impl Reactor for Counting {
    fn name(&self) -> &'static str {
        SupersessionReactor.name()
    }

    fn interest(&self) -> Interest {
        SupersessionReactor.interest()
    }

    async fn react(&self, bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        self.reactions.lock().unwrap().entry(reaction::cause(event)).or_default().push(self.replica);
        SupersessionReactor.react(bus, event).await
    }
}

/// A replica: its own pool, bus and runner.
async fn replica(
    db: &TestDb,
    name: &'static str,
    reactions: &Arc<Mutex<HashMap<String, Vec<&'static str>>>>,
) -> ReactorRunner {
    let pool = infra::database::connect(&db.url, 4).await.unwrap();
    let bus = CommandBus::new(pool.clone());
    let reactor = Arc::new(Counting { replica: name, reactions: reactions.clone() });
    let runner = ReactorRunner::for_replica(pool, bus, reactor, name, TTL);
    runner.prepare().await.unwrap();
    runner
}

/// Waits until the loop's checkpoint reaches the newest committed event; returns how long.
async fn settled(pool: &PgPool, runner: &ReactorRunner, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut conn = pool.acquire().await.unwrap();
    let target = projections::reader::latest(&mut conn).await.unwrap();
    while runner.checkpoint().await.unwrap() < target {
        assert!(started.elapsed() < limit, "the loop did not reach {target} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

async fn status(bus: &CommandBus, id: DeploymentId) -> DeploymentStatus {
    bus.routes().deployments.store.load(&id.to_string()).await.unwrap().aggregate.status().unwrap()
}

#[tokio::test]
async fn one_replica_leads_each_trigger_gets_one_reaction_and_a_dead_leader_is_replaced_within_the_lease() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let reactions = Arc::new(Mutex::new(HashMap::new()));
    let a = replica(&db, "replica-a", &reactions).await;
    let b = replica(&db, "replica-b", &reactions).await;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let mut tasks = HashMap::new();
    for runner in [&a, &b] {
        let wake = bus.subscribe_commits();
        tasks.insert(runner.replica().to_owned(), tokio::spawn(runner.clone().run(wake, shutdown.clone())));
    }

    // Six successive successes of one service in one environment: each supersedes the last.
    let environment = ready_environment(&bus, "dev-1").await;
    let api = registered_service(&bus, "api", ComputeTargetKind::Aks).await;
    let mut deployments = Vec::new();
    for i in 0..6 {
        let id = deploy(&bus, start_deployment(api, environment, None, &format!("1.0.{i}"))).await.unwrap();
        succeed(&bus, id).await;
        deployments.push(id);
    }
    settled(&db.pool, &a, Duration::from_secs(30)).await;
    for id in &deployments[..5] {
        assert_eq!(status(&bus, *id).await, DeploymentStatus::Superseded);
    }
    assert_eq!(status(&bus, deployments[5]).await, DeploymentStatus::Succeeded);
    let leader = lease_of(&db.pool, "supersession").await.unwrap().expect("a leader");
    {
        let reactions = reactions.lock().unwrap();
        assert_eq!(reactions.len(), 6, "one reaction per success: {reactions:?}");
        for (event, by) in reactions.iter() {
            assert_eq!(by, &vec![leader.holder.as_str()], "event {event}: reacted to once, by the leader");
        }
    }

    // The leader dies without handing over (its task is gone, its lease stays until expiry).
    let follower = if leader.holder == "replica-a" { "replica-b" } else { "replica-a" };
    tasks.remove(&leader.holder).unwrap().abort();
    let killed = Instant::now();
    let next = deploy(&bus, start_deployment(api, environment, None, "1.1.0")).await.unwrap();
    succeed(&bus, next).await;
    settled(&db.pool, &a, TTL * 4 + Duration::from_secs(5)).await;
    let handed_over = killed.elapsed();
    let new_leader = lease_of(&db.pool, "supersession").await.unwrap().expect("a leader");
    assert_eq!(new_leader.holder, follower, "the other replica took the loop over");
    assert_eq!(new_leader.epoch, leader.epoch + 1, "a new holder is a new epoch");
    assert_eq!(status(&bus, deployments[5]).await, DeploymentStatus::Superseded);
    let reactions = reactions.lock().unwrap();
    assert_eq!(reactions.len(), 7);
    let last: Vec<_> = reactions.values().filter(|by| by.as_slice() == [follower]).collect();
    assert_eq!(last.len(), 1, "the new leader reacted to the new success only, once: {reactions:?}");
    // Within the lease: the expiry, plus a follower's poll and the reaction itself.
    assert!(handed_over < TTL + Duration::from_secs(3), "handed over after {handed_over:?}");
}

#[tokio::test]
async fn a_deposed_leader_cannot_act_nor_move_the_checkpoint() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let environment = ready_environment(&bus, "dev-1").await;
    let api = registered_service(&bus, "api", ComputeTargetKind::Aks).await;
    let first = deploy(&bus, start_deployment(api, environment, None, "1.0.0")).await.unwrap();
    succeed(&bus, first).await;
    let second = deploy(&bus, start_deployment(api, environment, None, "1.1.0")).await.unwrap();
    succeed(&bus, second).await;
    let supersede = |by| DeploymentCommand::MarkSuperseded { by, at: Utc::now() };
    let ctx =
        ::commands::RequestContext::worker("supersession", domain::envelope::TraceId::from_uuid(uuid::Uuid::new_v4()));
    let events = || async { db.event_count().await };

    // Replica a leads; its lease expires (a pause longer than the lease): even before anyone
    // takes over, its command is refused and writes nothing.
    let a = Lease::new(db.pool.clone(), "supersession", "replica-a", TTL);
    let fence_a = a.hold().await.unwrap().expect("a free lease is taken");
    sqlx::query("UPDATE worker_leases SET expires_at = clock_timestamp() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    let before = events().await;
    let refused = bus
        .fenced(fence_a.clone())
        .execute::<RuntimeDeployment>(&ctx, &first.to_string(), supersede(second), Default::default())
        .await;
    assert!(matches!(&refused, Err(CommandError::Fenced(f)) if *f == fence_a), "{refused:?}");
    assert_eq!(refused.unwrap_err().code(), "FENCED");
    assert_eq!(events().await, before, "a refused command writes nothing");

    // Replica b takes over (epoch 2); a's late command is still refused, b's passes.
    let b = Lease::new(db.pool.clone(), "supersession", "replica-b", TTL);
    let fence_b = b.hold().await.unwrap().expect("an expired lease is taken over");
    assert_eq!(fence_b.epoch, fence_a.epoch + 1);
    let late = bus
        .fenced(fence_a.clone())
        .execute::<RuntimeDeployment>(&ctx, &first.to_string(), supersede(second), Default::default())
        .await;
    assert!(matches!(late, Err(CommandError::Fenced(_))), "{late:?}");
    assert_eq!(events().await, before);
    // The dry run checks the fence too.
    let rehearsed = bus
        .fenced(fence_a.clone())
        .execute::<RuntimeDeployment>(
            &ctx,
            &first.to_string(),
            supersede(second),
            ::commands::CommandOptions { dry_run: true, ..Default::default() },
        )
        .await;
    assert!(matches!(rehearsed, Err(CommandError::Fenced(_))), "{rehearsed:?}");
    bus.fenced(fence_b.clone())
        .execute::<RuntimeDeployment>(&ctx, &first.to_string(), supersede(second), Default::default())
        .await
        .unwrap();
    assert_eq!(events().await, before + 1);
    assert_eq!(status(&bus, first).await, DeploymentStatus::Superseded);

    // A runner that still believes it leads (its lease confirmed a moment ago) but was taken
    // over: its batch's command is refused and its checkpoint stays.
    let third = deploy(&bus, start_deployment(api, environment, None, "1.2.0")).await.unwrap();
    succeed(&bus, third).await;
    let runner = ReactorRunner::for_replica(
        db.pool.clone(),
        bus.clone(),
        Arc::new(SupersessionReactor),
        "replica-c",
        Duration::from_secs(60),
    );
    runner.prepare().await.unwrap();
    sqlx::query("UPDATE worker_leases SET expires_at = clock_timestamp() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(runner.lease().hold().await.unwrap().is_some(), "c takes the expired lease");
    let checkpoint = runner.checkpoint().await.unwrap();
    let d = Lease::new(db.pool.clone(), "supersession", "replica-d", TTL);
    sqlx::query("UPDATE worker_leases SET expires_at = clock_timestamp() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    let fence_d = d.hold().await.unwrap().expect("d takes c's expired lease");
    let before = events().await;
    assert_eq!(runner.step().await.unwrap(), 0, "a deposed runner reacts to nothing");
    assert_eq!(runner.checkpoint().await.unwrap(), checkpoint, "and leaves the checkpoint");
    assert_eq!(events().await, before, "its commands were refused");
    assert_eq!(status(&bus, second).await, DeploymentStatus::Succeeded);
    assert_eq!(lease_of(&db.pool, "supersession").await.unwrap().unwrap().epoch, fence_d.epoch);
}

/// A loop whose reactions are slow, counting them.
struct Slow {
    reactions: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl Reactor for Slow {
    fn name(&self) -> &'static str {
        "slow-test"
    }

    fn interest(&self) -> Interest {
        Interest::EventTypes(&["ServiceRegistered"])
    }

    async fn react(&self, _bus: &CommandBus, event: &RecordedEvent) -> Result<(), ReactorError> {
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.reactions.lock().unwrap().push(reaction::cause(event));
        Ok(())
    }
}

/// The rule: a batch that takes longer than the lease keeps the lease (renewed as it goes),
/// so the leader finishes it once and moves the checkpoint, instead of losing the lease at
/// the end of every batch and starting it over.
#[tokio::test]
async fn a_batch_longer_than_the_lease_keeps_it() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    for i in 0..8 {
        registered_service(&bus, &format!("svc-{i}"), ComputeTargetKind::Aks).await;
    }
    let reactions = Arc::new(Mutex::new(Vec::new()));
    let ttl = Duration::from_millis(600);
    let runner = ReactorRunner::for_replica(
        db.pool.clone(),
        bus.clone(),
        Arc::new(Slow { reactions: reactions.clone() }),
        "replica-a",
        ttl,
    );
    runner.prepare().await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let target = projections::reader::latest(&mut conn).await.unwrap();
    // One batch of 8 x 150 ms: twice the lease.
    let (handled, reached) = runner.catch_up_to(target, Duration::from_secs(20)).await.unwrap();
    assert!(reached, "the batch was finished and checkpointed");
    assert_eq!(handled, 8);
    assert_eq!(reactions.lock().unwrap().len(), 8, "each event once: no batch was started over");
    let lease = lease_of(&db.pool, "slow-test").await.unwrap().unwrap();
    assert_eq!((lease.holder.as_str(), lease.epoch), ("replica-a", 1));
}
