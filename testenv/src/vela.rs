//! KubeVela (vela-core) and the FluxCD controllers its `helm` component relies on, installed the
//! way their charts would, but running as local processes against the environment's apiserver.
//!
//! - CRDs from the module sources (`make upstream` copies them next to the binaries): KubeVela's
//!   `charts/vela-core/crds/`, helm-controller's and source-controller's `config/crd/bases/`.
//! - KubeVela's built-in definitions (`webservice`, `worker`, `k8s-objects`, the traits, policies
//!   and workflow steps) from `charts/vela-core/templates/defwithtemplate/`, rendered by filling in
//!   their only template construct, the namespace, with [`NAMESPACE`].
//! - KubeNova's own `helm` ComponentDefinition (`config/vela/helm.yaml`): a chart from an HTTP(S)
//!   Helm repository or an OCI registry, delivered by Flux.
//! - vela-core, source-controller and helm-controller, each with a client certificate of its own
//!   (in `system:masters`, as their charts' ClusterRoleBindings to `cluster-admin` would give),
//!   every port explicit and on loopback (their defaults, `:8080`, `:9440`, `:9090`, collide with
//!   each other), leader election and vela's webhook off.
//!
//! - Flux's multi-tenancy lockdown: helm-controller runs with `--no-cross-namespace-refs=true`
//!   and `--default-service-account=default`, so a HelmRelease that names no ServiceAccount is
//!   installed as its namespace's `default` account (no rights) instead of as the controller
//!   (ADR 0011). source-controller v1.7.3 has no cross-namespace references to turn off (its
//!   `--default-service-account` is about cloud workload identity, not impersonation).
//! - Flux's user roles as `flux install` makes them ([`FLUX_USER_ROLES`]): `edit` and `admin`
//!   holders may write Flux objects, `view` holders read them. So a project developer can make a
//!   HelmRelease with kubectl here as on a real installation, and the tests show what it can do.
//!
//! vela-core always wraps its client in an impersonating round tripper, so an Application with
//! the annotation `app.oam.dev/service-account-name: <sa>` is applied as
//! `system:serviceaccount:<namespace>:<sa>`; no feature gate is needed for that.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::kubeconfig::Credential;
use crate::pki::{Pki, write_file};
use crate::process::Program;
use crate::upstream::Module;
use crate::{Error, Result, TestEnv, free_port, wait};

/// Where KubeVela's system definitions live (`--system-definition-namespace`).
pub const NAMESPACE: &str = "vela-system";
/// The identity vela-core authenticates as (what its chart's ServiceAccount would be).
pub const VELA_IDENTITY: &str = "system:serviceaccount:vela-system:kubevela-vela-core";
/// The identities of the Flux controllers.
pub const SOURCE_CONTROLLER_IDENTITY: &str = "system:serviceaccount:flux-system:source-controller";
/// See [`SOURCE_CONTROLLER_IDENTITY`].
pub const HELM_CONTROLLER_IDENTITY: &str = "system:serviceaccount:flux-system:helm-controller";
/// KubeNova's `helm` ComponentDefinition.
pub const HELM_COMPONENT: &str = include_str!("../../config/vela/helm.yaml");

