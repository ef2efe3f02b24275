//! Running `kubenova-control serve` in the environment (management cluster = this cluster),
//! minting its bootstrap admin token, registering clusters through its API, and a tiny HTTP/1.0
//! client for loopback (tests and `make dev` need nothing more).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::proxy::{ISSUER, RunningProxy};
use crate::{Error, Result, TestEnv, free_port, wait};

/// The management namespace control uses in the environment.
pub const NAMESPACE: &str = "kubenova-system";

/// How to run control.
#[derive(Debug, Clone, Default)]
pub struct ControlOptions {
    /// Do not run the agent in the same process.
    pub no_agent: bool,
    /// Extra `serve` flags (`--max-kubeconfig-ttl=2m`, ...).
    pub extra_args: Vec<String>,
    /// The management namespace (default [`NAMESPACE`]).
    pub namespace: Option<String>,
    /// The name of its log (default `kubenova-control`).
    pub log_name: Option<String>,
}

/// A running control plane.
#[derive(Debug, Clone)]
pub struct RunningControl {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The port.
    pub port: u16,
    /// A bootstrap admin API token (`kubenova-control token --admin`).
    pub admin_token: String,
    /// Where its audit lines go.
    pub audit_log: PathBuf,
    /// The binary (for more `token`/`keys` commands).
    pub binary: PathBuf,
    /// The management cluster's admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Its management namespace.
    pub namespace: String,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.0 request to `127.0.0.1:port`.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::result::Result<HttpResponse, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    // The server may answer (413) before reading a large body; a write error then is fine.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

impl RunningControl {
    /// A JSON request with `token`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> std::result::Result<HttpResponse, String> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        http(self.port, method, path, &headers, &bytes)
    }

    /// Registers `env` (whose proxy is `proxy`) as cluster `name`.
    pub fn register(&self, name: &str, env: &TestEnv, proxy: &RunningProxy) -> Result<()> {
        let kubeconfig = std::fs::read_to_string(env.kubeconfig_path())
            .map_err(|e| Error::io(env.kubeconfig_path(), e))?;
        let body = serde_json::json!({
            "name": name,
            "kubeconfig": kubeconfig,
            "proxyUrl": proxy.url,
            "proxyCa": env.ca_pem(),
        });
        let response = self
            .call(
                "POST",
                "/api/v1/clusters",
                Some(&self.admin_token),
                Some(&body),
            )
            .map_err(Error::Invalid)?;
        match response.status {
            201 | 409 => Ok(()),
            other => Err(Error::Invalid(format!(
                "registering cluster {name}: {other} {}",
                response.text()
            ))),
        }
    }
}

impl TestEnv {
    /// Starts `kubenova-control serve` (binary at `binary`) against this cluster as the
    /// management cluster, waits until it is ready, and mints a bootstrap admin token.
    pub async fn start_control(
        &self,
        binary: &Path,
        options: ControlOptions,
    ) -> Result<RunningControl> {
        let port = free_port()?;
        let namespace = options
            .namespace
            .clone()
            .unwrap_or_else(|| NAMESPACE.to_owned());
        let log_name = options
            .log_name
            .clone()
            .unwrap_or_else(|| "kubenova-control".to_owned());
        let audit_log = self.dir().join(format!("{log_name}-audit.log"));
        let kubeconfig = self.kubeconfig_path().to_owned();
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .arg(format!("--listen=127.0.0.1:{port}"))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--namespace={namespace}"))
            .arg(format!("--issuer={ISSUER}"))
            .arg(format!("--audit-log={}", audit_log.display()))
            .arg("--leader-election=false")
            .args(&options.extra_args)
            // KUBENOVA_TEST_CONTROL_LOG overrides the filter when a failure needs more detail.
            .env(
                "RUST_LOG",
                std::env::var("KUBENOVA_TEST_CONTROL_LOG")
                    .unwrap_or_else(|_| "info,kube_client=warn".to_owned()),
            );
        if options.no_agent {
            cmd.arg("--no-agent");
        }
        self.spawn(&log_name, cmd)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if wait::http_get(port, "/readyz").is_ok_and(|body| body.trim() == "ok") {
                break;
            }
            self.check_programs()?;
            if Instant::now() > deadline {
                let log = self.log(&log_name);
                return Err(Error::NotReady {
                    what: "kubenova-control /readyz".into(),
                    after: Duration::from_secs(60),
                    last: "not ready".into(),
                    tail: crate::process::tail(&log, 30),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let admin_token = control_command(
            binary,
            &[
                "token",
                "--admin",
                &format!("--kubeconfig={}", kubeconfig.display()),
                &format!("--namespace={namespace}"),
                &format!("--issuer={ISSUER}"),
            ],
        )?;
        Ok(RunningControl {
            url: format!("http://127.0.0.1:{port}"),
            port,
            admin_token: admin_token.trim().to_owned(),
            audit_log,
            binary: binary.to_owned(),
            kubeconfig,
            namespace,
        })
    }
}

/// Runs `kubenova-control <args>` to the end; Ok(stdout) or an error with its stderr.
pub fn control_command(binary: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(binary)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .map_err(|e| Error::Spawn {
            program: binary.display().to_string(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "kubenova-control {}: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
