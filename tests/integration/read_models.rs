//! The read models (catalog, inventory, drift, health, deployments, audit) against a real
//! PostgreSQL, driven through the command bus: a realistic story with the tables asserted,
//! then random command sequences where live projection (batches interleaved with commands)
//! equals a rebuild, and the temporal inventory equals a replay of the log at several instants.

use ::commands::{CommandBus, CommandOptions, RecordedEvent};
use chrono::{DateTime, Utc};
use domain::catalog::*;
use domain::envelope::TenantId;
use domain::environments::{ComputeTargetKind, EnvironmentCommand, Reason, RuntimeEnvironment};
use domain::health::{
    DriftClass, DriftCommand, DriftFinding, DriftTarget, DriftValues, HealthCommand, HealthTarget, Probe, RuntimeHealth,
};
use domain::ids::{DeploymentId, EnvironmentId, ServiceId};
use domain::tenancy::{
    DataPartition, IsolationModel, NetworkPolicy, Quotas, RuntimeTenantBinding, TenantBindingCommand, WorkloadIdentity,
};
use projections::inventory::{inventory_as_of, runtime_diff_by, DiffCandidates, DiffEntry, InventoryPage};
use projections::registry::all_projectors;
use projections::{ProjectionError, ProjectionRunner, Projector};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use tests::drive::{
    configure, define_scaling, deploy, next_configuration, ready_environment, registered_service,
    roll_back_configuration, run_deployment as run, scale, start_deployment, succeed,
};
use tests::replay::{diff_by_replay, inventory_by_replay};
use tests::{system_context, TestDb};

/// A projector fed every event, whatever its interest.
struct Wide(Arc<dyn Projector>);

#[async_trait::async_trait]
impl Projector for Wide {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn version(&self) -> i32 {
        self.0.version()
    }
    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.0.apply(conn, event).await
    }
    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        self.0.apply_batch(conn, events).await
    }
    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        self.0.reset(conn).await
    }
    fn tables(&self) -> &'static [&'static str] {
        self.0.tables()
    }
}

fn opts() -> CommandOptions {
    CommandOptions::default()
}

fn runners(bus: &CommandBus, pool: &PgPool, batch: i64) -> Vec<ProjectionRunner> {
    all_projectors(bus.routes())
        .into_iter()
        .map(|p| ProjectionRunner::new(pool.clone(), p).with_batch_size(batch))
        .collect()
}

async fn prepare(runners: &[ProjectionRunner]) {
    for r in runners {
        r.prepare().await.unwrap();
    }
}

async fn decommission(bus: &CommandBus, env: EnvironmentId) {
    let ctx = system_context();
    let s = env.to_string();
    bus.execute::<RuntimeEnvironment>(
        &ctx,
        &s,
        EnvironmentCommand::Decommission { reason: Reason::parse("done").unwrap(), at: Utc::now() },
        opts(),
    )
    .await
    .unwrap();
    bus.execute::<RuntimeEnvironment>(&ctx, &s, EnvironmentCommand::RecordDecommissioned { at: Utc::now() }, opts())
        .await
        .unwrap();
}

async fn bind_tenant(bus: &CommandBus, tenant: &str, env: EnvironmentId) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let ctx = system_context();
    let bind = TenantBindingCommand::BindTenant {
        tenant: TenantId::parse(tenant).unwrap(),
        environment: env,
        isolation: IsolationModel::Shared,
        namespace: None,
        identity: WorkloadIdentity::parse("0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11").unwrap(),
        network_policy: NetworkPolicy::DenyCrossTenant,
        data_partition: DataPartition::parse(&format!("p-{tenant}")).unwrap(),
        quotas: Quotas::new(4000, 8192, 20, 10, 1000).unwrap(),
        at: Utc::now(),
    };
    bus.execute::<RuntimeTenantBinding>(&ctx, &id, bind, opts()).await.unwrap();
    bus.execute::<RuntimeTenantBinding>(&ctx, &id, TenantBindingCommand::ActivateBinding { at: Utc::now() }, opts())
        .await
        .unwrap();
    id
}

