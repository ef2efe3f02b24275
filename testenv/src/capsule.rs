//! Capsule, installed the way its Helm chart would, but running as a local process.
//!
//! - CRDs from the module source (`crds/`, copied by `make upstream`), v1beta2 only: the chart's
//!   conversion-webhook patches are not applied.
//! - The `CapsuleConfiguration` rendered by the real `helm template` from the chart in the
//!   module source, with the webhook client pointing at `https://127.0.0.1:<port>` and our CA.
//!   Capsule registers its admission webhooks from that configuration itself.
//! - The controller authenticates with a client certificate whose user name is the
//!   ServiceAccount identity Capsule recognises as itself (`NAMESPACE`/`SERVICE_ACCOUNT`), so
//!   its own writes pass its own webhooks.
//!
//! Capsule v0.14 binds its health probe to the fixed port 10080, so only one Capsule runs per
//! machine at a time. Environments queue for it with [`MachineLock`] (a `flock` on a file in the
//! temp directory, released when the process ends), and [`start`] then waits for the port to be
//! free of a previous Capsule that is still shutting down.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::Api;

use crate::env::run;
use crate::kubeconfig::Credential;
use crate::pki::{Pki, write_file};
use crate::process::Program;
use crate::upstream::Module;
use crate::{Error, Result, TestEnv, free_port, wait};

/// The namespace Capsule "runs in" (where it keeps its own objects).
pub const NAMESPACE: &str = "capsule-system";
/// The ServiceAccount name Capsule believes it runs as.
pub const SERVICE_ACCOUNT: &str = "capsule";
/// The group Capsule's default configuration treats as its users.
pub const USER_GROUP: &str = "projectcapsule.dev";
/// The name Capsule gives its webhook configurations.
const WEBHOOK_CONFIGURATION: &str = "capsule-dynamic-webhook";
/// Capsule v0.14 hard-codes its health probe address to `:10080`.
const HEALTH_PORT: u16 = 10080;

/// The machine-wide right to run a Capsule. Held for the environment's lifetime; the kernel
/// releases it when the holding process ends, however it ends.
#[derive(Debug)]
pub struct MachineLock {
    _file: nix::fcntl::Flock<std::fs::File>,
}

impl MachineLock {
    /// How long to queue behind another environment before giving up (seconds), overridable
    /// with `KUBENOVA_CAPSULE_WAIT`.
    const DEFAULT_WAIT_SECS: u64 = 1800;

