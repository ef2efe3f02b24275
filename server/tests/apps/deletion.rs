//! Deleting a project with apps (ADR 0018): the apps go first, while the deployer still holds its
//! rights in the namespace, and only then the namespace.

use super::*;

fn names(list: Option<Value>) -> Vec<String> {
    list.and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_deleted_projects_apps_go_before_its_namespace_and_leave_nothing() {
    let (t, p, ns, dev) = project();
    let project_path = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}");
    let base = format!("{project_path}/apps");
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/tests/fixtures/charts/wordpress");
    let (_repo, body) = wordpress_in(&chart, &["0.1.0"], &dev, &ns);
    expect(&call("POST", &base, Some(&body)), 201);
    create_secret(&dev, &ns, "grafana-admin", &["password=pw"]);
    let mut grafana = example("grafana-app.json");
    grafana["image"]["ingress"]["host"] = json!(app_host(&ns, "grafana"));
    expect(&call("POST", &base, Some(&grafana)), 201);
    for app in ["wordpress", "grafana"] {
        eventually(&format!("{app} running"), SETTLE, || {
            let v = call("GET", &format!("{base}/{app}/status"), None).json();
            (v["phase"] == "running").then_some(())
        });
    }
    let release = names(admin_get(&ns, &["helmreleases.helm.toolkit.fluxcd.io"]));
    assert_eq!(release, ["wordpress"], "Flux's release of the chart");

    let deleting = expect(&call("DELETE", &project_path, None), 202);
    assert!(
        deleting["status"]["deletingSince"].is_string(),
        "{deleting}"
    );
    // Until the namespace is marked for deletion, the apps are being removed and the project
    // says so; once it is marked, none of them is left (they were removed as the deployer).
    let mut said_apps = false;
    eventually("the namespace marked for deletion", SETTLE, || {
        let project = call("GET", &project_path, None).json();
        let ready = project["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .cloned()
            .unwrap_or_default();
        if ready["reason"] == "Deleting"
            && ready["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("removing the apps before namespace"))
        {
            said_apps = true;
        }
        let namespace = admin_get(&ns, &["namespace", &ns])?;
        namespace["metadata"]["deletionTimestamp"].as_str()?;
        Some(())
    });
    let left: Vec<String> = [
        "apps.kubenova.io",
        "applications.core.oam.dev",
        "helmreleases.helm.toolkit.fluxcd.io",
    ]
    .iter()
    .flat_map(|kind| names(admin_get(&ns, &[kind])))
    .collect();
    assert!(
        left.is_empty(),
        "the namespace was deleted while apps were left: {left:?}"
    );
    assert!(
        said_apps,
        "the project's Ready condition said it was removing the apps"
    );
    eventually("the project gone", SETTLE, || {
        (call("GET", &project_path, None).status == 404).then_some(())
    });
    assert!(
        admin_get(&ns, &["namespace", &ns]).is_none(),
        "namespace gone"
    );
    // Vela's own records of the apps (cluster-scoped) went with them.
    let trackers = names(admin_get(
        &ns,
        &[
            "resourcetrackers.core.oam.dev",
            "-l",
            &format!("app.oam.dev/namespace={ns}"),
        ],
    ));
    assert!(trackers.is_empty(), "ResourceTrackers left: {trackers:?}");
}
