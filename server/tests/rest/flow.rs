//! The whole path: API -> Tenant/Project objects -> kubeconfig -> the real kubectl through the
//! real proxy (which verifies control's tokens via its JWKS URL), revocation and expiry.

use std::time::Duration;

use kube::Api;
use kubenova_api::crd::{Project, Tenant};
use serde_json::json;

use crate::harness::*;

fn kubeconfig_of(response: &testenv::control::HttpResponse) -> (String, String) {
    let v = expect(response, 201);
    (
        v["kubeconfig"].as_str().expect("kubeconfig").to_owned(),
        v["jti"].as_str().expect("jti").to_owned(),
    )
}

fn tenants_path(rest: &str) -> String {
    format!("/api/v1/clusters/{MAIN}/tenants{rest}")
}

#[tokio::test]
async fn api_writes_tenant_and_project_objects_into_the_workload_cluster() {
    let h = harness();
    let t = unique("objs");
    tenant(&t, &["alice"]);
    project(&t, "web", &["bob"], &["carol"]);
    let client = h.env.client().await.expect("client");
    let tenant_obj = Api::<Tenant>::all(client.clone())
        .get(&t)
        .await
        .expect("Tenant exists");
    assert_eq!(tenant_obj.spec.owners, ["alice"]);
    let project_obj = Api::<Project>::all(client)
        .get(&format!("{t}.web"))
        .await
        .expect("Project exists");
    assert_eq!(project_obj.spec.access.developers, ["bob"]);
    let labels = project_obj.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("kubenova.io/tenant"), Some(&t));
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("kubenova")
    );

    // The same names again: 409.
    let again = call(
        "POST",
        &tenants_path(""),
        admin(),
        Some(&json!({"name": t})),
    );
    assert_eq!(expect(&again, 409)["code"], "KN-409");
    let again = call(
        "POST",
        &tenants_path(&format!("/{t}/projects")),
        admin(),
        Some(&json!({"name": "web"})),
    );
    assert_eq!(expect(&again, 409)["code"], "KN-409");

    // By its name alone (tenant names are unique across clusters), and in the list of all.
    let long = expect(
        &call("GET", &tenants_path(&format!("/{t}")), admin(), None),
        200,
    );
    let short = expect(
        &call("GET", &format!("/api/v1/tenants/{t}"), admin(), None),
        200,
    );
    assert_eq!(
        (&short["name"], &short["cluster"]),
        (&json!(t), &json!(MAIN))
    );
    assert_eq!(short["owners"], long["owners"]);
    let all = expect(&call("GET", "/api/v1/tenants", admin(), None), 200);
    assert!(
        all["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|v| v["name"] == json!(t) && v["cluster"] == MAIN),
        "{all}"
    );
    let missing = call("GET", "/api/v1/tenants/no-such-tenant", admin(), None);
    assert_eq!(expect(&missing, 404)["code"], "KN-404");

    // Labels and annotations (ADR 0019): checked as Kubernetes checks them, off the reserved
    // prefixes, and a project may not set a key its tenant sets.
    for (body, field, says) in [
        (
            json!({"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}),
            "labels[\"pod-security.kubernetes.io/enforce\"]",
            "is reserved",
        ),
        (
            json!({"labels": {"team": "has space"}}),
            "labels[\"team\"]",
            "the value `has space`",
        ),
        (
            json!({"annotations": {"Bad/key": "x"}}),
            "annotations[\"Bad/key\"]",
            "the prefix `Bad`",
        ),
    ] {
        let bad = call("PUT", &tenants_path(&format!("/{t}")), admin(), Some(&body));
        let v = expect(&bad, 422);
        assert_eq!(v["details"]["field"], field, "{v}");
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains(says)),
            "{v}"
        );
    }
    let v = expect(
        &call(
            "PUT",
            &tenants_path(&format!("/{t}")),
            admin(),
            Some(&json!({"owners": ["alice"], "labels": {"team": "payments"},
                         "annotations": {"example.com/contact": "pay@example.com"}})),
        ),
        200,
    );
    assert_eq!(v["labels"], json!({"team": "payments"}));
    assert_eq!(
        v["annotations"],
        json!({"example.com/contact": "pay@example.com"})
    );
    let clash = call(
        "PUT",
        &tenants_path(&format!("/{t}/projects/web")),
        admin(),
        Some(&json!({"labels": {"team": "mine"}})),
    );
    let v = expect(&clash, 422);
    assert_eq!(v["details"]["field"], "labels[\"team\"]", "{v}");
    let v = expect(
        &call(
            "PUT",
            &tenants_path(&format!("/{t}/projects/web")),
            admin(),
            Some(
                &json!({"access": {"developers": ["bob"], "readers": ["carol"]},
                         "labels": {"tier": "web"}}),
            ),
        ),
        200,
    );
    assert_eq!(v["labels"], json!({"tier": "web"}));

    // Sub-resources replace exactly their part.
    let v = expect(
        &call(
            "PUT",
            &tenants_path(&format!("/{t}/quotas")),
            admin(),
            Some(&json!({"cpu": "4", "pods": 10})),
        ),
        200,
    );
    assert_eq!(v["quota"], json!({"cpu": "4", "pods": 10}));
    assert_eq!(v["owners"], json!(["alice"]));
    let v = expect(
        &call(
            "PUT",
            &tenants_path(&format!("/{t}/owners")),
            admin(),
            Some(&json!({"owners": ["alice", "dave"]})),
        ),
        200,
    );
    assert_eq!(v["owners"], json!(["alice", "dave"]));
    let v = expect(
        &call(
            "PUT",
            &tenants_path(&format!("/{t}/limits")),
            admin(),
            Some(&json!({"defaultCpuRequest": "100m"})),
        ),
        200,
    );
    assert_eq!(v["limits"], json!({"defaultCpuRequest": "100m"}));
    // A wrong type is said in JSON's words, not Rust's ("an integer", not "i32").
    let bad = call(
        "PUT",
        &tenants_path(&format!("/{t}/quotas")),
        admin(),
        Some(&json!({"pods": "ten"})),
    );
    let v = expect(&bad, 422);
    assert_eq!(v["details"]["field"], "pods", "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("expected an integer")),
        "{v}"
    );
    // The apiserver's own validation (CEL on the CRD) comes back as 422 naming the field.
    let bad = call(
        "PUT",
        &tenants_path(&format!("/{t}/quotas")),
        admin(),
        Some(&json!({"cpu": "lots"})),
    );
    let v = expect(&bad, 422);
    assert!(
        v["message"].as_str().unwrap_or_default().contains("cpu"),
        "{v}"
    );
    let v = expect(
        &call(
            "PUT",
            &tenants_path(&format!("/{t}/projects/web/access")),
            admin(),
            Some(&json!({"developers": ["erin"]})),
        ),
        200,
    );
    assert_eq!(v["access"], json!({"developers": ["erin"]}));
    let v = expect(
        &call("GET", &format!("/api/v1/tenants/{t}/usage"), admin(), None),
        200,
    );
    assert_eq!(v["projects"][0]["namespace"], format!("{t}-web"));
    let v = expect(
        &call(
            "GET",
            &tenants_path(&format!("/{t}/projects/web/usage")),
            admin(),
            None,
        ),
        200,
    );
    assert_eq!(v["project"], "web");
    // Delete: a tenant with projects is refused, then project and tenant go.
    let refused = call("DELETE", &tenants_path(&format!("/{t}")), admin(), None);
    let refused = expect(&refused, 409);
    assert_eq!(refused["code"], "KN-409");
    assert_eq!(refused["details"]["projects"], json!(["web"]));
    assert_eq!(refused["details"]["deleting"], json!([]));
    // Deletion is asynchronous (ADR 0018): 202 with the project on its way.
    let deleting = expect(
        &call(
            "DELETE",
            &tenants_path(&format!("/{t}/projects/web")),
            admin(),
            None,
        ),
        202,
    );
    assert_eq!(deleting["name"], "web");
    assert!(
        deleting["status"]["deletingSince"].is_string(),
        "{deleting}"
    );
    // While it goes, the tenant's 409 says so.
    let refused = call("DELETE", &tenants_path(&format!("/{t}")), admin(), None);
    if refused.status == 409 {
        let v = refused.json();
        assert_eq!(v["details"]["deleting"], json!(["web"]), "{v}");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("being deleted")),
            "{v}"
        );
    } else {
        panic!(
            "the tenant went before its project: {} {}",
            refused.status,
            refused.text()
        );
    }
    // The agent's finalizer keeps the Project until its namespace is gone.
    eventually("the project deleted", Duration::from_secs(120), || {
        call(
            "GET",
            &tenants_path(&format!("/{t}/projects/web")),
            admin(),
            None,
        )
        .status
            == 404
    });
    let deleting = expect(
        &call("DELETE", &tenants_path(&format!("/{t}")), admin(), None),
        202,
    );
    assert!(
        deleting["status"]["deletingSince"].is_string(),
        "{deleting}"
    );
    let gone = call("GET", &tenants_path(&format!("/{t}")), admin(), None);
    assert_eq!(expect(&gone, 404)["code"], "KN-404");
}

