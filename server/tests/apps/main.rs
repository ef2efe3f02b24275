//! Apps end to end: the API -> `App` -> the agent -> a KubeVela Application -> Deployments,
//! Services, Ingresses (and Flux releases for charts) on the real cluster with real vela-core,
//! observed with the real kubectl through the proxy with a project kubeconfig from the API.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testenv::control::{ControlOptions, HttpResponse, RunningControl};
use testenv::proxy::{ProxyOptions, RunningProxy};
use testenv::{Options, TestEnv, unique_name};

mod actions;
mod deletion;
mod helm;
mod isolation;
mod logs;
mod revisions;
mod sources;
mod truth;

const MAIN: &str = "main";

struct Harness {
    env: &'static TestEnv,
    control: RunningControl,
    _proxy: RunningProxy,
}

fn proxy_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    testenv::workspace_binary(&root, "kubenova-proxy", "kubenova-proxy")
        .expect("kubenova-proxy builds")
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();
    let h = HARNESS.get_or_init(|| {
        let env = TestEnv::shared_with(Options {
            vela: true,
            ..Options::default()
        });
        let proxy_binary = proxy_binary();
        testenv::block_on(async move {
            let control = env
                .start_control(
                    Path::new(env!("CARGO_BIN_EXE_kubenova-control")),
                    ControlOptions {
                        // `topology` can place an app's objects in another namespace: allowed
                        // here so the isolation tests can show that the cluster still refuses.
                        // And chart repositories on loopback over plain HTTP: the fixture
                        // repositories and the OCI registry are local HTTP servers. The default
                        // refuses both (see `sources`). A delivery error fails an app after
                        // 30 s instead of 10 minutes (see `truth`).
                        extra_args: vec![
                            "--app-policies=topology".into(),
                            "--app-chart-hosts=127.0.0.1".into(),
                            "--app-chart-plain-http".into(),
                            "--app-delivery-timeout=30s".into(),
                        ],
                        ..ControlOptions::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            let proxy = env
                .start_proxy_with(
                    &proxy_binary,
                    ProxyOptions {
                        jwks_url: Some(format!("{}/.well-known/jwks.json", control.url)),
                        cluster: Some(MAIN.into()),
                        extra_args: Vec::new(),
                        ..ProxyOptions::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            control
                .register(MAIN, env, &proxy)
                .map_err(|e| e.to_string())?;
            Ok(Harness {
                env,
                control,
                _proxy: proxy,
            })
        })
    });
    match h {
        Ok(h) => h,
        Err(e) => panic!("the apps harness could not start: {e}"),
    }
}

fn call(method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
    let h = harness();
    h.control
        .call(method, path, Some(&h.control.admin_token), body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[track_caller]
fn expect(response: &HttpResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "body: {}", response.text());
    response.json()
}

#[track_caller]
fn eventually<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

const SETTLE: Duration = Duration::from_secs(180);

/// The host `name.<t>.example.com` for an app of the tenant whose project namespace is `ns`
/// (`<t>-web`, see [`project`]), which that tenant claims.
fn app_host(ns: &str, name: &str) -> String {
    let t = ns.strip_suffix("-web").expect("a project() namespace");
    format!("{name}.{t}.example.com")
}

/// A tenant with one project made Ready by the agent, and a projectDev kubeconfig for it
/// through the proxy. Returns (tenant, project, namespace, kubeconfig path).
fn project() -> (String, String, String, PathBuf) {
    let t = unique_name("apps");
    let p = "web".to_owned();
    expect(
        &call(
            "POST",
            &format!("/api/v1/clusters/{MAIN}/tenants"),
            // Its apps' Ingresses may use names below `<t>.example.com` (ADR 0015).
            Some(
                &json!({ "name": t, "owners": ["olivia"], "ingressHosts": [format!("*.{t}.example.com")] }),
            ),
        ),
        201,
    );
    expect(
        &call(
            "POST",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects"),
            Some(&json!({ "name": p, "access": { "developers": ["dev"] } })),
        ),
        201,
    );
    let ns = kubenova_api::names::project_namespace(&t, &p);
    eventually("the project Ready", SETTLE, || {
        let v = call(
            "GET",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}"),
            None,
        )
        .json();
        (v["status"]["ready"] == true).then_some(())
    });
    let response = call(
        "GET",
        &format!(
            "/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/kubeconfig?role=projectDev&subject=dev"
        ),
        None,
    );
    let v = expect(&response, 201);
    let dir = harness().env.dir().join("apps-kubeconfigs");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{t}.kubeconfig"));
    std::fs::write(&path, v["kubeconfig"].as_str().expect("kubeconfig")).expect("written");
    (t, p, ns, path)
}

/// `kubectl -n <ns> get ... -o json` as the platform admin (cluster-scoped kinds ignore the
/// namespace); `None` when there is nothing.
fn admin_get(ns: &str, what: &[&str]) -> Option<Value> {
    let mut args = vec!["-n", ns, "get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json", "--ignore-not-found"]);
    let out = harness()
        .env
        .kubectl_run(&args, None)
        .expect("kubectl as admin");
    (!out.trim().is_empty()).then(|| serde_json::from_str(&out).expect("JSON"))
}

/// The developer makes Secret `name` in `ns` with kubectl, from `key=value` literals.
#[track_caller]
fn create_secret(dev: &Path, ns: &str, name: &str, literals: &[&str]) {
    let literals: Vec<String> = literals
        .iter()
        .map(|l| format!("--from-literal={l}"))
        .collect();
    let mut args = vec!["-n", ns, "create", "secret", "generic", name];
    args.extend(literals.iter().map(String::as_str));
    kubectl(dev, &args).unwrap_or_else(|e| panic!("the developer creates Secret {name}: {e}"));
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    testenv::env::run(harness().env.kubectl_with(kubeconfig), args, None).map_err(|e| e.to_string())
}

/// `kubectl get ... -o json` as the developer, through the proxy.
fn get(kubeconfig: &Path, ns: &str, what: &[&str]) -> Option<Value> {
    let mut args = vec!["-n", ns, "get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json", "--ignore-not-found"]);
    let out = kubectl(kubeconfig, &args).ok()?;
    if out.trim().is_empty() {
        None
    } else {
        serde_json::from_str(&out).ok()
    }
}

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("JSON")
}

