//! The `RuntimeEnvironment` aggregate: decides which lifecycle commands an environment accepts
//! and folds its events into state.
//!
//! `decide` holds every rule and returns the events to record; `apply` only moves state. The one
//! cross-aggregate fact (does staging exist, for prod) comes from [`EnvironmentServices`].

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::EnvironmentCommand;
use super::error::EnvironmentError;
use super::events::EnvironmentEvent;
use super::services::EnvironmentServices;
use super::values::{
    AzureRegion, AzureSubscriptionId, ComputeTarget, ComputeTargetName, EnvironmentName, EnvironmentStatus, ProductId,
    ProvisioningOutputs, PulumiStack, Reason, ResourceGroupName, Stage,
};

/// An isolated runtime environment of one product, rebuilt from its events. The default value
/// is an environment that does not exist yet (`status()` is `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeEnvironment {
    status: Option<EnvironmentStatus>,
    product: Option<ProductId>,
    name: Option<EnvironmentName>,
    stage: Option<Stage>,
    region: Option<AzureRegion>,
    subscription: Option<AzureSubscriptionId>,
    resource_group: Option<ResourceGroupName>,
    pulumi: Option<PulumiStack>,
    compute_targets: Vec<ComputeTarget>,
    outputs: Option<ProvisioningOutputs>,
    last_reason: Option<Reason>,
    provisioning_attempts: u32,
    requested_at: Option<DateTime<Utc>>,
    ready_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    decommissioned_at: Option<DateTime<Utc>>,
}

impl RuntimeEnvironment {
    /// Where the environment is in its lifecycle; `None` if it was never requested.
    pub fn status(&self) -> Option<EnvironmentStatus> {
        self.status
    }

    /// Whether workloads may be deployed into it: only when `Ready` or `Degraded` (a degraded
    /// environment must still take the deployment that fixes it).
    pub fn accepts_deployments(&self) -> bool {
        self.status.is_some_and(|status| status.accepts_deployments())
    }

    /// The product it belongs to.
    pub fn product(&self) -> Option<&ProductId> {
        self.product.as_ref()
    }

    /// Its name, unique per product and stage.
    pub fn name(&self) -> Option<&EnvironmentName> {
        self.name.as_ref()
    }

    /// Its stage on the promotion path.
    pub fn stage(&self) -> Option<Stage> {
        self.stage
    }

    /// The Azure region it lives in.
    pub fn region(&self) -> Option<&AzureRegion> {
        self.region.as_ref()
    }

    /// The Azure subscription it lives in.
    pub fn subscription(&self) -> Option<&AzureSubscriptionId> {
        self.subscription.as_ref()
    }

    /// The resource group holding its resources.
    pub fn resource_group(&self) -> Option<&ResourceGroupName> {
        self.resource_group.as_ref()
    }

    /// The Pulumi project and stack declaring it.
    pub fn pulumi(&self) -> Option<&PulumiStack> {
        self.pulumi.as_ref()
    }

    /// The compute targets it offers, in the order they were added.
    pub fn compute_targets(&self) -> &[ComputeTarget] {
        &self.compute_targets
    }

    /// The compute target with the given name, if it offers one.
    pub fn compute_target(&self, name: &ComputeTargetName) -> Option<&ComputeTarget> {
        self.compute_targets.iter().find(|target| target.name() == name)
    }

    /// What the last successful Pulumi run produced.
    pub fn outputs(&self) -> Option<&ProvisioningOutputs> {
        self.outputs.as_ref()
    }

    /// Why it is in its current status, for statuses that have a reason (`ProvisioningFailed`,
    /// `Degraded`, `Decommissioning`, `Decommissioned`).
    pub fn last_reason(&self) -> Option<&Reason> {
        self.last_reason.as_ref()
    }

    /// How many Pulumi runs have been started for it.
    pub fn provisioning_attempts(&self) -> u32 {
        self.provisioning_attempts
    }

    /// When it was requested.
    pub fn requested_at(&self) -> Option<DateTime<Utc>> {
        self.requested_at
    }

    /// When provisioning last succeeded.
    pub fn ready_at(&self) -> Option<DateTime<Utc>> {
        self.ready_at
    }

    /// The time of its latest timestamped event (compute target changes carry no time).
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// When teardown finished.
    pub fn decommissioned_at(&self) -> Option<DateTime<Utc>> {
        self.decommissioned_at
    }

