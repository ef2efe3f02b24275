//! `kubenova-bench-agent`: provisions N tenants with one project each through the agent, and
//! the same objects directly with a parallel client (the baseline), each in a fresh testenv with
//! Capsule, in the same run; writes a Markdown report.
//!
//! Measured: time to all-Ready, p50/p99 time from create to Ready (a tenant counts as Ready when
//! both the Tenant and its Project report `Ready=True`), apiserver writes per tenant (from the
//! apiserver's audit log, by the writer's own user), and the agent's CPU time and peak resident
//! memory. The agent runs as a child process (this program with `agent`), so its CPU and memory
//! are its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use futures_util::{StreamExt as _, TryStreamExt as _};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, ResourceExt as _};
use kubenova_agent::{Agent, Config, desired};
use kubenova_api::crd::{Condition, Project, ProjectSpec, Quota, Tenant, TenantSpec};
use kubenova_api::identity;
use kubenova_bench::procfs;
use serde_json::{Value, json};
use testenv::{Options, TestEnv};

#[derive(Debug, Parser)]
#[command(about = "Benchmark of the KubeNova agent against a direct parallel client")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the benchmark.
    Run {
        /// Numbers of tenants (one project each), one run per number.
        #[arg(long, value_delimiter = ',', default_value = "200")]
        tenants: Vec<usize>,
        /// Requests the creating client (and the baseline) keeps in flight.
        #[arg(long, default_value_t = 32)]
        parallel: usize,
        /// Also write the report to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Skip the baseline (e.g. to re-measure only the agent's memory; no ratios then).
        #[arg(long)]
        no_baseline: bool,
        /// Skip the closed-loop agent run.
        #[arg(long)]
        no_closed_loop: bool,
        /// Tenants created per second in the paced runs (the agent's, and the baseline's unless
        /// skipped): below what the apiserver and Capsule sustain, so a tenant's create-to-Ready
        /// is its own provisioning time rather than a wait behind the others.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Skip the paced runs.
        #[arg(long)]
        no_paced: bool,
    },
    /// Run the agent until SIGTERM (used by `run` as its child process).
    Agent {
        /// The agent's kubeconfig.
        #[arg(long)]
        kubeconfig: PathBuf,
    },
}

/// How the creating client offers the tenants.
#[derive(Clone, Copy, Debug)]
enum Load {
    /// `parallel` requests in flight, as fast as they go.
    Burst,
    /// `parallel` tenants in flight, each from its creation until it is Ready.
    ClosedLoop,
    /// One tenant every `1 / rate` seconds, however many are in flight (an open loop).
    Paced(f64),
}

impl Load {
    /// How many tenants may be in flight, and when tenant `i` starts (after `start`).
    fn schedule(self, n: usize, parallel: usize) -> (usize, impl Fn(usize) -> Duration) {
        let rate = match self {
            Load::Paced(rate) => Some(rate),
            Load::Burst | Load::ClosedLoop => None,
        };
        let in_flight = if rate.is_some() { n.max(1) } else { parallel };
        (in_flight, move |i: usize| {
            rate.map_or(Duration::ZERO, |r| Duration::from_secs_f64(i as f64 / r))
        })
    }
}

/// When each tenant's Tenant and Project were first seen Ready.
type ReadyTimes = Arc<Mutex<HashMap<String, (Option<Instant>, Option<Instant>)>>>;

const AGENT_USER: &str = "kubenova-agent";
const BASELINE_USER: &str = "bench-baseline";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cli.command {
        Cmd::Agent { kubeconfig } => runtime.block_on(run_agent(&kubeconfig)),
        Cmd::Run {
            tenants,
            parallel,
            out,
            no_baseline,
            no_closed_loop,
            rate,
            no_paced,
        } => {
            anyhow::ensure!(
                rate.is_finite() && rate > 0.0,
                "--rate must be a positive number of tenants per second"
            );
            let mut rows = Vec::new();
            for n in tenants {
                let mut runs = Vec::new();
                if !no_baseline {
                    let m = runtime.block_on(baseline_run(n, parallel, Load::Burst))?;
                    runs.push((Run::Baseline, m));
                }
                let m = runtime.block_on(agent_run(n, parallel, Load::Burst))?;
                runs.push((Run::AgentBurst, m));
                if !no_closed_loop {
                    let m = runtime.block_on(agent_run(n, parallel, Load::ClosedLoop))?;
                    runs.push((Run::AgentClosedLoop, m));
                }
                if !no_paced {
                    if !no_baseline {
                        let m = runtime.block_on(baseline_run(n, parallel, Load::Paced(rate)))?;
                        runs.push((Run::BaselinePaced, m));
                    }
                    let m = runtime.block_on(agent_run(n, parallel, Load::Paced(rate)))?;
                    runs.push((Run::AgentPaced, m));
                }
                rows.push((n, runs));
            }
            let report = markdown(&rows, parallel, rate);
            print!("{report}");
            if let Some(out) = out {
                std::fs::write(&out, &report).with_context(|| out.display().to_string())?;
            }
            Ok(())
        }
    }
}

