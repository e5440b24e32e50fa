//! Value objects of the `RuntimeDeployment` aggregate: the artifact (image digest, semantic
//! version, commit), the rollout strategy, the health gates, and the deployment status. Each is
//! parsed once; serde goes through the same checks, so a stored event cannot hold an invalid
//! value.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::values::{enum_text, is_lower_hex, is_slug, string_value, ValueError};

/// A content address of a container image, `sha256:` + 64 lowercase hex digits. Deployments
/// name images by digest, never by tag, so what was deployed cannot change afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageDigest(String);

impl ImageDigest {
    /// Parses a digest; other algorithms and uppercase hex are refused so one image has one
    /// spelling in the log.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        match value.strip_prefix("sha256:") {
            Some(hex) if is_lower_hex(hex, 64) => Ok(Self(value.to_owned())),
            _ => Err(ValueError::InvalidImageDigest(value.to_owned())),
        }
    }
}
string_value!(ImageDigest);

/// The version of a built artifact, a Semantic Versioning 2.0 string such as `1.4.2`,
/// `2.0.0-rc.1` or `1.4.2+build.77`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArtifactVersion(String);

impl ArtifactVersion {
    /// Longest accepted version string.
    pub const MAX_LEN: usize = 128;

    /// Parses `MAJOR.MINOR.PATCH[-prerelease][+build]` per semver.org 2.0 with the `semver`
    /// crate: numeric parts without leading zeros, dot-separated identifiers of
    /// `[0-9A-Za-z-]`, numeric pre-release identifiers without leading zeros. A leading `v`
    /// is refused.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if value.len() <= Self::MAX_LEN && is_semver(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidArtifactVersion(value.to_owned()))
        }
    }

    /// Whether this is a pre-release (`1.0.0-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        semver::Version::parse(&self.0).is_ok_and(|version| !version.pre.is_empty())
    }
}
string_value!(ArtifactVersion);

/// Semantic Versioning 2.0, as the `semver` crate parses it (the one Cargo uses).
fn is_semver(value: &str) -> bool {
    semver::Version::parse(value).is_ok()
}

/// A full git commit sha, 40 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

impl CommitSha {
    /// Parses a full sha; abbreviated ones are refused because they can become ambiguous.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if is_lower_hex(value, 40) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidCommitSha(value.to_owned()))
        }
    }
}
string_value!(CommitSha);

/// What a deployment rolls out: the image (by digest), its version and the commit it was built
/// from; the links of the trace from commit to running workload. The repository the image
/// lives in is the service's (its runtime contract), so it is not repeated here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Artifact {
    digest: ImageDigest,
    version: ArtifactVersion,
    commit: CommitSha,
}

impl Artifact {
    /// Assembles an artifact from parsed parts.
    pub fn new(digest: ImageDigest, version: ArtifactVersion, commit: CommitSha) -> Self {
        Self { digest, version, commit }
    }

    /// Parses an artifact from raw parts.
    pub fn parse(digest: &str, version: &str, commit: &str) -> Result<Self, ValueError> {
        Ok(Self::new(ImageDigest::parse(digest)?, ArtifactVersion::parse(version)?, CommitSha::parse(commit)?))
    }

    /// The image digest.
    pub fn digest(&self) -> &ImageDigest {
        &self.digest
    }

    /// The artifact version.
    pub fn version(&self) -> &ArtifactVersion {
        &self.version
    }

    /// The commit it was built from.
    pub fn commit(&self) -> &CommitSha {
        &self.commit
    }
}

/// The traffic percentages a canary rollout moves through, e.g. `[5, 25, 50, 100]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<u8>", into = "Vec<u8>")]
pub struct CanarySteps(Vec<u8>);

impl CanarySteps {
    /// Checks the plan: at least one step, each 1..=100 percent, strictly increasing, the
    /// last one 100 (a canary that never reaches everyone never finishes).
    pub fn new(steps: Vec<u8>) -> Result<Self, ValueError> {
        let ok = steps.last() == Some(&100)
            && steps.first().is_some_and(|first| *first >= 1)
            && steps.windows(2).all(|pair| pair[0] < pair[1]);
        if ok {
            Ok(Self(steps))
        } else {
            Err(ValueError::InvalidCanarySteps(steps))
        }
    }

