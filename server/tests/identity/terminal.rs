//! The terminal side of issue 19 with the real `kubenova` binary: `login --oidc` (the
//! authorization-code flow with PKCE on a loopback redirect, the browser played by curl
//! through Dex's login form), `login --device`, and kubectl with an `--exec` kubeconfig whose
//! `kubenova credential` plugin keeps it working across several short proxy-token lifetimes
//! until the session is revoked.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::flows::{Browser, approve_device, approve_in_browser};
use super::{CREDENTIAL_TTL, MAIN, api, harness, id_token_of};

/// One person's terminal: the `kubenova` binary on PATH, its own config file, cache and
/// kubeconfig, and HOME (nothing touches the real ones).
struct Terminal {
    cli: PathBuf,
    dir: PathBuf,
}

impl Terminal {
    fn new(name: &str) -> Terminal {
        let h = harness();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .canonicalize()
            .expect("workspace root");
        let cli = testenv::workspace_binary(&root, "kubenova-cli", "kubenova").expect("kubenova");
        let dir = h.env.dir().join("terminals").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("terminal dir");
        Terminal { cli, dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("kubenova.yaml")
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kube").join("config")
    }

    fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// The environment a shell of this person has.
    fn env(&self, cmd: &mut Command) {
        let bin = self.cli.parent().expect("the binary's directory");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin.to_owned()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).expect("PATH"))
            .env("HOME", &self.dir)
            .env("KUBENOVA_CONFIG", self.config())
            .env("XDG_CACHE_HOME", self.cache())
            .env("KUBECONFIG", self.kubeconfig())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("KUBENOVA_SERVER")
            .env_remove("KUBENOVA_TOKEN")
            .env_remove("KUBENOVA_CONTEXT");
    }

    /// Runs `kubenova args` to the end: (exit code, stdout, stderr).
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut cmd = Command::new(&self.cli);
        self.env(&mut cmd);
        cmd.args(args);
        super::finish(cmd, stdin)
    }

    /// Starts `kubenova args`; its stderr lines arrive on the receiver as it prints them.
    fn spawn(&self, args: &[&str]) -> (Child, Receiver<String>) {
        let mut cmd = Command::new(&self.cli);
        self.env(&mut cmd);
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubenova");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// kubectl as this person (their kubeconfig, PATH and cache): (exit code, output).
    fn kubectl(&self, args: &[&str]) -> (i32, String) {
        let h = harness();
        let mut cmd = Command::new(h.env.kubectl_path());
        self.env(&mut cmd);
        let out = cmd
            .args(["--request-timeout=20s"])
            .args(args)
            .output()
            .expect("kubectl");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// Waits for a stderr line that `pick` accepts; what it picked.
fn wait_line<T>(
    rx: &Receiver<String>,
    seen: &mut Vec<String>,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let picked = pick(&line);
                seen.push(line);
                if let Some(p) = picked {
                    return p;
                }
            }
            Err(e) => panic!("no such line ({e}); stderr so far: {seen:#?}"),
        }
    }
}

/// Waits for `child` to end (at most 60 s): (exit code, stdout).
fn finish(mut child: Child) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                use std::io::Read as _;
                let _ = stdout.read_to_string(&mut out);
            }
            return (status.code().unwrap_or(-1), out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kubenova did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The rest of a finished process's stderr lines (until its reader sees the end of the pipe).
fn drain(rx: &Receiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        lines.push(line);
    }
    lines
}

/// `query`'s parameter `name` of `url`, decoded.
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn ca_arg() -> String {
    format!("--provider-ca={}", harness().env.ca_path().display())
}

