//! The agent as an operator sees it: two replicas (only the Lease holder writes), a restart in
//! the middle of reconciling (converges with no duplicates or orphans), and quiet when idle (no
//! write for 60 s with 200 tenants). Writes are counted in kube-apiserver's audit log, by the
//! user of each agent's client certificate. The tests run one at a time (they share the
//! environment and every agent sees every tenant).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::{Api, Client, ResourceExt as _};
use kubenova_agent::{Agent, Config};
use kubenova_api::crd::{Project, Tenant};
use kubenova_api::labels;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use testenv::{Options, TestEnv, unique_name};
use tokio_util::sync::CancellationToken;

static ENV: OnceLock<Result<TestEnv, String>> = OnceLock::new();
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env() -> &'static TestEnv {
    let env = ENV.get_or_init(|| {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(TestEnv::start(Options {
                    label: "agent_ops".into(),
                    audit: true,
                    ..Options::default()
                }))
                .map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("testenv startup panicked".into()))
    });
    let env = match env {
        Ok(env) => env,
        Err(e) => panic!("testenv could not start: {e}"),
    };
    static CRDS: OnceLock<()> = OnceLock::new();
    CRDS.get_or_init(|| {
        let file = std::fs::File::create(env.log("agents")).expect("agents log");
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,kubenova_agent=debug,kube_runtime=debug",
            ))
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
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
    });
    env
}

/// One agent replica, on a runtime (and thread) of its own like a separate process.
struct Replica {
    stop: CancellationToken,
    kill: CancellationToken,
    task: Option<std::thread::JoinHandle<()>>,
    registry: Arc<Mutex<Registry>>,
    user: String,
}

async fn start_agent(user: &str, config: Config) -> Replica {
    let client_user = user.to_owned();
    let stop = CancellationToken::new();
    let registry = Arc::new(Mutex::new(Registry::default()));
    let kill = CancellationToken::new();
    let (token, killed, shared) = (stop.clone(), kill.clone(), registry.clone());
    let task = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("agent runtime");
        runtime.block_on(async move {
            let client = env()
                .client_as(&client_user, &client_user, &["system:masters"])
                .await
                .expect("agent client");
            let agent = {
                let mut registry = shared.lock().expect("registry");
                Agent::new(client, config, &mut registry)
            };
            // A kill drops the agent's future wherever it is, like the end of a process.
            tokio::select! {
                _ = agent.run(token) => {}
                _ = killed.cancelled() => {}
            }
        });
    });
    Replica {
        stop,
        kill,
        task: Some(task),
        registry,
        user: user.to_owned(),
    }
}

impl Replica {
    fn metric(&self, name: &str) -> f64 {
        let mut text = String::new();
        let registry = self.registry.lock().expect("registry");
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum()
    }

    /// Graceful stop: controllers stop, the Lease is released.
    async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::task::spawn_blocking(move || task.join()).await;
        }
    }

    /// A hard stop, as if the process were killed: the runtime and every task on it go away
    /// without any cleanup.
    fn kill(&self) {
        self.kill.cancel();
    }
}

fn ha_config(identity: &str, lease: &str) -> Config {
    let mut config = Config::new("default", identity);
    config.lease_name = lease.to_owned();
    config.lease_duration = Duration::from_secs(4);
    config.lease_renew = Duration::from_secs(1);
    config
}

/// Writes by `user` from line `from` on, except the renewals of the agent's Lease (its liveness
/// signal for `AgentReady`, a write every few seconds by design, not a reconcile).
fn reconcile_writes_by(user: &str, from: usize) -> Vec<(String, String, String)> {
    writes_by(user, from)
        .into_iter()
        .filter(|(_, resource, _)| resource != "leases")
        .collect()
}

