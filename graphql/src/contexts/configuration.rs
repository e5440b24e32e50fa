//! Configuration & secrets context: `RuntimeConfiguration` and `SecretBinding` by id (now or as
//! of a past instant or version, from the log), and one mutation per command. Mutations parse
//! input into domain values (`INVALID_INPUT` before anything is written) and stamp the time at
//! the edge: the domain never reads the clock. A proposal's content hash is computed here, as
//! SHA-256 over `Settings::canonical_json()`; clients never supply it. No error built here
//! repeats a configuration value, and nothing here accepts or returns a secret value.

use std::collections::BTreeSet;

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use domain::configuration::{
    self as cfg, ConfigurationCommand, RuntimeConfiguration, SecretBinding, SecretBindingCommand,
};
use domain::envelope::TenantId;
use domain::ids::{ConfigurationId, EnvironmentId, SecretBindingId, ServiceId};
use sha2::{Digest, Sha256};

use crate::command::{invalid, load, send};
use crate::error::{ApiError, IntoGraphql};
use crate::types::configuration::{
    self as types, BindSecretInput, Configuration, ConfigurationSettingInput, CreateConfigurationInput,
};
use crate::types::environment::CommandOptionsInput;
use crate::types::CommandResult;

/// Configuration & secrets queries.
#[derive(Default)]
pub struct ConfigurationQuery;

/// Configuration & secrets mutations.
#[derive(Default)]
pub struct ConfigurationMutation;

fn configuration_id(id: &ID) -> Result<String, ApiError> {
    ConfigurationId::parse(id.as_str()).map(|id| id.to_string()).map_err(invalid)
}

fn secret_binding_id(id: &ID) -> Result<String, ApiError> {
    SecretBindingId::parse(id.as_str()).map(|id| id.to_string()).map_err(invalid)
}

/// The workload a configuration or binding is for.
fn target(service: &ID, environment: &ID, tenant: Option<&str>) -> Result<cfg::WorkloadTarget, ApiError> {
    Ok(cfg::WorkloadTarget::new(
        ServiceId::parse(service.as_str()).map_err(invalid)?,
        EnvironmentId::parse(environment.as_str()).map_err(invalid)?,
        tenant.map(TenantId::parse).transpose().map_err(invalid)?,
    ))
}

/// A configuration version number from GraphQL's `Int`.
fn config_version(field: &str, version: i64) -> Result<cfg::ConfigVersion, ApiError> {
    u64::try_from(version)
        .map_err(|_| invalid(format!("{field} must be at least 1, got {version}")))
        .and_then(|v| cfg::ConfigVersion::parse(v).map_err(invalid))
}

/// Parses the settings of a proposal. Duplicate keys are refused (naming the key); errors name
/// keys only, never values.
fn settings(input: &[ConfigurationSettingInput]) -> Result<cfg::Settings, ApiError> {
    let mut seen = BTreeSet::new();
    for s in input {
        if !seen.insert(s.key.as_str()) {
            return Err(invalid(format!("configuration key {:?} is given more than once", s.key)));
        }
    }
    cfg::Settings::parse(input.iter().map(|s| (s.key.as_str(), s.value.as_str()))).map_err(invalid)
}

/// SHA-256 of exactly the bytes of `settings.canonical_json()`, as 64 lowercase hex digits.
fn content_hash(settings: &cfg::Settings) -> Result<cfg::ContentHash, ApiError> {
    let digest = Sha256::digest(settings.canonical_json().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    cfg::ContentHash::parse(&hex).map_err(invalid)
}

async fn send_config(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<ConfigurationCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = configuration_id(id).gql()?;
    send::<RuntimeConfiguration>(ctx, &id, command, opts).await
}

async fn send_binding(
    ctx: &Context<'_>,
    id: &ID,
    command: Result<SecretBindingCommand, ApiError>,
    opts: Option<CommandOptionsInput>,
) -> async_graphql::Result<CommandResult> {
    let id = secret_binding_id(id).gql()?;
    send::<SecretBinding>(ctx, &id, command, opts).await
}

#[Object]
impl ConfigurationQuery {
    /// One runtime configuration by id, read from the log: its current state, or its state as
    /// of a past instant (`asOf`) or aggregate version (`atVersion`). `NOT_FOUND` when it did
    /// not exist or belongs to a tenant the caller cannot see.
    async fn configuration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Configuration id (UUID).")] id: ID,
        #[graphql(desc = "Show the state as of this instant.")] as_of: Option<DateTime<Utc>>,
        #[graphql(desc = "Show the state as of this aggregate version (event count).")] at_version: Option<i64>,
    ) -> async_graphql::Result<Configuration> {
        let id = configuration_id(&id).gql()?;
        let loaded = load::<RuntimeConfiguration>(ctx, &id, as_of, at_version).await?;
        Ok(Configuration { id, version: loaded.version as i64, state: loaded.aggregate })
    }

    /// One secret binding by id, read from the log: its current state, or its state as of a
    /// past instant (`asOf`) or aggregate version (`atVersion`). `NOT_FOUND` when it did not
    /// exist or belongs to a tenant the caller cannot see. Never shows a secret value.
    async fn secret_binding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Secret binding id (UUID).")] id: ID,
        #[graphql(desc = "Show the state as of this instant.")] as_of: Option<DateTime<Utc>>,
        #[graphql(desc = "Show the state as of this aggregate version (event count).")] at_version: Option<i64>,
    ) -> async_graphql::Result<types::SecretBinding> {
        let id = secret_binding_id(&id).gql()?;
        let loaded = load::<SecretBinding>(ctx, &id, as_of, at_version).await?;
        Ok(types::SecretBinding { id, version: loaded.version as i64, state: loaded.aggregate })
    }
}

