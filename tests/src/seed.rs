//! Seeding large databases for the benchmarks: real events through the command bus, multiplied
//! with SQL, and read-model rows written in the projectors' shape.
//!
//! Through the bus a million events would take many minutes and measure the bus; here the bus
//! writes a small template (so every payload and envelope is one the domain wrote and can
//! decode) and SQL makes the volume.

use chrono::Utc;
use commands::{CommandBus, CommandOptions};
use domain::catalog::DeploymentCommand;
use domain::envelope::TenantId;
use domain::environments::ComputeTargetKind;
use domain::health::{
    DriftClass, DriftCommand, DriftFinding, DriftTarget, DriftValues, HealthCommand, HealthTarget, Probe, RuntimeHealth,
};
use domain::tenancy::{
    DataPartition, IsolationModel, NetworkPolicy, Quotas, RuntimeTenantBinding, TenantBindingCommand, WorkloadIdentity,
};
use sqlx::PgPool;

use crate::drive;
use crate::system_context;

/// Drives one workload's story through `bus`, touching every aggregate type and every read
/// model: an environment readied, a tenant bound, a service registered, a configuration with
/// a second version, a scaling policy with two decisions, a deployment rolled out and
/// promoted, a second one failed and rolled back, health tracked with probes, a drift found
/// and resolved. Returns how many events the log holds afterwards.
pub async fn workload_story(bus: &CommandBus, pool: &PgPool) -> i64 {
    let ctx = system_context();
    let options = CommandOptions::default;
    let environment = drive::ready_environment(bus, "template").await;
    let binding = uuid::Uuid::new_v4().to_string();
    let bind = TenantBindingCommand::BindTenant {
        tenant: TenantId::parse("contoso").unwrap(),
        environment,
        isolation: IsolationModel::Shared,
        namespace: None,
        identity: WorkloadIdentity::parse("0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11").unwrap(),
        network_policy: NetworkPolicy::DenyCrossTenant,
        data_partition: DataPartition::parse("p-contoso").unwrap(),
        quotas: Quotas::new(4000, 8192, 20, 10, 1000).unwrap(),
        at: Utc::now(),
    };
    bus.execute::<RuntimeTenantBinding>(&ctx, &binding, bind, options()).await.unwrap();
    let activate = TenantBindingCommand::ActivateBinding { at: Utc::now() };
    bus.execute::<RuntimeTenantBinding>(&ctx, &binding, activate, options()).await.unwrap();

    let service = drive::registered_service(bus, "api", ComputeTargetKind::Aks).await;
    let configuration = drive::configure(bus, service, environment, None).await;
    drive::next_configuration(bus, &configuration).await;
    let policy = drive::define_scaling(bus, service, environment, None).await;
    drive::scale(bus, &policy, 1, 3).await;
    drive::scale(bus, &policy, 3, 2).await;

    let good = drive::deploy(bus, drive::start_deployment(service, environment, None, "1.0.0")).await.unwrap();
    drive::succeed(bus, good).await;
    let bad = drive::deploy(bus, drive::start_deployment(service, environment, None, "1.1.0")).await.unwrap();
    drive::run_deployment(bus, bad, DeploymentCommand::BeginRollout { at: Utc::now() }).await.unwrap();
    let reason = domain::environments::Reason::parse("crash loop").unwrap();
    drive::run_deployment(bus, bad, DeploymentCommand::FailDeployment { reason, at: Utc::now() }).await.unwrap();
    drive::run_deployment(bus, bad, DeploymentCommand::RollBack { target: good, at: Utc::now() }).await.unwrap();
    drive::run_deployment(bus, bad, DeploymentCommand::RecordRolledBack { at: Utc::now() }).await.unwrap();

    let health = uuid::Uuid::new_v4().to_string();
    let track = HealthCommand::TrackHealth {
        target: HealthTarget::new(service, environment, None),
        startup_probe: false,
        at: Utc::now(),
    };
    bus.execute::<RuntimeHealth>(&ctx, &health, track, options()).await.unwrap();
    for (probe, passed) in [("liveness", true), ("readiness", true), ("readiness", false), ("readiness", true)] {
        let result = HealthCommand::RecordProbeResult {
            probe: Probe::parse(probe).unwrap(),
            passed,
            latency_ms: 5,
            detail: None,
            at: Utc::now(),
        };
        bus.execute::<RuntimeHealth>(&ctx, &health, result, options()).await.unwrap();
    }

    let finding = uuid::Uuid::new_v4().to_string();
    let detect = DriftCommand::DetectDrift {
        target: DriftTarget::new(environment, Some(service), None, None).unwrap(),
        class: DriftClass::Version,
        values: DriftValues::parse(Some("1.0.0"), Some("0.9.0")).unwrap(),
        at: Utc::now(),
    };
    bus.execute::<DriftFinding>(&ctx, &finding, detect, options()).await.unwrap();
    bus.execute::<DriftFinding>(&ctx, &finding, DriftCommand::ResolveDrift { at: Utc::now() }, options()).await.unwrap();

    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.unwrap()
}

