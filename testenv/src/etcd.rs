//! etcd: the environment's only storage, in a data directory removed with the environment.
//!
//! Clients must present a certificate from the environment's CA (`--client-cert-auth`): other
//! processes of the machine (a confined kwok exec among them, see `kwok`) reach its loopback
//! port but cannot read or write the cluster's storage. Health is read from a separate
//! plain-HTTP metrics listener, which serves `/health` and `/metrics` only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::pki::Pki;
use crate::process::{Program, Supervisor};
use crate::upstream::Module;
use crate::{Result, free_port, wait};

/// A running etcd.
#[derive(Debug)]
pub struct Etcd {
    /// How kube-apiserver reaches it.
    pub client: EtcdClient,
    /// The process.
    pub program: Program,
}

/// Where etcd listens and the credentials a client needs.
#[derive(Debug, Clone)]
pub struct EtcdClient {
    /// Its client URL (`https://127.0.0.1:<port>`).
    pub url: String,
    /// The CA its serving certificate is from (the environment's).
    pub ca_file: PathBuf,
    /// The client certificate kube-apiserver presents.
    pub cert_file: PathBuf,
    /// Its key.
    pub key_file: PathBuf,
}

/// Starts etcd with its data under `data` and waits until `/health` says so.
pub async fn start(supervisor: &Supervisor, pki: &Pki, data: &Path) -> Result<Etcd> {
    let client = free_port()?;
    let peer = free_port()?;
    let health = free_port()?;
    let url = format!("https://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let serving = pki.serving("etcd", &["127.0.0.1", "localhost"])?;
    let apiserver = pki.client("etcd-client", "kube-apiserver-etcd-client", &[])?;
    let ca_file = pki.ca().cert_path.clone();
    let mut cmd = Command::new(Module::Etcd.path("etcd")?);
    cmd.arg("--name=testenv")
        .arg(format!("--data-dir={}", data.join("etcd").display()))
        .arg(format!("--listen-client-urls={url}"))
        .arg(format!("--advertise-client-urls={url}"))
        .arg(format!("--cert-file={}", serving.cert_path.display()))
        .arg(format!("--key-file={}", serving.key_path.display()))
        .arg("--client-cert-auth=true")
        .arg(format!("--trusted-ca-file={}", ca_file.display()))
        .arg(format!("--listen-metrics-urls=http://127.0.0.1:{health}"))
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
            let body = wait::http_get(health, "/health")?;
            Ok(body.contains("\"health\":\"true\""))
        },
    )
    .await?;
    Ok(Etcd {
        client: EtcdClient {
            url,
            ca_file,
            cert_file: apiserver.cert_path,
            key_file: apiserver.key_path,
        },
        program,
    })
}