async fn client_from(
    path: &Path,
    impersonate: Option<(&str, Vec<String>)>,
) -> anyhow::Result<Client> {
    testenv::env::install_crypto_provider();
    let kubeconfig = Kubeconfig::read_from(path)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    if let Some((user, groups)) = impersonate {
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups = Some(groups);
    }
    Ok(Client::try_from(config)?)
}

async fn run_agent(kubeconfig: &Path) -> anyhow::Result<()> {
    let client = client_from(kubeconfig, None).await?;
    let mut config = Config::new("default", "bench");
    config.leader_election = false;
    let mut registry = prometheus_client::registry::Registry::default();
    let agent = Agent::new(client, config, &mut registry);
    let stop = tokio_util::sync::CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        term.recv().await;
        trigger.cancel();
    });
    agent.run(stop).await;
    Ok(())
}

async fn start_env(label: &str) -> anyhow::Result<TestEnv> {
    eprintln!("starting testenv with Capsule and the audit log ({label}) ...");
    let env = TestEnv::start(Options {
        label: label.into(),
        audit: true,
        ..Options::default()
    })
    .await?;
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/crd");
    env.kubectl_run(
        &["apply", "--server-side", "-f", &crds.display().to_string()],
        None,
    )?;
    env.kubectl_run(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/tenants.kubenova.io",
            "crd/projects.kubenova.io",
        ],
        None,
    )?;
    Ok(env)
}

fn tenant_of(i: usize, prefix: &str) -> (Tenant, Project) {
    let name = format!("{prefix}-{i}");
    let mut tenant = Tenant::new(
        &name,
        TenantSpec {
            plan: kubenova_api::crd::Plan {
                quota: Quota {
                    cpu: Some("4".into()),
                    memory: Some("8Gi".into()),
                    pods: Some(50),
                    namespaces: Some(5),
                    ..Quota::default()
                },
                ..Default::default()
            },
            ..TenantSpec::default()
        },
    );
    tenant.metadata.uid = Some(String::new());
    let project = Project::new(
        &format!("{name}.web"),
        ProjectSpec {
            tenant: name,
            project: "web".into(),
            ..ProjectSpec::default()
        },
    );
    (tenant, project)
}

fn without_owner_references(mut object: Value) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("ownerReferences");
    }
    object
}

/// What one run measured.
#[derive(Debug, Default)]
struct Measured {
    all_ready: Duration,
    latencies: Vec<Duration>,
    writes: usize,
    cpu_seconds: Option<f64>,
    peak_rss_mib: Option<f64>,
    failures: usize,
}

fn writes_by(env: &TestEnv, user: &str) -> usize {
    // `audit.log` and any rotated `audit-<time>.log` beside it.
    let mut log = String::new();
    if let Ok(dir) = std::fs::read_dir(env.dir().join("logs")) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("audit") && name.ends_with(".log") {
                log.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
    }
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == user)
        // The agent's Lease renewals are its liveness signal, not provisioning work.
        .filter(|e| e["objectRef"]["resource"] != "leases")
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete")
            )
        })
        .count()
}

