//! What a person with a KubeNova kubeconfig sees with the real kubectl.

use kubenova_api::Role;
use testenv::proxy::ProxyMode;
use testenv::unique_name;

use super::MODE;

use super::harness::{claims, eventually, harness, kubeconfig, kubectl, tenant_with_projects};

fn lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_tenant_owner_sees_only_its_namespaces_and_works_in_them() {
    let t = unique_name("own");
    let other = unique_name("oth");
    tenant_with_projects(&t, &["web", "db"]);
    tenant_with_projects(&other, &["web"]);
    let kc = kubeconfig(&claims("alice", &[Role::TenantOwner], Some(&t), None));

    let ns = kubectl(&kc, &["get", "ns", "-o", "name"]).expect("kubectl get ns");
    assert_eq!(
        lines(&ns),
        vec![format!("namespace/{t}-db"), format!("namespace/{t}-web")]
    );

    // Capsule admits a new namespace for the owner, and the listing follows (in capsule-proxy
    // mode once Capsule has added it to the Tenant's status, which capsule-proxy lists from).
    kubectl(&kc, &["create", "ns", &format!("{t}-new")]).expect("owner creates a namespace");
    eventually(
        "the new namespace is listed",
        std::time::Duration::from_secs(10),
        || {
            kubectl(&kc, &["get", "ns", "-o", "name"])
                .is_ok_and(|ns| lines(&ns).contains(&format!("namespace/{t}-new")))
        },
    );

    let web = format!("{t}-web");
    kubectl(
        &kc,
        &[
            "-n",
            &web,
            "create",
            "configmap",
            "settings",
            "--from-literal=a=b",
        ],
    )
    .expect("create configmap");
    let got = kubectl(
        &kc,
        &[
            "-n",
            &web,
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.a}",
        ],
    )
    .expect("get configmap");
    assert_eq!(got, "b");

    let err = kubectl(&kc, &["-n", &format!("{other}-web"), "get", "configmaps"])
        .expect_err("another tenant's namespace");
    assert!(err.contains("KN-403") && err.contains("Forbidden"), "{err}");

    let whoami = kubectl(&kc, &["auth", "whoami", "-o", "json"]).expect("whoami");
    let whoami: serde_json::Value = serde_json::from_str(&whoami).expect("json");
    assert_eq!(whoami["status"]["userInfo"]["username"], "kubenova:alice");
    let groups = whoami["status"]["userInfo"]["groups"].to_string();
    assert!(
        groups.contains(&format!("kubenova:tenant:{t}:owner")),
        "{groups}"
    );

    let can = kubectl(&kc, &["auth", "can-i", "create", "deployments", "-n", &web]).expect("can-i");
    assert_eq!(can.trim(), "yes");
}

#[tokio::test]
async fn lists_across_namespaces_hold_only_the_tokens_namespaces() {
    let t = unique_name("all");
    let other = unique_name("alo");
    tenant_with_projects(&t, &["a", "b"]);
    tenant_with_projects(&other, &["a"]);
    let env = harness().env;
    for ns in [format!("{t}-a"), format!("{t}-b"), format!("{other}-a")] {
        env.kubectl_run(&["-n", &ns, "create", "configmap", "marker"], None)
            .expect("marker");
    }

    let owner = kubeconfig(&claims("bob", &[Role::TenantOwner], Some(&t), None));
    let out = kubectl(
        &owner,
        &[
            "get",
            "configmaps",
            "-A",
            "--field-selector=metadata.name=marker",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}{\"\\n\"}{end}",
        ],
    )
    .expect("get -A");
    assert_eq!(lines(&out), vec![format!("{t}-a"), format!("{t}-b")]);
    // The table kubectl prints by default is merged too.
    let table = kubectl(
        &owner,
        &[
            "get",
            "configmaps",
            "-A",
            "--field-selector=metadata.name=marker",
        ],
    )
    .expect("table");
    assert_eq!(
        table.lines().filter(|l| l.contains("marker")).count(),
        2,
        "{table}"
    );
    assert!(!table.contains(&other), "{table}");

    let dev = kubeconfig(&claims("carol", &[Role::ProjectDev], Some(&t), Some("a")));
    let out = kubectl(
        &dev,
        &[
            "get",
            "configmaps",
            "-A",
            "--field-selector=metadata.name=marker",
            "-o",
            "name",
        ],
    )
    .expect("project get -A");
    assert_eq!(lines(&out), vec!["configmap/marker".to_owned()]);
    let ns = kubectl(&dev, &["get", "ns", "-o", "name"]).expect("project get ns");
    assert_eq!(lines(&ns), vec![format!("namespace/{t}-a")]);
}

