//! Tenants: the Capsule Tenant and TenantOwner, updates, readOnly access, deletion.

use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, DynamicObject};
use kubenova_agent::names;
use kubenova_api::crd::{Project, Tenant};
use kubenova_api::identity;
use serde_json::json;
use testenv::unique_name;

use crate::common::*;

fn capsule_api(client: kube::Client, plural: &str, kind: &str) -> Api<DynamicObject> {
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", kind),
        plural,
    );
    Api::all_with(client, &ar)
}

#[tokio::test]
async fn a_tenant_becomes_a_capsule_tenant_owned_by_its_group_and_follows_updates() {
    let t = unique_name("ten");
    apply(tenant(
        &t,
        json!({"plan": {
            "quota": {"cpu": "2", "memory": "2Gi", "pods": 6, "namespaces": 3},
            "ingressClasses": ["nginx"], "storageClasses": ["fast"],
        }}),
    ));
    let ready = tenant_ready(&t).await;
    let status = ready.status.expect("status");
    for c in [
        "TenantOwnerReady",
        "CapsuleTenantReady",
        "QuotaReady",
        "Ready",
    ] {
        assert!(
            status
                .conditions
                .iter()
                .any(|x| x.type_ == c && x.status == "True"),
            "{c} in {:?}",
            status.conditions
        );
    }
    assert_eq!(status.observed_generation, ready.metadata.generation);
    let usage = status.usage.expect("usage from the GlobalResourceQuota");
    assert_eq!(usage.hard.get("pods").map(String::as_str), Some("6"));

    let client = client().await;
    let capsule = capsule_api(client.clone(), "tenants", "Tenant")
        .get(&t)
        .await
        .expect("Capsule Tenant");
    let spec = &capsule.data["spec"];
    assert_eq!(spec["forceTenantPrefix"], true);
    assert_eq!(spec["namespaceOptions"]["quota"], 3);
    assert_eq!(
        spec["ingressOptions"]["allowedClasses"]["allowed"],
        json!(["nginx"])
    );
    assert_eq!(spec["storageClasses"]["allowed"], json!(["fast"]));
    assert_eq!(spec["rules"][0]["quota"][0]["hard"]["requests.cpu"], "2");
    assert!(spec.get("resourceQuotas").is_none_or(|v| {
        v.as_object()
            .is_none_or(|m| m.is_empty() || m.get("items").is_none())
    }));
    let owners = capsule.data["status"]["owners"].to_string();
    assert!(
        owners.contains(&identity::tenant_owner_group(&t)),
        "{owners}"
    );
    let owner = capsule_api(client.clone(), "tenantowners", "TenantOwner")
        .get(&names::tenant_owner_name(&t))
        .await
        .expect("TenantOwner");
    assert_eq!(owner.data["spec"]["kind"], "Group");
    assert_eq!(owner.data["spec"]["aggregate"], true);
    // Capsule now treats the owner group as one of its users.
    let config = capsule_api(
        client.clone(),
        "capsuleconfigurations",
        "CapsuleConfiguration",
    )
    .get("default")
    .await
    .expect("CapsuleConfiguration");
    assert!(
        config.data["status"]["users"]
            .to_string()
            .contains(&identity::tenant_owner_group(&t)),
        "{}",
        config.data["status"]
    );

    // An update of the plan reaches Capsule.
    apply(tenant(
        &t,
        json!({"plan": {"quota": {"cpu": "2", "memory": "2Gi", "pods": 6, "namespaces": 5}}}),
    ));
    let capsule_tenants = capsule_api(client.clone(), "tenants", "Tenant");
    wait_for(
        "namespace quota 5 and no classes",
        Duration::from_secs(10),
        || {
            let (api, t) = (capsule_tenants.clone(), t.clone());
            async move {
                let c = api.get(&t).await.ok()?;
                (c.data["spec"]["namespaceOptions"]["quota"] == 5
                    && c.data["spec"]
                        .get("ingressOptions")
                        .is_none_or(|o| o.get("allowedClasses").is_none()))
                .then_some(())
            }
        },
    )
    .await;

    // Deleting the tenant removes its projects, their namespaces, the Capsule Tenant and owner.
    apply(project(&t, "web", json!({})));
    project_ready(&format!("{t}.web")).await;
    let tenants: Api<Tenant> = Api::all(client.clone());
    tenants
        .delete(&t, &DeleteParams::default())
        .await
        .expect("delete");
    gone(&tenants, &t, Duration::from_secs(90)).await;
    let projects: Api<Project> = Api::all(client.clone());
    assert!(
        projects
            .get_opt(&format!("{t}.web"))
            .await
            .expect("get")
            .is_none()
    );
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    assert!(
        namespaces
            .get_opt(&format!("{t}-web"))
            .await
            .expect("get")
            .is_none()
    );
    assert!(capsule_tenants.get_opt(&t).await.expect("get").is_none());
    assert!(
        capsule_api(client, "tenantowners", "TenantOwner")
            .get_opt(&names::tenant_owner_name(&t))
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test]
async fn a_tenant_with_prevent_deletion_is_refused_until_the_flag_is_cleared() {
    let t = unique_name("keep");
    apply(tenant(&t, json!({"preventDeletion": true})));
    tenant_ready(&t).await;
    let err = env()
        .kubectl_run(&["delete", "kntenant", &t, "--wait=false"], None)
        .expect_err("refused");
    assert!(err.to_string().contains("preventDeletion"), "{err}");
    let client = client().await;
    let tenants: Api<Tenant> = Api::all(client.clone());
    assert!(
        tenants
            .get(&t)
            .await
            .expect("still there")
            .metadata
            .deletion_timestamp
            .is_none()
    );
    // The Capsule Tenant is protected too: deleting it would garbage-collect the namespaces.
    let err = env()
        .kubectl_run(
            &["delete", "tenants.capsule.clastix.io", &t, "--wait=false"],
            None,
        )
        .expect_err("Capsule refuses");
    assert!(err.to_string().contains("protected"), "{err}");

    apply(tenant(&t, json!({"preventDeletion": false})));
    tenants
        .delete(&t, &DeleteParams::default())
        .await
        .expect("delete");
    gone(&tenants, &t, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn tenant_readers_can_view_every_tenant_namespace_including_ones_the_owner_makes() {
    let t = unique_name("view");
    apply(tenant(&t, json!({})));
    tenant_ready(&t).await;
    apply(project(&t, "web", json!({})));
    project_ready(&format!("{t}.web")).await;

    let owner_group = identity::tenant_owner_group(&t);
    let owner: &[&str] = &[&owner_group, identity::CAPSULE_USER_GROUP];
    let extra = format!("{t}-extra");
    kubectl_as("kubenova:olivia", owner, &["create", "namespace", &extra])
        .expect("the owner creates a namespace");
    let view_group = identity::tenant_view_group(&t);
    for ns in [format!("{t}-web"), extra.clone()] {
        wait_for(&format!("view in {ns}"), Duration::from_secs(15), || {
            let (ns, g) = (ns.clone(), view_group.clone());
            async move { can_i("kubenova:rita", &[&g], "list", "pods", &ns).then_some(()) }
        })
        .await;
        assert!(
            !can_i("kubenova:rita", &[&view_group], "create", "pods", &ns),
            "readers cannot write in {ns}"
        );
    }
    // The owner has admin in the project namespace too; readers of another tenant have nothing.
    assert!(can_i(
        "kubenova:olivia",
        owner,
        "create",
        "deployments",
        &format!("{t}-web")
    ));
    assert!(!can_i(
        "kubenova:rita",
        &[&identity::tenant_view_group("other")],
        "list",
        "pods",
        &extra
    ));
    // The owner-made namespace is counted in the tenant's status.
    let tenants: Api<Tenant> = Api::all(client().await);
    wait_for(
        "two namespaces in the status",
        Duration::from_secs(15),
        || {
            let (api, t, extra) = (tenants.clone(), t.clone(), extra.clone());
            async move {
                let s = api.get(&t).await.ok()?.status?;
                (s.namespaces.contains(&extra) && s.namespace_count == 2).then_some(())
            }
        },
    )
    .await;
    tenants
        .delete(&t, &DeleteParams::default())
        .await
        .expect("delete");
    gone(&tenants, &t, Duration::from_secs(90)).await;
}
