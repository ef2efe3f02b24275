//! One environment per test binary and one proxy per mode (this file is compiled into each mode's
//! suite, with that suite's `MODE`), plus builders for tenants, projects, tokens and
//! kubeconfigs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kubenova_api::{Claims, Role};
use serde_json::json;
use testenv::proxy::{ISSUER, ProxyMode, ProxyOptions, RunningProxy};
use testenv::{Options, TestEnv};

use super::MODE;

pub(crate) struct Harness {
    pub(crate) env: &'static TestEnv,
    pub(crate) proxy: RunningProxy,
}

static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();

/// The environment both suites share: Capsule and capsule-proxy (whichever suite starts it).
pub(crate) fn env() -> &'static TestEnv {
    // The apiserver's audit log too, to check which audit ids reach it.
    TestEnv::shared_with(Options {
        capsule_proxy: true,
        audit: true,
        ..Options::default()
    })
}

/// The environment and this suite's proxy (started on first use).
pub(crate) fn harness() -> &'static Harness {
    let harness = HARNESS.get_or_init(|| {
        let env = env();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let name = match MODE {
                ProxyMode::Direct => "kubenova-proxy",
                ProxyMode::CapsuleProxy => "kubenova-proxy-capsule-proxy",
            };
            runtime
                .block_on(env.start_proxy_with(
                    std::path::Path::new(env!("CARGO_BIN_EXE_kubenova-proxy")),
                    ProxyOptions {
                        name: Some(name.into()),
                        mode: MODE,
                        ..ProxyOptions::default()
                    },
                ))
                .map(|proxy| Harness { env, proxy })
                .map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("starting the proxy panicked".into()))
    });
    match harness {
        Ok(h) => h,
        Err(e) => panic!("kubenova-proxy could not start: {e}"),
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Claims valid for ten minutes.
pub(crate) fn claims(
    sub: &str,
    roles: &[Role],
    tenant: Option<&str>,
    project: Option<&str>,
) -> Claims {
    let now = now();
    Claims {
        iss: ISSUER.into(),
        sub: sub.into(),
        aud: kubenova_api::claims::PROXY_AUDIENCE.into(),
        exp: now + 600,
        nbf: now - 5,
        iat: now - 5,
        jti: testenv::unique_name("jti"),
        roles: roles.to_vec(),
        tenant: tenant.map(str::to_owned),
        project: project.map(str::to_owned),
        cluster: None,
    }
}

/// A tenant (Capsule Tenant owned by the tenant-owner group) with the given projects, each a
/// namespace `<tenant>-<project>` with the RoleBindings the agent will make.
pub(crate) fn tenant_with_projects(tenant: &str, projects: &[&str]) {
    let env = harness().env;
    let owners = kubenova_api::identity::tenant_owner_group(tenant);
    env.create_capsule_tenant(tenant, &owners)
        .expect("tenant ready");
    for project in projects {
        let ns = kubenova_api::names::project_namespace(tenant, project);
        let dev = kubenova_api::identity::project_dev_group(tenant, project);
        let view = kubenova_api::identity::project_view_group(tenant, project);
        let tenant_view = kubenova_api::identity::tenant_view_group(tenant);
        // Created as the tenant owner, so Capsule admits it into the tenant (and owns it).
        env.kubectl_run(
            &[
                "create",
                "namespace",
                &ns,
                "--as=kubenova:testenv",
                &format!("--as-group={owners}"),
                &format!("--as-group={}", kubenova_api::identity::CAPSULE_USER_GROUP),
            ],
            None,
        )
        .expect("project namespace");
        let manifests = [
            binding(&ns, "kubenova-dev", "edit", &dev),
            binding(&ns, "kubenova-view", "view", &view),
            binding(&ns, "kubenova-tenant-view", "view", &tenant_view),
        ];
        for m in manifests {
            env.apply(&m.to_string()).expect("project object");
        }
    }
    wait_until_listable(tenant, projects);
}

/// Waits until a list across the tenant's namespaces, through the proxy, reaches every
/// project namespace: the proxy's namespace index has them and Capsule has granted the owners
/// `admin` there (both happen a moment after the namespace is created).
fn wait_until_listable(tenant: &str, projects: &[&str]) {
    if projects.is_empty() {
        return;
    }
    let mut want: Vec<String> = projects
        .iter()
        .map(|p| kubenova_api::names::project_namespace(tenant, p))
        .collect();
    want.sort();
    let owner = kubeconfig(&claims(
        "kubenova-harness",
        &[Role::TenantOwner],
        Some(tenant),
        None,
    ));
    eventually(
        "the tenant's namespaces are listable through the proxy",
        Duration::from_secs(30),
        || {
            kubectl(
                &owner,
                &[
                    "get",
                    "rolebindings",
                    "-A",
                    "--field-selector=metadata.name=kubenova-dev",
                    "-o",
                    "jsonpath={.items[*].metadata.namespace}",
                ],
            )
            .is_ok_and(|out| {
                let mut got: Vec<&str> = out.split_whitespace().collect();
                got.sort_unstable();
                got == want
            })
        },
    );
}

fn binding(ns: &str, name: &str, role: &str, group: &str) -> serde_json::Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    })
}

