//! One environment and one proxy per test binary, plus builders for tenants, projects, tokens
//! and kubeconfigs.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use kubenova_api::{Claims, Role};
use serde_json::json;
use testenv::TestEnv;
use testenv::proxy::{ISSUER, RunningProxy};

pub(crate) struct Harness {
    pub(crate) env: &'static TestEnv,
    pub(crate) proxy: RunningProxy,
}

static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();

pub(crate) fn harness() -> &'static Harness {
    let harness = HARNESS.get_or_init(|| {
        let env = TestEnv::shared();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(
                    env.start_proxy(std::path::Path::new(env!("CARGO_BIN_EXE_kubenova-proxy"))),
                )
                .map(|proxy| Harness { env, proxy })
                .map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("starting the proxy panicked".into()))
    });
    match harness {
        Ok(h) => h,
        Err(e) => panic!("kubenova-proxy could not start: {e}"),
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Claims valid for ten minutes.
pub(crate) fn claims(
    sub: &str,
    roles: &[Role],
    tenant: Option<&str>,
    project: Option<&str>,
) -> Claims {
    let now = now();
    Claims {
        iss: ISSUER.into(),
        sub: sub.into(),
        aud: kubenova_api::claims::PROXY_AUDIENCE.into(),
        exp: now + 600,
        nbf: now - 5,
        iat: now - 5,
        jti: testenv::unique_name("jti"),
        roles: roles.to_vec(),
        tenant: tenant.map(str::to_owned),
        project: project.map(str::to_owned),
        cluster: None,
    }
}

/// A tenant (Capsule Tenant owned by the tenant-owner group) with the given projects, each a
/// namespace `<tenant>-<project>` with the RoleBindings the agent will make.
pub(crate) fn tenant_with_projects(tenant: &str, projects: &[&str]) {
    let env = harness().env;
    let owners = kubenova_api::identity::tenant_owner_group(tenant);
    env.apply(
        &json!({
            "apiVersion": "capsule.clastix.io/v1beta2",
            "kind": "Tenant",
            "metadata": { "name": tenant },
            "spec": { "owners": [{ "kind": "Group", "name": owners }] },
        })
        .to_string(),
    )
    .expect("tenant");
    env.kubectl_run(
        &[
            "wait",
            "--for=condition=Ready",
            "--timeout=60s",
            &format!("tenant/{tenant}"),
        ],
        None,
    )
    .expect("tenant ready");
    for project in projects {
        let ns = kubenova_api::names::project_namespace(tenant, project);
        let dev = kubenova_api::identity::project_dev_group(tenant, project);
        let view = kubenova_api::identity::project_view_group(tenant, project);
        let tenant_view = kubenova_api::identity::tenant_view_group(tenant);
        // Created as the tenant owner, so Capsule admits it into the tenant (and owns it).
        env.kubectl_run(
            &[
                "create",
                "namespace",
                &ns,
                "--as=kubenova:testenv",
                &format!("--as-group={owners}"),
                &format!("--as-group={}", kubenova_api::identity::CAPSULE_USER_GROUP),
            ],
            None,
        )
        .expect("project namespace");
        let manifests = [
            binding(&ns, "kubenova-dev", "edit", &dev),
            binding(&ns, "kubenova-view", "view", &view),
            binding(&ns, "kubenova-tenant-view", "view", &tenant_view),
        ];
        for m in manifests {
            env.apply(&m.to_string()).expect("project object");
        }
    }
}

fn binding(ns: &str, name: &str, role: &str, group: &str) -> serde_json::Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    })
}

/// Signs `claims` and writes a kubeconfig for them; returns its path.
pub(crate) fn kubeconfig(claims: &Claims) -> PathBuf {
    let h = harness();
    let token = h.proxy.sign(claims).expect("signed");
    let dir = h.env.dir().join("test-kubeconfigs");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{}.kubeconfig", claims.jti));
    h.proxy.write_kubeconfig(&path, &token).expect("kubeconfig");
    path
}

/// Runs the real kubectl with `kubeconfig`; Ok(stdout) or Err(stderr).
pub(crate) fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> Result<String, String> {
    testenv::env::run(harness().env.kubectl_with(kubeconfig), args, None).map_err(|e| e.to_string())
}
