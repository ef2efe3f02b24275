//! Pieces both resources use: quotas, default limits, Pod Security levels, conditions.

// `KubeSchema` expands each struct into a private copy for its schema, which the
// `unreachable_pub` lint reports; the public types themselves are re-exported by `crd`.
#![allow(unreachable_pub)]

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Resource totals a tenant (all its namespaces) or a project (its namespace) may use.
/// Quantities use Kubernetes' notation (`500m`, `4`, `8Gi`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// CPU requests, summed (`requests.cpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("cpu must be a quantity such as 500m or 4"))]
    pub cpu: Option<String>,
    /// Memory requests, summed (`requests.memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("memory must be a quantity such as 512Mi or 8Gi"))]
    pub memory: Option<String>,
    /// Storage requested by PersistentVolumeClaims, summed (`requests.storage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("storage must be a quantity such as 20Gi"))]
    pub storage: Option<String>,
    /// Pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("pods must not be negative"))]
    pub pods: Option<i32>,
    /// Namespaces (tenants only: how many namespaces the tenant may have).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("namespaces must be at least 1"))]
    pub namespaces: Option<i32>,
}

/// Defaults for containers that set no requests or limits (a LimitRange).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Default CPU request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("defaultCpuRequest must be a quantity"))]
    pub default_cpu_request: Option<String>,
    /// Default memory request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("defaultMemoryRequest must be a quantity"))]
    pub default_memory_request: Option<String>,
    /// Default CPU limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("defaultCpuLimit must be a quantity"))]
    pub default_cpu_limit: Option<String>,
    /// Default memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("defaultMemoryLimit must be a quantity"))]
    pub default_memory_limit: Option<String>,
}

/// The Pod Security Admission level enforced in a project's namespace.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum PodSecurity {
    /// Blocks known privilege escalations (the default).
    #[default]
    Baseline,
    /// Current hardening best practice.
    Restricted,
}

impl PodSecurity {
    /// The value of the `pod-security.kubernetes.io/enforce` label.
    pub fn label(self) -> &'static str {
        match self {
            PodSecurity::Baseline => "baseline",
            PodSecurity::Restricted => "restricted",
        }
    }
}

/// One observation about an object, in the shape Kubernetes uses everywhere.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, or a more specific aspect (`CapsuleTenantReady`, `NamespaceReady`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default)]
    pub reason: String,
    /// What a person should know.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The generation this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Used and hard amounts per resource, from the ResourceQuota status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Resource name (`requests.cpu`, `pods`, ...) to the hard limit.
    #[serde(default)]
    pub hard: std::collections::BTreeMap<String, String>,
    /// Resource name to the amount in use.
    #[serde(default)]
    pub used: std::collections::BTreeMap<String, String>,
}
