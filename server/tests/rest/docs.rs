//! The guide in docs/index.md, step by step, with the example payloads of docs/examples/
//! sent verbatim, so neither can rot.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("example")).expect("example JSON")
}

fn guide() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/index.md"))
        .expect("docs/index.md")
}

#[test]
fn the_guide_names_every_example_and_step() {
    let guide = guide();
    // The apps guide names the examples the quick tour leaves out (policies need the
    // platform's allow-list).
    let apps =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/apps.md"))
            .expect("docs/apps.md");
    for (file, _) in kubenova_control::rest::openapi::EXAMPLES {
        assert!(
            guide.contains(&format!("docs/examples/{file}"))
                || apps.contains(&format!("(examples/{file})")),
            "neither docs/index.md nor docs/apps.md uses docs/examples/{file}"
        );
    }
    for step in [
        "/clusters/local/tenants",
        "/clusters/local/tenants/acme/projects",
        "/clusters/local/tenants/acme/projects/shop/access",
        "/tenants/acme/kubeconfig",
        "/clusters/local/tenants/acme/projects/shop/kubeconfig",
        "/tokens",
        "KUBENOVA_API_URL",
        "KUBENOVA_ADMIN_TOKEN",
        "kubectl --kubeconfig",
    ] {
        assert!(guide.contains(step), "docs/index.md lacks {step}");
    }
}

#[test]
fn the_guide_flow_with_the_example_payloads() {
    let h = harness();
    // The guide's cluster is `local`; here it is `main`. Its tenant is `acme`, project `shop`.
    let tenant = example("tenant.json");
    let t = tenant["name"].as_str().expect("name").to_owned();
    expect(
        &call(
            "POST",
            &format!("/api/v1/clusters/{MAIN}/tenants"),
            admin(),
            Some(&tenant),
        ),
        201,
    );
    expect(
        &call(
            "PUT",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/owners"),
            admin(),
            Some(&example("owners.json")),
        ),
        200,
    );
    expect(
        &call(
            "PUT",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/quotas"),
            admin(),
            Some(&example("quota.json")),
        ),
        200,
    );
    expect(
        &call(
            "PUT",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/limits"),
            admin(),
            Some(&example("limits.json")),
        ),
        200,
    );
    let v = expect(
        &call(
            "PUT",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/network-policies"),
            admin(),
            Some(&example("network-policies.json")),
        ),
        200,
    );
    assert_eq!(v["networkPolicy"], example("network-policies.json"));
    let project = example("project.json");
    let p = project["name"].as_str().expect("name").to_owned();
    expect(
        &call(
            "POST",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects"),
            admin(),
            Some(&project),
        ),
        201,
    );
    expect(
        &call(
            "PUT",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/access"),
            admin(),
            Some(&example("access.json")),
        ),
        200,
    );
    agent_ready(MAIN, &t, &[&p]);

    let alice = tenant_kubeconfig(&t, "alice", "guide-alice");
    let v = expect(
        &call(
            "POST",
            &format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/kubeconfig"),
            admin(),
            Some(&example("kubeconfig-project.json")),
        ),
        201,
    );
    let bob = save_kubeconfig("guide-bob", v["kubeconfig"].as_str().expect("kubeconfig"));
    let ns = format!("{t}-{p}");
    eventually(
        "alice sees the project namespace",
        Duration::from_secs(30),
        || kubectl(h.env, &alice, &["get", "ns"]).is_ok_and(|out| out.contains(&ns)),
    );
    kubectl(
        h.env,
        &bob,
        &[
            "-n",
            &ns,
            "create",
            "configmap",
            "hello",
            "--from-literal=greeting=hi",
        ],
    )
    .expect("bob creates");
    let out = kubectl(h.env, &bob, &["-n", &ns, "get", "configmaps"]).expect("bob lists");
    assert!(out.contains("hello"), "{out}");

    // A narrower API token from docs/examples/token.json.
    let minted = expect(
        &call(
            "POST",
            "/api/v1/tokens",
            admin(),
            Some(&example("token.json")),
        ),
        201,
    );
    let ci = minted["token"].as_str().expect("token");
    expect(
        &call("GET", &format!("/api/v1/tenants/{t}/usage"), ci, None),
        200,
    );

    // Revoke bob's kubeconfig as the guide does: find it in GET /tokens, DELETE it.
    let listed = expect(&call("GET", "/api/v1/tokens", admin(), None), 200);
    let jti = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["subject"] == "bob" && r["revoked"] == false && r["tenant"] == t.as_str())
        .and_then(|r| r["jti"].as_str())
        .expect("bob's kubeconfig is listed")
        .to_owned();
    expect(
        &call("DELETE", &format!("/api/v1/tokens/{jti}"), admin(), None),
        200,
    );
    // The guide waits 2 s; the 2 s bound itself is asserted in flow.rs and clusters.rs.
    let took = eventually(
        "bob's kubeconfig stops working",
        Duration::from_secs(10),
        || kubectl(h.env, &bob, &["-n", &ns, "get", "configmaps"]).is_err_and(|e| unauthorized(&e)),
    );
    eprintln!("the guide's revocation took effect after {took:?}");
    kubectl(h.env, &alice, &["get", "ns"]).expect("alice's kubeconfig still works");
}
