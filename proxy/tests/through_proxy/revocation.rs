//! Streams end with their token (issue 12, item 8; ADR 0010): a watch (HTTP/2 and HTTP/1.1),
//! `logs -f` and `exec -i` sessions over WebSocket and SPDY, opened before the token was revoked
//! or while it was still valid, end with an error within the revocation window, or when the
//! token expires. All with the real kubectl.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use kubenova_api::Role;
use serde_json::json;
use testenv::unique_name;

use super::harness::{
    claims, harness, kubeconfig, now, running_pod, spawn_reading, tenant_with_projects,
};
use super::lifecycle::{OwnProxy, install_certificate, scratch_dir};

/// A kubectl that keeps running (a watch, `logs -f`, `exec -i` with stdin held open).
struct Stream {
    what: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    ended: Option<(ExitStatus, Instant)>,
}

impl Stream {
    fn start(what: &'static str, cmd: Command, args: &[&str]) -> Stream {
        let (mut child, lines, stderr) = spawn_reading(cmd, args, Stdio::piped());
        let stdin = child.stdin.take();
        Stream {
            what,
            child,
            stdin,
            lines,
            seen: Vec::new(),
            stderr,
            ended: None,
        }
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits up to 60 s for an output line containing `needle`.
    fn wait_for(&mut self, needle: &str) {
        if self.seen.iter().any(|l| l.contains(needle)) {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(e) => panic!(
                    "{}: no line with {needle:?} ({e:?}); stdout:\n{}\nstderr:\n{}",
                    self.what,
                    self.seen.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Sends a line to the session's stdin and waits until it comes back.
    fn echo(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to exec's stdin");
        self.wait_for(line);
    }

    /// Records the exit if it happened; true while still running.
    fn poll(&mut self) -> bool {
        if self.ended.is_none()
            && let Some(status) = self.child.try_wait().expect("try_wait")
        {
            self.ended = Some((status, Instant::now()));
        }
        self.ended.is_none()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kubectl_env(kubeconfig: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = harness().env.kubectl_with(kubeconfig);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Opens every kind of stream in `ns` against the running pod `box` with `kubeconfig`, and
/// waits until each is live (an event, a log line, an echo through the exec session).
fn open_streams(kubeconfig: &Path, ns: &str) -> Vec<Stream> {
    let watch = ["-n", ns, "get", "pods", "-w"];
    let exec = ["-n", ns, "exec", "-i", "box", "--", "cat"];
    let mut streams = vec![
        Stream::start("watch over HTTP/2", kubectl_env(kubeconfig, &[]), &watch),
        Stream::start(
            "watch over HTTP/1.1",
            kubectl_env(kubeconfig, &[("DISABLE_HTTP2", "true")]),
            &watch,
        ),
        Stream::start(
            "logs -f",
            kubectl_env(kubeconfig, &[]),
            &["-n", ns, "logs", "-f", "pod/box"],
        ),
        Stream::start(
            "exec -i over WebSocket",
            kubectl_env(kubeconfig, &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "true")]),
            &exec,
        ),
        Stream::start(
            "exec -i over SPDY",
            kubectl_env(
                kubeconfig,
                &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
            ),
            &exec,
        ),
    ];
    let last_log = harness()
        .env
        .kwok
        .log_lines
        .last()
        .expect("log lines")
        .clone();
    for s in &mut streams {
        match s.what {
            "logs -f" => s.wait_for(&last_log),
            w if w.starts_with("exec") => s.echo(&format!("ping {w}")),
            _ => s.wait_for("box"),
        }
    }
    for s in &mut streams {
        assert!(s.poll(), "{} ended early: {}", s.what, s.stderr());
    }
    streams
}

/// Waits until every stream has ended (failing the test after `within`) and says why: a watch
/// (which `kubectl get -w` ends with exit code 0 whatever happened) prints the proxy's `401`
/// Status from its last event; `logs -f` and `exec` exit with an error. Returns the latest end.
fn all_end(streams: &mut [Stream], from: Instant, within: Duration) -> Duration {
    let deadline = from + within;
    while streams.iter_mut().any(Stream::poll) {
        if Instant::now() > deadline {
            let open: Vec<&str> = streams
                .iter()
                .filter(|s| s.ended.is_none())
                .map(|s| s.what)
                .collect();
            panic!("still streaming {within:?} later: {open:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut latest = Duration::ZERO;
    for s in streams.iter_mut() {
        let (status, at) = s.ended.expect("ended");
        latest = latest.max(at.saturating_duration_since(from));
        if s.what.starts_with("watch") {
            s.wait_for("KN-401");
        } else if s.what.ends_with("SPDY") {
            // client-go reads a SPDY connection closed without a Status on its error stream as
            // a normal end (exit 0, as when the apiserver goes away); the session is over,
            // which `poll` showed. Writing a Status frame into SPDY is not done (ADR 0010).
        } else {
            assert!(
                !status.success(),
                "{} ended without an error: {status}; stderr: {}",
                s.what,
                s.stderr()
            );
        }
        eprintln!(
            "{}: {status}, {:?} after; last output: {:?}; stderr: {}",
            s.what,
            at.saturating_duration_since(from),
            s.seen.last(),
            s.stderr().trim()
        );
    }
    latest
}

#[test]
fn revoking_a_token_ends_its_open_watches_logs_and_exec_sessions() {
    let t = unique_name("cut");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let c = claims("cutoff", &[Role::ProjectDev], Some(&t), Some("web"));
    let dev = kubeconfig(&c);
    running_pod(&dev, &ns, "box");
    let mut streams = open_streams(&dev, &ns);
    // Another token of the same person, with a watch of its own: not affected.
    let other = kubeconfig(&claims(
        "cutoff",
        &[Role::ProjectDev],
        Some(&t),
        Some("web"),
    ));
    let mut bystander = Stream::start(
        "another token's watch",
        kubectl_env(&other, &[]),
        &["-n", &ns, "get", "pods", "-w"],
    );
    bystander.wait_for("box");

    harness()
        .env
        .apply(
            &json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": unique_name("revoked"), "namespace": testenv::proxy::NAMESPACE,
                             "labels": {"kubenova.io/revocations": "true"}},
                "data": {c.jti.clone(): c.exp.to_string()},
            })
            .to_string(),
        )
        .expect("revocation written");
    let revoked = Instant::now();
    let took = all_end(&mut streams, revoked, Duration::from_secs(3));
    eprintln!("every stream ended {took:?} after the revocation");
    assert!(
        bystander.poll(),
        "another token's watch goes on: {}",
        bystander.stderr()
    );
    let h = harness();
    let log = std::fs::read_to_string(h.env.log(&h.proxy.name)).unwrap_or_default();
    assert!(log.contains("the token was revoked"), "the proxy logs why");
}

#[test]
fn streams_end_when_their_token_expires() {
    let h = harness();
    let t = unique_name("expire");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    running_pod(
        &kubeconfig(&claims("setup", &[Role::ProjectDev], Some(&t), Some("web"))),
        &ns,
        "box",
    );
    // A proxy of its own with one second of clock skew, so the token's end is sharp.
    let dir = scratch_dir("expiry");
    install_certificate(&dir, "proxy.kubenova.test");
    let proxy = OwnProxy::start(
        &dir,
        &format!("--jwks-file={}", h.proxy.jwks_path.display()),
        &["--clock-skew=1s"],
    );
    let mut c = claims("short", &[Role::ProjectDev], Some(&t), Some("web"));
    let lifetime = 20;
    c.exp = now() + lifetime;
    let token = h.proxy.sign(&c).expect("token");
    let kubeconfig = proxy.kubeconfig("short", &token, "proxy.kubenova.test");
    let opened = Instant::now();
    let mut streams = open_streams(&kubeconfig, &ns);
    let left = Duration::from_secs(u64::try_from(c.exp - now()).unwrap_or(0));
    assert!(
        left >= Duration::from_secs(3),
        "opening the streams took too long ({:?}) to watch them outlive their start",
        opened.elapsed()
    );
    // Nothing ends before the token does.
    std::thread::sleep(left.saturating_sub(Duration::from_secs(2)));
    for s in &mut streams {
        assert!(
            s.poll(),
            "{} ended before the token expired: {}",
            s.what,
            s.stderr()
        );
    }
    // exp + 1 s of skew, plus a little for kubectl to notice.
    let expires = Instant::now() + Duration::from_secs(2);
    let took = all_end(&mut streams, expires, Duration::from_secs(4));
    eprintln!("every stream ended {took:?} after exp");
}
