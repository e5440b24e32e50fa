//! The `RuntimeService` aggregate: decides which commands a catalog entry accepts and folds its
//! events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. The
//! cross-aggregate facts (does the service depended on exist, does it already depend on this
//! one) come from [`ServiceServices`].

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::ServiceCommand;
use super::error::ServiceError;
use super::events::ServiceEvent;
use super::services::ServiceServices;
use super::values::{BlueprintId, RuntimeContract, ServiceKind, ServiceLifecycle, ServiceName};
use crate::environments::{ProductId, Reason};
use crate::ids::ServiceId;

/// One generated component in the catalog, rebuilt from its events. The default value is a
/// service that does not exist yet (`status()` is `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeService {
    status: Option<ServiceLifecycle>,
    id: Option<ServiceId>,
    product: Option<ProductId>,
    name: Option<ServiceName>,
    kind: Option<ServiceKind>,
    blueprint: Option<BlueprintId>,
    contract: Option<RuntimeContract>,
    dependencies: BTreeSet<ServiceId>,
    deprecation_reason: Option<Reason>,
    registered_at: Option<DateTime<Utc>>,
    activated_at: Option<DateTime<Utc>>,
    deprecated_at: Option<DateTime<Utc>>,
    retired_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl RuntimeService {
    /// Where the service is in its lifecycle; `None` if it was never registered.
    pub fn status(&self) -> Option<ServiceLifecycle> {
        self.status
    }

    /// Whether the service may be deployed: it exists and is not retired.
    pub fn is_deployable(&self) -> bool {
        self.status.is_some_and(|status| status.is_deployable())
    }

    /// Its own id (the aggregate id).
    pub fn id(&self) -> Option<ServiceId> {
        self.id
    }

    /// The product it belongs to.
    pub fn product(&self) -> Option<&ProductId> {
        self.product.as_ref()
    }

    /// Its name, unique per product.
    pub fn name(&self) -> Option<&ServiceName> {
        self.name.as_ref()
    }

    /// What kind of component it is.
    pub fn kind(&self) -> Option<ServiceKind> {
        self.kind
    }

    /// The blueprint it was generated from.
    pub fn blueprint(&self) -> Option<&BlueprintId> {
        self.blueprint.as_ref()
    }

    /// How it runs (the latest contract).
    pub fn contract(&self) -> Option<&RuntimeContract> {
        self.contract.as_ref()
    }

    /// The services it directly depends on, ordered by id.
    pub fn dependencies(&self) -> &BTreeSet<ServiceId> {
        &self.dependencies
    }

    /// Whether it directly depends on `service`.
    pub fn depends_directly_on(&self, service: ServiceId) -> bool {
        self.dependencies.contains(&service)
    }

    /// Why it was deprecated.
    pub fn deprecation_reason(&self) -> Option<&Reason> {
        self.deprecation_reason.as_ref()
    }

    /// When it was registered.
    pub fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.registered_at
    }

    /// When it went live.
    pub fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.activated_at
    }

    /// When it was deprecated.
    pub fn deprecated_at(&self) -> Option<DateTime<Utc>> {
        self.deprecated_at
    }

    /// When it was retired.
    pub fn retired_at(&self) -> Option<DateTime<Utc>> {
        self.retired_at
    }

    /// The time of its latest event.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    async fn decide(
        &self,
        command: ServiceCommand,
        services: &ServiceServices,
    ) -> Result<Vec<ServiceEvent>, ServiceError> {
        use ServiceCommand as C;
        use ServiceEvent as E;
        use ServiceLifecycle as S;

        let command_name = command.name();
        let (Some(status), Some(id)) = (self.status, self.id) else {
            return match command {
                C::RegisterService { service, product, name, kind, blueprint, contract, at } => {
                    Ok(vec![E::ServiceRegistered { service, product, name, kind, blueprint, contract, at }])
                }
                _ => Err(ServiceError::NotFound { command: command_name }),
            };
        };
        let refused = ServiceError::InvalidTransition { command: command_name, status };

        match command {
            C::RegisterService { .. } => Err(ServiceError::AlreadyExists { status }),
            // Retired is terminal: the entry stays for history, and nothing changes it again.
            _ if status == S::Retired => Err(refused),
            C::ActivateService { at } => match status {
                S::Registered => Ok(vec![E::ServiceActivated { at }]),
                _ => Err(refused),
            },
            C::UpdateRuntimeContract { contract, at } => {
                // Re-sending the current contract is not a change; recording nothing keeps
                // the contract history free of noise from re-run pipelines.
                if self.contract.as_ref() == Some(&contract) {
                    Ok(Vec::new())
                } else {
                    Ok(vec![E::RuntimeContractUpdated { contract, at }])
                }
            }
            C::DeclareDependency { on, at } => {
                if on == id {
                    return Err(ServiceError::SelfDependency);
                }
                if self.dependencies.contains(&on) {
                    return Err(ServiceError::DuplicateDependency(on));
                }
                match services.service_status(on).await.map_err(ServiceError::LookupFailed)? {
                    None => return Err(ServiceError::DependencyNotFound(on)),
                    Some(S::Retired) => return Err(ServiceError::DependencyRetired(on)),
                    Some(_) => {}
                }
                // `on -> ... -> self` plus the new `self -> on` would be a cycle.
                if services.depends_on(on, id).await.map_err(ServiceError::LookupFailed)? {
                    return Err(ServiceError::DependencyCycle(on));
                }
                Ok(vec![E::DependencyDeclared { on, at }])
            }
            C::RemoveDependency { on, at } => {
                if self.dependencies.contains(&on) {
                    Ok(vec![E::DependencyRemoved { on, at }])
                } else {
                    Err(ServiceError::UnknownDependency(on))
                }
            }
            C::Deprecate { reason, at } => match status {
                S::Active => Ok(vec![E::ServiceDeprecated { reason, at }]),
                _ => Err(refused),
            },
            C::Retire { at } => match status {
                // A registered service that never went live may be withdrawn directly; a live
                // one is deprecated first so its dependants get notice.
                S::Registered | S::Deprecated => Ok(vec![E::ServiceRetired { at }]),
                _ => Err(refused),
            },
        }
    }
}