    /// The percentages, in order.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl TryFrom<Vec<u8>> for CanarySteps {
    type Error = ValueError;
    fn try_from(value: Vec<u8>) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<CanarySteps> for Vec<u8> {
    fn from(value: CanarySteps) -> Self {
        value.0
    }
}

/// How a deployment moves traffic to the new version. Serialized with a `kind` tag:
/// `{"kind":"rolling"}`, `{"kind":"canary","steps":[10,50,100]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeploymentStrategy {
    /// Replace replicas a few at a time; one step (100%).
    Rolling,
    /// Start the new version beside the old and switch all traffic at once; one step (100%).
    BlueGreen,
    /// Shift traffic in the given steps.
    Canary {
        /// The traffic percentages, ending at 100.
        steps: CanarySteps,
    },
}

impl DeploymentStrategy {
    /// The snake_case strategy name, as serialized in `kind`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeploymentStrategy::Rolling => "rolling",
            DeploymentStrategy::BlueGreen => "blue_green",
            DeploymentStrategy::Canary { .. } => "canary",
        }
    }

    /// The traffic percentage each step of the rollout reaches; rolling and blue-green are a
    /// single step to 100%.
    pub fn planned_steps(&self) -> &[u8] {
        match self {
            DeploymentStrategy::Rolling | DeploymentStrategy::BlueGreen => &[100],
            DeploymentStrategy::Canary { steps } => steps.as_slice(),
        }
    }
}

impl fmt::Display for DeploymentStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of a health gate, unique within a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GateName(String);

impl GateName {
    /// Parses a gate name: 1..=63 of `[a-z0-9-]`, starting with a letter.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if is_slug(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidGateName(value.to_owned()))
        }
    }
}
string_value!(GateName);

/// What a health gate measures, and which way is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// Percentage of successful requests; passes when observed >= threshold.
    Availability,
    /// 95th percentile latency in milliseconds; passes when observed <= threshold.
    LatencyP95,
    /// Percentage of failed requests; passes when observed <= threshold.
    ErrorRate,
}

impl GateKind {
    /// Every kind.
    pub const ALL: [GateKind; 3] = [GateKind::Availability, GateKind::LatencyP95, GateKind::ErrorRate];

    /// Parses the snake_case kind name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| ValueError::InvalidGateKind(value.to_owned()))
    }

    /// The snake_case kind name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            GateKind::Availability => "availability",
            GateKind::LatencyP95 => "latency_p95",
            GateKind::ErrorRate => "error_rate",
        }
    }

    /// Whether `threshold` makes sense for this kind: availability in (0, 100] percent,
    /// latency in (0, 3 600 000] ms, error rate in [0, 100) percent.
    pub fn accepts_threshold(&self, threshold: f64) -> bool {
        match self {
            GateKind::Availability => threshold > 0.0 && threshold <= 100.0,
            GateKind::LatencyP95 => threshold > 0.0 && threshold <= 3_600_000.0,
            GateKind::ErrorRate => (0.0..100.0).contains(&threshold),
        }
    }

    /// Whether `observed` satisfies `threshold` for this kind.
    pub fn passes(&self, threshold: f64, observed: f64) -> bool {
        match self {
            GateKind::Availability => observed >= threshold,
            GateKind::LatencyP95 | GateKind::ErrorRate => observed <= threshold,
        }
    }
}
enum_text!(GateKind);

/// One health gate a deployment must pass before it is promoted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawHealthGate")]
pub struct HealthGate {
    name: GateName,
    kind: GateKind,
    threshold: f64,
}

/// The unchecked wire form of [`HealthGate`].
#[derive(Deserialize)]
struct RawHealthGate {
    name: GateName,
    kind: GateKind,
    threshold: f64,
}

