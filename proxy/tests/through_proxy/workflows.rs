//! Everyday work through the proxy with the real kubectl and Helm: apply (client- and
//! server-side), describe, edit, delete, discovery and OpenAPI, warnings, and a Helm release's
//! whole life.

use std::path::Path;
use std::time::Duration;

use http::{Request, StatusCode, Version};
use kubenova_api::Role;
use serde_json::{Value, json};
use testenv::unique_name;

use super::harness::{
    claims, eventually, harness, kubeconfig, kubectl, output, scratch_file, tenant_with_projects,
};
use super::http::{Body, Conn, text};

/// A ConfigMap `<name>-config` and a Deployment `<name>` that reads it.
fn manifest(name: &str, greeting: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
data:
  greeting: {greeting}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: {name}
        image: nginx:1.27
        envFrom:
        - configMapRef: {{name: {name}-config}}
"#
    )
}

fn json_of(kc: &Path, ns: &str, object: &str) -> Value {
    let out = kubectl(kc, &["-n", ns, "get", object, "-o", "json"]).expect("get");
    serde_json::from_str(&out).expect("json")
}

#[test]
fn apply_client_and_server_side_then_describe_edit_and_delete() {
    let t = unique_name("apply");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let dev = kubeconfig(&claims("gina", &[Role::ProjectDev], Some(&t), Some("web")));

    // Client-side apply: create, then a three-way-merge patch.
    let csa = scratch_file(&format!("{t}-csa.yaml"), &manifest("web", "hello"));
    let csa_arg = csa.display().to_string();
    let out = kubectl(&dev, &["-n", &ns, "apply", "-f", &csa_arg]).expect("client-side apply");
    assert!(
        out.contains("configmap/web-config created") && out.contains("deployment.apps/web created"),
        "{out}"
    );
    std::fs::write(&csa, manifest("web", "hi")).expect("edit manifest");
    let out = kubectl(&dev, &["-n", &ns, "apply", "-f", &csa_arg]).expect("client-side re-apply");
    assert!(
        out.contains("configmap/web-config configured")
            && out.contains("deployment.apps/web unchanged"),
        "{out}"
    );
    let cm = json_of(&dev, &ns, "configmap/web-config");
    assert_eq!(cm["data"]["greeting"], "hi");
    assert!(
        cm["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string(),
        "{cm}"
    );

    // Server-side apply: the apiserver merges, and records kubectl as the Apply manager.
    let ssa = scratch_file(&format!("{t}-ssa.yaml"), &manifest("api", "hello"));
    let ssa_arg = ssa.display().to_string();
    let out = kubectl(&dev, &["-n", &ns, "apply", "--server-side", "-f", &ssa_arg])
        .expect("server-side apply");
    assert!(
        out.contains("configmap/api-config serverside-applied")
            && out.contains("deployment.apps/api serverside-applied"),
        "{out}"
    );
    std::fs::write(&ssa, manifest("api", "bonjour")).expect("edit manifest");
    kubectl(&dev, &["-n", &ns, "apply", "--server-side", "-f", &ssa_arg])
        .expect("server-side re-apply");
    let out = kubectl(
        &dev,
        &[
            "-n",
            &ns,
            "get",
            "configmap/api-config",
            "-o",
            "json",
            "--show-managed-fields",
        ],
    )
    .expect("get");
    let cm: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(cm["data"]["greeting"], "bonjour");
    let managers = cm["metadata"]["managedFields"].as_array().expect("fields");
    assert!(
        managers
            .iter()
            .any(|m| m["manager"] == "kubectl" && m["operation"] == "Apply"),
        "{managers:?}"
    );

    // `rollout status` watches the Deployment through the proxy until kwok runs its pod.
    let out = kubectl(
        &dev,
        &[
            "-n",
            &ns,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ],
    )
    .expect("rollout status");
    assert!(out.contains("successfully rolled out"), "{out}");
    let described = kubectl(&dev, &["-n", &ns, "describe", "deployment", "web"]).expect("describe");
    // Compared with runs of spaces folded, as describe aligns its columns.
    let folded = described.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        format!("Name: web Namespace: {ns}"),
        "Replicas: 1 desired | 1 updated | 1 total | 1 available".to_owned(),
        "Environment Variables from: web-config ConfigMap Optional: false".to_owned(),
        "NewReplicaSet: web-".to_owned(),
        "Events:".to_owned(),
    ] {
        assert!(folded.contains(&expected), "{expected:?} in\n{described}");
    }

    // `kubectl edit` with a non-interactive editor: kubectl runs `$EDITOR <file>` and patches
    // what changed.
    let editor = scratch_file(
        &format!("{t}-editor.sh"),
        "#!/bin/sh\nexec sed -i 's/^  replicas: 1$/  replicas: 2/' \"$1\"\n",
    );
    set_executable(&editor);
    let mut edit = harness().env.kubectl_with(&dev);
    edit.env("EDITOR", &editor).env_remove("KUBE_EDITOR");
    let (ok, out, err) = output(edit, &["-n", &ns, "edit", "deployment/web"]);
    assert!(
        ok && out.contains("deployment.apps/web edited"),
        "{out}{err}"
    );
    assert_eq!(
        json_of(&dev, &ns, "deployment/web")["spec"]["replicas"],
        2,
        "the edit landed"
    );

    // `delete -f` removes both manifests' objects (and waits for them to be gone).
    for file in [&csa_arg, &ssa_arg] {
        let out = kubectl(&dev, &["-n", &ns, "delete", "-f", file]).expect("delete -f");
        assert_eq!(out.matches("deleted").count(), 2, "{out}");
    }
    let left = kubectl(
        &dev,
        &["-n", &ns, "get", "deployments,configmaps", "-o", "name"],
    )
    .expect("list");
    assert!(
        !left.contains("web") && !left.contains("api"),
        "still there: {left}"
    );
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path).expect("metadata").permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms).expect("chmod");
}

