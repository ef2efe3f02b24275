//! An Application with KubeVela's built-in `webservice` component becomes a Deployment whose pods
//! run on the kwok node, and the Application reports `running`.

use serde_json::{Value, json};
use testenv::unique_name;

use crate::support::{app_phase, env, eventually, get, namespace, text};

#[tokio::test]
async fn a_webservice_application_runs_its_pods() {
    let env = env();
    let ns = unique_name("vela-web");
    namespace(&ns);
    let app = json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": { "name": "shop", "namespace": ns },
        "spec": { "components": [{
            "name": "frontend",
            "type": "webservice",
            "properties": {
                "image": "registry.example/shop-frontend:1.4",
                "ports": [{ "port": 8080, "expose": true }],
                "env": [{ "name": "GREETING", "value": "hello" }],
            },
            "traits": [{ "type": "scaler", "properties": { "replicas": 2 } }],
        }]},
    });
    env.apply(&app.to_string()).expect("application applied");

    let deployment = eventually(
        "the Deployment with 2 ready replicas",
        (&ns, "shop"),
        || {
            get("deployment", &ns, "frontend")
                .filter(|d| d.pointer("/status/readyReplicas") == Some(&json!(2)))
        },
    )
    .await;
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        text(container, "/image"),
        Some("registry.example/shop-frontend:1.4")
    );
    assert_eq!(
        container["env"],
        json!([{ "name": "GREETING", "value": "hello" }])
    );
    assert_eq!(
        text(&deployment, "/metadata/labels/app.oam.dev~1name"),
        Some("shop"),
        "Vela labels what it applies with the application"
    );

    let pods = env
        .kubectl_run(
            &[
                "get",
                "pods",
                "-n",
                &ns,
                "-l",
                "app.oam.dev/component=frontend",
                "-o",
                "json",
            ],
            None,
        )
        .expect("pods listed");
    let pods: Value = serde_json::from_str(&pods).expect("JSON");
    let pods = pods["items"].as_array().expect("items");
    assert_eq!(pods.len(), 2, "{pods:#?}");
    for pod in pods {
        assert_eq!(text(pod, "/status/phase"), Some("Running"));
        assert_eq!(text(pod, "/spec/nodeName"), Some(testenv::kwok::NODE_NAME));
    }
    let service = get("service", &ns, "frontend").expect("the exposed port makes a Service");
    assert_eq!(service["spec"]["ports"][0]["port"], json!(8080));

    eventually("the application to be running", (&ns, "shop"), || {
        (app_phase(&ns, "shop").as_deref() == Some("running")).then_some(())
    })
    .await;
    let app = get("applications.core.oam.dev", &ns, "shop").expect("application");
    assert_eq!(
        app["status"]["services"][0]["healthy"],
        json!(true),
        "{:#}",
        app["status"]
    );
}
