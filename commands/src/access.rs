//! Who may do what: the one role x operation table.
//!
//! Every change is a command, so the table is keyed by (aggregate type, command name) and the
//! command bus consults it for every command, whatever the transport (GraphQL, a worker, the
//! Service Bus intake). Reads are grouped in three classes ([`Read`]) that the API's guard
//! consults for every root field of queries and subscriptions. Which tenants' data a caller
//! sees or changes is the other half of the rule and lives in [`crate::context`]: a caller
//! scoped to some tenants reads their rows and platform-wide ones, and writes only aggregates
//! owned by one of its tenants.
//!
//! Anything absent from the table is refused: a new command has no role until it is added here.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A role a caller holds (from its token's `roles` claim, or the development headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Operates the platform: every command, every tenant.
    PlatformAdmin,
    /// Operates some tenants: their bindings, deployments, configuration, secret bindings,
    /// scaling, health and drift; reads the platform-wide catalog and environments, never
    /// writes them.
    TenantOperator,
    /// The factory's Control Plane: lifecycle commands (provision, register, deploy, onboard,
    /// offboard, decommission) for every tenant.
    ControlPlane,
    /// Governance: reads everything, including history (`asOf`, `auditLog`, `trace`); writes
    /// nothing.
    GovernanceAuditor,
    /// The control loops and reporters of observed state: observations and remediations.
    Worker,
}

/// A role name that is not one of ours.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown role {0:?}; known: PlatformAdmin, TenantOperator, ControlPlane, GovernanceAuditor, Worker")]
pub struct UnknownRole(pub String);

impl Role {
    /// Every role, in the order the bus tries them when it records the acting role.
    pub const ALL: [Role; 5] =
        [Role::PlatformAdmin, Role::ControlPlane, Role::Worker, Role::TenantOperator, Role::GovernanceAuditor];

    /// The canonical name (`PlatformAdmin`), as tokens and the audit log carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "PlatformAdmin",
            Role::TenantOperator => "TenantOperator",
            Role::ControlPlane => "ControlPlane",
            Role::GovernanceAuditor => "GovernanceAuditor",
            Role::Worker => "Worker",
        }
    }

    /// Whether this role sees every tenant (all but the tenant operator, who sees the
    /// tenants its token names).
    pub fn spans_all_tenants(self) -> bool {
        self != Role::TenantOperator
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    /// Accepts the canonical name and its kebab/snake forms, case-insensitively
    /// (`PlatformAdmin`, `platform-admin`, `platform_admin`): Entra app roles and hand-written
    /// headers spell them differently.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let folded: String = value.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_lowercase();
        Role::ALL.into_iter().find(|r| r.as_str().to_lowercase() == folded).ok_or_else(|| UnknownRole(value.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The classes of reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Platform-wide facts and their tenant-filtered rows: environments, services, catalog,
    /// runtime inventory, projection status.
    Catalog,
    /// Tenant-owned aggregates and read models (bindings, deployments, configuration, secret
    /// bindings, scaling, health, drift), filtered by the caller's tenants.
    Tenant,
    /// History: `asOf` / `atVersion`, `aggregateHistory`, `trace`, `auditLog`, the live log.
    History,
    /// The integration edge's own records: events parked by the relay, commands the intake
    /// refused (platform-wide operations data, across tenants).
    Integration,
}

/// What one operation is, for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A read of this class.
    Read(Read),
    /// A command: aggregate type and command name.
    Command(&'static str, &'static str),
    /// A report of observed state (an environment's workloads, a probe's sample, a
    /// workload's metrics): stored beside the log as a sample, not a command; what it changes
    /// becomes commands of the reporter.
    Report,
    /// Publishing a parked event again (an operator's decision after fixing its cause).
    Republish,
}

use Role::{ControlPlane as CP, GovernanceAuditor as GA, PlatformAdmin as PA, TenantOperator as TO, Worker as W};

/// Roles allowed to read each class.
fn read_roles(read: Read) -> &'static [Role] {
    match read {
        Read::Catalog | Read::Tenant => &[PA, TO, CP, GA, W],
        Read::History => &[PA, TO, GA],
        // The Control Plane sees the refusals of its own commands; tenant operators see
        // neither list: both span every tenant.
        Read::Integration => &[PA, CP, GA],
    }
}

