//! A hostile tenant owner with the real kubectl through kubenova-proxy (issue 12, ADR 0009):
//! every namespace of a tenant carries the tenant's baseline before a pod can run in it, its Pod
//! Security and KubeNova labels are the agent's alone, ownership never follows labels, tenant
//! names cannot overlap, and a host one tenant uses is refused to another.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind};
use kube::{Api, ResourceExt as _};
use kubenova_agent::names;
use kubenova_api::crd::{Project, Tenant};
use kubenova_api::labels;
use serde_json::{Value, json};
use testenv::unique_name;

use crate::common::*;

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// The pod a hostile owner wants: privileged, on the host's network, with the host's root.
fn privileged_pod(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": name, "namespace": namespace},
    "spec": {
        "hostNetwork": true,
        "containers": [{"name": "c", "image": "registry.example/x:1",
                        "securityContext": {"privileged": true},
                        "volumeMounts": [{"name": "root", "mountPath": "/host"}]}],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
    }})
}

/// A pod that sets no resources (the LimitRange fills them in) and passes `baseline`.
fn plain_pod(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"containers": [{"name": "c", "image": "registry.example/x:1"}]}})
}

/// `kubectl create -f -` through the proxy.
fn create(kubeconfig: &Path, object: &Value) -> Result<String, String> {
    kubectl_with(kubeconfig, &["create", "-f", "-"], Some(object))
}

/// Whether an error says a namespace made a moment ago is not quite there yet for a pod: the
/// proxy's namespace view has not caught up, Capsule has not bound the owner's role in it yet
/// (RBAC), or the ServiceAccount controller has not made its `default` ServiceAccount yet
/// (checked by admission before any policy).
fn not_caught_up(error: &str) -> bool {
    error.contains("outside")
        || error.contains("has no namespaces yet")
        || error.contains("cannot create resource")
        || error.contains("error looking up service account")
}

/// Waits until namespace `ns` carries the agent's baseline: the mark, the Pod Security level,
/// the isolation NetworkPolicy and the LimitRange.
async fn baseline_in(ns: &str, level: &str) -> Namespace {
    let client = client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let limits: Api<LimitRange> = Api::namespaced(client, ns);
    wait_for(
        &format!("the baseline in {ns}"),
        Duration::from_secs(15),
        || {
            let (namespaces, policies, limits) =
                (namespaces.clone(), policies.clone(), limits.clone());
            async move {
                let n = namespaces.get(ns).await.ok()?;
                let l = n.labels();
                let marked = l.get(labels::BASELINE).map(String::as_str)
                    == Some(labels::BASELINE_VALUE)
                    && l.get(ENFORCE).map(String::as_str) == Some(level);
                (marked
                    && policies
                        .get_opt(names::NETWORK_POLICY)
                        .await
                        .ok()??
                        .spec
                        .is_some()
                    && limits.get_opt(names::LIMITS).await.ok()?.is_some())
                .then_some(n)
            }
        },
    )
    .await
}

async fn delete_tenants(names: &[&str]) {
    let tenants: Api<Tenant> = Api::all(client().await);
    for t in names {
        tenants
            .delete(t, &DeleteParams::default())
            .await
            .expect("delete tenant");
    }
    for t in names {
        gone(&tenants, t, Duration::from_secs(90)).await;
    }
}

