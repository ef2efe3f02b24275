//! The web UI in a real browser against the real control plane (docs/ui.md). `make dev`'s
//! environment (`kubenova-testenv up` with the real kubenova-control, which serves the UI, and
//! kubenova-proxy) starts in a scratch directory; then `node ui/tests/story.mjs` drives headless
//! Chromium (`/usr/bin/chromium`, `CHROMIUM` to override) through the guide's story as an admin,
//! a tenant owner and a project developer, checks every main view with axe-core, and saves
//! screenshots under `target/ui-shots/`. Needs node and npm (the build already did) and Chromium
//! (`apt-get install chromium`; .ci/run installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// `kubenova-testenv up` as `make dev` runs it; stopped with SIGTERM on drop.
struct Dev {
    child: Child,
    env_file: PathBuf,
}

impl Dev {
    fn start(dir: &Path) -> Dev {
        let root = root();
        let bin = |package: &str, bin: &str| {
            testenv::workspace_binary(&root, package, bin)
                .unwrap_or_else(|e| panic!("building {bin}: {e}"))
        };
        let env_file = dir.join("env");
        let err = dir.join("testenv.err");
        let child = Command::new(bin("testenv", "kubenova-testenv"))
            .arg("up")
            .arg("--dir")
            .arg(dir.join("run"))
            .arg("--env-file")
            .arg(&env_file)
            .arg("--proxy-binary")
            .arg(bin("kubenova-proxy", "kubenova-proxy"))
            .arg("--control-binary")
            .arg(env!("CARGO_BIN_EXE_kubenova-control"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("testenv.log")).expect("log"))
            .stderr(std::fs::File::create(&err).expect("log"))
            .spawn()
            .expect("kubenova-testenv up");
        let mut dev = Dev { child, env_file };
        let started = Instant::now();
        while !dev.env_file.exists() {
            if let Ok(Some(status)) = dev.child.try_wait() {
                panic!(
                    "kubenova-testenv up stopped ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "kubenova-testenv up was not ready within 600 s; see {}",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        dev
    }

    /// The `export NAME='value'` lines of the env file: `KUBENOVA_*`, the admin `KUBECONFIG`,
    /// and `PATH` with the environment's kubectl first.
    fn vars(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.env_file).expect("env file");
        let mut vars: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| k.starts_with("KUBENOVA_") || *k == "KUBECONFIG")
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect();
        // `export PATH='<kubectl dir>':"$PATH"`
        let kubectl_dir = text
            .lines()
            .filter_map(|l| l.strip_prefix("export PATH="))
            .find_map(|l| l.strip_suffix(":\"$PATH\""))
            .map(|d| d.trim_matches('\'').to_owned())
            .expect("the env file puts kubectl on PATH");
        let path = std::env::var("PATH").unwrap_or_default();
        vars.push(("PATH".into(), format!("{kubectl_dir}:{path}")));
        vars
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

#[test]
fn the_story_in_a_browser() {
    let root = root();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "the browser suite needs Chromium at {chromium} (Debian: apt-get install chromium; or set CHROMIUM)"
    );
    assert!(
        root.join("ui/node_modules/playwright-core").is_dir(),
        "ui/node_modules is missing: building kubenova-control runs `npm ci` in ui/ (see control/build.rs)"
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(testenv::unique_name("kubenova-ui"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let shots = root.join("target/ui-shots");
    let dev = Dev::start(&dir);
    let started = Instant::now();
    let status = Command::new("node")
        .arg("tests/story.mjs")
        .current_dir(root.join("ui"))
        .envs(dev.vars())
        .env("UI_SHOTS", &shots)
        .env("UI_PREFIX", testenv::unique_name("ui"))
        .env("CHROMIUM", &chromium)
        .status()
        .expect("node ui/tests/story.mjs (node is needed; the build used it)");
    eprintln!(
        "the browser story took {} s; screenshots in {}",
        started.elapsed().as_secs(),
        shots.display()
    );
    assert!(
        status.success(),
        "the browser story failed ({status}); its output is above, the environment's logs in {}",
        dir.join("run/logs").display()
    );
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}
