//! Scheduled signing-key rotation (`serve --key-rotation-period`): a new key is published before
//! it signs, the old one verifies until every token it signed has expired, each step is an Event
//! and a metric, and no valid request through the proxy is refused while keys rotate under load.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use testenv::control::{RunningControl, control_command};

use crate::harness::*;

fn claims(token: &str) -> Value {
    let part = |i: usize| token.split('.').nth(i).expect("three parts");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part(0)).expect("b64")).expect("json");
    let mut body: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part(1)).expect("b64")).expect("json");
    body["kid"] = header["kid"].clone();
    body
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .try_into()
        .expect("i64")
}

/// The signing-key Secret of `namespace`: (active kid, live kids, schedule annotation).
fn secret_state(namespace: &str) -> (String, BTreeSet<String>, Value) {
    let out = harness()
        .env
        .kubectl_run(
            &[
                "-n",
                namespace,
                "get",
                "secret",
                "kubenova-signing-keys",
                "-o",
                "json",
            ],
            None,
        )
        .expect("get secret");
    let secret: Value = serde_json::from_str(&out).expect("json");
    let data = secret["data"].as_object().expect("data");
    let active = String::from_utf8(
        STANDARD
            .decode(data["active"].as_str().expect("active"))
            .expect("b64"),
    )
    .expect("utf8");
    let live = data
        .keys()
        .filter_map(|k| k.strip_suffix(".pem").map(str::to_owned))
        .collect();
    let schedule = secret["metadata"]["annotations"]["kubenova.io/key-schedule"]
        .as_str()
        .map(|s| serde_json::from_str(s).expect("schedule json"))
        .unwrap_or(Value::Null);
    (active, live, schedule)
}

fn jwks_kids(control: &RunningControl) -> Vec<String> {
    crate::keys::jwks_kids(control.port)
}

/// `(seconds-since-epoch field)` of `kid` in `schedule`.
fn at(schedule: &Value, kid: &str, field: &str) -> i64 {
    schedule["keys"][kid][field]
        .as_i64()
        .unwrap_or_else(|| panic!("no {field} for {kid} in {schedule}"))
}

