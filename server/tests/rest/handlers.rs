//! In-process handler tests (`Router::oneshot`) against the real apiserver: the authorization
//! table walked route x role x scope, exact error bodies, rate limiting, and a bad-input sweep
//! over every endpoint.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use kubenova_api::crd::{Cluster, IssuedToken, Project, Tenant};
use kubenova_control::rest::table::{Level, ROUTES, Route};
use kubenova_control::rest::{self, AppState, Settings};
use kubenova_control::services::audit::Audit;
use kubenova_control::services::keys::{Cipher, KeyStore};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::harness::*;

/// The in-process router, sharing the running control's management namespace (so the same
/// keys and records).
async fn app(settings: Settings) -> axum::Router {
    let h = harness();
    let client = h.env.client().await.expect("client");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &h.control.namespace);
    let keys = KeyStore::load_or_create(&secrets).await.expect("keys");
    let cipher = Cipher::from_secret(&secrets).await.expect("cipher");
    let sink = Arc::new(Mutex::new(Vec::new()));
    let audit = Audit::to(Box::new(SharedBuf(sink)));
    rest::router(AppState::new(
        settings,
        client,
        keys,
        cipher,
        audit,
        Registry::default(),
    ))
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn settings() -> Settings {
    Settings {
        namespace: harness().control.namespace.clone(),
        issuer: testenv::proxy::ISSUER.into(),
        rate_per_second: 10_000.0,
        rate_burst: 10_000.0,
        ..Settings::default()
    }
}

async fn send(
    app: &axum::Router,
    method: &Method,
    uri: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method.clone()).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value, headers)
}

fn fill(path: &str, c: &str, t: &str, p: &str) -> String {
    path.replace("{c}", c)
        .replace("{t}", t)
        .replace("{p}", p)
        .replace("{a}", "app1")
        .replace("{jti}", "0123456789abcdef0123456789abcdef")
}

/// The policy of the issue, written out independently of the table: which principals may
/// call each action when the path is in their scope.
fn allowed_in_scope(route: &Route) -> &'static [&'static str] {
    const PLATFORM: &[&str] = &["admin", "ops"];
    match (route.action, route.method.as_str()) {
        ("clusters.kubeconfig" | "audit.list", _) => &["admin"],
        (a, _) if a.starts_with("clusters.") => PLATFORM,
        ("tenants.create" | "tenants.list" | "tenants.listAll", _) => PLATFORM,
        ("tenants.get" | "tenants.getByName" | "tenants.usage" | "projects.list", _) => {
            &["admin", "ops", "owner", "read-tenant"]
        }
        ("tenants.owners" | "projects.create", _) => &["admin", "ops", "owner"],
        (a, _) if a.starts_with("tenants.") => PLATFORM,
        ("projects.get" | "projects.usage", _) => {
            &["admin", "ops", "owner", "read-tenant", "read-project"]
        }
        (a, _) if a.starts_with("projects.") => &["admin", "ops", "owner"],
        ("kubeconfigs.tenant", _) => &["admin", "ops", "owner"],
        ("kubeconfigs.project", "GET") => &[
            "admin",
            "ops",
            "owner",
            "dev",
            "read-tenant",
            "read-project",
        ],
        ("kubeconfigs.project", _) => &["admin", "ops", "owner", "dev"],
        ("credentials.tenant", _) => &["admin", "ops", "owner"],
        ("credentials.project", "GET") => &[
            "admin",
            "ops",
            "owner",
            "dev",
            "read-tenant",
            "read-project",
        ],
        ("credentials.project", _) => &["admin", "ops", "owner", "dev"],
        ("tokens.list" | "tokens.me", _) => &[
            "admin",
            "ops",
            "owner",
            "dev",
            "read-tenant",
            "read-project",
        ],
        ("tokens.create", _) => &["admin", "ops", "owner"],
        ("tokens.revoke", _) => &["admin", "ops", "owner", "dev"],
        (a, "GET") if a.starts_with("apps.") => &[
            "admin",
            "ops",
            "owner",
            "dev",
            "read-tenant",
            "read-project",
        ],
        (a, _) if a.starts_with("apps.") => &["admin", "ops", "owner", "dev"],
        (a, m) => panic!("the test has no policy for {m} {a}; add it"),
    }
}

fn tenant_wide(who: &str) -> bool {
    matches!(who, "admin" | "ops" | "owner" | "read-tenant")
}

