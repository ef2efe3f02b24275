//! What every handler shares: settings, the management cluster's client, keys, the clients of
//! registered workload clusters, audit, rate limits and metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use kubenova_api::crd::{Cluster, IssuedToken};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::audit::Audit;
use super::keys::{Cipher, KeyStore};
use crate::rest::error::ApiError;

/// The name used for the management cluster in errors.
pub const MANAGEMENT: &str = "management";

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The management namespace (Secrets: signing keys, encryption key, cluster kubeconfigs).
    pub namespace: String,
    /// `iss` of every token, and what API tokens must carry.
    pub issuer: String,
    /// Kubeconfig token lifetime when the request names none.
    pub kubeconfig_ttl: Duration,
    /// The longest kubeconfig token lifetime.
    pub max_kubeconfig_ttl: Duration,
    /// API token lifetime when the request names none.
    pub api_token_ttl: Duration,
    /// The longest API token lifetime.
    pub max_api_token_ttl: Duration,
    /// Lifetime of the API token a sign-in through an identity provider gives (the person's
    /// session) when the request names none.
    pub session_ttl: Duration,
    /// Lifetime of the proxy tokens the exec plugin gets from a session
    /// (`POST .../credential`).
    pub credential_ttl: Duration,
    /// Requests per second per principal (sustained).
    pub rate_per_second: f64,
    /// Burst per principal.
    pub rate_burst: f64,
    /// Timeout for one request.
    pub request_timeout: Duration,
    /// Clock skew tolerated on API tokens' `exp`, `nbf` and `iat`.
    pub clock_skew: Duration,
    /// The KubeVela trait and policy types apps may pass through.
    pub app_allowed: kubenova_api::apps::request::Allowed,
    /// The identity providers people may sign in through (`--oidc-config`).
    pub oidc: Option<super::oidc::Oidc>,
    /// When the signing keys rotate (`--key-rotation-period`); `None`: only by hand.
    pub key_rotation: Option<super::keys::rotation::Policy>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: "kubenova-system".into(),
            issuer: "https://kubenova.invalid".into(),
            kubeconfig_ttl: Duration::from_secs(8 * 3600),
            max_kubeconfig_ttl: Duration::from_secs(24 * 3600),
            api_token_ttl: Duration::from_secs(3600),
            max_api_token_ttl: Duration::from_secs(30 * 24 * 3600),
            session_ttl: Duration::from_secs(12 * 3600),
            credential_ttl: Duration::from_secs(5 * 60),
            rate_per_second: 20.0,
            rate_burst: 100.0,
            request_timeout: Duration::from_secs(30),
            clock_skew: Duration::from_secs(kubenova_api::token::DEFAULT_LEEWAY_SECONDS),
            app_allowed: kubenova_api::apps::request::Allowed::default(),
            oidc: None,
            key_rotation: None,
        }
    }
}

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's action.
    pub action: String,
    /// The status code.
    pub code: u16,
}

