//! Cluster-wide objects the agent installs once when it becomes leader:
//!
//! - the ClusterRole [`PROJECT_DEV_ROLE`], bound to each project's developers: it aggregates
//!   every rule labelled `aggregate-to-edit`, so it is exactly `edit` today and follows `edit`
//!   when CRDs add to it, while being KubeNova's own name to bind (and to narrow later);
//! - the ClusterRole [`DEPLOYER_ROLE`], bound to each project's deployer ServiceAccount (the
//!   identity KubeVela delivers apps as): `edit` (by aggregation) plus the FluxCD objects a
//!   `helm` app consists of, which `edit` does not cover ([`DELIVERY_RULES_ROLE`]);
//! - a ValidatingAdmissionPolicy and its binding that refuse to delete a Tenant whose
//!   `spec.preventDeletion` is true (the apiserver answers 403 with the reason; nothing is
//!   deleted and no finalizer runs);
//! - the tenant-namespace policies of ADR 0009: [`NAMESPACE_LABELS_POLICY`] lets nobody but the
//!   agent set or change the Pod Security labels and the `kubenova.io/*` labels and annotations
//!   of a tenant namespace (create included), and [`BASELINE_POLICY`] refuses every pod in a
//!   tenant namespace the agent has not yet marked with [`labels::BASELINE`] (its Pod Security
//!   labels, isolation NetworkPolicy and LimitRange are in place).

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kubenova_api::labels;
use serde_json::json;

use super::apply::FIELD_MANAGER;
use super::{OWNER_USER, Shared};

/// The edit-like ClusterRole KubeNova binds for project developers.
pub const PROJECT_DEV_ROLE: &str = "kubenova-project-dev";

/// The ClusterRole KubeNova binds for each project's deployer ServiceAccount.
pub const DEPLOYER_ROLE: &str = "kubenova-deployer";

/// The rules the deployer needs beyond `edit`, aggregated into [`DEPLOYER_ROLE`].
pub const DELIVERY_RULES_ROLE: &str = "kubenova-deployer-delivery";

/// The label that aggregates a ClusterRole into [`DEPLOYER_ROLE`].
const AGGREGATE_TO_DEPLOYER: &str = "kubenova.io/aggregate-to-deployer";

/// The name of the policy (and binding) that guards `preventDeletion`.
pub const PREVENT_DELETION_POLICY: &str = "kubenova-tenant-prevent-deletion";

/// The policy (and binding) that keeps a tenant namespace's Pod Security and KubeNova labels
/// the agent's alone.
pub const NAMESPACE_LABELS_POLICY: &str = "kubenova-tenant-namespace-labels";

/// The policy (and binding) that refuses pods in a tenant namespace without its baseline.
pub const BASELINE_POLICY: &str = "kubenova-tenant-namespace-baseline";

/// The MutatingAdmissionPolicy (and binding) that gives a namespace a tenant's owner creates
/// the strictest Pod Security level at birth.
pub const BIRTH_POD_SECURITY_POLICY: &str = "kubenova-tenant-namespace-pod-security";

/// The Pod Security level a namespace an owner creates has from its first moment, until the
/// agent sets the tenant's own (never weaker than any level a tenant can have).
pub const BIRTH_LEVEL: &str = "restricted";

/// The Pod Security labels at [`BIRTH_LEVEL`], as `key=value` entries.
fn birth_labels() -> Vec<String> {
    ["enforce", "warn", "audit"]
        .iter()
        .flat_map(|mode| {
            [
                format!("{}{mode}={BIRTH_LEVEL}", labels::POD_SECURITY_PREFIX),
                format!("{}{mode}-version=latest", labels::POD_SECURITY_PREFIX),
            ]
        })
        .collect()
}