fn forbidden(err: &str) -> bool {
    err.contains("Forbidden") || err.contains("forbidden")
}

#[test]
fn kubeconfigs_work_with_kubectl_through_the_proxy_in_scope_only_and_stop_when_revoked() {
    let h = harness();
    let t = unique("flow");
    let other = unique("other");
    tenant(&t, &["alice"]);
    project(&t, "web", &["bob"], &["carol"]);
    project(&t, "db", &[], &[]);
    tenant(&other, &["mallory"]);
    project(&other, "web", &[], &[]);
    agent_ready(MAIN, &t, &["web", "db"]);
    agent_ready(MAIN, &other, &["web"]);

    // Tenant kubeconfig for alice (an owner), via the short route, as the raw YAML file.
    let response = h
        .control
        .call(
            "POST",
            &format!("/api/v1/tenants/{t}/kubeconfig?format=yaml&subject=alice"),
            Some(admin()),
            None,
        )
        .expect("call");
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/yaml"));
    let text = response.text();
    assert!(
        text.contains(&h.proxy.url) && !text.contains("insecure-skip-tls-verify"),
        "{text}"
    );
    let alice = save_kubeconfig(&format!("{t}-alice"), &text);
    eventually(
        "alice lists her tenant's namespaces through the proxy",
        Duration::from_secs(30),
        || {
            kubectl(h.env, &alice, &["get", "ns", "-o", "name"]).is_ok_and(|out| {
                out.contains(&format!("namespace/{t}-web"))
                    && out.contains(&format!("namespace/{t}-db"))
            })
        },
    );
    let out = kubectl(h.env, &alice, &["get", "ns", "-o", "name"]).expect("get ns");
    assert!(!out.contains(&other), "another tenant leaked: {out}");
    kubectl(
        h.env,
        &alice,
        &[
            "create",
            "configmap",
            "made-by-alice",
            "-n",
            &format!("{t}-db"),
        ],
    )
    .expect("an owner writes in its tenant");
    let err = kubectl(
        h.env,
        &alice,
        &["get", "pods", "-n", &format!("{other}-web")],
    )
    .expect_err("other tenant");
    assert!(forbidden(&err), "{err}");

    // Project kubeconfig for bob (a developer), GET with ?role=projectDev.
    let project_path = tenants_path(&format!("/{t}/projects/web/kubeconfig"));
    let (bob_kc, bob_jti) = kubeconfig_of(&call(
        "GET",
        &format!("{project_path}?role=projectDev&subject=bob"),
        admin(),
        None,
    ));
    let bob = save_kubeconfig(&format!("{t}-bob"), &bob_kc);
    kubectl(
        h.env,
        &bob,
        &[
            "create",
            "configmap",
            "made-by-bob",
            "-n",
            &format!("{t}-web"),
        ],
    )
    .expect("a developer writes in its project");
    let err = kubectl(
        h.env,
        &bob,
        &["get", "configmaps", "-n", &format!("{t}-db")],
    )
    .expect_err("other project");
    assert!(forbidden(&err), "{err}");

    // carol is a reader: readOnly yes, projectDev no.
    let refused = call(
        "GET",
        &format!("{project_path}?role=projectDev&subject=carol"),
        admin(),
        None,
    );
    assert_eq!(expect(&refused, 403)["code"], "KN-403");
    let (carol_kc, _) = kubeconfig_of(&call(
        "GET",
        &format!("{project_path}?role=readOnly&subject=carol"),
        admin(),
        None,
    ));
    let carol = save_kubeconfig(&format!("{t}-carol"), &carol_kc);
    kubectl(
        h.env,
        &carol,
        &["get", "configmaps", "-n", &format!("{t}-web")],
    )
    .expect("a reader reads");
    let err = kubectl(
        h.env,
        &carol,
        &["create", "configmap", "nope", "-n", &format!("{t}-web")],
    )
    .expect_err("a reader cannot write");
    assert!(forbidden(&err), "{err}");

    // The token is recorded (never the token itself) and listed in scope only.
    let owner_api = api_token("alice", &["tenantOwner"], Some(&t), None);
    let listed = expect(&call("GET", "/api/v1/tokens", &owner_api, None), 200);
    let record = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["jti"] == bob_jti.as_str())
        .cloned()
        .expect("bob's token listed for the owner");
    assert_eq!(record["subject"], "bob");
    assert_eq!(record["roles"], json!(["projectDev"]));
    let bob_token = bob_kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("token line")
        .trim_matches('\'')
        .to_owned();
    assert!(!listed.to_string().contains(&bob_token));
    let others = api_token("mallory", &["tenantOwner"], Some(&other), None);
    let listed = expect(&call("GET", "/api/v1/tokens", &others, None), 200);
    assert!(
        !listed.to_string().contains(&bob_jti),
        "another tenant sees bob's token"
    );
    let r = call(
        "DELETE",
        &format!("/api/v1/tokens/{bob_jti}"),
        &others,
        None,
    );
    assert_eq!(expect(&r, 404)["code"], "KN-404");

    // A project kubeconfig defaults to the project's namespace: no `-n` needed.
    let listed = kubectl(
        h.env,
        &bob,
        &[
            "get",
            "configmaps",
            "-o",
            "jsonpath={.items[*].metadata.namespace}",
        ],
    )
    .expect("kubectl get configmaps without -n");
    let namespaces: std::collections::BTreeSet<&str> = listed.split_whitespace().collect();
    assert_eq!(
        namespaces.into_iter().collect::<Vec<_>>(),
        [format!("{t}-web").as_str()],
        "{listed}"
    );
    // Revoke bob's kubeconfig: the proxy refuses it within 2 s.
    kubectl(
        h.env,
        &bob,
        &["get", "configmaps", "-n", &format!("{t}-web")],
    )
    .expect("works before revocation");
    let r = call(
        "DELETE",
        &format!("/api/v1/tokens/{bob_jti}"),
        &owner_api,
        None,
    );
    assert_eq!(expect(&r, 200)["revoked"], true);
    let took = eventually(
        "the proxy refuses the revoked kubeconfig",
        Duration::from_secs(2),
        || {
            kubectl(
                h.env,
                &bob,
                &["get", "configmaps", "-n", &format!("{t}-web")],
            )
            .is_err_and(|e| unauthorized(&e))
        },
    );
    eprintln!("revocation took effect after {took:?}");
    kubectl(
        h.env,
        &carol,
        &["get", "configmaps", "-n", &format!("{t}-web")],
    )
    .expect("other tokens still work");
    let listed = expect(&call("GET", "/api/v1/tokens", &owner_api, None), 200);
    let record = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["jti"] == bob_jti.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(record["revoked"], true);

    // The audit log names the issue and the revocation by jti, never the token.
    let audit = std::fs::read_to_string(&h.control.audit_log).expect("audit log");
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(lines.iter().any(|l| l["action"] == "tokens.revoke"
        && l["tokenId"] == bob_jti.as_str()
        && l["subject"] == "alice"
        && l["result"] == 200));
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "kubeconfigs.project" && l["tokenId"] == bob_jti.as_str())
    );
    assert!(!audit.contains(&bob_token), "a token reached the audit log");
}