/// Item 1: a namespace the owner makes with kubectl gets the tenant's baseline, and no pod runs
/// in it before (nor a privileged one after); it cannot be made pre-labelled `privileged`.
#[tokio::test]
async fn a_namespace_an_owner_makes_gets_the_tenants_baseline_before_any_pod_runs() {
    let t = unique_name("own");
    apply(tenant(
        &t,
        json!({"plan": {"quota": {"namespaces": 4},
                        "limits": {"defaultCpuRequest": "50m", "defaultMemoryRequest": "32Mi",
                                   "defaultCpuLimit": "100m", "defaultMemoryLimit": "64Mi"}}}),
    ));
    tenant_ready(&t).await;
    let alice = owner_kubeconfig(&t, "alice");

    // Made already "baselined": refused at admission.
    let err = create(
        &alice,
        &json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": format!("{t}-pre"), "labels": {labels::BASELINE: labels::BASELINE_VALUE}}}),
    )
    .expect_err("a tenant namespace made with a KubeNova-owned label is refused");
    assert!(err.contains("set by KubeNova only"), "{err}");
    // Made labelled privileged: born `restricted` all the same (the birth policy has the last
    // word on the label), then the tenant's level; never privileged.
    let namespaces: Api<Namespace> = Api::all(client().await);
    let level = |n: &Namespace| n.labels().get(ENFORCE).cloned().unwrap_or_default();
    let pre = format!("{t}-pre");
    create(
        &alice,
        &json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": pre, "labels": {ENFORCE: "privileged"}}}),
    )
    .expect("the namespace is made, at the birth level");
    let born = namespaces.get(&pre).await.expect("ns");
    assert!(
        ["restricted", "baseline"].contains(&level(&born).as_str()),
        "{:?}",
        born.labels()
    );
    baseline_in(&pre, "baseline").await;

    let ns = format!("{t}-scratch");
    kubectl_with(&alice, &["create", "namespace", &ns], None).expect("the owner makes a namespace");
    // Never without a level: `restricted` at birth, the tenant's once the agent has been.
    let born = namespaces.get(&ns).await.expect("ns");
    assert!(
        ["restricted", "baseline"].contains(&level(&born).as_str()),
        "{:?}",
        born.labels()
    );
    // At once: the privileged pod is refused, by the baseline gate (the agent has not been yet)
    // or by Pod Security (it has).
    let refusal = wait_for(
        "the privileged pod reaches the apiserver",
        Duration::from_secs(15),
        || {
            let r = create(&alice, &privileged_pod(&ns, "root"));
            async move {
                match r {
                    Err(e) if not_caught_up(&e) => None,
                    other => Some(other),
                }
            }
        },
    )
    .await
    .expect_err("a privileged pod is never admitted in a tenant namespace");
    assert!(
        refusal.contains("does not have its KubeNova baseline yet")
            || refusal.contains("violates PodSecurity"),
        "{refusal}"
    );

    let labelled = baseline_in(&ns, "baseline").await;
    assert_eq!(labelled.labels().get(labels::TENANT), Some(&t));
    let err = create(&alice, &privileged_pod(&ns, "root")).expect_err("refused by Pod Security");
    assert!(
        err.contains("violates PodSecurity \"baseline:latest\"")
            && err.contains("privileged")
            && err.contains("hostPath"),
        "{err}"
    );
    // An ordinary pod runs, with the plan's defaults.
    wait_for(
        "an ordinary pod is admitted",
        Duration::from_secs(10),
        || {
            let r = create(&alice, &plain_pod(&ns, "app"));
            async move { r.ok() }
        },
    )
    .await;
    let pod = Api::<Pod>::namespaced(client().await, &ns)
        .get("app")
        .await
        .expect("pod");
    let requests = pod.spec.expect("spec").containers[0]
        .resources
        .clone()
        .and_then(|r| r.requests)
        .unwrap_or_default();
    assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("50m"));
    // The isolation policy is the tenant's.
    let np = Api::<NetworkPolicy>::namespaced(client().await, &ns)
        .get(names::NETWORK_POLICY)
        .await
        .expect("np");
    let spec = serde_json::to_value(np.spec).expect("spec");
    assert_eq!(
        spec["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"][labels::CAPSULE_TENANT],
        json!(t)
    );

    // The gate itself: in a namespace the agent will never give a baseline (a Capsule tenant
    // KubeNova does not manage), no pod at all is admitted.
    let bare = unique_name("bare");
    let capsule = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", "Tenant"),
        "tenants",
    );
    apply(
        json!({"apiVersion": "capsule.clastix.io/v1beta2", "kind": "Tenant",
                 "metadata": {"name": bare},
                 "spec": {"owners": [{"kind": "User", "name": "kubenova:bare"}]}}),
    );
    let bare_ns = format!("{bare}-one");
    wait_for(
        "an owner of a Capsule-only tenant makes a namespace",
        Duration::from_secs(30),
        || {
            let r = kubectl_as(
                "kubenova:bare",
                &[kubenova_api::identity::CAPSULE_USER_GROUP],
                &["create", "namespace", &bare_ns],
            );
            async move { r.ok() }
        },
    )
    .await;
    let err = wait_for(
        "the pod reaches the policy",
        Duration::from_secs(15),
        || {
            // Born `restricted`: a pod that passes it, so that only the gate stands in its way.
            let mut pod = plain_pod(&bare_ns, "app");
            pod["spec"]["securityContext"] = json!({
                "runAsNonRoot": true, "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"}});
            pod["spec"]["containers"][0]["securityContext"] = json!({
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
            let r = create_as(None, &pod);
            async move {
                match r {
                    Err(e) if not_caught_up(&e) => None,
                    other => Some(other),
                }
            }
        },
    )
    .await
    .expect_err("no baseline, no pod");
    assert!(
        err.contains("does not have its KubeNova baseline yet"),
        "{err}"
    );
    env()
        .kubectl_run(&["delete", "namespace", &bare_ns, "--wait=false"], None)
        .expect("clean up");
    Api::<DynamicObject>::all_with(client().await, &capsule)
        .delete(&bare, &DeleteParams::default())
        .await
        .expect("delete the Capsule tenant");

    delete_tenants(&[&t]).await;
}