/// `kubenova login --oidc`: the URL it prints is opened in a "browser" that signs in at
/// Dex's form and follows Dex's redirect to the CLI's loopback listener; the CLI checks the
/// state, exchanges the code (with the PKCE verifier) and then the ID token. A redirect with
/// another state is refused and nothing is written.
#[test]
fn login_oidc_signs_in_through_the_browser() {
    let h = harness();
    let dex = h.env.dex.as_ref().expect("dex");
    let server = h.control.url.as_str();
    let ca = ca_arg();

    // A forged redirect (another state) to the CLI's listener: refused, no config written.
    let t = Terminal::new("forged");
    let (child, rx) = t.spawn(&["login", "--server", server, "--oidc", "--no-browser", &ca]);
    let mut seen = Vec::new();
    let url = wait_line(&rx, &mut seen, |l| {
        l.trim_start()
            .starts_with("https://")
            .then(|| l.trim().to_owned())
    });
    let redirect = param(&url, "redirect_uri").expect("redirect_uri");
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"),
        "{redirect}"
    );
    assert_eq!(
        param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(param(&url, "client_id").as_deref(), Some("kubenova"));
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("{redirect}?code=stolen&state=not-the-one"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "400");
    let (code, _) = finish(child);
    let rest = drain(&rx);
    assert_eq!(code, 1, "{seen:?} {rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("state does not match")),
        "{rest:?}"
    );
    assert!(!t.config().exists(), "a refused sign-in wrote the config");

    // The real thing.
    let t = Terminal::new("browser");
    let (child, rx) = t.spawn(&[
        "login",
        "--server",
        server,
        "--oidc",
        "--no-browser",
        "--name",
        "corp",
        &ca,
    ]);
    let mut seen = Vec::new();
    let url = wait_line(&rx, &mut seen, |l| {
        l.trim_start()
            .starts_with("https://")
            .then(|| l.trim().to_owned())
    });
    let bob = dex.user("bob").expect("bob");
    let (status, page) = approve_in_browser(
        &Browser::new(h.env, "cli-browser"),
        &url,
        &bob.email,
        &bob.password,
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in"), "{page}");
    let (code, out) = finish(child);
    assert_eq!(code, 0, "{seen:?} {:?}", drain(&rx));
    assert!(out.contains("bob@example.test"), "{out}");
    let (code, out, err) = t.run(&["whoami", "-o", "json"], None);
    assert_eq!(code, 0, "{err}");
    let me: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (&me["subject"], &me["roles"], &me["tenant"]),
        (
            &json!("bob@example.test"),
            &json!(["tenantOwner"]),
            &json!("acme")
        )
    );
}

/// `kubenova login --device`: the code it prints is entered in another browser session, which
/// signs in; the CLI's poll gets the ID token and signs in.
#[test]
fn login_device_signs_in_from_a_headless_terminal() {
    let h = harness();
    let dex = h.env.dex.as_ref().expect("dex");
    let t = Terminal::new("device");
    let (child, rx) = t.spawn(&[
        "login",
        "--server",
        h.control.url.as_str(),
        "--device",
        "--name",
        "headless",
        &ca_arg(),
    ]);
    let mut seen = Vec::new();
    let user_code = wait_line(&rx, &mut seen, |l| {
        l.rsplit_once("enter the code ")
            .map(|(_, c)| c.trim().to_owned())
    });
    let complete = wait_line(&rx, &mut seen, |l| {
        l.strip_prefix("(or open ")
            .and_then(|r| r.strip_suffix(')'))
            .map(str::to_owned)
    });
    let alice = dex.user("alice").expect("alice");
    approve_device(
        &Browser::new(h.env, "cli-device"),
        dex,
        &complete,
        &user_code,
        &alice.email,
        &alice.password,
    );
    let (code, out) = finish(child);
    assert_eq!(code, 0, "{seen:?} {:?}", drain(&rx));
    assert!(out.contains("alice@example.test"), "{out}");
    assert!(out.contains("admin"), "{out}");
    let config = std::fs::read_to_string(t.config()).expect("config");
    assert!(config.contains("name: headless"), "{config}");
}

