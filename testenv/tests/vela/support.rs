//! Helpers shared by the KubeVela tests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use testenv::{Options, TestEnv};

/// The environment of this test binary: Capsule and KubeVela (+ Flux) on.
pub(crate) fn env() -> &'static TestEnv {
    TestEnv::shared_with(Options {
        vela: true,
        ..Options::default()
    })
}

/// How long a test waits for the controllers to act.
pub(crate) const SETTLE: Duration = Duration::from_secs(120);

/// Creates a namespace as admin.
pub(crate) fn namespace(name: &str) {
    env()
        .apply(&format!(
            r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{name}"}}}}"#
        ))
        .expect("namespace created");
}

/// Creates a namespace whose `default` ServiceAccount has `edit` in it: helm-controller installs
/// a HelmRelease that names no ServiceAccount as that account (`--default-service-account`), so
/// the Helm tests that do not use the annotation give it the rights their charts need.
pub(crate) fn release_namespace(name: &str) {
    namespace(name);
    env()
        .apply(
            &serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": { "name": "default-edit", "namespace": name },
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "edit",
                },
                "subjects": [{ "kind": "ServiceAccount", "name": "default", "namespace": name }],
            })
            .to_string(),
        )
        .expect("default account bound to edit");
}

/// `kubectl get <kind> <name> -n <ns> -o json`, or `None` when it does not exist.
pub(crate) fn get(kind: &str, ns: &str, name: &str) -> Option<Value> {
    let out = env()
        .kubectl_run(
            &[
                "get",
                kind,
                name,
                "-n",
                ns,
                "-o",
                "json",
                "--ignore-not-found",
            ],
            None,
        )
        .expect("kubectl get");
    if out.trim().is_empty() {
        None
    } else {
        Some(serde_json::from_str(&out).expect("kubectl get returns JSON"))
    }
}

/// `.status.status` of an Application (`running`, `runningWorkflow`, ...).
pub(crate) fn app_phase(ns: &str, name: &str) -> Option<String> {
    get("applications.core.oam.dev", ns, name)?
        .pointer("/status/status")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Waits until `check` returns `Some`, polling every second; on timeout panics with `what`,
/// the Application's status and the end of vela-core's log.
pub(crate) async fn eventually<T>(
    what: &str,
    app: (&str, &str),
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            let env = env();
            let status = get("applications.core.oam.dev", app.0, app.1)
                .and_then(|a| a.get("status").cloned())
                .unwrap_or(Value::Null);
            panic!(
                "timed out after {SETTLE:?} waiting for {what}\napplication {}/{} status: {status:#}\n\
                 vela-core log ends with:\n{}\nhelm-controller log ends with:\n{}",
                app.0,
                app.1,
                testenv::process::tail(&env.log("vela-core"), 20),
                testenv::process::tail(&env.log("helm-controller"), 20),
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A string field of a JSON object by JSON pointer.
pub(crate) fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The fixture charts of this crate's tests.
pub(crate) fn fixture_chart(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join("charts")
        .join(name)
}
