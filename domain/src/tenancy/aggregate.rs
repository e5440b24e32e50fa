//! The `RuntimeTenantBinding` aggregate: decides which lifecycle commands a tenant's binding
//! to an environment accepts and folds its events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. The
//! cross-aggregate facts (the environment is live, the tenant's active scaling policies) come
//! from [`TenantBindingServices`]; uniqueness goes through claims.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::TenantBindingCommand;
use super::error::TenantBindingError;
use super::events::TenantBindingEvent;
use super::services::TenantBindingServices;
use super::values::{
    DataPartition, IsolationModel, KubernetesNamespace, NetworkPolicy, QuotaBreach, Quotas, TenantBindingStatus,
    WorkloadIdentity,
};
use crate::envelope::TenantId;
use crate::environments::{EnvironmentId, Reason};

/// A tenant's runtime boundary in one environment, rebuilt from its events. The default value
/// is a binding that does not exist yet (`status()` is `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeTenantBinding {
    status: Option<TenantBindingStatus>,
    tenant: Option<TenantId>,
    environment: Option<EnvironmentId>,
    isolation: Option<IsolationModel>,
    namespace: Option<KubernetesNamespace>,
    identity: Option<WorkloadIdentity>,
    network_policy: Option<NetworkPolicy>,
    data_partition: Option<DataPartition>,
    quotas: Option<Quotas>,
    last_reason: Option<Reason>,
    breach_count: u64,
    last_breach: Option<QuotaBreach>,
    bound_at: Option<DateTime<Utc>>,
    activated_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    offboarded_at: Option<DateTime<Utc>>,
}

impl RuntimeTenantBinding {
    /// Where the binding is in its lifecycle; `None` if it was never made.
    pub fn status(&self) -> Option<TenantBindingStatus> {
        self.status
    }

    /// Whether the tenant may get new deployments in this environment: only when `Active`
    /// (a suspended tenant gets no new deployment).
    pub fn accepts_deployments(&self) -> bool {
        self.status.is_some_and(|status| status.accepts_deployments())
    }

    /// The tenant the binding belongs to.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }

    /// The environment the tenant is bound to.
    pub fn environment(&self) -> Option<&EnvironmentId> {
        self.environment.as_ref()
    }

    /// How strongly the tenant is separated from others.
    pub fn isolation(&self) -> Option<IsolationModel> {
        self.isolation
    }

    /// The tenant's own Kubernetes namespace, if its isolation model gives it one.
    pub fn namespace(&self) -> Option<&KubernetesNamespace> {
        self.namespace.as_ref()
    }

    /// The managed identity the tenant's workloads run as.
    pub fn identity(&self) -> Option<&WorkloadIdentity> {
        self.identity.as_ref()
    }

    /// What traffic the tenant's workloads may exchange with other tenants'.
    pub fn network_policy(&self) -> Option<&NetworkPolicy> {
        self.network_policy.as_ref()
    }

    /// Where the tenant's data lives.
    pub fn data_partition(&self) -> Option<&DataPartition> {
        self.data_partition.as_ref()
    }

    /// The quotas in force.
    pub fn quotas(&self) -> Option<&Quotas> {
        self.quotas.as_ref()
    }

    /// Why the binding is in its current status, for `Suspended`, `Offboarding` and
    /// `Offboarded`.
    pub fn last_reason(&self) -> Option<&Reason> {
        self.last_reason.as_ref()
    }

    /// How many quota breaches have been recorded over the binding's life.
    pub fn breach_count(&self) -> u64 {
        self.breach_count
    }

    /// The most recent quota breach.
    pub fn last_breach(&self) -> Option<&QuotaBreach> {
        self.last_breach.as_ref()
    }

    /// When the binding was asked for.
    pub fn bound_at(&self) -> Option<DateTime<Utc>> {
        self.bound_at
    }