#[tokio::test]
async fn the_authorization_table_walked_route_by_role_by_scope() {
    let h = harness();
    let (a, b) = (unique("tbl-a"), unique("tbl-b"));
    tenant(&a, &["owner-a"]);
    tenant(&b, &["owner-b"]);
    let principals: Vec<(&str, String)> = vec![
        ("admin", api_token("tbl-admin", &["admin"], None, None)),
        ("ops", api_token("tbl-ops", &["ops"], None, None)),
        (
            "owner",
            api_token("owner-a", &["tenantOwner"], Some(&a), None),
        ),
        (
            "read-tenant",
            api_token("reader-a", &["readOnly"], Some(&a), None),
        ),
        (
            "read-project",
            api_token("reader-web", &["readOnly"], Some(&a), Some("web")),
        ),
        (
            "dev",
            api_token("dev-web", &["projectDev"], Some(&a), Some("web")),
        ),
    ];
    let app = app(settings()).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for route in ROUTES.iter().filter(|r| r.level != Level::Public) {
        let allowed = allowed_in_scope(route);
        // (label, tenant, project, who is allowed)
        let mut cases: Vec<(&str, &str, &str, Vec<&str>)> =
            vec![("in scope", &a, "web", allowed.to_vec())];
        if route.level != Level::Own {
            cases.push((
                "other tenant",
                &b,
                "web",
                allowed
                    .iter()
                    .copied()
                    .filter(|w| matches!(*w, "admin" | "ops"))
                    .collect(),
            ));
        }
        if route.path.contains("{p}") {
            cases.push((
                "other project",
                &a,
                "other",
                allowed.iter().copied().filter(|w| tenant_wide(w)).collect(),
            ));
        }
        for (label, t, p, who_may) in cases {
            // A cluster that does not exist: allowed calls end in 404/422/501, never touching
            // the registered clusters.
            let uri = fill(route.path, "tbl-nowhere", t, p);
            for (who, token) in &principals {
                let body = if matches!(route.method, Method::POST | Method::PUT) {
                    b"{}".to_vec()
                } else {
                    Vec::new()
                };
                let ct = (!body.is_empty()).then_some("application/json");
                let (status, value, _) =
                    send(&app, &route.method, &uri, Some(token), ct, body).await;
                let denied_by_table =
                    status == StatusCode::FORBIDDEN && value["details"]["action"] == route.action;
                let expect_allowed = who_may.contains(who);
                let ok = if expect_allowed {
                    !denied_by_table
                        && status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    status == StatusCode::FORBIDDEN && value["code"] == "KN-403" && denied_by_table
                };
                if !ok {
                    failures.push(format!(
                        "{} {uri} ({label}) as {who}: expected {}, got {status} {value}",
                        route.method,
                        if expect_allowed {
                            "allowed"
                        } else {
                            "403 by the table"
                        }
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 500, "only {checked} checks");
    let _ = h;
}

#[tokio::test]
async fn error_bodies_are_one_envelope() {
    let app = app(settings()).await;
    let admin = admin();
    // (method, uri, token, content type, body, status, the body without its request id)
    type Case<'a> = (
        Method,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Vec<u8>,
        u16,
        Value,
    );
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/api/v1/me",
            None,
            None,
            vec![],
            401,
            json!({"code": "KN-401", "message": "send exactly one `Authorization: Bearer <API token>` header", "details": {}}),
        ),
        (
            Method::GET,
            "/api/v1/nothing-here",
            Some(admin),
            None,
            vec![],
            404,
            json!({"code": "KN-404", "message": "no such endpoint; see /api/v1/openapi.json", "details": {}}),
        ),
        (
            Method::PATCH,
            "/api/v1/clusters",
            Some(admin),
            None,
            vec![],
            405,
            json!({"code": "KN-405", "message": "this endpoint does not support this method; see /api/v1/openapi.json", "details": {}}),
        ),
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("application/json"),
            b"{\"name\": ".to_vec(),
            400,
            json!({"code": "KN-400", "message": "the body is not valid JSON: EOF while parsing a value at line 1 column 9", "details": {"line": 1, "column": 9}}),
        ),
        // Issue 15: not JSON at all, though it starts like JSON might: 400, saying where.
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("application/json"),
            b"not json".to_vec(),
            400,
            json!({"code": "KN-400", "message": "the body is not valid JSON: expected ident at line 1 column 2", "details": {"line": 1, "column": 2}}),
        ),
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("application/json"),
            b"[{\"name\": \"x\"},\n 12 monkeys]".to_vec(),
            400,
            json!({"code": "KN-400", "message": "the body is not valid JSON: expected `,` or `]` at line 2 column 5", "details": {"line": 2, "column": 5}}),
        ),
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("application/json"),
            b"[{\"name\": \"x\"}]".to_vec(),
            422,
            json!({"code": "KN-422", "message": "body: must be a JSON object ({...})", "details": {"field": "body", "reason": "must be a JSON object ({...})"}}),
        ),
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("application/json"),
            b"{\"name\": 7}".to_vec(),
            422,
            json!({"code": "KN-422", "message": "name: invalid type: integer `7`, expected a string", "details": {"field": "name", "reason": "invalid type: integer `7`, expected a string"}}),
        ),
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("application/json"),
            b"{\"name\": \"x\", \"owner\": []}".to_vec(),
            422,
            json!({"code": "KN-422", "message": "owner: unknown field `owner`, expected one of `name`, `displayName`, `owners`, `quota`, `limits`, `ingressClasses`, `storageClasses`, `ingressHosts`, `podSecurity`, `preventDeletion`, `networkPolicy`, `labels`, `annotations`", "details": {"field": "owner", "reason": "unknown field `owner`, expected one of `name`, `displayName`, `owners`, `quota`, `limits`, `ingressClasses`, `storageClasses`, `ingressHosts`, `podSecurity`, `preventDeletion`, `networkPolicy`, `labels`, `annotations`"}}),
        ),
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("application/json"),
            b"{}".to_vec(),
            422,
            json!({"code": "KN-422", "message": "body: missing field `name`", "details": {"field": "body", "reason": "missing field `name`"}}),
        ),
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("text/plain"),
            b"{\"name\": \"x\"}".to_vec(),
            415,
            json!({"code": "KN-415", "message": "the body must be JSON with Content-Type: application/json (got text/plain)", "details": {}}),
        ),
        (
            Method::POST,
            "/api/v1/clusters/main/tenants",
            Some(admin),
            Some("application/json"),
            b"{\"name\": \"Bad_Name\"}".to_vec(),
            422,
            json!({"code": "KN-422", "message": "name: name contains 'B' at position 1; only lowercase letters a-z, digits 0-9 and '-' are allowed", "details": {"field": "name", "reason": "name contains 'B' at position 1; only lowercase letters a-z, digits 0-9 and '-' are allowed"}}),
        ),
        (
            Method::GET,
            "/api/v1/clusters/Main",
            Some(admin),
            None,
            vec![],
            400,
            json!({"code": "KN-400", "message": "in the path: cluster contains 'M' at position 1; only lowercase letters a-z, digits 0-9 and '-' are allowed", "details": {"parameter": "cluster"}}),
        ),
        (
            Method::GET,
            "/api/v1/clusters/nowhere",
            Some(admin),
            None,
            vec![],
            404,
            json!({"code": "KN-404", "message": "cluster `nowhere` does not exist", "details": {"kind": "cluster", "name": "nowhere"}}),
        ),
        (
            Method::PUT,
            "/api/v1/clusters/main/tenants/x/network-policies",
            Some(admin),
            Some("application/json"),
            br#"{"allowEgress": [{"cidr": "10.1.2.3/8"}]}"#.to_vec(),
            422,
            json!({"code": "KN-422", "message": "allowEgress[0].cidr: `10.1.2.3/8` has address bits set beyond the /8 prefix; write 10.0.0.0/8", "details": {"field": "allowEgress[0].cidr", "reason": "`10.1.2.3/8` has address bits set beyond the /8 prefix; write 10.0.0.0/8"}}),
        ),
    ];
    for (method, uri, token, ct, body, status, want) in cases {
        let (got_status, mut got, headers) = send(&app, &method, uri, token, ct, body).await;
        let id = got["requestId"].as_str().unwrap_or_default().to_owned();
        assert!(!id.is_empty(), "{method} {uri}: no request id in {got}");
        assert_eq!(
            headers.get("x-request-id").and_then(|v| v.to_str().ok()),
            Some(id.as_str())
        );
        got.as_object_mut().expect("object").remove("requestId");
        assert_eq!(
            (got_status.as_u16(), &got),
            (status, &want),
            "{method} {uri}"
        );
    }
    // Over 1 MiB: 413, whether or not the size was announced.
    let big = vec![b' '; 1024 * 1024 + 10];
    let (status, v, _) = send(
        &app,
        &Method::POST,
        "/api/v1/clusters/main/tenants",
        Some(admin),
        Some("application/json"),
        big,
    )
    .await;
    assert_eq!(
        (status.as_u16(), v["code"].as_str()),
        (413, Some("KN-413")),
        "{v}"
    );
}