#[tokio::test]
async fn warnings_and_audit_ids_come_back_unchanged() {
    let t = unique_name("warn");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let c = claims("hank", &[Role::ProjectDev], Some(&t), Some("web"));
    let dev = kubeconfig(&c);

    // kubectl asks the apiserver to warn about unknown fields; the `Warning` header it gets
    // back through the proxy is what kubectl prints.
    let file = scratch_file(
        &format!("{t}-unknown.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\nbogus: 1\ndata:\n  a: b\n",
    );
    let (ok, out, err) = output(
        harness().env.kubectl_with(&dev),
        &[
            "-n",
            &ns,
            "apply",
            "--validate=warn",
            "-f",
            &file.display().to_string(),
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(err.contains(r#"Warning: unknown field "bogus""#), "{err}");

    // The raw headers, over both protocols.
    let token = harness().proxy.sign(&c).expect("token");
    for version in [Version::HTTP_11, Version::HTTP_2] {
        let mut conn = Conn::open(version).await;
        let name = unique_name("raw");
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": name}, "bogus": 1});
        let request = Request::post(format!(
            "/api/v1/namespaces/{ns}/configmaps?fieldValidation=Warn"
        ))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
        let response = conn.send(request).await;
        assert_eq!(response.version(), version);
        let headers = response.headers().clone();
        let status = response.status();
        let body = text(response).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let warning = headers
            .get("warning")
            .and_then(|w| w.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            warning, r#"299 - "unknown field \"bogus\"""#,
            "{version:?}: {headers:?}"
        );
        let audit = headers
            .get("audit-id")
            .and_then(|a| a.to_str().ok())
            .unwrap_or_default();
        assert_eq!(audit.len(), 36, "{version:?}: a UUID Audit-Id: {headers:?}");
    }
}

#[test]
fn discovery_and_explain_work_with_a_project_token() {
    let t = unique_name("disc");
    tenant_with_projects(&t, &["web"]);
    let dev = kubeconfig(&claims("ivy", &[Role::ProjectDev], Some(&t), Some("web")));

    let out = kubectl(&dev, &["api-resources", "-o", "name"]).expect("api-resources");
    let names: Vec<&str> = out.lines().collect();
    for expected in [
        "pods",
        "namespaces",
        "deployments.apps",
        "tenants.capsule.clastix.io",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let out = kubectl(
        &dev,
        &["api-resources", "--namespaced=true", "--api-group=apps"],
    )
    .expect("api-resources filtered");
    assert!(
        out.contains("deployments") && out.contains("apps/v1") && !out.contains("namespaces"),
        "{out}"
    );

    let out = kubectl(&dev, &["explain", "pods.spec"]).expect("explain");
    assert!(
        out.contains("KIND:       Pod") && out.contains("FIELD: spec <PodSpec>"),
        "{out}"
    );
    assert!(
        out.contains("containers\t<[]Container> -required-"),
        "{out}"
    );
    let out = kubectl(
        &dev,
        &[
            "explain",
            "tenants.spec.owners",
            "--api-version=capsule.clastix.io/v1beta2",
        ],
    )
    .expect("explain a CRD");
    assert!(out.contains("GROUP:      capsule.clastix.io"), "{out}");
}

#[test]
fn helm_installs_upgrades_and_uninstalls_a_chart_in_the_project() {
    let t = unique_name("helm");
    tenant_with_projects(&t, &["web", "db"]);
    let ns = format!("{t}-web");
    let dev = kubeconfig(&claims("jack", &[Role::ProjectDev], Some(&t), Some("web")));
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/hello");
    let chart = chart.display().to_string();
    let home = harness().env.dir().join(format!("helm-{t}"));
    let helm_bin = testenv::upstream::Module::Helm
        .path("helm")
        .expect("helm is built (make upstream)");
    let kc = dev.display().to_string();
    let helm_as = |kc: &str, args: &[&str]| -> String {
        let mut cmd = std::process::Command::new(&helm_bin);
        cmd.env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env_remove("KUBECONFIG")
            .args(["--kubeconfig", kc, "-n", &ns]);
        let (ok, out, err) = output(cmd, args);
        assert!(ok, "helm {}: {out}{err}", args.join(" "));
        out
    };
    let helm = |args: &[&str]| helm_as(&kc, args);
    let releases = || -> Vec<Value> {
        serde_json::from_str(&helm(&["list", "-o", "json"])).expect("helm list json")
    };

    let out = helm(&["install", "hello", &chart, "--wait", "--timeout", "90s"]);
    assert!(out.contains("STATUS: deployed"), "{out}");
    let list = releases();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "hello");
    assert_eq!(list[0]["namespace"], ns.as_str());
    assert_eq!(list[0]["revision"], "1");
    assert_eq!(list[0]["status"], "deployed");
    let cm = json_of(&dev, &ns, "configmap/hello-config");
    assert_eq!(cm["data"]["greeting"], "hello");
    // The tenant owner sees it with `helm list -A` (Secrets listed across the tenant's
    // namespaces, merged by the proxy).
    let owner = kubeconfig(&claims("kim", &[Role::TenantOwner], Some(&t), None));
    let all: Vec<Value> = serde_json::from_str(&helm_as(
        &owner.display().to_string(),
        &["list", "-A", "-o", "json"],
    ))
    .expect("helm list -A json");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["namespace"], ns.as_str());
    // Helm keeps the release in a Secret in the namespace.
    let secrets = kubectl(
        &dev,
        &[
            "-n",
            &ns,
            "get",
            "secrets",
            "-l",
            "owner=helm,name=hello",
            "-o",
            "name",
        ],
    )
    .expect("release secrets");
    assert_eq!(secrets.trim(), "secret/sh.helm.release.v1.hello.v1");

    let out = helm(&[
        "upgrade",
        "hello",
        &chart,
        "--set",
        "replicas=2,greeting=bonjour",
        "--wait",
        "--timeout",
        "90s",
    ]);
    assert!(out.contains("has been upgraded"), "{out}");
    let list = releases();
    assert_eq!(list[0]["revision"], "2", "{list:?}");
    let deployment = json_of(&dev, &ns, "deployment/hello");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["status"]["readyReplicas"], 2, "--wait waited");
    assert_eq!(
        json_of(&dev, &ns, "configmap/hello-config")["data"]["greeting"],
        "bonjour"
    );

    let out = helm(&["uninstall", "hello", "--wait", "--timeout", "90s"]);
    assert!(out.contains("release \"hello\" uninstalled"), "{out}");
    assert!(releases().is_empty());
    eventually(
        "the chart's objects are gone",
        Duration::from_secs(30),
        || {
            kubectl(
                &dev,
                &[
                    "-n",
                    &ns,
                    "get",
                    "deployments,configmaps,secrets",
                    "-o",
                    "name",
                ],
            )
            .is_ok_and(|out| !out.contains("hello"))
        },
    );
}

#[tokio::test]
async fn retry_after_from_the_apiservers_flow_control_comes_back() {
    let t = unique_name("apf");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let sub = unique_name("jailed");
    let token = harness()
        .proxy
        .sign(&claims(&sub, &[Role::ProjectDev], Some(&t), Some("web")))
        .expect("token");
    // API Priority and Fairness sees the impersonated user: put it in a priority level with
    // no seats, which rejects every request with 429 and `Retry-After`.
    let env = harness().env;
    let name = unique_name("kubenova-jail");
    let jail = format!(
        r#"apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {{name: {name}}}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 0
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse: {{type: Reject}}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{name: {name}}}
spec:
  priorityLevelConfiguration: {{name: {name}}}
  matchingPrecedence: 600
  distinguisherMethod: {{type: ByUser}}
  rules:
  - subjects: [{{kind: User, user: {{name: "kubenova:{sub}"}}}}]
    resourceRules: [{{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"]}}]
"#
    );
    env.apply(&jail).expect("flow control objects");
    // The level has no seats of its own, but APF still admits one request at a time: send
    // bursts of concurrent requests until one is turned away.
    let conn = Conn::open(Version::HTTP_2).await;
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (headers, body) = 'found: loop {
        let burst = (0..32).map(|_| {
            let mut conn = conn.try_clone().expect("h2");
            let request = super::http::get(&path, &token);
            async move {
                let response = conn.send(request).await;
                let status = response.status();
                let headers = response.headers().clone();
                (status, headers, text(response).await)
            }
        });
        for (status, headers, body) in futures_util::future::join_all(burst).await {
            if status == StatusCode::TOO_MANY_REQUESTS {
                break 'found (headers, body);
            }
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request was turned away by flow control"
        );
    };
    for kind in ["flowschema", "prioritylevelconfiguration"] {
        env.kubectl_run(&["delete", kind, &name], None)
            .expect("cleanup");
    }
    // APF's own answer, relayed as it is.
    assert!(body.starts_with("Too many requests"), "{body}");
    let retry_after = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    assert!(retry_after.is_some_and(|s| s >= 1), "{headers:?}");
    assert!(headers.contains_key("audit-id"), "{headers:?}");
}
