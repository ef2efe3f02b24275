//! `kubenova-bench`: KubeNova's benchmarks, each a comparison against baselines taken in the
//! same run on the same testenv.
//!
//! `kubenova-bench proxy` needs the release binaries of `kubenova-proxy` and
//! `kubenova-bench-noop`; `make bench` builds both first and writes
//! `docs/performance-proxy.md`. `--quick` runs a few seconds per workload, for development.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kubenova_api::claims::PROXY_AUDIENCE;
use kubenova_api::{Claims, Role};
use kubenova_bench::client::{Endpoint, JSON, Sender, TABLE, exchange};
use kubenova_bench::load::{self, Latency};
use kubenova_bench::report::{
    Kind, Report, RoundQuantiles, Run, StaticRow, StaticUpstream, TARGETS, WatchMemory, Workload,
};
use kubenova_bench::{jwt, procfs, setup};
use testenv::TestEnv;

/// The name of (d)'s kubenova-proxy (in capsule-proxy mode) in the testenv.
const PROXY_D: &str = "kubenova-proxy-capsule-proxy";
/// The static upstream's process name.
const STATIC: &str = "kubenova-bench-static";
/// (b) in front of the static upstream.
const NOOP_STATIC: &str = "kubenova-bench-noop-static";
/// (c) in front of the static upstream.
const PROXY_STATIC: &str = "kubenova-proxy-static";

#[derive(Debug, Parser)]
#[command(about = "KubeNova benchmarks: ratios against baselines taken in the same run")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// kube-apiserver direct (a) vs a no-op TLS pass-through (b) vs kubenova-proxy (c) vs
    /// kubenova-proxy in front of capsule-proxy (d) vs capsule-proxy alone (e).
    Proxy(ProxyArgs),
}

#[derive(Debug, Clone, Args)]
struct ProxyArgs {
    /// The kubenova-proxy binary, already built (`make bench` builds it).
    #[arg(long, default_value = "target/release/kubenova-proxy")]
    proxy_binary: PathBuf,
    /// The kubenova-bench-noop binary; default: next to this program.
    #[arg(long)]
    noop_binary: Option<PathBuf>,
    /// Also write the report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A few seconds per workload, for development (overrides the durations and counts below).
    #[arg(long)]
    quick: bool,
    /// Open-loop GET rates, requests per second.
    #[arg(long, value_delimiter = ',', default_value = "200,1000")]
    rates: Vec<u32>,
    /// Rounds of the saturation and LIST workloads: each round runs (a), (b), (c) in turn (in
    /// reverse order every other round), so a passing disturbance hits all three alike; the
    /// durations and iterations below are split across the rounds.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Rounds of each fixed-rate workload: many short rounds, so the p99 target can be judged
    /// on the median over rounds of each round's added p99 (one noisy round cannot decide it).
    #[arg(long, default_value_t = 10)]
    rate_rounds: u32,
    /// Seconds per fixed-rate workload and target, in total over its rounds.
    #[arg(long, default_value_t = 30)]
    rate_seconds: u64,
    /// Seconds of the saturation run.
    #[arg(long, default_value_t = 30)]
    saturation_seconds: u64,
    /// Concurrent closed-loop workers in the saturation run (all on one HTTP/2 connection).
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// LISTs of the 1,000 ConfigMaps per format and target.
    #[arg(long, default_value_t = 100)]
    list_iterations: u32,
    /// `kubectl get pods -A` lists (50 namespaces x 20 pods) per target.
    #[arg(long, default_value_t = 60)]
    all_pods_iterations: u32,
    /// Idle watches held through (b) and (c).
    #[arg(long, default_value_t = 1000)]
    watches: usize,
    /// Watches per HTTP/2 connection (hyper serves at most 200 streams per connection).
    #[arg(long, default_value_t = 100)]
    watches_per_connection: usize,
    /// Distinct tokens in the JWT microbenchmark (each verified once).
    #[arg(long, default_value_t = 2000)]
    jwt_tokens: u32,
    /// Cache hits timed in the JWT microbenchmark.
    #[arg(long, default_value_t = 200_000)]
    jwt_hits: u32,
}

