//! A tenant's plan: the Capsule objects it wants, and the baseline of a namespace its owners
//! made, from its spec alone.

use kube::{Resource, ResourceExt as _};
use kubenova_api::crd::Tenant;
use kubenova_api::{identity, labels, metadata};
use serde_json::{Value, json};

use super::{CAPSULE_NEW_TENANT_LABEL, QUOTA_RULE, tenant_owner_name};
use crate::managed_labels;
use crate::project::{hard, isolation_spec, limit_item, names, pod_security_labels};

/// The Capsule Tenant for `tenant`. `protect` sets Capsule's own `preventDeletion`: deleting the
/// Capsule Tenant would make the garbage collector delete every namespace of the tenant, so only
/// the agent's cleanup (which first clears the flag) may do it.
pub fn desired_capsule_tenant(tenant: &Tenant, protect: bool) -> Value {
    let name = tenant.name_any();
    let plan = &tenant.spec.plan;
    let mut spec = json!({
        "forceTenantPrefix": true,
        "preventDeletion": protect,
        "additionalRoleBindings": [{
            "clusterRoleName": "view",
            "subjects": [{
                "kind": "Group",
                "apiGroup": "rbac.authorization.k8s.io",
                "name": identity::tenant_view_group(&name),
            }],
        }],
    });
    if let Some(n) = plan.quota.namespaces {
        spec["namespaceOptions"] = json!({ "quota": n });
    }
    // The tenant's labels and annotations: Capsule writes them on every namespace of the
    // tenant, also those its owners make with kubectl (ADR 0019).
    let (l, a) = (
        metadata::usable_labels(&tenant.spec.labels),
        metadata::usable_annotations(&tenant.spec.annotations),
    );
    if !l.is_empty() || !a.is_empty() {
        spec["namespaceOptions"]["additionalMetadataList"] =
            json!([{ "labels": l, "annotations": a }]);
    }
    // An Ingress may not take a host and path another Ingress in any Capsule tenant already
    // uses (Capsule's admission webhook checks it, ADR 0009).
    spec["ingressOptions"] = json!({ "hostnameCollisionScope": "Cluster" });
    if !plan.ingress_classes.is_empty() {
        spec["ingressOptions"]["allowedClasses"] = json!({ "allowed": plan.ingress_classes });
    }
    if !plan.storage_classes.is_empty() {
        spec["storageClasses"] = json!({ "allowed": plan.storage_classes });
    }
    let hard = hard(&plan.quota);
    if !hard.is_empty() {
        spec["rules"] = json!([{ "quota": [{ "name": QUOTA_RULE, "hard": hard }] }]);
    }
    json!({
        "apiVersion": "capsule.clastix.io/v1beta2",
        "kind": "Tenant",
        "metadata": {
            "name": name,
            "labels": managed_labels(&name, None),
            "ownerReferences": [owner_reference(tenant)],
        },
        "spec": spec,
    })
}

/// The TenantOwner for `tenant`.
pub fn desired_owner(tenant: &Tenant) -> Value {
    let name = tenant.name_any();
    let mut labels = managed_labels(&name, None);
    labels[CAPSULE_NEW_TENANT_LABEL] = json!(name);
    json!({
        "apiVersion": "capsule.clastix.io/v1beta2",
        "kind": "TenantOwner",
        "metadata": {
            "name": tenant_owner_name(&name),
            "labels": labels,
            "ownerReferences": [owner_reference(tenant)],
        },
        "spec": {
            "kind": "Group",
            "name": identity::tenant_owner_group(&name),
            "clusterRoles": ["admin", "capsule-namespace-deleter"],
            "aggregate": true,
        },
    })
}

pub(crate) fn owner_reference(tenant: &Tenant) -> Value {
    json!({
        "apiVersion": Tenant::api_version(&()),
        "kind": Tenant::kind(&()),
        "name": tenant.name_any(),
        "uid": tenant.uid().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": false,
    })
}

/// The baseline of a namespace `ns` the tenant's owners made: the isolation NetworkPolicy and
/// the plan's LimitRange (applied first), then the namespace's Pod Security labels and the
/// baseline mark (applied in one write, as the tenant's owner).
pub(crate) struct NamespaceBaseline {
    /// The `kubenova-isolation` NetworkPolicy.
    pub(crate) policy: Value,
    /// The `kubenova-limits` LimitRange.
    pub(crate) limits: Value,
    /// The namespace with its labels.
    pub(crate) namespace: Value,
}

/// The baseline of the owner-made namespace `ns` of `tenant`.
pub(crate) fn namespace_baseline(tenant: &Tenant, ns: &str) -> NamespaceBaseline {
    let t = tenant.name_any();
    let meta = |name: &str| {
        json!({
            "name": name,
            "namespace": ns,
            "labels": managed_labels(&t, None),
            "ownerReferences": [owner_reference(tenant)],
        })
    };
    let mut l = json!({ labels::TENANT: t });
    pod_security_labels(&mut l, tenant.spec.pod_security.label());
    l[labels::BASELINE] = json!(labels::BASELINE_VALUE);
    NamespaceBaseline {
        policy: json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(names::NETWORK_POLICY),
            "spec": isolation_spec(&t, &tenant.spec.network_policy),
        }),
        limits: json!({
            "apiVersion": "v1", "kind": "LimitRange", "metadata": meta(names::LIMITS),
            "spec": { "limits": [limit_item(&tenant.spec.plan.limits)] },
        }),
        namespace: json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": ns, "labels": l },
        }),
    }
}

