//! Enforcement by the apiserver itself: quotas (per project and tenant-wide) and Pod Security.

use std::time::Duration;

use kube::Api;
use kube::api::DeleteParams;
use kubenova_api::crd::{Project, Tenant};
use kubenova_api::identity;
use serde_json::json;
use testenv::unique_name;

use crate::common::*;

async fn cleanup(t: &str) {
    let tenants: Api<Tenant> = Api::all(client().await);
    tenants
        .delete(t, &DeleteParams::default())
        .await
        .expect("delete tenant");
    gone(&tenants, t, Duration::from_secs(90)).await;
}

#[tokio::test]
async fn a_pod_over_the_project_quota_is_rejected() {
    let t = unique_name("pq");
    apply(tenant(&t, json!({"plan": {"quota": {"pods": 10}}})));
    tenant_ready(&t).await;
    apply(project(
        &t,
        "web",
        json!({"quota": {"pods": 1, "cpu": "1"}}),
    ));
    project_ready(&format!("{t}.web")).await;
    let ns = format!("{t}-web");
    let dev = identity::project_dev_group(&t, "web");
    let as_dev = Some(("kubenova:dana", &[dev.as_str()][..]));
    create_as(as_dev, &pod(&ns, "one", "100m", json!({}))).expect("first pod fits");
    let err = create_as(as_dev, &pod(&ns, "two", "100m", json!({}))).expect_err("over quota");
    assert!(
        err.contains("exceeded quota") && err.contains("pods"),
        "{err}"
    );
    let err =
        create_as(as_dev, &pod(&ns, "big", "2", json!({}))).expect_err("over the cpu quota too");
    assert!(err.contains("exceeded quota"), "{err}");
    // Usage reaches the Project's status.
    let projects: Api<Project> = Api::all(client().await);
    wait_for("usage pods=1", Duration::from_secs(20), || {
        let (projects, name) = (projects.clone(), format!("{t}.web"));
        async move {
            let u = projects.get(&name).await.ok()?.status?.usage?;
            (u.used.get("pods")? == "1").then_some(())
        }
    })
    .await;
    cleanup(&t).await;
}

#[tokio::test]
async fn a_pod_over_the_tenant_wide_quota_is_rejected_across_projects() {
    let t = unique_name("tq");
    // Each project alone would allow 5 pods; the tenant as a whole allows 3.
    apply(tenant(&t, json!({"plan": {"quota": {"pods": 3}}})));
    tenant_ready(&t).await;
    for p in ["a", "b"] {
        apply(project(&t, p, json!({"quota": {"pods": 5}})));
    }
    for p in ["a", "b"] {
        project_ready(&format!("{t}.{p}")).await;
    }
    let (a, b) = (format!("{t}-a"), format!("{t}-b"));
    create_as(None, &pod(&a, "p1", "10m", json!({}))).expect("1 of 3");
    create_as(None, &pod(&a, "p2", "10m", json!({}))).expect("2 of 3");
    create_as(None, &pod(&b, "p3", "10m", json!({}))).expect("3 of 3");
    let err = create_as(None, &pod(&b, "p4", "10m", json!({}))).expect_err("the tenant is full");
    assert!(err.contains("quota") || err.contains("exceed"), "{err}");
    // The tenant's status shows the tenant-wide use.
    let tenants: Api<Tenant> = Api::all(client().await);
    wait_for("tenant usage pods=3", Duration::from_secs(30), || {
        let (tenants, t) = (tenants.clone(), t.clone());
        async move {
            let u = tenants.get(&t).await.ok()?.status?.usage?;
            (u.used.get("pods")? == "3" && u.hard.get("pods")? == "3").then_some(())
        }
    })
    .await;
    cleanup(&t).await;
}

#[tokio::test]
async fn pod_security_labels_make_a_privileged_pod_fail() {
    let t = unique_name("psa");
    apply(tenant(&t, json!({})));
    tenant_ready(&t).await;
    apply(project(&t, "base", json!({})));
    apply(project(&t, "strict", json!({"podSecurity": "restricted"})));
    project_ready(&format!("{t}.base")).await;
    project_ready(&format!("{t}.strict")).await;
    let base = format!("{t}-base");
    let dev = identity::project_dev_group(&t, "base");
    let as_dev = Some(("kubenova:dana", &[dev.as_str()][..]));
    let privileged = json!({"securityContext": {"privileged": true}});
    let err = create_as(as_dev, &pod(&base, "priv", "10m", privileged.clone()))
        .expect_err("baseline refuses");
    assert!(err.contains("violates PodSecurity \"baseline"), "{err}");
    create_as(as_dev, &pod(&base, "plain", "10m", json!({})))
        .expect("a plain pod is fine under baseline");

    let strict = format!("{t}-strict");
    let err = create_as(None, &pod(&strict, "plain", "10m", json!({})))
        .expect_err("restricted refuses a plain pod");
    assert!(err.contains("violates PodSecurity \"restricted"), "{err}");
    let hardened = json!({"securityContext": {
        "allowPrivilegeEscalation": false, "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}});
    create_as(None, &pod(&strict, "hardened", "10m", hardened))
        .expect("a hardened pod passes restricted");
    cleanup(&t).await;
}
