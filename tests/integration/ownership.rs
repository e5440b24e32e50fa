//! Rule: every event's `tenant_id` is the tenant of the aggregate it belongs to (none for
//! platform-wide and shared aggregates), whoever sent the command; the caller's tenant is
//! `acting_tenant_id`. Rows written the old way (stamped with the caller's tenant) are
//! corrected by migration 20261201000001, which must agree with the domain's `owner_tenant()`.

use commands::store::PgEventStore;
use commands::CommandBus;
use cqrs_es::Aggregate;
use domain::ownership::TenantOwned;
use serde_json::json;
use sqlx::PgPool;
use tests::{world, TestApp, TestDb};

/// The backfill migration, re-run on rows the test writes the old way.
const BACKFILL: &str = include_str!("../../migrations/20261201000001_event_ownership.sql");

/// (aggregate type, aggregate id, tenant on its events) for every event row.
async fn stamped(pool: &PgPool) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as("SELECT aggregate_type, aggregate_id, tenant_id FROM events ORDER BY global_position")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The domain's owner of one aggregate, loaded from its events.
async fn owner<A>(store: &PgEventStore<A>, id: &str) -> Option<String>
where
    A: Aggregate + TenantOwned + Clone + 'static,
    A::Event: domain::claims::ClaimsUnique,
{
    store.load(id).await.unwrap().aggregate.owner_tenant().map(|t| t.to_string())
}

async fn domain_owner(bus: &CommandBus, aggregate_type: &str, id: &str) -> Option<String> {
    let r = bus.routes();
    match aggregate_type {
        "RuntimeEnvironment" => owner(&r.environments.store, id).await,
        "RuntimeService" => owner(&r.services.store, id).await,
        "RuntimeDeployment" => owner(&r.deployments.store, id).await,
        "RuntimeConfiguration" => owner(&r.configurations.store, id).await,
        "SecretBinding" => owner(&r.secret_bindings.store, id).await,
        "RuntimeTenantBinding" => owner(&r.tenant_bindings.store, id).await,
        "ScalingPolicy" => owner(&r.scaling_policies.store, id).await,
        "RuntimeHealth" => owner(&r.health.store, id).await,
        "DriftFinding" => owner(&r.drift_findings.store, id).await,
        other => panic!("unknown aggregate type {other}"),
    }
}

async fn assert_every_event_carries_its_owner(db: &TestDb, bus: &CommandBus) {
    let rows = stamped(&db.pool).await;
    let types: std::collections::BTreeSet<&str> = rows.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(types.len(), 9, "the world spans all nine aggregate types: {types:?}");
    for (aggregate_type, id, tenant) in &rows {
        assert_eq!(tenant, &domain_owner(bus, aggregate_type, id).await, "{aggregate_type} {id}");
    }
}

#[tokio::test]
async fn events_carry_their_aggregates_tenant_whoever_sends_the_command() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    // A platform engineer acting for no tenant builds both tenants' aggregates.
    let world = world::build(&app, &[("x-actor", "user:platform-engineer")]).await;
    assert_every_event_carries_its_owner(&db, app.bus()).await;
    let contoso = &world.tenants["contoso"];
    let tenants: Vec<Option<String>> =
        sqlx::query_scalar("SELECT DISTINCT tenant_id FROM events WHERE aggregate_id = $1")
            .bind(contoso.id("RuntimeTenantBinding"))
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(tenants, vec![Some("contoso".to_owned())]);

    // The scenario of the issue: as fabrikam, contoso's binding, written by a tenant-less
    // operator, is invisible on every path: by id, in its history, in the audit log, in its trace.
    app.settle().await;
    let fabrikam = [("x-tenant-id", "fabrikam")];
    let binding = contoso.id("RuntimeTenantBinding");
    let by_id = app
        .gql_with("query($id: ID!) { tenantBinding(id: $id) { status } }", json!({ "id": binding }), &fabrikam)
        .await;
    assert_eq!(tests::error_code(&by_id), Some("NOT_FOUND"), "{by_id}");
    let history = app
        .gql_with(
            "query($id: ID!) { aggregateHistory(aggregateType: \"RuntimeTenantBinding\", aggregateId: $id) { edges { node { payload } } } }",
            json!({ "id": binding }),
            &fabrikam,
        )
        .await;
    assert_eq!(history["data"]["aggregateHistory"]["edges"], json!([]), "{history}");
    let audit = app
        .gql_with("{ auditLog(first: 200) { edges { node { aggregateId tenantId } } } }", json!({}), &fabrikam)
        .await;
    let audit = audit.to_string();
    for id in contoso.aggregates.values() {
        assert!(!audit.contains(id.as_str()), "contoso's {id} in fabrikam's audit log: {audit}");
    }
    let trace = app
        .gql_with(
            "query($t: String!) { trace(traceId: $t) { edges { node { aggregateId } } } }",
            json!({ "t": contoso.trace_id }),
            &fabrikam,
        )
        .await;
    assert_eq!(trace["data"]["trace"]["edges"], json!([]), "{trace}");
    // And contoso sees its own.
    let own = app
        .gql_with(
            "query($t: String!) { trace(traceId: $t) { edges { node { aggregateId } } } }",
            json!({ "t": contoso.trace_id }),
            &[("x-tenant-id", "contoso")],
        )
        .await;
    assert!(own["data"]["trace"]["edges"].as_array().is_some_and(|e| e.len() >= 9), "{own}");
}

#[tokio::test]
async fn the_migration_gives_old_rows_their_aggregates_tenant_as_the_domain_decides() {
    let db = TestDb::new().await;
    let app = TestApp::start(db.pool.clone()).await;
    world::build(&app, &[]).await;
    let correct = stamped(&db.pool).await;
    // Rewrite history the old way: every event stamped with a caller's tenant, or with none.
    sqlx::query(
        "UPDATE events SET metadata = CASE WHEN global_position % 2 = 0 \
                THEN (metadata - 'acting_tenant_id') || '{\"tenant_id\": \"intruder\"}' \
                ELSE metadata - 'tenant_id' - 'acting_tenant_id' END",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_ne!(stamped(&db.pool).await, correct, "the old way differs");
    sqlx::raw_sql(BACKFILL).execute(&db.pool).await.unwrap();
    assert_eq!(stamped(&db.pool).await, correct);
    assert_every_event_carries_its_owner(&db, app.bus()).await;
    // The caller's tenant of an old row is kept as the acting tenant.
    let acting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE metadata ->> 'acting_tenant_id' = 'intruder'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(acting > 0);
    // Running it again changes nothing.
    let changed = sqlx::raw_sql(BACKFILL).execute(&db.pool).await.unwrap().rows_affected();
    assert_eq!(changed, 0);
}