/// Roles allowed to send each command; `None` for a command the table does not know.
pub fn command_roles(aggregate_type: &str, command: &str) -> Option<&'static [Role]> {
    const LIFECYCLE: &[Role] = &[PA, CP];
    const LIFECYCLE_REPORT: &[Role] = &[PA, CP, W];
    const OBSERVATION: &[Role] = &[PA, W];
    const TENANT_CHANGE: &[Role] = &[PA, TO, CP];
    const TENANT_OPERATION: &[Role] = &[PA, TO, W];
    const TENANT_LIFECYCLE: &[Role] = &[PA, TO, CP, W];
    let roles = match (aggregate_type, command) {
        // Environments are platform-wide: provisioned by the Control Plane, observed by workers.
        ("RuntimeEnvironment", "RequestEnvironment" | "AddComputeTarget" | "RemoveComputeTarget" | "Decommission") => {
            LIFECYCLE
        }
        (
            "RuntimeEnvironment",
            "RecordProvisioningStarted"
            | "RecordProvisioningSucceeded"
            | "RecordProvisioningFailed"
            | "RecordDecommissioned",
        ) => LIFECYCLE_REPORT,
        ("RuntimeEnvironment", "MarkDegraded" | "MarkRecovered") => OBSERVATION,
        // The catalog is what the factory generated: the Control Plane registers and retires.
        (
            "RuntimeService",
            "RegisterService"
            | "ActivateService"
            | "UpdateRuntimeContract"
            | "DeclareDependency"
            | "RemoveDependency"
            | "Deprecate"
            | "Retire",
        ) => LIFECYCLE,
        // Deployments: started, cancelled and rolled back by people, the Control Plane and
        // remediation; their progress is reported by the rollout executor.
        ("RuntimeDeployment", "StartDeployment" | "Cancel" | "RollBack") => TENANT_LIFECYCLE,
        ("RuntimeDeployment", "Promote" | "FailDeployment" | "AbandonFailed") => TENANT_OPERATION,
        (
            "RuntimeDeployment",
            "BeginRollout" | "RecordStepProgress" | "RecordHealthGateResult" | "RecordRolledBack" | "MarkSuperseded",
        ) => LIFECYCLE_REPORT,
        (
            "RuntimeConfiguration",
            "CreateConfiguration" | "ProposeConfigurationVersion" | "ActivateVersion" | "RollBackToVersion",
        ) => TENANT_CHANGE,
        ("RuntimeConfiguration", "RecordWorkloadSync") => OBSERVATION,
        ("SecretBinding", "BindSecret" | "Revoke") => TENANT_CHANGE,
        ("SecretBinding", "ConfirmBinding" | "MarkRotationDue" | "RecordRotation" | "ConfirmRotation") => {
            TENANT_OPERATION
        }
        // A tenant's boundary and quotas are the platform's contract with the tenant: a tenant
        // operator may pause and resume its own tenant, not redraw or enlarge it.
        ("RuntimeTenantBinding", "BindTenant" | "ChangeQuota" | "Offboard") => LIFECYCLE,
        ("RuntimeTenantBinding", "ActivateBinding" | "RecordOffboarded") => LIFECYCLE_REPORT,
        ("RuntimeTenantBinding", "Suspend" | "Resume") => TENANT_CHANGE,
        ("RuntimeTenantBinding", "RecordQuotaBreach") => OBSERVATION,
        ("ScalingPolicy", "DefinePolicy" | "UpdatePolicy" | "Activate" | "Suspend") => TENANT_CHANGE,
        ("ScalingPolicy", "RecordScalingDecision") => OBSERVATION,
        ("RuntimeHealth", "TrackHealth") => LIFECYCLE_REPORT,
        ("RuntimeHealth", "RecordProbeResult" | "RecordDependencyHealth") => OBSERVATION,
        ("RuntimeHealth", "AcknowledgeIncident") => &[PA, TO],
        ("DriftFinding", "DetectDrift" | "ResolveDrift" | "RecordRemediated") => OBSERVATION,
        ("DriftFinding", "StartRemediation") => TENANT_OPERATION,
        ("DriftFinding", "AcceptDrift") => &[PA, TO],
        _ => return None,
    };
    Some(roles)
}

/// The roles allowed to perform `operation` (empty for an unknown command).
pub fn allowed_roles(operation: Operation) -> &'static [Role] {
    match operation {
        Operation::Read(read) => read_roles(read),
        Operation::Command(aggregate_type, command) => command_roles(aggregate_type, command).unwrap_or(&[]),
        // The reporters of observed state are the commands' observers: they may record what
        // they see (probe results, drift) in every tenant.
        Operation::Report => &[PA, W],
        Operation::Republish => &[PA],
    }
}