    /// When the binding first became `Active`.
    pub fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.activated_at
    }

    /// The time of its latest event.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// When offboarding finished.
    pub fn offboarded_at(&self) -> Option<DateTime<Utc>> {
        self.offboarded_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    async fn decide(
        &self,
        command: TenantBindingCommand,
        services: &TenantBindingServices,
    ) -> Result<Vec<TenantBindingEvent>, TenantBindingError> {
        use TenantBindingCommand as C;
        use TenantBindingEvent as E;
        use TenantBindingStatus as S;

        let command_name = command.name();
        let Some(status) = self.status else {
            return match command {
                C::BindTenant {
                    tenant,
                    environment,
                    isolation,
                    namespace,
                    identity,
                    network_policy,
                    data_partition,
                    quotas,
                    at,
                } => {
                    check_namespace(isolation, namespace.as_ref())?;
                    match services.environment_live(environment).await.map_err(TenantBindingError::LookupFailed)? {
                        None => return Err(TenantBindingError::UnknownEnvironment(environment)),
                        Some(false) => return Err(TenantBindingError::EnvironmentNotLive(environment)),
                        Some(true) => {}
                    }
                    Ok(vec![E::TenantBound {
                        tenant,
                        environment,
                        isolation,
                        namespace,
                        identity,
                        network_policy,
                        data_partition,
                        quotas,
                        at,
                    }])
                }
                _ => Err(TenantBindingError::NotFound { command: command_name }),
            };
        };
        let refused = TenantBindingError::InvalidTransition { command: command_name, status };

        match command {
            C::BindTenant { .. } => Err(TenantBindingError::AlreadyExists { status }),
            C::ActivateBinding { at } => match status {
                S::Requested => Ok(vec![E::BindingActivated { at }]),
                _ => Err(refused),
            },
            C::ChangeQuota { quotas, at } => match (status, self.quotas) {
                // Like a Kubernetes spec update, re-submitting the quotas in force changes
                // nothing and records nothing, so a retried command is harmless.
                (S::Active | S::Suspended, Some(previous)) if previous == quotas => Ok(vec![]),
                (S::Active | S::Suspended, Some(previous)) => {
                    // Only a lower replica quota can fall below a policy; raising it (even if
                    // still below, after a race) must stay possible, as it is the fix.
                    if quotas.replicas() < previous.replicas() {
                        if let (Some(tenant), Some(environment)) = (&self.tenant, self.environment) {
                            let policy_max = services
                                .active_policy_max_replicas(tenant, environment)
                                .await
                                .map_err(TenantBindingError::LookupFailed)?;
                            if let Some(policy_max) = policy_max.filter(|max| quotas.replicas() < *max) {
                                return Err(TenantBindingError::QuotaBelowActivePolicy {
                                    quota: quotas.replicas(),
                                    policy_max,
                                });
                            }
                        }
                    }
                    Ok(vec![E::QuotaChanged { previous, quotas, at }])
                }
                _ => Err(refused),
            },
            C::Suspend { reason, at } => match status {
                S::Active => Ok(vec![E::TenantSuspended { reason, at }]),
                _ => Err(refused),
            },
            C::Resume { at } => match status {
                S::Suspended => Ok(vec![E::TenantResumed { at }]),
                _ => Err(refused),
            },
            C::Offboard { reason, at } => match status {
                S::Active | S::Suspended => Ok(vec![E::OffboardingStarted { reason, at }]),
                _ => Err(refused),
            },
            C::RecordOffboarded { at } => match (status, &self.tenant, self.environment, &self.data_partition) {
                (S::Offboarding, Some(tenant), Some(environment), Some(data_partition)) => {
                    Ok(vec![E::TenantOffboarded {
                        tenant: tenant.clone(),
                        environment,
                        namespace: self.namespace.clone(),
                        data_partition: data_partition.clone(),
                        at,
                    }])
                }
                _ => Err(refused),
            },
            C::RecordQuotaBreach { dimension, observed, at } => match (status, self.quotas) {
                (S::Active | S::Suspended, Some(quotas)) => {
                    let quota = quotas.limit(dimension);
                    if QuotaBreach::new(dimension, observed, quota, at).is_none() {
                        return Err(TenantBindingError::NotABreach { dimension, observed, quota });
                    }
                    Ok(vec![E::QuotaBreached { dimension, observed, quota, at }])
                }
                _ => Err(refused),
            },
        }
    }
}

