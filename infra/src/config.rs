//! The command line: `serve`, `migrate`, `rebuild`. Every flag also reads an environment
//! variable, so containers configure it without arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Runtime & Cloud Platform control plane.
#[derive(Debug, Parser)]
#[command(name = "runtime-platform", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the API (GraphQL, health) with the projectors running.
    Serve(Box<ServeArgs>),
    /// Apply pending migrations and exit.
    Migrate(DatabaseArgs),
    /// Replay the whole log into a projection (all of them when none is named).
    Rebuild(RebuildArgs),
    /// Mint a bearer token signed with the local signing key (`APP_AUTH_SIGNING_KEY`), for
    /// GraphiQL and scripts against a server configured with the same key.
    Token(TokenArgs),
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. When absent, a private cluster is started from the installed
    /// PostgreSQL binaries under `--data-dir`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Data directory of the private cluster (used only without a database URL).
    #[arg(long, env = "APP_DATA_DIR", default_value = ".data/postgres")]
    pub data_dir: PathBuf,
    /// Port of the private cluster (listens on 127.0.0.1 only).
    #[arg(long, env = "APP_PG_PORT", default_value_t = 54329)]
    pub pg_port: u16,
    /// Largest number of pooled connections.
    #[arg(long, env = "APP_DB_MAX_CONNECTIONS", default_value_t = 32)]
    pub max_connections: u32,
}

/// `serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address of the API (`/graphql`). Without authentication it must be a loopback address.
    #[arg(long, env = "APP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the operations listener: `/metrics`, `/healthz`, `/readyz` (kept off the
    /// API's listener so metrics are not served to API callers).
    #[arg(long, env = "APP_OPS_LISTEN", default_value = "127.0.0.1:9464")]
    pub ops_listen: SocketAddr,
    /// Workers (control loops) not to run in this replica, comma-separated names
    /// (`supersession`, `drift-remediation`, `degraded-rollback`, `deployment-gate`,
    /// `health-probe`, `drift-detection`, `configuration-sync`, `secret-rotation`, `scaling`;
    /// with Service Bus, `integration-relay` and `command-intake`); every other worker runs.
    #[arg(long, env = "APP_WORKERS_OFF", value_delimiter = ',')]
    pub workers_off: Vec<String>,
    /// How long a loop's lease lasts without renewal, in seconds: the longest a dead leader's
    /// loop stays idle before another replica takes it over (renewed every third of it).
    #[arg(long, env = "APP_WORKER_LEASE_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub worker_lease_seconds: u64,
    /// Who callers are.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Limits on what callers send.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Azure Service Bus: events out, commands in.
    #[command(flatten)]
    pub servicebus: ServiceBusArgs,
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Authentication. With neither an issuer nor a signing key, `serve` runs in development mode:
/// identity from headers, loopback only.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// OIDC issuer whose tokens are accepted, e.g. `https://login.microsoftonline.com/<tenant
    /// id>/v2.0` for Microsoft Entra ID; its keys come from its discovery document's JWKS.
    #[arg(long, env = "APP_AUTH_ISSUER")]
    pub issuer: Option<String>,
    /// Audience tokens must name (`aud`): the API's application id URI or client id.
    #[arg(long, env = "APP_AUTH_AUDIENCE", default_value = "runtime-platform")]
    pub audience: String,
    /// Discovery document URL, when not `<issuer>/.well-known/openid-configuration`.
    #[arg(long, env = "APP_AUTH_DISCOVERY_URL")]
    pub discovery_url: Option<String>,
    /// A local HS256 signing key (at least 32 bytes) instead of an issuer: tokens minted by
    /// `runtime-platform token` with the same key are accepted.
    #[arg(long, env = "APP_AUTH_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
    /// Issuer of locally minted tokens.
    #[arg(long, env = "APP_AUTH_LOCAL_ISSUER", default_value = "runtime-platform-local")]
    pub local_issuer: String,
    /// Claim naming the caller (Entra ID: `oid`, stable across applications).
    #[arg(long, env = "APP_AUTH_SUBJECT_CLAIM", default_value = "sub")]
    pub subject_claim: String,
    /// Claim listing the caller's roles (Entra ID app roles: `roles`).
    #[arg(long, env = "APP_AUTH_ROLES_CLAIM", default_value = "roles")]
    pub roles_claim: String,
    /// Claim listing the tenants a TenantOperator operates.
    #[arg(long, env = "APP_AUTH_TENANTS_CLAIM", default_value = "tenants")]
    pub tenants_claim: String,
    /// Clock skew tolerated on `exp` / `nbf`, in seconds (at most 300).
    #[arg(long, env = "APP_AUTH_LEEWAY_SECONDS", default_value_t = 60)]
    pub leeway_seconds: u64,
    /// Least time between two JWKS fetches caused by tokens with an unknown key id.
    #[arg(long, env = "APP_AUTH_UNKNOWN_KID_COOLDOWN_SECONDS", default_value_t = 60)]
    pub unknown_kid_cooldown_seconds: u64,
}

