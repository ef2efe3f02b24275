//! The Helm chart `charts/kubenova`, with the real helm (the pinned v3.22.0) against testenv's
//! real apiserver:
//!
//! - `helm lint --strict`, and a matrix of values rendered by `helm template` and sent to the
//!   apiserver with a server-side dry run: every object must be accepted. cert-manager's,
//!   the Prometheus Operator's and Gateway API's kinds are accepted through minimal CRDs (any
//!   `spec`) applied here: their objects' shape is not checked by their real schemas.
//! - bad values fail with the schema's (or the chart's own) message.
//! - the install: `helm install` into testenv (in capsule-proxy mode, in front of testenv's
//!   capsule-proxy), then the rendered pods run as local processes (kwok runs no containers):
//!   exactly the command, args and env of each Deployment's pod, with its mounted Secrets,
//!   ConfigMaps and projected token written under a directory of its own (`pods/<name>/<mount
//!   path>`), as the chart's ServiceAccount. What differs from a real node, and only that: paths
//!   are under that directory; Service URLs (`kubenova-control.<ns>.svc`, capsule-proxy's) are
//!   mapped to the loopback ports the processes listen on; in-cluster configuration (the
//!   ServiceAccount token the kubelet mounts) is a kubeconfig with a TokenRequest token for the
//!   same ServiceAccount, passed as KUBECONFIG. Then the guide's flow, `helm upgrade` to a new
//!   chart version (issued kubeconfig still works, keys survive), and `helm uninstall`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use testenv::{Options, TestEnv, upstream::Module};

const NAMESPACE: &str = "kubenova-system";
const RELEASE: &str = "kubenova";
/// The issuer the install uses: an external address, as with an Ingress.
const ISSUER: &str = "https://kubenova.example.test";
const CLUSTER: &str = "prod";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

fn chart() -> PathBuf {
    root().join("charts/kubenova")
}

fn env() -> &'static TestEnv {
    TestEnv::shared_with(Options {
        label: "install".into(),
        capsule_proxy: true,
        ..Options::default()
    })
}

/// The real helm, with its own config and cache under the environment's directory.
fn helm(env: &TestEnv) -> Command {
    let home = env.dir().join("helm-home");
    let mut cmd = Command::new(Module::Helm.path("helm").expect("helm"));
    cmd.env("KUBECONFIG", env.kubeconfig_path())
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    cmd
}

