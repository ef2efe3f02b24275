//! One environment and one agent for every test of this binary.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event as CoreEvent;
use kube::api::ListParams;
use kube::{Api, Client};
use kubenova_agent::{Agent, Config};
use kubenova_api::crd::{Project, Tenant};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use testenv::TestEnv;
use tokio_util::sync::CancellationToken;

/// The user the agent's client certificate names (so its writes can be told apart).
pub(crate) const AGENT_USER: &str = "kubenova-agent";

/// Installs the CRDs from `config/crd` and waits until they are served.
pub(crate) fn install_crds(env: &TestEnv) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/crd");
    env.kubectl_run(
        &["apply", "--server-side", "-f", &dir.display().to_string()],
        None,
    )
    .expect("CRDs applied");
    env.kubectl_run(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/tenants.kubenova.io",
            "crd/projects.kubenova.io",
        ],
        None,
    )
    .expect("CRDs established");
}

/// Sends the agent's structured logs (JSON lines) to `path`.
pub(crate) fn log_to(path: &Path) {
    let file = std::fs::File::create(path).expect("agent log file");
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "info,kubenova_agent=debug",
        ))
        .with_writer(Mutex::new(file))
        .try_init();
}

static AGENT: OnceLock<Arc<Mutex<Registry>>> = OnceLock::new();

/// The shared environment, with the CRDs installed and one agent running (no leader election)
/// on a thread of its own.
pub(crate) fn env() -> &'static TestEnv {
    let env = TestEnv::shared();
    AGENT.get_or_init(|| {
        install_crds(env);
        log_to(&env.log("agent"));
        let registry = Arc::new(Mutex::new(Registry::default()));
        let shared = registry.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("agent runtime");
            runtime.block_on(async move {
                let client = env
                    .client_as("kubenova-agent", AGENT_USER, &["system:masters"])
                    .await
                    .expect("agent client");
                let mut config = Config::new("default", "agent-test");
                config.leader_election = false;
                let agent = {
                    let mut registry = shared.lock().expect("registry");
                    Agent::new(client, config, &mut registry)
                };
                tx.send(()).expect("started");
                agent.run(CancellationToken::new()).await;
            });
        });
        rx.recv().expect("the agent thread started");
        registry
    });
    env
}

/// The agent's metrics, in the Prometheus text format.
pub(crate) fn metrics_text() -> String {
    let registry = AGENT
        .get()
        .expect("agent started")
        .lock()
        .expect("registry");
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry).expect("metrics encode");
    out
}

/// An admin client for the test's own checks.
pub(crate) async fn client() -> Client {
    env().client().await.expect("admin client")
}

/// Server-side applies `object` as admin, the way the API would write it.
pub(crate) fn apply(object: Value) {
    env().apply(&object.to_string()).expect("applied");
}

/// A Tenant manifest.
pub(crate) fn tenant(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "kubenova.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": spec})
}

/// A Project manifest for `<tenant>.<project>` with extra spec fields.
pub(crate) fn project(tenant: &str, project: &str, mut spec: Value) -> Value {
    spec["tenant"] = json!(tenant);
    spec["project"] = json!(project);
    json!({"apiVersion": "kubenova.io/v1alpha1", "kind": "Project",
           "metadata": {"name": format!("{tenant}.{project}")}, "spec": spec})
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready(conditions: &[kubenova_api::crd::Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Waits until the Tenant reports Ready.
pub(crate) async fn tenant_ready(name: &str) -> Tenant {
    let api: Api<Tenant> = Api::all(client().await);
    wait_for(
        &format!("tenant {name} Ready"),
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let t = api.get_opt(name).await.ok()??;
                ready(&t.status.as_ref()?.conditions).then_some(t)
            }
        },
    )
    .await
}

/// Waits until the Project reports Ready.
pub(crate) async fn project_ready(name: &str) -> Project {
    let api: Api<Project> = Api::all(client().await);
    wait_for(
        &format!("project {name} Ready"),
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let p = api.get_opt(name).await.ok()??;
                ready(&p.status.as_ref()?.conditions).then_some(p)
            }
        },
    )
    .await
}

/// Waits until an object is gone.
pub(crate) async fn gone<K>(api: &Api<K>, name: &str, timeout: Duration)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_for(&format!("{name} gone"), timeout, || async {
        match api.get_opt(name).await {
            Ok(None) => Some(()),
            _ => None,
        }
    })
    .await
}

