//! `Project`: a namespace `<tenant>-<project>` with its quota, defaults, isolation and access.

// `KubeSchema` expands each struct into a private copy for its schema, which the
// `unreachable_pub` lint reports; the public types themselves are re-exported by `crd`.
#![allow(unreachable_pub)]

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, Limits, PodSecurity, Quota, Usage};

/// Who gets which role in a project (token subjects; control checks this when issuing).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// May get projectDev kubeconfigs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub developers: Vec<String>,
    /// May get project readOnly kubeconfigs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readers: Vec<String>,
}

/// A project of a tenant.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubenova.io",
    version = "v1alpha1",
    kind = "Project",
    plural = "projects",
    shortname = "knproject",
    status = "ProjectStatus",
    derive = "PartialEq",
    doc = "A KubeNova project: one namespace of a tenant, with quota, defaults, isolation and access.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(name = "Namespace", type_ = "string", json_path = ".status.namespace"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name == self.spec.tenant + '.' + self.spec.project").message("a Project is named <tenant>.<project>"),
)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// The tenant (cannot change).
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenant cannot change"))]
    #[x_kube(validation = Rule::new("size(self) <= 40 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("tenant must be a DNS label of at most 40 characters"))]
    pub tenant: String,
    /// The project's short name (cannot change); the namespace is `<tenant>-<project>`.
    #[x_kube(validation = Rule::new("self == oldSelf").message("project cannot change"))]
    #[x_kube(validation = Rule::new("size(self) <= 22 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("project must be a DNS label of at most 22 characters"))]
    pub project: String,
    /// The project's own quota (else a share of the tenant's is not reserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// Container defaults (else the tenant plan's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// The Pod Security level (else the tenant's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurity>,
    /// Who may get which kubeconfig.
    #[serde(default)]
    pub access: Access,
    /// Labels for the project's namespace (the tenant's own win on the same key); keys as
    /// Kubernetes allows, none under a reserved prefix ([`crate::metadata::RESERVED_PREFIXES`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations for the project's namespace, as `labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What the agent observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    /// `Ready` and the specific conditions behind it.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The namespace, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Quota use in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}
