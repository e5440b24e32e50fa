//! Facts from outside the aggregate that `RuntimeEnvironment` decisions need. They are looked
//! up through these traits, never by the aggregate reaching for storage itself, so the domain
//! stays free of I/O and every decision is testable with a fixed answer.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::values::{EnvironmentStatus, ProductId};

/// Answers "which staging environments does this product have, and in which status?", for the
/// rule that prod requires a live (`Ready` or `Degraded`) one. The rule itself is decided by
/// the aggregate from the statuses, so it is tested without storage. Implementations read
/// committed state; they must not issue commands.
#[async_trait]
pub trait StagingLookup: Send + Sync {
    /// The statuses of `product`'s staging environments that still hold their name (not
    /// decommissioned); empty when there is none. `Err` means the question could not be
    /// answered, which the aggregate reports instead of guessing.
    async fn staging_statuses(&self, product: &ProductId) -> Result<Vec<EnvironmentStatus>, String>;
}

/// A lookup with a fixed answer, for tests and local development: `true` is one `Ready`
/// staging environment, `false` none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedStagingLookup(pub bool);

#[async_trait]
impl StagingLookup for FixedStagingLookup {
    async fn staging_statuses(&self, _product: &ProductId) -> Result<Vec<EnvironmentStatus>, String> {
        Ok(if self.0 { vec![EnvironmentStatus::Ready] } else { vec![] })
    }
}

/// A lookup answering these statuses for every product, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedStagingStatuses(pub Vec<EnvironmentStatus>);

#[async_trait]
impl StagingLookup for FixedStagingStatuses {
    async fn staging_statuses(&self, _product: &ProductId) -> Result<Vec<EnvironmentStatus>, String> {
        Ok(self.0.clone())
    }
}

/// The services handed to every `RuntimeEnvironment` command.
#[derive(Clone)]
pub struct EnvironmentServices {
    lookup: Arc<dyn StagingLookup>,
}

impl EnvironmentServices {
    /// Services backed by the given staging lookup.
    pub fn new(lookup: Arc<dyn StagingLookup>) -> Self {
        Self { lookup }
    }

    /// Whether `product` has a live staging environment: one that is `Ready` or `Degraded`
    /// (one merely requested, still provisioning, failed or being decommissioned does not
    /// count). See [`StagingLookup::staging_statuses`].
    pub async fn live_staging_exists(&self, product: &ProductId) -> Result<bool, String> {
        Ok(self.lookup.staging_statuses(product).await?.iter().any(EnvironmentStatus::accepts_deployments))
    }
}

impl fmt::Debug for EnvironmentServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvironmentServices").finish_non_exhaustive()
    }
}