impl ProxyArgs {
    fn apply_quick(&mut self) {
        if self.quick {
            // Five 1 s rounds per rate: enough for a median, not for a verdict.
            self.rate_rounds = 5;
            self.rate_seconds = 5;
            self.saturation_seconds = 3;
            self.list_iterations = 10;
            self.all_pods_iterations = 6;
            self.jwt_tokens = 300;
            self.jwt_hits = 20_000;
        }
    }
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let Commands::Proxy(mut args) = Cli::parse().command;
    args.apply_quick();
    tokio::runtime::Runtime::new()?.block_on(proxy(args, command))
}

/// The targets' endpoints and their processes, indexed like [`TARGETS`].
struct Targets {
    endpoints: [Endpoint; 5],
    senders: [Sender; 5],
    /// The proxy processes of each target: none for (a); kubenova-proxy and capsule-proxy for
    /// (d).
    proxy_pids: [Vec<u32>; 5],
    apiserver_pid: u32,
}

async fn proxy(args: ProxyArgs, command: String) -> anyhow::Result<()> {
    let noop_binary = match &args.noop_binary {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this program has no directory")?
            .join("kubenova-bench-noop"),
    };
    for (binary, build) in [
        (&args.proxy_binary, "kubenova-proxy"),
        (&noop_binary, "kubenova-bench"),
    ] {
        if !binary.is_file() {
            anyhow::bail!(
                "{} does not exist: build it first (`cargo build --release -p {build}`; \
                 `make bench` does)",
                binary.display()
            );
        }
    }
    let machine_before = procfs::load_average();
    eprintln!("starting testenv (Capsule and capsule-proxy) ...");
    let env = TestEnv::start(testenv::Options {
        label: "bench".into(),
        capsule: true,
        capsule_proxy: true,
        ..testenv::Options::default()
    })
    .await?;
    let result = run(&env, &args, &noop_binary).await;
    env.shutdown(Duration::from_secs(5));
    let (workloads, watches, jwt, static_upstream) = result?;

    let mut machine = vec![
        (
            "nproc".to_owned(),
            std::thread::available_parallelism()
                .map_or_else(|_| "unknown".to_owned(), |n| n.to_string()),
        ),
        ("CPU".to_owned(), procfs::cpu_model()),
        (
            "kernel".to_owned(),
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned()),
        ),
        (
            "load average (1, 5, 15 min) before / after".to_owned(),
            format!("{machine_before} / {}", procfs::load_average()),
        ),
    ];
    if let Some(date) = output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]) {
        machine.push(("date".to_owned(), date));
    }
    if let Some(commit) = output("git", &["rev-parse", "--short", "HEAD"]) {
        let dirty = output("git", &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
        machine.push((
            "commit".to_owned(),
            format!(
                "{commit}{}",
                if dirty { " (with local changes)" } else { "" }
            ),
        ));
    }
    let report = Report {
        command,
        machine,
        parameters: parameters(&args),
        clock_ticks: procfs::clock_ticks_per_second(),
        workloads,
        watches,
        jwt,
        static_upstream,
    };
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(out) = &args.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("report written to {}", out.display());
    }
    Ok(())
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn parameters(args: &ProxyArgs) -> Vec<(String, String)> {
    vec![
        (
            "objects".into(),
            format!(
                "namespace `{}` with one 1 KiB ConfigMap (GET, watch) and {} more 1 KiB \
                 ConfigMaps (LIST: {} items with the namespace's root CA ConfigMap)",
                setup::NAMESPACE,
                setup::LIST_COUNT,
                setup::LIST_COUNT + 2
            ),
        ),
        (
            "rounds".into(),
            format!(
                "each fixed-rate workload runs in {} rounds, every other workload in {}; a round \
                 runs (a), (b), (c) in turn, in reverse order every other round (so a slow drift \
                 of the machine favours no target); the durations and iterations below are \
                 totals over the rounds; the table merges the rounds, and the fixed-rate rows \
                 are also compared round by round: each round's (b) and (c) against the same \
                 round's (a)",
                args.rate_rounds.max(1),
                args.rounds.max(1)
            ),
        ),
        (
            "client".into(),
            "in-process, kubectl-style: HTTP/2 over TLS, `Accept: application/json`, one \
             connection per target shared by all concurrent requests (as client-go does)"
                .into(),
        ),
        (
            "fixed rate".into(),
            format!(
                "{:?} req/s, {} s per target in {} rounds of {:.1} s, open loop; latency from the \
                 intended send time (no coordinated omission; includes up to ~1 ms of the \
                 generator's timer granularity, the same for every target)",
                args.rates,
                args.rate_seconds,
                args.rate_rounds.max(1),
                args.rate_seconds as f64 / f64::from(args.rate_rounds.max(1))
            ),
        ),
        (
            "saturation".into(),
            format!(
                "{} closed-loop workers for {} s; CPU per request from /proc/<pid>/stat \
                 utime+stime of the proxy process and of kube-apiserver around each run",
                args.workers, args.saturation_seconds
            ),
        ),
        (
            "LIST".into(),
            format!(
                "{} sequential LISTs per format (`{JSON}` and `{TABLE}`)",
                args.list_iterations
            ),
        ),
        (
            "idle watches".into(),
            format!(
                "{} watches of the namespace's ConfigMaps from the current resourceVersion, {} \
                 per HTTP/2 connection; VmRSS of the proxy process before and after opening \
                 them, measured first, on fresh processes",
                args.watches, args.watches_per_connection
            ),
        ),
        (
            "upstream credentials".into(),
            format!(
                "(a): TokenRequest token of ServiceAccount `{}`; (b): replaces every \
                 Authorization with a TokenRequest token of ServiceAccount `{}`; (c): its own \
                 ServiceAccount plus Impersonate-User/Group for a tenantOwner JWT of tenant \
                 `{}`; (d): the same, to capsule-proxy, which checks the token (TokenReview) \
                 and the impersonation (SubjectAccessReviews) and forwards with its own token \
                 plus the impersonation; (e): the client's token of ServiceAccount `{}` to \
                 capsule-proxy, which checks it (TokenReview) and forwards impersonating it; \
                 all end up with the `admin` ClusterRole in the namespace and nothing more",
                setup::CLIENT_ACCOUNT,
                setup::NOOP_ACCOUNT,
                setup::TENANT,
                setup::CLIENT_ACCOUNT
            ),
        ),
        (
            "processes".into(),
            "(b), (c) and (d)'s kubenova-proxy run as the testenv starts them (release builds), \
             capsule-proxy v0.14 as the testenv runs it (its chart's flags, caching on); (c) and \
             (d) write their JSON access log at info, as deployed. (d)'s CPU is kubenova-proxy's \
             plus capsule-proxy's. capsule-proxy runs with `--client-connection-qps=200` \
             (burst 400; its chart's default is 20/30) and asks kube-apiserver, per request, a \
             TokenReview and one SubjectAccessReview per impersonated name (1 + 3 for (d)'s \
             tenant owner, 1 for (e)), so that limit bounds (d) near 50 req/s and (e) near \
             200. The load generator, the proxies and kube-apiserver share this machine's \
             cores. kube-apiserver's CPU includes its \
             background work (controller-manager, kwok and the proxies' own watches), which \
             weighs most in the low-rate rows; (c)'s includes its 1 s reload loop"
                .into(),
        ),
    ]
}

