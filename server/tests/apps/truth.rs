//! An app's edits and status say what the cluster does (issue 13, "Apps"): the traits and
//! policies endpoints take the bodies the OpenAPI document shows, the phase is `progressing`
//! until the delivered revision's pods are up, `lastError` holds errors only, a chart that cannot
//! be found is named and fails after the platform's delivery timeout, a missing Secret is
//! reported until it is made, and a rollback to the current spec is a new revision.

use super::*;

fn status(base: &str, app: &str) -> Value {
    call("GET", &format!("{base}/{app}/status"), None).json()
}

/// The request body example of operation `operation` in the OpenAPI document the API serves.
fn openapi_example(operation: &str) -> Value {
    let doc = expect(&call("GET", "/api/v1/openapi.json", None), 200);
    doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|methods| methods.values())
        .find(|op| op["operationId"] == operation)
        .map(|op| op["requestBody"]["content"]["application/json"]["example"].clone())
        .filter(|example| !example.is_null())
        .unwrap_or_else(|| panic!("the OpenAPI document shows no request example for {operation}"))
}

fn ready_pods(v: &Value) -> usize {
    v["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["ready"] == true)
        .count()
}

/// Creates the image app `name` (nginx, one pod) and waits until it runs with its pod.
fn web_app(base: &str, name: &str) {
    let body = json!({ "name": name, "image": { "image": "nginx", "tag": "1.27", "ports": [{ "port": 80 }] } });
    expect(&call("POST", base, Some(&body)), 201);
    eventually(&format!("{name} running with its pod"), SETTLE, || {
        let v = status(base, name);
        (v["phase"] == "running" && ready_pods(&v) == 1).then_some(())
    });
}

#[test]
fn traits_and_policies_put_with_the_openapi_examples_reach_kubevela() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    web_app(&base, "web");

    let traits = openapi_example("apps.traits");
    let answer = expect(
        &call("PUT", &format!("{base}/web/traits"), Some(&traits)),
        200,
    );
    assert_eq!(answer["spec"]["traits"], traits["traits"], "{answer}");
    let labels = traits["traits"][0]["properties"].clone();
    assert!(
        traits["traits"][0]["type"] == "labels" && labels.is_object(),
        "the example is a labels trait: {traits}"
    );
    // The trait is in the Application and KubeVela applied it: the Deployment carries the labels.
    eventually("the labels trait on the Deployment", SETTLE, || {
        let d = get(&dev, &ns, &["deployment", "web"])?;
        labels
            .as_object()?
            .iter()
            .all(|(k, v)| &d["metadata"]["labels"][k] == v)
            .then_some(())
    });
    let application = admin_get(&ns, &["applications.core.oam.dev", "web"]).expect("Application");
    let rendered = application["spec"]["components"][0]["traits"].to_string();
    assert!(rendered.contains("\"labels\""), "{rendered}");

    // The array form (the old document's) is refused, naming what to send.
    let array = call(
        "PUT",
        &format!("{base}/web/traits"),
        Some(&traits["traits"]),
    );
    assert_eq!(array.status, 422, "{}", array.text());

    // Policies: the example's topology policy (this platform allows `topology`) keeps the app in
    // its namespace; Vela runs the delivery as that policy's deploy step.
    let policies = openapi_example("apps.policies");
    let answer = expect(
        &call("PUT", &format!("{base}/web/policies"), Some(&policies)),
        200,
    );
    assert_eq!(answer["spec"]["policies"], policies["policies"], "{answer}");
    let step = format!(
        "deploy-{}",
        policies["policies"][0]["name"]
            .as_str()
            .expect("a named policy")
    );
    eventually("the policy's deploy step succeeded", SETTLE, || {
        let a = admin_get(&ns, &["applications.core.oam.dev", "web"])?;
        let ran = a["status"]["workflow"]["steps"]
            .as_array()?
            .iter()
            .any(|s| s["name"] == step.as_str() && s["phase"] == "succeeded");
        (ran && a["spec"]["policies"] == policies["policies"]).then_some(())
    });
    eventually("web running again", SETTLE, || {
        let v = status(&base, "web");
        (v["phase"] == "running" && ready_pods(&v) == 1).then_some(())
    });
}

/// Watches App `app` in `ns` as admin: every status the agent writes, as
/// `<observedGeneration> <phase> <revision>` lines, until the returned child is killed.
fn watch_statuses(ns: &str, app: &str) -> (std::process::Child, std::path::PathBuf) {
    let out = harness()
        .env
        .dir()
        .join(format!("{}-statuses.txt", unique_name("watch")));
    let file = std::fs::File::create(&out).expect("watch output");
    let child = harness()
        .env
        .kubectl()
        .args([
            "-n",
            ns,
            "get",
            "apps.kubenova.io",
            app,
            "--watch",
            "-o",
            "jsonpath={.status.observedGeneration} {.status.phase} {.status.revision}{\"\\n\"}",
        ])
        .stdout(file)
        .spawn()
        .expect("kubectl --watch");
    (child, out)
}