#[tokio::test]
async fn project_and_read_only_tokens_stay_in_their_lane() {
    let t = unique_name("lane");
    tenant_with_projects(&t, &["web", "db"]);
    let (web, db) = (format!("{t}-web"), format!("{t}-db"));

    let dev = kubeconfig(&claims("dave", &[Role::ProjectDev], Some(&t), Some("web")));
    kubectl(
        &dev,
        &[
            "-n",
            &web,
            "create",
            "deployment",
            "api",
            "--image=nginx:1.27",
        ],
    )
    .expect("dev creates");
    let err = kubectl(&dev, &["-n", &db, "get", "pods"]).expect_err("other project");
    assert!(err.contains("KN-403"), "{err}");
    let err = kubectl(&dev, &["create", "ns", &format!("{t}-x")])
        .expect_err("project tokens create no namespaces");
    assert!(err.contains("KN-403"), "{err}");
    let err = kubectl(&dev, &["get", "nodes"]).expect_err("cluster-scoped");
    assert!(err.contains("KN-403"), "{err}");

    let reader = kubeconfig(&claims("erin", &[Role::ReadOnly], Some(&t), None));
    let out = kubectl(&reader, &["-n", &db, "get", "deployments", "-o", "name"]).expect("read");
    assert_eq!(out.trim(), "");
    let out = kubectl(&reader, &["-n", &web, "get", "deployments", "-o", "name"]).expect("read");
    assert_eq!(out.trim(), "deployment.apps/api");
    // The proxy lets it through (in scope); RBAC says no.
    let err =
        kubectl(&reader, &["-n", &web, "delete", "deployment", "api"]).expect_err("read-only");
    assert!(
        err.contains("Forbidden") && !err.contains("KN-403"),
        "{err}"
    );
}

#[tokio::test]
async fn logs_and_exec_reach_the_pod_through_the_proxy() {
    let t = unique_name("exec");
    tenant_with_projects(&t, &["web"]);
    let web = format!("{t}-web");
    let dev = kubeconfig(&claims("frank", &[Role::ProjectDev], Some(&t), Some("web")));
    kubectl(
        &dev,
        &[
            "-n",
            &web,
            "run",
            "shell",
            "--image=busybox",
            "--restart=Never",
        ],
    )
    .expect("run");
    kubectl(
        &dev,
        &[
            "-n",
            &web,
            "wait",
            "--for=condition=Ready",
            "pod/shell",
            "--timeout=60s",
        ],
    )
    .expect("ready");

    let logs = kubectl(&dev, &["-n", &web, "logs", "shell"]).expect("logs");
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        harness().env.kwok.log_lines
    );

    // kubectl 1.36 speaks WebSocket (v5.channel.k8s.io) first.
    let out = kubectl(
        &dev,
        &["-n", &web, "exec", "shell", "--", "echo", "over websocket"],
    )
    .expect("exec");
    assert_eq!(out.trim(), "over websocket");
    // And SPDY when told to.
    let mut spdy = harness().env.kubectl_with(&dev);
    spdy.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false");
    let out = testenv::env::run(
        spdy,
        &["-n", &web, "exec", "shell", "--", "echo", "over spdy"],
        None,
    )
    .expect("exec over SPDY");
    assert_eq!(out.trim(), "over spdy");
}

