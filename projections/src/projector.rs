//! What a read model implements to be driven by the runner.

use async_trait::async_trait;
use commands::log::RecordedEvent;
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::reader::Interest;

/// A read model built from the global log.
///
/// `apply` runs inside the runner's transaction: it must write only through `conn`, and must
/// not issue commands or talk to anything else, so that a rolled-back batch leaves no trace.
#[async_trait]
pub trait Projector: Send + Sync + 'static {
    /// Stable name, the key of the checkpoint.
    fn name(&self) -> &'static str;
    /// Bump when the projector's output changes: the runner then rebuilds it at start.
    fn version(&self) -> i32;
    /// Which events the projector reads; the runner skips the others inside the database.
    /// Anything narrower than [`Interest::All`] must still include every event `apply` uses.
    fn interest(&self) -> Interest {
        Interest::All
    }
    /// Applies one event (the projector ignores events it does not care about).
    async fn apply(&self, conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError>;

    /// Applies a batch of events in log order. The default applies them one by one;
    /// projectors override it to read and write each touched row once per batch.
    async fn apply_batch(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(conn, event).await?;
        }
        Ok(())
    }
    /// Empties the read model, before a rebuild.
    async fn reset(&self, conn: &mut PgConnection) -> Result<(), ProjectionError>;

    /// The tables this projector writes (unqualified names, in `public`). A rebuild builds
    /// fresh copies beside them and swaps them in; a projector that names none is rebuilt in
    /// place in one transaction.
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }
}
