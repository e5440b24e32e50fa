//! The write side: one command bus over a PostgreSQL event store.
//!
//! Layout:
//! - [`access`]: the role x operation table every command and read is checked against.
//! - [`context`]: the `RequestContext` every request becomes (actor, roles, tenants, trace).
//! - [`log`]: what a stored event looks like to readers (`RecordedEvent`, `LogPosition`).
//! - [`store`]: `PgEventStore`, cqrs-es's `EventStore` trait over the extended postgres-es
//!   tables: one query to load, one statement to append (events, snapshot, claims, receipt).
//! - [`bus`]: `CommandBus`, the single entry point: envelope, routing, retries, idempotency.
//! - [`idempotency`]: receipt scope, ids derived from idempotency keys, input fingerprints.
//! - [`lookups`]: facts aggregates need from outside their stream, read from PostgreSQL.
//! - [`fence`]: the lease check a worker's command passes before it is written.
//! - [`error`]: the typed errors callers see.
//! - [`trace`]: the command's W3C trace id as its OpenTelemetry span's trace id.

pub mod access;
pub mod bus;
pub mod context;
pub mod error;
pub mod fence;
pub mod idempotency;
pub mod log;
pub mod lookups;
pub mod routes;
pub mod store;
pub mod trace;

pub use access::{Operation, Read, Role};
pub use bus::{CommandBus, CommandOptions, CommandOutcome};
pub use context::{RequestContext, TenantScope};
pub use error::{CommandError, StoreError};
pub use fence::Fence;
pub use log::{LogPosition, RecordedEvent};