/// Issue 12, item 10: a token minted for someone else spends a bucket of its own (subject and
/// minter), never the subject's, so a tenant owner cannot run another person into 429.
#[tokio::test]
async fn a_minted_token_cannot_spend_its_subjects_rate_limit() {
    let t = unique("rate-mint");
    tenant(&t, &["alice"]);
    project(&t, "web", &["bob"], &[]);
    let owner = api_token("alice", &["tenantOwner"], Some(&t), None);
    let bob = api_token("bob", &["projectDev"], Some(&t), Some("web"));
    let minted = mint(
        &owner,
        &json!({"subject": "bob", "roles": ["projectDev"], "tenant": t,
                 "project": "web", "ttlSeconds": 600}),
    );
    let spoof = minted["token"].as_str().expect("token").to_owned();
    let app = app(Settings {
        rate_per_second: 0.5,
        rate_burst: 3.0,
        ..settings()
    })
    .await;
    let me = |token: String| {
        let app = app.clone();
        async move {
            send(&app, &Method::GET, "/api/v1/me", Some(&token), None, vec![])
                .await
                .0
        }
    };
    for _ in 0..3 {
        assert_eq!(me(spoof.clone()).await, StatusCode::OK);
    }
    assert_eq!(me(spoof.clone()).await, StatusCode::TOO_MANY_REQUESTS);
    // bob's own token is untouched by what alice's token in his name spent.
    assert_eq!(me(bob.clone()).await, StatusCode::OK);
}