async fn fail_and_roll_back(bus: &CommandBus, id: DeploymentId, target: DeploymentId) {
    run(bus, id, DeploymentCommand::BeginRollout { at: Utc::now() }).await.unwrap();
    run(bus, id, DeploymentCommand::FailDeployment { reason: Reason::parse("crash loop").unwrap(), at: Utc::now() })
        .await
        .unwrap();
    run(bus, id, DeploymentCommand::RollBack { target, at: Utc::now() }).await.unwrap();
    run(bus, id, DeploymentCommand::RecordRolledBack { at: Utc::now() }).await.unwrap();
}

async fn track_health(bus: &CommandBus, service: ServiceId, env: EnvironmentId) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let cmd = HealthCommand::TrackHealth {
        target: HealthTarget::new(service, env, None),
        startup_probe: false,
        at: Utc::now(),
    };
    bus.execute::<RuntimeHealth>(&system_context(), &id, cmd, opts()).await.unwrap();
    id
}

async fn probe(bus: &CommandBus, health: &str, which: &str, passed: bool) {
    let cmd = HealthCommand::RecordProbeResult {
        probe: Probe::parse(which).unwrap(),
        passed,
        latency_ms: 5,
        detail: None,
        at: Utc::now(),
    };
    bus.execute::<RuntimeHealth>(&system_context(), health, cmd, opts()).await.unwrap();
}

async fn detect_drift(bus: &CommandBus, env: EnvironmentId, service: ServiceId) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let cmd = DriftCommand::DetectDrift {
        target: DriftTarget::new(env, Some(service), None, None).unwrap(),
        class: DriftClass::Version,
        values: DriftValues::parse(Some("1.0.0"), Some("0.9.0")).unwrap(),
        at: Utc::now(),
    };
    bus.execute::<DriftFinding>(&system_context(), &id, cmd, opts()).await.unwrap();
    id
}

async fn resolve_drift(bus: &CommandBus, finding: &str) {
    bus.execute::<DriftFinding>(&system_context(), finding, DriftCommand::ResolveDrift { at: Utc::now() }, opts())
        .await
        .unwrap();
}

/// Every read-model table as JSON, in a stable order.
async fn dump(pool: &PgPool) -> Value {
    let tables = [
        ("catalog_services", "service_id"),
        ("catalog_service_environments", "service_id, environment_id, tenant_id"),
        ("catalog_deployments", "deployment_id"),
        ("catalog_health", "health_id"),
        ("runtime_inventory", "opened_position"),
        ("inventory_deployments", "deployment_id"),
        ("inventory_services", "service_id"),
        ("drift_view", "finding_id"),
        ("health_view", "health_id"),
        ("health_history", "global_position"),
        ("deployment_history", "deployment_id"),
        ("audit_log", "global_position"),
        ("environment_view", "environment_id"),
    ];
    let mut out = serde_json::Map::new();
    for (table, order) in tables {
        let (v,): (Value,) =
            sqlx::query_as(&format!("SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY {order}), '[]') FROM {table} t"))
                .fetch_one(pool)
                .await
                .unwrap();
        out.insert(table.to_owned(), v);
    }
    Value::Object(out)
}

async fn all_events(pool: &PgPool) -> Vec<RecordedEvent> {
    sqlx::query_as(&format!(
        "SELECT {} FROM events ORDER BY transaction_id, global_position",
        ::commands::log::RECORDED_EVENT_COLUMNS
    ))
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn db_now(pool: &PgPool) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(pool).await.unwrap()
}

async fn rows(pool: &PgPool, sql: &str) -> Vec<Value> {
    sqlx::query_scalar(&format!("SELECT to_jsonb(t) FROM ({sql}) t")).fetch_all(pool).await.unwrap()
}

