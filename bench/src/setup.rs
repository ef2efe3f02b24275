//! The objects the benchmark works on, created in a fresh testenv as admin.

use std::collections::BTreeMap;

use anyhow::Context as _;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use testenv::TestEnv;

/// The tenant the benchmark's token belongs to.
pub const TENANT: &str = "bench";
/// The namespace, labelled as a namespace of [`TENANT`].
pub const NAMESPACE: &str = "bench";
/// The 1 KiB ConfigMap the GET workloads read.
pub const CONFIGMAP: &str = "bench-1k";
/// How many more ConfigMaps the LIST workloads read.
pub const LIST_COUNT: usize = 1000;
/// ServiceAccount whose token the load generator presents to kube-apiserver in (a).
pub const CLIENT_ACCOUNT: &str = "bench-client";
/// ServiceAccount whose token the no-op pass-through (b) presents upstream.
pub const NOOP_ACCOUNT: &str = "bench-noop";

/// Path of the ConfigMap the GET workloads read.
pub fn configmap_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}")
}

/// Path of the namespace's ConfigMaps.
pub fn list_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/configmaps")
}

/// Creates the Capsule Tenant, its namespace (created as the tenant owner, so Capsule admits it
/// and labels it), RBAC and ConfigMaps. Everyone the load reaches the apiserver as has the
/// `admin` ClusterRole in the namespace and nothing else: the two ServiceAccounts, and the
/// group kubenova-proxy impersonates for a tenant owner of [`TENANT`] (Capsule grants the
/// owners `admin` too).
pub async fn create(env: &TestEnv) -> anyhow::Result<()> {
    let owners = kubenova_api::identity::tenant_owner_group(TENANT);
    env.create_capsule_tenant(TENANT, &owners)?;
    env.kubectl_run(
        &[
            "create",
            "namespace",
            NAMESPACE,
            "--as=kubenova:bench",
            &format!("--as-group={owners}"),
            &format!("--as-group={}", kubenova_api::identity::CAPSULE_USER_GROUP),
        ],
        None,
    )?;
    env.apply(&format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: {CLIENT_ACCOUNT}, namespace: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {NOOP_ACCOUNT}, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: bench-admin, namespace: {NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}}
subjects:
- {{kind: ServiceAccount, name: {CLIENT_ACCOUNT}, namespace: {NAMESPACE}}}
- {{kind: ServiceAccount, name: {NOOP_ACCOUNT}, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: bench-tenant-owner, namespace: {NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "{owners}"}}
"#
    ))?;
    let client = env.client().await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
    let configmap = |name: String| ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("payload".to_owned(), "x".repeat(1024))])),
        ..ConfigMap::default()
    };
    configmaps
        .create(&PostParams::default(), &configmap(CONFIGMAP.to_owned()))
        .await
        .context("creating the 1 KiB ConfigMap")?;
    let creates = (0..LIST_COUNT).map(|i| {
        let (configmaps, object) = (configmaps.clone(), configmap(format!("list-{i:04}")));
        async move { configmaps.create(&PostParams::default(), &object).await }
    });
    let _: Vec<ConfigMap> = stream::iter(creates)
        .buffer_unordered(16)
        .try_collect()
        .await
        .context("creating the ConfigMaps to list")?;
    Ok(())
}

/// A TokenRequest token (valid for a day) for ServiceAccount `account` of [`NAMESPACE`].
pub async fn token(env: &TestEnv, account: &str) -> anyhow::Result<String> {
    let accounts: Api<ServiceAccount> = Api::namespaced(env.client().await?, NAMESPACE);
    let request: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": { "expirationSeconds": 24 * 3600 }
    }))?;
    accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await?
        .status
        .and_then(|s| s.token)
        .context("TokenRequest returned no token")
}

/// The resourceVersion of the namespace's ConfigMaps now: a watch from there replays nothing.
pub async fn resource_version(env: &TestEnv) -> anyhow::Result<String> {
    let configmaps: Api<ConfigMap> = Api::namespaced(env.client().await?, NAMESPACE);
    configmaps
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .context("the list has no resourceVersion")
}
