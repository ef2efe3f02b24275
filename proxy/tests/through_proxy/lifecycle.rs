//! The proxy as a process: serving-certificate reload, keys from a JWKS URL, draining on SIGTERM,
//! and the header-size limit. Each test that changes the process starts a proxy of its own next to
//! the shared one (same cluster, same upstream credential).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, StatusCode, Version};
use kubenova_api::{JwkSet, Role, SigningKey};

use crate::harness::{Background, claims, eventually, harness, tenant_with_projects};
use crate::http::Conn;

/// A `kubenova-proxy` started by one test, killed when dropped.
pub(crate) struct OwnProxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl OwnProxy {
    /// Starts a proxy serving `dir/tls.crt` + `dir/tls.key` with `keys` (`--jwks-file=...` or
    /// `--jwks-url=...`) and `extra` flags; waits until it is ready.
    pub(crate) fn start(dir: &Path, keys: &str, extra: &[&str]) -> OwnProxy {
        let h = harness();
        let port = testenv::free_port().expect("port");
        let ops_port = testenv::free_port().expect("port");
        let log = std::fs::File::create(dir.join("proxy.log")).expect("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubenova-proxy"));
        cmd.arg(format!("--listen=127.0.0.1:{port}"))
            .arg(format!("--metrics-listen=127.0.0.1:{ops_port}"))
            .arg(format!("--tls-cert={}", dir.join("tls.crt").display()))
            .arg(format!("--tls-key={}", dir.join("tls.key").display()))
            .arg(format!("--upstream={}", h.env.server()))
            .arg(format!("--upstream-ca={}", h.env.ca_path().display()))
            .arg(format!(
                "--upstream-token-file={}",
                h.env
                    .dir()
                    .join("kubenova-proxy")
                    .join("upstream-token")
                    .display()
            ))
            .arg(format!("--issuer={}", testenv::proxy::ISSUER))
            .arg(keys)
            .arg(format!("--namespace={}", testenv::proxy::NAMESPACE))
            .arg("--reload-interval=1s")
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let child = cmd.spawn().expect("kubenova-proxy starts");
        let mut proxy = OwnProxy {
            child,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while testenv::wait::http_get(ops_port, "/readyz").map_or(true, |b| b.trim() != "ok") {
            assert!(
                proxy.exit_status().is_none(),
                "the proxy exited at start:\n{}",
                proxy.log()
            );
            assert!(
                Instant::now() < deadline,
                "the proxy is not ready:\n{}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        proxy
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Writes a kubeconfig `<label>.kubeconfig` for `token` that checks the proxy's certificate
    /// against the environment's CA under the name `server_name`.
    pub(crate) fn kubeconfig(&self, label: &str, token: &str, server_name: &str) -> PathBuf {
        let path = self.dir.join(format!("{label}.kubeconfig"));
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    server: {}\n    certificate-authority: {}\n    tls-server-name: {server_name}\nusers:\n- name: user\n  user:\n    token: {token}\ncontexts:\n- name: ctx\n  context: {{cluster: proxy, user: user}}\ncurrent-context: ctx\n",
            self.url(),
            harness().env.ca_path().display(),
        );
        std::fs::write(&path, yaml).expect("kubeconfig");
        path
    }
}

impl Drop for OwnProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory for one test's proxy.
pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let dir = harness().env.dir().join(testenv::unique_name(name));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// Issues a serving certificate for `127.0.0.1` and `name` and puts it in place atomically
/// (key first, so for a moment the pair does not match: the proxy must keep the old one).
pub(crate) fn install_certificate(dir: &Path, name: &str) {
    let pair = harness()
        .env
        .pki()
        .serving(&testenv::unique_name("lifecycle"), &["127.0.0.1", name])
        .expect("certificate");
    replace(&dir.join("tls.key"), &pair.key_pem);
    replace(&dir.join("tls.crt"), &pair.cert_pem);
}

fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// `kubectl get configmaps` in `ns` with `kubeconfig`: Ok(stdout) or Err(stderr).
fn list_configmaps(kubeconfig: &Path, ns: &str) -> Result<String, String> {
    testenv::env::run(
        harness().env.kubectl_with(kubeconfig),
        &["-n", ns, "get", "configmaps", "-o", "name"],
        None,
    )
    .map_err(|e| e.to_string())
}

/// A tenant with one project; returns (tenant, project namespace).
fn tenant() -> (String, String) {
    let tenant = testenv::unique_name("life");
    tenant_with_projects(&tenant, &["app"]);
    let ns = kubenova_api::names::project_namespace(&tenant, "app");
    (tenant, ns)
}

#[test]
fn a_renewed_serving_certificate_is_used_without_a_restart() {
    let h = harness();
    let (tenant, ns) = tenant();
    let dir = scratch_dir("certreload");
    install_certificate(&dir, "before.kubenova.test");
    let proxy = OwnProxy::start(
        &dir,
        &format!("--jwks-file={}", h.proxy.jwks_path.display()),
        &[],
    );
    let token = h
        .proxy
        .sign(&claims(
            "cert-user",
            &[Role::TenantOwner],
            Some(&tenant),
            None,
        ))
        .expect("token");
    let before = proxy.kubeconfig("before", &token, "before.kubenova.test");
    let after = proxy.kubeconfig("after", &token, "after.kubenova.test");

    list_configmaps(&before, &ns).expect("the first certificate is served");
    let refused = list_configmaps(&after, &ns).expect_err("not yet valid for the new name");
    assert!(
        refused.contains("x509") || refused.contains("certificate"),
        "a certificate error: {refused}"
    );

    // A broken file is not taken: the old certificate stays in service.
    replace(&dir.join("tls.crt"), "not a certificate");
    std::thread::sleep(Duration::from_millis(2500));
    list_configmaps(&before, &ns).expect("the old certificate after a broken renewal");

    install_certificate(&dir, "after.kubenova.test");
    eventually(
        "the renewed certificate is served",
        Duration::from_secs(10),
        || list_configmaps(&after, &ns).is_ok(),
    );
    assert!(
        list_configmaps(&before, &ns).is_err(),
        "the old certificate is no longer served"
    );
    assert!(
        proxy.log().contains("serving certificate reloaded"),
        "the reload is logged:\n{}",
        proxy.log()
    );
}

/// Serves a JWKS document over plain HTTP on loopback; the document can be changed, or replaced
/// by an error, while it runs.
struct JwksServer {
    port: u16,
    /// `None` answers 500.
    document: Arc<Mutex<Option<String>>>,
}

impl JwksServer {
    fn start(keys: &[&SigningKey]) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let document = Arc::new(Mutex::new(None));
        let shared = document.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let body = shared.lock().unwrap_or_else(|p| p.into_inner()).clone();
                std::thread::spawn(move || answer(&mut stream, body));
            }
        });
        let server = JwksServer { port, document };
        server.publish(keys);
        server
    }

    fn publish(&self, keys: &[&SigningKey]) {
        let set = JwkSet {
            keys: keys.iter().map(|k| k.public_jwk()).collect(),
        };
        *self.document.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(serde_json::to_string(&set).expect("json"));
    }

    fn fail(&self) {
        *self.document.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/.well-known/jwks.json", self.port)
    }
}