impl TryFrom<RawHealthGate> for HealthGate {
    type Error = ValueError;
    fn try_from(raw: RawHealthGate) -> Result<Self, Self::Error> {
        Self::new(raw.name, raw.kind, raw.threshold)
    }
}

impl HealthGate {
    /// Checks that the threshold is finite and in range for its kind.
    pub fn new(name: GateName, kind: GateKind, threshold: f64) -> Result<Self, ValueError> {
        if threshold.is_finite() && kind.accepts_threshold(threshold) {
            Ok(Self { name, kind, threshold })
        } else {
            Err(ValueError::InvalidGateThreshold {
                gate: name.to_string(),
                kind: kind.as_str(),
                threshold: threshold.to_string(),
            })
        }
    }

    /// Its name, unique within the deployment.
    pub fn name(&self) -> &GateName {
        &self.name
    }

    /// What it measures.
    pub fn kind(&self) -> GateKind {
        self.kind
    }

    /// The value that must be met (see [`GateKind::passes`]).
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Whether an observed value meets the threshold.
    pub fn passes(&self, observed: f64) -> bool {
        self.kind.passes(self.threshold, observed)
    }
}

/// The health gates of a deployment: 1..=20, names unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<HealthGate>", into = "Vec<HealthGate>")]
pub struct HealthGates(Vec<HealthGate>);

impl HealthGates {
    /// The most gates a deployment has.
    pub const MAX: usize = 20;

    /// Checks the list: at least one gate (an ungated promotion would make "promotion only
    /// past a passed gate" vacuous), at most [`Self::MAX`], names unique.
    pub fn new(gates: Vec<HealthGate>) -> Result<Self, ValueError> {
        if gates.is_empty() || gates.len() > Self::MAX {
            return Err(ValueError::InvalidGateCount { max: Self::MAX, got: gates.len() });
        }
        let mut seen = BTreeSet::new();
        if let Some(duplicate) = gates.iter().find(|gate| !seen.insert(gate.name())) {
            return Err(ValueError::DuplicateGate(duplicate.name().to_string()));
        }
        Ok(Self(gates))
    }

    /// The gates, in declared order.
    pub fn as_slice(&self) -> &[HealthGate] {
        &self.0
    }

    /// The gate with the given name.
    pub fn get(&self, name: &GateName) -> Option<&HealthGate> {
        self.0.iter().find(|gate| gate.name() == name)
    }
}

impl TryFrom<Vec<HealthGate>> for HealthGates {
    type Error = ValueError;
    fn try_from(value: Vec<HealthGate>) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<HealthGates> for Vec<HealthGate> {
    fn from(value: HealthGates) -> Self {
        value.0
    }
}

/// Checks an observed gate value: a finite, non-negative measurement.
pub fn check_observation(observed: f64) -> Result<f64, ValueError> {
    if observed.is_finite() && observed >= 0.0 {
        Ok(observed)
    } else {
        Err(ValueError::InvalidObservation(observed.to_string()))
    }
}

/// The latest evaluation of one gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    passed: bool,
    observed: f64,
    at: DateTime<Utc>,
}

impl GateResult {
    /// A result as recorded by a `HealthGateEvaluated` event.
    pub fn new(passed: bool, observed: f64, at: DateTime<Utc>) -> Self {
        Self { passed, observed, at }
    }

    /// Whether the gate passed.
    pub fn passed(&self) -> bool {
        self.passed
    }

    /// The measured value.
    pub fn observed(&self) -> f64 {
        self.observed
    }

    /// When it was measured.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

/// A gate together with its latest result, as a read model shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateStatus {
    gate: HealthGate,
    last_result: Option<GateResult>,
    evaluations: u32,
}

impl GateStatus {
    /// A gate not yet evaluated.
    pub fn pending(gate: HealthGate) -> Self {
        Self { gate, last_result: None, evaluations: 0 }
    }

    /// Records a newer evaluation; the latest one counts.
    pub(crate) fn record(&mut self, result: GateResult) {
        self.last_result = Some(result);
        self.evaluations = self.evaluations.saturating_add(1);
    }

