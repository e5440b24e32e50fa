//! Facts from outside the aggregate that `RuntimeEnvironment` decisions need. They are looked
//! up through these traits, never by the aggregate reaching for storage itself, so the domain
//! stays free of I/O and every decision is testable with a fixed answer.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::values::ProductId;

/// Answers "does this product have a staging environment?", for the rule that prod requires
/// one. Implementations read a projection; they must not issue commands, and must count only
/// staging environments that are not decommissioned.
#[async_trait]
pub trait StagingLookup: Send + Sync {
    /// Whether a live (not decommissioned) staging environment of `product` exists. `Err` means
    /// the question could not be answered, which the aggregate reports instead of guessing.
    async fn staging_exists(&self, product: &ProductId) -> Result<bool, String>;
}

/// A lookup with a fixed answer, for tests and local development.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedStagingLookup(pub bool);

#[async_trait]
impl StagingLookup for FixedStagingLookup {
    async fn staging_exists(&self, _product: &ProductId) -> Result<bool, String> {
        Ok(self.0)
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

    /// Whether `product` has a staging environment (see [`StagingLookup::staging_exists`]).
    pub async fn staging_exists(&self, product: &ProductId) -> Result<bool, String> {
        self.lookup.staging_exists(product).await
    }
}

impl fmt::Debug for EnvironmentServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvironmentServices").finish_non_exhaustive()
    }
}
