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