/// Items 2 and 3: an owner may neither set `privileged` on its namespaces (no race with the
/// agent: refused at admission) nor move them to another tenant or out of KubeNova's hands;
/// the agent follows Capsule's ownership, not labels, so what the owner deletes comes back.
#[tokio::test]
async fn owners_cannot_change_the_pod_security_or_kubenova_labels_of_their_namespaces() {
    let t = unique_name("relabel");
    apply(tenant(&t, json!({"plan": {"quota": {"namespaces": 4}}})));
    tenant_ready(&t).await;
    apply(project(&t, "web", json!({})));
    project_ready(&format!("{t}.web")).await;
    let alice = owner_kubeconfig(&t, "alice");
    let web = format!("{t}-web");
    let tools = format!("{t}-tools");
    kubectl_with(&alice, &["create", "namespace", &tools], None).expect("owner namespace");
    baseline_in(&tools, "baseline").await;
    baseline_in(&web, "baseline").await;

    for ns in [&web, &tools] {
        let attempts: Vec<Vec<String>> = vec![
            vec![
                "label".into(),
                format!("{ENFORCE}=privileged"),
                "--overwrite".into(),
            ],
            vec!["label".into(), format!("{ENFORCE}-")],
            vec![
                "label".into(),
                format!("{}=someone-else", labels::TENANT),
                "--overwrite".into(),
            ],
            vec!["label".into(), format!("{}-", labels::BASELINE)],
            vec![
                "label".into(),
                format!("{}=someone-else", labels::MANAGED_BY),
                "--overwrite".into(),
            ],
            vec![
                "annotate".into(),
                "kubenova.io/applied-hash=0".into(),
                "--overwrite".into(),
            ],
        ];
        // Five times over: a refusal at admission, not a race the agent wins now and then.
        for round in 0..5 {
            for attempt in &attempts {
                let mut args: Vec<&str> = vec![attempt[0].as_str(), "namespace", ns];
                args.extend(attempt[1..].iter().map(String::as_str));
                let err = kubectl_with(&alice, &args, None)
                    .expect_err("a KubeNova-owned label of a tenant namespace is refused");
                assert!(
                    err.contains("set by KubeNova only"),
                    "round {round}, {args:?}: {err}"
                );
            }
        }
        let n = Api::<Namespace>::all(client().await)
            .get(ns)
            .await
            .expect("ns");
        assert_eq!(
            n.labels().get(ENFORCE).map(String::as_str),
            Some("baseline")
        );
        assert_eq!(n.labels().get(labels::TENANT), Some(&t));
        // Labels outside KubeNova's stay the owner's.
        kubectl_with(&alice, &["label", "namespace", ns, "team=blue"], None)
            .expect("other labels are the owner's");
    }

    // The owner relabels the isolation policy as another project's and tenant's, then deletes
    // it: the agent finds it by its namespace and makes it again.
    for ns in [&web, &tools] {
        kubectl_with(
            &alice,
            &[
                "-n",
                ns,
                "label",
                "networkpolicy",
                names::NETWORK_POLICY,
                &format!("{}=zzz", labels::PROJECT),
                &format!("{}=someone-else", labels::TENANT),
                "--overwrite",
            ],
            None,
        )
        .expect("the owner is admin in the namespace");
        kubectl_with(
            &alice,
            &["-n", ns, "delete", "networkpolicy", names::NETWORK_POLICY],
            None,
        )
        .expect("the owner deletes the policy");
        let policies: Api<NetworkPolicy> = Api::namespaced(client().await, ns);
        let back = wait_for(
            &format!("the isolation policy in {ns} made again"),
            Duration::from_secs(10),
            || {
                let policies = policies.clone();
                async move { policies.get_opt(names::NETWORK_POLICY).await.ok()? }
            },
        )
        .await;
        assert_eq!(back.labels().get(labels::TENANT), Some(&t));
    }
    delete_tenants(&[&t]).await;
}

