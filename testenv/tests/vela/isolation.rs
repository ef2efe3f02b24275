//! `app.oam.dev/service-account-name` makes vela-core apply an Application as that
//! ServiceAccount: an account without rights in another namespace cannot make its app write
//! there. KubeNova's project isolation relies on this.

use serde_json::{Value, json};
use testenv::unique_name;

use crate::support::{app_phase, env, eventually, get, namespace};

/// An Application in `ns` with one webservice `name`, optionally applied as `service_account`
/// and optionally deployed into `target` (a topology policy) instead of its own namespace.
fn application(ns: &str, name: &str, service_account: Option<&str>, target: Option<&str>) -> Value {
    let mut app = json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": { "name": name, "namespace": ns },
        "spec": { "components": [{
            "name": name,
            "type": "webservice",
            "properties": { "image": "registry.example/app:1.0" },
        }]},
    });
    if let Some(sa) = service_account {
        app["metadata"]["annotations"] = json!({ "app.oam.dev/service-account-name": sa });
    }
    if let Some(target) = target {
        app["spec"]["policies"] = json!([{
            "name": "elsewhere",
            "type": "topology",
            "properties": { "clusters": ["local"], "namespace": target },
        }]);
    }
    app
}

#[tokio::test]
async fn an_application_applies_as_its_service_account() {
    let env = env();
    let (home, other) = (unique_name("vela-home"), unique_name("vela-other"));
    namespace(&home);
    namespace(&other);
    // The deployer may edit its own namespace and nothing else.
    env.apply(
        &json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": { "name": "deployer", "namespace": home },
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": { "name": "deployer-edit", "namespace": home },
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "edit",
                    },
                    "subjects": [{ "kind": "ServiceAccount", "name": "deployer", "namespace": home }],
                },
            ],
        })
        .to_string(),
    )
    .expect("service account and binding applied");

    // As the deployer, in its own namespace: works.
    env.apply(&application(&home, "inside", Some("deployer"), None).to_string())
        .expect("application applied");
    eventually(
        "the deployer's app to run at home",
        (&home, "inside"),
        || (app_phase(&home, "inside").as_deref() == Some("running")).then_some(()),
    )
    .await;
    assert!(get("deployment", &home, "inside").is_some());

    // As the deployer, into another namespace: refused by the apiserver, nothing written there.
    env.apply(&application(&home, "escape", Some("deployer"), Some(&other)).to_string())
        .expect("application applied");
    let status = eventually("the escape to be refused", (&home, "escape"), || {
        let status = get("applications.core.oam.dev", &home, "escape")?
            .get("status")?
            .to_string();
        status.contains("forbidden").then_some(status)
    })
    .await;
    assert!(
        status.contains(&format!("system:serviceaccount:{home}:deployer")),
        "the refusal names the deployer: {status}"
    );
    assert!(get("deployment", &other, "escape").is_none());
    assert_ne!(app_phase(&home, "escape").as_deref(), Some("running"));

    // The same application without the annotation is applied with vela-core's own rights and
    // does write there: the annotation is what keeps the app in its namespace.
    env.apply(&application(&home, "unbound", None, Some(&other)).to_string())
        .expect("application applied");
    eventually(
        "vela-core's own rights to write elsewhere",
        (&home, "unbound"),
        || get("deployment", &other, "unbound"),
    )
    .await;
    assert!(get("deployment", &other, "escape").is_none());
}

/// A Role in `ns` to manage the Flux objects KubeNova's `helm` component renders.
fn flux_objects_role(ns: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": { "name": "flux-objects", "namespace": ns },
        "rules": [
            {
                "apiGroups": ["helm.toolkit.fluxcd.io"],
                "resources": ["helmreleases"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
            {
                "apiGroups": ["source.toolkit.fluxcd.io"],
                "resources": ["helmrepositories", "ocirepositories"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
        ],
    })
}

fn binding(ns: &str, sa: &str, kind: &str, role: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": format!("{sa}-{role}"), "namespace": ns },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role },
        "subjects": [{ "kind": "ServiceAccount", "name": sa, "namespace": ns }],
    })
}

fn helm_application(ns: &str, name: &str, sa: &str, url: &str) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": ns,
            "annotations": { "app.oam.dev/service-account-name": sa },
        },
        "spec": { "components": [{
            "name": name,
            "type": "helm",
            "properties": { "url": url, "chart": "greeter", "version": "0.1.0", "interval": "10s" },
        }]},
    })
}

