//! A real, local Kubernetes control plane for KubeNova's tests and for `make dev`.
//!
//! [`TestEnv::start`] runs the upstream programs built by `make upstream` on free loopback ports
//! in a fresh directory: etcd, kube-apiserver (RBAC, ServiceAccount tokens, impersonation only
//! through RBAC), kube-controller-manager, kube-scheduler, kwok with one fake node whose pods run
//! and answer `logs`/`exec`/`port-forward`, Capsule with its admission webhooks, and, when asked
//! for, capsule-proxy ([`Options::capsule_proxy`]) and KubeVela with the FluxCD controllers that
//! deliver Helm charts ([`Options::vela`]).
//! Nothing is mocked.
//!
//! Test binaries share one environment through [`TestEnv::shared`] and isolate by unique names
//! ([`unique_name`]). No program outlives the process that started it, even when it panics or is
//! killed (see [`process`]). Each program's log stays in `<dir>/logs/`; every startup error names
//! the log and quotes its end.

pub mod apiserver;
pub mod capsule;
pub mod capsule_proxy;
pub mod charts;
pub mod control;
pub mod controllers;
pub mod dex;
pub mod env;
pub mod etcd;
pub mod kubeconfig;
pub mod kwok;
pub mod pki;
pub mod process;
pub mod proxy;
pub mod rawh2;
pub mod registry;
pub mod upstream;
pub mod vela;
pub mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::{Options, TestEnv, unique_name};

/// Errors starting or using the environment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An upstream program was not built.
    #[error(
        "{module} {version} is not built: {path} is missing. Run `make upstream` (needs Go) first"
    )]
    MissingUpstream {
        /// Wrapper module name.
        module: &'static str,
        /// Pinned version.
        version: &'static str,
        /// The missing file.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A program exited while the environment needed it.
    #[error("{name} exited ({status}); its log is {log}, ending with:\n{tail}")]
    Exited {
        /// The program's short name.
        name: String,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// A program did not become ready in time.
    #[error("{what} not ready after {after:?} (last: {last}); log {log}, ending with:\n{tail}")]
    NotReady {
        /// What was awaited.
        what: String,
        /// The timeout.
        after: Duration,
        /// The last observation.
        last: String,
        /// The log file of the program awaited.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// A port a program cannot be moved from is in use.
    #[error("port {port} is in use: {why}")]
    PortTaken {
        /// The port.
        port: u16,
        /// Why it matters.
        why: &'static str,
    },
    /// An object the environment builds was invalid.
    #[error("invalid object: {0}")]
    Invalid(String),
    /// Certificate or key generation failed.
    #[error("certificates: {0}")]
    Pki(String),
    /// A Kubernetes client call failed.
    #[error("kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// Building a client from a kubeconfig failed.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// A command (`kubectl`, `helm`) failed.
    #[error("{program} {args}: {message}")]
    Command {
        /// The program.
        program: String,
        /// The arguments.
        args: String,
        /// Its stderr.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A free TCP port on 127.0.0.1 (bound and released; the program that gets it binds it next).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?
        .port();
    Ok(port)
}

/// Runs `f` to completion on a current-thread runtime of its own thread: for setup that must not
/// depend on (or block) the calling test's runtime.
pub fn block_on<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|runtime| runtime.block_on(f))
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    .unwrap_or_else(|e| panic!("a tokio runtime for setup: {e}"))
}

/// Builds binary `bin` of workspace package `package` (debug profile) with `cargo` (the path in
/// `$CARGO` when cargo runs the tests) from the workspace at `root`, and returns its path: for
/// tests that need a binary of another package.
pub fn workspace_binary(root: &Path, package: &str, bin: &str) -> Result<std::path::PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(&cargo);
    // Without what cargo sets for the running test (its package's name, manifest directory,
    // OUT_DIR...): build scripts that watch those variables (ring's) would otherwise see them
    // change between this build and the next `cargo test`, and everything above them would be
    // rebuilt both times.
    for (name, _) in std::env::vars_os() {
        let name_str = name.to_string_lossy();
        if ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"]
            .iter()
            .any(|p| name_str.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&name_str.as_ref())
        {
            command.env_remove(&name);
        }
    }
    let status = command
        .args(["build", "-q", "-p", package, "--bin", bin])
        .current_dir(root)
        .status()
        .map_err(|e| Error::Spawn {
            program: "cargo".into(),
            source: e,
        })?;
    if !status.success() {
        return Err(Error::Invalid(format!(
            "cargo build -p {package} --bin {bin}: {status}"
        )));
    }
    Ok(std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("debug")
        .join(bin))
}