/// The namespace rule of each isolation model: `namespace_per_tenant` needs one, `shared`
/// refuses one, `dedicated_environment` may have one.
fn check_namespace(
    isolation: IsolationModel,
    namespace: Option<&KubernetesNamespace>,
) -> Result<(), TenantBindingError> {
    match (isolation, namespace) {
        (IsolationModel::NamespacePerTenant, None) => Err(TenantBindingError::NamespaceRequired(isolation)),
        (IsolationModel::Shared, Some(namespace)) => {
            Err(TenantBindingError::NamespaceNotAllowed { isolation, namespace: namespace.clone() })
        }
        _ => Ok(()),
    }
}

impl Aggregate for RuntimeTenantBinding {
    const TYPE: &'static str = "RuntimeTenantBinding";
    type Command = TenantBindingCommand;
    type Event = TenantBindingEvent;
    type Error = TenantBindingError;
    type Services = TenantBindingServices;

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
        use TenantBindingEvent as E;
        use TenantBindingStatus as S;

        match event {
            E::TenantBound {
                tenant,
                environment,
                isolation,
                namespace,
                identity,
                network_policy,
                data_partition,
                quotas,
                at,
            } => {
                self.status = Some(S::Requested);
                self.tenant = Some(tenant);
                self.environment = Some(environment);
                self.isolation = Some(isolation);
                self.namespace = namespace;
                self.identity = Some(identity);
                self.network_policy = Some(network_policy);
                self.data_partition = Some(data_partition);
                self.quotas = Some(quotas);
                self.bound_at = Some(at);
                self.updated_at = Some(at);
            }
            E::BindingActivated { at } => {
                self.status = Some(S::Active);
                self.activated_at = Some(at);
                self.updated_at = Some(at);
            }
            E::QuotaChanged { quotas, at, .. } => {
                self.quotas = Some(quotas);
                self.updated_at = Some(at);
            }
            E::TenantSuspended { reason, at } => {
                self.status = Some(S::Suspended);
                self.last_reason = Some(reason);
                self.updated_at = Some(at);
            }
            E::TenantResumed { at } => {
                self.status = Some(S::Active);
                self.last_reason = None;
                self.updated_at = Some(at);
            }
            E::OffboardingStarted { reason, at } => {
                self.status = Some(S::Offboarding);
                self.last_reason = Some(reason);
                self.updated_at = Some(at);
            }
            E::TenantOffboarded { at, .. } => {
                self.status = Some(S::Offboarded);
                self.offboarded_at = Some(at);
                self.updated_at = Some(at);
            }
            E::QuotaBreached { dimension, observed, quota, at } => {
                self.breach_count = self.breach_count.saturating_add(1);
                // The event was decided against the same rule, so this is always `Some`.
                if let Some(breach) = QuotaBreach::new(dimension, observed, quota, at) {
                    self.last_breach = Some(breach);
                }
                self.updated_at = Some(at);
            }
        }
    }
}

/// A binding belongs to its tenant: the bus refuses commands on it from other tenants' scopes.
impl crate::ownership::TenantOwned for RuntimeTenantBinding {
    fn owner_tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::ownership::TenantOwned;
    use crate::rejection::{Rejection, RejectionKind};
    use crate::tenancy::services::{FixedTenancyLookup, TenancyLookup};
    use crate::tenancy::values::{QuotaDimension, ValueError};

    type Test = TestFramework<RuntimeTenantBinding>;

    const ENV: &str = "0190f1e2-7b3c-7d4e-8f5a-6b7c8d9e0f1a";
    const CLIENT_ID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    fn test() -> Test {
        Test::with(TenantBindingServices::default())
    }

    fn with(lookup: FixedTenancyLookup) -> Test {
        Test::with(TenantBindingServices::new(Arc::new(lookup)))
    }

    /// A lookup that cannot answer, to prove a failure is reported and not read as "absent".
    struct BrokenLookup;

    #[async_trait]
    impl TenancyLookup for BrokenLookup {
        async fn environment_live(&self, _environment: EnvironmentId) -> Result<Option<bool>, String> {
            Err("read model unavailable".to_owned())
        }

        async fn active_policy_max_replicas(
            &self,
            _tenant: &TenantId,
            _environment: EnvironmentId,
        ) -> Result<Option<u32>, String> {
            Err("read model unavailable".to_owned())
        }
    }

