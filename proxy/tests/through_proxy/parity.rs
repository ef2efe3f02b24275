//! Parity between the modes (issue 14 item 4, docs/proxy.md "What a tenant sees in each mode"):
//! what a tenant owner sees of the cluster-scoped kinds capsule-proxy filters, when its Tenant
//! grants them. The defaults (nothing granted) are cells of the isolation matrix (`matrix`);
//! this test sets the Tenant's rules and shows that capsule-proxy mode follows them while
//! direct mode refuses, and that namespace lists agree.

use std::time::Duration;

use kubenova_api::Role;
use serde_json::json;
use testenv::proxy::ProxyMode;

use super::MODE;
use super::harness::{claims, harness, kubeconfig, kubectl, tenant_with_projects};

fn names(out: &str) -> Vec<String> {
    let mut names: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
    names.sort();
    names
}

/// A Tenant that lets its owners list StorageClasses (the owner's `proxySettings`), allows one
/// of two StorageClasses by label, and selects no node: through capsule-proxy the owner lists exactly
/// the allowed class and no node; in direct mode both are refused by the proxy. Namespace lists
/// are the tenant's namespaces in both modes.
#[test]
fn a_tenants_rules_decide_cluster_scoped_lists_in_capsule_proxy_mode_only() {
    let t = testenv::unique_name("par");
    tenant_with_projects(&t, &["web", "api"]);
    let env = harness().env;
    let (allowed, other) = (format!("{t}-fast"), format!("{t}-slow"));
    for (sc, tier) in [(&allowed, "fast"), (&other, "slow")] {
        env.apply(
            &json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                    "metadata": {"name": sc, "labels": {"kubenova.test/tier": format!("{t}-{tier}")}},
                    "provisioner": "kubenova.test/none"})
            .to_string(),
        )
        .expect("storage class");
    }
    let owners = kubenova_api::identity::tenant_owner_group(&t);
    env.apply(
        &json!({
            "apiVersion": "capsule.clastix.io/v1beta2", "kind": "Tenant",
            "metadata": {"name": t},
            "spec": {
                "owners": [{"kind": "Group", "name": owners,
                            "proxySettings": [{"kind": "StorageClasses", "operations": ["List"]}]}],
                // By label: capsule-proxy v0.14 turns `allowed` names into a selector on the
                // `kubernetes.io/metadata.name` label, which Kubernetes sets on namespaces only,
                // so named classes are never listed (docs/proxy.md).
                "storageClasses": {"matchLabels": {"kubenova.test/tier": format!("{t}-fast")}},
                "nodeSelector": {"kubenova.test/pool": "none"},
            },
        })
        .to_string(),
    )
    .expect("tenant rules");
    let owner = kubeconfig(&claims("petra", &[Role::TenantOwner], Some(&t), None));

    let namespaces = kubectl(&owner, &["get", "namespaces", "-o", "name"]).expect("namespaces");
    assert_eq!(
        names(&namespaces),
        vec![format!("namespace/{t}-api"), format!("namespace/{t}-web")]
    );

    let classes = || kubectl(&owner, &["get", "storageclasses", "-o", "name"]);
    let nodes = || kubectl(&owner, &["get", "nodes", "-o", "name"]);
    match MODE {
        ProxyMode::CapsuleProxy => {
            // capsule-proxy reads Tenants from its cache: the rules apply a moment later.
            let want = vec![format!("storageclass.storage.k8s.io/{allowed}")];
            let mut last = (classes(), nodes());
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !(last.0.as_ref().is_ok_and(|out| names(out) == want)
                && last.1.as_ref().is_ok_and(|out| out.trim().is_empty()))
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "capsule-proxy does not apply the Tenant's rules within 20 s: \
                     storage classes {:?}, nodes {:?}",
                    last.0,
                    last.1
                );
                std::thread::sleep(Duration::from_millis(200));
                last = (classes(), nodes());
            }
            // A get follows the same rules.
            kubectl(&owner, &["get", "storageclass", &allowed]).expect("the allowed class");
            let err = kubectl(&owner, &["get", "storageclass", &other]).expect_err("not allowed");
            assert!(err.contains("NotFound") || err.contains("not found"), "{err}");
            assert!(!err.contains("KN-"), "{err}");
        }
        ProxyMode::Direct => {
            for out in [classes(), nodes()] {
                let err = out.expect_err("refused in direct mode");
                assert!(err.contains("KN-403"), "{err}");
            }
        }
    }
    env.kubectl_run(
        &[
            "delete",
            &format!("storageclass/{allowed}"),
            &format!("storageclass/{other}"),
        ],
        None,
    )
    .expect("cleaned up");
}