    /// The gate.
    pub fn gate(&self) -> &HealthGate {
        &self.gate
    }

    /// Its latest evaluation, if any.
    pub fn last_result(&self) -> Option<&GateResult> {
        self.last_result.as_ref()
    }

    /// How many times it was evaluated.
    pub fn evaluations(&self) -> u32 {
        self.evaluations
    }

    /// Whether its latest evaluation passed (never-evaluated gates have not).
    pub fn passed(&self) -> bool {
        self.last_result.is_some_and(|result| result.passed())
    }
}

/// Where a deployment is. A deployment that was never started has no status at all (`None` on
/// the aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Started, waiting for the rollout to begin; may be cancelled.
    Pending,
    /// Traffic is being moved to the new version, step by step.
    InProgress,
    /// All traffic is on the new version; health gates are being evaluated.
    Verifying,
    /// Promoted: the live version of the service in the environment.
    Succeeded,
    /// The rollout or verification failed; must be rolled back (or, with nothing to roll back
    /// to, abandoned).
    Failed,
    /// Traffic is being moved back to the rollback target.
    RollingBack,
    /// Back on the rollback target; terminal.
    RolledBack,
    /// Cancelled before the rollout began; terminal.
    Cancelled,
    /// A newer deployment of the same service and environment succeeded; terminal.
    Superseded,
    /// Failed with no known-good deployment to roll back to, and given up; terminal.
    Abandoned,
}

