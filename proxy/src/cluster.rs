//! What the proxy knows about the cluster, kept current by watchers: which tenant owns which
//! namespace (Capsule's `capsule.clastix.io/tenant` label), which resources are namespaced
//! (discovery), and which tokens are revoked.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use crate::auth::Revoked;
use crate::sessions::Sessions;

/// The label Capsule puts on every namespace of a tenant.
pub const TENANT_LABEL: &str = kubenova_api::labels::CAPSULE_TENANT;
/// The label that marks a ConfigMap as a list of revoked token ids (see docs/proxy.md).
pub const REVOCATION_LABEL: &str = kubenova_api::labels::REVOCATIONS;

/// Read-only questions the scope decision asks.
pub trait View {
    /// The tenant a namespace belongs to, if any.
    fn tenant_of(&self, namespace: &str) -> Option<String>;
    /// Every namespace of a tenant, sorted.
    fn namespaces_of(&self, tenant: &str) -> Vec<String>;
    /// Whether a resource is namespaced (`None`: unknown to discovery). An empty `version`
    /// stands for any version of the group (access reviews usually name none).
    fn is_namespaced(&self, group: &str, version: &str, resource: &str) -> Option<bool>;
}

type ResourceKey = (String, String, String);

/// The live view, fed by watchers.
#[derive(Clone)]
pub struct ClusterView {
    namespaces: Store<Namespace>,
    resources: Arc<RwLock<HashMap<ResourceKey, bool>>>,
    last_discovery: Arc<tokio::sync::Mutex<Option<Instant>>>,
    client: Client,
}

impl std::fmt::Debug for ClusterView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterView")
            .field("namespaces", &self.namespaces.state().len())
            .finish_non_exhaustive()
    }
}

impl View for ClusterView {
    fn tenant_of(&self, namespace: &str) -> Option<String> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .and_then(|ns| ns.metadata.labels.as_ref()?.get(TENANT_LABEL).cloned())
    }

    fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .namespaces
            .state()
            .iter()
            .filter(|ns| {
                ns.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(TENANT_LABEL))
                    .is_some_and(|t| t == tenant)
            })
            .filter_map(|ns| ns.metadata.name.clone())
            .collect();
        names.sort();
        names
    }

    fn is_namespaced(&self, group: &str, version: &str, resource: &str) -> Option<bool> {
        let resources = self.resources.read().unwrap_or_else(|p| p.into_inner());
        if version.is_empty() {
            return resources
                .iter()
                .find(|((g, _, r), _)| g == group && r == resource)
                .map(|(_, namespaced)| *namespaced);
        }
        resources
            .get(&(group.to_owned(), version.to_owned(), resource.to_owned()))
            .copied()
    }
}

