//! `CommandResult`: what every mutation returns.

use async_graphql::{Object, ID};
use commands::CommandOutcome;

use super::Event;

/// The effect of one command or, in a dry run, the effect it would have.
pub struct CommandResult(pub CommandOutcome);

#[Object]
impl CommandResult {
    /// Aggregate type.
    async fn aggregate_type(&self) -> &str {
        self.0.aggregate_type
    }
    /// Aggregate id (for creates: the new id).
    async fn aggregate_id(&self) -> ID {
        ID(self.0.aggregate_id.clone())
    }
    /// The aggregate's version after the command (in a dry run: the version it would reach).
    async fn version(&self) -> i64 {
        self.0.version as i64
    }
    /// Trace id the events carry.
    async fn trace_id(&self) -> &str {
        &self.0.trace_id
    }
    /// True when an idempotency key matched an earlier command: nothing new was written.
    async fn deduplicated(&self) -> bool {
        self.0.deduplicated
    }
    /// True when the command was a dry run (`options: { dryRun: true }`): nothing was written.
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }
    /// Log cursor of the last event written (a read-your-writes token); null when nothing was
    /// written, e.g. in a dry run.
    async fn position(&self) -> Option<String> {
        self.0.position().map(|p| p.to_cursor())
    }
    /// The events written or, in a dry run, the events it would write (their
    /// `globalPosition` and `transactionId` are 0: they have no place in the log).
    async fn events(&self) -> Vec<Event> {
        self.0.events.iter().cloned().map(Event).collect()
    }
}