fn running_pods(kubeconfig: &Path, ns: &str, app: &str) -> Vec<Value> {
    get(
        kubeconfig,
        ns,
        &["pods", "-l", &format!("app.oam.dev/name={app}")],
    )
    .and_then(|v| v["items"].as_array().cloned())
    .unwrap_or_default()
    .into_iter()
    .filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
    .collect()
}

#[test]
fn an_image_app_deploys_updates_rolls_back_suspends_resumes_and_deletes() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    // The Secret the example's env refers to, made by the developer with kubectl.
    create_secret(&dev, &ns, "grafana-admin", &["password=pw"]);

    let mut grafana = example("grafana-app.json");
    grafana["image"]["ingress"]["host"] = json!(app_host(&ns, "grafana"));
    let created = expect(&call("POST", &base, Some(&grafana)), 201);
    assert!(
        !created.to_string().contains("change-me"),
        "no credentials in answers: {created}"
    );
    let status = eventually("grafana running", SETTLE, || {
        let v = call("GET", &format!("{base}/grafana/status"), None).json();
        (v["phase"] == "running" && v["pods"].as_array().is_some_and(|p| !p.is_empty()))
            .then_some(v)
    });
    assert_eq!(status["revision"], "grafana-v1", "{status}");
    assert_eq!(status["kind"], "image");

    // What the cluster has, seen through the proxy as the developer.
    let deployment = get(&dev, &ns, &["deployment", "grafana"]).expect("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["imagePullSecrets"][0]["name"], "grafana-registry",
        "{pod}"
    );
    assert_eq!(
        pod["containers"][0]["image"],
        "registry.example.com/mirror/grafana/grafana:11.3.0"
    );
    let env = pod["containers"][0]["env"].to_string();
    assert!(env.contains("grafana-admin"), "env from the Secret: {env}");
    let ingress = get(&dev, &ns, &["ingress"]).expect("Ingress list");
    assert!(
        ingress.to_string().contains(&app_host(&ns, "grafana")),
        "{ingress}"
    );
    let registry = get(&dev, &ns, &["secret", "grafana-registry"]).expect("registry Secret");
    assert_eq!(registry["type"], "kubernetes.io/dockerconfigjson");
    assert!(get(&dev, &ns, &["configmap", "grafana-files"]).is_some());
    // The developer cannot touch the KubeNova-managed Application directly.
    let refused = kubectl(
        &dev,
        &["-n", &ns, "delete", "applications.core.oam.dev", "grafana"],
    )
    .expect_err("Applications are KubeNova's");
    assert!(
        refused.contains("forbidden") || refused.contains("Forbidden"),
        "{refused}"
    );

    // image-update: a new revision with the new tag.
    expect(
        &call(
            "POST",
            &format!("{base}/grafana:image-update"),
            Some(&json!({ "tag": "11.4.0" })),
        ),
        200,
    );
    eventually("the new image rolled out", SETTLE, || {
        let d = get(&dev, &ns, &["deployment", "grafana"])?;
        (d["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.example.com/mirror/grafana/grafana:11.4.0")
            .then_some(())
    });
    let revisions = eventually("two revisions", SETTLE, || {
        let v = call("GET", &format!("{base}/grafana/revisions"), None).json();
        (v["items"].as_array().map_or(0, Vec::len) >= 2).then_some(v)
    });
    assert!(revisions.to_string().contains("grafana-v2"), "{revisions}");

    // rollback (to the previous revision): the old tag again.
    expect(
        &call("POST", &format!("{base}/grafana:rollback"), None),
        200,
    );
    eventually("rolled back to 11.3.0", SETTLE, || {
        let d = get(&dev, &ns, &["deployment", "grafana"])?;
        (d["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.example.com/mirror/grafana/grafana:11.3.0")
            .then_some(())
    });

    // suspend: no pods, configuration kept; resume: pods back.
    expect(&call("POST", &format!("{base}/grafana:suspend"), None), 200);
    eventually("no pods while suspended", SETTLE, || {
        running_pods(&dev, &ns, "grafana").is_empty().then_some(())
    });
    let suspended = call("GET", &format!("{base}/grafana/status"), None).json();
    assert_eq!(suspended["suspended"], true);
    assert!(get(&dev, &ns, &["configmap", "grafana-files"]).is_some());
    expect(&call("POST", &format!("{base}/grafana:resume"), None), 200);
    eventually("pods back after resume", SETTLE, || {
        (!running_pods(&dev, &ns, "grafana").is_empty()).then_some(())
    });

    // delete: the App, its Application, its Secrets, its workloads.
    let response = call("POST", &format!("{base}/grafana:delete"), None);
    assert_eq!(response.status, 204, "{}", response.text());
    eventually("everything made for the app is gone", SETTLE, || {
        let gone = get(&dev, &ns, &["deployment", "grafana"]).is_none()
            && get(&dev, &ns, &["secret", "grafana-registry"]).is_none()
            && get(&dev, &ns, &["configmap", "grafana-files"]).is_none();
        gone.then_some(())
    });
    assert!(
        get(&dev, &ns, &["secret", "grafana-admin"]).is_some(),
        "the developer's own Secret stays"
    );
    assert_eq!(call("GET", &format!("{base}/grafana"), None).status, 404);
}

#[test]
fn a_chart_from_a_repository_with_credentials_installs_and_upgrades() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let repo = harness()
        .env
        .chart_repo(Some(("reader", "s3cret")))
        .expect("chart repository");
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/tests/fixtures/charts/greeter");
    for version in ["0.1.0", "0.2.0"] {
        repo.add(&chart, version).expect("chart packaged");
    }
    let body = json!({
        "name": "greetings",
        "helm": {
            "repo": repo.url(), "chart": "greeter", "version": "0.1.0",
            "values": { "greeting": "hello", "replicas": 1 },
            "credentials": { "username": "reader", "password": "s3cret" },
        },
    });
    expect(&call("POST", &base, Some(&body)), 201);
    let status = eventually("the chart installed", SETTLE, || {
        let v = call("GET", &format!("{base}/greetings/status"), None).json();
        (v["phase"] == "running").then_some(v)
    });
    assert_eq!(status["kind"], "helm");
    let cm = get(&dev, &ns, &["configmap", "greetings-greeting"])
        .or_else(|| get(&dev, &ns, &["configmap", "greeter-greeting"]))
        .expect("the chart's ConfigMap");
    assert_eq!(cm["data"]["greeting"], "hello", "{cm}");

    // Upgrade through PUT (the credentials stay in their Secret).
    let mut upgrade = body.clone();
    upgrade["helm"]["version"] = json!("0.2.0");
    upgrade["helm"]
        .as_object_mut()
        .expect("object")
        .remove("credentials");
    expect(
        &call("PUT", &format!("{base}/greetings"), Some(&upgrade)),
        200,
    );
    eventually("upgraded to 0.2.0", SETTLE, || {
        let cm = get(&dev, &ns, &["configmap", "greetings-greeting"])
            .or_else(|| get(&dev, &ns, &["configmap", "greeter-greeting"]))?;
        (cm["data"]["chartVersion"] == "0.2.0").then_some(())
    });
}

