//! A Helm chart repository over plain HTTP on loopback, for tests: charts are packaged by the
//! real `helm` (`helm package`, `helm repo index`), and the repository can require HTTP basic
//! authentication, as a private repository would.
//!
//! ```no_run
//! # fn main() -> testenv::Result<()> {
//! let env = testenv::TestEnv::shared();
//! let repo = env.chart_repo(Some(("reader", "s3cret")))?;
//! repo.add(std::path::Path::new("tests/fixtures/charts/greeter"), "0.1.0")?;
//! println!("helm repo add fixtures {}", repo.url());
//! # Ok(()) }
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::env::run;
use crate::upstream::Module;
use crate::{Error, Result, TestEnv};

/// A running chart repository. It stops serving when dropped.
#[derive(Debug)]
pub struct ChartRepo {
    url: String,
    dir: PathBuf,
    helm_home: PathBuf,
    stop: Arc<AtomicBool>,
    served: Arc<Mutex<Vec<String>>>,
}

impl TestEnv {
    /// Starts a chart repository in a fresh directory of this environment, optionally requiring
    /// `(user, password)` as HTTP basic authentication.
    pub fn chart_repo(&self, credentials: Option<(&str, &str)>) -> Result<ChartRepo> {
        let dir = self
            .dir()
            .join("chart-repos")
            .join(crate::unique_name("repo"));
        ChartRepo::start(&dir, credentials)
    }
}

impl ChartRepo {
    /// Serves `dir` (created if missing) on a free loopback port.
    pub fn start(dir: &Path, credentials: Option<(&str, &str)>) -> Result<ChartRepo> {
        let charts = dir.join("charts");
        std::fs::create_dir_all(&charts).map_err(|e| Error::io(&charts, e))?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::io(Path::new("127.0.0.1"), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io(Path::new("127.0.0.1"), e))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(Path::new("127.0.0.1"), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Mutex::new(Vec::new()));
        let expected =
            credentials.map(|(u, p)| format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))));
        let server = Server {
            root: charts.clone(),
            expected,
            served: served.clone(),
        };
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name(format!("chart-repo-{port}"))
            .spawn(move || server.run(listener, &stopping))
            .map_err(|e| Error::Spawn {
                program: "chart repository thread".into(),
                source: e,
            })?;
        Ok(ChartRepo {
            url: format!("http://127.0.0.1:{port}"),
            dir: charts,
            helm_home: dir.join("helm"),
            stop,
            served,
        })
    }

    /// The repository URL (what `helm repo add` or a Flux `HelmRepository` takes).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Packages the chart in `chart_dir` as `version` with the real `helm` and re-indexes the
    /// repository. Returns the package file.
    pub fn add(&self, chart_dir: &Path, version: &str) -> Result<PathBuf> {
        let out = self.helm(&[
            "package",
            &chart_dir.display().to_string(),
            "--version",
            version,
            "--destination",
            &self.dir.display().to_string(),
        ])?;
        // "Successfully packaged chart and saved it to: <path>"
        let package = out
            .lines()
            .find_map(|l| l.split_once("saved it to: ").map(|(_, p)| p.trim()))
            .map(PathBuf::from)
            .ok_or_else(|| Error::Invalid(format!("helm package said: {out}")))?;
        self.helm(&[
            "repo",
            "index",
            &self.dir.display().to_string(),
            "--url",
            &self.url,
        ])?;
        Ok(package)
    }

    /// The paths requested so far with valid credentials (or from an open repository), oldest
    /// first.
    pub fn served(&self) -> Vec<String> {
        self.served
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn helm(&self, args: &[&str]) -> Result<String> {
        let mut helm = Command::new(Module::Helm.path("helm")?);
        helm.env("HELM_CONFIG_HOME", &self.helm_home)
            .env("HELM_CACHE_HOME", &self.helm_home)
            .env("HELM_DATA_HOME", &self.helm_home);
        run(helm, args, None)
    }
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Server {
    root: PathBuf,
    expected: Option<String>,
    served: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn run(self, listener: TcpListener, stop: &AtomicBool) {
        let server = Arc::new(self);
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let server = server.clone();
                    std::thread::spawn(move || {
                        // A client that goes away mid-answer is its own problem.
                        let _ = server.answer(stream);
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn answer(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut authorization = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.trim().eq_ignore_ascii_case("authorization")
            {
                authorization = Some(value.trim().to_owned());
            }
        }
        let mut words = request_line.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let mut stream = stream;
        if method != "GET" && method != "HEAD" {
            return respond(
                &mut stream,
                "405 Method Not Allowed",
                &[],
                b"",
                method == "HEAD",
            );
        }
        if let Some(expected) = &self.expected
            && authorization.as_deref() != Some(expected.as_str())
        {
            return respond(
                &mut stream,
                "401 Unauthorized",
                &[("WWW-Authenticate", "Basic realm=\"charts\"")],
                b"unauthorized\n",
                method == "HEAD",
            );
        }
        let path = target.split('?').next().unwrap_or("");
        let name = path.trim_start_matches('/');
        // Only the flat files of the repository directory: no sub-paths, no traversal.
        if name.is_empty() || name.contains('/') || name.contains("..") || name.contains('%') {
            return respond(
                &mut stream,
                "404 Not Found",
                &[],
                b"not found\n",
                method == "HEAD",
            );
        }
        match std::fs::read(self.root.join(name)) {
            Ok(body) => {
                self.served
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(path.to_owned());
                let kind = if name.ends_with(".yaml") {
                    "application/x-yaml"
                } else {
                    "application/gzip"
                };
                respond(
                    &mut stream,
                    "200 OK",
                    &[("Content-Type", kind)],
                    &body,
                    method == "HEAD",
                )
            }
            Err(_) => respond(
                &mut stream,
                "404 Not Found",
                &[],
                b"not found\n",
                method == "HEAD",
            ),
        }
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}
