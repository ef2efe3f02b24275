//! The guides run as written. `make dev`'s environment (`kubenova-testenv up`, the real binaries)
//! starts in a scratch directory, then every ```` ```sh ```` block of docs/index.md,
//! docs/apps.md and the README's quick start runs in order in one bash, command by command, as a reader would paste it. A
//! command that fails, or prints something other than what the guide shows, fails the test with
//! its place in the guide and what it printed. `script.rs` holds the conventions.
//!
//! Two things differ from a reader's terminal, both stated in docs/development.md: `curl` is
//! `curl --fail-with-body` (an HTTP error is a failed command, not a printed envelope), and the
//! shell runs with `pipefail`.

mod script;
mod shell;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shell::{Shell, judge};

/// The guides, in the order a reader follows them; the README's quick start last, once the
/// guide has cleaned up the tenant they both make.
const GUIDES: &[&str] = &["docs/index.md", "docs/apps.md", "README.md"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// `kubenova-testenv up` as `make dev` runs it; stopped (SIGTERM, as `make dev-down`) on drop.
struct Dev {
    child: Child,
    log: PathBuf,
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
        let control = PathBuf::from(env!("CARGO_BIN_EXE_kubenova-control"));
        let state = dir.join(".kubenova/dev");
        std::fs::create_dir_all(&state).expect("state dir");
        let log = state.join("testenv.log");
        let child = Command::new(testenv_bin)
            .arg("up")
            .arg("--dir")
            .arg(state.join("run"))
            .arg("--env-file")
            .arg(state.join("env"))
            .arg("--proxy-binary")
            .arg(proxy)
            .arg("--control-binary")
            .arg(control)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(std::fs::File::create(state.join("testenv.err")).expect("log"))
            .spawn()
            .expect("kubenova-testenv up");
        let mut dev = Dev { child, log };
        let started = Instant::now();
        while !state.join("env").exists() {
            if let Ok(Some(status)) = dev.child.try_wait() {
                panic!(
                    "kubenova-testenv up stopped ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(state.join("testenv.err")).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "kubenova-testenv up was not ready within 600 s; see {}",
                dev.log.display()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        dev
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
    }
}

/// What the cluster looked like when a step failed, as the platform's admin sees it: KubeNova's
/// objects that are not Ready and why, namespaces being deleted and what holds them, and the
/// objects with finalizers in them. CI shows only the test's output, so it has to be here.
const DIAGNOSE: &str = r#"
. .kubenova/dev/env
echo "--- KubeNova objects not Ready"
kubectl get tenants.kubenova.io,projects.kubenova.io,apps.kubenova.io -A -o json | jq -r '.items[]
  | select(([.status.conditions[]? | select(.type=="Ready" and .status=="True")] | length) == 0)
  | "\(.kind) \(.metadata.namespace // "")/\(.metadata.name) deleting=\(.metadata.deletionTimestamp // "no"): \([.status.conditions[]? | select(.status!="True") | "\(.type)=\(.reason): \(.message)"] | join("; "))"'
echo "--- namespaces being deleted"
for ns in $(kubectl get ns -o json | jq -r '.items[] | select(.metadata.deletionTimestamp) | .metadata.name'); do
  kubectl get ns "$ns" -o json | jq -r '"\(.metadata.name): \([.status.conditions[]? | select(.status=="True") | "\(.reason): \(.message)"] | join("; "))"'
  kubectl get applications.core.oam.dev,helmreleases.helm.toolkit.fluxcd.io,pods,persistentvolumeclaims -n "$ns" -o json |
    jq -r '.items[] | "  \(.kind)/\(.metadata.name) finalizers=\(.metadata.finalizers // []) deleting=\(.metadata.deletionTimestamp // "no") \([.status.conditions[]? | select(.type=="Ready") | .message] | join(""))"'
done
"#;

fn diagnose(dir: &Path) -> String {
    match Command::new("bash")
        .arg("-c")
        .arg(DIAGNOSE)
        .current_dir(dir)
        .output()
    {
        Ok(out) => format!(
            "the cluster then:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("no diagnosis: {e}"),
    }
}

#[test]
fn the_guides_run_as_written() {
    let root = root();
    let mut steps = Vec::new();
    for guide in GUIDES {
        let text = std::fs::read_to_string(root.join(guide)).expect("guide");
        let (mut own, skipped) = script::parse(guide, &text).unwrap_or_else(|e| panic!("{e}"));
        for s in skipped {
            eprintln!("{}: skipped: {}", s.place, s.reason);
        }
        steps.append(&mut own);
    }
    assert!(steps.len() > 40, "only {} steps found", steps.len());

    // A directory like a clone of the repository, as a reader's working directory: the guide
    // reads docs/examples/ and writes kubeconfigs where it runs.
    // Kept when the test fails (the environment's logs are under .kubenova/dev/run/logs).
    // Under target/tmp, not $TMPDIR: the fake pods' `exec` runs as `nobody` in a directory
    // beside the environment's, so every directory above it must be open to others.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(testenv::unique_name("kubenova-guide"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    eprintln!("running the guides in {}", dir.display());
    std::os::unix::fs::symlink(root.join("docs"), dir.join("docs")).expect("docs link");
    let dev = Dev::start(&dir);
    let mut shell = Shell::start(&dir, &[]);
    let started = Instant::now();
    for step in &steps {
        let at = Instant::now();
        let ran = shell.run(&step.command).unwrap_or_else(|e| {
            panic!(
                "{}: {e}\n{}\n{}",
                step.place,
                step.command.trim_end(),
                diagnose(&dir)
            );
        });
        eprintln!(
            "{} ({} ms, exit {}): {}",
            step.place,
            at.elapsed().as_millis(),
            ran.code,
            step.command.lines().next().unwrap_or_default()
        );
        if let Some(problem) = judge(step, &ran) {
            panic!(
                "{}: {problem}\ncommand:\n{}\nstdout:\n{}\nstderr:\n{}\n{}",
                step.place,
                step.command.trim_end(),
                ran.stdout.trim_end(),
                ran.stderr.trim_end(),
                diagnose(&dir)
            );
        }
    }
    eprintln!(
        "{} steps of {} guides in {:?}",
        steps.len(),
        GUIDES.len(),
        started.elapsed()
    );
    drop(shell);
    drop(dev);
    std::fs::remove_dir_all(&dir).expect("removing the scratch dir");
}
