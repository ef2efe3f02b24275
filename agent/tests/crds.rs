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
            "crd/apps.kubenova.io",
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
    // Ingress host claims (ADR 0015): host names or `*.` wildcards below a domain, each once.
    for (hosts, message) in [
        (json!(["Shop.example.com"]), "should match"),
        (json!(["shop.example.com/admin"]), "should match"),
        (json!(["a.*.example.com"]), "should match"),
        (json!(["*.com"]), "a wildcard needs at least two labels"),
        (json!(["a.example", "a.example"]), "each host once"),
    ] {
        let err = apply(
            env,
            tenant(
                &unique_name("bad"),
                json!({"plan": {"ingressHosts": hosts}}),
            ),
        )
        .expect_err(&format!("refused: {hosts}"));
        assert!(err.contains(message), "{hosts} -> {err}");
    }
    apply(
        env,
        tenant(
            &unique_name("hosts"),
            json!({"plan": {"ingressHosts": ["shop.example.com", "*.shop.example.com"]}}),
        ),
    )
    .expect("valid claims");
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

fn app(ns: &str, name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "kubenova.io/v1alpha1", "kind": "App",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

#[tokio::test]
async fn the_apiserver_enforces_the_app_rules() {
    let env = TestEnv::shared();
    install_crds(env);
    let ns = unique_name("apps");
    env.kubectl_run(&["create", "namespace", &ns], None)
        .expect("namespace");

    apply(
        env,
        app(
            &ns,
            "grafana",
            json!({"image": {"image": "grafana/grafana", "tag": "11.0.0",
                    "ports": [{"port": 3000}],
                    "env": [{"name": "GF_SECURITY_ADMIN_PASSWORD",
                             "secretRef": {"name": "grafana-admin", "key": "password"}}],
                    "configFiles": [{"path": "/etc/grafana/grafana.ini", "content": "[server]"}],
                    "ingress": {"host": "grafana.example.com"}}}),
        ),
    )
    .expect("a valid image app");
    apply(
        env,
        app(
            &ns,
            "wordpress",
            json!({"helm": {"repo": "oci://registry.example.com/charts", "chart": "wordpress",
                   "version": "1.2.0", "values": {"replicas": 2, "db": {"user": "wp"}}}}),
        ),
    )
    .expect("a valid helm app");
    let stored = env
        .kubectl_run(
            &[
                "-n",
                &ns,
                "get",
                "knapp",
                "wordpress",
                "-o",
                "jsonpath={.spec.helm.values.db.user}",
            ],
            None,
        )
        .expect("values kept as given");
    assert_eq!(stored, "wp");
    let defaults = env
        .kubectl_run(
            &["-n", &ns, "get", "knapp", "grafana", "-o",
              "jsonpath={.spec.image.replicas} {.spec.image.ports[0].expose} {.spec.image.ingress.path}"],
            None,
        )
        .expect("defaults");
    assert_eq!(defaults, "1 true /");

    for (spec, message) in [
        (json!({}), "exactly one of spec.helm and spec.image"),
        (
            json!({"image": {"image": "nginx", "tag": "1"},
                   "helm": {"repo": "https://c.example.com", "chart": "x", "version": "1"}}),
            "exactly one of spec.helm and spec.image",
        ),
        (
            json!({"helm": {"repo": "ftp://c.example.com", "chart": "x", "version": "1"}}),
            "repo must start with https://",
        ),
        (
            json!({"helm": {"repo": "https://c.example.com", "chart": "x", "version": "1",
                            "values": [1, 2]}}),
            "values",
        ),
        (
            json!({"image": {"image": "Not An Image", "tag": "1"}}),
            "image must be an image reference",
        ),
        (
            json!({"image": {"image": "nginx", "tag": "bad tag!"}}),
            "tag must be an image tag",
        ),
        (
            json!({"image": {"image": "nginx", "tag": "1", "ports": [{"port": 70000}]}}),
            "port must be between 1 and 65535",
        ),
        (
            json!({"image": {"image": "nginx", "tag": "1",
                             "env": [{"name": "A", "value": "x", "secretRef": {"name": "s", "key": "k"}}]}}),
            "exactly one of value and secretRef",
        ),
        (
            json!({"image": {"image": "nginx", "tag": "1",
                             "configFiles": [{"path": "/etc/../shadow", "content": ""}]}}),
            "path must be an absolute file path",
        ),
        (
            json!({"image": {"image": "nginx", "tag": "1", "resources": {"cpu": "lots"}}}),
            "cpu must be a quantity",
        ),
        (
            json!({"image": {"image": "nginx", "tag": "1", "ingress": {"host": "Not_A_Host"}}}),
            "host must be a DNS name",
        ),
    ] {
        let err = apply(env, app(&ns, &unique_name("bad"), spec.clone()))
            .expect_err(&format!("refused: {spec}"));
        assert!(err.contains(message), "{spec} -> {err}");
    }
    let err = apply(
        env,
        app(
            &ns,
            &"a".repeat(41),
            json!({"image": {"image": "nginx", "tag": "1"}}),
        ),
    )
    .expect_err("long name");
    assert!(err.contains("at most 40 characters"), "{err}");
}