    /// Waits for the lock, saying every 30 s who holds it.
    pub fn acquire() -> Result<MachineLock> {
        use nix::fcntl::{Flock, FlockArg};
        let path = std::env::temp_dir().join("kubenova-capsule.lock");
        let wait = std::env::var("KUBENOVA_CAPSULE_WAIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Self::DEFAULT_WAIT_SECS);
        let started = Instant::now();
        let mut last_said = None::<Instant>;
        let mut file = open_lock_file(&path)?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut locked) => {
                    use std::io::{Seek, Write};
                    // Best effort: the pid only helps the message of whoever waits next.
                    let _ = locked.set_len(0);
                    let _ = locked.rewind();
                    let _ = write!(locked, "{}", std::process::id());
                    return Ok(MachineLock { _file: locked });
                }
                Err((returned, nix::errno::Errno::EWOULDBLOCK)) => file = returned,
                Err((_, errno)) => return Err(Error::io(&path, std::io::Error::from(errno))),
            }
            if started.elapsed() > Duration::from_secs(wait) {
                return Err(Error::PortTaken {
                    port: HEALTH_PORT,
                    why: "another environment kept Capsule for longer than KUBENOVA_CAPSULE_WAIT \
                          seconds; only one Capsule runs per machine (`make dev-down`?)",
                });
            }
            if last_said.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                eprintln!(
                    "testenv: waiting for the Capsule of another environment (pid {}) to stop; \
                     only one Capsule runs per machine",
                    holder.trim()
                );
                last_said = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn open_lock_file(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Installs Capsule's CRDs and configuration, starts the controller, and waits until its
/// webhooks are registered and serving.
pub async fn start(
    env: &TestEnv,
    pki: &Pki,
    pki_dir: &Path,
    client: &kube::Client,
) -> Result<Program> {
    let crds = Module::Capsule.path("crds")?;
    env.install_crds(&[crds])?;
    env.create_namespace(NAMESPACE)?;

    let webhook_port = free_port()?;
    let certs = pki_dir.join("capsule-webhook");
    std::fs::create_dir_all(&certs).map_err(|e| Error::io(&certs, e))?;
    let serving = pki.serving("capsule-webhook", &["127.0.0.1", "localhost"])?;
    write_file(&certs.join("tls.crt"), &serving.cert_pem)?;
    write_file(&certs.join("tls.key"), &serving.key_pem)?;
    env.apply(&configuration(
        &env.dir().join("helm"),
        webhook_port,
        &pki.ca().cert_pem,
    )?)?;

    let identity = format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}");
    let cert = pki.client("capsule", &identity, &["system:masters"])?;
    let kubeconfig = pki_dir.join("capsule.kubeconfig");
    env.write_kubeconfig(
        &kubeconfig,
        Credential::ClientCert {
            cert_pem: &cert.cert_pem,
            key_pem: &cert.key_pem,
        },
    )?;

    wait_for_health_port()?;
    let mut cmd = Command::new(Module::Capsule.path("controller")?);
    cmd.env("KUBECONFIG", &kubeconfig)
        .env("NAMESPACE", NAMESPACE)
        .env("SERVICE_ACCOUNT", SERVICE_ACCOUNT)
        .arg(format!("--webhook-port={webhook_port}"))
        .arg(format!("--webhook-cert-path={}", certs.display()))
        .arg(format!("--metrics-addr=127.0.0.1:{}", free_port()?))
        // Capsule's defaults (1 worker, 20 requests/s to the apiserver) make it handle about
        // half a tenant per second, which then paces every test that creates many tenants; a
        // production install tunes these too (the chart's `manager.options`).
        .arg("--workers=4")
        .arg("--client-connection-qps=200")
        .arg("--client-connection-burst=400")
        .arg("--zap-log-level=info");
    let mut program = env.supervisor().spawn("capsule", cmd)?;

    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    wait::until(
        "Capsule webhooks registered and serving",
        &mut program,
        Duration::from_secs(90),
        || {
            let (validating, mutating) = (validating.clone(), mutating.clone());
            async move {
                let v = validating
                    .get_opt(WEBHOOK_CONFIGURATION)
                    .await
                    .map_err(|e| e.to_string())?;
                let m = mutating
                    .get_opt(WEBHOOK_CONFIGURATION)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(v.is_some() && m.is_some() && wait::port_open(webhook_port))
            }
        },
    )
    .await?;
    // Ready once Capsule's own status says so (it has aggregated its users and RBAC).
    env.kubectl_run(
        &[
            "wait",
            "--for=condition=Ready",
            "--timeout=60s",
            "capsuleconfiguration/default",
        ],
        None,
    )?;
    Ok(program)
}

/// The chart's `CapsuleConfiguration`, rendered by `helm template` from the module source.
fn configuration(helm_home: &Path, webhook_port: u16, ca_pem: &str) -> Result<String> {
    let chart = Module::Capsule.path("chart")?;
    let mut helm = Command::new(Module::Helm.path("helm")?);
    // Keep helm away from the developer's own repositories and caches.
    helm.env("HELM_CONFIG_HOME", helm_home)
        .env("HELM_CACHE_HOME", helm_home)
        .env("HELM_DATA_HOME", helm_home);
    run(
        helm,
        &[
            "template",
            "capsule",
            &chart.display().to_string(),
            "--namespace",
            NAMESPACE,
            "--show-only",
            "templates/configuration.yaml",
            "--set",
            &format!("webhooks.service.url=https://127.0.0.1:{webhook_port}"),
            "--set",
            &format!("webhooks.service.caBundle={}", STANDARD.encode(ca_pem)),
        ],
        None,
    )
}

impl TestEnv {
    /// Creates a Capsule Tenant (v1beta2) owned by the group `owner_group` and waits until
    /// Capsule has reconciled it (only then does it match the owner's requests).
    pub fn create_capsule_tenant(&self, tenant: &str, owner_group: &str) -> Result<()> {
        let manifest = serde_json::json!({
            "apiVersion": "capsule.clastix.io/v1beta2",
            "kind": "Tenant",
            "metadata": { "name": tenant },
            "spec": { "owners": [{ "kind": "Group", "name": owner_group }] },
        });
        self.apply(&manifest.to_string())?;
        self.kubectl_run(
            &[
                "wait",
                "--for=condition=Ready",
                "--timeout=60s",
                &format!("tenant/{tenant}"),
            ],
            None,
        )?;
        Ok(())
    }
}

/// Waits up to 30 s for the fixed health port to be free (a previous environment may still be
/// shutting down).
fn wait_for_health_port() -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while wait::port_open(HEALTH_PORT) {
        if Instant::now() > deadline {
            return Err(Error::PortTaken {
                port: HEALTH_PORT,
                why: "Capsule v0.14 always binds its health probe there, so only one Capsule \
                      runs per machine: stop the other environment (`make dev-down`?) first",
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}