/// Item 4: tenants `a` and `a-x` cannot both exist (both would own `a-x-web`), and a project
/// whose namespace an owner made first reports it and never adopts it, even when the owner
/// made it wearing the project's labels.
#[tokio::test]
async fn overlapping_tenant_names_and_project_namespaces_taken_by_an_owner_are_refused() {
    let a = unique_name("ovl");
    let ax = format!("{a}-x");
    apply(tenant(&a, json!({"plan": {"quota": {"namespaces": 4}}})));
    tenant_ready(&a).await;
    apply(tenant(&ax, json!({})));
    let client = client().await;
    let tenants: Api<Tenant> = Api::all(client.clone());
    let refused = wait_for(
        "the younger tenant refused",
        Duration::from_secs(15),
        || {
            let (tenants, ax) = (tenants.clone(), ax.clone());
            async move {
                tenants
                    .get(&ax)
                    .await
                    .ok()?
                    .status?
                    .conditions
                    .into_iter()
                    .find(|c| {
                        c.type_ == "NameAvailable"
                            && c.status == "False"
                            && c.reason == "NameOverlaps"
                    })
            }
        },
    )
    .await;
    assert!(refused.message.contains(&a), "{}", refused.message);
    let capsule = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", "Tenant"),
        "tenants",
    );
    assert!(
        Api::<DynamicObject>::all_with(client.clone(), &capsule)
            .get_opt(&ax)
            .await
            .expect("get")
            .is_none(),
        "no Capsule Tenant for the overlapping name"
    );
    // The older tenant is untouched.
    tenant_ready(&a).await;

    // The owner of `a` takes `a-web` before project `web` exists, wearing its labels: refused.
    let alice = owner_kubeconfig(&a, "alice");
    let ns = format!("{a}-web");
    let forged = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
        labels::MANAGED_BY: labels::MANAGED_BY_VALUE, labels::TENANT: a, labels::PROJECT: "web"}}});
    let err = create(&alice, &forged).expect_err("forged KubeNova labels are refused");
    assert!(err.contains("set by KubeNova only"), "{err}");
    // Plainly: allowed (it is the tenant's own namespace), and the project says it is taken.
    kubectl_with(&alice, &["create", "namespace", &ns], None).expect("owner namespace");
    apply(project(&a, "web", json!({})));
    let projects: Api<Project> = Api::all(client.clone());
    let taken = wait_for("NamespaceConflict", Duration::from_secs(15), || {
        let (projects, name) = (projects.clone(), format!("{a}.web"));
        async move {
            projects
                .get(&name)
                .await
                .ok()?
                .status?
                .conditions
                .into_iter()
                .find(|c| {
                    c.type_ == "NamespaceReady"
                        && c.status == "False"
                        && c.reason == "NamespaceConflict"
                })
        }
    })
    .await;
    assert!(taken.message.contains(&ns), "{}", taken.message);
    // Never adopted: no project labels, no project RoleBindings.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = Api::<Namespace>::all(client.clone())
        .get(&ns)
        .await
        .expect("ns");
    assert!(
        n.labels().get(labels::PROJECT).is_none(),
        "{:?}",
        n.labels()
    );
    assert!(
        Api::<RoleBinding>::namespaced(client.clone(), &ns)
            .get_opt(names::DEV_BINDING)
            .await
            .expect("get")
            .is_none()
    );
    delete_tenants(&[&ax, &a]).await;
}