/// Runs `cmd args`; Ok(stdout) or Err(stderr + stdout).
fn run(mut cmd: Command, args: &[&str]) -> Result<String, String> {
    let out = cmd.args(args).output().expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{}\n{stdout}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(cmd: Command, args: &[&str]) -> String {
    let what = format!("{:?} {}", cmd.get_program(), args.join(" "));
    run(cmd, args).unwrap_or_else(|e| panic!("{what} failed:\n{e}"))
}

/// The APIs a cluster with every dependency serves (for `helm template`'s capability checks).
const ALL_APIS: &[&str] = &[
    "capsule.clastix.io/v1beta2/Tenant",
    "core.oam.dev/v1beta1/Application",
    "capsule.clastix.io/v1beta1/ProxySetting",
    "cert-manager.io/v1/Certificate",
    "monitoring.coreos.com/v1/ServiceMonitor",
];

fn template(
    env: &TestEnv,
    namespace: &str,
    apis: &[&str],
    sets: &[&str],
) -> Result<String, String> {
    let mut args = vec![
        "template".to_owned(),
        RELEASE.to_owned(),
        chart().display().to_string(),
        format!("--namespace={namespace}"),
        "--kube-version=1.36.3".to_owned(),
    ];
    for api in apis {
        args.push(format!("--api-versions={api}"));
    }
    for set in sets {
        args.push(format!("--set={set}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(helm(env), &args)
}

/// Minimal CRDs for the optional kinds (any spec accepted), so a dry run can show the objects
/// are accepted by kind, version and metadata. Their real schemas are not checked.
fn optional_crds() -> String {
    let crd = |group: &str, version: &str, kind: &str, plural: &str| {
        // Groups under k8s.io must name their API review, as Gateway API's CRDs do.
        let approval = if group.ends_with(".k8s.io") {
            ", annotations: {api-approved.kubernetes.io: \"https://github.com/kubernetes-sigs/gateway-api/pull/1538\"}"
        } else {
            ""
        };
        format!(
            r#"---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}{approval}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  versions:
    - name: {version}
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#,
            singular = kind.to_ascii_lowercase()
        )
    };
    [
        crd("cert-manager.io", "v1", "Issuer", "issuers"),
        crd("cert-manager.io", "v1", "Certificate", "certificates"),
        crd(
            "monitoring.coreos.com",
            "v1",
            "ServiceMonitor",
            "servicemonitors",
        ),
        crd("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
        crd(
            "gateway.networking.k8s.io",
            "v1alpha2",
            "TLSRoute",
            "tlsroutes",
        ),
    ]
    .concat()
}

#[test]
fn lint_strict_passes() {
    let env = env();
    // lint cannot be told which APIs the cluster serves; the dependency check is what the
    // matrix below and `bad_values_fail_with_the_schemas_message` cover.
    let out = must(
        helm(env),
        &[
            "lint",
            "--strict",
            "--kube-version=1.36.3",
            "--set=dependencies.check=false",
            &chart().display().to_string(),
        ],
    );
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn every_values_set_is_accepted_by_the_apiserver() {
    let env = env();
    let ns = "kn-matrix";
    env.create_namespace(ns).expect("namespace");
    env.apply(&optional_crds()).expect("optional CRDs");
    must(
        env.kubectl(),
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "--all",
        ],
    );
    let matrix: &[(&str, &[&str])] = &[
        ("defaults", &[]),
        (
            "capsule-proxy mode",
            &[
                "proxy.mode=capsule-proxy",
                "proxy.capsuleProxy.caSecret=capsule-proxy-ca",
            ],
        ),
        ("cert-manager", &["tls.mode=cert-manager"]),
        (
            "cert-manager with an issuer of mine",
            &[
                "tls.mode=cert-manager",
                "tls.certManager.issuerRef.name=corp-ca",
                "tls.certManager.issuerRef.kind=ClusterIssuer",
            ],
        ),
        (
            "existing certificates",
            &[
                "tls.mode=existing",
                "tls.existing.controlSecret=a",
                "tls.existing.proxySecret=b",
            ],
        ),
        ("API only", &["control.mode=api"]),
        ("agent only", &["control.mode=agent", "proxy.enabled=false"]),
        (
            "every option",
            &[
                "serviceMonitor.enabled=true",
                "control.ingress.enabled=true",
                "control.ingress.hosts[0]=kubenova.example.com",
                "control.httpRoute.enabled=true",
                "control.httpRoute.parentRefs[0].name=gw",
                "proxy.ingress.enabled=true",
                "proxy.ingress.hosts[0]=k8s.example.com",
                "proxy.tlsRoute.enabled=true",
                "proxy.tlsRoute.parentRefs[0].name=gw",
                "proxy.autoscaling.enabled=true",
                "imagePullSecrets[0].name=regcred",
                "control.nodeSelector.role=infra",
                "proxy.tolerations[0].key=infra",
                "proxy.tolerations[0].operator=Exists",
                "control.extraEnv[0].name=EXTRA",
                "control.extraEnv[0].value=one",
                "keys.encryption.existingSecret=my-key",
                "networkPolicy.from[0].namespaceSelector.matchLabels.team=platform",
                "control.replicas=1",
            ],
        ),
    ];
    for (name, sets) in matrix {
        let manifests = template(env, ns, ALL_APIS, sets)
            .unwrap_or_else(|e| panic!("{name}: helm template failed:\n{e}"));
        let objects = manifests.matches("\nkind: ").count();
        assert!(
            objects >= 10,
            "{name}: only {objects} objects:\n{manifests}"
        );
        let mut kubectl = env.kubectl();
        kubectl.args(["apply", "--dry-run=server", "-n", ns, "-f", "-"]);
        let out = testenv::env::run(kubectl, &[], Some(&manifests))
            .unwrap_or_else(|e| panic!("{name}: the apiserver refused an object: {e}"));
        let accepted = out.matches("(server dry run)").count();
        assert_eq!(accepted, objects, "{name}: {out}");
    }
}

#[test]
fn bad_values_fail_with_the_schemas_message() {
    let env = env();
    let cases: &[(&[&str], &[&str], &str)] = &[
        (
            ALL_APIS,
            &["control.replicas=two"],
            "at '/control/replicas': got string, want integer",
        ),
        (
            ALL_APIS,
            &["proxy.mode=socks"],
            "at '/proxy/mode': value must be one of 'direct', 'capsule-proxy'",
        ),
        (
            ALL_APIS,
            &["control.mode=both"],
            "at '/control/mode': value must be one of 'all', 'api', 'agent'",
        ),
        (
            ALL_APIS,
            &["control.kubeconfigTtl=8 hours"],
            "at '/control/kubeconfigTtl'",
        ),
        (
            ALL_APIS,
            &["replicas=2"],
            "additional properties 'replicas' not allowed",
        ),
        (
            ALL_APIS,
            &["control.extraEnv[0].name=N", "control.extraEnv[0].value=1"],
            "at '/control/extraEnv/0/value': got number, want string",
        ),
        (
            &[],
            &[],
            "KubeNova needs what this cluster does not serve yet (docs/install.md, Prerequisites):\n  - Capsule v0.14",
        ),
        (
            ALL_APIS,
            &["proxy.mode=capsule-proxy"],
            "proxy.mode=capsule-proxy needs proxy.capsuleProxy.caSecret or proxy.capsuleProxy.caConfigMap",
        ),
    ];
    for (apis, sets, message) in cases {
        let err = template(env, "kn-bad", apis, sets).expect_err(&format!("{sets:?} should fail"));
        assert!(
            err.contains(message),
            "{sets:?}: expected {message:?} in:\n{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The install.

fn kubectl_json(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&must(env.kubectl(), &all)).expect("JSON")
}

/// A token for `account` from a TokenRequest (`kubectl create token`).
fn token(env: &TestEnv, account: &str, seconds: u64) -> String {
    must(
        env.kubectl(),
        &[
            "create",
            "token",
            account,
            "-n",
            NAMESPACE,
            &format!("--duration={seconds}s"),
        ],
    )
    .trim()
    .to_owned()
}

/// Writes a Secret's or ConfigMap's entries (all, or `items`) under `dir`.
fn write_entries(env: &TestEnv, kind: &str, name: &str, items: Option<&Value>, dir: &Path) {
    let object = kubectl_json(env, &["get", kind, name, "-n", NAMESPACE]);
    let data = object["data"].as_object().cloned().unwrap_or_default();
    let value = |key: &str| -> Vec<u8> {
        let raw = data
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{kind} {name} has no {key}"));
        if kind == "secret" {
            STANDARD.decode(raw).expect("base64")
        } else {
            raw.as_bytes().to_vec()
        }
    };
    let pairs: Vec<(String, String)> = match items.and_then(Value::as_array) {
        Some(items) => items
            .iter()
            .map(|i| {
                (
                    i["key"]
                        .as_str()
                        .expect("a string in the rendered pod")
                        .to_owned(),
                    i["path"]
                        .as_str()
                        .expect("a string in the rendered pod")
                        .to_owned(),
                )
            })
            .collect(),
        None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
    };
    for (key, path) in pairs {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("a parent directory")).expect("dir");
        std::fs::write(&file, value(&key)).expect("write");
    }
}

/// One rendered pod run as a local process.
struct Pod {
    pid: u32,
    name: String,
    /// Its directory: mounted files are under `<dir><mountPath>`.
    dir: PathBuf,
    /// Its ServiceAccount's kubeconfig.
    kubeconfig: PathBuf,
}

impl Pod {
    fn stop(&self) {
        // Our own child, by its pid.
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Path::new(&format!("/proc/{}", self.pid)).exists() && Instant::now() < deadline {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
            if stat.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Starts the pod of Deployment `deployment` as a process named `name`, with `binary` for the
/// image's entrypoint and `urls` mapping in-cluster URLs to where their processes listen.
fn run_pod(
    env: &TestEnv,
    deployment: &str,
    name: &str,
    binary: &Path,
    urls: &[(String, String)],
) -> Pod {
    let object = kubectl_json(env, &["get", "deployment", deployment, "-n", NAMESPACE]);
    let spec = &object["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let account = spec["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName");
    let dir = env.dir().join("pods").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("pod dir");
    let under = |path: &str| format!("{}{path}", dir.display());

    let volumes: Vec<Value> = spec["volumes"].as_array().cloned().unwrap_or_default();
    let mut mounts = Vec::new();
    for mount in container["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let path = mount["mountPath"]
            .as_str()
            .expect("a string in the rendered pod")
            .to_owned();
        let target = PathBuf::from(under(&path));
        std::fs::create_dir_all(&target).expect("mount dir");
        let volume = volumes
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("volume of a mount");
        if let Some(secret) = volume.get("secret") {
            write_entries(
                env,
                "secret",
                secret["secretName"]
                    .as_str()
                    .expect("a string in the rendered pod"),
                secret.get("items"),
                &target,
            );
        } else if let Some(map) = volume.get("configMap") {
            write_entries(
                env,
                "configmap",
                map["name"].as_str().expect("a string in the rendered pod"),
                map.get("items"),
                &target,
            );
        } else if let Some(projected) = volume.get("projected") {
            for source in projected["sources"]
                .as_array()
                .expect("a list in the rendered pod")
            {
                if let Some(t) = source.get("serviceAccountToken") {
                    let seconds = t["expirationSeconds"].as_u64().unwrap_or(3600);
                    let file =
                        target.join(t["path"].as_str().expect("a string in the rendered pod"));
                    std::fs::write(file, token(env, account, seconds)).expect("token");
                } else if let Some(s) = source.get("secret") {
                    write_entries(
                        env,
                        "secret",
                        s["name"].as_str().expect("a string in the rendered pod"),
                        s.get("items"),
                        &target,
                    );
                } else if let Some(m) = source.get("configMap") {
                    write_entries(
                        env,
                        "configmap",
                        m["name"].as_str().expect("a string in the rendered pod"),
                        m.get("items"),
                        &target,
                    );
                } else {
                    panic!("unknown projected source {source}");
                }
            }
        } else {
            assert!(volume.get("emptyDir").is_some(), "unknown volume {volume}");
        }
        mounts.push(path);
    }
    let rewrite = |value: &str| -> String {
        let mut out = value.to_owned();
        for (from, to) in urls {
            out = out.replace(from.as_str(), to);
        }
        for path in &mounts {
            if out.contains(path.as_str()) {
                out = out.replace(path.as_str(), &under(path));
            }
        }
        out
    };

    // In-cluster configuration stands in as a kubeconfig for the same ServiceAccount.
    let kubeconfig = dir.join("in-cluster.kubeconfig");
    testenv::kubeconfig::write(
        &kubeconfig,
        "in-cluster",
        env.server(),
        env.ca_pem(),
        testenv::kubeconfig::Credential::Token(&token(env, account, 24 * 3600)),
    )
    .expect("kubeconfig");

    let command: Vec<String> = container["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|c| c.as_str().expect("a string in the rendered pod").to_owned())
        .collect();
    let mut cmd = Command::new(binary);
    cmd.args(command[1..].iter().map(|c| rewrite(c)));
    for arg in container["args"].as_array().cloned().unwrap_or_default() {
        cmd.arg(rewrite(arg.as_str().expect("a string in the rendered pod")));
    }
    cmd.env_clear().env("PATH", "/usr/bin:/bin");
    if spec["automountServiceAccountToken"] != Value::Bool(false) {
        cmd.env("KUBECONFIG", &kubeconfig);
    }
    for var in container["env"].as_array().cloned().unwrap_or_default() {
        let var_name = var["name"].as_str().expect("a string in the rendered pod");
        let value = if let Some(v) = var["value"].as_str() {
            rewrite(v)
        } else {
            match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                // The pod's name, as the kubelet would give it.
                Some("metadata.name") => format!("{deployment}-{name}"),
                Some("metadata.namespace") => NAMESPACE.to_owned(),
                other => panic!("env {var_name}: unsupported {other:?}"),
            }
        };
        cmd.env(var_name, value);
    }
    env.spawn(name, cmd).expect("spawn");
    let pid = env
        .pids()
        .into_iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, pid)| pid)
        .expect("pid");
    Pod {
        pid,
        name: name.to_owned(),
        dir,
        kubeconfig,
    }
}

/// `curl` with the CA of `pod`'s serving certificate; Ok((status, body)).
fn curl(
    ca: &Path,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "60", "--cacert"])
        .arg(ca)
        .args(["-X", method, "-w", "\n%{http_code}", url]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &b.to_string(),
        ]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

fn wait_for(what: &str, pods: &[&Pod], mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !ready() {
        if Instant::now() > deadline {
            let logs: String = pods
                .iter()
                .map(|p| {
                    let log = env().log(&p.name);
                    format!("--- {}:\n{}\n", p.name, testenv::process::tail(&log, 40))
                })
                .collect();
            panic!("{what} did not happen within 90 s\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

struct Running {
    control: Pod,
    proxy: Pod,
    control_ca: PathBuf,
}

/// Runs both Deployments' pods and waits until they are ready.
fn run_release(env: &TestEnv, generation: &str) -> Running {
    let capsule_proxy = env
        .capsule_proxy
        .as_ref()
        .expect("capsule-proxy")
        .url
        .clone();
    let urls = vec![
        (
            format!("https://kubenova-control.{NAMESPACE}.svc:8443"),
            "https://127.0.0.1:8443".to_owned(),
        ),
        (
            "https://capsule-proxy.capsule-system.svc:9001".to_owned(),
            capsule_proxy,
        ),
    ];
    let control_bin = PathBuf::from(env!("CARGO_BIN_EXE_kubenova-control"));
    let proxy_bin = testenv::workspace_binary(&root(), "kubenova-proxy", "kubenova-proxy")
        .expect("proxy binary");
    let control = run_pod(
        env,
        "kubenova-control",
        &format!("control-{generation}"),
        &control_bin,
        &urls,
    );
    let control_ca = control.dir.join("etc/kubenova/tls/ca.crt");
    wait_for("kubenova-control /readyz", &[&control], || {
        curl(
            &control_ca,
            "GET",
            "https://127.0.0.1:8443/readyz",
            None,
            None,
        ) == (200, "ok".to_owned())
    });
    let proxy = run_pod(
        env,
        "kubenova-proxy",
        &format!("proxy-{generation}"),
        &proxy_bin,
        &urls,
    );
    wait_for("kubenova-proxy /readyz", &[&control, &proxy], || {
        Command::new("curl")
            .args(["-sf", "http://127.0.0.1:9090/readyz"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    Running {
        control,
        proxy,
        control_ca,
    }
}

fn secret_data(env: &TestEnv, name: &str) -> Value {
    kubectl_json(env, &["get", "secret", name, "-n", NAMESPACE])["data"].clone()
}

fn kubectl_as(env: &TestEnv, kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    run(env.kubectl_with(kubeconfig), args)
}

#[test]
fn install_use_upgrade_uninstall() {
    let env = env();
    env.install_crds(&[Module::KubeVela.path("crds").expect("vela CRDs")])
        .expect("vela CRDs");
    env.create_namespace(NAMESPACE).expect("namespace");
    // capsule-proxy's serving certificate comes from the environment's CA.
    let from_file = format!("--from-file=ca.crt={}", env.ca_path().display());
    must(
        env.kubectl(),
        &[
            "create",
            "secret",
            "generic",
            "capsule-proxy-ca",
            "-n",
            NAMESPACE,
            &from_file,
        ],
    );

    let values = [
        format!("--set=issuer={ISSUER}"),
        format!("--set=clusterName={CLUSTER}"),
        "--set=proxy.mode=capsule-proxy".to_owned(),
        "--set=proxy.capsuleProxy.caSecret=capsule-proxy-ca".to_owned(),
        "--set=control.tlsIpAddresses[0]=127.0.0.1".to_owned(),
        "--set=proxy.tlsIpAddresses[0]=127.0.0.1".to_owned(),
    ];
    let chart = chart().display().to_string();
    let mut args = vec!["install", RELEASE, &chart, "-n", NAMESPACE];
    args.extend(values.iter().map(String::as_str));
    let notes = must(helm(env), &args);
    assert!(
        notes.contains("kubenova-control token --admin"),
        "NOTES: {notes}"
    );

    let first = run_release(env, "1");
    let ca = &first.control_ca;
    let api = "https://127.0.0.1:8443/api/v1";

    // The first admin token, as NOTES.txt says (`kubectl exec` runs it in the control pod, as
    // its ServiceAccount: here the same command with that ServiceAccount's credential).
    let mut tok = Command::new(env!("CARGO_BIN_EXE_kubenova-control"));
    tok.env("KUBECONFIG", &first.control.kubeconfig);
    let admin = must(
        tok,
        &[
            "token",
            "--admin",
            &format!("--namespace={NAMESPACE}"),
            &format!("--issuer={ISSUER}"),
        ],
    )
    .trim()
    .to_owned();

    // Register this cluster: the control ServiceAccount's kubeconfig, the proxy and its CA.
    let proxy_ca = String::from_utf8(
        STANDARD
            .decode(
                secret_data(env, "kubenova-proxy-tls")["ca.crt"]
                    .as_str()
                    .expect("ca.crt in base64"),
            )
            .expect("ca.crt in base64"),
    )
    .expect("ca.crt as text");
    let register = serde_json::json!({
        "name": CLUSTER,
        "kubeconfig": std::fs::read_to_string(&first.control.kubeconfig).expect("the control pod kubeconfig"),
        "proxyUrl": "https://127.0.0.1:9443",
        "proxyCa": proxy_ca,
    });
    let (status, body) = curl(
        ca,
        "POST",
        &format!("{api}/clusters"),
        Some(&admin),
        Some(&register),
    );
    assert_eq!(status, 201, "{body}");

    // A tenant, a project, kubeconfigs, kubectl through the proxy.
    let tenant: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/examples/tenant.json"))
            .expect("docs/examples/tenant.json"),
    )
    .expect("tenant.json is JSON");
    let project: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/examples/project.json"))
            .expect("docs/examples/project.json"),
    )
    .expect("project.json is JSON");
    let (status, body) = curl(
        ca,
        "POST",
        &format!("{api}/clusters/{CLUSTER}/tenants"),
        Some(&admin),
        Some(&tenant),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = curl(
        ca,
        "POST",
        &format!("{api}/clusters/{CLUSTER}/tenants/acme/projects"),
        Some(&admin),
        Some(&project),
    );
    assert_eq!(status, 201, "{body}");
    wait_for("the project to be ready", &[&first.control], || {
        let (s, b) = curl(
            ca,
            "GET",
            &format!("{api}/clusters/{CLUSTER}/tenants/acme/projects/shop"),
            Some(&admin),
            None,
        );
        s == 200 && serde_json::from_str::<Value>(&b).is_ok_and(|v| v["status"]["ready"] == true)
    });
    // The agent ran under leader election, holding the Lease as the pod (downward API name).
    let lease = kubectl_json(env, &["get", "lease", "kubenova-agent", "-n", NAMESPACE]);
    assert_eq!(
        lease["spec"]["holderIdentity"],
        "kubenova-control-control-1"
    );
    let work = env.dir().join("install-work");
    std::fs::create_dir_all(&work).expect("work directory");
    let alice = work.join("acme-alice.kubeconfig");
    let (status, body) = curl(
        ca,
        "POST",
        &format!("{api}/tenants/acme/kubeconfig?subject=alice&format=yaml"),
        Some(&admin),
        None,
    );
    // (A kubeconfig holds a token: not printed.)
    assert_eq!(status, 201, "the tenant kubeconfig");
    std::fs::write(&alice, &body).expect("writing a kubeconfig");
    let bob = work.join("shop-bob.kubeconfig");
    let (status, body) = curl(
        ca,
        "GET",
        &format!(
            "{api}/clusters/{CLUSTER}/tenants/acme/projects/shop/kubeconfig?role=projectDev&subject=bob&format=yaml"
        ),
        Some(&admin),
        None,
    );
    assert_eq!(status, 201, "the project kubeconfig");
    std::fs::write(&bob, &body).expect("writing a kubeconfig");

    let namespaces =
        kubectl_as(env, &alice, &["get", "ns", "-o", "name"]).expect("alice lists namespaces");
    assert_eq!(
        namespaces.trim(),
        "namespace/acme-shop",
        "alice sees only acme's namespaces"
    );
    kubectl_as(
        env,
        &bob,
        &[
            "-n",
            "acme-shop",
            "create",
            "configmap",
            "hello",
            "--from-literal=greeting=hi",
        ],
    )
    .expect("bob creates");
    let err = kubectl_as(env, &bob, &["-n", "kube-system", "get", "pods"])
        .expect_err("outside the project");
    assert!(
        err.contains("Forbidden") || err.contains("forbidden"),
        "{err}"
    );

    // Keys and the cluster's encrypted kubeconfig before the upgrade.
    let kept = [
        "kubenova-signing-keys",
        "kubenova-encryption-key",
        "kubenova-ca",
        "kubenova-proxy-tls",
        "kubenova-control-tls",
        &format!("kubenova-cluster-{CLUSTER}"),
    ];
    let before: Vec<Value> = kept.iter().map(|s| secret_data(env, s)).collect();

    // `helm upgrade` to a new chart version, then the new pods replace the old ones.
    let next = work.join("chart-0.2.0");
    let _ = std::fs::remove_dir_all(&next);
    must(
        Command::new("cp"),
        &["-r", &chart, &next.display().to_string()],
    );
    let meta = std::fs::read_to_string(next.join("Chart.yaml")).expect("the copied Chart.yaml");
    std::fs::write(
        next.join("Chart.yaml"),
        meta.replace("version: 0.1.0", "version: 0.2.0"),
    )
    .expect("writing Chart.yaml");
    let next_chart = next.display().to_string();
    let mut args = vec!["upgrade", RELEASE, &next_chart, "-n", NAMESPACE];
    args.extend(values.iter().map(String::as_str));
    must(helm(env), &args);
    let label = kubectl_json(
        env,
        &["get", "deployment", "kubenova-proxy", "-n", NAMESPACE],
    )["metadata"]["labels"]["helm.sh/chart"]
        .clone();
    assert_eq!(label, "kubenova-0.2.0");
    let after: Vec<Value> = kept.iter().map(|s| secret_data(env, s)).collect();
    for ((name, b), a) in kept.iter().zip(&before).zip(&after) {
        // Compared whole, printed by entry names only (they hold keys).
        let names = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        assert!(
            b == a,
            "the Secret {name} changed in the upgrade: entries {:?} before, {:?} after",
            names(b),
            names(a)
        );
    }
    first.proxy.stop();
    first.control.stop();
    let second = run_release(env, "2");
    // The kubeconfig issued before still works, through the new proxy, verified by the new control's keys.
    let namespaces =
        kubectl_as(env, &alice, &["get", "ns", "-o", "name"]).expect("alice after the upgrade");
    assert_eq!(namespaces.trim(), "namespace/acme-shop");
    let cm = kubectl_as(
        env,
        &bob,
        &[
            "-n",
            "acme-shop",
            "get",
            "configmap",
            "hello",
            "-o",
            "jsonpath={.data.greeting}",
        ],
    )
    .expect("bob after the upgrade");
    assert_eq!(cm, "hi");
    // The cluster's kubeconfig is still readable: reading the tenant goes through it.
    let (status, body) = curl(
        &second.control_ca,
        "GET",
        &format!("{api}/clusters/{CLUSTER}/tenants/acme"),
        Some(&admin),
        None,
    );
    assert_eq!(status, 200, "{body}");

    // Renewing the serving certificates (docs/install.md: delete the Secret, `helm upgrade`):
    // once the files change, as the kubelet changes a mounted Secret, both serve the new ones
    // without a restart.
    let served = |port: u16| {
        must(
            Command::new("sh"),
            &[
                "-c",
                &format!(
                    "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
                ),
            ],
        )
    };
    let on_disk = |pod: &Pod| {
        let file = pod.dir.join("etc/kubenova/tls/tls.crt");
        must(
            Command::new("openssl"),
            &[
                "x509",
                "-noout",
                "-fingerprint",
                "-sha256",
                "-in",
                &file.display().to_string(),
            ],
        )
    };
    let ports = [(8443, &second.control), (9443, &second.proxy)];
    for (port, pod) in ports {
        assert_eq!(served(port), on_disk(pod), "port {port} before the renewal");
    }
    let old: Vec<String> = ports.iter().map(|(port, _)| served(*port)).collect();
    must(
        env.kubectl(),
        &[
            "delete",
            "secret",
            "kubenova-control-tls",
            "kubenova-proxy-tls",
            "-n",
            NAMESPACE,
        ],
    );
    let mut args = vec!["upgrade", RELEASE, &next_chart, "-n", NAMESPACE];
    args.extend(values.iter().map(String::as_str));
    must(helm(env), &args);
    for (secret, pod) in [
        ("kubenova-control-tls", &second.control),
        ("kubenova-proxy-tls", &second.proxy),
    ] {
        write_entries(
            env,
            "secret",
            secret,
            None,
            &pod.dir.join("etc/kubenova/tls"),
        );
    }
    for ((port, pod), old) in ports.iter().zip(&old) {
        let new = on_disk(pod);
        assert_ne!(&new, old, "port {port}: the certificate was not re-signed");
        wait_for(
            &format!("port {port} to serve the renewed certificate"),
            &[pod],
            || served(*port) == new,
        );
    }

    // `helm uninstall` leaves the CRDs (and their objects) and the two key Secrets (kept on
    // purpose, docs/install.md), nothing else of the chart's.
    second.proxy.stop();
    second.control.stop();
    must(
        helm(env),
        &["uninstall", RELEASE, "-n", NAMESPACE, "--wait"],
    );
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    let left = must(
        env.kubectl(),
        &[
            "get",
            "deployments,services,serviceaccounts,secrets,configmaps,roles,rolebindings,networkpolicies,poddisruptionbudgets,clusterroles,clusterrolebindings",
            "-A",
            "-l",
            &selector,
            "-o",
            "name",
        ],
    );
    let mut left: Vec<&str> = left.lines().collect();
    left.sort_unstable();
    assert_eq!(
        left,
        [
            "secret/kubenova-encryption-key",
            "secret/kubenova-signing-keys"
        ]
    );
    let crds = must(env.kubectl(), &["get", "crd", "-o", "name"]);
    for crd in ["apps", "clusters", "issuedtokens", "projects", "tenants"] {
        assert!(
            crds.contains(&format!("{crd}.kubenova.io")),
            "CRD {crd} removed:\n{crds}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The images.

/// `make images`' script builds both images and pushes them to a registry of the environment;
/// pulled back into fresh storage, each image runs as user 65532 with its root read-only, and
/// its labels and name match what the chart's defaults point at.
#[test]
fn images_are_pushed_pulled_back_and_run_as_non_root_on_a_read_only_root() {
    let env = env();
    let registry =
        testenv::block_on(async move { env.oci_registry(None).await }).expect("registry");
    let prefix = format!("{}/kubenova", registry.host());
    let work = env.dir().join("images");
    let mut script = Command::new(root().join("hack/images.sh"));
    script
        .env("IMAGES_STORAGE", work.join("build"))
        .env("IMAGES_TLS_VERIFY", "false");
    must(script, &[&prefix]);

    // The chart's default images are <image.registry>/<binary>:<appVersion>, as pushed.
    let rendered = template(
        env,
        "kn-images",
        ALL_APIS,
        &[&format!("image.registry={prefix}")],
    )
    .expect("helm template");
    let version = env!("CARGO_PKG_VERSION");
    for bin in ["kubenova-control", "kubenova-proxy"] {
        let image = format!("{prefix}/{bin}:{version}");
        assert!(
            rendered.contains(&format!("image: {image}")),
            "{bin}: the chart does not use {image}"
        );

        // Pulled back into storage that has never seen it.
        let store = work.join(format!("pull-{bin}"));
        let buildah = || {
            let mut cmd = Command::new("buildah");
            cmd.args(["--storage-driver", "vfs", "--root"])
                .arg(store.join("root"))
                .arg("--runroot")
                .arg(store.join("run"));
            cmd
        };
        must(
            buildah(),
            &[
                "pull",
                "--quiet",
                "--tls-verify=false",
                &format!("docker://{image}"),
            ],
        );
        let inspect: Value =
            serde_json::from_str(&must(buildah(), &["inspect", "--type", "image", &image]))
                .expect("inspect JSON");
        let config = &inspect["OCIv1"]["config"];
        assert_eq!(config["User"], "65532:65532", "{bin}: {config}");
        assert_eq!(config["Entrypoint"][0], format!("/{bin}"));
        assert_eq!(
            config["Labels"]["org.opencontainers.image.version"],
            version
        );
        assert_eq!(
            config["Labels"]["org.opencontainers.image.source"],
            "https://github.com/kubenova/kubenova"
        );
        // Its filesystem is the binary alone.
        let ctr = must(
            buildah(),
            &["from", "--quiet", "--isolation", "chroot", &image],
        )
        .trim()
        .to_owned();
        let rootfs = must(buildah(), &["mount", &ctr]).trim().to_owned();
        let files: Vec<String> = std::fs::read_dir(&rootfs)
            .expect("rootfs")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, [bin], "{bin}: the image holds more than the binary");
        // Run as 65532 on a read-only root, in a mount namespace of its own.
        let script = format!(
            "mount --bind {r} {r} && mount -o remount,bind,ro {r} && \
             ! touch {r}/written 2>/dev/null && \
             chroot --userspec=65532:65532 {r} /{bin} --version",
            r = rootfs
        );
        let out = must(
            Command::new("unshare"),
            &["--mount", "--propagation", "private", "sh", "-c", &script],
        );
        assert_eq!(out.trim(), format!("{bin} {version}"));
        must(buildah(), &["rm", &ctr]);
    }
}