    fn error_of(test: Test, given: Vec<TenantBindingEvent>, command: TenantBindingCommand) -> TenantBindingError {
        test.given(given).when(command).inspect_result().unwrap_err()
    }

    // --- rules that need other aggregates ---

    #[test]
    fn a_tenant_is_bound_only_to_an_existing_environment() {
        let error = error_of(
            with(FixedTenancyLookup { environment_live: None, ..FixedTenancyLookup::permissive() }),
            vec![],
            bind(),
        );
        assert_eq!(error, TenantBindingError::UnknownEnvironment(environment()));
        assert_eq!(error.kind(), RejectionKind::InvariantViolated);
    }

    #[test]
    fn a_tenant_is_bound_only_to_a_live_environment() {
        let error = error_of(
            with(FixedTenancyLookup { environment_live: Some(false), ..FixedTenancyLookup::permissive() }),
            vec![],
            bind(),
        );
        assert_eq!(error, TenantBindingError::EnvironmentNotLive(environment()));
        assert_eq!(error.kind(), RejectionKind::InvariantViolated);
    }

    #[test]
    fn a_failed_environment_lookup_is_reported_not_read_as_absence() {
        let error = error_of(Test::with(TenantBindingServices::new(Arc::new(BrokenLookup))), vec![], bind());
        assert_eq!(error, TenantBindingError::LookupFailed("read model unavailable".to_owned()));
        assert_eq!(error.kind(), RejectionKind::LookupFailed);
    }

    #[test]
    fn the_replica_quota_never_goes_below_an_active_scaling_policys_max_replicas() {
        // quotas() has 10 replicas; an active policy may scale to 8.
        let policy = FixedTenancyLookup { policy_max_replicas: Some(8), ..FixedTenancyLookup::permissive() };
        let lower = Quotas::new(2000, 4096, 7, 50, 500).unwrap();
        for status in [TenantBindingStatus::Active, TenantBindingStatus::Suspended] {
            let error =
                error_of(with(policy), history(status), TenantBindingCommand::ChangeQuota { quotas: lower, at: t(5) });
            assert_eq!(error, TenantBindingError::QuotaBelowActivePolicy { quota: 7, policy_max: 8 });
            assert_eq!(error.kind(), RejectionKind::InvariantViolated);
        }
        // Down to exactly the policy's max is fine.
        let at_max = Quotas::new(2000, 4096, 8, 50, 500).unwrap();
        with(policy)
            .given(history(TenantBindingStatus::Active))
            .when(TenantBindingCommand::ChangeQuota { quotas: at_max, at: t(5) })
            .then_expect_events(vec![TenantBindingEvent::QuotaChanged {
                previous: quotas(),
                quotas: at_max,
                at: t(5),
            }]);
    }

    #[test]
    fn raising_the_replica_quota_is_never_refused_by_a_scaling_policy() {
        // Even a policy above the (raised) quota, left by a race, does not block raising it.
        let policy = FixedTenancyLookup { policy_max_replicas: Some(50), ..FixedTenancyLookup::permissive() };
        with(policy)
            .given(history(TenantBindingStatus::Active))
            .when(TenantBindingCommand::ChangeQuota { quotas: bigger_quotas(), at: t(5) })
            .then_expect_events(vec![TenantBindingEvent::QuotaChanged {
                previous: quotas(),
                quotas: bigger_quotas(),
                at: t(5),
            }]);
    }

    #[test]
    fn a_failed_policy_lookup_is_reported_when_the_replica_quota_goes_down() {
        let lower = Quotas::new(2000, 4096, 7, 50, 500).unwrap();
        let error = error_of(
            Test::with(TenantBindingServices::new(Arc::new(BrokenLookup))),
            history(TenantBindingStatus::Active),
            TenantBindingCommand::ChangeQuota { quotas: lower, at: t(5) },
        );
        assert_eq!(error, TenantBindingError::LookupFailed("read model unavailable".to_owned()));
    }

    fn t(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-01T10:{minute:02}:00Z")).unwrap().to_utc()
    }

    fn reason(text: &str) -> Reason {
        Reason::parse(text).unwrap()
    }

    fn tenant() -> TenantId {
        TenantId::parse("contoso").unwrap()
    }

    fn environment() -> EnvironmentId {
        EnvironmentId::parse(ENV).unwrap()
    }