impl Aggregate for RuntimeService {
    const TYPE: &'static str = "RuntimeService";
    type Command = ServiceCommand;
    type Event = ServiceEvent;
    type Error = ServiceError;
    type Services = ServiceServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let events = self.decide(command, services).await?;
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use ServiceEvent as E;
        use ServiceLifecycle as S;

        match event {
            E::ServiceRegistered { service, product, name, kind, blueprint, contract, at } => {
                self.status = Some(S::Registered);
                self.id = Some(service);
                self.product = Some(product);
                self.name = Some(name);
                self.kind = Some(kind);
                self.blueprint = Some(blueprint);
                self.contract = Some(contract);
                self.registered_at = Some(at);
                self.updated_at = Some(at);
            }
            E::ServiceActivated { at } => {
                self.status = Some(S::Active);
                self.activated_at = Some(at);
                self.updated_at = Some(at);
            }
            E::RuntimeContractUpdated { contract, at } => {
                self.contract = Some(contract);
                self.updated_at = Some(at);
            }
            E::DependencyDeclared { on, at } => {
                self.dependencies.insert(on);
                self.updated_at = Some(at);
            }
            E::DependencyRemoved { on, at } => {
                self.dependencies.remove(&on);
                self.updated_at = Some(at);
            }
            E::ServiceDeprecated { reason, at } => {
                self.status = Some(S::Deprecated);
                self.deprecation_reason = Some(reason);
                self.deprecated_at = Some(at);
                self.updated_at = Some(at);
            }
            E::ServiceRetired { at } => {
                self.status = Some(S::Retired);
                self.retired_at = Some(at);
                self.updated_at = Some(at);
            }
        }
    }
}

/// Services are platform-wide catalog entries: they belong to a product, not to a tenant.
impl crate::ownership::TenantOwned for RuntimeService {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::catalog::service::services::{CatalogLookup, FixedCatalogLookup};
    use crate::catalog::service::values::{ImageRepository, Port, ReplicaHints};
    use crate::environments::ComputeTargetKind;
    use crate::rejection::{Rejection, RejectionKind};

