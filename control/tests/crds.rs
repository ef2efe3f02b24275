//! The generated CRDs install on a real apiserver, and the apiserver enforces their rules: bad
//! input is refused with the message the CRD gives, before any controller sees it.

use std::path::Path;

use serde_json::json;
use testenv::{TestEnv, unique_name};

fn install_crds(env: &TestEnv) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/crd");
    env.kubectl_run(
        &["apply", "--server-side", "-f", &dir.display().to_string()],
        None,
    )
    .expect("CRDs applied");
    env.kubectl_run(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/tenants.kubenova.io",
            "crd/projects.kubenova.io",
        ],
        None,
    )
    .expect("CRDs established");
}

fn apply(env: &TestEnv, object: serde_json::Value) -> Result<String, String> {
    env.apply(&object.to_string()).map_err(|e| e.to_string())
}

fn tenant(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "kubenova.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": spec})
}

fn project(name: &str, tenant: &str, project: &str) -> serde_json::Value {
    json!({"apiVersion": "kubenova.io/v1alpha1", "kind": "Project", "metadata": {"name": name},
           "spec": {"tenant": tenant, "project": project}})
}

#[tokio::test]
async fn the_apiserver_enforces_the_crd_rules() {
    let env = TestEnv::shared();
    install_crds(env);
    let t = unique_name("crd");

    apply(
        env,
        tenant(
            &t,
            json!({"plan": {"quota": {"cpu": "4", "memory": "8Gi", "namespaces": 3}}}),
        ),
    )
    .expect("a valid tenant");
    let printed = env
        .kubectl_run(&["get", "kntenant", &t], None)
        .expect("printer columns");
    assert!(
        printed.contains("NAMESPACES") && printed.contains("READY"),
        "{printed}"
    );

    let err = apply(
        env,
        tenant(
            &unique_name("bad"),
            json!({"plan": {"quota": {"cpu": "four"}}}),
        ),
    )
    .expect_err("not a quantity");
    assert!(err.contains("cpu must be a quantity"), "{err}");
    let err = apply(
        env,
        tenant(
            &unique_name("bad"),
            json!({"plan": {"quota": {"namespaces": 0}}}),
        ),
    )
    .expect_err("no namespaces");
    assert!(err.contains("namespaces must be at least 1"), "{err}");
    let long = format!("t{}", "x".repeat(45));
    let err = apply(env, tenant(&long, json!({}))).expect_err("too long for <tenant>-<project>");
    assert!(err.contains("at most 40 characters"), "{err}");

    let name = format!("{t}.web");
    apply(env, project(&name, &t, "web")).expect("a valid project");
    let err =
        apply(env, project(&format!("{t}.api"), &t, "web")).expect_err("name and spec disagree");
    assert!(
        err.contains("a Project is named <tenant>.<project>"),
        "{err}"
    );
    let err = apply(env, project(&name, "someone-else", "web")).expect_err("tenant is immutable");
    assert!(err.contains("tenant cannot change"), "{err}");
}