type Results = (Vec<Workload>, WatchMemory, jwt::JwtTimes, StaticUpstream);

async fn run(env: &TestEnv, args: &ProxyArgs, noop_binary: &Path) -> anyhow::Result<Results> {
    eprintln!(
        "creating the namespace, RBAC and {} ConfigMaps ...",
        setup::LIST_COUNT + 1
    );
    setup::create(env).await?;
    eprintln!(
        "creating {} more namespaces of the tenant with {} pods each ...",
        setup::SPREAD_NAMESPACES,
        setup::SPREAD_PODS
    );
    setup::create_spread(env).await?;
    eprintln!(
        "starting kubenova-proxy (direct, and in front of capsule-proxy) and the no-op pass-through ..."
    );
    let proxy = env.start_proxy(&args.proxy_binary).await?;
    let proxy_d = env
        .start_proxy_with(
            &args.proxy_binary,
            testenv::proxy::ProxyOptions {
                name: Some(PROXY_D.into()),
                mode: testenv::proxy::ProxyMode::CapsuleProxy,
                ..testenv::proxy::ProxyOptions::default()
            },
        )
        .await?;
    let capsule_proxy_url = env
        .capsule_proxy
        .as_ref()
        .context("the testenv runs no capsule-proxy")?
        .url
        .clone();
    let noop_url = start_noop(env, noop_binary).await?;

    let now = kubenova_proxy::auth::now();
    let claims = Claims {
        iss: testenv::proxy::ISSUER.into(),
        sub: "bench-user".into(),
        aud: PROXY_AUDIENCE.into(),
        exp: now + 24 * 3600,
        nbf: now,
        iat: now,
        jti: format!("bench-{now}"),
        roles: vec![Role::TenantOwner],
        tenant: Some(setup::TENANT.into()),
        project: None,
        cluster: None,
    };
    let jwt = proxy.sign(&claims)?;
    let jwt_d = proxy_d.sign(&claims)?;
    let client_token = setup::token(env, setup::CLIENT_ACCOUNT).await?;
    let ca = env.ca_pem();
    let endpoints = [
        Endpoint::new("(a)", env.server(), ca, &client_token)?,
        // (b) replaces the Authorization; the client sends what it sends to (c).
        Endpoint::new("(b)", &noop_url, ca, &jwt)?,
        Endpoint::new("(c)", &proxy.url, ca, &jwt)?,
        Endpoint::new("(d)", &proxy_d.url, ca, &jwt_d)?,
        // capsule-proxy passes a ServiceAccount (not a Capsule user) through, impersonating it.
        // capsule-proxy v0.14 serves HTTP/1.1 only (its TLS listener offers no h2).
        Endpoint::new_http1("(e)", &capsule_proxy_url, ca, &client_token)?,
    ];
    let pid = |name: &str| {
        env.pids()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, pid)| pid)
            .with_context(|| format!("no process {name} in the testenv"))
    };
    let mut senders = Vec::new();
    for endpoint in &endpoints {
        senders.push(ready(endpoint).await?);
    }
    let senders: [Sender; 5] = senders
        .try_into()
        .map_err(|_| anyhow::anyhow!("one connection per target"))?;
    let capsule_proxy = pid("capsule-proxy")?;
    let targets = Targets {
        endpoints,
        senders,
        proxy_pids: [
            vec![],
            vec![pid("kubenova-bench-noop")?],
            vec![pid(testenv::proxy::DEFAULT_NAME)?],
            vec![pid(PROXY_D)?, capsule_proxy],
            vec![capsule_proxy],
        ],
        apiserver_pid: pid("kube-apiserver")?,
    };
    let get = setup::configmap_path();
    eprintln!("warming up ...");
    for (t, (endpoint, sender)) in targets.endpoints.iter().zip(&targets.senders).enumerate() {
        let warm = load::saturation(
            endpoint,
            sender,
            &get,
            8,
            Duration::from_secs(if args.quick { 1 } else { 5 }),
        )
        .await;
        if warm.errors > 0 {
            anyhow::bail!(
                "{} failed while warming up: {}",
                TARGETS[t],
                warm.first_error.unwrap_or_default()
            );
        }
    }

    let watches = idle_watches(env, &targets, args).await?;
    let mut workloads = Vec::new();
    let rounds = args.rounds.max(1);
    let rate_rounds = args.rate_rounds.max(1);
    for &rate in &args.rates {
        let duration = Duration::from_secs(args.rate_seconds) / rate_rounds;
        workloads.push(
            measure(
                env,
                &targets,
                rate_rounds,
                format!("GET 1 KiB @ {rate}/s"),
                Kind::FixedRate(rate),
                |e, s| {
                    let get = get.clone();
                    async move { load::fixed_rate(&e, &s, &get, rate, duration).await }
                },
            )
            .await?,
        );
    }
    let (workers, duration) = (
        args.workers,
        Duration::from_secs(args.saturation_seconds) / rounds,
    );
    workloads.push(
        measure(
            env,
            &targets,
            rounds,
            format!("GET 1 KiB saturation ({workers} workers)"),
            Kind::Saturation(workers),
            |e, s| {
                let get = get.clone();
                async move { load::saturation(&e, &s, &get, workers, duration).await }
            },
        )
        .await?,
    );
    for (name, accept) in [("JSON", JSON), ("Table", TABLE)] {
        let iterations = args.list_iterations.div_ceil(rounds);
        workloads.push(
            measure(
                env,
                &targets,
                rounds,
                format!("LIST {} items, {name}", setup::LIST_COUNT + 2),
                Kind::Sequential,
                |e, s| async move {
                    load::sequential(&e, &s, &setup::list_path(), accept, iterations).await
                },
            )
            .await?,
        );
    }
    let iterations = args.all_pods_iterations.div_ceil(rounds);
    workloads.push(
        measure(
            env,
            &targets,
            rounds,
            format!(
                "LIST pods -A ({} namespaces x {} pods), Table",
                setup::SPREAD_NAMESPACES,
                setup::SPREAD_PODS
            ),
            Kind::Sequential,
            |e, s| async move {
                load::sequential(&e, &s, setup::ALL_PODS_PATH, TABLE, iterations).await
            },
        )
        .await?,
    );
    let fixed = static_upstream(env, args, noop_binary, &claims).await?;
    eprintln!("JWT verification microbenchmark ...");
    let jwt = jwt::run(args.jwt_tokens, args.jwt_hits).await?;
    env.check_programs()?;
    Ok((workloads, watches, jwt, fixed))
}

