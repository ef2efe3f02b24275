//! Revisions: every change of an app (an edit, a rollback, a `:deploy`) is a new KubeVela
//! ApplicationRevision, and drift of the workloads is healed.

use super::*;

fn revisions(base: &str, app: &str) -> Vec<Value> {
    call("GET", &format!("{base}/{app}/revisions"), None).json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The App spec KubeNova recorded on an ApplicationRevision (read as admin).
fn recorded_spec(ns: &str, revision: &str) -> Value {
    let out = harness()
        .env
        .kubectl_run(
            &[
                "-n",
                ns,
                "get",
                "applicationrevisions.core.oam.dev",
                revision,
                "-o",
                "json",
            ],
            None,
        )
        .expect("the revision");
    let rev: Value = serde_json::from_str(&out).expect("JSON");
    let text = rev["metadata"]["annotations"]["kubenova.io/app-spec"]
        .as_str()
        .unwrap_or_else(|| panic!("{revision} records no spec: {rev}"));
    serde_json::from_str(text).expect("the recorded spec is JSON")
}

fn image(dev: &Path, ns: &str) -> Option<String> {
    get(dev, ns, &["deployment", "web"])?["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn a_rollback_and_a_deploy_each_make_a_new_revision_and_drift_is_healed() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let body = json!({ "name": "web", "image": { "image": "nginx", "tag": "1.27", "ports": [{ "port": 80 }] } });
    expect(&call("POST", &base, Some(&body)), 201);
    eventually("web-v1 running", SETTLE, || {
        let v = call("GET", &format!("{base}/web/status"), None).json();
        (v["phase"] == "running" && v["revision"] == "web-v1").then_some(())
    });
    expect(
        &call(
            "POST",
            &format!("{base}/web:image-update"),
            Some(&json!({ "tag": "1.28" })),
        ),
        200,
    );
    eventually("web-v2 running nginx:1.28", SETTLE, || {
        let v = call("GET", &format!("{base}/web/status"), None).json();
        (v["phase"] == "running"
            && v["revision"] == "web-v2"
            && image(&dev, &ns).as_deref() == Some("nginx:1.28"))
        .then_some(())
    });

    // Roll back to v1: a new revision, v3, that records v1's spec; v1 and v2 stay as they were.
    let answer = expect(
        &call(
            "POST",
            &format!("{base}/web:rollback"),
            Some(&json!({ "revision": "web-v1" })),
        ),
        200,
    );
    assert_eq!(answer["spec"]["image"]["tag"], "1.27", "{answer}");
    eventually("web-v3 running nginx:1.27", SETTLE, || {
        let v = call("GET", &format!("{base}/web/status"), None).json();
        (v["phase"] == "running"
            && v["revision"] == "web-v3"
            && image(&dev, &ns).as_deref() == Some("nginx:1.27"))
        .then_some(())
    });
    let listed = revisions(&base, "web");
    let names: Vec<&str> = listed.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["web-v1", "web-v2", "web-v3"], "{listed:?}");
    let current: Vec<&str> = listed
        .iter()
        .filter(|r| r["current"] == true)
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(current, ["web-v3"]);
    assert!(listed.iter().all(|r| r["restorable"] == true), "{listed:?}");
    assert_eq!(recorded_spec(&ns, "web-v3"), recorded_spec(&ns, "web-v1"));
    assert_ne!(recorded_spec(&ns, "web-v2"), recorded_spec(&ns, "web-v1"));
    assert_eq!(recorded_spec(&ns, "web-v3")["image"]["tag"], "1.27");
    let deployment = get(&dev, &ns, &["deployment", "web"]).expect("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1, "{deployment}");

    // Drift made with kubectl is undone by KubeVela by itself.
    kubectl(
        &dev,
        &["-n", &ns, "set", "image", "deployment/web", "web=nginx:9.9"],
    )
    .expect("the developer edits the workload");
    assert_eq!(image(&dev, &ns).as_deref(), Some("nginx:9.9"));
    eventually("the drift healed", SETTLE, || {
        (image(&dev, &ns).as_deref() == Some("nginx:1.27")).then_some(())
    });

    // `:deploy` delivers again as a new revision with the same spec.
    expect(&call("POST", &format!("{base}/web:deploy"), None), 200);
    eventually("web-v4 running", SETTLE, || {
        let v = call("GET", &format!("{base}/web/status"), None).json();
        (v["phase"] == "running" && v["revision"] == "web-v4").then_some(())
    });
    assert_eq!(recorded_spec(&ns, "web-v4"), recorded_spec(&ns, "web-v1"));
    assert_eq!(image(&dev, &ns).as_deref(), Some("nginx:1.27"));

    // Nothing changed, nothing new: no revision without a change or a `:deploy`.
    // (longer than vela-core's 30 s re-sync in testenv and the agent's requeue)
    std::thread::sleep(Duration::from_secs(35));
    let names: Vec<String> = revisions(&base, "web")
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["web-v1", "web-v2", "web-v3", "web-v4"]);
}
