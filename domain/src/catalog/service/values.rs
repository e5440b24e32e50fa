//! Value objects of the `RuntimeService` aggregate: its name, kind, blueprint, and the runtime
//! contract (image repository, ports, probes, replica hints, compute kind). Each is parsed
//! once; serde goes through the same checks, so a stored event cannot hold an invalid value.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::values::{enum_text, is_slug, string_value, ValueError};
use crate::environments::ComputeTargetKind;

/// The name of a service, unique per product (and never reused, see `SERVICE_NAME_SCOPE`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceName(String);

impl ServiceName {
    /// Parses a service name: 1..=63 of `[a-z0-9-]`, starting with a letter.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if is_slug(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidServiceName(value.to_owned()))
        }
    }
}
string_value!(ServiceName);

/// What kind of generated component a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// The entry point routing external traffic to the product's APIs.
    ApiGateway,
    /// A backend service with an API.
    Microservice,
    /// A background processor without inbound traffic.
    Worker,
    /// The operators' web portal.
    AdminPortal,
    /// The tenants' customers' web portal.
    CustomerPortal,
    /// The backend-for-frontend of mobile apps.
    MobileBackend,
    /// A serverless function.
    Function,
    /// A managed or containerised database.
    Database,
    /// A message queue or broker.
    Queue,
    /// A monitoring or reporting dashboard.
    Dashboard,
}

impl ServiceKind {
    /// Every kind.
    pub const ALL: [ServiceKind; 10] = [
        ServiceKind::ApiGateway,
        ServiceKind::Microservice,
        ServiceKind::Worker,
        ServiceKind::AdminPortal,
        ServiceKind::CustomerPortal,
        ServiceKind::MobileBackend,
        ServiceKind::Function,
        ServiceKind::Database,
        ServiceKind::Queue,
        ServiceKind::Dashboard,
    ];

    /// Parses the snake_case kind name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| ValueError::InvalidServiceKind(value.to_owned()))
    }

    /// The snake_case kind name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceKind::ApiGateway => "api_gateway",
            ServiceKind::Microservice => "microservice",
            ServiceKind::Worker => "worker",
            ServiceKind::AdminPortal => "admin_portal",
            ServiceKind::CustomerPortal => "customer_portal",
            ServiceKind::MobileBackend => "mobile_backend",
            ServiceKind::Function => "function",
            ServiceKind::Database => "database",
            ServiceKind::Queue => "queue",
            ServiceKind::Dashboard => "dashboard",
        }
    }
}
enum_text!(ServiceKind);

/// The software factory's blueprint or template a service was generated from, e.g.
/// `blueprints/api-gateway@3.2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlueprintId(String);

impl BlueprintId {
    /// Parses a blueprint id: 1..=128 of `[a-z0-9._/@-]`, starting with a letter or digit.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=128).contains(&value.len())
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_./@".contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidBlueprintId(value.to_owned()))
        }
    }
}
string_value!(BlueprintId);

/// A container image repository, e.g. `myregistry.azurecr.io/shop/api`: a registry host and a
/// path, without tag or digest (a deployment names the digest; the contract names where
/// images come from).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRepository(String);

impl ImageRepository {
    /// Docker's limit on a repository name.
    pub const MAX_LEN: usize = 255;

    /// Parses a repository: `host[:port]/component[/component...]`, all lowercase. The name
    /// grammar (components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`) is the OCI distribution
    /// spec's, checked by `oci-spec`'s reference parser. On top of it, the domain keeps what
    /// that parser leaves open: the host is explicit (it must contain a `.` or a port, or be
    /// `localhost`, Docker's rule; no silent `docker.io/library/` default), lowercase, with a
    /// port in 1..=65535; and a `:tag` or `@digest` is refused (the parser would default a
    /// missing tag to `latest`).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let refused = || ValueError::InvalidImageRepository(value.to_owned());
        if value.len() > Self::MAX_LEN {
            return Err(refused());
        }
        let (host, path) = value.split_once('/').ok_or_else(refused)?;
        if !is_registry_host(host) || path.contains([':', '@']) {
            return Err(refused());
        }
        let reference = oci_spec::distribution::Reference::try_from(value).map_err(|_| refused())?;
        if reference.registry() != host || reference.repository() != path || reference.digest().is_some() {
            return Err(refused());
        }
        Ok(Self(value.to_owned()))
    }

    /// The registry host (with its port, if any), e.g. `myregistry.azurecr.io`.
    pub fn registry(&self) -> &str {
        self.0.split_once('/').map_or("", |(host, _)| host)
    }

    /// The path inside the registry, e.g. `shop/api`.
    pub fn path(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, path)| path)
    }
}
string_value!(ImageRepository);