    /// Checks `command` against the current state and returns the events that record it. Only
    /// reads `self`; the caller applies the events.
    async fn decide(
        &self,
        command: EnvironmentCommand,
        services: &EnvironmentServices,
    ) -> Result<Vec<EnvironmentEvent>, EnvironmentError> {
        use EnvironmentCommand as C;
        use EnvironmentEvent as E;
        use EnvironmentStatus as S;

        let command_name = command.name();
        let Some(status) = self.status else {
            return match command {
                C::RequestEnvironment {
                    product,
                    name,
                    stage,
                    region,
                    subscription,
                    resource_group,
                    pulumi,
                    compute_targets,
                    requested_at,
                } => {
                    if compute_targets.is_empty() {
                        return Err(EnvironmentError::NoComputeTargets);
                    }
                    if let Some(duplicate) = first_duplicate(&compute_targets) {
                        return Err(EnvironmentError::DuplicateComputeTarget(duplicate.clone()));
                    }
                    // Only prod pays for the lookup, and a failed lookup is not read as "no
                    // staging": the caller may retry, which a false refusal would not invite.
                    if stage == Stage::Prod
                        && !services.live_staging_exists(&product).await.map_err(EnvironmentError::LookupFailed)?
                    {
                        return Err(EnvironmentError::StagingRequired(product));
                    }
                    Ok(vec![E::EnvironmentRequested {
                        product,
                        name,
                        stage,
                        region,
                        subscription,
                        resource_group,
                        pulumi,
                        compute_targets,
                        requested_at,
                    }])
                }
                _ => Err(EnvironmentError::NotFound { command: command_name }),
            };
        };
        if status == S::Decommissioned {
            return Err(EnvironmentError::Decommissioned { command: command_name });
        }
        let refused = EnvironmentError::InvalidTransition { command: command_name, status };

        match command {
            C::RequestEnvironment { .. } => Err(EnvironmentError::AlreadyExists { status }),
            C::RecordProvisioningStarted { at } => match status {
                S::Requested | S::ProvisioningFailed => {
                    if self.compute_targets.is_empty() {
                        return Err(EnvironmentError::NoComputeTargets);
                    }
                    let attempt = self.provisioning_attempts.saturating_add(1);
                    Ok(vec![E::ProvisioningStarted { attempt, at }])
                }
                _ => Err(refused),
            },
            C::RecordProvisioningSucceeded { outputs, at } => match status {
                S::Provisioning => Ok(vec![E::ProvisioningSucceeded { outputs, at }]),
                _ => Err(refused),
            },
            C::RecordProvisioningFailed { reason, at } => match status {
                S::Provisioning => Ok(vec![E::ProvisioningFailed { reason, attempt: self.provisioning_attempts, at }]),
                _ => Err(refused),
            },
            C::MarkDegraded { reason, at } => match status {
                S::Ready => Ok(vec![E::EnvironmentDegraded { reason, at }]),
                _ => Err(refused),
            },
            C::MarkRecovered { at } => match status {
                S::Degraded => Ok(vec![E::EnvironmentRecovered { at }]),
                _ => Err(refused),
            },
            C::AddComputeTarget { target } => match status {
                S::Decommissioning => Err(refused),
                _ if self.compute_target(target.name()).is_some() => {
                    Err(EnvironmentError::DuplicateComputeTarget(target.name().clone()))
                }
                _ => Ok(vec![E::ComputeTargetAdded { target }]),
            },
            C::RemoveComputeTarget { name } => match status {
                S::Decommissioning => Err(refused),
                _ if self.compute_target(&name).is_none() => Err(EnvironmentError::UnknownComputeTarget(name)),
                // Once a Pulumi run has started, workloads may be placed on the environment,
                // so it must keep somewhere to run them. Before that (or after a failed run)
                // the target list is still being shaped and may be emptied.
                S::Provisioning | S::Ready | S::Degraded if self.compute_targets.len() == 1 => {
                    Err(EnvironmentError::LastComputeTarget { name, status })
                }
                _ => Ok(vec![E::ComputeTargetRemoved { name }]),
            },
            C::Decommission { reason, at } => match status {
                // Requested and Provisioning are refused: a Pulumi run may be creating
                // resources, and tearing down while it runs would orphan them.
                S::Ready | S::Degraded | S::ProvisioningFailed => Ok(vec![E::DecommissionRequested { reason, at }]),
                _ => Err(refused),
            },
            C::RecordDecommissioned { at } => match (status, &self.product, self.stage, &self.name) {
                (S::Decommissioning, Some(product), Some(stage), Some(name)) => {
                    Ok(vec![E::EnvironmentDecommissioned { product: product.clone(), stage, name: name.clone(), at }])
                }
                _ => Err(refused),
            },
        }
    }
}

