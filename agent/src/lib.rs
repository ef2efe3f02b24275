//! The agent (`kubenova-agent`): kube-runtime controllers that make Tenants, Projects and Apps
//! real in a workload cluster (Capsule Tenant, namespaces, RBAC, quotas, isolation, KubeVela
//! Applications) and keep them real. It knows nothing of the REST API (no axum, no
//! `kubenova-control`); what both need is in `kubenova-api` and `kubenova-revocation` (ADR 0020).
//!
//! CONTRACT between the agent and the process that runs it (`kubenova-control serve`, crate
//! `kubenova-server`; or the benchmarks): build an [`Agent`] with the workload cluster's client,
//! register its metrics in the shared registry, and run it until shutdown. What the agent
//! creates, and why, is explained in `docs/agent.md`.
//!
//! - [`tenant`]: a KubeNova `Tenant` becomes a Capsule `TenantOwner` (the owner group, made a
//!   Capsule user) and a Capsule `Tenant` (prefix, namespace count, classes, tenant-wide quota
//!   rule, view access for the tenant's readers).
//! - [`project`]: a `Project` becomes the namespace `<tenant>-<project>` with its labels,
//!   ResourceQuota, LimitRange, NetworkPolicy, RoleBindings and deployer ServiceAccount.
//! - [`app`]: an `App` becomes a KubeVela `Application` (and the ConfigMap of its files, rendered
//!   by [`apps::render`]), its status what Vela reports ([`apps::status`]).
//! - [`leader`]: a Lease, so only one replica writes.
//! - `apply`: server-side apply with one field manager, skipped when nothing would change.

pub mod app;
mod apply;
pub mod apps;
mod cluster;
mod conditions;
mod deployer;
mod frame;
mod hosts;
mod leader;
mod metrics;
mod project;
mod shared;
mod tenant;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::events::{Recorder, Reporter};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

pub use apply::{FIELD_MANAGER, HASH_ANNOTATION};
pub use shared::OWNER_USER;
pub(crate) use shared::{
    Error, Shared, capsule_owner, managed_labels, managed_selector, owner_client, reference,
};

/// Names of the objects the agent makes.
pub mod names {
    pub use super::cluster::{
        BASELINE_POLICY, BIRTH_LEVEL, BIRTH_POD_SECURITY_POLICY, DELIVERY_RULES_ROLE,
        DEPLOYER_ROLE, NAMESPACE_LABELS_POLICY, PREVENT_DELETION_POLICY, PROJECT_DEV_ROLE,
    };
    pub use super::deployer::DEPLOYER_CREDENTIALS_POLICY;
    pub use super::project::names::*;
    pub use super::tenant::{CAPSULE_NEW_TENANT_LABEL, QUOTA_RULE, tenant_owner_name};
}

/// The objects the agent wants for a tenant or a project, as JSON manifests (for benchmarks and
/// tools that create the same objects directly).
pub mod desired {
    pub use super::project::{desired_namespace, desired_objects};
    pub use super::tenant::{desired_capsule_tenant, desired_owner};
}

/// Every cluster-wide object: [`cluster`]'s and the deployer's guard ([`deployer`]).
async fn cluster_wide(shared: &Shared) -> Result<(), kube::Error> {
    cluster::ensure(shared).await?;
    deployer::ensure(shared).await
}

/// The finalizer the agent puts on Tenants and Projects.
pub const FINALIZER: &str = "kubenova.io/agent";

/// How the agent runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The namespace of the leader-election Lease (the control plane's own namespace).
    pub namespace: String,
    /// This replica's identity in the Lease (pod name, or host name and pid).
    pub identity: String,
    /// Whether to take part in leader election; off only for single-replica setups and tests.
    pub leader_election: bool,
    /// The Lease's name.
    pub lease_name: String,
    /// How long a Lease that is not renewed stays with its holder.
    pub lease_duration: Duration,
    /// How often the holder renews (and others retry).
    pub lease_renew: Duration,
    /// Reconciles each controller runs at once.
    pub concurrency: u16,
    /// How often a converged object is checked again without any change (a safety net; the
    /// check sends nothing when nothing differs).
    pub resync: Duration,
    /// How long an app's delivery may stay blocked by an error Flux or KubeVela reports (a chart
    /// that cannot be found, credentials refused) before its phase is `failed`.
    pub app_delivery_timeout: Duration,
}

impl Config {
    /// Defaults for one replica among several: leader election on, a 15 s Lease renewed every
    /// 5 s, 16 reconciles at once per controller, resync every 10 minutes, an app's delivery error
    /// tolerated for 10 minutes.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Config {
        Config {
            namespace: namespace.into(),
            identity: identity.into(),
            leader_election: true,
            lease_name: "kubenova-agent".into(),
            lease_duration: Duration::from_secs(15),
            lease_renew: Duration::from_secs(5),
            concurrency: 16,
            resync: Duration::from_secs(600),
            app_delivery_timeout: Duration::from_secs(600),
        }
    }
}

/// The agent's controllers, ready to run.
#[allow(missing_debug_implementations)]
pub struct Agent {
    client: kube::Client,
    config: Config,
    metrics: Arc<metrics::Metrics>,
}

impl Agent {
    /// Prepares the controllers and registers their metrics under `kubenova_agent_*`.
    pub fn new(client: kube::Client, config: Config, registry: &mut Registry) -> Agent {
        let metrics = Arc::new(metrics::Metrics::new(registry));
        Agent {
            client,
            config,
            metrics,
        }
    }

