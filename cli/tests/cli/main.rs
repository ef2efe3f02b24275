//! `kubenova` against the real platform: `make dev`'s environment (`kubenova-testenv up` with the
//! real kubenova-control and kubenova-proxy) in a scratch directory, one environment for the
//! whole story, each persona (admin, tenant owner alice, project developer bob) with its own
//! config file and kubeconfig. Tests that need no server run on their own.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

fn scratch(name: &str) -> PathBuf {
    let base = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "kn-cli-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// One person at a terminal: their own config file, HOME and KUBECONFIG.
struct User {
    home: PathBuf,
    path: String,
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl User {
    fn new(dir: &Path, name: &str, path: &str) -> User {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).expect("home");
        User {
            home,
            path: path.to_owned(),
        }
    }

    fn config(&self) -> PathBuf {
        self.home.join(".config/kubenova/config.yaml")
    }

    fn kubeconfig(&self) -> PathBuf {
        self.home.join(".kube/config")
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env("NO_COLOR", "1")
            .env("TMPDIR", std::env::temp_dir())
            .current_dir(root());
        c
    }

    fn kn_in(&self, args: &[&str], stdin: Option<&str>) -> Ran {
        let mut c = self.command(env!("CARGO_BIN_EXE_kubenova"));
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("kubenova");
        if let Some(text) = stdin {
            let mut input = child.stdin.take().expect("stdin");
            input.write_all(text.as_bytes()).expect("stdin");
        }
        let out = child.wait_with_output().expect("kubenova");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn kn(&self, args: &[&str]) -> Ran {
        self.kn_in(args, None)
    }

    /// Runs and expects exit 0; answers stdout.
    fn ok(&self, args: &[&str]) -> String {
        let ran = self.kn(args);
        assert_eq!(ran.code, 0, "kubenova {}: {ran:?}", args.join(" "));
        ran.stdout
    }

    /// Runs with `-o json` and parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// Runs and expects `code`, with `KN-<status>` (when given) in the error; answers stderr.
    fn fails(&self, args: &[&str], code: i32, kn: Option<&str>) -> String {
        let ran = self.kn(args);
        assert_eq!(ran.code, code, "kubenova {}: {ran:?}", args.join(" "));
        if let Some(kn) = kn {
            assert!(
                ran.stderr.starts_with(&format!("error: {kn} ")),
                "kubenova {}: {ran:?}",
                args.join(" ")
            );
            assert!(ran.stderr.contains("\nhint: "), "{ran:?}");
        }
        ran.stderr
    }
}

/// `kubenova-testenv up` as `make dev` runs it; stopped (SIGTERM) on drop.
struct Dev {
    child: Child,
    dir: PathBuf,
    env: std::collections::HashMap<String, String>,
}

impl Dev {
    fn start(dir: &Path) -> Dev {
        let root = root();
        let bin = |package: &str, bin: &str| {
            testenv::workspace_binary(&root, package, bin)
                .unwrap_or_else(|e| panic!("building {bin}: {e}"))
        };
        let testenv_bin = bin("testenv", "kubenova-testenv");
        let proxy = bin("kubenova-proxy", "kubenova-proxy");
        let control = bin("kubenova-server", "kubenova-control");
        let state = dir.join("dev");
        std::fs::create_dir_all(&state).expect("state dir");
        let env_file = state.join("env");
        let child = Command::new(testenv_bin)
            .arg("up")
            .arg("--dir")
            .arg(state.join("run"))
            .arg("--env-file")
            .arg(&env_file)
            .arg("--proxy-binary")
            .arg(proxy)
            .arg("--control-binary")
            .arg(control)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(state.join("testenv.log")).expect("log"))
            .stderr(std::fs::File::create(state.join("testenv.err")).expect("log"))
            .spawn()
            .expect("kubenova-testenv up");
        let mut dev = Dev {
            child,
            dir: state.clone(),
            env: Default::default(),
        };
        let started = Instant::now();
        while !env_file.exists() {
            if let Ok(Some(status)) = dev.child.try_wait() {
                panic!(
                    "kubenova-testenv up stopped ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(state.join("testenv.err")).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "kubenova-testenv up was not ready within 600 s; see {}",
                state.display()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        let text = std::fs::read_to_string(&env_file).expect("env file");
        for line in text.lines() {
            if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                dev.env
                    .insert(k.to_owned(), v.trim_matches('\'').to_owned());
            }
        }
        dev
    }

    fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the env file"))
    }

    /// A PATH with the environment's kubectl first.
    fn path(&self) -> String {
        let kubectl_dir = self
            .var("PATH")
            .split(':')
            .next()
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned();
        format!(
            "{kubectl_dir}:{}",
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// Appends a line to every fake container's log (kwok reads them from one file).
    fn log_line(&self, line: &str) {
        let file = PathBuf::from(self.var("KUBENOVA_TESTENV_DIR")).join("kwok/container.log");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        writeln!(f, "2026-01-01T00:00:00.000000000Z stdout F {line}").expect("log line");
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("the environment's files: {}", self.dir.display());
    }
}

fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Compares with `cli/tests/snapshots/<name>` (`KUBENOVA_UPDATE_SNAPSHOTS=1` rewrites it).
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("KUBENOVA_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("snapshots dir");
        std::fs::write(&path, actual).expect("snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (KUBENOVA_UPDATE_SNAPSHOTS=1 writes it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "snapshot {name} differs");
}

mod offline;
mod story;