/// The rows that isolate the proxy: (b) and (c) again, each in front of a static upstream (the
/// no-op pass-through's code answering the GET of the 1 KiB ConfigMap itself, from memory, and
/// relaying everything else, the proxy's own reads, to kube-apiserver with the caller's
/// credential), at the fixed rates, in rounds that alternate the two. The load generator is
/// pinned to one core and the three servers to the others when there are two or more.
async fn static_upstream(
    env: &TestEnv,
    args: &ProxyArgs,
    noop_binary: &Path,
    claims: &Claims,
) -> anyhow::Result<StaticUpstream> {
    eprintln!("static upstream: starting it, (b) and (c) in front of it ...");
    let dir = env.dir().join("kubenova-bench-static");
    std::fs::create_dir_all(&dir)?;
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(env.client().await?, setup::NAMESPACE);
    let object = configmaps.get(setup::CONFIGMAP).await?;
    let body_file = dir.join("configmap.json");
    std::fs::write(&body_file, serde_json::to_vec(&object)?)?;
    let token_file = dir.join("upstream-token");
    std::fs::write(&token_file, setup::token(env, setup::NOOP_ACCOUNT).await?)?;
    let get = setup::configmap_path();
    let static_url = start_noop_as(
        env,
        noop_binary,
        STATIC,
        env.server(),
        &token_file,
        &[
            format!("--static-path={get}"),
            format!("--static-body-file={}", body_file.display()),
            "--keep-authorization".to_owned(),
        ],
    )?;
    let noop_url = start_noop_as(env, noop_binary, NOOP_STATIC, &static_url, &token_file, &[])?;
    let proxy = env
        .start_proxy_with(
            &args.proxy_binary,
            testenv::proxy::ProxyOptions {
                name: Some(PROXY_STATIC.into()),
                upstream: Some(static_url),
                ..testenv::proxy::ProxyOptions::default()
            },
        )
        .await?;
    let jwt = proxy.sign(claims)?;
    let ca = env.ca_pem();
    let endpoints = [
        Endpoint::new("(b)", &noop_url, ca, &jwt)?,
        Endpoint::new("(c)", &proxy.url, ca, &jwt)?,
    ];
    let mut senders = Vec::new();
    for endpoint in &endpoints {
        senders.push(ready(endpoint).await?);
    }
    let pid = |name: &str| {
        env.pids()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, pid)| pid)
            .with_context(|| format!("no process {name} in the testenv"))
    };
    let pids = [pid(NOOP_STATIC)?, pid(PROXY_STATIC)?];
    let pinned = pin_apart(&[pid(STATIC)?, pids[0], pids[1]]);
    let rounds = args.rate_rounds.max(1);
    let mut rows = Vec::new();
    for &rate in &args.rates {
        let duration = Duration::from_secs(args.rate_seconds) / rounds;
        let mut runs: [Option<Run>; 2] = [None, None];
        for round in 1..=rounds {
            let order = if round % 2 == 1 { [0, 1] } else { [1, 0] };
            for t in order {
                eprintln!(
                    "static upstream, GET 1 KiB @ {rate}/s: {} (round {round}/{rounds}) ...",
                    endpoints[t].label
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
                let before = procfs::cpu_ticks(pids[t])?;
                let latency =
                    load::fixed_rate(&endpoints[t], &senders[t], &get, rate, duration).await;
                let ticks = procfs::cpu_ticks(pids[t])? - before;
                env.check_programs()?;
                let this_round = RoundQuantiles::of(&latency);
                match &mut runs[t] {
                    Some(so_far) => {
                        so_far.rounds.push(this_round);
                        so_far.latency.merge(latency);
                        so_far.proxy_ticks = so_far.proxy_ticks.map(|p| p + ticks);
                    }
                    None => {
                        runs[t] = Some(Run {
                            latency,
                            rounds: vec![this_round],
                            proxy_ticks: Some(ticks),
                            apiserver_ticks: 0,
                        })
                    }
                }
            }
        }
        if let [Some(b), Some(c)] = runs {
            rows.push(StaticRow { rate, b, c });
        }
    }
    Ok(StaticUpstream { rows, pinned })
}

