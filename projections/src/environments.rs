//! `environment_view`: one row per `RuntimeEnvironment`, for the portals' lists and lookups.
//!
//! The row keeps the aggregate's own serialized state and folds each event with the domain's
//! `apply`, so the view cannot drift from the write side's meaning of an event; the other
//! columns exist to filter and page. A batch reads each touched row once and writes it once.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::log::RecordedEvent;
use commands::store::PgEventStore;
use cqrs_es::Aggregate;
use domain::envelope::keys;
use domain::environments::RuntimeEnvironment;
use serde_json::Value;
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::projector::Projector;
use crate::reader::Interest;

/// Builds `environment_view`.
pub struct EnvironmentsProjector {
    /// Decodes (and upcasts) stored events the way the write side does.
    store: PgEventStore<RuntimeEnvironment>,
}

impl EnvironmentsProjector {
    /// A projector decoding events with `store`'s upcasters.
    pub fn new(store: PgEventStore<RuntimeEnvironment>) -> Self {
        Self { store }
    }
}

/// One view row being folded.
struct Row {
    state: RuntimeEnvironment,
    version: i64,
    tenant_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The log position `(transaction, position)` of the event that created the row: the
    /// list's page order, the order in which rows appear (see `created_transaction_id` in
    /// migration 20261201000020).
    created_transaction_id: i64,
    created_position: i64,
}

fn text_of<T: serde::Serialize>(value: Option<T>) -> Result<String, serde_json::Error> {
    Ok(match serde_json::to_value(value)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

type StoredRow = (String, Value, i64, Option<String>, DateTime<Utc>, i64, i64);

#[async_trait]
impl Projector for EnvironmentsProjector {
    fn name(&self) -> &'static str {
        "environments"
    }
    fn interest(&self) -> Interest {
        Interest::AggregateTypes(&[RuntimeEnvironment::TYPE])
    }

    /// 2: `created_transaction_id`, the list's commit-order page key.
    fn version(&self) -> i32 {
        2
    }

    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mine: Vec<&RecordedEvent> =
            events.iter().filter(|e| e.aggregate_type == RuntimeEnvironment::TYPE).collect();
        if mine.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<&str> = mine.iter().map(|e| e.aggregate_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let stored: Vec<StoredRow> = sqlx::query_as(
            "SELECT environment_id, state, version, tenant_id, created_at, created_transaction_id, created_position \
               FROM environment_view WHERE environment_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
        let mut rows: HashMap<String, Row> = HashMap::with_capacity(ids.len());
        for (id, state, version, tenant_id, created_at, created_transaction_id, created_position) in stored {
            let state = serde_json::from_value(state)?;
            let updated_at = created_at;
            rows.insert(
                id,
                Row { state, version, tenant_id, created_at, updated_at, created_transaction_id, created_position },
            );
        }
        let mut touched: Vec<String> = Vec::new();
        for event in mine {
            let row = rows.entry(event.aggregate_id.clone()).or_insert_with(|| Row {
                state: RuntimeEnvironment::default(),
                version: 0,
                tenant_id: event.envelope(keys::TENANT_ID).map(str::to_owned),
                created_at: event.recorded_at,
                updated_at: event.recorded_at,
                created_transaction_id: event.transaction_id,
                created_position: event.global_position,
            });
            if event.sequence <= row.version {
                // Already folded in; the checkpoint makes this unreachable, but a view that
                // tolerates a replay is cheap insurance.
                continue;
            }
            let decoded = self.store.deserialize(
                &event.aggregate_id,
                event.sequence,
                event.event_type.clone(),
                event.event_version.clone(),
                event.payload.clone(),
            )?;
            row.state.apply(decoded);
            row.version = event.sequence;
            row.updated_at = event.recorded_at;
            touched.push(event.aggregate_id.clone());
        }
        touched.sort_unstable();
        touched.dedup();
        let n = touched.len();
        let (mut product, mut name, mut stage, mut status) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut version, mut state, mut tenant) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut created_at, mut updated_at, mut created_position) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let mut created_transaction_id = Vec::with_capacity(n);
        for id in &touched {
            let row = &rows[id];
            product.push(text_of(row.state.product())?);
            name.push(text_of(row.state.name())?);
            stage.push(text_of(row.state.stage())?);
            status.push(text_of(row.state.status())?);
            version.push(row.version);
            state.push(serde_json::to_value(&row.state)?);
            tenant.push(row.tenant_id.clone());
            created_at.push(row.created_at);
            updated_at.push(row.updated_at);
            created_position.push(row.created_position);
            created_transaction_id.push(row.created_transaction_id);
        }
        sqlx::query(
            "INSERT INTO environment_view (environment_id, product, name, stage, status, version, state, \
                tenant_id, created_at, updated_at, created_position, created_transaction_id) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
                $7::jsonb[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::bigint[]) \
             ON CONFLICT (environment_id) DO UPDATE SET product = EXCLUDED.product, name = EXCLUDED.name, \
                stage = EXCLUDED.stage, status = EXCLUDED.status, version = EXCLUDED.version, \
                state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
        )
        .bind(&touched)
        .bind(&product)
        .bind(&name)
        .bind(&stage)
        .bind(&status)
        .bind(&version)
        .bind(&state)
        .bind(&tenant)
        .bind(&created_at)
        .bind(&updated_at)
        .bind(&created_position)
        .bind(&created_transaction_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM environment_view").execute(conn).await?;
        Ok(())
    }

    fn tables(&self) -> &'static [&'static str] {
        &["environment_view"]
    }
}
