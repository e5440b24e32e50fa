//! The read side: a gap-free reader of the global log, projectors, and the runner that
//! applies them with durable checkpoints.
//!
//! Layout:
//! - [`reader`]: reads events after a `(transaction id, position)` checkpoint, only from
//!   transactions that can no longer commit or abort.
//! - [`projector`]: the trait every read model implements.
//! - [`runner`]: applies a projector batch by batch, read-model change and checkpoint in one
//!   transaction; rebuilds from scratch.
//! - [`environments`]: the `environment_view` read model.
//!
//! Projections never issue commands.

pub mod audit;
pub mod catalog;
pub mod deployments;
pub mod drift;
pub mod environments;
pub mod error;
pub mod health;
pub mod horizon;
pub mod inventory;
pub mod live;
pub mod pace;
pub mod passed;
pub mod projector;
pub mod reader;
pub mod registry;
pub mod runner;
pub mod support;

pub use error::ProjectionError;
pub use projector::Projector;
pub use runner::{ProjectionRunner, ProjectionStatus};