    /// Runs until `shutdown` is cancelled, then releases the Lease. It does not fail: a
    /// reconcile that fails is retried with backoff, cluster-wide objects that cannot be written
    /// are retried, and a lost Lease is waited for again.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut elector = leader::Elector::new(
            self.client.clone(),
            &self.config.namespace,
            &self.config.lease_name,
            &self.config.identity,
            self.config.lease_duration,
            self.config.lease_renew,
        );
        if !self.config.leader_election {
            // The Lease still tells the control plane (AgentReady) that an agent is alive.
            self.metrics.set_leader(true);
            tokio::join!(self.run_controllers(shutdown.clone()), async {
                elector.heartbeat(&shutdown).await;
                elector.release().await;
            });
            self.metrics.set_leader(false);
            return;
        }
        loop {
            if !elector.acquire(&shutdown).await {
                return;
            }
            self.metrics.set_leader(true);
            let term = shutdown.child_token();
            let keeper = {
                let term = term.clone();
                async move {
                    elector.keep(&term).await;
                    elector
                }
            };
            let (_, returned) = tokio::join!(self.run_controllers(term.clone()), async {
                let elector = keeper.await;
                term.cancel();
                elector
            });
            elector = returned;
            self.metrics.set_leader(false);
            if shutdown.is_cancelled() {
                elector.release().await;
                return;
            }
            tracing::warn!("leadership lost; controllers stopped, waiting for the Lease again");
        }
    }

    /// Runs both controllers until `stop` is cancelled.
    async fn run_controllers(&self, stop: CancellationToken) {
        let recorder = Recorder::new(
            self.client.clone(),
            Reporter {
                controller: FIELD_MANAGER.into(),
                instance: Some(self.config.identity.clone()),
            },
        );
        let shared = Shared {
            client: self.client.clone(),
            metrics: self.metrics.clone(),
            recorder,
            config: self.config.clone(),
        };
        // Cluster-wide pieces both controllers rely on; retried until they are in place.
        loop {
            match cluster_wide(&shared).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not install the agent's cluster-wide objects; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    }
                }
            }
        }
        tracing::info!(identity = %self.config.identity, "agent controllers starting");
        // Kinds more than one controller reads are watched once, each controller with a trigger.
        let client = &self.client;
        let (tenants, [tenant_main, tenant_for_projects]) = apply::watch(
            kube::Api::<kubenova_api::crd::Tenant>::all(client.clone()),
            kube::runtime::watcher::Config::default(),
            (),
            &stop,
        );
        let ct = tenant::capsule_tenant_resource();
        let (capsule_tenants, [ct_for_tenants, ct_for_projects]) = apply::watch(
            kube::Api::<kube::api::DynamicObject>::all_with(client.clone(), &ct),
            managed_selector(),
            ct,
            &stop,
        );
        // Every tenant namespace (Capsule labels each at creation), not only the agent's own
        // project namespaces: the tenant controller gives the ones owners make the baseline too.
        let (namespaces, [ns_for_tenants, ns_for_projects, ns_for_apps]) = apply::watch(
            kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone()),
            kube::runtime::watcher::Config::default().labels(kubenova_api::labels::CAPSULE_TENANT),
            (),
            &stop,
        );
        let (limits, [lr_for_tenants, lr_for_projects]) = apply::watch(
            kube::Api::<k8s_openapi::api::core::v1::LimitRange>::all(client.clone()),
            managed_selector(),
            (),
            &stop,
        );
        let (policies, [np_for_tenants, np_for_projects]) = apply::watch(
            kube::Api::<k8s_openapi::api::networking::v1::NetworkPolicy>::all(client.clone()),
            managed_selector(),
            (),
            &stop,
        );
        let running = std::sync::Mutex::new(vec!["tenant", "project", "app"]);
        let controllers = async {
            tokio::join!(
                tracked(
                    &running,
                    "tenant",
                    tenant::run(
                        shared.clone(),
                        stop.clone(),
                        (tenants.clone(), tenant_main),
                        (capsule_tenants.clone(), ct_for_tenants),
                        tenant::Baseline {
                            namespaces: (namespaces.clone(), ns_for_tenants),
                            limits: (limits.clone(), lr_for_tenants),
                            policies: (policies.clone(), np_for_tenants),
                        },
                    )
                ),
                tracked(
                    &running,
                    "project",
                    project::run(
                        shared.clone(),
                        stop.clone(),
                        (tenants, tenant_for_projects),
                        (capsule_tenants, ct_for_projects),
                        (namespaces.clone(), ns_for_projects),
                        (limits, lr_for_projects),
                        (policies, np_for_projects),
                    )
                ),
                tracked(
                    &running,
                    "app",
                    app::run(shared.clone(), stop.clone(), (namespaces, ns_for_apps))
                ),
            )
        };
        // In-flight reconciles may finish after the stop, within a bound: a stop (SIGTERM, lost
        // leadership) must not wait forever. kube-runtime holds a controller's runner until its
        // store is ready, and a store whose watch cannot list (the App CRD not installed yet)
        // never is, so a graceful shutdown alone can hang there.
        tokio::select! {
            _ = controllers => tracing::info!("agent controllers stopped"),
            _ = async {
                stop.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                let left = running.lock().unwrap_or_else(|e| e.into_inner()).clone();
                tracing::warn!(controllers = ?left, "controllers still reconciling {SHUTDOWN_GRACE:?} after the stop; dropped");
            }
        }
    }
}

/// Runs one controller and crosses it off `running` when it ends.
async fn tracked(
    running: &std::sync::Mutex<Vec<&'static str>>,
    name: &'static str,
    controller: impl std::future::Future<Output = ()>,
) {
    controller.await;
    running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|n| *n != name);
    tracing::debug!(controller = name, "controller stopped");
}

/// How long in-flight reconciles may run on after the agent is told to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
