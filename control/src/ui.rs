//! The web UI (ADR 0022, docs/ui.md): the files `build.rs` built from `ui/`, embedded in the
//! binary and served beside the API.
//!
//! - `/`, `/ui` and `/ui/...` (the UI's own routes) answer the app shell, `index.html`, with
//!   `Cache-Control: no-cache`;
//! - `/assets/<name>` answers a built file (its name carries a content hash) with
//!   `Cache-Control: public, max-age=31536000, immutable`;
//! - everything else, including an unknown asset, any method but GET/HEAD on those paths and
//!   every path under `/api/`, goes to the API router unchanged (its `KN-404` JSON envelope).
//!
//! A binary built with `KUBENOVA_UI_SKIP=1` (only `make generate` does) serves the API alone.
//!
//! Every UI answer carries a strict Content-Security-Policy (scripts, styles and API calls from
//! this origin only, no inline script, no framing) and `nosniff`. When identity providers are
//! configured, `connect-src` also names each provider's origin (the page reads its discovery
//! document and redeems the authorization code there), and nothing else: [`mount_with`].

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt as _;

mod files {
    include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));
}

/// The Content-Security-Policy of every UI answer when no identity provider is configured.
/// `img-src data:` is for the empty favicon.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// [`CSP`] with `connect-src` widened to `origins` (each `scheme://host[:port]`, from
/// [`origin_of`]).
pub fn csp(origins: &[String]) -> String {
    let mut connect = String::from("connect-src 'self'");
    for origin in origins {
        if !connect.split(' ').any(|o| o == origin) {
            connect.push(' ');
            connect.push_str(origin);
        }
    }
    CSP.replace("connect-src 'self'", &connect)
}

/// The origin (`https://host[:port]`) of an identity provider's issuer URL, for `connect-src`;
/// `None` unless it is an `http(s)` URL whose host holds only what a host name, an IPv4 or a
/// bracketed IPv6 address may (nothing that could end or extend the policy).
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_ok = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    host_ok.then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// `Cache-Control` of the shell: always revalidated, so a new build is picked up at once.
pub const SHELL_CACHE: &str = "no-cache";
/// `Cache-Control` of hashed assets.
pub const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// Puts the UI in front of `api`: the UI's paths are answered here, every other request goes to
/// `api` as it came.
pub fn mount(api: Router) -> Router {
    mount_with(api, &[])
}

/// [`mount`], with the UI allowed to connect to `origins` besides its own (the identity
/// providers' origins, [`origin_of`]).
pub fn mount_with(api: Router, origins: &[String]) -> Router {
    if files::FILES.is_empty() {
        // Built with KUBENOVA_UI_SKIP=1 (`make generate`): the API alone.
        return api;
    }
    let csp =
        HeaderValue::from_str(&csp(origins)).unwrap_or_else(|_| HeaderValue::from_static(CSP));
    let state = Ui {
        api: api.clone(),
        csp,
    };
    let page = || get(shell).fallback_service(api.clone());
    Router::new()
        .route("/", page())
        .route("/ui", page())
        .route("/ui/{*rest}", page())
        .route("/assets/{*file}", get(asset).fallback_service(api.clone()))
        .with_state(state)
        .fallback_service(api)
}

/// What the UI's handlers need: the API (for what they do not answer) and the policy.
#[derive(Clone)]
struct Ui {
    api: Router,
    csp: HeaderValue,
}

