//! An app cannot write outside its project namespace: KubeVela applies it as the project's
//! deployer ServiceAccount and helm-controller installs charts as that account too. And the
//! KubeVela Application KubeNova manages is not the tenant's to edit with kubectl, while the
//! workloads are.

use super::*;

fn status(base: &str, app: &str) -> Value {
    call("GET", &format!("{base}/{app}/status"), None).json()
}

#[test]
fn a_chart_that_writes_into_another_tenants_namespace_is_refused_and_says_so() {
    let (t, p, _ns, _dev) = project();
    let (_, _, victim, _) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/tests/fixtures/charts/outsider");
    let repo = harness().env.chart_repo(None).expect("chart repository");
    repo.add(&chart, "0.1.0").expect("chart packaged");
    let body = json!({
        "name": "sneaky",
        "helm": { "repo": repo.url(), "chart": "outsider", "version": "0.1.0",
                  "values": { "outside": victim } },
    });
    expect(&call("POST", &base, Some(&body)), 201);
    let v = refused(&base, "sneaky", &victim);
    assert!(
        v["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "False"),
        "{v}"
    );
    assert!(
        admin_get(&victim, &["configmap", "sneaky-escaped"]).is_none(),
        "nothing written into the other tenant's namespace"
    );
    // And still nothing after helm-controller's retries.
    std::thread::sleep(Duration::from_secs(10));
    assert!(admin_get(&victim, &["configmap", "sneaky-escaped"]).is_none());
    assert!(admin_get("default", &["configmap", "sneaky-escaped"]).is_none());
}

#[test]
fn a_topology_policy_pointing_at_another_namespace_is_refused_by_the_cluster() {
    let (t, p, ns, _dev) = project();
    let (_, _, victim, _) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    // This control plane allows `topology` (see the harness); the API takes the policy.
    let body = json!({
        "name": "elsewhere",
        "image": { "image": "nginx", "tag": "1.27", "ports": [{ "port": 80 }] },
        "policies": [{ "type": "topology", "name": "there",
                       "properties": { "clusters": ["local"], "namespace": victim } }],
    });
    expect(&call("POST", &base, Some(&body)), 201);
    refused(&base, "elsewhere", &victim);
    std::thread::sleep(Duration::from_secs(5));
    assert!(admin_get(&victim, &["deployment", "elsewhere"]).is_none());
    assert!(admin_get(&victim, &["service", "elsewhere"]).is_none());
    assert!(admin_get(&ns, &["deployment", "elsewhere"]).is_none());
}

#[test]
fn tenants_keep_kubectl_on_their_workloads_but_not_on_the_managed_application() {
    let (t, p, ns, dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let body = json!({ "name": "web", "image": { "image": "nginx", "tag": "1.27", "ports": [{ "port": 80 }] } });
    expect(&call("POST", &base, Some(&body)), 201);
    eventually("web running", SETTLE, || {
        (status(&base, "web")["phase"] == "running").then_some(())
    });
    // The tenant's owner (olivia, see `project()`), with a tenant kubeconfig from the API.
    let owner = expect(
        &call(
            "POST",
            &format!("/api/v1/tenants/{t}/kubeconfig?subject=olivia"),
            None,
        ),
        201,
    );
    let owner_path = harness()
        .env
        .dir()
        .join("apps-kubeconfigs")
        .join(format!("{t}-owner.kubeconfig"));
    std::fs::write(
        &owner_path,
        owner["kubeconfig"].as_str().expect("kubeconfig"),
    )
    .expect("written");

    for (who, kubeconfig) in [("developer", &dev), ("owner", &owner_path)] {
        // The workloads are theirs.
        kubectl(
            kubeconfig,
            &[
                "-n",
                &ns,
                "annotate",
                "deployment/web",
                &format!("touched-by={who}"),
                "--overwrite",
            ],
        )
        .unwrap_or_else(|e| panic!("the {who} annotates the Deployment: {e}"));
        // The Application is KubeNova's.
        for args in [
            vec![
                "-n",
                &ns,
                "annotate",
                "applications.core.oam.dev",
                "web",
                "x=y",
            ],
            vec![
                "-n",
                &ns,
                "patch",
                "applications.core.oam.dev",
                "web",
                "--type=merge",
                "-p",
                r#"{"metadata":{"annotations":{"app.oam.dev/service-account-name":"default"}}}"#,
            ],
            vec![
                "-n",
                &ns,
                "delete",
                "applications.core.oam.dev",
                "web",
                "--wait=false",
            ],
        ] {
            let refused =
                kubectl(kubeconfig, &args).expect_err(&format!("the {who} cannot {}", args[2]));
            assert!(
                refused.contains("forbidden") || refused.contains("Forbidden"),
                "{who}: {refused}"
            );
        }
        // Nor can they make a second Application next to it.
        let own = json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": { "name": format!("own-{who}"), "namespace": ns },
            "spec": { "components": [{ "name": "x", "type": "webservice",
                                        "properties": { "image": "nginx:1" } }] },
        });
        let manifest = std::env::temp_dir().join(format!("{t}-{who}-application.json"));
        std::fs::write(&manifest, own.to_string()).expect("written");
        let refused = kubectl(
            kubeconfig,
            &["create", "-f", manifest.to_str().expect("path")],
        )
        .expect_err(&format!("the {who} cannot create Applications"));
        assert!(refused.contains("forbidden"), "{who}: {refused}");
    }
    let app = admin_get(&ns, &["applications.core.oam.dev", "web"]).expect("the Application");
    let annotations = &app["metadata"]["annotations"];
    assert_eq!(
        annotations["app.oam.dev/service-account-name"], "kubenova-deployer",
        "{annotations}"
    );
    assert!(annotations.get("x").is_none(), "{annotations}");
    let deployment = admin_get(&ns, &["deployment", "web"]).expect("Deployment");
    assert_eq!(
        deployment["metadata"]["annotations"]["touched-by"], "owner",
        "{deployment}"
    );
}