/// Signs `claims` and writes a kubeconfig for them; returns its path.
pub(crate) fn kubeconfig(claims: &Claims) -> PathBuf {
    let h = harness();
    let token = h.proxy.sign(claims).expect("signed");
    let dir = h.env.dir().join("test-kubeconfigs");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{}.kubeconfig", claims.jti));
    h.proxy.write_kubeconfig(&path, &token).expect("kubeconfig");
    path
}

/// Runs the real kubectl with `kubeconfig`; Ok(stdout) or Err(stderr).
pub(crate) fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> Result<String, String> {
    testenv::env::run(harness().env.kubectl_with(kubeconfig), args, None).map_err(|e| e.to_string())
}

/// Polls `check` every 100 ms until it holds; panics naming `what` after `within`.
pub(crate) fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `cmd` with `args` to the end; returns (success, stdout, stderr).
pub(crate) fn output(mut cmd: Command, args: &[&str]) -> (bool, String, String) {
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the program starts");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file under the environment's directory holding `text`; returns its path.
pub(crate) fn scratch_file(name: &str, text: &str) -> PathBuf {
    let dir = harness().env.dir().join("test-files");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// Runs a pod (on the kwok node) as `kubeconfig` and waits until it is Ready.
pub(crate) fn running_pod(kubeconfig: &Path, ns: &str, name: &str) {
    kubectl(
        kubeconfig,
        &["-n", ns, "run", name, "--image=busybox", "--restart=Never"],
    )
    .expect("kubectl run");
    kubectl(
        kubeconfig,
        &[
            "-n",
            ns,
            "wait",
            "--for=condition=Ready",
            &format!("pod/{name}"),
            "--timeout=60s",
        ],
    )
    .expect("pod ready");
}

/// One line of the proxy's access log.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub(crate) request_id: String,
    pub(crate) tenant: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) verb: String,
    pub(crate) code: u64,
}

/// The proxy's access log so far.
pub(crate) fn access_log() -> Vec<Access> {
    let h = harness();
    let text = std::fs::read_to_string(h.env.log(&h.proxy.name)).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["target"] == "access")
        .map(|v| {
            let f = &v["fields"];
            Access {
                request_id: f["request_id"].as_str().unwrap_or_default().to_owned(),
                tenant: f["tenant"].as_str().unwrap_or_default().to_owned(),
                method: f["method"].as_str().unwrap_or_default().to_owned(),
                path: f["path"].as_str().unwrap_or_default().to_owned(),
                verb: f["verb"].as_str().unwrap_or_default().to_owned(),
                code: f["code"].as_u64().unwrap_or_default(),
            }
        })
        .collect()
}

/// How many access-log lines match `matches`.
pub(crate) fn accesses(matches: impl Fn(&Access) -> bool) -> usize {
    access_log().iter().filter(|a| matches(a)).count()
}

/// Starts `cmd` with `args` and `stdin`, with threads reading its stdout (line by line, into the
/// receiver) and its stderr (into the string) as they come.
pub(crate) fn spawn_reading(
    mut cmd: Command,
    args: &[&str],
    stdin: Stdio,
) -> (Child, mpsc::Receiver<String>, Arc<Mutex<String>>) {
    let mut child = cmd
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let err_pipe = child.stderr.take().expect("stderr");
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err_pipe).lines() {
            let Ok(line) = line else { break };
            let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
            s.push_str(&line);
            s.push('\n');
        }
    });
    (child, lines, stderr)
}

/// A long-running program (`kubectl get -w`, `logs -f`, `port-forward`) whose output lines a
/// test waits for. Killed when dropped.
pub(crate) struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Background {
    /// Starts `cmd` with `args`, reading its stdout line by line.
    pub(crate) fn start(cmd: Command, args: &[&str]) -> Background {
        let (child, lines, stderr) = spawn_reading(cmd, args, Stdio::null());
        Background {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Waits up to 30 s for a line that satisfies `matches` (lines already read count too)
    /// and returns it.
    pub(crate) fn line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| matches(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "{what}: no such line ({e:?}); stdout so far:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Like [`Background::line`], but the program ending first is an `Err` with its stderr.
    pub(crate) fn line_or_exit(&mut self, matches: impl Fn(&str) -> bool) -> Result<String, String> {
        if let Some(line) = self.seen.iter().find(|l| matches(l)) {
            return Ok(line.clone());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return Ok(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    // The stderr reader may still be draining the pipe.
                    std::thread::sleep(Duration::from_millis(200));
                    return Err(self.stderr());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "neither such a line nor an exit within 30 s; stdout so far:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Every stdout line read so far.
    pub(crate) fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Whether the program is still running.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