/// An Ingress for `host` at `path` (`pathType` `kind`) in `ns`.
fn ingress(ns: &str, name: &str, host: &str, path: &str, kind: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"rules": [{"host": host, "http": {"paths": [{
               "path": path, "pathType": kind,
               "backend": {"service": {"name": name, "port": {"number": 80}}}}]}}]}})
}

/// Waits until tenant `t`'s `IngressHostsReady` condition is `status` with `reason`.
async fn hosts_condition(t: &str, status: &str, reason: &str) {
    let tenants: Api<Tenant> = Api::all(client().await);
    wait_for(
        &format!("IngressHostsReady={status} ({reason}) on {t}"),
        Duration::from_secs(30),
        || {
            let tenants = tenants.clone();
            async move {
                let found = tenants.get(t).await.ok()?;
                found
                    .status?
                    .conditions
                    .iter()
                    .any(|c| {
                        c.type_ == "IngressHostsReady" && c.status == status && c.reason == reason
                    })
                    .then_some(())
            }
        },
    )
    .await;
}

/// Item 5: a host (and path) one tenant's Ingress uses is refused to another tenant's.
#[tokio::test]
async fn a_host_another_tenant_uses_is_refused() {
    let (t1, t2) = (unique_name("host"), unique_name("host"));
    let host = format!("shop-{t1}.apps.example");
    for (t, claims) in [(&t1, json!([host])), (&t2, json!([]))] {
        apply(tenant(t, json!({"plan": {"ingressHosts": claims}})));
        tenant_ready(t).await;
        apply(project(t, "web", json!({})));
        project_ready(&format!("{t}.web")).await;
    }
    let first = owner_kubeconfig(&t1, "alice");
    let second = owner_kubeconfig(&t2, "mallory");
    create(
        &first,
        &ingress(&format!("{t1}-web"), "shop", &host, "/", "Prefix"),
    )
    .expect("the first tenant takes the host");
    let err = create(
        &second,
        &ingress(&format!("{t2}-web"), "shop", &host, "/", "Prefix"),
    )
    .expect_err("another tenant cannot take the same host");
    assert!(err.contains(&host), "{err}");
    delete_tenants(&[&t1, &t2]).await;
}