/// Creates tenant `acme` (owner bob) with project `web` and waits until they are Ready.
fn acme_web() {
    let h = harness();
    let admin = h.control.admin_token.as_str();
    let (status, body) = api(
        "POST",
        &format!("/api/v1/clusters/{MAIN}/tenants"),
        Some(admin),
        Some(&json!({"name": "acme", "owners": ["bob@example.test"]})),
    );
    assert!(status == 201 || status == 409, "{status} {body}");
    let (status, body) = api(
        "POST",
        &format!("/api/v1/clusters/{MAIN}/tenants/acme/projects"),
        Some(admin),
        Some(&json!({"name": "web"})),
    );
    assert!(status == 201 || status == 409, "{status} {body}");
    for path in ["tenants/acme", "tenants/acme/projects/web"] {
        let start = Instant::now();
        loop {
            let (_, v) = api(
                "GET",
                &format!("/api/v1/clusters/{MAIN}/{path}"),
                Some(admin),
                None,
            );
            if v["status"]["ready"] == true {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{path} not Ready: {v}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The proxy tokens minted from `session` so far (records of kubeconfig tokens for bob in
/// acme/web, issued after `since`).
fn minted(since: &str) -> Vec<Value> {
    let admin = harness().control.admin_token.as_str();
    let (_, list) = api("GET", "/api/v1/tokens", Some(admin), None);
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| {
            r["kind"] == "kubeconfig"
                && r["subject"] == "bob@example.test"
                && r["project"] == "web"
                && r["issuedAt"].as_str().unwrap_or_default() >= since
        })
        .cloned()
        .collect()
}

fn now_rfc3339() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn cached_credentials(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join("kubenova").join("credentials"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// kubectl with an `--exec` kubeconfig: `kubenova credential` gets a short proxy token from
/// bob's session and caches it; kubectl keeps working across several token lifetimes; after
/// the session is revoked, the cached (still unexpired) proxy token is refused within the
/// proxy's revocation window and no new one is issued.
#[test]
fn kubectl_with_an_exec_kubeconfig_lives_as_long_as_the_session() {
    acme_web();
    let h = harness();
    let server = h.control.url.as_str();
    let t = Terminal::new("exec");
    let (code, _, err) = t.run(
        &[
            "login",
            "--server",
            server,
            "--id-token-stdin",
            "--name",
            "corp",
        ],
        Some(&id_token_of("bob")),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = t.run(
        &[
            "kubeconfig",
            "project",
            "web",
            "--tenant",
            "acme",
            "--exec",
            "--merge",
            "--use",
        ],
        None,
    );
    assert_eq!(code, 0, "{out} {err}");
    let kubeconfig: Value =
        serde_yaml::from_str(&std::fs::read_to_string(t.kubeconfig()).expect("kubeconfig"))
            .expect("yaml");
    let user = &kubeconfig["users"][0]["user"];
    assert!(user.get("token").is_none(), "{kubeconfig}");
    assert_eq!(
        user["exec"]["apiVersion"], "client.authentication.k8s.io/v1",
        "{kubeconfig}"
    );
    assert_eq!(
        user["exec"]["args"],
        json!([
            "credential",
            "--context",
            "corp",
            "--cluster",
            MAIN,
            "--tenant",
            "acme",
            "--project",
            "web",
            "--role",
            "projectDev"
        ]),
        "{kubeconfig}"
    );
    assert_eq!(kubeconfig["current-context"], "main-acme-web");

    // Several lifetimes of kubectl calls: every one works.
    let since = now_rfc3339();
    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < CREDENTIAL_TTL * 3 + Duration::from_secs(5) {
        let name = format!("c{calls}");
        let (code, out) = t.kubectl(&["create", "configmap", &name]);
        assert_eq!(code, 0, "call {calls} after {:?}: {out}", start.elapsed());
        let (code, out) = t.kubectl(&["get", "configmaps", "-o", "name"]);
        assert_eq!(code, 0, "call {calls} after {:?}: {out}", start.elapsed());
        assert!(out.contains(&format!("configmap/{name}")), "{out}");
        calls += 1;
        std::thread::sleep(Duration::from_secs(2));
    }
    let tokens = minted(&since);
    assert!(
        tokens.len() >= 3,
        "kubectl ran {calls} times over {:?} with {CREDENTIAL_TTL:?} tokens but only {} were \
         minted (the cache should renew them): {tokens:#?}",
        start.elapsed(),
        tokens.len()
    );
    assert!(
        tokens.len() <= 8,
        "a token per call, not cached: {} for {calls} calls",
        tokens.len()
    );
    let files = cached_credentials(&t.cache());
    assert_eq!(files.len(), 1, "{files:?}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&files[0])
            .expect("cache file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", files[0].display());
    }

    // The session is revoked (as the person would, or an admin: DELETE of its token). The
    // token kubectl has cached is still unexpired; the proxy refuses it within its window.
    let (code, out, err) = t.run(&["whoami", "-o", "json"], None);
    assert_eq!(code, 0, "{err}");
    let me: Value = serde_json::from_str(&out).expect("json");
    let session = me["jti"].as_str().expect("jti").to_owned();
    let (code, out) = t.kubectl(&["get", "configmaps", "-o", "name"]);
    assert_eq!(code, 0, "{out}");
    let cached: Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).expect("cache")).expect("json");
    let admin = h.control.admin_token.as_str();
    let (status, body) = api(
        "DELETE",
        &format!("/api/v1/tokens/{session}"),
        Some(admin),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let revoked = Instant::now();
    let refused = loop {
        let (code, out) = t.kubectl(&["get", "configmaps", "-o", "name"]);
        if code != 0 {
            break (revoked.elapsed(), out);
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(10),
            "kubectl still works {:?} after the session was revoked",
            revoked.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let (after, out) = refused;
    assert!(
        after <= Duration::from_secs(3),
        "refused only after {after:?}: {out}"
    );
    let expires = cached["expires"].as_i64().expect("expires");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs(),
    )
    .expect("secs");
    assert!(
        expires > now,
        "the cached token had expired anyway; this shows nothing about revocation"
    );
    assert!(
        out.contains("Unauthorized") || out.contains("KN-401"),
        "{out}"
    );
    eprintln!("kubectl refused {after:?} after the session was revoked: {out}");

    // No new proxy token: the plugin, without its cache, is refused by the server.
    for f in cached_credentials(&t.cache()) {
        std::fs::remove_file(f).expect("rm");
    }
    let (code, out, err) = t.run(
        &[
            "credential",
            "--context",
            "corp",
            "--cluster",
            MAIN,
            "--tenant",
            "acme",
            "--project",
            "web",
        ],
        None,
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("KN-401") && err.contains("kubenova login"),
        "{err}"
    );
    let (code, out) = t.kubectl(&["get", "configmaps"]);
    assert_ne!(code, 0, "{out}");

    // `kubenova logout` then forgets the dead session.
    let (code, out, err) = t.run(&["logout"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no longer worked"), "{out}");
    let config = std::fs::read_to_string(t.config()).expect("config");
    assert!(!config.contains("corp"), "{config}");
}

/// `kubenova logout` revokes a live session (and what it issued) and forgets its cache.
#[test]
fn logout_revokes_the_session() {
    acme_web();
    let h = harness();
    let t = Terminal::new("logout");
    let (code, _, err) = t.run(
        &[
            "login",
            "--server",
            h.control.url.as_str(),
            "--id-token-stdin",
            "--name",
            "corp",
        ],
        Some(&id_token_of("bob")),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = t.run(&["whoami", "-o", "json"], None);
    assert_eq!(code, 0, "{err}");
    let session = serde_json::from_str::<Value>(&out).expect("json")["jti"]
        .as_str()
        .expect("jti")
        .to_owned();
    let (code, out, err) = t.run(
        &[
            "credential",
            "--cluster",
            MAIN,
            "--tenant",
            "acme",
            "--project",
            "web",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let credential: Value = serde_json::from_str(&out).expect("ExecCredential");
    assert_eq!(credential["kind"], "ExecCredential");
    assert!(credential["status"]["token"].is_string(), "{credential}");
    assert_eq!(cached_credentials(&t.cache()).len(), 1);

    let (code, out, err) = t.run(&["logout"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&session), "{out}");
    assert!(cached_credentials(&t.cache()).is_empty());
    let admin = h.control.admin_token.as_str();
    let (_, list) = api("GET", "/api/v1/tokens", Some(admin), None);
    let record = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["jti"] == session.as_str())
        .cloned()
        .expect("the session's record");
    assert_eq!(record["revoked"], true, "{record}");
}