/// The MutatingAdmissionPolicy that labels a namespace a tenant's owner (a Capsule user other
/// than the agent) creates with the Pod Security level [`BIRTH_LEVEL`], so that no version of
/// it is ever without one: Pod Security admission and the pod policy read the namespace at two
/// moments of one request, and whatever they see is at least as strict as the tenant's level.
pub(crate) fn birth_pod_security_policy(agents: &[String]) -> serde_json::Value {
    let labels: serde_json::Map<String, serde_json::Value> = birth_labels()
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (format!("'{k}'"), json!(format!("'{v}'"))))
        .collect();
    let map = labels
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": { "name": BIRTH_POD_SECURITY_POLICY, "labels": managed() },
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "matchConstraints": { "resourceRules": [{
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["namespaces"],
            }]},
            "matchConditions": [{
                "name": "a-tenant-owner",
                "expression": format!(
                    "'{}' in request.userInfo.groups && !(request.userInfo.username in [{}])",
                    kubenova_api::identity::CAPSULE_USER_GROUP,
                    quoted(agents)
                ),
            }],
            "mutations": [{
                "patchType": "ApplyConfiguration",
                "applyConfiguration": {
                    "expression": format!("Object{{metadata: Object.metadata{{labels: {{{map}}}}}}}"),
                },
            }],
        },
    })
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|a| format!("'{}'", a.replace(['\\', '\''], "")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CEL: whether the namespace `o` (an expression) is a tenant's: Capsule's tenant label, or
/// Capsule's owner reference to a Capsule Tenant (both set by Capsule's webhook at creation).
fn is_tenant_namespace(o: &str) -> String {
    format!(
        "({o} != null && ({} || \
         (has({o}.metadata.ownerReferences) && {o}.metadata.ownerReferences.exists(r, \
         r.kind == 'Tenant' && r.apiVersion.startsWith('capsule.clastix.io/')))))",
        has_tenant_label(o)
    )
}

/// CEL: whether the namespace `o` carries Capsule's tenant label. (A policy's `namespaceObject`
/// shows labels and annotations but not owner references, so the pod policy goes by the label;
/// the namespace policy keeps anyone but the agent from removing it.)
fn has_tenant_label(o: &str) -> String {
    format!(
        "(has({o}.metadata.labels) && '{label}' in {o}.metadata.labels)",
        label = labels::CAPSULE_TENANT
    )
}

/// CEL: the guarded entries (`key=value`) of the map `field` (`labels` or `annotations`) of `o`.
fn guarded(o: &str, field: &str) -> String {
    let key = if field == "labels" {
        format!(
            "k.startsWith('{}') || k.startsWith('kubenova.io/') || k == '{}'",
            labels::POD_SECURITY_PREFIX,
            labels::MANAGED_BY
        )
    } else {
        "k.startsWith('kubenova.io/')".to_owned()
    };
    format!(
        "{o} != null && has({o}.metadata.{field}) ? \
         {o}.metadata.{field}.filter(k, {key}).map(k, k + '=' + {o}.metadata.{field}[k]) : []"
    )
}

/// The ValidatingAdmissionPolicy that keeps the Pod Security and KubeNova labels (and
/// `kubenova.io/*` annotations) of every tenant namespace as the agent wrote them: on create
/// nobody else may set them, on update nobody else may add, change or remove one. `agents`
/// are the user names the agent writes as (its own, and the one it impersonates as the
/// tenant's owner).
pub(crate) fn namespace_labels_policy(agents: &[String]) -> serde_json::Value {
    let agents = quoted(agents);
    let birth = birth_labels()
        .iter()
        .map(|e| format!("'{e}'"))
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": NAMESPACE_LABELS_POLICY, "labels": managed() },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": { "resourceRules": [{
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["namespaces", "namespaces/status", "namespaces/finalize"],
            }]},
            "matchConditions": [{
                "name": "not-the-kubenova-agent",
                "expression": format!("!(request.userInfo.username in [{agents}])"),
            }],
            "variables": [
                { "name": "tenantNamespace", "expression": format!("{} || {}", is_tenant_namespace("object"), is_tenant_namespace("oldObject")) },
                { "name": "newLabels", "expression": guarded("object", "labels") },
                { "name": "oldLabels", "expression": guarded("oldObject", "labels") },
                { "name": "newAnnotations", "expression": guarded("object", "annotations") },
                { "name": "oldAnnotations", "expression": guarded("oldObject", "annotations") },
            ],
            "validations": [{
                "expression": format!(
                    "!(oldObject != null && {old}) || {new}",
                    old = has_tenant_label("oldObject"),
                    new = has_tenant_label("object"),
                ),
                "messageExpression": format!(
                    "'namespace ' + object.metadata.name + ' belongs to a tenant: its label {} stays'",
                    labels::CAPSULE_TENANT
                ),
                "reason": "Forbidden",
            }, {
                // On create only the labels of the birth policy may be there (it sets them).
                "expression": format!("!variables.tenantNamespace || (oldObject == null ? \
                    (variables.newLabels.all(e, e in [{birth}]) && size(variables.newAnnotations) == 0) : (\
                    size(variables.newLabels) == size(variables.oldLabels) && variables.newLabels.all(e, e in variables.oldLabels) && \
                    size(variables.newAnnotations) == size(variables.oldAnnotations) && variables.newAnnotations.all(e, e in variables.oldAnnotations)))"),
                "messageExpression": "'namespace ' + object.metadata.name + ' belongs to a tenant: its pod-security.kubernetes.io/* and kubenova.io/* labels and annotations are set by KubeNova only (changed here: ' + \
                    (variables.newLabels.filter(e, !(e in variables.oldLabels)) + variables.oldLabels.filter(e, !(e in variables.newLabels)) + \
                     variables.newAnnotations.filter(e, !(e in variables.oldAnnotations)) + variables.oldAnnotations.filter(e, !(e in variables.newAnnotations))).join(', ') + \
                    '); set the Pod Security level on the tenant or project through the KubeNova API instead'",
                "reason": "Forbidden",
            }],
        },
    })
}

