//! `kubenova-testenv`: runs the test environment outside of tests, for `make dev`.

mod dev_oidc;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use testenv::control::{ControlOptions, RunningControl};
use testenv::proxy::{ProxyMode, ProxyOptions, RunningProxy};

/// The name `make dev` registers its cluster under.
const LOCAL: &str = "local";
use testenv::{Options, TestEnv};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    version,
    about = "A real local Kubernetes for KubeNova: etcd, kube-apiserver, controllers, kwok, Capsule, KubeVela + Flux"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the environment, write the env file, and run until SIGINT or SIGTERM.
    Up {
        /// Directory for logs, certificates and data (data is removed on exit).
        #[arg(long, default_value = ".kubenova/dev/run")]
        dir: PathBuf,
        /// Shell file to write once everything is ready (`. <file>` to use it); removed on exit.
        #[arg(long, default_value = ".kubenova/dev/env")]
        env_file: PathBuf,
        /// Do not start Capsule.
        #[arg(long)]
        no_capsule: bool,
        /// Do not start KubeVela and the FluxCD controllers (quicker start).
        #[arg(long)]
        no_vela: bool,
        /// Do not start capsule-proxy (the proxy then runs in direct mode).
        #[arg(long)]
        no_capsule_proxy: bool,
        /// Do not start Dex (people then cannot sign in through an identity provider).
        #[arg(long)]
        no_dex: bool,
        /// The proxy's `--mode`: `capsule-proxy` (in front of the environment's capsule-proxy,
        /// the default when it runs) or `direct` (in front of kube-apiserver).
        #[arg(long, value_parser = ["direct", "capsule-proxy"])]
        proxy_mode: Option<String>,
        /// Also run this `kubenova-proxy` binary in front of the apiserver.
        #[arg(long)]
        proxy_binary: Option<PathBuf>,
        /// Also run this `kubenova-control` binary (API and agent) with this cluster as the
        /// management cluster, verify the proxy's tokens against its JWKS, and register this
        /// cluster as `local` (needs --proxy-binary).
        #[arg(long, requires = "proxy_binary")]
        control_binary: Option<PathBuf>,
    },
    /// Print a kubeconfig for the running environment's proxy, signed with the environment's
    /// key (only when the environment runs without kubenova-control, whose API issues them).
    Kubeconfig {
        /// The running environment's directory.
        #[arg(long, default_value = ".kubenova/dev/run")]
        dir: PathBuf,
        /// Who the token is for.
        #[arg(long, default_value = "developer")]
        sub: String,
        /// Role(s): tenantOwner, projectDev, readOnly.
        #[arg(long = "role", required = true)]
        roles: Vec<kubenova_api::Role>,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The project (for projectDev or a project-scoped readOnly).
        #[arg(long)]
        project: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 8 * 3600)]
        ttl: i64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube_client=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (
        dir,
        env_file,
        no_capsule,
        no_vela,
        no_capsule_proxy,
        no_dex,
        proxy_mode,
        proxy_binary,
        control_binary,
    ) = match Cli::parse().command {
        Cmd::Up {
            dir,
            env_file,
            no_capsule,
            no_vela,
            no_capsule_proxy,
            no_dex,
            proxy_mode,
            proxy_binary,
            control_binary,
        } => (
            dir,
            env_file,
            no_capsule,
            no_vela,
            no_capsule_proxy,
            no_dex,
            proxy_mode,
            proxy_binary,
            control_binary,
        ),
        Cmd::Kubeconfig {
            dir,
            sub,
            roles,
            tenant,
            project,
            ttl,
        } => return print_kubeconfig(&dir, sub, roles, tenant, project, ttl),
    };
    let with_capsule_proxy = !no_capsule && !no_capsule_proxy;
    let proxy_mode = match proxy_mode.as_deref() {
        Some(flag) => ProxyMode::from_flag(flag).context("--proxy-mode")?,
        None if with_capsule_proxy => ProxyMode::CapsuleProxy,
        None => ProxyMode::Direct,
    };
    if proxy_mode == ProxyMode::CapsuleProxy && !with_capsule_proxy {
        anyhow::bail!("--proxy-mode=capsule-proxy needs capsule-proxy (and Capsule) running");
    }
    let dir = absolute(&dir)?;
    let env_file = absolute(&env_file)?;
    if env_file.exists() {
        std::fs::remove_file(&env_file)
            .with_context(|| format!("removing {}", env_file.display()))?;
    }
    if dir.exists() {
        // A previous run's leftovers (its data is already gone if it stopped cleanly).
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    eprintln!(
        "starting the KubeNova test environment in {} ...",
        dir.display()
    );
    let started = std::time::Instant::now();
    let options = Options {
        dir: Some(dir.clone()),
        label: "dev".into(),
        capsule: !no_capsule,
        vela: !no_vela,
        capsule_proxy: with_capsule_proxy,
        dex: (!no_dex).then(testenv::dex::DexOptions::default),
        ..Options::default()
    };
    let env = tokio::select! {
        env = TestEnv::start(options) => env.context("the environment did not start")?,
        _ = terminate.recv() => anyhow::bail!("stopped before the environment was ready"),
        _ = interrupt.recv() => anyhow::bail!("stopped before the environment was ready"),
    };
    let dex_users = match &env.dex {
        Some(dex) => Some(dev_oidc::write_users(&env, dex)?),
        None => None,
    };
    let mut control_args = vec![
        "--app-chart-hosts=127.0.0.1".to_owned(),
        "--app-chart-plain-http".to_owned(),
    ];
    if let Some(dex) = &env.dex {
        let config = dev_oidc::write_config(&env, dex)?;
        control_args.push(format!("--oidc-config={}", config.display()));
    }
    let control = match &control_binary {
        Some(binary) => Some(
            env.start_control(
                &absolute(binary)?,
                ControlOptions {
                    // `make dev` serves example charts from loopback HTTP servers (a chart
                    // repository, an OCI registry): allowed here explicitly; the default refuses
                    // loopback hosts and plain HTTP (docs/security.md). With Dex, people sign in
                    // through it (docs/identity.md).
                    extra_args: control_args,
                    ..ControlOptions::default()
                },
            )
            .await
            .context("kubenova-control did not start")?,
        ),
        None => None,
    };
    let proxy = match &proxy_binary {
        Some(binary) => Some(
            env.start_proxy_with(
                &absolute(binary)?,
                ProxyOptions {
                    mode: proxy_mode,
                    jwks_url: control
                        .as_ref()
                        .map(|c| format!("{}/.well-known/jwks.json", c.url)),
                    cluster: control.as_ref().map(|_| LOCAL.to_owned()),
                    extra_args: Vec::new(),
                    ..ProxyOptions::default()
                },
            )
            .await
            .context("kubenova-proxy did not start")?,
        ),
        None => None,
    };
    if let (Some(control), Some(proxy)) = (&control, &proxy) {
        control
            .register(LOCAL, &env, proxy)
            .context("registering the local cluster")?;
    }
    // The guide's chart apps (docs/index.md §8) install KubeNova's WordPress fixture from this
    // repository, with the example's credentials; it lives as long as the environment.
    let charts = match env.vela {
        Some(_) => Some(dev_chart_repo(&env).context("the dev chart repository did not start")?),
        None => None,
    };
    // `kubectl port-forward` to any fake pod reaches this one port (kwok's ClusterPortForward):
    // something answers there, as a pod's server would.
    let forward = tokio::net::TcpListener::bind(("127.0.0.1", env.kwok.forward_port))
        .await
        .context("the fake pods' port-forward target")?;
    tokio::spawn(answer_port_forwards(forward));
    write_pids(&env)?;
    write_env_file(
        &env,
        proxy.as_ref(),
        control.as_ref(),
        charts.as_ref(),
        &env_file,
    )?;
    print_usage(
        &env,
        proxy.as_ref(),
        control.as_ref(),
        &env_file,
        started.elapsed(),
    );
    if let (Some(dex), Some(users), Some(control)) = (&env.dex, &dex_users, &control) {
        eprintln!(
            "\n{}",
            dev_oidc::usage(dex, &control.url, &env.ca_path(), users)
        );
    }

    let mut check = tokio::time::interval(Duration::from_secs(2));
    let outcome = loop {
        tokio::select! {
            _ = terminate.recv() => break Ok(()),
            _ = interrupt.recv() => break Ok(()),
            _ = check.tick() => {
                if let Err(e) = env.check_programs() {
                    break Err(anyhow::Error::new(e).context("a program of the environment stopped"));
                }
            }
        }
    };
    eprintln!("stopping ...");
    let _ = std::fs::remove_file(&env_file);
    env.shutdown(Duration::from_secs(5));
    eprintln!("stopped; logs are in {}", env.dir().join("logs").display());
    outcome
}

