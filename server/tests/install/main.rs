//! The Helm chart `charts/kubenova`, with the real helm (the pinned v3.22.0) against testenv's
//! real apiserver:
//!
//! - `helm lint --strict`, and a matrix of values rendered by `helm template` and sent to the
//!   apiserver with a server-side dry run: every object must be accepted. cert-manager's,
//!   the Prometheus Operator's and Gateway API's kinds are accepted through minimal CRDs (any
//!   `spec`) applied here: their objects' shape is not checked by their real schemas.
//! - bad values fail with the schema's (or the chart's own) message.
//! - the install: docs/install.md run as written (ADR 0027): capsule-proxy's own chart (from its
//!   source tree, served as the page's `projectcapsule` repository) and then `charts/kubenova`
//!   installed with `helm install` into testenv (in capsule-proxy mode, in front of that
//!   capsule-proxy), the rendered pods run as local processes (kwok runs no containers):
//!   exactly the command, args and env of each Deployment's pod (capsule-proxy's binary from
//!   `make upstream` for its image), with its mounted Secrets, ConfigMaps and projected token
//!   written under a directory of its own (`pods/<name>/<mount path>`), as the chart's
//!   ServiceAccount. What differs from a real node, and only that: paths are under that
//!   directory; Service names (`kubenova-control.<ns>.svc`, `capsule-proxy.capsule-system.svc`)
//!   resolve to loopback, where the processes listen on the Services' ports; in-cluster
//!   configuration (the ServiceAccount token the kubelet mounts) is a kubeconfig with a
//!   TokenRequest token for the same ServiceAccount, passed as KUBECONFIG. Then the guide's
//!   flow, `helm upgrade` to a new chart version (issued kubeconfig still works, keys survive),
//!   and `helm uninstall`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use testenv::{Options, TestEnv, upstream::Module};

#[path = "../guide/script.rs"]
mod script;
#[path = "../guide/shell.rs"]
mod shell;

const NAMESPACE: &str = "kubenova-system";
const RELEASE: &str = "kubenova";

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
        // docs/install.md installs capsule-proxy from its own chart; testenv's would hold its
        // fixed health port (:8081).
        capsule_proxy: false,
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
                "keys.signing.existingSecret=my-signing-keys",
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
// The install: docs/install.md, run as written.

fn kubectl_json(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&must(env.kubectl(), &all)).expect("JSON")
}

/// A token for `account` of `namespace` from a TokenRequest (`kubectl create token`).
fn token(env: &TestEnv, namespace: &str, account: &str, seconds: u64) -> String {
    must(
        env.kubectl(),
        &[
            "create",
            "token",
            account,
            "-n",
            namespace,
            &format!("--duration={seconds}s"),
        ],
    )
    .trim()
    .to_owned()
}

/// Writes `bytes` to `file` unless it holds them already, by a rename (as the kubelet swaps a
/// mounted Secret's files), so a reader never sees half a file.
fn write_if_changed(file: &Path, bytes: &[u8]) {
    if std::fs::read(file).ok().as_deref() == Some(bytes) {
        return;
    }
    std::fs::create_dir_all(file.parent().expect("a parent directory")).expect("dir");
    let tmp = file.with_extension("kubelet-tmp");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, file).expect("rename");
}

