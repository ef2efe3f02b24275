//! `Cluster`: a workload cluster registered with the control plane (lives in the management
//! cluster). Its admin kubeconfig is kept in a Secret, encrypted with the control plane's key.

// `KubeSchema` expands each struct into a private copy for its schema, which the
// `unreachable_pub` lint reports; the public types themselves are re-exported by `crd`.
#![allow(unreachable_pub)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Condition;

/// A registered workload cluster.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubenova.io",
    version = "v1alpha1",
    kind = "Cluster",
    plural = "clusters",
    shortname = "kncluster",
    status = "ClusterStatus",
    derive = "PartialEq",
    doc = "A workload cluster registered with KubeNova: where its proxy listens and where its encrypted admin kubeconfig is kept.",
    printcolumn(name = "Proxy", type_ = "string", json_path = ".spec.proxyUrl"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Reachable\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("a cluster name is a DNS label"),
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The `https://` URL of the cluster's KubeNova proxy; kubeconfigs point here.
    #[x_kube(validation = Rule::new("self.startsWith('https://')").message("proxyUrl must be an https:// URL"))]
    pub proxy_url: String,
    /// The CA bundle (PEM) that signed the proxy's serving certificate; kubeconfigs carry it.
    pub proxy_ca: String,
    /// The Secret (in the control plane's namespace) holding the encrypted admin kubeconfig.
    pub kubeconfig_secret: String,
    /// The namespace of the proxy in the workload cluster (where revocation ConfigMaps go).
    #[serde(default = "default_proxy_namespace")]
    pub proxy_namespace: String,
}

fn default_proxy_namespace() -> String {
    "kubenova-system".into()
}

/// What the control plane observed about the cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// `Reachable`, `AgentReady`, `CapsuleReady`, `VelaReady`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The Kubernetes version the cluster reported (`v1.36.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
}