impl ClusterView {
    /// Starts the namespace watcher and runs discovery once; returns when both are ready.
    pub async fn start(client: Client) -> Result<Self, kube::Error> {
        let api: Api<Namespace> = Api::all(client.clone());
        let (store, writer) = reflector::store();
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default().labels(TENANT_LABEL)),
        )
        .default_backoff()
        .touched_objects();
        tokio::spawn(async move {
            futures_util::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Err(e) = event {
                    tracing::warn!(error = %e, "namespace watch failed; retrying");
                }
            }
        });
        let view = ClusterView {
            namespaces: store,
            resources: Arc::default(),
            last_discovery: Arc::default(),
            client,
        };
        view.refresh_discovery(Duration::ZERO).await?;
        // Serving before the first namespace list arrived would refuse requests it should allow.
        view.namespaces.wait_until_ready().await.map_err(|_| {
            kube::Error::Service("the namespace watch stopped before its first list".into())
        })?;
        Ok(view)
    }

    /// Whether discovery has run (the namespace index is ready before `start` returns).
    pub fn ready(&self) -> bool {
        !self
            .resources
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Re-runs discovery unless it ran less than `min_age` ago (the periodic refresh).
    pub async fn refresh_discovery(&self, min_age: Duration) -> Result<bool, kube::Error> {
        let mut last = self.last_discovery.lock().await;
        if last.is_some_and(|t| t.elapsed() < min_age) {
            return Ok(false);
        }
        self.run_discovery().await?;
        *last = Some(Instant::now());
        Ok(true)
    }

    /// Makes sure discovery ran after `since` (when a request met an unknown resource): runs it
    /// unless another request already did, but never sooner than `min_gap` after the last run,
    /// so clients naming made-up resources cannot turn the proxy into a discovery storm.
    pub async fn discovery_after(
        &self,
        since: Instant,
        min_gap: Duration,
    ) -> Result<(), kube::Error> {
        let mut last = self.last_discovery.lock().await;
        if let Some(t) = *last {
            if t >= since {
                return Ok(());
            }
            if let Some(wait) = min_gap.checked_sub(t.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        self.run_discovery().await?;
        *last = Some(Instant::now());
        Ok(())
    }

    async fn run_discovery(&self) -> Result<(), kube::Error> {
        let discovery = kube::discovery::Discovery::new(self.client.clone())
            .run()
            .await?;
        let mut resources = HashMap::new();
        for group in discovery.groups() {
            for version in group.versions() {
                for (resource, caps) in group.versioned_resources(version) {
                    let namespaced = caps.scope == kube::discovery::Scope::Namespaced;
                    resources.insert(
                        (
                            resource.group.clone(),
                            resource.version.clone(),
                            resource.plural.clone(),
                        ),
                        namespaced,
                    );
                }
            }
        }
        *self.resources.write().unwrap_or_else(|p| p.into_inner()) = resources;
        Ok(())
    }

    /// Looks a namespace up on the server (the index may lag a namespace created a moment ago).
    pub async fn tenant_of_live(&self, namespace: &str) -> Option<String> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = api.get_opt(namespace).await.ok()??;
        ns.metadata.labels?.get(TENANT_LABEL).cloned()
    }
}

/// Keeps `revoked` equal to the union of the data keys of every ConfigMap labelled
/// `kubenova.io/revocations=true` in `namespace`, and ends the open streams of every token that
/// becomes revoked. Runs until the process ends.
pub async fn watch_revocations(
    client: Client,
    namespace: String,
    revoked: Arc<Revoked>,
    sessions: Arc<Sessions>,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(
            api,
            watcher::Config::default().labels(&format!("{REVOCATION_LABEL}=true")),
        ),
    )
    .default_backoff();
    futures_util::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(_) => {
                let added = sync_revoked(&store, &revoked);
                let ended = sessions.revoke(added.iter().map(String::as_str));
                if ended > 0 {
                    tracing::info!(tokens = ended, "ended the open streams of revoked tokens");
                }
            }
            Err(e) => tracing::warn!(error = %e, "revocation watch failed; retrying"),
        }
    }
}

/// Makes `revoked` equal to the store's entries; returns the token ids that were added.
fn sync_revoked(store: &Store<ConfigMap>, revoked: &Revoked) -> Vec<String> {
    let mut current: HashMap<String, i64> = HashMap::new();
    for cm in store.state() {
        for (jti, exp) in cm.data.clone().unwrap_or_default() {
            current.insert(jti, exp.trim().parse().unwrap_or(i64::MAX));
        }
    }
    // Add first, then remove: a revoked jti is never missing in between.
    let mut added = Vec::new();
    for (jti, exp) in &current {
        if revoked.insert(jti.clone(), *exp).is_none() {
            added.push(jti.clone());
        }
    }
    revoked.retain(|jti, _| current.contains_key(jti));
    added
}

/// A view that also knows one namespace the index has not caught up with yet.
pub struct WithNamespace<'a> {
    /// The live view.
    pub inner: &'a dyn View,
    /// The namespace just looked up on the server.
    pub namespace: &'a str,
    /// Its tenant.
    pub tenant: Option<&'a str>,
}

impl View for WithNamespace<'_> {
    fn tenant_of(&self, namespace: &str) -> Option<String> {
        if namespace == self.namespace {
            self.tenant.map(str::to_owned)
        } else {
            self.inner.tenant_of(namespace)
        }
    }

    fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        let mut names = self.inner.namespaces_of(tenant);
        if self.tenant == Some(tenant) && !names.iter().any(|n| n == self.namespace) {
            names.push(self.namespace.to_owned());
            names.sort();
        }
        names
    }

    fn is_namespaced(&self, group: &str, version: &str, resource: &str) -> Option<bool> {
        self.inner.is_namespaced(group, version, resource)
    }
}