#[test]
fn kubeconfig_ttl_is_bounded_and_an_expired_kubeconfig_stops_working() {
    let h = harness();
    let t = unique("ttl");
    tenant(&t, &["alice"]);
    project(&t, "web", &["bob"], &[]);
    agent_ready(MAIN, &t, &["web"]);
    let path = tenants_path(&format!("/{t}/projects/web/kubeconfig"));
    let too_long = call(
        "POST",
        &path,
        admin(),
        Some(&json!({"subject": "bob", "ttlSeconds": 10 * 86_400})),
    );
    let v = expect(&too_long, 422);
    assert_eq!(v["details"]["field"], "ttlSeconds");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 86400"),
        "{v}"
    );
    let (kc, _) = kubeconfig_of(&call(
        "POST",
        &path,
        admin(),
        Some(&json!({"subject": "bob", "ttlSeconds": 4})),
    ));
    let bob = save_kubeconfig(&format!("{t}-short"), &kc);
    kubectl(
        h.env,
        &bob,
        &["get", "configmaps", "-n", &format!("{t}-web")],
    )
    .expect("works while valid");
    // Four seconds of life plus the proxy's one second of clock skew.
    eventually(
        "the expired kubeconfig is refused",
        Duration::from_secs(15),
        || {
            kubectl(
                h.env,
                &bob,
                &["get", "configmaps", "-n", &format!("{t}-web")],
            )
            .is_err_and(|e| unauthorized(&e))
        },
    );
}