#[test]
fn bad_app_specs_are_refused_and_leave_nothing_behind() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    for (body, field) in [
        (
            json!({ "name": "bad", "image": { "image": "Not An Image:1" } }),
            "image.image",
        ),
        (
            json!({ "name": "bad", "image": { "image": "nginx:1" }, "traits": [{ "type": "hostalias" }] }),
            "traits[0].type",
        ),
        (
            json!({ "name": "bad", "helm": { "repo": "https://charts.example.com", "chart": "c",
                    "version": "1", "values": [1] } }),
            "helm.values",
        ),
        (
            json!({ "name": "bad", "helm": { "repo": "ftp://charts.example.com", "chart": "c", "version": "1" } }),
            "helm.repo",
        ),
    ] {
        let response = call("POST", &base, Some(&body));
        assert_eq!(response.status, 422, "{body}: {}", response.text());
        assert!(
            response.text().contains(field),
            "{body}: {}",
            response.text()
        );
    }
    let unknown = call(
        "POST",
        &base,
        Some(&json!({ "name": "bad", "image": { "image": "nginx:1" }, "replica": 2 })),
    );
    assert_eq!(unknown.status, 422, "{}", unknown.text());
    assert_eq!(unknown.json()["details"]["field"], "replica");
    let env = harness().env;
    let left = env
        .kubectl_run(
            &[
                "-n",
                &ns,
                "get",
                "apps.kubenova.io,secrets,applications.core.oam.dev",
                "-o",
                "name",
            ],
            None,
        )
        .expect("kubectl as admin");
    assert!(!left.contains("bad"), "nothing made: {left}");
    let _ = dev;
    let missing = call("POST", &format!("{base}/nothere:rollback"), None);
    assert_eq!(missing.status, 404, "{}", missing.text());
}

