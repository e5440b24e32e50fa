//! Facts from outside the aggregate that `RuntimeService` decisions need: whether another
//! service exists (and in which state), and whether it already depends on this one. They are
//! looked up through [`CatalogLookup`], never by the aggregate reaching for storage itself.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::values::ServiceLifecycle;
use crate::ids::ServiceId;

/// Answers questions about the service catalog for `DeclareDependency`. Implementations read
/// a projection of `ServiceRegistered`/`DependencyDeclared`/`DependencyRemoved`/
/// `ServiceRetired` events; they must not issue commands. `Err` means the question could not
/// be answered, which the aggregate reports instead of guessing.
#[async_trait]
pub trait CatalogLookup: Send + Sync {
    /// Whether `to` is reachable from `from` through declared dependencies (one or more
    /// hops; `from == to` counts only through a path). Used to refuse a dependency that would
    /// close a cycle.
    async fn depends_on(&self, from: ServiceId, to: ServiceId) -> Result<bool, String>;

    /// The lifecycle state of `service`; `None` if it was never registered.
    async fn service_status(&self, service: ServiceId) -> Result<Option<ServiceLifecycle>, String>;
}

/// A catalog held in memory, for tests and local development: service states and declared
/// dependency edges; reachability is computed over the edges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixedCatalogLookup {
    /// Known services and their states.
    pub services: BTreeMap<ServiceId, ServiceLifecycle>,
    /// Declared dependencies: `service -> services it depends on`.
    pub dependencies: BTreeMap<ServiceId, BTreeSet<ServiceId>>,
}

impl FixedCatalogLookup {
    /// Adds a service in the given state.
    pub fn with_service(mut self, service: ServiceId, status: ServiceLifecycle) -> Self {
        self.services.insert(service, status);
        self
    }

    /// Adds a declared dependency `from -> to`.
    pub fn with_dependency(mut self, from: ServiceId, to: ServiceId) -> Self {
        self.dependencies.entry(from).or_default().insert(to);
        self
    }
}

#[async_trait]
impl CatalogLookup for FixedCatalogLookup {
    async fn depends_on(&self, from: ServiceId, to: ServiceId) -> Result<bool, String> {
        let mut seen = BTreeSet::new();
        let mut frontier = vec![from];
        while let Some(next) = frontier.pop() {
            for dependency in self.dependencies.get(&next).into_iter().flatten() {
                if *dependency == to {
                    return Ok(true);
                }
                if seen.insert(*dependency) {
                    frontier.push(*dependency);
                }
            }
        }
        Ok(false)
    }

    async fn service_status(&self, service: ServiceId) -> Result<Option<ServiceLifecycle>, String> {
        Ok(self.services.get(&service).copied())
    }
}

/// The services handed to every `RuntimeService` command.
#[derive(Clone)]
pub struct ServiceServices {
    lookup: Arc<dyn CatalogLookup>,
}

impl ServiceServices {
    /// Services backed by the given catalog lookup.
    pub fn new(lookup: Arc<dyn CatalogLookup>) -> Self {
        Self { lookup }
    }

    /// See [`CatalogLookup::depends_on`].
    pub async fn depends_on(&self, from: ServiceId, to: ServiceId) -> Result<bool, String> {
        self.lookup.depends_on(from, to).await
    }

    /// See [`CatalogLookup::service_status`].
    pub async fn service_status(&self, service: ServiceId) -> Result<Option<ServiceLifecycle>, String> {
        self.lookup.service_status(service).await
    }
}

impl fmt::Debug for ServiceServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceServices").finish_non_exhaustive()
    }
}