/// The ServiceAccount (in the HelmRelease's own namespace) helm-controller installs a release
/// as when the release names none (`--default-service-account`).
pub const HELM_DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// The ClusterRoles Flux's installation (`flux install`, `manifests/rbac/{edit,view}.yaml` of
/// fluxcd/flux2) aggregates into `edit`/`admin` and `view`.
pub const FLUX_USER_ROLES: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: flux-edit
  labels:
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
- apiGroups: [notification.toolkit.fluxcd.io, source.toolkit.fluxcd.io, source.extensions.fluxcd.io, helm.toolkit.fluxcd.io, image.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io]
  resources: ["*"]
  verbs: [create, delete, deletecollection, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: flux-view
  labels:
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- apiGroups: [notification.toolkit.fluxcd.io, source.toolkit.fluxcd.io, source.extensions.fluxcd.io, helm.toolkit.fluxcd.io, image.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io]
  resources: ["*"]
  verbs: [get, list, watch]
"#;

/// The one Helm template construct KubeVela's built-in definition files contain.
const NAMESPACE_PLACEHOLDER: &str = r#"{{ include "systemDefinitionNamespace" . }}"#;

/// What the environment's KubeVela and Flux listen on.
#[derive(Debug, Clone, Default)]
pub struct Vela {
    /// source-controller's artifact server (`http://127.0.0.1:<port>`), which helm-controller
    /// downloads charts from.
    pub artifact_port: u16,
    /// Health endpoints (`/readyz`) of vela-core, source-controller and helm-controller.
    pub health_ports: [u16; 3],
}

/// Installs CRDs and definitions, starts source-controller, helm-controller and vela-core and
/// waits until each one answers its readiness probe and the definitions are in place.
pub async fn start(env: &TestEnv, pki: &Pki, pki_dir: &Path) -> Result<(Vela, Vec<Program>)> {
    env.install_crds(&[Module::KubeVela.path("crds")?, Module::FluxCd.path("crds")?])?;
    env.create_namespace(NAMESPACE)?;
    let definitions = render_definitions(
        &Module::KubeVela.path("definitions")?,
        &env.dir().join("vela").join("definitions"),
    )?;
    env.kubectl_run(
        &[
            "apply",
            "--server-side",
            "--field-manager=testenv",
            "-f",
            &definitions.display().to_string(),
        ],
        None,
    )?;
    env.apply(HELM_COMPONENT)?;
    env.apply(FLUX_USER_ROLES)?;

    let vela = Vela {
        artifact_port: free_port()?,
        health_ports: [free_port()?, free_port()?, free_port()?],
    };
    let mut programs = Vec::new();

    let storage = env.dir().join("data").join("source-controller");
    std::fs::create_dir_all(&storage).map_err(|e| Error::io(&storage, e))?;
    let artifacts = format!("127.0.0.1:{}", vela.artifact_port);
    let mut cmd = Command::new(Module::FluxCd.path("source-controller")?);
    cmd.env(
        "KUBECONFIG",
        kubeconfig(
            env,
            pki,
            pki_dir,
            "source-controller",
            SOURCE_CONTROLLER_IDENTITY,
        )?,
    )
    .arg(format!("--storage-path={}", storage.display()))
    .arg(format!("--storage-addr={artifacts}"))
    .arg(format!("--storage-adv-addr={artifacts}"))
    .args(flux_common_args(vela.health_ports[1])?);
    let mut source = env.supervisor().spawn("source-controller", cmd)?;

    let mut cmd = Command::new(Module::FluxCd.path("helm-controller")?);
    cmd.env(
        "KUBECONFIG",
        kubeconfig(
            env,
            pki,
            pki_dir,
            "helm-controller",
            HELM_CONTROLLER_IDENTITY,
        )?,
    )
    // A HelmRelease may only use a chart source in its own namespace, and one that names no
    // ServiceAccount is installed as its namespace's `default` account, never as the controller.
    .arg("--no-cross-namespace-refs=true")
    .arg(format!(
        "--default-service-account={HELM_DEFAULT_SERVICE_ACCOUNT}"
    ))
    .args(flux_common_args(vela.health_ports[2])?);
    let mut helm = env.supervisor().spawn("helm-controller", cmd)?;

    let mut cmd = Command::new(Module::KubeVela.path("vela-core")?);
    cmd.env(
        "KUBECONFIG",
        kubeconfig(env, pki, pki_dir, "vela-core", VELA_IDENTITY)?,
    )
    .arg(format!("--system-definition-namespace={NAMESPACE}"))
    .arg("--use-webhook=false")
    .arg("--enable-leader-election=false")
    .arg(format!("--metrics-addr=127.0.0.1:{}", free_port()?))
    .arg(format!("--health-addr=127.0.0.1:{}", vela.health_ports[0]))
    // Re-check applications every 30 s instead of every 5 minutes, so status follows the
    // cluster quickly in tests and `make dev`.
    .arg("--application-re-sync-period=30s");
    let mut core = env.supervisor().spawn("vela-core", cmd)?;

    let timeout = Duration::from_secs(120);
    wait::until(
        "source-controller ready and serving artifacts",
        &mut source,
        timeout,
        || ready(vela.health_ports[1], Some(vela.artifact_port)),
    )
    .await?;
    wait::until("helm-controller ready", &mut helm, timeout, || {
        ready(vela.health_ports[2], None)
    })
    .await?;
    wait::until("vela-core ready", &mut core, timeout, || {
        ready(vela.health_ports[0], None)
    })
    .await?;
    // vela-core has really started working once it has compiled our `helm` definition and a
    // built-in one: it records a revision and the parameter schema of each.
    wait::until(
        "vela-core to reconcile the helm and webservice ComponentDefinitions",
        &mut core,
        timeout,
        || async {
            let out = env
                .kubectl_run(
                    &[
                        "get",
                        "componentdefinitions.core.oam.dev",
                        "helm",
                        "webservice",
                        "-n",
                        NAMESPACE,
                        "-o",
                        "jsonpath={range .items[*]}{.status.configMapRef}{\"\\n\"}{end}",
                    ],
                    None,
                )
                .map_err(|e| e.to_string())?;
            Ok(out.lines().filter(|l| !l.trim().is_empty()).count() == 2)
        },
    )
    .await?;
    programs.extend([source, helm, core]);
    Ok((vela, programs))
}

/// Flags both Flux controllers take: every namespace, loopback ports, no leader election, no
/// event recorder endpoint (there is no notification-controller).
fn flux_common_args(health_port: u16) -> Result<Vec<String>> {
    Ok(vec![
        "--watch-all-namespaces=true".into(),
        "--enable-leader-election=false".into(),
        format!("--metrics-addr=127.0.0.1:{}", free_port()?),
        format!("--health-addr=127.0.0.1:{health_port}"),
        "--log-level=info".into(),
        "--log-encoding=console".into(),
    ])
}

/// Ready when `/readyz` on `health_port` answers `ok` (controller-runtime's probe) and, if
/// given, something accepts connections on `also_port`.
async fn ready(health_port: u16, also_port: Option<u16>) -> std::result::Result<bool, String> {
    let body = wait::http_get(health_port, "/readyz")?;
    Ok(body.trim() == "ok" && also_port.is_none_or(wait::port_open))
}

/// A kubeconfig with a client certificate for `identity` (in `system:masters`).
fn kubeconfig(
    env: &TestEnv,
    pki: &Pki,
    pki_dir: &Path,
    name: &str,
    identity: &str,
) -> Result<PathBuf> {
    let cert = pki.client(name, identity, &["system:masters"])?;
    let path = pki_dir.join(format!("{name}.kubeconfig"));
    env.write_kubeconfig(
        &path,
        Credential::ClientCert {
            cert_pem: &cert.cert_pem,
            key_pem: &cert.key_pem,
        },
    )?;
    Ok(path)
}

/// Copies KubeVela's definition templates from `from` into `to`, with the namespace filled in.
/// Fails on any other template construct, so an upstream change cannot slip through half
/// rendered.
pub fn render_definitions(from: &Path, to: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| Error::io(from, e))?;
    let mut count = 0;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(from, e))?.path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let rendered = render_definition(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let name = path
            .file_name()
            .ok_or_else(|| Error::Invalid(format!("{} has no file name", path.display())))?;
        write_file(&to.join(name), &rendered)?;
        count += 1;
    }
    if count == 0 {
        return Err(Error::Invalid(format!(
            "no definitions in {} (run `make upstream`)",
            from.display()
        )));
    }
    Ok(to.to_owned())
}