    type Test = TestFramework<RuntimeService>;

    /// A lookup that cannot answer, to prove a failure is reported and not read as "absent".
    struct BrokenLookup;

    #[async_trait]
    impl CatalogLookup for BrokenLookup {
        async fn depends_on(&self, _from: ServiceId, _to: ServiceId) -> Result<bool, String> {
            Err("read model unavailable".to_owned())
        }

        async fn service_status(&self, _service: ServiceId) -> Result<Option<ServiceLifecycle>, String> {
            Err("read model unavailable".to_owned())
        }
    }

    fn id(n: u8) -> ServiceId {
        ServiceId::parse(&format!("0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f{n:02x}")).unwrap()
    }

    /// The service under test.
    fn me() -> ServiceId {
        id(1)
    }

    fn t(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-01T10:{minute:02}:00Z")).unwrap().to_utc()
    }

    fn reason(text: &str) -> Reason {
        Reason::parse(text).unwrap()
    }

    fn contract(port: u32) -> RuntimeContract {
        RuntimeContract::new(
            ImageRepository::parse("myregistry.azurecr.io/shop/orders").unwrap(),
            vec![Port::parse(port).unwrap()],
            None,
            None,
            None,
            ReplicaHints::new(1, 3).unwrap(),
            ComputeTargetKind::ContainerApps,
        )
        .unwrap()
    }

    fn lookup(catalog: FixedCatalogLookup) -> ServiceServices {
        ServiceServices::new(Arc::new(catalog))
    }

    /// A catalog with this service and services 2 (Active), 3 (Deprecated), 4 (Retired).
    fn catalog() -> FixedCatalogLookup {
        FixedCatalogLookup::default()
            .with_service(me(), ServiceLifecycle::Active)
            .with_service(id(2), ServiceLifecycle::Active)
            .with_service(id(3), ServiceLifecycle::Deprecated)
            .with_service(id(4), ServiceLifecycle::Retired)
    }

    fn test() -> Test {
        Test::with(lookup(catalog()))
    }

    fn register() -> ServiceCommand {
        ServiceCommand::RegisterService {
            service: me(),
            product: ProductId::parse("shop").unwrap(),
            name: ServiceName::parse("orders-api").unwrap(),
            kind: ServiceKind::Microservice,
            blueprint: BlueprintId::parse("blueprints/microservice@2").unwrap(),
            contract: contract(8080),
            at: t(0),
        }
    }

    fn registered() -> ServiceEvent {
        ServiceEvent::ServiceRegistered {
            service: me(),
            product: ProductId::parse("shop").unwrap(),
            name: ServiceName::parse("orders-api").unwrap(),
            kind: ServiceKind::Microservice,
            blueprint: BlueprintId::parse("blueprints/microservice@2").unwrap(),
            contract: contract(8080),
            at: t(0),
        }
    }

    fn activated() -> ServiceEvent {
        ServiceEvent::ServiceActivated { at: t(1) }
    }

    fn deprecated() -> ServiceEvent {
        ServiceEvent::ServiceDeprecated { reason: reason("replaced by orders-v2"), at: t(3) }
    }

    fn retired() -> ServiceEvent {
        ServiceEvent::ServiceRetired { at: t(4) }
    }

    fn declared(on: ServiceId) -> ServiceEvent {
        ServiceEvent::DependencyDeclared { on, at: t(2) }
    }

    /// Histories that end in each status, for rules that hold across several of them.
    fn history(status: ServiceLifecycle) -> Vec<ServiceEvent> {
        use ServiceLifecycle as S;
        match status {
            S::Registered => vec![registered()],
            S::Active => vec![registered(), activated()],
            S::Deprecated => vec![registered(), activated(), deprecated()],
            S::Retired => vec![registered(), activated(), deprecated(), retired()],
        }
    }

    fn replay(events: Vec<ServiceEvent>) -> RuntimeService {
        let mut service = RuntimeService::default();
        for event in events {
            service.apply(event);
        }
        service
    }