#[test]
fn after_resume_the_app_is_progressing_until_its_pods_are_up() {
    let (t, p, ns, _dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    web_app(&base, "web");
    expect(&call("POST", &format!("{base}/web/suspend"), None), 200);
    eventually("suspended without pods", SETTLE, || {
        let v = status(&base, "web");
        (v["phase"] == "suspended" && v["pods"].as_array().is_some_and(Vec::is_empty)).then_some(())
    });
    // Each answer after the resume: `running` only with the pod up (and then its logs answer).
    let before = status(&base, "web")["revision"].clone();
    let (mut watch, written) = watch_statuses(&ns, "web");
    std::thread::sleep(Duration::from_secs(1));
    let resumed = expect(&call("POST", &format!("{base}/web/resume"), None), 200);
    let generation = resumed["status"]["observedGeneration"]
        .as_i64()
        .unwrap_or(0);
    let mut seen = Vec::new();
    eventually("running again after resume", SETTLE, || {
        let v = status(&base, "web");
        seen.push(v["phase"].as_str().unwrap_or("").to_owned());
        if v["phase"] == "running" {
            assert_ne!(
                v["revision"], before,
                "running before the resume was delivered: {v}"
            );
            assert_eq!(ready_pods(&v), 1, "running without its pod: {v}");
            let logs = call("GET", &format!("{base}/web/logs?tail=1"), None);
            assert_eq!(logs.status, 200, "logs of a running app: {}", logs.text());
            return Some(());
        }
        std::thread::sleep(Duration::from_millis(50));
        None
    });
    // Until then: still suspended (not delivered yet), Vela at work, or the pods starting.
    let waiting = [
        "suspended",
        "rendering",
        "runningWorkflow",
        "progressing",
        "running",
    ];
    assert!(
        seen.iter().all(|p| waiting.contains(&p.as_str())),
        "{seen:?}"
    );
    // Every status the agent wrote for the resumed generation: never `running` with the
    // revision of before (Vela's phase of the suspended delivery).
    std::thread::sleep(Duration::from_secs(2));
    let _ = watch.kill();
    let _ = watch.wait();
    let lines = std::fs::read_to_string(&written).expect("watch output");
    let before = before.as_str().unwrap_or_default();
    let resumed_statuses: Vec<&str> = lines
        .lines()
        .filter(|l| {
            l.split(' ')
                .next()
                .and_then(|g| g.parse::<i64>().ok())
                .is_some_and(|g| g > generation)
        })
        .collect();
    assert!(!resumed_statuses.is_empty(), "{lines}");
    assert!(
        !resumed_statuses
            .iter()
            .any(|l| l.ends_with(&format!(" running {before}"))),
        "running before the resume was delivered: {lines}"
    );
}

#[test]
fn last_error_stays_empty_while_a_chart_installs_and_upgrades() {
    let (t, p, _ns, _dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let repo = harness().env.chart_repo(None).expect("chart repository");
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/tests/fixtures/charts/greeter");
    for version in ["0.1.0", "0.2.0"] {
        repo.add(&chart, version).expect("chart packaged");
    }
    let mut body = json!({
        "name": "hello",
        "helm": { "repo": repo.url(), "chart": "greeter", "version": "0.1.0",
                  "values": { "greeting": "hi", "replicas": 1 } },
    });
    expect(&call("POST", &base, Some(&body)), 201);
    let no_error = |v: &Value| {
        assert!(v["lastError"].is_null(), "lastError holds errors only: {v}");
    };
    eventually("the chart installed", SETTLE, || {
        let v = status(&base, "hello");
        no_error(&v);
        (v["phase"] == "running").then_some(())
    });
    body["helm"]["version"] = json!("0.2.0");
    body.as_object_mut().expect("object").remove("name");
    let before = status(&base, "hello")["revision"].clone();
    expect(&call("PUT", &format!("{base}/hello"), Some(&body)), 200);
    eventually("the chart upgraded", SETTLE, || {
        let v = status(&base, "hello");
        no_error(&v);
        (v["phase"] == "running" && v["revision"] != before).then_some(())
    });
}

#[test]
fn a_wrong_chart_name_is_named_in_the_status_and_the_app_fails_after_the_timeout() {
    let (t, p, _ns, _dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let repo = harness().env.chart_repo(None).expect("chart repository");
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/tests/fixtures/charts/greeter");
    repo.add(&chart, "0.1.0").expect("chart packaged");
    let body = json!({
        "name": "typo",
        "helm": { "repo": repo.url(), "chart": "greter", "version": "0.1.0" },
    });
    expect(&call("POST", &base, Some(&body)), 201);
    // The cause, in the tenant's words, while KubeNova still waits.
    let v = eventually("the cause in the status", SETTLE, || {
        let v = status(&base, "typo");
        v["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("greter"))
            .then_some(v)
    });
    let error = v["lastError"].as_str().unwrap_or_default().to_owned();
    assert!(
        error.contains("not found") && error.contains("helm.chart") && error.contains(repo.url()),
        "names the chart, the repository and the field to fix: {error}"
    );
    // Then it gives up: `failed` after the harness' delivery timeout (30 s).
    let failed = eventually("phase failed", Duration::from_secs(120), || {
        let v = status(&base, "typo");
        (v["phase"] == "failed").then_some(v)
    });
    let ready = failed["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .expect("Ready");
    assert_eq!(ready["status"], "False", "{failed}");
    assert_eq!(ready["reason"], "DeliveryFailed", "{failed}");
    assert!(
        failed["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("greter")),
        "{failed}"
    );

    // Fixing the name starts over: the chart installs and the app runs.
    let mut fixed = body.clone();
    fixed.as_object_mut().expect("object").remove("name");
    fixed["helm"]["chart"] = json!("greeter");
    expect(&call("PUT", &format!("{base}/typo"), Some(&fixed)), 200);
    eventually("running once fixed", SETTLE, || {
        let v = status(&base, "typo");
        (v["phase"] == "running" && v["lastError"].is_null()).then_some(())
    });
}

#[test]
fn a_missing_secret_is_reported_until_the_developer_creates_it() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let body = json!({
        "name": "api",
        "image": { "image": "nginx", "tag": "1.27", "ports": [{ "port": 80 }],
                   "env": [{ "name": "DB_PASSWORD", "secretRef": { "name": "api-db", "key": "password" } }] },
    });
    // The API takes it (the Secret may come later) ...
    expect(&call("POST", &base, Some(&body)), 201);
    // ... and the status says what is missing, not `running`.
    let v = eventually("the missing Secret in the status", SETTLE, || {
        let v = status(&base, "api");
        (v["phase"] == "waitingForSecrets").then_some(v)
    });
    let error = v["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("api-db") && error.contains("DB_PASSWORD") && error.contains(&ns),
        "names the Secret, the variable and the namespace: {v}"
    );
    let ready = v["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .expect("Ready");
    assert_eq!(ready["reason"], "SecretMissing", "{v}");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(status(&base, "api")["phase"], "waitingForSecrets");

    // A Secret without the key is still reported, by the key.
    create_secret(&dev, &ns, "api-db", &["user=app"]);
    eventually("the missing key in the status", SETTLE, || {
        let v = status(&base, "api");
        let e = v["lastError"].as_str()?.to_owned();
        (v["phase"] == "waitingForSecrets" && e.contains("password")).then_some(())
    });
    // Once the key is there, the app runs.
    let patch = json!({ "stringData": { "password": "pw" } }).to_string();
    kubectl(
        &dev,
        &[
            "-n",
            &ns,
            "patch",
            "secret",
            "api-db",
            "--type=merge",
            "-p",
            &patch,
        ],
    )
    .expect("the developer adds the key");
    eventually("running once the Secret is complete", SETTLE, || {
        let v = status(&base, "api");
        (v["phase"] == "running" && v["lastError"].is_null() && ready_pods(&v) == 1).then_some(())
    });
}

#[test]
fn a_rollback_to_a_revision_with_the_current_spec_is_a_new_revision() {
    let (t, p, _ns, _dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    web_app(&base, "web");
    assert_eq!(status(&base, "web")["revision"], "web-v1");
    // web-v1 is current and its spec is the App's: docs/apps.md promises a new revision.
    let answer = expect(
        &call(
            "POST",
            &format!("{base}/web/rollback"),
            Some(&json!({ "revision": "web-v1" })),
        ),
        200,
    );
    assert_eq!(answer["spec"]["image"]["tag"], "1.27", "{answer}");
    eventually("web-v2 running", Duration::from_secs(90), || {
        let v = status(&base, "web");
        (v["phase"] == "running" && v["revision"] == "web-v2").then_some(())
    });
    let names: Vec<String> = call("GET", &format!("{base}/web/revisions"), None).json()["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["web-v1", "web-v2"]);
}