fn is_registry_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
    });
    let labels_ok = name.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    port_ok && labels_ok && (name.contains('.') || port.is_some() || name == "localhost")
}

/// A TCP port a service listens on, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u16")]
pub struct Port(u16);

impl Port {
    /// Parses a port; 0 and anything above 65535 are refused.
    pub fn parse(value: u32) -> Result<Self, ValueError> {
        match u16::try_from(value) {
            Ok(port) if port != 0 => Ok(Self(port)),
            _ => Err(ValueError::InvalidPort(value)),
        }
    }

    /// The port number.
    pub fn get(&self) -> u16 {
        self.0
    }
}

impl TryFrom<u32> for Port {
    type Error = ValueError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Port> for u16 {
    fn from(value: Port) -> Self {
        value.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The path an HTTP probe requests, e.g. `/healthz/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpPath(String);

impl HttpPath {
    /// Parses a path: starts with `/`, at most 1024 printable ASCII characters (a query
    /// string is allowed; whitespace is not).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = value.starts_with('/') && value.len() <= 1024 && value.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::InvalidProbePath(value.to_owned()))
        }
    }
}
string_value!(HttpPath);

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProbeCheck {
    /// An HTTP GET that must answer 2xx/3xx.
    Http {
        /// The path requested.
        path: HttpPath,
        /// The port requested.
        port: Port,
    },
    /// A TCP connection that must open.
    Tcp {
        /// The port connected to.
        port: Port,
    },
}

impl ProbeCheck {
    /// The port the check uses.
    pub fn port(&self) -> Port {
        match self {
            ProbeCheck::Http { port, .. } | ProbeCheck::Tcp { port } => *port,
        }
    }
}

/// A liveness, readiness or startup probe: what it checks and how often.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawProbe")]
pub struct Probe {
    check: ProbeCheck,
    period_seconds: u32,
    timeout_seconds: u32,
}

/// The unchecked wire form of [`Probe`].
#[derive(Deserialize)]
struct RawProbe {
    check: ProbeCheck,
    period_seconds: u32,
    timeout_seconds: u32,
}

impl TryFrom<RawProbe> for Probe {
    type Error = ValueError;
    fn try_from(raw: RawProbe) -> Result<Self, Self::Error> {
        Self::new(raw.check, raw.period_seconds, raw.timeout_seconds)
    }
}

impl Probe {
    /// Checks and assembles a probe: period 1..=3600 s, timeout 1..=300 s and not longer than
    /// the period (a probe that outlives its period overlaps the next one).
    pub fn new(check: ProbeCheck, period_seconds: u32, timeout_seconds: u32) -> Result<Self, ValueError> {
        let ok = (1..=3600).contains(&period_seconds)
            && (1..=300).contains(&timeout_seconds)
            && timeout_seconds <= period_seconds;
        if ok {
            Ok(Self { check, period_seconds, timeout_seconds })
        } else {
            Err(ValueError::InvalidProbeTiming { period: period_seconds, timeout: timeout_seconds })
        }
    }

    /// What the probe checks.
    pub fn check(&self) -> &ProbeCheck {
        &self.check
    }

    /// Seconds between two probes.
    pub fn period_seconds(&self) -> u32 {
        self.period_seconds
    }

    /// Seconds after which one probe counts as failed.
    pub fn timeout_seconds(&self) -> u32 {
        self.timeout_seconds
    }
}

/// How many replicas the service wants; a hint for scaling policies, not a policy itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawReplicaHints")]
pub struct ReplicaHints {
    min_replicas: u32,
    max_replicas: u32,
}

/// The unchecked wire form of [`ReplicaHints`].
#[derive(Deserialize)]
struct RawReplicaHints {
    min_replicas: u32,
    max_replicas: u32,
}

impl TryFrom<RawReplicaHints> for ReplicaHints {
    type Error = ValueError;
    fn try_from(raw: RawReplicaHints) -> Result<Self, Self::Error> {
        Self::new(raw.min_replicas, raw.max_replicas)
    }
}

impl ReplicaHints {
    /// The most replicas a hint may ask for.
    pub const MAX_REPLICAS: u32 = 1000;

    /// Checks `0 <= min <= max <= 1000` (0 allows scale-to-zero).
    pub fn new(min_replicas: u32, max_replicas: u32) -> Result<Self, ValueError> {
        if min_replicas <= max_replicas && max_replicas <= Self::MAX_REPLICAS {
            Ok(Self { min_replicas, max_replicas })
        } else {
            Err(ValueError::InvalidReplicaHints { min: min_replicas, max: max_replicas })
        }
    }

    /// The fewest replicas.
    pub fn min_replicas(&self) -> u32 {
        self.min_replicas
    }

    /// The most replicas.
    pub fn max_replicas(&self) -> u32 {
        self.max_replicas
    }
}

/// How a service runs: where its image comes from, what it listens on, how it is probed, how
/// many replicas it wants and on which kind of compute. Dependencies on other services are not
/// part of this value: they are declared one by one on the aggregate (each needs a cycle check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRuntimeContract")]
pub struct RuntimeContract {
    image: ImageRepository,
    ports: Vec<Port>,
    liveness: Option<Probe>,
    readiness: Option<Probe>,
    startup: Option<Probe>,
    replicas: ReplicaHints,
    compute: ComputeTargetKind,
}

/// The unchecked wire form of [`RuntimeContract`].
#[derive(Deserialize)]
struct RawRuntimeContract {
    image: ImageRepository,
    ports: Vec<Port>,
    liveness: Option<Probe>,
    readiness: Option<Probe>,
    startup: Option<Probe>,
    replicas: ReplicaHints,
    compute: ComputeTargetKind,
}

impl TryFrom<RawRuntimeContract> for RuntimeContract {
    type Error = ValueError;
    fn try_from(raw: RawRuntimeContract) -> Result<Self, Self::Error> {
        Self::new(raw.image, raw.ports, raw.liveness, raw.readiness, raw.startup, raw.replicas, raw.compute)
    }
}

impl RuntimeContract {
    /// The most ports a contract declares.
    pub const MAX_PORTS: usize = 20;

    /// Checks and assembles a contract: at most [`Self::MAX_PORTS`] ports, each once, and
    /// every probe on a declared port (the health probe worker probes what the contract
    /// declares, so a probe on an unlisted port would never be reachable through it).
    pub fn new(
        image: ImageRepository,
        ports: Vec<Port>,
        liveness: Option<Probe>,
        readiness: Option<Probe>,
        startup: Option<Probe>,
        replicas: ReplicaHints,
        compute: ComputeTargetKind,
    ) -> Result<Self, ValueError> {
        if ports.len() > Self::MAX_PORTS {
            return Err(ValueError::TooManyPorts { max: Self::MAX_PORTS, got: ports.len() });
        }
        let mut seen = BTreeSet::new();
        if let Some(duplicate) = ports.iter().find(|port| !seen.insert(**port)) {
            return Err(ValueError::DuplicatePort(duplicate.get()));
        }
        for (probe, which) in [(&liveness, "liveness"), (&readiness, "readiness"), (&startup, "startup")] {
            if let Some(port) = probe.as_ref().map(|p| p.check().port()) {
                if !seen.contains(&port) {
                    return Err(ValueError::UndeclaredProbePort { probe: which, port: port.get() });
                }
            }
        }
        Ok(Self { image, ports, liveness, readiness, startup, replicas, compute })
    }

    /// Where the service's images come from.
    pub fn image(&self) -> &ImageRepository {
        &self.image
    }

    /// The ports it listens on, in declared order.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// The probe that says the process is alive (restart when it fails).
    pub fn liveness(&self) -> Option<&Probe> {
        self.liveness.as_ref()
    }

    /// The probe that says it can take traffic.
    pub fn readiness(&self) -> Option<&Probe> {
        self.readiness.as_ref()
    }

    /// The probe that says it has finished starting (holds the others back until then).
    pub fn startup(&self) -> Option<&Probe> {
        self.startup.as_ref()
    }

    /// How many replicas it wants.
    pub fn replicas(&self) -> ReplicaHints {
        self.replicas
    }

    /// The kind of compute it runs on.
    pub fn compute(&self) -> ComputeTargetKind {
        self.compute
    }
}

/// Where a service is in its lifecycle. A service that was never registered has no status at
/// all (`None` on the aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLifecycle {
    /// In the catalog; may be deployed, not yet declared live.
    Registered,
    /// Live and supported.
    Active,
    /// Still deployable, but to be replaced; new dependants are discouraged.
    Deprecated,
    /// Gone for good: cannot be deployed, accepts no command, keeps its name reserved.
    Retired,
}

impl ServiceLifecycle {
    /// The PascalCase name used in rejection messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceLifecycle::Registered => "Registered",
            ServiceLifecycle::Active => "Active",
            ServiceLifecycle::Deprecated => "Deprecated",
            ServiceLifecycle::Retired => "Retired",
        }
    }

    /// Whether a service in this state may be deployed: anything but `Retired`.
    pub fn is_deployable(&self) -> bool {
        !matches!(self, ServiceLifecycle::Retired)
    }
}

impl fmt::Display for ServiceLifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    fn port(n: u32) -> Port {
        Port::parse(n).unwrap()
    }

    fn http(path: &str, n: u32) -> Probe {
        Probe::new(ProbeCheck::Http { path: HttpPath::parse(path).unwrap(), port: port(n) }, 10, 2).unwrap()
    }

    fn contract(ports: Vec<Port>, readiness: Option<Probe>) -> Result<RuntimeContract, ValueError> {
        RuntimeContract::new(
            ImageRepository::parse("myregistry.azurecr.io/shop/api").unwrap(),
            ports,
            None,
            readiness,
            None,
            ReplicaHints::new(1, 3).unwrap(),
            ComputeTargetKind::ContainerApps,
        )
    }

    #[test]
    fn service_names_are_slugs() {
        assert!(ServiceName::parse("orders-api").is_ok());
        assert!(ServiceName::parse("").is_err());
        assert!(ServiceName::parse("Orders").is_err());
        assert!(ServiceName::parse("orders_api").is_err());
        assert!(from_json::<ServiceName>("\"1orders\"").is_err());
    }

    #[test]
    fn service_kinds_are_a_closed_snake_case_set() {
        for kind in ServiceKind::ALL {
            assert_eq!(ServiceKind::parse(kind.as_str()).unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
        }
        assert!(ServiceKind::parse("lambda").is_err());
        assert!(ServiceKind::parse("ApiGateway").is_err());
        assert!(from_json::<ServiceKind>("\"api-gateway\"").is_err());
    }

    #[test]
    fn blueprint_ids_are_slug_like() {
        assert!(BlueprintId::parse("blueprints/api-gateway@3.2").is_ok());
        assert!(BlueprintId::parse("tpl_worker.v1").is_ok());
        assert!(BlueprintId::parse("").is_err());
        assert!(BlueprintId::parse("/blueprints/x").is_err());
        assert!(BlueprintId::parse("Blueprints").is_err());
        assert!(BlueprintId::parse("a b").is_err());
        assert!(BlueprintId::parse(&"b".repeat(129)).is_err());
    }

    #[test]
    fn image_repositories_name_a_registry_and_a_path_without_tag_or_digest() {
        let repo = ImageRepository::parse("myregistry.azurecr.io/shop/api").unwrap();
        assert_eq!(repo.registry(), "myregistry.azurecr.io");
        assert_eq!(repo.path(), "shop/api");
        for ok in
            ["localhost:5000/api", "localhost/api", "ghcr.io/acme/order__svc.v2", "reg.example.com:443/a/b-c--d/e_f"]
        {
            assert!(ImageRepository::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "api",
            "shop/api",
            "myregistry.azurecr.io",
            "myregistry.azurecr.io/",
            "myregistry.azurecr.io/shop/api:1.0",
            "myregistry.azurecr.io/shop/api@sha256:abc",
            "MyRegistry.azurecr.io/shop/api",
            "myregistry.azurecr.io/Shop/api",
            "myregistry.azurecr.io/shop//api",
            "myregistry.azurecr.io/shop/-api",
            "myregistry.azurecr.io/shop/api.",
            "myregistry.azurecr.io/shop/a..pi",
            "myregistry.azurecr.io/shop/a___pi",
            "localhost:0/api",
            "localhost:99999/api",
            "-reg.io/api",
        ] {
            assert!(ImageRepository::parse(bad).is_err(), "{bad}");
        }
        let long = format!("reg.io/{}", "a".repeat(250));
        assert!(ImageRepository::parse(&long).is_err());
        // One spelling: Docker Hub's short form would be rewritten by the registry to
        // `library/nginx`, so only the full form is a repository.
        assert!(ImageRepository::parse("docker.io/library/nginx").is_ok());
        assert!(ImageRepository::parse("docker.io/nginx").is_err());
        assert!(from_json::<ImageRepository>("\"reg.io/api:latest\"").is_err());
    }

    #[test]
    fn ports_are_between_1_and_65535() {
        assert_eq!(port(8080).get(), 8080);
        assert!(Port::parse(65535).is_ok());
        assert_eq!(Port::parse(0), Err(ValueError::InvalidPort(0)));
        assert_eq!(Port::parse(65536), Err(ValueError::InvalidPort(65536)));
        assert!(from_json::<Port>("0").is_err());
        assert!(from_json::<Port>("70000").is_err());
        assert_eq!(from_json::<Port>("443").unwrap(), port(443));
    }

    #[test]
    fn probe_paths_are_absolute_and_printable() {
        assert!(HttpPath::parse("/healthz?full=1").is_ok());
        assert!(HttpPath::parse("healthz").is_err());
        assert!(HttpPath::parse("").is_err());
        assert!(HttpPath::parse("/health z").is_err());
        assert!(HttpPath::parse(&format!("/{}", "a".repeat(1024))).is_err());
    }

    #[test]
    fn probe_timing_is_bounded_and_the_timeout_fits_the_period() {
        let tcp = ProbeCheck::Tcp { port: port(5432) };
        assert!(Probe::new(tcp.clone(), 10, 10).is_ok());
        assert!(Probe::new(tcp.clone(), 0, 1).is_err());
        assert!(Probe::new(tcp.clone(), 3601, 1).is_err());
        assert!(Probe::new(tcp.clone(), 10, 0).is_err());
        assert_eq!(Probe::new(tcp, 5, 6), Err(ValueError::InvalidProbeTiming { period: 5, timeout: 6 }));
        let json = serde_json::to_string(&http("/ready", 8080)).unwrap();
        assert_eq!(
            json,
            r#"{"check":{"type":"http","path":"/ready","port":8080},"period_seconds":10,"timeout_seconds":2}"#
        );
        assert!(from_json::<Probe>(&json.replace("\"period_seconds\":10", "\"period_seconds\":1")).is_err());
    }

    #[test]
    fn replica_hints_are_ordered_and_bounded() {
        assert!(ReplicaHints::new(0, 0).is_ok());
        assert!(ReplicaHints::new(0, 1000).is_ok());
        assert!(ReplicaHints::new(3, 2).is_err());
        assert!(ReplicaHints::new(1, 1001).is_err());
        assert!(from_json::<ReplicaHints>(r#"{"min_replicas":5,"max_replicas":1}"#).is_err());
    }

    #[test]
    fn a_contract_declares_each_port_once_and_at_most_twenty() {
        assert!(contract(vec![], None).is_ok());
        assert_eq!(contract(vec![port(80), port(443), port(80)], None), Err(ValueError::DuplicatePort(80)));
        let many = (1..=21).map(port).collect();
        assert_eq!(contract(many, None), Err(ValueError::TooManyPorts { max: 20, got: 21 }));
        assert!(contract((1..=20).map(port).collect(), None).is_ok());
    }

    #[test]
    fn probes_use_declared_ports() {
        assert!(contract(vec![port(8080)], Some(http("/ready", 8080))).is_ok());
        assert_eq!(
            contract(vec![port(8080)], Some(http("/ready", 9090))),
            Err(ValueError::UndeclaredProbePort { probe: "readiness", port: 9090 })
        );
    }

    #[test]
    fn contracts_round_trip_and_invalid_ones_do_not_deserialize() {
        let ok = contract(vec![port(8080)], Some(http("/ready", 8080))).unwrap();
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(from_json::<RuntimeContract>(&json).unwrap(), ok);
        assert!(from_json::<RuntimeContract>(&json.replace("[8080]", "[8080,8080]")).is_err());
        assert!(from_json::<RuntimeContract>(&json.replace("[8080]", "[8081]")).is_err());
        assert!(from_json::<RuntimeContract>(&json.replace("container_apps", "vm")).is_err());
    }

    #[test]
    fn only_retired_services_are_not_deployable() {
        use ServiceLifecycle as L;
        assert!(L::Registered.is_deployable());
        assert!(L::Active.is_deployable());
        assert!(L::Deprecated.is_deployable());
        assert!(!L::Retired.is_deployable());
        assert_eq!(L::Deprecated.to_string(), "Deprecated");
        assert_eq!(serde_json::to_string(&L::Retired).unwrap(), "\"retired\"");
    }
}
