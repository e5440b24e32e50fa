//! Every projector of the platform, for the server to run.

use std::sync::Arc;

use commands::routes::Routes;

use crate::audit::AuditProjector;
use crate::catalog::CatalogProjector;
use crate::deployments::DeploymentsProjector;
use crate::drift::DriftProjector;
use crate::environments::EnvironmentsProjector;
use crate::health::HealthProjector;
use crate::inventory::InventoryProjector;
use crate::projector::Projector;

/// The environments projector and the six read models (catalog, inventory, drift, health,
/// deployments, audit), decoding events with `routes`' stores so upcasters apply.
pub fn all_projectors(routes: &Routes) -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(EnvironmentsProjector::new(routes.environments.store.clone())),
        Arc::new(CatalogProjector::new(routes)),
        Arc::new(InventoryProjector::new(routes)),
        Arc::new(DriftProjector::new(routes.drift_findings.store.clone())),
        Arc::new(HealthProjector::new(routes.health.store.clone())),
        Arc::new(DeploymentsProjector::new(routes.deployments.store.clone())),
        Arc::new(AuditProjector::new()),
    ]
}