/// Copies the whole log `copies` times, each copy a world of its own: every UUID in an
/// aggregate id, payload or metadata (aggregate ids, the ids events point at, event, trace,
/// correlation and causation ids) gets copy `g`'s number in its first eight hex digits, so
/// the copies' cross-references stay consistent within a copy and event ids stay unique;
/// sequences carry over (each copy's aggregates are new), `recorded_at` moves 1 ms per copy.
///
/// `INSERT ... SELECT` in chunks of 2,000 copies (one transaction each, so none gets huge),
/// in log order within a chunk. The template's UUIDs must not start with the eight digits of
/// a copy number (random and time-based UUIDs do not, below 2^32 copies, but for chance).
pub async fn multiply_log(pool: &PgPool, copies: i64) {
    // The template is the log as it is now: read once into a temporary table so every chunk
    // copies the same rows in the same order.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query(
        "CREATE TEMPORARY TABLE template AS \
         SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text AS payload, \
                metadata::text AS metadata, recorded_at, row_number() OVER (ORDER BY transaction_id, global_position) AS n \
           FROM events",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    // The UUID pattern (quoted, lower case as `Uuid` writes it): the first group is replaced.
    const UUID: &str = r#"([0-9a-f]{8})(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"#;
    let remap = |column: &str| format!("regexp_replace({column}, '{UUID}', lpad(to_hex(g), 8, '0') || '\\2', 'g')");
    let insert = format!(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at) \
         SELECT t.aggregate_type, {}, t.sequence, t.event_type, t.event_version, {}::jsonb, {}::jsonb, \
                t.recorded_at + g * interval '1 millisecond' \
           FROM generate_series($1::bigint, $2::bigint) g CROSS JOIN template t \
          ORDER BY g, t.n",
        remap("t.aggregate_id"),
        remap("t.payload"),
        remap("t.metadata"),
    );
    let mut made = 0i64;
    while made < copies {
        let chunk = (copies - made).min(2_000);
        sqlx::query(&insert).bind(made + 1).bind(made + chunk).execute(&mut *conn).await.unwrap();
        made += chunk;
    }
    sqlx::query("DROP TABLE template").execute(&mut *conn).await.unwrap();
}

/// Appends copies of the last event of aggregate (`aggregate_type`, `aggregate_id`) until its
/// stream holds `length` events, then restamps the stream one event a second, ending an hour
/// ago (so time and sequence agree, and the stream is older than anything the bus writes
/// next). Each copy has its own event id. Loaders that cached the aggregate must be discarded: they would append at a
/// stale sequence.
pub async fn lengthen_stream(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    length: i64,
) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at) \
         SELECT e.aggregate_type, e.aggregate_id, s, e.event_type, e.event_version, e.payload, \
                jsonb_set(e.metadata, '{event_id}', to_jsonb(md5(e.aggregate_id || '/' || s)::uuid::text)), \
                now() \
           FROM (SELECT * FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence DESC LIMIT 1) e, \
                generate_series(e.sequence + 1, $3) s \
          ORDER BY s",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(length)
    .execute(pool)
    .await
    .unwrap();
    // The whole stream restamped, the events written through the bus too, so time and
    // sequence agree.
    sqlx::query(
        "UPDATE events SET recorded_at = now() - interval '1 hour' - ($3 - sequence) * interval '1 second' \
          WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(length)
    .execute(pool)
    .await
    .unwrap();
}