#[test]
fn keys_are_published_before_they_sign_and_retired_after_the_longest_token_lifetime() {
    let h = harness();
    const NS: &str = "kn-schedule";
    let control = another_control(
        Some(NS),
        "kubenova-control-schedule",
        &[
            "--key-rotation-period=16s",
            "--key-publish-delay=12s",
            "--kubeconfig-ttl=20s",
            "--max-kubeconfig-ttl=20s",
            "--api-token-ttl=20s",
            "--max-api-token-ttl=20s",
            "--session-ttl=20s",
            "--credential-ttl=10s",
            "--clock-skew=1s",
        ],
    );
    let bootstrap = |ttl: &str| {
        control_command(
            &control.binary,
            &[
                "token",
                "--admin",
                &format!("--kubeconfig={}", control.kubeconfig.display()),
                &format!("--namespace={NS}"),
                &format!("--issuer={}", testenv::proxy::ISSUER),
                &format!("--ttl={ttl}"),
            ],
        )
        .expect("token --admin")
        .trim()
        .to_owned()
    };
    let me = |token: &str| {
        control
            .call("GET", "/api/v1/me", Some(token), None)
            .expect("call")
            .status
    };
    let first = kid_of(&control.admin_token);
    // The harness's 24 h bootstrap token would keep the first key alive: revoke it, with a
    // short one that is not its descendant.
    let short = bootstrap("20s");
    let jti = claims(&control.admin_token)["jti"]
        .as_str()
        .expect("jti")
        .to_owned();
    let r = control
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{jti}"),
            Some(&short),
            None,
        )
        .expect("revoke");
    assert!(r.status == 200 || r.status == 204, "{}", r.text());

    // 1. The next key is published: in the Secret as `next`, then in the JWKS, while the first
    //    key still signs.
    let second = {
        let mut next = None;
        eventually("a next key is published", Duration::from_secs(30), || {
            next = secret_state(NS).2["next"].as_str().map(str::to_owned);
            next.is_some()
        });
        next.expect("next")
    };
    // A token of the first key, minted while the next one waits to sign.
    let older = bootstrap("20s");
    assert_eq!(kid_of(&older), first);
    eventually(
        "the JWKS publishes the next key",
        Duration::from_secs(15),
        || jwks_kids(&control).contains(&second),
    );
    let in_jwks_at = now();

    // 2. It signs once published for the delay; the first key still verifies.
    eventually(
        "the next key becomes the active one",
        Duration::from_secs(30),
        || secret_state(NS).0 == second,
    );
    let (_, _, schedule) = secret_state(NS);
    let activated = at(&schedule, &second, "activated");
    assert!(
        activated - at(&schedule, &second, "published") >= 12,
        "signed before its publish delay: {schedule}"
    );
    assert_eq!(
        at(&schedule, &first, "deactivated"),
        activated,
        "{schedule}"
    );
    assert!(
        in_jwks_at <= activated,
        "the JWKS published the key only {} s after it began signing",
        in_jwks_at - activated
    );
    assert_eq!(kid_of(&bootstrap("15s")), second);
    assert!(now() < claims(&older)["exp"].as_i64().expect("exp"));
    assert_eq!(
        me(&older),
        200,
        "a token of the old key works until it expires"
    );

    // 3. The first key is retired once every token it signed has expired: the longest lifetime
    //    (20 s) plus the clock skew (1 s) after it stopped signing, not before.
    eventually("the first key is retired", Duration::from_secs(60), || {
        !secret_state(NS).1.contains(&first)
    });
    assert!(
        now() >= activated + 21,
        "retired {} s after it stopped signing, before every token it signed expired",
        now() - activated
    );
    eventually(
        "the JWKS drops the retired key",
        Duration::from_secs(15),
        || !jwks_kids(&control).contains(&first),
    );

    // 4. Each step is an Event on the Secret and a metric.
    let events = h
        .env
        .kubectl_run(&["-n", NS, "get", "events", "-o", "json"], None)
        .expect("events");
    let events: Value = serde_json::from_str(&events).expect("json");
    let reasons: BTreeSet<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["involvedObject"]["name"] == "kubenova-signing-keys")
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for reason in [
        "SigningKeyPublished",
        "SigningKeyRotated",
        "SigningKeyRetired",
    ] {
        assert!(reasons.contains(reason), "no {reason} Event: {reasons:?}");
    }
    let metrics = testenv::control::http(control.port, "GET", "/metrics", &[], b"")
        .expect("metrics")
        .text();
    for step in ["published", "activated", "retired"] {
        let line = format!("kubenova_signing_key_rotation_steps_total{{step=\"{step}\"}} ");
        assert!(metrics.contains(&line), "no {line} in\n{metrics}");
    }
    assert!(metrics.contains("kubenova_signing_keys_live "), "{metrics}");
    assert!(h.env.stop("kubenova-control-schedule"));
}

