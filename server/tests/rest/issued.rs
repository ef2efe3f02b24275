//! What issued tokens may be and how long they live (issue 12, items 9-11; ADR 0010): tokens
//! die with their tenant or project (deleted through the API or with kubectl) and never reach a
//! later one of the same name; tenant owners mint only for entitled subjects; nothing issued
//! outlives the credential that asked for it; revoking a token revokes what it issued.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

fn tenants_path(rest: &str) -> String {
    format!("/api/v1/clusters/{MAIN}/tenants{rest}")
}

/// Asks for a kubeconfig with `token`; returns (kubeconfig, jti, expiresAt).
fn kubeconfig_with(token: &str, path: &str, body: &Value) -> (String, String, String) {
    let v = expect(&call("POST", path, token, Some(body)), 201);
    (
        v["kubeconfig"].as_str().expect("kubeconfig").to_owned(),
        v["jti"].as_str().expect("jti").to_owned(),
        v["expiresAt"].as_str().expect("expiresAt").to_owned(),
    )
}

/// Control writes every time as UTC RFC 3339 in one format, so they compare as strings.
fn unix(rfc3339: &str) -> String {
    assert!(rfc3339.ends_with('Z'), "{rfc3339}");
    rfc3339.to_owned()
}

fn me(token: &str) -> Value {
    call("GET", "/api/v1/me", token, None).json()
}

/// Waits until `kubeconfig` is refused by the proxy with 401; returns how long that took.
fn refused_within(kubeconfig: &std::path::Path, ns: &str, within: Duration) -> Duration {
    let h = harness();
    eventually("the kubeconfig is refused (401)", within, || {
        kubectl(h.env, kubeconfig, &["get", "configmaps", "-n", ns])
            .is_err_and(|e| unauthorized(&e))
    })
}