/// Item 5, whatever the path (ADR 0015): a host belongs to the one tenant that claims it. Another
/// tenant is refused it with any path or path type, below the owner's wildcard claim, and with no
/// host at all; the owner may add paths and names; once the owner gives the host up (its claim,
/// then its last Ingress on it) the other tenant's claim is granted and it may use the host.
#[tokio::test]
async fn a_host_belongs_to_one_tenant_whatever_the_path() {
    let (t1, t2) = (unique_name("hosts"), unique_name("hosts"));
    let shop = format!("shop-{t1}.apps.example");
    let wildcard = format!("*.{t1}.apps.example");
    let below = format!("api.{t1}.apps.example");
    for (t, claims) in [(&t1, json!([shop, wildcard])), (&t2, json!([]))] {
        apply(tenant(t, json!({"plan": {"ingressHosts": claims}})));
        tenant_ready(t).await;
        apply(project(t, "web", json!({})));
        project_ready(&format!("{t}.web")).await;
    }
    let (ns1, ns2) = (format!("{t1}-web"), format!("{t2}-web"));
    let first = owner_kubeconfig(&t1, "alice");
    let second = owner_kubeconfig(&t2, "mallory");
    create(&first, &ingress(&ns1, "shop", &shop, "/", "Prefix"))
        .expect("the first tenant serves its host at /");

    // The other tenant: the same host at another path, with another path type, a name below
    // the first tenant's wildcard, a rule without a host (a catch-all).
    for (name, host, path, kind) in [
        ("admin", shop.as_str(), "/admin", "Prefix"),
        ("exact", shop.as_str(), "/", "Exact"),
        ("specific", shop.as_str(), "/", "ImplementationSpecific"),
        ("below", below.as_str(), "/", "Prefix"),
    ] {
        let err = create(&second, &ingress(&ns2, name, host, path, kind)).expect_err(&format!(
            "{host}{path} ({kind}) is refused to the other tenant"
        ));
        assert!(err.contains(host), "{name}: {err}");
    }
    let mut catch_all = ingress(&ns2, "all", "x", "/", "Prefix");
    catch_all["spec"]["rules"][0]
        .as_object_mut()
        .expect("rule")
        .remove("host");
    create(&second, &catch_all).expect_err("a rule without a host is refused");

    // The owner may add another path on its host and use names below its wildcard.
    create(
        &first,
        &ingress(&ns1, "shop-admin", &shop, "/admin", "Prefix"),
    )
    .expect("the owner adds a path on its own host");
    create(&first, &ingress(&ns1, "api", &below, "/", "Prefix"))
        .expect("the owner uses a name below its wildcard claim");

    // The platform gives the other tenant a claim on the host (with kubectl; the API would answer
    // 409): the first tenant holds it, so it is not granted.
    apply(tenant(&t2, json!({"plan": {"ingressHosts": [shop]}})));
    hosts_condition(&t2, "False", "HostTaken").await;
    create(&second, &ingress(&ns2, "admin", &shop, "/admin", "Prefix"))
        .expect_err("still the first tenant's host");

    // The first tenant's claim goes, but its Ingresses still answer for the host: it stays held.
    apply(tenant(&t1, json!({"plan": {"ingressHosts": [wildcard]}})));
    hosts_condition(&t1, "False", "Releasing").await;
    create(&first, &ingress(&ns1, "more", &shop, "/more", "Prefix"))
        .expect_err("a host no longer claimed takes no new Ingress");
    create(&second, &ingress(&ns2, "admin", &shop, "/admin", "Prefix"))
        .expect_err("a host still in use is not released");

    // Its last Ingresses on the host go: the other tenant gets it.
    for name in ["shop", "shop-admin"] {
        kubectl_with(&first, &["-n", &ns1, "delete", "ingress", name], None)
            .expect("the owner deletes its Ingress");
    }
    hosts_condition(&t1, "True", "Held").await;
    hosts_condition(&t2, "True", "Held").await;
    wait_for(
        "the other tenant's Ingress on the released host",
        Duration::from_secs(15),
        || {
            let result = create(&second, &ingress(&ns2, "admin", &shop, "/admin", "Prefix"));
            std::future::ready(result.ok())
        },
    )
    .await;
    let err = create(&first, &ingress(&ns1, "back", &shop, "/back", "Prefix"))
        .expect_err("the host is the other tenant's now");
    assert!(err.contains(&shop), "{err}");
    delete_tenants(&[&t1, &t2]).await;
}
