//! Hostile requests over raw TLS, and bad tokens: each gets the right 400/401/403 from the
//! proxy itself (a KN code in a Kubernetes Status), so nothing reaches the apiserver as someone
//! else.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kubenova_api::{Role, SigningKey};
use rustls_pki_types::pem::PemObject;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::MODE;
use super::harness::{claims, harness, kubeconfig, kubectl, now, tenant_with_projects};

/// Sends `head` (request line and headers, without the final blank line) over TLS to the proxy
/// and returns the status code and body.
async fn raw(head: &str) -> (u16, String) {
    let addr = harness()
        .proxy
        .url
        .trim_start_matches("https://")
        .to_owned();
    raw_to(&addr, head).await
}

/// Like [`raw`], to another server of the environment (`127.0.0.1:<port>`).
async fn raw_to(addr: &str, head: &str) -> (u16, String) {
    let mut tls = super::http::connect_tls_to(addr, b"http/1.1").await;
    let request = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

fn owner_token(tenant: &str) -> String {
    harness()
        .proxy
        .sign(&claims("mallory", &[Role::TenantOwner], Some(tenant), None))
        .expect("token")
}

#[tokio::test]
async fn header_smuggling_and_path_tricks_are_refused_by_the_proxy() {
    let t = unique();
    tenant_with_projects(&t, &["web"]);
    let token = owner_token(&t);
    let auth = format!("Authorization: Bearer {token}");
    let ns = format!("{t}-web");
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!(
                "GET /api/v1/namespaces/{ns}/pods HTTP/1.1\r\n{auth}\r\nImpersonate-User: admin"
            ),
            403,
            "KN-403",
        ),
        (
            format!(
                "GET /api/v1/namespaces/{ns}/pods HTTP/1.1\r\n{auth}\r\nimpersonate-group: system:masters\r\nIMPERSONATE-GROUP: x"
            ),
            403,
            "KN-403",
        ),
        (
            format!("GET /api/v1/namespaces/{ns}/pods HTTP/1.1\r\n{auth}\r\nImpersonate-Uid: 1"),
            403,
            "KN-403",
        ),
        (
            format!(
                "GET /api/v1/namespaces/{ns}/pods HTTP/1.1\r\n{auth}\r\nImpersonate-Extra-Scopes: all"
            ),
            403,
            "KN-403",
        ),
        (
            format!(
                "GET /api/v1/namespaces/{ns}/pods HTTP/1.1\r\n{auth}\r\nConnection: Impersonate-User"
            ),
            403,
            "KN-403",
        ),
        (
            format!("GET /api/v1/namespaces/{ns}/pods HTTP/1.1\r\n{auth}\r\n{auth}"),
            401,
            "KN-401",
        ),
        (
            format!("GET /api/v1/namespaces/%2e%2e/pods HTTP/1.1\r\n{auth}"),
            400,
            "KN-400",
        ),
        (
            format!("GET /api/v1/namespaces/../pods HTTP/1.1\r\n{auth}"),
            400,
            "KN-400",
        ),
        (
            format!("GET /api/v1/namespaces/{ns}/pods/..%2f..%2fsecrets HTTP/1.1\r\n{auth}"),
            400,
            "KN-400",
        ),
        (
            format!("GET http://evil.example/api/v1/namespaces/{ns}/pods HTTP/1.1\r\n{auth}"),
            400,
            "KN-400",
        ),
        (
            format!(
                "GET /api/v1/namespaces/{ns}/pods HTTP/1.1\r\n{auth}\r\nUpgrade: h2c\r\nConnection: Upgrade"
            ),
            400,
            "KN-400",
        ),
        (
            "GET /api/v1/secrets HTTP/1.1\r\nAuthorization: Basic YWRtaW46YWRtaW4=".to_owned(),
            401,
            "KN-401",
        ),
        ("GET /api/v1/namespaces HTTP/1.1".to_owned(), 401, "KN-401"),
        (format!("GET /metrics HTTP/1.1\r\n{auth}"), 403, "KN-403"),
    ];
    for (head, status, code) in cases {
        let (got, body) = raw(&head).await;
        let first = head.lines().next().unwrap_or_default().to_owned();
        assert_eq!(got, status, "{first}: {body}");
        assert!(body.contains(code), "{first}: {body}");
    }
}

