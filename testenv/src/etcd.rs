//! etcd: the environment's only storage, in a data directory removed with the environment.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process::{Program, Supervisor};
use crate::upstream::Module;
use crate::{Result, free_port, wait};

/// A running etcd.
#[derive(Debug)]
pub struct Etcd {
    /// Its client URL (`http://127.0.0.1:<port>`).
    pub url: String,
    /// The process.
    pub program: Program,
}

/// Starts etcd with its data under `data` and waits until `/health` says so.
pub async fn start(supervisor: &Supervisor, data: &Path) -> Result<Etcd> {
    let client = free_port()?;
    let peer = free_port()?;
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut cmd = Command::new(Module::Etcd.path("etcd")?);
    cmd.arg("--name=testenv")
        .arg(format!("--data-dir={}", data.join("etcd").display()))
        .arg(format!("--listen-client-urls={url}"))
        .arg(format!("--advertise-client-urls={url}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster=testenv={peer_url}"))
        // A test environment trades durability for speed; nothing here must survive a crash.
        .arg("--unsafe-no-fsync=true")
        .arg("--log-level=warn");
    let mut program = supervisor.spawn("etcd", cmd)?;
    wait::until(
        "etcd /health",
        &mut program,
        Duration::from_secs(30),
        || async move {
            let body = wait::http_get(client, "/health")?;
            Ok(body.contains("\"health\":\"true\""))
        },
    )
    .await?;
    Ok(Etcd { url, program })
}
