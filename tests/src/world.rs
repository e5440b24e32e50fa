//! Two tenants' worth of data across all nine aggregates, made through GraphQL: one
//! platform-wide environment and service, and for each tenant a binding, a secret binding, a
//! configuration, a scaling policy, a deployment, a health record and a drift finding, each
//! tenant's commands under a trace of its own. The isolation tests read and write it as one
//! tenant and look for the other.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::{environment_input, TestApp};

/// The tenants of the world.
pub const TENANTS: [&str; 2] = ["contoso", "fabrikam"];

/// One tenant's aggregates.
#[derive(Debug, Clone)]
pub struct TenantData {
    /// The tenant id.
    pub tenant: String,
    /// The trace its commands ran under.
    pub trace_id: String,
    /// Aggregate ids by aggregate type (`RuntimeTenantBinding`, `SecretBinding`, ...).
    pub aggregates: BTreeMap<&'static str, String>,
}

impl TenantData {
    /// The id of its aggregate of `aggregate_type`.
    pub fn id(&self, aggregate_type: &str) -> &str {
        &self.aggregates[aggregate_type]
    }
}

/// What the world holds.
#[derive(Debug, Clone)]
pub struct World {
    /// The platform-wide environment (Ready).
    pub environment: String,
    /// The platform-wide service (Active).
    pub service: String,
    /// Per tenant.
    pub tenants: BTreeMap<String, TenantData>,
}

const RESULT: &str = "{ aggregateId version }";

async fn run(app: &TestApp, headers: &[(&str, &str)], mutation: &str, variables: Value) -> String {
    let (status, response) = app.post(json!({ "query": mutation, "variables": variables }), headers).await;
    assert!(response["errors"].is_null() && status.is_success(), "{mutation}: {status} {response}");
    response["data"].as_object().unwrap().values().next().unwrap()["aggregateId"].as_str().unwrap().to_owned()
}

fn contract() -> Value {
    json!({ "image": "platform.azurecr.io/shop/api", "ports": [8080],
            "liveness": { "kind": "HTTP", "path": "/healthz", "port": 8080, "periodSeconds": 10, "timeoutSeconds": 2 },
            "minReplicas": 1, "maxReplicas": 5, "compute": "AKS" })
}