    fn namespace() -> KubernetesNamespace {
        KubernetesNamespace::parse("tenant-contoso").unwrap()
    }

    fn partition() -> DataPartition {
        DataPartition::parse("contoso").unwrap()
    }

    fn quotas() -> Quotas {
        Quotas::new(2000, 4096, 10, 50, 500).unwrap()
    }

    fn bigger_quotas() -> Quotas {
        Quotas::new(4000, 8192, 20, 100, 1000).unwrap()
    }

    fn bind_with(isolation: IsolationModel, namespace: Option<KubernetesNamespace>) -> TenantBindingCommand {
        TenantBindingCommand::BindTenant {
            tenant: tenant(),
            environment: environment(),
            isolation,
            namespace,
            identity: WorkloadIdentity::parse(CLIENT_ID).unwrap(),
            network_policy: NetworkPolicy::DenyCrossTenant,
            data_partition: partition(),
            quotas: quotas(),
            at: t(0),
        }
    }

    fn bind() -> TenantBindingCommand {
        bind_with(IsolationModel::NamespacePerTenant, Some(namespace()))
    }

    fn bound_with(isolation: IsolationModel, namespace: Option<KubernetesNamespace>) -> TenantBindingEvent {
        TenantBindingEvent::TenantBound {
            tenant: tenant(),
            environment: environment(),
            isolation,
            namespace,
            identity: WorkloadIdentity::parse(CLIENT_ID).unwrap(),
            network_policy: NetworkPolicy::DenyCrossTenant,
            data_partition: partition(),
            quotas: quotas(),
            at: t(0),
        }
    }

    fn bound() -> TenantBindingEvent {
        bound_with(IsolationModel::NamespacePerTenant, Some(namespace()))
    }

    fn activated() -> TenantBindingEvent {
        TenantBindingEvent::BindingActivated { at: t(1) }
    }

    fn suspended() -> TenantBindingEvent {
        TenantBindingEvent::TenantSuspended { reason: reason("invoice overdue"), at: t(2) }
    }

    fn offboarding() -> TenantBindingEvent {
        TenantBindingEvent::OffboardingStarted { reason: reason("contract ended"), at: t(3) }
    }

    fn offboarded() -> TenantBindingEvent {
        TenantBindingEvent::TenantOffboarded {
            tenant: tenant(),
            environment: environment(),
            namespace: Some(namespace()),
            data_partition: partition(),
            at: t(4),
        }
    }

    /// Histories that end in each status, for rules that hold across several of them.
    fn history(status: TenantBindingStatus) -> Vec<TenantBindingEvent> {
        use TenantBindingStatus as S;
        match status {
            S::Requested => vec![bound()],
            S::Active => vec![bound(), activated()],
            S::Suspended => vec![bound(), activated(), suspended()],
            S::Offboarding => vec![bound(), activated(), offboarding()],
            S::Offboarded => vec![bound(), activated(), offboarding(), offboarded()],
        }
    }

    fn replay(events: Vec<TenantBindingEvent>) -> RuntimeTenantBinding {
        let mut binding = RuntimeTenantBinding::default();
        for event in events {
            binding.apply(event);
        }
        binding
    }

    fn breach(observed: u64) -> TenantBindingCommand {
        TenantBindingCommand::RecordQuotaBreach { dimension: QuotaDimension::Replicas, observed, at: t(5) }
    }

    fn every_command() -> Vec<TenantBindingCommand> {
        use TenantBindingCommand as C;
        vec![
            bind(),
            C::ActivateBinding { at: t(9) },
            C::ChangeQuota { quotas: bigger_quotas(), at: t(9) },
            C::Suspend { reason: reason("x"), at: t(9) },
            C::Resume { at: t(9) },
            C::Offboard { reason: reason("x"), at: t(9) },
            C::RecordOffboarded { at: t(9) },
            breach(11),
        ]
    }

    // --- binding ---

    #[test]
    fn binding_a_tenant_records_its_whole_boundary() {
        test().given_no_previous_events().when(bind()).then_expect_events(vec![bound()]);
        let binding = replay(vec![bound()]);
        assert_eq!(binding.status(), Some(TenantBindingStatus::Requested));
        assert_eq!(binding.owner_tenant(), Some(&tenant()));
    }