fn first_duplicate(targets: &[ComputeTarget]) -> Option<&ComputeTargetName> {
    targets
        .iter()
        .enumerate()
        .find(|(i, target)| targets[..*i].iter().any(|earlier| earlier.name() == target.name()))
        .map(|(_, target)| target.name())
}

impl Aggregate for RuntimeEnvironment {
    const TYPE: &'static str = "RuntimeEnvironment";
    type Command = EnvironmentCommand;
    type Event = EnvironmentEvent;
    type Error = EnvironmentError;
    type Services = EnvironmentServices;

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
        use EnvironmentEvent as E;
        use EnvironmentStatus as S;

        match event {
            E::EnvironmentRequested {
                product,
                name,
                stage,
                region,
                subscription,
                resource_group,
                pulumi,
                compute_targets,
                requested_at,
            } => {
                self.status = Some(S::Requested);
                self.product = Some(product);
                self.name = Some(name);
                self.stage = Some(stage);
                self.region = Some(region);
                self.subscription = Some(subscription);
                self.resource_group = Some(resource_group);
                self.pulumi = Some(pulumi);
                self.compute_targets = compute_targets;
                self.requested_at = Some(requested_at);
                self.updated_at = Some(requested_at);
            }
            E::ProvisioningStarted { attempt, at } => {
                self.status = Some(S::Provisioning);
                self.provisioning_attempts = attempt;
                self.last_reason = None;
                self.updated_at = Some(at);
            }
            E::ProvisioningSucceeded { outputs, at } => {
                self.status = Some(S::Ready);
                self.outputs = Some(outputs);
                self.last_reason = None;
                self.ready_at = Some(at);
                self.updated_at = Some(at);
            }
            E::ProvisioningFailed { reason, at, .. } => {
                self.status = Some(S::ProvisioningFailed);
                self.last_reason = Some(reason);
                self.updated_at = Some(at);
            }
            E::EnvironmentDegraded { reason, at } => {
                self.status = Some(S::Degraded);
                self.last_reason = Some(reason);
                self.updated_at = Some(at);
            }
            E::EnvironmentRecovered { at } => {
                self.status = Some(S::Ready);
                self.last_reason = None;
                self.updated_at = Some(at);
            }
            E::ComputeTargetAdded { target } => self.compute_targets.push(target),
            E::ComputeTargetRemoved { name } => {
                self.compute_targets.retain(|target| target.name() != &name);
            }
            E::DecommissionRequested { reason, at } => {
                self.status = Some(S::Decommissioning);
                self.last_reason = Some(reason);
                self.updated_at = Some(at);
            }
            E::EnvironmentDecommissioned { at, .. } => {
                self.status = Some(S::Decommissioned);
                self.decommissioned_at = Some(at);
                self.updated_at = Some(at);
            }
        }
    }
}

/// Environments are platform-wide: they belong to a product, not to a tenant.
impl crate::ownership::TenantOwned for RuntimeEnvironment {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use async_trait::async_trait;
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::environments::services::{FixedStagingLookup, FixedStagingStatuses, StagingLookup};
    use crate::rejection::{Rejection, RejectionKind};

    type Test = TestFramework<RuntimeEnvironment>;

    const SUB: &str = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b";

    /// A lookup that cannot answer, to prove a failure is reported and not read as "absent".
    struct BrokenLookup;

    #[async_trait]
    impl StagingLookup for BrokenLookup {
        async fn staging_statuses(&self, _product: &ProductId) -> Result<Vec<EnvironmentStatus>, String> {
            Err("read model unavailable".to_owned())
        }
    }

    fn services(staging_exists: bool) -> EnvironmentServices {
        EnvironmentServices::new(Arc::new(FixedStagingLookup(staging_exists)))
    }

    fn broken() -> EnvironmentServices {
        EnvironmentServices::new(Arc::new(BrokenLookup))
    }

    fn test() -> Test {
        Test::with(services(true))
    }

    fn t(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-01T10:{minute:02}:00Z")).unwrap().to_utc()
    }

    fn target(name: &str) -> ComputeTarget {
        ComputeTarget::parse(
            "container_apps",
            name,
            &format!(
                "/subscriptions/{SUB}/resourceGroups/rg-billing/providers/Microsoft.App/managedEnvironments/{name}"
            ),
        )
        .unwrap()
    }

    fn target_name(name: &str) -> ComputeTargetName {
        ComputeTargetName::parse(name).unwrap()
    }

