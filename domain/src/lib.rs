//! The runtime control plane's domain model: aggregates, commands, events and value objects.
//!
//! This crate does no I/O and owns no async runtime: every decision an aggregate takes is a
//! pure function of its state, the command, and facts looked up beforehand by the caller
//! (passed in through the aggregate's `Services`).
//!
//! Layout:
//! - [`envelope`]: the metadata every event carries (trace id, tenant, actor, causation).
//! - [`claims`]: uniqueness claims events make, enforced strictly by the event store.
//! - [`rejection`]: how a domain error tells the layers above what kind of refusal it is.
//! - [`ids`]: the aggregates' identities, shared across contexts.
//! - [`ownership`]: which tenant an aggregate belongs to (the hard isolation boundary).
//! - [`environments`]: the `RuntimeEnvironment` aggregate (environments context).

pub mod catalog;
pub mod claims;
pub mod configuration;
pub mod envelope;
pub mod environments;
pub mod health;
pub mod ids;
mod macros;
pub mod ownership;
pub mod rejection;
pub mod scaling;
pub mod tenancy;
