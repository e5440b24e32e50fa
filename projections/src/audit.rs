//! `audit_log`: every event of every aggregate, by trace id, tenant, actor, type and time.
//! The payload is not copied: the log row is one primary-key read away.

use async_trait::async_trait;
use commands::log::RecordedEvent;
use domain::envelope::keys;
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::projector::Projector;
use crate::support::delete_all;

/// Builds `audit_log`.
#[derive(Debug, Default)]
pub struct AuditProjector;

impl AuditProjector {
    /// The audit projector (it decodes no payload, so it needs no store).
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Projector for AuditProjector {
    fn name(&self) -> &'static str {
        "audit"
    }

    /// 2: `actor_role`, and tenants corrected to the owning aggregate's (migration
    /// 20261201000001), so the copy is rebuilt from the log once.
    fn version(&self) -> i32 {
        2
    }

    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len();
        let (mut pos, mut xid, mut id) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut atype, mut aid, mut seq, mut etype) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut tenant, mut actor, mut trace, mut at) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let mut role = Vec::with_capacity(n);
        for e in events {
            pos.push(e.global_position);
            xid.push(e.transaction_id);
            id.push(e.event_id);
            atype.push(e.aggregate_type.as_str());
            aid.push(e.aggregate_id.as_str());
            seq.push(e.sequence);
            etype.push(e.event_type.as_str());
            tenant.push(e.envelope(keys::TENANT_ID));
            actor.push(e.envelope(keys::ACTOR));
            role.push(e.envelope(keys::ACTOR_ROLE));
            trace.push(e.envelope(keys::TRACE_ID));
            at.push(e.recorded_at);
        }
        sqlx::query(
            "INSERT INTO audit_log (global_position, transaction_id, event_id, aggregate_type, aggregate_id, sequence, \
                event_type, tenant_id, actor, trace_id, recorded_at, actor_role) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::bigint[], \
                $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[]) \
             ON CONFLICT (global_position) DO NOTHING",
        )
        .bind(&pos)
        .bind(&xid)
        .bind(&id)
        .bind(&atype)
        .bind(&aid)
        .bind(&seq)
        .bind(&etype)
        .bind(&tenant)
        .bind(&actor)
        .bind(&trace)
        .bind(&at)
        .bind(&role)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        delete_all(conn, self.tables()).await
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_log"]
    }
}