/// What the WordPress tests share: a chart repository with the example's credentials serving
/// `chart` at `versions`, the developer's database Secret and a volume for the chart's claim in
/// `ns`, and the docs example pointed at the repository.
fn wordpress_in(
    chart: &Path,
    versions: &[&str],
    dev: &Path,
    ns: &str,
) -> (testenv::charts::ChartRepo, Value) {
    let repo = harness()
        .env
        .chart_repo(Some(("reader", "change-me")))
        .expect("chart repository");
    for version in versions {
        repo.add(chart, version).expect("chart packaged");
    }
    create_secret(
        dev,
        ns,
        "wordpress-db",
        &["database=wordpress", "user=wordpress", "password=pw"],
    );
    volume_for(ns, "wordpress-data");
    let mut body = example("wordpress-app.json");
    body["helm"]["repo"] = json!(repo.url());
    body["helm"]["values"]["hostname"] = json!(app_host(ns, "blog"));
    (repo, body)
}

/// A hostPath PersistentVolume of StorageClass `standard` for one claim (the platform's job; the
/// test cluster has no provisioner).
fn volume_for(ns: &str, claim: &str) {
    let pv = json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": { "name": unique_name("pv") },
        "spec": {
            "capacity": { "storage": "1Gi" },
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "standard",
            "hostPath": { "path": "/tmp/kubenova-test-pv" },
            "claimRef": { "namespace": ns, "name": claim },
        },
    });
    harness()
        .env
        .apply(&pv.to_string())
        .expect("PersistentVolume");
}

fn chart_label(dev: &Path, ns: &str, deployment: &str) -> Option<String> {
    get(dev, ns, &["deployment", deployment])?["metadata"]["labels"]["helm.sh/chart"]
        .as_str()
        .map(str::to_owned)
}