/// The ValidatingAdmissionPolicy that refuses pods in a tenant namespace until the agent has
/// marked it with [`labels::BASELINE`] (written together with its Pod Security labels, after
/// its NetworkPolicy and LimitRange exist).
pub(crate) fn baseline_policy() -> serde_json::Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": BASELINE_POLICY, "labels": managed() },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": { "resourceRules": [{
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["pods"],
            }]},
            "validations": [{
                "expression": format!(
                    "!(namespaceObject != null && {}) || (has(namespaceObject.metadata.labels) && '{b}' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['{b}'] == '{v}')",
                    has_tenant_label("namespaceObject"),
                    b = labels::BASELINE,
                    v = labels::BASELINE_VALUE,
                ),
                "messageExpression": "'namespace ' + namespaceObject.metadata.name + ' does not have its KubeNova baseline yet (Pod Security labels, NetworkPolicy kubenova-isolation, LimitRange kubenova-limits); the agent applies it within seconds of the namespace being created: try again shortly'",
                "reason": "Forbidden",
            }],
        },
    })
}

/// The user names the agent writes as: its own (asked of the apiserver) and [`OWNER_USER`],
/// the one it impersonates as a tenant's owner.
async fn agent_user_names(shared: &Shared) -> Result<Vec<String>, kube::Error> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let api: Api<SelfSubjectReview> = Api::all(shared.client.clone());
    let review = api
        .create(&Default::default(), &SelfSubjectReview::default())
        .await?;
    let mut names = vec![OWNER_USER.to_owned()];
    if let Some(me) = review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        && me != OWNER_USER
    {
        names.push(me);
    }
    Ok(names)
}

fn managed() -> serde_json::Value {
    json!({ labels::MANAGED_BY: labels::MANAGED_BY_VALUE })
}

