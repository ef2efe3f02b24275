//! KubeNova's `helm` component with a chart from an OCI registry that needs credentials: Flux's
//! OCIRepository pulls it with a docker-config Secret, helm-controller installs it, and
//! changing the version upgrades it. helm-controller appends the OCI digest to the chart
//! version (`0.1.0+<digest>`), so a re-pushed tag upgrades too; charts must not put the raw
//! version into labels (the fixture does what `helm create` does: `replace "+" "_"`).

use serde_json::{Value, json};
use testenv::unique_name;

use crate::support::{app_phase, env, eventually, fixture_chart, get, release_namespace, text};

fn application(ns: &str, url: &str, version: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": { "name": "oci-greetings", "namespace": ns },
        "spec": { "components": [{
            "name": "greeter",
            "type": "helm",
            "properties": {
                "url": url,
                "chart": "greeter",
                "version": version,
                "secretRef": secret,
                "insecure": true,
                "interval": "10s",
                "values": { "greeting": "from oci" },
            },
        }]},
    })
}

#[tokio::test]
async fn a_chart_from_an_oci_registry_installs_and_upgrades() {
    let env = env();
    let registry = env
        .oci_registry(Some(("pusher", "s3cret")))
        .await
        .expect("OCI registry");
    for version in ["0.1.0", "0.2.0"] {
        registry
            .push_chart(&fixture_chart("greeter"), version)
            .expect("chart pushed");
    }
    let ns = unique_name("vela-oci");
    release_namespace(&ns);
    env.apply(&registry.pull_secret(&ns, "registry-credentials", "pusher", "s3cret"))
        .expect("pull secret applied");
    let app = (ns.as_str(), "oci-greetings");

    env.apply(
        &application(&ns, &registry.charts_url(), "0.1.0", "registry-credentials").to_string(),
    )
    .expect("application applied");
    let configmap = eventually("the chart's ConfigMap at 0.1.0", app, || {
        get("configmap", &ns, "greeter-greeting")
            .filter(|c| text(c, "/data/chartVersion").is_some_and(|v| v.starts_with("0.1.0+")))
    })
    .await;
    assert_eq!(text(&configmap, "/data/greeting"), Some("from oci"));
    eventually("the application to be running", app, || {
        (app_phase(&ns, "oci-greetings").as_deref() == Some("running")).then_some(())
    })
    .await;
    let source = get(
        "ocirepositories.source.toolkit.fluxcd.io",
        &ns,
        "greeter-source",
    )
    .expect("OCIRepository");
    assert_eq!(
        text(&source, "/spec/url"),
        Some(format!("{}/greeter", registry.charts_url()).as_str())
    );

    env.apply(
        &application(&ns, &registry.charts_url(), "0.2.0", "registry-credentials").to_string(),
    )
    .expect("application updated");
    eventually("the chart's ConfigMap at 0.2.0", app, || {
        get("configmap", &ns, "greeter-greeting")
            .filter(|c| text(c, "/data/chartVersion").is_some_and(|v| v.starts_with("0.2.0+")))
    })
    .await;
    eventually("the Service that 0.2.0 adds", app, || {
        get("service", &ns, "greeter")
    })
    .await;
}

#[tokio::test]
async fn an_oci_registry_with_wrong_credentials_installs_nothing() {
    let env = env();
    let registry = env
        .oci_registry(Some(("pusher", "s3cret")))
        .await
        .expect("OCI registry");
    registry
        .push_chart(&fixture_chart("greeter"), "0.1.0")
        .expect("chart pushed");
    let ns = unique_name("vela-oci-denied");
    release_namespace(&ns);
    env.apply(&registry.pull_secret(&ns, "registry-credentials", "pusher", "wrong"))
        .expect("pull secret applied");
    let app = (ns.as_str(), "oci-greetings");
    env.apply(
        &application(&ns, &registry.charts_url(), "0.1.0", "registry-credentials").to_string(),
    )
    .expect("application applied");

    let message = eventually("the OCIRepository to report the refusal", app, || {
        let source = get(
            "ocirepositories.source.toolkit.fluxcd.io",
            &ns,
            "greeter-source",
        )?;
        let conditions = source.pointer("/status/conditions")?.as_array()?;
        conditions
            .iter()
            .find(|c| text(c, "/type") == Some("Ready") && text(c, "/status") == Some("False"))
            .and_then(|c| text(c, "/message"))
            .filter(|m| m.contains("401") || m.to_lowercase().contains("unauthorized"))
            .map(str::to_owned)
    })
    .await;
    assert!(!message.is_empty());
    assert!(get("configmap", &ns, "greeter-greeting").is_none());
    assert_ne!(app_phase(&ns, "oci-greetings").as_deref(), Some("running"));
}
