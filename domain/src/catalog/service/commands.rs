//! Commands to the `RuntimeService` aggregate. Time is always passed in, because the domain
//! never reads the clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{BlueprintId, RuntimeContract, ServiceKind, ServiceName};
use crate::environments::{ProductId, Reason};
use crate::ids::ServiceId;

/// What can be asked of a catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceCommand {
    /// Add a generated component to the catalog.
    RegisterService {
        /// The service's own id, equal to the aggregate id. The aggregate keeps it because the
        /// dependency rules ("not on itself", "no cycle") need to know who "itself" is; the
        /// caller fills it from the id it routes the command to.
        service: ServiceId,
        /// The product the service belongs to.
        product: ProductId,
        /// Unique per product, and never reused once taken.
        name: ServiceName,
        /// What kind of component it is.
        kind: ServiceKind,
        /// The blueprint or template it was generated from.
        blueprint: BlueprintId,
        /// How it runs.
        contract: RuntimeContract,
        /// When it was registered.
        at: DateTime<Utc>,
    },
    /// Declare a registered service live (`Registered -> Active`).
    ActivateService {
        /// When it went live.
        at: DateTime<Utc>,
    },
    /// Replace the runtime contract (any state but `Retired`); an identical contract records
    /// nothing.
    UpdateRuntimeContract {
        /// The new contract.
        contract: RuntimeContract,
        /// When it changed.
        at: DateTime<Utc>,
    },
    /// Declare that this service depends on another one.
    DeclareDependency {
        /// The service depended on; must exist, not be retired, and not depend on this one.
        on: ServiceId,
        /// When it was declared.
        at: DateTime<Utc>,
    },
    /// Withdraw a declared dependency.
    RemoveDependency {
        /// The service no longer depended on.
        on: ServiceId,
        /// When it was withdrawn.
        at: DateTime<Utc>,
    },
    /// Mark an active service for replacement (`Active -> Deprecated`).
    Deprecate {
        /// Why, and usually what replaces it.
        reason: Reason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Take a service out of the catalog for good (`Deprecated|Registered -> Retired`).
    Retire {
        /// When.
        at: DateTime<Utc>,
    },
}

impl ServiceCommand {
    /// The command's variant name, used in rejection messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            ServiceCommand::RegisterService { .. } => "RegisterService",
            ServiceCommand::ActivateService { .. } => "ActivateService",
            ServiceCommand::UpdateRuntimeContract { .. } => "UpdateRuntimeContract",
            ServiceCommand::DeclareDependency { .. } => "DeclareDependency",
            ServiceCommand::RemoveDependency { .. } => "RemoveDependency",
            ServiceCommand::Deprecate { .. } => "Deprecate",
            ServiceCommand::Retire { .. } => "Retire",
        }
    }
}