fn answer(stream: &mut TcpStream, body: Option<String>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let (status, body) = match body {
        Some(body) => ("200 OK", body),
        None => ("500 Internal Server Error", "broken".to_owned()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn keys_are_fetched_from_a_jwks_url_and_rotated() {
    let (tenant, ns) = tenant();
    let first = SigningKey::generate("url-first").expect("key");
    let second = SigningKey::generate("url-second").expect("key");
    let jwks = JwksServer::start(&[&first]);
    let dir = scratch_dir("jwksurl");
    install_certificate(&dir, "proxy.kubenova.test");
    let proxy = OwnProxy::start(&dir, &format!("--jwks-url={}", jwks.url()), &[]);
    let kubeconfig_for = |key: &SigningKey, sub: &str| {
        let token = key
            .sign(&claims(sub, &[Role::TenantOwner], Some(&tenant), None))
            .expect("token");
        proxy.kubeconfig(sub, &token, "proxy.kubenova.test")
    };
    let first_config = kubeconfig_for(&first, "first");
    let second_config = kubeconfig_for(&second, "second");
    list_configmaps(&first_config, &ns).expect("a token of the published key works");
    let refused = list_configmaps(&second_config, &ns).expect_err("an unpublished key");
    assert!(refused.contains("KN-401"), "401: {refused}");

    // Rotation: the URL now publishes only the second key.
    jwks.publish(&[&second]);
    eventually("the new key is fetched", Duration::from_secs(10), || {
        list_configmaps(&second_config, &ns).is_ok()
    });
    let retired = list_configmaps(&first_config, &ns).expect_err("the retired key");
    assert!(retired.contains("KN-401"), "401: {retired}");

    // A failing key source keeps the keys the proxy has.
    jwks.fail();
    std::thread::sleep(Duration::from_millis(2500));
    list_configmaps(&second_config, &ns).expect("the keys survive a failing URL");
    assert!(
        proxy.log().contains("reloading verification keys failed"),
        "the failure is logged:\n{}",
        proxy.log()
    );
}

/// Starts `kubectl get --raw <watch>` with `kubeconfig` and waits for its first event.
fn watch(kubeconfig: &Path, ns: &str, timeout_seconds: u32) -> Background {
    let mut watch = Background::start(
        harness().env.kubectl_with(kubeconfig),
        &[
            "get",
            "--raw",
            &format!("/api/v1/namespaces/{ns}/configmaps?watch=1&timeoutSeconds={timeout_seconds}"),
        ],
    );
    watch.line("the watch's first event", |l| l.contains("ADDED"));
    watch
}

fn wait_exit(proxy: &mut OwnProxy, within: Duration) -> (ExitStatus, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = proxy.exit_status() {
            return (status, started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "the proxy did not exit within {within:?}:\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_accepting_and_lets_requests_in_flight_finish() {
    let h = harness();
    let (tenant, ns) = tenant();
    let dir = scratch_dir("drain");
    install_certificate(&dir, "proxy.kubenova.test");
    let mut proxy = OwnProxy::start(
        &dir,
        &format!("--jwks-file={}", h.proxy.jwks_path.display()),
        &["--shutdown-grace=30s"],
    );
    let token = h
        .proxy
        .sign(&claims("drain", &[Role::TenantOwner], Some(&tenant), None))
        .expect("token");
    let kubeconfig = proxy.kubeconfig("user", &token, "proxy.kubenova.test");
    testenv::env::run(
        h.env.kubectl_with(&kubeconfig),
        &["-n", &ns, "create", "configmap", "drain-marker"],
        None,
    )
    .expect("configmap");
    // The apiserver ends this watch after 4 s: a request in flight that finishes by itself.
    let mut watch = watch(&kubeconfig, &ns, 4);
    let signalled = Instant::now();
    proxy.sigterm();

    eventually("the listener closes", Duration::from_secs(2), || {
        TcpStream::connect(("127.0.0.1", proxy.port)).is_err()
    });
    assert!(
        proxy.exit_status().is_none(),
        "the proxy waits for the watch in flight"
    );
    let (status, _) = wait_exit(&mut proxy, Duration::from_secs(15));
    assert!(status.success(), "a clean exit: {status}\n{}", proxy.log());
    let waited = signalled.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(15),
        "exited when the watch ended, not at the 30 s grace: {waited:?}"
    );
    eventually("kubectl's watch ends", Duration::from_secs(5), || {
        !watch.running()
    });
    assert!(
        watch.stderr().trim().is_empty(),
        "the watch ended normally: {}",
        watch.stderr()
    );
    assert!(proxy.log().contains("draining connections"));
}

#[test]
fn sigterm_cuts_streams_that_outlive_the_grace_period() {
    let h = harness();
    let (tenant, ns) = tenant();
    let dir = scratch_dir("grace");
    install_certificate(&dir, "proxy.kubenova.test");
    let mut proxy = OwnProxy::start(
        &dir,
        &format!("--jwks-file={}", h.proxy.jwks_path.display()),
        &["--shutdown-grace=2s"],
    );
    let token = h
        .proxy
        .sign(&claims("grace", &[Role::TenantOwner], Some(&tenant), None))
        .expect("token");
    let kubeconfig = proxy.kubeconfig("user", &token, "proxy.kubenova.test");
    testenv::env::run(
        h.env.kubectl_with(&kubeconfig),
        &["-n", &ns, "create", "configmap", "grace-marker"],
        None,
    )
    .expect("configmap");
    let mut watch = watch(&kubeconfig, &ns, 600);
    proxy.sigterm();
    let (status, took) = wait_exit(&mut proxy, Duration::from_secs(10));
    assert!(status.success(), "a clean exit: {status}\n{}", proxy.log());
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
        "the grace period (2 s) is honoured, then streams are cut: {took:?}"
    );
    eventually("kubectl's watch is cut", Duration::from_secs(5), || {
        !watch.running()
    });
    assert!(proxy.log().contains("grace period over"));
}

#[tokio::test]
async fn oversized_request_headers_are_refused_and_the_proxy_keeps_serving() {
    let big = "x".repeat(80 * 1024); // over the default 64 KiB limit
    let mut h1 = Conn::open(Version::HTTP_11).await;
    let request = Request::get("/version")
        .header("x-padding", big.as_str())
        .body(crate::http::Body::default())
        .expect("request");
    let response = h1.try_send(request).await;
    assert_eq!(
        response.map(|r| r.status()).ok(),
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        "HTTP/1.1 answers 431"
    );

    let mut h2 = Conn::open(Version::HTTP_2).await;
    let request = Request::get("/version")
        .header("x-padding", big.as_str())
        .body(crate::http::Body::default())
        .expect("request");
    match h2.try_send(request).await {
        Ok(response) => assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HTTP/2 answers 431 or resets the stream"
        ),
        Err(e) => assert!(!e.is_empty(), "the stream is refused"),
    }

    // Neither connection attempt took the proxy down.
    let mut again = Conn::open(Version::HTTP_2).await;
    let response = again
        .send(
            Request::get("/version")
                .body(crate::http::Body::default())
                .expect("request"),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "an unauthenticated /version is refused as usual"
    );
}