/// Waits until app `app`'s status reports the cluster's refusal (forbidden for the deployer
/// account in namespace `victim`) and the app is not running; returns the status.
fn refused(base: &str, app: &str, victim: &str) -> Value {
    let v = eventually("the refusal in the app's status", SETTLE, || {
        let v = status(base, app);
        v["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("forbidden"))
            .then_some(v)
    });
    let error = v["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("kubenova-deployer") && error.contains(victim),
        "the error names the account and the namespace: {error}"
    );
    assert_ne!(v["phase"], "running", "{v}");
    v
}

/// Writes `manifest` to a file and `kubectl create -f`s it as the holder of `kubeconfig`.
fn create_as(kubeconfig: &Path, name: &str, manifest: &Value) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("{}-{name}.json", unique_name("manifest")));
    std::fs::write(&path, manifest.to_string()).expect("manifest written");
    kubectl(kubeconfig, &["create", "-f", path.to_str().expect("path")])
}

/// The refusal of the agent's `kubenova-deployer-credentials` policy.
#[track_caller]
fn deployer_refusal(what: &str, result: Result<String, String>) {
    // On success the output may be a token: not printed.
    let Err(refused) = result else {
        panic!("{what} must be refused, and was not");
    };
    assert!(
        refused.contains("kubenova-deployer is the identity KubeNova delivers apps as"),
        "{what}: {refused}"
    );
}