/// Answers every connection a `kubectl port-forward` to a fake pod makes with one short HTTP
/// response saying what it is (a fake node runs no container that could answer).
async fn answer_port_forwards(listener: tokio::net::TcpListener) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const BODY: &str = "KubeNova make dev: a fake pod on a kwok node answered this port-forward\n";
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            // Read the request's head (or whatever comes first), then answer and close.
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                BODY.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(std::env::current_dir()?.join(path))
}

/// `<dir>/pids`: one `name pid` line per program, for scripts and the no-leftovers test.
fn write_pids(env: &TestEnv) -> anyhow::Result<()> {
    let mut text = String::new();
    for (name, pid) in env.pids() {
        text.push_str(&format!("{name} {pid}\n"));
    }
    let path = env.dir().join("pids");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The user and password of the dev chart repository: the ones `docs/examples/wordpress-app.json`
/// sends.
const DEV_CHART_CREDENTIALS: (&str, &str) = ("reader", "change-me");

/// A chart repository serving the WordPress fixture chart as versions 0.1.0 and 0.2.0 (for the
/// guide's upgrade and rollback).
fn dev_chart_repo(env: &TestEnv) -> anyhow::Result<testenv::charts::ChartRepo> {
    let repo = env.chart_repo(Some(DEV_CHART_CREDENTIALS))?;
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/wordpress");
    for version in ["0.1.0", "0.2.0"] {
        repo.add(&chart, version)?;
    }
    Ok(repo)
}

fn write_env_file(
    env: &TestEnv,
    proxy: Option<&RunningProxy>,
    control: Option<&RunningControl>,
    charts: Option<&testenv::charts::ChartRepo>,
    env_file: &Path,
) -> anyhow::Result<()> {
    let kubectl_dir = env
        .kubectl_path()
        .parent()
        .context("kubectl has no directory")?;
    let text = format!(
        "# Written by kubenova-testenv while the environment runs; use it with: . {file}\n\
         export KUBECONFIG={kubeconfig}\n\
         export KUBENOVA_TESTENV_DIR={dir}\n\
         export KUBENOVA_TESTENV_CA_FILE={ca}\n\
         export PATH={kubectl_dir}:\"$PATH\"\n",
        file = env_file.display(),
        kubeconfig = shell_quote(&env.kubeconfig_path().display().to_string()),
        dir = shell_quote(&env.dir().display().to_string()),
        ca = shell_quote(&env.ca_path().display().to_string()),
        kubectl_dir = shell_quote(&kubectl_dir.display().to_string()),
    ) + &proxy
        .map(|p| {
            format!(
                "export KUBENOVA_PROXY_URL={}\nexport KUBENOVA_CA_FILE={}\n",
                shell_quote(&p.url),
                shell_quote(&p.ca_path.display().to_string())
            )
        })
        .unwrap_or_default()
        + &control
            .map(|c| {
                format!(
                    "export KUBENOVA_API_URL={}\nexport KUBENOVA_ADMIN_TOKEN={}\n",
                    shell_quote(&c.url),
                    shell_quote(&c.admin_token)
                )
            })
            .unwrap_or_default()
        + &charts
            .map(|r| format!("export KUBENOVA_CHART_REPO={}\n", shell_quote(r.url())))
            .unwrap_or_default()
        + &env
            .dex
            .as_ref()
            .map(|d| {
                format!(
                    "export KUBENOVA_DEX_ISSUER={}\nexport KUBENOVA_DEX_USERS_FILE={}\n",
                    shell_quote(&d.issuer),
                    shell_quote(&env.dir().join("dex-users.txt").display().to_string())
                )
            })
            .unwrap_or_default();
    if let Some(parent) = env_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Written whole under a temporary name, so a script polling for it never reads half a file.
    let tmp = env_file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    // It holds the admin token: root's alone (kwok's exec runs as another user of this machine).
    std::fs::set_permissions(
        &tmp,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )?;
    std::fs::rename(&tmp, env_file)?;
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn print_usage(
    env: &TestEnv,
    proxy: Option<&RunningProxy>,
    control: Option<&RunningControl>,
    env_file: &Path,
    took: Duration,
) {
    let proxy_lines = match control {
        Some(c) => format!(
            "  API         {} (cluster `{LOCAL}` registered; admin token in the env file)\n  web UI      {}/ (sign in with KUBENOVA_ADMIN_TOKEN from the env file; docs/ui.md)\n  proxy       {}\n\n\
             The guide: docs/index.md (curl the API, save kubeconfigs, use kubectl through the proxy).\n\n",
            c.url,
            c.url.trim_end_matches('/'),
            proxy.map(|p| p.url.as_str()).unwrap_or_default()
        ),
        None => proxy
        .map(|p| {
            format!(
                "  proxy       {}\n\n\
                 A tenant kubeconfig through the proxy (signed with the environment's key):\n\n  \
                 target/debug/kubenova-testenv kubeconfig --tenant acme --role tenantOwner > acme.kubeconfig\n  \
                 kubectl --kubeconfig acme.kubeconfig get ns\n\n",
                p.url
            )
        })
        .unwrap_or_default(),
    };
    let vela_lines = env
        .vela
        .as_ref()
        .map(|v| {
            format!(
                "  kubevela    vela-core, helm-controller, source-controller (artifacts on \
                 http://127.0.0.1:{}); try: kubectl get componentdefinitions -n {}\n",
                v.artifact_port,
                testenv::vela::NAMESPACE
            )
        })
        .unwrap_or_default();
    let capsule_proxy_lines = env
        .capsule_proxy
        .as_ref()
        .map(|c| {
            format!(
                "  capsule-proxy {} (the proxy runs in {} mode)\n",
                c.url,
                proxy.map(|p| p.mode.flag()).unwrap_or("no")
            )
        })
        .unwrap_or_default();
    eprintln!(
        "\nKubeNova test environment is up ({:.0?}).\n\n  apiserver   {}\n  kubeconfig  {}\n  logs        {}\n{}{}{}\n\
         In another terminal:\n\n  . {}\n  kubectl get ns\n  kubectl get nodes\n\n\
         Ctrl-C stops everything.",
        took,
        env.server(),
        env.kubeconfig_path().display(),
        env.dir().join("logs").display(),
        vela_lines,
        capsule_proxy_lines,
        proxy_lines,
        env_file.display(),
    );
}

fn print_kubeconfig(
    dir: &Path,
    sub: String,
    roles: Vec<kubenova_api::Role>,
    tenant: String,
    project: Option<String>,
    ttl: i64,
) -> anyhow::Result<()> {
    let proxy = RunningProxy::from_dir(dir)
        .with_context(|| format!("no running proxy in {} (is `make dev` up?)", dir.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        .try_into()?;
    let claims = kubenova_api::Claims {
        iss: testenv::proxy::ISSUER.into(),
        sub,
        aud: kubenova_api::claims::PROXY_AUDIENCE.into(),
        exp: now + ttl,
        nbf: now,
        iat: now,
        jti: format!("dev-{now}-{}", std::process::id()),
        roles,
        tenant: Some(tenant),
        project,
        cluster: None,
    };
    claims
        .scope()
        .context("these roles and scope do not fit together")?;
    let token = proxy.sign(&claims)?;
    let path = std::env::temp_dir().join(format!("kubenova-{}.kubeconfig", claims.jti));
    proxy.write_kubeconfig(&path, &token)?;
    print!("{}", std::fs::read_to_string(&path)?);
    std::fs::remove_file(&path)?;
    Ok(())
}
