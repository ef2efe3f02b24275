//! kube-apiserver with the settings KubeNova relies on: RBAC only (so impersonation is allowed
//! only where RBAC grants the `impersonate` verb), client-certificate authentication against
//! the environment's CA, ServiceAccount tokens (TokenRequest) signed with a generated key, and
//! the kubelet client settings that let `logs`, `exec` and `port-forward` reach kwok.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::pki::{CertPair, Pki};
use crate::process::{Program, Supervisor};
use crate::upstream::Module;
use crate::{Result, free_port, wait};

/// The issuer of ServiceAccount tokens in every environment.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// A running kube-apiserver.
#[derive(Debug)]
pub struct ApiServer {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The process.
    pub program: Program,
}

/// Starts kube-apiserver against `etcd` (with its client certificate) and waits until it answers. With `audit_log`, every
/// request is logged there at `Metadata` level (JSON lines).
///
/// `ready` is polled until it returns `Ok(true)`: the caller checks `/readyz` with its admin
/// client, which proves authentication works too.
pub async fn start<F, Fut>(
    supervisor: &Supervisor,
    pki: &Pki,
    pki_dir: &Path,
    etcd: &crate::etcd::EtcdClient,
    audit_log: Option<&Path>,
    ready: F,
) -> Result<ApiServer>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = std::result::Result<bool, String>>,
{
    let port = free_port()?;
    let url = format!("https://127.0.0.1:{port}");
    let serving = pki.serving(
        "kube-apiserver",
        &[
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "10.96.0.1",
        ],
    )?;
    let kubelet_client: CertPair = pki.client(
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        &["system:masters"],
    )?;
    let (sa_key, sa_pub) = pki.key_pair("service-account")?;
    let mut cmd = Command::new(Module::Kubernetes.path("kube-apiserver")?);
    cmd.arg(format!("--etcd-servers={}", etcd.url))
        .arg(format!("--etcd-cafile={}", etcd.ca_file.display()))
        .arg(format!("--etcd-certfile={}", etcd.cert_file.display()))
        .arg(format!("--etcd-keyfile={}", etcd.key_file.display()))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg("--advertise-address=127.0.0.1")
        // The `kubernetes` Service would get a loopback endpoint, which validation rejects.
        .arg("--endpoint-reconciler-type=none")
        .arg(format!(
            "--cert-dir={}",
            pki_dir.join("apiserver").display()
        ))
        .arg(format!("--tls-cert-file={}", serving.cert_path.display()))
        .arg(format!(
            "--tls-private-key-file={}",
            serving.key_path.display()
        ))
        .arg(format!("--client-ca-file={}", pki.ca().cert_path.display()))
        .arg("--authorization-mode=RBAC")
        .arg("--anonymous-auth=false")
        .arg(format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"))
        .arg(format!("--service-account-key-file={}", sa_pub.display()))
        .arg(format!(
            "--service-account-signing-key-file={}",
            sa_key.display()
        ))
        .arg("--service-cluster-ip-range=10.96.0.0/16")
        .arg("--allow-privileged=true")
        .arg(format!(
            "--kubelet-client-certificate={}",
            kubelet_client.cert_path.display()
        ))
        .arg(format!(
            "--kubelet-client-key={}",
            kubelet_client.key_path.display()
        ))
        .arg(format!(
            "--kubelet-certificate-authority={}",
            pki.ca().cert_path.display()
        ))
        .arg("--kubelet-preferred-address-types=InternalIP")
        .arg("--profiling=false")
        .arg("--v=1");
    if let Some(log) = audit_log {
        let policy = pki_dir.join("audit-policy.yaml");
        crate::pki::write_file(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
        )?;
        cmd.arg(format!("--audit-policy-file={}", policy.display()))
            .arg(format!("--audit-log-path={}", log.display()))
            .arg("--audit-log-format=json")
            // Never rotate (the default rotates at 100 MB): readers count lines in one file.
            .arg("--audit-log-maxsize=1000000")
            .arg("--audit-log-mode=batch")
            .arg("--audit-log-batch-max-wait=1s");
    }
    let mut program = supervisor.spawn("kube-apiserver", cmd)?;
    let mut ready = ready;
    let url_for_check = url.clone();
    wait::until(
        "kube-apiserver /readyz",
        &mut program,
        Duration::from_secs(90),
        || ready(url_for_check.clone()),
    )
    .await?;
    Ok(ApiServer { url, program })
}
