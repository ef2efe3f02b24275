//! Running `kubenova-proxy` in the environment the way the Helm chart deploys it: its own
//! namespace and ServiceAccount with only the rights it needs (impersonate, read namespaces,
//! read revocations), a TokenRequest token as its upstream credential, a serving certificate
//! from the environment's CA, and a JWKS file with the verification key. In front of
//! kube-apiserver (direct mode) or of the environment's capsule-proxy
//! ([`ProxyMode::CapsuleProxy`], which needs [`crate::Options::capsule_proxy`]); one
//! environment can run one proxy of each mode side by side ([`ProxyOptions::name`]).
//!
//! Until `kubenova-control` issues tokens, the environment holds the signing key itself
//! ([`RunningProxy::sign`]), through the same `api` code control will use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use kubenova_api::{Claims, JwkSet, SigningKey};

use crate::kubeconfig::{self, Credential};
use crate::pki::write_file;
use crate::{Error, Result, TestEnv, free_port, wait};

/// The proxy's namespace (revocation ConfigMaps live there).
pub const NAMESPACE: &str = "kubenova-system";
/// The issuer the environment's tokens carry.
pub const ISSUER: &str = "https://kubenova-control.testenv";

/// The RBAC the proxy needs, and nothing more.
fn rbac() -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: kubenova-proxy, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: kubenova-proxy}}
rules:
- apiGroups: [""]
  resources: [users, groups]
  verbs: [impersonate]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: kubenova-proxy}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubenova-proxy}}
subjects: [{{kind: ServiceAccount, name: kubenova-proxy, namespace: {NAMESPACE}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: kubenova-proxy-revocations, namespace: {NAMESPACE}}}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: kubenova-proxy-revocations, namespace: {NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: kubenova-proxy-revocations}}
subjects: [{{kind: ServiceAccount, name: kubenova-proxy, namespace: {NAMESPACE}}}]
"#
    )
}

/// A proxy running in the environment.
#[derive(Debug)]
pub struct RunningProxy {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// `http://127.0.0.1:<port>` for `/metrics`, `/healthz`, `/readyz`.
    pub ops_url: String,
    /// The CA that signed its serving certificate.
    pub ca_path: PathBuf,
    /// The JWKS file it verifies tokens with (rewrite it to rotate keys).
    pub jwks_path: PathBuf,
    /// The key the environment signs tokens with.
    pub signing_key: SigningKey,
    /// Its program name: its log is `logs/<name>.log`, its files are in `<env dir>/<name>/`.
    pub name: String,
    /// What it forwards to.
    pub mode: ProxyMode,
    /// Its `--upstream`: kube-apiserver or capsule-proxy.
    pub upstream: String,
    /// Its `--upstream-token-file` (the `kubenova-proxy` ServiceAccount's token).
    pub upstream_token_file: PathBuf,
    ca_pem: String,
}

