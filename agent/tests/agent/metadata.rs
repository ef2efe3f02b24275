//! Labels and annotations of tenants and projects (ADR 0019): the tenant's on every namespace of
//! the tenant (through Capsule, also on namespaces its owners make), the project's on its
//! namespace, the tenant's winning on a shared key, and removals removed from project namespaces.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, ResourceExt as _};
use serde_json::json;
use testenv::unique_name;

use crate::common::{
    apply, client, kubectl_with, owner_kubeconfig, project, project_ready, tenant, tenant_ready,
};

/// Waits until namespace `ns` shows `labels` and `annotations` as `want` says (a `None` value:
/// the key is absent).
async fn shows(
    ns: &str,
    labels: &[(&str, Option<&str>)],
    annotations: &[(&str, Option<&str>)],
) -> Namespace {
    let api: Api<Namespace> = Api::all(client().await);
    let matches = |have: &BTreeMap<String, String>, want: &[(&str, Option<&str>)]| {
        want.iter()
            .all(|(k, v)| have.get(*k).map(String::as_str) == *v)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = api.get_opt(ns).await.expect("namespace read");
        if let Some(n) = n {
            if matches(n.labels(), labels) && matches(n.annotations(), annotations) {
                return n;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "namespace {ns}: want labels {labels:?} and annotations {annotations:?}; has labels {:?} and annotations {:?}",
                n.labels(),
                n.annotations()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn tenant_and_project_labels_reach_their_namespaces_and_leave_with_the_spec() {
    let t = unique_name("meta");
    apply(tenant(
        &t,
        json!({"plan": {"quota": {"namespaces": 4}},
               "labels": {"team": "payments", "example.com/cost-center": "cc-42"},
               "annotations": {"example.com/contact": "payments@example.com"}}),
    ));
    tenant_ready(&t).await;
    apply(project(
        &t,
        "web",
        json!({"labels": {"tier": "frontend", "team": "not-the-tenants"},
               "annotations": {"example.com/runbook": "https://wiki/web"}}),
    ));
    project_ready(&format!("{t}.web")).await;
    let ns = format!("{t}-web");
    shows(
        &ns,
        &[
            ("team", Some("payments")),
            ("example.com/cost-center", Some("cc-42")),
            ("tier", Some("frontend")),
        ],
        &[
            ("example.com/contact", Some("payments@example.com")),
            ("example.com/runbook", Some("https://wiki/web")),
        ],
    )
    .await;

    // A namespace the tenant's owner makes with kubectl gets the tenant's too.
    let alice = owner_kubeconfig(&t, "alice");
    let own = format!("{t}-scratch");
    kubectl_with(&alice, &["create", "namespace", &own], None).expect("the owner makes one");
    shows(
        &own,
        &[("team", Some("payments")), ("tier", None)],
        &[("example.com/contact", Some("payments@example.com"))],
    )
    .await;

    // Taken out of the specs: gone from the namespaces; changed: changed.
    apply(tenant(
        &t,
        json!({"plan": {"quota": {"namespaces": 4}},
               "labels": {"team": "billing"}}),
    ));
    apply(project(&t, "web", json!({})));
    shows(
        &ns,
        &[
            ("team", Some("billing")),
            ("example.com/cost-center", None),
            ("tier", None),
        ],
        &[("example.com/contact", None), ("example.com/runbook", None)],
    )
    .await;
    // On a namespace its owner made, Capsule (v0.14) updates the tenant's values; whether it
    // removes a dropped key depends on how its webhook and controller met the namespace, so
    // only the update is promised there (docs/agent.md, ADR 0019).
    shows(&own, &[("team", Some("billing"))], &[]).await;
}
