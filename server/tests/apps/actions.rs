//! App actions by both URL forms: each action's own operation (`POST .../apps/{a}/suspend`, the
//! form the OpenAPI document and generated clients use) and the seed's `POST .../apps/{a}:suspend`,
//! against the same App, with the same effect.

use super::*;

fn spec(base: &str, app: &str) -> Value {
    call("GET", &format!("{base}/{app}"), None).json()["spec"].clone()
}

#[test]
fn every_action_works_by_its_own_operation_and_by_the_seed_suffix() {
    let (t, p, _ns, _dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let body = json!({ "name": "act", "image": { "image": "nginx", "tag": "1.27", "ports": [{ "port": 80 }] } });
    expect(&call("POST", &base, Some(&body)), 201);
    eventually("act-v1 running", SETTLE, || {
        let v = call("GET", &format!("{base}/act/status"), None).json();
        (v["phase"] == "running" && v["revision"] == "act-v1").then_some(())
    });

    // image-update: a JSON body is required by its own operation.
    let missing = call("POST", &format!("{base}/act/image-update"), None);
    assert_eq!(
        missing.status,
        400,
        "{}",
        String::from_utf8_lossy(&missing.body)
    );
    let answer = expect(
        &call(
            "POST",
            &format!("{base}/act/image-update"),
            Some(&json!({ "tag": "1.28" })),
        ),
        200,
    );
    assert_eq!(answer["spec"]["image"]["tag"], "1.28", "{answer}");
    eventually("act-v2 running", SETTLE, || {
        let v = call("GET", &format!("{base}/act/status"), None).json();
        (v["phase"] == "running" && v["revision"] == "act-v2").then_some(())
    });

    // rollback without a body: the revision before the current one.
    let answer = expect(&call("POST", &format!("{base}/act/rollback"), None), 200);
    assert_eq!(answer["spec"]["image"]["tag"], "1.27", "{answer}");

    // suspend and resume take no body; each form sets the same field.
    let refused = call(
        "POST",
        &format!("{base}/act/suspend"),
        Some(&json!({ "now": true })),
    );
    assert_eq!(
        refused.status,
        422,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(spec(&base, "act")["suspended"], false);
    let answer = expect(&call("POST", &format!("{base}/act/suspend"), None), 200);
    assert_eq!(answer["spec"]["suspended"], true, "{answer}");
    let answer = expect(&call("POST", &format!("{base}/act:resume"), None), 200);
    assert_eq!(answer["spec"]["suspended"], false, "{answer}");
    let answer = expect(&call("POST", &format!("{base}/act:suspend"), None), 200);
    assert_eq!(answer["spec"]["suspended"], true, "{answer}");
    let answer = expect(&call("POST", &format!("{base}/act/resume"), None), 200);
    assert_eq!(answer["spec"]["suspended"], false, "{answer}");
    assert_eq!(
        call("GET", &format!("{base}/act/status"), None).json()["suspended"],
        false
    );

    // deploy: a new revision with the same spec, by either form.
    let running = |v: &Value| v["phase"] == "running";
    let settled = eventually("the edits delivered", SETTLE, || {
        let v = call("GET", &format!("{base}/act/status"), None).json();
        running(&v).then(|| v["revision"].as_str().map(str::to_owned))?
    });
    let before = spec(&base, "act");
    expect(&call("POST", &format!("{base}/act/deploy"), None), 200);
    let deployed = eventually("a new revision after /deploy", SETTLE, || {
        let v = call("GET", &format!("{base}/act/status"), None).json();
        let revision = v["revision"].as_str()?.to_owned();
        (running(&v) && revision != settled).then_some(revision)
    });
    expect(&call("POST", &format!("{base}/act:deploy"), None), 200);
    eventually("a new revision after :deploy", SETTLE, || {
        let v = call("GET", &format!("{base}/act/status"), None).json();
        (running(&v) && v["revision"].as_str()? != deployed).then_some(())
    });
    assert_eq!(spec(&base, "act"), before, "deploy changes no spec");

    // An action that does not exist: no such operation, and a clear error by the suffix.
    let unknown = call("POST", &format!("{base}/act/restart"), None);
    assert_eq!(
        unknown.status,
        404,
        "{}",
        String::from_utf8_lossy(&unknown.body)
    );
    let unknown = call("POST", &format!("{base}/act:restart"), None);
    assert_eq!(
        unknown.status,
        422,
        "{}",
        String::from_utf8_lossy(&unknown.body)
    );

    // delete by its own operation (DELETE) is covered by the other tests; by the suffix here.
    assert_eq!(
        call("POST", &format!("{base}/act:delete"), None).status,
        204
    );
    assert_eq!(call("GET", &format!("{base}/act"), None).status, 404);
}