impl RunningProxy {
    /// Reads back a proxy started by another process (`make dev`) from its directory
    /// (`<env dir>/kubenova-proxy`), to mint tokens for it.
    pub fn from_dir(env_dir: &Path) -> Result<Self> {
        let dir = env_dir.join("kubenova-proxy");
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))
        };
        let signing_key =
            SigningKey::from_pkcs8_pem(read("signing-key.kid")?.trim(), &read("signing-key.pem")?)
                .map_err(|e| Error::Invalid(format!("signing key: {e}")))?;
        let ca_path = env_dir.join("pki").join("ca.crt");
        let ca_pem = std::fs::read_to_string(&ca_path).map_err(|e| Error::io(&ca_path, e))?;
        Ok(RunningProxy {
            url: read("url")?.trim().to_owned(),
            ops_url: String::new(),
            ca_path,
            jwks_path: dir.join("jwks.json"),
            signing_key,
            name: DEFAULT_NAME.into(),
            mode: read("mode")
                .ok()
                .and_then(|m| ProxyMode::from_flag(m.trim()))
                .unwrap_or_default(),
            upstream: read("upstream").unwrap_or_default().trim().to_owned(),
            upstream_token_file: dir.join("upstream-token"),
            ca_pem,
        })
    }

    /// Signs `claims` with the environment's key.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        self.signing_key
            .sign(claims)
            .map_err(|e| Error::Invalid(format!("signing a token: {e}")))
    }

    /// Writes a kubeconfig that reaches the proxy with `token`.
    pub fn write_kubeconfig(&self, path: &Path, token: &str) -> Result<()> {
        kubeconfig::write(
            path,
            "kubenova",
            &self.url,
            &self.ca_pem,
            Credential::Token(token),
        )
    }

    /// Publishes `keys` as the proxy's JWKS (it re-reads the file within its reload interval).
    pub fn publish_keys(&self, keys: &[&SigningKey]) -> Result<()> {
        let set = JwkSet {
            keys: keys.iter().map(|k| k.public_jwk()).collect(),
        };
        let json = serde_json::to_string_pretty(&set).map_err(|e| Error::Invalid(e.to_string()))?;
        // Written whole under another name first: the proxy must never read half a file.
        let tmp = self.jwks_path.with_extension("tmp");
        write_file(&tmp, &json)?;
        std::fs::rename(&tmp, &self.jwks_path).map_err(|e| Error::io(&self.jwks_path, e))
    }
}

/// The program name of the proxy when [`ProxyOptions::name`] is not set.
pub const DEFAULT_NAME: &str = "kubenova-proxy";

/// `kubenova-proxy --mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyMode {
    /// In front of kube-apiserver.
    #[default]
    Direct,
    /// In front of the environment's capsule-proxy.
    CapsuleProxy,
}

impl ProxyMode {
    /// The `--mode` value.
    pub fn flag(self) -> &'static str {
        match self {
            ProxyMode::Direct => "direct",
            ProxyMode::CapsuleProxy => "capsule-proxy",
        }
    }

    /// The mode named by a `--mode` value.
    pub fn from_flag(flag: &str) -> Option<Self> {
        [ProxyMode::Direct, ProxyMode::CapsuleProxy]
            .into_iter()
            .find(|m| m.flag() == flag)
    }
}

/// Where a proxy gets its verification keys, and which cluster it serves.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Its program name (log `logs/<name>.log`, files in `<env dir>/<name>/`); default
    /// [`DEFAULT_NAME`]. Two proxies in one environment need two names.
    pub name: Option<String>,
    /// Direct to kube-apiserver, or through capsule-proxy.
    pub mode: ProxyMode,
    /// Verify with control's JWKS at this URL (`--jwks-url`) instead of the environment's own
    /// key in a JWKS file; tokens then come from `kubenova-control`.
    pub jwks_url: Option<String>,
    /// `--cluster`: the `cluster` claim tokens must carry, if they carry one.
    pub cluster: Option<String>,
    /// More flags (`--clock-skew=1s`, ...).
    pub extra_args: Vec<String>,
    /// An `https://` upstream of the caller's own, with a serving certificate from the
    /// environment's CA, in place of the mode's (the benchmark's static upstream).
    pub upstream: Option<String>,
}

impl TestEnv {
    /// Starts the `kubenova-proxy` binary at `binary` in direct mode and waits until it is ready.
    pub async fn start_proxy(&self, binary: &Path) -> Result<RunningProxy> {
        self.start_proxy_with(binary, ProxyOptions::default()).await
    }