impl DeploymentStatus {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeploymentStatus::Pending => "Pending",
            DeploymentStatus::InProgress => "InProgress",
            DeploymentStatus::Verifying => "Verifying",
            DeploymentStatus::Succeeded => "Succeeded",
            DeploymentStatus::Failed => "Failed",
            DeploymentStatus::RollingBack => "RollingBack",
            DeploymentStatus::RolledBack => "RolledBack",
            DeploymentStatus::Cancelled => "Cancelled",
            DeploymentStatus::Superseded => "Superseded",
            DeploymentStatus::Abandoned => "Abandoned",
        }
    }

    /// Whether the deployment is still in flight and so holds its service and environment's
    /// `active_deployment` claim: from start until it succeeds, is cancelled, rolled back or
    /// abandoned. `Failed` holds it: a failed rollout must be rolled back before the next one.
    pub fn is_active(&self) -> bool {
        use DeploymentStatus as S;
        matches!(self, S::Pending | S::InProgress | S::Verifying | S::Failed | S::RollingBack)
    }

    /// Whether the deployment can never change again.
    pub fn is_terminal(&self) -> bool {
        use DeploymentStatus as S;
        matches!(self, S::RolledBack | S::Cancelled | S::Superseded | S::Abandoned)
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:4f6b2c0e9a1d3b5c7e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d";
    const SHA: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    fn gate(name: &str, kind: GateKind, threshold: f64) -> HealthGate {
        HealthGate::new(GateName::parse(name).unwrap(), kind, threshold).unwrap()
    }

    #[test]
    fn image_digests_are_sha256_with_64_lowercase_hex() {
        assert_eq!(ImageDigest::parse(DIGEST).unwrap().as_str(), DIGEST);
        assert!(ImageDigest::parse(&DIGEST.to_uppercase()).is_err());
        assert!(ImageDigest::parse(&DIGEST[..70]).is_err());
        assert!(ImageDigest::parse(&DIGEST.replace("sha256", "sha512")).is_err());
        assert!(ImageDigest::parse(&DIGEST.replace("sha256:", "")).is_err());
        assert!(ImageDigest::parse(&format!("{DIGEST}0")).is_err());
        assert!(from_json::<ImageDigest>("\"sha256:abc\"").is_err());
    }

    #[test]
    fn artifact_versions_are_semantic_versions() {
        for ok in [
            "0.0.0",
            "1.4.2",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0-x-y-z.--",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0+21AF26D3----117B344092BD",
            "1.0.0+001",
        ] {
            assert!(ArtifactVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "v1.2.3",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3-alpha..1",
            "1.2.3+",
            "1.2.3+a+b",
            "1.2.3-al_pha",
            "1.2.3 ",
            "-1.2.3",
        ] {
            assert!(ArtifactVersion::parse(bad).is_err(), "{bad}");
        }
        assert!(ArtifactVersion::parse(&format!("1.0.0-{}", "a".repeat(123))).is_err());
        assert!(ArtifactVersion::parse("2.0.0-rc.1+b.7").unwrap().is_prerelease());
        assert!(!ArtifactVersion::parse("2.0.0+b-7").unwrap().is_prerelease());
        assert!(from_json::<ArtifactVersion>("\"latest\"").is_err());
    }

    #[test]
    fn commit_shas_are_40_lowercase_hex() {
        assert!(CommitSha::parse(SHA).is_ok());
        assert!(CommitSha::parse(&SHA[..7]).is_err());
        assert!(CommitSha::parse(&SHA.to_uppercase()).is_err());
        assert!(CommitSha::parse(&SHA.replace('f', "g")).is_err());
        assert!(from_json::<CommitSha>("\"main\"").is_err());
    }

    #[test]
    fn artifacts_round_trip_and_refuse_invalid_parts() {
        let artifact = Artifact::parse(DIGEST, "1.4.2", SHA).unwrap();
        assert_eq!(artifact.digest().as_str(), DIGEST);
        assert_eq!(artifact.version().as_str(), "1.4.2");
        assert_eq!(artifact.commit().as_str(), SHA);
        let json = serde_json::to_string(&artifact).unwrap();
        assert_eq!(from_json::<Artifact>(&json).unwrap(), artifact);
        assert!(from_json::<Artifact>(&json.replace("1.4.2", "1.4")).is_err());
        assert!(Artifact::parse("sha256:x", "1.4.2", SHA).is_err());
    }

    #[test]
    fn canary_steps_increase_strictly_to_one_hundred() {
        assert!(CanarySteps::new(vec![100]).is_ok());
        assert!(CanarySteps::new(vec![1, 5, 25, 50, 100]).is_ok());
        for bad in [vec![], vec![10, 50], vec![0, 50, 100], vec![10, 10, 100], vec![50, 20, 100], vec![10, 100, 100]] {
            assert_eq!(CanarySteps::new(bad.clone()), Err(ValueError::InvalidCanarySteps(bad)));
        }
        assert!(from_json::<CanarySteps>("[10,200]").is_err());
    }

    #[test]
    fn strategies_are_tagged_by_kind_and_plan_their_steps() {
        let canary = DeploymentStrategy::Canary { steps: CanarySteps::new(vec![10, 50, 100]).unwrap() };
        assert_eq!(canary.planned_steps(), &[10, 50, 100]);
        assert_eq!(DeploymentStrategy::Rolling.planned_steps(), &[100]);
        assert_eq!(DeploymentStrategy::BlueGreen.planned_steps(), &[100]);
        assert_eq!(serde_json::to_string(&canary).unwrap(), r#"{"kind":"canary","steps":[10,50,100]}"#);
        assert_eq!(serde_json::to_string(&DeploymentStrategy::BlueGreen).unwrap(), r#"{"kind":"blue_green"}"#);
        assert_eq!(from_json::<DeploymentStrategy>(r#"{"kind":"rolling"}"#).unwrap(), DeploymentStrategy::Rolling);
        assert!(from_json::<DeploymentStrategy>(r#"{"kind":"canary","steps":[10,50]}"#).is_err());
        assert!(from_json::<DeploymentStrategy>(r#"{"kind":"big_bang"}"#).is_err());
        assert_eq!(canary.to_string(), "canary");
    }

    #[test]
    fn gate_names_and_kinds_parse() {
        assert!(GateName::parse("p95-checkout").is_ok());
        assert!(GateName::parse("P95").is_err());
        assert!(GateName::parse("").is_err());
        for kind in GateKind::ALL {
            assert_eq!(GateKind::parse(kind.as_str()).unwrap(), kind);
        }
        assert!(GateKind::parse("latency").is_err());
        assert!(from_json::<GateKind>("\"LatencyP95\"").is_err());
    }

    #[test]
    fn gate_thresholds_are_finite_and_in_range_for_their_kind() {
        let name = || GateName::parse("g").unwrap();
        assert!(HealthGate::new(name(), GateKind::Availability, 99.9).is_ok());
        assert!(HealthGate::new(name(), GateKind::Availability, 0.0).is_err());
        assert!(HealthGate::new(name(), GateKind::Availability, 100.1).is_err());
        assert!(HealthGate::new(name(), GateKind::LatencyP95, 250.0).is_ok());
        assert!(HealthGate::new(name(), GateKind::LatencyP95, 0.0).is_err());
        assert!(HealthGate::new(name(), GateKind::LatencyP95, f64::INFINITY).is_err());
        assert!(HealthGate::new(name(), GateKind::ErrorRate, 0.0).is_ok());
        assert!(HealthGate::new(name(), GateKind::ErrorRate, 100.0).is_err());
        assert!(HealthGate::new(name(), GateKind::ErrorRate, f64::NAN).is_err());
        assert!(from_json::<HealthGate>(r#"{"name":"g","kind":"error_rate","threshold":-1}"#).is_err());
    }

    #[test]
    fn gates_pass_in_the_direction_of_their_kind() {
        assert!(gate("a", GateKind::Availability, 99.5).passes(99.5));
        assert!(!gate("a", GateKind::Availability, 99.5).passes(99.4));
        assert!(gate("l", GateKind::LatencyP95, 250.0).passes(250.0));
        assert!(!gate("l", GateKind::LatencyP95, 250.0).passes(251.0));
        assert!(gate("e", GateKind::ErrorRate, 1.0).passes(0.5));
        assert!(!gate("e", GateKind::ErrorRate, 1.0).passes(1.5));
    }

    #[test]
    fn a_deployment_has_one_to_twenty_uniquely_named_gates() {
        assert!(HealthGates::new(vec![gate("a", GateKind::Availability, 99.0)]).is_ok());
        assert_eq!(HealthGates::new(vec![]), Err(ValueError::InvalidGateCount { max: 20, got: 0 }));
        let many = (0..21).map(|i| gate(&format!("g{i}"), GateKind::ErrorRate, 1.0)).collect();
        assert_eq!(HealthGates::new(many), Err(ValueError::InvalidGateCount { max: 20, got: 21 }));
        assert_eq!(
            HealthGates::new(vec![gate("a", GateKind::Availability, 99.0), gate("a", GateKind::ErrorRate, 1.0)]),
            Err(ValueError::DuplicateGate("a".to_owned()))
        );
        assert!(from_json::<HealthGates>("[]").is_err());
        let gates = HealthGates::new(vec![gate("a", GateKind::Availability, 99.0)]).unwrap();
        let json = serde_json::to_string(&gates).unwrap();
        assert_eq!(from_json::<HealthGates>(&json).unwrap(), gates);
    }

    #[test]
    fn observations_are_finite_and_non_negative() {
        assert_eq!(check_observation(0.0), Ok(0.0));
        assert!(check_observation(-0.1).is_err());
        assert!(check_observation(f64::NAN).is_err());
        assert!(check_observation(f64::INFINITY).is_err());
    }

    #[test]
    fn only_in_flight_deployments_are_active() {
        use DeploymentStatus as S;
        for status in [S::Pending, S::InProgress, S::Verifying, S::Failed, S::RollingBack] {
            assert!(status.is_active(), "{status}");
            assert!(!status.is_terminal(), "{status}");
        }
        assert!(!S::Succeeded.is_active() && !S::Succeeded.is_terminal());
        for status in [S::RolledBack, S::Cancelled, S::Superseded, S::Abandoned] {
            assert!(!status.is_active() && status.is_terminal(), "{status}");
        }
        assert_eq!(serde_json::to_string(&S::RollingBack).unwrap(), "\"rolling_back\"");
        assert_eq!(S::InProgress.to_string(), "InProgress");
    }
}
