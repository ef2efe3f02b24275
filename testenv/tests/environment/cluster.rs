//! The environment is a real Kubernetes: the apiserver stores and serves objects, controllers
//! run, pods reach Running on the kwok node and answer `logs`/`exec`, ServiceAccount tokens
//! work, and impersonation is only allowed through RBAC.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};

use crate::support::{create_namespace, eventually, from_json, test_dir};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use testenv::kubeconfig::Credential;
use testenv::{TestEnv, unique_name};

#[tokio::test]
async fn lists_namespaces_and_creates_a_configmap() {
    let env = TestEnv::shared();
    let client = env.client().await.expect("admin client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("namespaces listed")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for expected in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    let ns = unique_name("cm");
    create_namespace(&client, &ns).await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client, &ns);
    configmaps
        .create(
            &PostParams::default(),
            &from_json(
                json!({ "metadata": { "name": "settings" }, "data": { "greeting": "hello" } }),
            ),
        )
        .await
        .expect("configmap created");
    let stored = configmaps
        .get("settings")
        .await
        .expect("configmap read back");
    assert_eq!(
        stored
            .data
            .unwrap_or_default()
            .get("greeting")
            .map(String::as_str),
        Some("hello")
    );
}

#[tokio::test]
async fn kubectl_reads_the_cluster_with_the_admin_kubeconfig() {
    let env = TestEnv::shared();
    let out = env
        .kubectl_run(&["get", "ns", "kube-system", "-o", "name"], None)
        .expect("kubectl get ns");
    assert_eq!(out.trim(), "namespace/kube-system");
    let version = env
        .kubectl_run(&["version", "-o", "json"], None)
        .expect("kubectl version");
    let version: serde_json::Value = serde_json::from_str(&version).expect("version JSON");
    let server = version["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(server.starts_with("v1.36."), "server version {server}");
}

#[tokio::test]
async fn deployment_pods_run_on_the_kwok_node_and_answer_logs_and_exec() {
    let env = TestEnv::shared();
    let client = env.client().await.expect("admin client");
    let ns = unique_name("kwok");
    create_namespace(&client, &ns).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": { "name": "web" },
                "spec": {
                    "replicas": 2,
                    "selector": { "matchLabels": { "app": "web" } },
                    "template": {
                        "metadata": { "labels": { "app": "web" } },
                        "spec": { "containers": [{ "name": "web", "image": "nginx:1.27" }] },
                    },
                },
            })),
        )
        .await
        .expect("deployment created");

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    eventually(
        "two Running pods on the kwok node",
        Duration::from_secs(60),
        || {
            let pods = pods.clone();
            async move {
                let list = pods.list(&ListParams::default().labels("app=web")).await;
                let running = list.map(|l| {
                    l.items
                        .iter()
                        .filter(|p| {
                            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                                && p.spec.as_ref().and_then(|s| s.node_name.as_deref())
                                    == Some(testenv::kwok::NODE_NAME)
                        })
                        .count()
                });
                running.unwrap_or(0) == 2
            }
        },
    )
    .await;
    eventually(
        "the deployment to report 2 available replicas",
        Duration::from_secs(30),
        || {
            let deployments = deployments.clone();
            async move {
                deployments
                    .get("web")
                    .await
                    .ok()
                    .and_then(|d| d.status)
                    .and_then(|s| s.available_replicas)
                    == Some(2)
            }
        },
    )
    .await;

    let pod = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods listed")
        .items
        .remove(0)
        .metadata
        .name
        .expect("pod name");
    let logs = env
        .kubectl_run(&["logs", "-n", &ns, &pod], None)
        .expect("kubectl logs");
    assert_eq!(logs.lines().collect::<Vec<_>>(), env.kwok.log_lines);

    let exec = env
        .kubectl_run(
            &["exec", "-n", &ns, &pod, "--", "echo", "hello from exec"],
            None,
        )
        .expect("kubectl exec");
    assert_eq!(exec.trim(), "hello from exec");
}

#[tokio::test]
async fn token_request_tokens_authenticate_and_impersonation_needs_rbac() {
    let env = TestEnv::shared();
    let client = env.client().await.expect("admin client");
    let ns = unique_name("sa");
    create_namespace(&client, &ns).await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    accounts
        .create(
            &PostParams::default(),
            &from_json(json!({ "metadata": { "name": "robot" } })),
        )
        .await
        .expect("service account created");
    let request: TokenRequest = from_json(json!({ "spec": { "expirationSeconds": 600 } }));
    let token = accounts
        .create_token_request("robot", &PostParams::default(), &request)
        .await
        .expect("TokenRequest")
        .status
        .and_then(|s| s.token)
        .expect("a token in the TokenRequest status");

    let dir = test_dir(&ns);
    let kubeconfig = dir.join("robot.kubeconfig");
    env.write_kubeconfig(&kubeconfig, Credential::Token(&token))
        .expect("kubeconfig written");
    let whoami = testenv::env::run(
        env.kubectl_with(&kubeconfig),
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
        None,
    )
    .expect("kubectl auth whoami with the TokenRequest token");
    assert_eq!(whoami, format!("system:serviceaccount:{ns}:robot"));

    // Nothing grants the ServiceAccount `impersonate`, so asking to act as someone else fails.
    let err = testenv::env::run(
        env.kubectl_with(&kubeconfig),
        &[
            "get",
            "ns",
            "--as=kubenova-testenv-admin",
            "--as-group=system:masters",
        ],
        None,
    )
    .expect_err("impersonation without RBAC must fail");
    assert!(
        err.to_string().contains("cannot impersonate"),
        "unexpected error: {err}"
    );
}