#[tokio::test]
async fn a_crd_installed_after_the_proxy_started_is_listed_across_namespaces() {
    let t = unique_name("crd");
    tenant_with_projects(&t, &["a", "b"]);
    let env = harness().env;
    // A namespaced resource the proxy's discovery has never seen.
    let group = format!("{t}.example.kubenova.io");
    let crd = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    env.apply(&crd.to_string()).expect("CRD");
    env.kubectl_run(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/widgets.{group}"),
        ],
        None,
    )
    .expect("established");
    for ns in [format!("{t}-a"), format!("{t}-b")] {
        let widget = serde_json::json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
                                        "metadata": {"name": "w", "namespace": ns}});
        env.apply(&widget.to_string()).expect("widget");
    }
    // As operators do: aggregate the new resource into the `admin` role tenant owners hold.
    let role = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": format!("widgets-{t}"),
                     "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
        "rules": [{"apiGroups": [group], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}],
    });
    env.apply(&role.to_string()).expect("aggregated role");
    let owner = kubeconfig(&claims("gina", &[Role::TenantOwner], Some(&t), None));
    let resource = format!("widgets.{group}");
    let jsonpath = "jsonpath={range .items[*]}{.metadata.namespace}{\"\\n\"}{end}";
    let args = ["get", resource.as_str(), "-A", "-o", jsonpath];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let out = loop {
        match kubectl(&owner, &args) {
            Ok(out) => break out,
            // Until the role aggregation lands, RBAC (not the proxy) says no.
            Err(e)
                if e.contains("cannot list resource") && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => panic!("the new resource is known without a restart: {e}"),
        }
    };
    assert_eq!(lines(&out), vec![format!("{t}-a"), format!("{t}-b")]);
}

/// The cluster-scoped kinds capsule-proxy filters: in capsule-proxy mode a tenant owner reads
/// them through capsule-proxy, which shows what the owner's Tenant allows (the nodes its
/// `nodeSelector` selects, every node when it sets none; its own Capsule Tenant), where RBAC
/// alone would refuse the owner; in direct mode the proxy refuses them. Writes,
/// subresources, other cluster-scoped kinds and tokens capsule-proxy does not filter for are
/// refused by the proxy in both modes.
#[tokio::test]
async fn cluster_scoped_reads_are_answered_by_capsule_proxy_in_its_mode_only() {
    let t = unique_name("csk");
    tenant_with_projects(&t, &["web"]);
    let owner = kubeconfig(&claims("carla", &[Role::TenantOwner], Some(&t), None));
    let dev = kubeconfig(&claims("dario", &[Role::ProjectDev], Some(&t), Some("web")));
    let nodes = kubectl(&owner, &["get", "nodes", "-o", "name"]);
    let tenants = kubectl(&owner, &["get", "tenants.capsule.clastix.io", "-o", "name"]);
    match MODE {
        ProxyMode::CapsuleProxy => {
            assert_eq!(
                nodes.expect("nodes through capsule-proxy").trim(),
                "node/kwok-node-0"
            );
            assert_eq!(
                tenants.expect("tenants through capsule-proxy").trim(),
                format!("tenant.capsule.clastix.io/{t}")
            );
        }
        ProxyMode::Direct => {
            for out in [nodes, tenants] {
                let err = out.expect_err("refused in direct mode");
                assert!(err.contains("KN-403"), "{err}");
            }
        }
    }
    let node = "kwok-node-0";
    let proxy_path = format!("/api/v1/nodes/{node}/proxy/metrics");
    let refused: [(&std::path::PathBuf, Vec<&str>); 6] = [
        (&owner, vec!["delete", "node", node]),
        (&owner, vec!["label", "node", node, "owned=yes"]),
        (&owner, vec!["get", "clusterroles"]),
        (&owner, vec!["get", "--raw", &proxy_path]),
        (&dev, vec!["get", "nodes"]),
        (&dev, vec!["get", "tenants.capsule.clastix.io"]),
    ];
    for (kc, args) in refused {
        let err = kubectl(kc, &args).expect_err("refused");
        assert!(err.contains("KN-403"), "{args:?}: {err}");
    }
}