#[tokio::test]
async fn a_realistic_story_fills_every_read_model() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let runners = runners(&bus, &db.pool, 7);
    prepare(&runners).await;

    let env = ready_environment(&bus, "story").await;
    let api = registered_service(&bus, "api", ComputeTargetKind::Aks).await;
    let web = registered_service(&bus, "web", ComputeTargetKind::ContainerApps).await;
    let ctx = system_context();
    bus.execute::<RuntimeService>(&ctx, &api.to_string(), ServiceCommand::ActivateService { at: Utc::now() }, opts())
        .await
        .unwrap();
    bus.execute::<RuntimeService>(
        &ctx,
        &web.to_string(),
        ServiceCommand::DeclareDependency { on: api, at: Utc::now() },
        opts(),
    )
    .await
    .unwrap();
    bind_tenant(&bus, "contoso", env).await;

    let v1 = deploy(&bus, start_deployment(api, env, None, "1.0.0")).await.unwrap();
    succeed(&bus, v1).await;
    let t_v1 = db_now(&db.pool).await;
    let v2 = deploy(&bus, start_deployment(api, env, None, "2.0.0")).await.unwrap();
    fail_and_roll_back(&bus, v2, v1).await;
    let t_rolled_back = db_now(&db.pool).await;
    let w1 = deploy(&bus, start_deployment(web, env, Some("contoso"), "1.1.0")).await.unwrap();
    succeed(&bus, w1).await;
    let cancelled = deploy(&bus, start_deployment(web, env, None, "9.9.9")).await.unwrap();
    run(&bus, cancelled, DeploymentCommand::Cancel { reason: Reason::parse("wrong build").unwrap(), at: Utc::now() })
        .await
        .unwrap();

    let health = track_health(&bus, api, env).await;
    probe(&bus, &health, "liveness", true).await;
    probe(&bus, &health, "readiness", false).await;
    probe(&bus, &health, "readiness", true).await;
    let drift = detect_drift(&bus, env, api).await;
    resolve_drift(&bus, &drift).await;
    let open_drift = detect_drift(&bus, env, web).await;

    tests::settle(&db.pool, &runners).await;

    // Catalog.
    let services =
        rows(&db.pool, "SELECT name, status, compute_kind, dependencies FROM catalog_services ORDER BY name").await;
    assert_eq!(services[0]["name"], "api");
    assert_eq!(services[0]["status"], "active");
    assert_eq!(services[0]["compute_kind"], "aks");
    assert_eq!(services[1]["dependencies"], serde_json::json!([api.to_string()]));
    let placements = rows(
        &db.pool,
        &format!(
            "SELECT service_id, tenant_id, deployed_version, deployed_deployment_id, deployment_id, deployment_status, health_status \
               FROM catalog_service_environments WHERE environment_id = '{env}' ORDER BY service_id = '{api}' DESC, tenant_id DESC"
        ),
    )
    .await;
    assert_eq!(placements.len(), 3, "{placements:#?}");
    assert_eq!(placements[0]["deployed_version"], "1.0.0", "the rollback put 1.0.0 back");
    assert_eq!(placements[0]["deployed_deployment_id"], v1.to_string());
    assert_eq!(placements[0]["deployment_id"], v2.to_string());
    assert_eq!(placements[0]["deployment_status"], "rolled_back");
    assert_eq!(placements[0]["health_status"], "healthy");
    assert_eq!(placements[1]["tenant_id"], "contoso");
    assert_eq!(placements[1]["deployed_version"], "1.1.0");
    assert_eq!(placements[2]["tenant_id"], "");
    assert_eq!(placements[2]["deployed_version"], Value::Null);
    assert_eq!(placements[2]["deployment_status"], "cancelled");

    // Deployment history with the rollback chain.
    let mut conn = db.pool.acquire().await.unwrap();
    let history =
        projections::deployments::deployment_history(&mut conn, &api.to_string(), &env.to_string()).await.unwrap();
    assert_eq!(history.iter().map(|d| d.status.as_str()).collect::<Vec<_>>(), ["succeeded", "rolled_back"]);
    assert_eq!(history[1].rollback_target.as_deref(), Some(v1.to_string().as_str()));
    assert!(history.iter().all(|d| d.finished_at.is_some()));

    // Health: current status and one history row per change.
    let hv = rows(&db.pool, "SELECT status, open_incident FROM health_view").await;
    assert_eq!(hv, vec![serde_json::json!({ "status": "healthy", "open_incident": null })]);
    let changes: Vec<(String, String)> =
        sqlx::query_as("SELECT from_status, to_status FROM health_history ORDER BY global_position")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        changes,
        [("unknown", "healthy"), ("healthy", "degraded"), ("degraded", "healthy")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );

    // Drift: one closed, one open.
    let dv: Vec<(String, String, bool)> =
        sqlx::query_as("SELECT finding_id, status, closed_at IS NOT NULL FROM drift_view ORDER BY detected_at")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        dv,
        vec![(drift.clone(), "resolved".to_owned(), true), (open_drift.clone(), "detected".to_owned(), false)]
    );

    // Audit: every event, with actor and trace.
    let (audited, with_actor): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(actor) FROM audit_log").fetch_one(&db.pool).await.unwrap();
    assert_eq!(audited, db.event_count().await);
    assert_eq!(with_actor, audited);

    // Inventory: now, and in the past.
    let now = inventory_as_of(&mut conn, db_now(&db.pool).await, None, None).await.unwrap();
    assert_eq!(now.len(), 2, "{now:#?}");
    let api_now = now.iter().find(|r| r.service_id == api.to_string()).unwrap();
    assert_eq!((api_now.version.as_str(), api_now.deployment_id.clone()), ("1.0.0", v1.to_string()));
    assert_eq!(api_now.compute_kind.as_deref(), Some("aks"));
    let contoso =
        inventory_as_of(&mut conn, db_now(&db.pool).await, Some("contoso"), Some(&env.to_string())).await.unwrap();
    assert_eq!(contoso.len(), 1);
    assert_eq!((contoso[0].version.as_str(), contoso[0].compute_kind.as_deref()), ("1.1.0", Some("container_apps")));
    let then = inventory_as_of(&mut conn, t_v1, None, None).await.unwrap();
    assert_eq!(then.len(), 1);
    assert_eq!(then[0].version, "1.0.0");
    let at_rollback = inventory_as_of(&mut conn, t_rolled_back, Some(""), None).await.unwrap();
    assert_eq!(at_rollback.len(), 1);
    assert_eq!(at_rollback[0].deployment_id, v1.to_string());
    // The rollback closed the first period and opened another with the same version.
    let periods: i64 = sqlx::query_scalar("SELECT count(*) FROM runtime_inventory WHERE service_id = $1")
        .bind(api.to_string())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(periods, 2);

    // Decommissioning ends everything in the environment.
    decommission(&bus, env).await;
    tests::settle(&db.pool, &runners).await;
    assert!(inventory_as_of(&mut conn, db_now(&db.pool).await, None, None).await.unwrap().is_empty());
    assert_eq!(inventory_as_of(&mut conn, t_v1, None, None).await.unwrap().len(), 1, "the past is kept");
    let events = all_events(&db.pool).await;
    for t in [t_v1, t_rolled_back, db_now(&db.pool).await] {
        assert_eq!(inventory_as_of(&mut conn, t, None, None).await.unwrap(), inventory_by_replay(&events, t));
    }
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One (service, environment, tenant) slot of the random model: its in-flight deployment and
/// the last one that succeeded.
#[derive(Clone)]
struct Slot {
    service: ServiceId,
    env: EnvironmentId,
    tenant: Option<&'static str>,
    active: Option<(DeploymentId, u8)>,
    last_good: Option<DeploymentId>,
}