    /// Like [`TestEnv::start_proxy`], with `options`.
    pub async fn start_proxy_with(
        &self,
        binary: &Path,
        options: ProxyOptions,
    ) -> Result<RunningProxy> {
        self.apply(&rbac())?;
        let name = options.name.clone().unwrap_or_else(|| DEFAULT_NAME.into());
        let upstream = match options.mode {
            _ if options.upstream.is_some() => options.upstream.clone().unwrap_or_default(),
            ProxyMode::Direct => self.server().to_owned(),
            ProxyMode::CapsuleProxy => self
                .capsule_proxy
                .as_ref()
                .ok_or_else(|| {
                    Error::Invalid(
                        "a proxy in capsule-proxy mode needs the environment's capsule-proxy: \
                         start it with Options { capsule_proxy: true, .. }"
                            .into(),
                    )
                })?
                .url
                .clone(),
        };
        let dir = self.dir().join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;

        let client = self.client().await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(client, NAMESPACE);
        let request: TokenRequest = serde_json::from_value(serde_json::json!({
            "spec": { "expirationSeconds": 7 * 24 * 3600 }
        }))
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let token = accounts
            .create_token_request("kubenova-proxy", &PostParams::default(), &request)
            .await?
            .status
            .and_then(|s| s.token)
            .ok_or_else(|| Error::Invalid("TokenRequest returned no token".into()))?;
        let token_file = dir.join("upstream-token");
        write_file(&token_file, &token)?;

        let serving = self
            .pki()
            .serving("kubenova-proxy", &["127.0.0.1", "localhost"])?;
        let signing_key = SigningKey::generate("testenv-1")
            .map_err(|e| Error::Invalid(format!("signing key: {e}")))?;
        write_file(&dir.join("signing-key.pem"), &signing_key.to_pkcs8_pem())?;
        write_file(&dir.join("signing-key.kid"), signing_key.kid())?;
        let port = free_port()?;
        let ops_port = free_port()?;
        let proxy = RunningProxy {
            url: format!("https://127.0.0.1:{port}"),
            ops_url: format!("http://127.0.0.1:{ops_port}"),
            ca_path: self.ca_path(),
            jwks_path: dir.join("jwks.json"),
            signing_key,
            name: name.clone(),
            mode: options.mode,
            upstream: upstream.clone(),
            upstream_token_file: token_file.clone(),
            ca_pem: self.ca_pem().to_owned(),
        };
        proxy.publish_keys(&[&proxy.signing_key])?;
        write_file(&dir.join("url"), &proxy.url)?;
        write_file(&dir.join("mode"), options.mode.flag())?;
        write_file(&dir.join("upstream"), &upstream)?;

        let mut cmd = Command::new(binary);
        cmd.arg(format!("--listen=127.0.0.1:{port}"))
            .arg(format!("--metrics-listen=127.0.0.1:{ops_port}"))
            .arg(format!("--tls-cert={}", serving.cert_path.display()))
            .arg(format!("--tls-key={}", serving.key_path.display()))
            .arg(format!("--mode={}", options.mode.flag()))
            .arg(format!("--upstream={upstream}"))
            .arg(format!("--upstream-ca={}", self.ca_path().display()))
            .arg(format!("--upstream-token-file={}", token_file.display()))
            .arg(format!("--issuer={ISSUER}"))
            .arg(format!("--namespace={NAMESPACE}"))
            .arg("--reload-interval=1s")
            .env("RUST_LOG", "info");
        match &options.jwks_url {
            Some(url) => cmd.arg(format!("--jwks-url={url}")),
            None => cmd.arg(format!("--jwks-file={}", proxy.jwks_path.display())),
        };
        if options.mode == ProxyMode::CapsuleProxy {
            cmd.arg(format!(
                "--capsule-proxy-xfcc-header={}",
                crate::capsule_proxy::XFCC_HEADER
            ));
        }
        if let Some(cluster) = &options.cluster {
            cmd.arg(format!("--cluster={cluster}"));
        }
        cmd.args(&options.extra_args);
        self.spawn(&name, cmd)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if wait::http_get(ops_port, "/readyz").is_ok_and(|body| body.trim() == "ok") {
                return Ok(proxy);
            }
            self.check_programs()?;
            if Instant::now() > deadline {
                let log = self.log(&name);
                return Err(Error::NotReady {
                    what: format!("{name} /readyz"),
                    after: Duration::from_secs(60),
                    last: "not ready".into(),
                    tail: crate::process::tail(&log, 30),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
