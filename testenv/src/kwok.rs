//! kwok: one fake node on which pods reach Running, and a kubelet endpoint that answers
//! `kubectl logs`, `exec`, `attach` and `port-forward` for those pods.
//!
//! What the fake pods answer is fixed here so tests can assert it:
//! - `logs` returns the lines of [`Kwok::log_lines`] and whatever a test appends with
//!   [`Kwok::append_log_line`] (`logs -f` streams those as they come);
//! - `exec` runs the command on this machine (no shell), confined (see below) in
//!   [`Kwok::exec_dir`], the fake pods' one writable directory;
//! - `port-forward` to any pod port connects to `127.0.0.1:<Kwok::forward_port>`, where a test
//!   may listen.
//!
//! kwok's local exec runs what a tenant's `kubectl exec` names as a process of this machine, and
//! kwok itself runs as root. So the exec is confined (ADR 0011):
//! - as [`EXEC_UID`] (`nobody`), with no supplementary groups (kwok's `securityContext`);
//! - in [`Kwok::exec_dir`], a throwaway directory outside the environment's run directory, which
//!   is `0700` (root's): the admin kubeconfig, the keys and every other program's files are out of
//!   reach;
//! - kwok (and so every exec) runs in a mount namespace of its own in which every mount is
//!   read-only except [`Kwok::exec_dir`] (`unshare --mount`), so `/tmp`, `/dev/shm` and the
//!   workspace cannot be written either;
//! - kwok's environment is emptied (a `PATH` and `HOME` only), so no variable of the caller
//!   reaches the command.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, PostParams};

use crate::pki::{Pki, write_file};
use crate::process::Program;
use crate::upstream::Module;
use crate::{Error, Result, TestEnv, free_port, wait};

/// The fake node's name.
pub const NODE_NAME: &str = "kwok-node-0";

/// The user (and group) a `kubectl exec` into a fake pod runs as: `nobody`.
pub const EXEC_UID: u32 = 65534;