fn render_definition(text: &str) -> std::result::Result<String, String> {
    let rendered = text.replace(NAMESPACE_PLACEHOLDER, NAMESPACE);
    match rendered.lines().find(|l| l.contains("{{")) {
        Some(line) => Err(format!("unexpected template construct: {}", line.trim())),
        None => Ok(rendered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_is_filled_in() {
        let text = "kind: ComponentDefinition\nmetadata:\n  name: webservice\n  namespace: {{ include \"systemDefinitionNamespace\" . }}\n";
        let out = render_definition(text).expect("renders");
        assert!(out.contains("  namespace: vela-system\n"), "{out}");
    }

    #[test]
    fn any_other_template_construct_is_refused() {
        let text = "metadata:\n  name: {{ .Values.name }}\n";
        let err = render_definition(text).expect_err("must refuse");
        assert!(err.contains(".Values.name"), "{err}");
    }

    #[test]
    fn the_helm_component_is_ours_and_names_the_flux_kinds() {
        assert!(HELM_COMPONENT.contains("kind: ComponentDefinition"));
        assert!(HELM_COMPONENT.contains("name: helm\n"));
        for kind in ["HelmRelease", "HelmRepository", "OCIRepository"] {
            assert!(HELM_COMPONENT.contains(kind), "{kind} missing");
        }
    }
}
