//! Capsule is real: its webhooks admit a tenant owner's namespace (and label it to the tenant)
//! and refuse the same request from an identity that owns no tenant.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::json;
use testenv::{TestEnv, unique_name};

use crate::support::{eventually, from_json};

fn create_tenant(env: &TestEnv, tenant: &str, group: &str) {
    env.create_capsule_tenant(tenant, group)
        .expect("tenant Ready");
}

async fn create_namespace_as(
    env: &TestEnv,
    user: &str,
    groups: &[&str],
    name: &str,
) -> Result<Namespace, kube::Error> {
    let client = env
        .impersonating(user, groups)
        .await
        .expect("impersonating client");
    let api: Api<Namespace> = Api::all(client);
    api.create(
        &PostParams::default(),
        &from_json(json!({ "metadata": { "name": name } })),
    )
    .await
}

#[tokio::test]
async fn a_tenant_owner_group_creates_a_namespace_that_capsule_labels_to_its_tenant() {
    let env = TestEnv::shared();
    let tenant = unique_name("owned");
    let owners = format!("{tenant}-owners");
    create_tenant(env, &tenant, &owners);

    // A tenant owner, as KubeNova's proxy presents it: the owner group plus Capsule's user group.
    let ns = format!("{tenant}-dev");
    let created = create_namespace_as(env, "alice", &[&owners, testenv::capsule::USER_GROUP], &ns)
        .await
        .expect("Capsule admits the owner's namespace");
    let labels = created.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get("capsule.clastix.io/tenant").map(String::as_str),
        Some(tenant.as_str()),
        "Capsule's mutating webhook labels the namespace to the tenant: {labels:?}"
    );
    let owned_by_tenant = created
        .metadata
        .owner_references
        .unwrap_or_default()
        .iter()
        .any(|r| r.kind == "Tenant" && r.name == tenant);
    assert!(owned_by_tenant, "the namespace is owned by its Tenant");

    // Capsule's RBAC makes the owner admin of the new namespace (its controller binds it
    // shortly after the namespace appears).
    let as_group = format!("--as-group={owners}");
    let args = [
        "auth",
        "can-i",
        "create",
        "deployments",
        "-n",
        ns.as_str(),
        "--as=alice",
        as_group.as_str(),
    ];
    eventually(
        "alice may create deployments in her namespace",
        Duration::from_secs(30),
        || {
            let answer = env.kubectl_run(&args, None);
            async move { answer.is_ok_and(|out| out.trim() == "yes") }
        },
    )
    .await;
}

#[tokio::test]
async fn capsule_refuses_a_namespace_to_an_identity_that_owns_no_tenant() {
    let env = TestEnv::shared();
    let tenant = unique_name("guarded");
    create_tenant(env, &tenant, &format!("{tenant}-owners"));

    // A Capsule user (RBAC lets the group create namespaces) that owns no tenant: the webhook
    // says no.
    let err = create_namespace_as(
        env,
        "mallory",
        &[testenv::capsule::USER_GROUP],
        &format!("{tenant}-x"),
    )
    .await
    .expect_err("Capsule must refuse");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status.message.contains("admission webhook") && status.message.contains("capsule"),
                "refused by Capsule's webhook, not by RBAC: {}",
                status.message
            );
        }
        other => panic!("unexpected error: {other}"),
    }

    // Someone who is not a Capsule user at all is stopped by RBAC before any webhook.
    let err = create_namespace_as(env, "eve", &["outsiders"], &format!("{tenant}-y"))
        .await
        .expect_err("RBAC must refuse");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err}"
    );

    // The refused namespaces do not exist.
    let admin = env.client().await.expect("admin client");
    let namespaces: Api<Namespace> = Api::all(admin);
    for name in [format!("{tenant}-x"), format!("{tenant}-y")] {
        assert!(
            namespaces.get_opt(&name).await.expect("get").is_none(),
            "{name} exists"
        );
    }
}
