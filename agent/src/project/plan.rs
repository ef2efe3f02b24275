//! A project's plan: the objects it wants, from its spec and its tenant's, without a cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Resource, ResourceExt as _};
use kubenova_api::crd::{Isolation, Limits, NetworkPolicySettings, Project, Quota, Tenant};
use kubenova_api::names::project_namespace;
use kubenova_api::{identity, labels, metadata};
use serde_json::{Value, json};

use super::names;
use crate::cluster::{DEPLOYER_ROLE, PROJECT_DEV_ROLE};
use crate::managed_labels;

/// The quota a project gets: its own, else the tenant plan's (without the namespace count).
pub(crate) fn quota_hard(project: &Project, tenant: &Tenant) -> BTreeMap<String, String> {
    hard(
        project
            .spec
            .quota
            .as_ref()
            .unwrap_or(&tenant.spec.plan.quota),
    )
}

/// A quota's `hard` map for a ResourceQuota or a Capsule quota rule (the namespace count is
/// Capsule's own, not in it).
pub(crate) fn hard(q: &Quota) -> BTreeMap<String, String> {
    let mut hard = BTreeMap::new();
    if let Some(cpu) = &q.cpu {
        hard.insert("requests.cpu".to_owned(), cpu.clone());
    }
    if let Some(memory) = &q.memory {
        hard.insert("requests.memory".to_owned(), memory.clone());
    }
    if let Some(storage) = &q.storage {
        hard.insert("requests.storage".to_owned(), storage.clone());
    }
    if let Some(pods) = q.pods {
        hard.insert("pods".to_owned(), pods.to_string());
    }
    hard
}

pub(crate) fn limit_item(limits: &Limits) -> Value {
    let mut item = json!({ "type": "Container" });
    let mut default = serde_json::Map::new();
    let mut request = serde_json::Map::new();
    if let Some(v) = &limits.default_cpu_limit {
        default.insert("cpu".into(), json!(v));
    }
    if let Some(v) = &limits.default_memory_limit {
        default.insert("memory".into(), json!(v));
    }
    if let Some(v) = &limits.default_cpu_request {
        request.insert("cpu".into(), json!(v));
    }
    if let Some(v) = &limits.default_memory_request {
        request.insert("memory".into(), json!(v));
    }
    if !default.is_empty() {
        item["default"] = Value::Object(default);
    }
    if !request.is_empty() {
        item["defaultRequest"] = Value::Object(request);
    }
    item
}

/// The `kubenova-isolation` NetworkPolicy's spec: deny everything but traffic with the tenant
/// (or only the project's own namespace), DNS, and what the tenant's settings allow.
pub(crate) fn isolation_spec(tenant: &str, settings: &NetworkPolicySettings) -> Value {
    let inside = match settings.isolation {
        // A bare podSelector selects pods of the policy's own namespace.
        Isolation::Project => json!({ "podSelector": {} }),
        Isolation::Tenant => {
            json!({ "namespaceSelector": { "matchLabels": { labels::CAPSULE_TENANT: tenant } } })
        }
    };
    let namespace = |name: &String| json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": name } } });
    let mut from = vec![inside.clone()];
    from.extend(settings.allow_from_namespaces.iter().map(namespace));
    let mut to = vec![inside];
    to.extend(settings.allow_to_namespaces.iter().map(namespace));
    to.extend(settings.allow_egress.iter().map(|b| {
        let mut block = json!({ "cidr": b.cidr });
        if !b.except.is_empty() {
            block["except"] = json!(b.except);
        }
        json!({ "ipBlock": block })
    }));
    json!({
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{ "from": from }],
        "egress": [
            { "to": to },
            {
                "to": [{
                    "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } },
                    "podSelector": { "matchLabels": { "k8s-app": "kube-dns" } },
                }],
                "ports": [
                    { "protocol": "UDP", "port": 53 },
                    { "protocol": "TCP", "port": 53 },
                ],
            },
        ],
    })
}

/// The kinds of object the agent makes in a project namespace (besides the namespace itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `v1` ResourceQuota.
    ResourceQuota,
    /// `v1` LimitRange.
    LimitRange,
    /// `networking.k8s.io/v1` NetworkPolicy.
    NetworkPolicy,
    /// `rbac.authorization.k8s.io/v1` RoleBinding.
    RoleBinding,
    /// `v1` ServiceAccount.
    ServiceAccount,
}

impl Kind {
    /// The kind's name, as in the manifest.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Kind::ResourceQuota => "ResourceQuota",
            Kind::LimitRange => "LimitRange",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::RoleBinding => "RoleBinding",
            Kind::ServiceAccount => "ServiceAccount",
        }
    }

    /// The kind's `apiVersion`.
    pub(crate) const fn api_version(self) -> &'static str {
        match self {
            Kind::ResourceQuota | Kind::LimitRange | Kind::ServiceAccount => "v1",
            Kind::NetworkPolicy => "networking.k8s.io/v1",
            Kind::RoleBinding => "rbac.authorization.k8s.io/v1",
        }
    }
}

/// One object of a project's plan: its kind, its name in the project namespace, its manifest.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Planned {
    /// What kind of object.
    pub(crate) kind: Kind,
    /// Its name (in the project's namespace).
    pub(crate) name: &'static str,
    /// The desired object, as JSON for server-side apply.
    pub(crate) manifest: Value,
}

