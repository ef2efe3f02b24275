//! Two clusters: a second testenv cluster (no Capsule) with its own proxy, registered through
//! the API; tenants live in one cluster only; kubeconfigs point at their cluster's proxy and
//! are refused by the other; an unreachable cluster gives 503 naming it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kube::Api;
use kubenova_api::crd::Tenant;
use serde_json::json;
use testenv::proxy::{ProxyOptions, RunningProxy};
use testenv::{Options, TestEnv};

use crate::harness::*;

fn second() -> &'static (TestEnv, RunningProxy) {
    static SECOND: std::sync::OnceLock<(TestEnv, RunningProxy)> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| {
        let jwks = format!("{}/.well-known/jwks.json", harness().control.url);
        let binary = proxy_binary();
        block_on(async move {
            let env = TestEnv::start(Options {
                capsule: false,
                label: "second".into(),
                ..Options::default()
            })
            .await
            .expect("second cluster");
            let proxy = env
                .start_proxy_with(
                    &binary,
                    ProxyOptions {
                        jwks_url: Some(jwks),
                        cluster: Some("second".into()),
                        extra_args: vec!["--clock-skew=1s".into()],
                        ..ProxyOptions::default()
                    },
                )
                .await
                .expect("second proxy");
            (env, proxy)
        })
    })
}