/// The state every handler gets.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    mgmt: Client,
    keys: KeyStore,
    cipher: Cipher,
    audit: Audit,
    clusters: Mutex<HashMap<String, (String, Client)>>,
    limiter: Mutex<HashMap<String, (f64, Instant)>>,
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state. `registry` is where the agent put its metrics; ours join them.
    pub fn new(
        settings: Settings,
        mgmt: Client,
        keys: KeyStore,
        cipher: Cipher,
        audit: Audit,
        mut registry: Registry,
    ) -> AppState {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "kubenova_api_requests",
            "API requests by route action and status code",
            requests.clone(),
        );
        AppState {
            inner: Arc::new(Inner {
                settings,
                mgmt,
                keys,
                cipher,
                audit,
                clusters: Mutex::new(HashMap::new()),
                limiter: Mutex::new(HashMap::new()),
                registry: Mutex::new(registry),
                requests,
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The management cluster's client.
    pub fn mgmt(&self) -> &Client {
        &self.inner.mgmt
    }

    /// The signing keys.
    pub fn keys(&self) -> &KeyStore {
        &self.inner.keys
    }

    /// The kubeconfig cipher.
    pub fn cipher(&self) -> &Cipher {
        &self.inner.cipher
    }

    /// The audit log.
    pub fn audit(&self) -> &Audit {
        &self.inner.audit
    }

    /// Secrets in the management namespace.
    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.inner.mgmt.clone(), &self.inner.settings.namespace)
    }

    /// Cluster records.
    pub fn cluster_records(&self) -> Api<Cluster> {
        Api::all(self.inner.mgmt.clone())
    }

    /// Issued-token records.
    pub fn token_records(&self) -> Api<IssuedToken> {
        Api::all(self.inner.mgmt.clone())
    }

    /// Counts one request.
    pub fn count(&self, action: &str, code: u16) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                action: action.to_owned(),
                code,
            })
            .inc();
    }

    /// The metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        let registry = match self.inner.registry.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }

    /// Takes one request from `principal`'s bucket; `Err(seconds)` to wait when empty.
    pub fn take_token(&self, principal: &str) -> Result<(), u64> {
        let (rate, burst) = (
            self.inner.settings.rate_per_second,
            self.inner.settings.rate_burst,
        );
        let mut buckets = match self.inner.limiter.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        if buckets.len() > 100_000 {
            // Forget principals that have been quiet long enough to have a full bucket.
            buckets.retain(|_, (_, last)| now.duration_since(*last).as_secs_f64() * rate < burst);
        }
        let (tokens, last) = buckets.entry(principal.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / rate).ceil();
            // At least one second, at most a minute: Retry-After is whole seconds.
            Err(wait.clamp(1.0, 60.0) as u64)
        }
    }

    /// The record and a client of the registered workload cluster `name`.
    pub async fn cluster(&self, name: &str) -> Result<(Cluster, Client), ApiError> {
        let record = self
            .cluster_records()
            .get_opt(name)
            .await
            .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
            .ok_or_else(|| ApiError::not_found("cluster", name))?;
        let secret = self
            .secrets()
            .get_opt(&record.spec.kubeconfig_secret)
            .await
            .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
            .ok_or_else(|| {
                ApiError::unavailable(
                    name,
                    format!(
                        "its kubeconfig Secret `{}` is missing; register the cluster again",
                        record.spec.kubeconfig_secret
                    ),
                )
            })?;
        let version = secret.metadata.resource_version.clone().unwrap_or_default();
        if let Some((cached, client)) = self.lock_clusters().get(name)
            && *cached == version
        {
            return Ok((record, client.clone()));
        }
        let sealed = secret
            .data
            .as_ref()
            .and_then(|d| d.get("kubeconfig"))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .unwrap_or_default();
        let yaml = self
            .inner
            .cipher
            .open(name, &sealed)
            .map_err(|e| ApiError::unavailable(name, format!("its kubeconfig: {e}")))?;
        let client = client_from_kubeconfig(&String::from_utf8_lossy(&yaml))
            .await
            .map_err(|e| ApiError::unavailable(name, format!("its kubeconfig: {e:#}")))?;
        self.lock_clusters()
            .insert(name.to_owned(), (version, client.clone()));
        Ok((record, client))
    }

    /// Forgets the cached client of `name` (after unregistering it).
    pub fn forget_cluster(&self, name: &str) {
        self.lock_clusters().remove(name);
    }

    fn lock_clusters(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Client)>> {
        match self.inner.clusters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Why a kubeconfig gives no client. The message carries every cause (as `kube` words them).
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// It is not a kubeconfig, or it names no usable context, cluster or user.
    #[error("{}", causes(.0))]
    Config(kube::config::KubeconfigError),
    /// A client could not be built from it (its TLS material, say).
    #[error("{}", causes(.0))]
    Client(kube::Error),
}

/// An error and its causes, `: `-separated.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A client from a kubeconfig, with short timeouts so an unreachable cluster fails fast.
pub async fn client_from_kubeconfig(yaml: &str) -> Result<Client, KubeconfigError> {
    let kubeconfig = Kubeconfig::from_yaml(yaml).map_err(KubeconfigError::Config)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(KubeconfigError::Config)?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(20));
    config.write_timeout = Some(Duration::from_secs(20));
    Client::try_from(config).map_err(KubeconfigError::Client)
}
