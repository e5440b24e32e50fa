//! Where each aggregate type's commands go: its store and its services.

use std::sync::Arc;

use domain::catalog::{
    deployment_upcasters, DeploymentCommand, DeploymentServices, RuntimeDeployment, RuntimeService, ServiceCommand,
    ServiceServices,
};
use domain::configuration::{ConfigurationCommand, RuntimeConfiguration, SecretBinding, SecretBindingCommand};
use domain::environments::{EnvironmentCommand, EnvironmentServices, RuntimeEnvironment};
use domain::health::{DriftCommand, DriftFinding, HealthCommand, RuntimeHealth};
use domain::scaling::{ScalingPolicy, ScalingPolicyCommand, ScalingServices};
use domain::tenancy::{RuntimeTenantBinding, TenantBindingCommand, TenantBindingServices};
use sqlx::PgPool;

use crate::bus::{CommandBus, CommandName, Route, Routed};
use crate::lookups::{LookupStores, PgLookups};
use crate::store::PgEventStore;

/// The routes of every aggregate type.
pub struct Routes {
    /// `RuntimeEnvironment`.
    pub environments: Route<RuntimeEnvironment>,
    /// `RuntimeService`.
    pub services: Route<RuntimeService>,
    /// `RuntimeDeployment`.
    pub deployments: Route<RuntimeDeployment>,
    /// `RuntimeConfiguration`.
    pub configurations: Route<RuntimeConfiguration>,
    /// `SecretBinding`.
    pub secret_bindings: Route<SecretBinding>,
    /// `RuntimeTenantBinding`.
    pub tenant_bindings: Route<RuntimeTenantBinding>,
    /// `ScalingPolicy`.
    pub scaling_policies: Route<ScalingPolicy>,
    /// `RuntimeHealth`.
    pub health: Route<RuntimeHealth>,
    /// `DriftFinding`.
    pub drift_findings: Route<DriftFinding>,
}

impl Routes {
    /// Routes with PostgreSQL stores and lookups over `pool`.
    pub fn new(pool: PgPool) -> Self {
        let environments = PgEventStore::new(pool.clone());
        let services = PgEventStore::new(pool.clone());
        let tenant_bindings = PgEventStore::new(pool.clone());
        let deployments = PgEventStore::new(pool.clone()).with_upcasters(deployment_upcasters());
        let scaling_policies = PgEventStore::new(pool.clone());
        let lookups = Arc::new(PgLookups::new(
            pool.clone(),
            LookupStores {
                environments: environments.clone(),
                services: services.clone(),
                tenant_bindings: tenant_bindings.clone(),
                deployments: deployments.clone(),
                scaling_policies: scaling_policies.clone(),
            },
        ));
        Self {
            environments: Route { store: environments, services: EnvironmentServices::new(lookups.clone()) },
            services: Route { store: services, services: ServiceServices::new(lookups.clone()) },
            deployments: Route { store: deployments, services: DeploymentServices::new(lookups.clone()) },
            configurations: Route { store: PgEventStore::new(pool.clone()), services: () },
            secret_bindings: Route { store: PgEventStore::new(pool.clone()), services: () },
            tenant_bindings: Route { store: tenant_bindings, services: TenantBindingServices::new(lookups.clone()) },
            scaling_policies: Route { store: scaling_policies, services: ScalingServices::new(lookups) },
            health: Route { store: PgEventStore::new(pool.clone()), services: () },
            drift_findings: Route { store: PgEventStore::new(pool), services: () },
        }
    }
}

macro_rules! route {
    ($aggregate:ty, $command:ty, $field:ident) => {
        impl Routed for $aggregate {
            fn route(bus: &CommandBus) -> &Route<Self> {
                &bus.routes().$field
            }
        }

        impl CommandName for $command {
            fn command_name(&self) -> &'static str {
                self.name()
            }
        }
    };
}

route!(RuntimeEnvironment, EnvironmentCommand, environments);
route!(RuntimeService, ServiceCommand, services);
route!(RuntimeDeployment, DeploymentCommand, deployments);
route!(RuntimeConfiguration, ConfigurationCommand, configurations);
route!(SecretBinding, SecretBindingCommand, secret_bindings);
route!(RuntimeTenantBinding, TenantBindingCommand, tenant_bindings);
route!(ScalingPolicy, ScalingPolicyCommand, scaling_policies);
route!(RuntimeHealth, HealthCommand, health);
route!(DriftFinding, DriftCommand, drift_findings);