    fn reason(text: &str) -> Reason {
        Reason::parse(text).unwrap()
    }

    fn outputs() -> ProvisioningOutputs {
        ProvisioningOutputs::new(
            BTreeMap::from([("gateway".to_owned(), "https://billing.example.com".to_owned())]),
            vec![format!("/subscriptions/{SUB}/resourceGroups/rg-billing")],
            7,
        )
        .unwrap()
    }

    fn request_with(stage: Stage, compute_targets: Vec<ComputeTarget>) -> EnvironmentCommand {
        EnvironmentCommand::RequestEnvironment {
            product: ProductId::parse("billing").unwrap(),
            name: EnvironmentName::parse("blue").unwrap(),
            stage,
            region: AzureRegion::parse("westeurope").unwrap(),
            subscription: AzureSubscriptionId::parse(SUB).unwrap(),
            resource_group: ResourceGroupName::parse("rg-billing").unwrap(),
            pulumi: PulumiStack::parse("billing-infra", "blue").unwrap(),
            compute_targets,
            requested_at: t(0),
        }
    }

    fn request(stage: Stage) -> EnvironmentCommand {
        request_with(stage, vec![target("cae-main")])
    }

    fn requested_with(stage: Stage, compute_targets: Vec<ComputeTarget>) -> EnvironmentEvent {
        EnvironmentEvent::EnvironmentRequested {
            product: ProductId::parse("billing").unwrap(),
            name: EnvironmentName::parse("blue").unwrap(),
            stage,
            region: AzureRegion::parse("westeurope").unwrap(),
            subscription: AzureSubscriptionId::parse(SUB).unwrap(),
            resource_group: ResourceGroupName::parse("rg-billing").unwrap(),
            pulumi: PulumiStack::parse("billing-infra", "blue").unwrap(),
            compute_targets,
            requested_at: t(0),
        }
    }

    fn requested() -> EnvironmentEvent {
        requested_with(Stage::Staging, vec![target("cae-main")])
    }

    fn started(attempt: u32) -> EnvironmentEvent {
        EnvironmentEvent::ProvisioningStarted { attempt, at: t(1) }
    }

    fn succeeded() -> EnvironmentEvent {
        EnvironmentEvent::ProvisioningSucceeded { outputs: outputs(), at: t(2) }
    }

    fn failed(attempt: u32) -> EnvironmentEvent {
        EnvironmentEvent::ProvisioningFailed { reason: reason("quota exceeded"), attempt, at: t(2) }
    }

    fn degraded() -> EnvironmentEvent {
        EnvironmentEvent::EnvironmentDegraded { reason: reason("gateway 5xx"), at: t(3) }
    }

    fn decommission_requested() -> EnvironmentEvent {
        EnvironmentEvent::DecommissionRequested { reason: reason("product retired"), at: t(4) }
    }

    fn decommissioned() -> EnvironmentEvent {
        EnvironmentEvent::EnvironmentDecommissioned {
            product: ProductId::parse("billing").unwrap(),
            stage: Stage::Staging,
            name: EnvironmentName::parse("blue").unwrap(),
            at: t(5),
        }
    }

    /// Histories that end in each status, for rules that hold across several of them.
    fn history(status: EnvironmentStatus) -> Vec<EnvironmentEvent> {
        use EnvironmentStatus as S;
        match status {
            S::Requested => vec![requested()],
            S::Provisioning => vec![requested(), started(1)],
            S::ProvisioningFailed => vec![requested(), started(1), failed(1)],
            S::Ready => vec![requested(), started(1), succeeded()],
            S::Degraded => vec![requested(), started(1), succeeded(), degraded()],
            S::Decommissioning => vec![requested(), started(1), succeeded(), decommission_requested()],
            S::Decommissioned => {
                vec![requested(), started(1), succeeded(), decommission_requested(), decommissioned()]
            }
        }
    }

    fn replay(events: Vec<EnvironmentEvent>) -> RuntimeEnvironment {
        let mut environment = RuntimeEnvironment::default();
        for event in events {
            environment.apply(event);
        }
        environment
    }

    fn every_command() -> Vec<EnvironmentCommand> {
        use EnvironmentCommand as C;
        vec![
            request(Stage::Dev),
            C::RecordProvisioningStarted { at: t(9) },
            C::RecordProvisioningSucceeded { outputs: outputs(), at: t(9) },
            C::RecordProvisioningFailed { reason: reason("x"), at: t(9) },
            C::MarkDegraded { reason: reason("x"), at: t(9) },
            C::MarkRecovered { at: t(9) },
            C::AddComputeTarget { target: target("aks-extra") },
            C::RemoveComputeTarget { name: target_name("cae-main") },
            C::Decommission { reason: reason("x"), at: t(9) },
            C::RecordDecommissioned { at: t(9) },
        ]
    }