/// Pins this process (the load generator) to the last core and `servers` to the others, when
/// there are at least two cores and `taskset` exists; says what was done.
fn pin_apart(servers: &[u32]) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return "not pinned (one core)".into();
    }
    let load = (cores - 1).to_string();
    let rest = format!("0-{}", cores - 2);
    let me = std::process::id().to_string();
    let mut ok = output("taskset", &["-a", "-p", "-c", &load, &me]).is_some();
    for pid in servers {
        ok &= output("taskset", &["-a", "-p", "-c", &rest, &pid.to_string()]).is_some();
    }
    if ok {
        format!("load generator on core {load}; static upstream, (b) and (c) on cores {rest}")
    } else {
        "not pinned (`taskset` failed or is missing)".into()
    }
}

/// Starts `kubenova-bench-noop` in front of kube-apiserver, with a serving certificate from the
/// testenv CA (like the proxy's) and a TokenRequest token of its own ServiceAccount.
async fn start_noop(env: &TestEnv, binary: &Path) -> anyhow::Result<String> {
    let dir = env.dir().join("kubenova-bench-noop");
    std::fs::create_dir_all(&dir)?;
    let token_file = dir.join("upstream-token");
    std::fs::write(&token_file, setup::token(env, setup::NOOP_ACCOUNT).await?)?;
    start_noop_as(
        env,
        binary,
        "kubenova-bench-noop",
        env.server(),
        &token_file,
        &[],
    )
}