/// The first of `roles` (in [`Role::ALL`] order) that may perform `operation`: the role the
/// caller acts in, recorded on the events it causes. `None`: refused.
pub fn acting_role<'a>(roles: impl IntoIterator<Item = &'a Role>, operation: Operation) -> Option<Role> {
    let allowed = allowed_roles(operation);
    let held: Vec<Role> = roles.into_iter().copied().collect();
    Role::ALL.into_iter().find(|r| held.contains(r) && allowed.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_parse_in_every_spelling_and_nothing_else() {
        for (text, role) in [
            ("PlatformAdmin", PA),
            ("platform-admin", PA),
            ("PLATFORM_ADMIN", PA),
            ("tenant-operator", TO),
            ("ControlPlane", CP),
            ("governance_auditor", GA),
            ("worker", W),
        ] {
            assert_eq!(text.parse::<Role>(), Ok(role), "{text}");
        }
        assert!("admin".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }

    #[test]
    fn governance_writes_nothing_and_reads_everything() {
        for (aggregate, command) in sample_commands() {
            assert!(!allowed_roles(Operation::Command(aggregate, command)).contains(&GA), "{aggregate}.{command}");
        }
        for read in [Read::Catalog, Read::Tenant, Read::History, Read::Integration] {
            assert!(allowed_roles(Operation::Read(read)).contains(&GA));
        }
    }

    #[test]
    fn the_integration_records_span_tenants_so_tenant_operators_read_none_and_only_admins_republish() {
        // Rule: parked events and refused commands are every tenant's at once.
        assert!(!allowed_roles(Operation::Read(Read::Integration)).contains(&TO));
        assert!(allowed_roles(Operation::Read(Read::Integration)).contains(&CP));
        assert_eq!(allowed_roles(Operation::Republish), &[PA]);
    }

    #[test]
    fn tenant_operators_never_write_platform_wide_aggregates() {
        for (aggregate, command) in sample_commands() {
            if matches!(aggregate, "RuntimeEnvironment" | "RuntimeService") {
                assert!(!allowed_roles(Operation::Command(aggregate, command)).contains(&TO), "{aggregate}.{command}");
            }
        }
    }

    #[test]
    fn platform_admins_may_send_every_command_and_unknown_commands_nobody() {
        for (aggregate, command) in sample_commands() {
            assert!(allowed_roles(Operation::Command(aggregate, command)).contains(&PA), "{aggregate}.{command}");
        }
        assert!(allowed_roles(Operation::Command("RuntimeEnvironment", "Nuke")).is_empty());
        assert!(allowed_roles(Operation::Command("Nothing", "Suspend")).is_empty());
    }

    #[test]
    fn the_acting_role_is_the_strongest_allowed_one() {
        let op = Operation::Command("RuntimeDeployment", "StartDeployment");
        assert_eq!(acting_role(&[TO, PA], op), Some(PA));
        assert_eq!(acting_role(&[TO], op), Some(TO));
        assert_eq!(acting_role(&[GA], op), None);
        assert_eq!(acting_role(&[GA], Operation::Read(Read::History)), Some(GA));
        assert_eq!(acting_role(&[CP], Operation::Read(Read::History)), None);
    }

    /// A command of every aggregate type, as the domain names them.
    fn sample_commands() -> Vec<(&'static str, &'static str)> {
        let mut all = Vec::new();
        for (aggregate, commands) in [
            (
                "RuntimeEnvironment",
                &[
                    "RequestEnvironment",
                    "RecordProvisioningStarted",
                    "RecordProvisioningSucceeded",
                    "RecordProvisioningFailed",
                    "MarkDegraded",
                    "MarkRecovered",
                    "AddComputeTarget",
                    "RemoveComputeTarget",
                    "Decommission",
                    "RecordDecommissioned",
                ][..],
            ),
            (
                "RuntimeService",
                &[
                    "RegisterService",
                    "ActivateService",
                    "UpdateRuntimeContract",
                    "DeclareDependency",
                    "RemoveDependency",
                    "Deprecate",
                    "Retire",
                ][..],
            ),
            ("RuntimeTenantBinding", &["BindTenant", "Suspend", "Resume", "ChangeQuota"][..]),
            ("RuntimeDeployment", &["StartDeployment", "Cancel", "Promote", "MarkSuperseded"][..]),
            ("DriftFinding", &["DetectDrift", "AcceptDrift"][..]),
        ] {
            all.extend(commands.iter().map(|c| (aggregate, *c)));
        }
        all
    }
}
