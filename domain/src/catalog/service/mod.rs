//! The `RuntimeService` aggregate: one generated component in the catalog (kind, owning
//! product, blueprint, runtime contract, dependencies), with the lifecycle
//! `Registered -> Active -> Deprecated -> Retired` (and `Registered -> Retired` for a service
//! withdrawn before it went live).
//!
//! Rules kept here: names are unique per product and never reused (a claim taken by
//! `ServiceRegistered` and never released); a retired service cannot be deployed and accepts no
//! command; dependencies are on existing, non-retired services other than itself, and form no
//! cycle (looked up through [`ServiceServices`]).
//!
//! Layout:
//! - [`values`]: `ServiceName`, `ServiceKind`, `BlueprintId`, the `RuntimeContract` and its
//!   parts, `ServiceLifecycle`.
//! - [`commands`]: the [`ServiceCommand`] enum.
//! - [`events`]: [`ServiceEvent`] and the name claim.
//! - [`error`]: [`ServiceError`], mapped to a `RejectionKind`.
//! - [`services`]: the [`CatalogLookup`] the dependency rules need.
//! - [`aggregate`]: [`RuntimeService`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod services;
pub mod values;

pub use aggregate::RuntimeService;
pub use commands::ServiceCommand;
pub use error::ServiceError;
pub use events::{service_name_key, ServiceEvent, SERVICE_NAME_SCOPE};
pub use services::{CatalogLookup, FixedCatalogLookup, ServiceServices};
pub use values::{
    BlueprintId, HttpPath, ImageRepository, Port, Probe, ProbeCheck, ReplicaHints, RuntimeContract, ServiceKind,
    ServiceLifecycle, ServiceName,
};
