//! `GET /api/v1/audit`: admins only; an event made a moment before is there, newest first,
//! filtered; the events of another replica (a second `kubenova-control` on the same management
//! namespace) are read from its ring; no token is ever in it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testenv::control::ControlOptions;

use crate::harness::*;

fn audit(token: &str, query: &str) -> Value {
    expect(
        &call("GET", &format!("/api/v1/audit{query}"), token, None),
        200,
    )
}

#[test]
fn audit_is_refused_to_everyone_but_admins() {
    let t = unique("aud-roles");
    tenant(&t, &["aud-owner"]);
    project(&t, "web", &["aud-dev"], &[]);
    let tokens = [
        ("ops", api_token("aud-ops", &["ops"], None, None)),
        (
            "tenantOwner",
            api_token("aud-owner", &["tenantOwner"], Some(&t), None),
        ),
        (
            "projectDev",
            api_token("aud-dev", &["projectDev"], Some(&t), Some("web")),
        ),
        (
            "readOnly",
            api_token("aud-reader", &["readOnly"], Some(&t), None),
        ),
    ];
    for (role, token) in &tokens {
        let r = call("GET", "/api/v1/audit", token, None);
        let body = expect(&r, 403);
        assert_eq!(body["code"], "KN-403", "{role}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("audit.list") && message.contains("admin"),
            "{role}: {message}"
        );
    }
    let r = harness()
        .control
        .call("GET", "/api/v1/audit", None, None)
        .expect("call");
    assert_eq!(expect(&r, 401)["code"], "KN-401");
}

#[test]
fn audit_an_admin_sees_an_event_made_a_moment_before() {
    let t = unique("aud-seen");
    tenant(&t, &["aud-seen-owner"]);
    // A refused attempt and a token minted, by people other than the admin.
    let owner = api_token("aud-seen-owner", &["tenantOwner"], Some(&t), None);
    let refused = call(
        "PUT",
        &format!("/api/v1/clusters/{MAIN}/tenants/{t}/quotas"),
        &owner,
        Some(&json!({"cpu": "1"})),
    );
    expect(&refused, 403);
    let minted = mint(
        &owner,
        &json!({"subject": "aud-seen-owner", "roles": ["readOnly"], "tenant": t, "ttlSeconds": 600}),
    );
    let secret = minted["token"].as_str().expect("token").to_owned();
    let jti = minted["jti"]
        .as_str()
        .expect("the minted token's id")
        .to_owned();

    let list = audit(admin(), &format!("?tenant={t}"));
    let items = list["items"].as_array().expect("items");
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    // Newest first: the mint, then the refusal (the tenant's creation names no tenant in its
    // path: `POST .../tenants`).
    assert_eq!(actions, ["tokens.create", "tenants.quotas"], "{list}");
    assert_eq!(items[0]["subject"], "aud-seen-owner");
    assert_eq!(items[0]["result"], 201);
    assert_eq!(items[0]["tokenId"], jti.as_str());
    assert_eq!(items[0]["issuedTo"], "aud-seen-owner");
    assert_eq!(items[0]["tenant"], t.as_str());
    assert_eq!(items[1]["result"], 403);
    assert_eq!(items[1]["scope"], format!("tenant:{t}"));
    assert!(
        items
            .iter()
            .all(|e| e["replica"].as_str().is_some_and(|r| !r.is_empty()))
    );
    // Never a token.
    let text = list.to_string();
    assert!(
        !text.contains(&secret),
        "the minted token is in the audit answer"
    );
    assert!(
        !text.contains(admin()),
        "the admin's token is in the audit answer"
    );

    // The filters.
    let subjects = |query: &str| -> Vec<String> {
        audit(admin(), query)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["action"].as_str().unwrap_or_default(),
                    e["result"]
                )
            })
            .collect()
    };
    assert_eq!(
        subjects(&format!("?tenant={t}&outcome=failure")),
        ["tenants.quotas 403"]
    );
    assert_eq!(
        subjects(&format!("?tenant={t}&actor=aud-seen-owner&outcome=success")),
        ["tokens.create 201"]
    );
    assert_eq!(
        subjects(&format!("?tenant={t}&limit=1")),
        ["tokens.create 201"]
    );
    let one = audit(admin(), &format!("?tenant={t}&limit=1"));
    assert_eq!(one["truncated"], true, "{one}");
    assert!(subjects(&format!("?tenant={t}&since=2999-01-01T00:00:00Z")).is_empty());
    assert_eq!(
        subjects(&format!("?tenant={t}&since=2020-01-01T00:00:00Z")).len(),
        2
    );
    assert!(one["perReplica"].as_u64().is_some_and(|n| n > 0), "{one}");
    assert!(
        !one["sources"].as_array().expect("sources").is_empty(),
        "{one}"
    );

    // Bad queries name what to fix.
    for (query, status, words) in [
        ("?limit=0", 422, "limit"),
        ("?limit=5000", 422, "limit"),
        ("?outcome=ok", 422, "success"),
        ("?since=yesterday", 422, "RFC 3339"),
        ("?tenant=Not_A_Name", 422, "tenant"),
        ("?user=alice", 400, "limit, actor, tenant, outcome, since"),
        ("?limit=1&limit=2", 400, "twice"),
    ] {
        let r = call("GET", &format!("/api/v1/audit{query}"), admin(), None);
        let body = expect(&r, status);
        assert_eq!(body["code"], format!("KN-{status}"), "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap_or_default().contains(words),
            "{query}: {body}"
        );
    }
}