    fn every_command() -> Vec<ServiceCommand> {
        use ServiceCommand as C;
        vec![
            register(),
            C::ActivateService { at: t(9) },
            C::UpdateRuntimeContract { contract: contract(9090), at: t(9) },
            C::DeclareDependency { on: id(2), at: t(9) },
            C::RemoveDependency { on: id(2), at: t(9) },
            C::Deprecate { reason: reason("x"), at: t(9) },
            C::Retire { at: t(9) },
        ]
    }

    // --- creation ---

    #[test]
    fn registering_a_service_records_every_detail() {
        test().given_no_previous_events().when(register()).then_expect_events(vec![registered()]);
    }

    #[test]
    fn an_existing_service_cannot_be_registered_again() {
        for status in [ServiceLifecycle::Active, ServiceLifecycle::Retired] {
            test()
                .given(history(status))
                .when(register())
                .then_expect_error_message(&format!("cannot RegisterService: service already exists (it is {status})"));
        }
    }

    #[test]
    fn commands_on_a_nonexistent_service_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            let error = test().given_no_previous_events().when(command).inspect_result().unwrap_err();
            assert_eq!(error, ServiceError::NotFound { command: name });
            assert_eq!(error.to_string(), format!("cannot {name}: service does not exist"));
            assert_eq!(error.kind(), RejectionKind::NotFound);
        }
    }

    // --- lifecycle ---

    #[test]
    fn a_registered_service_can_be_activated() {
        test()
            .given(history(ServiceLifecycle::Registered))
            .when(ServiceCommand::ActivateService { at: t(1) })
            .then_expect_events(vec![activated()]);
    }

    #[test]
    fn only_a_registered_service_can_be_activated() {
        for status in [ServiceLifecycle::Active, ServiceLifecycle::Deprecated] {
            test()
                .given(history(status))
                .when(ServiceCommand::ActivateService { at: t(9) })
                .then_expect_error_message(&format!("cannot ActivateService: service is {status}"));
        }
    }

    #[test]
    fn an_active_service_can_be_deprecated() {
        test()
            .given(history(ServiceLifecycle::Active))
            .when(ServiceCommand::Deprecate { reason: reason("replaced by orders-v2"), at: t(3) })
            .then_expect_events(vec![deprecated()]);
    }

    #[test]
    fn only_an_active_service_can_be_deprecated() {
        for status in [ServiceLifecycle::Registered, ServiceLifecycle::Deprecated] {
            test()
                .given(history(status))
                .when(ServiceCommand::Deprecate { reason: reason("x"), at: t(9) })
                .then_expect_error_message(&format!("cannot Deprecate: service is {status}"));
        }
    }

    #[test]
    fn deprecated_or_never_activated_services_can_be_retired() {
        for status in [ServiceLifecycle::Registered, ServiceLifecycle::Deprecated] {
            test().given(history(status)).when(ServiceCommand::Retire { at: t(4) }).then_expect_events(vec![retired()]);
        }
    }

    #[test]
    fn an_active_service_is_deprecated_before_it_is_retired() {
        test()
            .given(history(ServiceLifecycle::Active))
            .when(ServiceCommand::Retire { at: t(4) })
            .then_expect_error_message("cannot Retire: service is Active");
    }

    #[test]
    fn a_retired_service_accepts_no_command() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            test()
                .given(history(ServiceLifecycle::Retired))
                .when(command)
                .then_expect_error_message(&format!("cannot {name}: service is Retired"));
        }
    }

    #[test]
    fn a_retired_service_cannot_be_deployed() {
        use ServiceLifecycle as S;
        assert!(!RuntimeService::default().is_deployable());
        for status in [S::Registered, S::Active, S::Deprecated, S::Retired] {
            assert_eq!(replay(history(status)).is_deployable(), status != S::Retired, "{status}");
        }
    }

    // --- contract ---

    #[test]
    fn the_runtime_contract_can_be_updated_until_retired() {
        for status in [ServiceLifecycle::Registered, ServiceLifecycle::Active, ServiceLifecycle::Deprecated] {
            test()
                .given(history(status))
                .when(ServiceCommand::UpdateRuntimeContract { contract: contract(9090), at: t(5) })
                .then_expect_events(vec![ServiceEvent::RuntimeContractUpdated { contract: contract(9090), at: t(5) }]);
        }
        let mut events = history(ServiceLifecycle::Active);
        events.push(ServiceEvent::RuntimeContractUpdated { contract: contract(9090), at: t(5) });
        assert_eq!(replay(events).contract(), Some(&contract(9090)));
    }

    #[test]
    fn an_unchanged_contract_records_nothing() {
        test()
            .given(history(ServiceLifecycle::Active))
            .when(ServiceCommand::UpdateRuntimeContract { contract: contract(8080), at: t(5) })
            .then_expect_events(vec![]);
    }

    // --- dependencies ---

    #[test]
    fn a_dependency_can_be_declared_on_a_registered_active_or_deprecated_service() {
        let catalog = catalog().with_service(id(5), ServiceLifecycle::Registered);
        for on in [id(2), id(3), id(5)] {
            Test::with(lookup(catalog.clone()))
                .given(history(ServiceLifecycle::Active))
                .when(ServiceCommand::DeclareDependency { on, at: t(2) })
                .then_expect_events(vec![declared(on)]);
        }
        let mut events = history(ServiceLifecycle::Active);
        events.push(declared(id(2)));
        let service = replay(events);
        assert!(service.depends_directly_on(id(2)));
        assert_eq!(service.dependencies().len(), 1);
    }

    #[test]
    fn a_service_cannot_depend_on_itself() {
        test()
            .given(history(ServiceLifecycle::Active))
            .when(ServiceCommand::DeclareDependency { on: me(), at: t(2) })
            .then_expect_error_message("a service cannot depend on itself");
    }

    #[test]
    fn a_dependency_is_declared_once() {
        let mut events = history(ServiceLifecycle::Active);
        events.push(declared(id(2)));
        test()
            .given(events)
            .when(ServiceCommand::DeclareDependency { on: id(2), at: t(3) })
            .then_expect_error_message(&format!("dependency on service {} is already declared", id(2)));
    }

    #[test]
    fn a_dependency_must_exist() {
        test()
            .given(history(ServiceLifecycle::Active))
            .when(ServiceCommand::DeclareDependency { on: id(9), at: t(2) })
            .then_expect_error_message(&format!("cannot depend on service {}: it does not exist", id(9)));
    }

    #[test]
    fn a_retired_service_cannot_be_depended_on() {
        test()
            .given(history(ServiceLifecycle::Active))
            .when(ServiceCommand::DeclareDependency { on: id(4), at: t(2) })
            .then_expect_error_message(&format!("cannot depend on service {}: it is retired", id(4)));
    }

    #[test]
    fn dependencies_form_no_cycle() {
        // Direct: 2 -> me. Transitive: 3 -> 5 -> me.
        let catalog = catalog()
            .with_service(id(5), ServiceLifecycle::Active)
            .with_dependency(id(2), me())
            .with_dependency(id(3), id(5))
            .with_dependency(id(5), me());
        for on in [id(2), id(3)] {
            let error = Test::with(lookup(catalog.clone()))
                .given(history(ServiceLifecycle::Active))
                .when(ServiceCommand::DeclareDependency { on, at: t(2) })
                .inspect_result()
                .unwrap_err();
            assert_eq!(error, ServiceError::DependencyCycle(on));
            assert_eq!(
                error.to_string(),
                format!(
                    "cannot depend on service {on}: it already depends on this service, and dependencies form no cycle"
                )
            );
        }
    }

    #[test]
    fn a_dependency_path_that_does_not_lead_back_is_not_a_cycle() {
        // me -> 2 already; 3 -> 2 is a diamond, not a cycle.
        let catalog = catalog().with_dependency(me(), id(2)).with_dependency(id(3), id(2));
        let mut events = history(ServiceLifecycle::Active);
        events.push(declared(id(2)));
        Test::with(lookup(catalog))
            .given(events)
            .when(ServiceCommand::DeclareDependency { on: id(3), at: t(2) })
            .then_expect_events(vec![declared(id(3))]);
    }

    #[test]
    fn a_failed_catalog_lookup_is_reported_not_read_as_absence() {
        let error = Test::with(ServiceServices::new(Arc::new(BrokenLookup)))
            .given(history(ServiceLifecycle::Active))
            .when(ServiceCommand::DeclareDependency { on: id(2), at: t(2) })
            .inspect_result()
            .unwrap_err();
        assert_eq!(error, ServiceError::LookupFailed("read model unavailable".to_owned()));
        assert_eq!(error.kind(), RejectionKind::LookupFailed);
    }

    #[test]
    fn a_declared_dependency_can_be_removed() {
        let mut events = history(ServiceLifecycle::Deprecated);
        events.push(declared(id(2)));
        let removed = ServiceEvent::DependencyRemoved { on: id(2), at: t(6) };
        test()
            .given(events.clone())
            .when(ServiceCommand::RemoveDependency { on: id(2), at: t(6) })
            .then_expect_events(vec![removed.clone()]);
        events.push(removed);
        assert!(replay(events).dependencies().is_empty());
    }

    #[test]
    fn only_a_declared_dependency_can_be_removed() {
        test()
            .given(history(ServiceLifecycle::Active))
            .when(ServiceCommand::RemoveDependency { on: id(2), at: t(6) })
            .then_expect_error_message(&format!("no dependency on service {} is declared", id(2)));
    }

    // --- state ---

    #[test]
    fn state_is_rebuilt_from_the_event_history() {
        let mut events = history(ServiceLifecycle::Deprecated);
        events.insert(2, declared(id(2)));
        events.push(retired());
        let service = replay(events);
        assert_eq!(service.status(), Some(ServiceLifecycle::Retired));
        assert_eq!(service.id(), Some(me()));
        assert_eq!(service.product().map(ProductId::as_str), Some("shop"));
        assert_eq!(service.name().map(ServiceName::as_str), Some("orders-api"));
        assert_eq!(service.kind(), Some(ServiceKind::Microservice));
        assert_eq!(service.blueprint().map(BlueprintId::as_str), Some("blueprints/microservice@2"));
        assert_eq!(service.contract(), Some(&contract(8080)));
        assert!(service.depends_directly_on(id(2)));
        assert_eq!(service.deprecation_reason(), Some(&reason("replaced by orders-v2")));
        assert_eq!(service.registered_at(), Some(t(0)));
        assert_eq!(service.activated_at(), Some(t(1)));
        assert_eq!(service.deprecated_at(), Some(t(3)));
        assert_eq!(service.retired_at(), Some(t(4)));
        assert_eq!(service.updated_at(), Some(t(4)));
        let snapshot = serde_json::to_value(&service).unwrap();
        assert_eq!(serde_json::from_value::<RuntimeService>(snapshot).unwrap(), service);
        assert!(crate::ownership::TenantOwned::owner_tenant(&service).is_none());
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use ServiceError as Err;
        let status = ServiceLifecycle::Active;
        let cases = [
            (Err::NotFound { command: "Retire" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status }, RejectionKind::AlreadyExists),
            (Err::InvalidTransition { command: "Retire", status }, RejectionKind::InvalidTransition),
            (Err::SelfDependency, RejectionKind::InvariantViolated),
            (Err::DuplicateDependency(id(2)), RejectionKind::InvariantViolated),
            (Err::UnknownDependency(id(2)), RejectionKind::InvariantViolated),
            (Err::DependencyNotFound(id(2)), RejectionKind::InvariantViolated),
            (Err::DependencyRetired(id(2)), RejectionKind::InvariantViolated),
            (Err::DependencyCycle(id(2)), RejectionKind::InvariantViolated),
            (Err::LookupFailed("down".to_owned()), RejectionKind::LookupFailed),
            (Err::InvalidValue(crate::catalog::ValueError::InvalidPort(0)), RejectionKind::InvalidInput),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
