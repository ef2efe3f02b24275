//! Helm apps: their pods in `GET .../status`, suspend and resume (WordPress, our fixture chart:
//! two Deployments, a StatefulSet (its cache), Services, a PVC, an Ingress).

use super::*;

/// The chart's pods that are not going away, by the chart's own instance label.
fn chart_pods(dev: &Path, ns: &str, release: &str) -> Vec<Value> {
    get(
        dev,
        ns,
        &[
            "pods",
            "-l",
            &format!("app.kubernetes.io/instance={release}"),
        ],
    )
    .and_then(|v| v["items"].as_array().cloned())
    .unwrap_or_default()
    .into_iter()
    .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
    .collect()
}

fn running_names(status: &Value) -> Vec<String> {
    let mut names: Vec<String> = status["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["phase"] == "Running")
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn wordpress_shows_its_pods_suspends_keeping_its_data_and_resumes() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/tests/fixtures/charts/wordpress");
    let (_repo, mut body) = wordpress_in(&chart, &["0.1.0"], &dev, &ns);
    body["helm"]["values"]["cache"] = json!({ "enabled": true });
    expect(&call("POST", &base, Some(&body)), 201);

    // The chart's pods (which carry none of Vela's labels) are in the status, with the
    // component they belong to.
    let status = eventually("WordPress running with its three pods", SETTLE, || {
        let v = call("GET", &format!("{base}/wordpress/status"), None).json();
        (v["phase"] == "running" && running_names(&v).len() == 3).then_some(v)
    });
    let names = running_names(&status);
    let mut seen: Vec<String> = chart_pods(&dev, &ns, "wordpress")
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    seen.sort();
    assert_eq!(names, seen, "the status lists exactly the chart's pods");
    assert!(
        names.iter().any(|n| n.starts_with("wordpress-wordpress-"))
            && names.iter().any(|n| n.starts_with("wordpress-mariadb-"))
            && names.iter().any(|n| n == "wordpress-cache-0"),
        "{names:?}"
    );
    assert!(
        status["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|p| p["component"] == "wordpress" && p["ready"] == true),
        "{status}"
    );
    // Their logs, through the same pods: the component of a chart app is the app.
    for query in ["?tail=1", "?tail=1&component=wordpress"] {
        let logs = call("GET", &format!("{base}/wordpress/logs{query}"), None);
        assert_eq!(logs.status, 200, "{}", logs.text());
        let mut from: Vec<String> = logs
            .text()
            .lines()
            .filter_map(|l| {
                l.strip_prefix('[')?
                    .split_once("] ")
                    .map(|(p, _)| p.to_owned())
            })
            .collect();
        from.sort();
        assert_eq!(from, names, "{query}: {}", logs.text());
    }
    let other = call("GET", &format!("{base}/wordpress/logs?component=web"), None);
    assert_eq!(other.status, 404, "{}", other.text());
    let services = |dev: &Path| {
        [
            "wordpress-wordpress",
            "wordpress-mariadb",
            "wordpress-cache",
        ]
        .iter()
        .all(|s| get(dev, &ns, &["service", s]).is_some())
    };
    assert!(services(&dev));
    let release_secrets = || {
        get(&dev, &ns, &["secrets", "-l", "owner=helm,name=wordpress"])
            .and_then(|v| v["items"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    assert!(release_secrets() >= 1, "Helm's release record");
    let claim =
        get(&dev, &ns, &["pvc", "wordpress-data"]).expect("the PVC")["metadata"]["uid"].clone();
    assert!(claim.is_string(), "{claim}");

    // Suspend: no pods; the configuration and the data stay.
    let answer = expect(
        &call("POST", &format!("{base}/wordpress:suspend"), None),
        200,
    );
    assert_eq!(answer["spec"]["suspended"], true, "{answer}");
    let status = eventually("suspended, no pods", SETTLE, || {
        let v = call("GET", &format!("{base}/wordpress/status"), None).json();
        (v["phase"] == "suspended"
            && v["pods"].as_array().is_some_and(Vec::is_empty)
            && chart_pods(&dev, &ns, "wordpress").is_empty())
        .then_some(v)
    });
    assert_eq!(status["suspended"], true);
    for workload in [
        "deployment/wordpress-wordpress",
        "deployment/wordpress-mariadb",
        "statefulset/wordpress-cache",
    ] {
        let w = get(&dev, &ns, &[workload]).expect("the workload stays");
        assert_eq!(w["spec"]["replicas"], 0, "{workload}: {w}");
    }
    let pvc = get(&dev, &ns, &["pvc", "wordpress-data"]).expect("the PVC stays");
    assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    assert!(get(&dev, &ns, &["secret", "wordpress-db"]).is_some());
    assert!(get(&dev, &ns, &["secret", "wordpress-repo"]).is_some());
    assert!(release_secrets() >= 2, "the upgrade is a new Helm revision");
    assert!(services(&dev));
    assert!(get(&dev, &ns, &["ingress", "wordpress-wordpress"]).is_some());
    let no_pods = call("GET", &format!("{base}/wordpress/logs"), None);
    assert_eq!(no_pods.status, 404, "no pods, no logs: {}", no_pods.text());
    // Suspending again changes nothing: no new revision.
    expect(
        &call("POST", &format!("{base}/wordpress:suspend"), None),
        200,
    );
    std::thread::sleep(Duration::from_secs(5));
    let again = call("GET", &format!("{base}/wordpress/status"), None).json();
    assert_eq!(again["revision"], status["revision"], "{again}");
    assert_eq!(again["phase"], "suspended");

    // Resume: the chart's replicas and pods come back, on the same claim.
    let answer = expect(
        &call("POST", &format!("{base}/wordpress:resume"), None),
        200,
    );
    assert_eq!(answer["spec"]["suspended"], false, "{answer}");
    let status = eventually("running again with three pods", SETTLE, || {
        let v = call("GET", &format!("{base}/wordpress/status"), None).json();
        (v["phase"] == "running" && running_names(&v).len() == 3).then_some(v)
    });
    assert_eq!(status["suspended"], false);
    for workload in [
        "deployment/wordpress-wordpress",
        "deployment/wordpress-mariadb",
        "statefulset/wordpress-cache",
    ] {
        let w = get(&dev, &ns, &[workload]).expect("the workload");
        assert_eq!(w["spec"]["replicas"], 1, "{workload}: {w}");
    }
    let pvc = get(&dev, &ns, &["pvc", "wordpress-data"]).expect("the PVC");
    assert_eq!(pvc["metadata"]["uid"], claim, "the same claim throughout");
}