#[test]
fn deleting_a_tenant_or_project_revokes_its_tokens_and_a_new_one_of_the_same_name_is_out_of_reach()
{
    let h = harness();
    let t = unique("gone");
    tenant(&t, &["alice"]);
    project(&t, "web", &["bob"], &[]);
    agent_ready(MAIN, &t, &["web"]);
    let ns = format!("{t}-web");
    let alice = tenant_kubeconfig(&t, "alice", &format!("{t}-alice"));
    let (bob_kc, _, _) = kubeconfig_with(
        admin(),
        &tenants_path(&format!("/{t}/projects/web/kubeconfig")),
        &json!({"subject": "bob"}),
    );
    let bob = save_kubeconfig(&format!("{t}-bob"), &bob_kc);
    let alice_api = api_token("alice", &["tenantOwner"], Some(&t), None);
    kubectl(h.env, &alice, &["get", "configmaps", "-n", &ns]).expect("alice, before");
    kubectl(h.env, &bob, &["get", "configmaps", "-n", &ns]).expect("bob, before");

    // The project, deleted by an admin with kubectl (not through the API): the agent revokes
    // its tokens before its finalizer goes.
    h.env
        .kubectl_run(
            &[
                "delete",
                "projects.kubenova.io",
                &format!("{t}.web"),
                "--wait=false",
            ],
            None,
        )
        .expect("kubectl delete project");
    let started = Instant::now();
    while !kubectl(h.env, &bob, &["get", "configmaps", "-n", &ns]).is_err_and(|e| unauthorized(&e))
    {
        if started.elapsed() > Duration::from_secs(30) {
            let records = h
                .env
                .kubectl_run(&["get", "issuedtokens.kubenova.io", "-o", "yaml"], None)
                .unwrap_or_default();
            let log = std::fs::read_to_string(h.env.log("kubenova-control")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            panic!(
                "bob's kubeconfig still works 30 s after its project was deleted\nrecords:\n{}\ncontrol log:\n{}",
                records
                    .split("\n- ")
                    .filter(|r| r.contains(&t))
                    .collect::<Vec<_>>()
                    .join("\n- "),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eventually("the project is gone", Duration::from_secs(120), || {
        call(
            "GET",
            &tenants_path(&format!("/{t}/projects/web")),
            admin(),
            None,
        )
        .status
            == 404
    });
    kubectl(h.env, &alice, &["get", "namespaces"]).expect("the tenant's tokens still work");

    // The tenant, deleted through the API: its tokens stop at once.
    expect(
        &call("DELETE", &tenants_path(&format!("/{t}")), admin(), None),
        202,
    );
    let deleted = Instant::now();
    eventually(
        "alice's kubeconfig is refused",
        Duration::from_secs(2),
        || kubectl(h.env, &alice, &["get", "namespaces"]).is_err_and(|e| unauthorized(&e)),
    );
    assert!(deleted.elapsed() < Duration::from_secs(3));
    assert_eq!(
        me(&alice_api)["code"],
        "KN-401",
        "alice's API token is revoked"
    );

    // A new tenant of the same name, with the same owner: the old credentials stay dead.
    eventually("the old tenant is gone", Duration::from_secs(120), || {
        h.env
            .kubectl_run(&["get", "tenants.kubenova.io", &t], None)
            .is_err_and(|e| e.to_string().contains("NotFound"))
    });
    eventually(
        "the name can be used again",
        Duration::from_secs(120),
        || {
            call(
                "POST",
                &tenants_path(""),
                admin(),
                Some(&json!({ "name": t, "owners": ["alice"] })),
            )
            .status
                == 201
        },
    );
    project(&t, "web", &["bob"], &[]);
    agent_ready(MAIN, &t, &["web"]);
    let fresh = tenant_kubeconfig(&t, "alice", &format!("{t}-alice-2"));
    kubectl(h.env, &fresh, &["get", "configmaps", "-n", &ns]).expect("a new kubeconfig works");
    for (who, kc) in [("alice", &alice), ("bob", &bob)] {
        let err = kubectl(h.env, kc, &["get", "configmaps", "-n", &ns])
            .expect_err("the old kubeconfig reaches the new tenant");
        assert!(unauthorized(&err), "{who}: {err}");
    }
    assert_eq!(me(&alice_api)["code"], "KN-401");

    // The new tenant deleted with kubectl (its project first, as the agent does): the agent
    // revokes the tokens before the finalizer goes.
    let fresh_api = api_token("alice", &["tenantOwner"], Some(&t), None);
    expect(&call("GET", "/api/v1/me", &fresh_api, None), 200);
    h.env
        .kubectl_run(&["delete", "tenants.kubenova.io", &t, "--wait=false"], None)
        .expect("kubectl delete tenant");
    eventually(
        "the new kubeconfig is refused",
        Duration::from_secs(60),
        || kubectl(h.env, &fresh, &["get", "namespaces"]).is_err_and(|e| unauthorized(&e)),
    );
    assert_eq!(me(&fresh_api)["code"], "KN-401");
}

#[test]
fn tenant_owners_mint_api_tokens_only_for_entitled_subjects_and_are_named_as_the_minter() {
    let h = harness();
    let (t, other) = (unique("mint"), unique("mint-other"));
    tenant(&t, &["alice"]);
    tenant(&other, &["mallory"]);
    project(&t, "web", &["bob"], &["carol"]);
    let owner = api_token("alice", &["tenantOwner"], Some(&t), None);
    let owner_jti = me(&owner)["jti"].as_str().expect("jti").to_owned();
    // Nobody outside the tenant's owners and the project's access lists.
    for (subject, roles, project) in [
        ("bootstrap-admin", json!(["readOnly"]), None),
        ("mallory", json!(["readOnly"]), None),
        ("mallory", json!(["projectDev"]), Some("web")),
        ("carol", json!(["projectDev"]), Some("web")),
        ("bob", json!(["readOnly"]), None),
    ] {
        let mut body = json!({"subject": subject, "roles": roles, "tenant": t, "ttlSeconds": 600});
        if let Some(p) = project {
            body["project"] = json!(p);
        }
        let v = expect(&call("POST", "/api/v1/tokens", &owner, Some(&body)), 403);
        assert_eq!(v["code"], "KN-403", "{body}");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not entitled"),
            "{body}: {v}"
        );
    }
    // An entitled subject: allowed, and the record names who minted it.
    let minted = mint(
        &owner,
        &json!({"subject": "bob", "roles": ["projectDev"], "tenant": t,
                 "project": "web", "ttlSeconds": 600}),
    );
    let bob = minted["token"].as_str().expect("token").to_owned();
    let bob_jti = minted["jti"].as_str().expect("jti").to_owned();
    let listed = expect(&call("GET", "/api/v1/tokens", admin(), None), 200);
    let record = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["jti"] == bob_jti.as_str())
        .cloned()
        .expect("the minted token's record");
    assert_eq!(record["subject"], "bob");
    assert_eq!(record["issuedBy"], "alice");
    let live = h
        .env
        .kubectl_run(
            &["get", "issuedtokens.kubenova.io", &bob_jti, "-o", "json"],
            None,
        )
        .expect("record");
    let live: Value = serde_json::from_str(&live).expect("json");
    assert_eq!(live["spec"]["issuedByJti"], owner_jti.as_str());
    // What bob's minted token does is audited as bob, minted by alice.
    let body = json!({"subject": "bob", "ttlSeconds": 60});
    expect(
        &call(
            "POST",
            &tenants_path(&format!("/{t}/projects/web/kubeconfig")),
            &bob,
            Some(&body),
        ),
        201,
    );
    let audit = std::fs::read_to_string(&h.control.audit_log).expect("audit log");
    let lines: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines.iter().any(|l| l["action"] == "tokens.create"
            && l["subject"] == "alice"
            && l["issuedTo"] == "bob"
            && l["tokenId"] == bob_jti.as_str()),
        "the mint names its minter and the subject"
    );
    assert!(
        lines.iter().any(|l| l["action"] == "kubeconfigs.project"
            && l["subject"] == "bob"
            && l["mintedBy"] == "alice"),
        "an action with a minted token names its minter"
    );
}

#[test]
fn issued_credentials_never_outlive_the_one_that_asked_and_revoking_it_revokes_them() {
    let h = harness();
    let t = unique("life");
    tenant(&t, &["alice"]);
    project(&t, "web", &["bob"], &[]);
    agent_ready(MAIN, &t, &["web"]);
    let ns = format!("{t}-web");
    let kc_path = tenants_path(&format!("/{t}/projects/web/kubeconfig"));

    // An owner token with two minutes left gets nothing that lives longer.
    let short = mint(
        admin(),
        &json!({"subject": "alice", "roles": ["tenantOwner"], "tenant": t,
                 "ttlSeconds": 120}),
    );
    let short_token = short["token"].as_str().expect("token").to_owned();
    let short_exp = unix(short["expiresAt"].as_str().expect("expiresAt"));
    let short_exp = short_exp.as_str();
    let (_, _, expires) = kubeconfig_with(&short_token, &kc_path, &json!({"subject": "bob"}));
    assert!(
        unix(&expires).as_str() <= short_exp,
        "the default 8 h kubeconfig is cut to the owner's token: {expires}"
    );
    let (_, _, expires) = kubeconfig_with(
        &short_token,
        &tenants_path(&format!("/{t}/kubeconfig")),
        &json!({}),
    );
    assert!(unix(&expires).as_str() <= short_exp, "{expires}");
    let v = expect(
        &call(
            "POST",
            &kc_path,
            &short_token,
            Some(&json!({"subject": "bob", "ttlSeconds": 86_400})),
        ),
        422,
    );
    assert_eq!(v["details"]["field"], "ttlSeconds");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("remaining lifetime"),
        "{v}"
    );
    let v = expect(
        &call(
            "POST",
            "/api/v1/tokens",
            &short_token,
            Some(
                &json!({"subject": "bob", "roles": ["projectDev"], "tenant": t,
                         "project": "web", "ttlSeconds": 3600}),
            ),
        ),
        422,
    );
    assert_eq!(v["details"]["field"], "ttlSeconds");

    // Revoking a token revokes what it issued: kubeconfigs (at the proxy) and API tokens, and
    // what those issued in turn.
    let owner = api_token("alice", &["tenantOwner"], Some(&t), None);
    let owner_jti = me(&owner)["jti"].as_str().expect("jti").to_owned();
    let (bob_kc, bob_kc_jti, _) = kubeconfig_with(
        &owner,
        &kc_path,
        &json!({"subject": "bob", "ttlSeconds": 1800}),
    );
    let bob_kc = save_kubeconfig(&format!("{t}-bob-cascade"), &bob_kc);
    let minted = mint(
        &owner,
        &json!({"subject": "bob", "roles": ["projectDev"], "tenant": t,
                 "project": "web", "ttlSeconds": 1800}),
    );
    let bob_api = minted["token"].as_str().expect("token").to_owned();
    // bob's API token issues a kubeconfig of its own: a grandchild of the owner's token (asking
    // for less than the 1800 s bob's token has, which is less by the time it asks).
    let (grand_kc, _, _) = kubeconfig_with(&bob_api, &kc_path, &json!({"ttlSeconds": 1700}));
    let grand_kc = save_kubeconfig(&format!("{t}-bob-grandchild"), &grand_kc);
    // Unrelated: bob's kubeconfig issued by the admin.
    let (own_kc, _, _) = kubeconfig_with(admin(), &kc_path, &json!({"subject": "bob"}));
    let own_kc = save_kubeconfig(&format!("{t}-bob-own"), &own_kc);
    for kc in [&bob_kc, &grand_kc, &own_kc] {
        kubectl(h.env, kc, &["get", "configmaps", "-n", &ns]).expect("works before");
    }
    expect(&call("GET", "/api/v1/me", &bob_api, None), 200);

    let revoked = Instant::now();
    expect(
        &call(
            "DELETE",
            &format!("/api/v1/tokens/{owner_jti}"),
            admin(),
            None,
        ),
        200,
    );
    for kc in [&bob_kc, &grand_kc] {
        refused_within(kc, &ns, Duration::from_secs(2));
    }
    assert!(revoked.elapsed() < Duration::from_secs(5));
    assert_eq!(me(&bob_api)["code"], "KN-401", "the minted API token");
    kubectl(h.env, &own_kc, &["get", "configmaps", "-n", &ns])
        .expect("a kubeconfig someone else issued still works");
    let listed = expect(&call("GET", "/api/v1/tokens", admin(), None), 200);
    let record = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["jti"] == bob_kc_jti.as_str())
        .cloned()
        .expect("record");
    assert_eq!(record["revoked"], true);
}