fn file(name: &str) -> Option<&'static [u8]> {
    files::FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, body)| *body)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn respond(name: &str, body: &'static [u8], cache: &'static str, csp: &HeaderValue) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn shell(State(ui): State<Ui>) -> Response {
    match file("index.html") {
        Some(body) => respond("index.html", body, SHELL_CACHE, &ui.csp),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn asset(State(ui): State<Ui>, req: Request) -> Response {
    let name = req.uri().path().trim_start_matches('/');
    match file(name) {
        Some(body) if name.starts_with("assets/") => respond(name, body, ASSET_CACHE, &ui.csp),
        _ => match ui.api.oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;
    use http_body_util::BodyExt as _;

    /// Stands in for the API: every request it gets answers 404 with a marker header, as the
    /// API's own fallback answers `KN-404` (the browser suite checks the real one).
    fn api() -> Router {
        Router::new().fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [("x-from", "api"), ("content-type", "application/json")],
                r#"{"code":"KN-404"}"#,
            )
        })
    }

    async fn request(method: Method, path: &str) -> Response {
        mount(api())
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible")
    }

    fn header<'a>(r: &'a Response, name: &str) -> &'a str {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii"))
            .unwrap_or("")
    }

    fn hashed_script() -> &'static str {
        files::FILES
            .iter()
            .map(|(n, _)| *n)
            .find(|n| n.starts_with("assets/") && n.ends_with(".js"))
            .expect("the build has a script under assets/")
    }

    #[tokio::test]
    async fn shell_for_ui_routes_with_csp_and_no_cache() {
        for path in ["/", "/ui", "/ui/tenants", "/ui/clusters/local/tenants/acme"] {
            let r = request(Method::GET, path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(
                header(&r, "content-type"),
                "text/html; charset=utf-8",
                "{path}"
            );
            assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
            assert_eq!(header(&r, "content-security-policy"), CSP, "{path}");
            assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
            assert_eq!(header(&r, "x-frame-options"), "DENY", "{path}");
            let body = r.into_body().collect().await.expect("body").to_bytes();
            let html = String::from_utf8_lossy(&body);
            assert!(html.contains(r#"<div id="root">"#), "{path}: {html}");
            // The CSP forbids inline scripts: every script the shell loads has a src.
            assert!(
                !html.contains("<script>"),
                "{path}: inline script in {html}"
            );
            assert!(html.contains(hashed_script()), "{path}: {html}");
        }
        assert!(CSP.contains("script-src 'self';") && !CSP.contains("unsafe-inline"));
        assert!(CSP.contains("frame-ancestors 'none'") && CSP.contains("default-src 'none'"));
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable() {
        let path = format!("/{}", hashed_script());
        let r = request(Method::GET, &path).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), ASSET_CACHE);
        assert_eq!(header(&r, "content-security-policy"), CSP);
        let head = request(Method::HEAD, &path).await;
        assert_eq!(head.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn identity_provider_origins_widen_connect_src_only() {
        let origins: Vec<String> = [
            "https://dex.example.com:5556/dex",
            "https://DEX.example.com:5556/other",
            "http://127.0.0.1:41000/dex",
        ]
        .iter()
        .filter_map(|u| origin_of(u))
        .collect();
        assert_eq!(
            origins,
            [
                "https://dex.example.com:5556",
                "https://dex.example.com:5556",
                "http://127.0.0.1:41000"
            ]
        );
        let policy = csp(&origins);
        assert!(
            policy.contains(
                "connect-src 'self' https://dex.example.com:5556 http://127.0.0.1:41000;"
            ),
            "{policy}"
        );
        assert_eq!(
            policy.replace(" https://dex.example.com:5556 http://127.0.0.1:41000", ""),
            CSP
        );
        for bad in [
            "ftp://dex.example.com",
            "https://dex.example.com; script-src *",
            "https://user@dex.example.com",
            "https://dex.example.com *",
            "dex.example.com",
            "https://",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
        let r = mount_with(api(), &origins)
            .oneshot(
                Request::builder()
                    .uri("/ui/callback")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-security-policy"), policy);
    }

    #[tokio::test]
    async fn everything_else_is_the_apis() {
        for (method, path) in [
            (Method::GET, "/api/v1/nothing-here"),
            (Method::GET, "/api/v1/ui"),
            (Method::GET, "/api"),
            (Method::GET, "/assets/missing.js"),
            (Method::GET, "/assets/../index.html"),
            (Method::GET, "/index.html"),
            (Method::GET, "/favicon.ico"),
            (Method::GET, "/uix"),
            (Method::POST, "/"),
            (Method::DELETE, "/ui/tenants"),
            (Method::POST, &format!("/{}", hashed_script())),
        ] {
            let r = request(method.clone(), path).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(header(&r, "x-from"), "api", "{method} {path}");
            assert!(r.headers().get("content-security-policy").is_none());
        }
    }
}