/// Limits on requests.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Sustained requests per second per caller (token subject); 0 switches the limit off.
    #[arg(long, env = "APP_RATE_PER_SECOND", default_value_t = 2_000)]
    pub rate_per_second: u32,
    /// Requests a caller may send at once above its sustained rate.
    #[arg(long, env = "APP_RATE_BURST", default_value_t = 4_000)]
    pub rate_burst: u32,
    /// Longest a query or mutation may run, in seconds.
    #[arg(long, env = "APP_OPERATION_TIMEOUT_SECONDS", default_value_t = 30)]
    pub operation_timeout_seconds: u64,
    /// Whether introspection (`__schema`, `__type`; GraphiQL's schema view) answers.
    #[arg(long, env = "APP_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// A JSON file of allowed documents (an array of documents, or an object from SHA-256 hex
    /// to document); when set, nothing else runs.
    #[arg(long, env = "APP_PERSISTED_QUERIES")]
    pub persisted_queries: Option<PathBuf>,
}

/// Azure Service Bus. Without a namespace the server runs without it (and says so at start).
/// Authentication: a shared access policy and key, or else Microsoft Entra ID through
/// `azure_identity` (workload or managed identity: `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
/// `AZURE_FEDERATED_TOKEN_FILE`, or `AZURE_CREDENTIAL_KIND`).
#[derive(Debug, Clone, Args)]
pub struct ServiceBusArgs {
    /// The namespace: `<name>` of `<name>.servicebus.windows.net`.
    #[arg(long = "servicebus-namespace", env = "APP_SERVICEBUS_NAMESPACE")]
    pub namespace: Option<String>,
    /// The topic every committed event is published to.
    #[arg(long = "servicebus-topic", env = "APP_SERVICEBUS_TOPIC", default_value = "runtime-platform-events")]
    pub topic: String,
    /// The queue the Control Plane's commands come from (empty: no command intake).
    #[arg(long = "servicebus-queue", env = "APP_SERVICEBUS_QUEUE", default_value = "runtime-platform-commands")]
    pub queue: String,
    /// A shared access policy's name (with its key); without both, Microsoft Entra ID.
    #[arg(long = "servicebus-sas-policy", env = "APP_SERVICEBUS_SAS_POLICY")]
    pub sas_policy: Option<String>,
    /// The shared access policy's key.
    #[arg(long = "servicebus-sas-key", env = "APP_SERVICEBUS_SAS_KEY", hide_env_values = true)]
    pub sas_key: Option<String>,
    /// Send every request to this base URL instead of `https://<namespace>.servicebus.windows.net`
    /// (an emulator or a test's endpoint).
    #[arg(long = "servicebus-endpoint", env = "APP_SERVICEBUS_ENDPOINT")]
    pub endpoint: Option<String>,
    /// How long one receive waits for a command, in seconds (1 to 60).
    #[arg(long = "servicebus-receive-wait", env = "APP_SERVICEBUS_RECEIVE_WAIT_SECONDS", default_value_t = 30)]
    pub receive_wait_seconds: u64,
}

impl ServiceBusArgs {
    /// The adapter's configuration.
    pub fn config(&self) -> integration::config::ServiceBusConfig {
        integration::config::ServiceBusConfig {
            namespace: self.namespace.clone(),
            topic: self.topic.clone(),
            queue: Some(self.queue.clone()),
            sas_policy: self.sas_policy.clone(),
            sas_key: self.sas_key.clone(),
            endpoint: self.endpoint.clone(),
            receive_wait_seconds: self.receive_wait_seconds,
        }
    }
}

/// `token` settings.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The caller's name (`sub`).
    #[arg(long, default_value = "developer")]
    pub subject: String,
    /// A role to grant (repeatable): PlatformAdmin, TenantOperator, ControlPlane,
    /// GovernanceAuditor, Worker.
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// A tenant the caller operates (repeatable; a TenantOperator needs one).
    #[arg(long = "tenant")]
    pub tenants: Vec<String>,
    /// How long the token is valid, in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    pub ttl_seconds: u64,
    /// The signing key, as `serve` has it.
    #[arg(long, env = "APP_AUTH_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: String,
    /// Issuer, as `serve` has it.
    #[arg(long, env = "APP_AUTH_LOCAL_ISSUER", default_value = "runtime-platform-local")]
    pub local_issuer: String,
    /// Audience, as `serve` has it.
    #[arg(long, env = "APP_AUTH_AUDIENCE", default_value = "runtime-platform")]
    pub audience: String,
}

/// `rebuild` settings.
#[derive(Debug, Clone, Args)]
pub struct RebuildArgs {
    /// The projection to rebuild (e.g. `environments`); all when absent.
    pub projection: Option<String>,
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseArgs,
}