/// Applies the cluster-wide objects.
pub(crate) async fn ensure(shared: &Shared) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let roles: Api<ClusterRole> = Api::all(shared.client.clone());
    roles
        .patch(
            PROJECT_DEV_ROLE,
            &params,
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": { "name": PROJECT_DEV_ROLE, "labels": managed() },
                "aggregationRule": { "clusterRoleSelectors": [
                    { "matchLabels": { "rbac.authorization.k8s.io/aggregate-to-edit": "true" } }
                ]},
            })),
        )
        .await?;
    shared.metrics.write("apply", "ClusterRole");
    let mut delivery_labels = managed();
    delivery_labels[AGGREGATE_TO_DEPLOYER] = json!("true");
    roles
        .patch(
            DELIVERY_RULES_ROLE,
            &params,
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": { "name": DELIVERY_RULES_ROLE, "labels": delivery_labels },
                "rules": [
                    {
                        "apiGroups": ["helm.toolkit.fluxcd.io"],
                        "resources": ["helmreleases"],
                        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                    },
                    {
                        "apiGroups": ["source.toolkit.fluxcd.io"],
                        "resources": ["helmrepositories", "ocirepositories", "helmcharts"],
                        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                    },
                ],
            })),
        )
        .await?;
    roles
        .patch(
            DEPLOYER_ROLE,
            &params,
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": { "name": DEPLOYER_ROLE, "labels": managed() },
                "aggregationRule": { "clusterRoleSelectors": [
                    { "matchLabels": { "rbac.authorization.k8s.io/aggregate-to-edit": "true" } },
                    { "matchLabels": { AGGREGATE_TO_DEPLOYER: "true" } },
                ]},
            })),
        )
        .await?;
    shared.metrics.write("apply", "ClusterRole");
    shared.metrics.write("apply", "ClusterRole");
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(shared.client.clone());
    policies
        .patch(
            PREVENT_DELETION_POLICY,
            &params,
            &Patch::Apply(json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": { "name": PREVENT_DELETION_POLICY, "labels": managed() },
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": { "resourceRules": [{
                        "apiGroups": [kubenova_api::crd::GROUP],
                        "apiVersions": ["*"],
                        "operations": ["DELETE"],
                        "resources": ["tenants"],
                    }]},
                    "validations": [{
                        "expression": "!has(oldObject.spec.preventDeletion) || oldObject.spec.preventDeletion != true",
                        "message": "this tenant has spec.preventDeletion set; set it to false before deleting the tenant",
                        "reason": "Forbidden",
                    }],
                },
            })),
        )
        .await?;
    shared.metrics.write("apply", "ValidatingAdmissionPolicy");
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(shared.client.clone());
    bindings
        .patch(
            PREVENT_DELETION_POLICY,
            &params,
            &Patch::Apply(json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": { "name": PREVENT_DELETION_POLICY, "labels": managed() },
                "spec": {
                    "policyName": PREVENT_DELETION_POLICY,
                    "validationActions": ["Deny"],
                },
            })),
        )
        .await?;
    shared
        .metrics
        .write("apply", "ValidatingAdmissionPolicyBinding");
    let agents = agent_user_names(shared).await?;
    let mutating = |kind: &str, plural: &str| {
        Api::<kube::api::DynamicObject>::all_with(
            shared.client.clone(),
            &kube::api::ApiResource::from_gvk_with_plural(
                &kube::api::GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind),
                plural,
            ),
        )
    };
    let birth = mutating("MutatingAdmissionPolicy", "mutatingadmissionpolicies")
        .patch(
            BIRTH_POD_SECURITY_POLICY,
            &params,
            &Patch::Apply(birth_pod_security_policy(&agents)),
        )
        .await;
    match birth {
        Ok(_) => {
            shared.metrics.write("apply", "MutatingAdmissionPolicy");
            mutating(
                "MutatingAdmissionPolicyBinding",
                "mutatingadmissionpolicybindings",
            )
            .patch(
                BIRTH_POD_SECURITY_POLICY,
                &params,
                &Patch::Apply(json!({
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "MutatingAdmissionPolicyBinding",
                    "metadata": { "name": BIRTH_POD_SECURITY_POLICY, "labels": managed() },
                    "spec": { "policyName": BIRTH_POD_SECURITY_POLICY },
                })),
            )
            .await?;
            shared
                .metrics
                .write("apply", "MutatingAdmissionPolicyBinding");
        }
        // Not served (Kubernetes before 1.36, or the API turned off): the pod policy and the
        // agent still hold; see docs/security.md for what is weaker then.
        Err(kube::Error::Api(s)) if s.code == 404 => {
            tracing::warn!(
                "MutatingAdmissionPolicy is not served by this cluster: namespaces owners create have no Pod Security level until the agent sets it (pods are refused until then)"
            );
        }
        Err(e) => return Err(e),
    }
    for (name, policy) in [
        (NAMESPACE_LABELS_POLICY, namespace_labels_policy(&agents)),
        (BASELINE_POLICY, baseline_policy()),
    ] {
        policies.patch(name, &params, &Patch::Apply(policy)).await?;
        shared.metrics.write("apply", "ValidatingAdmissionPolicy");
        bindings
            .patch(
                name,
                &params,
                &Patch::Apply(json!({
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicyBinding",
                    "metadata": { "name": name, "labels": managed() },
                    "spec": { "policyName": name, "validationActions": ["Deny"] },
                })),
            )
            .await?;
        shared
            .metrics
            .write("apply", "ValidatingAdmissionPolicyBinding");
    }
    Ok(())
}
