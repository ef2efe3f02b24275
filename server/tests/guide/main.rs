//! The guides run as written. `make dev`'s environment (`kubenova-testenv up`, the real binaries)
//! starts in a scratch directory, then the ```` ```sh ```` blocks of docs/index.md, docs/apps.md
//! and the README's quick start run in order in one bash, command by command, as a reader would
//! paste them. A command that fails, or prints something other than what the guide shows, fails
//! the test with its place in the guide and what it printed. `script.rs` holds the conventions.
//!
//! Each guide step has two forms: `sh curl` (the REST API) and `sh cli` (the same with
//! `kubenova`). The guides run twice on the one environment, one after the other: a curl pass
//! (`sh` and `sh curl` blocks) and then a CLI pass (`sh` and `sh cli` blocks), each in a bash of
//! its own. That works because the guide ends by deleting what it made (the tenant, and the
//! volume it made as the platform); the README's quick start, which makes the tenant again and
//! keeps it, is CLI only and so runs once, last.
//!
//! Three things differ from a reader's terminal, all stated in docs/development.md: `curl` is
//! `curl --fail-with-body` (an HTTP error is a failed command, not a printed envelope), the shell
//! runs with `pipefail`, and `HOME` is a directory of the scratch directory with `kubenova` (built
//! here like the other binaries, `testenv::workspace_binary`) on `PATH`, as after
//! `cargo install --path cli`: `kubenova login` and `--merge` write there.

mod script;
mod shell;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use script::{Form, Step};
use shell::{Shell, judge};

/// The guides, in the order a reader follows them; the README's quick start last, once the
/// guide has cleaned up the tenant they both make.
const GUIDES: &[&str] = &["docs/index.md", "docs/apps.md", "README.md"];

/// The passes over [`GUIDES`], in order.
const PASSES: &[Form] = &[Form::Curl, Form::Cli];

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

/// Every guide's steps for `form`'s pass, in order.
fn steps_of(root: &Path, form: Form) -> Vec<Step> {
    let mut steps = Vec::new();
    for guide in GUIDES {
        let text = std::fs::read_to_string(root.join(guide)).expect("guide");
        let (own, skipped) = script::parse(guide, &text).unwrap_or_else(|e| panic!("{e}"));
        for s in skipped {
            eprintln!("{}: skipped: {}", s.place, s.reason);
        }
        steps.extend(own.into_iter().filter(|s| s.form.is_none_or(|f| f == form)));
    }
    steps
}

/// The README's quick start is the CLI's, and the runner runs it: the commands it promises are
/// steps of the CLI pass (not skipped, not in a curl block). Runs without an environment.
#[test]
fn the_readme_quick_start_uses_the_cli_and_runs() {
    let root = root();
    let text = std::fs::read_to_string(root.join("README.md")).expect("README");
    let (steps, _) = script::parse("README.md", &text).unwrap_or_else(|e| panic!("{e}"));
    let commands: Vec<String> = steps
        .iter()
        .filter(|s| s.form == Some(Form::Cli))
        .map(|s| s.command.clone())
        .collect();
    for needed in [
        "kubenova login --server",
        "kubenova tenant create acme",
        "kubenova project create shop",
        "--merge --use",
        "kubectl get pods",
    ] {
        assert!(
            commands.iter().any(|c| c.contains(needed)),
            "README.md's quick start must run `{needed}` in a ```sh cli block; its CLI steps: {commands:#?}"
        );
    }
    assert!(
        !steps.iter().any(|s| s.command.contains("curl ")),
        "README.md's quick start uses the CLI, not curl"
    );
}

/// docs/index.md gives every curl step its CLI form (`script::parse` refuses a `sh curl` block
/// without one), and both passes have work to do. Runs without an environment.
#[test]
fn the_guide_has_both_forms() {
    let root = root();
    let curl = steps_of(&root, Form::Curl);
    let cli = steps_of(&root, Form::Cli);
    assert!(curl.len() > 40, "only {} curl-pass steps", curl.len());
    assert!(cli.len() > 40, "only {} CLI-pass steps", cli.len());
    assert!(cli.iter().any(|s| s.command.contains("kubenova ")));
    assert!(!curl.iter().any(|s| s.command.contains("kubenova ")));
}

#[test]
fn the_guides_run_as_written() {
    let root = root();
    let passes: Vec<(Form, Vec<Step>)> = PASSES
        .iter()
        .map(|&form| (form, steps_of(&root, form)))
        .collect();

    // A directory like a clone of the repository, as a reader's working directory: the guide
    // reads docs/examples/ and writes kubeconfigs where it runs.
    // Kept when the test fails (the environment's logs are under .kubenova/dev/run/logs).
    // Under target/tmp, not $TMPDIR: the fake pods' `exec` runs as `nobody` in a directory
    // beside the environment's, so every directory above it must be open to others.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(testenv::unique_name("kubenova-guide"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    eprintln!("running the guides in {}", dir.display());
    std::os::unix::fs::symlink(root.join("docs"), dir.join("docs")).expect("docs link");
    // `kubenova` on PATH, alone (not the rest of target/debug).
    let cli = testenv::workspace_binary(&root, "kubenova-cli", "kubenova")
        .unwrap_or_else(|e| panic!("building kubenova: {e}"));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::os::unix::fs::symlink(&cli, bin.join("kubenova")).expect("kubenova link");
    let dev = Dev::start(&dir);
    let started = Instant::now();
    let mut summary = Vec::new();
    for (form, steps) in &passes {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut shell = Shell::start(
            &dir,
            &format!(".guide-{}", form.word()),
            &[],
            &[("HOME", home.display().to_string()), ("PATH", path)],
        );
        let pass_started = Instant::now();
        for step in steps {
            let at = Instant::now();
            let ran = shell.run(&step.command).unwrap_or_else(|e| {
                panic!(
                    "{} ({} pass): {e}\n{}\n{}",
                    step.place,
                    form.word(),
                    step.command.trim_end(),
                    diagnose(&dir)
                );
            });
            eprintln!(
                "{} ({} pass, {} ms, exit {}): {}",
                step.place,
                form.word(),
                at.elapsed().as_millis(),
                ran.code,
                step.command.lines().next().unwrap_or_default()
            );
            if let Some(problem) = judge(step, &ran) {
                panic!(
                    "{} ({} pass): {problem}\ncommand:\n{}\nstdout:\n{}\nstderr:\n{}\n{}",
                    step.place,
                    form.word(),
                    step.command.trim_end(),
                    ran.stdout.trim_end(),
                    ran.stderr.trim_end(),
                    diagnose(&dir)
                );
            }
        }
        summary.push(format!(
            "{} pass: {} steps in {:?}",
            form.word(),
            steps.len(),
            pass_started.elapsed()
        ));
    }
    eprintln!(
        "{} of {} guides in {:?} (the environment was ready before)",
        summary.join(", "),
        GUIDES.len(),
        started.elapsed()
    );
    drop(dev);
    std::fs::remove_dir_all(&dir).expect("removing the scratch dir");
}