#[tokio::test]
async fn rate_limit_per_principal_answers_429_with_retry_after() {
    let app = app(Settings {
        rate_per_second: 0.5,
        rate_burst: 3.0,
        ..settings()
    })
    .await;
    let limited = api_token("rate-limited", &["ops"], None, None);
    for _ in 0..3 {
        let (status, _, _) = send(
            &app,
            &Method::GET,
            "/api/v1/me",
            Some(&limited),
            None,
            vec![],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, v, headers) = send(
        &app,
        &Method::GET,
        "/api/v1/me",
        Some(&limited),
        None,
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "KN-429");
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=2).contains(&retry), "{retry}");
    // Another principal is not affected.
    let (status, _, _) = send(
        &app,
        &Method::GET,
        "/api/v1/me",
        Some(admin()),
        None,
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn names_of_state() -> BTreeSet<String> {
    let client = harness().env.client().await.expect("client");
    let mut names = BTreeSet::new();
    for t in Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("tenants")
        .items
    {
        names.insert(format!("tenant/{}", t.metadata.name.unwrap_or_default()));
    }
    for p in Api::<Project>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("projects")
        .items
    {
        names.insert(format!("project/{}", p.metadata.name.unwrap_or_default()));
    }
    for c in Api::<Cluster>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("clusters")
        .items
    {
        names.insert(format!("cluster/{}", c.metadata.name.unwrap_or_default()));
    }
    for r in Api::<IssuedToken>::all(client)
        .list(&ListParams::default())
        .await
        .expect("tokens")
        .items
    {
        if r.spec.subject.starts_with("sweep") {
            names.insert(format!("token/{}", r.spec.subject));
        }
    }
    names.into_iter().filter(|n| n.contains("sweep")).collect()
}

#[tokio::test]
async fn bad_input_on_every_endpoint_never_500s_and_changes_nothing() {
    let app = app(settings()).await;
    let admin = admin();
    let t = unique("sweepok");
    tenant(&t, &["sweep-owner"]);
    project(&t, "web", &["sweep-dev"], &[]);
    let before = names_of_state().await;
    let bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed", b"{\"name\": \"sweep-a\",".to_vec(), "application/json"),
        ("not an object", b"[\"sweep-b\"]".to_vec(), "application/json"),
        ("wrong types", br#"{"name": ["sweep-c"], "owners": "sweep", "roles": 5, "ttlSeconds": "long", "developers": {}, "cpu": 4, "kubeconfig": 1}"#.to_vec(), "application/json"),
        ("unknown field", br#"{"name": "sweep-d", "subject": "sweep-d", "roles": ["readOnly"], "tenant": "x", "owners": [], "developers": [], "evil": true}"#.to_vec(), "application/json"),
        ("bad names", br#"{"name": "Sweep_E", "subject": "sweep:e", "roles": ["readOnly"], "owners": ["a:b"], "developers": ["x\ny"], "kubeconfig": "x", "proxyUrl": "http://x", "proxyCa": "x"}"#.to_vec(), "application/json"),
        ("wrong content type", br#"{"name": "sweep-f"}"#.to_vec(), "application/x-www-form-urlencoded"),
        ("oversize", [b"{\"name\": \"sweep-g\", \"displayName\": \"".as_slice(), &vec![b'x'; 1024 * 1024 + 1], b"\"}"].concat(), "application/json"),
        ("null", b"null".to_vec(), "application/json"),
    ];
    let injections = [
        "..",
        "%2e%2e",
        "a%2Fb",
        "UPPER",
        "-lead",
        "x%00y",
        "%F0%9F%98%80",
        "a.b",
        &"n".repeat(64),
    ];
    let mut failures = Vec::new();
    let mut count = 0;
    for route in ROUTES.iter().filter(|r| r.level != Level::Public) {
        let uri = fill(route.path, MAIN, &t, "web");
        if rest::table::is_mutating(&route.method) {
            for (label, body, ct) in &bodies {
                let (status, v, _) = send(
                    &app,
                    &route.method,
                    &uri,
                    Some(admin),
                    Some(ct),
                    body.clone(),
                )
                .await;
                count += 1;
                if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
                    || !v["code"].as_str().is_some_and(|c| c.starts_with("KN-"))
                    || status.is_success()
                {
                    failures.push(format!("{} {uri} [{label}]: {status} {v}", route.method));
                }
            }
        }
        for bad in injections {
            for key in ["{c}", "{t}", "{p}", "{a}", "{jti}"] {
                if !route.path.contains(key) {
                    continue;
                }
                let uri = fill(&route.path.replace(key, bad), MAIN, &t, "web");
                let (status, v, _) = send(
                    &app,
                    &route.method,
                    &uri,
                    Some(admin),
                    Some("application/json"),
                    b"{}".to_vec(),
                )
                .await;
                count += 1;
                if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
                    || status.is_success()
                    || !v["code"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("KN-4") || c == "KN-501")
                {
                    failures.push(format!("{} {uri} [path {bad}]: {status} {v}", route.method));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} bad requests misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(names_of_state().await, before, "bad input changed state");
    assert!(count > 200, "{count}");
}

#[tokio::test]
async fn public_endpoints_answer_without_a_token() {
    let app = app(settings()).await;
    for (uri, check) in [
        ("/healthz", "ok"),
        ("/readyz", "ok"),
        ("/version", "version"),
        ("/.well-known/jwks.json", "keys"),
        ("/api/v1/openapi.json", "openapi"),
    ] {
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert!(String::from_utf8_lossy(&bytes).contains(check), "{uri}");
    }
    // The JWKS is the running control's: an API token it minted carries one of its kids.
    let (_, jwks, _) = send(
        &app,
        &Method::GET,
        "/.well-known/jwks.json",
        None,
        None,
        vec![],
    )
    .await;
    assert!(jwks["keys"][0]["kid"].is_string(), "{jwks}");
    let (status, _, _) = send(
        &app,
        &Method::GET,
        "/api/v1/me",
        Some(admin()),
        None,
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .clone()
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("kubenova_api_requests_total{action=\"tokens.me\",code=\"200\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn a_request_over_the_timeout_is_cancelled_with_the_envelope() {
    let app = app(Settings {
        request_timeout: std::time::Duration::from_nanos(1),
        ..settings()
    })
    .await;
    let (status, v, _) = send(
        &app,
        &Method::GET,
        "/api/v1/me",
        Some(admin()),
        None,
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{v}");
    assert_eq!(v["code"], "KN-408");
    assert!(v["requestId"].as_str().is_some_and(|id| !id.is_empty()));
}
