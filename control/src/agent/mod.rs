//! The agent: kube-runtime controllers that make Tenants and Projects real in a workload cluster
//! (Capsule Tenant, namespaces, RBAC, quotas, isolation) and keep them real.
//!
//! CONTRACT between the agent and the rest of `kubenova-control` (the `serve` command builds an
//! [`Agent`] with the workload cluster's client, registers its metrics in the shared registry,
//! and runs it until shutdown). The body is being written on the `agent` branch.

use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// How the agent runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The namespace of the leader-election Lease (the control plane's own namespace).
    pub namespace: String,
    /// This replica's identity in the Lease (pod name, or host name and pid).
    pub identity: String,
    /// Whether to take part in leader election; off only for single-replica setups and tests.
    pub leader_election: bool,
}

/// The agent's controllers, ready to run.
#[allow(missing_debug_implementations)]
pub struct Agent {
    client: kube::Client,
    config: Config,
}

impl Agent {
    /// Prepares the controllers and registers their metrics under `kubenova_agent_*`.
    pub fn new(client: kube::Client, config: Config, registry: &mut Registry) -> Agent {
        let _ = registry;
        Agent { client, config }
    }

    /// Runs until `shutdown` is cancelled (then releases the Lease) or a fatal error occurs.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let _ = (&self.client, &self.config);
        shutdown.cancelled().await;
        Ok(())
    }
}