/// The baseline: for each tenant, the TenantOwner and Capsule Tenant, a wait until Capsule lists
/// the owner (without which Capsule refuses the namespace), the namespace as the owner, and the
/// seven namespaced objects; `parallel` tenants at a time.
async fn baseline_run(n: usize, parallel: usize, load: Load) -> anyhow::Result<Measured> {
    let env = start_env("bench-baseline").await?;
    let admin = env
        .client_as(BASELINE_USER, BASELINE_USER, &["system:masters"])
        .await?;
    let kubeconfig = env
        .dir()
        .join("pki")
        .join(format!("{BASELINE_USER}.kubeconfig"));
    let params = PatchParams::apply("bench-baseline").force();
    let ct = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", "Tenant"),
        "tenants",
    );
    let to = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", "TenantOwner"),
        "tenantowners",
    );
    let (in_flight, start_of) = load.schedule(n, parallel);
    let started = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let at = started + start_of(i);
            let (admin, params, ct, to, kubeconfig) = (
                admin.clone(),
                params.clone(),
                ct.clone(),
                to.clone(),
                kubeconfig.clone(),
            );
            async move {
                tokio::time::sleep_until(at.into()).await;
                let begun = Instant::now();
                let (tenant, project) = tenant_of(i, "base");
                let t = tenant.name_any();
                Api::<DynamicObject>::all_with(admin.clone(), &to)
                    .patch(
                        &identity_owner_name(&t),
                        &params,
                        &Patch::Apply(without_owner_references(desired::desired_owner(&tenant))),
                    )
                    .await?;
                let capsule = Api::<DynamicObject>::all_with(admin.clone(), &ct);
                capsule
                    .patch(
                        &t,
                        &params,
                        &Patch::Apply(without_owner_references(desired::desired_capsule_tenant(
                            &tenant, true,
                        ))),
                    )
                    .await?;
                let group = identity::tenant_owner_group(&t);
                let deadline = Instant::now() + Duration::from_secs(300);
                loop {
                    let c = capsule.get(&t).await?;
                    if c.data["status"]["owners"].to_string().contains(&group) {
                        break;
                    }
                    anyhow::ensure!(
                        Instant::now() < deadline,
                        "Capsule never listed the owner of {t}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let owner = client_from(
                    &kubeconfig,
                    Some((
                        "kubenova-agent",
                        vec![group, identity::CAPSULE_USER_GROUP.to_owned()],
                    )),
                )
                .await?;
                let ns = desired::desired_namespace(&project, &tenant);
                let ns_name = ns["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                Api::<k8s_openapi::api::core::v1::Namespace>::all(owner)
                    .patch(&ns_name, &params, &Patch::Apply(ns))
                    .await?;
                for (kind, object) in desired::desired_objects(&project, &tenant) {
                    let object = without_owner_references(object);
                    let name = object["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    let (group, version) = match object["apiVersion"]
                        .as_str()
                        .unwrap_or("v1")
                        .split_once('/')
                    {
                        Some((g, v)) => (g.to_owned(), v.to_owned()),
                        None => (String::new(), "v1".to_owned()),
                    };
                    let plural = match kind {
                        "ResourceQuota" => "resourcequotas",
                        "LimitRange" => "limitranges",
                        "NetworkPolicy" => "networkpolicies",
                        "RoleBinding" => "rolebindings",
                        _ => "serviceaccounts",
                    };
                    let ar = ApiResource::from_gvk_with_plural(
                        &GroupVersionKind::gvk(&group, &version, kind),
                        plural,
                    );
                    Api::<DynamicObject>::namespaced_with(admin.clone(), &ns_name, &ar)
                        .patch(&name, &params, &Patch::Apply(object))
                        .await?;
                }
                Ok(begun.elapsed())
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let all_ready = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut measured = Measured {
        all_ready,
        writes: writes_by(&env, BASELINE_USER),
        ..Measured::default()
    };
    for r in results {
        match r {
            Ok(d) => measured.latencies.push(d),
            Err(e) => {
                eprintln!("baseline: {e:#}");
                measured.failures += 1;
            }
        }
    }
    eprintln!("baseline N={n} ({load:?}): {:?}", measured.all_ready);
    env.shutdown(Duration::from_secs(5));
    Ok(measured)
}

fn identity_owner_name(tenant: &str) -> String {
    kubenova_agent::names::tenant_owner_name(tenant)
}

fn ready(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The agent run: N Tenants and Projects created as `load` says, watched until all are Ready.
/// In a burst a tenant's create-to-Ready includes waiting behind the others; in a closed loop
/// each of the `parallel` slots holds a tenant from its creation until it is Ready (like the
/// baseline's client); paced, tenants arrive at a fixed rate.
async fn agent_run(n: usize, parallel: usize, load: Load) -> anyhow::Result<Measured> {
    let until_ready = matches!(load, Load::ClosedLoop);
    let (in_flight, start_of) = load.schedule(n, parallel);
    let env = start_env("bench-agent").await?;
    env.client_as(AGENT_USER, AGENT_USER, &["system:masters"])
        .await?;
    let kubeconfig = env
        .dir()
        .join("pki")
        .join(format!("{AGENT_USER}.kubeconfig"));
    let mut child = Command::new(std::env::current_exe()?)
        .arg("agent")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(env.log("bench-agent"))?)
        .spawn()?;
    let pid = child.id();
    let peak = Arc::new(Mutex::new(0u64));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(kib) = procfs::rss_kib(pid) {
                    let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
                    *p = (*p).max(kib);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // Let the agent list its (empty) caches first, as a running agent would have.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu_before = procfs::cpu_ticks(pid)?;
    let client = env.client().await?;

    let ready_at: ReadyTimes = Arc::default();
    let watch_tenants = {
        let (client, ready_at) = (client.clone(), ready_at.clone());
        tokio::spawn(async move {
            let stream =
                watcher(Api::<Tenant>::all(client), watcher::Config::default()).applied_objects();
            futures_util::pin_mut!(stream);
            while let Ok(Some(t)) = stream.try_next().await {
                if t.status.as_ref().is_some_and(|s| ready(&s.conditions)) {
                    let mut m = ready_at.lock().unwrap_or_else(|e| e.into_inner());
                    let e = m.entry(t.name_any()).or_default();
                    e.0.get_or_insert_with(Instant::now);
                }
            }
        })
    };
    let watch_projects = {
        let (client, ready_at) = (client.clone(), ready_at.clone());
        tokio::spawn(async move {
            let stream =
                watcher(Api::<Project>::all(client), watcher::Config::default()).applied_objects();
            futures_util::pin_mut!(stream);
            while let Ok(Some(p)) = stream.try_next().await {
                if p.status.as_ref().is_some_and(|s| ready(&s.conditions)) {
                    let mut m = ready_at.lock().unwrap_or_else(|e| e.into_inner());
                    let e = m.entry(p.spec.tenant.clone()).or_default();
                    e.1.get_or_insert_with(Instant::now);
                }
            }
        })
    };

    let params = PatchParams::apply("bench").force();
    let started = Instant::now();
    let created: Vec<anyhow::Result<(String, Instant)>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (client, params, ready_at) = (client.clone(), params.clone(), ready_at.clone());
            let start = started + start_of(i);
            async move {
                tokio::time::sleep_until(start.into()).await;
                let (mut tenant, project) = tenant_of(i, "kn");
                tenant.metadata.uid = None;
                let at = Instant::now();
                let mut t = serde_json::to_value(&tenant)?;
                t["apiVersion"] = json!("kubenova.io/v1alpha1");
                t["kind"] = json!("Tenant");
                Api::<Tenant>::all(client.clone())
                    .patch(&tenant.name_any(), &params, &Patch::Apply(t))
                    .await?;
                let mut p = serde_json::to_value(&project)?;
                p["apiVersion"] = json!("kubenova.io/v1alpha1");
                p["kind"] = json!("Project");
                Api::<Project>::all(client)
                    .patch(&project.name_any(), &params, &Patch::Apply(p))
                    .await?;
                let deadline = at + Duration::from_secs(600);
                while until_ready && Instant::now() < deadline {
                    let done = ready_at
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&tenant.name_any())
                        .is_some_and(|(a, b)| a.is_some() && b.is_some());
                    if done {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok((tenant.name_any(), at))
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let mut measured = Measured::default();
    let mut created_at = HashMap::new();
    for c in created {
        match c {
            Ok((name, at)) => {
                created_at.insert(name, at);
            }
            Err(e) => {
                eprintln!("create: {e:#}");
                measured.failures += 1;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let done = {
            let m = ready_at.lock().unwrap_or_else(|e| e.into_inner());
            created_at
                .keys()
                .filter(|t| m.get(*t).is_some_and(|(a, b)| a.is_some() && b.is_some()))
                .count()
        };
        if done == created_at.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = ready_at.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut last = started;
    for (name, at) in &created_at {
        match m.get(name) {
            Some((Some(a), Some(b))) => {
                let r = (*a).max(*b);
                last = last.max(r);
                measured.latencies.push(r.duration_since(*at));
            }
            _ => measured.failures += 1,
        }
    }
    measured.all_ready = last.duration_since(started);
    let (ticks, _) = procfs::clock_ticks_per_second();
    measured.cpu_seconds = Some((procfs::cpu_ticks(pid)? - cpu_before) as f64 / ticks as f64);
    tokio::time::sleep(Duration::from_secs(2)).await;
    measured.writes = writes_by(&env, AGENT_USER);
    measured.peak_rss_mib = Some(*peak.lock().unwrap_or_else(|e| e.into_inner()) as f64 / 1024.0);
    sampling.abort();
    watch_tenants.abort();
    watch_projects.abort();
    nix_term(pid);
    let _ = child.wait();
    eprintln!("agent N={n} ({load:?}): {:?}", measured.all_ready);
    env.shutdown(Duration::from_secs(5));
    Ok(measured)
}

fn nix_term(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

fn quantile(latencies: &[Duration], q: f64) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Which run a row of the report is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Baseline,
    AgentBurst,
    AgentClosedLoop,
    BaselinePaced,
    AgentPaced,
}

impl Run {
    fn label(self) -> &'static str {
        match self {
            Run::Baseline => "baseline",
            Run::AgentBurst => "agent burst",
            Run::AgentClosedLoop => "agent closed loop",
            Run::BaselinePaced => "baseline paced",
            Run::AgentPaced => "agent paced",
        }
    }
}

/// One N's runs, in the order they ran.
type Row = (usize, Vec<(Run, Measured)>);

/// The targets of issue 5, judged on what was measured (`None` when the run was skipped).
fn targets(rows: &[Row]) -> Vec<String> {
    fn get(runs: &[(Run, Measured)], run: Run) -> Option<&Measured> {
        runs.iter().find(|(r, _)| *r == run).map(|(_, m)| m)
    }
    let verdict = |pass: bool| if pass { "PASS" } else { "FAIL" };
    let mut out = Vec::new();
    for (n, runs) in rows {
        if let Some(base) = get(runs, Run::Baseline) {
            for run in [Run::AgentBurst, Run::AgentClosedLoop] {
                let Some(m) = get(runs, run) else { continue };
                let ratio = m.all_ready.as_secs_f64() / base.all_ready.as_secs_f64().max(0.001);
                out.push(format!(
                    "- N = {n}, all-Ready within 2x the baseline ({}): {} ({ratio:.2}x)",
                    run.label(),
                    verdict(ratio <= 2.0)
                ));
            }
        }
        if *n == 200 {
            for run in [Run::AgentBurst, Run::AgentClosedLoop, Run::AgentPaced] {
                let Some(m) = get(runs, run) else { continue };
                let p99 = quantile(&m.latencies, 0.99).as_secs_f64();
                out.push(format!(
                    "- N = {n}, p99 create-to-Ready under 3 s ({}): {} ({p99:.2} s)",
                    run.label(),
                    verdict(p99 < 3.0 && m.failures == 0)
                ));
            }
        }
        if *n == 1000 {
            let peak = runs
                .iter()
                .filter_map(|(_, m)| m.peak_rss_mib)
                .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
            if let Some(peak) = peak {
                out.push(format!(
                    "- N = {n}, agent memory under 150 MB: {} (peak RSS {:.0} MB = {peak:.0} MiB, the highest of the agent runs)",
                    verdict(peak * 1.048_576 < 150.0),
                    peak * 1.048_576
                ));
            }
        }
    }
    out
}

fn markdown(rows: &[Row], parallel: usize, rate: f64) -> String {
    let mut out = String::new();
    out.push_str("# Agent benchmark\n\n");
    out.push_str(&format!(
        "Written by `kubenova-bench-agent run` ({} cores: {}; load average before: {}). Each run \
         has a fresh testenv with Capsule v0.14 and the audit log. `baseline`: the same objects \
         applied directly by a client with {parallel} tenants in flight, waiting for Capsule to \
         list the owner before the namespace. The agent runs in a child process: `agent burst` \
         (all Tenants and Projects written with {parallel} requests in flight, so a tenant's \
         create-to-Ready includes waiting behind the others), `agent closed loop` ({parallel} \
         tenants in flight from creation until Ready, like the baseline's client), and `agent \
         paced` (one tenant every {:.2} s, however many are in flight: below what the apiserver \
         and Capsule sustain, so create-to-Ready is a tenant's own provisioning time), next to \
         `baseline paced` (the baseline's client at the same pace). Ready = the Tenant and its \
         Project both report Ready=True (for the baselines: all objects written). Writes \
         exclude the agent's Lease renewals.\n\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        procfs::cpu_model(),
        procfs::load_average(),
        1.0 / rate,
    ));
    out.push_str("| N | run | all-Ready | p50 create-to-Ready | p99 create-to-Ready | writes per tenant | agent CPU | agent peak RSS | failures |\n|---|---|---|---|---|---|---|---|---|\n");
    for (n, runs) in rows {
        for (run, m) in runs {
            out.push_str(&format!(
                "| {n} | {} | {:.1} s | {:.2} s | {:.2} s | {:.1} | {} | {} | {} |\n",
                run.label(),
                m.all_ready.as_secs_f64(),
                quantile(&m.latencies, 0.5).as_secs_f64(),
                quantile(&m.latencies, 0.99).as_secs_f64(),
                m.writes as f64 / *n as f64,
                m.cpu_seconds.map_or("-".into(), |c| format!("{c:.1} s")),
                m.peak_rss_mib.map_or("-".into(), |r| format!("{r:.0} MiB")),
                m.failures,
            ));
        }
    }
    out.push_str("\n## Targets\n\n");
    for line in targets(rows) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