#[test]
fn api_tokens_me_narrower_minting_and_revocation() {
    let t = unique("tok");
    tenant(&t, &["alice"]);
    let owner = api_token("alice", &["tenantOwner"], Some(&t), None);
    let me = expect(&call("GET", "/api/v1/me", &owner, None), 200);
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["tenant"], t.as_str());
    assert_eq!(
        me["cluster"], MAIN,
        "the scope's cluster, where the web UI starts"
    );
    assert_eq!(me["roles"], json!(["tenantOwner"]));
    // A tenant owner mints narrower tokens in its own tenant only, for entitled subjects only
    // (here: itself, an owner).
    let minted = call(
        "POST",
        "/api/v1/tokens",
        &owner,
        Some(&json!({"subject": "alice", "roles": ["readOnly"], "tenant": t, "ttlSeconds": 600})),
    );
    let ci = expect(&minted, 201)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    for body in [
        json!({"subject": "x", "roles": ["admin"]}),
        json!({"subject": "x", "roles": ["tenantOwner"], "tenant": t}),
        json!({"subject": "x", "roles": ["readOnly"], "tenant": "someone-else"}),
    ] {
        let r = call("POST", "/api/v1/tokens", &owner, Some(&body));
        assert_eq!(expect(&r, 403)["code"], "KN-403", "{body}");
    }
    // ops cannot mint admin tokens.
    let ops = api_token("op", &["ops"], None, None);
    let r = call(
        "POST",
        "/api/v1/tokens",
        &ops,
        Some(&json!({"subject": "x", "roles": ["admin"]})),
    );
    assert_eq!(expect(&r, 403)["code"], "KN-403");
    // Revoking an API token makes control refuse it at once.
    let me = expect(&call("GET", "/api/v1/me", &ci, None), 200);
    let jti = me["jti"].as_str().expect("jti").to_owned();
    expect(
        &call("DELETE", &format!("/api/v1/tokens/{jti}"), &owner, None),
        200,
    );
    let v = expect(&call("GET", "/api/v1/me", &ci, None), 401);
    assert_eq!(v["code"], "KN-401");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{v}"
    );
    // No token, a garbage token: 401 with the envelope.
    let r = harness()
        .control
        .call("GET", "/api/v1/me", None, None)
        .expect("call");
    assert_eq!(expect(&r, 401)["code"], "KN-401");
    let v = expect(&call("GET", "/api/v1/me", "not.a.jwt", None), 401);
    assert_eq!(v["code"], "KN-401");
    assert!(
        v["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "{v}"
    );
}