#[tokio::test]
async fn helm_controller_installs_the_chart_as_the_service_account() {
    let env = env();
    let repo = env.chart_repo(None).expect("chart repository");
    repo.add(&crate::support::fixture_chart("greeter"), "0.1.0")
        .expect("chart packaged");
    let ns = unique_name("vela-helm-sa");
    namespace(&ns);
    // `limited` may create the Flux objects but nothing the chart contains; `deployer` may also
    // edit the namespace.
    env.apply(
        &json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                { "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "limited", "namespace": ns } },
                { "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "deployer", "namespace": ns } },
                flux_objects_role(&ns),
                binding(&ns, "limited", "Role", "flux-objects"),
                binding(&ns, "deployer", "Role", "flux-objects"),
                binding(&ns, "deployer", "ClusterRole", "edit"),
            ],
        })
        .to_string(),
    )
    .expect("accounts and bindings applied");

    env.apply(&helm_application(&ns, "limited", "limited", repo.url()).to_string())
        .expect("application applied");
    env.apply(&helm_application(&ns, "granted", "deployer", repo.url()).to_string())
        .expect("application applied");

    let release = eventually(
        "the deployer's release to install",
        (&ns, "granted"),
        || {
            get("configmap", &ns, "granted-greeting")?;
            get("helmreleases.helm.toolkit.fluxcd.io", &ns, "granted")
        },
    )
    .await;
    assert_eq!(
        release.pointer("/spec/serviceAccountName"),
        Some(&json!("deployer"))
    );
    eventually("the deployer's app to run", (&ns, "granted"), || {
        (app_phase(&ns, "granted").as_deref() == Some("running")).then_some(())
    })
    .await;

    // Vela applied the limited account's Flux objects, but helm-controller installs as that
    // account, which may not create the chart's objects.
    let message = eventually(
        "the limited release to be refused",
        (&ns, "limited"),
        || {
            let release = get("helmreleases.helm.toolkit.fluxcd.io", &ns, "limited")?;
            let text = release.get("status")?.to_string();
            text.contains("forbidden").then_some(text)
        },
    )
    .await;
    assert!(
        message.contains(&format!("system:serviceaccount:{ns}:limited")),
        "the refusal names the account: {message}"
    );
    assert!(get("configmap", &ns, "limited-greeting").is_none());
    assert!(get("deployment", &ns, "limited").is_none());
    assert_ne!(app_phase(&ns, "limited").as_deref(), Some("running"));
}

/// Flux's lockdown (`--default-service-account`): a HelmRelease that names no ServiceAccount,
/// made directly (as anyone with Flux's `edit` rights may), is installed as its namespace's
/// `default` account, not with helm-controller's own rights: a chart that makes a ClusterRole
/// and writes into another namespace writes nothing at all.
#[tokio::test]
async fn a_helm_release_that_names_no_account_is_installed_with_no_rights() {
    let env = env();
    let repo = env.chart_repo(None).expect("chart repository");
    repo.add(&crate::support::fixture_chart("outsider"), "0.1.0")
        .expect("chart packaged");
    let (ns, other) = (unique_name("vela-nosa"), unique_name("vela-nosa-other"));
    namespace(&ns);
    namespace(&other);
    let role = unique_name("escalated");
    env.apply(
        &json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                    "metadata": { "name": "fixtures", "namespace": ns },
                    "spec": { "url": repo.url(), "interval": "1m" },
                },
                {
                    "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                    "metadata": { "name": "bare", "namespace": ns },
                    "spec": {
                        "interval": "1m",
                        "chart": { "spec": { "chart": "outsider", "version": "0.1.0",
                            "sourceRef": { "kind": "HelmRepository", "name": "fixtures" } } },
                        "values": { "outside": other, "clusterRole": role },
                        "install": { "remediation": { "retries": 0 } },
                    },
                },
            ],
        })
        .to_string(),
    )
    .expect("HelmRepository and HelmRelease applied");
    let message = eventually("the release to be refused", (&ns, "bare"), || {
        let release = get("helmreleases.helm.toolkit.fluxcd.io", &ns, "bare")?;
        let text = release.get("status")?.to_string();
        text.contains("forbidden").then_some(text)
    })
    .await;
    assert!(
        message.contains(&format!(
            "system:serviceaccount:{ns}:{}",
            testenv::vela::HELM_DEFAULT_SERVICE_ACCOUNT
        )),
        "installed as the namespace's default account: {message}"
    );
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let roles = env
        .kubectl_run(&["get", "clusterrole", &role, "--ignore-not-found"], None)
        .expect("kubectl get clusterrole");
    assert!(roles.trim().is_empty(), "no ClusterRole: {roles}");
    assert!(get("configmap", &other, "bare-escaped").is_none());
    assert!(get("configmap", &ns, "bare-inside").is_none());
}