fn sign_raw(header: serde_json::Value, payload: serde_json::Value, key: &SigningKey) -> String {
    // Sign an arbitrary payload the way an attacker with a key would.
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key.to_pkcs8_pem().as_bytes())
        .expect("der");
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(der.secret_pkcs8_der());
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = header["kid"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&h, &payload, &encoding).expect("encode")
}

#[tokio::test]
async fn bad_tokens_get_401_and_never_reach_the_apiserver() {
    let t = unique();
    tenant_with_projects(&t, &["web"]);
    let proxy = &harness().proxy;
    let good = claims("mallory", &[Role::TenantOwner], Some(&t), None);
    let base = serde_json::to_value(&good).expect("claims json");
    let with = |patch: serde_json::Value| {
        let mut v = base.clone();
        for (k, val) in patch.as_object().expect("object") {
            v[k] = val.clone();
        }
        v
    };
    let kid = json!({"kid": proxy.signing_key.kid()});
    let stranger = SigningKey::generate("stranger").expect("key");
    let jwk = serde_json::to_string(&proxy.signing_key.public_jwk()).expect("jwk");
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(proxy.signing_key.kid().into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &base,
        &jsonwebtoken::EncodingKey::from_secret(jwk.as_bytes()),
    )
    .expect("hs256");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": proxy.signing_key.kid()}).to_string()),
        URL_SAFE_NO_PAD.encode(base.to_string())
    );
    let cases = vec![
        (
            "expired",
            sign_raw(
                kid.clone(),
                with(json!({"exp": now() - 120})),
                &proxy.signing_key,
            ),
        ),
        (
            "not yet valid",
            sign_raw(
                kid.clone(),
                with(json!({"nbf": now() + 600})),
                &proxy.signing_key,
            ),
        ),
        (
            "other audience",
            sign_raw(
                kid.clone(),
                with(json!({"aud": "kubenova-api"})),
                &proxy.signing_key,
            ),
        ),
        (
            "other issuer",
            sign_raw(
                kid.clone(),
                with(json!({"iss": "https://evil"})),
                &proxy.signing_key,
            ),
        ),
        (
            "exp as a string",
            sign_raw(
                kid.clone(),
                with(json!({"exp": "9999999999"})),
                &proxy.signing_key,
            ),
        ),
        (
            "no jti",
            sign_raw(kid.clone(), with(json!({"jti": ""})), &proxy.signing_key),
        ),
        (
            "unknown kid",
            sign_raw(json!({"kid": "stranger"}), base.clone(), &stranger),
        ),
        (
            "known kid, wrong key",
            sign_raw(kid.clone(), base.clone(), &stranger),
        ),
        ("alg none", none),
        ("HS256 keyed with the public JWK", hs256),
    ];
    for (what, token) in cases {
        let (status, body) = raw(&format!(
            "GET /api/v1/namespaces/{t}-web/pods HTTP/1.1\r\nAuthorization: Bearer {token}"
        ))
        .await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body.contains("KN-401"), "{what}: {body}");
        assert!(!body.contains(&token), "{what}: the error echoes the token");
    }
}