#[test]
fn audit_reads_the_events_of_every_replica() {
    let h = harness();
    let second = block_on(async move {
        h.env
            .start_control(
                &control_binary(),
                ControlOptions {
                    no_agent: true,
                    namespace: Some(h.control.namespace.clone()),
                    log_name: Some("kubenova-control-audit-2".into()),
                    ..ControlOptions::default()
                },
            )
            .await
            .expect("a second control replica")
    });
    let subject = unique("aud-other-replica");
    // A token minted through the second replica: its event is recorded there.
    let r = second
        .call(
            "POST",
            "/api/v1/tokens",
            Some(admin()),
            Some(&json!({"subject": subject, "roles": ["ops"], "ttlSeconds": 600})),
        )
        .expect("mint on the second replica");
    expect(&r, 201);
    let own = audit_on(&second, &subject);
    let replica = own[0]["replica"].as_str().expect("replica").to_owned();
    // The first replica reads it from the second's ring, within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = audit(admin(), &format!("?actor={}", admin_subject()));
        let found = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| e["issuedTo"] == subject.as_str())
            .cloned();
        if let Some(event) = found {
            assert_eq!(event["replica"], replica.as_str(), "{event}");
            assert_eq!(event["action"], "tokens.create");
            let sources: Vec<&str> = list["sources"]
                .as_array()
                .expect("sources")
                .iter()
                .filter_map(|s| s["replica"].as_str())
                .collect();
            assert!(sources.contains(&replica.as_str()), "{list}");
            assert!(sources.len() >= 2, "{list}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first replica never showed the second's event: {list}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // And the ring is a ConfigMap in the management namespace, without the token.
    let out = h
        .env
        .kubectl()
        .args(["get", "configmaps", "-n", &h.control.namespace])
        .args(["-l", "kubenova.io/audit=events", "-o", "json"])
        .output()
        .expect("kubectl get configmaps");
    assert!(out.status.success(), "{out:?}");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains(&subject), "the ring holds the event: {out}");
    assert!(!out.contains(admin()), "a token in the ring");
}

/// The second replica's own answer: the event is readable at once where it was recorded.
fn audit_on(control: &testenv::control::RunningControl, subject: &str) -> Vec<Value> {
    let r = control
        .call(
            "GET",
            &format!("/api/v1/audit?actor={}", admin_subject()),
            Some(admin()),
            None,
        )
        .expect("audit on the second replica");
    let list = expect(&r, 200);
    let found: Vec<Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["issuedTo"] == subject)
        .cloned()
        .collect();
    assert_eq!(found.len(), 1, "{list}");
    found
}

/// The bootstrap admin token's subject.
fn admin_subject() -> String {
    let me = expect(&call("GET", "/api/v1/me", admin(), None), 200);
    me["subject"].as_str().expect("subject").to_owned()
}