/// Writes a Secret's or ConfigMap's entries (all, or `items`) under `dir`.
/// As the kubelet: a starting pod waits for its volumes' objects (e.g. the `kube-root-ca.crt`
/// ConfigMap the controller-manager publishes into a new namespace); a running pod keeps the
/// files it has while an object is gone.
fn write_entries(
    env: &TestEnv,
    namespace: &str,
    kind: &str,
    name: &str,
    items: Option<&Value>,
    dir: &Path,
    starting: bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let object: Value = loop {
        match run(
            env.kubectl(),
            &["get", kind, name, "-n", namespace, "-o", "json"],
        ) {
            Ok(json) => break serde_json::from_str(&json).expect("JSON"),
            Err(_) if !starting => return,
            Err(e) if Instant::now() > deadline => panic!("{kind} {name} to mount: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    };
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
            .map(|i| (text(&i["key"]).to_owned(), text(&i["path"]).to_owned()))
            .collect(),
        None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
    };
    for (key, path) in pairs {
        write_if_changed(&dir.join(path), &value(&key));
    }
}

/// A string of the rendered pod.
fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string in the rendered pod, not {value}"))
}

/// Writes the files of the volumes `container` (of a pod in `namespace`) mounts under `dir`
/// (`<dir><mountPath>`), as the kubelet does: on start (`tokens`) everything, ServiceAccount
/// tokens (TokenRequest, for `account`) included; afterwards the Secrets' and ConfigMaps'
/// current contents. Returns the mount paths.
fn mount_volumes(
    env: &TestEnv,
    namespace: &str,
    spec: &Value,
    container: &Value,
    dir: &Path,
    tokens: bool,
) -> Vec<String> {
    let account = text(&spec["serviceAccountName"]);
    let volumes: Vec<Value> = spec["volumes"].as_array().cloned().unwrap_or_default();
    let mut mounts = Vec::new();
    for mount in container["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let path = text(&mount["mountPath"]).to_owned();
        let target = PathBuf::from(format!("{}{path}", dir.display()));
        std::fs::create_dir_all(&target).expect("mount dir");
        let volume = volumes
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("volume of a mount");
        if let Some(secret) = volume.get("secret") {
            let name = text(&secret["secretName"]);
            write_entries(
                env,
                namespace,
                "secret",
                name,
                secret.get("items"),
                &target,
                tokens,
            );
        } else if let Some(map) = volume.get("configMap") {
            let name = text(&map["name"]);
            write_entries(
                env,
                namespace,
                "configmap",
                name,
                map.get("items"),
                &target,
                tokens,
            );
        } else if let Some(projected) = volume.get("projected") {
            for source in projected["sources"]
                .as_array()
                .expect("a list in the rendered pod")
            {
                if let Some(t) = source.get("serviceAccountToken") {
                    if tokens {
                        let seconds = t["expirationSeconds"].as_u64().unwrap_or(3600);
                        let file = target.join(text(&t["path"]));
                        std::fs::write(file, token(env, namespace, account, seconds))
                            .expect("token");
                    }
                } else if let Some(s) = source.get("secret") {
                    write_entries(
                        env,
                        namespace,
                        "secret",
                        text(&s["name"]),
                        s.get("items"),
                        &target,
                        tokens,
                    );
                } else if let Some(m) = source.get("configMap") {
                    write_entries(
                        env,
                        namespace,
                        "configmap",
                        text(&m["name"]),
                        m.get("items"),
                        &target,
                        tokens,
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
    mounts
}

/// One rendered pod run as a local process.
struct Pod {
    pid: u32,
    name: String,
    /// Its directory: mounted files are under `<dir><mountPath>`.
    dir: PathBuf,
}

impl Pod {
    fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .is_ok_and(|stat| !stat.contains(") Z "))
    }

    fn stop(&self) {
        // Our own child, by its pid.
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self, env: &TestEnv) -> String {
        format!(
            "--- {}:\n{}\n",
            self.name,
            testenv::process::tail(&env.log(&self.name), 40)
        )
    }
}

/// The command that runs the rest of its arguments with `hosts` as /etc/hosts (a mount
/// namespace of its own; CI runs as root).
fn with_hosts(hosts: &Path) -> Vec<String> {
    [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        r#"mount --bind "$0" /etc/hosts && exec "$@""#,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([hosts.display().to_string()])
    .collect()
}

/// The image capsule-proxy's chart runs (`make upstream` builds its binary from the same tag).
fn capsule_proxy_image() -> String {
    format!(
        "ghcr.io/projectcapsule/capsule-proxy:{}",
        Module::CapsuleProxy.version()
    )
}

/// Starts the pod of the Deployment `deployment` of `namespace` (its current template) as the
/// process `name`.
fn run_pod(env: &TestEnv, namespace: &str, deployment: &Value, name: &str, hosts: &Path) -> Pod {
    let spec = &deployment["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let account = text(&spec["serviceAccountName"]);
    let dir = env.dir().join("pods").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("pod dir");
    let mounts = mount_volumes(env, namespace, spec, container, &dir, true);
    let rewrite = |value: &str| -> String {
        let mut out = value.to_owned();
        for path in &mounts {
            out = out.replace(path.as_str(), &format!("{}{path}", dir.display()));
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
        testenv::kubeconfig::Credential::Token(&token(env, namespace, account, 24 * 3600)),
    )
    .expect("kubeconfig");

    let command: Vec<&str> = container["command"]
        .as_array()
        .map(|c| c.iter().map(text).collect())
        .unwrap_or_default();
    // The image's entrypoint: ours built from this workspace; capsule-proxy's (its chart gives
    // no command, so the image's own) built by `make upstream` from the tag the image names.
    let image = text(&container["image"]);
    let (binary, rest) = match command.split_first() {
        Some((&"/kubenova-control", rest)) => {
            (PathBuf::from(env!("CARGO_BIN_EXE_kubenova-control")), rest)
        }
        Some((&"/kubenova-proxy", rest)) => (
            testenv::workspace_binary(&root(), "kubenova-proxy", "kubenova-proxy")
                .expect("proxy binary"),
            rest,
        ),
        None if image == capsule_proxy_image() => (
            Module::CapsuleProxy
                .path("capsule-proxy")
                .expect("capsule-proxy (make upstream)"),
            &[][..],
        ),
        other => panic!("no local program for the image {image} with the command {other:?}"),
    };
    let wrapper = with_hosts(hosts);
    let mut cmd = Command::new(&wrapper[0]);
    cmd.args(&wrapper[1..]).arg(binary);
    cmd.args(rest.iter().map(|c| rewrite(c)));
    for arg in container["args"].as_array().cloned().unwrap_or_default() {
        cmd.arg(rewrite(text(&arg)));
    }
    cmd.env_clear().env("PATH", "/usr/bin:/bin");
    if spec["automountServiceAccountToken"] != Value::Bool(false) {
        cmd.env("KUBECONFIG", &kubeconfig);
    }
    for var in container["env"].as_array().cloned().unwrap_or_default() {
        let var_name = text(&var["name"]);
        let value = if let Some(v) = var["value"].as_str() {
            rewrite(v)
        } else {
            match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                // The pod's name, as the kubelet would give it.
                Some("metadata.name") => name.to_owned(),
                Some("metadata.namespace") => namespace.to_owned(),
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
    }
}

/// The URL of a container's readiness probe (`httpGet`), on loopback.
fn readiness_url(container: &Value) -> String {
    let get = &container["readinessProbe"]["httpGet"];
    let port = match &get["port"] {
        Value::Number(n) => n.to_string(),
        Value::String(name) => container["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["name"] == *name))
            .map(|p| p["containerPort"].to_string())
            .unwrap_or_else(|| panic!("no port named {name}")),
        other => panic!("readiness probe port {other}"),
    };
    let scheme = get["scheme"]
        .as_str()
        .unwrap_or("HTTP")
        .to_ascii_lowercase();
    format!("{scheme}://127.0.0.1:{port}{}", text(&get["path"]))
}

/// A rendered Deployment's pod, running.
struct Running {
    namespace: &'static str,
    /// The Deployment (to start its pod again).
    deployment: Value,
    pod: Pod,
    /// The pod template it runs (a new one replaces the process).
    template: String,
    spec: Value,
}

/// How often a pod that exits before it is ready is started again ([`Pods::ready`]).
const RESTARTS: u64 = 5;

/// The releases the page installs whose pods [`Pods`] runs: (namespace, release).
const RELEASES: &[(&str, &str)] = &[(NAMESPACE, RELEASE), ("capsule-system", "capsule-proxy")];

/// The stand-in for the kubelets: the Deployments of the [`RELEASES`] each run as one process
/// (one replica: the ports are the pod's own), replaced when their pod template changes,
/// stopped when the Deployment goes; mounted Secrets and ConfigMaps follow their objects.
/// [`Pods::sync`] runs between the page's commands and returns once every pod passes its
/// readiness probe, as `kubectl rollout status` would wait on real nodes. A process that exits
/// before it is ready is started again a few times, as a kubelet restarts a crashing container
/// (kubenova-proxy exits when control does not serve its JWKS yet); one that exits after it was
/// ready fails the test. Deployment names are unique across the releases.
struct Pods<'a> {
    env: &'a TestEnv,
    hosts: PathBuf,
    running: std::collections::BTreeMap<String, Running>,
    started: usize,
    /// What the reader's machine trusts (see [`Pods::trust`]).
    trust: PathBuf,
}

impl Pods<'_> {
    fn sync(&mut self) {
        let env = self.env;
        let mut seen = Vec::new();
        for &(namespace, release) in RELEASES {
            let selector = format!("app.kubernetes.io/instance={release}");
            let list = kubectl_json(
                env,
                &["get", "deployments", "-n", namespace, "-l", &selector],
            );
            for deployment in list["items"].as_array().cloned().unwrap_or_default() {
                let name = text(&deployment["metadata"]["name"]).to_owned();
                if deployment["spec"]["replicas"] == 0 {
                    continue;
                }
                seen.push(name.clone());
                let template = deployment["spec"]["template"].to_string();
                let spec = deployment["spec"]["template"]["spec"].clone();
                match self.running.get(&name) {
                    Some(r) if r.template == template && r.pod.alive() => {
                        // The kubelet keeps mounted Secrets and ConfigMaps current.
                        let container = &spec["containers"][0];
                        mount_volumes(env, namespace, &spec, container, &r.pod.dir, false);
                        continue;
                    }
                    Some(r) if r.template == template => {
                        panic!("{name} exited:\n{}", r.pod.log_tail(env));
                    }
                    Some(r) => r.pod.stop(),
                    None => {}
                }
                self.started += 1;
                let pod_name = format!("{name}-{}", self.started);
                let pod = run_pod(env, namespace, &deployment, &pod_name, &self.hosts);
                self.running.insert(
                    name,
                    Running {
                        namespace,
                        deployment,
                        pod,
                        template,
                        spec,
                    },
                );
            }
        }
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !seen.contains(n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(r) = self.running.remove(&name) {
                r.pod.stop();
            }
        }
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            self.ready(&name);
        }
        self.trust();
    }

    /// Waits for the pod of `deployment` to pass its readiness probe, starting it again (at most
    /// [`RESTARTS`] times, after 1, 2, ... s) when it exits first.
    fn ready(&mut self, deployment: &str) {
        let env = self.env;
        let r = self.running.get_mut(deployment).expect("running");
        let url = readiness_url(&r.spec["containers"][0]);
        let mut restarts = 0;
        let mut deadline = Instant::now() + Duration::from_secs(90);
        while !Command::new("curl")
            .args(["-skf", "--max-time", "5", &url])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            if !r.pod.alive() {
                let log = r.pod.log_tail(env);
                assert!(
                    restarts < RESTARTS,
                    "{deployment} exited {} times before it was ready:\n{log}",
                    restarts + 1
                );
                restarts += 1;
                eprintln!("{deployment} exited before it was ready; restart {restarts}:\n{log}");
                std::thread::sleep(Duration::from_secs(restarts));
                self.started += 1;
                let pod_name = format!("{deployment}-{}", self.started);
                r.pod = run_pod(env, r.namespace, &r.deployment, &pod_name, &self.hosts);
                deadline = Instant::now() + Duration::from_secs(90);
            }
            if Instant::now() > deadline {
                panic!(
                    "{} ready ({url}) did not happen within 90 s\n{}",
                    r.pod.name,
                    r.pod.log_tail(env)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The reader reaches the API through an Ingress whose certificate their machine trusts;
    /// here the Ingress passes TLS through to control, so the shell's curl trusts control's CA
    /// (and the environment's).
    fn trust(&self) {
        let mut bundle = self.env.ca_pem().to_owned();
        if let Some(control) = self.running.get("kubenova-control") {
            let ca = control.pod.dir.join("etc/kubenova/tls/ca.crt");
            bundle.push_str(&std::fs::read_to_string(ca).expect("control's CA"));
        }
        write_if_changed(&self.trust, bundle.as_bytes());
    }

    fn logs(&self) -> String {
        self.running
            .values()
            .map(|r| r.pod.log_tail(self.env))
            .collect()
    }

    fn pod(&self, deployment: &str) -> &Pod {
        &self.running.get(deployment).expect("running").pod
    }
}

fn wait_for(what: &str, pods: &[&Pod], mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !ready() {
        if Instant::now() > deadline {
            let logs: String = pods.iter().map(|p| p.log_tail(env())).collect();
            panic!("{what} did not happen within 90 s\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A TCP relay from `listen` to `to`, for as long as the test runs: a Service's or Ingress's
/// address on loopback.
fn relay(listen: &str, to: String) {
    let listener = std::net::TcpListener::bind(listen)
        .unwrap_or_else(|e| panic!("binding {listen} (run with /work/bin/isolated, as root): {e}"));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = std::net::TcpStream::connect(&to) else {
                continue;
            };
            let (mut a, mut b) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
            let (mut a, mut b) = (upstream, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}

fn secret_data(env: &TestEnv, name: &str) -> Value {
    kubectl_json(env, &["get", "secret", name, "-n", NAMESPACE])["data"].clone()
}

/// The SHA-256 fingerprint of the certificate served on a loopback port.
fn served(port: u16) -> String {
    must(
        Command::new("sh"),
        &[
            "-c",
            &format!(
                "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
            ),
        ],
    )
}

/// The SHA-256 fingerprint of a pod's mounted serving certificate.
fn on_disk(pod: &Pod) -> String {
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
}

/// The page's names for what the reader reaches: the API through an Ingress at
/// kubenova.example.com (TLS passed through to control's Service), the proxy's LoadBalancer at
/// k8s.example.com, and the in-cluster names of control's and capsule-proxy's Services (their
/// pods listen on the Services' ports) and the apiserver.
const HOSTS: &str = "127.0.0.1 localhost
127.0.0.1 k8s.example.com
127.0.0.1 kubenova-control.kubenova-system.svc
127.0.0.1 capsule-proxy.capsule-system.svc
127.0.0.2 kubenova.example.com
127.0.0.3 kubernetes.default.svc kubernetes.default.svc.cluster.local
";

/// The stand-in for the page's `helm repo add projectcapsule https://projectcapsule.github.io/charts`
/// (in its skipped prerequisites block): capsule-proxy's chart from the source tree `make
/// upstream` builds the binary from, packaged at that version as its release does (the tree's
/// Chart.yaml says 0.0.0; its release sets version and appVersion, hence the image tag), served
/// by a chart repository on loopback and added under the page's repository name.
fn capsule_proxy_chart_repository(env: &TestEnv) {
    let repo = env.dir().join("capsule-proxy-charts");
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&repo).expect("repository dir");
    let version = Module::CapsuleProxy.version().trim_start_matches('v');
    let chart = Module::CapsuleProxy
        .path("chart")
        .expect("capsule-proxy's chart");
    let repo_dir = repo.display().to_string();
    must(
        helm(env),
        &[
            "package",
            &chart.display().to_string(),
            "--version",
            version,
            "--app-version",
            version,
            "--destination",
            &repo_dir,
        ],
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    must(helm(env), &["repo", "index", &repo_dir, "--url", &url]);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let repo = repo.clone();
            std::thread::spawn(move || serve_file(client, &repo));
        }
    });
    must(
        helm(env),
        &["repo", "add", "projectcapsule", &url, "--force-update"],
    );
}

/// Answers one HTTP GET with a file of `dir` (a chart repository: `index.yaml`, `*.tgz`).
fn serve_file(mut client: std::net::TcpStream, dir: &Path) {
    use std::io::{BufRead as _, Write as _};
    let mut reader = std::io::BufReader::new(client.try_clone().expect("clone"));
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let name = path.trim_start_matches('/');
    let file = (!name.contains('/') && !name.is_empty())
        .then(|| std::fs::read(dir.join(name)).ok())
        .flatten();
    let _ = match file {
        Some(body) => client
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|()| client.write_all(&body)),
        None => client
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// The Secrets an upgrade must leave as they are.
const KEPT: &[&str] = &[
    "kubenova-signing-keys",
    "kubenova-encryption-key",
    "kubenova-ca",
    "kubenova-proxy-tls",
    "kubenova-control-tls",
    "kubenova-cluster-prod",
];

/// docs/install.md's shell blocks, run as written by the guides' block runner
/// (`server/tests/guide/{script,shell}.rs`) in one bash, with the pods of what it installs run
/// as processes ([`Pods`]). Between its commands the test checks what the page claims but does
/// not print: an upgrade to a new chart version keeps every key and certificate Secret; renewed
/// serving certificates are served without a restart; the bootstrap token is recorded like
/// every issued token; `helm uninstall` leaves only what the page lists.
#[test]
fn the_install_page_runs_as_written() {
    let env = env();
    // KubeVela is a prerequisite the chart checks for; apps are not part of this page.
    env.install_crds(&[Module::KubeVela.path("crds").expect("vela CRDs")])
        .expect("vela CRDs");
    let page = "docs/install.md";
    let markdown = std::fs::read_to_string(root().join(page)).expect("the page");
    let (steps, skipped) =
        script::parse_curl_only(page, &markdown).unwrap_or_else(|e| panic!("{e}"));
    for s in &skipped {
        eprintln!("{}: skipped: {}", s.place, s.reason);
    }
    assert!(steps.len() > 20, "only {} steps found", steps.len());
    // The page runs in one pass: a block of one form only would never run.
    if let Some(step) = steps.iter().find(|s| s.form.is_some()) {
        panic!(
            "{}: a ```sh {} block; the install page runs its ```sh blocks in one pass",
            step.place,
            step.form.map(script::Form::word).unwrap_or_default()
        );
    }

    // The reader's working directory: a copy of the chart (an upgrade brings a new version of
    // it), the docs' examples.
    let dir = env.dir().join("install-page");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("charts")).expect("scratch dir");
    std::os::unix::fs::symlink(root().join("docs"), dir.join("docs")).expect("docs link");
    must(
        Command::new("cp"),
        &[
            "-r",
            &chart().display().to_string(),
            &dir.join("charts/kubenova").display().to_string(),
        ],
    );
    let hosts = dir.join(".hosts");
    std::fs::write(&hosts, HOSTS).expect("hosts");
    relay("127.0.0.2:443", "127.0.0.1:8443".into());
    let apiserver = env
        .server()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    relay("127.0.0.3:443", apiserver);
    capsule_proxy_chart_repository(env);
    let mut pods = Pods {
        env,
        hosts: hosts.clone(),
        running: std::collections::BTreeMap::new(),
        started: 0,
        trust: dir.join(".trusted.pem"),
    };
    pods.trust();

    let wrapper = with_hosts(&hosts);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut sh = shell::Shell::start(&dir, ".guide", &wrapper, &[]);
    let helm_dir = Module::Helm.path("helm").expect("helm");
    let kubectl_dir = env.kubectl_path().parent().expect("kubectl's directory");
    let home = env.dir().join("helm-home");
    let setup = format!(
        "export KUBECONFIG='{}' PATH='{}:{}':\"$PATH\" HELM_CONFIG_HOME='{}' HELM_CACHE_HOME='{}' HELM_DATA_HOME='{}' CURL_CA_BUNDLE='{}'",
        env.kubeconfig_path().display(),
        helm_dir.parent().expect("helm's directory").display(),
        kubectl_dir.display(),
        home.join("config").display(),
        home.join("cache").display(),
        home.join("data").display(),
        pods.trust.display(),
    );
    assert_eq!(sh.run(&setup).expect("the shell").code, 0, "{setup}");

    let upgrade = "helm upgrade kubenova charts/kubenova -n kubenova-system --reuse-values";
    let mut upgrades = 0;
    let mut kept_before: Vec<Value> = Vec::new();
    let mut served_before: Vec<String> = Vec::new();
    let started = Instant::now();
    for step in &steps {
        pods.sync();
        let command = step.command.trim();
        if command == upgrade {
            upgrades += 1;
            if upgrades == 1 {
                // A new chart version arrives in the reader's copy.
                let file = dir.join("charts/kubenova/Chart.yaml");
                let meta = std::fs::read_to_string(&file).expect("Chart.yaml");
                assert!(meta.contains("\nversion: 0.1.0\n"), "{meta}");
                std::fs::write(
                    &file,
                    meta.replace("\nversion: 0.1.0\n", "\nversion: 0.2.0\n"),
                )
                .expect("Chart.yaml");
                kept_before = KEPT.iter().map(|s| secret_data(env, s)).collect();
            }
        }
        if command.starts_with("kubectl -n kubenova-system delete secret kubenova-control-tls") {
            served_before = [8443, 9443].map(served).to_vec();
            for (port, deployment) in [(8443, "kubenova-control"), (9443, "kubenova-proxy")] {
                assert_eq!(served(port), on_disk(pods.pod(deployment)), "port {port}");
            }
        }
        let at = Instant::now();
        let ran = sh.run(&step.command).unwrap_or_else(|e| {
            panic!(
                "{}: {e}\n{}\n{}",
                step.place,
                step.command.trim_end(),
                pods.logs()
            )
        });
        eprintln!(
            "{} ({} ms, exit {}): {}",
            step.place,
            at.elapsed().as_millis(),
            ran.code,
            step.command.lines().next().unwrap_or_default()
        );
        if let Some(problem) = shell::judge(step, &ran) {
            panic!(
                "{}: {problem}\ncommand:\n{}\nstdout:\n{}\nstderr:\n{}\n{}",
                step.place,
                step.command.trim_end(),
                ran.stdout.trim_end(),
                ran.stderr.trim_end(),
                pods.logs()
            );
        }
        if command == upgrade && upgrades == 1 {
            let label = kubectl_json(
                env,
                &["get", "deployment", "kubenova-proxy", "-n", NAMESPACE],
            )["metadata"]["labels"]["helm.sh/chart"]
                .clone();
            assert_eq!(label, "kubenova-0.2.0");
            for (name, before) in KEPT.iter().zip(&kept_before) {
                // Compared whole, printed by entry names only (they hold keys).
                let after = secret_data(env, name);
                let names =
                    |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
                assert!(
                    *before == after,
                    "the Secret {name} changed in the upgrade: entries {:?} before, {:?} after",
                    names(before),
                    names(&after)
                );
            }
        }
        if command == upgrade && upgrades == 2 {
            // The renewed certificates: the kubelet stand-in updates the mounted files, and
            // the same processes serve them within their reload interval.
            assert_eq!(
                served_before.len(),
                2,
                "the renewal deletes the Secrets first"
            );
            let pids: Vec<u32> = ["kubenova-control", "kubenova-proxy"]
                .map(|d| pods.pod(d).pid)
                .to_vec();
            pods.sync();
            for ((port, deployment), old) in [(8443, "kubenova-control"), (9443, "kubenova-proxy")]
                .iter()
                .zip(&served_before)
            {
                let pod = pods.pod(deployment);
                let new = on_disk(pod);
                assert_ne!(&new, old, "port {port}: the certificate was not re-signed");
                wait_for(
                    &format!("port {port} to serve the renewed certificate"),
                    &[pod],
                    || served(*port) == new,
                );
            }
            let after: Vec<u32> = ["kubenova-control", "kubenova-proxy"]
                .map(|d| pods.pod(d).pid)
                .to_vec();
            assert_eq!(pids, after, "a pod was restarted for the renewal");
        }
    }
    assert_eq!(
        upgrades, 2,
        "the page upgrades, then renews the certificates"
    );
    pods.sync();
    // KubeNova is gone; capsule-proxy, a prerequisite, stays installed.
    let left: Vec<&String> = pods.running.keys().collect();
    assert_eq!(
        left,
        ["capsule-proxy"],
        "the page ends with KubeNova uninstalled"
    );
    if let Some(r) = pods.running.remove("capsule-proxy") {
        r.pod.stop();
    }
    eprintln!("{} steps of {page} in {:?}", steps.len(), started.elapsed());

    // The bootstrap tokens (the first, and the one the page replaced it with) were issued like
    // any other: IssuedToken records name them, and the revoked one is marked.
    let records = kubectl_json(env, &["get", "issuedtokens.kubenova.io"]);
    let mut bootstrap: Vec<(String, bool)> = records["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["spec"]["subject"] == "bootstrap-admin")
        .map(|r| {
            (
                r["spec"]["issuedBy"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                r["spec"]["revoked"] == true,
            )
        })
        .collect();
    bootstrap.sort();
    let by = "kubenova-control serve --bootstrap-admin-secret".to_owned();
    assert_eq!(bootstrap, [(by.clone(), false), (by, true)], "{records}");

    // `helm uninstall` leaves the CRDs (and their objects) and the two key Secrets (kept on
    // purpose, docs/install.md), nothing else of the chart's.
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

// ---------------------------------------------------------------------------------------------
// The certificates' one contract (certs/README.md).

/// What certs/README.md says both generators (the chart's `genCA`/`genSignedCert` and testenv's
/// rcgen `Pki`) must agree on: a CA marked as one, and serving certificates for server
/// authentication, naming exactly what they were asked to name, that verify against the CA
/// handed out with them. Checked with openssl on what each generator makes.
#[test]
fn both_certificate_generators_keep_one_contract() {
    let env = env();
    let work = env.dir().join("certs-contract");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("dir");
    let text_of = |file: &Path| {
        must(
            Command::new("openssl"),
            &[
                "x509",
                "-noout",
                "-text",
                "-in",
                &file.display().to_string(),
            ],
        )
    };
    let check = |who: &str, ca: &Path, cert: &Path, names: &[&str]| {
        let ca_text = text_of(ca);
        assert!(
            ca_text.contains("CA:TRUE"),
            "{who}: the CA is not a CA:\n{ca_text}"
        );
        let verified = must(
            Command::new("openssl"),
            &[
                "verify",
                "-purpose",
                "sslserver",
                "-CAfile",
                &ca.display().to_string(),
                &cert.display().to_string(),
            ],
        );
        assert!(verified.contains(": OK"), "{who}: {verified}");
        let cert_text = text_of(cert);
        assert!(
            cert_text.contains("TLS Web Server Authentication"),
            "{who}: not for server authentication:\n{cert_text}"
        );
        assert!(
            !cert_text.contains("CA:TRUE"),
            "{who}: a serving certificate that is a CA"
        );
        for name in names {
            assert!(
                cert_text.contains(name),
                "{who}: {name} missing:\n{cert_text}"
            );
        }
    };

    // The chart's (tls.mode=helm), as `helm install` renders it.
    let rendered = template(
        env,
        "kn-certs",
        ALL_APIS,
        &[
            "proxy.tlsDnsNames[0]=k8s.example.com",
            "proxy.tlsIpAddresses[0]=10.0.0.9",
        ],
    )
    .expect("helm template");
    let mut kubectl = env.kubectl();
    kubectl.args([
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-n",
        "kn-certs",
        "-f",
        "-",
    ]);
    let objects = testenv::env::run(kubectl, &[], Some(&rendered)).expect("the rendered objects");
    let objects: Vec<Value> = serde_json::Deserializer::from_str(&objects)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("JSON objects");
    let secret = |name: &str| -> Value {
        objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Secret {name} rendered"))["data"]
            .clone()
    };
    let write = |name: &str, b64: &Value| {
        let file = work.join(name);
        std::fs::write(&file, STANDARD.decode(text(b64)).expect("base64")).expect("write");
        file
    };
    let proxy = secret("kubenova-proxy-tls");
    check(
        "the chart",
        &write("chart-ca.crt", &proxy["ca.crt"]),
        &write("chart-proxy.crt", &proxy["tls.crt"]),
        &[
            "DNS:kubenova-proxy.kn-certs.svc,",
            "DNS:k8s.example.com",
            "IP Address:10.0.0.9",
        ],
    );
    assert_eq!(proxy["ca.crt"], secret("kubenova-ca")["tls.crt"]);

    // testenv's.
    let pair = env
        .pki()
        .serving("contract", &["kubenova-proxy.kn-certs.svc", "10.0.0.9"])
        .expect("a testenv certificate");
    check(
        "testenv",
        &env.ca_path(),
        &pair.cert_path,
        &["DNS:kubenova-proxy.kn-certs.svc", "IP Address:10.0.0.9"],
    );
}

// ---------------------------------------------------------------------------------------------
// Keys of one's own.

/// `keys.signing.existingSecret`: the chart makes no signing-key Secret and names the user's to
/// control (`--signing-keys-secret`), and control signs with the key in it (made here with
/// openssl), lists it, and creates no `kubenova-signing-keys` beside it.
#[test]
fn a_signing_key_secret_the_user_names_is_the_one_used() {
    let env = env();
    let ns = "kn-own-keys";
    env.create_namespace(ns).expect("namespace");
    let rendered = template(
        env,
        ns,
        ALL_APIS,
        &["keys.signing.existingSecret=corp-signing"],
    )
    .expect("helm template");
    assert!(
        !rendered.contains("name: kubenova-signing-keys"),
        "the chart still makes its own signing-key Secret"
    );
    assert!(rendered.contains("- --signing-keys-secret=corp-signing"));

    let work = env.dir().join("own-keys");
    std::fs::create_dir_all(&work).expect("dir");
    let pem = work.join("corp1.pem");
    must(
        Command::new("openssl"),
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            &pem.display().to_string(),
        ],
    );
    must(
        env.kubectl(),
        &[
            "create",
            "secret",
            "generic",
            "corp-signing",
            "-n",
            ns,
            &format!("--from-file=corp1.pem={}", pem.display()),
            "--from-literal=active=corp1",
        ],
    );
    let control = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubenova-control"));
        cmd.env("KUBECONFIG", env.kubeconfig_path());
        // The command, then the management cluster's flags (`keys` takes them before its action).
        let namespace = format!("--namespace={ns}");
        let mut all = vec![
            args[0],
            namespace.as_str(),
            "--signing-keys-secret=corp-signing",
        ];
        all.extend(&args[1..]);
        must(cmd, &all)
    };
    // Not `bootstrap-admin`: the install page, beside it in the same cluster, lists those.
    let token = control(&[
        "token",
        "--admin",
        "--subject=corp-admin",
        "--issuer=https://kubenova.example.com",
    ]);
    let header = token.trim().split('.').next().expect("a JWT");
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64url"),
    )
    .expect("JSON header");
    assert_eq!(header["kid"], "corp1", "{header}");
    assert_eq!(control(&["keys", "list"]), "corp1 (active)\n");
    let err = run(
        env.kubectl(),
        &["get", "secret", "kubenova-signing-keys", "-n", ns],
    )
    .expect_err("no second signing-key Secret");
    assert!(err.contains("NotFound"), "{err}");
}
