//! Projects: every object in the namespace, access, updates, collisions, deletion.

use std::time::Duration;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::DeleteParams;
use kubenova_agent::names;
use kubenova_api::crd::{Project, Tenant};
use kubenova_api::{identity, labels};
use serde_json::json;
use testenv::unique_name;

use crate::common::*;

#[tokio::test]
async fn a_project_gets_its_namespace_quota_limits_isolation_and_access() {
    let t = unique_name("proj");
    apply(tenant(
        &t,
        json!({"plan": {"quota": {"cpu": "4", "memory": "4Gi", "pods": 20},
                        "limits": {"defaultCpuRequest": "100m", "defaultMemoryRequest": "64Mi"}}}),
    ));
    tenant_ready(&t).await;
    let name = format!("{t}.web");
    apply(project(
        &t,
        "web",
        json!({"quota": {"cpu": "1", "pods": 5}}),
    ));
    let ready = project_ready(&name).await;
    let ns = format!("{t}-web");
    let status = ready.status.expect("status");
    assert_eq!(status.namespace.as_deref(), Some(ns.as_str()));
    let usage = status.usage.expect("usage from the ResourceQuota");
    assert_eq!(usage.hard.get("pods").map(String::as_str), Some("5"));
    assert_eq!(usage.used.get("pods").map(String::as_str), Some("0"));

    let client = client().await;
    let namespace = Api::<Namespace>::all(client.clone())
        .get(&ns)
        .await
        .expect("namespace");
    let l = namespace.metadata.labels.clone().unwrap_or_default();
    assert_eq!(l.get(labels::TENANT), Some(&t));
    assert_eq!(l.get(labels::PROJECT).map(String::as_str), Some("web"));
    assert_eq!(l.get(labels::CAPSULE_TENANT), Some(&t));
    assert_eq!(
        l.get(labels::MANAGED_BY).map(String::as_str),
        Some("kubenova")
    );
    assert_eq!(
        l.get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("baseline")
    );
    let refs = namespace
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert!(
        refs.iter().any(|r| r.kind == "Tenant"
            && r.name == t
            && r.api_version.starts_with("capsule.clastix.io/")),
        "{refs:?}"
    );

    let rq = Api::<ResourceQuota>::namespaced(client.clone(), &ns)
        .get(names::QUOTA)
        .await
        .expect("quota");
    let hard = rq.spec.and_then(|s| s.hard).unwrap_or_default();
    assert_eq!(hard.get("requests.cpu").map(|q| q.0.as_str()), Some("1"));
    assert_eq!(hard.get("pods").map(|q| q.0.as_str()), Some("5"));
    let lr = Api::<LimitRange>::namespaced(client.clone(), &ns)
        .get(names::LIMITS)
        .await
        .expect("limits");
    let item = &lr.spec.expect("spec").limits[0];
    assert_eq!(item.type_, "Container");
    assert_eq!(
        item.default_request
            .as_ref()
            .and_then(|d| d.get("cpu"))
            .map(|q| q.0.as_str()),
        Some("100m")
    );

    // NetworkPolicy: everything denied but the tenant's own namespaces and DNS.
    let np = Api::<NetworkPolicy>::namespaced(client.clone(), &ns)
        .get(names::NETWORK_POLICY)
        .await
        .expect("np");
    let np = serde_json::to_value(np.spec.expect("spec")).expect("json");
    assert_eq!(np["podSelector"], json!({}));
    assert_eq!(np["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        np["ingress"],
        json!([{"from": [{"namespaceSelector": {"matchLabels": {labels::CAPSULE_TENANT: t}}}]}])
    );
    assert_eq!(
        np["egress"][0],
        json!({"to": [{"namespaceSelector": {"matchLabels": {labels::CAPSULE_TENANT: t}}}]})
    );
    assert_eq!(
        np["egress"][1]["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
    assert_eq!(
        np["egress"][1]["ports"],
        json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}])
    );
    assert_eq!(np["egress"].as_array().map(Vec::len), Some(2));

    let rbs = Api::<RoleBinding>::namespaced(client.clone(), &ns);
    let dev = rbs.get(names::DEV_BINDING).await.expect("dev binding");
    assert_eq!(dev.role_ref.name, names::PROJECT_DEV_ROLE);
    assert_eq!(
        dev.subjects.unwrap_or_default()[0].name,
        identity::project_dev_group(&t, "web")
    );
    let view = rbs.get(names::VIEW_BINDING).await.expect("view binding");
    assert_eq!(view.role_ref.name, "view");
    Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .get(names::DEPLOYER)
        .await
        .expect("deployer");

    // Access, as kubectl sees it through impersonation.
    let dev_group = identity::project_dev_group(&t, "web");
    let view_group = identity::project_view_group(&t, "web");
    wait_for("the dev role aggregated", Duration::from_secs(15), || {
        let (g, ns) = (dev_group.clone(), ns.clone());
        async move { can_i("kubenova:dana", &[&g], "create", "deployments", &ns).then_some(()) }
    })
    .await;
    assert!(can_i("kubenova:dana", &[&dev_group], "delete", "pods", &ns));
    assert!(
        !can_i(
            "kubenova:dana",
            &[&dev_group],
            "create",
            "rolebindings",
            &ns
        ),
        "edit-like, not admin"
    );
    assert!(!can_i(
        "kubenova:dana",
        &[&dev_group],
        "create",
        "deployments",
        "default"
    ));
    assert!(can_i("kubenova:vic", &[&view_group], "list", "pods", &ns));
    assert!(!can_i(
        "kubenova:vic",
        &[&view_group],
        "create",
        "pods",
        &ns
    ));
    let deployer = format!("system:serviceaccount:{ns}:{}", names::DEPLOYER);
    assert!(can_i(
        &deployer,
        &["system:serviceaccounts"],
        "create",
        "deployments",
        &ns
    ));
    assert!(!can_i(
        &deployer,
        &["system:serviceaccounts"],
        "create",
        "deployments",
        "default"
    ));

    // Updates: a new quota and the restricted Pod Security level.
    apply(project(
        &t,
        "web",
        json!({"quota": {"cpu": "2", "pods": 7}, "podSecurity": "restricted"}),
    ));
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), &ns);
    wait_for("quota updated", Duration::from_secs(10), || {
        let quotas = quotas.clone();
        async move {
            let hard = quotas.get(names::QUOTA).await.ok()?.spec?.hard?;
            (hard.get("pods")?.0 == "7" && hard.get("requests.cpu")?.0 == "2").then_some(())
        }
    })
    .await;
    let namespaces = Api::<Namespace>::all(client.clone());
    wait_for("restricted label", Duration::from_secs(10), || {
        let (namespaces, ns) = (namespaces.clone(), ns.clone());
        async move {
            let l = namespaces.get(&ns).await.ok()?.metadata.labels?;
            (l.get("pod-security.kubernetes.io/enforce")? == "restricted").then_some(())
        }
    })
    .await;
    // Without its own quota the project falls back to the plan.
    apply(project(&t, "web", json!({})));
    wait_for("plan quota", Duration::from_secs(10), || {
        let quotas = quotas.clone();
        async move {
            let hard = quotas.get(names::QUOTA).await.ok()?.spec?.hard?;
            (hard.get("pods")?.0 == "20" && hard.get("requests.memory")?.0 == "4Gi").then_some(())
        }
    })
    .await;

    // Deletion removes the namespace and everything in it, then the Project.
    let projects: Api<Project> = Api::all(client.clone());
    projects
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    gone(&projects, &name, Duration::from_secs(60)).await;
    assert!(
        namespaces.get_opt(&ns).await.expect("get").is_none(),
        "namespace gone before the Project"
    );
    let tenants: Api<Tenant> = Api::all(client);
    tenants
        .delete(&t, &DeleteParams::default())
        .await
        .expect("delete tenant");
    gone(&tenants, &t, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_namespace_made_by_hand_is_refused_and_never_touched() {
    // Two tenants can no longer share a namespace prefix (`<a>` and `<a>-b` both owning
    // `<a>-b-c`: refused since ADR 0009, see `isolation.rs`, which also covers a namespace the
    // tenant's owner takes first). Here: a namespace an administrator made by hand.
    let a = unique_name("clash");
    apply(tenant(&a, json!({})));
    tenant_ready(&a).await;
    let client = client().await;
    let projects: Api<Project> = Api::all(client.clone());

    // A namespace made by hand is not adopted, and not deleted with the project.
    let manual = format!("{a}-manual");
    env()
        .kubectl_run(&["create", "namespace", &manual], None)
        .expect("namespace by hand");
    apply(project(&a, "manual", json!({})));
    wait_for(
        "conflict with a hand-made namespace",
        Duration::from_secs(30),
        || {
            let projects = projects.clone();
            let name = format!("{a}.manual");
            async move {
                let p = projects.get(&name).await.ok()?;
                p.status?
                    .conditions
                    .iter()
                    .any(|c| {
                        c.reason == "NamespaceConflict"
                            && c.message.contains("not made by KubeNova")
                    })
                    .then_some(())
            }
        },
    )
    .await;
    projects
        .delete(&format!("{a}.manual"), &DeleteParams::default())
        .await
        .expect("delete");
    gone(&projects, &format!("{a}.manual"), Duration::from_secs(30)).await;
    let ns = Api::<Namespace>::all(client.clone())
        .get(&manual)
        .await
        .expect("hand-made namespace kept");
    assert!(ns.metadata.deletion_timestamp.is_none());
    assert!(ns.labels().get(labels::MANAGED_BY).is_none());
    env()
        .kubectl_run(&["delete", "namespace", &manual, "--wait=false"], None)
        .expect("clean up");

    let tenants: Api<Tenant> = Api::all(client);
    tenants
        .delete(&a, &DeleteParams::default())
        .await
        .expect("delete tenant");
    gone(&tenants, &a, Duration::from_secs(90)).await;
}

use kube::ResourceExt as _;