#[tokio::test]
async fn a_revoked_token_stops_working_within_two_seconds() {
    let t = unique();
    tenant_with_projects(&t, &["web"]);
    let c = claims("revokee", &[Role::TenantOwner], Some(&t), None);
    let kc = kubeconfig(&c);
    kubectl(&kc, &["get", "ns"]).expect("works before revocation");
    let env = harness().env;
    env.apply(
        &json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": unique(), "namespace": testenv::proxy::NAMESPACE,
                         "labels": {"kubenova.io/revocations": "true"}},
            "data": {c.jti.clone(): c.exp.to_string()},
        })
        .to_string(),
    )
    .expect("revocation written");
    let revoked_at = Instant::now();
    loop {
        match kubectl(&kc, &["get", "ns"]) {
            Err(e) if e.contains("KN-401") => break,
            _ => {
                assert!(
                    revoked_at.elapsed() < Duration::from_secs(2),
                    "still accepted after 2s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Other tokens of the same person are unaffected.
    let fresh = kubeconfig(&claims("revokee", &[Role::TenantOwner], Some(&t), None));
    kubectl(&fresh, &["get", "ns"]).expect("a new token works");
}

#[tokio::test]
async fn keys_rotate_without_a_restart() {
    let t = unique();
    tenant_with_projects(&t, &["web"]);
    let proxy = &harness().proxy;
    let next = SigningKey::generate(format!("next-{}", unique())).expect("key");
    let old_token = kubeconfig(&claims("rot", &[Role::TenantOwner], Some(&t), None));
    let new_claims = claims("rot", &[Role::TenantOwner], Some(&t), None);
    let new_token = next.sign(&new_claims).expect("sign");
    let new_kc = harness()
        .env
        .dir()
        .join("test-kubeconfigs")
        .join(format!("{}.kubeconfig", new_claims.jti));
    proxy
        .write_kubeconfig(&new_kc, &new_token)
        .expect("kubeconfig");
    assert!(
        kubectl(&new_kc, &["get", "ns"]).is_err(),
        "unknown key first"
    );

    proxy
        .publish_keys(&[&proxy.signing_key, &next])
        .expect("two live keys");
    eventually(|| kubectl(&new_kc, &["get", "ns"]).is_ok()).await;
    kubectl(&old_token, &["get", "ns"]).expect("the old key still works");
    // Put the original key back alone so other tests keep working.
    proxy.publish_keys(&[&proxy.signing_key]).expect("one key");
    eventually(|| kubectl(&new_kc, &["get", "ns"]).is_err_and(|e| e.contains("KN-401"))).await;
}

async fn eventually(mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "not within 10s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn unique() -> String {
    testenv::unique_name("atk")
}

#[tokio::test]
async fn tokens_never_reach_the_access_log() {
    let t = unique();
    tenant_with_projects(&t, &["web"]);
    let c = claims("logged", &[Role::TenantOwner], Some(&t), None);
    let token = harness().proxy.sign(&c).expect("token");
    let kc = kubeconfig(&c);
    kubectl(&kc, &["get", "ns"]).expect("an accepted request");
    kubectl(&kc, &["-n", "kube-system", "get", "pods"]).expect_err("a refused request");
    let (status, _) = raw(&format!(
        "GET /api/v1/namespaces/%2e%2e/pods HTTP/1.1\r\nAuthorization: Bearer {token}"
    ))
    .await;
    assert_eq!(status, 400);
    // The access log records these requests (the refused path before anyone is authenticated)
    // but never the token or its signature.
    let log_path = harness().env.log(&harness().proxy.name);
    let signature = token.rsplit('.').next().expect("signature").to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&log_path).expect("proxy log");
        if log.matches("\"user\":\"logged\"").count() >= 2 && log.contains("%2e%2e") {
            assert!(
                !log.contains(&token) && !log.contains(&signature),
                "a token in {}",
                log_path.display()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the access log lacks the requests"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_and_metrics_count_it() {
    let t = unique();
    tenant_with_projects(&t, &["web"]);
    let token = owner_token(&t);
    let (status, body) = raw(&format!(
        "POST /api/v1/namespaces/{t}-web/configmaps HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000000"
    ))
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("KN-413"), "{body}");

    let port: u16 = harness()
        .proxy
        .ops_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("ops port");
    let metrics = testenv::wait::http_get(port, "/metrics").expect("/metrics");
    for expected in [
        "kubenova_proxy_requests_total{verb=\"create\",code=\"413\"}",
        "kubenova_proxy_rejections_total{reason=\"body_too_large\"}",
        "kubenova_proxy_token_cache_total{result=\"miss\"}",
        "kubenova_proxy_in_flight_requests",
        "kubenova_proxy_open_watches",
        "kubenova_proxy_request_duration_seconds_bucket",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from /metrics"
        );
    }
}

/// A forwarded client certificate naming `user` in `groups`, as an Envoy-style
/// `X-Forwarded-Client-Cert` value (`Cert="<URL-encoded PEM>"`).
fn forwarded_cert(user: &str, groups: &[&str]) -> String {
    let cert = harness()
        .env
        .pki()
        .client(&testenv::unique_name("xfcc"), user, groups)
        .expect("certificate");
    let encoded: String = cert
        .cert_pem
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("Cert=\"{encoded}\"")
}

/// capsule-proxy's own ServiceAccount token, from its kubeconfig.
fn capsule_proxy_token() -> String {
    let capsule_proxy = harness()
        .env
        .capsule_proxy
        .as_ref()
        .expect("the environment runs capsule-proxy");
    let kubeconfig: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&capsule_proxy.kubeconfig).expect("capsule-proxy kubeconfig"),
    )
    .expect("json");
    kubeconfig["users"][0]["user"]["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// What capsule-proxy takes an identity from (a forwarded client certificate, under the
/// standard name and the one it is configured with; `Impersonate-*`; a bearer token, also in a
/// WebSocket subprotocol) and its own credential: a client sending any of them is refused by the
/// proxy itself, so neither capsule-proxy nor kube-apiserver ever sees them. Runs in both modes;
/// in capsule-proxy mode the environment's capsule-proxy honours forwarded certificates (shown
/// first, by sending one to it directly), so a header that got through would be a bypass.
#[tokio::test]
async fn what_capsule_proxy_trusts_never_reaches_it_from_a_client() {
    let t = unique();
    tenant_with_projects(&t, &["web"]);
    let token = owner_token(&t);
    let auth = format!("Authorization: Bearer {token}");
    let ns = format!("{t}-web");
    let masters = forwarded_cert("admin", &["system:masters"]);
    let custom = testenv::capsule_proxy::XFCC_HEADER;
    let sa_token = capsule_proxy_token();
    let sa_protocol = format!(
        "Sec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.{}",
        URL_SAFE_NO_PAD.encode(&sa_token)
    );
    let capsule_proxy_user = "system:serviceaccount:capsule-system:capsule-proxy";

    // The control: capsule-proxy itself believes a forwarded certificate, with no other
    // credential, and reads another tenant's secrets as system:masters.
    let capsule_proxy_addr = harness()
        .env
        .capsule_proxy
        .as_ref()
        .expect("capsule-proxy")
        .url
        .trim_start_matches("https://")
        .to_owned();
    let (status, body) = raw_to(
        &capsule_proxy_addr,
        &format!("GET /api/v1/namespaces/kube-system/secrets HTTP/1.1\r\n{custom}: {masters}"),
    )
    .await;
    assert_eq!(status, 200, "capsule-proxy honours {custom}: {body}");

    // And the request itself is fine without the hostile headers.
    let path = format!("GET /api/v1/namespaces/{ns}/configmaps HTTP/1.1");
    let (status, body) = raw(&format!("{path}\r\n{auth}")).await;
    assert_eq!(status, 200, "{body}");

    let refused = |status: u16| match status {
        401 => "KN-401",
        _ => "KN-403",
    };
    let mut cases: Vec<(String, u16)> = vec![
        (format!("{path}\r\n{auth}\r\nX-Forwarded-Client-Cert: {masters}"), 403),
        (format!("{path}\r\n{auth}\r\nx-forwarded-client-cert: {masters}"), 403),
        (
            format!(
                "{path}\r\n{auth}\r\nConnection: X-Forwarded-Client-Cert\r\nX-Forwarded-Client-Cert: {masters}"
            ),
            403,
        ),
        (format!("{path}\r\n{auth}\r\nImpersonate-User: {capsule_proxy_user}"), 403),
        (
            format!("{path}\r\n{auth}\r\nImpersonate-Group: system:masters\r\nImpersonate-User: admin"),
            403,
        ),
        (format!("{path}\r\n{auth}\r\nImpersonate-Uid: {capsule_proxy_user}"), 403),
        (
            format!("{path}\r\n{auth}\r\nImpersonate-Extra-Authentication.kubernetes.io%2fcredential-id: x"),
            403,
        ),
        (
            format!("{path}\r\n{auth}\r\nConnection: Impersonate-Extra-Scopes\r\nImpersonate-Extra-Scopes: all"),
            403,
        ),
        (format!("{path}\r\n{auth}\r\nX-Remote-User: {capsule_proxy_user}"), 403),
        // capsule-proxy's own token, as the bearer token or in a WebSocket subprotocol.
        (format!("{path}\r\nAuthorization: Bearer {sa_token}"), 401),
        (format!("{path}\r\n{sa_protocol}"), 401),
        (format!("{path}\r\n{auth}\r\n{sa_protocol}"), 401),
    ];
    // The name capsule-proxy is configured with matters where capsule-proxy reads it; in direct
    // mode kube-apiserver ignores it and the request is answered as the token's identity.
    let custom_cases = [
        format!("{path}\r\n{auth}\r\n{custom}: {masters}"),
        format!("{path}\r\n{auth}\r\n{}: {masters}", custom.to_lowercase()),
        format!("{path}\r\n{auth}\r\n{}: {masters}", custom.to_uppercase()),
        format!("{path}\r\n{auth}\r\n{custom}: {masters}\r\n{custom}: {masters}"),
    ];
    for custom_case in custom_cases {
        match MODE {
            testenv::proxy::ProxyMode::CapsuleProxy => cases.push((custom_case, 403)),
            testenv::proxy::ProxyMode::Direct => {
                let (status, body) = raw(&custom_case).await;
                assert_eq!(status, 200, "{custom} in direct mode: {body}");
            }
        }
    }
    for (head, status) in cases {
        let (got, body) = raw(&head).await;
        let what = head.lines().last().unwrap_or_default().chars().take(60).collect::<String>();
        assert_eq!(got, status, "{what}: {body}");
        assert!(body.contains(refused(status)), "{what}: {body}");
    }
}

/// A forwarded certificate that the proxy does not refuse outright never acts either: one named
/// in `Connection` (a hop-by-hop header, which the proxy drops) and capsule-proxy's configured
/// header over HTTP/2 in direct mode (which kube-apiserver ignores). The oracle is a request
/// the certificate's identity (system:masters) may make and the token's identity (a project
/// developer, `edit`) may not: reading Roles in its own namespace stays a 403 from RBAC (no KN
/// code), as the developer. Over HTTP/2 the headers the proxy refuses are refused too.
#[tokio::test]
async fn a_forwarded_certificate_the_proxy_drops_or_passes_never_acts() {
    use http::{Request, Version};

    let t = unique();
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let dev = harness()
        .proxy
        .sign(&claims("mallory", &[Role::ProjectDev], Some(&t), Some("web")))
        .expect("token");
    let auth = format!("Authorization: Bearer {dev}");
    let masters = forwarded_cert("admin", &["system:masters"]);
    let custom = testenv::capsule_proxy::XFCC_HEADER;
    let roles = format!("GET /apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles HTTP/1.1");

    let (status, body) = raw(&format!("{roles}\r\n{auth}")).await;
    assert_eq!(status, 403, "a developer may not read Roles: {body}");
    assert!(!body.contains("KN-"), "RBAC refuses it, not the proxy: {body}");

    let dropped = format!("{roles}\r\n{auth}\r\nConnection: {custom}\r\n{custom}: {masters}");
    let (status, body) = raw(&dropped).await;
    assert_eq!(status, 403, "Connection: {custom}: {body}");
    assert!(
        !body.contains("KN-") && body.contains("kubenova:mallory"),
        "answered by RBAC, for the developer: {body}"
    );

    // Over HTTP/2: the standard header and Impersonate-* are refused in both modes, the
    // configured one in capsule-proxy mode; in direct mode it reaches kube-apiserver, which
    // ignores it.
    let mut conn = super::http::Conn::open(Version::HTTP_2).await;
    let path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles");
    let custom_status = match MODE {
        testenv::proxy::ProxyMode::CapsuleProxy => "KN-403",
        testenv::proxy::ProxyMode::Direct => "kubenova:mallory",
    };
    for (header, value, expect) in [
        ("x-forwarded-client-cert", masters.as_str(), "KN-403"),
        ("impersonate-user", "admin", "KN-403"),
        ("impersonate-uid", "0", "KN-403"),
        (custom, masters.as_str(), custom_status),
    ] {
        let request = Request::get(&path)
            .header("authorization", format!("Bearer {dev}"))
            .header(header.to_lowercase(), value)
            .body(super::http::Body::default())
            .expect("request");
        let response = conn.send(request).await;
        let status = response.status();
        let body = super::http::text(response).await;
        assert_eq!(status, 403, "{header} over HTTP/2: {body}");
        assert!(body.contains(expect), "{header} over HTTP/2: {body}");
    }
}
