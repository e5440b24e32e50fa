//! Scaling context: the `ScalingPolicy` aggregate, how one service scales in one environment
//! (optionally for one tenant): replica range, triggers (cpu, memory, http concurrency, queue
//! length, cron, Application Insights metric) with targets, stabilization windows and cooldown,
//! and SLO targets (latency p95, availability).
//!
//! Lifecycle: `Draft -> Active -> Suspended -> Active`. Versioned: `DefinePolicy` records
//! version 1 and every `UpdatePolicy` that changes the spec the next version (re-submitting the
//! spec in force records nothing, as a Kubernetes spec update leaves `generation` alone).
//!
//! Rules kept here: `0 <= min <= max` (and `1 <= max <= 1000`, in [`ReplicaRange`]); one policy
//! per service, environment and tenant (a claim taken by `PolicyDefined`, never released, since
//! a policy is suspended rather than deleted); a tenant's policy allows at most the tenant's
//! replica quota in the environment and needs the tenant bound there (looked up through
//! [`ScalingServices`] on `DefinePolicy`, `UpdatePolicy` and `Activate`, because a quota may
//! have been lowered while the policy was a draft or suspended); a platform-wide policy (no
//! tenant) is bounded by no tenant quota. Scaling decisions are recorded only while `Active`,
//! must change the replica count, land within the range and come from a kind of signal the
//! policy watches. Cooldown and stabilization windows are the autoscaler's to apply; the log
//! records what it decided.
//!
//! Layout:
//! - [`values`]: the policy spec and its parts (`ReplicaRange`, `SloTargets`, ...), decisions.
//! - [`triggers`]: [`Trigger`] and its targets, queue and metric names, time zones.
//! - [`cron`]: [`CronSchedule`], a structurally checked five-field cron expression.
//! - [`commands`]: the [`ScalingPolicyCommand`] enum.
//! - [`events`]: [`ScalingPolicyEvent`] and its uniqueness claim.
//! - [`error`]: [`ScalingPolicyError`], mapped to a `RejectionKind`.
//! - [`services`]: the tenant quota lookup the quota rule needs.
//! - [`aggregate`]: [`ScalingPolicy`], its decisions and their given/when/then tests.

pub mod aggregate;
pub mod commands;
pub mod cron;
pub mod error;
pub mod events;
pub mod services;
pub mod triggers;
pub mod values;

pub use aggregate::ScalingPolicy;
pub use commands::ScalingPolicyCommand;
pub use cron::CronSchedule;
pub use error::ScalingPolicyError;
pub use events::{scaling_policy_key, ScalingPolicyEvent, SCALING_POLICY_SCOPE};
pub use services::{FixedScalingLookup, ScalingLookup, ScalingServices};
pub use triggers::{MetricName, MetricTarget, QueueName, TargetCount, TargetPercent, Timezone, Trigger, TriggerKind};
pub use values::{
    PolicySpec, ReplicaRange, ScalingDecision, ScalingPolicyStatus, ScalingSignal, SloTargets, ValueError,
    WindowSeconds,
};
