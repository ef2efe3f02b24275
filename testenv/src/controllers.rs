//! kube-controller-manager and kube-scheduler: namespace deletion, garbage collection,
//! ReplicaSets and Deployments, ServiceAccounts and their tokens, and pod placement onto the
//! kwok node.

use std::path::Path;
use std::process::Command;

use crate::kubeconfig::{self, Credential};
use crate::pki::Pki;
use crate::process::{Program, Supervisor};
use crate::upstream::Module;
use crate::{Result, free_port};

/// Starts kube-controller-manager. It authenticates with its own client certificate, in
/// `system:masters` because in a real cluster it would use one ServiceAccount per controller.
pub fn start_controller_manager(
    supervisor: &Supervisor,
    pki: &Pki,
    pki_dir: &Path,
    server: &str,
) -> Result<Program> {
    let cert = pki.client(
        "kube-controller-manager",
        "system:kube-controller-manager",
        &["system:masters"],
    )?;
    let config = pki_dir.join("kube-controller-manager.kubeconfig");
    kubeconfig::write(
        &config,
        "kube-controller-manager",
        server,
        &pki.ca().cert_pem,
        Credential::ClientCert {
            cert_pem: &cert.cert_pem,
            key_pem: &cert.key_pem,
        },
    )?;
    let ca = &pki.ca();
    let mut cmd = Command::new(Module::Kubernetes.path("kube-controller-manager")?);
    cmd.arg(format!("--kubeconfig={}", config.display()))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={}", free_port()?))
        .arg(format!(
            "--cert-dir={}",
            pki_dir.join("kube-controller-manager").display()
        ))
        .arg("--leader-elect=false")
        .arg("--use-service-account-credentials=false")
        .arg(format!(
            "--service-account-private-key-file={}",
            pki_dir.join("service-account.key").display()
        ))
        .arg(format!("--root-ca-file={}", ca.cert_path.display()))
        .arg(format!(
            "--cluster-signing-cert-file={}",
            ca.cert_path.display()
        ))
        .arg(format!(
            "--cluster-signing-key-file={}",
            ca.key_path.display()
        ))
        .arg("--allocate-node-cidrs=false")
        .arg("--profiling=false")
        .arg("--v=1");
    supervisor.spawn("kube-controller-manager", cmd)
}

/// Starts kube-scheduler with its own client certificate (the bootstrap RBAC of
/// `system:kube-scheduler` is what a real scheduler has).
pub fn start_scheduler(
    supervisor: &Supervisor,
    pki: &Pki,
    pki_dir: &Path,
    server: &str,
) -> Result<Program> {
    let cert = pki.client("kube-scheduler", "system:kube-scheduler", &[])?;
    let config = pki_dir.join("kube-scheduler.kubeconfig");
    kubeconfig::write(
        &config,
        "kube-scheduler",
        server,
        &pki.ca().cert_pem,
        Credential::ClientCert {
            cert_pem: &cert.cert_pem,
            key_pem: &cert.key_pem,
        },
    )?;
    let mut cmd = Command::new(Module::Kubernetes.path("kube-scheduler")?);
    cmd.arg(format!("--kubeconfig={}", config.display()))
        .arg(format!("--authentication-kubeconfig={}", config.display()))
        .arg(format!("--authorization-kubeconfig={}", config.display()))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={}", free_port()?))
        .arg(format!(
            "--cert-dir={}",
            pki_dir.join("kube-scheduler").display()
        ))
        .arg("--leader-elect=false")
        .arg("--profiling=false")
        .arg("--v=1");
    supervisor.spawn("kube-scheduler", cmd)
}