/// `PUT .../network-policies` is checked field by field, stored on the Tenant (whose CRD rules
/// refuse the same mistakes from kubectl), and rewrites every project's `kubenova-isolation`
/// NetworkPolicy, which the tenant owner reads with kubectl through the proxy.
#[tokio::test]
async fn tenant_network_settings_rewrite_every_projects_isolation_policy() {
    let h = harness();
    let t = unique("net");
    tenant(&t, &["alice"]);
    project(&t, "web", &[], &[]);
    project(&t, "db", &[], &[]);
    agent_ready(MAIN, &t, &["web", "db"]);
    let path = tenants_path(&format!("/{t}/network-policies"));

    for (body, field, says) in [
        (json!({"isolation": "none"}), "isolation", "unknown variant"),
        (
            json!({"allowFromNamespaces": ["Ingress"]}),
            "allowFromNamespaces[0]",
            "lowercase",
        ),
        (
            json!({"allowToNamespaces": ["a".repeat(64)]}),
            "allowToNamespaces[0]",
            "63",
        ),
        (
            json!({"allowEgress": [{"cidr": "10.1.2.3/8"}]}),
            "allowEgress[0].cidr",
            "write 10.0.0.0/8",
        ),
        (
            json!({"allowEgress": [{"cidr": "10.0.0.0"}]}),
            "allowEgress[0].cidr",
            "<address>/<prefix>",
        ),
        (
            json!({"allowEgress": [{"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}]}),
            "allowEgress[0].except[0]",
            "not strictly inside",
        ),
        (
            json!({"allowEgress": [{"cidr": "0.0.0.0/0", "ports": [80]}]}),
            "allowEgress[0]",
            "unknown field",
        ),
    ] {
        let v = expect(&call("PUT", &path, admin(), Some(&body)), 422);
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(field) && message.contains(says),
            "{body}: {v}"
        );
    }
    let v = expect(
        &call("GET", &tenants_path(&format!("/{t}")), admin(), None),
        200,
    );
    assert_eq!(
        v["networkPolicy"],
        json!({"isolation": "tenant"}),
        "nothing stored"
    );

    // Only the platform sets them: the tenant's owner may not widen its own isolation.
    let owner = api_token("alice", &["tenantOwner"], Some(&t), None);
    let v = expect(&call("PUT", &path, &owner, Some(&json!({}))), 403);
    assert_eq!(v["code"], "KN-403");

    let settings = json!({
        "isolation": "project",
        "allowFromNamespaces": ["ingress-nginx"],
        "allowToNamespaces": ["shared-db"],
        "allowEgress": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}],
    });
    let v = expect(&call("PUT", &path, admin(), Some(&settings)), 200);
    assert_eq!(v["networkPolicy"], settings);

    let alice = tenant_kubeconfig(&t, "alice", &format!("{t}-alice"));
    let by_name =
        |n: &str| json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": n}}});
    let policy = |p: &str| -> serde_json::Value {
        kubectl(
            h.env,
            &alice,
            &[
                "-n",
                &format!("{t}-{p}"),
                "get",
                "networkpolicy",
                "kubenova-isolation",
                "-o",
                "json",
            ],
        )
        .ok()
        .and_then(|out| serde_json::from_str(&out).ok())
        .unwrap_or_default()
    };
    for p in ["web", "db"] {
        eventually(
            &format!("{p}'s policy follows the settings"),
            Duration::from_secs(30),
            || {
                let spec = &policy(p)["spec"];
                spec["ingress"][0]["from"] == json!([{"podSelector": {}}, by_name("ingress-nginx")])
                    && spec["egress"][0]["to"]
                        == json!([
                            {"podSelector": {}},
                            by_name("shared-db"),
                            {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}},
                        ])
            },
        );
        let spec = &policy(p)["spec"];
        assert_eq!(
            spec["egress"][1]["ports"][0]["port"], 53,
            "DNS stays open: {spec}"
        );
    }

    // kubectl users of the platform meet the same rules in the CRD.
    let client = h.env.client().await.expect("client");
    let tenants = Api::<Tenant>::all(client);
    for (bad, says) in [
        (json!([{"cidr": "10.1.2.3/8"}]), "canonical CIDR"),
        (
            json!([{"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}]),
            "strictly inside",
        ),
    ] {
        let patch = json!({"spec": {"networkPolicy": {"allowEgress": bad}}});
        let err = tenants
            .patch(
                &t,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
            .expect_err("the apiserver refuses it");
        assert!(err.to_string().contains(says), "{err}");
    }

    // Back to the default: traffic inside the tenant again.
    expect(&call("PUT", &path, admin(), Some(&json!({}))), 200);
    eventually(
        "web's policy is back to tenant isolation",
        Duration::from_secs(30),
        || {
            policy("web")["spec"]["ingress"][0]["from"]
                == json!([{"namespaceSelector": {"matchLabels": {"capsule.clastix.io/tenant": t}}}])
        },
    );
}

/// Tenant names where one is the other followed by `-` (`a`, `a-x`: both would own `a-x-web`)
/// are refused, whichever comes second (ADR 0009).
#[tokio::test]
async fn a_tenant_name_that_overlaps_another_tenants_is_refused() {
    let t = unique("ovl");
    tenant(&t, &[]);
    let shorter = t
        .rsplit_once('-')
        .map(|(head, _)| head.to_owned())
        .expect("dash");
    for name in [format!("{t}-x"), shorter] {
        let v = expect(
            &call(
                "POST",
                &tenants_path(""),
                admin(),
                Some(&json!({ "name": name })),
            ),
            409,
        );
        assert_eq!(v["code"], "KN-409");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains("overlaps") && message.contains(&t), "{v}");
        expect(
            &call("GET", &tenants_path(&format!("/{name}")), admin(), None),
            404,
        );
    }
    expect(
        &call("DELETE", &tenants_path(&format!("/{t}")), admin(), None),
        202,
    );
}

/// A tenant's ingress hosts (ADR 0015): one overlapping another tenant's claim is refused with
/// 409 (naming both), a malformed one with 422, on create and on update, and nothing is written.
#[tokio::test]
async fn ingress_hosts_overlapping_another_tenants_or_malformed_are_refused() {
    let (t1, t2) = (unique("hosts"), unique("hosts"));
    let wildcard = format!("*.{t1}.apps.example");
    let created = expect(
        &call(
            "POST",
            &tenants_path(""),
            admin(),
            Some(&json!({ "name": t1, "ingressHosts": [wildcard, format!("shop-{t1}.example")] })),
        ),
        201,
    );
    assert_eq!(created["ingressHosts"][0], wildcard.as_str());

    let below = format!("api.{t1}.apps.example");
    for claims in [
        json!([below]),
        json!([format!("*.apps.example")]),
        json!([wildcard]),
    ] {
        let v = expect(
            &call(
                "POST",
                &tenants_path(""),
                admin(),
                Some(&json!({ "name": t2, "ingressHosts": claims })),
            ),
            409,
        );
        assert_eq!(v["code"], "KN-409", "{v}");
        assert_eq!(v["details"]["overlaps"]["tenant"], t1.as_str(), "{v}");
        assert_eq!(v["details"]["overlaps"]["host"], wildcard.as_str(), "{v}");
        assert!(
            v["message"].as_str().unwrap_or_default().contains(&t1),
            "{v}"
        );
        expect(
            &call("GET", &tenants_path(&format!("/{t2}")), admin(), None),
            404,
        );
    }
    for (claim, field) in [
        ("Shop.Example.com", "ingressHosts[0]"),
        ("*.com", "ingressHosts[0]"),
        ("shop.example.com/admin", "ingressHosts[0]"),
        ("a.*.example.com", "ingressHosts[0]"),
    ] {
        let v = expect(
            &call(
                "POST",
                &tenants_path(""),
                admin(),
                Some(&json!({ "name": t2, "ingressHosts": [claim] })),
            ),
            422,
        );
        assert_eq!(v["code"], "KN-422", "{v}");
        assert_eq!(v["details"]["field"], field, "{v}");
        expect(
            &call("GET", &tenants_path(&format!("/{t2}")), admin(), None),
            404,
        );
    }

    let own = format!("shop-{t2}.example");
    expect(
        &call(
            "POST",
            &tenants_path(""),
            admin(),
            Some(&json!({ "name": t2, "ingressHosts": [own] })),
        ),
        201,
    );
    let path = tenants_path(&format!("/{t2}"));
    let v = expect(
        &call(
            "PUT",
            &path,
            admin(),
            Some(&json!({ "ingressHosts": [own, below] })),
        ),
        409,
    );
    assert_eq!(v["details"]["host"], below.as_str(), "{v}");
    let v = expect(
        &call(
            "PUT",
            &path,
            admin(),
            Some(&json!({ "ingressHosts": ["-bad-.example"] })),
        ),
        422,
    );
    assert_eq!(v["details"]["field"], "ingressHosts[0]", "{v}");
    let v = expect(&call("GET", &path, admin(), None), 200);
    assert_eq!(v["ingressHosts"], json!([own]), "nothing written: {v}");
    // A tenant's own claims may be rewritten freely.
    let v = expect(
        &call(
            "PUT",
            &path,
            admin(),
            Some(&json!({ "ingressHosts": [format!("*.{t2}.example")] })),
        ),
        200,
    );
    assert_eq!(v["ingressHosts"], json!([format!("*.{t2}.example")]));

    agent_ready(MAIN, &t1, &[]);
    let v = expect(
        &call("GET", &tenants_path(&format!("/{t1}")), admin(), None),
        200,
    );
    let held = v["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "IngressHostsReady")
        .cloned()
        .unwrap_or_default();
    assert_eq!(held["status"], "True", "{v}");
    for t in [&t1, &t2] {
        expect(
            &call("DELETE", &tenants_path(&format!("/{t}")), admin(), None),
            202,
        );
    }
}
