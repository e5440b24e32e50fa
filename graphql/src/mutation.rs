//! The mutation root: every context's mutations, merged.

use async_graphql::MergedObject;

use crate::contexts::catalog::CatalogMutation;
use crate::contexts::configuration::ConfigurationMutation;
use crate::contexts::environments::EnvironmentMutation;
use crate::contexts::health::HealthMutation;
use crate::contexts::integration::IntegrationMutation;
use crate::contexts::observed::ObservedMutation;
use crate::contexts::scaling::ScalingMutation;
use crate::contexts::tenancy::TenancyMutation;

/// The mutation root.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    EnvironmentMutation,
    CatalogMutation,
    ConfigurationMutation,
    TenancyMutation,
    ScalingMutation,
    HealthMutation,
    ObservedMutation,
    IntegrationMutation,
);
