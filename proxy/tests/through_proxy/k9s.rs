//! k9s (issue 14 item 5) through the proxy, in both modes, with a tenant owner's and a project
//! developer's KubeNova kubeconfig: the real k9s (built by `make upstream` from its pinned
//! module) runs in a tmux session of its own, keys are sent to it, and the screen
//! (`tmux capture-pane -p`) is checked: the namespaces view lists only the token's namespaces,
//! the pods view its pod, `l` shows the pod's log and `d` describes it, and no error banner
//! (k9s flashes errors with 😡, crashes with 💀 or "Boom!!") or refusal shows at any point.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kubenova_api::Role;
use serde_json::json;
use testenv::upstream::Module;

use super::harness::{claims, harness, kubeconfig, output, tenant_with_projects};

/// A k9s running in a tmux server of its own (its own socket), killed when dropped.
struct K9s {
    socket: PathBuf,
    what: String,
}

impl K9s {
    /// Starts k9s with `kubeconfig` and `args` in a 160 x 45 terminal, with a home of its own.
    fn start(what: &str, kubeconfig: &Path, args: &[&str]) -> K9s {
        let dir = harness()
            .env
            .dir()
            .join("k9s")
            .join(testenv::unique_name("run"));
        std::fs::create_dir_all(&dir).expect("k9s home");
        let socket = dir.join("tmux.sock");
        let k9s = Module::K9s
            .path("k9s")
            .expect("k9s is built by `make upstream`");
        let mut command = vec![
            format!("HOME={}", dir.display()),
            format!("XDG_CONFIG_HOME={}", dir.join("config").display()),
            format!("XDG_STATE_HOME={}", dir.join("state").display()),
            format!("XDG_DATA_HOME={}", dir.join("data").display()),
            format!("XDG_CACHE_HOME={}", dir.join("cache").display()),
            format!("K9S_CONFIG_DIR={}", dir.join("k9s").display()),
            "TERM=xterm-256color".to_owned(),
            k9s.display().to_string(),
            format!("--kubeconfig={}", kubeconfig.display()),
            "--logoless".to_owned(),
            "--splashless".to_owned(),
            format!("--logFile={}", dir.join("k9s.log").display()),
        ];
        command.extend(args.iter().map(|a| (*a).to_owned()));
        let (ok, _, err) = output(
            tmux(&socket),
            &[
                &["new-session", "-d", "-s", "k9s", "-x", "160", "-y", "45", "env"][..],
                &command.iter().map(String::as_str).collect::<Vec<_>>()[..],
            ]
            .concat(),
        );
        assert!(ok, "tmux starts k9s: {err}");
        K9s {
            socket,
            what: what.to_owned(),
        }
    }

    /// What the terminal shows now.
    fn screen(&self) -> String {
        let (ok, out, err) = output(tmux(&self.socket), &["capture-pane", "-p", "-t", "k9s"]);
        assert!(ok, "{}: capture-pane: {err}", self.what);
        out
    }