/// Runs one random history; returns how many rollbacks, decommissions, instants and changes of
/// configuration or replicas it had.
async fn random_run(seed: u64) -> (usize, usize, usize, usize) {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    let runners = runners(&bus, &db.pool, 1 + (seed % 5) as i64);
    prepare(&runners).await;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);

    let envs = [ready_environment(&bus, "ea").await, ready_environment(&bus, "eb").await];
    bind_tenant(&bus, "contoso", envs[0]).await;
    let services = [
        registered_service(&bus, "s1", ComputeTargetKind::Aks).await,
        registered_service(&bus, "s2", ComputeTargetKind::Functions).await,
    ];
    let mut slots = Vec::new();
    for &service in &services {
        for &env in &envs {
            slots.push(Slot { service, env, tenant: None, active: None, last_good: None });
        }
        slots.push(Slot { service, env: envs[0], tenant: Some("contoso"), active: None, last_good: None });
    }
    // Each slot's configuration (active version, versions proposed) and scaling policy
    // (current replicas), changed at random below: the inventory splits its periods on them.
    let mut configs = Vec::new();
    let mut policies = Vec::new();
    for slot in &slots {
        configs.push((configure(&bus, slot.service, slot.env, slot.tenant).await, 0u32, 0u32));
        policies.push((define_scaling(&bus, slot.service, slot.env, slot.tenant).await, 1u32));
    }
    let mut settings_changes = 0;
    let mut healths: Vec<String> = Vec::new();
    let mut drifts: Vec<(String, bool)> = Vec::new();
    let mut instants = Vec::new();
    let mut decommissioned = false;
    let mut version = 0u32;
    let mut rollbacks = 0;

    for step in 0..80 {
        match rng.below(12) {
            0..=5 => {
                let i = rng.below(slots.len());
                let slot = &mut slots[i];
                if decommissioned && slot.env == envs[1] {
                    continue;
                }
                match slot.active {
                    None => {
                        version += 1;
                        let v = format!("1.{version}.0");
                        let id = deploy(&bus, start_deployment(slot.service, slot.env, slot.tenant, &v)).await.unwrap();
                        slot.active = Some((id, 0));
                    }
                    Some((id, phase)) => match (phase, rng.below(3)) {
                        (0, 0) => {
                            run(
                                &bus,
                                id,
                                DeploymentCommand::Cancel { reason: Reason::parse("nah").unwrap(), at: Utc::now() },
                            )
                            .await
                            .unwrap();
                            slot.active = None;
                        }
                        (0, _) => {
                            run(&bus, id, DeploymentCommand::BeginRollout { at: Utc::now() }).await.unwrap();
                            slot.active = Some((id, 1));
                        }
                        (1, 0) if slot.last_good.is_some() => {
                            fail_and_roll_back_from_in_progress(&bus, id, slot.last_good.unwrap()).await;
                            slot.active = None;
                            rollbacks += 1;
                        }
                        _ => {
                            run(
                                &bus,
                                id,
                                DeploymentCommand::RecordStepProgress { step: 0, percent: 100, at: Utc::now() },
                            )
                            .await
                            .unwrap();
                            let gate = GateName::parse("availability").unwrap();
                            run(
                                &bus,
                                id,
                                DeploymentCommand::RecordHealthGateResult {
                                    gate,
                                    passed: true,
                                    observed: 99.9,
                                    at: Utc::now(),
                                },
                            )
                            .await
                            .unwrap();
                            run(&bus, id, DeploymentCommand::Promote { at: Utc::now() }).await.unwrap();
                            slot.active = None;
                            slot.last_good = Some(id);
                        }
                    },
                }
            }
            6 => {
                if healths.len() < 2 {
                    let s = services[healths.len()];
                    healths.push(track_health(&bus, s, envs[0]).await);
                } else {
                    let h = healths[rng.below(healths.len())].clone();
                    let which = ["liveness", "readiness"][rng.below(2)];
                    // A repeated result records nothing, which is fine.
                    probe(&bus, &h, which, rng.below(2) == 0).await;
                }
            }
            7 => {
                if let Some(open) = drifts.iter_mut().find(|(_, open)| *open) {
                    resolve_drift(&bus, &open.0).await;
                    open.1 = false;
                } else {
                    let s = services[rng.below(2)];
                    drifts.push((detect_drift(&bus, envs[0], s).await, true));
                }
            }
            10 | 11 => {
                let i = rng.below(slots.len());
                if decommissioned && slots[i].env == envs[1] {
                    continue;
                }
                settings_changes += 1;
                if rng.below(2) == 0 {
                    let (id, active, proposed) = &mut configs[i];
                    if *active > 1 && rng.below(3) == 0 {
                        let older = 1 + rng.below(*active as usize - 1) as u32;
                        roll_back_configuration(&bus, id, older).await;
                        *active = older;
                    } else {
                        *proposed = next_configuration(&bus, id).await;
                        *active = *proposed;
                    }
                } else {
                    let (id, current) = &mut policies[i];
                    let to = 1 + rng.below(20) as u32;
                    if to != *current {
                        scale(&bus, id, *current, to).await;
                        *current = to;
                    }
                }
            }
            8 if !decommissioned && step > 50 && slots.iter().all(|s| s.env != envs[1] || s.active.is_none()) => {
                decommission(&bus, envs[1]).await;
                decommissioned = true;
            }
            _ => {
                instants.push(db_now(&db.pool).await);
            }
        }
        // Live projection, interleaved with the commands.
        if rng.below(3) == 0 {
            for r in &runners {
                r.step().await.unwrap();
            }
        }
    }
    // End every rollout in the second environment, then decommission it.
    if !decommissioned {
        for slot in slots.iter_mut().filter(|s| s.env == envs[1]) {
            match slot.active.take() {
                Some((id, 0)) => {
                    run(&bus, id, DeploymentCommand::Cancel { reason: Reason::parse("nah").unwrap(), at: Utc::now() })
                        .await
                        .unwrap();
                }
                Some((id, _)) => {
                    run(&bus, id, DeploymentCommand::RecordStepProgress { step: 0, percent: 100, at: Utc::now() })
                        .await
                        .unwrap();
                    let gate = GateName::parse("availability").unwrap();
                    run(
                        &bus,
                        id,
                        DeploymentCommand::RecordHealthGateResult {
                            gate,
                            passed: true,
                            observed: 99.9,
                            at: Utc::now(),
                        },
                    )
                    .await
                    .unwrap();
                    run(&bus, id, DeploymentCommand::Promote { at: Utc::now() }).await.unwrap();
                }
                None => {}
            }
        }
        instants.push(db_now(&db.pool).await);
        decommission(&bus, envs[1]).await;
        decommissioned = true;
    }
    instants.push(db_now(&db.pool).await);
    tests::settle(&db.pool, &runners).await;
    let live = dump(&db.pool).await;
    let events = all_events(&db.pool).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let mut seen_nonempty = false;
    for &t in &instants {
        let projected = inventory_as_of(&mut conn, t, None, None).await.unwrap();
        let upto: Vec<RecordedEvent> = events.iter().filter(|e| e.recorded_at <= t).cloned().collect();
        assert_eq!(projected, inventory_by_replay(&upto, t), "seed {seed}, instant {t}");
        seen_nonempty |= !projected.is_empty();
        for tenant in ["", "contoso"] {
            let filtered = inventory_as_of(&mut conn, t, Some(tenant), None).await.unwrap();
            let expected: Vec<_> = projected.iter().filter(|r| r.tenant_id == tenant).cloned().collect();
            assert_eq!(filtered, expected);
        }
    }
    assert!(
        seen_nonempty || instants.len() < 3,
        "seed {seed}: the run never had anything running at a sampled instant"
    );
    // The diff between any two sampled instants, either way round, is the difference of the
    // two replayed states, with the same events named for each change; also for one tenant and
    // one environment, and for each way of finding the candidates, whole or read in pages of two.
    let mut listed = 0;
    let env = envs[0].to_string();
    let scopes =
        [(None, None), (None, Some("contoso")), (Some(env.as_str()), None), (Some(env.as_str()), Some("contoso"))];
    for (i, &from) in instants.iter().enumerate() {
        for &to in &instants[i..] {
            for (from, to) in [(from, to), (to, from)] {
                for (environment, tenant) in scopes {
                    let mut expected = diff_by_replay(&events, from, to);
                    expected.retain(|e| {
                        tenant.is_none_or(|t| e.tenant_id == t) && environment.is_none_or(|v| e.environment_id == v)
                    });
                    let what =
                        format!("seed {seed}, diff {from} -> {to}, environment {environment:?}, tenant {tenant:?}");
                    for how in [DiffCandidates::Auto, DiffCandidates::Boundaries, DiffCandidates::KeyWalk] {
                        let page = InventoryPage { tenant, environment, limit: 10_000, ..Default::default() };
                        let whole = without_targets(runtime_diff_by(&mut conn, from, to, &page, how).await.unwrap());
                        assert_eq!(whole, expected, "{what}, {how:?}");
                        if how == DiffCandidates::Auto {
                            continue;
                        }
                        let mut paged: Vec<DiffEntry> = Vec::new();
                        loop {
                            let last = paged
                                .last()
                                .map(|e| (e.environment_id.clone(), e.service_id.clone(), e.tenant_id.clone()));
                            let after = last.as_ref().map(|(e, s, t)| (e.as_str(), s.as_str(), t.as_str()));
                            let page = InventoryPage { tenant, environment, limit: 2, after, ..Default::default() };
                            let next = without_targets(runtime_diff_by(&mut conn, from, to, &page, how).await.unwrap());
                            let done = next.len() < 2;
                            paged.extend(next);
                            if done {
                                break;
                            }
                        }
                        assert_eq!(paged, expected, "{what}, paged, {how:?}");
                    }
                    listed += expected.len();
                }
            }
        }
    }
    assert!(listed > 0 || instants.len() < 3, "seed {seed}: no diff between sampled instants listed anything");
    for r in &runners {
        r.rebuild_swapping(&|_| {}).await.unwrap();
    }
    let rebuilt = dump(&db.pool).await;
    assert_eq!(live, rebuilt, "seed {seed}: live projection differs from a rebuild");
    // A projector's interest must not leave out an event it uses: fed the whole log, each
    // builds the same tables.
    for p in all_projectors(bus.routes()) {
        ProjectionRunner::new(db.pool.clone(), Arc::new(Wide(p))).rebuild_swapping(&|_| {}).await.unwrap();
    }
    let wide = dump(&db.pool).await;
    assert_eq!(live, wide, "seed {seed}: a projector's interest leaves out events it needs");
    (rollbacks, usize::from(decommissioned), instants.len(), settings_changes)
}