    // --- creation ---

    #[test]
    fn requesting_an_environment_records_every_detail() {
        test().given_no_previous_events().when(request(Stage::Staging)).then_expect_events(vec![requested()]);
    }

    #[test]
    fn an_environment_needs_at_least_one_compute_target() {
        test()
            .given_no_previous_events()
            .when(request_with(Stage::Dev, vec![]))
            .then_expect_error_message("an environment needs at least one compute target");
    }

    #[test]
    fn compute_target_names_are_unique_in_a_request() {
        test()
            .given_no_previous_events()
            .when(request_with(Stage::Dev, vec![target("cae-main"), target("fn"), target("cae-main")]))
            .then_expect_error_message("compute target cae-main already exists in this environment");
    }

    #[test]
    fn an_existing_environment_cannot_be_requested_again() {
        test()
            .given(vec![requested()])
            .when(request(Stage::Staging))
            .then_expect_error_message("cannot RequestEnvironment: environment already exists (it is Requested)");
    }

    #[test]
    fn commands_on_a_nonexistent_environment_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            let name = command.name();
            let error = test().given_no_previous_events().when(command).inspect_result().unwrap_err();
            assert_eq!(error, EnvironmentError::NotFound { command: name });
            assert_eq!(error.to_string(), format!("cannot {name}: environment does not exist"));
        }
    }

    // --- prod requires staging ---

    #[test]
    fn prod_requires_a_staging_environment_of_the_same_product() {
        let error = Test::with(services(false))
            .given_no_previous_events()
            .when(request(Stage::Prod))
            .inspect_result()
            .unwrap_err();
        assert_eq!(error, EnvironmentError::StagingRequired(ProductId::parse("billing").unwrap()));
        assert_eq!(
            error.to_string(),
            "a prod environment of product billing requires a live (Ready or Degraded) staging environment of the same product"
        );
    }

    #[test]
    fn prod_requires_a_live_staging_environment_not_only_a_claimed_name() {
        use EnvironmentStatus as S;
        for not_live in [S::Requested, S::Provisioning, S::ProvisioningFailed, S::Decommissioning] {
            let error = Test::with(EnvironmentServices::new(Arc::new(FixedStagingStatuses(vec![not_live]))))
                .given_no_previous_events()
                .when(request(Stage::Prod))
                .inspect_result()
                .unwrap_err();
            assert_eq!(error, EnvironmentError::StagingRequired(ProductId::parse("billing").unwrap()), "{not_live}");
        }
        for live in [S::Ready, S::Degraded] {
            Test::with(EnvironmentServices::new(Arc::new(FixedStagingStatuses(vec![S::Requested, live]))))
                .given_no_previous_events()
                .when(request(Stage::Prod))
                .then_expect_events(vec![requested_with(Stage::Prod, vec![target("cae-main")])]);
        }
    }

    #[test]
    fn prod_is_accepted_once_staging_exists() {
        Test::with(services(true))
            .given_no_previous_events()
            .when(request(Stage::Prod))
            .then_expect_events(vec![requested_with(Stage::Prod, vec![target("cae-main")])]);
    }

    #[test]
    fn a_failed_staging_lookup_is_reported_not_read_as_absence() {
        let error =
            Test::with(broken()).given_no_previous_events().when(request(Stage::Prod)).inspect_result().unwrap_err();
        assert_eq!(error, EnvironmentError::LookupFailed("read model unavailable".to_owned()));
        assert_eq!(error.kind(), RejectionKind::LookupFailed);
    }

    #[test]
    fn only_prod_consults_the_staging_lookup() {
        for stage in [Stage::Dev, Stage::Test, Stage::Staging] {
            Test::with(broken())
                .given_no_previous_events()
                .when(request(stage))
                .then_expect_events(vec![requested_with(stage, vec![target("cae-main")])]);
        }
    }

    // --- provisioning ---

    #[test]
    fn provisioning_starts_from_requested_as_attempt_one() {
        test()
            .given(vec![requested()])
            .when(EnvironmentCommand::RecordProvisioningStarted { at: t(1) })
            .then_expect_events(vec![started(1)]);
    }

    #[test]
    fn provisioning_cannot_start_while_it_is_already_running() {
        test()
            .given(history(EnvironmentStatus::Provisioning))
            .when(EnvironmentCommand::RecordProvisioningStarted { at: t(2) })
            .then_expect_error_message("cannot RecordProvisioningStarted: environment is Provisioning");
    }

    #[test]
    fn a_provisioned_environment_is_not_provisioned_again() {
        test()
            .given(history(EnvironmentStatus::Ready))
            .when(EnvironmentCommand::RecordProvisioningStarted { at: t(3) })
            .then_expect_error_message("cannot RecordProvisioningStarted: environment is Ready");
    }

    #[test]
    fn successful_provisioning_makes_the_environment_ready() {
        test()
            .given(history(EnvironmentStatus::Provisioning))
            .when(EnvironmentCommand::RecordProvisioningSucceeded { outputs: outputs(), at: t(2) })
            .then_expect_events(vec![succeeded()]);
        let ready = replay(history(EnvironmentStatus::Ready));
        assert_eq!(ready.status(), Some(EnvironmentStatus::Ready));
        assert_eq!(ready.outputs(), Some(&outputs()));
        assert_eq!(ready.ready_at(), Some(t(2)));
    }

    #[test]
    fn failed_provisioning_records_the_reason_and_the_attempt() {
        test()
            .given(history(EnvironmentStatus::Provisioning))
            .when(EnvironmentCommand::RecordProvisioningFailed { reason: reason("quota exceeded"), at: t(2) })
            .then_expect_events(vec![failed(1)]);
        let failed = replay(history(EnvironmentStatus::ProvisioningFailed));
        assert_eq!(failed.last_reason(), Some(&reason("quota exceeded")));
    }

    #[test]
    fn a_failed_provisioning_is_retried_with_the_next_attempt_number() {
        test()
            .given(vec![requested(), started(1), failed(1), started(2), failed(2)])
            .when(EnvironmentCommand::RecordProvisioningStarted { at: t(6) })
            .then_expect_events(vec![EnvironmentEvent::ProvisioningStarted { attempt: 3, at: t(6) }]);
        test()
            .given(vec![requested(), started(1), failed(1), started(2)])
            .when(EnvironmentCommand::RecordProvisioningFailed { reason: reason("quota exceeded"), at: t(2) })
            .then_expect_events(vec![failed(2)]);
    }

    #[test]
    fn provisioning_results_are_accepted_only_while_provisioning() {
        use EnvironmentStatus as S;
        for status in [S::Requested, S::ProvisioningFailed, S::Ready, S::Degraded, S::Decommissioning] {
            test()
                .given(history(status))
                .when(EnvironmentCommand::RecordProvisioningSucceeded { outputs: outputs(), at: t(9) })
                .then_expect_error_message(&format!("cannot RecordProvisioningSucceeded: environment is {status}"));
            test()
                .given(history(status))
                .when(EnvironmentCommand::RecordProvisioningFailed { reason: reason("x"), at: t(9) })
                .then_expect_error_message(&format!("cannot RecordProvisioningFailed: environment is {status}"));
        }
    }

    #[test]
    fn provisioning_needs_a_compute_target() {
        test()
            .given(vec![requested(), EnvironmentEvent::ComputeTargetRemoved { name: target_name("cae-main") }])
            .when(EnvironmentCommand::RecordProvisioningStarted { at: t(1) })
            .then_expect_error_message("an environment needs at least one compute target");
    }

    // --- health ---

    #[test]
    fn a_ready_environment_can_degrade() {
        test()
            .given(history(EnvironmentStatus::Ready))
            .when(EnvironmentCommand::MarkDegraded { reason: reason("gateway 5xx"), at: t(3) })
            .then_expect_events(vec![degraded()]);
    }

    #[test]
    fn only_a_ready_environment_can_degrade() {
        use EnvironmentStatus as S;
        for status in [S::Requested, S::Provisioning, S::ProvisioningFailed, S::Degraded, S::Decommissioning] {
            test()
                .given(history(status))
                .when(EnvironmentCommand::MarkDegraded { reason: reason("x"), at: t(9) })
                .then_expect_error_message(&format!("cannot MarkDegraded: environment is {status}"));
        }
    }

    #[test]
    fn a_degraded_environment_can_recover() {
        test()
            .given(history(EnvironmentStatus::Degraded))
            .when(EnvironmentCommand::MarkRecovered { at: t(4) })
            .then_expect_events(vec![EnvironmentEvent::EnvironmentRecovered { at: t(4) }]);
        let mut recovered = history(EnvironmentStatus::Degraded);
        recovered.push(EnvironmentEvent::EnvironmentRecovered { at: t(4) });
        let recovered = replay(recovered);
        assert_eq!(recovered.status(), Some(EnvironmentStatus::Ready));
        assert_eq!(recovered.last_reason(), None);
    }

    #[test]
    fn only_a_degraded_environment_can_recover() {
        test()
            .given(history(EnvironmentStatus::Ready))
            .when(EnvironmentCommand::MarkRecovered { at: t(4) })
            .then_expect_error_message("cannot MarkRecovered: environment is Ready");
    }

    #[test]
    fn only_ready_or_degraded_environments_accept_deployments() {
        use EnvironmentStatus as S;
        assert!(!RuntimeEnvironment::default().accepts_deployments());
        for status in [
            S::Requested,
            S::Provisioning,
            S::ProvisioningFailed,
            S::Ready,
            S::Degraded,
            S::Decommissioning,
            S::Decommissioned,
        ] {
            let expected = matches!(status, S::Ready | S::Degraded);
            assert_eq!(replay(history(status)).accepts_deployments(), expected, "{status}");
        }
    }

    // --- compute targets ---

    #[test]
    fn compute_targets_can_be_added_in_every_state_before_decommissioning() {
        use EnvironmentStatus as S;
        for status in [S::Requested, S::Provisioning, S::ProvisioningFailed, S::Ready, S::Degraded] {
            test()
                .given(history(status))
                .when(EnvironmentCommand::AddComputeTarget { target: target("aks-extra") })
                .then_expect_events(vec![EnvironmentEvent::ComputeTargetAdded { target: target("aks-extra") }]);
        }
    }

    #[test]
    fn compute_target_names_are_unique_within_the_environment() {
        test()
            .given(history(EnvironmentStatus::Ready))
            .when(EnvironmentCommand::AddComputeTarget { target: target("cae-main") })
            .then_expect_error_message("compute target cae-main already exists in this environment");
    }

    #[test]
    fn compute_targets_cannot_change_while_decommissioning() {
        test()
            .given(history(EnvironmentStatus::Decommissioning))
            .when(EnvironmentCommand::AddComputeTarget { target: target("aks-extra") })
            .then_expect_error_message("cannot AddComputeTarget: environment is Decommissioning");
        test()
            .given(history(EnvironmentStatus::Decommissioning))
            .when(EnvironmentCommand::RemoveComputeTarget { name: target_name("cae-main") })
            .then_expect_error_message("cannot RemoveComputeTarget: environment is Decommissioning");
    }

    #[test]
    fn removing_an_unknown_compute_target_is_refused() {
        test()
            .given(history(EnvironmentStatus::Ready))
            .when(EnvironmentCommand::RemoveComputeTarget { name: target_name("nope") })
            .then_expect_error_message("no compute target named nope in this environment");
    }

    #[test]
    fn a_compute_target_can_be_removed_while_others_remain() {
        let mut given = history(EnvironmentStatus::Ready);
        given.push(EnvironmentEvent::ComputeTargetAdded { target: target("aks-extra") });
        test()
            .given(given.clone())
            .when(EnvironmentCommand::RemoveComputeTarget { name: target_name("cae-main") })
            .then_expect_events(vec![EnvironmentEvent::ComputeTargetRemoved { name: target_name("cae-main") }]);
        given.push(EnvironmentEvent::ComputeTargetRemoved { name: target_name("cae-main") });
        assert_eq!(replay(given).compute_targets(), &[target("aks-extra")]);
    }

    #[test]
    fn a_provisioned_or_live_environment_keeps_its_last_compute_target() {
        use EnvironmentStatus as S;
        for status in [S::Provisioning, S::Ready, S::Degraded] {
            test()
                .given(history(status))
                .when(EnvironmentCommand::RemoveComputeTarget { name: target_name("cae-main") })
                .then_expect_error_message(&format!(
                    "cannot remove compute target cae-main: it is the last one of a {status} environment"
                ));
        }
    }

    #[test]
    fn the_last_compute_target_may_go_before_provisioning_or_after_it_failed() {
        use EnvironmentStatus as S;
        for status in [S::Requested, S::ProvisioningFailed] {
            test()
                .given(history(status))
                .when(EnvironmentCommand::RemoveComputeTarget { name: target_name("cae-main") })
                .then_expect_events(vec![EnvironmentEvent::ComputeTargetRemoved { name: target_name("cae-main") }]);
        }
    }

    // --- decommissioning ---

    #[test]
    fn ready_degraded_and_failed_environments_can_be_decommissioned() {
        use EnvironmentStatus as S;
        for status in [S::Ready, S::Degraded, S::ProvisioningFailed] {
            test()
                .given(history(status))
                .when(EnvironmentCommand::Decommission { reason: reason("product retired"), at: t(4) })
                .then_expect_events(vec![decommission_requested()]);
        }
    }

    #[test]
    fn an_environment_cannot_be_decommissioned_while_it_is_being_provisioned() {
        use EnvironmentStatus as S;
        for status in [S::Requested, S::Provisioning, S::Decommissioning] {
            test()
                .given(history(status))
                .when(EnvironmentCommand::Decommission { reason: reason("x"), at: t(9) })
                .then_expect_error_message(&format!("cannot Decommission: environment is {status}"));
        }
    }

    #[test]
    fn teardown_completes_only_after_decommission_was_requested() {
        test()
            .given(history(EnvironmentStatus::Ready))
            .when(EnvironmentCommand::RecordDecommissioned { at: t(5) })
            .then_expect_error_message("cannot RecordDecommissioned: environment is Ready");
    }

    #[test]
    fn completing_teardown_releases_the_environment_name() {
        test()
            .given(history(EnvironmentStatus::Decommissioning))
            .when(EnvironmentCommand::RecordDecommissioned { at: t(5) })
            .then_expect_events(vec![decommissioned()]);
    }

    #[test]
    fn a_decommissioned_environment_accepts_no_command() {
        for command in every_command() {
            let name = command.name();
            test()
                .given(history(EnvironmentStatus::Decommissioned))
                .when(command)
                .then_expect_error_message(&format!("cannot {name}: environment is decommissioned"));
        }
    }

    // --- state ---

    #[test]
    fn state_is_rebuilt_from_the_event_history() {
        let environment = replay(history(EnvironmentStatus::Decommissioned));
        assert_eq!(environment.status(), Some(EnvironmentStatus::Decommissioned));
        assert_eq!(environment.product().map(ProductId::as_str), Some("billing"));
        assert_eq!(environment.name().map(EnvironmentName::as_str), Some("blue"));
        assert_eq!(environment.stage(), Some(Stage::Staging));
        assert_eq!(environment.region().map(AzureRegion::as_str), Some("westeurope"));
        assert_eq!(environment.subscription().map(ToString::to_string).as_deref(), Some(SUB));
        assert_eq!(environment.resource_group().map(ResourceGroupName::as_str), Some("rg-billing"));
        assert_eq!(environment.pulumi().map(ToString::to_string).as_deref(), Some("billing-infra/blue"));
        assert_eq!(environment.compute_targets(), &[target("cae-main")]);
        assert_eq!(environment.provisioning_attempts(), 1);
        assert_eq!(environment.last_reason(), Some(&reason("product retired")));
        assert_eq!(environment.requested_at(), Some(t(0)));
        assert_eq!(environment.ready_at(), Some(t(2)));
        assert_eq!(environment.updated_at(), Some(t(5)));
        assert_eq!(environment.decommissioned_at(), Some(t(5)));
        let snapshot = serde_json::to_value(&environment).unwrap();
        assert_eq!(serde_json::from_value::<RuntimeEnvironment>(snapshot).unwrap(), environment);
    }

    #[test]
    fn rejections_map_to_their_kinds() {
        use EnvironmentError as Err;
        let status = EnvironmentStatus::Ready;
        let cases = [
            (Err::NotFound { command: "MarkRecovered" }, RejectionKind::NotFound),
            (Err::AlreadyExists { status }, RejectionKind::AlreadyExists),
            (Err::Decommissioned { command: "Decommission" }, RejectionKind::InvalidTransition),
            (Err::InvalidTransition { command: "MarkRecovered", status }, RejectionKind::InvalidTransition),
            (Err::NoComputeTargets, RejectionKind::InvalidInput),
            (Err::InvalidValue(crate::environments::ValueError::InvalidReason), RejectionKind::InvalidInput),
            (Err::DuplicateComputeTarget(target_name("a")), RejectionKind::InvariantViolated),
            (Err::UnknownComputeTarget(target_name("a")), RejectionKind::InvariantViolated),
            (Err::LastComputeTarget { name: target_name("a"), status }, RejectionKind::InvariantViolated),
            (Err::StagingRequired(ProductId::parse("p").unwrap()), RejectionKind::InvariantViolated),
            (Err::LookupFailed("down".to_owned()), RejectionKind::LookupFailed),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