/// Builds the world with `admin` headers (a PlatformAdmin: a token, or development headers).
pub async fn build(app: &TestApp, admin: &[(&str, &str)]) -> World {
    let env = run(
        app,
        admin,
        &format!("mutation($i: RequestEnvironmentInput!) {{ requestEnvironment(input: $i) {RESULT} }}"),
        json!({ "i": environment_input("shop", "shared", "DEV") }),
    )
    .await;
    run(
        app,
        admin,
        &format!("mutation($id: ID!) {{ recordProvisioningStarted(id: $id) {RESULT} }}"),
        json!({ "id": env }),
    )
    .await;
    run(
        app,
        admin,
        &format!("mutation($id: ID!, $o: ProvisioningOutputsInput!) {{ recordProvisioningSucceeded(id: $id, outputs: $o) {RESULT} }}"),
        json!({ "id": env, "o": { "endpoints": [], "resourceIds": [], "stackVersion": 1 } }),
    )
    .await;
    let service = run(
        app,
        admin,
        &format!("mutation($i: RegisterServiceInput!) {{ registerService(input: $i) {RESULT} }}"),
        json!({ "i": { "product": "shop", "name": "api", "kind": "MICROSERVICE", "blueprint": "blueprints/api@3", "contract": contract() } }),
    )
    .await;
    run(app, admin, &format!("mutation($id: ID!) {{ activateService(id: $id) {RESULT} }}"), json!({ "id": service }))
        .await;

    let mut tenants = BTreeMap::new();
    for (i, tenant) in TENANTS.iter().enumerate() {
        let trace_id = format!("{:032x}", 0xabc0_0000_u128 + i as u128 + 1);
        let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
        let mut headers: Vec<(&str, &str)> = admin.to_vec();
        headers.push(("traceparent", traceparent.as_str()));
        let h = headers.as_slice();
        let mut aggregates = BTreeMap::new();
        let binding = run(app, h, &format!("mutation($i: BindTenantInput!) {{ bindTenant(input: $i) {RESULT} }}"), json!({ "i": {
            "tenantId": tenant, "environmentId": env, "isolation": "NAMESPACE_PER_TENANT", "namespace": format!("{tenant}-ns"),
            "workloadIdentityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11", "networkPolicy": { "kind": "DENY_CROSS_TENANT" },
            "dataPartition": format!("{tenant}-data"),
            "quotas": { "cpuMillicores": 4000, "memoryMib": 8192, "replicas": 10, "storageGib": 100, "requestsPerSecond": 1000 } } })).await;
        run(
            app,
            h,
            &format!("mutation($id: ID!) {{ activateTenantBinding(id: $id) {RESULT} }}"),
            json!({ "id": binding }),
        )
        .await;
        aggregates.insert("RuntimeTenantBinding", binding);
        let secret = run(app, h, &format!("mutation($i: BindSecretInput!) {{ bindSecret(input: $i) {RESULT} }}"), json!({ "i": {
            "serviceId": service, "environmentId": env, "tenantId": tenant, "vaultUri": format!("https://kv-{tenant}.vault.azure.net/"),
            "secretName": format!("{tenant}-db-password"), "identityClientId": "0b3c1f7e-8a8e-4c55-9d1a-7f0c6b2a9e11",
            "surface": { "envVar": "DB_PASSWORD" }, "rotation": { "everyDays": 90, "notifyBeforeDays": 14 } } })).await;
        aggregates.insert("SecretBinding", secret);
        let config = run(
            app,
            h,
            &format!("mutation($i: CreateConfigurationInput!) {{ createConfiguration(input: $i) {RESULT} }}"),
            json!({ "i": { "serviceId": service, "environmentId": env, "tenantId": tenant } }),
        )
        .await;
        run(app, h, &format!("mutation($id: ID!, $s: [ConfigurationSettingInput!]!) {{ proposeConfigurationVersion(id: $id, settings: $s) {RESULT} }}"),
            json!({ "id": config, "s": [{ "key": "BRAND", "value": format!("{tenant}-brand") }] })).await;
        aggregates.insert("RuntimeConfiguration", config);
        let policy = run(
            app,
            h,
            &format!("mutation($i: DefineScalingPolicyInput!) {{ defineScalingPolicy(input: $i) {RESULT} }}"),
            json!({ "i": { "serviceId": service, "environmentId": env, "tenantId": tenant, "spec": {
                "replicas": { "min": 1, "max": 4 }, "triggers": [{ "kind": "CPU", "targetPercent": 70 }],
                "scaleUpStabilizationSeconds": 0, "scaleDownStabilizationSeconds": 300, "cooldownSeconds": 60 } } }),
        )
        .await;
        aggregates.insert("ScalingPolicy", policy);
        let deployment = run(app, h, &format!("mutation($i: StartDeploymentInput!) {{ startDeployment(input: $i) {RESULT} }}"),
            json!({ "i": { "service": service, "environment": env, "tenant": tenant,
                "artifact": { "digest": format!("sha256:{}", "7f".repeat(32)), "version": "1.0.0", "commit": "9".repeat(40) },
                "strategy": { "kind": "ROLLING" }, "gates": [{ "name": "availability", "kind": "AVAILABILITY", "threshold": 99.0 }] } })).await;
        aggregates.insert("RuntimeDeployment", deployment);
        let health = run(
            app,
            h,
            &format!("mutation($i: TrackHealthInput!) {{ trackHealth(input: $i) {RESULT} }}"),
            json!({ "i": { "serviceId": service, "environmentId": env, "tenantId": tenant } }),
        )
        .await;
        run(app, h, &format!("mutation($id: ID!) {{ recordProbeResult(id: $id, probe: {{ kind: READINESS }}, passed: false, latencyMs: 12, detail: \"{tenant} readiness\") {RESULT} }}"),
            json!({ "id": health })).await;
        aggregates.insert("RuntimeHealth", health);
        let drift = run(app, h, &format!("mutation($i: DetectDriftInput!) {{ detectDrift(input: $i) {RESULT} }}"),
            json!({ "i": { "environmentId": env, "serviceId": service, "tenantId": tenant, "class": "VERSION", "desired": "1.0.0", "observed": format!("{tenant}-9.9.9") } })).await;
        aggregates.insert("DriftFinding", drift);
        tenants.insert(tenant.to_string(), TenantData { tenant: tenant.to_string(), trace_id, aggregates });
    }
    World { environment: env, service, tenants }
}
