//! KubeNova's `helm` component: a chart from an HTTP repository that needs credentials,
//! installed by Flux with the Application's values; changing the version upgrades the release,
//! changing it back rolls it back.

use serde_json::{Value, json};
use testenv::unique_name;

use crate::support::{app_phase, env, eventually, fixture_chart, get, release_namespace, text};

/// An Application with one `helm` component `greeter` from `url`.
fn application(ns: &str, url: &str, version: &str, greeting: &str, secret: Option<&str>) -> Value {
    let mut app = json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": { "name": "greetings", "namespace": ns },
        "spec": { "components": [{
            "name": "greeter",
            "type": "helm",
            "properties": {
                "url": url,
                "chart": "greeter",
                "version": version,
                "interval": "10s",
                "values": { "greeting": greeting, "replicas": 2 },
            },
        }]},
    });
    if let Some(secret) = secret {
        app["spec"]["components"][0]["properties"]["secretRef"] = json!(secret);
    }
    app
}

fn credentials(ns: &str, name: &str, password: &str) {
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": ns },
        "stringData": { "username": "reader", "password": password },
    });
    env().apply(&secret.to_string()).expect("secret applied");
}

/// The chart's ConfigMap once it shows `version` and `greeting`.
fn greeting_at(ns: &str, version: &str, greeting: &str) -> Option<Value> {
    get("configmap", ns, "greeter-greeting").filter(|c| {
        text(c, "/data/chartVersion") == Some(version)
            && text(c, "/data/greeting") == Some(greeting)
    })
}