#[cfg(test)]
mod tests {
    use kubenova_api::crd::{Plan, Quota, TenantSpec};

    use super::*;

    fn tenant(plan: Plan) -> Tenant {
        let mut t = Tenant::new(
            "acme",
            TenantSpec {
                plan,
                ..TenantSpec::default()
            },
        );
        t.metadata.uid = Some("uid-1".into());
        t
    }

    #[test]
    fn the_tenants_labels_go_to_every_namespace_through_capsule() {
        let mut t = tenant(Plan::default());
        assert!(
            desired_capsule_tenant(&t, true)["spec"]
                .get("namespaceOptions")
                .is_none()
        );
        t.spec.labels = [
            ("team".to_owned(), "pay".to_owned()),
            // Written with kubectl past the API: never applied.
            (
                "pod-security.kubernetes.io/enforce".to_owned(),
                "privileged".to_owned(),
            ),
        ]
        .into();
        t.spec.annotations = [("example.com/owner".to_owned(), "Pay team".to_owned())].into();
        let spec = &desired_capsule_tenant(&t, true)["spec"];
        assert_eq!(
            spec["namespaceOptions"]["additionalMetadataList"],
            json!([{ "labels": {"team": "pay"}, "annotations": {"example.com/owner": "Pay team"} }])
        );
    }

    #[test]
    fn the_capsule_tenant_carries_prefix_view_access_and_the_plan() {
        let desired = desired_capsule_tenant(
            &tenant(Plan {
                quota: Quota {
                    cpu: Some("4".into()),
                    pods: Some(10),
                    namespaces: Some(3),
                    ..Quota::default()
                },
                ingress_classes: vec!["nginx".into()],
                ..Plan::default()
            }),
            true,
        );
        let spec = &desired["spec"];
        assert_eq!(spec["preventDeletion"], true);
        assert_eq!(spec["forceTenantPrefix"], true);
        assert_eq!(spec["namespaceOptions"]["quota"], 3);
        assert_eq!(
            spec["ingressOptions"]["allowedClasses"]["allowed"][0],
            "nginx"
        );
        assert!(spec.get("storageClasses").is_none());
        assert_eq!(spec["rules"][0]["quota"][0]["hard"]["requests.cpu"], "4");
        assert_eq!(spec["rules"][0]["quota"][0]["hard"]["pods"], "10");
        assert_eq!(
            spec["additionalRoleBindings"][0]["subjects"][0]["name"],
            "kubenova:tenant:acme:view"
        );
        assert!(
            spec.get("owners").is_none(),
            "owners come from the TenantOwner"
        );
        assert!(spec.get("resourceQuotas").is_none(), "deprecated in v0.14");
    }

    #[test]
    fn every_capsule_tenant_refuses_hosts_other_tenants_use() {
        let desired = desired_capsule_tenant(&tenant(Plan::default()), true);
        assert_eq!(
            desired["spec"]["ingressOptions"]["hostnameCollisionScope"],
            "Cluster"
        );
    }

    #[test]
    fn the_owner_is_the_owner_group_aggregated_as_a_capsule_user() {
        let desired = desired_owner(&tenant(Plan::default()));
        assert_eq!(desired["metadata"]["name"], "kubenova-acme-owner");
        assert_eq!(
            desired["metadata"]["labels"][CAPSULE_NEW_TENANT_LABEL],
            "acme"
        );
        assert_eq!(desired["spec"]["name"], "kubenova:tenant:acme:owner");
        assert_eq!(desired["spec"]["aggregate"], true);
    }

    #[test]
    fn an_owner_made_namespace_gets_the_tenants_level_isolation_limits_and_the_mark() {
        use kubenova_api::crd::{Limits, PodSecurity};
        let mut t = tenant(Plan {
            limits: Limits {
                default_cpu_request: Some("50m".into()),
                ..Limits::default()
            },
            ..Plan::default()
        });
        t.spec.pod_security = PodSecurity::Restricted;
        let b = namespace_baseline(&t, "acme-tools");
        assert_eq!(b.policy["metadata"]["namespace"], "acme-tools");
        assert_eq!(b.policy["metadata"]["name"], names::NETWORK_POLICY);
        assert_eq!(b.policy["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(
            b.limits["spec"]["limits"][0]["defaultRequest"]["cpu"],
            "50m"
        );
        let l = &b.namespace["metadata"]["labels"];
        assert_eq!(l["pod-security.kubernetes.io/enforce"], "restricted");
        assert_eq!(l[labels::BASELINE], labels::BASELINE_VALUE);
        assert_eq!(l[labels::TENANT], "acme");
        assert!(l.get(labels::PROJECT).is_none(), "not a project namespace");
    }
}
