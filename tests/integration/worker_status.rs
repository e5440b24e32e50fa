//! The control loops report where they stand, in GraphQL (`workers`) and `/metrics`: their
//! checkpoint, lag, failures (counted, with the last message), their leader (the replica
//! holding the loop's lease, its epoch and expiry) and which replica moved them last; and a
//! loop can be switched off by name (an unknown name is refused). The clock-driven loops
//! (deployment gate, health probe, drift detection) report their rounds, actions and leader.

use serde_json::json;
use tests::{TestApp, TestDb};

const WORKERS: &str =
    "{ workers { name kind leader leaseEpoch leaseExpiresAt leadingHere checkpoint runs lastRunAt eventsHandled lagEvents errors lastError lastErrorAt lastMovedBy lastRoundHere } }";

#[tokio::test]
async fn each_worker_reports_its_progress_and_failures_and_can_be_switched_off() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    let env = tests::drive::ready_environment(app.bus(), "dev1").await;
    let service =
        tests::drive::registered_service(app.bus(), "api", domain::environments::ComputeTargetKind::Aks).await;
    let v1 =
        tests::drive::deploy(app.bus(), tests::drive::start_deployment(service, env, None, "1.0.0")).await.unwrap();
    tests::drive::succeed(app.bus(), v1).await;
    app.settle().await;

    let status = app.gql(WORKERS, json!({})).await;
    assert!(status["errors"].is_null(), "{status}");
    let all = status["data"]["workers"].as_array().unwrap();
    let names: Vec<(&str, &str)> =
        all.iter().map(|w| (w["name"].as_str().unwrap(), w["kind"].as_str().unwrap())).collect();
    assert_eq!(
        names,
        [
            ("supersession", "REACTOR"),
            ("drift-remediation", "REACTOR"),
            ("degraded-rollback", "REACTOR"),
            ("deployment-gate", "LOOP"),
            ("health-probe", "LOOP"),
            ("drift-detection", "LOOP"),
            ("configuration-sync", "LOOP"),
            ("secret-rotation", "LOOP"),
            ("scaling", "LOOP"),
        ]
    );
    // The clock-driven loops: led by the only replica, which ran them (a round at start).
    for w in all.iter().filter(|w| w["kind"] == "LOOP") {
        assert_eq!(w["leader"], workers::reactor::replica_name().as_str(), "{w}");
        assert!(w["checkpoint"].is_null() && w["runs"].as_i64().unwrap() >= 1, "{w}");
        assert_eq!(w["lastMovedBy"], workers::reactor::replica_name().as_str(), "{w}");
        assert!(!w["lastRunAt"].is_null() && !w["lastRoundHere"].is_null(), "{w}");
    }
    let workers: Vec<&serde_json::Value> = all.iter().filter(|w| w["kind"] == "REACTOR").collect();
    for w in workers {
        // Those that read successes answered it; the degraded-rollback worker reads health
        // changes only (there was none).
        let handled = w["eventsHandled"].as_i64().unwrap();
        if w["name"] == "degraded-rollback" {
            assert_eq!(handled, 0, "{w}");
        } else {
            assert!(handled >= 1, "each answered the success: {w}");
        }
        assert_eq!((w["lagEvents"].as_i64(), w["errors"].as_i64()), (Some(0), Some(0)), "{w}");
        assert_eq!(w["lastMovedBy"], workers::reactor::replica_name().as_str());
        assert!(!w["lastRoundHere"].is_null());
        // The only replica leads, under the first epoch, with a lease in the future.
        assert_eq!(w["leader"], workers::reactor::replica_name().as_str(), "{w}");
        assert_eq!((w["leaseEpoch"].as_i64(), w["leadingHere"].as_bool()), (Some(1), Some(true)), "{w}");
        let expires: chrono::DateTime<chrono::Utc> = w["leaseExpiresAt"].as_str().unwrap().parse().unwrap();
        assert!(expires > chrono::Utc::now(), "{w}");
    }

    // A success whose payload does not decode: the supersession worker (which reads it)
    // fails on it, counts it, says why, and stays before it (it retries; nothing after it is
    // skipped). The remediation worker reads a success only when a remediation started its
    // deployment, so it passes.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('RuntimeDeployment', $1, 99, 'DeploymentSucceeded', '1.0', '{\"garbled\": true}', \
                 jsonb_build_object('event_id', gen_random_uuid()))",
    )
    .bind(v1.to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    // Until the garbled event is reached: it is final only once every transaction older than
    // it in the cluster ended (other tests run beside this one), and `catch_up` stops at what
    // is final.
    let mut conn = db.pool.acquire().await.unwrap();
    let target = projections::reader::latest(&mut conn).await.unwrap();
    let outcomes: Vec<(&str, bool)> = futures::future::join_all(app.platform.reactors.iter().map(|r| async move {
        (r.name(), r.catch_up_to(target, std::time::Duration::from_secs(30)).await.is_ok_and(|(_, reached)| reached))
    }))
    .await;
    assert_eq!(outcomes, [("supersession", false), ("drift-remediation", true), ("degraded-rollback", true)]);
    let status = app.gql(WORKERS, json!({})).await;
    let supersession = &status["data"]["workers"][0];
    assert_eq!(supersession["name"], "supersession");
    assert!(supersession["errors"].as_i64().unwrap() >= 1, "{supersession}");
    assert!(supersession["lastError"].as_str().unwrap().contains("could not be decoded"), "{supersession}");
    assert!(supersession["lagEvents"].as_i64().unwrap() >= 1, "the garbled event is still ahead: {supersession}");
    assert_eq!(status["data"]["workers"][1]["errors"], 0);
    let (_, metrics) = app.get_ops("/metrics").await;
    assert!(metrics.contains("reactor_errors_total{reactor=\"supersession\"}"), "{metrics}");
    assert!(metrics.contains("worker_leader{worker=\"supersession\"} 1"), "{metrics}");
    assert!(metrics.contains("reactor_events_total{reactor=\"supersession\"}"));
    assert!(metrics.contains("worker_last_round_timestamp_seconds{worker=\"deployment-gate\"}"), "{metrics}");
    assert!(metrics.contains("worker_leader{worker=\"drift-detection\"} 1"), "{metrics}");

    // Switched off by name; an unknown name is refused with the known ones.
    let mut platform = infra::server::Platform::new(db.pool.clone());
    let refused = platform.switch_off_workers(&["drift-remediaton".to_owned()]).unwrap_err().to_string();
    assert!(
        refused.contains(
            "supersession, drift-remediation, degraded-rollback, deployment-gate, health-probe, drift-detection, \
             configuration-sync, secret-rotation, scaling"
        ),
        "{refused}"
    );
    platform.switch_off_workers(&["drift-remediation".to_owned(), "health-probe".to_owned()]).unwrap();
    let left: Vec<&str> = platform.reactors.iter().map(|r| r.name()).chain(platform.loops.iter().map(|l| l.name())).collect();
    assert_eq!(
        left,
        [
            "supersession",
            "degraded-rollback",
            "deployment-gate",
            "drift-detection",
            "configuration-sync",
            "secret-rotation",
            "scaling"
        ]
    );
}
