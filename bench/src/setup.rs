//! The objects the benchmark works on, created in a fresh testenv as admin.

use std::collections::BTreeMap;

use anyhow::Context as _;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
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
/// The tenant's namespaces beside [`NAMESPACE`] for the `kubectl get pods -A` workload.
pub const SPREAD_NAMESPACES: usize = 50;
/// Pods in each of them.
pub const SPREAD_PODS: usize = 20;

/// What `kubectl get pods -A --chunk-size=0` asks: every pod the caller may see, one list.
pub const ALL_PODS_PATH: &str = "/api/v1/pods";

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

/// The `kubectl get pods -A` workload's objects: [`SPREAD_NAMESPACES`] more namespaces of the
/// tenant (created as its owner, so Capsule admits and labels them; the owners' group gets
/// `admin` in each, as Capsule grants it), [`SPREAD_PODS`] pods in each on kwok's node, and a
/// ClusterRole that lets the two ServiceAccounts list pods in every namespace: (a) and (e) list
/// as the benchmark's client, (b) as the no-op pass-through, so they list the cluster's pods
/// (these and the few of the environment's own) while (c) and (d) list the tenant's.
pub async fn create_spread(env: &TestEnv) -> anyhow::Result<()> {
    let owners = kubenova_api::identity::tenant_owner_group(TENANT);
    let names: Vec<String> = (0..SPREAD_NAMESPACES)
        .map(|i| format!("{NAMESPACE}-s{i:02}"))
        .collect();
    let namespaces: Vec<serde_json::Value> = names
        .iter()
        .map(|n| serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": namespaces});
    env.kubectl_run(
        &[
            "create",
            "-f",
            "-",
            "--as=kubenova:bench",
            &format!("--as-group={owners}"),
            &format!("--as-group={}", kubenova_api::identity::CAPSULE_USER_GROUP),
        ],
        Some(&list.to_string()),
    )?;
    let mut rbac = format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: bench-list-pods}}
rules:
- {{apiGroups: [""], resources: [pods], verbs: [list]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: bench-list-pods}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bench-list-pods}}
subjects:
- {{kind: ServiceAccount, name: {CLIENT_ACCOUNT}, namespace: {NAMESPACE}}}
- {{kind: ServiceAccount, name: {NOOP_ACCOUNT}, namespace: {NAMESPACE}}}
"#
    );
    for n in &names {
        rbac.push_str(&format!(
            r#"---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: bench-tenant-owner, namespace: {n}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "{owners}"}}
"#
        ));
    }
    env.apply(&rbac)?;
    let client = env.client().await?;
    let creates = names.iter().flat_map(|n| {
        let pods: Api<Pod> = Api::namespaced(client.clone(), n);
        (0..SPREAD_PODS).map(move |i| {
            let pods = pods.clone();
            async move {
                let pod: Pod = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("pod-{i:02}"), "labels": {"app": "bench"}},
                    "spec": {
                        "nodeName": testenv::kwok::NODE_NAME,
                        "containers": [{"name": "main", "image": "registry.example/bench:1"}],
                    },
                }))?;
                pods.create(&PostParams::default(), &pod)
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
    });
    let _: Vec<Pod> = stream::iter(creates)
        .buffer_unordered(16)
        .try_collect()
        .await
        .context("creating the pods of the get pods -A workload")?;
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
