//! capsule-proxy, installed the way its Helm chart would, but running as a local process.
//!
//! - Its two CRDs (ProxySetting, GlobalProxySettings) from the chart in its source tree
//!   (`make upstream` copies them next to the binary).
//! - Its ServiceAccount and RBAC rendered by the real `helm template` from that chart
//!   (`templates/serviceaccount.yaml`, `templates/rbac.yaml`: read everything, impersonate users,
//!   groups and ServiceAccounts, create TokenReviews and SubjectAccessReviews, leases and
//!   configmaps in its namespace), in Capsule's namespace.
//! - Its credential is that ServiceAccount's token (TokenRequest) in a kubeconfig: capsule-proxy
//!   expects a bearer token (with a client certificate it panics at start) and forwards with it
//!   plus `Impersonate-User`/`Impersonate-Group`.
//! - It serves TLS with a certificate from the environment's CA, also stored as its chart's
//!   cert-manager Certificate stores it (Secret `capsule-proxy`: `tls.crt`, `tls.key`,
//!   `ca.crt`), with the chart's default flags
//!   (pprof off, no reflector), and reads Capsule's user groups from the `CapsuleConfiguration`
//!   `default` that [`crate::capsule`] installs.
//! - It runs in its most trusting configuration, so that tests show the KubeNova proxy never
//!   lets a client choose the identity: forwarded client certificates are honoured first
//!   (`--auth-preferred-types=AuthType(3),BearerToken,TLSCertificate`: v0.14.0 only accepts
//!   that spelling of `XForwardedClientCert`; header [`XFCC_HEADER`]), as behind an Envoy or
//!   Istio gateway. Because capsule-proxy believes such a
//!   header without checking the certificate, only loopback may talk to it
//!   (`--trusted-proxy-cidrs=127.0.0.1/32`), which also confines its all-interfaces listener.
//!
//! Ports: the proxy port (`--listening-port`, bound on all interfaces: capsule-proxy has no
//! address flag) and metrics (`--metrics-addr`, loopback) are free ports. Its health probe is
//! fixed at `:8081`; pprof, fixed at `:8082` (which Capsule also binds), stays off. So only one
//! capsule-proxy runs per machine: it only ever runs beside Capsule, whose
//! [`crate::capsule::MachineLock`] the environment already holds for its whole life, and
//! [`start`] waits for `:8081` to be free of a previous environment's capsule-proxy.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Api;
use kube::api::{ListParams, PostParams};

use crate::capsule::{NAMESPACE, USER_GROUP};
use crate::env::run;
use crate::kubeconfig::{self, Credential};
use crate::pki::{Pki, write_file};
use crate::process::Program;
use crate::upstream::Module;
use crate::{Error, Result, TestEnv, free_port, wait};

/// The ServiceAccount the chart creates (release `capsule-proxy`).
pub const SERVICE_ACCOUNT: &str = "capsule-proxy";
/// capsule-proxy v0.14 hard-codes its health probe address to `:8081`.
pub const HEALTH_PORT: u16 = 8081;
/// The header the environment's capsule-proxy takes forwarded client certificates from
/// (`--xfcc-header-name`; its default is `X-Forwarded-Client-Cert`).
pub const XFCC_HEADER: &str = "X-Client-Cert";

/// Where the environment's capsule-proxy listens.
#[derive(Debug, Clone)]
pub struct CapsuleProxy {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// Its metrics port (loopback).
    pub metrics_port: u16,
    /// Its kubeconfig: its own ServiceAccount token (tests use it to show the proxy refuses it).
    pub kubeconfig: std::path::PathBuf,
}

