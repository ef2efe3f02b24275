//! kwok: one fake node on which pods reach Running, and a kubelet endpoint that answers
//! `kubectl logs`, `exec`, `attach` and `port-forward` for those pods.
//!
//! What the fake pods answer is fixed here so tests can assert it:
//! - `logs` returns the lines of [`Kwok::log_lines`] and whatever a test appends with
//!   [`Kwok::append_log_line`] (`logs -f` streams those as they come);
//! - `exec` runs the command on this machine (no shell), in the kwok work directory;
//! - `port-forward` to any pod port connects to `127.0.0.1:<Kwok::forward_port>`, where a test
//!   may listen.

use std::fmt::Write as _;
use std::path::Path;
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
    let kwok = Kwok {
        port: free_port()?,
        forward_port: free_port()?,
        log_lines: vec![
            "kwok fake container started".to_owned(),
            "serving on :8080".to_owned(),
        ],
        log_file: log_file.clone(),
    };
    write_file(&log_file, &cri_log(&kwok.log_lines))?;
    let config = work.join("kwok.yaml");
    write_file(&config, &configuration(&kwok, &work, &log_file)?)?;

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

    let mut cmd = Command::new(Module::Kwok.path("kwok")?);
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--config={}", config.display()))
        .arg(format!("--tls-cert-file={}", serving.cert_path.display()))
        .arg(format!(
            "--tls-private-key-file={}",
            serving.key_path.display()
        ))
        .current_dir(&work)
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

fn configuration(kwok: &Kwok, work: &Path, log_file: &Path) -> Result<String> {
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
      workDir: {work}"#,
        work = work.display()
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