/// Issue 12, item 6: the deployer's credentials are out of a developer's reach. `edit` (which a
/// developer's role aggregates) may create tokens for any ServiceAccount of the namespace, run
/// pods as any of them and make legacy token Secrets; for `kubenova-deployer` the agent's
/// admission policy refuses all three, through the proxy with the real kubectl.
#[test]
fn a_developer_gets_no_token_of_the_deployer_and_runs_nothing_as_it() {
    let (_t, _p, ns, dev) = project();
    deployer_refusal(
        "a token for the deployer",
        kubectl(&dev, &["-n", &ns, "create", "token", "kubenova-deployer"]),
    );
    // The policy is about the deployer only: a token of the namespace's default account is the
    // developer's to make (edit allows it; that account has no rights).
    let token = kubectl(&dev, &["-n", &ns, "create", "token", "default"])
        .expect("a token for the default account");
    assert!(token.trim().starts_with("ey"), "a JWT");
    deployer_refusal(
        "a pod running as the deployer",
        create_as(
            &dev,
            "pod",
            &json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": "borrower", "namespace": ns },
                "spec": { "serviceAccountName": "kubenova-deployer",
                          "containers": [{ "name": "c", "image": "nginx:1.27" }] },
            }),
        ),
    );
    deployer_refusal(
        "a pod naming the deployer in the old field",
        create_as(
            &dev,
            "pod-old",
            &json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": "borrower-old", "namespace": ns },
                "spec": { "serviceAccount": "kubenova-deployer",
                          "containers": [{ "name": "c", "image": "nginx:1.27" }] },
            }),
        ),
    );
    deployer_refusal(
        "a legacy token Secret for the deployer",
        create_as(
            &dev,
            "secret",
            &json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                "metadata": { "name": "borrowed-token", "namespace": ns,
                              "annotations": { "kubernetes.io/service-account.name": "kubenova-deployer" } },
            }),
        ),
    );
    assert!(admin_get(&ns, &["pod", "borrower"]).is_none());
    assert!(admin_get(&ns, &["secret", "borrowed-token"]).is_none());
    let account = admin_get(&ns, &["serviceaccount", "kubenova-deployer"]).expect("deployer");
    assert_eq!(account["automountServiceAccountToken"], false, "{account}");
}

/// Issue 12, item 6: a developer may make Flux objects with kubectl (a real Flux installation
/// aggregates `flux-edit` into `edit`; testenv does the same). A HelmRelease that names no
/// ServiceAccount is installed as the namespace's `default` account (helm-controller's
/// `--default-service-account`), not with the controller's own rights: a chart that makes a
/// ClusterRole and writes into another tenant's namespace writes nothing.
#[test]
fn a_helm_release_a_developer_makes_without_an_account_gets_no_rights() {
    let (_t, _p, ns, dev) = project();
    let (_, _, victim, _) = project();
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/tests/fixtures/charts/outsider");
    let repo = harness().env.chart_repo(None).expect("chart repository");
    repo.add(&chart, "0.1.0").expect("chart packaged");
    let role = unique_name("escalated");
    create_as(
        &dev,
        "flux",
        &json!({
            "apiVersion": "v1", "kind": "List",
            "items": [
                {
                    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                    "metadata": { "name": "own", "namespace": ns },
                    "spec": { "url": repo.url(), "interval": "1m" },
                },
                {
                    "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                    "metadata": { "name": "grab", "namespace": ns },
                    "spec": {
                        "interval": "1m",
                        "chart": { "spec": { "chart": "outsider", "version": "0.1.0",
                            "sourceRef": { "kind": "HelmRepository", "name": "own" } } },
                        "values": { "outside": victim, "clusterRole": role },
                        "install": { "remediation": { "retries": 0 } },
                    },
                },
            ],
        }),
    )
    .expect("the developer makes a HelmRepository and a HelmRelease");
    let status = eventually("the release refused", SETTLE, || {
        let release = get(&dev, &ns, &["helmreleases.helm.toolkit.fluxcd.io", "grab"])?;
        let text = release.get("status")?.to_string();
        text.contains("forbidden").then_some(text)
    });
    assert!(
        status.contains(&format!("system:serviceaccount:{ns}:default")),
        "installed as the namespace's default account: {status}"
    );
    std::thread::sleep(Duration::from_secs(5));
    let roles = harness()
        .env
        .kubectl_run(&["get", "clusterrole", &role, "--ignore-not-found"], None)
        .expect("kubectl get clusterrole");
    assert!(roles.trim().is_empty(), "no ClusterRole: {roles}");
    assert!(admin_get(&victim, &["configmap", "grab-escaped"]).is_none());
    assert!(admin_get(&ns, &["configmap", "grab-inside"]).is_none());
}