/// `kubectl auth can-i list namespaces` says yes for every token in both modes: the proxy
/// serves that list (filtered to the token's namespaces) and answers the review itself, as k9s
/// asks before showing its namespaces view (without this, k9s fell back to its contexts view in
/// direct mode, and for project tokens in both modes). Other reviews are RBAC's answer for the
/// token's identity.
#[tokio::test]
async fn can_i_list_namespaces_is_yes_because_the_proxy_serves_that_list() {
    let t = unique_name("cani");
    tenant_with_projects(&t, &["web"]);
    let owner = kubeconfig(&claims("cora", &[Role::TenantOwner], Some(&t), None));
    let dev = kubeconfig(&claims("dan", &[Role::ProjectDev], Some(&t), Some("web")));
    let reader = kubeconfig(&claims("rita", &[Role::ReadOnly], Some(&t), Some("web")));
    let can_i = |kc: &std::path::PathBuf, args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend(args);
        // `can-i` exits 1 for "no", with "no" on stdout.
        let (_, out, _) = super::harness::output(harness().env.kubectl_with(kc), &all);
        out.trim().to_owned()
    };
    for (who, kc) in [("owner", &owner), ("dev", &dev), ("reader", &reader)] {
        for verb in ["list", "watch"] {
            assert_eq!(can_i(kc, &[verb, "namespaces"]), "yes", "{who}: {verb} namespaces");
        }
        assert_eq!(can_i(kc, &["delete", "namespaces"]), "no", "{who}: delete");
        assert_eq!(can_i(kc, &["create", "clusterroles"]), "no", "{who}: clusterroles");
    }
    let ns = format!("{t}-web");
    assert_eq!(can_i(&dev, &["-n", &ns, "create", "configmaps"]), "yes");
    assert_eq!(can_i(&reader, &["-n", &ns, "create", "configmaps"]), "no");
}


/// `kubectl auth can-i list pods -A` (and k9s before its all-namespaces views): the proxy serves
/// such a list once per namespace of the token, so it asks the review in each of them, as the
/// identity, and says yes only when every one does. RBAC alone says no (no cluster-wide grant).
#[tokio::test]
async fn can_i_across_all_namespaces_is_the_answer_in_each_of_the_tokens_namespaces() {
    let t = unique_name("cana");
    tenant_with_projects(&t, &["web", "api"]);
    let owner = kubeconfig(&claims("cora", &[Role::TenantOwner], Some(&t), None));
    let dev = kubeconfig(&claims("dan", &[Role::ProjectDev], Some(&t), Some("web")));
    let reader = kubeconfig(&claims("rita", &[Role::ReadOnly], Some(&t), None));
    let can_i = |kc: &std::path::PathBuf, args: &[&str]| {
        let mut all = vec!["auth", "can-i", "-A"];
        all.extend(args);
        let (_, out, _) = super::harness::output(harness().env.kubectl_with(kc), &all);
        out.trim().to_owned()
    };
    for (who, kc) in [("owner", &owner), ("dev", &dev), ("reader", &reader)] {
        for verb in ["list", "watch"] {
            assert_eq!(can_i(kc, &[verb, "pods"]), "yes", "{who}: {verb} pods -A");
            assert_eq!(
                can_i(kc, &[verb, "deployments.apps"]),
                "yes",
                "{who}: {verb} deployments -A"
            );
        }
        // Not served across namespaces: RBAC's answer, which is no.
        assert_eq!(can_i(kc, &["delete", "pods"]), "no", "{who}: delete pods -A");
    }
    // `view` holds no Secrets: a reader is refused in every namespace, so across them too, and
    // kubectl shows the reason, naming the first namespace that refused.
    let refused = can_i(&reader, &["list", "secrets"]);
    assert!(
        refused.starts_with("no - KubeNova: not allowed in namespace ")
            && refused.contains(&format!("{t}-")),
        "{refused}"
    );
    assert_eq!(can_i(&owner, &["list", "secrets"]), "yes");
    // And what can-i says is what the list does.
    let listed = kubectl(&reader, &["get", "secrets", "-A"]).expect_err("refused");
    assert!(listed.contains("Forbidden") || listed.contains("forbidden"), "{listed}");
    kubectl(&owner, &["get", "secrets", "-A"]).expect("the owner lists secrets -A");
}