/// The entries as the replay computes them: the replay does not follow compute targets.
fn without_targets(mut entries: Vec<DiffEntry>) -> Vec<DiffEntry> {
    for entry in &mut entries {
        for state in [&mut entry.before, &mut entry.after].into_iter().flatten() {
            state.compute_target = None;
        }
    }
    entries
}

async fn fail_and_roll_back_from_in_progress(bus: &CommandBus, id: DeploymentId, target: DeploymentId) {
    run(bus, id, DeploymentCommand::FailDeployment { reason: Reason::parse("crash loop").unwrap(), at: Utc::now() })
        .await
        .unwrap();
    run(bus, id, DeploymentCommand::RollBack { target, at: Utc::now() }).await.unwrap();
    run(bus, id, DeploymentCommand::RecordRolledBack { at: Utc::now() }).await.unwrap();
}

#[tokio::test]
async fn random_histories_project_live_as_they_rebuild_and_the_inventory_replays() {
    let runs: Vec<_> = (1..=6u64).map(|seed| tokio::spawn(random_run(seed))).collect();
    let (mut rollbacks, mut decommissions, mut instants, mut changes) = (0, 0, 0, 0);
    for r in runs {
        let (r, d, i, c) = r.await.unwrap();
        rollbacks += r;
        decommissions += d;
        instants += i;
        changes += c;
    }
    // The generator must reach the interesting transitions, or the comparison proves little.
    assert!(
        rollbacks > 0 && decommissions > 0 && instants > 12 && changes > 12,
        "rollbacks {rollbacks}, decommissions {decommissions}, instants {instants}, settings changes {changes}"
    );
}

#[tokio::test]
async fn projectors_skip_events_they_do_not_know() {
    let db = TestDb::new().await;
    let bus = CommandBus::new(db.pool.clone());
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('SomethingNew', 'x', 1, 'Happened', '1.0', '{}', '{}'), \
                ('RuntimeDeployment', $1, 1, 'DeploymentSucceeded', '1.0', $2, '{}')",
    )
    .bind(DeploymentId::generate().to_string())
    .bind(serde_json::json!({ "DeploymentSucceeded": {
        "service": ServiceId::generate().to_string(), "environment": EnvironmentId::generate().to_string(),
        "tenant": null, "at": "2025-06-01T10:00:00Z" } }))
    .execute(&db.pool)
    .await
    .unwrap();
    let runners = runners(&bus, &db.pool, 500);
    prepare(&runners).await;
    tests::settle(&db.pool, &runners).await;
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_log").fetch_one(&db.pool).await.unwrap();
    assert_eq!(n, 2);
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM runtime_inventory").fetch_one(&db.pool).await.unwrap();
    assert_eq!(n, 0, "a success of a deployment never started is skipped");
}
