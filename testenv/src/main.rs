//! `kubenova-testenv`: runs the test environment outside of tests, for `make dev`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use testenv::{Options, TestEnv};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    version,
    about = "A real local Kubernetes for KubeNova: etcd, kube-apiserver, controllers, kwok, Capsule"
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
    let Cli {
        command: Cmd::Up {
            dir,
            env_file,
            no_capsule,
        },
    } = Cli::parse();
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
    };
    let env = tokio::select! {
        env = TestEnv::start(options) => env.context("the environment did not start")?,
        _ = terminate.recv() => anyhow::bail!("stopped before the environment was ready"),
        _ = interrupt.recv() => anyhow::bail!("stopped before the environment was ready"),
    };
    write_pids(&env)?;
    write_env_file(&env, &env_file)?;
    print_usage(&env, &env_file, started.elapsed());

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

fn write_env_file(env: &TestEnv, env_file: &Path) -> anyhow::Result<()> {
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
    );
    if let Some(parent) = env_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Written whole under a temporary name, so a script polling for it never reads half a file.
    let tmp = env_file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, env_file)?;
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn print_usage(env: &TestEnv, env_file: &Path, took: Duration) {
    eprintln!(
        "\nKubeNova test environment is up ({:.0?}).\n\n  apiserver   {}\n  kubeconfig  {}\n  logs        {}\n\n\
         In another terminal:\n\n  . {}\n  kubectl get ns\n  kubectl get nodes\n\n\
         Ctrl-C stops everything.",
        took,
        env.server(),
        env.kubeconfig_path().display(),
        env.dir().join("logs").display(),
        env_file.display(),
    );
}