#[tokio::test]
async fn a_chart_from_an_http_repository_installs_upgrades_and_rolls_back() {
    let env = env();
    let repo = env
        .chart_repo(Some(("reader", "s3cret")))
        .expect("chart repository");
    for version in ["0.1.0", "0.2.0"] {
        repo.add(&fixture_chart("greeter"), version)
            .expect("chart packaged");
    }
    let ns = unique_name("vela-helm");
    release_namespace(&ns);
    credentials(&ns, "repo-credentials", "s3cret");
    let app = (ns.as_str(), "greetings");

    // Install 0.1.0 with our values.
    env.apply(&application(&ns, repo.url(), "0.1.0", "hi", Some("repo-credentials")).to_string())
        .expect("application applied");
    let configmap = eventually("the chart's ConfigMap at 0.1.0", app, || {
        greeting_at(&ns, "0.1.0", "hi")
    })
    .await;
    assert_eq!(
        text(
            &configmap,
            "/metadata/annotations/meta.helm.sh~1release-name"
        ),
        Some("greeter"),
        "installed by Helm: {configmap:#}"
    );
    eventually("the chart's Deployment with 2 ready pods", app, || {
        get("deployment", &ns, "greeter")
            .filter(|d| d.pointer("/status/readyReplicas") == Some(&json!(2)))
    })
    .await;
    assert!(
        get("service", &ns, "greeter").is_none(),
        "0.1.0 has no Service"
    );
    eventually("the application to be running", app, || {
        (app_phase(&ns, "greetings").as_deref() == Some("running")).then_some(())
    })
    .await;
    let served = repo.served();
    for path in ["/index.yaml", "/greeter-0.1.0.tgz"] {
        assert!(
            served.iter().any(|p| p == path),
            "source-controller fetched {path} with the credentials: {served:?}"
        );
    }
    let release = get("helmreleases.helm.toolkit.fluxcd.io", &ns, "greeter").expect("HelmRelease");
    assert_eq!(
        release["spec"]["values"],
        json!({ "greeting": "hi", "replicas": 2 })
    );

    // Upgrade to 0.2.0 with another value: the objects change and a Service appears.
    env.apply(
        &application(
            &ns,
            repo.url(),
            "0.2.0",
            "hello again",
            Some("repo-credentials"),
        )
        .to_string(),
    )
    .expect("application updated");
    eventually("the chart's ConfigMap at 0.2.0", app, || {
        greeting_at(&ns, "0.2.0", "hello again")
    })
    .await;
    let service = eventually("the Service that 0.2.0 adds", app, || {
        get("service", &ns, "greeter")
    })
    .await;
    assert_eq!(service["spec"]["ports"][0]["port"], json!(80));
    assert_eq!(
        text(
            &get("deployment", &ns, "greeter").expect("deployment"),
            "/metadata/labels/app.kubernetes.io~1version"
        ),
        Some("0.2.0")
    );

    // Roll back the way KubeNova will: the previous spec again. Helm makes a new revision of
    // the old chart, and the Service goes away.
    env.apply(&application(&ns, repo.url(), "0.1.0", "hi", Some("repo-credentials")).to_string())
        .expect("application rolled back");
    eventually("the chart's ConfigMap back at 0.1.0", app, || {
        greeting_at(&ns, "0.1.0", "hi")
    })
    .await;
    eventually("the Service to be removed", app, || {
        get("service", &ns, "greeter").is_none().then_some(())
    })
    .await;
    let release = eventually("helm-controller to record the third release", app, || {
        get("helmreleases.helm.toolkit.fluxcd.io", &ns, "greeter").filter(|r| {
            r.pointer("/status/history/0/version") == Some(&json!(3))
                && text(r, "/status/history/0/status") == Some("deployed")
        })
    })
    .await;
    assert_eq!(
        text(&release, "/status/history/0/chartVersion"),
        Some("0.1.0"),
        "{:#}",
        release["status"]
    );
    for revision in 1..=3 {
        assert!(
            get(
                "secret",
                &ns,
                &format!("sh.helm.release.v1.greeter.v{revision}")
            )
            .is_some(),
            "Helm's release record v{revision}"
        );
    }
    let revisions = env
        .kubectl_run(
            &[
                "get",
                "applicationrevisions.core.oam.dev",
                "-n",
                &ns,
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
            None,
        )
        .expect("revisions listed");
    let latest = get("applications.core.oam.dev", &ns, "greetings")
        .and_then(|a| text(&a, "/status/latestRevision/name").map(str::to_owned));
    // Vela keeps one ApplicationRevision per distinct spec: going back to an earlier spec makes
    // that revision the latest again instead of adding a third.
    assert_eq!(revisions, "greetings-v1 greetings-v2");
    assert_eq!(latest.as_deref(), Some("greetings-v1"));
}

#[tokio::test]
async fn a_repository_with_wrong_credentials_installs_nothing() {
    let env = env();
    let repo = env
        .chart_repo(Some(("reader", "s3cret")))
        .expect("chart repository");
    repo.add(&fixture_chart("greeter"), "0.1.0")
        .expect("chart packaged");
    let ns = unique_name("vela-helm-denied");
    release_namespace(&ns);
    credentials(&ns, "repo-credentials", "wrong");
    let app = (ns.as_str(), "greetings");
    env.apply(&application(&ns, repo.url(), "0.1.0", "hi", Some("repo-credentials")).to_string())
        .expect("application applied");

    let message = eventually("the HelmRepository to report the refusal", app, || {
        let repository = get(
            "helmrepositories.source.toolkit.fluxcd.io",
            &ns,
            "greeter-source",
        )?;
        let conditions = repository.pointer("/status/conditions")?.as_array()?;
        conditions
            .iter()
            .find(|c| text(c, "/type") == Some("Ready") && text(c, "/status") == Some("False"))
            .and_then(|c| text(c, "/message"))
            .filter(|m| m.contains("401"))
            .map(str::to_owned)
    })
    .await;
    assert!(message.contains("401"), "{message}");
    assert!(
        repo.served().is_empty(),
        "nothing was served without the right credentials: {:?}",
        repo.served()
    );
    assert!(get("configmap", &ns, "greeter-greeting").is_none());
    assert_ne!(app_phase(&ns, "greetings").as_deref(), Some("running"));
}

#[tokio::test]
async fn a_failed_upgrade_is_rolled_back_to_the_last_good_release() {
    let env = env();
    let repo = env.chart_repo(None).expect("chart repository");
    // 0.3.0 of the fixture contains an object the apiserver refuses.
    for version in ["0.2.0", "0.3.0"] {
        repo.add(&fixture_chart("greeter"), version)
            .expect("chart packaged");
    }
    let ns = unique_name("vela-helm-remedy");
    release_namespace(&ns);
    let app = (ns.as_str(), "greetings");

    env.apply(&application(&ns, repo.url(), "0.2.0", "good", None).to_string())
        .expect("application applied");
    eventually("the chart's ConfigMap at 0.2.0", app, || {
        greeting_at(&ns, "0.2.0", "good")
    })
    .await;
    eventually("the application to be running", app, || {
        (app_phase(&ns, "greetings").as_deref() == Some("running")).then_some(())
    })
    .await;

    env.apply(&application(&ns, repo.url(), "0.3.0", "broken", None).to_string())
        .expect("application updated");
    // helm-controller tries the upgrade, it fails, and it rolls back to release 1 (0.2.0),
    // retrying until its retries are used up.
    let release = eventually(
        "helm-controller to give up on 0.3.0 after rolling back",
        app,
        || {
            let release = get("helmreleases.helm.toolkit.fluxcd.io", &ns, "greeter")?;
            let conditions = release.pointer("/status/conditions")?.as_array()?;
            let remediated = conditions.iter().any(|c| {
                text(c, "/type") == Some("Remediated") && text(c, "/status") == Some("True")
            });
            let stalled = conditions
                .iter()
                .any(|c| text(c, "/type") == Some("Stalled") && text(c, "/status") == Some("True"));
            (remediated && stalled).then_some(release)
        },
    )
    .await;
    let history = release["status"]["history"].as_array().expect("history");
    assert!(
        history
            .iter()
            .any(|h| text(h, "/chartVersion") == Some("0.3.0")
                && text(h, "/status") == Some("failed")),
        "the failed upgrade is in the history: {history:#?}"
    );
    assert_eq!(
        text(&history[0], "/chartVersion"),
        Some("0.2.0"),
        "the newest release is the rollback to 0.2.0: {history:#?}"
    );
    assert_eq!(text(&history[0], "/status"), Some("deployed"));
    assert!(
        greeting_at(&ns, "0.2.0", "good").is_some(),
        "the objects are those of the last good release"
    );
    assert_ne!(app_phase(&ns, "greetings").as_deref(), Some("running"));
}
