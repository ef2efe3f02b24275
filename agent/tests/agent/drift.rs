//! Drift: what someone deletes or edits is restored within 5 s, with an Event saying what.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kubenova_agent::names;
use kubenova_api::crd::Tenant;
use kubenova_api::labels;
use serde_json::json;
use testenv::unique_name;

use crate::common::*;

const HEAL_WITHIN: Duration = Duration::from_secs(5);

/// Waits for `check` and returns how long the heal took from `since`.
async fn healed<F, Fut>(what: &str, since: Instant, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<()>>,
{
    wait_for(what, HEAL_WITHIN, check).await;
    let took = since.elapsed();
    eprintln!("healed {what} in {took:?}");
    took
}

async fn event_mentions(name: &str, text: &str) {
    wait_for(
        &format!("a Healed event on {name} naming {text}"),
        Duration::from_secs(5),
        || async {
            events_for(name)
                .await
                .iter()
                .any(|(reason, note)| reason == "Healed" && note.contains(text))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn deleted_or_edited_objects_are_restored_within_five_seconds_with_an_event() {
    let t = unique_name("drift");
    apply(tenant(
        &t,
        json!({"plan": {"quota": {"pods": 10, "namespaces": 4}}}),
    ));
    tenant_ready(&t).await;
    let name = format!("{t}.web");
    apply(project(&t, "web", json!({})));
    project_ready(&name).await;
    // Let the status settle so the agent knows the objects were right before.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ns = format!("{t}-web");
    let client = client().await;
    let mut worst = Duration::ZERO;

    // A deleted RoleBinding.
    let rbs = Api::<RoleBinding>::namespaced(client.clone(), &ns);
    let since = Instant::now();
    rbs.delete(names::DEV_BINDING, &DeleteParams::default())
        .await
        .expect("delete rb");
    worst = worst.max(
        healed("RoleBinding recreated", since, || {
            let rbs = rbs.clone();
            async move { rbs.get_opt(names::DEV_BINDING).await.ok()?.map(|_| ()) }
        })
        .await,
    );
    event_mentions(&name, names::DEV_BINDING).await;

    // An edited RoleBinding (a subject added by hand).
    let since = Instant::now();
    env()
        .kubectl_run(
            &["-n", &ns, "patch", "rolebinding", names::VIEW_BINDING, "--type=json", "-p",
              r#"[{"op":"add","path":"/subjects/-","value":{"kind":"User","name":"mallory","apiGroup":"rbac.authorization.k8s.io"}}]"#],
            None,
        )
        .expect("patch rb");
    worst =
        worst.max(
            healed("RoleBinding subjects restored", since, || {
                let rbs = rbs.clone();
                async move {
                    (rbs.get(names::VIEW_BINDING).await.ok()?.subjects?.len() == 1).then_some(())
                }
            })
            .await,
        );
    event_mentions(&name, names::VIEW_BINDING).await;

    // An edited NetworkPolicy (opened to everyone).
    let nps = Api::<NetworkPolicy>::namespaced(client.clone(), &ns);
    let since = Instant::now();
    nps.patch(
        names::NETWORK_POLICY,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"ingress": [{}]}})),
    )
    .await
    .expect("patch np");
    worst = worst.max(
        healed("NetworkPolicy restored", since, || {
            let nps = nps.clone();
            async move {
                let spec =
                    serde_json::to_value(nps.get(names::NETWORK_POLICY).await.ok()?.spec?).ok()?;
                (spec["ingress"][0].get("from").is_some()).then_some(())
            }
        })
        .await,
    );
    event_mentions(&name, names::NETWORK_POLICY).await;

    // A deleted ResourceQuota.
    let rqs = Api::<ResourceQuota>::namespaced(client.clone(), &ns);
    let since = Instant::now();
    rqs.delete(names::QUOTA, &DeleteParams::default())
        .await
        .expect("delete rq");
    worst = worst.max(
        healed("ResourceQuota recreated", since, || {
            let rqs = rqs.clone();
            async move { rqs.get_opt(names::QUOTA).await.ok()?.map(|_| ()) }
        })
        .await,
    );
    event_mentions(&name, names::QUOTA).await;

    // An edited LimitRange.
    let lrs = Api::<LimitRange>::namespaced(client.clone(), &ns);
    let since = Instant::now();
    lrs.patch(
        names::LIMITS,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"limits": [{"type": "Pod", "max": {"cpu": "1"}}]}})),
    )
    .await
    .expect("patch lr");
    worst = worst.max(
        healed("LimitRange restored", since, || {
            let lrs = lrs.clone();
            async move {
                (lrs.get(names::LIMITS).await.ok()?.spec?.limits[0].type_ == "Container")
                    .then_some(())
            }
        })
        .await,
    );
    event_mentions(&name, names::LIMITS).await;

    // A namespace label removed with kubectl: since ADR 0009 not a drift to heal but a change
    // the apiserver refuses (the namespace policy), even to a cluster admin; the label stays.
    let namespaces = Api::<Namespace>::all(client.clone());
    let refused = env()
        .kubectl_run(
            &[
                "label",
                "namespace",
                &ns,
                "pod-security.kubernetes.io/enforce-",
            ],
            None,
        )
        .expect_err("the Pod Security label of a tenant namespace is the agent's");
    assert!(
        refused.to_string().contains("set by KubeNova only"),
        "{refused}"
    );
    let l = namespaces
        .get(&ns)
        .await
        .expect("ns")
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        l.get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("baseline")
    );
    assert_eq!(l.get(labels::PROJECT).map(String::as_str), Some("web"));

    // An edited Capsule Tenant (namespace limit raised, prefix rule dropped).
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", "Tenant"),
        "tenants",
    );
    let capsule: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let since = Instant::now();
    capsule
        .patch(
            &t,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"forceTenantPrefix": false, "namespaceOptions": {"quota": 100}}}),
            ),
        )
        .await
        .expect("patch capsule tenant");
    worst = worst.max(
        healed("Capsule Tenant restored", since, || {
            let capsule = capsule.clone();
            let t = t.clone();
            async move {
                let c = capsule.get(&t).await.ok()?;
                (c.data["spec"]["forceTenantPrefix"] == true
                    && c.data["spec"]["namespaceOptions"]["quota"] == 4)
                    .then_some(())
            }
        })
        .await,
    );
    event_mentions(&t, "Tenant (Capsule)").await;

    eprintln!("slowest heal: {worst:?}");
    assert!(
        metrics_text()
            .contains("kubenova_agent_heals_total{controller=\"project\",kind=\"RoleBinding\"}")
    );

    let tenants: Api<Tenant> = Api::all(client);
    tenants
        .delete(&t, &DeleteParams::default())
        .await
        .expect("delete");
    gone(&tenants, &t, Duration::from_secs(90)).await;
}