/// Installs capsule-proxy's CRDs, ServiceAccount and RBAC, starts it, and waits until it
/// filters for Capsule users. Needs Capsule running (its CRDs and `CapsuleConfiguration`).
pub async fn start(
    env: &TestEnv,
    pki: &Pki,
    pki_dir: &Path,
    client: &kube::Client,
) -> Result<(CapsuleProxy, Program)> {
    env.install_crds(&[Module::CapsuleProxy.path("crds")?])?;
    env.apply(&chart_rbac(&env.dir().join("helm"))?)?;

    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NAMESPACE);
    let request: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": { "expirationSeconds": 7 * 24 * 3600 }
    }))
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let token = accounts
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await?
        .status
        .and_then(|s| s.token)
        .ok_or_else(|| Error::Invalid("TokenRequest returned no token".into()))?;
    let kubeconfig = pki_dir.join("capsule-proxy.kubeconfig");
    env.write_kubeconfig(&kubeconfig, Credential::Token(&token))?;

    let certs = pki_dir.join("capsule-proxy");
    std::fs::create_dir_all(&certs).map_err(|e| Error::io(&certs, e))?;
    let serving = pki.serving("capsule-proxy", &["127.0.0.1", "localhost"])?;
    let (cert_path, key_path) = (certs.join("tls.crt"), certs.join("tls.key"));
    write_file(&cert_path, &serving.cert_pem)?;
    write_file(&key_path, &serving.key_pem)?;
    // The Secret its chart's certificate makes (cert-manager, the chart's default): named after
    // the release, with the CA under `ca.crt`, where docs/install.md reads the CA from.
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE},
        "type": "kubernetes.io/tls",
        "stringData": {
            "tls.crt": serving.cert_pem,
            "tls.key": serving.key_pem,
            "ca.crt": env.ca_pem(),
        },
    });
    env.apply(&secret.to_string())?;

    let port = free_port()?;
    let metrics_port = free_port()?;
    wait_for_health_port()?;
    let mut cmd = Command::new(Module::CapsuleProxy.path("capsule-proxy")?);
    cmd.env("KUBECONFIG", &kubeconfig)
        .env("NAMESPACE", NAMESPACE)
        // The chart's defaults, with the ports moved where they can be.
        .arg(format!("--listening-port={port}"))
        .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
        .arg("--capsule-configuration-name=default")
        .arg("--enable-ssl=true")
        .arg(format!("--ssl-cert-path={}", cert_path.display()))
        .arg(format!("--ssl-key-path={}", key_path.display()))
        // `AuthType(3)` is XForwardedClientCert: v0.14.0's generated String() predates that
        // value, so its flag accepts only this spelling (`XForwardedClientCert` is refused).
        .arg("--auth-preferred-types=AuthType(3),BearerToken,TLSCertificate")
        .arg(format!("--xfcc-header-name={XFCC_HEADER}"))
        .arg("--trusted-proxy-cidrs=127.0.0.1/32")
        .arg("--enable-reflector=false")
        .arg("--disable-caching=false")
        .arg("--enable-pprof=false")
        .arg("--enable-leader-election=false")
        // The chart's 20/30 pace every request's TokenReview and SubjectAccessReviews; tests make
        // many requests at once, as a busy cluster would (the chart's `options.clientConnection*`).
        .arg("--client-connection-qps=200")
        .arg("--client-connection-burst=400")
        .arg("--zap-log-level=info");
    let mut program = env.supervisor().spawn("capsule-proxy", cmd)?;
    let proxy = CapsuleProxy {
        url: format!("https://127.0.0.1:{port}"),
        metrics_port,
        kubeconfig: kubeconfig.clone(),
    };

    // Ready once it filters for Capsule users: a Capsule user that owns no tenant lists no
    // namespaces through it. Before capsule-proxy has read the CapsuleConfiguration it passes
    // such a user through unfiltered, and RBAC refuses the list (403).
    let probe_config = pki_dir.join("capsule-proxy-probe.kubeconfig");
    kubeconfig::write(
        &probe_config,
        "capsule-proxy",
        &proxy.url,
        env.ca_pem(),
        Credential::Token(&token),
    )?;
    let probe = crate::env::client_from(
        &probe_config,
        Some(("testenv:capsule-proxy-probe", &[USER_GROUP])),
    )
    .await?;
    wait::until(
        "capsule-proxy filtering namespaces for Capsule users",
        &mut program,
        Duration::from_secs(90),
        || {
            let namespaces: Api<Namespace> = Api::all(probe.clone());
            async move {
                match namespaces.list(&ListParams::default()).await {
                    Ok(list) if list.items.is_empty() => Ok(true),
                    Ok(list) => Err(format!(
                        "a user owning no tenant saw {} namespaces",
                        list.items.len()
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
        },
    )
    .await?;
    Ok((proxy, program))
}

/// The ServiceAccount and RBAC of capsule-proxy's chart, rendered by `helm template`.
fn chart_rbac(helm_home: &Path) -> Result<String> {
    let chart = Module::CapsuleProxy.path("chart")?;
    let mut helm = Command::new(Module::Helm.path("helm")?);
    helm.env("HELM_CONFIG_HOME", helm_home)
        .env("HELM_CACHE_HOME", helm_home)
        .env("HELM_DATA_HOME", helm_home);
    run(
        helm,
        &[
            "template",
            "capsule-proxy",
            &chart.display().to_string(),
            "--namespace",
            NAMESPACE,
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ],
        None,
    )
}

/// Waits up to 30 s for the fixed health port to be free (a previous environment's
/// capsule-proxy may still be stopping).
fn wait_for_health_port() -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while wait::port_open(HEALTH_PORT) {
        if Instant::now() > deadline {
            return Err(Error::PortTaken {
                port: HEALTH_PORT,
                why: "capsule-proxy v0.14 always binds its health probe there, so only one \
                      capsule-proxy runs per machine: stop the other environment (`make \
                      dev-down`?) or whatever else listens there first",
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}