/// A TCP forwarder to the second cluster's apiserver that can be cut, to make a registered
/// cluster unreachable.
struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Forwarder {
    fn start(target: u16) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (s, o) = (stop.clone(), open.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                for stream in [&client, &server] {
                    if let Ok(c) = stream.try_clone() {
                        o.lock().expect("lock").push(c);
                    }
                }
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Forwarder { port, stop, open }
    }

    fn cut(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in self.open.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn kubeconfig_of(env: &TestEnv) -> String {
    std::fs::read_to_string(env.kubeconfig_path()).expect("kubeconfig")
}

fn register(
    name: &str,
    kubeconfig: &str,
    proxy: &RunningProxy,
    ca: &str,
) -> testenv::control::HttpResponse {
    call(
        "POST",
        "/api/v1/clusters",
        admin(),
        Some(
            &json!({"name": name, "kubeconfig": kubeconfig, "proxyUrl": proxy.url, "proxyCa": ca}),
        ),
    )
}

#[tokio::test]
async fn a_second_cluster_has_its_own_tenants_kubeconfigs_and_revocations() {
    let h = harness();
    let (env2, proxy2) = second();
    let r = register("second", &kubeconfig_of(env2), proxy2, env2.ca_pem());
    let v = expect(&r, 201);
    let status = |v: &serde_json::Value, t: &str| {
        v["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == t))
            .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(status(&v, "Reachable").as_deref(), Some("True"), "{v}");
    assert_eq!(status(&v, "CapsuleReady").as_deref(), Some("False"), "{v}");
    assert_eq!(status(&v, "VelaReady").as_deref(), Some("False"), "{v}");
    // No agent runs for `second`: nothing renews its Lease.
    assert_eq!(status(&v, "AgentReady").as_deref(), Some("False"), "{v}");
    let v = expect(&call("GET", "/api/v1/clusters/main", admin(), None), 200);
    assert_eq!(status(&v, "CapsuleReady").as_deref(), Some("True"), "{v}");
    // The agent inside control (`--leader-election=false`) still stamps its Lease.
    assert_eq!(status(&v, "AgentReady").as_deref(), Some("True"), "{v}");
    // Registering the same name twice: 409.
    let r = register("second", &kubeconfig_of(env2), proxy2, env2.ca_pem());
    assert_eq!(expect(&r, 409)["code"], "KN-409");
    // The listed clusters never show a kubeconfig; ops may not read it, admin may.
    let listed = expect(&call("GET", "/api/v1/clusters", admin(), None), 200);
    assert!(!listed.to_string().contains("client-key-data"), "{listed}");
    let ops = api_token("ops-c", &["ops"], None, None);
    let r = call("GET", "/api/v1/clusters/second/kubeconfig", &ops, None);
    assert_eq!(expect(&r, 403)["code"], "KN-403");
    let v = expect(
        &call("GET", "/api/v1/clusters/second/kubeconfig", admin(), None),
        200,
    );
    assert_eq!(v["kubeconfig"].as_str(), Some(kubeconfig_of(env2).as_str()));
    // The Secret holds it encrypted.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(h.env.client().await.expect("client"), &h.control.namespace);
    let secret = secrets
        .get("kubenova-cluster-second")
        .await
        .expect("secret");
    let stored = String::from_utf8_lossy(&secret.data.expect("data")["kubeconfig"].0).into_owned();
    assert!(
        stored.starts_with("kn1:") && !stored.contains("apiVersion"),
        "not encrypted"
    );

    // A tenant in the second cluster; its name is then taken in every cluster.
    let t = unique("two");
    let r = call(
        "POST",
        "/api/v1/clusters/second/tenants",
        admin(),
        Some(&json!({"name": t, "owners": ["zoe"]})),
    );
    expect(&r, 201);
    let r = call(
        "POST",
        &format!("/api/v1/clusters/{MAIN}/tenants"),
        admin(),
        Some(&json!({"name": t})),
    );
    let v = expect(&r, 409);
    assert_eq!(v["details"]["cluster"], "second", "{v}");
    let r = call(
        "GET",
        &format!("/api/v1/clusters/{MAIN}/tenants/{t}"),
        admin(),
        None,
    );
    assert_eq!(expect(&r, 404)["code"], "KN-404");
    let in_second = Api::<Tenant>::all(env2.client().await.expect("client"))
        .get_opt(&t)
        .await
        .expect("get");
    assert!(in_second.is_some());
    let in_main = Api::<Tenant>::all(h.env.client().await.expect("client"))
        .get_opt(&t)
        .await
        .expect("get");
    assert!(in_main.is_none());

    // AGENT-DEPENDENT stand-in (no Capsule here): a tenant namespace and the owner's binding.
    let ns = format!("{t}-app");
    let owners = kubenova_api::identity::tenant_owner_group(&t);
    env2.apply(
        &json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"capsule.clastix.io/tenant": t}}})
        .to_string(),
    )
    .expect("namespace");
    env2.apply(&json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "owner", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": owners}]}).to_string())
        .expect("binding");

    // The short route finds the second cluster; the kubeconfig points at its proxy.
    let v = expect(
        &call(
            "POST",
            &format!("/api/v1/tenants/{t}/kubeconfig"),
            admin(),
            Some(&json!({"subject": "zoe"})),
        ),
        201,
    );
    let kc = v["kubeconfig"].as_str().expect("kubeconfig").to_owned();
    let jti = v["jti"].as_str().expect("jti").to_owned();
    assert!(kc.contains(&proxy2.url), "{kc}");
    let zoe = save_kubeconfig(&format!("{t}-zoe"), &kc);
    eventually(
        "zoe reaches her namespace in the second cluster",
        Duration::from_secs(20),
        || kubectl(env2, &zoe, &["get", "configmaps", "-n", &ns]).is_ok(),
    );
    // The same token at the first cluster's proxy: refused (it names cluster `second`).
    let elsewhere = save_kubeconfig(
        &format!("{t}-zoe-main"),
        &kc.replace(&proxy2.url, &h.proxy.url).replace(
            &STANDARD.encode(env2.ca_pem()),
            &STANDARD.encode(h.env.ca_pem()),
        ),
    );
    let err =
        kubectl(h.env, &elsewhere, &["get", "configmaps", "-n", &ns]).expect_err("wrong cluster");
    assert!(unauthorized(&err), "{err}");
    // Revocation goes to the second cluster's proxy namespace.
    expect(
        &call("DELETE", &format!("/api/v1/tokens/{jti}"), admin(), None),
        200,
    );
    eventually(
        "the second proxy refuses the revoked kubeconfig",
        Duration::from_secs(2),
        || kubectl(env2, &zoe, &["get", "configmaps", "-n", &ns]).is_err_and(|e| unauthorized(&e)),
    );
    // A cluster with tenants cannot be unregistered.
    let r = call("DELETE", "/api/v1/clusters/second", admin(), None);
    assert_eq!(expect(&r, 409)["code"], "KN-409");
}

#[test]
fn an_unreachable_cluster_gives_503_naming_it() {
    let (env2, proxy2) = second();
    let server = env2.server().to_owned();
    let port: u16 = server
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("apiserver port");
    // Registration checks connectivity: a closed port is refused and nothing is stored.
    let closed = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dead = kubeconfig_of(env2).replace(&server, &format!("https://127.0.0.1:{closed}"));
    let r = register("never", &dead, proxy2, env2.ca_pem());
    let v = expect(&r, 503);
    assert_eq!(v["code"], "KN-503");
    assert_eq!(v["details"]["cluster"], "never");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`never`"),
        "{v}"
    );
    assert_eq!(
        expect(&call("GET", "/api/v1/clusters/never", admin(), None), 404)["code"],
        "KN-404"
    );

    // Registered while reachable, then cut off.
    let forwarder = Forwarder::start(port);
    let via =
        kubeconfig_of(env2).replace(&server, &format!("https://127.0.0.1:{}", forwarder.port));
    expect(&register("doomed", &via, proxy2, env2.ca_pem()), 201);
    let t = unique("doomed");
    expect(
        &call(
            "POST",
            "/api/v1/clusters/doomed/tenants",
            admin(),
            Some(&json!({"name": t})),
        ),
        201,
    );
    forwarder.cut();
    for (method, path, body) in [
        ("GET", "/api/v1/clusters/doomed/tenants".to_owned(), None),
        ("GET", format!("/api/v1/clusters/doomed/tenants/{t}"), None),
        (
            "POST",
            "/api/v1/clusters/doomed/tenants".to_owned(),
            Some(json!({"name": unique("late")})),
        ),
    ] {
        let r = call(method, &path, admin(), body.as_ref());
        let v = expect(&r, 503);
        assert_eq!(v["code"], "KN-503", "{method} {path}");
        assert_eq!(v["details"]["cluster"], "doomed", "{v}");
    }
    // The list of every tenant still answers: the other clusters' tenants, and the cluster that
    // did not answer named with why (its tenant is missing, not silently dropped).
    let all = expect(&call("GET", "/api/v1/tenants", admin(), None), 200);
    let unreachable = all["unreachable"].as_array().cloned().unwrap_or_default();
    let doomed = unreachable
        .iter()
        .find(|u| u["cluster"] == "doomed")
        .unwrap_or_else(|| panic!("doomed is not named unreachable: {all}"));
    assert!(
        doomed["message"]
            .as_str()
            .is_some_and(|m| m.contains("`doomed`")),
        "{all}"
    );
    let items = all["items"].as_array().expect("items");
    assert!(items.iter().all(|i| i["name"] != json!(t)), "{all}");
    let v = expect(&call("GET", "/api/v1/clusters/doomed", admin(), None), 200);
    let reachable = v["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Reachable"))
        .cloned();
    assert_eq!(
        reachable.map(|c| c["status"].clone()),
        Some(json!("False")),
        "{v}"
    );
}
