//! The deployer's credentials stay out of tenants' hands (issue 12, ADR 0011).
//!
//! Every project has a ServiceAccount `kubenova-deployer` that KubeVela applies apps as and
//! helm-controller installs charts as; it may write Flux objects and everything `edit` covers in
//! its namespace. Developers get an `edit`-like role, and `edit` lets its holders create tokens for
//! any ServiceAccount of the namespace (`serviceaccounts/token`), run pods as any of them, and make
//! legacy token Secrets for them. Used on the deployer, each of those hands the developer the
//! deployer's identity. A ValidatingAdmissionPolicy refuses all three for `kubenova-deployer`, in
//! every namespace, to everyone but the cluster's administrators (`system:masters`): nothing
//! legitimately needs a token of the deployer, since Vela and helm-controller impersonate it.

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::Api;
use kube::api::{Patch, PatchParams};
use kubenova_api::labels;
use serde_json::{Value, json};

use super::Shared;
use super::apply::FIELD_MANAGER;
use super::project::names::DEPLOYER;

/// The name of the policy (and binding) that guards the deployer's credentials.
pub const DEPLOYER_CREDENTIALS_POLICY: &str = "kubenova-deployer-credentials";

/// The policy: token requests for, pods running as, and token Secrets of `kubenova-deployer`
/// are refused (403, with the message below) unless the requester is in `system:masters`.
pub(crate) fn policy() -> Value {
    let message = format!(
        "{DEPLOYER} is the identity KubeNova delivers apps as: no token of it is handed out and nothing runs as it; use a ServiceAccount of your own"
    );
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": DEPLOYER_CREDENTIALS_POLICY,
            "labels": { labels::MANAGED_BY: labels::MANAGED_BY_VALUE },
        },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": { "resourceRules": [
                {
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                    "resources": ["serviceaccounts/token", "pods"],
                },
                {
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                    "resources": ["secrets"],
                },
            ]},
            "variables": [
                { "name": "admin", "expression": "'system:masters' in request.userInfo.groups" },
                { "name": "deployer", "expression": format!("'{DEPLOYER}'") },
            ],
            "validations": [
                {
                    "expression": "variables.admin || request.resource.resource != 'serviceaccounts' || request.name != variables.deployer",
                    "message": message,
                    "reason": "Forbidden",
                },
                {
                    "expression": "variables.admin || request.resource.resource != 'pods' || ((!has(object.spec.serviceAccountName) || object.spec.serviceAccountName != variables.deployer) && (!has(object.spec.serviceAccount) || object.spec.serviceAccount != variables.deployer))",
                    "message": message,
                    "reason": "Forbidden",
                },
                {
                    "expression": "variables.admin || request.resource.resource != 'secrets' || !has(object.type) || object.type != 'kubernetes.io/service-account-token' || !has(object.metadata.annotations) || !('kubernetes.io/service-account.name' in object.metadata.annotations) || object.metadata.annotations['kubernetes.io/service-account.name'] != variables.deployer",
                    "message": message,
                    "reason": "Forbidden",
                },
            ],
        },
    })
}

/// Applies the policy and its binding.
pub(crate) async fn ensure(shared: &Shared) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(shared.client.clone());
    policies
        .patch(
            DEPLOYER_CREDENTIALS_POLICY,
            &params,
            &Patch::Apply(policy()),
        )
        .await?;
    shared.metrics.write("apply", "ValidatingAdmissionPolicy");
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(shared.client.clone());
    bindings
        .patch(
            DEPLOYER_CREDENTIALS_POLICY,
            &params,
            &Patch::Apply(json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {
                    "name": DEPLOYER_CREDENTIALS_POLICY,
                    "labels": { labels::MANAGED_BY: labels::MANAGED_BY_VALUE },
                },
                "spec": {
                    "policyName": DEPLOYER_CREDENTIALS_POLICY,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_matches_token_requests_pods_and_token_secrets_and_names_the_deployer() {
        let p = policy();
        let rules = p["spec"]["matchConstraints"]["resourceRules"].to_string();
        for r in ["serviceaccounts/token", "pods", "secrets"] {
            assert!(rules.contains(r), "{rules}");
        }
        assert_eq!(
            p["spec"]["variables"][1]["expression"],
            "'kubenova-deployer'"
        );
        let validations = p["spec"]["validations"].as_array().expect("validations");
        assert_eq!(validations.len(), 3);
        assert!(validations.iter().all(|v| {
            v["expression"]
                .as_str()
                .is_some_and(|e| e.starts_with("variables.admin ||"))
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("kubenova-deployer"))
        }));
    }
}