    /// Sends tmux key names (`Escape`, `Enter`) or literal text.
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "k9s"];
        args.extend(keys);
        let (ok, _, err) = output(tmux(&self.socket), &args);
        assert!(ok, "{}: send-keys {keys:?}: {err}", self.what);
    }

    /// Waits up to 30 s for a screen that satisfies `check`, checking every screen on the way
    /// for an error banner; returns it.
    fn wait_for(&self, step: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            no_error_banner(&self.what, step, &screen);
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {step}: not within 30 s; the screen:\n{screen}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for K9s {
    fn drop(&mut self) {
        // Only this test's tmux server (its own socket).
        let _ = output(tmux(&self.socket), &["kill-server"]);
    }
}

fn tmux(socket: &Path) -> Command {
    let mut cmd = Command::new("tmux");
    cmd.arg("-S").arg(socket);
    cmd
}

/// k9s shows errors in its flash line (😡 for errors, 💀 for fatal ones, "Boom!!" when a view
/// crashes); the proxy's refusals carry KN codes.
fn no_error_banner(what: &str, step: &str, screen: &str) {
    for banner in ["😡", "💀", "Boom", "KN-4", "KN-5", "forbidden", "Forbidden"] {
        assert!(
            !screen.contains(banner),
            "{what}: {step}: an error on the screen ({banner}):\n{screen}"
        );
    }
}

/// The table rows' first cells (k9s draws a box; rows start after `│`).
fn first_cells(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter_map(|line| line.trim().strip_prefix('│'))
        .filter_map(|row| row.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn k9s_session(what: &str, kc: &Path, namespaces: &[String], others: &[&str]) {
    // Namespaces: exactly the token's (k9s lists them through the proxy's filtered list, or
    // capsule-proxy's for an owner in its mode).
    let k9s = K9s::start(what, kc, &["--command", "namespaces"]);
    let screen = k9s.wait_for("the namespaces view", |s| {
        namespaces.iter().all(|ns| s.contains(ns.as_str()))
    });
    let listed: Vec<String> = first_cells(&screen)
        .into_iter()
        // k9s adds a row `all` (its all-namespaces choice) to the namespaces it lists.
        .filter(|c| !c.starts_with("NAME") && c != "all" && c != "│")
        .collect();
    let mut want: Vec<String> = namespaces.to_vec();
    want.sort();
    let mut got = listed.clone();
    got.sort();
    assert_eq!(got, want, "{what}: the namespaces view:\n{screen}");
    for other in others {
        assert!(
            !screen.contains(other),
            "{what}: {other} on the screen:\n{screen}"
        );
    }
    drop(k9s);

    // Pods of the first namespace, the pod's log, and its description.
    let ns = &namespaces[0];
    let k9s = K9s::start(what, kc, &["--namespace", ns, "--command", "pods"]);
    k9s.wait_for("the pods view", |s| {
        s.contains("app") && s.contains("Running")
    });
    k9s.keys(&["l"]);
    let last = harness()
        .env
        .kwok
        .log_lines
        .last()
        .expect("log lines")
        .clone();
    k9s.wait_for("the pod's log", |s| s.contains(last.as_str()));
    k9s.keys(&["Escape"]);
    k9s.wait_for("back to the pods", |s| s.contains("Running"));
    k9s.keys(&["d"]);
    k9s.wait_for("the pod described", |s| {
        s.contains("Name:") && s.contains("Namespace:") && s.contains(ns.as_str())
    });
    drop(k9s);

    // The pods of all the token's namespaces at once: k9s asks whether it may list pods in all
    // namespaces before it lists them (the proxy answers from each namespace's review), then
    // lists them across namespaces (the proxy runs the list in each and merges).
    let k9s = K9s::start(what, kc, &["--all-namespaces", "--command", "pods"]);
    let screen = k9s.wait_for("the pods of all namespaces", |s| {
        namespaces.iter().all(|ns| s.contains(ns.as_str())) && s.contains("Running")
    });
    let rows: Vec<String> = first_cells(&screen)
        .into_iter()
        .filter(|c| !c.starts_with("NAMESPACE") && c != "│")
        .collect();
    let mut got = rows.clone();
    got.sort();
    let mut want = namespaces.to_vec();
    want.sort();
    assert_eq!(got, want, "{what}: one pod per namespace, all of them:\n{screen}");
    for other in others {
        assert!(
            !screen.contains(other),
            "{what}: {other} on the screen:\n{screen}"
        );
    }
}

/// A tenant owner and a project developer of a tenant with two projects (a pod in each), beside
/// another tenant: k9s shows each only its namespaces and works in them.
#[test]
fn k9s_shows_a_tenant_owner_and_a_developer_only_their_namespaces() {
    let t = testenv::unique_name("k9s");
    let other = testenv::unique_name("k9x");
    tenant_with_projects(&t, &["web", "api"]);
    tenant_with_projects(&other, &["web"]);
    let env = harness().env;
    for ns in [format!("{t}-web"), format!("{t}-api")] {
        env.apply(
            &json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "app", "namespace": ns},
                    "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
            .to_string(),
        )
        .expect("pod");
        env.kubectl_run(
            &[
                "-n",
                &ns,
                "wait",
                "--for=condition=Ready",
                "pod/app",
                "--timeout=60s",
            ],
            None,
        )
        .expect("pod ready");
    }
    let other_ns = format!("{other}-web");
    let hidden = ["kube-system", "capsule-system", other_ns.as_str()];

    let owner = kubeconfig(&claims("olivia", &[Role::TenantOwner], Some(&t), None));
    k9s_session(
        "tenant owner",
        &owner,
        &[format!("{t}-api"), format!("{t}-web")],
        &hidden,
    );
    let dev = kubeconfig(&claims("dev", &[Role::ProjectDev], Some(&t), Some("web")));
    let mut hidden_from_dev = hidden.to_vec();
    let api = format!("{t}-api");
    hidden_from_dev.push(&api);
    k9s_session("project developer", &dev, &[format!("{t}-web")], &hidden_from_dev);
}
