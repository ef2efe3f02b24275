//! `serve` over TLS, in an environment of its own without Capsule (so it never waits for the
//! machine's one Capsule): the real binary, a serving certificate from the environment's CA,
//! and curl verifying it.

use std::process::Command;
use std::time::Duration;

use testenv::{Options, TestEnv};

use crate::harness::*;

#[test]
fn serve_speaks_https_with_the_given_certificate() {
    let env: &'static TestEnv = Box::leak(Box::new(block_on(async {
        TestEnv::start(Options {
            capsule: false,
            label: "tls".into(),
            ..Options::default()
        })
        .await
        .expect("environment")
    })));
    let pair = env
        .pki()
        .serving("kubenova-control", &["127.0.0.1", "localhost"])
        .expect("serving certificate");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut cmd = Command::new(control_binary());
    cmd.arg("serve")
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--kubeconfig={}", env.kubeconfig_path().display()))
        .arg(format!("--issuer={}", testenv::proxy::ISSUER))
        .arg(format!("--tls-cert={}", pair.cert_path.display()))
        .arg(format!("--tls-key={}", pair.key_path.display()))
        .arg("--no-agent")
        .arg("--audit-log=-");
    env.spawn("kubenova-control-tls", cmd).expect("spawn");
    let url = format!("https://127.0.0.1:{port}/readyz");
    let ca = env.ca_path();
    eventually("control answers over TLS", Duration::from_secs(60), || {
        Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(&ca)
            .arg(&url)
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout == b"ok")
    });
    // Plain HTTP on the TLS port is not served.
    let plain = Command::new("curl")
        .args([
            "-sf",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/readyz"),
        ])
        .output()
        .expect("curl");
    assert!(!plain.status.success());
    // An error through TLS is the same envelope.
    let out = Command::new("curl")
        .args(["-s", "--http2", "--cacert"])
        .arg(&ca)
        .arg(format!("https://127.0.0.1:{port}/api/v1/me"))
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["code"], "KN-401", "{v}");
}