/// Mints a tenant-owner kubeconfig for `tenant` from `control` and returns its token.
fn kubeconfig_token(control: &RunningControl, admin: &str, tenant: &str) -> Result<String, String> {
    let r = control
        .call(
            "POST",
            &format!("/api/v1/tenants/{tenant}/kubeconfig"),
            Some(admin),
            Some(&json!({ "subject": "rot-owner" })),
        )
        .map_err(|e| e.to_string())?;
    if r.status != 201 {
        return Err(format!("kubeconfig: {} {}", r.status, r.text()));
    }
    let kubeconfig = r.json()["kubeconfig"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .map(|t| t.trim_matches('"').to_owned())
        .ok_or_else(|| "no token in the kubeconfig".to_owned())
}

/// A GET through the proxy with `token`; the status code.
fn through_proxy(token: &str, path: &str) -> u16 {
    let h = harness();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
            "--cacert",
        ])
        .arg(&h.proxy.ca_path)
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{}{path}", h.proxy.url))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn no_valid_request_is_refused_while_keys_rotate_under_load() {
    let h = harness();
    let t = unique("rot");
    tenant(&t, &["rot-owner"]);
    project(&t, "web", &[], &[]);
    agent_ready(MAIN, &t, &["web"]);
    let pods = format!("/api/v1/namespaces/{t}-web/pods");
    // A second replica of the shared control plane (same namespace, same Secret) that rotates
    // every 20 s and publishes 15 s ahead: more than the other replica's 10 s refresh plus the
    // proxy's 1 s reload.
    let rotating = another_control(
        None,
        "kubenova-control-rotating",
        &["--key-rotation-period=20s", "--key-publish-delay=15s"],
    );
    let replicas = [h.control.clone(), rotating.clone()];
    let admins = [h.control.admin_token.clone(), rotating.admin_token.clone()];
    let kids = Arc::new(Mutex::new(BTreeSet::from([kid_of(&admins[0])])));
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let requests = Arc::new(Mutex::new(0u32));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (replicas, admins, kids, tokens, failures, requests, stop, pods, t) = (
                replicas.clone(),
                admins.clone(),
                kids.clone(),
                tokens.clone(),
                failures.clone(),
                requests.clone(),
                stop.clone(),
                pods.clone(),
                t.clone(),
            );
            std::thread::spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let (minter, checker) = (i % 2, (i + 1) % 2);
                    i += 1;
                    let fail = |what: String| failures.lock().expect("lock").push(what);
                    // A kubeconfig from one replica, used through the proxy at once.
                    match kubeconfig_token(&replicas[minter], &admins[minter], &t) {
                        Ok(token) => {
                            kids.lock().expect("lock").insert(kid_of(&token));
                            let status = through_proxy(&token, &pods);
                            if status != 200 {
                                fail(format!(
                                    "fresh token of {} via proxy: {status}",
                                    kid_of(&token)
                                ));
                            }
                            tokens.lock().expect("lock").push(token);
                        }
                        Err(e) => fail(format!("minting on replica {minter}: {e}")),
                    }
                    // An older token, signed by whichever key was active then.
                    let old = {
                        let all = tokens.lock().expect("lock");
                        all.get(i * 7 % all.len().max(1)).cloned()
                    };
                    if let Some(token) = old {
                        let status = through_proxy(&token, &pods);
                        if status != 200 {
                            fail(format!(
                                "older token of {} via proxy: {status}",
                                kid_of(&token)
                            ));
                        }
                    }
                    // An API token from one replica, checked by the other.
                    let r = replicas[minter].call(
                        "POST",
                        "/api/v1/tokens",
                        Some(&admins[minter]),
                        Some(
                            &json!({ "subject": "rot-robot", "roles": ["ops"], "ttlSeconds": 600 }),
                        ),
                    );
                    match r {
                        Ok(r) if r.status == 201 => {
                            let token = r.json()["token"].as_str().unwrap_or_default().to_owned();
                            match replicas[checker].call("GET", "/api/v1/me", Some(&token), None) {
                                Ok(me) if me.status == 200 => {}
                                Ok(me) => fail(format!(
                                    "API token of {} on the other replica: {} {}",
                                    kid_of(&token),
                                    me.status,
                                    me.text()
                                )),
                                Err(e) => fail(format!("me: {e}")),
                            }
                        }
                        Ok(r) => fail(format!("minting an API token: {} {}", r.status, r.text())),
                        Err(e) => fail(format!("minting an API token: {e}")),
                    }
                    *requests.lock().expect("lock") += 3;
                }
            })
        })
        .collect();
    // Two rotations: three keys have signed tokens.
    let start = Instant::now();
    while kids.lock().expect("lock").len() < 3 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(500));
    }
    // Keep going a little after the last switch, so tokens of the newest key are used too.
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    assert!(h.env.stop("kubenova-control-rotating"));
    let kids = kids.lock().expect("lock").clone();
    let failures = failures.lock().expect("lock").clone();
    let requests = *requests.lock().expect("lock");
    assert!(
        kids.len() >= 3,
        "keys did not rotate twice in {:?} (kids {kids:?})",
        start.elapsed()
    );
    assert!(
        requests > 50,
        "too little load to show anything: {requests} requests"
    );
    eprintln!(
        "{requests} requests while {} keys signed; {} refused",
        kids.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {requests} valid requests refused while keys rotated:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