/// Starts `kubenova-bench-noop` as process `name` in front of `upstream` (serving certificate
/// from the testenv CA), with `extra` flags; returns its URL.
fn start_noop_as(
    env: &TestEnv,
    binary: &Path,
    name: &str,
    upstream: &str,
    token_file: &Path,
    extra: &[String],
) -> anyhow::Result<String> {
    let serving = env.pki().serving(name, &["127.0.0.1", "localhost"])?;
    let port = testenv::free_port()?;
    let mut cmd = Command::new(binary);
    cmd.arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--tls-cert={}", serving.cert_path.display()))
        .arg(format!("--tls-key={}", serving.key_path.display()))
        .arg(format!("--upstream={upstream}"))
        .arg(format!("--upstream-ca={}", env.ca_path().display()))
        .arg(format!("--upstream-token-file={}", token_file.display()))
        .args(extra);
    env.spawn(name, cmd)?;
    Ok(format!("https://127.0.0.1:{port}"))
}

/// Connects to `endpoint` and waits until a GET of the ConfigMap succeeds (the process is up and
/// RBAC has caught up), for at most 30 s.
async fn ready(endpoint: &Endpoint) -> anyhow::Result<Sender> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = async {
            let mut sender = endpoint.connect().await?;
            exchange(&mut sender, endpoint.get(&setup::configmap_path(), JSON)).await?;
            anyhow::Ok(sender)
        }
        .await;
        match attempt {
            Ok(sender) => return Ok(sender),
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(e.context(format!("{} not ready", endpoint.label)));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Runs `workload` against every target in turn (every other round in reverse order),
/// `rounds` times, with CPU time around each run. Each round's p50 and p99 are kept besides the
/// merged latencies.
async fn measure<F, Fut>(
    env: &TestEnv,
    targets: &Targets,
    rounds: u32,
    name: String,
    kind: Kind,
    workload: F,
) -> anyhow::Result<Workload>
where
    F: Fn(Endpoint, Sender) -> Fut,
    Fut: Future<Output = Latency>,
{
    let mut runs: [Option<Run>; 5] = Default::default();
    for round in 1..=rounds {
        let mut order: Vec<usize> = (0..TARGETS.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for t in order {
            let run = &mut runs[t];
            eprintln!("{name}: {} (round {round}/{rounds}) ...", TARGETS[t]);
            tokio::time::sleep(Duration::from_millis(500)).await;
            let proxy_before = cpu_ticks(&targets.proxy_pids[t])?;
            let apiserver_before = procfs::cpu_ticks(targets.apiserver_pid)?;
            // A connection the server closed (after a run that overloaded it) is opened anew,
            // so one failed run does not fail every later one; the report counts the errors.
            let sender = if targets.senders[t].is_closed() {
                eprintln!("  {}: the connection was closed; reconnecting", TARGETS[t]);
                ready(&targets.endpoints[t])
                    .await
                    .unwrap_or_else(|_| targets.senders[t].clone())
            } else {
                targets.senders[t].clone()
            };
            let latency = workload(targets.endpoints[t].clone(), sender).await;
            let apiserver_ticks = procfs::cpu_ticks(targets.apiserver_pid)? - apiserver_before;
            let proxy_ticks = match (cpu_ticks(&targets.proxy_pids[t])?, proxy_before) {
                (Some(after), Some(before)) => Some(after - before),
                _ => None,
            };
            env.check_programs()?;
            let this_round = RoundQuantiles::of(&latency);
            match run {
                Some(so_far) => {
                    so_far.rounds.push(this_round);
                    so_far.latency.merge(latency);
                    so_far.apiserver_ticks += apiserver_ticks;
                    so_far.proxy_ticks = so_far.proxy_ticks.zip(proxy_ticks).map(|(a, b)| a + b);
                }
                None => {
                    *run = Some(Run {
                        latency,
                        rounds: vec![this_round],
                        proxy_ticks,
                        apiserver_ticks,
                    })
                }
            }
        }
    }
    Ok(Workload { name, kind, runs })
}

/// CPU ticks of `pids` together so far; `None` for no process.
fn cpu_ticks(pids: &[u32]) -> anyhow::Result<Option<u64>> {
    if pids.is_empty() {
        return Ok(None);
    }
    let mut total = 0;
    for &pid in pids {
        total += procfs::cpu_ticks(pid)?;
    }
    Ok(Some(total))
}

/// Opens the idle watches through (b), then through (c), reading each proxy's RSS before and
/// after.
async fn idle_watches(
    env: &TestEnv,
    targets: &Targets,
    args: &ProxyArgs,
) -> anyhow::Result<WatchMemory> {
    let rv = setup::resource_version(env).await?;
    let path = format!(
        "{}?watch=true&resourceVersion={rv}&allowWatchBookmarks=false&timeoutSeconds=3600",
        setup::list_path()
    );
    let mut memory = WatchMemory {
        count: args.watches,
        ..WatchMemory::default()
    };
    for t in [1, 2] {
        let Some(&pid) = targets.proxy_pids[t].first() else {
            continue;
        };
        eprintln!("{} idle watches: {} ...", args.watches, TARGETS[t]);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = procfs::rss_kib(pid)?;
        let watches = load::open_watches(
            &targets.endpoints[t],
            &path,
            args.watches,
            args.watches_per_connection,
        )
        .await
        .with_context(|| format!("opening watches through {}", TARGETS[t]))?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = procfs::rss_kib(pid)?;
        eprintln!(
            "  {} watches open: RSS {before} -> {after} KiB",
            watches.len()
        );
        memory.rss[t] = Some((before, after));
        drop(watches);
        env.check_programs()?;
    }
    // Let both proxies and the apiserver close the upstream watch connections.
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(memory)
}