    #[test]
    fn a_namespace_per_tenant_binding_needs_a_namespace() {
        test()
            .given_no_previous_events()
            .when(bind_with(IsolationModel::NamespacePerTenant, None))
            .then_expect_error_message("a namespace_per_tenant binding needs a kubernetes namespace");
    }

    #[test]
    fn a_shared_binding_has_no_namespace_of_its_own() {
        test()
            .given_no_previous_events()
            .when(bind_with(IsolationModel::Shared, Some(namespace())))
            .then_expect_error_message("a shared binding has no namespace of its own, got tenant-contoso");
        test()
            .given_no_previous_events()
            .when(bind_with(IsolationModel::Shared, None))
            .then_expect_events(vec![bound_with(IsolationModel::Shared, None)]);
    }

    #[test]
    fn a_dedicated_environment_binding_may_name_a_namespace_or_not() {
        for namespace in [Some(namespace()), None] {
            test()
                .given_no_previous_events()
                .when(bind_with(IsolationModel::DedicatedEnvironment, namespace.clone()))
                .then_expect_events(vec![bound_with(IsolationModel::DedicatedEnvironment, namespace)]);
        }
    }

    #[test]
    fn an_existing_binding_cannot_be_bound_again() {
        use TenantBindingStatus as S;
        for status in [S::Requested, S::Active, S::Offboarded] {
            test().given(history(status)).when(bind()).then_expect_error_message(&format!(
                "cannot BindTenant: tenant binding already exists (it is {status})"
            ));
        }
    }