/// Writes (create, update, patch, delete) in the audit log by `user`, from line `from` on,
/// as `(verb, resource, name)`.
fn writes_by(user: &str, from: usize) -> Vec<(String, String, String)> {
    let log = std::fs::read_to_string(env().audit_log()).unwrap_or_default();
    log.lines()
        .skip(from)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == user)
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete" | "deletecollection")
            )
        })
        .map(|e| {
            (
                e["verb"].as_str().unwrap_or_default().to_owned(),
                e["objectRef"]["resource"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["objectRef"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// The number of lines in the audit log now (after letting the batch writer flush).
async fn audit_mark() -> usize {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    std::fs::read_to_string(env().audit_log())
        .unwrap_or_default()
        .lines()
        .count()
}

fn apply(object: Value) {
    env().apply(&object.to_string()).expect("applied");
}

fn tenant(name: &str) -> Value {
    json!({"apiVersion": "kubenova.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
           "spec": {"plan": {"quota": {"pods": 10}}}})
}

fn project(tenant: &str, project: &str) -> Value {
    json!({"apiVersion": "kubenova.io/v1alpha1", "kind": "Project",
           "metadata": {"name": format!("{tenant}.{project}")},
           "spec": {"tenant": tenant, "project": project}})
}

fn is_ready(conditions: Option<&Vec<kubenova_api::crd::Condition>>) -> bool {
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until every tenant and project whose name starts with `prefix` is Ready.
async fn all_ready(client: &Client, prefix: &str, tenants: usize, timeout: Duration) {
    let started = Instant::now();
    let (t_api, p_api): (Api<Tenant>, Api<Project>) =
        (Api::all(client.clone()), Api::all(client.clone()));
    loop {
        let ts = t_api.list(&ListParams::default()).await.expect("tenants");
        let ps = p_api.list(&ListParams::default()).await.expect("projects");
        let t_ready = ts
            .items
            .iter()
            .filter(|t| {
                t.name_any().starts_with(prefix)
                    && is_ready(t.status.as_ref().map(|s| &s.conditions))
            })
            .count();
        let p_ready = ps
            .items
            .iter()
            .filter(|p| {
                p.name_any().starts_with(prefix)
                    && is_ready(p.status.as_ref().map(|s| &s.conditions))
            })
            .count();
        if t_ready == tenants && p_ready == tenants {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "only {t_ready} tenants and {p_ready} projects of {tenants} Ready after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn delete_all(client: &Client, prefix: &str) {
    let api: Api<Tenant> = Api::all(client.clone());
    for t in api
        .list(&ListParams::default())
        .await
        .expect("tenants")
        .items
    {
        if t.name_any().starts_with(prefix) {
            let _ = api.delete(&t.name_any(), &DeleteParams::default()).await;
        }
    }
    let started = Instant::now();
    loop {
        let left = api
            .list(&ListParams::default())
            .await
            .expect("tenants")
            .items
            .iter()
            .filter(|t| t.name_any().starts_with(prefix))
            .count();
        if left == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{left} tenants still there"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn capsule(client: &Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", kind),
        plural,
    );
    Api::all_with(client.clone(), &ar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_only_the_lease_holder_writes_and_the_other_takes_over() {
    let _serial = SERIAL.lock().await;
    let client = env().client().await.expect("client");
    let lease = unique_name("lease");
    let a = start_agent("kubenova-agent-a", ha_config("replica-a", &lease)).await;
    // Let A take the Lease first, so the roles are known.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let holder = |leases: Api<Lease>, lease: String| async move {
        leases
            .get_opt(&lease)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
    };
    let started = Instant::now();
    while holder(leases.clone(), lease.clone()).await.as_deref() != Some("replica-a") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "replica-a never took the Lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let b = start_agent("kubenova-agent-b", ha_config("replica-b", &lease)).await;
    let mark = audit_mark().await;

    let prefix = unique_name("ha");
    for i in 0..3 {
        let t = format!("{prefix}-{i}");
        apply(tenant(&t));
        apply(project(&t, "web"));
    }
    all_ready(&client, &prefix, 3, Duration::from_secs(90)).await;
    let by_a = writes_by(&a.user, mark);
    let by_b: Vec<_> = writes_by(&b.user, mark)
        .into_iter()
        .filter(|(_, r, _)| r != "leases")
        .collect();
    assert!(by_a.len() > 20, "the leader wrote: {by_a:?}");
    assert!(by_b.is_empty(), "the follower must not write: {by_b:?}");
    assert_eq!(a.metric("kubenova_agent_leader"), 1.0);
    assert_eq!(b.metric("kubenova_agent_leader"), 0.0);
    assert_eq!(
        b.metric("kubenova_agent_reconciles_total"),
        0.0,
        "the follower runs no controller"
    );

    // The leader stops (releasing the Lease); the other replica takes over and does the work.
    a.stop().await;
    let started = Instant::now();
    while holder(leases.clone(), lease.clone()).await.as_deref() != Some("replica-b") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "replica-b never took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("takeover after {:?}", started.elapsed());
    let mark = audit_mark().await;
    let t = format!("{prefix}-3");
    apply(tenant(&t));
    apply(project(&t, "web"));
    all_ready(&client, &prefix, 4, Duration::from_secs(60)).await;
    assert!(
        !writes_by(&b.user, mark).is_empty(),
        "the new leader writes"
    );
    assert!(
        writes_by("kubenova-agent-a", mark).is_empty(),
        "the stopped replica is silent"
    );
    delete_all(&client, &prefix).await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_reconciling_converges_without_duplicates_or_orphans() {
    let _serial = SERIAL.lock().await;
    let client = env().client().await.expect("client");
    let prefix = unique_name("rs");
    let n = 15;
    let mut config = Config::new("default", "first");
    config.leader_election = false;
    let first = start_agent("kubenova-agent-r1", config).await;
    for i in 0..n {
        let t = format!("{prefix}-{i}");
        apply(tenant(&t));
        apply(project(&t, "web"));
    }
    // Kill it hard while it is still working (no graceful shutdown, no cleanup).
    let started = Instant::now();
    while first.metric("kubenova_agent_writes_total") < 20.0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first agent never started writing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let writes_before = first.metric("kubenova_agent_writes_total");
    eprintln!("killed the first agent after {writes_before} writes");
    let mut config = Config::new("default", "second");
    config.leader_election = false;
    let second = start_agent("kubenova-agent-r2", config).await;
    all_ready(&client, &prefix, n, Duration::from_secs(120)).await;

    // Exactly one of everything per tenant and project.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let managed = ListParams::default().labels(&format!(
        "{}={}",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    ));
    let ours: Vec<Namespace> = namespaces
        .list(&managed)
        .await
        .expect("namespaces")
        .items
        .into_iter()
        .filter(|n| n.name_any().starts_with(&prefix))
        .collect();
    let names: BTreeSet<String> = ours.iter().map(|n| n.name_any()).collect();
    let want: BTreeSet<String> = (0..n).map(|i| format!("{prefix}-{i}-web")).collect();
    assert_eq!(names, want, "one namespace per project, nothing else");
    for kind in [
        "resourcequotas",
        "limitranges",
        "networkpolicies",
        "rolebindings",
        "serviceaccounts",
    ] {
        let out = env()
            .kubectl_run(
                &[
                    "get",
                    kind,
                    "-A",
                    "-l",
                    &format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
                    "-o",
                    "json",
                ],
                None,
            )
            .expect("list");
        let list: Value = serde_json::from_str(&out).expect("json");
        let mut per_ns: BTreeMap<String, usize> = BTreeMap::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let ns = item["metadata"]["namespace"].as_str().unwrap_or_default();
            if ns.starts_with(&prefix) {
                *per_ns.entry(ns.to_owned()).or_default() += 1;
            }
        }
        let expected = if kind == "rolebindings" { 3 } else { 1 };
        assert_eq!(per_ns.len(), n, "{kind} in every namespace: {per_ns:?}");
        assert!(
            per_ns.values().all(|c| *c == expected),
            "{kind}: {per_ns:?}"
        );
    }
    let capsule_tenants = capsule(&client, "Tenant", "tenants");
    let owners = capsule(&client, "TenantOwner", "tenantowners");
    let count = |list: Vec<DynamicObject>| {
        list.iter()
            .filter(|o| o.name_any().contains(&prefix))
            .count()
    };
    assert_eq!(
        count(
            capsule_tenants
                .list(&ListParams::default())
                .await
                .expect("list")
                .items
        ),
        n
    );
    assert_eq!(
        count(
            owners
                .list(&ListParams::default())
                .await
                .expect("list")
                .items
        ),
        n
    );

    // Deleting everything leaves nothing behind.
    delete_all(&client, &prefix).await;
    let started = Instant::now();
    loop {
        let left = namespaces
            .list(&ListParams::default())
            .await
            .expect("ns")
            .items
            .into_iter()
            .filter(|n| n.name_any().starts_with(&prefix))
            .count();
        let ct = count(
            capsule_tenants
                .list(&ListParams::default())
                .await
                .expect("list")
                .items,
        );
        let to = count(
            owners
                .list(&ListParams::default())
                .await
                .expect("list")
                .items,
        );
        if left == 0 && ct == 0 && to == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "orphans: {left} namespaces, {ct} Capsule Tenants, {to} TenantOwners"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_200_tenants_reconciled_and_nothing_changing_the_agent_writes_nothing_for_60_s() {
    let _serial = SERIAL.lock().await;
    let client = env().client().await.expect("client");
    let prefix = unique_name("idle");
    let n = 200;
    let mut config = Config::new("default", "idle");
    config.leader_election = false;
    let agent = start_agent("kubenova-agent-idle", config).await;
    let mut objects = String::new();
    for i in 0..n {
        let t = format!("{prefix}-{i}");
        objects.push_str(&tenant(&t).to_string());
        objects.push('\n');
        objects.push_str(&project(&t, "web").to_string());
        objects.push('\n');
    }
    env().apply(&objects).expect("200 tenants and projects");
    let started = Instant::now();
    all_ready(&client, &prefix, n, Duration::from_secs(600)).await;
    eprintln!(
        "{n} tenants and projects Ready after {:?}",
        started.elapsed()
    );
    // Capsule keeps working through its backlog for a while after the last tenant is Ready
    // (its GlobalResourceQuotas and tenant statuses change, and the agent's status follows).
    // "Nothing changing" starts when a 10 s window passes without a write by the agent.
    let settling = Instant::now();
    loop {
        let mark = audit_mark().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let writes = reconcile_writes_by(&agent.user, mark);
        if writes.is_empty() {
            break;
        }
        eprintln!(
            "still settling: {} writes in 10 s, e.g. {:?}",
            writes.len(),
            &writes[..writes.len().min(3)]
        );
        assert!(
            settling.elapsed() < Duration::from_secs(300),
            "the agent never stopped writing"
        );
    }
    eprintln!("settled {:?} after all-Ready", settling.elapsed());
    let mark = audit_mark().await;
    let reconciles_before = agent.metric("kubenova_agent_reconciles_total");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let heartbeats = writes_by(&agent.user, mark)
        .iter()
        .filter(|(_, resource, name)| resource == "leases" && name == "kubenova-agent")
        .count();
    assert!(
        heartbeats >= 6,
        "the agent's Lease heartbeat went on ({heartbeats} stamps)"
    );
    let writes = reconcile_writes_by(&agent.user, mark);
    let reconciles = agent.metric("kubenova_agent_reconciles_total") - reconciles_before;
    eprintln!(
        "idle 60 s: {} writes, {reconciles} reconciles",
        writes.len()
    );
    assert!(
        writes.is_empty(),
        "the agent wrote while nothing changed: {:?}",
        &writes[..writes.len().min(20)]
    );
    // Proof the count works: a change makes the agent write again.
    let mark = audit_mark().await;
    env()
        .kubectl_run(
            &[
                "-n",
                &format!("{prefix}-0-web"),
                "delete",
                "rolebinding",
                "kubenova-dev",
            ],
            None,
        )
        .expect("delete");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let healed = writes_by(&agent.user, mark);
    assert!(
        healed
            .iter()
            .any(|(v, r, n)| v == "patch" && r == "rolebindings" && n == "kubenova-dev"),
        "{healed:?}"
    );
    agent.stop().await;
}
