//! Signing-key rotation with the real commands against a second control plane (its own
//! management namespace, so the shared one's keys stay put): add a key, sign with it, keep
//! the old tokens working until the old key is retired, then they stop.

use std::time::Duration;

use testenv::control::control_command;

use crate::harness::*;

pub(crate) fn jwks_kids(port: u16) -> Vec<String> {
    let r = testenv::control::http(port, "GET", "/.well-known/jwks.json", &[], b"").expect("jwks");
    let mut kids: Vec<String> = r.json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_owned())
        .collect();
    kids.sort();
    kids
}

#[test]
fn rotate_then_retire_the_old_key() {
    let control = another_control(Some("kn-rotation"), "kubenova-control-rotation", &[]);
    let old_token = control.admin_token.clone();
    let old_kid = kid_of(&old_token);
    assert_eq!(jwks_kids(control.port), std::slice::from_ref(&old_kid));
    let me = |token: &str| {
        control
            .call("GET", "/api/v1/me", Some(token), None)
            .expect("call")
            .status
    };
    assert_eq!(me(&old_token), 200);

    let args = |extra: &[&str]| {
        let mut v = vec![
            "keys".to_owned(),
            format!("--kubeconfig={}", control.kubeconfig.display()),
            "--namespace=kn-rotation".to_owned(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        control_command(&control.binary, &refs)
    };
    let out = run(&["rotate"]).expect("rotate");
    let new_kid = out
        .trim()
        .strip_prefix("new active key: ")
        .expect("new kid")
        .to_owned();
    eventually(
        "the JWKS publishes both keys",
        Duration::from_secs(20),
        || jwks_kids(control.port).len() == 2,
    );
    // New tokens are signed with the new key; the old token still works.
    let r = control
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&old_token),
            Some(&serde_json::json!({"subject": "after-rotation", "roles": ["ops"]})),
        )
        .expect("call");
    assert_eq!(r.status, 201, "{}", r.text());
    let new_token = r.json()["token"].as_str().expect("token").to_owned();
    assert_eq!(kid_of(&new_token), new_kid);
    assert_eq!(me(&old_token), 200);
    assert_eq!(me(&new_token), 200);

    // Retiring the old key is refused while unexpired tokens use it, and the active key never.
    let err = run(&["retire", &format!("--kid={old_kid}")]).expect_err("tokens still use it");
    assert!(err.to_string().contains("unexpired token"), "{err}");
    let err = run(&["retire", &format!("--kid={new_kid}")]).expect_err("active");
    assert!(err.to_string().contains("active key"), "{err}");
    run(&["retire", &format!("--kid={old_kid}"), "--force"]).expect("retire");
    eventually(
        "the old key is gone and its tokens stop working",
        Duration::from_secs(20),
        || jwks_kids(control.port) == [new_kid.clone()] && me(&old_token) == 401,
    );
    assert_eq!(me(&new_token), 200);
}
