//! `Tenant`: a team's or customer's area, made real as a Capsule Tenant with quotas and access.

// `KubeSchema` expands each struct into a private copy for its schema, which the
// `unreachable_pub` lint reports; the public types themselves are re-exported by `crd`.
#![allow(unreachable_pub)]

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, Limits, PodSecurity, Quota, Usage};
use crate::cidr::Cidr;

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
    /// The hosts the tenant's Ingresses may use, whatever the path (ADR 0015): exact
    /// (`shop.example.com`) or a wildcard (`*.shop.example.com`: every name below
    /// `shop.example.com`). No two tenants of a cluster hold overlapping claims; a tenant with
    /// none may use no host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(
            length(max = 253),
            pattern(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        )
    )]
    #[x_kube(validation = Rule::new("self.all(h, !h.startsWith('*.') || h.substring(2).contains('.'))").message("ingressHosts: a wildcard needs at least two labels after `*.` (`*.example.com`)"))]
    #[x_kube(validation = Rule::new("self.all(h, self.exists_one(o, o == h))").message("ingressHosts: each host once"))]
    pub ingress_hosts: Vec<String>,
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
    /// How the tenant's project namespaces are isolated on the network.
    #[serde(default)]
    pub network_policy: NetworkPolicySettings,
    /// Labels for every namespace of the tenant (Capsule writes them, also on namespaces its
    /// owners make with kubectl); keys as Kubernetes allows, none under a reserved prefix
    /// ([`crate::metadata::RESERVED_PREFIXES`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations for every namespace of the tenant, as `labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Who may talk to whom: what the agent writes into each project's `kubenova-isolation`
/// NetworkPolicy. Everything not allowed here is denied, in both directions; DNS to
/// `kube-system` is always allowed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicySettings {
    /// `tenant` (the default): pods may talk to every namespace of the tenant. `project`: only
    /// to their own project's namespace.
    #[serde(default)]
    pub isolation: Isolation,
    /// Namespaces outside the tenant whose pods may connect in (an ingress controller,
    /// monitoring).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))
    )]
    pub allow_from_namespaces: Vec<String>,
    /// Namespaces outside the tenant whose pods the tenant's pods may connect to (a shared
    /// database).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))
    )]
    pub allow_to_namespaces: Vec<String>,
    /// Address blocks the tenant's pods may connect to, e.g. `0.0.0.0/0` with the cluster's pod
    /// and service ranges in `except` to open the internet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub allow_egress: Vec<IpBlock>,
}

/// How far a project's pods may reach inside the tenant.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Isolation {
    /// Every namespace of the tenant.
    #[default]
    Tenant,
    /// Only the project's own namespace.
    Project,
}

/// A block of addresses, as a NetworkPolicy `ipBlock`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("!has(self.except) || self.except.all(e, isCIDR(e) && cidr(self.cidr).containsCIDR(e) && cidr(e).prefixLength() > cidr(self.cidr).prefixLength())").message("allowEgress: each `except` must be a CIDR strictly inside `cidr`"))]
pub struct IpBlock {
    /// The block, canonical (`10.0.0.0/8`, not `10.1.2.3/8`).
    #[x_kube(validation = Rule::new("isCIDR(self) && string(cidr(self).masked()) == self").message("allowEgress: cidr must be a canonical CIDR block such as 10.0.0.0/8"))]
    #[schemars(length(max = 43))]
    pub cidr: String,
    /// Blocks inside `cidr` that stay denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 43)))]
    pub except: Vec<String>,
}

impl NetworkPolicySettings {
    /// Checks what the CRD's rules check, naming the field: `Err((field, why))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (field, list) in [
            ("allowFromNamespaces", &self.allow_from_namespaces),
            ("allowToNamespaces", &self.allow_to_namespaces),
        ] {
            if list.len() > 64 {
                return Err((field.to_owned(), "at most 64 entries".to_owned()));
            }
            for (i, ns) in list.iter().enumerate() {
                crate::names::validate_dns1123_label(&format!("{field}[{i}]"), ns)
                    .map_err(|e| (format!("{field}[{i}]"), e.to_string()))?;
            }
        }
        if self.allow_egress.len() > 64 {
            return Err(("allowEgress".to_owned(), "at most 64 entries".to_owned()));
        }
        for (i, block) in self.allow_egress.iter().enumerate() {
            let outer =
                Cidr::parse(&block.cidr).map_err(|e| (format!("allowEgress[{i}].cidr"), e))?;
            if block.except.len() > 64 {
                return Err((
                    format!("allowEgress[{i}].except"),
                    "at most 64 entries".to_owned(),
                ));
            }
            for (j, e) in block.except.iter().enumerate() {
                let field = format!("allowEgress[{i}].except[{j}]");
                let inner = Cidr::parse(e).map_err(|e| (field.clone(), e))?;
                if !outer.strictly_contains(inner) {
                    return Err((
                        field,
                        format!("`{e}` is not strictly inside `{}`", block.cidr),
                    ));
                }
            }
        }
        Ok(())
    }
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