/// Seeds the temporal inventory: `workloads` services over 10 environments and 100 tenants,
/// each with `periods` successive periods of about an hour starting in the first hour of
/// 2026-01-01 (`workloads x periods` changes of version, configuration version and replicas),
/// one workload in ten stopped at the end; and the events that opened and closed those
/// periods, so every change names a real log row. Rows are in the shape the inventory
/// projector writes; the events have a type no projector but the audit log wants
/// (`BenchWorkloadChanged`), so live projections only walk past them.
pub async fn inventory(pool: &PgPool, workloads: i64, periods: i64) {
    // Event (s, v): v < periods opens period v of workload s; v = periods stops workload s
    // (one in ten).
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'BenchWorkload', 'w-' || s, v + 1, 'BenchWorkloadChanged', '1.0', '{}'::jsonb, \
                jsonb_build_object('event_id', md5(s || '/' || v)::uuid, 'trace_id', md5('trace' || s || '/' || v), \
                                   'tenant_id', 'tenant-' || (s % 100), 'actor', 'user:bench', 'actor_role', 'PlatformAdmin') \
           FROM generate_series(0, $1 - 1) s, generate_series(0, $2) v \
          WHERE v < $2 OR s % 10 = 0",
    )
    .bind(workloads)
    .bind(periods)
    .execute(pool)
    .await
    .unwrap();
    // Period v of workload s: from T0 + (s % 60) min + v h (+ jitter), for about an hour.
    sqlx::query(
        "INSERT INTO runtime_inventory (opened_position, service_id, environment_id, tenant_id, deployment_id, version, \
                digest, compute_kind, compute_target, configuration_version, replicas, valid_from, valid_to, closed_position, \
                opened_event_id, closed_event_id, started_event_id, version_event_id, configuration_event_id, replicas_event_id) \
         SELECT s * 100 + v, 'svc-' || s, 'env-' || (s % 10), 'tenant-' || (s % 100), 'dep-' || s || '-' || v, \
                '1.' || v || '.0', 'sha256:' || md5(s || '-' || v), 'aks', 'aks-main', v + 1, 1 + (s + v) % 7, \
                start, CASE WHEN v < $2 - 1 OR s % 10 = 0 THEN start + interval '1 hour' END, \
                CASE WHEN v < $2 - 1 OR s % 10 = 0 THEN s * 100 + v + 1 END, \
                md5(s || '/' || v)::uuid, \
                CASE WHEN v < $2 - 1 OR s % 10 = 0 THEN md5(s || '/' || (v + 1))::uuid END, \
                md5(s || '/0')::uuid, md5(s || '/' || v)::uuid, md5(s || '/' || v)::uuid, md5(s || '/' || v)::uuid \
           FROM generate_series(0, $1 - 1) s, generate_series(0, $2 - 1) v, \
                LATERAL (SELECT timestamptz '2026-01-01' + ((s % 60) || ' minutes')::interval + (v || ' hours')::interval AS start) t",
    )
    .bind(workloads)
    .bind(periods)
    .execute(pool)
    .await
    .unwrap();
    // As autovacuum leaves tables that grew by bulk inserts (it would within a minute or
    // two): statistics current and the visibility map set, so index-only scans skip the heap.
    sqlx::query("VACUUM ANALYZE runtime_inventory").execute(pool).await.unwrap();
    sqlx::query("VACUUM ANALYZE events").execute(pool).await.unwrap();
}

/// Seeds the catalog read model: `services` services `svc-00000`... of 10 products, each
/// placed in `environments` environments, copied from the catalog's first service and its
/// first placement (so kind, status, contract and statuses are values the projector wrote;
/// the catalog must hold one placed service), in the shape the catalog projector writes (no
/// events: the catalog projector never sees them).
pub async fn catalog(pool: &PgPool, services: i64, environments: i64) {
    sqlx::query(
        "INSERT INTO catalog_services (service_id, product, name, kind, status, blueprint, contract, dependencies, \
                compute_kind, version, updated_at) \
         SELECT 'svc-' || lpad(s::text, 5, '0'), 'product-' || (s % 10), 'service-' || s, t.kind, t.status, t.blueprint, \
                t.contract, jsonb_build_array('svc-' || lpad(((s + 1) % $1)::text, 5, '0')), t.compute_kind, t.version, \
                t.updated_at \
           FROM generate_series(0, $1 - 1) s, (SELECT * FROM catalog_services ORDER BY updated_at LIMIT 1) t",
    )
    .bind(services)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO catalog_service_environments (service_id, environment_id, tenant_id, deployed_version, deployed_digest, \
                deployed_deployment_id, deployment_id, deployment_version, deployment_status, health_id, health_status, updated_at) \
         SELECT 'svc-' || lpad(s::text, 5, '0'), 'env-' || ((s + e) % 10), '', t.deployed_version, t.deployed_digest, \
                'dep-' || s || '-' || e, 'dep-' || s || '-' || e, t.deployment_version, t.deployment_status, \
                'health-' || s || '-' || e, t.health_status, t.updated_at \
           FROM generate_series(0, $1 - 1) s, generate_series(0, $2 - 1) e, \
                (SELECT * FROM catalog_service_environments ORDER BY updated_at LIMIT 1) t",
    )
    .bind(services)
    .bind(environments)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("VACUUM ANALYZE catalog_services, catalog_service_environments").execute(pool).await.unwrap();
}