/// Runs the real kubectl as admin impersonating `user` with `groups`.
pub(crate) fn kubectl_as(user: &str, groups: &[&str], args: &[&str]) -> Result<String, String> {
    let mut full: Vec<String> = vec![format!("--as={user}")];
    full.extend(groups.iter().map(|g| format!("--as-group={g}")));
    full.extend(args.iter().map(|a| a.to_string()));
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    env().kubectl_run(&refs, None).map_err(|e| e.to_string())
}

/// `kubectl auth can-i` for an impersonated user: `true` for "yes".
pub(crate) fn can_i(
    user: &str,
    groups: &[&str],
    verb: &str,
    resource: &str,
    namespace: &str,
) -> bool {
    match kubectl_as(
        user,
        groups,
        &["auth", "can-i", verb, resource, "-n", namespace],
    ) {
        Ok(out) => out.trim() == "yes",
        Err(_) => false,
    }
}

/// Events about a KubeNova object (by name), newest last: `(reason, note)`.
pub(crate) async fn events_for(name: &str) -> Vec<(String, String)> {
    let api: Api<CoreEvent> = Api::all(client().await);
    let list = api
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .expect("events");
    list.items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

/// A pod manifest for kwok's node (`requests.cpu` given), as JSON.
pub(crate) fn pod(namespace: &str, name: &str, cpu: &str, extra_container: Value) -> Value {
    let mut container = json!({
        "name": "app", "image": "registry.example/app:1",
        "resources": {"requests": {"cpu": cpu, "memory": "16Mi"}, "limits": {"cpu": cpu, "memory": "16Mi"}},
    });
    if let (Some(c), Some(extra)) = (container.as_object_mut(), extra_container.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"containers": [container]}})
}

/// Creates an object with `kubectl create -f -` as an impersonated user (or admin when `user` is
/// `None`); returns kubectl's error text on refusal.
pub(crate) fn create_as(user: Option<(&str, &[&str])>, object: &Value) -> Result<String, String> {
    let env = env();
    let mut cmd = env.kubectl();
    if let Some((user, groups)) = user {
        cmd.arg(format!("--as={user}"));
        for g in groups {
            cmd.arg(format!("--as-group={g}"));
        }
    }
    testenv::env::run(cmd, &["create", "-f", "-"], Some(&object.to_string()))
        .map_err(|e| e.to_string())
}

/// A `kubenova-proxy` in front of the shared environment (started once), verifying tokens the
/// environment signs: the path a tenant's kubectl takes.
pub(crate) fn proxy() -> &'static testenv::proxy::RunningProxy {
    static PROXY: OnceLock<testenv::proxy::RunningProxy> = OnceLock::new();
    PROXY.get_or_init(|| {
        let env = env();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let binary = testenv::workspace_binary(&root, "kubenova-proxy", "kubenova-proxy")
            .expect("kubenova-proxy builds");
        testenv::block_on(async move { env.start_proxy(&binary).await })
            .expect("kubenova-proxy starts")
    })
}

/// A kubeconfig for `subject` as an owner of `tenant`, through the proxy (ten minutes).
pub(crate) fn owner_kubeconfig(tenant: &str, subject: &str) -> std::path::PathBuf {
    let proxy = proxy();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let claims = kubenova_api::Claims {
        iss: testenv::proxy::ISSUER.into(),
        sub: subject.into(),
        aud: kubenova_api::claims::PROXY_AUDIENCE.into(),
        exp: now + 600,
        nbf: now - 5,
        iat: now - 5,
        jti: testenv::unique_name("jti"),
        roles: vec![kubenova_api::Role::TenantOwner],
        tenant: Some(tenant.into()),
        project: None,
        cluster: None,
    };
    let token = proxy.sign(&claims).expect("token signed");
    let dir = env().dir().join("agent-kubeconfigs");
    std::fs::create_dir_all(&dir).expect("kubeconfig dir");
    let path = dir.join(format!("{tenant}-{subject}.kubeconfig"));
    proxy.write_kubeconfig(&path, &token).expect("kubeconfig");
    path
}

/// Runs the real kubectl with `kubeconfig` (and `stdin`); Ok(stdout) or Err(stderr).
pub(crate) fn kubectl_with(
    kubeconfig: &Path,
    args: &[&str],
    stdin: Option<&Value>,
) -> Result<String, String> {
    let input = stdin.map(Value::to_string);
    testenv::env::run(env().kubectl_with(kubeconfig), args, input.as_deref())
        .map_err(|e| e.to_string())
}