    #[test]
    fn commands_on_a_missing_binding_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            test()
                .given_no_previous_events()
                .when(command)
                .then_expect_error_message(&format!("cannot {name}: tenant binding does not exist"));
        }
    }

    // --- activation ---

    #[test]
    fn a_requested_binding_can_be_activated() {
        test()
            .given(history(TenantBindingStatus::Requested))
            .when(TenantBindingCommand::ActivateBinding { at: t(1) })
            .then_expect_events(vec![activated()]);
    }

    #[test]
    fn only_a_requested_binding_can_be_activated() {
        use TenantBindingStatus as S;
        for status in [S::Active, S::Suspended, S::Offboarding, S::Offboarded] {
            test()
                .given(history(status))
                .when(TenantBindingCommand::ActivateBinding { at: t(9) })
                .then_expect_error_message(&format!("cannot ActivateBinding: tenant binding is {status}"));
        }
    }

    // --- quotas ---

    #[test]
    fn quotas_change_while_active_or_suspended() {
        use TenantBindingStatus as S;
        for status in [S::Active, S::Suspended] {
            test()
                .given(history(status))
                .when(TenantBindingCommand::ChangeQuota { quotas: bigger_quotas(), at: t(6) })
                .then_expect_events(vec![TenantBindingEvent::QuotaChanged {
                    previous: quotas(),
                    quotas: bigger_quotas(),
                    at: t(6),
                }]);
        }
    }

    #[test]
    fn resubmitting_the_quotas_in_force_records_nothing() {
        test()
            .given(history(TenantBindingStatus::Active))
            .when(TenantBindingCommand::ChangeQuota { quotas: quotas(), at: t(6) })
            .then_expect_events(vec![]);
    }

    #[test]
    fn quotas_cannot_change_before_activation_or_during_offboarding() {
        use TenantBindingStatus as S;
        for status in [S::Requested, S::Offboarding, S::Offboarded] {
            test()
                .given(history(status))
                .when(TenantBindingCommand::ChangeQuota { quotas: bigger_quotas(), at: t(6) })
                .then_expect_error_message(&format!("cannot ChangeQuota: tenant binding is {status}"));
        }
    }

    #[test]
    fn an_observation_above_a_quota_is_recorded_as_a_breach() {
        use TenantBindingStatus as S;
        for status in [S::Active, S::Suspended] {
            test().given(history(status)).when(breach(11)).then_expect_events(vec![
                TenantBindingEvent::QuotaBreached {
                    dimension: QuotaDimension::Replicas,
                    observed: 11,
                    quota: 10,
                    at: t(5),
                },
            ]);
        }
    }

    #[test]
    fn an_observation_within_the_quota_is_not_a_breach() {
        test()
            .given(history(TenantBindingStatus::Active))
            .when(breach(10))
            .then_expect_error_message("observed replicas 10 is within the quota of 10: not a breach");
    }

    #[test]
    fn a_breach_is_checked_against_the_quota_in_force() {
        test()
            .given(vec![
                bound(),
                activated(),
                TenantBindingEvent::QuotaChanged { previous: quotas(), quotas: bigger_quotas(), at: t(2) },
            ])
            .when(breach(11))
            .then_expect_error_message("observed replicas 11 is within the quota of 20: not a breach");
    }

    #[test]
    fn breaches_are_recorded_only_while_active_or_suspended() {
        use TenantBindingStatus as S;
        for status in [S::Requested, S::Offboarding, S::Offboarded] {
            test()
                .given(history(status))
                .when(breach(11))
                .then_expect_error_message(&format!("cannot RecordQuotaBreach: tenant binding is {status}"));
        }
    }

    #[test]
    fn breaches_are_counted_and_the_latest_is_kept() {
        let mut events = history(TenantBindingStatus::Active);
        for (observed, minute) in [(11, 5), (15, 6)] {
            events.push(TenantBindingEvent::QuotaBreached {
                dimension: QuotaDimension::Replicas,
                observed,
                quota: 10,
                at: t(minute),
            });
        }
        let binding = replay(events);
        assert_eq!(binding.breach_count(), 2);
        let last = binding.last_breach().unwrap();
        assert_eq!((last.observed(), last.quota(), last.at()), (15, 10, t(6)));
    }

    // --- suspension ---

    #[test]
    fn an_active_tenant_can_be_suspended() {
        test()
            .given(history(TenantBindingStatus::Active))
            .when(TenantBindingCommand::Suspend { reason: reason("invoice overdue"), at: t(2) })
            .then_expect_events(vec![suspended()]);
    }

    #[test]
    fn only_an_active_tenant_can_be_suspended() {
        use TenantBindingStatus as S;
        for status in [S::Requested, S::Suspended, S::Offboarding, S::Offboarded] {
            test()
                .given(history(status))
                .when(TenantBindingCommand::Suspend { reason: reason("x"), at: t(9) })
                .then_expect_error_message(&format!("cannot Suspend: tenant binding is {status}"));
        }
    }

    #[test]
    fn a_suspended_tenant_can_resume() {
        test()
            .given(history(TenantBindingStatus::Suspended))
            .when(TenantBindingCommand::Resume { at: t(3) })
            .then_expect_events(vec![TenantBindingEvent::TenantResumed { at: t(3) }]);
        let mut resumed = history(TenantBindingStatus::Suspended);
        resumed.push(TenantBindingEvent::TenantResumed { at: t(3) });
        let resumed = replay(resumed);
        assert_eq!(resumed.status(), Some(TenantBindingStatus::Active));
        assert_eq!(resumed.last_reason(), None);
    }

    #[test]
    fn only_a_suspended_tenant_can_resume() {
        use TenantBindingStatus as S;
        for status in [S::Requested, S::Active, S::Offboarding, S::Offboarded] {
            test()
                .given(history(status))
                .when(TenantBindingCommand::Resume { at: t(9) })
                .then_expect_error_message(&format!("cannot Resume: tenant binding is {status}"));
        }
    }

    #[test]
    fn a_suspended_tenant_gets_no_new_deployment() {
        use TenantBindingStatus as S;
        assert!(!RuntimeTenantBinding::default().accepts_deployments());
        for status in [S::Requested, S::Active, S::Suspended, S::Offboarding, S::Offboarded] {
            assert_eq!(replay(history(status)).accepts_deployments(), status == S::Active, "{status}");
        }
    }

    // --- offboarding ---

    #[test]
    fn active_or_suspended_tenants_can_be_offboarded() {
        use TenantBindingStatus as S;
        for status in [S::Active, S::Suspended] {
            test()
                .given(history(status))
                .when(TenantBindingCommand::Offboard { reason: reason("contract ended"), at: t(3) })
                .then_expect_events(vec![offboarding()]);
        }
    }

    #[test]
    fn a_requested_or_offboarding_binding_cannot_be_offboarded() {
        use TenantBindingStatus as S;
        for status in [S::Requested, S::Offboarding] {
            test()
                .given(history(status))
                .when(TenantBindingCommand::Offboard { reason: reason("x"), at: t(9) })
                .then_expect_error_message(&format!("cannot Offboard: tenant binding is {status}"));
        }
    }

    #[test]
    fn completing_offboarding_releases_the_binding_namespace_and_partition() {
        test()
            .given(history(TenantBindingStatus::Offboarding))
            .when(TenantBindingCommand::RecordOffboarded { at: t(4) })
            .then_expect_events(vec![offboarded()]);
    }

    #[test]
    fn offboarding_completes_only_after_it_started() {
        use TenantBindingStatus as S;
        for status in [S::Requested, S::Active, S::Suspended] {
            test()
                .given(history(status))
                .when(TenantBindingCommand::RecordOffboarded { at: t(9) })
                .then_expect_error_message(&format!("cannot RecordOffboarded: tenant binding is {status}"));
        }
    }

    #[test]
    fn an_offboarded_binding_accepts_no_command() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            test()
                .given(history(TenantBindingStatus::Offboarded))
                .when(command)
                .then_expect_error_message(&format!("cannot {name}: tenant binding is Offboarded"));
        }
    }

    // --- state ---

    #[test]
    fn state_is_rebuilt_from_the_event_history() {
        let binding = replay(history(TenantBindingStatus::Offboarded));
        assert_eq!(binding.status(), Some(TenantBindingStatus::Offboarded));
        assert_eq!(binding.tenant(), Some(&tenant()));
        assert_eq!(binding.environment(), Some(&environment()));
        assert_eq!(binding.isolation(), Some(IsolationModel::NamespacePerTenant));
        assert_eq!(binding.namespace(), Some(&namespace()));
        assert_eq!(binding.identity().map(ToString::to_string).as_deref(), Some(CLIENT_ID));
        assert_eq!(binding.network_policy(), Some(&NetworkPolicy::DenyCrossTenant));
        assert_eq!(binding.data_partition(), Some(&partition()));
        assert_eq!(binding.quotas(), Some(&quotas()));
        assert_eq!(binding.last_reason(), Some(&reason("contract ended")));
        assert_eq!(binding.breach_count(), 0);
        assert_eq!(binding.last_breach(), None);
        assert_eq!(binding.bound_at(), Some(t(0)));
        assert_eq!(binding.activated_at(), Some(t(1)));
        assert_eq!(binding.updated_at(), Some(t(4)));
        assert_eq!(binding.offboarded_at(), Some(t(4)));
        assert_eq!(binding.owner_tenant(), Some(&tenant()));
        let snapshot = serde_json::to_value(&binding).unwrap();
        assert_eq!(serde_json::from_value::<RuntimeTenantBinding>(snapshot).unwrap(), binding);
    }

    #[test]
    fn a_binding_that_does_not_exist_belongs_to_no_tenant() {
        assert_eq!(RuntimeTenantBinding::default().owner_tenant(), None);
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use TenantBindingError as Err;
        let status = TenantBindingStatus::Active;
        let cases = [
            (Err::NotFound { command: "Resume" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status }, RejectionKind::AlreadyExists),
            (Err::InvalidTransition { command: "Resume", status }, RejectionKind::InvalidTransition),
            (Err::NamespaceRequired(IsolationModel::NamespacePerTenant), RejectionKind::InvalidInput),
            (
                Err::NamespaceNotAllowed { isolation: IsolationModel::Shared, namespace: namespace() },
                RejectionKind::InvalidInput,
            ),
            (Err::NotABreach { dimension: QuotaDimension::Cpu, observed: 1, quota: 2 }, RejectionKind::InvalidInput),
            (Err::InvalidValue(ValueError::InvalidNetworkPolicyName("x".to_owned())), RejectionKind::InvalidInput),
            (Err::UnknownEnvironment(environment()), RejectionKind::InvariantViolated),
            (Err::EnvironmentNotLive(environment()), RejectionKind::InvariantViolated),
            (Err::QuotaBelowActivePolicy { quota: 1, policy_max: 2 }, RejectionKind::InvariantViolated),
            (Err::LookupFailed("down".to_owned()), RejectionKind::LookupFailed),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
