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
//!   deleted and no finalizer runs).

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kubenova_api::labels;
use serde_json::json;

use super::Shared;
use super::apply::FIELD_MANAGER;

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
    Ok(())
}
