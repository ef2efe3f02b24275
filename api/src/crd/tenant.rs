//! `Tenant`: a team's or customer's area, made real as a Capsule Tenant with quotas and access.

// `KubeSchema` expands each struct into a private copy for its schema, which the
// `unreachable_pub` lint reports; the public types themselves are re-exported by `crd`.
#![allow(unreachable_pub)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, Limits, PodSecurity, Quota, Usage};

/// What a tenant may use and how its namespaces are set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Totals across all the tenant's namespaces.
    #[serde(default)]
    pub quota: Quota,
    /// Container defaults in every namespace of the tenant, unless a project sets its own.
    #[serde(default)]
    pub limits: Limits,
    /// IngressClasses the tenant may use (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress_classes: Vec<String>,
    /// StorageClasses the tenant may use (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_classes: Vec<String>,
}

/// A tenant.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubenova.io",
    version = "v1alpha1",
    kind = "Tenant",
    plural = "tenants",
    shortname = "kntenant",
    status = "TenantStatus",
    derive = "PartialEq",
    doc = "A KubeNova tenant: a Capsule Tenant with its owners, plan and defaults.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Namespaces", type_ = "integer", json_path = ".status.namespaceCount"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 40 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("a tenant name is a DNS label of at most 40 characters (room for -<project>)"),
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// People (token subjects) who may get tenantOwner kubeconfigs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// Quotas, limits and allowed classes.
    #[serde(default)]
    pub plan: Plan,
    /// The Pod Security level of new projects (`baseline` unless set).
    #[serde(default)]
    pub pod_security: PodSecurity,
    /// Refuse deletion while set.
    #[serde(default)]
    pub prevent_deletion: bool,
}

/// What the agent observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// `Ready` and the specific conditions behind it.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The tenant's namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// How many namespaces (for the printer column).
    #[serde(default)]
    pub namespace_count: i32,
    /// Quota use across the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}