/// WordPress (our chart: WordPress and MariaDB, Services, a PVC, an Ingress) from the docs
/// example, from an HTTP repository with credentials and from an OCI registry with credentials.
#[test]
fn wordpress_from_an_http_repository_and_from_oci_upgrades_and_rolls_back() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/tests/fixtures/charts/wordpress");
    let (_repo, body) = wordpress_in(&chart, &["0.1.0", "0.2.0"], &dev, &ns);
    expect(&call("POST", &base, Some(&body)), 201);
    eventually("WordPress running", SETTLE, || {
        let v = call("GET", &format!("{base}/wordpress/status"), None).json();
        (v["phase"] == "running").then_some(())
    });
    for deployment in ["wordpress-wordpress", "wordpress-mariadb"] {
        eventually(&format!("{deployment} available"), SETTLE, || {
            let d = get(&dev, &ns, &["deployment", deployment])?;
            (d["status"]["availableReplicas"] == 1).then_some(())
        });
    }
    let ingress = get(&dev, &ns, &["ingress", "wordpress-wordpress"]).expect("Ingress");
    assert_eq!(ingress["spec"]["rules"][0]["host"], app_host(&ns, "blog"));
    assert!(get(&dev, &ns, &["service", "wordpress-mariadb"]).is_some());
    let pvc = get(&dev, &ns, &["pvc", "wordpress-data"]).expect("PVC");
    assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    assert_eq!(
        chart_label(&dev, &ns, "wordpress-wordpress").as_deref(),
        Some("wordpress-0.1.0")
    );

    // Upgrade to 0.2.0 (PUT without credentials keeps them), then roll back.
    let mut upgrade = body.clone();
    upgrade["helm"]["version"] = json!("0.2.0");
    upgrade["helm"]
        .as_object_mut()
        .expect("object")
        .remove("credentials");
    expect(
        &call("PUT", &format!("{base}/wordpress"), Some(&upgrade)),
        200,
    );
    eventually("upgraded to 0.2.0", SETTLE, || {
        (chart_label(&dev, &ns, "wordpress-wordpress").as_deref() == Some("wordpress-0.2.0"))
            .then_some(())
    });
    expect(
        &call("POST", &format!("{base}/wordpress:rollback"), None),
        200,
    );
    eventually("rolled back to 0.1.0", SETTLE, || {
        (chart_label(&dev, &ns, "wordpress-wordpress").as_deref() == Some("wordpress-0.1.0"))
            .then_some(())
    });

    // The same chart from an OCI registry that needs credentials, as a second app.
    let registry = testenv::block_on(async {
        harness()
            .env
            .oci_registry(Some(("pusher", "s3cret")))
            .await
            .map_err(|e| e.to_string())
    })
    .expect("OCI registry");
    registry.push_chart(&chart, "0.1.0").expect("chart pushed");
    volume_for(&ns, "blog-data");
    let oci = json!({
        "name": "blog",
        "helm": {
            "repo": registry.charts_url(), "chart": "wordpress", "version": "0.1.0",
            "insecure": true,
            "values": { "hostname": app_host(&ns, "blog2"), "database": { "existingSecret": "wordpress-db" } },
            "credentials": { "username": "pusher", "password": "s3cret" },
        },
    });
    expect(&call("POST", &base, Some(&oci)), 201);
    eventually("the OCI chart installed", SETTLE, || {
        let d = get(&dev, &ns, &["deployment", "blog-wordpress"])?;
        (d["status"]["availableReplicas"] == 1).then_some(())
    });
    let secret = get(&dev, &ns, &["secret", "blog-repo"]).expect("registry Secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
}

/// `GET .../status` reads the cluster: a pod deleted by hand disappears from it and its
/// replacement shows up.
#[test]
fn app_status_follows_the_cluster_when_a_pod_is_deleted_by_hand() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let body =
        json!({ "name": "web", "image": { "image": "nginx:1.27", "ports": [{ "port": 80 }] } });
    expect(&call("POST", &base, Some(&body)), 201);
    let pod_names = |v: &Value| -> Vec<String> {
        v["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["phase"] == "Running")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    let first = eventually("web running with its pod", SETTLE, || {
        let v = call("GET", &format!("{base}/web/status"), None).json();
        let pods = pod_names(&v);
        (v["phase"] == "running" && pods.len() == 1).then(|| pods[0].clone())
    });
    kubectl(&dev, &["-n", &ns, "delete", "pod", &first, "--wait=false"])
        .expect("the developer deletes the pod");
    let second = eventually("the replacement pod in the status", SETTLE, || {
        let v = call("GET", &format!("{base}/web/status"), None).json();
        let pods = pod_names(&v);
        (pods.len() == 1 && pods[0] != first).then(|| pods[0].clone())
    });
    assert_ne!(first, second);
}
