//! One environment per test binary: the shared testenv cluster as management and workload
//! cluster `main`, `kubenova-control serve` (the real binary) in front of it, and a
//! `kubenova-proxy` that verifies tokens against control's JWKS URL.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testenv::TestEnv;
use testenv::control::{ControlOptions, HttpResponse, RunningControl};
use testenv::proxy::{ProxyOptions, RunningProxy};

/// The name `main` is registered under.
pub(crate) const MAIN: &str = "main";

pub(crate) struct Harness {
    pub(crate) env: &'static TestEnv,
    pub(crate) control: RunningControl,
    pub(crate) proxy: RunningProxy,
}

static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();

/// The workspace's `target/debug/kubenova-proxy`, built if needed.
pub(crate) fn proxy_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            testenv::workspace_binary(&root, "kubenova-proxy", "kubenova-proxy")
                .expect("kubenova-proxy builds")
        })
        .clone()
}

pub(crate) fn control_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubenova-control"))
}

/// Runs async setup on a runtime of its own (see [`testenv::block_on`]).
pub(crate) fn block_on<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    testenv::block_on(f)
}

pub(crate) fn harness() -> &'static Harness {
    let harness = HARNESS.get_or_init(|| {
        let env = TestEnv::shared();
        let proxy_binary = proxy_binary();
        block_on(async move {
            let control = env
                .start_control(&control_binary(), ControlOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            let proxy = env
                .start_proxy_with(
                    &proxy_binary,
                    ProxyOptions {
                        jwks_url: Some(format!("{}/.well-known/jwks.json", control.url)),
                        cluster: Some(MAIN.into()),
                        extra_args: vec!["--clock-skew=1s".into()],
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
                proxy,
            })
        })
    });
    match harness {
        Ok(h) => h,
        Err(e) => panic!("the control harness could not start: {e}"),
    }
}

/// Another `kubenova-control serve` without the agent, logging as `log_name`: in `namespace` (its
/// own keys and records) or, with `None`, a second replica of the shared one.
pub(crate) fn another_control(
    namespace: Option<&str>,
    log_name: &str,
    extra_args: &[&str],
) -> RunningControl {
    let h = harness();
    let options = ControlOptions {
        no_agent: true,
        namespace: namespace.map(str::to_owned),
        log_name: Some(log_name.to_owned()),
        extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
    };
    block_on(async move { h.env.start_control(&control_binary(), options).await })
        .unwrap_or_else(|e| panic!("{log_name}: {e}"))
}

/// The key id in a token's header.
pub(crate) fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().expect("header");
    let json: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64url"),
    )
    .expect("json");
    json["kid"].as_str().expect("kid").to_owned()
}

/// A request to control.
pub(crate) fn call(method: &str, path: &str, token: &str, body: Option<&Value>) -> HttpResponse {
    harness()
        .control
        .call(method, path, Some(token), body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub(crate) fn admin() -> &'static str {
    &harness().control.admin_token
}

/// Asserts `response` has `status`; prints the body otherwise.
#[track_caller]
pub(crate) fn expect(response: &HttpResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "body: {}", response.text());
    response.json()
}

/// Mints an API token with `token` (`POST /api/v1/tokens`, expecting 201) and returns the answer.
pub(crate) fn mint(token: &str, body: &Value) -> Value {
    expect(&call("POST", "/api/v1/tokens", token, Some(body)), 201)
}

/// Mints an API token with `roles` in the scope given.
pub(crate) fn api_token(
    sub: &str,
    roles: &[&str],
    tenant: Option<&str>,
    project: Option<&str>,
) -> String {
    let mut body = json!({ "subject": sub, "roles": roles, "ttlSeconds": 3600 });
    if let Some(t) = tenant {
        body["tenant"] = json!(t);
    }
    if let Some(p) = project {
        body["project"] = json!(p);
    }
    let v = expect(&call("POST", "/api/v1/tokens", admin(), Some(&body)), 201);
    v["token"].as_str().expect("token").to_owned()
}

/// Creates tenant `t` in `main` with `owners`, through the API.
pub(crate) fn tenant(t: &str, owners: &[&str]) {
    let body = json!({ "name": t, "owners": owners });
    expect(
        &call(
            "POST",
            &format!("/api/v1/clusters/{MAIN}/tenants"),
            admin(),
            Some(&body),
        ),
        201,
    );
}

/// Creates project `p` of `t` with `developers` and `readers`, through the API.
pub(crate) fn project(t: &str, p: &str, developers: &[&str], readers: &[&str]) {
    let body = json!({ "name": p, "access": { "developers": developers, "readers": readers } });
    expect(
        &call(
            "POST",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects"),
            admin(),
            Some(&body),
        ),
        201,
    );
}

/// Waits until the agent (running inside `kubenova-control serve`) reports the tenant and each
/// of its projects Ready in cluster `cluster`: Capsule Tenant, namespaces, RoleBindings in place.
/// On a timeout the panic carries the object's last status, which says why it is not Ready.
#[track_caller]
pub(crate) fn agent_ready(cluster: &str, tenant: &str, projects: &[&str]) {
    let base = format!("/api/v1/clusters/{cluster}/tenants/{tenant}");
    let paths = std::iter::once(base.clone())
        .chain(projects.iter().map(|p| format!("{base}/projects/{p}")));
    for path in paths {
        let start = Instant::now();
        loop {
            let status = call("GET", &path, admin(), None).json()["status"].clone();
            if status["ready"] == true {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{path} not Ready within 120 s; last status: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Issues a tenant kubeconfig for `subject` of tenant `t` (as YAML) and saves it as `name`.
pub(crate) fn tenant_kubeconfig(t: &str, subject: &str, name: &str) -> PathBuf {
    let response = harness()
        .control
        .call(
            "POST",
            &format!("/api/v1/tenants/{t}/kubeconfig?subject={subject}&format=yaml"),
            Some(admin()),
            None,
        )
        .expect("call");
    assert_eq!(response.status, 201, "{}", response.text());
    save_kubeconfig(name, &response.text())
}

/// Writes `kubeconfig` to a file and returns its path.
pub(crate) fn save_kubeconfig(name: &str, kubeconfig: &str) -> PathBuf {
    let dir = harness().env.dir().join("control-kubeconfigs");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, kubeconfig).expect("write kubeconfig");
    path
}

/// Runs the real kubectl with `kubeconfig`; Ok(stdout) or Err(stderr).
pub(crate) fn kubectl(env: &TestEnv, kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    testenv::env::run(env.kubectl_with(kubeconfig), args, None).map_err(|e| e.to_string())
}

/// Polls `check` every 100 ms until it holds; returns how long it took.
#[track_caller]
pub(crate) fn eventually(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

pub(crate) fn unique(prefix: &str) -> String {
    testenv::unique_name(prefix)
}

/// Whether kubectl's error says the server refused the credentials (401): "You must be logged in
/// to the server (KN-401: ...)" with the proxy's reason, "Unauthorized", or, when discovery is
/// refused, "asked for the client to provide credentials".
pub(crate) fn unauthorized(err: &str) -> bool {
    err.contains("KN-401")
        || err.contains("Unauthorized")
        || err.contains("provide credentials")
        || err.contains("must be logged in")
}