#[Object]
impl ConfigurationMutation {
    /// Creates the configuration of a service in an environment (optionally for one tenant);
    /// one configuration per target. Settings are added with `proposeConfigurationVersion`.
    async fn create_configuration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What the configuration is for.")] input: CreateConfigurationInput,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id = crate::command::new_id::<RuntimeConfiguration>(
            ctx,
            input.id.as_ref(),
            options.as_ref(),
            "CreateConfiguration",
            || ConfigurationId::generate().to_string(),
        )?;
        let command = target(&input.service_id, &input.environment_id, input.tenant_id.as_deref())
            .map(|target| ConfigurationCommand::CreateConfiguration { target, at: Utc::now() });
        send_config(ctx, &id, command, options).await
    }

    /// Proposes a new immutable version with the complete settings (not a patch); it becomes
    /// the next version number and is not active until `activateConfigurationVersion`. The
    /// content hash is computed by the server. Values that look like secrets are refused
    /// (`INVARIANT_VIOLATED`): bind those with `bindSecret`.
    async fn propose_configuration_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Configuration id.")] id: ID,
        #[graphql(desc = "The complete settings of the version; keys unique.")] settings: Vec<
            ConfigurationSettingInput,
        >,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = self::settings(&settings).and_then(|settings| {
            let content_hash = content_hash(&settings)?;
            Ok(ConfigurationCommand::ProposeConfigurationVersion { settings, content_hash, at: Utc::now() })
        });
        send_config(ctx, &id, command, options).await
    }

    /// Makes a proposed version the one workloads should run; it must be newer than the active
    /// one (going back is `rollBackConfigurationToVersion`).
    async fn activate_configuration_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Configuration id.")] id: ID,
        #[graphql(desc = "The version number to activate.")] version: i64,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = config_version("version", version)
            .map(|version| ConfigurationCommand::ActivateVersion { version, at: Utc::now() });
        send_config(ctx, &id, command, options).await
    }

    /// Goes back to a version older than the active one, recording the rollback.
    async fn roll_back_configuration_to_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Configuration id.")] id: ID,
        #[graphql(desc = "The older version number to make active again.")] version: i64,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = config_version("version", version)
            .map(|version| ConfigurationCommand::RollBackToVersion { version, at: Utc::now() });
        send_config(ctx, &id, command, options).await
    }

    /// Records which configuration version a workload reported running.
    async fn record_configuration_workload_sync(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Configuration id.")] id: ID,
        #[graphql(desc = "What the runtime calls the workload (pod, revision, instance).")] workload_id: String,
        #[graphql(desc = "The configuration version it runs.")] running_version: i64,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = (|| {
            Ok(ConfigurationCommand::RecordWorkloadSync {
                workload: cfg::WorkloadId::parse(&workload_id).map_err(invalid)?,
                running_version: config_version("runningVersion", running_version)?,
                at: Utc::now(),
            })
        })();
        send_config(ctx, &id, command, options).await
    }

    /// Asks for a workload to read a Key Vault secret through a managed identity, surfaced as
    /// an environment variable or a mounted file. Takes no secret value: the secret stays in
    /// Key Vault.
    async fn bind_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Where the secret is, who reads it and how it surfaces.")] input: BindSecretInput,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let id =
            crate::command::new_id::<SecretBinding>(ctx, input.id.as_ref(), options.as_ref(), "BindSecret", || {
                SecretBindingId::generate().to_string()
            })?;
        let command = (|| {
            Ok(SecretBindingCommand::BindSecret {
                target: target(&input.service_id, &input.environment_id, input.tenant_id.as_deref())?,
                vault: cfg::KeyVaultUri::parse(&input.vault_uri).map_err(invalid)?,
                secret: cfg::SecretName::parse(&input.secret_name).map_err(invalid)?,
                version: input.version.as_deref().map(cfg::SecretVersion::parse).transpose().map_err(invalid)?,
                identity: cfg::IdentityClientId::parse(&input.identity_client_id).map_err(invalid)?,
                surface: input.surface.parse().map_err(invalid)?,
                rotation: input.rotation.parse().map_err(invalid)?,
                at: Utc::now(),
            })
        })();
        send_binding(ctx, &id, command, options).await
    }

    /// Records that the platform verified the identity can read the secret
    /// (`REQUESTED -> BOUND`), with the version it read (never the value).
    async fn confirm_secret_binding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Secret binding id.")] id: ID,
        #[graphql(
            desc = "The Key Vault secret version read (32 lowercase hex digits); must equal the pinned version, if any."
        )]
        resolved_version: String,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = cfg::SecretVersion::parse(&resolved_version)
            .map_err(invalid)
            .map(|resolved_version| SecretBindingCommand::ConfirmBinding { resolved_version, at: Utc::now() });
        send_binding(ctx, &id, command, options).await
    }

    /// Marks a new version of the secret as due (`BOUND -> ROTATION_DUE`), per the policy or
    /// to rotate early.
    async fn mark_secret_rotation_due(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Secret binding id.")] id: ID,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_binding(ctx, &id, Ok(SecretBindingCommand::MarkRotationDue { at: Utc::now() }), options).await
    }

    /// Records that a new version of the secret was written to Key Vault
    /// (`ROTATION_DUE -> ROTATED`).
    async fn record_secret_rotation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Secret binding id.")] id: ID,
        #[graphql(
            desc = "The new Key Vault secret version (32 lowercase hex digits); must differ from the current one."
        )]
        new_version: String,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = cfg::SecretVersion::parse(&new_version)
            .map_err(invalid)
            .map(|new_version| SecretBindingCommand::RecordRotation { new_version, at: Utc::now() });
        send_binding(ctx, &id, command, options).await
    }

    /// Records that workloads picked up the rotated version (`ROTATED -> BOUND`).
    async fn confirm_secret_rotation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Secret binding id.")] id: ID,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        send_binding(ctx, &id, Ok(SecretBindingCommand::ConfirmRotation { at: Utc::now() }), options).await
    }

    /// Stops surfacing the secret to the workload (from any live status) and frees its
    /// surface; terminal.
    async fn revoke_secret_binding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Secret binding id.")] id: ID,
        #[graphql(desc = "Why it is revoked.")] reason: String,
        #[graphql(desc = "Idempotency, concurrency and correlation options.")] options: Option<CommandOptionsInput>,
    ) -> async_graphql::Result<CommandResult> {
        let command = domain::environments::Reason::parse(&reason)
            .map_err(invalid)
            .map(|reason| SecretBindingCommand::Revoke { reason, at: Utc::now() });
        send_binding(ctx, &id, command, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_sha256_of_canonical_json() {
        let settings = cfg::Settings::parse([("b", "x"), ("A", "1")]).unwrap();
        assert_eq!(settings.canonical_json(), r#"{"A":"1","b":"x"}"#);
        let expected = format!("{:x}", Sha256::digest(br#"{"A":"1","b":"x"}"#));
        assert_eq!(content_hash(&settings).unwrap().as_str(), expected);
        // sha256("{}")
        assert_eq!(
            content_hash(&cfg::Settings::default()).unwrap().as_str(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn setting_errors_name_keys_never_values() {
        let dup = vec![
            ConfigurationSettingInput { key: "K".into(), value: "s3cr3t-one".into() },
            ConfigurationSettingInput { key: "K".into(), value: "s3cr3t-two".into() },
        ];
        let msg = settings(&dup).unwrap_err().to_string();
        assert!(msg.contains("\"K\"") && !msg.contains("s3cr3t"), "{msg}");
        let bad = vec![ConfigurationSettingInput { key: "K".into(), value: "s3cr3t\u{0}".into() }];
        let msg = settings(&bad).unwrap_err().to_string();
        assert!(!msg.contains("s3cr3t"), "{msg}");
    }

    #[test]
    fn schema_builds_and_exposes_no_secret_value() {
        let schema =
            async_graphql::Schema::build(ConfigurationQuery, ConfigurationMutation, async_graphql::EmptySubscription)
                .finish();
        let sdl = schema.sdl();
        for name in [
            "configuration(",
            "secretBinding(",
            "proposeConfigurationVersion(",
            "bindSecret(",
            "input SecretSurfaceInput @oneOf",
        ] {
            assert!(sdl.contains(name), "missing {name}:\n{sdl}");
        }
        let binding = sdl.split("type SecretBinding {").nth(1).unwrap().split('}').next().unwrap();
        let has_value_field = |body: &str| body.lines().any(|l| l.trim_start().to_lowercase().starts_with("value"));
        assert!(!has_value_field(binding), "{binding}");
        let bind_input = sdl.split("input BindSecretInput {").nth(1).unwrap().split('}').next().unwrap();
        assert!(!has_value_field(bind_input), "{bind_input}");
    }
}
