//! Observed state stays cheap however long it is reported. Rules:
//! - a target's history is bounded (the newest `observations::history(kind)` samples), so the
//!   table holds targets x history rows, not every report ever made;
//! - on one long-lived pool (generic plans made while the tables were empty), once the tables
//!   hold thousands of rows, a report (insert + latest pointer + trim) and the loops' reads
//!   (latest state, a window of samples, the pages of latest states) read `observations` and
//!   `observation_latest` through their indexes only: no sequential scan.

use chrono::Utc;
use domain::envelope::TraceId;
use domain::health::Probe;
use domain::ids::{EnvironmentId, ServiceId};
use sqlx::PgPool;
use tests::TestDb;
use workers::observation::{history, Kind, ObservedState, ObservedWorkload, Observations, ProbeSample, Target};

const TABLES: [&str; 2] = ["observations", "observation_latest"];

/// Sequential scans so far of each table, once every pooled connection flushed its counters.
async fn seq_scans(pool: &PgPool) -> Vec<(String, i64)> {
    tests::flush_stats(pool).await;
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await.unwrap();
    sqlx::query_as("SELECT relname::text, seq_scan FROM pg_stat_user_tables WHERE relname::text = ANY($1) ORDER BY 1")
        .bind(TABLES.map(str::to_owned).to_vec())
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

fn sample(passed: bool) -> ProbeSample {
    ProbeSample { probe: Probe::Readiness, passed, latency_ms: 3, detail: None }
}

fn state(service: ServiceId) -> ObservedState {
    ObservedState {
        workloads: vec![ObservedWorkload {
            service,
            tenant: None,
            version: None,
            digest: None,
            configuration_version: Some(1),
            replicas: Some(2),
            secret_references: vec![],
            namespace: None,
            address: Some("127.0.0.1".into()),
        }],
        unmanaged: vec![],
    }
}

#[tokio::test]
async fn reports_keep_a_bounded_history_and_read_through_indexes_at_size() {
    let db = TestDb::new().await;
    let observations = Observations::new(db.pool.clone());
    let ctx = commands::RequestContext::worker("aks-agent", TraceId::from_uuid(uuid::Uuid::new_v4()));
    let hot = Target::workload(EnvironmentId::generate(), ServiceId::generate(), None);

    // Warm every statement on the empty tables first: their generic plans are made now.
    observations.record(Kind::Probe, &hot, "readiness", &sample(true), &ctx, Utc::now()).await.unwrap();
    observations.probes_since(&hot, &Probe::Readiness, Utc::now() - chrono::Duration::hours(1)).await.unwrap();

    // Grow: one hot target past its history, and 300 environments reporting a few times.
    for i in 0..(history(Kind::Probe) + 300) {
        observations.record(Kind::Probe, &hot, "readiness", &sample(i % 7 != 0), &ctx, Utc::now()).await.unwrap();
    }
    let environments: Vec<EnvironmentId> = (0..300).map(|_| EnvironmentId::generate()).collect();
    for round in 0..4 {
        for env in &environments {
            let target = Target::environment(*env);
            observations.record(Kind::State, &target, "", &state(ServiceId::generate()), &ctx, Utc::now()).await.unwrap();
            let workload = Target::workload(*env, ServiceId::generate(), None);
            observations.record(Kind::Probe, &workload, "readiness", &sample(round % 2 == 0), &ctx, Utc::now()).await.unwrap();
        }
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM observations WHERE kind = 'probe' AND environment_id = $1")
        .bind(hot.environment.to_string())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(kept, history(Kind::Probe), "the hot target keeps its newest samples only");
    let states: i64 = sqlx::query_scalar("SELECT count(*) FROM observations WHERE kind = 'state'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(states, 1_200, "4 reports of 300 environments, under the history of each");

    // At size: reports and the loops' reads scan nothing.
    let before = seq_scans(&db.pool).await;
    for env in environments.iter().take(50) {
        let target = Target::environment(*env);
        observations.record(Kind::State, &target, "", &state(ServiceId::generate()), &ctx, Utc::now()).await.unwrap();
        assert!(observations.latest_state(*env).await.unwrap().is_some());
    }
    for _ in 0..50 {
        observations.record(Kind::Probe, &hot, "readiness", &sample(true), &ctx, Utc::now()).await.unwrap();
        let window = observations
            .probes_since(&hot, &Probe::Readiness, Utc::now() - chrono::Duration::seconds(5))
            .await
            .unwrap();
        assert!(!window.is_empty());
    }
    let mut pages = observations.state_pages(100);
    let mut seen = 0;
    while let Some(page) = pages.next().await.unwrap() {
        seen += page.len();
    }
    assert_eq!(seen, 300, "one latest state per environment");
    let after = seq_scans(&db.pool).await;
    assert_eq!(before, after, "no sequential scan of {TABLES:?} once they have grown");
}