/// Every object of the project except the namespace, in the order they are applied.
pub(crate) fn plan(project: &Project, tenant: &Tenant) -> Vec<Planned> {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let ns = project_namespace(t, p);
    let meta = |name: &str| {
        json!({
            "name": name,
            "namespace": ns,
            "labels": managed_labels(t, Some(p)),
            "ownerReferences": [{
                "apiVersion": Project::api_version(&()),
                "kind": Project::kind(&()),
                "name": project.name_any(),
                "uid": project.uid().unwrap_or_default(),
                "controller": true,
                "blockOwnerDeletion": false,
            }],
        })
    };
    let limits = project
        .spec
        .limits
        .as_ref()
        .unwrap_or(&tenant.spec.plan.limits);
    let group = |name: String| json!([{ "kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name }]);
    let planned = |kind: Kind, name: &'static str, mut body: Value| {
        body["apiVersion"] = json!(kind.api_version());
        body["kind"] = json!(kind.as_str());
        body["metadata"] = meta(name);
        Planned {
            kind,
            name,
            manifest: body,
        }
    };
    vec![
        planned(
            Kind::ResourceQuota,
            names::QUOTA,
            json!({ "spec": { "hard": quota_hard(project, tenant) } }),
        ),
        planned(
            Kind::LimitRange,
            names::LIMITS,
            json!({ "spec": { "limits": [limit_item(limits)] } }),
        ),
        planned(
            Kind::NetworkPolicy,
            names::NETWORK_POLICY,
            json!({ "spec": isolation_spec(t, &tenant.spec.network_policy) }),
        ),
        planned(
            Kind::RoleBinding,
            names::DEV_BINDING,
            json!({
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": PROJECT_DEV_ROLE },
                "subjects": group(identity::project_dev_group(t, p)),
            }),
        ),
        planned(
            Kind::RoleBinding,
            names::VIEW_BINDING,
            json!({
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
                "subjects": group(identity::project_view_group(t, p)),
            }),
        ),
        planned(
            Kind::ServiceAccount,
            names::DEPLOYER,
            // Nothing runs as the deployer (the agent's `kubenova-deployer-credentials` policy
            // refuses such pods and its tokens); no token is mounted either.
            json!({ "automountServiceAccountToken": false }),
        ),
        planned(
            Kind::RoleBinding,
            names::DEPLOYER,
            json!({
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DEPLOYER_ROLE },
                "subjects": [{ "kind": "ServiceAccount", "name": names::DEPLOYER, "namespace": ns }],
            }),
        ),
    ]
}

/// Every object of the project except the namespace, as (kind, desired JSON): [`plan`] for
/// benchmarks and tools that create the same objects directly.
pub fn desired_objects(project: &Project, tenant: &Tenant) -> Vec<(&'static str, Value)> {
    plan(project, tenant)
        .into_iter()
        .map(|p| (p.kind.as_str(), p.manifest))
        .collect()
}

/// The namespace of the project, complete (with [`labels::BASELINE`]). Capsule adds its owner
/// reference to the Capsule Tenant when the agent (acting as the tenant's owner) creates it.
pub fn desired_namespace(project: &Project, tenant: &Tenant) -> Value {
    namespace_manifest(project, tenant, true)
}

/// The namespace of the project; `baseline`: whether to mark it as having its baseline objects.
pub(crate) fn namespace_manifest(project: &Project, tenant: &Tenant, baseline: bool) -> Value {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let level = project
        .spec
        .pod_security
        .unwrap_or(tenant.spec.pod_security)
        .label();
    let mut l = managed_labels(t, Some(p));
    l[labels::CAPSULE_TENANT] = json!(t);
    pod_security_labels(&mut l, level);
    if baseline {
        l[labels::BASELINE] = json!(labels::BASELINE_VALUE);
    }
    // The project's own labels and annotations (ADR 0019), but none the tenant sets: Capsule
    // writes the tenant's on every namespace of the tenant, and they win.
    for (k, v) in metadata::usable_labels(&project.spec.labels) {
        if !tenant.spec.labels.contains_key(&k) {
            l[k] = json!(v);
        }
    }
    let mut meta = json!({ "name": project_namespace(t, p), "labels": l });
    let annotations: serde_json::Map<String, Value> =
        metadata::usable_annotations(&project.spec.annotations)
            .into_iter()
            .filter(|(k, _)| !tenant.spec.annotations.contains_key(k))
            .map(|(k, v)| (k, json!(v)))
            .collect();
    if !annotations.is_empty() {
        meta["annotations"] = Value::Object(annotations);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
    })
}

/// Sets the Pod Security labels (`enforce`, `warn`, `audit`, each at `latest`) to `level`.
pub(crate) fn pod_security_labels(l: &mut Value, level: &str) {
    for mode in ["enforce", "warn", "audit"] {
        l[format!("{}{mode}", labels::POD_SECURITY_PREFIX)] = json!(level);
        l[format!("{}{mode}-version", labels::POD_SECURITY_PREFIX)] = json!("latest");
    }
}

/// Whether `ns` carries the agent's baseline mark.
pub(crate) fn has_baseline(ns: &Namespace) -> bool {
    ns.labels().get(labels::BASELINE).map(String::as_str) == Some(labels::BASELINE_VALUE)
}

#[cfg(test)]
mod tests;