/// Run by `sh` in kwok's own mount namespace before it becomes kwok: every mount read-only
/// (keeping its other flags), then the exec directory (`$1`) writable again. `/proc`, `/sys` and
/// `/dev/pts` stay as they are (nothing there is writable by `nobody`; ptys need `/dev/pts`).
const CONFINE: &str = r#"set -eu
exec_dir=$1; shift
findmnt -rn -o TARGET | while read -r target; do
  case "$target" in /proc|/proc/*|/sys|/sys/*|/dev/pts) continue ;; esac
  mount -o remount,bind,ro "$target"
done
mount --bind "$exec_dir" "$exec_dir"
mount -o remount,bind,rw "$exec_dir"
exec "$@"
"#;

/// What the environment's kwok answers.
#[derive(Debug, Clone, Default)]
pub struct Kwok {
    /// The port of kwok's kubelet endpoint.
    pub port: u16,
    /// The port every `port-forward` to a fake pod reaches on 127.0.0.1.
    pub forward_port: u16,
    /// The lines every fake container's log holds.
    pub log_lines: Vec<String>,
    /// The one file every fake container's log is read from (CRI log format).
    pub log_file: std::path::PathBuf,
    /// Where `kubectl exec` commands run (their working directory and `HOME`) and the only
    /// place they may write: owned by [`EXEC_UID`], outside the run directory.
    pub exec_dir: PathBuf,
}

impl Kwok {
    /// Appends `line` to every fake container's log: `kubectl logs` shows it from now on and
    /// `kubectl logs -f` streams it.
    pub fn append_log_line(&self, line: &str) -> Result<()> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log_file)
            .map_err(|e| Error::io(&self.log_file, e))?;
        file.write_all(cri_log(&[line.to_owned()]).as_bytes())
            .map_err(|e| Error::io(&self.log_file, e))
    }
}

/// Starts kwok, registers the fake node and waits until it is Ready.
pub async fn start(
    env: &TestEnv,
    pki: &Pki,
    pki_dir: &Path,
    client: &kube::Client,
) -> Result<(Kwok, Program)> {
    let work = env.dir().join("kwok");
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let log_file = work.join("container.log");
    let exec_dir = exec_dir(env.dir())?;
    let kwok = Kwok {
        port: free_port()?,
        forward_port: free_port()?,
        log_lines: vec![
            "kwok fake container started".to_owned(),
            "serving on :8080".to_owned(),
        ],
        log_file: log_file.clone(),
        exec_dir,
    };
    write_file(&log_file, &cri_log(&kwok.log_lines))?;
    let config = work.join("kwok.yaml");
    write_file(&config, &configuration(&kwok, &log_file)?)?;

    let serving = pki.serving("kwok", &["127.0.0.1", "localhost"])?;
    let client_cert = pki.client("kwok-client", "system:kwok-controller", &["system:masters"])?;
    let kubeconfig = pki_dir.join("kwok.kubeconfig");
    env.write_kubeconfig(
        &kubeconfig,
        crate::kubeconfig::Credential::ClientCert {
            cert_pem: &client_cert.cert_pem,
            key_pem: &client_cert.key_pem,
        },
    )?;

    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        CONFINE,
        "confine",
    ])
    .arg(&kwok.exec_dir)
    .arg(Module::Kwok.path("kwok")?)
    .arg(format!("--kubeconfig={}", kubeconfig.display()))
    .arg(format!("--config={}", config.display()))
    .arg(format!("--tls-cert-file={}", serving.cert_path.display()))
    .arg(format!(
        "--tls-private-key-file={}",
        serving.key_path.display()
    ))
    .current_dir(&work)
    // Nothing of the caller's environment reaches kwok, and so an exec.
    .env_clear()
    .env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    )
    .env("HOME", &kwok.exec_dir)
    // kwok always reads $KWOK_WORKDIR/kwok.yaml first; keep it away from ~/.kwok.
    .env("KWOK_WORKDIR", &work);
    let mut program = env.supervisor().spawn("kwok", cmd)?;

    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(&PostParams::default(), &node(kwok.port)?)
        .await?;
    wait::until(
        "kwok node Ready",
        &mut program,
        Duration::from_secs(60),
        || {
            let nodes = nodes.clone();
            async move {
                let node = nodes.get(NODE_NAME).await.map_err(|e| e.to_string())?;
                let ready = node
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                // kube-controller-manager removes the not-ready taint the apiserver puts on
                // every new node; until then nothing is scheduled here.
                let untainted = node
                    .spec
                    .and_then(|s| s.taints)
                    .unwrap_or_default()
                    .is_empty();
                Ok(ready && untainted)
            }
        },
    )
    .await?;
    Ok((kwok, program))
}

/// Container log lines in the CRI format kwok's log reader requires.
fn cri_log(lines: &[String]) -> String {
    lines.iter().fold(String::new(), |mut out, line| {
        let _ = writeln!(out, "2026-01-01T00:00:00.000000000Z stdout F {line}");
        out
    })
}

/// Makes the exec directory: `<run dir>-exec`, empty, `0700` and owned by [`EXEC_UID`]. It lies
/// beside the run directory because that one is `0700` root's (nothing in it is for `nobody`).
fn exec_dir(run_dir: &Path) -> Result<PathBuf> {
    let name = run_dir
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} has no name", run_dir.display())))?;
    let dir = run_dir.with_file_name(format!("{}-exec", name.to_string_lossy()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    std::os::unix::fs::chown(&dir, Some(EXEC_UID), Some(EXEC_UID))
        .map_err(|e| Error::io(&dir, e))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(&dir, e))?;
    // `nobody` must be able to reach it, or every `kubectl exec` fails with a bare "permission
    // denied" from kwok: say so now.
    for ancestor in dir.ancestors().skip(1) {
        let mode = std::fs::metadata(ancestor)
            .map_err(|e| Error::io(ancestor, e))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(Error::Invalid(format!(
                "the fake pods' exec directory {} is out of reach of uid {EXEC_UID}: {} has mode {:o}; \
                 run the environment under a directory others may enter",
                dir.display(),
                ancestor.display(),
                mode & 0o777
            )));
        }
    }
    Ok(dir)
}

fn configuration(kwok: &Kwok, log_file: &Path) -> Result<String> {
    let mut docs = vec![format!(
        r#"apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  manageAllNodes: false
  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake
  serverAddress: 127.0.0.1:{port}
  nodePort: {port}
  nodeIP: 127.0.0.1
  cidr: 10.244.0.0/16
  nodeLeaseDurationSeconds: 40
  # Options given in a file get no defaults, so every one kwok checks is spelled out.
  nodeLeaseParallelism: 4
  nodePlayStageParallelism: 4
  podPlayStageParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enableDebuggingHandlers: true
  enableProfilingHandler: false"#,
        port = kwok.port
    )];
    let stages = Module::Kwok.path("stages")?;
    let mut files: Vec<_> = std::fs::read_dir(&stages)
        .map_err(|e| Error::io(&stages, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        docs.push(text.trim().trim_start_matches("---").trim().to_owned());
    }
    docs.push(format!(
        r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: testenv
spec:
  logs:
  - logsFile: {log}
    previousLogsFile: {log}"#,
        log = log_file.display()
    ));
    docs.push(format!(
        r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterAttach
metadata:
  name: testenv
spec:
  attaches:
  - logsFile: {log}"#,
        log = log_file.display()
    ));
    docs.push(format!(
        r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: testenv
spec:
  execs:
  - local:
      workDir: {dir}
      envs:
      - name: HOME
        value: {dir}
      securityContext:
        runAsUser: {uid}
        runAsGroup: {uid}"#,
        dir = kwok.exec_dir.display(),
        uid = EXEC_UID,
    ));
    docs.push(format!(
        r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata:
  name: testenv
spec:
  forwards:
  - target:
      address: 127.0.0.1
      port: {port}"#,
        port = kwok.forward_port
    ));
    Ok(docs.join("\n---\n") + "\n")
}

fn node(port: u16) -> Result<Node> {
    let node = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            // Both kinds: kwok's node-initialize stage rewrites the list unless both are there.
            "addresses": [
                { "type": "InternalIP", "address": "127.0.0.1" },
                { "type": "Hostname", "address": NODE_NAME },
            ],
            "daemonEndpoints": { "kubeletEndpoint": { "Port": port } },
            "allocatable": { "cpu": "32", "memory": "256Gi", "pods": "250" },
            "capacity": { "cpu": "32", "memory": "256Gi", "pods": "250" },
        },
    });
    serde_json::from_value(node).map_err(|e| Error::Invalid(format!("node: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_directory_nobody_cannot_reach_is_refused_with_the_directory_in_the_way() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/tmp")
            .join(crate::unique_name("exec-dir"));
        let closed = root.join("closed");
        std::fs::create_dir_all(&closed).expect("dirs");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("mode");
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).expect("mode");
        let refused = exec_dir(&closed.join("run")).expect_err("out of nobody's reach");
        let message = refused.to_string();
        assert!(
            message.contains(&closed.display().to_string()) && message.contains("700"),
            "{message}"
        );
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).expect("mode");
        let dir = exec_dir(&closed.join("run")).expect("reachable now");
        assert_eq!(dir, closed.join("run-exec"));
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
